/**
 * Mask analysis for flash kernels: separate a score's validity predicate from its value (a
 * masked score is `where(allowed, s, -Infinity)`, and WGSL must never see the infinity), and
 * derive analytic kv bounds from comparisons that are linear in the query and kv indices (causal,
 * sliding window, ...), so whole kv tiles outside them are never visited.
 */
import type { KExpr, KvBound } from '../kernel-ir.ts';

function isNegInf(e: KExpr): boolean {
  return e.k === 'const' && e.value === -Infinity;
}

function and(a: KExpr | null, b: KExpr): KExpr {
  return a ? { k: 'op', fn: 'and', args: [a, b], dtype: 'bool' } : b;
}

/** Splits `where(p, x, -inf)` chains (either branch) into a predicate and the unmasked value. */
export function peelValidity(score: KExpr): { score: KExpr; valid: KExpr | null } {
  let valid: KExpr | null = null;
  let e = score;
  for (;;) {
    e = unwrap(e);
    if (e.k !== 'op' || e.fn !== 'where') break;
    const [p, x, y] = e.args.map(unwrap) as [KExpr, KExpr, KExpr];
    if (isNegInf(y)) {
      valid = and(valid, p);
      e = x;
    } else if (isNegInf(x)) {
      valid = and(valid, { k: 'op', fn: 'not', args: [p], dtype: 'bool' });
      e = y;
    } else break;
  }
  return { score: e, valid };
}

/** `t·tiled + m·kv + c` with c uniform (constants, parameters, sizes), or null when not linear. */
interface Linear {
  t: number;
  m: number;
  c: KExpr[];
  negC: KExpr[];
}

function uniformOnly(e: KExpr): boolean {
  if (e.k === 'const' || e.k === 'param' || e.k === 'size') return true;
  if (e.k === 'op') return ['add', 'sub', 'mul', 'neg', 'to_i32'].includes(e.fn) && e.args.every(uniformOnly);
  return false;
}

function linear(e: KExpr, tiled: string, kv: string): Linear | null {
  const uniform = (x: KExpr): Linear => ({ t: 0, m: 0, c: [x], negC: [] });
  if (e.k === 'op' && e.fn === 'id') return linear(e.args[0]!, tiled, kv);
  switch (e.k) {
    case 'index':
      if (e.axis === tiled) return { t: 1, m: 0, c: [], negC: [] };
      if (e.axis === kv) return { t: 0, m: 1, c: [], negC: [] };
      return null;
    case 'const':
    case 'param':
      return e.dtype === 'i32' ? uniform(e) : null;
    case 'size':
      return uniform(e);
    case 'op': {
      if (e.dtype !== 'i32') return null;
      const [a, b] = e.args;
      if (e.fn === 'add' || e.fn === 'sub') {
        const la = linear(a!, tiled, kv);
        const lb = linear(b!, tiled, kv);
        if (!la || !lb) return null;
        const s = e.fn === 'add' ? 1 : -1;
        return { t: la.t + s * lb.t, m: la.m + s * lb.m, c: [...la.c, ...(s > 0 ? lb.c : lb.negC)], negC: [...la.negC, ...(s > 0 ? lb.negC : lb.c)] };
      }
      if (e.fn === 'neg') {
        const la = linear(a!, tiled, kv);
        return la ? { t: -la.t, m: -la.m, c: la.negC, negC: la.c } : null;
      }
      return uniformOnly(e) ? uniform(e) : null;
    }
    default:
      return null;
  }
}

function sum(terms: KExpr[], negs: KExpr[], plus: number): KExpr {
  let e: KExpr = { k: 'const', value: plus, dtype: 'i32' };
  for (const t of terms) e = { k: 'op', fn: 'add', args: [e, t], dtype: 'i32' };
  for (const t of negs) e = { k: 'op', fn: 'sub', args: [e, t], dtype: 'i32' };
  return e;
}

/** `e` without identity wrappers (broadcasts of a value to more axes are `id` maps). */
function unwrap(e: KExpr): KExpr {
  return e.k === 'op' && e.fn === 'id' ? unwrap(e.args[0]!) : e;
}

/** The comparison that holds exactly where `fn` does not (integer operands: no NaN). */
const NEGATED: Readonly<Record<string, string>> = { lt: 'ge', le: 'gt', gt: 'le', ge: 'lt' };

/**
 * The conjuncts of a predicate. A negation is pushed inward (De Morgan, a negated comparison as
 * its complement), so `where(gt(kv, q), -Infinity, s)` — which peels to `not(gt(kv, q))` — bounds
 * kv like `le(kv, q)`. Complements are exact only on integers, and only integer positions are
 * linear, so a negated f32 comparison stays as it is (in `rest`).
 */
function conjuncts(e: KExpr): KExpr[] {
  const u = unwrap(e);
  if (u.k !== 'op') return [u];
  if (u.fn === 'and') return u.args.flatMap(conjuncts);
  if (u.fn !== 'not') return [u];
  const inner = unwrap(u.args[0]!);
  if (inner.k !== 'op') return [u];
  if (inner.fn === 'not') return conjuncts(inner.args[0]!);
  if (inner.fn === 'or') return inner.args.flatMap((a) => conjuncts({ k: 'op', fn: 'not', args: [a], dtype: 'bool' }));
  const complement = NEGATED[inner.fn];
  if (complement && inner.args.every((a) => dtypeOfIndex(a))) return [{ ...inner, fn: complement }];
  return [u];
}

/** Whether an operand is an integer value (where a comparison's complement is exact). */
function dtypeOfIndex(e: KExpr): boolean {
  return e.k === 'index' || e.k === 'size' || ((e.k === 'const' || e.k === 'op' || e.k === 'load' || e.k === 'param') && e.dtype !== 'f32');
}

/**
 * kv bounds implied by the predicate: every conjunct `lhs OP rhs` that is linear with kv
 * coefficient ±1 and tiled coefficient in {-1, 0, 1}. Conservative: any other conjunct is
 * ignored (still evaluated per element).
 */
export function kvBounds(valid: KExpr | null, tiled: string | null, kv: string): { lower: KvBound[]; upper: KvBound[]; rest: KExpr[] } {
  const lower: KvBound[] = [];
  const upper: KvBound[] = [];
  /** Conjuncts no bound captures: only a per-element test (or a block mask) enforces them. */
  const rest: KExpr[] = [];
  if (!valid) return { lower, upper, rest };
  for (const c of conjuncts(valid)) {
    const before = lower.length + upper.length;
    boundOf(c);
    if (lower.length + upper.length === before) rest.push(c);
  }
  return { lower, upper, rest };

  function boundOf(c: KExpr): void {
    if (c.k !== 'op' || !['lt', 'le', 'gt', 'ge'].includes(c.fn)) return;
    const [a, b] = c.args.map(unwrap) as [KExpr, KExpr];
    const la = linear(a, tiled ?? '\u0000', kv);
    const lb = linear(b, tiled ?? '\u0000', kv);
    if (!la || !lb) return;
    // diff = a - b;  a OP b  <=>  diff OP 0; integers: diff < 0 <=> diff <= -1.
    const diff: Linear = { t: la.t - lb.t, m: la.m - lb.m, c: [...la.c, ...lb.negC], negC: [...la.negC, ...lb.c] };
    const flip = c.fn === 'gt' || c.fn === 'ge';
    const strict = c.fn === 'lt' || c.fn === 'gt';
    // Normalise to: s·diff <= -strict  (s = -1 when flipped).
    const s = flip ? -1 : 1;
    const t = s * diff.t;
    const m = s * diff.m;
    const cs = s > 0 ? diff.c : diff.negC;
    const ns = s > 0 ? diff.negC : diff.c;
    if (Math.abs(m) !== 1 || Math.abs(t) > 1) return;
    // m·kv + t·tiled + C <= -strict
    if (m === 1) {
      // kv <= -t·tiled - C - strict
      upper.push({ t: -t as -1 | 0 | 1, c: sum(ns, cs, -(strict ? 1 : 0)) });
    } else {
      // -kv + t·tiled + C <= -strict  =>  kv >= t·tiled + C + strict
      lower.push({ t: t as -1 | 0 | 1, c: sum(cs, ns, strict ? 1 : 0) });
    }
  }
}

