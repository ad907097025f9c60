/**
 * The attention library kernel (`kernels/attention.ts`):
 * - the independent oracle: every attention golden on the float64 interpreter (tight) and on WebGPU
 *   (float32 tolerance), and through the `attention()` boundary helper;
 * - the compiled GPU program against the float64 interpreter for every modifier and mask alone and
 *   combined, with GQA and MQA, at sizes that are not multiples of any tile (N, M ∈ {1, 7, 33, 130},
 *   D ∈ {8, 20, 64, 128}), and on query axes long enough (≥ 256) for the long-axis flash variant;
 * - rows with nothing allowed (o = 0, lse = −∞) on both backends;
 * - that the compiler fused each of these programs into a flash kernel, and that no N×M buffer is
 *   ever allocated (the runtime's allocation record);
 * - exact error messages for bad configurations and inputs.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { add, attention, einsum, eq, f32, gather, gt, ge, iota, kernel, mod, mul, ne, or, sizeOf, softmax, sub, toF32, where, compileFor, createCpuBackend, interpretKernel, run } from '../index.ts';
import type { Backend, HostTensor, Kernel, Program } from '../index.ts';
import { attentionKernel, mergeHeads, splitHeads, type AttentionConfig } from '../kernels/attention.ts';
import { prepareGolden } from './golden/cases.ts';
import { flashDispatches, random, randomTensor } from './helpers.ts';
import { compareToGolden, loadGolden, type Tolerance } from './golden/load.ts';
import { describeGPU } from './gpu.ts';
import { GOLDEN_DIR, goldenFilesMatching, expectGoldenFile } from './golden/expect.ts';

const goldenFiles = goldenFilesMatching(/^attention_/);

const F64: Tolerance = { rtol: 1e-9, atol: 1e-12 };
const F32: Tolerance = { rtol: 2e-4, atol: 2e-5 };

// ---- helpers ----------------------------------------------------------------------------------------

const tensor = randomTensor;

/** Dispatches of fused flash kernels anywhere in the program. */
function flashCount(program: Program): number {
  const c = flashDispatches(program);
  return c.top + c.inLoops;
}

async function expectGolden(file: string, backend: Backend | null, tolerance: Tolerance): Promise<void> {
  await expectGoldenFile(file, backend, tolerance, 'attention');
}

/** Elementwise comparison of two results; equal values (equal infinities included) always match. */
function expectClose(label: string, got: { shape: readonly number[]; data: ArrayLike<number> }, want: { shape: readonly number[]; data: ArrayLike<number> }, tol: Tolerance): void {
  expect(got.shape, `${label} shape`).toEqual(want.shape);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!;
    const w = want.data[i]!;
    if (g === w) continue;
    const excess = Math.abs(g - w) - (tol.atol + tol.rtol * Math.abs(w));
    if (!(excess <= worst)) {
      worst = excess;
      at = i;
    }
  }
  if (at >= 0) expect.fail(`${label} at flat index ${at}: got ${got.data[at]}, expected ${want.data[at]}`);
}

/** Sizes of one test case: batch, query heads, kv heads, queries, keys, head dims. */
interface Shape {
  readonly b: number;
  readonly hq: number;
  readonly hkv: number;
  readonly n: number;
  readonly m: number;
  readonly d: number;
  readonly dv: number;
}

interface Case {
  readonly name: string;
  readonly kernel: Kernel;
  readonly shape: Shape;
  /** Extra inputs the case's modifiers read. */
  readonly extra?: (s: Shape) => Record<string, HostTensor>;
}

/**
 * Kernel-layout inputs for a case. Document ids: batch 0 has contiguous documents of 5 tokens,
 * batch 1 scattered ids in 0..2, so both a block structure and an irregular one are covered.
 */
function inputsFor(c: Case, seed: number): Record<string, HostTensor> {
  const { b, hq, hkv, n, m, d, dv } = c.shape;
  const inputs: Record<string, HostTensor> = {
    q: splitHeads(tensor([b, hq, n, d], seed), hkv),
    k: tensor([b, hkv, m, d], seed + 1),
    v: tensor([b, hkv, m, dv], seed + 2),
    ...(c.extra ? c.extra(c.shape) : {}),
  };
  if ('doc' in c.kernel.specs) {
    const scattered = random(n, seed + 3, 0, 3);
    inputs['doc'] = { shape: [b, n], data: Int32Array.from({ length: b * n }, (_, i) => (i < n ? Math.floor(i / 5) : Math.floor(scattered[i % n]!))), dtype: 'i32' };
  }
  return inputs;
}

function optionsFor(c: Case): { params: { scale: number }; sizes: { d: number; e: number } } {
  return { params: { scale: 1 / Math.sqrt(c.shape.d) }, sizes: { d: c.shape.d, e: c.shape.dv } };
}

// ---- the cases ----------------------------------------------------------------------------------------

/** A captured per-head bias table, read by a score modifier: `s += bias_h · (q − kv)`. */
const headBias = { headBias: f32('hkv', 'g') };
const withHeadBias = attentionKernel({
  extraInputs: headBias,
  scoreMod: (s, idx, { headBias }) => add(s, mul(headBias, toF32(sub(idx.q, idx.kv)))),
});

/**
 * A learned relative-position bias, one table row per head over positions q − kv + M − 1 (so the
 * table has N + M − 1 entries), read by a score modifier through `gather`.
 */
const relativeBias = attentionKernel({
  causal: true,
  extraInputs: { relBias: f32('hkv', 'g', 'r') },
  scoreMod: (s, idx, { relBias }) => add(s, gather(relBias, 'r', add(sub(idx.q, idx.kv), sub(sizeOf(s, 'm'), 1)))),
});

/** A dense learned bias over (query, key) positions, added by a score modifier. */
const denseBias = { bias: f32('n', 'm') };

/** A user mask that only depends on positions: pairs with (q + kv) divisible by 3 are dropped. */
const everyThird: AttentionConfig['maskMod'] = (idx) => ne(mod(add(idx.q, idx.kv), 3), 0);

/** A user mask that depends on the head: even query heads attend bidirectionally, odd ones causally. */
const evenHeadsBidirectional: AttentionConfig['maskMod'] = (idx) => or(eq(mod(idx.h, 2), 0), ge(idx.q, idx.kv));

const CASES: readonly Case[] = [
  { name: 'no modifiers', kernel: attentionKernel(), shape: { b: 2, hq: 2, hkv: 2, n: 7, m: 33, d: 8, dv: 8 } },
  { name: 'softcap', kernel: attentionKernel({ softcap: 3 }), shape: { b: 1, hq: 2, hkv: 2, n: 33, m: 130, d: 20, dv: 20 } },
  { name: 'alibi', kernel: attentionKernel({ alibi: true }), shape: { b: 1, hq: 4, hkv: 4, n: 130, m: 7, d: 64, dv: 64 } },
  { name: 'causal, MQA', kernel: attentionKernel({ causal: true }), shape: { b: 1, hq: 2, hkv: 1, n: 130, m: 130, d: 128, dv: 128 } },
  { name: 'sliding window alone, GQA', kernel: attentionKernel({ window: 5 }), shape: { b: 1, hq: 4, hkv: 2, n: 33, m: 33, d: 20, dv: 8 } },
  { name: 'document mask, MQA', kernel: attentionKernel({ documentMask: true }), shape: { b: 2, hq: 2, hkv: 1, n: 33, m: 33, d: 8, dv: 16 } },
  { name: 'prefix-LM', kernel: attentionKernel({ prefix: 4 }), shape: { b: 1, hq: 2, hkv: 2, n: 7, m: 7, d: 64, dv: 64 } },
  {
    name: 'scoreMod reading a captured per-head bias, decode shape N = 1, GQA',
    kernel: withHeadBias,
    shape: { b: 1, hq: 4, hkv: 2, n: 1, m: 130, d: 20, dv: 20 },
    extra: (s) => ({ headBias: tensor([s.hkv, s.hq / s.hkv], 41, -0.5, 0.5) }),
  },
  { name: 'maskMod, M = 1 (rows with nothing allowed)', kernel: attentionKernel({ maskMod: everyThird }), shape: { b: 1, hq: 2, hkv: 2, n: 33, m: 1, d: 8, dv: 8 } },
  {
    name: 'causal + window + softcap + alibi, MQA',
    kernel: attentionKernel({ causal: true, window: 16, softcap: 20, alibi: true }),
    shape: { b: 1, hq: 4, hkv: 1, n: 130, m: 130, d: 64, dv: 32 },
  },
  {
    name: 'document + causal + scoreMod adding a dense bias table (result axes reordered)',
    kernel: attentionKernel({ documentMask: true, causal: true, extraInputs: denseBias, scoreMod: (s, _idx, { bias }) => add(bias, s) }),
    shape: { b: 2, hq: 2, hkv: 2, n: 7, m: 7, d: 128, dv: 8 },
    extra: (s) => ({ bias: tensor([s.n, s.m], 43) }),
  },
  {
    name: 'prefix + head-dependent maskMod, GQA',
    kernel: attentionKernel({ prefix: 10, maskMod: evenHeadsBidirectional }),
    shape: { b: 1, hq: 6, hkv: 2, n: 33, m: 33, d: 8, dv: 20 },
  },
  {
    name: 'every modifier and mask at once',
    kernel: attentionKernel({
      softcap: 8,
      alibi: true,
      causal: true,
      window: 9,
      documentMask: true,
      prefix: 3,
      maskMod: everyThird,
      extraInputs: headBias,
      scoreMod: (s, idx, { headBias }) => add(s, mul(headBias, toF32(idx.kv))),
    }),
    shape: { b: 2, hq: 4, hkv: 2, n: 33, m: 33, d: 20, dv: 20 },
    extra: (s) => ({ headBias: tensor([s.hkv, s.hq / s.hkv], 47, -0.2, 0.2) }),
  },
  {
    name: 'scoreMod gathering a relative-position bias table, causal, GQA',
    kernel: relativeBias,
    shape: { b: 1, hq: 4, hkv: 2, n: 33, m: 40, d: 20, dv: 20 },
    extra: (s) => ({ relBias: tensor([s.hkv, s.hq / s.hkv, s.n + s.m - 1], 71) }),
  },
  // From 256 query rows the compiler's long-axis flash variant runs (fewer, fatter threads).
  { name: 'long query axis, causal, GQA', kernel: attentionKernel({ causal: true }), shape: { b: 1, hq: 4, hkv: 2, n: 300, m: 333, d: 64, dv: 64 } },
  {
    name: 'long query axis, document mask + softcap + captured bias (block mask), value head not a multiple of the threads across',
    kernel: attentionKernel({ documentMask: true, softcap: 5, extraInputs: headBias, scoreMod: (s, idx, { headBias }) => add(s, mul(headBias, toF32(sub(idx.q, idx.kv)))) }),
    shape: { b: 2, hq: 2, hkv: 1, n: 260, m: 260, d: 24, dv: 18 },
    extra: (s) => ({ headBias: tensor([s.hkv, s.hq / s.hkv], 53, -0.01, 0.01) }),
  },
];

/** Causal attention where the first query may not even see itself: row q = 0 has nothing allowed. */
const emptyFirstRow = attentionKernel({ causal: true, maskMod: (idx) => gt(idx.kv, 0) });
const EMPTY_SHAPE: Shape = { b: 1, hq: 2, hkv: 1, n: 7, m: 7, d: 8, dv: 4 };

function expectEmptyFirstRow(result: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>): void {
  const { hq, n, dv } = EMPTY_SHAPE;
  const o = result['o']!;
  const lse = result['lse']!;
  for (let h = 0; h < hq; h++) {
    for (let i = 0; i < n; i++) {
      const row = Array.from(o.data).slice((h * n + i) * dv, (h * n + i + 1) * dv);
      const l = lse.data[h * n + i]!;
      if (i === 0) {
        expect(row, `o of head ${h}, row 0`).toEqual(new Array(dv).fill(0));
        expect(l, `lse of head ${h}, row 0`).toBe(-Infinity);
      } else {
        expect(row.some((x) => x !== 0), `o of head ${h}, row ${i}`).toBe(true);
        expect(Number.isFinite(l), `lse of head ${h}, row ${i}`).toBe(true);
      }
    }
  }
}

// ---- interpreter (no GPU needed) -----------------------------------------------------------------------

describe('attention goldens on the float64 interpreter', () => {
  it('finds the copied golden files', () => {
    expect(goldenFiles.length).toBe(9);
  });
  for (const file of goldenFiles) it(file, () => expectGolden(file, null, F64));
});

describe('attention() with ordinary [B, H, N, D] layouts', () => {
  it('reproduces GQA goldens on the CPU backend, with the default scale 1/sqrt(D)', async () => {
    const cpu = createCpuBackend();
    for (const file of ['attention_gqa_causal.json', 'attention_head_dim_128.json']) {
      const golden = loadGolden(join(GOLDEN_DIR, file));
      expect(golden.config['scale']).toBeCloseTo(1 / Math.sqrt(golden.inputs['q']!.shape[3]!), 15);
      const { q, k, v } = golden.inputs as Record<string, HostTensor>;
      const { o, lse } = await attention(cpu, { q: q!, k: k!, v: v! }, { causal: true });
      expect(compareToGolden(o, golden.outputs['o']!, F32).detail).toBe(`within rtol ${F32.rtol}, atol ${F32.atol}`);
      expect(compareToGolden(lse, golden.outputs['lse']!, F32).detail).toBe(`within rtol ${F32.rtol}, atol ${F32.atol}`);
    }
  });

  it('splitHeads and mergeHeads reshape without copying', () => {
    const q = tensor([2, 6, 3, 4], 5);
    const split = splitHeads(q, 2);
    expect(split.shape).toEqual([2, 2, 3, 3, 4]);
    expect(split.data).toBe(q.data);
    expect(mergeHeads(split).shape).toEqual([2, 6, 3, 4]);
    expect(mergeHeads({ shape: [2, 2, 3, 5] }).shape).toEqual([2, 6, 5]);
  });

  it('gives rows with nothing allowed o = 0 and lse = -Infinity on the interpreter', () => {
    const c: Case = { name: 'empty', kernel: emptyFirstRow, shape: EMPTY_SHAPE };
    expectEmptyFirstRow(interpretKernel(emptyFirstRow, inputsFor(c, 3), { ...optionsFor(c), precision: 'f64' }));
  });
});

describe('attention errors', () => {
  it('rejects bad configurations with readable messages', () => {
    expect(() => attentionKernel({ window: 0 })).toThrow('attention: window must be a whole number >= 1 or null, got 0');
    expect(() => attentionKernel({ window: 2.5 })).toThrow('attention: window must be a whole number >= 1 or null, got 2.5');
    expect(() => attentionKernel({ softcap: -1 })).toThrow('attention: softcap must be a finite number > 0 or null, got -1');
    expect(() => attentionKernel({ prefix: -3 })).toThrow('attention: prefix must be a whole number >= 0 or null, got -3');
    expect(() => attentionKernel({ extraInputs: { scale: f32('n') } })).toThrow("attention: extra input 'scale' clashes with a built-in input (q, k, v, scale, doc)");
  });

  it('rejects a query head count that is not a multiple of the kv heads', async () => {
    const cpu = createCpuBackend();
    await expect(attention(cpu, { q: tensor([1, 3, 4, 8], 1), k: tensor([1, 2, 4, 8], 2), v: tensor([1, 2, 4, 8], 3) })).rejects.toThrow(
      'attention: q has 3 heads, which is not a multiple of the 2 key/value heads',
    );
    expect(() => splitHeads(tensor([1, 5, 4, 8], 1), 2)).toThrow('attention: q has 5 heads, which is not a multiple of the 2 key/value heads');
  });

  it('rejects a document mask when N differs from M', async () => {
    const cpu = createCpuBackend();
    const doc = { shape: [1, 5], data: new Int32Array(5), dtype: 'i32' as const };
    await expect(attention(cpu, { q: tensor([1, 2, 5, 8], 1), k: tensor([1, 2, 7, 8], 2), v: tensor([1, 2, 7, 8], 3), doc }, { documentMask: true })).rejects.toThrow(
      'attention: documentMask needs as many queries as keys, got N = 5 and M = 7',
    );
    // The kernel itself declares M with the symbol of N, so the boundary check catches it too.
    const k = attentionKernel({ documentMask: true });
    expect(() =>
      interpretKernel(k, { q: tensor([1, 2, 1, 5, 8], 1), k: tensor([1, 2, 7, 8], 2), v: tensor([1, 2, 7, 8], 3), doc }, { params: { scale: 1 } }),
    ).toThrow("conflicting sizes for 'n': 5 from input 'q' (axis 'n') and 7 from input 'k' (axis 'm')");
  });

  it('rejects mismatched head dims and a stray or missing doc', async () => {
    const cpu = createCpuBackend();
    const q = tensor([1, 2, 4, 8], 1);
    const v = tensor([1, 2, 4, 8], 3);
    const doc = { shape: [1, 4], data: new Int32Array(4), dtype: 'i32' as const };
    await expect(attention(cpu, { q, k: tensor([1, 2, 4, 6], 2), v })).rejects.toThrow('attention: q has head dim 8 but k has 6');
    await expect(attention(cpu, { q, k: tensor([1, 2, 4, 8], 2), v }, { documentMask: true })).rejects.toThrow('attention: documentMask needs the input doc [B, N]');
    await expect(attention(cpu, { q, k: tensor([1, 2, 4, 8], 2), v, doc })).rejects.toThrow('attention: doc was given but documentMask is off');
  });

  it('rejects modifiers that leave the score axes or return the wrong dtype', () => {
    const stray = attentionKernel({ extraInputs: { w: f32('z') }, scoreMod: (s, _idx, { w }) => add(s, w) });
    expect(() => stray.trace()).toThrow('attention: scoreMod result has axes [b, hkv, g, n, m, z]; only the score axes [b, hkv, g, n, m] are allowed');
    const numeric = attentionKernel({ maskMod: (idx) => toF32(idx.q) as never });
    expect(() => numeric.trace()).toThrow('attention: maskMod must return a bool tensor, got f32');
    const strayMask = attentionKernel({ extraInputs: { w: f32('z') }, maskMod: (_idx, { w }) => gt(w, 0) });
    expect(() => strayMask.trace()).toThrow('attention: maskMod result has axes [z]; only the score axes [b, hkv, g, n, m] are allowed');
  });
});

// ---- WebGPU ----------------------------------------------------------------------------------------------

describeGPU('attention on WebGPU', (gpu) => {
  for (const file of goldenFiles) it(`golden ${file}`, () => expectGolden(file, gpu, F32));

  it('attention() reproduces a GQA golden in the [B, Hq, N, Dv] layout', async () => {
    const golden = loadGolden(join(GOLDEN_DIR, 'attention_gqa_causal.json'));
    const { q, k, v } = golden.inputs as Record<string, HostTensor>;
    const { o, lse } = await attention(gpu, { q: q!, k: k!, v: v! }, { causal: true, scale: golden.config['scale'] as number });
    expect(compareToGolden(o, golden.outputs['o']!, F32).detail).toBe(`within rtol ${F32.rtol}, atol ${F32.atol}`);
    expect(compareToGolden(lse, golden.outputs['lse']!, F32).detail).toBe(`within rtol ${F32.rtol}, atol ${F32.atol}`);
  });

  for (const [index, c] of CASES.entries()) {
    const { b, hq, hkv, n, m, d, dv } = c.shape;
    it(`${c.name}: B=${b} Hq=${hq} Hkv=${hkv} N=${n} M=${m} D=${d} Dv=${dv} matches the float64 interpreter`, async () => {
      const inputs = inputsFor(c, 100 + 10 * index);
      const got = await run(c.kernel, inputs, gpu, optionsFor(c));
      const want = interpretKernel(c.kernel, inputs, { ...optionsFor(c), precision: 'f64' });
      expect(Object.keys(got).sort()).toEqual(['lse', 'o']);
      for (const name of ['o', 'lse']) expectClose(`${c.kernel.kernelName} ${name}`, got[name]!, want[name]!, F32);
    });
  }

  it('gives rows with nothing allowed o = 0 and lse = -Infinity', async () => {
    const c: Case = { name: 'empty', kernel: emptyFirstRow, shape: EMPTY_SHAPE };
    expectEmptyFirstRow(await run(emptyFirstRow, inputsFor(c, 3), gpu, optionsFor(c)));
  });

  // These hold once the compiler's attention fusion lands: each program must contain a flash kernel.
  for (const c of [...CASES, { name: 'rows with nothing allowed', kernel: emptyFirstRow, shape: EMPTY_SHAPE }]) {
    it(`${c.name}: compiles to a fused flash kernel`, () => {
      expect(flashCount(compileFor(c.kernel, gpu, { sizes: optionsFor(c).sizes }))).toBeGreaterThan(0);
    });
  }
  for (const file of goldenFiles) {
    it(`golden ${file}: compiles to a fused flash kernel`, () => {
      const prepared = prepareGolden(loadGolden(join(GOLDEN_DIR, file)))!;
      expect(flashCount(compileFor(prepared.kernel, gpu, prepared.sizes ? { sizes: prepared.sizes } : {}))).toBeGreaterThan(0);
    });
  }

  it('never allocates an N×M buffer (N = M = 512, D = 64, causal)', async () => {
    const c: Case = { name: 'memory', kernel: attentionKernel({ causal: true }), shape: { b: 1, hq: 2, hkv: 2, n: 512, m: 512, d: 64, dv: 64 } };
    const { b, hq, n, m, d, dv } = c.shape;
    const inputs = inputsFor(c, 7);
    // Warm the pipeline cache, then drop pooled buffers so the window sees only this run.
    await run(c.kernel, inputs, gpu, optionsFor(c));
    gpu.trimPool();
    gpu.memory.resetPeak();
    const before = gpu.memory.currentBytes;
    const result = await run(c.kernel, inputs, gpu, optionsFor(c));
    expect(result['o']!.shape).toEqual([b, 2, 1, n, dv]);
    const scoreBytes = n * m * 4;
    const big = gpu.memory.allocations.filter((a) => a.bytes >= scoreBytes);
    expect(big, 'allocations of N·M·4 bytes or more').toEqual([]);
    const ioBytes = 4 * b * hq * (n * d + m * d + m * dv + n * dv + n);
    expect(gpu.memory.peakBytes - before).toBeLessThan(2 * ioBytes);
  });
});

describeGPU('block mask cache', (gpu) => {
  it('computes the block lists of an index-only mask once per shape and reuses them', async () => {
    const k = kernel('strided attention', { q: f32('n', 'd').pin({ d: 8 }), k: f32('m', 'd').pin({ d: 8 }), v: f32('m', 'e').pin({ e: 4 }) }, ({ q, k, v }) => {
      const s = einsum('nd,md->nm', q, k);
      const allowed = ne(mod(sub(iota(s, 'n'), iota(s, 'm')), 4), 3);
      return einsum('nm,me->ne', softmax(where(allowed, s, -Infinity), 'm'), v);
    });
    const program = compileFor(k, gpu);
    expect(program.buffers.filter((b) => b.role === 'cache')).toHaveLength(3);
    expect(program.steps.filter((s) => s.kind === 'dispatch' && s.cached).map((s) => s.label.split(' ')[0])).toEqual(['mask-classify', 'mask-compact']);
    const inputs = (n: number, seed: number) => ({ q: randomTensor([n, 8], seed), k: randomTensor([n, 8], seed + 1), v: randomTensor([n, 4], seed + 2) });
    for (const [n, seed, fresh] of [[70, 1, true], [70, 5, false], [33, 9, true], [70, 13, false]] as const) {
      const { outputs, profile } = await gpu.profile(program, inputs(n, seed));
      const want = interpretKernel(k, inputs(n, seed), { precision: 'f64' });
      expectClose(`n=${n} seed=${seed}`, { shape: outputs['out']!.shape, data: await outputs['out']!.read() }, want['out']!, F32);
      for (const t of Object.values(outputs)) t.destroy();
      // The mask passes run for a shape the first time only; later runs reuse the cached lists.
      const ranMask = profile.steps.some((step) => step.label.startsWith('mask-classify'));
      expect(ranMask, `mask passes ran for n=${n} seed=${seed}`).toBe(fresh);
    }
  });
});
