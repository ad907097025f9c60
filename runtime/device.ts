/**
 * Finding a WebGPU adapter and opening a device on it: `navigator.gpu` in browsers, the `webgpu`
 * package (Dawn) in Node. The package is imported dynamically through a variable so a browser
 * bundle never tries to include it.
 */
import type { DeviceLimits } from '../program/index.ts';

/** An adapter plus whatever must stay referenced for the device's whole life (Dawn's GPU object). */
export interface AcquiredGPU {
  readonly adapter: GPUAdapter;
  readonly keepAlive: unknown;
}

/** The part of the `webgpu` package the runtime uses (declared here so its types are optional). */
interface DawnModule {
  create(options: string[]): GPU;
  globals: object;
}

/** Why no adapter could be had, for `Backend.fallbackReason`. */
export type GPUProbe = { readonly ok: true; readonly gpu: AcquiredGPU } | { readonly ok: false; readonly reason: string };

let dawn: Promise<GPU | string> | undefined;

/** Dawn's GPU object, created once per process (each `create()` starts a new Dawn instance). */
function nodeGPU(): Promise<GPU | string> {
  dawn ??= (async () => {
    const specifier = 'webgpu';
    let mod: DawnModule;
    try {
      mod = (await import(/* @vite-ignore */ specifier)) as DawnModule;
    } catch (e) {
      return `the 'webgpu' package could not be loaded (${(e as Error).message})`;
    }
    // Dawn's objects expect the WebGPU globals (GPUBufferUsage, ...); add the missing ones only.
    for (const [name, value] of Object.entries(mod.globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
    }
    return mod.create([]);
  })();
  return dawn;
}

/** Looks for an adapter and says why when there is none. */
export async function probeGPU(options: { powerPreference?: GPUPowerPreference } = {}): Promise<GPUProbe> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  let gpu: GPU;
  let where: string;
  if (nav?.gpu) {
    gpu = nav.gpu;
    where = 'navigator.gpu';
  } else if ((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node) {
    const got = await nodeGPU();
    if (typeof got === 'string') return { ok: false, reason: got };
    gpu = got;
    where = "the 'webgpu' package (Dawn)";
  } else {
    return { ok: false, reason: 'this environment has no navigator.gpu (WebGPU is not available)' };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
  } catch (e) {
    return { ok: false, reason: `${where} failed to request an adapter (${(e as Error).message})` };
  }
  if (!adapter) return { ok: false, reason: `${where} found no WebGPU adapter` };
  return { ok: true, gpu: { adapter, keepAlive: gpu } };
}

/** The adapter (and the object keeping it alive), or null when there is none. */
export async function requestGPU(options: { powerPreference?: GPUPowerPreference } = {}): Promise<AcquiredGPU | null> {
  const probe = await probeGPU(options);
  return probe.ok ? probe.gpu : null;
}

/** Limits requested at the adapter's maximum, since tiled kernels need more than the defaults. */
export const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxBindingsPerBindGroup',
] as const;

/** Optional features the compiler and the profiler can use when present. */
const WANTED_FEATURES: readonly GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];

/** Opens a device with the adapter's larger limits and the wanted features it has. */
export async function openDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  const available = adapter.limits as unknown as Record<string, number | undefined>;
  for (const name of RAISED_LIMITS) {
    const v = available[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  return adapter.requestDevice({ label: 'tessera', requiredLimits, requiredFeatures });
}

/** The limits the compiler plans against, read from the device. */
export function deviceLimits(device: GPUDevice): DeviceLimits {
  const l = device.limits;
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
  };
}

/** `vendor architecture: description` from adapter info, skipping empty parts. */
export function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'WebGPU device (adapter unknown)';
  const head = [info.vendor, info.architecture].filter((s) => s).join(' ');
  const tail = info.description || info.device;
  return [head, tail].filter((s) => s).join(': ') || 'WebGPU device (adapter unknown)';
}
