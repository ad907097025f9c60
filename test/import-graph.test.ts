/**
 * The package's boundaries, checked on what a bundler actually pulls in (esbuild's metafile), so a
 * stray import fails here instead of silently shipping the compiler to apps:
 * - `tessera/runtime` runs precompiled Programs: no compiler, no tracer;
 * - `tessera/kernels` is the library written in the DSL: no compiler, runtime or interpreter;
 * - the compiler and the runtime never import each other.
 * Type-only imports are erased by esbuild and do not count.
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The tracer: what turns DSL code into Tensor IR (an app running Programs never needs it). */
const TRACER = ['dsl/trace.ts', 'dsl/ops.ts', 'dsl/tensor.ts', 'dsl/kernel.ts', 'dsl/einsum.ts'];

/** The metafile of bundling `entry` as `tessera` users would (node, ESM, webgpu left external). */
async function metafileOf(entry: string): Promise<Metafile> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['webgpu', ...builtinModules, 'node:*'],
  });
  return result.metafile;
}

/** The import chain from `entry` to `target`, for a readable failure ("a.ts → b.ts → c.ts"). */
function chain(meta: Metafile, entry: string, target: string): string {
  const from = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (file === target) break;
    for (const imp of meta.inputs[file]?.imports ?? []) {
      if (imp.external || from.has(imp.path)) continue;
      from.set(imp.path, file);
      queue.push(imp.path);
    }
  }
  if (!from.has(target)) return `${target} (no chain found)`;
  const path: string[] = [];
  for (let at: string | null = target; at !== null; at = from.get(at) ?? null) path.unshift(at);
  return path.join(' → ');
}

/** Every input of `entry`'s bundle that `forbidden` matches, each with the chain that pulls it in. */
function violations(meta: Metafile, entry: string, forbidden: (file: string) => boolean): string[] {
  return Object.keys(meta.inputs)
    .filter(forbidden)
    .map((file) => chain(meta, entry, file));
}

const under = (...dirs: string[]) => (file: string) => dirs.some((d) => file.startsWith(`${d}/`));

describe('import graph', () => {
  const metas = new Map<string, Metafile>();
  beforeAll(async () => {
    for (const entry of ['runtime/index.ts', 'kernels/index.ts', 'compiler/index.ts', 'index.ts']) metas.set(entry, await metafileOf(entry));
  });
  const inputsOf = (entry: string) => Object.keys(metas.get(entry)!.inputs);

  it('bundles each entry with the files it is made of (the checks below see real graphs)', () => {
    expect(inputsOf('runtime/index.ts')).toEqual(expect.arrayContaining(['runtime/index.ts', 'runtime/webgpu.ts', 'runtime/cpu.ts', 'program/index.ts']));
    expect(inputsOf('kernels/index.ts')).toEqual(expect.arrayContaining(['kernels/index.ts', 'kernels/attention.ts', 'kernels/einsum.ts', 'kernels/hopfield.ts', ...TRACER]));
    expect(inputsOf('compiler/index.ts')).toEqual(expect.arrayContaining(['compiler/index.ts', 'compiler/passes/fuse.ts', 'dsl/ir.ts']));
    // The full bundle has everything, the runner included: the forbidden files do exist.
    expect(inputsOf('index.ts')).toEqual(expect.arrayContaining(['index.ts', 'run.ts', 'compiler/index.ts', 'compiler/specialize.ts', 'runtime/index.ts', 'interpreter/index.ts', 'kernels/attention.ts', ...TRACER]));
  });

  it('tessera/runtime loads neither the compiler nor the tracer', () => {
    const meta = metas.get('runtime/index.ts')!;
    expect(violations(meta, 'runtime/index.ts', under('compiler'))).toEqual([]);
    expect(violations(meta, 'runtime/index.ts', (f) => TRACER.includes(f))).toEqual([]);
    expect(violations(meta, 'runtime/index.ts', (f) => f === 'index.ts' || f === 'run.ts' || f.startsWith('kernels/'))).toEqual([]);
  });

  it('tessera/kernels loads the DSL only: no compiler, runtime or interpreter', () => {
    const meta = metas.get('kernels/index.ts')!;
    expect(violations(meta, 'kernels/index.ts', under('compiler', 'runtime', 'interpreter'))).toEqual([]);
    expect(violations(meta, 'kernels/index.ts', (f) => f === 'index.ts' || f === 'run.ts')).toEqual([]);
  });

  it('the compiler never imports the runtime', () => {
    expect(violations(metas.get('compiler/index.ts')!, 'compiler/index.ts', under('runtime'))).toEqual([]);
  });
});
