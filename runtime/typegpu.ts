/**
 * TypeGPU interop (`typegpu` is an optional peer dependency: nothing here imports it). A tessera
 * backend on a TypeGPU root's device, TypeGPU buffers as program inputs (read in place, no copy)
 * and program outputs as TypeGPU buffers (the same GPU buffer under a TypeGPU schema), so kernels
 * compiled by tessera slot into an app that manages its GPU resources with TypeGPU.
 */
import { TesseraError, type DType } from '../dsl/types.ts';
import type { DeviceLimits } from '../program/index.ts';
import type { RuntimeTensor, WebGPUBackend } from './backend.ts';
import { createWebGPUBackend } from './webgpu.ts';

/**
 * What tessera uses of a TypeGPU root (`tgpu.init()`, `tgpu.initFromDevice()`): its device and its
 * `unwrap`, which gives a TypeGPU buffer's GPUBuffer (TypeGPU overloads it for every resource).
 */
export interface TypeGPURootLike {
  readonly device: GPUDevice;
  unwrap(resource: never): unknown;
}

/** A tessera WebGPU backend on the root's device (its limits lowered with `limits`, if given). */
export function typegpuBackend(root: TypeGPURootLike, options: { limits?: Partial<DeviceLimits> } = {}): Promise<WebGPUBackend> {
  return createWebGPUBackend({ device: root.device, ...(options.limits ? { limits: options.limits } : {}) });
}

/**
 * A TypeGPU buffer as a program input or output tensor of `shape` and `dtype` (row-major, 4
 * bytes an element), read and written in place. The buffer needs `$usage('storage')`.
 */
export function fromTypeGPU(backend: WebGPUBackend, root: TypeGPURootLike, buffer: unknown, shape: readonly number[], dtype: DType = 'f32'): RuntimeTensor {
  const gpu = (root.unwrap as (resource: unknown) => unknown)(buffer) as GPUBuffer;
  if (!gpu || typeof gpu.size !== 'number' || typeof gpu.usage !== 'number') throw new TesseraError('fromTypeGPU: the root did not unwrap the buffer to a GPUBuffer');
  return backend.wrap(gpu, shape, dtype);
}

/**
 * A tensor of the backend handed to TypeGPU over the same GPU buffer (no copy): `make` receives
 * the GPUBuffer and wraps it, e.g. `(b) => root.createBuffer(d.arrayOf(d.f32, n), b)`. TypeGPU
 * reads and writes it from then on; `tensor.destroy()` frees it for both.
 */
export function toTypeGPU<R>(backend: WebGPUBackend, tensor: RuntimeTensor, make: (buffer: GPUBuffer) => R): R {
  return make(backend.bufferOf(tensor));
}
