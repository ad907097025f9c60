/**
 * Reductions and contractions over a long axis, split across workgroups by `split-reductions`
 * (a partial kernel per chunk of 8192 — 1024 for a GEMM — and a combine kernel), on a real WebGPU
 * device against the float64 interpreter: sum, mean, max and logsumexp over 100,003 elements (not
 * a multiple of the chunk, so the tail chunk is partly past the end), and einsum('ij,ik->jk') with
 * i long; static sizes, and symbolic ones, where the program carries the split and the whole
 * kernels guarded by the size and one program serves long and short runs. Each test first proves
 * from the compiled Program which kernels the run dispatches.
 */
import { expect, it } from 'vitest';
import * as T from '../index.ts';
import type { Program, Step } from '../index.ts';
import { guardHolds } from '../program/index.ts';
import { describeGPU } from './gpu.ts';
import { expectMatchesInterpreter as expectMatches } from './interpreter-check.ts';
import { randomTensor } from './helpers.ts';

const LONG = 100_003;

const reductions = T.kernel('long_reductions', { x: T.f32('i', 'j') }, ({ x }) => ({
  total: T.sum(x, 'i'),
  average: T.mean(x, 'i'),
  largest: T.max(x, 'i'),
  lse: T.logsumexp(x, 'i'),
}));

const contraction = T.kernel('long_contraction', { a: T.f32('i', 'j'), b: T.f32('i', 'k') }, ({ a, b }) => ({
  c: T.einsum('ij,ik->jk', a, b),
}));

/** The labels of the dispatches a run with these sizes makes (the `when` ranges decided). */
function dispatched(program: Program, symbols: Record<string, number>): string[] {
  const visit = (steps: readonly Step[]): string[] =>
    steps.flatMap((s) => (s.kind === 'loop' ? visit(s.body) : s.kind === 'dispatch' && (!s.when || guardHolds(s.when, symbols)) ? [s.label] : []));
  return visit(program.steps);
}

describeGPU('split reductions on WebGPU', (gpu) => {
  const x = randomTensor([LONG, 16], 11);
  const short = randomTensor([5000, 16], 12);

  it('splits sum, mean, max and logsumexp over a static long axis, matching the interpreter', async () => {
    const sizes = { i: LONG, j: 16 };
    const program = T.compileFor(reductions, gpu, { sizes });
    // logsumexp decomposes into a max (shared with 'largest' by CSE) and a sum of exponentials: four
    // reductions, each a partial kernel over ⌈100003 / 8192⌉ = 13 parts × 16 outputs and a combine.
    const labels = dispatched(program, sizes);
    expect(labels.filter((l) => l.endsWith(' partial'))).toHaveLength(4);
    expect(labels.filter((l) => l.endsWith(' combine'))).toHaveLength(4);
    expect(labels.filter((l) => l.startsWith('reduce') && !/ (partial|combine)$/.test(l))).toEqual([]);
    await expectMatches(gpu, reductions, { x }, sizes, 1e-4, 1e-3);
  });

  it('carries both variants for a symbolic long axis: split for 100,003 elements, whole for 5,000', async () => {
    const program = T.compileFor(reductions, gpu);
    const long = dispatched(program, { i: LONG, j: 16 });
    const whole = dispatched(program, { i: 5000, j: 16 });
    expect(long.filter((l) => l.endsWith(' partial'))).toHaveLength(4);
    expect(long.filter((l) => l.startsWith('reduce') && !/ (partial|combine)$/.test(l))).toEqual([]);
    expect(whole.filter((l) => / (partial|combine)$/.test(l))).toEqual([]);
    expect(whole.filter((l) => l.startsWith('reduce'))).toHaveLength(4);
    await expectMatches(gpu, reductions, { x }, {}, 1e-4, 1e-3);
    await expectMatches(gpu, reductions, { x: short }, {}, 1e-4, 1e-3);
  });

  it('splits einsum(ij,ik->jk) along the long i (split-K), static and symbolic', async () => {
    const a = randomTensor([LONG, 16], 21);
    const b = randomTensor([LONG, 64], 22);
    const sizes = { i: LONG, j: 16, k: 64 };
    // ⌈100003 / 1024⌉ = 98 parts of one [16 × 64] output tile each, then a sum over the parts.
    expect(dispatched(T.compileFor(contraction, gpu, { sizes }), sizes)).toEqual(['gemm %2 contract partial', 'reduce %2 contract combine']);
    expect(dispatched(T.compileFor(contraction, gpu), sizes)).toEqual(['gemm %2 contract partial', 'reduce %2 contract combine']);
    expect(dispatched(T.compileFor(contraction, gpu), { i: 3000, j: 16, k: 64 })).toEqual(['gemm %2 contract']);
    await expectMatches(gpu, contraction, { a, b }, sizes, 1e-4, 2e-3);
    await expectMatches(gpu, contraction, { a, b }, {}, 1e-4, 2e-3);
  });

  it('is deterministic, and exact for integers whatever the chunk', async () => {
    // f32: the parts are combined in a fixed order (no atomics), so two runs agree bit for bit.
    const first = await T.run(reductions, { x }, gpu);
    const second = await T.run(reductions, { x }, gpu);
    for (const name of Object.keys(first)) expect(second[name]!.data, name).toEqual(first[name]!.data);
    // i32 sums wrap exactly, so every split (and none) gives the interpreter's result exactly.
    const ints = T.kernel('long_int_sum', { n: T.i32('i', 'j') }, ({ n }) => ({ s: T.sum(n, 'i') }));
    const n = { shape: [LONG, 3], data: Int32Array.from({ length: LONG * 3 }, (_, i) => ((i * 2654435761) >>> 0) % 200001 - 100000) };
    const want = T.interpretKernel(ints, { n }, { precision: 'f64' })['s']!.data;
    for (const split of [false, { chunk: { reduce: 1024 } }, { chunk: { reduce: 8192 } }, { chunk: { reduce: 65536 } }] as const) {
      const program = T.compileFor(ints, gpu, { compile: { schedules: { split } } });
      expect(dispatched(program, { i: LONG, j: 3 }).some((l) => l.endsWith(' partial')), JSON.stringify(split)).toBe(split !== false);
      const got = await T.run(ints, { n }, gpu, { compile: { schedules: { split } } });
      expect(Array.from(got['s']!.data), JSON.stringify(split)).toEqual(Array.from(want));
    }
  });

  it('keeps ±∞ and NaN inside the long axis, in a middle chunk and in the tail chunk', async () => {
    const data = Float32Array.from(x.data as Float32Array);
    data[50_000 * 16 + 0] = Infinity; // column 0: +∞ in chunk 12
    data[100_002 * 16 + 1] = -Infinity; // column 1: −∞ as the very last element (tail chunk)
    data[99_999 * 16 + 2] = NaN; // column 2: NaN in the tail chunk
    data[7 * 16 + 3] = Infinity; // column 3: +∞ and −∞ (sum NaN, max +∞)
    data[100_000 * 16 + 3] = -Infinity;
    const special = { shape: [LONG, 16], data };
    await expectMatches(gpu, reductions, { x: special }, { i: LONG, j: 16 }, 1e-4, 1e-3);
    await expectMatches(gpu, reductions, { x: special }, {}, 1e-4, 1e-3);
  });
});
