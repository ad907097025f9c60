/**
 * The interpreter's semantics, node by node, against numbers worked out by hand: every scalar op,
 * integer wrap-around and division by zero, reductions, composites (including fully masked rows),
 * relabelling, iota, broadcasting, contractions, loops, parameters and f32 rounding.
 */
import { definitionGraph } from '../dsl/composites.ts';
import { describe, expect, it } from 'vitest';
import { einsum } from '../dsl/einsum.ts';
import {
  interpret,
  interpretKernel,
  type InterpretOptions,
  type InterpretedTensor,
  type Traceable,
} from '../interpreter/interpret.ts';
import { bool, f32, i32, kernel, param, u32 } from '../dsl/kernel.ts';
import * as ops from '../dsl/ops.ts';
import { printGraph } from '../dsl/print.ts';
import type { Tensor } from '../dsl/tensor.ts';
import type { HostTensor } from '../dsl/types.ts';
import { verifyGraph } from '../dsl/verify.ts';

const vec = (data: readonly number[] | readonly boolean[]): HostTensor => ({ shape: [data.length], data });
const mat = (rows: number, cols: number, data: readonly number[]): HostTensor => ({ shape: [rows, cols], data });

/** Runs a kernel and returns its only output. */
function run(k: Traceable, inputs: Readonly<Record<string, HostTensor>>, options?: InterpretOptions): InterpretedTensor {
  const outputs = interpretKernel(k, inputs, options);
  expect(Object.keys(outputs)).toEqual(['out']);
  return outputs['out']!;
}

/** Exact comparison for integers, ±Infinity and NaN; 12 significant digits for other floats. */
function expectValues(t: InterpretedTensor, expected: readonly number[]): void {
  expect(t.data.length).toBe(expected.length);
  expected.forEach((want, i) => {
    const got = t.data[i]!;
    if (Number.isInteger(want) || !Number.isFinite(want)) expect(got, `element ${i}`).toBe(want);
    else expect(Math.abs(got - want), `element ${i}: got ${got}, expected ${want}`).toBeLessThanOrEqual(1e-12 * Math.abs(want));
  });
}

type F32Vec = Tensor<readonly ['i'], 'f32'>;

const f32Unary = (op: (x: F32Vec) => Tensor) => kernel('unary', { x: f32('i') }, ({ x }) => op(x));
const f32Binary = (op: (a: F32Vec, b: F32Vec) => Tensor) => kernel('binary', { a: f32('i'), b: f32('i') }, ({ a, b }) => op(a, b));

describe('f32 scalar ops', () => {
  const unaryCases: [string, (x: F32Vec) => Tensor, number[], number[]][] = [
    ['neg', ops.neg, [1.5, -2, 0], [-1.5, 2, -0]],
    ['abs', ops.abs, [-1.5, 2, -0], [1.5, 2, 0]],
    ['exp', ops.exp, [0, 1, -1, -Infinity], [1, 2.718281828459045, 0.36787944117144233, 0]],
    ['log', ops.log, [1, 2, 0, -1], [0, 0.6931471805599453, -Infinity, NaN]],
    ['log1p', ops.log1p, [0, 1e-10, -1], [0, 9.999999999500001e-11, -Infinity]],
    ['sqrt', ops.sqrt, [4, 2, -1], [2, 1.4142135623730951, NaN]],
    ['rsqrt', ops.rsqrt, [4, 0.25, 0], [0.5, 2, Infinity]],
    ['tanh', ops.tanh, [0, 0.5, 20, -20], [0, 0.46211715726000974, 1, -1]],
    ['sigmoid', ops.sigmoid, [0, 2, -3, -1000], [0.5, 0.8807970779778823, 0.04742587317756678, 0]],
    ['log_sigmoid', ops.logSigmoid, [0, 2, -30, -1000], [-0.6931471805599453, -0.12692801104297263, -30.000000000000092, -1000]],
  ];
  for (const [name, op, input, expected] of unaryCases) {
    it(name, () => {
      const out = run(f32Unary(op), { x: vec(input) });
      expect(out.dtype).toBe('f32');
      expectValues(out, expected);
      if (name === 'neg') expect(Object.is(out.data[2], -0)).toBe(true);
    });
  }

  const binaryCases: [string, (a: F32Vec, b: F32Vec) => Tensor, number[], number[], number[]][] = [
    ['add', ops.add, [1, 0.5, -3], [2, 0.25, 3], [3, 0.75, 0]],
    ['sub', ops.sub, [1, 0.5, -3], [2, 0.25, 3], [-1, 0.25, -6]],
    ['mul', ops.mul, [1.5, -2, 0], [2, 0.25, -1], [3, -0.5, -0]],
    ['div', ops.div, [1, -3, 1, 0], [4, 2, 0, 0], [0.25, -1.5, Infinity, NaN]],
    // Truncated remainder: the sign follows the dividend.
    ['mod', ops.mod, [7.5, -7, 7, 1], [2, 3, -3, 0], [1.5, -1, 1, NaN]],
    ['minimum', ops.minimum, [1, -2, 3], [0, 5, 3], [0, -2, 3]],
    ['maximum', ops.maximum, [1, -2, 3], [0, 5, 3], [1, 5, 3]],
    // Negative bases only with integral exponents; 0 ** 0 = 1.
    ['pow', ops.pow, [2, -2, -2, 0, 4], [3, 3, 0.5, 0, -0.5], [8, -8, NaN, 1, 0.5]],
  ];
  for (const [name, op, a, b, expected] of binaryCases) {
    it(name, () => expectValues(run(f32Binary(op), { a: vec(a), b: vec(b) }), expected));
  }

  it('comparisons give bool tensors held as 0/1 bytes', () => {
    const a = [1, 2, 3];
    const b = [2, 2, 2];
    const cases: [(x: F32Vec, y: F32Vec) => Tensor, number[]][] = [
      [ops.lt, [1, 0, 0]],
      [ops.le, [1, 1, 0]],
      [ops.gt, [0, 0, 1]],
      [ops.ge, [0, 1, 1]],
      [ops.eq, [0, 1, 0]],
      [ops.ne, [1, 0, 1]],
    ];
    for (const [op, expected] of cases) {
      const out = run(f32Binary(op), { a: vec(a), b: vec(b) });
      expect(out.dtype).toBe('bool');
      expect(out.data).toBeInstanceOf(Uint8Array);
      expect(Array.from(out.data)).toEqual(expected);
    }
  });

  it('where selects elementwise and broadcasts a number', () => {
    const k = kernel('where', { c: bool('i'), a: f32('i') }, ({ c, a }) => ops.where(c, a, -1));
    expectValues(run(k, { c: vec([true, false, true]), a: vec([5, 6, 7]) }), [5, -1, 7]);
  });
});

describe('bool ops', () => {
  const k = (op: (a: Tensor<readonly ['i'], 'bool'>, b: Tensor<readonly ['i'], 'bool'>) => Tensor) =>
    kernel('logic', { a: bool('i'), b: bool('i') }, ({ a, b }) => op(a, b));
  const a = vec([false, false, true, true]);
  const b = vec([false, true, false, true]);
  it('and, or, xor, not', () => {
    expect(Array.from(run(k(ops.and), { a, b }).data)).toEqual([0, 0, 0, 1]);
    expect(Array.from(run(k(ops.or), { a, b }).data)).toEqual([0, 1, 1, 1]);
    expect(Array.from(run(k(ops.xor), { a, b }).data)).toEqual([0, 1, 1, 0]);
    expect(Array.from(run(k((x) => ops.not(x)), { a, b }).data)).toEqual([1, 1, 0, 0]);
  });
});

describe('integer ops wrap around and follow WGSL division by zero', () => {
  const I32_MAX = 2147483647;
  const I32_MIN = -2147483648;
  type I32Vec = Tensor<readonly ['i'], 'i32'>;
  type U32Vec = Tensor<readonly ['i'], 'u32'>;
  const i32Binary = (op: (a: I32Vec, b: I32Vec) => Tensor) => kernel('i32', { a: i32('i'), b: i32('i') }, ({ a, b }) => op(a, b));
  const u32Binary = (op: (a: U32Vec, b: U32Vec) => Tensor) => kernel('u32', { a: u32('i'), b: u32('i') }, ({ a, b }) => op(a, b));

  it('i32 add, sub and mul wrap modulo 2^32', () => {
    const a = { shape: [3], data: new Int32Array([I32_MAX, I32_MIN, 123456789]), dtype: 'i32' as const };
    const b = { shape: [3], data: new Int32Array([1, 1, 1000]), dtype: 'i32' as const };
    const sum = run(i32Binary(ops.add), { a, b });
    expect(sum.data).toBeInstanceOf(Int32Array);
    expect(Array.from(sum.data)).toEqual([I32_MIN, I32_MIN + 1, 123457789]);
    expect(Array.from(run(i32Binary(ops.sub), { a, b }).data)).toEqual([I32_MAX - 1, I32_MAX, 123455789]);
    // 123456789 * 1000 = 123456789000 ≡ -1097262584 (mod 2^32, signed).
    expect(Array.from(run(i32Binary(ops.mul), { a, b }).data)).toEqual([I32_MAX, I32_MIN, -1097262584]);
  });

  it('i32 division truncates; x / 0 = x; MIN / -1 = MIN', () => {
    const out = run(i32Binary(ops.div), { a: vec([7, -7, 5, I32_MIN, -5]), b: vec([2, 2, 0, -1, 0]) });
    expect(Array.from(out.data)).toEqual([3, -3, 5, I32_MIN, -5]);
  });

  it('i32 remainder is truncated; x % 0 = 0; MIN % -1 = 0', () => {
    const out = run(i32Binary(ops.mod), { a: vec([7, -7, 5, I32_MIN, 7]), b: vec([2, 2, 0, -1, -3]) });
    expect(Array.from(out.data)).toEqual([1, -1, 0, 0, 1]);
  });

  it('i32 neg and abs of MIN wrap to MIN', () => {
    const k = kernel('negabs', { a: i32('i') }, ({ a }) => ({ neg: ops.neg(a), abs: ops.abs(a) }));
    const out = interpretKernel(k, { a: vec([I32_MIN, -3, 4]) });
    expect(Array.from(out['neg']!.data)).toEqual([I32_MIN, 3, -4]);
    expect(Array.from(out['abs']!.data)).toEqual([I32_MIN, 3, 4]);
  });

  it('u32 sub, neg and mul wrap; x / 0 = x; x % 0 = 0', () => {
    const a = vec([0, 4294967295, 7, 65536]);
    const b = vec([1, 2, 0, 65536]);
    const sub = run(u32Binary(ops.sub), { a, b });
    expect(sub.data).toBeInstanceOf(Uint32Array);
    expect(Array.from(sub.data)).toEqual([4294967295, 4294967293, 7, 0]);
    expect(Array.from(run(u32Binary(ops.add), { a, b }).data)).toEqual([1, 1, 7, 131072]);
    expect(Array.from(run(u32Binary(ops.mul), { a, b }).data)).toEqual([0, 4294967294, 0, 0]);
    expect(Array.from(run(u32Binary(ops.div), { a, b }).data)).toEqual([0, 2147483647, 7, 1]);
    expect(Array.from(run(u32Binary(ops.mod), { a, b }).data)).toEqual([0, 1, 0, 0]);
    const neg = kernel('neg', { a: u32('i') }, ({ a }) => ops.neg(a));
    expect(Array.from(run(neg, { a: vec([1, 0]) }).data)).toEqual([4294967295, 0]);
  });

  it('a number operand adopts the integer dtype', () => {
    const k = kernel('plus', { a: i32('i') }, ({ a }) => ops.add(a, 1));
    const out = run(k, { a: vec([I32_MAX, 0]) });
    expect(out.dtype).toBe('i32');
    expect(Array.from(out.data)).toEqual([I32_MIN, 1]);
  });
});

describe('casts', () => {
  it('f32 to i32 truncates toward zero, clamps, and maps NaN to 0', () => {
    const k = kernel('cast', { x: f32('i') }, ({ x }) => ops.toI32(x));
    expect(Array.from(run(k, { x: vec([-2.7, 2.7, 3e9, -3e9, NaN]) }).data)).toEqual([-2, 2, 2147483520, -2147483648, 0]);
  });

  it('f32 to u32 clamps at 0 and below 2^32', () => {
    const k = kernel('cast', { x: f32('i') }, ({ x }) => ops.toU32(x));
    expect(Array.from(run(k, { x: vec([-5.5, 5.5, 5e9]) }).data)).toEqual([0, 5, 4294967040]);
  });

  it('i32 to u32 keeps the bits; to f32 rounds only in f32 mode; to bool tests != 0', () => {
    const k = kernel('cast', { a: i32('i') }, ({ a }) => ({ u: ops.toU32(a), f: ops.toF32(a), b: ops.toBool(a) }));
    const inputs = { a: vec([-1, 2147483647, 0]) };
    const exact = interpretKernel(k, inputs);
    expect(Array.from(exact['u']!.data)).toEqual([4294967295, 2147483647, 0]);
    expect(Array.from(exact['f']!.data)).toEqual([-1, 2147483647, 0]);
    expect(Array.from(exact['b']!.data)).toEqual([1, 1, 0]);
    expect(Array.from(interpretKernel(k, inputs, { precision: 'f32' })['f']!.data)).toEqual([-1, 2147483648, 0]);
  });

  it('bool to f32 is 0/1', () => {
    const k = kernel('cast', { c: bool('i') }, ({ c }) => ops.toF32(c));
    expect(Array.from(run(k, { c: vec([true, false]) }).data)).toEqual([1, 0]);
  });
});

describe('reductions', () => {
  const x3 = { shape: [2, 3, 2], data: Array.from({ length: 12 }, (_, i) => i) };
  const cube = f32('i', 'j', 'k');

  it('sum over a middle axis keeps the other axes in order', () => {
    const out = run(kernel('sum', { x: cube }, ({ x }) => ops.sum(x, 'j')), { x: x3 });
    expect(out.axes).toEqual(['i', 'k']);
    expect(out.shape).toEqual([2, 2]);
    expectValues(out, [6, 9, 24, 27]);
  });

  it('max, min and prod over several axes', () => {
    expectValues(run(kernel('max', { x: cube }, ({ x }) => ops.max(x, ['i', 'k'])), { x: x3 }), [7, 9, 11]);
    expectValues(run(kernel('min', { x: cube }, ({ x }) => ops.min(x, ['k', 'i'])), { x: x3 }), [0, 2, 4]);
    expectValues(run(kernel('prod', { x: cube }, ({ x }) => ops.prod(x, ['j'])), { x: x3 }), [0, 1 * 3 * 5, 6 * 8 * 10, 7 * 9 * 11]);
  });

  it('mean, and a full reduction to a scalar', () => {
    expectValues(run(kernel('mean', { x: cube }, ({ x }) => ops.mean(x, 'k')), { x: x3 }), [0.5, 2.5, 4.5, 6.5, 8.5, 10.5]);
    const total = run(kernel('sum', { x: cube }, ({ x }) => ops.sum(x, ['i', 'j', 'k'])), { x: x3 });
    expect(total.shape).toEqual([]);
    expectValues(total, [66]);
  });

  it('logsumexp is stable for large values and -Infinity for an all -Infinity row', () => {
    const k = kernel('lse', { x: f32('r', 'c') }, ({ x }) => ops.logsumexp(x, 'c'));
    const out = run(k, { x: mat(4, 3, [0, 1, 2, 1000, 1000, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 0, -Infinity]) });
    expectValues(out, [2.40760596444438, 1000.6931471805599, -Infinity, 0]);
  });

  it('integer sums and products wrap like the elementwise ops', () => {
    const sum = kernel('sum', { a: i32('i') }, ({ a }) => ops.sum(a, 'i'));
    expect(Array.from(run(sum, { a: vec([2147483647, 1, 1]) }).data)).toEqual([-2147483647]);
    const prod = kernel('prod', { a: i32('i') }, ({ a }) => ops.prod(a, 'i'));
    expect(Array.from(run(prod, { a: vec([65536, 65536, 3]) }).data)).toEqual([0]);
    const usum = kernel('sum', { a: u32('i') }, ({ a }) => ops.sum(a, 'i'));
    expect(Array.from(run(usum, { a: vec([4294967295, 2]) }).data)).toEqual([1]);
  });
});

describe('composites', () => {
  const rows = f32('r', 'c');

  it('softmax of a row, and of a row with masked (-Infinity) entries', () => {
    const k = kernel('softmax', { x: rows }, ({ x }) => ops.softmax(x, 'c'));
    const out = run(k, { x: mat(2, 3, [1, 2, 3, 0, -1, -Infinity]) });
    expectValues(out, [0.09003057317038046, 0.24472847105479764, 0.6652409557748218, 0.7310585786300049, 0.2689414213699951, 0]);
  });

  it('softmax of a row with no allowed entry gives zeros', () => {
    const k = kernel('softmax', { x: rows }, ({ x }) => ops.softmax(x, 'c'));
    expectValues(run(k, { x: mat(2, 2, [-Infinity, -Infinity, 0, 0]) }), [0, 0, 0.5, 0.5]);
  });

  it('softmax over the first axis keeps the tensor layout', () => {
    const k = kernel('softmax', { x: rows }, ({ x }) => ops.softmax(x, 'r'));
    const out = run(k, { x: mat(2, 2, [0, 5, 0, 5]) });
    expect(out.axes).toEqual(['r', 'c']);
    expectValues(out, [0.5, 0.5, 0.5, 0.5]);
  });

  it('log_softmax, with an all -Infinity row staying -Infinity', () => {
    const k = kernel('log_softmax', { x: rows }, ({ x }) => ops.logSoftmax(x, 'c'));
    const out = run(k, { x: mat(2, 3, [1, 2, 3, -Infinity, -Infinity, -Infinity]) });
    expectValues(out, [-2.4076059644443806, -1.4076059644443804, -0.4076059644443804, -Infinity, -Infinity, -Infinity]);
  });

  it('layer_norm uses the population variance and eps inside the square root', () => {
    const exact = kernel('ln', { x: rows }, ({ x }) => ops.layerNorm(x, 'c', 0));
    expectValues(run(exact, { x: mat(1, 4, [1, 2, 3, 4]) }), [-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738]);
    // var = 1.25, so with eps = 1 the divisor is sqrt(2.25) = 1.5.
    const withEps = kernel('ln', { x: rows }, ({ x }) => ops.layerNorm(x, 'c', 1));
    expectValues(run(withEps, { x: mat(1, 4, [1, 2, 3, 4]) }), [-1, -1 / 3, 1 / 3, 1]);
  });

  it('each composite is defined by a verified primitive graph', () => {
    const type = { dtype: 'f32' as const, axes: [{ name: 'i', size: 2 }, { name: 'j', size: 'n' }] };
    const softmax = definitionGraph({ op: 'composite', fn: 'softmax', arg: 0, axes: ['j'] }, type);
    verifyGraph(softmax);
    expect(printGraph(softmax)).toBe(
      [
        '%0 = input "x" : f32[i:2, j:n]',
        '%1 = reduce max(%0) over [j] : f32[i:2]',
        '%2 = map is_finite(%1) : bool[i:2]',
        '%3 = const 0 : f32[]',
        '%4 = map where(%2, %1, %3) : f32[i:2]',
        '%5 = map sub(%0, %4) : f32[i:2, j:n]',
        '%6 = map exp(%5) : f32[i:2, j:n]',
        '%7 = reduce sum(%6) over [j] : f32[i:2]',
        '%8 = const 1 : f32[]',
        '%9 = map max(%7, %8) : f32[i:2]',
        '%10 = map div(%6, %9) : f32[i:2, j:n]',
        'outputs out=%10',
      ].join('\n'),
    );
    const layerNorm = definitionGraph({ op: 'composite', fn: 'layer_norm', arg: 0, axes: ['j'], eps: 1e-5 }, type);
    verifyGraph(layerNorm);
    expect(printGraph(layerNorm)).toBe(
      [
        '%0 = input "x" : f32[i:2, j:n]',
        '%1 = reduce mean(%0) over [j] : f32[i:2]',
        '%2 = map sub(%0, %1) : f32[i:2, j:n]',
        '%3 = map mul(%2, %2) : f32[i:2, j:n]',
        '%4 = reduce mean(%3) over [j] : f32[i:2]',
        '%5 = const 0.00001 : f32[]',
        '%6 = map add(%4, %5) : f32[i:2]',
        '%7 = map sqrt(%6) : f32[i:2]',
        '%8 = map div(%2, %7) : f32[i:2, j:n]',
        'outputs out=%8',
      ].join('\n'),
    );
    verifyGraph(definitionGraph({ op: 'composite', fn: 'log_softmax', arg: 0, axes: ['i'] }, type));
  });
});

describe('relabel', () => {
  it('transpose reorders the data', () => {
    const k = kernel('t', { x: f32('i', 'j') }, ({ x }) => ops.transpose(x, ['j', 'i']));
    const out = run(k, { x: mat(2, 3, [0, 1, 2, 3, 4, 5]) });
    expect(out.axes).toEqual(['j', 'i']);
    expect(out.shape).toEqual([3, 2]);
    expectValues(out, [0, 3, 1, 4, 2, 5]);
  });

  it('two axes with one new name take the diagonal', () => {
    const k = kernel('diag', { x: f32('a', 'b').pin({ b: 'a' }) }, ({ x }) => ops.relabel(x, ['d', 'd']));
    const out = run(k, { x: mat(3, 3, [0, 1, 2, 3, 4, 5, 6, 7, 8]) });
    expect(out.axes).toEqual(['d']);
    expectValues(out, [0, 4, 8]);
  });

  it('a diagonal with a transposed result order', () => {
    // y[j, i] = x[i, j, i]
    const k = kernel('diag', { x: f32('a', 'b', 'c').pin({ c: 'a' }) }, ({ x }) => ops.relabel(x, ['i', 'j', 'i'], ['j', 'i']));
    const out = run(k, { x: { shape: [2, 3, 2], data: Array.from({ length: 12 }, (_, i) => i) } });
    expect(out.shape).toEqual([3, 2]);
    expectValues(out, [0, 7, 2, 9, 4, 11]);
  });

  it('rename keeps the data and changes the names', () => {
    const k = kernel('rename', { x: f32('i', 'j') }, ({ x }) => ops.rename(x, { j: 'k' }));
    const out = run(k, { x: mat(1, 2, [5, 6]) });
    expect(out.axes).toEqual(['i', 'k']);
    expectValues(out, [5, 6]);
  });
});

describe('iota and broadcasting', () => {
  it('iota gives i32 indices along an axis', () => {
    const k = kernel('iota', { x: f32('i', 'j') }, ({ x }) => ops.iota(x, 'j'));
    const out = run(k, { x: mat(2, 4, new Array(8).fill(0)) });
    expect(out.dtype).toBe('i32');
    expect(out.data).toBeInstanceOf(Int32Array);
    expect(Array.from(out.data)).toEqual([0, 1, 2, 3]);
  });

  it('iotaOf on a symbol no input carries takes its size from options.sizes', () => {
    const k = kernel('iota', { x: f32('i') }, () => ops.iotaOf('t', 'T'));
    expect(Array.from(run(k, { x: vec([0]) }, { sizes: { T: 3 } }).data)).toEqual([0, 1, 2]);
  });

  it('a causal mask from two iotas feeds a masked softmax', () => {
    const k = kernel('causal', { s: f32('i', 'j') }, ({ s }) => {
      const allowed = ops.ge(ops.iota(s, 'i'), ops.iota(s, 'j'));
      return ops.softmax(ops.where(allowed, s, -Infinity), 'j');
    });
    const out = run(k, { s: mat(2, 2, [7, 100, 3, 3]) });
    expect(out.axes).toEqual(['i', 'j']);
    expectValues(out, [1, 0, 0.5, 0.5]);
  });

  it('operands broadcast by axis name into the union of their axes', () => {
    const k = kernel('outer', { a: f32('i'), b: f32('j') }, ({ a, b }) => ops.add(a, b));
    const out = run(k, { a: vec([1, 2]), b: vec([10, 20, 30]) });
    expect(out.axes).toEqual(['i', 'j']);
    expectValues(out, [11, 21, 31, 12, 22, 32]);
    const k2 = kernel('col', { a: f32('i', 'j'), b: f32('i') }, ({ a, b }) => ops.mul(a, b));
    expectValues(run(k2, { a: mat(2, 2, [1, 2, 3, 4]), b: vec([10, -1]) }), [10, 20, -3, -4]);
  });

  it('a map over rank-0 tensors', () => {
    const k = kernel('scalar', { a: f32('i') }, ({ a }) => ops.mul(ops.sum(a, 'i'), 0.5));
    const out = run(k, { a: vec([1, 2, 3]) });
    expect(out.shape).toEqual([]);
    expectValues(out, [3]);
  });

  it('expand broadcasts into an axis no operand has', () => {
    const k = kernel('expand', { a: f32('i') }, ({ a }) => ops.expand(a, [{ name: 'k', size: 3 }]));
    const out = run(k, { a: vec([1, 2]) });
    expect(out.axes).toEqual(['i', 'k']);
    expect(out.shape).toEqual([2, 3]);
    expectValues(out, [1, 1, 1, 2, 2, 2]);
  });
});

describe('gather', () => {
  it('reads a table along an axis at computed positions, clamped into the axis', () => {
    // out[h, n, m] = t[h, clamp(n - m + 1, 0, 3)]: a relative-position lookup.
    const k = kernel('rel', { t: f32('h', 'r'), x: f32('n', 'm') }, ({ t, x }) => ops.gather(t, 'r', ops.add(ops.sub(ops.iota(x, 'n'), ops.iota(x, 'm')), 1)));
    const t = mat(2, 4, [0, 1, 2, 3, 10, 11, 12, 13]);
    const out = run(k, { t, x: mat(3, 3, new Array(9).fill(0)) });
    expect(out.axes).toEqual(['h', 'n', 'm']);
    // n - m + 1 over (n, m): [1, 0, -1], [2, 1, 0], [3, 2, 1]; -1 clamps to 0.
    expectValues(out, [1, 0, 0, 2, 1, 0, 3, 2, 1, 11, 10, 10, 12, 11, 10, 13, 12, 11]);
  });

  it('an axis the table and the index share selects the same position in both', () => {
    const k = kernel('pick', { t: f32('h', 'r'), i: i32('h', 'n') }, ({ t, i }) => ops.gather(t, 'r', i));
    const out = run(k, { t: mat(2, 3, [0, 1, 2, 10, 11, 12]), i: { shape: [2, 2], data: Int32Array.from([2, 0, 1, 7]), dtype: 'i32' } });
    expect(out.axes).toEqual(['h', 'n']);
    expectValues(out, [2, 0, 11, 12]);
  });
});

describe('contractions', () => {
  it('contract multiplies operands and sums the axes that leave', () => {
    const k = kernel('mm', { a: f32('i', 'j'), b: f32('j', 'k') }, ({ a, b }) => ops.contract([a, b], ['k', 'i']));
    // a = [[1, 2], [3, 4]], b = [[5, 6], [7, 8]]: (a b) = [[19, 22], [43, 50]], laid out as [k, i].
    const out = run(k, { a: mat(2, 2, [1, 2, 3, 4]), b: mat(2, 2, [5, 6, 7, 8]) });
    expect(out.axes).toEqual(['k', 'i']);
    expectValues(out, [19, 43, 22, 50]);
  });

  it('einsum with a diagonal, a trace and an outer product', () => {
    const k = kernel('es', { a: f32('i', 'j').pin({ j: 'i' }), v: f32('k') }, ({ a, v }) => ({
      diag: einsum('ii->i', a),
      trace: einsum('ii->', a),
      outer: einsum('ii,k->ik', a, v),
    }));
    const out = interpretKernel(k, { a: mat(2, 2, [1, 2, 3, 4]), v: vec([10, 100]) });
    expectValues(out['diag']!, [1, 4]);
    expectValues(out['trace']!, [5]);
    expectValues(out['outer']!, [10, 100, 40, 400]);
  });

  it('i32 contractions wrap', () => {
    const k = kernel('dot', { a: i32('i'), b: i32('i') }, ({ a, b }) => ops.contract([a, b], []));
    expect(Array.from(run(k, { a: vec([65536, 1]), b: vec([32768, 5]) }).data)).toEqual([-2147483648 + 5]);
  });
});

describe('loops', () => {
  const doubling = (count: number) =>
    kernel('loop', { x: f32('i'), c: f32('i') }, ({ x, c }) => ops.loop(count, [x], (y) => [ops.add(ops.mul(y, 2), c)])[0]);

  it('runs the body count times on the carried value, reading a captured tensor', () => {
    // y <- 2y + c three times from [1, 2] with c = [1, 0].
    expectValues(run(doubling(3), { x: vec([1, 2]), c: vec([1, 0]) }), [15, 16]);
  });

  it('count 0 returns the initial value', () => {
    expectValues(run(doubling(0), { x: vec([1, 2]), c: vec([1, 0]) }), [1, 2]);
  });

  it('carries several values at once', () => {
    const k = kernel('fib', { a: f32('i'), b: f32('i') }, ({ a, b }) => {
      const [x, y] = ops.loop(5, [a, b], (p, q) => [q, ops.add(p, q)]);
      return { x, y };
    });
    const out = interpretKernel(k, { a: vec([0]), b: vec([1]) });
    expectValues(out['x']!, [5]);
    expectValues(out['y']!, [8]);
  });

  it('a nested loop captures a tensor through both bodies', () => {
    const k = kernel('nested', { x: f32('i'), c: f32('i') }, ({ x, c }) =>
      ops.loop(2, [x], (outer) => [ops.loop(3, [outer], (inner) => [ops.add(inner, c)])[0]])[0],
    );
    expectValues(run(k, { x: vec([0, 1]), c: vec([1, 10]) }), [6, 61]);
  });
});

describe('params', () => {
  it('an f32 param is rounded to f32 only in f32 mode', () => {
    const k = kernel('scale', { x: f32('i'), s: param() }, ({ x, s }) => ops.mul(x, s));
    expectValues(run(k, { x: vec([1, 2]) }, { params: { s: 0.1 } }), [0.1, 0.2]);
    expect(Array.from(run(k, { x: vec([1]) }, { params: { s: 0.1 }, precision: 'f32' }).data)).toEqual([0.10000000149011612]);
  });

  it('an i32 param', () => {
    const k = kernel('shift', { x: i32('i'), n: param('i32') }, ({ x, n }) => ops.add(x, n));
    expect(Array.from(run(k, { x: vec([1, 2]) }, { params: { n: -5 } }).data)).toEqual([-4, -3]);
  });
});

describe('precision', () => {
  const big = vec([16777216, 1, 1]);

  it('f32 mode rounds every partial sum, as f32 accumulation on a GPU does', () => {
    const sum = kernel('sum', { x: f32('i') }, ({ x }) => ops.sum(x, 'i'));
    expectValues(run(sum, { x: big }), [16777218]);
    expectValues(run(sum, { x: big }, { precision: 'f32' }), [16777216]);
    const dot = kernel('dot', { x: f32('i'), y: f32('i') }, ({ x, y }) => einsum('i,i->', x, y));
    expectValues(run(dot, { x: big, y: vec([1, 1, 1]) }), [16777218]);
    expectValues(run(dot, { x: big, y: vec([1, 1, 1]) }, { precision: 'f32' }), [16777216]);
  });

  it('f32 mode rounds inputs and scalar results and returns Float32Array', () => {
    const k = kernel('addexp', { a: f32('i'), b: f32('i') }, ({ a, b }) => ({ sum: ops.add(a, b), e: ops.exp(a) }));
    const f64 = interpretKernel(k, { a: vec([0.1, 1]), b: vec([0.2, 0]) });
    expect(f64['sum']!.data).toBeInstanceOf(Float64Array);
    expect(Array.from(f64['sum']!.data)).toEqual([0.30000000000000004, 1]);
    const f32mode = interpretKernel(k, { a: vec([0.1, 1]), b: vec([0.2, 0]) }, { precision: 'f32' });
    expect(f32mode['sum']!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f32mode['sum']!.data)).toEqual([0.30000001192092896, 1]);
    expect(f32mode['e']!.data[1]).toBe(2.7182817459106445);
  });

  it('f64 mode keeps every bit of a Float64Array input', () => {
    const k = kernel('id', { a: f32('i') }, ({ a }) => ops.mul(a, 1));
    expect(Array.from(run(k, { a: { shape: [1], data: new Float64Array([0.1]) } }).data)).toEqual([0.1]);
  });
});

describe('interpret on a graph', () => {
  it('outputs never alias the inputs or each other', () => {
    const k = kernel('same', { a: f32('i') }, ({ a }) => ({ p: a, q: a }));
    const input = new Float64Array([1, 2]);
    const out = interpret(k.trace(), { a: { shape: [2], data: input } });
    expect(out['p']!.data).not.toBe(input);
    expect(out['q']!.data).not.toBe(out['p']!.data);
    out['p']!.data[0] = 99;
    expect(Array.from(out['q']!.data)).toEqual([1, 2]);
    expect(Array.from(input)).toEqual([1, 2]);
  });

  it('does not evaluate nodes no output depends on', () => {
    // The unused iota's symbol is bound nowhere: evaluating it would throw.
    const k = kernel('dead', { a: f32('i') }, ({ a }) => {
      ops.iotaOf('unused', 'U');
      return ops.neg(a);
    });
    expectValues(run(k, { a: vec([1]) }), [-1]);
  });
});
