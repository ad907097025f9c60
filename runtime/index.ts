/**
 * The tessera runtime: runs compiled Programs on WebGPU (or on the CPU interpreter). An app that
 * ships precompiled programs imports this module alone; it never loads the compiler.
 */
import type { Precision } from '../dsl/interpret.ts';
import type { Backend } from './backend.ts';
import { createCpuBackend } from './cpu.ts';
import { probeGPU } from './device.ts';
import { backendOnAdapter } from './webgpu.ts';

export type { Backend, MemoryRecord, Profile, RunInputs, RuntimeTensor, StepTiming, TensorData, WebGPUBackend } from './backend.ts';
export { isRuntimeTensor } from './backend.ts';
export { createCpuBackend } from './cpu.ts';
export { requestGPU, type AcquiredGPU } from './device.ts';
export { WebGPUError } from './errors.ts';
export { formatBytes } from './format.ts';
export { planRun, workgroupGrid, type RunPlan } from './plan.ts';
export { validateProgram } from './validate.ts';
export { createWebGPUBackend } from './webgpu.ts';
export { DEFAULT_LIMITS, evalSize, type DeviceLimits, type Program, type ProgramBuffer, type ProgramKernel, type ProgramTensor, type SizeExpr, type Step, type UniformWord } from './program.ts';

/**
 * WebGPU when an adapter exists (and `prefer` is not 'cpu'); otherwise the CPU interpreter, with
 * `fallbackReason` saying why WebGPU was not used.
 */
export async function createBackend(options: { prefer?: 'webgpu' | 'cpu'; precision?: Precision } = {}): Promise<Backend> {
  const cpu = (fallbackReason: string | null): Backend => createCpuBackend({ ...(options.precision ? { precision: options.precision } : {}), fallbackReason });
  if (options.prefer === 'cpu') return cpu(null);
  const probe = await probeGPU();
  if (!probe.ok) return cpu(`WebGPU unavailable: ${probe.reason}`);
  try {
    return await backendOnAdapter(probe.gpu);
  } catch (e) {
    return cpu(`WebGPU unavailable: ${(e as Error).message}`);
  }
}
