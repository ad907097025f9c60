/**
 * Graph attention over a CSR graph: for every target node i, softmax attention over its
 * neighbours only,
 *
 * ```
 * s[h, i, j] = scale · q[h, i]·k[h, j]                 for j in col[rowptr[i] .. rowptr[i+1])
 * o[h, i]    = Σ_j softmax_j(s[h, i, ·]) · v[h, j]     (o = 0 for a node with no neighbours)
 * ```
 *
 * at N = M = 16,384 nodes, H = 4 heads, D = Dv = 64, scale = 1/8, E = 16·N = 262,144 edges (mean
 * in-degree 16), on two graphs (`graphCsr`, seeded by the graph's name, so deterministic):
 *
 * - `uniform`: each of the E edges picks its target uniformly at random (target in-degrees
 *   multinomial, ≈ Poisson(16): 16,384 nodes give a maximum near 35 and, almost surely, no
 *   empty row); each target's sources are distinct and uniform over the M nodes.
 * - `power-law`: skewed in-degrees from a continuous Lomax (Pareto II) quantile function with
 *   tail index 1.5, `x(p) = p^(−2/3) − 1`, evaluated at the midpoints p = (r − ½)/N of the N
 *   ranks, scaled so the degrees sum to exactly E (largest-remainder rounding; capped at M) and
 *   dealt to the nodes by a seeded permutation. At N = 16,384: maximum 8,422, 12 nodes with
 *   1,000 or more neighbours, median 5 (54% of the nodes have 5 or fewer, 22% one or none), and
 *   1,366 (8.3%) with none. Sources as above. (Uniform at 16,384: maximum 36, median 16, no
 *   empty row.)
 *
 * Inputs q [H, N, D], k [H, M, D], v [H, M, Dv] uniform in [-1, 1), seeded by the shape, so the
 * two graphs of a size share them. Every implementation returns o [H, N, Dv], checked against a
 * float64 reference (`referenceGraphAttention`: per head and target, the neighbours' scores, a
 * max-subtracted softmax, the weighted sum of v rows; an empty row gives 0).
 *
 * Flop count, the same for every implementation (useful work only): per edge and head 2·D for
 * the score and 2·Dv for its share of the weighted sum, i.e. E·H·(2·D + 2·Dv) = 268 MFLOP here;
 * exp, max and the normalisation count zero. The dense masked run computes all N·M scores and
 * is credited with the edges' count all the same, so its GFLOP/s says how much useful work per
 * second it gets done. `tokens_per_s` (the harness's one throughput field besides GFLOP/s)
 * counts **edges**: tokens = E, so the column reads edges/s (the case note says so).
 *
 * Implementations:
 *
 * - `tessera`: the CSR kernel `graphAttentionKernel({ score: 'dot' })` (`kernels/graph-attention.ts`),
 *   inputs q, k, v, `rowptr` i32 [N+1], `col` i32 [E] and the parameter `scale`, compiled with
 *   `compileFor` on the host shapes and run with `backend.run` on the tensors uploaded once; each
 *   run reads back `o` (`lse` is destroyed unread).
 * - `tessera-dense-masked`: tessera's own dense flash attention (`attentionKernel` with a
 *   `maskMod`) over the same q, k, v with the adjacency as the mask. A bool mask [N, M] would be
 *   1 GiB (bools are stored as u32), beyond one storage binding, so the adjacency is packed as
 *   bits into an extra i32 input `adj [n, w]`, w = ⌈M/32⌉ (32 MiB; built on the host in
 *   `prepare`, untimed), and the mask tests bit (kv & 31) of `adj[q, kv >> 5]` with `gather`,
 *   `shiftRight` and `bitAnd`. It computes all 16,384² scores per head (tens of seconds per run
 *   on lavapipe), so it makes 1 warm-up and at most 2 timed runs (`maxWarmup`, `maxRuns`).
 *   As in the attention bench, a compiled program without a `flash` dispatch fails the row.
 * - `tfjs`: composed from TF.js gather and segment ops, the best a JS user can write, one head at
 *   a time: all heads at once, the gathered [E, H, D] tensors are 256 MiB, twice the 128 MiB one
 *   storage binding may span, and that version fails WebGPU validation ("Binding size
 *   (268435456) … is larger than the maximum storage buffer binding size (134217728)") and reads
 *   back zeros; per head [E, D] is 64 MiB. Per head: `tf.gather` q rows by each edge's target and k rows by its
 *   source, multiply and sum over D → scores [E]; subtract the head's max score; `tf.exp`;
 *   `tf.unsortedSegmentSum` over the targets for the denominators [N] and, of the weighted
 *   gathered v rows, for the numerators [N, Dv]; `tf.divNoNan` (0 for an empty row); the heads
 *   `tf.stack`-ed to [H, N, Dv]. TF.js 4.22 has no segment max (no `unsortedSegmentMax` /
 *   `segmentMax`), so the softmax is shifted by the head's **global** max score instead of each
 *   target's own: exact for softmax (any per-row constant cancels) and safe from overflow, it
 *   would underflow only for a row whose scores all sit ~87 below the global max, impossible
 *   here (|s| ≤ 8). The COO target of each edge is expanded from rowptr on the host in
 *   `prepare` (untimed), as a user converting the graph once would. All ops used run on the
 *   webgpu backend (no CPU fallback).
 * - no `jaxjs-jit`: jax-js 0.1.25 exposes no segment_sum / scatter-add (its `scatter` primitive
 *   is internal, reached only as the transpose of `gather` under `grad`, and is not jittable).
 */
import type { Kernel } from '../../dsl/kernel.ts';
import type { Program } from '../../program/index.ts';
import { hashSeed, randomF32, seededRandom, type Case, type Impl, type Prepared } from '../harness.ts';
import { TFJS_PEAK_SOURCE, loadTfjs, tfjsPrepared } from '../peers/tfjs.ts';
import { TESSERA_PEAK_SOURCE, loadTessera, uploadedRun, expectFlash } from '../tessera.ts';

/** The two graphs of the family. */
export type GraphKind = 'uniform' | 'power-law';

/** Shape constants of the bench: the H = 4, D = Dv = 64, mean in-degree 16. */
const H = 4;
const D = 64;
const DV = 64;
const MEAN_DEGREE = 16;
const SCALE = 1 / 8;
/** Rank exponent of the power-law degrees: 1 / (tail index 1.5). */
const POWER = 2 / 3;

/** A graph in CSR form: the neighbours (sources) of target i are `col[rowptr[i] .. rowptr[i+1])`. */
export interface CsrGraph {
  readonly n: number;
  readonly m: number;
  /** [N + 1], rowptr[0] = 0, rowptr[N] = E. */
  readonly rowptr: Int32Array;
  /** [E], each row's sources distinct and ascending. */
  readonly col: Int32Array;
}

export interface GraphBenchInputs extends CsrGraph {
  readonly kind: GraphKind;
  readonly h: number;
  readonly d: number;
  /** Value head dim (Dv). */
  readonly e: number;
  readonly scale: number;
  /** Row-major [H, N, D]. */
  readonly q: Float32Array;
  /** Row-major [H, M, D]. */
  readonly k: Float32Array;
  /** Row-major [H, M, Dv]. */
  readonly v: Float32Array;
}

/** In-degrees of `n` targets summing to `edges`: each edge's target uniform at random. */
function uniformDegrees(n: number, edges: number, rand: () => number): Int32Array {
  const deg = new Int32Array(n);
  for (let x = 0; x < edges; x++) deg[Math.floor(rand() * n)]!++;
  return deg;
}

/**
 * Power-law in-degrees summing to exactly `edges`, each at most `cap`: the Lomax quantiles
 * `p^(−POWER) − 1` at the rank midpoints p = (r − ½)/n, scaled to the sum, rounded by largest
 * remainder (ties to the higher-ranked node), capped (any excess dealt out one edge at a time
 * from the top rank down to nodes below the cap), then assigned to the nodes by a seeded
 * Fisher–Yates permutation.
 */
function powerLawDegrees(n: number, edges: number, cap: number, rand: () => number): Int32Array {
  const x = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) total += x[r] = ((r + 0.5) / n) ** -POWER - 1;
  const byRank = new Int32Array(n);
  const rest: { r: number; frac: number }[] = [];
  let assigned = 0;
  for (let r = 0; r < n; r++) {
    const want = (x[r]! * edges) / total;
    byRank[r] = Math.floor(want);
    assigned += byRank[r]!;
    rest.push({ r, frac: want - byRank[r]! });
  }
  rest.sort((a, b) => b.frac - a.frac || a.r - b.r);
  for (let i = 0; i < edges - assigned; i++) byRank[rest[i]!.r]!++;
  let excess = 0;
  for (let r = 0; r < n; r++) {
    if (byRank[r]! > cap) {
      excess += byRank[r]! - cap;
      byRank[r] = cap;
    }
  }
  for (let r = 0; excess > 0; r = (r + 1) % n) {
    if (byRank[r]! < cap) {
      byRank[r]!++;
      excess--;
    }
  }
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const deg = new Int32Array(n);
  for (let r = 0; r < n; r++) deg[perm[r]!] = byRank[r]!;
  return deg;
}

/** CSR with the given in-degrees: each target's sources distinct, uniform over `m`, ascending. */
function csrFromDegrees(deg: Int32Array, m: number, rand: () => number): CsrGraph {
  const n = deg.length;
  const rowptr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) rowptr[i + 1] = rowptr[i]! + deg[i]!;
  const col = new Int32Array(rowptr[n]!);
  const stamp = new Int32Array(m).fill(-1);
  for (let i = 0; i < n; i++) {
    const start = rowptr[i]!;
    const end = rowptr[i + 1]!;
    if (end - start > m) throw new Error(`graph: node ${i} has in-degree ${end - start} > M = ${m}`);
    for (let e = start; e < end; ) {
      const j = Math.floor(rand() * m);
      if (stamp[j] === i) continue;
      stamp[j] = i;
      col[e++] = j;
    }
    col.subarray(start, end).sort();
  }
  return { n, m, rowptr, col };
}

/** One graph per (kind, n) for the process: the note's statistics and `makeInputs` share it. */
const graphs = new Map<string, CsrGraph>();

/** The seeded graph of a kind at N = M = n with E = degree·n edges (mean in-degree `degree`). */
export function graphCsr(kind: GraphKind, n: number, degree = MEAN_DEGREE): CsrGraph {
  const key = `${kind} ${n} ${degree}`;
  let g = graphs.get(key);
  if (g === undefined) {
    const rand = seededRandom(hashSeed(`graph ${kind} N=${n} deg${degree}`));
    const edges = degree * n;
    const deg = kind === 'uniform' ? uniformDegrees(n, edges, rand) : powerLawDegrees(n, edges, n, rand);
    graphs.set(key, (g = csrFromDegrees(deg, n, rand)));
  }
  return g;
}

/** In-degree statistics of a CSR graph. */
export function degreeStats({ n, rowptr }: CsrGraph): { edges: number; max: number; mean: number; median: number; empty: number } {
  const deg = Int32Array.from({ length: n }, (_, i) => rowptr[i + 1]! - rowptr[i]!).sort();
  return { edges: rowptr[n]!, max: deg[n - 1]!, mean: rowptr[n]! / n, median: deg[n >> 1]!, empty: deg.filter((x) => x === 0).length };
}

/**
 * Float64 reference: per head and target node, the neighbours' scores, a max-subtracted softmax
 * and the weighted sum of their v rows; a node without neighbours gets o = 0. Output [H, N, Dv].
 */
export function referenceGraphAttention({ h, n, m, d, e, scale, q, k, v, rowptr, col }: GraphBenchInputs): Float64Array {
  const o = new Float64Array(h * n * e);
  const s = new Float64Array(Math.max(1, degreeStats({ n, m, rowptr, col }).max));
  const acc = new Float64Array(e);
  for (let hh = 0; hh < h; hh++) {
    for (let i = 0; i < n; i++) {
      const start = rowptr[i]!;
      const end = rowptr[i + 1]!;
      if (end === start) continue;
      const qBase = (hh * n + i) * d;
      let max = -Infinity;
      for (let x = start; x < end; x++) {
        const kBase = (hh * m + col[x]!) * d;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[qBase + c]! * k[kBase + c]!;
        s[x - start] = dot * scale;
        if (s[x - start]! > max) max = s[x - start]!;
      }
      acc.fill(0);
      let sum = 0;
      for (let x = start; x < end; x++) {
        const p = Math.exp(s[x - start]! - max);
        sum += p;
        const vBase = (hh * m + col[x]!) * e;
        for (let c = 0; c < e; c++) acc[c]! += p * v[vBase + c]!;
      }
      const out = (hh * n + i) * e;
      for (let c = 0; c < e; c++) o[out + c] = acc[c]! / sum;
    }
  }
  return o;
}

/** Flops of the case: per edge and head 2·D (score) + 2·Dv (weighted sum). */
export function graphFlops(edges: number, h: number, d: number, e: number): number {
  return edges * h * (2 * d + 2 * e);
}

/** The CSR kernel, once for the process, so `compileFor`'s cache serves every prepare. */
let csrKernel: Kernel | undefined;

/**
 * `tessera`: `graphAttentionKernel({ score: 'dot' })` compiled with `compileFor` on the host
 * shapes (q [H, N, D], k [H, M, D], v [H, M, Dv], rowptr [N+1], col [E]), run on the tensors
 * uploaded once; each run reads back `o` [H, N, Dv].
 */
const tesseraCsr: Impl<GraphBenchInputs> = {
  name: 'tessera',
  peakBytesSource: TESSERA_PEAK_SOURCE,
  async prepare({ h, n, m, d, e, scale, q, k, v, rowptr, col }, { shared }): Promise<Prepared> {
    const { backend } = await loadTessera(shared);
    const lib = (await import('../../kernels/graph-attention.ts')) as typeof import('../../kernels/graph-attention.ts');
    const { compileFor } = (await import('../../run.ts')) as typeof import('../../run.ts');
    csrKernel ??= lib.graphAttentionKernel({ score: 'dot' });
    const host = {
      q: { shape: [h, n, d], data: q },
      k: { shape: [h, m, d], data: k },
      v: { shape: [h, m, e], data: v },
      rowptr: { shape: [n + 1], data: rowptr, dtype: 'i32' as const },
      col: { shape: [col.length], data: col, dtype: 'i32' as const },
    };
    return uploadedRun(backend, compileFor(csrKernel, backend, {}, host), host, 'o', { scale });
  },
};

/** The adjacency as bits, `adj[i, j >> 5]` bit `j & 31` set iff j is a neighbour of i; [N, ⌈M/32⌉]. */
export function adjacencyBits({ n, m, rowptr, col }: CsrGraph): Int32Array {
  const w = Math.ceil(m / 32);
  const adj = new Int32Array(n * w);
  for (let i = 0; i < n; i++) {
    for (let x = rowptr[i]!; x < rowptr[i + 1]!; x++) adj[i * w + (col[x]! >> 5)]! |= 1 << (col[x]! & 31);
  }
  return adj;
}

/** The bit-masked dense attention kernel, once for the process. */
let denseKernel: Kernel | undefined;

/**
 * `tessera-dense-masked`: `attentionKernel` with the extra input `adj: i32[n, w]` and a `maskMod`
 * testing bit (kv & 31) of `adj[q, kv >> 5]`, compiled with `compileFor` (N, M symbolic unless a
 * tensor needs pinning), q as `[1, H, 1, N, D]` (`splitHeads`, the same memory as [H, N, D]); each
 * run reads back `o` ([1, H, 1, N, Dv], the same memory as [H, N, Dv]). A program without a flash
 * dispatch fails the row (unfused, the scores alone would be 4 GiB).
 */
const tesseraDenseMasked: Impl<GraphBenchInputs> = {
  name: 'tessera-dense-masked',
  peakBytesSource: TESSERA_PEAK_SOURCE,
  maxWarmup: 1,
  maxRuns: 2,
  async prepare(x, { shared }): Promise<Prepared> {
    const { h, n, m, d, e, scale, q, k, v } = x;
    const { backend } = await loadTessera(shared);
    const lib = (await import('../../kernels/attention.ts')) as typeof import('../../kernels/attention.ts');
    const ops = (await import('../../dsl/ops.ts')) as typeof import('../../dsl/ops.ts');
    const dsl = (await import('../../dsl/kernel.ts')) as typeof import('../../dsl/kernel.ts');
    const { compileFor } = (await import('../../run.ts')) as typeof import('../../run.ts');
    denseKernel ??= lib.attentionKernel({
      extraInputs: { adj: dsl.i32('n', 'w') },
      maskMod: (idx, { adj }) => {
        const word = ops.gather(adj, 'w', ops.shiftRight(idx.kv, 5)); // [n, m]
        return ops.ne(ops.bitAnd(ops.shiftRight(word, ops.bitAnd(idx.kv, 31)), 1), 0);
      },
    });
    const host = {
      q: lib.splitHeads({ shape: [1, h, n, d], data: q }, h),
      k: { shape: [1, h, m, d], data: k },
      v: { shape: [1, h, m, e], data: v },
      adj: { shape: [n, Math.ceil(m / 32)], data: adjacencyBits(x), dtype: 'i32' as const },
    };
    const program: Program = compileFor(denseKernel, backend, {}, host);
    expectFlash(program);
    return uploadedRun(backend, program, host, 'o', { scale });
  },
};

/** Each edge's target node (COO row ids) from the CSR row pointers. */
function edgeTargets({ n, rowptr }: CsrGraph): Int32Array {
  const tgt = new Int32Array(rowptr[n]!);
  for (let i = 0; i < n; i++) tgt.fill(i, rowptr[i]!, rowptr[i + 1]!);
  return tgt;
}

/**
 * `tfjs`: gather + segment ops, one head at a time inside `tf.tidy` (see the file comment), the
 * heads stacked to [H, N, Dv].
 */
const tfjsImpl: Impl<GraphBenchInputs> = {
  name: 'tfjs',
  peakBytesSource: TFJS_PEAK_SOURCE,
  async prepare(x, { shared }): Promise<Prepared> {
    const { h, n, m, d, e, scale, q, k, v, col } = x;
    const peer = await loadTfjs(shared);
    const { tf } = peer;
    type T = ReturnType<typeof tf.zeros>;
    const tgt = edgeTargets(x);
    peer.resetPeak();
    const tq = tf.tensor3d(q, [h, n, d], 'float32');
    const tk = tf.tensor3d(k, [h, m, d], 'float32');
    const tv = tf.tensor3d(v, [h, m, e], 'float32');
    const tTgt = tf.tensor1d(tgt, 'int32');
    const tSrc = tf.tensor1d(col, 'int32');
    const tScale = tf.scalar(scale, 'float32');
    const head = (hh: number): T => {
      const qh = tf.reshape(tf.slice(tq, [hh, 0, 0], [1, n, d]), [n, d]);
      const kh = tf.reshape(tf.slice(tk, [hh, 0, 0], [1, m, d]), [m, d]);
      const vh = tf.reshape(tf.slice(tv, [hh, 0, 0], [1, m, e]), [m, e]);
      const s = tf.mul(tf.sum(tf.mul(tf.gather(qh, tTgt), tf.gather(kh, tSrc)), 1), tScale); // [E]
      const p = tf.exp(tf.sub(s, tf.max(s)));
      const den = tf.unsortedSegmentSum(p, tTgt, n); // [N]
      const num = tf.unsortedSegmentSum(tf.mul(tf.gather(vh, tSrc), tf.expandDims(p, 1)), tTgt, n); // [N, Dv]
      return tf.divNoNan(num, tf.expandDims(den, 1));
    };
    return tfjsPrepared(
      peer,
      () => {
        const heads: T[] = [];
        for (let hh = 0; hh < h; hh++) heads.push(tf.tidy(() => head(hh)));
        return tf.stack(heads);
      },
      [tq, tk, tv, tTgt, tSrc, tScale],
    );
  },
};

/**
 * The graph attention case for one graph at N = M = n with mean in-degree `degree`. `withTfjs`
 * false leaves TF.js out (the degree-64 case, which asks only whether the CSR kernel still beats
 * dense masked attention; TF.js would take minutes per run there).
 */
export function graphCase(kind: GraphKind, n: number, counts: { warmup: number; runs: number }, degree = MEAN_DEGREE, withTfjs = true): Case<GraphBenchInputs> {
  const edges = degree * n;
  return {
    name: `graph ${kind} N=${n} H=${H} D=${D} deg${degree}`,
    flops: graphFlops(edges, H, D, DV),
    tokens: edges,
    get note(): string {
      const s = degreeStats(graphCsr(kind, n, degree));
      return `tokens/s = edges/s (E = ${s.edges}); in-degree max ${s.max}, median ${s.median}, ${s.empty} empty rows`;
    },
    // Every output is a convex combination of v values in [-1, 1) (or 0), so it is O(1); f32
    // rounding keeps a correct result within a few 1e-7 of float64, even over the power-law
    // graph's 8,422-neighbour row (measured 1.4e-7 to 2.5e-7 for all three implementations). 2e-5, as in the attention bench, leaves headroom for any summation
    // order; a dropped or extra neighbour moves its row by about |v − o|/degree, ≥ 1e-4 for
    // every row up to degree ~5,000.
    tolerance: 2e-5,
    makeInputs: () => {
      // Seeded by the shape, not the graph, so both graphs of a size see the same q, k, v.
      const rand = seededRandom(hashSeed(`graph N=${n} M=${n} H=${H} D=${D} Dv=${DV}`));
      const q = randomF32(H * n * D, rand);
      const k = randomF32(H * n * D, rand);
      const v = randomF32(H * n * DV, rand);
      return { kind, h: H, d: D, e: DV, scale: SCALE, q, k, v, ...graphCsr(kind, n, degree) };
    },
    reference: referenceGraphAttention,
    impls: withTfjs ? [tesseraCsr, tesseraDenseMasked, tfjsImpl] : [tesseraCsr, tesseraDenseMasked],
    ...counts,
  };
}
