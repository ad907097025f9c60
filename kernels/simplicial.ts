/**
 * 2-simplicial attention (Roy et al. 2025, "Fast and Simplex: 2-Simplicial Attention in Triton",
 * arXiv 2507.02754): each query attends to pairs of keys. Logits `A[i, j, l] = scale · Σ_d q[i,d] ·
 * k1[j,d] · k2[l,d]` (the trilinear einsum `bhid,bhjd,bhld->bhijl`), allowed where `j ≤ i` and
 * `l ≤ i` and, with windows, `i − j < w1` and `i − l < w2`; a softmax jointly over the pair (j, l);
 * and `o[i] = Σ_{j,l} P[i,j,l] · (v1[j] ⊙ v2[l])`. Semantics as the golden kind
 * `simplicial_attention` (`test/golden/README.md`).
 *
 * Written the way a user would write it — a trilinear contraction (einsum `bhgid,bhjd,bhld->bhgijl`
 * with named axes), a `where` mask, a softmax over the pair, the output contraction —
 * and compiled to one fused kernel (`match-attention` finds the joint softmax, `emit/simplicial`
 * runs it) that walks each query's w1 × w2 window in registers: no N × w1 × w2 (or N³) tensor
 * exists, and memory does not grow with the windows. The interpreter evaluates the same graph
 * as written.
 *
 * GQA-style sharing, as in `attentionKernel`: `q [b, hkv, g, i, d]` (row-major `[B, Hq, N, D]`
 * with `Hq = Hkv·G`) while the keys and values have `hkv` heads, so G query heads read one kv head.
 */
import { and, contract, ge, iota, logsumexp, lt, mul, softmax, sub, where } from '../dsl/ops.ts';
import { f32, kernel, param, type Kernel } from '../dsl/kernel.ts';
import { TesseraError } from '../dsl/types.ts';

export interface SimplicialAttentionConfig {
  /** Window of the first key (`i − j < w1`); absent or null: causal only. */
  readonly w1?: number | null;
  /** Window of the second key (`i − l < w2`); absent or null: causal only. */
  readonly w2?: number | null;
}

function checkWindow(name: string, w: unknown): void {
  if (w !== undefined && w !== null && !(typeof w === 'number' && Number.isInteger(w) && w >= 1)) {
    throw new TesseraError(`simplicialAttention: ${name} must be a whole number >= 1 or null, got ${String(w)}`);
  }
}

/**
 * Inputs `q [b, hkv, g, i, d]`, `k1 [b, hkv, j, d]`, `k2 [b, hkv, l, d]`, `v1 [b, hkv, j, e]`,
 * `v2 [b, hkv, l, e]` (i, j and l index the same sequence: one size symbol `n`) and the parameter
 * `scale`; outputs `o [b, hkv, g, i, e]` and `lse [b, hkv, g, i]`, the log-sum-exp of each row's
 * allowed logits (−∞ where none is allowed).
 */
export function simplicialAttentionKernel(config: SimplicialAttentionConfig = {}): Kernel {
  checkWindow('w1', config.w1);
  checkWindow('w2', config.w2);
  const { w1 = null, w2 = null } = config;
  return kernel(
    'simplicial_attention',
    {
      q: f32('b', 'hkv', 'g', 'i', 'd').pin({ i: 'n' }),
      k1: f32('b', 'hkv', 'j', 'd').pin({ j: 'n' }),
      k2: f32('b', 'hkv', 'l', 'd').pin({ l: 'n' }),
      v1: f32('b', 'hkv', 'j', 'e').pin({ j: 'n' }),
      v2: f32('b', 'hkv', 'l', 'e').pin({ l: 'n' }),
      scale: param(),
    },
    ({ q, k1, k2, v1, v2, scale }) => {
      const logits = mul(contract([q, k1, k2], ['b', 'hkv', 'g', 'i', 'j', 'l']), scale);
      const [i, j, l] = [iota(q, 'i'), iota(k1, 'j'), iota(k2, 'l')];
      let allowed = and(ge(i, j), ge(i, l));
      if (w1 !== null) allowed = and(allowed, lt(sub(i, j), w1));
      if (w2 !== null) allowed = and(allowed, lt(sub(i, l), w2));
      const masked = where(allowed, logits, -Infinity);
      const p = softmax(masked, ['j', 'l']);
      return { o: contract([p, v1, v2], ['b', 'hkv', 'g', 'i', 'e']), lse: logsumexp(masked, ['j', 'l']) };
    },
  );
}
