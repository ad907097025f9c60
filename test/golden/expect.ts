/** The golden tests' one check: a golden file run by its library kernel matches every output it holds. */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Backend } from '../../index.ts';
import { prepareGolden, runGolden, type GoldenResult } from './cases.ts';
import { compareToGolden, loadGolden, type Tolerance } from './load.ts';

/** The golden files copied for the tests (`test/golden/`, provenance in its README). */
export const GOLDEN_DIR = dirname(fileURLToPath(import.meta.url));

/** The golden files whose names match `pattern`, sorted. */
export function goldenFilesMatching(pattern: RegExp): string[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith('.json') && pattern.test(f))
    .sort();
}

/** The recurrent golden files (kinds `linear_attention` and `titans_memory`), read by two test files. */
export const RECURRENT_GOLDEN = /^(linear_attention|titans)_/;

/**
 * Runs golden file `file` (in `GOLDEN_DIR`) on `backend` (the float64 interpreter when null) and expects
 * each of its outputs within `tolerance`; checks its kind when `kind` is given. Returns the results
 * by kernel output name.
 */
export async function expectGoldenFile(file: string, backend: Backend | null, tolerance: Tolerance, kind?: string): Promise<Record<string, GoldenResult>> {
  const golden = loadGolden(join(GOLDEN_DIR, file));
  if (kind !== undefined) expect(golden.kind).toBe(kind);
  const prepared = prepareGolden(golden);
  expect(prepared, `${file}: kind ${golden.kind} is supported`).not.toBeNull();
  const results = await runGolden(prepared!, backend);
  for (const [name, expected] of Object.entries(golden.outputs)) {
    const cmp = compareToGolden(results[prepared!.outputs[name] ?? name]!, expected, tolerance);
    expect(cmp.detail, `${file} ${name}`).toBe(`within rtol ${tolerance.rtol}, atol ${tolerance.atol}`);
  }
  return results;
}
