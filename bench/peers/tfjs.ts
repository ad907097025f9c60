/**
 * TF.js with its WebGPU backend, on the bench's shared device.
 *
 * TF.js is what a JS developer reaches for today for GPU tensor math, so its composed ops are the
 * baseline every tessera figure is shown beside.
 */
import type { SharedDevice } from '../device.ts';
import type { Prepared } from '../harness.ts';
import { installNavigatorShim } from './navigator-shim.ts';

type Tf = typeof import('@tensorflow/tfjs-core');

export interface TfjsPeer {
  readonly tf: Tf;
  /** Starts a new peak window at the bytes TF.js holds now. */
  resetPeak(): void;
  /** Peak of `tf.memory().numBytesInGPU` since the last `resetPeak()`. */
  peakBytes(): number;
}

/** How TF.js's `peak_bytes` is measured, for the rows. */
export const TFJS_PEAK_SOURCE =
  'peak of tf.memory().numBytesInGPU (bytes of GPU buffers TF.js has in use: tensors, uniforms, staging), sampled after every buffer TF.js acquires; excludes its free-buffer pool';

let loaded: Promise<TfjsPeer> | undefined;

/** Loads TF.js once per process and selects the `webgpu` backend on the shared device. */
export function loadTfjs(shared: SharedDevice): Promise<TfjsPeer> {
  loaded ??= load(shared);
  return loaded;
}

async function load(shared: SharedDevice): Promise<TfjsPeer> {
  // Order matters: the backend package registers 'webgpu' at import time only if navigator.gpu
  // exists, so the shim goes first and the imports are dynamic.
  installNavigatorShim(shared);
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  const ok = await tf.setBackend('webgpu');
  if (!ok) throw new Error("tf.setBackend('webgpu') returned false (backend failed to initialise; see stderr)");
  await tf.ready();
  const backend = tf.backend() as unknown as { device?: GPUDevice; bufferManager?: { acquireBuffer?: unknown } };
  if (backend.device !== shared.device) throw new Error('TF.js WebGPU backend is not on the shared device (navigator shim bypassed?)');

  // TF.js reports only current usage, not a peak. It allocates every GPU buffer through
  // `bufferManager.acquireBuffer`, so sampling `tf.memory()` right after each acquisition sees
  // every local maximum (usage only grows there). Without that hook (a future TF.js), fall back
  // to sampling at the points the case calls `sample()`.
  let peak = 0;
  const sample = (): void => {
    const m = tf.memory() as { numBytesInGPU?: number };
    peak = Math.max(peak, m.numBytesInGPU ?? 0);
  };
  const bm = backend.bufferManager;
  if (bm && typeof bm.acquireBuffer === 'function') {
    const original = bm.acquireBuffer as (...args: unknown[]) => unknown;
    bm.acquireBuffer = function (this: unknown, ...args: unknown[]): unknown {
      const buffer = original.apply(this, args);
      sample();
      return buffer;
    };
  }
  return {
    tf,
    resetPeak: () => {
      peak = 0;
      sample();
    },
    peakBytes: () => {
      sample();
      return peak;
    },
  };
}

type TfTensor = ReturnType<Tf['tensor']>;

/**
 * A TF.js implementation's `Prepared`: each run computes its output with `compute` (inside
 * `tf.tidy`, so intermediates are freed), reads it back and disposes it; `owned` (the uploaded
 * inputs) are disposed with the case.
 */
export function tfjsPrepared(peer: TfjsPeer, compute: () => TfTensor, owned: readonly (TfTensor | null | undefined)[]): Prepared {
  return {
    async run() {
      const out = peer.tf.tidy(compute);
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    peakBytes: () => peer.peakBytes(),
    dispose() {
      for (const t of owned) t?.dispose();
    },
  };
}
