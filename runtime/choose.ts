/**
 * Choosing a backend: WebGPU when an adapter exists (and the caller does not prefer the CPU),
 * otherwise the CPU interpreter, with `fallbackReason` saying why WebGPU was not used. Split from
 * the probing so the choice can be tested on machines that do have an adapter.
 */
import type { Precision } from '../interpreter/interpret.ts';
import type { Backend } from './backend.ts';
import { createCpuBackend } from './cpu.ts';
import { probeGPU, type GPUProbe } from './device.ts';
import { backendOnAdapter } from './webgpu.ts';

export interface BackendChoice {
  readonly prefer?: 'webgpu' | 'cpu';
  /** The CPU interpreter's precision, when it is chosen (default f64). */
  readonly precision?: Precision;
}

/** The backend for a probe's outcome; a device that fails to open also falls back to the CPU. */
export async function backendFor(probe: GPUProbe, options: BackendChoice = {}): Promise<Backend> {
  const cpu = (fallbackReason: string | null): Backend => createCpuBackend({ precision: options.precision ?? 'f64', fallbackReason });
  if (options.prefer === 'cpu') return cpu(null);
  if (!probe.ok) return cpu(`WebGPU unavailable: ${probe.reason}`);
  try {
    return await backendOnAdapter(probe.gpu);
  } catch (e) {
    return cpu(`WebGPU unavailable: opening a device failed (${(e as Error).message})`);
  }
}

/**
 * WebGPU when an adapter exists (and `prefer` is not 'cpu'); otherwise the CPU interpreter, with
 * `fallbackReason` saying why WebGPU was not used.
 */
export async function createBackend(options: BackendChoice = {}): Promise<Backend> {
  if (options.prefer === 'cpu') return backendFor({ ok: false, reason: 'not probed' }, options);
  return backendFor(await probeGPU(), options);
}
