/**
 * `npm run demo`: runs the README's attention kernel on WebGPU when an adapter exists (Dawn in
 * Node, over lavapipe on machines without a GPU), else on the CPU interpreter, and says which.
 * Checks the result against the float64 interpreter.
 */
import { compileFor, createBackend, interpretKernel, run } from '../index.ts';
import { attention } from './softmax-attention.ts';

function random(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

const [n, m, d, e] = [37, 53, 16, 8];
const inputs = {
  q: { shape: [n, d], data: random(n * d, 1) },
  k: { shape: [m, d], data: random(m * d, 2) },
  v: { shape: [m, e], data: random(m * e, 3) },
};
const params = { scale: 1 / Math.sqrt(d) };

const backend = await createBackend();
console.log(`backend: ${backend.kind} — ${backend.deviceDescription}`);
if (backend.fallbackReason) console.log(`(using the CPU interpreter because ${backend.fallbackReason})`);

const { o } = await run(attention, inputs, backend, { params });
// run() pinned the head dims d and e from the inputs, so the kernel compiled to one fused flash
// kernel; compileFor with the same inputs returns that cached program.
const program = compileFor(attention, backend, {}, inputs);
console.log(`compiled kernels: ${program.kernels.map((k) => k.name).join(', ')}`);
const reference = interpretKernel(attention, inputs, { params, precision: 'f64' }).o!;
let maxErr = 0;
for (let i = 0; i < reference.data.length; i++) maxErr = Math.max(maxErr, Math.abs(o!.data[i]! - reference.data[i]!));
console.log(`o: shape [${o!.shape.join(', ')}], first values ${Array.from(o!.data.slice(0, 4), (x) => x.toFixed(5)).join(', ')}`);
console.log(`max abs error vs float64 interpreter: ${maxErr.toExponential(2)}`);
backend.destroy();
if (!(maxErr < 1e-4)) {
  console.error('demo: result does not match the interpreter');
  process.exitCode = 1;
}
