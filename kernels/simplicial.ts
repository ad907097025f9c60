/**
 * 2-simplicial attention (Roy et al. 2025, "Fast and Simplex: 2-Simplicial Attention in Triton",
 * arXiv 2507.02754): each query attends to pairs of keys. Logits `A[i, j, l] = scale · Σ_d q[i,d] ·
 * k1[j,d] · k2[l,d]` (the trilinear einsum `bhid,bhjd,bhld->bhijl`), allowed where `j ≤ i` and
 * `l ≤ i` and, with windows, `i − j < w1` and `i − l < w2`; a softmax jointly over the pair (j, l);
 * and `o[i] = Σ_{j,l} P[i,j,l] · (v1[j] ⊙ v2[l])`. Semantics as the golden kind
 * `simplicial_attention` (`test/golden/README.md`).
 *
 * This is the composed form: the compiler plans the trilinear contraction and the output one by
 * cost, and the joint softmax runs over an [N × N × N] (per batch and head) logits tensor — fine
 * for short sequences; a fused kernel that never stores it is future work (issue 10).
 */
import { and, ge, iota, lt, mul, softmax, sub, where } from '../dsl/ops.ts';
import { einsum } from '../dsl/einsum.ts';
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
 * Inputs `q [b, h, i, d]`, `k1 [b, h, j, d]`, `k2 [b, h, l, d]`, `v1 [b, h, j, e]`, `v2 [b, h, l, e]`
 * (i, j and l index the same sequence) and the parameter `scale`; output `o [b, h, i, e]`.
 */
export function simplicialAttentionKernel(config: SimplicialAttentionConfig = {}): Kernel {
  checkWindow('w1', config.w1);
  checkWindow('w2', config.w2);
  const { w1 = null, w2 = null } = config;
  return kernel(
    'simplicial_attention',
    { q: f32('b', 'h', 'i', 'd'), k1: f32('b', 'h', 'j', 'd'), k2: f32('b', 'h', 'l', 'd'), v1: f32('b', 'h', 'j', 'e'), v2: f32('b', 'h', 'l', 'e'), scale: param() },
    ({ q, k1, k2, v1, v2, scale }) => {
      const logits = mul(einsum('bhid,bhjd,bhld->bhijl', q, k1, k2), scale);
      const [i, j, l] = [iota(q, 'i'), iota(k1, 'j'), iota(k2, 'l')];
      let allowed = and(ge(i, j), ge(i, l));
      if (w1 !== null) allowed = and(allowed, lt(sub(i, j), w1));
      if (w2 !== null) allowed = and(allowed, lt(sub(i, l), w2));
      const p = softmax(where(allowed, logits, -Infinity), ['j', 'l']);
      return { o: einsum('bhijl,bhje,bhle->bhie', p, v1, v2) };
    },
  );
}
