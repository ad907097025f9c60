/**
 * `npm run example:typegpu`: a tessera kernel inside an app that manages its GPU resources with
 * TypeGPU. The app's TypeGPU root and buffers go in; the kernel's output comes back as a TypeGPU
 * buffer on the same device, read with TypeGPU's own `read()` (`test/typegpu.test.ts` runs this).
 */
import tgpu from 'typegpu';
import * as d from 'typegpu/data';
import { compileFor, einsum, f32, fromTypeGPU, kernel, requestGPU, softmax, toTypeGPU, typegpuBackend, type WebGPUBackend } from '../index.ts';

/** Attention weights softmax(q kᵀ) for 3 queries and 4 keys of size 2. */
export const scores = kernel('scores', { q: f32('n', 'd'), k: f32('m', 'd') }, ({ q, k }) => ({ p: softmax(einsum('nd,md->nm', q, k), 'm') }));
export const Q = [1, 0, 0, 1, 1, 1];
export const K = [1, 0, 0, 1, -1, 0, 0.5, 0.5];

/** The app's TypeGPU root: `tgpu.init()` in a browser; in Node, on a device from Dawn (tessera's `requestGPU`). */
async function appRoot() {
  if ((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return tgpu.init();
  const gpu = await requestGPU();
  if (!gpu) throw new Error('no WebGPU adapter');
  return tgpu.initFromDevice({ device: await gpu.adapter.requestDevice() });
}

/** Runs `scores` on TypeGPU buffers and returns the weights read through TypeGPU. */
export async function scoresWithTypeGPU(device?: GPUDevice): Promise<{ weights: number[]; backend: WebGPUBackend }> {
  const root = device ? tgpu.initFromDevice({ device }) : await appRoot();
  const backend = await typegpuBackend(root);
  // The app's buffers, made with TypeGPU.
  const q = root.createBuffer(d.arrayOf(d.f32, 6), Q).$usage('storage');
  const k = root.createBuffer(d.arrayOf(d.f32, 8), K).$usage('storage');
  const inputs = { q: fromTypeGPU(backend, root, q, [3, 2]), k: fromTypeGPU(backend, root, k, [4, 2]) };
  const program = compileFor(scores, backend, {}, inputs);
  const { p } = await backend.run(program, inputs);
  // The result as a TypeGPU buffer over the same GPU memory, read the TypeGPU way.
  const weights = toTypeGPU(backend, p!, (buffer) => root.createBuffer(d.arrayOf(d.f32, 12), buffer));
  return { weights: await weights.read(), backend };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { weights } = await scoresWithTypeGPU();
  console.log(weights.map((w) => w.toFixed(3)).join(' '));
}
