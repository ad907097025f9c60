/**
 * 2-simplicial attention (`kernels/simplicial.ts`) at B = 1, H = 1, D = Dv = 64 with causal
 * windows w1 = w2: tessera's fused kernel (each query's w1 × w2 window walked in registers) at
 * N = 512 with w ∈ {8, 32, 128}, and beside it at w = 32 the composed path — the same program
 * compiled with `fuseAttention: false`: the trilinear contraction, mask and joint softmax over an
 * [N × N × N] logits tensor, then the output contraction — with the peak GPU memory of each. The
 * fused kernel's peak is its inputs and outputs whatever the windows; the composed path's grows as
 * N³: at N = 512 its logits take 512 MiB, which one storage binding cannot hold and the chunker
 * cannot cut (its outermost axes have one row), so that row reports the error; the N = 256 case
 * (64 MiB of logits) runs both.
 *
 * Flop count: per allowed (i, j, l) triple, 3·D for the logit (two multiplies and an add per head
 * element) and 3·Dv for the output (likewise), counted over the triples the mask allows.
 */
import { simplicialAttentionKernel } from '../../kernels/simplicial.ts';
import { hashSeed, randomF32, seededRandom, type Case, type Impl, type Prepared } from '../harness.ts';
import { TESSERA_PEAK_SOURCE, loadTessera, uploadedRun } from '../tessera.ts';

export interface SimplicialBenchInputs {
  readonly n: number;
  readonly d: number;
  readonly e: number;
  readonly w1: number;
  readonly w2: number;
  readonly scale: number;
  /** Row-major [N, D] (B = H = 1). */
  readonly q: Float32Array;
  readonly k1: Float32Array;
  readonly k2: Float32Array;
  /** Row-major [N, Dv]. */
  readonly v1: Float32Array;
  readonly v2: Float32Array;
}

/** The keys row `i` may see under a causal window `w`: [max(0, i − w + 1), i]. */
const windowOf = (i: number, w: number): [number, number] => [Math.max(0, i - w + 1), i];

/** Allowed (i, j, l) triples, counted by the definition. */
function allowedTriples(n: number, w1: number, w2: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) {
    const [j0, j1] = windowOf(i, w1);
    const [l0, l1] = windowOf(i, w2);
    count += (j1 - j0 + 1) * (l1 - l0 + 1);
  }
  return count;
}

/** Float64 reference, straight from the definition (two-pass softmax per row). */
function reference({ n, d, e, w1, w2, scale, q, k1, k2, v1, v2 }: SimplicialBenchInputs): Float64Array {
  const out = new Float64Array(n * e);
  for (let i = 0; i < n; i++) {
    const [j0, j1] = windowOf(i, w1);
    const [l0, l1] = windowOf(i, w2);
    const logits: number[] = [];
    for (let j = j0; j <= j1; j++) {
      for (let l = l0; l <= l1; l++) {
        let s = 0;
        for (let x = 0; x < d; x++) s += q[i * d + x]! * k1[j * d + x]! * k2[l * d + x]!;
        logits.push(s * scale);
      }
    }
    const max = Math.max(...logits);
    let sum = 0;
    let at = 0;
    const o = new Float64Array(e);
    for (let j = j0; j <= j1; j++) {
      for (let l = l0; l <= l1; l++) {
        const p = Math.exp(logits[at++]! - max);
        sum += p;
        for (let x = 0; x < e; x++) o[x]! += p * v1[j * e + x]! * v2[l * e + x]!;
      }
    }
    for (let x = 0; x < e; x++) out[i * e + x] = o[x]! / sum;
  }
  return out;
}

/** tessera's simplicial kernel, fused (the default) or composed (`fuseAttention: false`). */
const tesseraImpl = (name: string, fused: boolean): Impl<SimplicialBenchInputs> => ({
  name,
  peakBytesSource: TESSERA_PEAK_SOURCE,
  async prepare(x, { shared }): Promise<Prepared> {
    const { backend } = await loadTessera(shared);
    const { compileFor } = (await import('../../run.ts')) as typeof import('../../run.ts');
    const host = {
      q: { shape: [1, 1, 1, x.n, x.d], data: x.q },
      k1: { shape: [1, 1, x.n, x.d], data: x.k1 },
      k2: { shape: [1, 1, x.n, x.d], data: x.k2 },
      v1: { shape: [1, 1, x.n, x.e], data: x.v1 },
      v2: { shape: [1, 1, x.n, x.e], data: x.v2 },
    };
    // As `run` compiles: head sizes pinned, and the sequence where a tensor (the composed path's
    // N³ logits) exceeds one binding, so the compiler binds it in chunks. Before the upload, so a
    // compile error leaves nothing allocated.
    const program = compileFor(simplicialAttentionKernel({ w1: x.w1, w2: x.w2 }), backend, { compile: { fuseAttention: fused } }, host);
    return uploadedRun(backend, program, host, 'o', { scale: x.scale });
  },
});

/** One case: N, D = Dv, windows; `composed` adds the composed path's row. */
export function simplicialCase(n: number, d: number, w: number, composed: boolean, counts: { warmup: number; runs: number }): Case<SimplicialBenchInputs> {
  const name = `simplicial N=${n} D=${d} w1=w2=${w}`;
  return {
    name,
    flops: allowedTriples(n, w, w) * 3 * (d + d),
    tolerance: 1e-4,
    ...(composed ? {} : { note: 'fused only: the composed path is the same N³ program at every window (see the w=32 rows)' }),
    makeInputs: () => {
      const rand = seededRandom(hashSeed(name));
      return { n, d, e: d, w1: w, w2: w, scale: 1 / Math.sqrt(d), q: randomF32(n * d, rand), k1: randomF32(n * d, rand), k2: randomF32(n * d, rand), v1: randomF32(n * d, rand), v2: randomF32(n * d, rand) };
    },
    reference,
    impls: [tesseraImpl('tessera-fused', true), ...(composed ? [tesseraImpl('tessera-composed', false)] : [])],
    ...counts,
  };
}
