/**
 * Chunked dispatches on hand-written Programs: a tensor larger than one storage binding is bound
 * a slice at a time (the dispatch step's `chunks`), on a backend whose binding limit is lowered
 * to a few KiB so the path runs on small data. The runtime alone, independent of the compiler.
 */
import { expect, it } from 'vitest';
import { TesseraError } from '../dsl/types.ts';
import { createWebGPUBackend, planRun, DEFAULT_LIMITS, type Program } from '../runtime/index.ts';
import { describeGPU } from './gpu.ts';

/**
 * y[i] = x[i] * 2 over n elements, `rows` per chunk: binding 0 and 1 are slices of x and y,
 * uniform word 0 the workgroup total, 1 the chunk index, 2 n, 3 the rows per chunk.
 */
function doubled(n: number, rows: number): Program {
  const chunkBytes = rows * 4;
  return {
    format: 'tessera-program',
    version: 1,
    name: 'doubled',
    inputs: [{ name: 'x', dtype: 'f32', axes: ['i'], shape: ['n'], buffer: 0 }],
    params: [],
    outputs: [{ name: 'y', dtype: 'f32', axes: ['i'], shape: ['n'], buffer: 1 }],
    buffers: [
      { id: 0, bytes: { op: 'mul', args: [4, 'n'] }, role: 'input', label: 'x' },
      { id: 1, bytes: { op: 'mul', args: [4, 'n'] }, role: 'output', label: 'y' },
    ],
    kernels: [
      {
        name: 'double',
        entryPoint: 'main',
        workgroupSize: [64, 1, 1],
        bindings: ['read', 'read_write'],
        uniformWords: 4,
        wgsl: `struct U { total: u32, chunk: u32, n: u32, rows: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let gid = wg.x + wg.y * nwg.x;
  if (gid >= u.total) { return; }
  let local = gid * 64u + li;
  let global = u.chunk * u.rows + local;
  if (local >= u.rows || global >= u.n) { return; }
  y[local] = x[local] * 2.0;
}`,
      },
    ],
    steps: [
      {
        kind: 'dispatch',
        kernel: 0,
        label: 'double',
        buffers: [0, 1],
        uniforms: [{ size: { op: 'ceildiv', args: [rows, 64] } }, { u32: 0 }, { size: 'n' }, { u32: rows }],
        workgroups: { op: 'ceildiv', args: [rows, 64] },
        chunks: {
          count: { op: 'ceildiv', args: ['n', rows] },
          word: 1,
          slices: [
            { binding: 0, stride: chunkBytes, bytes: chunkBytes },
            { binding: 1, stride: chunkBytes, bytes: chunkBytes },
          ],
        },
      },
    ],
    graph: { nodes: [], outputs: {} },
  };
}

describeGPU('chunked dispatches', (shared) => {
  it('binds a tensor four times larger than the binding limit one slice at a time', async () => {
    const small = await createWebGPUBackend({ device: shared.device, limits: { maxStorageBufferBindingSize: 4096 } });
    expect(small.limits.maxStorageBufferBindingSize).toBe(4096);
    const n = 4000; // 16,000 bytes: four 4096-byte slices, the last one partly filled
    const x = Float32Array.from({ length: n }, (_, i) => i - 1000.5);
    const { y } = await small.run(doubled(n, 1024), { x: { shape: [n], data: x } });
    const got = (await y!.read()) as Float32Array;
    expect(Array.from(got)).toEqual(Array.from(x, (v) => v * 2));
    y!.destroy();
    small.destroy();
  });

  it('plans one dispatch per chunk with each slice bound at its offset', () => {
    const limits = { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 4096 };
    const plan = planRun(doubled(4000, 1024), { x: { shape: [4000] } }, {}, limits);
    const ranges = plan.steps.map((s) => (s.kind === 'dispatch' ? s.ranges.map((r) => `${r.offset}+${r.size}`).join(' ') : ''));
    expect(ranges).toEqual(['0+4096 0+4096', '4096+4096 4096+4096', '8192+4096 8192+4096', '12288+3712 12288+3712']);
    expect(plan.steps.map((s) => (s.kind === 'dispatch' ? s.uniforms![1] : -1))).toEqual([0, 1, 2, 3]);
  });

  it('refuses a slice that is larger than one binding, or misaligned, before anything runs', () => {
    const limits = { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 4096 };
    expect(() => planRun(doubled(4000, 2048), { x: { shape: [4000] } }, {}, limits)).toThrow(
      new TesseraError("program 'doubled': step 'double' (kernel 'double') binds 8.0 KiB chunks of tensor 'x' but this device binds at most 4.0 KiB per storage buffer (maxStorageBufferBindingSize)"),
    );
    expect(() => planRun(doubled(4000, 100), { x: { shape: [4000] } }, {}, limits)).toThrow(
      new TesseraError("program 'doubled': step 'double' (kernel 'double') binds tensor 'x' in chunks 400 bytes apart, not a multiple of this device's 256 (minStorageBufferOffsetAlignment)"),
    );
  });

  it('refuses a lowered limit the device cannot honour', async () => {
    await expect(createWebGPUBackend({ device: shared.device, limits: { maxStorageBufferBindingSize: 2 ** 40 } })).rejects.toThrow(
      `device limit 'maxStorageBufferBindingSize' can only be made smaller than this device's ${shared.limits.maxStorageBufferBindingSize}, got ${2 ** 40}`,
    );
  });
});
