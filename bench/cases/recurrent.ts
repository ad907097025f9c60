/**
 * Recurrent attention with a matrix state (`kernels/linear-attention.ts`) at B = 1, H = 4,
 * Dk = Dv = 64, T ∈ {1024, 8192}, for the gated rules `gla` and `gated_delta`:
 *
 * ```
 * gla:          S_t = exp(g_t) S_{t-1} + v_t k_tᵀ
 * gated_delta:  S_t = exp(g_t) S_{t-1} (I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ
 * both:         o_t = scale · S_t q_t
 * ```
 *
 * Each rule's case compares tessera's chunked scan kernel (one dispatch for the whole sequence)
 * with the same chunked algorithm (chunk C = 64, the kernel's own form with fewer JS-loop steps
 * than tessera's default 32; see its header) composed
 * from TF.js ops and from jax-js ops under `jit`, each a JS loop over the chunks carrying the
 * state `S [B·H, E, D]`: the best a JS user can write, since neither library has a scan over a
 * device-resident sequence. Beside them, in its own case of the family (`recurrent flash-causal
 * T=…`), tessera's causal flash attention on the same q, k, v at the same T: softmax attention is
 * a different function, so it needs its own float64 reference (the harness checks every impl of
 * a case against one), and its rows give the quadratic baseline the recurrences are quoted
 * against.
 *
 * Inputs (seeded by T, so the three cases of a T share them): q, k, v uniform in [-1, 1);
 * g (log decay) uniform in [-0.1, -0.01]; β uniform in [0.1, 0.9]; scale = 1/8 (1/√D). gla uses
 * the raw keys; gated_delta L2-normalises each token's key (as the delta rule needs: with
 * β‖k‖² ≤ 1 the transition I − β k kᵀ is a contraction), done on the host when the inputs are
 * built, so every impl receives the same normalised keys.
 *
 * Flop count (the same for every impl of a case, so the rows compare time): the chunked
 * algorithm's matrix products, 2·m·n·k each, per chunk of C tokens per head:
 * - both rules: QKᵀ (2·C·C·D), Q S₀ᵀ (2·C·D·E), P·U (2·C·C·E), Uᵀ K into the state (2·C·E·D);
 * - gated_delta adds K Kᵀ (2·C·C·D), K S₀ᵀ (2·C·D·E) and the unit lower-triangular C × C solve
 *   against C × E right-hand sides (C·(C−1)·E: a multiply and an add per below-diagonal entry
 *   and column);
 * times B·H·T/C chunks. Elementwise work (decays, masks, exp) counts zero. At C = D = E = 64:
 * gla 8·C³ = 2.10 MFLOP per chunk and head, gated_delta 12·C³ + C²(C−1) = 3.40 MFLOP. The TF.js
 * peer inverts the UT system by a product of matrix powers (more flops than a solve) and is
 * credited with the solve's count all the same.
 *
 * Tokens (`tokens_per_s`): B·T, the sequence positions processed per run (each covering all H
 * heads), the figure linear-attention papers quote.
 */
import type { Kernel } from '../../dsl/kernel.ts';
import type { Program } from '../../program/index.ts';
import { hashSeed, randomF32, seededRandom, type Case, type Impl, type Prepared } from '../harness.ts';
import { JAXJS_PEAK_SOURCE, loadJaxjs } from '../peers/jaxjs.ts';
import { TFJS_PEAK_SOURCE, loadTfjs, tfjsPrepared } from '../peers/tfjs.ts';
import { TESSERA_PEAK_SOURCE, loadTessera, uploadedRun, expectFlash } from '../tessera.ts';
import { attentionFlops, referenceAttention, type AttentionBenchInputs } from './attention.ts';

/** The gated rules this family measures. */
export type RecurrentRule = 'gla' | 'gated_delta';

/** Shape constants of the bench: the B = 1, H = 4, Dk = Dv = 64, chunk 64. */
const B = 1;
const H = 4;
const D = 64;
const E = 64;
const CHUNK = 64;
const SCALE = 1 / 8;

export interface RecurrentInputs {
  readonly rule: RecurrentRule;
  readonly b: number;
  readonly h: number;
  readonly t: number;
  readonly d: number;
  readonly e: number;
  readonly chunk: number;
  readonly scale: number;
  /** Row-major [B, H, T, D]. */
  readonly q: Float32Array;
  /** Row-major [B, H, T, D]; L2-normalised per token for gated_delta. */
  readonly k: Float32Array;
  /** Row-major [B, H, T, E]. */
  readonly v: Float32Array;
  /** Row-major [B, H, T]: log decays in [-0.1, -0.01]. */
  readonly g: Float32Array;
  /** Row-major [B, H, T]: in [0.1, 0.9] (used by gated_delta only). */
  readonly beta: Float32Array;
}

/** Raw inputs of one T, shared by its gla, gated_delta and flash cases. */
function rawInputs(t: number): { q: Float32Array; k: Float32Array; v: Float32Array; g: Float32Array; beta: Float32Array } {
  const rand = seededRandom(hashSeed(`recurrent B=${B} H=${H} T=${t} D=${D}`));
  const q = randomF32(B * H * t * D, rand);
  const k = randomF32(B * H * t * D, rand);
  const v = randomF32(B * H * t * E, rand);
  const g = new Float32Array(B * H * t);
  for (let i = 0; i < g.length; i++) g[i] = -0.01 - 0.09 * rand();
  const beta = new Float32Array(B * H * t);
  for (let i = 0; i < beta.length; i++) beta[i] = 0.1 + 0.8 * rand();
  return { q, k, v, g, beta };
}

/** Each token's key divided by its L2 norm (in float64, rounded once to f32). */
function normalisedKeys(k: Float32Array, d: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let row = 0; row < k.length; row += d) {
    let ss = 0;
    for (let x = 0; x < d; x++) ss += k[row + x]! ** 2;
    const inv = 1 / Math.sqrt(ss);
    for (let x = 0; x < d; x++) out[row + x] = k[row + x]! * inv;
  }
  return out;
}

/** Matrix-product flops of the chunked algorithm for the whole case (see the file comment). */
export function recurrentFlops(rule: RecurrentRule, b: number, h: number, t: number, d: number, e: number, c: number): number {
  let perChunk = 2 * c * c * d + 2 * c * d * e + 2 * c * c * e + 2 * c * e * d;
  if (rule === 'gated_delta') perChunk += 2 * c * c * d + 2 * c * d * e + c * (c - 1) * e;
  return b * h * Math.ceil(t / c) * perChunk;
}

/**
 * Float64 reference: the token-by-token definition (golden README), per head a state S [E, D]:
 * gla `S ← e^g S + v kᵀ`; gated_delta `S ← e^g S (I − β k kᵀ) + β v kᵀ`, computed as
 * `e^g S + β (v − e^g S k) kᵀ`; then `o = scale · S q`. Output `o [B, H, T, E]`.
 */
export function referenceRecurrent({ rule, b, h, t, d, e, scale, q, k, v, g, beta }: RecurrentInputs): Float64Array {
  const o = new Float64Array(b * h * t * e);
  const S = new Float64Array(e * d);
  const sk = new Float64Array(e);
  for (let bh = 0; bh < b * h; bh++) {
    S.fill(0);
    for (let i = 0; i < t; i++) {
      const row = bh * t + i;
      const kr = row * d;
      const vr = row * e;
      const decay = Math.exp(g[row]!);
      if (rule === 'gla') {
        for (let r = 0; r < e; r++) {
          const vv = v[vr + r]!;
          for (let c = 0; c < d; c++) S[r * d + c] = decay * S[r * d + c]! + vv * k[kr + c]!;
        }
      } else {
        const bt = beta[row]!;
        for (let r = 0; r < e; r++) {
          let acc = 0;
          for (let c = 0; c < d; c++) acc += S[r * d + c]! * k[kr + c]!;
          sk[r] = acc;
        }
        for (let r = 0; r < e; r++) {
          const w = bt * (v[vr + r]! - decay * sk[r]!);
          for (let c = 0; c < d; c++) S[r * d + c] = decay * S[r * d + c]! + w * k[kr + c]!;
        }
      }
      for (let r = 0; r < e; r++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += S[r * d + c]! * q[kr + c]!;
        o[row * e + r] = scale * acc;
      }
    }
  }
  return o;
}

/** One kernel object per rule for the process, so `compileFor`'s cache serves every prepare. */
const recurrentKernels = new Map<RecurrentRule, Kernel>();

/**
 * `tessera-chunked`: `linearAttentionKernel({ rule })` — the kernel's default chunk for the rule:
 * 32 tokens for gla, 16 for the delta rules (see `kernels/linear-attention.ts`) — compiled with `compileFor` on
 * the host tensors' shapes (before the upload, so a compile error leaves nothing allocated), run
 * with `backend.run` on q, k, v, g (and β) uploaded once; each run reads back `o`, `s_final` is
 * destroyed unread.
 */
const tesseraChunked: Impl<RecurrentInputs> = {
  name: 'tessera-chunked',
  peakBytesSource: TESSERA_PEAK_SOURCE,
  async prepare(x, { shared }): Promise<Prepared> {
    const { backend } = await loadTessera(shared);
    const lib = (await import('../../kernels/linear-attention.ts')) as typeof import('../../kernels/linear-attention.ts');
    const { compileFor } = (await import('../../run.ts')) as typeof import('../../run.ts');
    let kernel = recurrentKernels.get(x.rule);
    if (kernel === undefined) recurrentKernels.set(x.rule, (kernel = lib.linearAttentionKernel({ rule: x.rule })));
    const host = {
      q: { shape: [x.b, x.h, x.t, x.d], data: x.q },
      k: { shape: [x.b, x.h, x.t, x.d], data: x.k },
      v: { shape: [x.b, x.h, x.t, x.e], data: x.v },
      g: { shape: [x.b, x.h, x.t], data: x.g },
      ...(x.rule === 'gated_delta' ? { beta: { shape: [x.b, x.h, x.t], data: x.beta } } : {}),
    };
    return uploadedRun(backend, compileFor(kernel, backend, {}, host), host, 'o', { scale: x.scale });
  },
};

/**
 * `tfjs-chunked`: the chunked algorithm composed from TF.js ops, one `tf.tidy` per chunk in a JS
 * loop that carries the state tensor `S [B·H, E, D]` (the previous one disposed as the next
 * arrives), the chunk outputs concatenated at the end. Per chunk, on `[B·H, C, ·]` slices
 * (`tf.slice`) of the resident inputs:
 *
 * ```
 * G = cumsum(g)                     decay[t,s] = e^{G_t − G_s}
 * (gated_delta) A = β ⊙ (K Kᵀ ⊙ decay ⊙ strict-lower);  R = β ⊙ (V − e^G ⊙ K S₀ᵀ)
 *               U = (I + A)^{-1} R   — see below;  gla: U = V
 * O  = scale · (e^G ⊙ Q S₀ᵀ + (Q Kᵀ ⊙ decay ⊙ lower) U)
 * S' = e^{G_C} S₀ + (e^{G_C − G} ⊙ U)ᵀ K
 * ```
 *
 * TF.js has no triangular solve. A is strictly lower triangular, hence nilpotent (A^C = 0), so
 * `(I + A)^{-1} = Σ_{n<C} (−A)^n = (I − A)(I + A²)(I + A⁴)…(I + A^{C/2})`: for C = 64 five
 * squarings (A², A⁴, …, A³², C × C × C each) and six products with the C × E right-hand side
 * applied one factor at a time — log₂ C sequential steps instead of the C row steps of a forward
 * substitution, each a batched matMul. The masks (`tf.linalg.bandPart` of ones) are built once
 * per prepare.
 */
const tfjsChunked: Impl<RecurrentInputs> = {
  name: 'tfjs-chunked',
  peakBytesSource: TFJS_PEAK_SOURCE,
  async prepare({ rule, b, h, t, d, e, chunk: C, scale, q, k, v, g, beta }, { shared }): Promise<Prepared> {
    if (t % C !== 0) throw new Error(`tfjs-chunked: T = ${t} is not a multiple of the chunk ${C}`);
    const peer = await loadTfjs(shared);
    const { tf } = peer;
    type T = ReturnType<typeof tf.zeros>;
    const BH = b * h;
    const delta = rule === 'gated_delta';
    peer.resetPeak();
    const tq = tf.tensor3d(q, [BH, t, d], 'float32');
    const tk = tf.tensor3d(k, [BH, t, d], 'float32');
    const tv = tf.tensor3d(v, [BH, t, e], 'float32');
    const tg = tf.tensor2d(g, [BH, t], 'float32');
    const tbeta = delta ? tf.tensor2d(beta, [BH, t], 'float32') : null;
    const tScale = tf.scalar(scale, 'float32');
    const { lower, strict } = tf.tidy(() => {
      const ones = tf.ones([C, C], 'float32');
      const lo = tf.linalg.bandPart(ones, -1, 0);
      return { lower: lo, strict: tf.sub(lo, tf.linalg.bandPart(ones, 0, 0)) };
    });
    const step = (S: T, c0: number): { o: T; next: T } => {
      const qc = tf.slice(tq, [0, c0, 0], [BH, C, d]);
      const kc = tf.slice(tk, [0, c0, 0], [BH, C, d]);
      const vc = tf.slice(tv, [0, c0, 0], [BH, C, e]);
      const G = tf.cumsum(tf.slice(tg, [0, c0], [BH, C]), 1); // [BH, C]
      const GC = tf.slice(G, [0, C - 1], [BH, 1]); // [BH, 1]
      const eG = tf.expandDims(tf.exp(G), 2); // [BH, C, 1]
      const decay = tf.exp(tf.sub(tf.expandDims(G, 2), tf.expandDims(G, 1))); // [BH, C, C]
      let u: T = vc;
      if (delta) {
        const b3 = tf.expandDims(tf.slice(tbeta!, [0, c0], [BH, C]), 2); // [BH, C, 1]
        let A: T = tf.mul(tf.mul(tf.matMul(kc, kc, false, true), tf.mul(decay, strict)), b3);
        const rhs = tf.mul(tf.sub(vc, tf.mul(tf.matMul(kc, S, false, true), eG)), b3);
        // U = (I − A)(I + A²)(I + A⁴)…(I + A^{C/2}) · rhs, one factor at a time.
        u = tf.sub(rhs, tf.matMul(A, rhs));
        for (let p = 2; p < C; p *= 2) {
          A = tf.matMul(A, A);
          u = tf.add(u, tf.matMul(A, u));
        }
      }
      const intra = tf.mul(tf.matMul(qc, kc, false, true), tf.mul(decay, lower));
      const o = tf.mul(tf.add(tf.mul(tf.matMul(qc, S, false, true), eG), tf.matMul(intra, u)), tScale);
      const toEnd = tf.expandDims(tf.exp(tf.sub(GC, G)), 2); // [BH, C, 1]
      const next = tf.add(tf.mul(S, tf.expandDims(tf.exp(GC), 2)), tf.matMul(tf.mul(u, toEnd), kc, true, false));
      return { o, next };
    };
    // Each chunk's step in its own tidy, so only the carried state and the outputs outlive it.
    return tfjsPrepared(
      peer,
      () => {
        let S: T = tf.zeros([BH, e, d], 'float32');
        const outs: T[] = [];
        for (let c0 = 0; c0 < t; c0 += C) {
          const prev = S;
          const { o, next } = tf.tidy(() => step(prev, c0));
          S = next;
          prev.dispose();
          outs.push(o);
        }
        return tf.concat(outs, 1);
      },
      [tq, tk, tv, tg, tbeta, tScale, lower, strict],
    );
  },
};

/**
 * `jaxjs-jit-chunked`: the same chunked algorithm in jax-js, called in a JS loop over the chunks
 * (jax-js has no scan): for gla one `jax.jit`-ted chunk step `(S, q_c, k_c, v_c, g_c) → [o_c, S']`;
 * for gated_delta three jitted calls per chunk (the UT system's operands, jax-js's own triangular
 * solve `lax.linalg.triangularSolve` — a WebGPU shader —, then the rest), because jax-js's `jit`
 * cannot feed a solve from ops traced in the same function (see below). The chunk slices are taken
 * eagerly (`x.ref.slice([], [c0, c1])`) and the outputs joined by `np.concatenate`. jax-js arrays
 * are reference-counted and every op consumes its arguments, inside the traced functions too, so
 * every further use is a `.ref`.
 */
const jaxjsChunked: Impl<RecurrentInputs> = {
  name: 'jaxjs-jit-chunked',
  peakBytesSource: JAXJS_PEAK_SOURCE,
  async prepare({ rule, b, h, t, d, e, chunk: C, scale, q, k, v, g, beta }, { shared }): Promise<Prepared> {
    if (t % C !== 0) throw new Error(`jaxjs-jit-chunked: T = ${t} is not a multiple of the chunk ${C}`);
    const { jax } = await loadJaxjs(shared);
    const np = jax.numpy;
    const { triangularSolve } = jax.lax.linalg;
    type J = InstanceType<typeof jax.Array>;
    const BH = b * h;
    const delta = rule === 'gated_delta';
    const onDevice = (data: Float32Array, shape: number[]): J => np.array(data, { shape, dtype: np.float32, device: 'webgpu' });
    const tri = (strictly: boolean): J => {
      const m = new Float32Array(C * C);
      for (let i = 0; i < C; i++) for (let j = 0; j < (strictly ? i : i + 1); j++) m[i * C + j] = 1;
      return onDevice(m, [C, C]);
    };
    const jq = onDevice(q, [BH, t, d]);
    const jk = onDevice(k, [BH, t, d]);
    const jv = onDevice(v, [BH, t, e]);
    const jg = onDevice(g, [BH, t]);
    const jbeta = delta ? onDevice(beta, [BH, t]) : null;
    const lower = tri(false);
    const strict = tri(true);
    const T = (x: J): J => np.matrixTranspose(x);

    /** The chunk step; `u` is the value each token adds (v for gla, the UT solution for the delta rule). */
    const finish = (S: J, qc: J, kc: J, G: J, decay: J, eG: J, u: J, lowerMask: J): J[] => {
      const GC = G.ref.slice([], [C - 1, C]); // [BH, 1]
      const toEnd = np.exp(np.subtract(GC.ref, G)).reshape([BH, C, 1]);
      const intra = np.multiply(np.matmul(qc.ref, T(kc.ref)), np.multiply(decay, lowerMask));
      const o = np.multiply(np.add(np.multiply(np.matmul(qc, T(S.ref)), eG), np.matmul(intra, u.ref)), scale);
      const next = np.add(np.multiply(S, np.exp(GC).reshape([BH, 1, 1])), np.matmul(T(np.multiply(u, toEnd)), kc));
      return [o, next];
    };
    const prologue = (g_: J): { G: J; decay: J; eG: J } => {
      const G = np.cumsum(g_, 1); // [BH, C]
      const decay = np.exp(np.subtract(G.ref.reshape([BH, C, 1]), G.ref.reshape([BH, 1, C])));
      const eG = np.exp(G.ref).reshape([BH, C, 1]);
      return { G, decay, eG };
    };
    const glaStep = jax.jit((S: J, qc: J, kc: J, vc: J, gc: J, lowerMask: J): J[] => {
      const { G, decay, eG } = prologue(gc);
      return finish(S, qc, kc, G, decay, eG, vc, lowerMask);
    });
    // jax-js's `jit` runs a routine (the triangular solve) only on buffers that are arguments of
    // the jitted function or outputs of another routine ("routine primitive triangular_solve
    // input is not imm" otherwise), so the delta rule's step is three jitted calls: the UT
    // system's operands, the solve, the rest. The public `triangularSolve` adds flips for a lower
    // matrix, which would again be non-argument inputs, so the system is posed in the solver's
    // native form: with P the reversal of the chunk, `(I + A) U = R` is `(P A P + I)(P U) = P R`,
    // an upper unit-triangular system, and the solver's `a·Xᵀ = bᵀ` (`leftSide: false,
    // transposeA: true`: no wrapper ops) takes `a = P A P` (its diagonal unread:
    // `unitDiagonal`) and `b = (P R)ᵀ`, returning `X = (P U)ᵀ`.
    const deltaOperands = jax.jit((S: J, kc: J, vc: J, gc: J, bc: J, strictMask: J): J[] => {
      const { G, decay, eG } = prologue(gc);
      G.dispose();
      const b3 = bc.reshape([BH, C, 1]);
      const A = np.multiply(np.multiply(np.matmul(kc.ref, T(kc.ref)), np.multiply(decay, strictMask)), b3.ref);
      const rhs = np.multiply(np.subtract(vc, np.multiply(np.matmul(kc, T(S)), eG)), b3);
      return [np.flip(A, [-2, -1]), T(np.flip(rhs, -2))];
    });
    const deltaSolve = jax.jit((a: J, bT: J): J => triangularSolve(a, bT, { leftSide: false, transposeA: true, lower: false, unitDiagonal: true }));
    const deltaFinish = jax.jit((S: J, qc: J, kc: J, gc: J, x: J, lowerMask: J): J[] => {
      const { G, decay, eG } = prologue(gc);
      return finish(S, qc, kc, G, decay, eG, np.flip(T(x), -2), lowerMask);
    });
    const deltaStep = (S: J, qc: J, kc: J, vc: J, gc: J, bc: J): J[] => {
      const [a, bT] = deltaOperands(S.ref, kc.ref, vc, gc.ref, bc, strict.ref);
      return deltaFinish(S, qc, kc, gc, deltaSolve(a!, bT!), lower.ref);
    };
    const slice = (x: J, c0: number): J => x.ref.slice([], [c0, c0 + C]);
    return {
      async run() {
        let S: J = np.zeros([BH, e, d], { dtype: np.float32, device: 'webgpu' });
        const outs: J[] = [];
        for (let c0 = 0; c0 < t; c0 += C) {
          const [o, next] = delta
            ? deltaStep(S, slice(jq, c0), slice(jk, c0), slice(jv, c0), slice(jg, c0), slice(jbeta!, c0))
            : glaStep(S, slice(jq, c0), slice(jk, c0), slice(jv, c0), slice(jg, c0), lower.ref);
          outs.push(o!);
          S = next!;
        }
        S.dispose();
        return (await np.concatenate(outs, 1).data()) as Float32Array;
      },
      peakBytes: () => null,
      dispose() {
        for (const a of [jq, jk, jv, jg, jbeta, lower, strict]) a?.dispose();
        for (const f of [glaStep, deltaOperands, deltaSolve, deltaFinish]) f.dispose();
      },
    };
  },
};

/** The gla or gated_delta case at one T. */
export function recurrentCase(rule: RecurrentRule, t: number, counts: { warmup: number; runs: number }): Case<RecurrentInputs> {
  return {
    name: `recurrent ${rule} T=${t}`,
    flops: recurrentFlops(rule, B, H, t, D, E, CHUNK),
    tokens: B * t,
    // Outputs are O(1) (gla: S's entries are sums of ~1/(1 − e^{2g}) ≈ 10 decayed products of
    // values in [-1, 1); gated_delta's state is a contraction of unit keys); a correct f32 chunked
    // result differs from the float64 recurrence by f32 rounding in C-term sums, products with
    // decays down to e^{-6.4}, and (gated_delta) a UT solve: measured up to 1.5e-6 (gla) and
    // 2.2e-7 (gated_delta, whose outputs are smaller) for all three implementations. 1e-4
    // leaves headroom for any summation order, while a wrong decay (an off-by-one in G moves
    // every weight by a factor e^{0.01…0.1}) or a dropped token moves outputs by 1e-2 or more.
    tolerance: 1e-4,
    makeInputs: () => {
      const raw = rawInputs(t);
      return { rule, b: B, h: H, t, d: D, e: E, chunk: CHUNK, scale: SCALE, ...raw, k: rule === 'gated_delta' ? normalisedKeys(raw.k, D) : raw.k };
    },
    reference: referenceRecurrent,
    impls: [tesseraChunked, tfjsChunked, jaxjsChunked],
    ...counts,
  };
}

/** The causal attention kernel, once for the process. */
let flashKernel: Kernel | undefined;

/**
 * `tessera-flash-causal`: `attentionKernel({ causal: true })` compiled with `compileFor` (head
 * dims pinned, T symbolic), q uploaded as `[B, H, 1, T, D]` (`splitHeads`, the same memory as
 * `[B, H, T, D]`), k, v as `[B, H, T, ·]`; each run reads back `o` (`[B, H, 1, T, E]`, the same
 * memory as `[B, H, T, E]`). A compiled program without a flash dispatch fails the row.
 */
const tesseraFlash: Impl<AttentionBenchInputs> = {
  name: 'tessera-flash-causal',
  peakBytesSource: TESSERA_PEAK_SOURCE,
  async prepare({ b, h, n, m, d, e, scale, q, k, v }, { shared }): Promise<Prepared> {
    const { backend } = await loadTessera(shared);
    const lib = (await import('../../kernels/attention.ts')) as typeof import('../../kernels/attention.ts');
    const { compileFor } = (await import('../../run.ts')) as typeof import('../../run.ts');
    flashKernel ??= lib.attentionKernel({ causal: true });
    const host = {
      q: lib.splitHeads({ shape: [b, h, n, d], data: q }, h),
      k: { shape: [b, h, m, d], data: k },
      v: { shape: [b, h, m, e], data: v },
    };
    const program: Program = compileFor(flashKernel, backend, {}, host);
    expectFlash(program);
    return uploadedRun(backend, program, host, 'o', { scale });
  },
};

/**
 * Causal softmax attention on the recurrent cases' q, k, v at the same T (raw keys, scale 1/8):
 * the quadratic baseline. Its own case because it computes another function; its reference is
 * the attention bench's float64 `referenceAttention`.
 */
export function flashCausalCase(t: number, counts: { warmup: number; runs: number }): Case<AttentionBenchInputs> {
  return {
    name: `recurrent flash-causal T=${t}`,
    flops: attentionFlops('causal', B, H, t, t, D),
    tokens: B * t,
    // As in the attention bench: outputs are convex combinations of v values in [-1, 1), f32
    // results sit within ~1e-6 of float64; one dropped or extra key moves an output by far more.
    tolerance: 2e-5,
    makeInputs: () => {
      const { q, k, v } = rawInputs(t);
      return { b: B, h: H, n: t, m: t, d: D, e: E, variant: 'causal', scale: SCALE, q, k, v };
    },
    reference: referenceAttention,
    impls: [tesseraFlash],
    ...counts,
  };
}
