/**
 * The one WebGPU device every implementation in a bench run shares.
 *
 * Comparisons are only fair when tessera and its peers run on the same adapter, driver and
 * device limits in the same process, so the harness opens a single Dawn device here and hands it
 * to tessera directly and to TF.js and jax-js through the `navigator.gpu` shim.
 */
import { RAISED_LIMITS as TESSERA_RAISED_LIMITS } from '../runtime/device.ts';
import { create, globals } from 'webgpu';

/** Features any of the benchmarked libraries asks for; each is enabled when the adapter has it. */
const WANTED_FEATURES: readonly GPUFeatureName[] = [
  // jax-js requests shader-f16 and timestamp-query; TF.js timestamp-query and bgra8unorm-storage;
  // tessera's legaliser can use shader-f16 and subgroups.
  'shader-f16',
  'timestamp-query',
  'bgra8unorm-storage',
  'subgroups',
];

/**
 * Limits raised to the adapter's maximum: the union of what jax-js
 * (`createBackend('webgpu')`), TF.js (`registerBackend('webgpu')`) and tessera's runtime
 * (`openDevice`, whose list this extends) request when they open a device themselves. A library asking for more than the
 * shared device has is refused by the shim, so the union must cover them all.
 */
const RAISED_LIMITS = [...TESSERA_RAISED_LIMITS, 'maxStorageTexturesPerShaderStage'] as const;

export interface SharedDevice {
  /**
   * The object `create()` returned. Dawn tears the instance down when it is collected, so it is
   * kept here, referenced for the device's whole life.
   */
  readonly gpu: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  /** One line naming the adapter and driver, written into every JSON row. */
  readonly description: string;
}

let opened: Promise<SharedDevice> | undefined;

/**
 * Opens (once per process) the shared Dawn device with every wanted feature the adapter has and
 * the raised limits. Throws with a hint about `VK_ICD_FILENAMES` when no adapter is found, the
 * usual cause on a machine without a GPU.
 */
export function openSharedDevice(): Promise<SharedDevice> {
  opened ??= open();
  return opened;
}

async function open(): Promise<SharedDevice> {
  // Dawn's classes (GPUBufferUsage, GPUMapMode, ...) are globals in a browser; the libraries
  // reference them as such.
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      'no WebGPU adapter from Dawn; on a machine without a GPU point Vulkan at lavapipe: ' +
        'VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json XDG_RUNTIME_DIR=/tmp/xdg',
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'tessera-bench shared device' });
  device.lost.then((info) => {
    // A lost device makes every later row fail; say so once, loudly, instead of a stream of
    // confusing per-impl errors.
    if (info.reason !== 'destroyed') console.error(`bench: WebGPU device lost (${info.reason}): ${info.message}`);
  });
  return { gpu, adapter, device, description: describeAdapter(adapter.info) };
}

/** `mesa llvmpipe (LLVM 15.0.6, 256 bits) · software · Mesa 25.0.7`-style summary for the rows. */
export function describeAdapter(info: GPUAdapterInfo): string {
  const parts = [info.vendor, info.device, info.architecture, info.description].filter((p) => p !== undefined && p !== '');
  return `Dawn: ${[...new Set(parts)].join(' · ')}`;
}
