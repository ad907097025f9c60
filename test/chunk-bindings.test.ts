/**
 * Tensors larger than one storage binding, split by the compiler (`chunk-bindings`) and bound a
 * slice at a time by the runtime, on a real WebGPU device whose binding limit is lowered to 64 KiB
 * (`createWebGPUBackend({ limits })`) so the path runs on small data: an elementwise map, plain
 * reductions over the long axis (split, then each part's rows chunked), an einsum contracting the
 * long axis (a split-K partial GEMM chunked along its parts), a GEMM whose operand is staged as
 * factors chunked along its rows, and EfficientVectorRouting with a
 * variable number of inputs. `run()` pins the sizes of a run whose tensors exceed the limit, so
 * the compiler sees them static; each test first proves from the compiled Program that steps run
 * in several chunks, then compares the chunked result with the same kernel on the shared backend
 * (nothing chunked there) and with the float64 interpreter.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as T from '../index.ts';
import type { HostTensor, Kernel, Program, Step, WebGPUBackend } from '../index.ts';
import { graphInputs } from '../dsl/ir.ts';
import { createWebGPUBackend } from '../runtime/index.ts';
import { efficientVectorRoutingKernel } from '../kernels/routing.ts';
import { describeGPU } from './gpu.ts';
import { randomTensor } from './helpers.ts';

const LIMIT = 64 * 1024;

/** The chunk count of every dispatch step that runs in chunks, by label (loop bodies too). */
function chunkCounts(program: Program): Record<string, number> {
  const counts: Record<string, number> = {};
  const visit = (steps: readonly Step[]) => {
    for (const s of steps) {
      if (s.kind === 'loop') visit(s.body);
      else if (s.kind === 'dispatch' && s.chunks) counts[s.label] = s.chunks.count as number;
    }
  };
  visit(program.steps);
  return counts;
}

describeGPU('chunked bindings on WebGPU', (gpu) => {
  let small: WebGPUBackend;
  beforeAll(async () => {
    small = await createWebGPUBackend({ device: gpu.device, limits: { maxStorageBufferBindingSize: LIMIT } });
  });
  afterAll(() => small.destroy());

  /**
   * Runs `k` chunked (the lowered backend), whole (the shared one) and on the f64 interpreter, and
   * compares every output; returns the chunked program's chunk counts.
   */
  async function expectChunkedMatches(k: Kernel, inputs: Record<string, HostTensor>, rtol: number, atol: number, options: T.RunOptions = {}): Promise<Record<string, number>> {
    const chunked = T.compileFor(k, small, options, inputs);
    expect(chunkCounts(T.compileFor(k, gpu, options, inputs)), 'the shared backend binds everything whole').toEqual({});
    const got = await T.run(k, inputs, small, options);
    const whole = await T.run(k, inputs, gpu, options);
    const want = T.interpretKernel(k, inputs, { precision: 'f64' });
    for (const [name, w] of Object.entries(want)) {
      for (const [label, r] of [['chunked', got[name]!], ['whole', whole[name]!]] as const) {
        expect(r.shape, `${label} ${name}`).toEqual(w.shape);
        for (let i = 0; i < w.data.length; i++) {
          const [g, e] = [r.data[i]!, w.data[i]!];
          if (!(Math.abs(g - e) <= atol + rtol * Math.abs(e))) expect.fail(`${k.kernelName} ${label} output '${name}' at ${i}: GPU ${g} vs interpreter ${e}`);
        }
      }
      // Chunking changes where a kernel reads, not what it sums: the chunked run is the whole one.
      for (let i = 0; i < w.data.length; i++) {
        const [g, e] = [got[name]!.data[i]!, whole[name]!.data[i]!];
        if (!(Math.abs(g - e) <= atol + rtol * Math.abs(e))) expect.fail(`${k.kernelName} output '${name}' at ${i}: chunked ${g} vs whole ${e}`);
      }
    }
    return chunkCounts(chunked);
  }

  it('maps a 160 KiB tensor elementwise in chunks of 2048 rows', async () => {
    const k = T.kernel('chunked_map', { x: T.f32('i', 'j'), w: T.f32('j') }, ({ x, w }) => ({ y: T.add(T.mul(T.exp(x), w), T.toF32(T.iota(x, 'i'))) }));
    const inputs = { x: randomTensor([5000, 8], 1), w: randomTensor([8], 2) };
    // 5000 rows of 32 bytes: 2048 rows per 64 KiB slice of x and of y, 3 chunks.
    expect(await expectChunkedMatches(k, inputs, 1e-6, 1e-5)).toEqual({ 'elementwise %6 add': 3 });
    // run() pinned the sizes of x, the tensor past the limit, for the long run, once; a short run
    // on the same backend keeps the symbolic program, which serves every size that fits.
    const long = T.compileFor(k, small, {}, inputs);
    expect(long.inputs.map((t) => t.shape)).toEqual([[5000, 8], [8]]);
    expect(T.compileFor(k, small, {}, inputs)).toBe(long);
    const short = T.compileFor(k, small, {}, { x: randomTensor([100, 8], 1), w: inputs.w });
    expect(short.inputs.map((t) => t.shape)).toEqual([['i', 'j'], ['j']]);
    expect(T.compileFor(k, small)).toBe(short);
  });

  it('chunks an output larger than one binding computed from small inputs', async () => {
    const k = T.kernel('chunked_outer', { x: T.f32('i'), y: T.f32('j') }, ({ x, y }) => ({ z: T.mul(x, y) }));
    const inputs = { x: randomTensor([300], 6), y: randomTensor([100], 7) };
    // z is 117 KiB: i and j are pinned, and z written in chunks of 160 rows of 400 bytes (64 KiB
    // at most, 256-byte aligned: a multiple of 16 rows).
    expect(await expectChunkedMatches(k, inputs, 1e-6, 1e-6)).toEqual({ 'elementwise %2 mul': 2 });
    expect(T.compileFor(k, small, {}, inputs).inputs.map((t) => t.shape)).toEqual([[300], [100]]);
  });

  it('sums and averages a 312 KiB tensor over its long axis: each part a chunk', async () => {
    const k = T.kernel('chunked_reduce', { x: T.f32('i', 'j') }, ({ x }) => ({ total: T.sum(x, 'i'), average: T.mean(x, 'i'), rows: T.sum(x, 'j') }));
    const inputs = { x: randomTensor([40_000, 2], 3) };
    // Split in parts of 8192 rows (64 KiB of x each): ⌈40000 / 8192⌉ = 5 parts, one per chunk; the
    // row sums (over j, 156 KiB out) run in 5 chunks of 8192 rows of x and of the output.
    const counts = await expectChunkedMatches(k, inputs, 1e-5, 1e-4);
    expect(Object.values(counts)).toEqual([5, 5, 5]);
    expect(Object.keys(counts).filter((label) => label.endsWith('partial'))).toHaveLength(2);
  });

  it('reduces rows of 64, a workgroup or a thread each, 256 rows of a 500 KiB tensor per chunk', async () => {
    const k = T.kernel('chunked_rows', { x: T.f32('i', 'j') }, ({ x }) => ({ top: T.max(x, 'j'), lse: T.logsumexp(x, 'j') }));
    const inputs = { x: randomTensor([2000, 64], 8) };
    for (const strategy of ['workgroup', 'thread'] as const) {
      // Rows of 256 bytes: 256 per 64 KiB, 8 chunks; the outputs (8000 bytes) are bound whole.
      const counts = await expectChunkedMatches(k, inputs, 1e-5, 1e-5, { compile: { schedules: { reduce: { strategy, workgroupSize: 64 } } } });
      expect(counts, strategy).toEqual({ 'reduce %1 reduce': 8, 'reduce %7 reduce': 8 });
    }
  });

  it('contracts the long axis of two 469 KiB and 234 KiB operands: a split-K partial in chunks of parts', async () => {
    const k = T.kernel('chunked_einsum', { a: T.f32('i', 'j'), b: T.f32('i', 'k') }, ({ a, b }) => ({ c: T.einsum('ij,ik->jk', a, b) }));
    const inputs = { a: randomTensor([30_000, 4], 4), b: randomTensor([30_000, 2], 5) };
    // Parts of 1024 rows read 16 KiB of a: 4 parts per chunk, ⌈30 / 4⌉ = 8 chunks.
    expect(await expectChunkedMatches(k, inputs, 1e-4, 1e-4)).toEqual({ 'gemm %2 contract partial': 8 });
  });

  it('runs a GEMM whose A operand is staged as factors (an outer product over (i, j)) a chunk of its rows at a time', async () => {
    const k = T.kernel('chunked_factors', { a: T.f32('i', 'k'), b: T.f32('j', 'k'), c: T.f32('l', 'k') }, ({ a, b, c }) => ({
      out: T.einsum('ijk,lk->ijl', T.einsum('ik,jk->ijk', a, b), c),
    }));
    const inputs = { a: randomTensor([200, 8], 9), b: randomTensor([8, 8], 10), c: randomTensor([32, 8], 11) };
    const wgsl = T.compileFor(k, small, {}, inputs).kernels.map((kk) => kk.wgsl).join('\n');
    expect(wgsl).toContain('var<workgroup> tile_ao: array<f32, ');
    // out [200 × 8 × 32] is 200 KiB, a row of i 1 KiB: 64 rows (four 128-row tiles of (i, j)) per
    // 64 KiB chunk, ⌈200 / 64⌉ = 4 chunks.
    expect(await expectChunkedMatches(k, inputs, 1e-5, 1e-5)).toEqual({ 'gemm %5 contract': 4 });
  });

  it('routes 20,000 inputs (x_inp 625 KiB) with every long tensor chunked', async () => {
    const k = efficientVectorRoutingKernel({ nInp: -1, nOut: 2, dInp: 8, dOut: 8, nIters: 2 });
    const n = 20_000;
    const inputs: Record<string, HostTensor> = {};
    graphInputs(k.trace({ sizes: { i: n } })).forEach((node, seed) => {
      inputs[node.name] = randomTensor(
        node.type.axes.map((a) => a.size as number),
        100 + seed,
      );
    });
    expect(inputs['x_inp']!.shape).toEqual([n, 8]);
    const counts = await expectChunkedMatches(k, inputs, 1e-3, 1e-4);
    // Only the two row blocks (the first iteration's and the loop's) read x_inp, in chunks of 2
    // parts of 1024 rows (64 KiB): the betas, activations, scores, softmax and phi are computed per
    // block of rows on chip, so no [i, j] tensor exists to be chunked.
    expect(counts).toEqual({
      'row-block %36 contract + %39 reduce': 10,
      'row-block %42 loop/%49 contract + %42 loop/%54 reduce': 10,
    });
  });
});
