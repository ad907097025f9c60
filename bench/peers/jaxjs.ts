/**
 * jax-js with its WebGPU backend, on the bench's shared device.
 *
 * jax-js is the other JS library that generates its own kernels (with `jit` fusion), so it is the
 * closest peer to tessera in approach; it is measured both eagerly and under `jit`.
 *
 * How it selects WebGPU (read from `@jax-js/jax/dist/backend-*.js`): `init('webgpu')` calls
 * `navigator.gpu.requestAdapter()` and `adapter.requestDevice(...)` and registers the backend if
 * that succeeds (it returns the list of initialised backends and logs, rather than throws, on
 * failure); `defaultDevice('webgpu')` then makes new arrays live there. Its default is `wasm`.
 */
import type { SharedDevice } from '../device.ts';
import { installIteratorHelpers } from './iterator-helpers.ts';
import { installNavigatorShim } from './navigator-shim.ts';

type Jax = typeof import('@jax-js/jax');

export interface JaxjsPeer {
  readonly jax: Jax;
}

/** jax-js has no public memory statistics, so its rows carry `peak_bytes: null`. */
export const JAXJS_PEAK_SOURCE = 'not exposed by jax-js (no public memory statistics)';

let loaded: Promise<JaxjsPeer> | undefined;

/** Loads jax-js once per process with `webgpu` (on the shared device) as the default device. */
export function loadJaxjs(shared: SharedDevice): Promise<JaxjsPeer> {
  loaded ??= load(shared);
  return loaded;
}

async function load(shared: SharedDevice): Promise<JaxjsPeer> {
  installNavigatorShim(shared);
  // Node 20 lacks Iterator.prototype.map & co., which jax-js's einsum parser uses.
  installIteratorHelpers();
  const jax = await import('@jax-js/jax');
  const available = await jax.init('webgpu');
  if (!available.includes('webgpu')) {
    throw new Error(`jax-js init('webgpu') did not initialise WebGPU (available: ${available.join(', ')}); see stderr`);
  }
  jax.defaultDevice('webgpu');
  if (jax.getWebGPUDevice() !== shared.device) throw new Error('jax-js WebGPU backend is not on the shared device (navigator shim bypassed?)');
  return { jax };
}
