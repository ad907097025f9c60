/**
 * Reduction strategies: one thread per output for many outputs over a moderate static axis (and
 * for any short axis), a workgroup per output otherwise. Checked on the compiled kernels'
 * workgroup sizes and on WebGPU against the float64 interpreter.
 */
import { expect, it } from 'vitest';
import * as T from '../index.ts';
import { describeGPU } from './gpu.ts';
import { randomTensor } from './helpers.ts';

function rowSums(rows: number | null, cols: number) {
  const spec = rows === null ? T.f32('i', 'd').pin({ d: cols }) : T.f32('i', 'd').pin({ i: rows, d: cols });
  return T.kernel(`rows_${rows ?? 'n'}x${cols}`, { x: spec }, ({ x }) => ({ s: T.sum(x, 'd'), m: T.max(x, 'd') }));
}

const CASES: readonly [number | null, number, number, 'thread' | 'workgroup'][] = [
  // rows (null: symbolic), cols, rows bound at run time, strategy
  [3000, 100, 3000, 'thread'],
  [null, 37, 700, 'thread'],
  [2500, 1024, 2500, 'thread'],
  [100, 100, 100, 'workgroup'],
  [3000, 2000, 3000, 'workgroup'],
];

it('chooses one thread per output for many outputs over a moderate static axis', () => {
  for (const [rows, cols, , strategy] of CASES) {
    const p = T.compile(rowSums(rows, cols).trace(), { name: 'rows' });
    // The workgroup strategy folds through a workgroup array (`partial`); the thread strategy has none.
    expect(p.kernels.filter((k) => k.name.endsWith(':reduce')).length, `${rows}x${cols}`).toBeGreaterThan(0);
    if (strategy === 'thread') expect(p.kernels.filter((k) => k.name.endsWith(':reduce')).every((k) => !k.wgsl.includes('var<workgroup>')), `${rows}x${cols}`).toBe(true);
    else expect(p.kernels.some((k) => k.name.endsWith(':reduce') && k.wgsl.includes('var<workgroup> partial')), `${rows}x${cols}`).toBe(true);
  }
});

describeGPU('reduction strategies on WebGPU', (gpu) => {
  for (const [rows, cols, bound] of CASES) {
    it(`${bound}x${cols} row sums and maxima match the float64 interpreter`, async () => {
      const k = rowSums(rows, cols);
      const inputs = { x: randomTensor([bound, cols], bound + cols) };
      const got = await T.run(k, inputs, gpu);
      const want = T.interpretKernel(k, inputs);
      for (const name of ['s', 'm']) {
        let worst = 0;
        for (let i = 0; i < want[name]!.data.length; i++) worst = Math.max(worst, Math.abs(got[name]!.data[i]! - want[name]!.data[i]!) - 1e-4 * Math.abs(want[name]!.data[i]!));
        expect(worst, name).toBeLessThan(1e-5);
      }
    });
  }
});
