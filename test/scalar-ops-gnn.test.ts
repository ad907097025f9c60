/**
 * The scalar ops graph attention needs: leaky_relu (GAT's edge-logit nonlinearity) and the integer
 * bit ops (edge hashing, packed masks). Interpreter semantics against hand-worked values and a
 * BigInt model of 32-bit words (negative i32, u32 above 2^31, shift amounts of 32 and more), their
 * type rules and WGSL text, then WebGPU against the interpreter, one kernel per op group.
 */
import { describe, expect, it } from 'vitest';
import * as T from '../index.ts';
import type { HostTensor, Kernel, Tensor } from '../index.ts';
import { scalarOp } from '../dsl/scalar-ops.ts';
import { describeGPU } from './gpu.ts';

const vec = (data: readonly number[] | readonly boolean[] | Float32Array | Int32Array | Uint32Array): HostTensor => ({ shape: [data.length], data });

/** Runs a kernel on the f64 interpreter and returns its only output. */
function only(k: Kernel, inputs: Record<string, HostTensor>): T.InterpretedTensor {
  const out = T.interpretKernel(k, inputs);
  const names = Object.keys(out);
  expect(names).toHaveLength(1);
  return out[names[0]!]!;
}

/** Same value for tests: -0 and 0 differ, NaN equals NaN. */
function expectSameValues(got: ArrayLike<number>, want: readonly number[]): void {
  const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
  expect(Array.from(got, show)).toEqual(want.map(show));
}

describe('leaky_relu on the interpreter', () => {
  const X = [-2, -0.5, 0, -0, 3, NaN, Infinity, -Infinity];

  it('is x for x >= 0 (+∞ and -0 included), slope · x below, NaN for NaN', () => {
    const k = T.kernel('leaky', { x: T.f32('i') }, ({ x }) => ({ y: T.leakyRelu(x, 0.25) }));
    const y = only(k, { x: vec(X) });
    expect(y.dtype).toBe('f32');
    expectSameValues(y.data, [-0.5, -0.125, 0, -0, 3, NaN, Infinity, -Infinity]);
  });

  it('defaults to a slope of 0.01', () => {
    const k = T.kernel('leaky default', { x: T.f32('i') }, ({ x }) => ({ y: T.leakyRelu(x) }));
    const y = only(k, { x: vec([-2, 5, -100]) });
    expect(y.data[0]).toBeCloseTo(-0.02, 12);
    expect(y.data[1]).toBe(5);
    expect(y.data[2]).toBeCloseTo(-1, 12);
  });

  it('takes −∞ to slope · −∞: +∞ for a negative slope, NaN for a zero slope', () => {
    const k = T.kernel('leaky slopes', { x: T.f32('i'), s: T.f32('i') }, ({ x, s }) => ({ y: T.leakyRelu(x, s) }));
    const y = only(k, { x: vec([-Infinity, -Infinity, -Infinity, -1, 2, -1]), s: vec([2, -2, 0, Infinity, NaN, NaN]) });
    expectSameValues(y.data, [-Infinity, Infinity, NaN, -Infinity, 2, NaN]);
  });

  it('broadcasts a slope tensor by axis name (a slope per head)', () => {
    const k = T.kernel('leaky heads', { x: T.f32('h', 'e'), s: T.f32('h') }, ({ x, s }) => ({ y: T.leakyRelu(x, s) }));
    const y = only(k, { x: { shape: [2, 3], data: [-1, 0, 2, -4, 1, -8] }, s: vec([0.5, 0.25]) });
    expect(y.shape).toEqual([2, 3]);
    expectSameValues(y.data, [-0.5, 0, 2, -1, 1, -2]);
  });

  it('needs f32 operands', () => {
    const k = T.kernel('leaky int', { n: T.i32('i') }, ({ n }) => ({ y: T.leakyRelu(n as never, 0.5) }));
    expect(() => T.interpretKernel(k, { n: vec(Int32Array.from([1])) })).toThrow('leaky_relu: needs f32 operands, got i32');
  });
});

// ---- bit ops ----------------------------------------------------------------------------------

type Dt = 'i32' | 'u32';
type BitOp = 'bit_and' | 'bit_or' | 'bit_xor' | 'shift_left' | 'shift_right';

/** The ops' meaning on 32-bit words, written with BigInt (no JS int32 operators involved). */
function model(op: BitOp, a: number, b: number, d: Dt): number {
  const word = (x: bigint) => Number(d === 'i32' ? BigInt.asIntN(32, x) : BigInt.asUintN(32, x));
  const A = BigInt(a);
  const B = BigInt(b);
  const amount = BigInt.asUintN(32, B) % 32n;
  switch (op) {
    case 'bit_and':
      return word(A & B);
    case 'bit_or':
      return word(A | B);
    case 'bit_xor':
      return word(A ^ B);
    case 'shift_left':
      return word(A << amount);
    case 'shift_right':
      // BigInt >> is arithmetic: on i32 operands (negative ones stay negative) that is the rule;
      // u32 operands are never negative, so it is also the logical shift.
      return word(A >> amount);
  }
}

const OPS: [BitOp, (a: Tensor, b: Tensor) => Tensor][] = [
  ['bit_and', T.bitAnd as never],
  ['bit_or', T.bitOr as never],
  ['bit_xor', T.bitXor as never],
  ['shift_left', T.shiftLeft as never],
  ['shift_right', T.shiftRight as never],
];

const I32_A = [-8, -1, 5, 2147483647, -2147483648, 12, 1, 1, -8, 0x12345678, -123456789, 7];
const I32_B = [1, 31, 32, 1, 33, -1, -1, 31, 64, -5, 3, 0];
const U32_A = [0x80000000, 0xffffffff, 3000000000, 1, 0xdeadbeef, 0x80000001, 7, 2, 0xf0f0f0f0, 0];
const U32_B = [31, 4, 0xffffffff, 32, 0x12345678, 1, 0, 33, 0x0ff00ff0, 0x80000000];

/** A kernel with one output per bit op over two same-dtype vectors. */
function bitKernel(d: Dt): Kernel {
  const spec = d === 'i32' ? T.i32 : T.u32;
  return T.kernel(`bits ${d}`, { a: spec('i'), b: spec('i') }, ({ a, b }) => Object.fromEntries(OPS.map(([name, fn]) => [name, fn(a, b)])));
}

describe('bit ops on the interpreter', () => {
  for (const [d, a, b] of [
    ['i32', I32_A, I32_B],
    ['u32', U32_A, U32_B],
  ] as const) {
    it(`${d}: every op matches a BigInt model of 32-bit words, bit for bit`, () => {
      const typed = (v: readonly number[]) => (d === 'i32' ? Int32Array.from(v) : Uint32Array.from(v));
      const out = T.interpretKernel(bitKernel(d), { a: vec(typed(a)), b: vec(typed(b)) });
      for (const [name] of OPS) {
        expect(out[name]!.dtype, name).toBe(d);
        expect(out[name]!.data, name).toBeInstanceOf(d === 'i32' ? Int32Array : Uint32Array);
        expect(Array.from(out[name]!.data), name).toEqual(a.map((x, i) => model(name, x, b[i]!, d)));
      }
    });
  }

  it('worked examples: arithmetic vs logical right shifts, amounts modulo 32', () => {
    const i = (fn: (a: Tensor, b: Tensor) => Tensor, a: number[], b: number[]) => Array.from(only(T.kernel('i', { a: T.i32('i'), b: T.i32('i') }, ({ a, b }) => ({ y: fn(a, b) })), { a: vec(Int32Array.from(a)), b: vec(Int32Array.from(b)) }).data);
    const u = (fn: (a: Tensor, b: Tensor) => Tensor, a: number[], b: number[]) => Array.from(only(T.kernel('u', { a: T.u32('i'), b: T.u32('i') }, ({ a, b }) => ({ y: fn(a, b) })), { a: vec(Uint32Array.from(a)), b: vec(Uint32Array.from(b)) }).data);
    const { bit_and: and, bit_or: or, bit_xor: xor, shift_left: shl, shift_right: shr } = Object.fromEntries(OPS) as Record<BitOp, (a: Tensor, b: Tensor) => Tensor>;
    expect(i(shr!, [-8, -1, -8, -2147483648], [1, 40, 32, 31])).toEqual([-4, -1, -8, -1]);
    expect(u(shr!, [0xfffffff8, 0x80000000, 0x80000000], [1, 31, 32])).toEqual([0x7ffffffc, 1, 0x80000000]);
    expect(i(shl!, [1, 1, 1, 3], [31, 32, -1, 30])).toEqual([-2147483648, 1, -2147483648, -1073741824]);
    expect(u(shl!, [1, 0xffffffff, 3], [31, 4, 33])).toEqual([0x80000000, 0xfffffff0, 6]);
    expect(i(and!, [-1, -8], [0x0f0f, 7])).toEqual([0x0f0f, 0]);
    expect(i(or!, [-8, 0], [7, -2147483648])).toEqual([-1, -2147483648]);
    expect(u(xor!, [0xffffffff, 0x80000000], [0x0000ffff, 0x80000000])).toEqual([0xffff0000, 0]);
  });

  it('takes a number as the other operand in the tensor’s dtype', () => {
    const k = T.kernel('masks', { a: T.u32('i') }, ({ a }) => ({ lo: T.bitAnd(a, 0xff), hi: T.shiftRight(a, 24), up: T.shiftLeft(3, T.bitAnd(a, 7)) }));
    const out = T.interpretKernel(k, { a: vec(Uint32Array.from([0xdeadbeef, 0x01020304])) });
    expect(Array.from(out.lo!.data)).toEqual([0xef, 0x04]);
    expect(Array.from(out.hi!.data)).toEqual([0xde, 0x01]);
    expect(Array.from(out.up!.data)).toEqual([3 << 7, 3 << 4]);
  });

  it('rejects f32 and bool operands, and mixed integer dtypes', () => {
    const f = T.kernel('f', { a: T.f32('i') }, ({ a }) => ({ y: T.bitAnd(a as never, 1) }));
    expect(() => T.interpretKernel(f, { a: vec([1]) })).toThrow('bit_and: needs i32 or u32 operands, got f32');
    const b = T.kernel('b', { a: T.bool('i') }, ({ a }) => ({ y: T.shiftLeft(a as never, a as never) }));
    expect(() => T.interpretKernel(b, { a: vec([true]) })).toThrow('shift_left: needs i32 or u32 operands, got bool');
    const m = T.kernel('m', { a: T.i32('i'), b: T.u32('i') }, ({ a, b }) => ({ y: T.bitOr(a, b as never) }));
    expect(() => T.interpretKernel(m, { a: vec(Int32Array.from([1])), b: vec(Uint32Array.from([1])) })).toThrow(
      'bit_or: operand dtypes i32 and u32 differ; cast one operand first (toF32, toI32, toU32)',
    );
  });
});

describe('WGSL emission', () => {
  it('masks shift amounts to 5 bits, as u32', () => {
    expect(scalarOp('shift_left').wgsl(['a', 'b'], ['i32', 'i32'])).toBe('(a << (u32(b) & 31u))');
    expect(scalarOp('shift_right').wgsl(['a', 'b'], ['i32', 'i32'])).toBe('(a >> (u32(b) & 31u))');
    expect(scalarOp('shift_left').wgsl(['a', 'b'], ['u32', 'u32'])).toBe('(a << (b & 31u))');
    expect(scalarOp('shift_right').wgsl(['a', 'b'], ['u32', 'u32'])).toBe('(a >> (b & 31u))');
    expect(scalarOp('bit_xor').wgsl(['a', 'b'], ['u32', 'u32'])).toBe('(a ^ b)');
  });

  it('has leaky_relu evaluate its operand once, and carry non-finite values through xf_mul', () => {
    const op = scalarOp('leaky_relu');
    expect(op.wgsl(['x', 's'], ['f32', 'f32'])).toBe('ts_leaky_relu(x, s)');
    expect(op.xf?.emit(['x', 's'], ['f32', 'f32'])).toBe('xf_leaky_relu(x, s)');
    expect(op.xf?.own?.['xf_leaky_relu']?.needs).toEqual(['xf_mul']);
    expect(op.singular).toBeUndefined();
  });
});

// ---- WebGPU against the interpreter ---------------------------------------------------------

/** Equal as values: integers and non-finite floats exactly, finite floats within `rtol`. */
function same(got: number, want: number, rtol: number): boolean {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (!Number.isFinite(want) || Number.isInteger(want)) return got === want;
  return Math.abs(got - want) <= rtol * Math.abs(want);
}

async function expectGpuMatches(gpu: T.Backend, k: Kernel, inputs: Record<string, HostTensor>, rtol = 0): Promise<void> {
  const got = await T.run(k, inputs, gpu);
  const want = T.interpretKernel(k, inputs, { precision: 'f32' });
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    expect(g.shape, `${name} shape`).toEqual(w.shape);
    expect(g.dtype, `${name} dtype`).toBe(w.dtype);
    for (let i = 0; i < w.data.length; i++) {
      if (!same(g.data[i]!, w.data[i]!, rtol)) expect.fail(`${k.kernelName} output '${name}' at ${i}: GPU ${g.data[i]} vs interpreter ${w.data[i]} (GPU ${Array.from(g.data).join(', ')})`);
    }
  }
}

describeGPU('graph-attention scalar ops on WebGPU match the interpreter', (gpu) => {
  it('i32 bit ops, negative operands and amounts of 32 and more included', async () => {
    await expectGpuMatches(gpu, bitKernel('i32'), { a: vec(Int32Array.from(I32_A)), b: vec(Int32Array.from(I32_B)) });
  });

  it('u32 bit ops, operands above 2^31 included', async () => {
    await expectGpuMatches(gpu, bitKernel('u32'), { a: vec(Uint32Array.from(U32_A)), b: vec(Uint32Array.from(U32_B)) });
  });

  it('leaky_relu on finite values (plain WGSL) and on ±∞ and NaN inputs (xf)', async () => {
    // x is an f32 input, so it may hold anything and goes through xf_leaky_relu; toF32(n) of an
    // i32 input is finite and takes the plain ts_leaky_relu.
    const k = T.kernel('leaky', { x: T.f32('h', 'e'), n: T.i32('h', 'e'), s: T.f32('h') }, ({ x, n, s }) => ({
      xs: T.leakyRelu(x, s),
      xd: T.leakyRelu(x),
      ns: T.leakyRelu(T.mul(T.toF32(n), 0.5), s),
      nd: T.leakyRelu(T.toF32(n), 0.2),
    }));
    const wgsl = T.compile(k.trace()).kernels.map((kernel) => kernel.wgsl).join('\n');
    expect(wgsl).toContain('xf_leaky_relu(');
    expect(wgsl).toContain('ts_leaky_relu(');
    const x = Float32Array.from([-2, -0.5, 0, -0, 3, NaN, Infinity, -Infinity, -1e30, 7.25, -3.5, 1]);
    const n = Int32Array.from([-7, -1, 0, 1, 5, -1000, 12, -3, 8, -9, 2, -2]);
    await expectGpuMatches(gpu, k, { x: { shape: [3, 4], data: x }, n: { shape: [3, 4], data: n }, s: vec(Float32Array.from([0.25, -0.5, 0])) }, 1e-6);
  });
});
