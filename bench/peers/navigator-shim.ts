/**
 * A `navigator.gpu` whose adapter always hands out the bench's shared device.
 *
 * TF.js's WebGPU backend and jax-js both acquire their device themselves through
 * `navigator.gpu.requestAdapter()` then `adapter.requestDevice()`; neither takes a device from the
 * caller. Node has no `navigator` (Node 20) or one without `gpu` (Node 21+). Installing this shim
 * before either library initialises makes both of them run on the very `GPUDevice` tessera uses, so
 * every row of a bench run is measured on the same adapter, driver, features and limits.
 *
 * What the libraries read (checked against their sources in node_modules):
 * - TF.js 4.22 (`tfjs-backend-webgpu/dist/base.js`): registers its backend at import time only if
 *   `navigator.gpu` exists; then reads `adapter.features.has(...)`, `adapter.limits.*`,
 *   `adapter.info` (or the older `requestAdapterInfo()`), and calls `requestDevice(descriptor)`.
 * - jax-js 0.1.25 (`backend-*.js`, `createBackend('webgpu')`): `navigator.gpu.requestAdapter()`,
 *   `adapter.limits[...]`, `adapter.features.has(...)`, `requestDevice(descriptor)`; its WebGPU
 *   module reads `navigator.userAgent` at load time and its scheduler on every kernel, and its
 *   Wasm worker pool reads `navigator.hardwareConcurrency`.
 */
import { availableParallelism } from 'node:os';
import type { SharedDevice } from '../device.ts';

/** Who asked for a device through the shim, for the run's log. */
export const deviceRequests: string[] = [];

/**
 * Installs the shim on `globalThis.navigator` (creating a minimal `navigator` when Node has none).
 * Idempotent. Must run before `@tensorflow/tfjs-backend-webgpu` is imported, because that module
 * decides at import time whether to register its backend.
 */
export function installNavigatorShim(shared: SharedDevice): void {
  const gpu = sharedGpu(shared);
  const g = globalThis as { navigator?: object };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', {
      value: {
        userAgent: `Node.js/${process.versions.node} (tessera bench; WebGPU via Dawn)`,
        hardwareConcurrency: availableParallelism(),
        language: 'en-US',
      },
      configurable: true,
      writable: true,
    });
  }
  const nav = (globalThis as unknown as { navigator: Record<string, unknown> }).navigator;
  if ((nav['gpu'] as { tesseraShared?: boolean } | undefined)?.tesseraShared === true) return;
  Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
}

/** The `GPU`-like object: every adapter it returns wraps the one shared device. */
function sharedGpu(shared: SharedDevice): object {
  const { gpu, adapter, device } = shared;
  const adapterLike = {
    // Report what the shared device *has*, not what the physical adapter could do: the libraries
    // size their `requiredLimits`/`requiredFeatures` from these, and everything they see here is
    // then guaranteed to be satisfied by the device they get.
    features: device.features,
    limits: device.limits,
    info: adapter.info,
    isFallbackAdapter: false,
    /** Pre-2024 spelling still probed by TF.js when `info` is missing. */
    requestAdapterInfo: async (): Promise<GPUAdapterInfo> => adapter.info,
    requestDevice: async (descriptor?: GPUDeviceDescriptor): Promise<GPUDevice> => {
      checkSatisfiable(device, descriptor);
      deviceRequests.push(descriptor?.label ?? 'unlabelled requestDevice()');
      return device;
    },
  };
  return {
    tesseraShared: true,
    requestAdapter: async (): Promise<object> => adapterLike,
    getPreferredCanvasFormat: (): GPUTextureFormat => gpu.getPreferredCanvasFormat?.() ?? 'bgra8unorm',
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  };
}

/**
 * Refuses, as a real `requestDevice` would, a descriptor the shared device cannot honour, so a
 * library never runs on a device weaker than it asked for without anyone noticing.
 */
function checkSatisfiable(device: GPUDevice, descriptor: GPUDeviceDescriptor | undefined): void {
  // TF.js pushes `['bgra8unorm-storage']` (an array) into requiredFeatures; WebIDL stringifies
  // it, so we do too.
  for (const f of descriptor?.requiredFeatures ?? []) {
    const name = String(f);
    if (!device.features.has(name)) throw new TypeError(`shared bench device lacks feature '${name}' requested by a peer library`);
  }
  const have = device.limits as unknown as Record<string, number>;
  for (const [name, want] of Object.entries(descriptor?.requiredLimits ?? {})) {
    if (want === undefined) continue;
    const value = have[name];
    if (value === undefined) continue; // unknown limit names are ignored by implementations
    const ok = name.startsWith('min') ? Number(want) >= value : Number(want) <= value;
    if (!ok) throw new RangeError(`shared bench device has ${name}=${value}, a peer library requested ${String(want)}`);
  }
}
