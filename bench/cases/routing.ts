/**
 * EfficientVectorRouting (Heinsen 2022, "An Algorithm for Routing Vectors in Sequences"): n_inp
 * input vectors of size d_inp = 64 routed to n_out = 16 output vectors of size d_out = 64 in
 * 2 iterations, with a variable number of inputs (`nInp: -1`: the betas are linear maps of each
 * input vector), at n_inp ∈ {4096, 65536}, plus one long row at n_inp = 1,048,576.
 *
 * This is the case the routing issue is judged by: tessera's library kernel
 * (`efficientVectorRoutingKernel` from `kernels/routing.ts`, compiled with compileFor: one Program for every n_inp that fits one binding)
 * beside the same algorithm composed from TF.js ops and from jax-js ops under `jit`, on the same
 * device in the same run. Everyone computes exactly the golden README's algorithm (the reference
 * PyTorch implementation's order of operations), votes never materialised (F contracts phiᵀ x̂
 * first, as the reference's efficient form does); each run reads back x_out `[n_out, d_out]`.
 *
 * Flop count (`routingFlops`, the figure every row's GFLOP/s is based on, whatever an
 * implementation actually executes): every multiply and every add of the algorithm counts one
 * flop, so a contraction's multiply-add counts two; exp, log, σ, logσ and rsqrt count zero. With
 * n = n_inp, m = n_out, d = d_inp, h = d_out and T = n_iters:
 *
 *   betas  (two linear maps of x)            2·(2·n·m·d + n·m)
 *   x̂ and a = Σ_d x̂·W_A + B_A               n·d + 2·n·d + n
 *   every iteration (T times):
 *     D_use, D_ign, phi                      5·n·m
 *     F: phiᵀ x̂, ⊙W_F1, ·W_F2                2·n·m·d + m·d + 2·m·d·h
 *        Σ_i phi, ⊙B_F2, +                   n·m + 2·m·h
 *   every iteration after the first (T − 1 times):
 *     LN(x_out)                              5·m·h   (mean h, centre h, square-sum 2h, scale h)
 *     G: ·W_G1, ⊙W_G2, +B_G2                 2·m·h·d + 2·m·d
 *     S: x·x̃ᵀ, ⊙W_S, +B_S                    2·n·m·d + 2·n·m
 *     softmax over j (less the exp)          3·n·m   (subtract max, sum, divide)
 *   final LN(x_out)                          5·m·h
 *
 * The n·m·d terms dominate: (2 + 4T)·n·m·d, i.e. 10·n·m·d at T = 2; the whole count is 704 MFLOP at
 * n = 65,536, about 5% above 10·n·m·d.
 */
import type { Kernel } from '../../dsl/kernel.ts';
import { hashSeed, randomF32, seededRandom, type Case, type Impl, type Prepared } from '../harness.ts';
import { JAXJS_PEAK_SOURCE, loadJaxjs } from '../peers/jaxjs.ts';
import { TFJS_PEAK_SOURCE, loadTfjs } from '../peers/tfjs.ts';
import { TESSERA_PEAK_SOURCE, loadTessera, runAndRead, startPeakWindow } from '../tessera.ts';

/** Shape constants of the bench: the n_out = 16, d_inp = d_out = 64, 2 iterations. */
export const N_OUT = 16;
export const D_INP = 64;
export const D_OUT = 64;
export const N_ITERS = 2;
/** The layer norm's epsilon (between iterations and on the final x_out), as the kernel uses. */
const LN_EPS = 1e-5;

/** The learned tensors, under the kernel's (the reference's) input names, row-major. */
export type RoutingWeightName =
  | 'W_A'
  | 'B_A'
  | 'W_S'
  | 'B_S'
  | 'W_F1'
  | 'W_F2'
  | 'B_F2'
  | 'W_G1'
  | 'W_G2'
  | 'B_G2'
  | 'W_beta_use'
  | 'B_beta_use'
  | 'W_beta_ign'
  | 'B_beta_ign';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface RoutingBenchInputs {
  /** n_inp. */
  readonly n: number;
  /** n_out (the `j` axis). */
  readonly m: number;
  /** d_inp. */
  readonly d: number;
  /** d_out (the `h` axis). */
  readonly h: number;
  readonly iters: number;
  /** x_inp, row-major [n, d]. */
  readonly x: Float32Array;
  readonly weights: Readonly<Record<RoutingWeightName, WeightTensor>>;
}

/** The flop count of one routing (see the file comment for each term). */
export function routingFlops(n: number, m: number, d: number, h: number, iters: number): number {
  const betas = 2 * (2 * n * m * d + n * m);
  const activations = n * d + 2 * n * d + n;
  const perIteration = 5 * n * m + (2 * n * m * d + m * d + 2 * m * d * h) + (n * m + 2 * m * h);
  const perLaterIteration = 5 * m * h + (2 * m * h * d + 2 * m * d) + (2 * n * m * d + 2 * n * m) + 3 * n * m;
  const finalNorm = 5 * m * h;
  return betas + activations + iters * perIteration + (iters - 1) * perLaterIteration + finalNorm;
}

/**
 * Seeded weights, the same for every n_inp (one trained model routing sequences of any length).
 * Maps contracted over d or h (W_A, W_F2, W_G1, W_beta_*) are uniform in ±1/√fan-in, like a
 * default linear layer; elementwise scales (W_F1, W_G2, W_S) and biases are uniform in ±1, so the
 * scores S spread over a few units and the routing weights R are far from uniform after the first
 * iteration (the second iteration does real work) — except the betas' biases, which are zero.
 *
 * Why zero: with zero-mean inputs the credit assignments phi then have a mean near zero, and both
 * terms of x_out, (phiᵀx̂)·W and (Σ_i phi)·B_F2, grow like √n, so x_out depends on the data at every
 * n. With biases of order 1, Σ_i phi grows like n while the data-dependent phiᵀx̂ grows like √n:
 * at n = 65,536 the layer-normalised x_out would be LN(B_F2) to within 2e-4 whatever the input
 * (measured: another x moved it by 2e-4, one iteration fewer by 1.5e-4), and the error column could
 * not tell a wrong implementation from a right one. With zero biases another x or one iteration
 * fewer moves x_out by more than 1 at n = 4096 and 65,536, and zeroing the last 256 inputs by 4
 * at 4096 and 3e-2 at 65,536 (measured).
 */
export function routingWeights(m: number, d: number, h: number): Record<RoutingWeightName, WeightTensor> {
  const rand = seededRandom(hashSeed(`routing weights n_out=${m} d_inp=${d} d_out=${h}`));
  const t = (shape: number[], scale = 1): WeightTensor => {
    const data = randomF32(shape.reduce((a, b) => a * b, 1), rand);
    if (scale !== 1) for (let k = 0; k < data.length; k++) data[k] = data[k]! * scale;
    return { shape, data };
  };
  const sd = 1 / Math.sqrt(d);
  const sh = 1 / Math.sqrt(h);
  return {
    W_A: t([1, d], sd),
    B_A: t([1]),
    W_S: t([1, m]),
    B_S: t([1, m]),
    W_F1: t([m, d]),
    W_F2: t([d, h], sd),
    B_F2: t([m, h]),
    W_G1: t([h, d], sh),
    W_G2: t([m, d]),
    B_G2: t([m, d]),
    W_beta_use: t([m, d], sd),
    B_beta_use: { shape: [m], data: new Float32Array(m) },
    W_beta_ign: t([m, d], sd),
    B_beta_ign: { shape: [m], data: new Float32Array(m) },
  };
}

/** `log σ(z)`, stable for large |z|. */
function logSigmoid(z: number): number {
  return Math.min(z, 0) - Math.log1p(Math.exp(-Math.abs(z)));
}

/** Layer norm over the last axis of a row-major [rows, cols] array (eps 1e-5, no affine terms). */
function layerNormRows(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += a[r * cols + c]!;
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (a[r * cols + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / cols + LN_EPS);
    for (let c = 0; c < cols; c++) out[r * cols + c] = (a[r * cols + c]! - mean) * inv;
  }
  return out;
}

/**
 * Float64 reference of EfficientVectorRouting with n_inp = -1 and `normalize` (the golden README's
 * algorithm), returning x_out `[m, h]`. It streams over the inputs, one at a time per iteration,
 * so the 1M-token case needs no [n, m] arrays besides the two betas. Checked against tessera's
 * float64 interpreter (`interpretKernel(..., { precision: 'f64' })`) to within 1e-12 at small n.
 */
export function referenceRouting({ n, m, d, h, iters, x, weights: w }: RoutingBenchInputs): Float64Array {
  const v = (name: RoutingWeightName): Float32Array => w[name].data;
  const [WA, WS, BS, WF1, WF2, BF2, WG1, WG2, BG2] = (['W_A', 'W_S', 'B_S', 'W_F1', 'W_F2', 'B_F2', 'W_G1', 'W_G2', 'B_G2'] as const).map(v);
  const BA = v('B_A')[0]!;
  const scale = 1 / Math.sqrt(n);
  // f = σ(a) and the betas, per input.
  const f = new Float64Array(n);
  const betaUse = new Float64Array(n * m);
  const betaIgn = new Float64Array(n * m);
  const [Wbu, Bbu, Wbi, Bbi] = [v('W_beta_use'), v('B_beta_use'), v('W_beta_ign'), v('B_beta_ign')];
  for (let i = 0; i < n; i++) {
    const xi = i * d;
    let a = 0;
    for (let k = 0; k < d; k++) a += x[xi + k]! * scale * WA[k]!;
    f[i] = 1 / (1 + Math.exp(-(a + BA)));
    for (let j = 0; j < m; j++) {
      let u = 0;
      let g = 0;
      for (let k = 0; k < d; k++) {
        u += x[xi + k]! * Wbu[j * d + k]!;
        g += x[xi + k]! * Wbi[j * d + k]!;
      }
      betaUse[i * m + j] = u + Bbu[j]!;
      betaIgn[i * m + j] = g + Bbi[j]!;
    }
  }

  let xOut = new Float64Array(m * h);
  const R = new Float64Array(m);
  const xPred = new Float64Array(m * d);
  for (let it = 0; it < iters; it++) {
    if (it > 0) {
      // x̃[j, k] = (Σ_h LN(x_out)[j, h] W_G1[h, k]) W_G2[j, k] + B_G2[j, k]
      const ln = layerNormRows(xOut, m, h);
      for (let j = 0; j < m; j++) {
        for (let k = 0; k < d; k++) {
          let s = 0;
          for (let c = 0; c < h; c++) s += ln[j * h + c]! * WG1[c * d + k]!;
          xPred[j * d + k] = s * WG2[j * d + k]! + BG2[j * d + k]!;
        }
      }
    }
    const phiX = new Float64Array(m * d);
    const phiSum = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      const xi = i * d;
      if (it === 0) {
        // The kernel (and the reference) round 1/n_out to f32.
        R.fill(Math.fround(1 / m));
      } else {
        let max = -Infinity;
        for (let j = 0; j < m; j++) {
          let dot = 0;
          for (let k = 0; k < d; k++) dot += x[xi + k]! * xPred[j * d + k]!;
          R[j] = logSigmoid(dot * WS[j]! + BS[j]!);
          if (R[j]! > max) max = R[j]!;
        }
        let sum = 0;
        for (let j = 0; j < m; j++) sum += R[j] = Math.exp(R[j]! - max);
        for (let j = 0; j < m; j++) R[j] = R[j]! / sum;
      }
      for (let j = 0; j < m; j++) {
        const use = f[i]! * R[j]!;
        const ign = f[i]! - use;
        const phi = betaUse[i * m + j]! * use - betaIgn[i * m + j]! * ign;
        phiSum[j]! += phi;
        const ps = phi * scale;
        for (let k = 0; k < d; k++) phiX[j * d + k]! += ps * x[xi + k]!;
      }
    }
    // x_out[j, c] = Σ_k phiX[j, k] W_F1[j, k] W_F2[k, c] + (Σ_i phi[i, j]) B_F2[j, c]
    xOut = new Float64Array(m * h);
    for (let j = 0; j < m; j++) {
      for (let k = 0; k < d; k++) {
        const p = phiX[j * d + k]! * WF1[j * d + k]!;
        for (let c = 0; c < h; c++) xOut[j * h + c]! += p * WF2[k * h + c]!;
      }
      for (let c = 0; c < h; c++) xOut[j * h + c]! += phiSum[j]! * BF2[j * h + c]!;
    }
  }
  return layerNormRows(xOut, m, h);
}

/** Run counts and implementations of one routing case. */
export interface RoutingCaseOptions {
  readonly warmup: number;
  readonly runs: number;
  /** Only tessera (the 1M-token row, where the peers cannot bind the input at all). */
  readonly tesseraOnly?: boolean;
}

/**
 * Why the 1M-token row has no peers: x_inp alone is 256 MiB, twice the 128 MiB a storage binding
 * may span on lavapipe (`maxStorageBufferBindingSize`), and TF.js and jax-js bind every tensor
 * whole; their composed algorithm also holds several [n, m] f32 intermediates (64 MiB each).
 */
export const TESSERA_ONLY_NOTE = 'tessera only: x_inp alone (256 MiB) exceeds one 128 MiB storage binding, which TF.js and jax-js cannot split';

/** Builds the routing case for one n_inp. */
export function routingCase(n: number, options: RoutingCaseOptions): Case<RoutingBenchInputs> {
  const [m, d, h, iters] = [N_OUT, D_INP, D_OUT, N_ITERS];
  const name = `routing ${n}x${d}->${m}x${h} it${iters}`;
  return {
    name,
    flops: routingFlops(n, m, d, h, iters),
    tokens: n,
    ...(options.tesseraOnly ? { note: TESSERA_ONLY_NOTE } : {}),
    // x_out is layer-normalised, so its entries are O(1). f32 results differ from the float64
    // reference by up to ~1e-5 on these inputs (measured at n = 4096 and 65,536: 5e-7 to 1.1e-5
    // over the three implementations; Σ_i phi sums terms of both signs to a result ~√n times one
    // term, which costs some cancellation). 1e-4 leaves room for other summation orders and for
    // n = 1M, while another input, a missed iteration or a dropped block of inputs moves x_out by
    // 3e-2 to 4 (see `routingWeights`).
    tolerance: 1e-4,
    makeInputs: () => {
      const rand = seededRandom(hashSeed(name));
      return { n, m, d, h, iters, x: randomF32(n * d, rand), weights: routingWeights(m, d, h) };
    },
    reference: referenceRouting,
    impls: options.tesseraOnly ? [tesseraImpl] : [tesseraImpl, tfjsImpl, jaxImpl],
    warmup: options.warmup,
    runs: options.runs,
  };
}

/** The one kernel, built once per process: nInp = -1 serves every n_inp (compileFor caches its Programs). */
let kernel: Kernel | undefined;

/**
 * `tessera`: `efficientVectorRoutingKernel({ nInp: -1, nOut: 16, dInp: 64, dOut: 64, nIters: 2 })`
 * (normalize on, the default) from `kernels/routing.ts`, compiled with `compileFor` on the uploaded
 * tensors: one Program with `i` symbolic serves every n_inp that fits one binding, and the 1M row
 * gets one with `i` pinned; run with `backend.run` on x_inp
 * and the weights uploaded once; each run reads back x_out. The kernel module is imported
 * dynamically so that a failure to load it becomes the tessera rows' error, not a crash.
 */
const tesseraImpl: Impl<RoutingBenchInputs> = {
  name: 'tessera',
  peakBytesSource: TESSERA_PEAK_SOURCE,
  async prepare({ n, m, d, h, iters, x, weights }, { shared }): Promise<Prepared> {
    const { backend } = await loadTessera(shared);
    const { compileFor } = (await import('../../run.ts')) as typeof import('../../run.ts');
    if (kernel === undefined) {
      const lib = (await import('../../kernels/routing.ts')) as typeof import('../../kernels/routing.ts');
      kernel = lib.efficientVectorRoutingKernel({ nInp: -1, nOut: m, dInp: d, dOut: h, nIters: iters });
    }
    startPeakWindow(backend);
    const tensors = { x_inp: backend.upload({ shape: [n, d], data: x }) } as Record<string, ReturnType<typeof backend.upload>>;
    for (const [key, t] of Object.entries(weights)) tensors[key] = backend.upload({ shape: [...t.shape], data: t.data });
    // One Program, i symbolic, serves every n_inp whose tensors fit one storage binding; for the
    // 1M row (x_inp 256 MiB) compileFor pins i so the compiler binds x_inp in chunks.
    const program = compileFor(kernel, backend, {}, tensors);
    return {
      run: () => runAndRead(backend, program, tensors, 'x_out'),
      peakBytes: () => backend.memory.peakBytes,
      dispose() {
        for (const t of Object.values(tensors)) t.destroy();
      },
    };
  },
};

/**
 * `tfjs`: the algorithm composed from TF.js ops inside `tf.tidy` (every intermediate freed each
 * run), in the reference's order: the betas by `matMul(x, W_betaᵀ) + B`, phiᵀ x̂ by
 * `matMul(phi, x̂, true)`, S by `matMul(x, x̃ᵀ)`, `tf.softmax` over the outputs, LN from
 * `tf.moments`. x_inp and the weights are uploaded once in `prepare`.
 */
const tfjsImpl: Impl<RoutingBenchInputs> = {
  name: 'tfjs',
  peakBytesSource: TFJS_PEAK_SOURCE,
  async prepare({ n, m, d, h, iters, x, weights }, { shared }): Promise<Prepared> {
    const peer = await loadTfjs(shared);
    const { tf } = peer;
    type T = ReturnType<typeof tf.tensor>;
    peer.resetPeak();
    const tx = tf.tensor2d(x, [n, d], 'float32');
    const w = Object.fromEntries(Object.entries(weights).map(([key, t]) => [key, tf.tensor(t.data, [...t.shape], 'float32')])) as Record<RoutingWeightName, T>;
    const scale = tf.scalar(1 / Math.sqrt(n), 'float32');
    const R0 = tf.scalar(Math.fround(1 / m), 'float32');
    const eps = tf.scalar(LN_EPS, 'float32');
    const layerNorm = (t: T): T => {
      const { mean, variance } = tf.moments(t, -1, true);
      return tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, eps)));
    };
    const route = (): T => {
      const xs = tf.mul(tx, scale);
      const f = tf.sigmoid(tf.add(tf.matMul(xs, w.W_A, false, true), w.B_A)); // [n, 1]
      const betaUse = tf.add(tf.matMul(tx, w.W_beta_use, false, true), w.B_beta_use); // [n, m]
      const betaIgn = tf.add(tf.matMul(tx, w.W_beta_ign, false, true), w.B_beta_ign);
      let xOut: T | null = null;
      for (let it = 0; it < iters; it++) {
        let R: T = R0;
        if (xOut !== null) {
          const xPred = tf.add(tf.mul(tf.matMul(layerNorm(xOut), w.W_G1), w.W_G2), w.B_G2); // [m, d]
          const S = tf.logSigmoid(tf.add(tf.mul(tf.matMul(tx, xPred, false, true), w.W_S), w.B_S)); // [n, m]
          R = tf.softmax(S);
        }
        const dUse = tf.mul(f, R);
        const dIgn = tf.sub(f, dUse);
        const phi = tf.sub(tf.mul(betaUse, dUse), tf.mul(betaIgn, dIgn)); // [n, m]
        const phiX = tf.matMul(phi, xs, true, false); // [m, d]
        xOut = tf.add(tf.matMul(tf.mul(phiX, w.W_F1), w.W_F2), tf.mul(tf.reshape(tf.sum(phi, 0), [m, 1]), w.B_F2)); // [m, h]
      }
      return layerNorm(xOut!);
    };
    return {
      async run() {
        const out = tf.tidy(route);
        try {
          if (out.shape.join() !== `${m},${h}`) throw new Error(`tfjs x_out has shape [${out.shape.join(', ')}]`);
          return (await out.data()) as Float32Array;
        } finally {
          out.dispose();
        }
      },
      peakBytes: () => peer.peakBytes(),
      dispose() {
        for (const t of [tx, scale, R0, eps, ...Object.values(w)]) t.dispose();
      },
    };
  },
};

/**
 * `jaxjs-jit`: the same composition in jax-js ops under `jax.jit` (one trace per n_inp, reused by
 * every run): `np.matmul` with `np.matrixTranspose`, `nn.sigmoid`, `nn.logSigmoid`, `nn.softmax`
 * over the outputs, LN as `nn.standardize` (mean and variance over the last axis, epsilon 1e-5).
 * jax-js arrays are reference-counted and every op consumes its arguments, so an array used k
 * times is passed as `.ref` k − 1 times; the jitted function takes the resident inputs by `.ref`.
 */
const jaxImpl: Impl<RoutingBenchInputs> = {
  name: 'jaxjs-jit',
  peakBytesSource: JAXJS_PEAK_SOURCE,
  async prepare({ n, m, d, h, iters, x, weights }, { shared }): Promise<Prepared> {
    const { jax } = await loadJaxjs(shared);
    const np = jax.numpy;
    const nn = jax.nn;
    type A = InstanceType<typeof jax.Array>;
    type W = Record<RoutingWeightName, A>;
    const onDevice = (data: Float32Array, shape: readonly number[]): A => np.array(data, { shape: [...shape], dtype: np.float32, device: 'webgpu' });
    const jx = onDevice(x, [n, d]);
    const jw = Object.fromEntries(Object.entries(weights).map(([key, t]) => [key, onDevice(t.data, t.shape)])) as W;
    const scale = 1 / Math.sqrt(n);
    const layerNorm = (t: A): A => nn.standardize(t, -1, { epsilon: LN_EPS });
    const route = (xIn: A, p: W): A => {
      const xs = np.multiply(xIn.ref, scale);
      const f = nn.sigmoid(np.add(np.matmul(xs.ref, np.matrixTranspose(p.W_A)), p.B_A)); // [n, 1]
      const betaUse = np.add(np.matmul(xIn.ref, np.matrixTranspose(p.W_beta_use)), p.B_beta_use); // [n, m]
      const betaIgn = np.add(np.matmul(xIn.ref, np.matrixTranspose(p.W_beta_ign)), p.B_beta_ign);
      let xOut: A | null = null;
      for (let it = 0; it < iters; it++) {
        let R: A | number = Math.fround(1 / m);
        if (xOut !== null) {
          const xPred = np.add(np.multiply(np.matmul(layerNorm(xOut), p.W_G1.ref), p.W_G2.ref), p.B_G2.ref); // [m, d]
          const S = nn.logSigmoid(np.add(np.multiply(np.matmul(xIn.ref, np.matrixTranspose(xPred)), p.W_S.ref), p.B_S.ref)); // [n, m]
          R = nn.softmax(S, -1);
        }
        const dUse = np.multiply(f.ref, R);
        const dIgn = np.subtract(f.ref, dUse.ref);
        const phi = np.subtract(np.multiply(betaUse.ref, dUse), np.multiply(betaIgn.ref, dIgn)); // [n, m]
        const phiX = np.matmul(np.matrixTranspose(phi.ref), xs.ref); // [m, d]
        const phiSum = np.reshape(np.sum(phi, 0), [m, 1]);
        xOut = np.add(np.matmul(np.multiply(phiX, p.W_F1.ref), p.W_F2.ref), np.multiply(phiSum, p.B_F2.ref)); // [m, h]
      }
      // Release the last references this function holds to its arguments and shared values.
      for (const a of [xIn, xs, f, betaUse, betaIgn, p.W_G1, p.W_G2, p.B_G2, p.W_S, p.B_S, p.W_F1, p.W_F2, p.B_F2]) a.dispose();
      return layerNorm(xOut!);
    };
    const jitted = jax.jit(route);
    const refs = (): W => Object.fromEntries(Object.entries(jw).map(([key, a]) => [key, a.ref])) as W;
    return {
      async run() {
        const out = jitted(jx.ref, refs());
        if (out.shape.join() !== `${m},${h}`) throw new Error(`jaxjs x_out has shape [${out.shape.join(', ')}]`);
        return (await out.data()) as Float32Array;
      },
      peakBytes: () => null,
      dispose() {
        for (const a of [jx, ...Object.values(jw)]) a.dispose();
        jitted.dispose();
      },
    };
  },
};
