/**
 * Factored GEMM operands: an operand that is a product of factors, each varying along only the
 * leading or only the trailing part of its side's free axes (the fused outer product of an n-ary
 * einsum, `in0[i, k] * in1[j, k]` over (i, j)), is staged as those two products rather than as
 * the whole tile, and each register multiplies them. The schedule sizes its workgroup memory by
 * it (`schedule.ts`), the GEMM emitter stages by it (`emit/gemm.ts`): one rule for both.
 */
import { exprDtype, readsAxis, staticProduct, type KAxis, type KExpr } from './kernel-ir.ts';

/**
 * A staged operand split into two products over two parts of its side's free axes: the leading
 * `outer` axes and the trailing `inner` ones (`extent` elements, static, dividing the tile's
 * width). Each factor varies along one part only; a factor along neither joins the outer
 * product, or the inner one where there is no outer factor. A null product is absent (1).
 */
export interface OperandFactors {
  readonly outer: readonly KAxis[];
  readonly inner: readonly KAxis[];
  readonly extent: number;
  readonly outerValue: KExpr | null;
  readonly innerValue: KExpr | null;
  /** Elements staged per step of K: width / extent outer rows, `extent` inner ones (those present). */
  readonly staged: number;
}

/** The factors of a product (`mul` nodes flattened); anything else is one factor. */
function mulFactors(e: KExpr): KExpr[] {
  return e.k === 'op' && e.fn === 'mul' && e.args.length === 2 ? e.args.flatMap(mulFactors) : [e];
}

/** The f32 product of `factors` in order, or null for none. */
function product(factors: readonly KExpr[]): KExpr | null {
  return factors.length === 0 ? null : factors.reduce((x, y) => ({ k: 'op', fn: 'mul', args: [x, y], dtype: 'f32' }));
}

/**
 * How to stage an f32 operand over `free` in tiles `width` wide as factors, or null where no
 * split stages fewer than `width` elements a step. A tile starts at a multiple of `width`, itself
 * a multiple of the inner extent, so it holds width / extent whole inner rows. Of the splits that
 * qualify, the one staging least (the first of equals).
 *
 * The factors' product becomes a multiply in the register read, on the device's arithmetic like
 * the GEMM's own products (`Emitter.products`); each factor is still evaluated, and carried
 * through non-finite values, as a staged operand is.
 */
export function operandFactors(value: KExpr, free: readonly KAxis[], width: number): OperandFactors | null {
  if (exprDtype(value) !== 'f32') return null;
  const factors = mulFactors(value);
  let best: OperandFactors | null = null;
  for (let p = 1; p < free.length; p++) {
    const [outer, inner] = [free.slice(0, p), free.slice(p)];
    const extent = staticProduct(inner.map((a) => a.size));
    if (extent === null || width % extent !== 0) continue;
    const [outerIds, innerIds] = [new Set(outer.map((a) => a.id)), new Set(inner.map((a) => a.id))];
    const along: Record<'outer' | 'inner' | 'neither' | 'both', KExpr[]> = { outer: [], inner: [], neither: [], both: [] };
    for (const f of factors) {
      const [o, i] = [readsAxis(f, outerIds), readsAxis(f, innerIds)];
      along[o && i ? 'both' : o ? 'outer' : i ? 'inner' : 'neither'].push(f);
    }
    if (along.both.length > 0) continue;
    const outerFactors = along.outer.length > 0 || along.inner.length === 0 ? [...along.outer, ...along.neither] : [];
    const innerFactors = outerFactors.length > 0 ? along.inner : [...along.inner, ...along.neither];
    const staged = (outerFactors.length > 0 ? width / extent : 0) + (innerFactors.length > 0 ? extent : 0);
    if (staged >= width || (best && best.staged <= staged)) continue;
    best = { outer, inner, extent, outerValue: product(outerFactors), innerValue: product(innerFactors), staged };
  }
  return best;
}

/** Elements one side stages per step of K: its factors' (`operandFactors`), else the whole width. */
export function stagedWidth(value: KExpr, free: readonly KAxis[], width: number): number {
  return operandFactors(value, free, width)?.staged ?? width;
}
