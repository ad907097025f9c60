/**
 * `npm run fuzz -- [--count N] [--seed S]`: the contraction-path property test's generator run
 * longer — random numpy-semantics einsums (`test/einsum-arbitrary.ts`), each compiled under every
 * path function and fused (`contractionPath: 'fused'`) and run on WebGPU, against the float64
 * interpreter. Prints each failure and a
 * summary; exit status 1 on any failure. Needs a WebGPU adapter (lavapipe in CI).
 */
import fc from 'fast-check';
import { createWebGPUBackend, interpretKernel, run, type Backend } from '../index.ts';
import { einsumKernel } from '../kernels/index.ts';
import { PATH_FUNCTIONS, type PathName } from '../compiler/contraction-path.ts';
import { einsumCases, type EinsumCase } from '../test/einsum-arbitrary.ts';
import { randomF32, seededRandom } from './random.ts';

/** Runs one case under every path; the failures, as text. */
export async function checkCase(backend: Backend, c: EinsumCase, index: number): Promise<string[]> {
  const k = einsumKernel(c.spec, c.shapes.map((s) => s.length));
  const rand = seededRandom(1000 + index);
  const inputs = Object.fromEntries(c.shapes.map((s, j) => [`x${j}`, { shape: [...s], data: randomF32(s.reduce((a, b) => a * b, 1), rand) }]));
  const want = interpretKernel(k, inputs, { precision: 'f64' })['out']!;
  const failures: string[] = [];
  for (const contractionPath of [...(Object.keys(PATH_FUNCTIONS) as PathName[]), 'fused' as const]) {
    const got = (await run(k, inputs, backend, { compile: { contractionPath } }))['out']!;
    const shapeOk = JSON.stringify(got.shape) === JSON.stringify(want.shape);
    const bad = shapeOk ? want.data.findIndex((w, i) => !(Math.abs(got.data[i]! - w) <= 1e-4 + 1e-4 * Math.abs(w))) : 0;
    if (!shapeOk || bad >= 0) failures.push(`${c.spec} [${c.shapes.map((s) => s.join('x')).join(', ')}] (${contractionPath}): ${shapeOk ? `at ${bad}: ${got.data[bad]} vs ${want.data[bad]}` : `shape ${got.shape} vs ${want.shape}`}`);
  }
  return failures;
}

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
  console.log(`fuzz: ${cases.length} einsums × ${Object.keys(PATH_FUNCTIONS).length + 1} plans (every path function, and fused) on ${backend.deviceDescription}, seed ${seed}: ${failures.length} failure(s) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  process.exit(failures.length > 0 ? 1 : 0);
}
