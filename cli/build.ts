/**
 * The build step (`tessera build`, the esbuild plugin): kernel modules in, precompiled kernels out.
 *
 * For each module: esbuild bundles it (with `tessera` resolved to this package, so the kernels are
 * traced by the same DSL whatever the app installed) and the bundle is imported; every export that
 * is a kernel is traced and compiled; ts-morph reads the module's source for where each export is
 * declared, so an error found while tracing or compiling (a shape or dtype mismatch) names the
 * user's `file:line:col`. The outputs, per module `name.ts`: `name.js` and `name.d.ts`, exporting
 * each kernel under its export name as a `CompiledKernel` typed with its inputs', parameters' and
 * outputs' names and dtypes (`tessera/runtime`), and one `name.<export>.wgsl` per kernel with its
 * shaders. Rebuilds are incremental: a module whose bundle (its own code, everything it imports
 * and the compiler) is unchanged since the last build is not traced or compiled again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build as esbuild } from 'esbuild';
import { Project } from 'ts-morph';
import { compile } from '../compiler/index.ts';
import type { Kernel } from '../dsl/kernel.ts';
import type { DType } from '../dsl/types.ts';
import { serializeProgram, type Program } from '../program/index.ts';

/** The package's root (where `index.ts` or, built, `index.js` is). */
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const EXT = existsSync(join(ROOT, 'index.ts')) ? '.ts' : '.js';
/** The cache of what each module's outputs were built from. */
const MANIFEST = '.tessera-build.json';

export interface BuildOptions {
  /** Kernel modules (paths). */
  readonly files: readonly string[];
  /** Where the outputs go. */
  readonly outDir: string;
  /** Paths in messages are relative to this (default: the working directory). */
  readonly cwd?: string;
}

export interface BuildError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export interface BuildResult {
  /** `module:export` of every kernel compiled in this build. */
  readonly compiled: string[];
  /** `module:export` of every kernel whose outputs were up to date. */
  readonly unchanged: string[];
  readonly errors: BuildError[];
  /** The files written, relative to `outDir`. */
  readonly written: string[];
}

/** One compiled module: its generated JS and types, and one WGSL text per kernel. */
export interface CompiledModule {
  readonly js: string;
  readonly dts: string;
  readonly wgsl: Readonly<Record<string, string>>;
  readonly kernels: string[];
  readonly errors: BuildError[];
}

/** A build error as a compiler prints it: `file:line:col: message`. */
export function formatBuildError(e: BuildError): string {
  return `${e.file}:${e.line}:${e.column}: ${e.message}`;
}

/** Builds every module into `outDir` (see the file comment). */
export async function buildKernels(options: BuildOptions): Promise<BuildResult> {
  const cwd = options.cwd ?? process.cwd();
  const outDir = resolve(cwd, options.outDir);
  mkdirSync(outDir, { recursive: true });
  const manifestPath = join(outDir, MANIFEST);
  const manifest: Record<string, { hash: string; outputs: string[]; kernels: string[] }> = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : {};
  const result: BuildResult = { compiled: [], unchanged: [], errors: [], written: [] };
  for (const file of options.files) {
    const path = resolve(cwd, file);
    const name = basename(path, extname(path));
    const bundled = await bundleModule(path);
    const hash = createHash('sha256').update(bundled).update(compilerVersion()).digest('hex');
    const before = manifest[path];
    if (before && before.hash === hash && before.outputs.every((o) => existsSync(join(outDir, o)))) {
      result.unchanged.push(...before.kernels.map((k) => `${name}:${k}`));
      continue;
    }
    const compiled = await compileBundle(path, bundled, relative(cwd, path));
    result.errors.push(...compiled.errors);
    if (compiled.errors.length > 0) {
      delete manifest[path];
      continue;
    }
    const outputs: [string, string][] = [
      [`${name}.js`, compiled.js],
      [`${name}.d.ts`, compiled.dts],
      ...Object.entries(compiled.wgsl).map(([k, text]): [string, string] => [`${name}.${k}.wgsl`, text]),
    ];
    for (const old of before?.outputs ?? []) if (!outputs.some(([o]) => o === old)) rmSync(join(outDir, old), { force: true });
    for (const [out, text] of outputs) {
      writeFileSync(join(outDir, out), text);
      result.written.push(out);
    }
    manifest[path] = { hash, outputs: outputs.map(([o]) => o), kernels: compiled.kernels };
    result.compiled.push(...compiled.kernels.map((k) => `${name}:${k}`));
  }
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return result;
}

/** The compiler's identity for the cache: this package's version (read once). */
let version: string | undefined;
function compilerVersion(): string {
  version ??= `tessera ${(JSON.parse(readFileSync(join(ROOT, EXT === '.ts' ? 'package.json' : '../package.json'), 'utf8')) as { version: string }).version}`;
  return version;
}

/** The module bundled as one ESM file, `tessera` (and its subpaths) resolved to this package. */
export async function bundleModule(path: string): Promise<string> {
  const entries: Record<string, string> = {
    tessera: join(ROOT, `index${EXT}`),
    'tessera/runtime': join(ROOT, 'runtime', `index${EXT}`),
    'tessera/kernels': join(ROOT, 'kernels', `index${EXT}`),
  };
  const out = await esbuild({
    entryPoints: [path],
    bundle: true,
    format: 'esm',
    platform: 'node',
    write: false,
    logLevel: 'silent',
    external: ['webgpu'],
    plugins: [
      {
        name: 'tessera-self',
        setup(b) {
          b.onResolve({ filter: /^tessera(\/(runtime|kernels))?$/ }, (args) => ({ path: entries[args.path]! }));
        },
      },
    ],
  });
  return out.outputFiles[0]!.text;
}

/** Imports a bundle and compiles every kernel it exports. */
export async function compileBundle(path: string, bundled: string, shown: string): Promise<CompiledModule> {
  const temp = join(tmpdir(), `tessera-build-${process.pid}-${createHash('sha256').update(bundled).digest('hex').slice(0, 16)}.mjs`);
  writeFileSync(temp, bundled);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(temp).href)) as Record<string, unknown>;
  } catch (e) {
    return { js: '', dts: '', wgsl: {}, kernels: [], errors: [{ file: shown, line: 1, column: 1, message: `the module failed to load: ${(e as Error).message}` }] };
  } finally {
    rmSync(temp, { force: true });
  }
  const where = declarations(path);
  const errors: BuildError[] = [];
  const js: string[] = ["import { compiledKernel } from 'tessera/runtime';"];
  const dts: string[] = ["import type { CompiledKernel } from 'tessera/runtime';"];
  const wgsl: Record<string, string> = {};
  const kernels: string[] = [];
  for (const [exported, value] of Object.entries(mod)) {
    if (!isKernel(value)) continue;
    const at = where.get(exported) ?? { line: 1, column: 1 };
    let program: Program;
    try {
      program = compile(value.trace(), { name: value.kernelName });
    } catch (e) {
      errors.push({ file: shown, ...at, message: `kernel '${value.kernelName}' (export '${exported}'): ${(e as Error).message}` });
      continue;
    }
    kernels.push(exported);
    const inputs = program.inputs.map((t) => [t.name, t.dtype] as const);
    const params = program.params.map((p) => [p.name, p.dtype] as const);
    const outputs = program.outputs.map((t) => [t.name, t.dtype] as const);
    const record = (entries: readonly (readonly [string, DType])[]) => `{ ${entries.map(([n, d]) => `${JSON.stringify(n)}: '${d}'`).join('; ')}${entries.length > 0 ? ' ' : ''}}`;
    const signature = program.inputs.map((t) => `${t.name}: ${t.dtype}[${t.axes.join(', ')}]`).join(', ');
    js.push(`/** ${value.kernelName}(${signature}), compiled by tessera build from ${basename(path)}. */`);
    js.push(`export const ${exported} = /* @__PURE__ */ compiledKernel(${JSON.stringify(value.kernelName)}, ${JSON.stringify(serializeProgram(program))});`);
    dts.push(`/** ${value.kernelName}(${signature}) */`);
    dts.push(`export declare const ${exported}: CompiledKernel<${record(inputs)}, ${record(outputs)}, ${record(params)}>;`);
    wgsl[exported] = program.kernels.map((k, i) => `// ${exported}: shader ${i} of ${program.kernels.length} (${k.name})\n${k.wgsl}`).join('\n');
  }
  return { js: `${js.join('\n')}\n`, dts: `${dts.join('\n')}\n`, wgsl, kernels, errors };
}

function isKernel(value: unknown): value is Kernel {
  return typeof value === 'function' && typeof (value as { trace?: unknown }).trace === 'function' && typeof (value as { kernelName?: unknown }).kernelName === 'string';
}

/** Where each export of a module is declared (1-based line and column), read with ts-morph. */
function declarations(path: string): Map<string, { line: number; column: number }> {
  const project = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true, compilerOptions: { allowJs: true } });
  const source = project.addSourceFileAtPath(path);
  const out = new Map<string, { line: number; column: number }>();
  for (const [name, nodes] of source.getExportedDeclarations()) {
    const node = nodes[0];
    if (!node || node.getSourceFile() !== source) continue;
    const { line, column } = source.getLineAndColumnAtPos(node.getStart());
    out.set(name, { line, column });
  }
  return out;
}

