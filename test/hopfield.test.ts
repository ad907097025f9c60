/**
 * The Hopfield library kernel (`kernels/hopfield.ts`) against the independent oracle: every
 * hopfield golden (0, 1 and 3 update steps) on the float64 interpreter and on WebGPU, the compiled
 * GPU program against the interpreter at a shape that is not a multiple of any tile, and that the
 * compiler fused the update (inside the loop) and the read-out into flash kernels.
 */
import { describe, expect, it } from 'vitest';
import { compileFor, interpretKernel, run } from '../index.ts';
import type { Backend } from '../index.ts';
import { hopfieldKernel } from '../kernels/hopfield.ts';
import { flashDispatches, randomTensor } from './helpers.ts';
import { compareToGolden, type Tolerance } from './golden/load.ts';
import { describeGPU } from './gpu.ts';
import { goldenFilesMatching, expectGoldenFile } from './golden/expect.ts';

const goldenFiles = goldenFilesMatching(/^hopfield_/);

const F64: Tolerance = { rtol: 1e-9, atol: 1e-12 };
const F32: Tolerance = { rtol: 2e-4, atol: 2e-5 };

async function expectGolden(file: string, backend: Backend | null, tolerance: Tolerance): Promise<void> {
  const results = await expectGoldenFile(file, backend, tolerance, 'hopfield');
  expect(Object.keys(results).sort()).toEqual(['o', 'xi_final']);
}

const tensor = randomTensor;

describe('hopfield goldens on the float64 interpreter', () => {
  it('finds the copied golden files', () => {
    expect(goldenFiles).toEqual(['hopfield_one_step.json', 'hopfield_three_steps.json', 'hopfield_zero_steps.json']);
  });
  for (const file of goldenFiles) it(file, () => expectGolden(file, null, F64));

  it('rejects a step count that is not a whole number >= 0', () => {
    expect(() => hopfieldKernel(-1)).toThrow('hopfield: steps must be a whole number >= 0, got -1');
    expect(() => hopfieldKernel(1.5)).toThrow('hopfield: steps must be a whole number >= 0, got 1.5');
  });
});

describeGPU('hopfield on WebGPU', (gpu) => {
  for (const file of goldenFiles) it(`golden ${file}`, () => expectGolden(file, gpu, F32));

  // B=2, H=3, N=33, M=130, D=20, Dv=7: no size is a multiple of a tile. β spans soft to fairly
  // sharp; much sharper (β = 8 here) and two iterations amplify float32 rounding past the f32
  // tolerance — the float32 interpreter misses the float64 result by as much — so that would test
  // conditioning, not the kernel.
  const shape = { b: 2, h: 3, n: 33, m: 130, d: 20, dv: 7 };
  const inputs = {
    xi: tensor([shape.b, shape.h, shape.n, shape.d], 1),
    k: tensor([shape.b, shape.h, shape.m, shape.d], 2),
    v: tensor([shape.b, shape.h, shape.m, shape.dv], 3),
    beta: { shape: [shape.h], data: new Float32Array([0.5, 2, 4]) },
  };
  const sizes = { d: shape.d, e: shape.dv };

  it('two steps at B=2 H=3 N=33 M=130 D=20 Dv=7 match the float64 interpreter', async () => {
    const k = hopfieldKernel(2);
    const got = await run(k, inputs, gpu, { sizes });
    const want = interpretKernel(k, inputs, { sizes, precision: 'f64' });
    for (const name of ['xi_final', 'o']) {
      const cmp = compareToGolden(got[name]!, { shape: want[name]!.shape, data: want[name]!.data }, F32);
      expect(cmp.detail, name).toBe(`within rtol ${F32.rtol}, atol ${F32.atol}`);
    }
  });

  // Holds once the compiler's attention fusion lands: the update inside the loop and the read-out
  // are each a flash kernel.
  it('compiles the update and the read-out to fused flash kernels', () => {
    expect(flashDispatches(compileFor(hopfieldKernel(2), gpu, { sizes }))).toEqual({ top: 1, inLoops: 1 });
  });
});
