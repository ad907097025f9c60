/**
 * softmax, logSoftmax and layerNorm over several axes at once (a joint softmax over (j, l), as
 * 2-simplicial attention needs): the interpreter against a direct computation, WebGPU against the
 * interpreter (with a fully masked row), and the errors for a missing or repeated axis.
 */
import { expect, it } from 'vitest';
import { f32, interpretKernel, kernel, layerNorm, logSoftmax, logsumexp, run, softmax, sub } from '../index.ts';
import { describeGPU } from './gpu.ts';
import { randomTensor } from './helpers.ts';

const joint = kernel('joint', { x: f32('i', 'j', 'l') }, ({ x }) => ({
  p: softmax(x, ['j', 'l']),
  lp: logSoftmax(x, ['l', 'j']),
  ln: layerNorm(x, ['j', 'l']),
  check: sub(logSoftmax(x, ['j', 'l']), sub(x, logsumexp(x, ['j', 'l']))),
}));

const X = randomTensor([2, 3, 4], 5, -3, 3);
// Row 1 entirely masked: a joint softmax over nothing allowed gives zeros, log_softmax −∞.
for (let k = 12; k < 24; k++) (X.data as Float32Array)[k] = -Infinity;

it('normalises jointly over the listed axes (interpreter, float64)', () => {
  const out = interpretKernel(joint, { x: X }, { precision: 'f64' });
  const x = X.data as Float32Array;
  // Row 0 by hand: exp(x - max) / Σ over all 12 (j, l) entries.
  const row = Array.from(x.slice(0, 12));
  const max = Math.max(...row);
  const total = row.reduce((t, v) => t + Math.exp(v - max), 0);
  row.forEach((v, k) => expect(out['p']!.data[k]).toBeCloseTo(Math.exp(v - max) / total, 12));
  const mean = row.reduce((a, b) => a + b, 0) / 12;
  const sd = Math.sqrt(row.reduce((t, v) => t + (v - mean) ** 2, 0) / 12 + 1e-5);
  row.forEach((v, k) => expect(out['ln']!.data[k]).toBeCloseTo((v - mean) / sd, 12));
  // The order the axes are listed in does not matter; log_softmax = x - logsumexp.
  for (let k = 0; k < 12; k++) expect(out['lp']!.data[k]).toBeCloseTo(Math.log(out['p']!.data[k]!), 12);
  for (let k = 0; k < 12; k++) expect(out['check']!.data[k]).toBe(0);
  for (let k = 12; k < 24; k++) {
    expect(out['p']!.data[k]).toBe(0);
    expect(out['lp']!.data[k]).toBe(-Infinity);
  }
});

it('names a missing or repeated axis', () => {
  // @ts-expect-error 'z' is not an axis of x
  expect(() => kernel('bad', { x: f32('i', 'j') }, ({ x }) => ({ p: softmax(x, ['j', 'z']) })).trace()).toThrow("softmax: tensor has no axis 'z'; its axes are");
  expect(() => kernel('bad', { x: f32('i', 'j') }, ({ x }) => ({ p: softmax(x, ['j', 'j']) })).trace()).toThrow("softmax: axis 'j' is listed twice");
  expect(() => kernel('bad', { x: f32('i', 'j') }, ({ x }) => ({ p: logSoftmax(x, []) })).trace()).toThrow('log_softmax: needs at least one axis');
});

describeGPU('joint softmax on WebGPU', (gpu) => {
  it('matches the interpreter, masked row included', async () => {
    const got = await run(joint, { x: X }, gpu);
    const want = interpretKernel(joint, { x: X }, { precision: 'f64' });
    for (const name of ['p', 'lp', 'ln']) {
      want[name]!.data.forEach((w, k) => {
        const g = got[name]!.data[k]!;
        if (Number.isFinite(w) ? !(Math.abs(g - w) <= 1e-5 + 1e-5 * Math.abs(w)) : !Object.is(g, w)) expect.fail(`${name}[${k}]: GPU ${g} vs interpreter ${w}`);
      });
    }
  });
});
