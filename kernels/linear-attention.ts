/**
 * Recurrent attention with a matrix state, as a chunked scan (flash-linear-attention's method):
 * per (batch, head) a state `S [e, d]` (Dv × Dk) is carried over the sequence `t`, and each token
 * reads `o_t = scale · S_t q_t`. The rules (`golden/README.md`, kind `linear_attention`):
 *
 * ```
 * linear:       S_t = S_{t-1} + v_t k_tᵀ
 * gla:          S_t = exp(g_t) S_{t-1} + v_t k_tᵀ
 * delta:        S_t = S_{t-1} (I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ
 * gated_delta:  S_t = exp(g_t) S_{t-1} (I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ
 * ```
 *
 * Inside a chunk of C tokens everything is a few small matrix products. With G the cumulative sum
 * of the log decays over the chunk (G = 0 without gates) and S₀ the state the chunk starts from,
 * each token's value contribution u_s is v_s (no delta rule) or, for the delta rule, the solution
 * of the UT system `(I + A) U = diag(β) (V − exp(G) ⊙ K S₀ᵀ)` with `A[t,s] = β_t e^{G_t − G_s}
 * (k_t · k_s)` for s < t, solved as `U = (I + A)⁻¹ R` with the inverse built by recursive block
 * inversion (`unitLowerInverse`: products only, no row-by-row scan). Then
 *
 * ```
 * o_t  = scale · (e^{G_t} S₀ q_t + Σ_{s ≤ t} e^{G_t − G_s} (q_t · k_s) u_s)
 * S'   = e^{G_C} S₀ + Σ_s e^{G_C − G_s} u_s k_sᵀ
 * ```
 *
 * which equals the token-by-token definition for any chunk length (the tests check 1, 7, 16, 64).
 */
import { add, and, constant, contract, eq, exp, expand, iota, le, lt, mul, ne, rename, shiftRight, sub, sum, toF32, where } from '../dsl/ops.ts';
import { scan } from '../dsl/scan.ts';
import { f32, kernel, param, type Kernel, type Spec } from '../dsl/kernel.ts';
import type { Axes, Tensor } from '../dsl/tensor.ts';
import { TesseraError } from '../dsl/types.ts';

export type LinearAttentionRule = 'linear' | 'gla' | 'delta' | 'gated_delta';

export interface LinearAttentionConfig {
  readonly rule: LinearAttentionRule;
  /**
   * Tokens per chunk; any whole number >= 1, and the sequence need not be a multiple. Default 32,
   * or 16 for the delta rules, whose UT inverse costs ⌈log₂ C⌉ − 1 levels of two C × C × C
   * products per chunk and whose shader lavapipe compiles for ~25–35 s at C = 16 and minutes at
   * C = 32 (8-wide register blocks). On lavapipe (B = 1, H = 4, D = 64, T = 8192) the gated delta
   * rule took ~590–680 ms per run with chunks of 16 and ~700–760 with 8 (an ad-hoc script
   * timing `backend.run` plus the readback of `o`, 4 runs after the first). A chunk's products
   * cost 2·C·D + 2·D² multiply-adds a token, so shorter chunks do less work but pass the state
   * more often: GLA's GPU time (an ad-hoc script alternating the chunk lengths in one process,
   * `backend.profile`, medians of 10–12 runs) was 52.6 ms with 32 against 56.2 with 64 and 58.8
   * with 16 at T = 1024, 411 against 449 ms at T = 8192; linear attention's 41.9 against 43.8 ms
   * at T = 1024. Lavapipe's first compile of GLA's shader takes ~16 s at 32, ~13 s at 64.
   */
  readonly chunk?: number;
  /** Take the initial state as the input `s0 [b, h, e, d]` (default: zeros). */
  readonly initialState?: boolean;
}

const RULES: readonly LinearAttentionRule[] = ['linear', 'gla', 'delta', 'gated_delta'];

type T4 = Tensor<readonly ['b', 'h', 't', 'd'], 'f32'>;
type V4 = Tensor<readonly ['b', 'h', 't', 'e'], 'f32'>;
type G3 = Tensor<readonly ['b', 'h', 't'], 'f32'>;
type State = Tensor<readonly ['b', 'h', 'e', 'd'], 'f32'>;
/** An f32 tensor whose axes the code tracks by name only. */
type F = Tensor<Axes, 'f32'>;

/**
 * Inputs `q, k [b, h, t, d]`, `v [b, h, t, e]`, `g [b, h, t]` (log decays ≤ 0; gla and
 * gated_delta), `beta [b, h, t]` (delta and gated_delta), `s0 [b, h, e, d]` (with `initialState`)
 * and the parameter `scale`; outputs `o [b, h, t, e]` and `s_final [b, h, e, d]`.
 */
export function linearAttentionKernel(config: LinearAttentionConfig): Kernel {
  if (!RULES.includes(config.rule)) throw new TesseraError(`linearAttention: rule must be one of ${RULES.join(', ')}, got '${String(config.rule)}'`);
  const gated = config.rule === 'gla' || config.rule === 'gated_delta';
  const delta = config.rule === 'delta' || config.rule === 'gated_delta';
  const chunk = config.chunk ?? (delta ? 16 : 32);
  if (!Number.isInteger(chunk) || chunk < 1) throw new TesseraError(`linearAttention: chunk must be a whole number >= 1, got ${chunk}`);
  const specs: Record<string, Spec> = {
    q: f32('b', 'h', 't', 'd'),
    k: f32('b', 'h', 't', 'd'),
    v: f32('b', 'h', 't', 'e'),
    ...(gated ? { g: f32('b', 'h', 't') } : {}),
    ...(delta ? { beta: f32('b', 'h', 't') } : {}),
    ...(config.initialState ? { s0: f32('b', 'h', 'e', 'd') } : {}),
    scale: param(),
  };
  return kernel(`linear_attention_${config.rule}`, specs, (inputs) => {
    const q = inputs['q'] as T4;
    const k = inputs['k'] as T4;
    const v = inputs['v'] as V4;
    const scale = inputs['scale'] as Tensor<readonly [], 'f32'>;
    // The zero state, sized like the inputs' batch, heads and head dims.
    const size = (t: Tensor, name: string) => t.type.axes.find((a) => a.name === name)!.size;
    const zero = expand(constant(0), [{ name: 'b', size: size(v, 'b') }, { name: 'h', size: size(v, 'h') }, { name: 'e', size: size(v, 'e') }, { name: 'd', size: size(k, 'd') }]);
    const s0 = (inputs['s0'] as State | undefined) ?? (zero as unknown as State);
    const xs: Record<string, F> = { q, k, v };
    if (gated) xs['g'] = inputs['g'] as F;
    if (delta) xs['beta'] = inputs['beta'] as F;
    const { carry, ys } = scan({ axis: 't', chunk, xs, init: { S: s0 } }, (c, { S }) => {
      const [qc, kc, vc] = [c['q'] as T4, c['k'] as T4, c['v'] as V4];
      const ks = rename(kc, { t: 's' });
      const [ti, si] = [iota(qc, 't'), iota(ks, 's')];
      // Log decay from s to t (t ≥ s) and from each token to the chunk's end; none without gates.
      let decayTS: F | null = null;
      let toEnd: F | null = null;
      let fromStart: F | null = null;
      let total: F | null = null;
      if (gated) {
        const g = c['g'] as G3;
        // G_t = Σ_{s ≤ t} g_s within the chunk.
        const G = contract([rename(g, { t: 's' }), toF32(le(si, ti))], ['b', 'h', 't']);
        const Gs = rename(G, { t: 's' });
        total = sum(g, 't');
        decayTS = exp(sub(G, Gs));
        toEnd = exp(sub(total, Gs));
        fromStart = exp(G);
      }
      const gate = (x: F, factor: F | null): F => (factor ? mul(x, factor) : x);
      // u_s: the value each token adds (v, or the delta rule's corrected value).
      let u: F = rename(vc, { t: 's' });
      if (delta) {
        const beta = c['beta'] as G3;
        const kk = contract([kc, ks], ['b', 'h', 't', 's']);
        const A = where(lt(si, ti), mul(gate(kk, decayTS), beta), 0);
        const predicted = gate(contract([kc, S], ['b', 'h', 't', 'e']), fromStart);
        const rhs = mul(sub(vc, predicted), beta);
        // u = (I + A)⁻¹ rhs, the inverse by recursive block inversion (unitLowerInverse).
        const inverse = unitLowerInverse(A, ti, si, chunk);
        u = contract([inverse, rename(rhs, { t: 's' })], ['b', 'h', 't', 'e']);
        u = rename(u, { t: 's' });
      }
      const intra = where(le(si, ti), gate(contract([qc, ks], ['b', 'h', 't', 's']), decayTS), 0);
      const inter = gate(contract([qc, S], ['b', 'h', 't', 'e']), fromStart);
      const o = mul(add(inter, contract([intra, u], ['b', 'h', 't', 'e'])), scale);
      const next = add(gate(S, total ? exp(total) : null), contract([gate(u, toEnd), ks], ['b', 'h', 'e', 'd'])) as F;
      return { carry: { S: next as State }, ys: { o } };
    });
    return { o: ys['o']!, s_final: carry['S']! };
  });
}

/**
 * `(I + A)⁻¹` for a strictly lower-triangular `A [b, h, t, s]` over a chunk of at most `chunk`
 * tokens (`ti`, `si` its row and column indices), by recursive block inversion: with `T` the
 * inverse of the block-diagonal part of `I + A` in blocks of 2^ℓ tokens, the inverse in blocks of
 * 2^(ℓ+1) is `T − T X T`, X being A's entries inside a 2^(ℓ+1) block but outside the 2^ℓ blocks
 * (the off-diagonal quarter, since `[[B₁, 0], [X, B₂]]⁻¹ = [[B₁⁻¹, 0], [−B₂⁻¹ X B₁⁻¹, B₂⁻¹]]`).
 * ⌈log₂ chunk⌉ − 1 levels of two C × C × C products (blocks of 2 need none) replace a forward substitution's C sequential
 * row steps, each of which rewrote a C × Dv carry: on lavapipe those steps were ~40% of the gated
 * delta rule's time. The same reordering of the exact solve as flash-linear-attention's blocked
 * `solve_tril`; no power series, so no growth in A's powers.
 */
function unitLowerInverse(A: F, ti: Tensor<readonly ['t'], 'i32'>, si: Tensor<readonly ['s'], 'i32'>, chunk: number): F {
  // Entries inside a block of 2^(ℓ+1) tokens but outside the blocks of 2^ℓ.
  const quarter = (level: number): F => {
    const [inner, outer] = [constant(level, 'i32'), constant(level + 1, 'i32')];
    return where(and(eq(shiftRight(ti, outer), shiftRight(si, outer)), ne(shiftRight(ti, inner), shiftRight(si, inner))), A, 0) as F;
  };
  const identity = toF32(eq(ti, si)) as F;
  if (chunk === 1) return identity;
  // Blocks of 1 are the identity, so blocks of 2 are I − X₀ with no product.
  let inverse = sub(identity, quarter(0)) as F;
  for (let level = 1; 2 ** level < chunk; level++) {
    // XT[t, s] = Σ_r X[t, r] T[r, s], then T ← T − Σ_r T[t, r] XT[r, s].
    const XT = contract([rename(quarter(level), { s: 'r' }), rename(inverse, { t: 'r' })], ['b', 'h', 't', 's']);
    inverse = sub(inverse, contract([rename(inverse, { s: 'r' }), rename(XT, { t: 'r' })], ['b', 'h', 't', 's'])) as F;
  }
  return inverse;
}
