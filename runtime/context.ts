/**
 * The state a WebGPU backend shares with its tensors: the device, the allocation record, and
 * whether the device is still usable. Every GPU buffer is created here, so none escapes the
 * allocation record and every call after a device loss fails the same clear way.
 */
import { TesseraError } from '../dsl/types.ts';
import { WebGPUError } from './errors.ts';
import { BufferUsage } from './gpu-flags.ts';
import { WaitHistory, defaultReadbackWait, type ReadbackWait } from './map-wait.ts';
import type { MemoryTracker } from './memory.ts';
import { BufferPool } from './pool.ts';

export interface TrackedBuffer {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
  /** Destroys the buffer and records the release (idempotent). */
  destroy(): void;
}

export class DeviceContext {
  #lost: string | null = null;
  #closed = false;
  /** Each readback label's recent waits, for `'poll'` (see `runtime/map-wait.ts`). */
  readonly waits = new WaitHistory();
  /** Buffers evicted from caches while a run was being encoded; destroyed once it is submitted. */
  readonly #deferred: TrackedBuffer[] = [];
  /**
   * Staging buffers for readbacks, kept for the next one: creating a mappable buffer per read cost
   * lavapipe's JavaScript thread ~0.4 ms for 512 KiB, a twentieth of the trilinear einsum's run
   * (an ad-hoc script alternating pooled and fresh staging buffers, 200 rounds each: medians 9.74
   * against 10.31 ms).
   */
  readonly readbacks: BufferPool = new BufferPool(this, BufferUsage.MAP_READ | BufferUsage.COPY_DST);

  constructor(
    readonly device: GPUDevice,
    readonly memory: MemoryTracker,
    /** How readbacks wait for the GPU. */
    readonly readbackWait: ReadbackWait = defaultReadbackWait(),
  ) {
    device.lost.then(
      (info) => {
        this.#lost = `${info.reason}${info.message ? ` (${info.message})` : ''}`;
      },
      () => {},
    );
  }

  /** Null while usable; otherwise why the device was lost. */
  get lostReason(): string | null {
    return this.#lost;
  }

  /** Throws if the device was lost or the backend destroyed. */
  checkAlive(): void {
    if (this.#closed) throw new TesseraError('this WebGPU backend was destroyed');
    if (this.#lost !== null) throw new WebGPUError(`device was lost: ${this.#lost}`);
  }

  close(): void {
    this.#closed = true;
  }

  /** Whether the backend was destroyed (a pool then destroys what is given back to it). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Creates a buffer and records it in the allocation record under `label`. */
  createBuffer(label: string, bytes: number, usage: number, mappedAtCreation = false): TrackedBuffer {
    const buffer = this.device.createBuffer({ label, size: bytes, usage, mappedAtCreation });
    const release = this.memory.allocate(label, bytes);
    return {
      buffer,
      bytes,
      destroy() {
        buffer.destroy();
        release();
      },
    };
  }

  /** Destroys `buffer` after the next `flushDeferred()` (it may be referenced by work being encoded). */
  deferDestroy(buffer: TrackedBuffer): void {
    this.#deferred.push(buffer);
  }

  flushDeferred(): void {
    for (const b of this.#deferred.splice(0)) b.destroy();
  }
}
