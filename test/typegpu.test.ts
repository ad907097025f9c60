/**
 * TypeGPU interop on a real WebGPU device: the example (`examples/typegpu.ts`) runs a tessera
 * kernel on TypeGPU buffers of a TypeGPU root's device and reads the result back as a TypeGPU
 * buffer, which must equal the float64 interpreter; and wrapping a buffer that cannot serve as a
 * tensor is a clear error.
 */
import { expect, it } from 'vitest';
import { interpretKernel } from '../index.ts';
import { K, Q, scores, scoresWithTypeGPU } from '../examples/typegpu.ts';
import { describeGPU } from './gpu.ts';

describeGPU('TypeGPU interop', (gpu) => {
  it('runs a kernel on TypeGPU buffers and returns its output as a TypeGPU buffer', async () => {
    const { weights } = await scoresWithTypeGPU(gpu.device);
    const want = interpretKernel(scores, { q: { shape: [3, 2], data: Float32Array.from(Q) }, k: { shape: [4, 2], data: Float32Array.from(K) } }, { precision: 'f64' });
    expect(weights).toHaveLength(12);
    weights.forEach((w, i) => expect(Math.abs(w - want['p']!.data[i]!)).toBeLessThan(1e-6));
  });

  it('refuses a buffer too small for the shape, one without STORAGE usage, and a tensor of another backend', async () => {
    const small = gpu.device.createBuffer({ label: 'small', size: 16, usage: GPUBufferUsage.STORAGE });
    const uniform = gpu.device.createBuffer({ label: 'uniforms', size: 64, usage: GPUBufferUsage.UNIFORM });
    expect(() => gpu.wrap(small, [2, 3])).toThrow('wrap: f32[2, 3] needs 24 bytes but small has 16');
    expect(() => gpu.wrap(uniform, [4])).toThrow('wrap: uniforms lacks STORAGE usage, which programs bind it with');
    const { backend } = await scoresWithTypeGPU(gpu.device);
    const foreign = backend.upload({ shape: [2], data: new Float32Array(2) });
    expect(() => gpu.bufferOf(foreign)).toThrow('bufferOf: the tensor does not belong to this backend');
    // A wrapped buffer is borrowed: forgetting the tensor leaves the buffer usable.
    const t = gpu.wrap(small, [4]);
    t.destroy();
    expect(small.size).toBe(16);
    gpu.device.queue.writeBuffer(small, 0, new Float32Array(4));
    foreign.destroy();
    small.destroy();
    uniform.destroy();
  });
});
