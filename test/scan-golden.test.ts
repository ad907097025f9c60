/**
 * The recurrent golden files (kinds `linear_attention` and `titans_memory`) on WebGPU: each
 * compiles its own scan kernel, which lavapipe takes tens of seconds over for the delta rules, so
 * they sit in a file of their own that a second test worker runs beside `scan.test.ts` (the same
 * files on the float64 interpreter are checked there).
 */
import { it } from 'vitest';
import { describeGPU } from './gpu.ts';
import { RECURRENT_GOLDEN, goldenFilesMatching, expectGoldenFile } from './golden/expect.ts';

describeGPU('recurrent golden files on WebGPU', (gpu) => {
  for (const file of goldenFilesMatching(RECURRENT_GOLDEN)) it(`golden ${file}`, () => expectGoldenFile(file, gpu, { rtol: 2e-4, atol: 2e-5 }));
});
