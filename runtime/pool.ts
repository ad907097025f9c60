/**
 * A pool of GPU buffers of one usage: a Program's temporaries and outputs, or the staging buffers
 * readbacks copy into. A run takes one buffer per temp buffer id and gives them back when it has
 * been submitted; an output's buffer comes back when the tensor is destroyed; a readback gives its
 * staging buffer back once it has copied the data out. The next run or readback (WebGPU orders
 * submissions) reuses them instead of allocating, so repeated runs of the same shapes allocate
 * nothing new.
 */
import type { DeviceContext, TrackedBuffer } from './context.ts';
import { TENSOR_USAGE } from './gpu-flags.ts';

export class BufferPool {
  readonly #free: TrackedBuffer[] = [];

  constructor(
    private readonly ctx: DeviceContext,
    private readonly usage: number = TENSOR_USAGE,
  ) {}

  /**
   * The smallest free buffer of at least `bytes` and at most twice that (so a small temp does not
   * pin a huge buffer), or a new one. Callers bind it with an explicit size of `bytes`, so a larger
   * buffer behaves exactly like one of the requested size (`arrayLength` included).
   */
  acquire(bytes: number, label: string): TrackedBuffer {
    return this.reuse(bytes, label) ?? this.create(bytes, label);
  }

  /** A new buffer of the pool's usage (given back with `release` like any other). */
  create(bytes: number, label: string): TrackedBuffer {
    return this.ctx.createBuffer(label, bytes, this.usage);
  }

  /**
   * A free buffer as `acquire` picks it, or null where none fits. Either way nothing is allocated,
   * so nothing can raise a device error: a caller can skip the error scopes a new buffer needs.
   * `exact`: only a buffer of exactly `bytes` (an output tensor's, whose buffer users may bind).
   */
  reuse(bytes: number, label: string, exact = false): TrackedBuffer | null {
    let best = -1;
    this.#free.forEach((b, i) => {
      const fits = exact ? b.bytes === bytes : b.bytes >= bytes && b.bytes <= 2 * bytes;
      if (fits && (best < 0 || b.bytes < this.#free[best]!.bytes)) best = i;
    });
    if (best < 0) return null;
    const [found] = this.#free.splice(best, 1);
    found!.buffer.label = label;
    return found!;
  }

  /** Gives a buffer back for reuse; destroys it instead once the backend is destroyed (no one would trim it). */
  release(buffer: TrackedBuffer): void {
    if (this.ctx.closed) buffer.destroy();
    else this.#free.push(buffer);
  }

  /** Destroys every free buffer. */
  trim(): void {
    for (const b of this.#free.splice(0)) b.destroy();
  }
}
