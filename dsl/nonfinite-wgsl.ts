/**
 * Non-finite floats in WGSL, carried explicitly. WGSL lets an implementation assume that no
 * infinity or NaN enters float arithmetic (shader compilers fold `x - x` to 0, `x * 0` to 0, and
 * may drop comparisons with infinities), so a value that can be ±∞ or NaN — a `-Infinity` mask
 * constant and everything computed from it — travels as an `xf`: a finite stand-in `v` plus a
 * class `c` (0 finite, 1 +∞, 2 −∞, 3 NaN; `v` is 0 unless finite). Every operation on `xf` decides
 * the non-finite cases with integer logic on the classes and only ever does float arithmetic on
 * finite values; an infinity reaches memory only at the boundary, written as its bit pattern.
 *
 * The class codes are chosen so that `a.c | b.c` is the class of `a + b` when either is
 * non-finite: +∞ | −∞ = NaN, NaN | anything = NaN.
 *
 * The scalar-op registry (`scalar-ops.ts`) builds each op's `xf` emission from the helpers here;
 * their semantics are the interpreter's (JS numbers), which the differential tests check.
 */
import type { DType } from './types.ts';

/** The class of a JS number, as `xf` codes it. */
function classOf(v: number): 0 | 1 | 2 | 3 {
  if (Number.isNaN(v)) return 3;
  if (v === Infinity) return 1;
  if (v === -Infinity) return 2;
  return 0;
}

/** WGSL helpers by name; an emission that calls one records it (and its dependencies). */
export const XF_HELPERS: Readonly<Record<string, { readonly text: string; readonly needs?: readonly string[] }>> = {
  xf: { text: 'struct xf {\n  v: f32,\n  c: u32,\n}' },
  xf_of: {
    needs: ['xf'],
    text: [
      '// Classifies a hardware f32 by its bits (integer logic, never folded away).',
      'fn xf_of(v: f32) -> xf {',
      '  let b = bitcast<u32>(v);',
      '  if ((b & 0x7f800000u) != 0x7f800000u) { return xf(v, 0u); }',
      '  if ((b & 0x007fffffu) != 0u) { return xf(0.0f, 3u); }',
      '  return xf(0.0f, select(1u, 2u, (b >> 31u) != 0u));',
      '}',
    ].join('\n'),
  },
  xf_bits: {
    needs: ['xf'],
    text: [
      '// The IEEE value of an xf, non-finite classes written as bit patterns (for storage).',
      'fn xf_bits(x: xf) -> f32 {',
      '  if (x.c == 0u) { return x.v; }',
      '  return bitcast<f32>(select(select(0x7fc00000u, 0xff800000u, x.c == 2u), 0x7f800000u, x.c == 1u));',
      '}',
    ].join('\n'),
  },
  xf_nan: { needs: ['xf'], text: 'fn xf_nan() -> xf {\n  return xf(0.0f, 3u);\n}' },
  xf_neg: { needs: ['xf'], text: 'fn xf_neg(a: xf) -> xf {\n  return xf(-a.v, ((a.c & 1u) << 1u) | ((a.c & 2u) >> 1u));\n}' },
  xf_abs: { needs: ['xf'], text: 'fn xf_abs(a: xf) -> xf {\n  return xf(abs(a.v), select(a.c, 1u, a.c == 2u));\n}' },
  xf_select: { needs: ['xf'], text: 'fn xf_select(f: xf, t: xf, c: bool) -> xf {\n  if (c) { return t; }\n  return f;\n}' },
  /** −1 for −∞ or a negative finite value, else +1 (NaN and zero are handled by callers). */
  xf_signbit: { needs: ['xf'], text: 'fn xf_signbit(a: xf) -> bool {\n  return a.c == 2u || (a.c == 0u && a.v < 0.0f);\n}' },
  /** Order rank: −1 for −∞, 0 finite, 1 for +∞ (NaN handled by callers). */
  xf_rank: { needs: ['xf'], text: 'fn xf_rank(a: xf) -> i32 {\n  return select(select(0i, -1i, a.c == 2u), 1i, a.c == 1u);\n}' },
  xf_add: {
    needs: ['xf_of'],
    text: ['fn xf_add(a: xf, b: xf) -> xf {', '  if ((a.c | b.c) == 0u) { return xf_of(a.v + b.v); }', '  return xf(0.0f, a.c | b.c);', '}'].join('\n'),
  },
  xf_sub: { needs: ['xf_add', 'xf_neg'], text: 'fn xf_sub(a: xf, b: xf) -> xf {\n  return xf_add(a, xf_neg(b));\n}' },
  xf_mul: {
    needs: ['xf_of', 'xf_signbit'],
    text: [
      'fn xf_mul(a: xf, b: xf) -> xf {',
      '  if ((a.c | b.c) == 0u) { return xf_of(a.v * b.v); }',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  if ((a.c == 0u && a.v == 0.0f) || (b.c == 0u && b.v == 0.0f)) { return xf(0.0f, 3u); }',
      '  return xf(0.0f, select(1u, 2u, xf_signbit(a) != xf_signbit(b)));',
      '}',
    ].join('\n'),
  },
  xf_div: {
    needs: ['xf_of', 'xf_signbit'],
    text: [
      'fn xf_div(a: xf, b: xf) -> xf {',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  if ((a.c | b.c) == 0u) {',
      '    if (b.v != 0.0f) { return xf_of(a.v / b.v); }',
      '    if (a.v == 0.0f) { return xf(0.0f, 3u); }',
      '    return xf(0.0f, select(1u, 2u, a.v < 0.0f));',
      '  }',
      '  if (a.c != 0u && b.c != 0u) { return xf(0.0f, 3u); }',
      '  if (b.c != 0u) { return xf(0.0f, 0u); }',
      '  return xf(0.0f, select(1u, 2u, xf_signbit(a) != (b.v < 0.0f)));',
      '}',
    ].join('\n'),
  },
  xf_mod: {
    needs: ['xf_of'],
    text: [
      '// The interpreter\'s f32 remainder a - b * trunc(a / b): NaN once either side is not finite or b is 0.',
      'fn xf_mod(a: xf, b: xf) -> xf {',
      '  if ((a.c | b.c) != 0u || b.v == 0.0f) { return xf(0.0f, 3u); }',
      '  return xf_of(a.v - b.v * trunc(a.v / b.v));',
      '}',
    ].join('\n'),
  },
  xf_max: {
    needs: ['xf_rank'],
    text: [
      'fn xf_max(a: xf, b: xf) -> xf {',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  let ra = xf_rank(a);',
      '  let rb = xf_rank(b);',
      '  if (ra > rb) { return a; }',
      '  if (ra < rb) { return b; }',
      '  return xf(max(a.v, b.v), a.c);',
      '}',
    ].join('\n'),
  },
  xf_min: {
    needs: ['xf_rank'],
    text: [
      'fn xf_min(a: xf, b: xf) -> xf {',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  let ra = xf_rank(a);',
      '  let rb = xf_rank(b);',
      '  if (ra < rb) { return a; }',
      '  if (ra > rb) { return b; }',
      '  return xf(min(a.v, b.v), a.c);',
      '}',
    ].join('\n'),
  },
  /** Three-way order of two non-NaN xf values: -1, 0 or 1. */
  xf_cmp: {
    needs: ['xf_rank'],
    text: [
      'fn xf_cmp(a: xf, b: xf) -> i32 {',
      '  let ra = xf_rank(a);',
      '  let rb = xf_rank(b);',
      '  if (ra != rb) { return select(-1i, 1i, ra > rb); }',
      '  if (a.v == b.v) { return 0i; }',
      '  return select(-1i, 1i, a.v > b.v);',
      '}',
    ].join('\n'),
  },
  xf_pow: {
    needs: ['xf_of'],
    text: [
      '// Math.pow as the interpreter runs it (a negative base with a non-integral exponent is NaN).',
      'fn xf_pow(a: xf, b: xf) -> xf {',
      '  if (b.c == 0u && b.v == 0.0f) { return xf(1.0f, 0u); }',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  if (b.c != 0u) {',
      '    if (a.c == 0u && abs(a.v) == 1.0f) { return xf(0.0f, 3u); }',
      '    let big = a.c != 0u || abs(a.v) > 1.0f;',
      '    return xf(0.0f, select(0u, 1u, big == (b.c == 1u)));',
      '  }',
      '  let odd = b.v == trunc(b.v) && (abs(b.v) % 2.0f) == 1.0f;',
      '  if (a.c != 0u) {',
      '    if (a.c == 2u && b.v != trunc(b.v)) { return xf(0.0f, 3u); }',
      '    let negative = a.c == 2u && odd;',
      '    if (b.v > 0.0f) { return xf(0.0f, select(1u, 2u, negative)); }',
      '    return xf(select(0.0f, -0.0f, negative), 0u);',
      '  }',
      '  if (a.v < 0.0f && b.v != trunc(b.v)) { return xf(0.0f, 3u); }',
      '  if (a.v == 0.0f) {',
      '    if (b.v > 0.0f) { return xf(0.0f, 0u); }',
      '    return xf(0.0f, 1u);',
      '  }',
      '  let r = pow(abs(a.v), b.v);',
      '  return xf_of(select(r, -r, a.v < 0.0f && odd));',
      '}',
    ].join('\n'),
  },
};

/** An xf literal for a JS number. */
export function xfLiteral(v: number): string {
  const c = classOf(v);
  if (c !== 0) return `xf(0.0f, ${c}u)`;
  let text = String(Math.fround(v));
  if (!/[.e]/.test(text)) text += '.0';
  return `xf(${text}f, 0u)`;
}

/**
 * A unary f32 op on an xf: non-finite operands map to the constants the interpreter gives for
 * ±∞ and NaN (`table`), finite ones go through the plain WGSL `finite` (operand `a.v`), guarded by
 * `singular` cases (conditions on `a.v` with their exact results) and classified afterwards.
 */
export function xfUnaryHelper(name: string, evaluate: (x: number) => number, finite: (a: string) => string, singular: readonly { readonly when: string; readonly value: number }[] = []): string {
  const lines = [`fn ${name}(a: xf) -> xf {`];
  lines.push(`  if (a.c == 1u) { return ${xfLiteral(evaluate(Infinity))}; }`);
  lines.push(`  if (a.c == 2u) { return ${xfLiteral(evaluate(-Infinity))}; }`);
  lines.push(`  if (a.c == 3u) { return ${xfLiteral(evaluate(NaN))}; }`);
  for (const s of singular) lines.push(`  if (${s.when}) { return ${xfLiteral(s.value)}; }`);
  lines.push(`  return xf_of(${finite('a.v')});`);
  lines.push('}');
  return lines.join('\n');
}

/** The helpers a set of helper names needs, dependencies first, each once. */
export function withDependencies(names: Iterable<string>, extra: Readonly<Record<string, { readonly text: string; readonly needs?: readonly string[] }>> = {}): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (name: string) => {
    if (out.has(name)) return;
    const h = extra[name] ?? XF_HELPERS[name];
    if (!h) throw new Error(`no WGSL helper '${name}'`);
    for (const n of h.needs ?? []) visit(n);
    out.set(name, h.text);
  };
  for (const n of names) visit(n);
  return out;
}

