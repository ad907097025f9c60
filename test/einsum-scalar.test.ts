/**
 * einsum on rank-0 operands, as numpy has it: an empty term is a scalar operand, so `'->'` and the
 * implicit `''` return the scalar, `','` multiplies two scalars, and scalars mix with tensors
 * (`'i,->i'` scales a vector). Exact numbers (all representable in f32) through the interpreter,
 * the library's `einsumKernel`, and `run()` on WebGPU.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { einsum, f32, interpretKernel, kernel, run, TesseraError, type Tensor } from '../index.ts';
import type { HostTensor, Kernel } from '../index.ts';
import { einsumKernel } from '../kernels/index.ts';
import { describeGPU } from './gpu.ts';

const scalar = (value: number): HostTensor => ({ shape: [], data: [value] });

/** Each case: a spec, its operands, and numpy's result (shape and values). */
interface Case {
  readonly spec: string;
  readonly operands: readonly HostTensor[];
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

const v3: HostTensor = { shape: [3], data: [1, -2, 3] };
const m23: HostTensor = { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] };

// Results worked out by hand from numpy's definitions (np.einsum gives the same).
const CASES: readonly Case[] = [
  { spec: '->', operands: [scalar(3.5)], shape: [], data: [3.5] },
  { spec: '', operands: [scalar(-1.25)], shape: [], data: [-1.25] },
  { spec: ',->', operands: [scalar(2.5), scalar(-4)], shape: [], data: [-10] },
  { spec: ',', operands: [scalar(2.5), scalar(-4)], shape: [], data: [-10] },
  { spec: ',,->', operands: [scalar(2), scalar(3), scalar(-0.5)], shape: [], data: [-3] },
  { spec: 'i,->i', operands: [v3, scalar(2.5)], shape: [3], data: [2.5, -5, 7.5] },
  { spec: 'i,', operands: [v3, scalar(2.5)], shape: [3], data: [2.5, -5, 7.5] },
  { spec: ',i->i', operands: [scalar(-2), v3], shape: [3], data: [-2, 4, -6] },
  { spec: ',i->', operands: [scalar(-2), v3], shape: [], data: [-4] },
  { spec: 'ij,->ji', operands: [m23, scalar(0.5)], shape: [3, 2], data: [0.5, 2, 1, 2.5, 1.5, 3] },
  { spec: 'ij,->', operands: [m23, scalar(0.5)], shape: [], data: [10.5] },
  { spec: '...,...->...', operands: [scalar(3), scalar(-2)], shape: [], data: [-6] },
  { spec: '...,...', operands: [scalar(3), scalar(-2)], shape: [], data: [-6] },
  { spec: '...,i->i', operands: [scalar(3), v3], shape: [3], data: [3, -6, 9] },
];

/** A kernel applying `spec` to inputs `x0, x1, ...` of the operands' ranks (axes named positionally). */
function kernelFor(c: Case): Kernel {
  const specs = Object.fromEntries(c.operands.map((t, i) => [`x${i}`, f32(...t.shape.map((_, j) => `a${i}_${j}`))]));
  const untyped = einsum as unknown as (spec: string, ...operands: readonly Tensor[]) => Tensor;
  return kernel(`einsum '${c.spec}'`, specs, (inputs) => ({ out: untyped(c.spec, ...c.operands.map((_, i) => (inputs as Record<string, Tensor>)[`x${i}`]!)) }));
}

const inputsOf = (c: Case): Record<string, HostTensor> => Object.fromEntries(c.operands.map((t, i) => [`x${i}`, t]));

describe('einsum on rank-0 operands (interpreter)', () => {
  for (const c of CASES) {
    it(`'${c.spec}' in the DSL`, () => {
      for (const precision of ['f64', 'f32'] as const) {
        const out = interpretKernel(kernelFor(c), inputsOf(c), { precision }).out!;
        expect(out.shape, precision).toEqual(c.shape);
        expect(Array.from(out.data), precision).toEqual(c.data);
      }
    });

    it(`'${c.spec}' through einsumKernel`, () => {
      const k = einsumKernel(c.spec, c.operands.map((t) => t.shape.length));
      const out = interpretKernel(k, inputsOf(c)).out!;
      expect(out.shape).toEqual(c.shape);
      expect(Array.from(out.data)).toEqual(c.data);
    });
  }

  it('types a scalar term as a rank-0 operand and an empty output as a rank-0 result', () => {
    kernel('typed', { s: f32(), v: f32('i') }, ({ s, v }) => {
      const a = einsum('->', s);
      const b = einsum('i,->i', v, s);
      expectTypeOf(a).toEqualTypeOf<Tensor<readonly [], 'f32'>>();
      expectTypeOf(b).toEqualTypeOf<Tensor<readonly ['i'], 'f32'>>();
      // Not called: it only has to fail to type-check ('->' takes a rank-0 operand, not a vector).
      // @ts-expect-error: a rank-1 operand for an empty term.
      void (() => einsum('->', v));
      return { a, b };
    }).trace();
  });

  it('still rejects specs numpy rejects', () => {
    const untyped = einsum as unknown as (spec: string, ...operands: readonly Tensor[]) => Tensor;
    const traced = (spec: string, ranks: readonly number[]) => () =>
      kernel('bad', Object.fromEntries(ranks.map((r, i) => [`x${i}`, f32(...Array.from({ length: r }, (_, j) => `a${i}_${j}`))])), (inputs) => ({
        out: untyped(spec, ...ranks.map((_, i) => (inputs as Record<string, Tensor>)[`x${i}`]!)),
      })).trace();
    const cases: [string, readonly number[], string][] = [
      ['->', [1], "einsum: operand 0 has rank 1 but '' names 0 axes"],
      ['', [2], "einsum: operand 0 has rank 2 but '' names 0 axes"],
      [',', [0], "einsum: ',' names 2 operand(s) but 1 were given"],
      ['->', [], "einsum: '->' names 1 operand(s) but 0 were given"],
      ['->i', [0], "einsum: cannot parse '->i': no operand terms before '->'"],
      [',->i', [0, 0], "einsum: cannot parse ',->i': output letter 'i' is in no operand"],
    ];
    for (const [spec, ranks, message] of cases) {
      const attempt = traced(spec, ranks);
      expect(attempt, spec).toThrow(TesseraError);
      expect(attempt, spec).toThrow(message);
    }
  });
});

describeGPU('einsum on rank-0 operands (WebGPU run())', (gpu) => {
  for (const c of CASES) {
    it(`'${c.spec}'`, async () => {
      for (const k of [kernelFor(c), einsumKernel(c.spec, c.operands.map((t) => t.shape.length))]) {
        const inputs = inputsOf(c);
        const { out } = await run(k, inputs, gpu);
        expect(out!.shape, k.kernelName).toEqual(c.shape);
        expect(Array.from(out!.data), k.kernelName).toEqual(c.data);
        // The interpreter is the reference every GPU result is tested against: the same numbers.
        expect(Array.from(out!.data), k.kernelName).toEqual(Array.from(interpretKernel(k, inputs).out!.data));
      }
    });
  }
});
