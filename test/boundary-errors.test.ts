/**
 * Boundary values: what a caller passes is either held exactly by the dtype or refused with an
 * error naming the input (or parameter) and the element — never truncated, wrapped or overflowed
 * silently, and the same on the interpreter, the CPU backend and WebGPU (they share
 * `dsl/bind.ts`): plain-array elements an i32, u32 or bool cannot hold, f32 values past the f32
 * range (which the GPU would make infinite while the float64 interpreter kept them), parameters
 * likewise, and shapes that are not lists of numbers.
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../compiler/index.ts';
import { add, bool, f32, i32, kernel, mul, not, param, u32, type Kernel } from '../dsl/index.ts';
import { TesseraError, type HostTensor } from '../dsl/types.ts';
import { interpret } from '../interpreter/index.ts';
import { createCpuBackend, type Backend } from '../runtime/index.ts';
import { describeGPU } from './gpu.ts';

const I32_RANGE = 'whole numbers in [-2147483648, 2147483647]';
const U32_RANGE = 'whole numbers in [0, 4294967295]';
const F32_MAX = 'largest finite f32 is 3.4028234663852886e+38';

const addI = kernel('addi', { x: i32('n') }, ({ x }) => add(x, 1));
const addU = kernel('addu', { x: u32('n') }, ({ x }) => add(x, 1));
const flip = kernel('flip', { m: bool('n') }, ({ m }) => not(m));
const scale = kernel('scale', { x: f32('n'), s: param() }, ({ x, s }) => mul(x, s));
const shift = kernel('shift', { x: i32('n'), k: param('i32') }, ({ x, k }) => add(x, k));
const shiftU = kernel('shiftu', { x: u32('n'), k: param('u32') }, ({ x, k }) => add(x, k));
const gate = kernel('gate', { m: bool('n'), on: param('bool') }, ({ m, on }) => ({ out: not(m), on: not(on) }));
const matrix = kernel('matrix', { x: f32('r', 'c') }, ({ x }) => add(x, 1));

interface BadCall {
  readonly what: string;
  readonly kernel: Kernel;
  readonly inputs: Record<string, HostTensor>;
  readonly params?: Record<string, number>;
  readonly message: string;
}

const BAD: readonly BadCall[] = [
  { what: 'an i32 plain array holding 1.7', kernel: addI, inputs: { x: { shape: [3], data: [1.7, NaN, 3e10] } }, message: `input 'x': element 0 is 1.7, which an i32 cannot hold (${I32_RANGE})` },
  { what: 'an i32 plain array holding NaN', kernel: addI, inputs: { x: { shape: [3], data: [1, NaN, 3e10] } }, message: `input 'x': element 1 is NaN, which an i32 cannot hold (${I32_RANGE})` },
  { what: 'an i32 plain array holding 3e10', kernel: addI, inputs: { x: { shape: [3], data: [1, 2, 3e10] } }, message: `input 'x': element 2 is 30000000000, which an i32 cannot hold (${I32_RANGE})` },
  { what: 'an i32 plain array holding 2^31', kernel: addI, inputs: { x: { shape: [2], data: [-2147483648, 2147483648] } }, message: `input 'x': element 1 is 2147483648, which an i32 cannot hold (${I32_RANGE})` },
  { what: 'a u32 plain array holding -1', kernel: addU, inputs: { x: { shape: [2], data: [4294967295, -1] } }, message: `input 'x': element 1 is -1, which a u32 cannot hold (${U32_RANGE})` },
  { what: 'a bool plain array holding 2', kernel: flip, inputs: { m: { shape: [3], data: [true, 0, 2] as never } }, message: "input 'm': element 2 is 2, which a bool cannot hold (true, false, 0 or 1)" },
  { what: 'a bool plain array holding a string', kernel: flip, inputs: { m: { shape: [1], data: ['yes'] as never } }, message: "input 'm': element 0 is 'yes', which a bool cannot hold (true, false, 0 or 1)" },
  { what: 'an f32 plain array holding a string', kernel: scale, inputs: { x: { shape: [2], data: [1, '2'] as never } }, params: { s: 1 }, message: "input 'x': element 1 is '2', not a number" },
  { what: 'an f32 plain array holding null', kernel: scale, inputs: { x: { shape: [2], data: [null, 1] as never } }, params: { s: 1 }, message: "input 'x': element 0 is null, not a number" },
  { what: 'an f32 plain array holding 1e39', kernel: scale, inputs: { x: { shape: [2], data: [1, 1e39] } }, params: { s: 1 }, message: `input 'x': element 1 is 1e+39, which an f32 cannot hold (${F32_MAX})` },
  { what: 'a Float64Array holding -1e39', kernel: scale, inputs: { x: { shape: [2], data: new Float64Array([-1e39, 1]) } }, params: { s: 1 }, message: `input 'x': element 0 is -1e+39, which an f32 cannot hold (${F32_MAX})` },
  { what: 'an f32 parameter of 1e39', kernel: scale, inputs: { x: { shape: [1], data: [1] } }, params: { s: 1e39 }, message: `parameter 's' is 1e+39, which an f32 cannot hold (${F32_MAX})` },
  { what: 'an i32 parameter of 1.5', kernel: shift, inputs: { x: { shape: [1], data: [1] } }, params: { k: 1.5 }, message: `parameter 'k' is 1.5, which an i32 cannot hold (${I32_RANGE})` },
  { what: 'an i32 parameter of 3e10', kernel: shift, inputs: { x: { shape: [1], data: [1] } }, params: { k: 3e10 }, message: `parameter 'k' is 30000000000, which an i32 cannot hold (${I32_RANGE})` },
  { what: 'an i32 parameter of Infinity', kernel: shift, inputs: { x: { shape: [1], data: [1] } }, params: { k: Infinity }, message: `parameter 'k' is Infinity, which an i32 cannot hold (${I32_RANGE})` },
  { what: 'a u32 parameter of -1', kernel: shiftU, inputs: { x: { shape: [1], data: [1] } }, params: { k: -1 }, message: `parameter 'k' is -1, which a u32 cannot hold (${U32_RANGE})` },
  { what: 'a bool parameter of 2', kernel: gate, inputs: { m: { shape: [1], data: [true] } }, params: { on: 2 }, message: "parameter 'on' is 2, which a bool cannot hold (0 or 1)" },
  { what: 'a shape of strings', kernel: matrix, inputs: { x: { shape: ['4', '3'] as never, data: new Float32Array(12) } }, message: "input 'x': shape must be an array of whole numbers, got ['4', '3']" },
  { what: 'a shape holding null', kernel: matrix, inputs: { x: { shape: [4, null] as never, data: new Float32Array(4) } }, message: "input 'x': shape must be an array of whole numbers, got [4, null]" },
];

/** Values every dtype holds exactly, as plain arrays and as typed arrays, with what they compute. */
const GOOD: readonly { what: string; kernel: Kernel; inputs: Record<string, HostTensor>; params?: Record<string, number>; want: Record<string, number[]> }[] = [
  { what: 'i32 extremes in a plain array', kernel: addI, inputs: { x: { shape: [3], data: [-2147483648, 0, 2147483646] } }, want: { out: [-2147483647, 1, 2147483647] } },
  { what: 'an Int32Array as it is', kernel: addI, inputs: { x: { shape: [2], data: new Int32Array([5, -6]) } }, want: { out: [6, -5] } },
  { what: 'u32 extremes in a plain array', kernel: addU, inputs: { x: { shape: [2], data: [0, 4294967294] } }, want: { out: [1, 4294967295] } },
  { what: 'booleans and 0/1 in a plain array', kernel: flip, inputs: { m: { shape: [4], data: [true, false, 0, 1] as never } }, want: { out: [0, 1, 1, 0] } },
  { what: 'the largest f32 (and a value that rounds to it)', kernel: scale, inputs: { x: { shape: [3], data: [3.4028235e38, -3.4028234663852886e38, 2] } }, params: { s: 1 }, want: { out: [3.4028234663852886e38, -3.4028234663852886e38, 2] } },
  { what: 'parameters at the edges of their dtypes', kernel: shift, inputs: { x: { shape: [1], data: [0] } }, params: { k: -2147483648 }, want: { out: [-2147483648] } },
  { what: 'a bool parameter of 1', kernel: gate, inputs: { m: { shape: [1], data: [false] } }, params: { on: 1 }, want: { out: [1], on: [0] } },
];

async function runOn(backend: Backend, c: { kernel: Kernel; inputs: Record<string, HostTensor>; params?: Record<string, number> }): Promise<Record<string, number[]>> {
  const outputs = await backend.run(compile(c.kernel.trace(), { name: c.kernel.kernelName }), c.inputs, c.params ?? {});
  const results: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(outputs)) {
    results[name] = Array.from(await t.read());
    t.destroy();
  }
  return results;
}

describe('boundary values on the interpreter and the CPU backend', () => {
  for (const c of BAD) {
    it(`refuses ${c.what}`, async () => {
      expect(() => interpret(c.kernel.trace(), c.inputs, { params: c.params ?? {} })).toThrow(new TesseraError(c.message));
      await expect(runOn(createCpuBackend(), c)).rejects.toThrow(new TesseraError(c.message));
    });
  }

  for (const c of GOOD) {
    it(`accepts ${c.what}`, async () => {
      expect(await runOn(createCpuBackend(), c)).toEqual(c.want);
    });
  }

  it('upload refuses the same values and shapes, naming the upload', () => {
    const cpu = createCpuBackend();
    expect(() => cpu.upload({ shape: [2], data: [1, 2.5] }, 'i32')).toThrow(new TesseraError(`input 'upload': element 1 is 2.5, which an i32 cannot hold (${I32_RANGE})`));
    expect(() => cpu.upload({ shape: [1], data: [1e39] })).toThrow(new TesseraError(`input 'upload': element 0 is 1e+39, which an f32 cannot hold (${F32_MAX})`));
    expect(() => cpu.upload({ shape: ['2'] as never, data: [1, 2] })).toThrow(new TesseraError("upload: shape must be an array of whole numbers, got ['2']"));
  });
});

describeGPU('boundary values on WebGPU', (gpu) => {
  for (const c of BAD) {
    it(`refuses ${c.what} with the CPU backend's message`, async () => {
      await expect(runOn(gpu, c)).rejects.toThrow(new TesseraError(c.message));
    });
  }

  for (const c of GOOD) {
    it(`accepts ${c.what}`, async () => {
      expect(await runOn(gpu, c)).toEqual(c.want);
    });
  }

  it('upload refuses the same values and shapes, naming the upload', () => {
    expect(() => gpu.upload({ shape: [2], data: [1, 2.5] }, 'i32')).toThrow(new TesseraError(`input 'upload': element 1 is 2.5, which an i32 cannot hold (${I32_RANGE})`));
    expect(() => gpu.upload({ shape: [1], data: [1e39] })).toThrow(new TesseraError(`input 'upload': element 0 is 1e+39, which an f32 cannot hold (${F32_MAX})`));
    expect(() => gpu.upload({ shape: ['2'] as never, data: [1, 2] })).toThrow(new TesseraError("upload: shape must be an array of whole numbers, got ['2']"));
  });
});
