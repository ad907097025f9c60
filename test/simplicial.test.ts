/**
 * 2-simplicial attention (`kernels/simplicial.ts`, composed: trilinear einsum, causal windows,
 * joint softmax over (j, l), output einsum) against the independent golden files, on the float64
 * interpreter and on WebGPU, and the errors for bad windows.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { simplicialAttentionKernel } from '../kernels/index.ts';
import { prepareGolden, runGolden } from './golden/cases.ts';
import { compareToGolden, loadGolden, type Tolerance } from './golden/load.ts';
import { describeGPU } from './gpu.ts';

const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const files = readdirSync(GOLDEN_DIR)
  .filter((f) => f.startsWith('simplicial_attention_') && f.endsWith('.json'))
  .sort();

async function expectGolden(file: string, backend: Parameters<typeof runGolden>[1], tolerance: Tolerance): Promise<void> {
  const golden = loadGolden(join(GOLDEN_DIR, file));
  const results = await runGolden(prepareGolden(golden)!, backend);
  const comparison = compareToGolden(results['o']!, golden.outputs['o']!, tolerance);
  expect(comparison.detail, file).toBe(`within rtol ${tolerance.rtol}, atol ${tolerance.atol}`);
}

describe('2-simplicial attention', () => {
  it('finds the three golden files (full causal, windowed, narrow)', () => {
    expect(files).toEqual(['simplicial_attention_full_causal.json', 'simplicial_attention_narrow.json', 'simplicial_attention_windowed.json']);
  });

  for (const file of files) it(`golden ${file} on the float64 interpreter`, () => expectGolden(file, null, { rtol: 1e-9, atol: 1e-12 }));

  it('refuses a window that is not a whole number >= 1', () => {
    expect(() => simplicialAttentionKernel({ w1: 0 })).toThrow('simplicialAttention: w1 must be a whole number >= 1 or null, got 0');
    expect(() => simplicialAttentionKernel({ w2: 2.5 })).toThrow('simplicialAttention: w2 must be a whole number >= 1 or null, got 2.5');
  });
});

describeGPU('2-simplicial attention on WebGPU', (gpu) => {
  for (const file of files) it(`golden ${file}`, () => expectGolden(file, gpu, { rtol: 2e-4, atol: 2e-5 }));
});
