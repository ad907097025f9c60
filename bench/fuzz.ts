/**
 * `npm run fuzz -- [--count N] [--seed S]`: the contraction-path property test's generator run
 * longer — random numpy-semantics einsums (`test/einsum-arbitrary.ts`), each compiled under every
 * path function and fused (`contractionPath: 'fused'`) and run on WebGPU, against the float64
 * interpreter. Prints each failure and a
 * summary; exit status 1 on any failure. Needs a WebGPU adapter (lavapipe in CI).
 */
import fc from 'fast-check';
import { createWebGPUBackend } from '../index.ts';
import { PATH_FUNCTIONS } from '../compiler/contraction-path.ts';
import { checkCase, einsumCases } from '../test/einsum-arbitrary.ts';

if (process.argv[1]?.endsWith('fuzz.ts')) {
  const arg = (name: string, fallback: number) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? Number(process.argv[at + 1]) : fallback;
  };
  const count = arg('--count', 100);
  const seed = arg('--seed', 20261202);
  const backend = await createWebGPUBackend();
  const cases = fc.sample(einsumCases, { seed, numRuns: count });
  const failures: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < cases.length; i++) failures.push(...(await checkCase(backend, cases[i]!, i)));
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(`fuzz: ${cases.length} einsums × ${Object.keys(PATH_FUNCTIONS).length + 2} plans (every path function, fused, and every size pinned) on ${backend.deviceDescription}, seed ${seed}: ${failures.length} failure(s) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  process.exit(failures.length > 0 ? 1 : 0);
}
