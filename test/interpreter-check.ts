/** Shared by GPU tests: a kernel's WebGPU outputs checked against the float64 interpreter. */
import { expect } from 'vitest';
import { interpretKernel, run, type Backend, type HostTensor, type Kernel, type RunOptions } from '../index.ts';

/**
 * Runs `k` on `gpu` and on the f64 interpreter with the same sizes and compares every output:
 * finite values within `atol + rtol·|want|`, ±∞ and NaN exactly. `options` go to the GPU run
 * (schedules, parameters; the interpreter gets the same parameters).
 */
export async function expectMatchesInterpreter(gpu: Backend, k: Kernel, inputs: Record<string, HostTensor>, sizes: Record<string, number>, rtol: number, atol: number, options: RunOptions = {}): Promise<void> {
  const got = await run(k, inputs, gpu, { ...options, sizes });
  const want = interpretKernel(k, inputs, { sizes, precision: 'f64', ...(options.params ? { params: options.params } : {}) });
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    expect(g.shape, name).toEqual(w.shape);
    for (let i = 0; i < w.data.length; i++) {
      const [gv, wv] = [g.data[i]!, w.data[i]!];
      const ok = Number.isFinite(wv) ? Math.abs(gv - wv) <= atol + rtol * Math.abs(wv) : Object.is(gv, wv) || (Number.isNaN(gv) && Number.isNaN(wv));
      if (!ok) expect.fail(`${k.kernelName} output '${name}' at ${i}: GPU ${gv} vs interpreter ${wv}`);
    }
  }
}
