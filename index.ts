/**
 * tessera: a typed TypeScript kernel DSL that compiles to tiled WGSL.
 *
 * This entry point bundles everything: the DSL, the compiler, the runtime and the interpreter, and
 * `run`, which traces, compiles (once per kernel, pins and device limits) and runs a kernel on a
 * backend. Apps that ship precompiled programs import `tessera/runtime` alone.
 */
import type { Graph } from './dsl/ir.ts';
import type { Kernel } from './dsl/kernel.ts';
import type { DType, HostTensor } from './dsl/types.ts';
import { compile, type CompileOptions } from './compiler/index.ts';
import type { Backend, RuntimeTensor } from './runtime/index.ts';
import type { Program } from './program/index.ts';

export * from './dsl/index.ts';
export { interpret, interpretKernel, type InterpretOptions, type InterpretedTensor } from './interpreter/index.ts';
export { compile, fuseGraph, optimizeGraph, type CompileOptions, type ScheduleOverrides } from './compiler/index.ts';
export * from './runtime/index.ts';
export type { Program, DeviceLimits } from './program/index.ts';

export interface RunOptions {
  /** Scalar parameters by name. */
  readonly params?: Readonly<Record<string, number>>;
  /** Symbols pinned to numbers when tracing (specialises the shaders). */
  readonly sizes?: Readonly<Record<string, number>>;
  /** Extra compiler options (schedules, logging). */
  readonly compile?: Omit<CompileOptions, 'limits' | 'name'>;
}

/** A result read back to the host. */
export interface RunResult {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: Float32Array | Int32Array | Uint32Array | Uint8Array;
}

const programCache = new WeakMap<Kernel, Map<string, Program>>();

/** Traces and compiles `k` for `backend`, reusing an earlier compilation for the same settings. */
export function compileFor(k: Kernel, backend: Backend, options: Pick<RunOptions, 'sizes' | 'compile'> = {}): Program {
  let cache = programCache.get(k);
  if (!cache) programCache.set(k, (cache = new Map()));
  const key = JSON.stringify([options.sizes ?? {}, backend.limits, options.compile?.schedules ?? null]);
  let program = cache.get(key);
  if (!program) {
    const graph: Graph = k.trace(options.sizes ? { sizes: options.sizes } : {});
    program = compile(graph, { ...options.compile, name: k.kernelName, limits: backend.limits });
    cache.set(key, program);
  }
  return program;
}

/**
 * Runs a kernel on a backend and reads every output back: the one-call path from DSL code to
 * numbers. For repeated runs keep the device tensors instead (`backend.run(compileFor(...))`).
 */
export async function run(
  k: Kernel,
  inputs: Readonly<Record<string, HostTensor | RuntimeTensor>>,
  backend: Backend,
  options: RunOptions = {},
): Promise<Record<string, RunResult>> {
  const program = compileFor(k, backend, options);
  const outputs = await backend.run(program, inputs, options.params ?? {});
  const results: Record<string, RunResult> = {};
  for (const [name, t] of Object.entries(outputs)) {
    results[name] = { shape: t.shape, dtype: t.dtype, data: await t.read() };
    t.destroy();
  }
  return results;
}
