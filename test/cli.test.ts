/**
 * The build step: `tessera build` (`cli/index.ts`, `cli/build.ts`) on kernel modules written to a
 * temporary project, and the esbuild plugin (`cli/esbuild-plugin.ts`) bundling an app that imports
 * one. What a user relies on: the outputs exist and are typed like the source (a consumer
 * type-checks, a wrong input name does not), the precompiled kernel computes what the interpreter
 * does, an error points at the user's `file:line:col`, a rebuild compiles only what changed, and an
 * app bundled with the plugin carries neither the compiler nor the tracer.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/index.ts';
import { tesseraPlugin } from '../cli/esbuild-plugin.ts';
import { createCpuBackend, einsum, f32, interpretKernel, kernel, mul, param, softmax, type HostTensor } from '../index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const SCORES = `import { einsum, f32, kernel, param, mul, softmax } from 'tessera';

/** Attention weights. */
export const scores = kernel('scores', { q: f32('n', 'd'), k: f32('m', 'd'), scale: param() }, ({ q, k, scale }) => ({
  p: softmax(mul(einsum('nd,md->nm', q, k), scale), 'm'),
}));

export const notAKernel = 3;
`;

const BROKEN = `import { einsum, f32, kernel } from 'tessera';

export const fine = kernel('fine', { a: f32('i') }, ({ a }) => ({ b: a }));

export const broken = kernel('broken', { a: f32('i', 'j').pin({ j: 3 }), b: f32('j', 'k').pin({ j: 4 }) }, ({ a, b }) => ({
  c: einsum('ij,jk->ik', a, b),
}));
`;

/** The same kernel as SCORES, here, for the interpreter. */
const scores = kernel('scores', { q: f32('n', 'd'), k: f32('m', 'd'), scale: param() }, ({ q, k, scale }) => ({
  p: softmax(mul(einsum('nd,md->nm', q, k), scale), 'm'),
}));
const Q: HostTensor = { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
const K: HostTensor = { shape: [3, 3], data: new Float32Array([1, 0, 0, 0, 1, 0, 0.5, 0.5, 0.5]) };

/** Resolves `tessera/runtime` to this checkout's runtime (what an installed package would give). */
const runtimeHere: Plugin = {
  name: 'runtime-here',
  setup(b) {
    b.onResolve({ filter: /^tessera\/runtime$/ }, () => ({ path: join(ROOT, 'runtime', 'index.ts') }));
  },
};

let work: string;
const quiet = () => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(console, 'error').mockImplementation(() => {});
};

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  mkdirSync(join(work, 'src'));
  writeFileSync(join(work, 'src', 'scores.kernel.ts'), SCORES);
});

afterAll(() => {
  vi.restoreAllMocks();
  rmSync(work, { recursive: true, force: true });
});

describe('tessera build', () => {
  it('writes a typed module and WGSL per kernel; the precompiled kernel computes what the interpreter does', async () => {
    quiet();
    expect(await main(['build', 'src/*.kernel.ts', '--out', 'gen'], work)).toBe(0);
    const dts = readFileSync(join(work, 'gen', 'scores.kernel.d.ts'), 'utf8');
    expect(dts).toBe(
      [
        "import type { CompiledKernel } from 'tessera/runtime';",
        '/** scores(q: f32[n, d], k: f32[m, d]) */',
        `export declare const scores: CompiledKernel<{ "q": 'f32'; "k": 'f32' }, { "p": 'f32' }, { "scale": 'f32' }>;`,
        '',
      ].join('\n'),
    );
    const wgsl = readFileSync(join(work, 'gen', 'scores.kernel.scores.wgsl'), 'utf8');
    expect(wgsl).toMatch(/^\/\/ scores: shader 0 of \d+ \(scores:/);
    expect(wgsl).toContain('@compute @workgroup_size(');
    // The generated module, bundled as an app would and run on the CPU backend.
    const app = await build({
      stdin: { contents: "export { scores } from './gen/scores.kernel.js'; export { runCompiled } from 'tessera/runtime';", resolveDir: work, loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      write: false,
      external: ['webgpu'],
      plugins: [runtimeHere],
    });
    const file = join(work, 'app.mjs');
    writeFileSync(file, app.outputFiles[0]!.text);
    const mod = (await import(pathToFileURL(file).href)) as { scores: unknown; runCompiled: (...args: unknown[]) => Promise<Record<string, { data: Float32Array; shape: number[] }>> };
    const got = await mod.runCompiled(createCpuBackend({ precision: 'f64' }), mod.scores, { q: Q, k: K }, { scale: 0.5 });
    const want = interpretKernel(scores, { q: Q, k: K }, { params: { scale: 0.5 }, precision: 'f64' });
    expect(got['p']!.shape).toEqual([2, 3]);
    // The CPU backend computes in float64 and hands back f32 storage, like the GPU.
    expect(Array.from(got['p']!.data)).toEqual(Array.from(want['p']!.data, Math.fround));
  });

  it('types the compiled kernel like its source: a consumer type-checks, a wrong input name does not', () => {
    writeFileSync(
      join(work, 'use.ts'),
      [
        "import { createCpuBackend, runCompiled } from 'tessera/runtime';",
        "import { scores } from './gen/scores.kernel.js';",
        'const q = { shape: [2, 3], data: new Float32Array(6) };',
        'export async function use(): Promise<number> {',
        '  const out = await runCompiled(createCpuBackend(), scores, { q, k: q }, { scale: 1 });',
        '  return out.p.shape.length;',
        '}',
        '// @ts-expect-error: the kernel has no input x',
        'export const wrong = () => runCompiled(createCpuBackend(), scores, { q, x: q }, { scale: 1 });',
        '// @ts-expect-error: the kernel has no output y',
        'export const noOutput = async () => (await runCompiled(createCpuBackend(), scores, { q, k: q }, { scale: 1 })).y;',
      ].join('\n'),
    );
    writeFileSync(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          types: [],
          lib: ['ES2022', 'DOM'],
          paths: { 'tessera/runtime': [join(ROOT, 'runtime', 'index.ts')] },
        },
        files: ['use.ts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    let printed = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: work, encoding: 'utf8' });
    } catch (e) {
      printed = (e as { stdout: string }).stdout;
    }
    expect(printed).toBe('');
  });

  it("reports a kernel's error at the user's file:line:col and builds the module's other kernels no further", async () => {
    writeFileSync(join(work, 'src', 'broken.kernel.ts'), BROKEN);
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((text: string) => void errors.push(text));
    vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(await main(['build', 'src/broken.kernel.ts', '--out', 'gen'], work)).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^src\/broken\.kernel\.ts:5:14: kernel 'broken' \(export 'broken'\): /);
    expect(errors[0]).toContain("'j'");
    rmSync(join(work, 'src', 'broken.kernel.ts'));
  });

  it('rebuilds only the modules that changed', async () => {
    quiet();
    writeFileSync(join(work, 'src', 'other.kernel.ts'), "import { f32, kernel, sum } from 'tessera';\nexport const total = kernel('total', { x: f32('i') }, ({ x }) => ({ s: sum(x, 'i') }));\n");
    const { buildKernels } = await import('../cli/build.ts');
    const first = await buildKernels({ files: ['src/scores.kernel.ts', 'src/other.kernel.ts'], outDir: 'gen', cwd: work });
    expect(first.compiled).toEqual(['other.kernel:total']);
    expect(first.unchanged).toEqual(['scores.kernel:scores']);
    const again = await buildKernels({ files: ['src/scores.kernel.ts', 'src/other.kernel.ts'], outDir: 'gen', cwd: work });
    expect([again.compiled, again.unchanged]).toEqual([[], ['scores.kernel:scores', 'other.kernel:total']]);
    writeFileSync(join(work, 'src', 'other.kernel.ts'), "import { f32, kernel, max } from 'tessera';\nexport const total = kernel('total', { x: f32('i') }, ({ x }) => ({ s: max(x, 'i') }));\n");
    const changed = await buildKernels({ files: ['src/scores.kernel.ts', 'src/other.kernel.ts'], outDir: 'gen', cwd: work });
    expect([changed.compiled, changed.unchanged]).toEqual([['other.kernel:total'], ['scores.kernel:scores']]);
  });

  it('says how to use it when the arguments are wrong', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((text: string) => void errors.push(text));
    expect(await main(['build', 'src/*.kernel.ts'], work)).toBe(2);
    expect(await main(['compile'], work)).toBe(2);
    expect(await main(['build', 'nothing/*.ts', '--out', 'gen'], work)).toBe(2);
    const usage = 'usage: tessera build <files or globs>... --out DIR\n       tessera explain <einsum spec> <shape, e.g. 64x2>... [--path optimal|dp|greedy|left-to-right]';
    expect(errors).toEqual([usage, usage, 'tessera build: no files match nothing/*.ts']);
  });
});

describe('tessera/esbuild', () => {
  it('bundles an app importing a kernel module with its precompiled Program, without the compiler or the tracer', async () => {
    writeFileSync(
      join(work, 'app.ts'),
      "import { createCpuBackend, runCompiled } from 'tessera/runtime';\nimport { scores } from './src/scores.kernel.ts';\nexport const go = (q: any, k: any) => runCompiled(createCpuBackend({ precision: 'f64' }), scores, { q, k }, { scale: 0.5 });\n",
    );
    const out = await build({
      absWorkingDir: work,
      entryPoints: ['app.ts'],
      bundle: true,
      format: 'esm',
      platform: 'node',
      write: false,
      metafile: true,
      external: ['webgpu'],
      plugins: [tesseraPlugin(), runtimeHere],
    });
    const inputs = Object.keys(out.metafile.inputs).map((f) => f.replace(/^.*?((compiler|dsl|runtime|interpreter|program)\/)/, '$1'));
    expect(inputs.filter((f) => f.startsWith('compiler/') || ['dsl/trace.ts', 'dsl/ops.ts', 'dsl/kernel.ts', 'dsl/einsum.ts'].includes(f))).toEqual([]);
    expect(inputs).toContain('runtime/index.ts');
    const file = join(work, 'bundled.mjs');
    writeFileSync(file, out.outputFiles[0]!.text);
    const { go } = (await import(pathToFileURL(file).href)) as { go: (q: HostTensor, k: HostTensor) => Promise<Record<string, { data: Float32Array }>> };
    const want = interpretKernel(scores, { q: Q, k: K }, { params: { scale: 0.5 }, precision: 'f64' });
    expect(Array.from((await go(Q, K))['p']!.data)).toEqual(Array.from(want['p']!.data, Math.fround));
  });

  it("fails the bundle with esbuild's own error at the kernel's location", async () => {
    writeFileSync(join(work, 'src', 'broken.kernel.ts'), BROKEN);
    writeFileSync(join(work, 'app2.ts'), "import { broken } from './src/broken.kernel.ts';\nexport { broken };\n");
    const failure = await build({ absWorkingDir: work, entryPoints: ['app2.ts'], bundle: true, write: false, logLevel: 'silent', plugins: [tesseraPlugin(), runtimeHere] }).catch((e: { errors: { text: string; location: { file: string; line: number; column: number } | null }[] }) => e);
    const errors = (failure as { errors: { text: string; location: { file: string; line: number; column: number } | null }[] }).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]!.location).toMatchObject({ file: 'src/broken.kernel.ts', line: 5, column: 13 });
    expect(errors[0]!.text).toMatch(/^kernel 'broken' \(export 'broken'\): /);
  });
});
