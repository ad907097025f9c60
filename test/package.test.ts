/**
 * The published package, as a user gets it: `npm pack` (its `prepack` builds `dist/`), the tarball
 * installed into a fresh temporary project without the network (its dependencies are linked from
 * this checkout's `node_modules`, as an offline mirror would serve them), then a plain `.mjs` file
 * runs a kernel there under Node with no loader, a TypeScript consumer with `moduleResolution:
 * nodenext` and no other settings type-checks against the shipped `.d.ts`, and the package's
 * `tessera` command precompiles a kernel module that the app then runs through `tessera/runtime`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { einsum, f32, interpretKernel, kernel, softmax } from '../index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The consumer's kernel, also traced here so its result can be checked against the interpreter. */
const CONSUMER_KERNEL = `kernel('scores', { q: f32('n', 'd'), k: f32('m', 'd') }, ({ q, k }) => ({ p: softmax(einsum('nd,md->nm', q, k), 'm') }))`;
const Q = [1, 2, 3, 4, 5, 6];
const K = [1, 0, 0, 0, 1, 0, 0.5, 0.5, 0.5];

let work: string;
let tarball: string;
let files: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tessera-pack-'));
  const packed = JSON.parse(execFileSync(NPM, ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, packed[0]!.filename);
  files = packed[0]!.files.map((f) => f.path);
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'app',
      version: '1.0.0',
      type: 'module',
      private: true,
      dependencies: {
        tessera: `file:${tarball}`,
        webgpu: `file:${join(ROOT, 'node_modules', 'webgpu')}`,
        '@webgpu/types': `file:${join(ROOT, 'node_modules', '@webgpu', 'types')}`,
        esbuild: `file:${join(ROOT, 'node_modules', 'esbuild')}`,
        'ts-morph': `file:${join(ROOT, 'node_modules', 'ts-morph')}`,
      },
    }),
  );
  execFileSync(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships the built modules, their types, the README and the licence, and nothing else', () => {
    const outside = files.filter((f) => !f.startsWith('dist/'));
    expect(outside.sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
    for (const entry of ['dist/index', 'dist/runtime/index', 'dist/kernels/index']) {
      expect(files).toContain(`${entry}.js`);
      expect(files).toContain(`${entry}.d.ts`);
    }
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it("runs the README's plain JavaScript file as it is written", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('```js\n// main.mjs\n');
    expect(start).toBeGreaterThan(0);
    const code = readme.slice(start + '```js\n'.length, readme.indexOf('```', start + 5));
    const app = join(work, 'app');
    writeFileSync(join(app, 'readme.mjs'), code);
    const printed = execFileSync(process.execPath, ['readme.mjs'], { cwd: app, encoding: 'utf8' });
    const scores = kernel('scores', { q: f32('n', 'd'), k: f32('m', 'd') }, ({ q, k }) => ({ p: softmax(einsum('nd,md->nm', q, k), 'm') }));
    const want = interpretKernel(scores, { q: { shape: [2, 3], data: Float32Array.from(Q) }, k: { shape: [3, 3], data: Float32Array.from(K) } }, { precision: 'f64' });
    expect(printed).toBe(`[ 2, 3 ] ${Array.from(want['p']!.data, (x) => x.toFixed(3)).join(' ')}\n`);
  });

  it('runs a kernel from a plain .mjs file under Node, no loader', () => {
    const app = join(work, 'app');
    writeFileSync(
      join(app, 'main.mjs'),
      [
        "import { kernel, f32, einsum, softmax, run, createCpuBackend } from 'tessera';",
        "import { createCpuBackend as runtimeCpu } from 'tessera/runtime';",
        "import { efficientVectorRoutingKernel } from 'tessera/kernels';",
        `const k = ${CONSUMER_KERNEL};`,
        `const out = await run(k, { q: { shape: [2, 3], data: new Float32Array(${JSON.stringify(Q)}) }, k: { shape: [3, 3], data: new Float32Array(${JSON.stringify(K)}) } }, createCpuBackend());`,
        "console.log(JSON.stringify({ p: Array.from(out.p.data), shape: out.p.shape, runtime: typeof runtimeCpu, routing: typeof efficientVectorRoutingKernel }));",
      ].join('\n'),
    );
    const printed = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8' })) as { p: number[]; shape: number[]; runtime: string; routing: string };
    const scores = kernel('scores', { q: f32('n', 'd'), k: f32('m', 'd') }, ({ q, k }) => ({ p: softmax(einsum('nd,md->nm', q, k), 'm') }));
    const want = interpretKernel(scores, { q: { shape: [2, 3], data: Float32Array.from(Q) }, k: { shape: [3, 3], data: Float32Array.from(K) } }, { precision: 'f32' });
    expect(printed.shape).toEqual([2, 3]);
    expect(printed.p).toEqual(Array.from(want['p']!.data));
    expect([printed.runtime, printed.routing]).toEqual(['function', 'function']);
  });

  it("precompiles kernels with the README's three blocks: tessera build, the runtime alone, the esbuild plugin", () => {
    const app = join(work, 'app');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = (opening: string) => {
      const start = readme.indexOf(opening);
      expect(start, opening).toBeGreaterThan(0);
      return readme.slice(start + opening.length, readme.indexOf('```', start + opening.length));
    };
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(join(app, 'src', 'scores.kernel.ts'), `import { kernel, f32, einsum, softmax } from 'tessera';\nexport const scores = ${CONSUMER_KERNEL};\n`);
    // The shell block: `npx tessera build ...`, run through the installed bin.
    const command = block('```sh\nnpx ').trim().split(/\s+/).map((w) => w.replace(/^'(.*)'$/, '$1'));
    expect(command).toEqual(['tessera', 'build', 'src/*.kernel.ts', '--out', 'gen']);
    const printed = execFileSync(process.execPath, [join(app, 'node_modules', '.bin', 'tessera'), ...command.slice(1)], { cwd: app, encoding: 'utf8' });
    expect(printed).toBe('tessera build: 1 kernel(s) compiled, 0 unchanged -> gen\n');
    const k = kernel('scores', { q: f32('n', 'd'), k: f32('m', 'd') }, ({ q, k }) => ({ p: softmax(einsum('nd,md->nm', q, k), 'm') }));
    const want = interpretKernel(k, { q: { shape: [2, 3], data: Float32Array.from(Q) }, k: { shape: [3, 3], data: Float32Array.from(K) } }, { precision: 'f64' });
    const expected = `${Array.from(want['p']!.data, (x) => x.toFixed(3)).join(' ')}\n`;
    // app.mjs: the precompiled kernel on the runtime alone.
    const appCode = block('```js\n// app.mjs');
    writeFileSync(join(app, 'app.mjs'), `// app.mjs${appCode}`);
    expect(execFileSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8' })).toBe(expected);
    // bundle.mjs: the same app importing the kernel module itself, bundled with the plugin.
    writeFileSync(join(app, 'web.mjs'), `// app.mjs${appCode}`.replace("'./gen/scores.kernel.js'", "'./src/scores.kernel.ts'"));
    writeFileSync(join(app, 'bundle.mjs'), `// bundle.mjs${block('```js\n// bundle.mjs')}`);
    execFileSync(process.execPath, ['bundle.mjs'], { cwd: app, encoding: 'utf8' });
    const bundled = readFileSync(join(app, 'out', 'web.js'), 'utf8');
    // The compiler's passes and the tracer's kernel() are not in it; the Program is.
    expect(bundled).not.toContain('fuse-row-blocks');
    expect(bundled).not.toContain('body returned no tensors');
    expect(bundled).toContain('tessera-program');
    expect(execFileSync(process.execPath, ['out/web.js'], { cwd: app, encoding: 'utf8' })).toBe(expected);
  });

  it('type-checks a TypeScript consumer with moduleResolution nodenext and no other settings', () => {
    const app = join(work, 'app');
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true }, files: ['main.ts'] }));
    writeFileSync(
      join(app, 'main.ts'),
      [
        "import { kernel, f32, einsum, softmax, sum, run, createBackend, type HostTensor } from 'tessera';",
        "import type { Program, WebGPUBackend } from 'tessera/runtime';",
        "import { efficientVectorRoutingKernel } from 'tessera/kernels';",
        `const k = ${CONSUMER_KERNEL};`,
        'const q: HostTensor = { shape: [2, 3], data: new Float32Array(6) };',
        'export async function main(): Promise<number> {',
        '  const out = await run(k, { q, k: q }, await createBackend());',
        '  void efficientVectorRoutingKernel;',
        '  return out.p!.shape.length;',
        '}',
        '// The WebGPU types come with the package (GPUDevice needs no setting of the consumer).',
        'export const deviceOf = (b: WebGPUBackend): GPUDevice => b.device;',
        'export const steps = (p: Program): number => p.steps.length;',
        "// The DSL's axis checks reach the consumer: summing over an axis the tensor lacks does not compile.",
        "// @ts-expect-error 'z' is not an axis of q",
        "kernel('bad', { q: f32('n', 'd') }, ({ q }) => ({ s: sum(q, 'z') }));",
      ].join('\n'),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = (() => {
      try {
        return execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
      } catch (e) {
        return (e as { stdout: string }).stdout;
      }
    })();
    expect(result).toBe('');
    expect(readdirSync(app)).not.toContain('main.js');
  });
});
