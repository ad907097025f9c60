/**
 * scan-masks: which terms and outputs of a scan level's products a causal mask leaves unused, so
 * the scan kernel skips them (the products of a chunked causal form are triangular).
 *
 * Two cases, both read off index comparisons `where(#p op #q, v, 0)` in the level's expressions:
 * - **Terms** (`GemmMask.terms`): an operand that is zero unless its contracted index and its row
 *   (or column) index compare — the masked scores `where(s ≤ t, …, 0)` times the values — needs
 *   only the contracted indices each block of rows can reach.
 * - **Outputs** (`GemmMask.outputs`): a product every read of which sits in the kept branch of
 *   such a `where` over its two output indices — q·kᵀ, read only as `where(s ≤ t, q·kᵀ …, 0)` —
 *   needs only the blocks of outputs with an element where the comparison holds. The others are
 *   never computed: their stale words are read by no one (a `where` does not pass on the value it
 *   drops, not even a NaN).
 *
 * A pure function of the level; `lower-scan.ts` attaches the result to its gemm steps.
 */
import { scanLevelExprs, subExprs, type GemmMask, type KAxis, type KExpr, type Relation, type ScanLevel } from './kernel-ir.ts';

const FLIPPED: Record<Relation, Relation> = { le: 'ge', lt: 'gt', ge: 'le', gt: 'lt' };

type Comparison = { readonly p: string; readonly op: Relation; readonly q: string };

/** `#p op #q` for two axis indices. */
function comparison(e: KExpr): Comparison | null {
  if (e.k !== 'op' || !Object.hasOwn(FLIPPED, e.fn) || e.args.length !== 2) return null;
  const [p, q] = e.args as [KExpr, KExpr];
  return p.k === 'index' && q.k === 'index' ? { p: p.axis, op: e.fn as Relation, q: q.axis } : null;
}

/** `x op y` rewritten with `x` first, when the comparison relates x and y; else null. */
function between(c: Comparison, x: string, y: string): Relation | null {
  if (c.p === x && c.q === y) return c.op;
  if (c.p === y && c.q === x) return FLIPPED[c.op];
  return null;
}

/** The comparison outside of which `e` is zero: `where(cmp, v, 0)`, or a local computed as one. */
function zeroOutside(e: KExpr, computed: ReadonlyMap<number, { readonly axes: readonly KAxis[]; readonly value: KExpr }>): Comparison | null {
  if (e.k === 'load') {
    const local = computed.get(e.buffer);
    if (!local) return null;
    const inner = zeroOutside(local.value, computed);
    if (!inner) return null;
    // The local's axes as this read indexes them.
    const at = (id: string) => {
      const i = local.axes.findIndex((a) => a.id === id);
      const index = i < 0 ? undefined : e.axes[i];
      return index && 'index' in index ? index.index : null;
    };
    const [p, q] = [at(inner.p), at(inner.q)];
    return p === null || q === null ? null : { p, op: inner.op, q };
  }
  if (e.k !== 'op' || e.fn !== 'where') return null;
  const otherwise = e.args[2]!;
  return otherwise.k === 'const' && otherwise.value === 0 ? comparison(e.args[0]!) : null;
}

/**
 * How every read of `local` (with output axes `m` and `n`) in `exprs` is masked: the relation
 * `n op m` all of them keep, or null when a read is unmasked or they differ.
 */
function readMask(local: number, localAxes: readonly KAxis[], m: KAxis, n: KAxis, exprs: readonly KExpr[]): Relation | null {
  const [im, iN] = [localAxes.findIndex((a) => a.id === m.id), localAxes.findIndex((a) => a.id === n.id)];
  let found: Relation | null = null;
  let unmasked = false;
  const walk = (e: KExpr, kept: readonly Comparison[]): void => {
    if (unmasked) return;
    if (e.k === 'load' && e.buffer === local) {
      const [atM, atN] = [e.axes[im], e.axes[iN]];
      const [xm, xn] = [atM && 'index' in atM ? atM.index : null, atN && 'index' in atN ? atN.index : null];
      const relation = xm === null || xn === null ? null : kept.map((c) => between(c, xn, xm)).find((r) => r !== null);
      if (!relation || (found !== null && found !== relation)) unmasked = true;
      else found = relation;
      return;
    }
    if (e.k === 'op' && e.fn === 'where') {
      const c = comparison(e.args[0]!);
      walk(e.args[0]!, kept);
      walk(e.args[1]!, c ? [...kept, c] : kept);
      walk(e.args[2]!, kept);
      return;
    }
    for (const sub of subExprs(e)) walk(sub, kept);
  };
  for (const e of exprs) walk(e, []);
  return unmasked ? null : found;
}

/**
 * The masks of a level's gemm steps (by local), given each local's axes. Only products over one
 * row, one column and one contracted axis are considered.
 */
export function gemmMasks(level: ScanLevel, axesOf: (local: number) => readonly KAxis[]): Map<number, GemmMask> {
  const computed = new Map<number, { axes: readonly KAxis[]; value: KExpr }>();
  for (const s of level.steps) if (s.kind === 'compute') computed.set(s.local, { axes: axesOf(s.local), value: s.value });
  // Every expression the level evaluates (its nested levels' and their initial states' too).
  const exprs = scanLevelExprs(level);
  const masks = new Map<number, GemmMask>();
  for (const s of level.steps) {
    if (s.kind !== 'gemm' || s.m.length !== 1 || s.n.length !== 1 || s.k.length !== 1) continue;
    const [m, n, k] = [s.m[0]!, s.n[0]!, s.k[0]!];
    let terms: GemmMask['terms'];
    for (const [operand, side] of [[s.a, m], [s.b, n]] as const) {
      const c = zeroOutside(operand, computed);
      const op = c && between(c, k.id, side.id);
      if (op) terms = { side: side === m ? 'm' : 'n', op };
    }
    const outputs = readMask(s.local, axesOf(s.local), m, n, exprs) ?? undefined;
    if (terms || outputs) masks.set(s.local, { ...(terms ? { terms } : {}), ...(outputs ? { outputs } : {}) });
  }
  return masks;
}
