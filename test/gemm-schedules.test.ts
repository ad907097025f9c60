/**
 * GEMM tiles fitted to skinny products: a side whose free extent is static and at most 32 gets a
 * tile of its extent (rounded up to a power of two, at least 8) and the other side a 128 tile
 * (16 registers a thread along it beside a 32-wide side, else 8), a square product 128 × 64 tiles
 * with 16 × 8 register blocks; a K shorter than 16 is staged in one tile, a static K up to
 * 64 as deep as the workgroup memory allows. Symbolic rows and columns get a variant per range of
 * them, the run taking the one its sizes fall in. Checked on the compiled kernels' workgroup sizes
 * and tiles, and on WebGPU against the float64 interpreter at extents that are not multiples of
 * any tile.
 */
import { expect, it } from 'vitest';
import * as T from '../index.ts';
import { describeGPU } from './gpu.ts';
import { randomTensor } from './helpers.ts';

function product(m: number, k: number, n: number) {
  const kernel = T.kernel(`mm_${m}x${k}x${n}`, { a: T.f32('i', 'k').pin({ i: m, k }), b: T.f32('k', 'j').pin({ k, j: n }) }, ({ a, b }) => ({ c: T.einsum('ik,kj->ij', a, b) }));
  return { kernel, inputs: { a: randomTensor([m, k], m * 31 + k), b: randomTensor([k, n], n * 17 + k) } };
}

const CASES: readonly [number, number, number, number][] = [
  // m, k, n, threads per workgroup
  [1000, 64, 7, 16], // n 7 -> tile 8: 16 x 1 threads, 128 x 8 tiles
  [515, 33, 16, 32], // n 16 -> 16 x 2 threads
  [5, 64, 300, 16], // m 5 -> tile 8: 1 x 16 threads, 8 x 128 tiles
  [70, 20, 90, 64], // neither skinny: 8 x 8 threads, 128 x 64 tiles (16 x 8 register blocks)
  [64, 8, 64, 32], // k 8: one 8-deep K tile; m 64 -> tile 64: 4 x 8 threads
  [40, 3, 50, 32], // k 3: one 4-deep K tile, its last row zero
  [33, 1, 17, 16], // k 1 (an outer product), n 17 -> tile 32: 4 x 4 threads, 16 registers along m
];

it('fits the tile to a skinny side', () => {
  for (const [m, k, n, threads] of CASES) {
    const p = T.compile(product(m, k, n).kernel.trace(), { name: 'mm' });
    const gemm = p.kernels.find((kk) => kk.name.endsWith(':gemm'))!;
    expect(gemm.workgroupSize[0], `${m}x${k}x${n}`).toBe(threads);
  }
});

it('stages a static K of at most 64 as deep as the workgroup memory allows, a longer or unknown one 16 deep', () => {
  // 128 × 64 tiles: 768 bytes per step of K; 16 KiB holds 21 steps, 32 KiB 42, 64 KiB 85.
  for (const [k, bytes, tileK] of [[20, 16384, 16], [20, 32768, 32], [33, 32768, 32], [33, 65536, 64], [64, 65536, 64], [64, 32768, 32], [65, 65536, 16], [200, 65536, 16]] as const) {
    const p = T.compile(product(70, k, 90).kernel.trace(), { name: 'mm', limits: { maxComputeWorkgroupStorageSize: bytes } });
    const wgsl = p.kernels.find((kk) => kk.name.endsWith(':gemm'))!.wgsl;
    expect(wgsl, `k = ${k}, ${bytes} bytes`).toContain(`k0 += ${tileK}u`);
  }
  const symbolic = T.kernel('mm_k', { a: T.f32('i', 'k').pin({ i: 70 }), b: T.f32('k', 'j').pin({ j: 90 }) }, ({ a, b }) => ({ c: T.einsum('ik,kj->ij', a, b) }));
  const wgsl = T.compile(symbolic.trace(), { name: 'mm', limits: { maxComputeWorkgroupStorageSize: 32768 } }).kernels.find((kk) => kk.name.endsWith(':gemm'))!.wgsl;
  expect(wgsl).toContain('k0 += 16u');
});

it('stages a K shorter than 16 in one tile of its extent rounded up to a power of two', () => {
  for (const [k, tileK] of [[1, 1], [3, 4], [8, 8], [15, 16], [16, 16]] as const) {
    const p = T.compile(product(70, k, 90).kernel.trace(), { name: 'mm' });
    const wgsl = p.kernels.find((kk) => kk.name.endsWith(':gemm'))!.wgsl;
    expect(wgsl, `k = ${k}`).toContain(`k0 += ${tileK}u`);
    expect(wgsl, `k = ${k}`).toContain(`var<workgroup> tile_a: array<vec4<f32>, ${32 * tileK}>;`);
  }
});

/** A product over symbolic sizes, one Program for every size. */
const symbolic = T.kernel('mm_symbolic', { a: T.f32('i', 'k'), b: T.f32('k', 'j') }, ({ a, b }) => ({ c: T.einsum('ik,kj->ij', a, b) }));

/** Rows and columns; the tile (m × n) the run's variant has. */
const SYMBOLIC_CASES: readonly [number, number, number, number][] = [
  [1000, 7, 128, 8], // n <= 8, whatever m
  [3, 5, 128, 8],
  [5, 300, 8, 128], // m <= 8 < n
  [515, 16, 128, 32], // 9 <= n <= 32, m >= 9
  [20, 32, 128, 32],
  [20, 90, 32, 128], // 9 <= m <= 32 < n
  [70, 90, 128, 64], // both over 32
];

it('gives a product over symbolic rows and columns a variant per range of them, and a run plans the one its sizes fall in', () => {
  const program = T.compile(symbolic.trace(), { name: 'mm' });
  for (const [m, n, tileM, tileN] of SYMBOLIC_CASES) {
    const plan = T.planRun(program, { a: { shape: [m, 40] }, b: { shape: [40, n] } }, {}, T.DEFAULT_LIMITS);
    const gemms = plan.steps.filter((s) => s.kind === 'dispatch' && s.label.endsWith('contract'));
    expect(gemms, `${m} x ${n}`).toHaveLength(1);
    const wgsl = program.kernels[(gemms[0] as { kernel: number }).kernel]!.wgsl;
    expect(wgsl, `${m} x ${n}`).toMatch(new RegExp(`let tiles_m = \\(.* \\+ ${tileM - 1}u\\) / ${tileM}u;`));
    expect(wgsl, `${m} x ${n}`).toMatch(new RegExp(`let tiles_n = \\(.* \\+ ${tileN - 1}u\\) / ${tileN}u;`));
  }
});

describeGPU('skinny GEMMs on WebGPU', (gpu) => {
  it('one Program over symbolic sizes matches the float64 interpreter in every variant', async () => {
    const program = T.compile(symbolic.trace(), { name: 'mm', limits: gpu.limits });
    for (const [m, n] of SYMBOLIC_CASES) {
      const inputs = { a: randomTensor([m, 40], m * 7 + n), b: randomTensor([40, n], n * 3 + m) };
      const outs = await gpu.run(program, inputs);
      const got = await outs.c!.read();
      outs.c!.destroy();
      const want = T.interpretKernel(symbolic, inputs).c!;
      let worst = 0;
      for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want.data[i]!) - 1e-4 * Math.abs(want.data[i]!));
      expect(worst, `${m} x ${n}`).toBeLessThan(1e-5);
    }
  });

  // c [j, i]: the output's last axis is the A side's, so a thread stores four rows at a time
  // where i is a multiple of 4 (68), one at a time where it is not (67).
  for (const m of [68, 67]) {
    it(`the transposed product ik,kj->ji (i = ${m}) matches the float64 interpreter`, async () => {
      const kernel = T.kernel(`mmt_${m}`, { a: T.f32('i', 'k').pin({ i: m, k: 20 }), b: T.f32('k', 'j').pin({ k: 20, j: 90 }) }, ({ a, b }) => ({ c: T.einsum('ik,kj->ji', a, b) }));
      const wgsl = T.compile(kernel.trace(), { name: 'mmt', limits: gpu.limits }).kernels.find((kk) => kk.name.endsWith(':gemm'))!.wgsl;
      expect(wgsl.includes('out: array<vec4<f32>>')).toBe(m % 4 === 0);
      const inputs = { a: randomTensor([m, 20], m), b: randomTensor([20, 90], 90) };
      const got = (await T.run(kernel, inputs, gpu)).c!;
      const want = T.interpretKernel(kernel, inputs).c!;
      expect(got.shape).toEqual([90, m]);
      let worst = 0;
      for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - want.data[i]!) - 1e-4 * Math.abs(want.data[i]!));
      expect(worst).toBeLessThan(1e-5);
    });
  }

  for (const [m, k, n] of CASES) {
    it(`${m}x${k} · ${k}x${n} matches the float64 interpreter`, async () => {
      const { kernel, inputs } = product(m, k, n);
      const got = (await T.run(kernel, inputs, gpu)).c!;
      const want = T.interpretKernel(kernel, inputs).c!;
      expect(got.shape).toEqual([m, n]);
      let worst = 0;
      for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - want.data[i]!) - 1e-4 * Math.abs(want.data[i]!));
      expect(worst).toBeLessThan(1e-5);
    });
  }
});
