/**
 * `npm run golden -- [--backend cpu|webgpu] [--out DIR] FILE...`: runs golden files (format:
 * test/golden/README.md) through the matching library kernel and prints one line per file:
 * PASS, FAIL or UNSUPPORTED, with the max absolute and relative error. With `--out`, writes
 * `DIR/<file name>` as `{ backend, outputs }`. Exits non-zero if any file fails or is unsupported.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createWebGPUBackend, type Backend } from '../runtime/index.ts';
import { prepareGolden, runGolden } from './golden/cases.ts';
import { compareToGolden, loadGolden, type Tolerance } from './golden/load.ts';

/** float64 interpretation is held to float64 accuracy; f32 GPU results to f32 accumulation error. */
const TOLERANCE: Readonly<Record<'cpu' | 'webgpu', Tolerance>> = {
  cpu: { rtol: 1e-9, atol: 1e-12 },
  webgpu: { rtol: 2e-4, atol: 2e-5 },
};

function usage(message: string): never {
  console.error(`golden: ${message}\nusage: npm run golden -- [--backend cpu|webgpu] [--out DIR] FILE...`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let backendName: 'cpu' | 'webgpu' = 'cpu';
  let outDir: string | null = null;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--backend') {
      const v = argv[++i];
      if (v !== 'cpu' && v !== 'webgpu') usage(`--backend must be cpu or webgpu, got ${v ?? 'nothing'}`);
      backendName = v;
    } else if (arg === '--out') {
      outDir = argv[++i] ?? usage('--out needs a directory');
    } else if (arg.startsWith('--')) {
      usage(`unknown option ${arg}`);
    } else files.push(arg);
  }
  if (files.length === 0) usage('no files given');

  // cpu is the float64 interpreter itself (the reference); webgpu runs the compiled program.
  const backend: Backend | null = backendName === 'webgpu' ? await createWebGPUBackend() : null;
  console.log(`golden: backend ${backendName} (${backend ? backend.deviceDescription : 'CPU interpreter, float64'})`);
  if (outDir) mkdirSync(outDir, { recursive: true });
  let failures = 0;
  for (const file of files) {
    const name = basename(file);
    try {
      const golden = loadGolden(file);
      const prepared = prepareGolden(golden);
      if (!prepared) {
        console.log(`UNSUPPORTED ${name} (kind '${golden.kind}')`);
        failures++;
        continue;
      }
      const results = await runGolden(prepared, backend);
      let maxAbs = 0;
      let maxRel = 0;
      let ok = true;
      const details: string[] = [];
      const written: Record<string, { shape: readonly number[]; data: number[] }> = {};
      for (const [goldenName, expected] of Object.entries(golden.outputs)) {
        const actual = results[prepared.outputs[goldenName] ?? goldenName];
        if (!actual) {
          ok = false;
          details.push(`${goldenName}: not produced`);
          continue;
        }
        written[goldenName] = { shape: actual.shape, data: Array.from(actual.data) };
        const cmp = compareToGolden({ shape: actual.shape, data: actual.data }, expected, TOLERANCE[backendName]);
        maxAbs = Math.max(maxAbs, cmp.maxAbs);
        maxRel = Math.max(maxRel, cmp.maxRel);
        if (!cmp.ok) {
          ok = false;
          details.push(`${goldenName}: ${cmp.detail}`);
        }
      }
      if (outDir) writeFileSync(join(outDir, name), JSON.stringify({ backend: backendName, outputs: written }));
      const errors = `max_abs=${maxAbs.toExponential(2)} max_rel=${maxRel.toExponential(2)}`;
      console.log(`${ok ? 'PASS' : 'FAIL'} ${name} ${errors}${details.length ? ` (${details.join('; ')})` : ''}`);
      if (!ok) failures++;
    } catch (error) {
      failures++;
      console.log(`FAIL ${name} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  console.log(`${files.length - failures} passed, ${failures} failed`);
  backend?.destroy();
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
