/// <reference types="@webgpu/types" preserve="true" />
/**
 * The tessera runtime: runs compiled Programs on WebGPU (or on the CPU interpreter). An app that
 * ships precompiled programs imports this module alone; it never loads the compiler.
 */
export type { Backend, MemoryRecord, Profile, ReadbackWait, RunInputs, RuntimeTensor, StepTiming, TensorData, WebGPUBackend } from './backend.ts';
export { isRuntimeTensor } from './backend.ts';
export { backendFor, createBackend, type BackendChoice } from './choose.ts';
export { createCpuBackend } from './cpu.ts';
export { probeGPU, requestGPU, type AcquiredGPU, type GPUProbe } from './device.ts';
export { WebGPUError } from './errors.ts';
export { formatBytes } from './format.ts';
export { planRun, workgroupGrid, type RunPlan } from './plan.ts';
export { createWebGPUBackend } from './webgpu.ts';
export { compiledKernel, runCompiled, type CompiledKernel, type CompiledResult } from './compiled.ts';
export { fromTypeGPU, toTypeGPU, typegpuBackend, type TypeGPURootLike } from './typegpu.ts';
export { DEFAULT_LIMITS, evalSize, parseProgram, serializeProgram, validateProgram, type DeviceLimits, type Program, type ProgramBuffer, type ProgramKernel, type ProgramTensor, type SizeExpr, type SizeRange, type Step, type UniformWord } from '../program/index.ts';
/** Host helpers for sparse graph attention: build and check CSR adjacencies (`rowptr`, `col`). */
export { checkCsr, csrFromCoo, csrFromDense, permuteEdges, type CsrGraph } from '../program/index.ts';
