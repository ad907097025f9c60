/**
 * A tensor held in a GPU buffer. Every dtype occupies 32-bit words on the GPU (bool as u32 0/1,
 * since WGSL has no storable bool); on the host bool is a Uint8Array of 0/1.
 */
import { TesseraError, type DType } from '../dsl/types.ts';
import type { RuntimeTensor, TensorData } from './backend.ts';
import type { DeviceContext, TrackedBuffer } from './context.ts';
import { WebGPUError, describeKind, popScopes, pushScopes } from './errors.ts';
import { TENSOR_USAGE } from './gpu-flags.ts';
import { mapForReading } from './map-wait.ts';

/** The words a dtype's host data occupies on the GPU (bool widened to u32). */
function toGpuWords(data: TensorData, dtype: DType): Float32Array | Int32Array | Uint32Array {
  if (dtype === 'bool') return Uint32Array.from(data as Uint8Array, (v) => (v ? 1 : 0));
  return data as Float32Array | Int32Array | Uint32Array;
}

/** Host data of a dtype from GPU words (bool narrowed to 0/1 bytes). */
function fromGpuWords(words: ArrayBuffer, dtype: DType): TensorData {
  switch (dtype) {
    case 'f32':
      return new Float32Array(words);
    case 'i32':
      return new Int32Array(words);
    case 'u32':
      return new Uint32Array(words);
    case 'bool':
      return Uint8Array.from(new Uint32Array(words), (v) => (v ? 1 : 0));
  }
}

let nextSerial = 0;

export class GPUTensor implements RuntimeTensor {
  #tracked: TrackedBuffer | null;
  /** Distinct per tensor, for caches keyed by several tensors. */
  readonly serial = nextSerial++;
  #exposed = false;
  #finite = false;
  /** Resolves to the error WebGPU reported while creating or filling the buffer, or null. */
  readonly #created: Promise<string | null>;

  /** Where `destroy` gives the buffer back instead of freeing it (a run's outputs: the backend's pool). */
  readonly #recycle: ((tracked: TrackedBuffer) => void) | null;

  constructor(
    readonly ctx: DeviceContext,
    tracked: TrackedBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly label: string,
    created: Promise<string | null>,
    recycle: ((tracked: TrackedBuffer) => void) | null = null,
  ) {
    this.#tracked = tracked;
    this.#created = created;
    this.#recycle = recycle;
  }

  get destroyed(): boolean {
    return this.#tracked === null;
  }

  /**
   * Whether code outside tessera may write the buffer (a wrapped buffer, or one handed out by
   * `bufferOf`): then what a check learned about its contents cannot be kept.
   */
  get exposed(): boolean {
    return this.#exposed;
  }

  expose(): void {
    this.#exposed = true;
  }

  /**
   * Whether every value is known to be finite (an upload whose data was): a program's
   * `finiteSteps` may then read it. Never for a run's outputs, nor once the buffer is exposed.
   */
  get knownFinite(): boolean {
    return this.#finite && !this.#exposed;
  }

  /** Records that every value of the tensor is finite (the uploader checked its data). */
  markFinite(): void {
    this.#finite = true;
  }

  /** Elements times 4 bytes: the part of the buffer that holds the tensor. */
  get byteLength(): number {
    return this.shape.reduce((a, b) => a * b, 1) * 4;
  }

  get buffer(): GPUBuffer {
    if (this.#tracked === null) throw new TesseraError(`tensor '${this.label}' was destroyed`);
    return this.#tracked.buffer;
  }

  /** Throws if creating the buffer failed (e.g. out of memory), which WebGPU reports late. */
  async ready(): Promise<void> {
    const error = await this.#created;
    if (error !== null) throw new WebGPUError(`creating tensor '${this.label}' failed: ${error}`);
  }

  async read(): Promise<TensorData> {
    this.ctx.checkAlive();
    const source = this.buffer;
    await this.ready();
    const { device } = this.ctx;
    const bytes = this.byteLength;
    pushScopes(device);
    // A pooled staging buffer may be larger than the tensor: only its first `bytes` are used.
    const staging = this.ctx.readbacks.acquire(bytes, `${this.label} (readback)`);
    const encoder = device.createCommandEncoder({ label: `read '${this.label}'` });
    encoder.copyBufferToBuffer(source, 0, staging.buffer, 0, bytes);
    device.queue.submit([encoder.finish()]);
    const scoped = popScopes(device);
    const mapped = mapForReading(staging.buffer, this.ctx.readbackWait, this.ctx.waits, this.label, bytes);
    mapped.catch(() => {});
    const error = await scoped;
    if (error !== null) {
      staging.destroy();
      throw new WebGPUError(`reading tensor '${this.label}': ${describeKind(error.kind)}: ${error.message}`);
    }
    try {
      await mapped;
    } catch (e) {
      staging.destroy();
      this.ctx.checkAlive();
      throw new WebGPUError(`reading tensor '${this.label}' failed: ${(e as Error).message}`);
    }
    const words = staging.buffer.getMappedRange(0, bytes).slice(0);
    staging.buffer.unmap();
    this.ctx.readbacks.release(staging);
    return fromGpuWords(words, this.dtype);
  }

  /**
   * Releases the buffer. A run's output goes back to the backend's pool for the next run to reuse
   * (`trimPool` frees it), unless its buffer was handed out (`bufferOf`): code outside
   * tessera may still hold that one, so it is freed.
   */
  destroy(): void {
    const tracked = this.#tracked;
    this.#tracked = null;
    if (tracked === null) return;
    if (this.#recycle && !this.#exposed) this.#recycle(tracked);
    else tracked.destroy();
  }
}

/**
 * Creates a tensor holding `data` (already checked against `dtype` and `shape`). The buffer is
 * written while mapped at creation, so the upload is synchronous and needs no staging buffer.
 */
export function uploadTensor(ctx: DeviceContext, label: string, data: TensorData, shape: readonly number[], dtype: DType): GPUTensor {
  const words = toGpuWords(data, dtype);
  const bytes = Math.max(4, words.byteLength);
  pushScopes(ctx.device);
  const tracked = ctx.createBuffer(label, bytes, TENSOR_USAGE, true);
  const range = tracked.buffer.getMappedRange();
  new Uint8Array(range).set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
  tracked.buffer.unmap();
  const created = popScopes(ctx.device).then((e) => (e ? `${describeKind(e.kind)}: ${e.message}` : null));
  return new GPUTensor(ctx, tracked, shape, dtype, label, created);
}
