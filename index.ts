/// <reference types="@webgpu/types" preserve="true" />
/**
 * tessera: a typed TypeScript kernel DSL that compiles to tiled WGSL.
 *
 * This entry point bundles everything: the DSL, the compiler, the runtime and the interpreter, and
 * (from `run.ts`) `run`, which traces, compiles (once per kernel, pins, head-dim signature and
 * device limits) and runs a kernel on a backend, and `attention`, the library's attention kernel
 * on the usual layouts. Apps that ship precompiled programs import `tessera/runtime` alone; the
 * kernel library alone is `tessera/kernels`.
 */
export * from './dsl/index.ts';
export { interpret, interpretKernel, type InterpretOptions, type InterpretedTensor } from './interpreter/index.ts';
export { compile, fuseGraph, optimizeGraph, type CompileOptions, type ScheduleOverrides } from './compiler/index.ts';
export { symbolsToPin } from './compiler/specialize.ts';
export * from './runtime/index.ts';
export type { Program, DeviceLimits } from './program/index.ts';
export { run, compileFor, attention, type RunOptions, type RunResult, type AttentionInputs, type AttentionOptions } from './run.ts';
