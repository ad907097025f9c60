/**
 * f32 matmul, C[m,n] = Σ_k A[m,k]·B[k,n]: the kernel every GPU library tunes first, so the
 * baseline that tells whether tessera's tiling is competitive at all.
 *
 * Implementations: tessera (a one-line einsum kernel, with symbolic and with pinned sizes, and on
 * the CPU interpreter), TF.js `tf.matMul`, jax-js `np.matmul` eagerly and under `jit`, and jax-js
 * `np.einsum` under `jit` (the same formulation as tessera's).
 */
import { einsum, f32, kernel } from '../../dsl/index.ts';
import { hashSeed, randomF32, seededRandom, type Case, type Impl, type Prepared } from '../harness.ts';
import { JAXJS_PEAK_SOURCE, loadJaxjs } from '../peers/jaxjs.ts';
import { TFJS_PEAK_SOURCE, loadTfjs, tfjsPrepared } from '../peers/tfjs.ts';
import { TESSERA_CPU_PEAK_SOURCE, TESSERA_PEAK_SOURCE, loadTessera, loadTesseraCpu, runAndRead, startPeakWindow } from '../tessera.ts';

export interface MatmulInputs {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Row-major [m, k]. */
  readonly a: Float32Array;
  /** Row-major [k, n]. */
  readonly b: Float32Array;
}

/** The tessera kernel under test, exactly as the README shows it. */
export const matmulKernel = kernel('matmul', { a: f32('m', 'k'), b: f32('k', 'n') }, ({ a, b }) => einsum('mk,kn->mn', a, b));

/** Builds the matmul case for one shape. */
export function matmulCase(m: number, k: number, n: number, counts: { warmup: number; runs: number }): Case<MatmulInputs> {
  const name = `matmul ${m}x${k}x${n}`;
  return {
    name,
    flops: 2 * m * n * k,
    // Inputs are uniform in [-1, 1), so an output is a sum of k products and about sqrt(k)/3 in
    // size. f32 accumulation errors seen on these inputs are a few 1e-5 at k = 1024 (any summation
    // order); k·2⁻²³·8 (1e-3 there) leaves ample headroom, while a wrong tile, a missed edge or a
    // dropped k-block is off by 0.1 or more.
    tolerance: k * 2 ** -23 * 8,
    makeInputs: () => {
      const rand = seededRandom(hashSeed(name));
      return { m, k, n, a: randomF32(m * k, rand), b: randomF32(k * n, rand) };
    },
    reference: referenceMatmul,
    impls: [
      tesseraImpl('tessera', false),
      tesseraImpl('tessera-pinned', true),
      tesseraImpl('tessera-cpu', false, true),
      tfjsImpl,
      jaxImpl('jaxjs', 'matmul', false),
      jaxImpl('jaxjs-jit', 'matmul', true),
      jaxImpl('jaxjs-einsum-jit', 'einsum', true),
    ],
    ...counts,
  };
}

/** Float64 reference, i-k-j loop order so the inner loop streams rows of B and C. */
export function referenceMatmul({ m, k, n, a, b }: MatmulInputs): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      const bRow = p * n;
      for (let j = 0; j < n; j++) c[row + j]! += av * b[bRow + j]!;
    }
  }
  return c;
}

/**
 * `tessera` compiles the kernel with symbolic sizes (one shader for every shape, sizes passed as
 * uniforms): what a user gets by default. `tessera-pinned` pins m, k, n to the case's sizes, which
 * lets the compiler specialise; the gap between the two rows is the price of shape genericity.
 * `tessera-cpu` runs the same program on the CPU interpreter (f32 mode).
 */
const tesseraImpl = (name: string, pinned: boolean, cpu = false): Impl<MatmulInputs> => ({
  name,
  peakBytesSource: cpu ? TESSERA_CPU_PEAK_SOURCE : TESSERA_PEAK_SOURCE,
  // The interpreter has nothing to warm up, and at ~10 s per 1024³ run on 2 cores it would
  // otherwise set the pace of every round.
  ...(cpu ? { maxWarmup: 1, maxRuns: 5 } : {}),
  async prepare({ m, k, n, a, b }, { shared }): Promise<Prepared> {
    const { backend, compile } = cpu ? await loadTesseraCpu() : await loadTessera(shared);
    startPeakWindow(backend);
    const graph = matmulKernel.trace(pinned ? { sizes: { m, k, n } } : {});
    const program = compile(graph, { name: pinned ? `matmul_${m}x${k}x${n}` : 'matmul', limits: backend.limits });
    const ta = backend.upload({ shape: [m, k], data: a });
    const tb = backend.upload({ shape: [k, n], data: b });
    return {
      run: () => runAndRead(backend, program, { a: ta, b: tb }, 'out'),
      peakBytes: () => backend.memory.peakBytes,
      dispose() {
        ta.destroy();
        tb.destroy();
      },
      ...(cpu ? { device: `${backend.deviceDescription}, Node ${process.version}` } : {}),
    };
  },
});

const tfjsImpl: Impl<MatmulInputs> = {
  name: 'tfjs',
  peakBytesSource: TFJS_PEAK_SOURCE,
  async prepare({ m, k, n, a, b }, { shared }): Promise<Prepared> {
    const peer = await loadTfjs(shared);
    const { tf } = peer;
    peer.resetPeak();
    const ta = tf.tensor2d(a, [m, k], 'float32');
    const tb = tf.tensor2d(b, [k, n], 'float32');
    return tfjsPrepared(peer, () => tf.matMul(ta, tb), [ta, tb]);
  },
};

/**
 * jax-js arrays are reference-counted and every op consumes its arguments, so each run passes
 * `.ref` (a +1) to keep the inputs alive; `data()` consumes the result.
 */
function jaxImpl(name: string, op: 'matmul' | 'einsum', useJit: boolean): Impl<MatmulInputs> {
  return {
    name,
    peakBytesSource: JAXJS_PEAK_SOURCE,
    async prepare({ m, k, n, a, b }, { shared }): Promise<Prepared> {
      const { jax } = await loadJaxjs(shared);
      const np = jax.numpy;
      type JArray = InstanceType<typeof jax.Array>;
      const eager = op === 'matmul' ? (x: JArray, y: JArray): JArray => np.matmul(x, y) : (x: JArray, y: JArray): JArray => np.einsum('mk,kn->mn', x, y);
      const jitted = useJit ? jax.jit(eager) : undefined;
      const fn = jitted ?? eager;
      const ja = np.array(a, { shape: [m, k], dtype: np.float32, device: 'webgpu' });
      const jb = np.array(b, { shape: [k, n], dtype: np.float32, device: 'webgpu' });
      return {
        async run() {
          const c = fn(ja.ref, jb.ref);
          return (await c.data()) as Float32Array;
        },
        peakBytes: () => null,
        dispose() {
          ja.dispose();
          jb.dispose();
          jitted?.dispose();
        },
      };
    },
  };
}
