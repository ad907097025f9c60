/**
 * The runtime's public types: a backend runs compiled Programs on tensors it owns. The WebGPU
 * backend and the CPU interpreter backend implement the same interface, so an app (and the test
 * suite) can run the same Program on either and compare.
 */
import type { DType, HostTensor } from '../dsl/types.ts';
import type { DeviceLimits, Program } from '../program/index.ts';
import type { ReadbackWait } from './map-wait.ts';
import type { MemoryRecord } from './memory.ts';

export type { ReadbackWait } from './map-wait.ts';

export type { MemoryRecord } from './memory.ts';

/** The host array a tensor reads back as: f32 → Float32Array, i32 → Int32Array, u32 → Uint32Array, bool → Uint8Array (0/1). */
export type TensorData = Float32Array | Int32Array | Uint32Array | Uint8Array;

/** A tensor owned by a backend (a GPU buffer, or host memory for the CPU backend). */
export interface RuntimeTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Copies the contents back to the host; a fresh array each call. */
  read(): Promise<TensorData>;
  /**
   * Frees the storage now rather than at garbage collection; the tensor is unusable afterwards.
   * A WebGPU run's output gives its buffer to the backend's pool for the next run (`trimPool`).
   */
  destroy(): void;
}

/** Inputs to a run: tensors the backend already holds, or host data uploaded for this run only. */
export type RunInputs = Readonly<Record<string, RuntimeTensor | HostTensor>>;

export interface Backend {
  readonly kind: 'webgpu' | 'cpu';
  /** Why the CPU was chosen when WebGPU was preferred; null otherwise. */
  readonly fallbackReason: string | null;
  /** The adapter's vendor, architecture and description, or which interpreter precision runs. */
  readonly deviceDescription: string;
  /** The limits the compiler should plan against for this backend. */
  readonly limits: DeviceLimits;
  /** Copies host data into a new tensor; `dtype` defaults to the tensor's, else to its array type. */
  upload(t: HostTensor, dtype?: DType): RuntimeTensor;
  /** Runs a Program; the outputs are new tensors the caller owns (and should `destroy()`). */
  run(program: Program, inputs: RunInputs, params?: Readonly<Record<string, number>>): Promise<Record<string, RuntimeTensor>>;
  readonly memory: MemoryRecord;
  /** Releases everything the backend holds (caches, pools, and a device it acquired itself). */
  destroy(): void;
}

/** Time spent in one dispatch, measured with GPU timestamp queries. */
export interface StepTiming {
  readonly label: string;
  readonly kernel: string;
  /** Loop iterations (outermost first) for a step inside loops; empty at top level. */
  readonly iteration: readonly number[];
  readonly ms: number;
}

export interface Profile {
  readonly steps: readonly StepTiming[];
  /** Sum of the dispatch times (GPU time, excluding gaps between passes). */
  readonly totalMs: number;
}

export interface WebGPUBackend extends Backend {
  readonly kind: 'webgpu';
  readonly device: GPUDevice;
  /** Whether the device has 'timestamp-query', so `profile` can time dispatches. */
  readonly hasTimestamps: boolean;
  /**
   * How `read()` waits for the GPU: `'poll'` sleeps between short map attempts, or naps 0.1 ms a
   * turn of the event loop through a short wait (the default under Node.js, whose WebGPU bindings
   * otherwise spin the JavaScript thread while a map is pending), `'map'` is a plain `mapAsync`
   * (the default in browsers). See `runtime/map-wait.ts`.
   */
  readonly readbackWait: ReadbackWait;
  /**
   * Whether a run takes a Program's `finiteSteps` when every f32 input is known finite (host data
   * checked as the run starts, an uploaded tensor when it was uploaded). On by default; off, every
   * run takes the exact steps and host data is not checked.
   */
  readonly finiteSteps: boolean;
  /**
   * Runs a Program like `run`, with each dispatch in its own compute pass timed by timestamp
   * queries. Throws when the device has no timestamps (`hasTimestamps` is false).
   */
  profile(program: Program, inputs: RunInputs, params?: Readonly<Record<string, number>>): Promise<{ outputs: Record<string, RuntimeTensor>; profile: Profile }>;
  /**
   * Destroys the pooled buffers that no run or readback is using: temporaries, destroyed outputs'
   * buffers, and the staging buffers reads copy into (they are re-allocated on demand).
   */
  trimPool(): void;
  /**
   * A tensor over a GPUBuffer of this device that someone else owns (another library's buffer):
   * row-major `shape` of `dtype` (4 bytes an element) from its first byte. Programs read and write
   * it in place; `destroy()` forgets it without destroying the buffer. The buffer needs STORAGE
   * usage, and COPY_SRC to be read back.
   */
  wrap(buffer: GPUBuffer, shape: readonly number[], dtype?: DType): RuntimeTensor;
  /** The GPUBuffer holding a tensor of this backend (to hand it to other WebGPU code). */
  bufferOf(tensor: RuntimeTensor): GPUBuffer;
}

/** Tells a RuntimeTensor from a HostTensor (which carries `data` instead of `read`). */
export function isRuntimeTensor(t: RuntimeTensor | HostTensor): t is RuntimeTensor {
  return typeof (t as RuntimeTensor).read === 'function';
}
