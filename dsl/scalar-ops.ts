/**
 * The scalar-op registry: one entry per elementwise operation, holding its type rule, its
 * interpreter semantics and its WGSL emission together so the three can never drift apart.
 *
 * The interpreter evaluates entries on JS numbers (float64) and then rounds the result to the
 * result dtype (`roundTo`): `Math.fround` for f32 in float32 mode, wrapping for i32/u32, 0/1 for
 * bool. WGSL emission receives operand expressions already in their register types
 * (f32, i32, u32, bool) and returns an expression of the result's register type.
 */
import { xfUnaryHelper } from './nonfinite-wgsl.ts';
import { TesseraError, type DType } from './types.ts';

export interface ScalarOp {
  readonly name: string;
  readonly arity: number;
  /** Result dtype for the operand dtypes; throws a TesseraError naming the op otherwise. */
  type(args: readonly DType[]): DType;
  /** Interpreter semantics on exact JS numbers; the caller rounds the result to its dtype. */
  evaluate(args: readonly number[], dtypes: readonly DType[]): number;
  /** A WGSL expression computing the op on operand expressions. */
  wgsl(args: readonly string[], dtypes: readonly DType[]): string;
  /** WGSL helper functions the emission calls, by name (deduplicated by the emitter). */
  readonly helpers?: Readonly<Record<string, string>>;
  /**
   * The op where an f32 operand may be ±∞ or NaN (see `nonfinite-wgsl.ts`): f32 operands arrive as
   * `xf` expressions, others plain; the result is an `xf` expression when it is f32, plain
   * otherwise. Absent for ops that take no f32 operand.
   */
  readonly xf?: XfEmission;
  /**
   * The f32 result can be ±∞ or NaN for finite operands at points of its domain (log 0, x / 0,
   * sqrt of a negative): such a result is carried as `xf` like one computed from an infinity,
   * unless `clearOf` says operands of the known signs stay clear of those points (a softmax's
   * denominator is ≥ 1, a layer norm's variance + eps is > 0).
   * (Overflow of exp, add or mul is left to the device, which rounds it to ±∞ as IEEE does.)
   */
  readonly singular?: { readonly clearOf: (args: readonly Sign[]) => boolean };
  /**
   * The sign of a finite result from the signs of finite operands (absent: nothing known). The
   * non-finite analysis uses it to decide `singular.clearOf`.
   */
  readonly sign?: (args: readonly Sign[]) => Sign;
  /**
   * What recomputing the op costs where an expression is shared (`RECOMPUTE_LIMIT`): 2 for a
   * transcendental function or a division, which take several instructions; absent, 1.
   */
  readonly recomputeCost?: 2;
}

/**
 * What is known of a value's sign while it is finite: `'positive'` (> 0), `'nonnegative'` (≥ 0),
 * or nothing (`null`). Rounding is monotone, so a positive plus a non-negative stays positive;
 * a product of positives may underflow to 0, so it is only non-negative.
 */
export type Sign = 'positive' | 'nonnegative' | null;

/** The sign two values share. */
export function weakerSign(a: Sign, b: Sign): Sign {
  if (a === null || b === null) return null;
  return a === 'positive' && b === 'positive' ? 'positive' : 'nonnegative';
}

/** An op's emission on `xf` operands and the helpers it calls (shared ones by name, or its own). */
export interface XfEmission {
  emit(args: readonly string[], dtypes: readonly DType[]): string;
  /** Helper names: entries of `XF_HELPERS` or of `own`. */
  readonly helpers: readonly string[];
  readonly own?: Readonly<Record<string, { readonly text: string; readonly needs?: readonly string[] }>>;
}

/** An xf emission that calls one shared helper with the operands in order. */
function xfCall(helper: string): XfEmission {
  return { emit: (args) => `${helper}(${args.join(', ')})`, helpers: [helper] };
}

/** An xf emission through a helper of the op's own (generated from its semantics). */
function xfOwn(name: string, text: string, needs: readonly string[]): XfEmission {
  return { emit: (args) => `${name}(${args.join(', ')})`, helpers: [name], own: { [name]: { text, needs } } };
}

/**
 * A unary f32 op on xf: ±∞ and NaN give what `evaluate` gives for them, finite operands the plain
 * WGSL (classified afterwards), except at `singular` points where the result is written exactly.
 */
function xfUnary(op: string, evaluate: (x: number) => number, wgsl: (a: string) => string, helpers: Record<string, string> | undefined, singular: { when: string; value: number }[] = []): XfEmission {
  const name = `xf_${op}`;
  return xfOwn(name, xfUnaryHelper(name, evaluate, wgsl, singular), ['xf_of', ...Object.keys(helpers ?? {})]);
}

/** A comparison on xf: NaN compares unequal to everything (only `ne` holds). */
function xfComparison(op: string, symbol: string): XfEmission {
  const name = `xf_${op}`;
  const text = [`fn ${name}(a: xf, b: xf) -> bool {`, `  if (a.c == 3u || b.c == 3u) { return ${op === 'ne' ? 'true' : 'false'}; }`, `  return xf_cmp(a, b) ${symbol} 0i;`, '}'].join('\n');
  return xfOwn(name, text, ['xf_cmp']);
}

/** A classification on xf: a test of the class code. */
function xfClass(op: string, test: string): XfEmission {
  const name = `xf_${op}`;
  return xfOwn(name, `fn ${name}(a: xf) -> bool {\n  return ${test};\n}`, ['xf']);
}

const I32_MIN = -2147483648;

/** Rounds an exact result to what the dtype can hold (f32 only when `float32` is set). */
export function roundTo(value: number, dtype: DType, float32: boolean): number {
  switch (dtype) {
    case 'f32':
      return float32 ? Math.fround(value) : value;
    case 'i32':
      return value | 0;
    case 'u32':
      return value >>> 0;
    case 'bool':
      return value ? 1 : 0;
  }
}

/** A WGSL literal for a scalar constant of the given dtype (finite values only for f32). */
export function wgslLiteral(value: number, dtype: DType): string {
  switch (dtype) {
    case 'f32': {
      const v = Math.fround(value);
      if (Number.isNaN(v)) throw new TesseraError('a NaN constant cannot be compiled to WGSL');
      if (!Number.isFinite(v)) {
        // WGSL has no infinities (const-expressions that overflow are errors, and implementations
        // may assume none at run time): ±Infinity becomes the finite sentinel ±FLT_MAX.
        return v > 0 ? '3.4028234663852886e+38f' : '-3.4028234663852886e+38f';
      }
      let text = String(v);
      if (!/[.e]/.test(text)) text += '.0';
      return `${text}f`;
    }
    case 'i32':
      return (value | 0) === I32_MIN ? 'i32(-2147483647 - 1)' : `${value | 0}i`;
    case 'u32':
      return `${value >>> 0}u`;
    case 'bool':
      return value ? 'true' : 'false';
  }
}

function fail(op: string, message: string): never {
  throw new TesseraError(`${op}: ${message}`);
}

function sameDtype(op: string, args: readonly DType[]): DType {
  const first = args[0]!;
  for (const d of args) {
    if (d !== first) {
      fail(op, `operand dtypes ${args.join(' and ')} differ; cast one operand first (toF32, toI32, toU32)`);
    }
  }
  return first;
}

function numeric(op: string, args: readonly DType[]): DType {
  const d = sameDtype(op, args);
  if (d === 'bool') fail(op, 'needs numeric operands, got bool');
  return d;
}

function floating(op: string, args: readonly DType[]): DType {
  const d = sameDtype(op, args);
  if (d !== 'f32') fail(op, `needs f32 operands, got ${d}`);
  return d;
}

/** An f32 operand classified into a bool (finite, infinite, NaN). */
function floatClass(op: string, args: readonly DType[]): DType {
  floating(op, args);
  return 'bool';
}

/** Both operands i32 or both u32: the bit ops, whose meaning depends on a two's-complement word. */
function integer(op: string, args: readonly DType[]): DType {
  const d = sameDtype(op, args);
  if (d !== 'i32' && d !== 'u32') fail(op, `needs i32 or u32 operands, got ${d}`);
  return d;
}

function boolean(op: string, args: readonly DType[]): DType {
  const d = sameDtype(op, args);
  if (d !== 'bool') fail(op, `needs bool operands, got ${d}`);
  return d;
}

function truncDiv(a: number, b: number, dtype: DType): number {
  if (dtype === 'f32') return a / b;
  if (b === 0) return a; // WGSL: integer division by zero yields the dividend
  if (dtype === 'i32' && a === I32_MIN && b === -1) return I32_MIN;
  return Math.trunc(a / b);
}

function truncRem(a: number, b: number, dtype: DType): number {
  if (dtype === 'f32') return a - b * Math.trunc(a / b);
  if (b === 0) return 0; // WGSL: integer remainder by zero yields 0
  if (dtype === 'i32' && a === I32_MIN && b === -1) return 0;
  return a % b;
}

/** A JS int32 bit-op result as the dtype holds it: unsigned for u32 (JS bit ops answer signed). */
function word(value: number, dtype: DType): number {
  return dtype === 'u32' ? value >>> 0 : value | 0;
}

/**
 * A WGSL shift amount: shifts take a u32 right operand, and a shift by 32 or more is undefined for
 * run-time values (and an error for constants), so the low 5 bits are taken explicitly — the
 * interpreter's `b & 31`, for a negative i32 amount too (`u32` of an i32 keeps its bits).
 */
function shiftAmount(b: string, dtype: DType): string {
  return dtype === 'u32' ? `(${b} & 31u)` : `(u32(${b}) & 31u)`;
}

function binary(
  name: string,
  rule: (op: string, args: readonly DType[]) => DType,
  evaluate: (a: number, b: number, d: DType) => number,
  wgsl: (a: string, b: string, d: DType) => string,
  helpers?: Record<string, string>,
  xf?: XfEmission,
): ScalarOp {
  return {
    name,
    arity: 2,
    type: (args) => rule(name, args),
    evaluate: ([a, b], [d]) => evaluate(a!, b!, d!),
    wgsl: ([a, b], [d]) => wgsl(a!, b!, d!),
    ...(helpers ? { helpers } : {}),
    ...(xf ? { xf } : {}),
  };
}

function unary(
  name: string,
  rule: (op: string, args: readonly DType[]) => DType,
  evaluate: (a: number, d: DType) => number,
  wgsl: (a: string, d: DType) => string,
  helpers?: Record<string, string>,
  xf?: XfEmission,
): ScalarOp {
  return {
    name,
    arity: 1,
    type: (args) => rule(name, args),
    evaluate: ([a], [d]) => evaluate(a!, d!),
    wgsl: ([a], [d]) => wgsl(a!, d!),
    ...(helpers ? { helpers } : {}),
    ...(xf ? { xf } : {}),
  };
}

/** A unary f32 op whose xf form follows from its own semantics (`xfUnary`). */
function floatUnary(name: string, evaluate: (a: number) => number, wgsl: (a: string) => string, helpers?: Record<string, string>, singular: { when: string; value: number }[] = []): ScalarOp {
  return unary(name, floating, evaluate, wgsl, helpers, xfUnary(name, evaluate, wgsl, helpers, singular));
}

function comparison(name: string, symbol: string, evaluate: (a: number, b: number) => boolean, allowBool: boolean): ScalarOp {
  return binary(
    name,
    (op, args) => {
      const d = sameDtype(op, args);
      if (d === 'bool' && !allowBool) fail(op, 'needs numeric operands, got bool');
      return 'bool';
    },
    (a, b) => (evaluate(a, b) ? 1 : 0),
    (a, b) => `(${a} ${symbol} ${b})`,
    undefined,
    xfComparison(name, symbol),
  );
}

function cast(to: DType): ScalarOp {
  const name = `to_${to}`;
  const evaluate = (a: number, from: DType): number => {
    if (to === 'bool') return a !== 0 ? 1 : 0;
    if (to === 'f32' || from !== 'f32') return a;
    // f32 -> integer: truncate toward zero, clamp to the range WGSL guarantees.
    if (Number.isNaN(a)) return 0;
    const t = Math.trunc(a);
    return to === 'i32' ? Math.min(Math.max(t, I32_MIN), 2147483520) : Math.min(Math.max(t, 0), 4294967040);
  };
  // On xf (only f32 operands are ever xf): the class decides, then the plain cast of a finite value.
  const xf: XfEmission =
    to === 'f32'
      ? { emit: ([a]) => a!, helpers: [] }
      : to === 'bool'
        ? xfClass(name, '(a.c != 0u || a.v != 0.0f)')
        : xfOwn(
            `xf_${name}`,
            [
              `fn xf_${name}(a: xf) -> ${to} {`,
              `  if (a.c == 1u) { return ${wgslLiteral(evaluate(Infinity, 'f32'), to)}; }`,
              `  if (a.c == 2u) { return ${wgslLiteral(evaluate(-Infinity, 'f32'), to)}; }`,
              `  if (a.c == 3u) { return ${wgslLiteral(evaluate(NaN, 'f32'), to)}; }`,
              `  return ${to}(a.v);`,
              '}',
            ].join('\n'),
            ['xf'],
          );
  return unary(
    name,
    () => to,
    evaluate,
    (a, from) => {
      if (from === to) return a;
      if (to === 'bool') return from === 'f32' ? `(${a} != 0.0f)` : from === 'i32' ? `(${a} != 0i)` : `(${a} != 0u)`;
      if (from === 'bool') return `select(${wgslLiteral(0, to)}, ${wgslLiteral(1, to)}, ${a})`;
      return `${to}(${a})`;
    },
    undefined,
    xf,
  );
}

/**
 * log1p: WGSL's log may be off by 2^-21 in absolute terms near 1, which is no accuracy at all for
 * log(1 + x) with tiny x. Within |x| < 0.5 use 2·atanh(z), z = x / (2 + x), as a series in z²
 * (|z| ≤ 1/3, so eight terms reach f32 precision); beyond, log(1 + x) is accurate enough.
 */
const LOG1P_WGSL = [
  'fn ts_log1p(x: f32) -> f32 {',
  '  if (abs(x) < 0.5f) {',
  '    let z = x / (2.0f + x);',
  '    let w = z * z;',
  '    let series = 1.0f + w * (0.33333333f + w * (0.2f + w * (0.14285714f + w * (0.11111111f + w * (0.09090909f + w * (0.07692308f + w * 0.06666667f))))));',
  '    return 2.0f * z * series;',
  '  }',
  '  return log(1.0f + x);',
  '}',
].join('\n');

/** A quiet NaN that is not a const-expression (WGSL rejects constant NaN at shader creation). */
const NAN_WGSL = 'var<private> ts_nan_bits: u32 = 0x7fc00000u;';

/**
 * leaky_relu on xf, as the interpreter runs it: x itself where x >= 0 (+∞ and -0 included), else
 * slope · x with `xf_mul`'s rules (NaN stays NaN; −∞ times a positive slope is −∞, times 0 NaN).
 */
const XF_LEAKY_RELU = [
  'fn xf_leaky_relu(x: xf, slope: xf) -> xf {',
  '  if (x.c == 1u || (x.c == 0u && x.v >= 0.0f)) { return x; }',
  '  return xf_mul(slope, x);',
  '}',
].join('\n');

const HELPERS = {
  log1p: {
    ts_log1p:
      LOG1P_WGSL,
  },
  sigmoid: {
    ts_sigmoid:
      'fn ts_sigmoid(x: f32) -> f32 {\n  let e = exp(-abs(x));\n  return select(e / (1.0f + e), 1.0f / (1.0f + e), x >= 0.0f);\n}',
  },
  logSigmoid: {
    ts_log1p:
      LOG1P_WGSL,
    ts_log_sigmoid: 'fn ts_log_sigmoid(x: f32) -> f32 {\n  return min(x, 0.0f) - ts_log1p(exp(-abs(x)));\n}',
  },
  leakyRelu: {
    // A function, not an inline select: the operand expression is evaluated once.
    ts_leaky_relu: 'fn ts_leaky_relu(x: f32, slope: f32) -> f32 {\n  return select(slope * x, x, x >= 0.0f);\n}',
  },
  pow: {
    ts_nan_bits: NAN_WGSL,
    ts_pow:
      'fn ts_pow(x: f32, y: f32) -> f32 {\n  if (y == 0.0f) { return 1.0f; }\n  if (x >= 0.0f) { return pow(x, y); }\n  let r = pow(-x, y);\n  if (y == trunc(y)) { return select(r, -r, (abs(y) % 2.0f) == 1.0f); }\n  return bitcast<f32>(ts_nan_bits);\n}',
  },
};

function jsLog1p(x: number): number {
  return Math.log1p(x);
}

function jsSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

const entries: ScalarOp[] = [
  binary('add', numeric, (a, b) => a + b, (a, b) => `(${a} + ${b})`, undefined, xfCall('xf_add')),
  binary('sub', numeric, (a, b) => a - b, (a, b) => `(${a} - ${b})`, undefined, xfCall('xf_sub')),
  binary('mul', numeric, (a, b, d) => (d === 'i32' ? Math.imul(a, b) : d === 'u32' ? Math.imul(a, b) >>> 0 : a * b), (a, b) => `(${a} * ${b})`, undefined, xfCall('xf_mul')),
  binary('div', numeric, truncDiv, (a, b, d) => (d === 'f32' ? `(${a} / ${b})` : `ts_div_${d}(${a}, ${b})`), {
    ts_div_i32: 'fn ts_div_i32(a: i32, b: i32) -> i32 {\n  if (b == 0i) { return a; }\n  if (a == i32(-2147483647 - 1) && b == -1i) { return a; }\n  return a / b;\n}',
    ts_div_u32: 'fn ts_div_u32(a: u32, b: u32) -> u32 {\n  if (b == 0u) { return a; }\n  return a / b;\n}',
  }, xfCall('xf_div')),
  binary('mod', numeric, truncRem, (a, b, d) => (d === 'f32' ? `(${a} - ${b} * trunc(${a} / ${b}))` : `ts_rem_${d}(${a}, ${b})`), {
    ts_rem_i32: 'fn ts_rem_i32(a: i32, b: i32) -> i32 {\n  if (b == 0i || b == -1i) { return 0i; }\n  return a % b;\n}',
    ts_rem_u32: 'fn ts_rem_u32(a: u32, b: u32) -> u32 {\n  if (b == 0u) { return 0u; }\n  return a % b;\n}',
  }, xfCall('xf_mod')),
  binary('min', numeric, (a, b) => Math.min(a, b), (a, b) => `min(${a}, ${b})`, undefined, xfCall('xf_min')),
  binary('max', numeric, (a, b) => Math.max(a, b), (a, b) => `max(${a}, ${b})`, undefined, xfCall('xf_max')),
  binary(
    'pow',
    floating,
    (a, b) => (a < 0 && b !== Math.trunc(b) ? NaN : Math.pow(a, b)),
    (a, b) => `ts_pow(${a}, ${b})`,
    HELPERS.pow,
    xfCall('xf_pow'),
  ),
  // NaN fails x >= 0 and comes out of slope · x as NaN; +∞ passes; −∞ gives slope · −∞.
  binary('leaky_relu', floating, (x, slope) => (x >= 0 ? x : slope * x), (x, slope) => `ts_leaky_relu(${x}, ${slope})`, HELPERS.leakyRelu, xfOwn('xf_leaky_relu', XF_LEAKY_RELU, ['xf_mul'])),
  unary('neg', numeric, (a) => -a, (a, d) => (d === 'u32' ? `(0u - ${a})` : `(-${a})`), undefined, xfCall('xf_neg')),
  unary('abs', numeric, (a) => Math.abs(a), (a, d) => (d === 'u32' ? a : `abs(${a})`), undefined, xfCall('xf_abs')),
  floatUnary('exp', Math.exp, (a) => `exp(${a})`),
  floatUnary('log', Math.log, (a) => `log(${a})`, undefined, [
    { when: 'a.v == 0.0f', value: -Infinity },
    { when: 'a.v < 0.0f', value: NaN },
  ]),
  floatUnary('log1p', jsLog1p, (a) => `ts_log1p(${a})`, HELPERS.log1p, [
    { when: 'a.v == -1.0f', value: -Infinity },
    { when: 'a.v < -1.0f', value: NaN },
  ]),
  floatUnary('sqrt', Math.sqrt, (a) => `sqrt(${a})`, undefined, [{ when: 'a.v < 0.0f', value: NaN }]),
  floatUnary('rsqrt', (a) => 1 / Math.sqrt(a), (a) => `inverseSqrt(${a})`, undefined, [
    { when: 'a.v == 0.0f', value: Infinity },
    { when: 'a.v < 0.0f', value: NaN },
  ]),
  // tanh saturates to ±1 in f32 beyond |x| = 15; clamping keeps every WGSL implementation finite.
  floatUnary('tanh', Math.tanh, (a) => `tanh(clamp(${a}, -15.0f, 15.0f))`),
  floatUnary('sigmoid', jsSigmoid, (a) => `ts_sigmoid(${a})`, HELPERS.sigmoid),
  floatUnary('log_sigmoid', (a) => Math.min(a, 0) - Math.log1p(Math.exp(-Math.abs(a))), (a) => `ts_log_sigmoid(${a})`, HELPERS.logSigmoid),
  unary('id', (_op, args) => args[0]!, (a) => a, (a) => a, undefined, { emit: ([a]) => a!, helpers: [] }),
  // Classification reads the bits, so it holds even where a WGSL implementation assumes finite
  // floats in arithmetic (its comparisons with infinities may be folded away).
  unary('is_finite', floatClass, (a) => (Number.isFinite(a) ? 1 : 0), (a) => `((bitcast<u32>(${a}) & 0x7f800000u) != 0x7f800000u)`, undefined, xfClass('is_finite', 'a.c == 0u')),
  unary('is_inf', floatClass, (a) => (a === Infinity || a === -Infinity ? 1 : 0), (a) => `((bitcast<u32>(${a}) & 0x7fffffffu) == 0x7f800000u)`, undefined, xfClass('is_inf', 'a.c == 1u || a.c == 2u')),
  unary('is_nan', floatClass, (a) => (Number.isNaN(a) ? 1 : 0), (a) => `((bitcast<u32>(${a}) & 0x7fffffffu) > 0x7f800000u)`, undefined, xfClass('is_nan', 'a.c == 3u')),
  comparison('lt', '<', (a, b) => a < b, false),
  comparison('le', '<=', (a, b) => a <= b, false),
  comparison('gt', '>', (a, b) => a > b, false),
  comparison('ge', '>=', (a, b) => a >= b, false),
  comparison('eq', '==', (a, b) => a === b, true),
  comparison('ne', '!=', (a, b) => a !== b, true),
  binary('and', boolean, (a, b) => (a && b ? 1 : 0), (a, b) => `(${a} && ${b})`),
  binary('or', boolean, (a, b) => (a || b ? 1 : 0), (a, b) => `(${a} || ${b})`),
  binary('xor', boolean, (a, b) => (a !== b ? 1 : 0), (a, b) => `(${a} != ${b})`),
  unary('not', boolean, (a) => (a ? 0 : 1), (a) => `(!${a})`),
  // Bit ops on the two's-complement word. JS's operators see int32, so u32 operands above 2^31
  // wrap on the way in and `word` unwraps the result; the bits are WGSL's either way.
  binary('bit_and', integer, (a, b, d) => word(a & b, d), (a, b) => `(${a} & ${b})`),
  binary('bit_or', integer, (a, b, d) => word(a | b, d), (a, b) => `(${a} | ${b})`),
  binary('bit_xor', integer, (a, b, d) => word(a ^ b, d), (a, b) => `(${a} ^ ${b})`),
  // Shift amounts modulo 32. shift_right is arithmetic on i32 (the sign fills in) and logical on
  // u32, as WGSL's `>>` is for each.
  binary('shift_left', integer, (a, b, d) => word(a << (b & 31), d), (a, b, d) => `(${a} << ${shiftAmount(b, d)})`),
  binary('shift_right', integer, (a, b, d) => (d === 'u32' ? a >>> (b & 31) : a >> (b & 31)), (a, b, d) => `(${a} >> ${shiftAmount(b, d)})`),
  {
    name: 'where',
    arity: 3,
    type: ([c, a, b]) => {
      if (c !== 'bool') fail('where', `condition must be bool, got ${c}`);
      return sameDtype('where', [a!, b!]);
    },
    evaluate: ([c, a, b]) => (c ? a! : b!),
    wgsl: ([c, a, b]) => `select(${b}, ${a}, ${c})`,
    xf: { emit: ([c, a, b]) => `xf_select(${b}, ${a}, ${c})`, helpers: ['xf_select'] },
  },
  cast('f32'),
  cast('i32'),
  cast('u32'),
  cast('bool'),
];

/**
 * Ops whose f32 result is ±∞ or NaN at points of their domain, and the operand signs that keep
 * finite operands clear of them (see `ScalarOp.singular`).
 */
const SINGULAR: ReadonlyMap<string, (args: readonly Sign[]) => boolean> = new Map([
  ['div', ([, d]) => d === 'positive'],
  ['mod', ([, d]) => d === 'positive'],
  ['pow', () => false],
  ['log', ([a]) => a === 'positive'],
  ['log1p', ([a]) => a !== null],
  ['sqrt', ([a]) => a !== null],
  ['rsqrt', ([a]) => a === 'positive'],
]);

/** The sign rules of the ops that have one (see `ScalarOp.sign`); operands past the list are unknown. */
const SIGNS: ReadonlyMap<string, (args: readonly Sign[]) => Sign> = new Map<string, (args: readonly Sign[]) => Sign>([
  ['add', ([a = null, b = null]) => {
    const both = weakerSign(a, b);
    return both && (a === 'positive' || b === 'positive') ? 'positive' : both;
  }],
  ['mul', ([a = null, b = null]) => (weakerSign(a, b) ? 'nonnegative' : null)],
  ['div', ([a = null, d = null]) => (d === 'positive' ? weakerSign(a, 'nonnegative') : null)],
  ['min', ([a = null, b = null]) => weakerSign(a, b)],
  ['max', ([a = null, b = null]) => (a === 'positive' || b === 'positive' ? 'positive' : a ?? b)],
  ['abs', () => 'nonnegative'],
  // exp of x ≥ 0 is ≥ 1; of anything else it may underflow to 0.
  ['exp', ([a = null]) => (a === null ? 'nonnegative' : 'positive')],
  ['sqrt', ([a = null]) => a],
  ['rsqrt', ([a = null]) => (a === 'positive' ? 'positive' : null)],
  ['log1p', ([a = null]) => (a === null ? null : 'nonnegative')],
  ['sigmoid', () => 'nonnegative'],
  ['where', ([, a = null, b = null]) => weakerSign(a, b)],
  ['id', ([a = null]) => a],
  ['to_f32', ([a = null]) => a],
]);

/** Ops that take several instructions: transcendental functions and divisions (see `ScalarOp.recomputeCost`). */
const COSTLY = new Set(['div', 'mod', 'pow', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'log_sigmoid']);

/** All scalar ops by name. */
export const SCALAR_OPS: ReadonlyMap<string, ScalarOp> = new Map(
  entries.map((e) => {
    const clearOf = SINGULAR.get(e.name);
    const sign = SIGNS.get(e.name);
    return [e.name, { ...e, ...(clearOf ? { singular: { clearOf } } : {}), ...(sign ? { sign } : {}), ...(COSTLY.has(e.name) ? { recomputeCost: 2 as const } : {}) }];
  }),
);

export function scalarOp(name: string): ScalarOp {
  const op = SCALAR_OPS.get(name);
  if (!op) throw new TesseraError(`unknown scalar op '${name}'`);
  return op;
}
