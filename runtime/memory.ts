/**
 * The allocation record behind `Backend.memory`: every buffer a backend allocates is logged here
 * with its label and size, so tests and benchmarks can prove what a program did and did not
 * allocate (e.g. that a fused attention kernel never materialises the score matrix).
 */

/** What `Backend.memory` exposes. */
export interface MemoryRecord {
  /** Bytes held right now (pooled buffers included: they are still allocated). */
  readonly currentBytes: number;
  /** Most bytes held at once since the backend was created or `resetPeak()` was last called. */
  readonly peakBytes: number;
  /** Every allocation since creation or the last `resetPeak()`, oldest first. */
  readonly allocations: readonly { label: string; bytes: number }[];
  /** Starts a new measurement window: the peak becomes the current bytes and the log is emptied. */
  resetPeak(): void;
}

/**
 * Most log entries kept; older ones are dropped so that an app that never resets does not grow
 * without bound. A measurement window (reset, run, inspect) is far below this.
 */
const MAX_LOG = 65536;

export class MemoryTracker implements MemoryRecord {
  #current = 0;
  #peak = 0;
  #log: { label: string; bytes: number }[] = [];

  get currentBytes(): number {
    return this.#current;
  }

  get peakBytes(): number {
    return this.#peak;
  }

  get allocations(): readonly { label: string; bytes: number }[] {
    return this.#log;
  }

  resetPeak(): void {
    this.#peak = this.#current;
    this.#log = [];
  }

  /** Records an allocation; returns the function that records its release (idempotent). */
  allocate(label: string, bytes: number): () => void {
    this.#current += bytes;
    this.#peak = Math.max(this.#peak, this.#current);
    this.#log.push({ label, bytes });
    if (this.#log.length > MAX_LOG) this.#log.splice(0, this.#log.length - MAX_LOG);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#current -= bytes;
    };
  }
}
