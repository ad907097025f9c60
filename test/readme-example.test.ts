/** The README's authoring example runs, on the interpreter, and matches a hand computation. */
import { describe, expect, it } from 'vitest';
import { interpretKernel } from '../index.ts';
import { attention } from '../examples/softmax-attention.ts';

describe('README example', () => {
  it('computes softmax(scale q kᵀ) v', () => {
    // n = 1 query, m = 2 keys, d = 1, e = 1: scores = [0.5*1*2, 0.5*1*(-2)] = [1, -1].
    const out = interpretKernel(
      attention,
      { q: { shape: [1, 1], data: [1] }, k: { shape: [2, 1], data: [2, -2] }, v: { shape: [2, 1], data: [10, 20] } },
      { params: { scale: 0.5 }, precision: 'f64' },
    ).o!;
    const w0 = Math.exp(1) / (Math.exp(1) + Math.exp(-1));
    expect(out.shape).toEqual([1, 1]);
    expect(out.data[0]).toBeCloseTo(10 * w0 + 20 * (1 - w0), 12);
  });
});
