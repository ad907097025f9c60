/**
 * `scan` (`dsl/scan.ts`): its errors, its IR text, its interpreter semantics; the recurrent kernels
 * written with it (`kernels/linear-attention.ts`, `kernels/titans.ts`) chunked against the
 * token-by-token definitions for every rule and several chunk lengths and sequence lengths on the
 * float64 interpreter; the README's prompt-then-decode snippet against one run over all the tokens;
 * the golden files on the interpreter (on WebGPU: `scan-golden.test.ts`); the scan kernel against the
 * interpreter on WebGPU; and the compiled program holding no tensor that grows with the sequence
 * beyond the inputs and outputs.
 */
import { describe, expect, it } from 'vitest';
import { fuseGraph } from '../compiler/index.ts';
import { printFused } from '../compiler/kernel-ir-print.ts';
import { parseGraph } from '../dsl/parse.ts';
import { printGraph } from '../dsl/print.ts';
import { f32, kernel, type Kernel } from '../dsl/kernel.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { add, constant, contract, expand, ge, gt, iota, mul, rename, sum, where } from '../dsl/ops.ts';
import { scan } from '../dsl/scan.ts';
import type { HostTensor } from '../dsl/types.ts';
import { interpretKernel } from '../interpreter/interpret.ts';
import { linearAttentionKernel, type LinearAttentionRule } from '../kernels/linear-attention.ts';
import { titansMemoryKernel } from '../kernels/titans.ts';
import { linearAttention } from '../examples/linear-attention.ts';
import { describeGPU } from './gpu.ts';
import { expectReadmeShows, randomTensor } from './helpers.ts';
import { expectMatchesInterpreter } from './interpreter-check.ts';
import { run } from '../run.ts';
import { createCpuBackend } from '../runtime/cpu.ts';
import { RECURRENT_GOLDEN, goldenFilesMatching, expectGoldenFile } from './golden/expect.ts';

const goldenFiles = goldenFilesMatching(RECURRENT_GOLDEN);

/**
 * Sums over chunks: the state is the total so far; each output y_t is the total of the chunks
 * before t's, so its values show where the chunks start.
 */
const chunkTotals = (chunk: number) =>
  kernel('chunk_totals', { x: f32('b', 't') }, ({ x }) => {
    const { carry, ys } = scan({ axis: 't', chunk, xs: { x }, init: { total: mul(sum(x, 't'), 0) } }, (c, { total }) => ({
      carry: { total: add(total!, sum(c.x!, 't')) },
      ys: { y: add(mul(c.x!, 0), total!) },
    }));
    return { y: ys['y']!, total: carry['total']! };
  });

describe('scan: the DSL construct', () => {
  const x = f32('b', 't');
  it('rejects a chunk that is not a whole number >= 1', () => {
    const k = kernel('bad', { x }, ({ x }) => scan({ axis: 't', chunk: 0, xs: { x }, init: {} }, () => ({ carry: {}, ys: { y: x } })).ys['y']!);
    expect(() => k.trace()).toThrow('scan: chunk must be a whole number >= 1, got 0');
  });

  it('rejects a scanned tensor without the axis', () => {
    const k = kernel('bad', { x, w: f32('b', 'n') }, ({ x, w }) => scan({ axis: 't', xs: { x, w }, init: {} }, (c) => ({ carry: {}, ys: { y: c.x! } })).ys['y']!);
    expect(() => k.trace()).toThrow("scan: xs 'w' has no axis 't'; its axes are [b, n]");
  });

  it('rejects a state that changes type and an output without the scanned axis', () => {
    const grows = kernel('bad', { x }, ({ x }) =>
      scan({ axis: 't', xs: { x }, init: { s: sum(x, 't') } }, (c, { s }) => ({ carry: { s: add(s!, c.x!) as never }, ys: { y: c.x! } })).ys['y']!,
    );
    expect(() => grows.trace()).toThrow("scan: carried tensor 's' must keep its type; it enters as f32[b:b] and leaves as f32[b:b, t:t.chunk]");
    const flat = kernel('bad', { x }, ({ x }) => scan({ axis: 't', xs: { x }, init: {} }, (c) => ({ carry: {}, ys: { y: sum(c.x!, 't') } })).ys['y']!);
    expect(() => flat.trace()).toThrow("scan: output 'y' must have the scanned axis 't' (the chunk's part of it); it is f32[b:b]");
  });

  it('prints and parses back (scan and chunk nodes, the chunk-length symbol)', () => {
    const g = linearAttentionKernel({ rule: 'gated_delta', chunk: 16 }).trace();
    const text = printGraph(g);
    expect(text).toMatch(/= scan t chunk 16 size t\.chunk xs\(%\d+, %\d+, %\d+, %\d+, %\d+\) init\(%\d+\) captures\(.*\) : .* \{$/m);
    expect(text).toMatch(/= chunk 0 : f32\[b:b, h:h, t:t\.chunk, d:d\]$/m);
    expect(printGraph(parseGraph(text))).toBe(text);
    // Titans' memory update: a scan nested in the chunk's body, one token at a time.
    const nested = printGraph(titansMemoryKernel({ memory: 'linear', chunk: 16 }).trace());
    expect(nested).toMatch(/^ {2}%\d+ = scan t chunk 1 size t\.chunk1 /m);
    expect(printGraph(parseGraph(nested))).toBe(nested);
  });

  it('runs the body chunk by chunk on the interpreter, the last chunk shorter', () => {
    const xs: HostTensor = { shape: [2, 7], data: Float32Array.from({ length: 14 }, (_, i) => i + 1) };
    for (const chunk of [1, 3, 7, 10]) {
      const { y, total } = interpretKernel(chunkTotals(chunk), { x: xs });
      // y_t = the total before t's chunk: the sum of every earlier chunk.
      const want: number[] = [];
      for (let b = 0; b < 2; b++) for (let t = 0; t < 7; t++) {
        const first = Math.floor(t / chunk) * chunk;
        let s = 0;
        for (let u = 0; u < first; u++) s += b * 7 + u + 1;
        want.push(s);
      }
      expect([...y!.data], `chunk ${chunk}`).toEqual(want);
      expect([...total!.data]).toEqual([28, 77]);
    }
  });
});

/** The token-by-token definition of a rule (golden README), in float64. */
function reference(rule: LinearAttentionRule, x: Record<string, HostTensor>, scale: number): { o: Float64Array; s: Float64Array } {
  const [B, H, T, D] = x['q']!.shape as [number, number, number, number];
  const E = x['v']!.shape[3]!;
  const o = new Float64Array(B * H * T * E);
  const state = new Float64Array(B * H * E * D);
  const data = (name: string) => x[name]!.data as ArrayLike<number>;
  for (let bh = 0; bh < B * H; bh++) {
    const S = new Float64Array(E * D);
    if (x['s0']) for (let i = 0; i < E * D; i++) S[i] = data('s0')[bh * E * D + i]!;
    for (let t = 0; t < T; t++) {
      const at = (name: string, i: number, n: number) => data(name)[(bh * T + t) * n + i]!;
      const decay = rule === 'gla' || rule === 'gated_delta' ? Math.exp(at('g', 0, 1)) : 1;
      const beta = rule === 'delta' || rule === 'gated_delta' ? at('beta', 0, 1) : 1;
      for (let i = 0; i < E * D; i++) S[i]! *= decay;
      if (rule === 'delta' || rule === 'gated_delta') {
        // S ← S (I − β k kᵀ) + β v kᵀ = S + β (v − S k) kᵀ
        for (let e = 0; e < E; e++) {
          let sk = 0;
          for (let d = 0; d < D; d++) sk += S[e * D + d]! * at('k', d, D);
          const r = beta * (at('v', e, E) - sk);
          for (let d = 0; d < D; d++) S[e * D + d]! += r * at('k', d, D);
        }
      } else {
        for (let e = 0; e < E; e++) for (let d = 0; d < D; d++) S[e * D + d]! += at('v', e, E) * at('k', d, D);
      }
      for (let e = 0; e < E; e++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += S[e * D + d]! * at('q', d, D);
        o[(bh * T + t) * E + e] = scale * acc;
      }
    }
    state.set(S, bh * E * D);
  }
  return { o, s: state };
}

/** The largest |got − want| over two arrays of one length. */
function worstError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  return worst;
}

/** Inputs for a rule: unit-norm keys for the delta rules (as the golden files have them), gates in range. */
function inputs(rule: LinearAttentionRule, b: number, h: number, t: number, d: number, e: number, seed: number, initial: boolean): Record<string, HostTensor> {
  const k = randomTensor([b, h, t, d], seed + 1);
  if (rule === 'delta' || rule === 'gated_delta') {
    const kd = k.data as Float32Array;
    for (let row = 0; row < b * h * t; row++) {
      let n = 0;
      for (let i = 0; i < d; i++) n += kd[row * d + i]! ** 2;
      for (let i = 0; i < d; i++) kd[row * d + i]! /= Math.sqrt(n);
    }
  }
  const x: Record<string, HostTensor> = { q: randomTensor([b, h, t, d], seed), k, v: randomTensor([b, h, t, e], seed + 2) };
  if (rule === 'gla' || rule === 'gated_delta') x['g'] = randomTensor([b, h, t], seed + 3, -0.5, -0.01);
  if (rule === 'delta' || rule === 'gated_delta') x['beta'] = randomTensor([b, h, t], seed + 4, 0.05, 0.95);
  if (initial) x['s0'] = randomTensor([b, h, e, d], seed + 5);
  return x;
}

const RULES: readonly LinearAttentionRule[] = ['linear', 'gla', 'delta', 'gated_delta'];

describe('linear attention: chunked equals token by token (float64 interpreter)', () => {
  for (const rule of RULES) {
    it(`${rule}: chunks of 1, 7, 16 and 64 at T = 1, 63, 64, 65 and 300`, () => {
      for (const T of [1, 63, 64, 65, 300]) {
        const x = inputs(rule, 1, 2, T, 4, 3, T, T === 65);
        const want = reference(rule, x, 0.5);
        for (const chunk of [1, 7, 16, 64]) {
          const got = interpretKernel(linearAttentionKernel({ rule, chunk, initialState: T === 65 }), x, { params: { scale: 0.5 }, precision: 'f64' });
          expect(Math.max(worstError(got['o']!.data, want.o), worstError(got['s_final']!.data, want.s)), `T=${T} chunk=${chunk}`).toBeLessThan(1e-9);
        }
      }
    });
  }

  it('the delta rule stays accurate in f32 with nearly parallel keys (β = 0.99): the UT inverse has no growth', () => {
    // Keys within a few degrees of each other make A's entries ~β, where a power series of A
    // would grow like binomial coefficients; the blocked inverse is the exact solve reordered.
    const [T, D, E] = [128, 16, 8];
    const base = randomTensor([D], 91).data as Float32Array;
    const noise = randomTensor([T, D], 92, -0.05, 0.05).data as Float32Array;
    const k = new Float32Array(T * D);
    for (let t = 0; t < T; t++) {
      let n = 0;
      for (let d = 0; d < D; d++) n += (k[t * D + d] = base[d]! + noise[t * D + d]!) ** 2;
      for (let d = 0; d < D; d++) k[t * D + d]! /= Math.sqrt(n);
    }
    const x: Record<string, HostTensor> = {
      q: randomTensor([1, 1, T, D], 93),
      k: { shape: [1, 1, T, D], data: k },
      v: randomTensor([1, 1, T, E], 94),
      g: { shape: [1, 1, T], data: new Float32Array(T).fill(-0.001) },
      beta: { shape: [1, 1, T], data: new Float32Array(T).fill(0.99) },
    };
    const want = reference('gated_delta', x, 1);
    for (const chunk of [16, 64]) {
      const got = interpretKernel(linearAttentionKernel({ rule: 'gated_delta', chunk }), x, { params: { scale: 1 }, precision: 'f32' });
      expect(worstError(got['o']!.data, want.o), `chunk=${chunk}`).toBeLessThan(1e-5);
    }
  });

  it('rejects an unknown rule and a bad chunk', () => {
    expect(() => linearAttentionKernel({ rule: 'retnet' as LinearAttentionRule })).toThrow("linearAttention: rule must be one of linear, gla, delta, gated_delta, got 'retnet'");
    expect(() => linearAttentionKernel({ rule: 'gla', chunk: 2.5 })).toThrow('linearAttention: chunk must be a whole number >= 1, got 2.5');
    expect(() => titansMemoryKernel({ memory: 'linear', chunk: 0 })).toThrow('titansMemory: chunk must be a whole number >= 1, got 0');
  });
});

describe('recurrent golden files on the float64 interpreter', () => {
  it('finds the eight files', () => expect(goldenFiles).toHaveLength(8));
  for (const file of goldenFiles) it(file, () => expectGoldenFile(file, null, { rtol: 1e-9, atol: 1e-12 }));
});

describe("the README's scan example", () => {
  it('is linear attention: the token-by-token definition on the interpreter, 150 tokens in 3 chunks', () => {
    const x = inputs('linear', 1, 1, 150, 4, 3, 9, true);
    const flat = (t: HostTensor, shape: number[]): HostTensor => ({ shape, data: t.data });
    const got = interpretKernel(linearAttention, { q: flat(x['q']!, [150, 4]), k: flat(x['k']!, [150, 4]), v: flat(x['v']!, [150, 3]), s0: flat(x['s0']!, [3, 4]) }, { params: { scale: 0.5 }, precision: 'f64' });
    const want = reference('linear', x, 0.5);
    expect(worstError(got['o']!.data, want.o)).toBeLessThan(1e-9);
    expect(worstError(got['s']!.data, want.s)).toBeLessThan(1e-9);
  });
});

describe("the README's decode snippet", () => {
  it('a prompt, then a decode step from its s_final, equals one run over all the tokens (gla)', async () => {
    const [B, H, T, D, Dv] = [2, 2, 21, 4, 3];
    const all = inputs('gla', B, H, T, D, Dv, 31, false);
    // Tokens [from, to) of a [B, H, T, ...] tensor.
    const tokens = (t: HostTensor, from: number, to: number): HostTensor => {
      const per = t.shape.slice(3).reduce((a, b) => a * b, 1);
      const data = new Float32Array(B * H * (to - from) * per);
      for (let bh = 0; bh < B * H; bh++) data.set((t.data as Float32Array).subarray((bh * T + from) * per, (bh * T + to) * per), bh * (to - from) * per);
      return { shape: [B, H, to - from, ...t.shape.slice(3)], data };
    };
    const [q, k, v, g] = ['q', 'k', 'v', 'g'].map((n) => tokens(all[n]!, 0, T - 1)) as [HostTensor, HostTensor, HostTensor, HostTensor];
    const [q1, k1, v1, g1] = ['q', 'k', 'v', 'g'].map((n) => tokens(all[n]!, T - 1, T)) as [HostTensor, HostTensor, HostTensor, HostTensor];
    const backend = createCpuBackend();

    // README:begin
    // q, k [B, H, T, D], v [B, H, T, Dv], g [B, H, T]: the log decays (≤ 0) of GLA.
    const params = { scale: 1 / Math.sqrt(D) };
    const prompt = await run(linearAttentionKernel({ rule: 'gla' }), { q, k, v, g }, backend, { params });
    // The next token ([B, H, 1, ·] each) from the prompt's final state s_final [B, H, Dv, D].
    const step = linearAttentionKernel({ rule: 'gla', initialState: true });
    const next = await run(step, { q: q1, k: k1, v: v1, g: g1, s0: prompt.s_final! }, backend, { params });
    // next.o [B, H, 1, Dv]: the token's output; next.s_final: the state to decode the one after from
    // README:end
    expectReadmeShows(import.meta.url);

    // The float64 token-by-token run over all T tokens: the prompt's outputs are its first T − 1
    // tokens', the step's its last token's, and the step's state its final state.
    const want = reference('gla', all, params.scale);
    expect([prompt['o']!.shape, next['o']!.shape]).toEqual([[B, H, T - 1, Dv], [B, H, 1, Dv]]);
    // Per (batch, head): the prompt's T − 1 token rows, then the step's one.
    const o = new Float32Array(B * H * T * Dv);
    for (let bh = 0; bh < B * H; bh++) {
      o.set((prompt['o']!.data as Float32Array).subarray(bh * (T - 1) * Dv, (bh + 1) * (T - 1) * Dv), bh * T * Dv);
      o.set((next['o']!.data as Float32Array).subarray(bh * Dv, (bh + 1) * Dv), (bh * T + T - 1) * Dv);
    }
    expect(worstError(o, want.o)).toBeLessThan(1e-6);
    expect(worstError(next['s_final']!.data, want.s)).toBeLessThan(1e-6);
    backend.destroy();
  });
});

/**
 * Products a causal mask leaves partly unused (`compiler/scan-masks.ts`), anti-causal here (s ≥ t)
 * so the `>=` forms run: `anti` reads x·xᵀ only where s ≥ t; `mixed` also where s > t, two
 * different masks, so its x·xᵀ must compute every output.
 */
const maskedProducts = (name: string, strict: boolean) =>
  kernel(name, { x: f32('b', 't', 'd'), v: f32('b', 't', 'e') }, ({ x, v }) => {
    const { ys } = scan({ axis: 't', chunk: 8, xs: { x, v }, init: {} }, (c) => {
      const [xc, vs] = [c['x']!, rename(c['v']!, { t: 's' })];
      const xs = rename(xc, { t: 's' });
      const [ti, si] = [iota(xc, 't'), iota(xs, 's')];
      const scores = contract([xc, xs], ['b', 't', 's']);
      const ahead = contract([where(ge(si, ti), mul(scores, 0.5), 0), vs], ['b', 't', 'e']);
      const out: Record<string, Tensor> = { ahead };
      if (strict) out['after'] = contract([where(gt(si, ti), scores, 0), vs], ['b', 't', 'e']);
      return { carry: {}, ys: out };
    });
    return ys;
  });

describe('the scan kernel', () => {
  it('lowers a scan to one kernel: a workgroup per batch index, the state in workgroup memory and a fold in the scratch, the output stored at the chunk', () => {
    const totals = kernel('chunk_totals', { x: f32('b', 't') }, ({ x }) => {
      const { carry, ys } = scan({ axis: 't', chunk: 4, xs: { x }, init: { total: expand(constant(0, 'f32'), [{ name: 'b', size: 'b' }]) } }, (c, { total }) => ({
        carry: { total: add(total, sum(c.x, 't')) },
        ys: { y: add(mul(c.x, 0), total) },
      }));
      return { y: ys.y, total: carry.total };
    });
    expect(printFused(fuseGraph(totals.trace()))).toBe(
      [
        'b0 input f32[b:b, t:t] "input \'x\'"',
        'b1 output f32[b:b] "output \'total\'"',
        'b2 output f32[b:b, t:t] "output \'y\'"',
        'b3 temp u32[] x{"op":"mul","args":["b",1]} "%3 scan scratch"',
        'scan %3 scan -> b1 f32[a0=b:b] parallel[a0=b:b] scratch b3 x1 results b1, b2',
        // The state stays in workgroup memory; the fold goes to the scratch.
        '  l1 f32[] workgroup',
        '  l2 f32[]',
        '  scan t by 4 (t.chunk) {',
        '    state l1 = id(0:f32)',
        '    l2 = sum over [a1=t:t.chunk] of b0[a0,(scan_start0 + a1)]',
        '    b2[a0=b:b, a1=t:t] at a1 += chunk: add(mul(b0[a0,(scan_start0 + a1)], 0:f32), l1[])',
        '    next l1 in place = add(l1[], l2[])',
        '  }',
        '  final l1 -> b1',
        'outputs y=b2, total=b1',
      ].join('\n'),
    );
  });

  it('skips the terms and outputs of products a causal mask leaves unused', () => {
    const gemms = (k: Kernel, sizes: Record<string, number>) => printFused(fuseGraph(k.trace({ sizes }))).split('\n').filter((l) => l.includes('= gemm '));
    // GLA: q·kᵀ is read only where s ≤ t; the masked scores times the values need s ≤ t only.
    const gla = gemms(linearAttentionKernel({ rule: 'gla', chunk: 16 }), { d: 8, e: 40 });
    expect(gla.filter((l) => l.endsWith(' outputs n<=m'))).toHaveLength(1);
    expect(gla.filter((l) => l.endsWith(' terms k<=m'))).toHaveLength(1);
    expect(gla.filter((l) => / (terms|outputs) /.test(l))).toHaveLength(2);
    // The delta rule's K·Kᵀ is read only strictly below the diagonal.
    expect(gemms(linearAttentionKernel({ rule: 'delta', chunk: 16 }), { d: 8, e: 40 }).filter((l) => l.endsWith(' outputs n<m'))).toHaveLength(1);
    const anti = gemms(maskedProducts('anti', false), { d: 5, e: 40 });
    expect(anti.map((l) => l.replace(/^.* gemm .* a=.* b=.*?(( terms| outputs).*)?$/, '$1'))).toEqual([' outputs n>=m', ' terms k>=m']);
    // Two masks read x·xᵀ: every output is computed; each masked product still skips terms.
    const mixed = gemms(maskedProducts('mixed', true), { d: 5, e: 40 });
    expect(mixed.map((l) => l.replace(/^.* gemm .* a=.* b=.*?(( terms| outputs).*)?$/, '$1'))).toEqual(['', ' terms k>=m', ' terms k>m']);
  });

  it('compiles linear attention to one kernel whose scratch does not grow with the sequence', () => {
    const fused = printFused(fuseGraph(linearAttentionKernel({ rule: 'gated_delta', chunk: 16 }).trace({ sizes: { d: 8, e: 4 } })));
    expect(fused.match(/^scan /gm)).toHaveLength(1);
    const buffers = fused.split('\n').filter((line) => /^b\d+ /.test(line));
    // The inputs, the two outputs and the scratch, whose size per (b, h) is a number of words.
    expect(buffers.slice(5, 7)).toEqual(['b5 output f32[b:b, h:h, e:4, d:8] "output \'s_final\'"', 'b6 output f32[b:b, h:h, t:t, e:4] "output \'o\'"']);
    expect(buffers[7]).toMatch(/^b7 temp u32\[\] x\{"op":"mul","args":\[\{"op":"mul","args":\["b","h"\]\},\d+\]\} "%8 scan scratch"$/);
    expect(buffers).toHaveLength(8);
    // The state (4 × 8 words) stays in workgroup memory; one past WebGPU's guaranteed 16 KiB does not.
    expect(fused).toMatch(/^ {2}l1 f32\[a3=e:4, a4=d:8\] workgroup$/m);
    const wide = printFused(fuseGraph(linearAttentionKernel({ rule: 'gated_delta', chunk: 16 }).trace({ sizes: { d: 65, e: 64 } })));
    expect(wide).toMatch(/^ {2}l1 f32\[a3=e:64, a4=d:65\]$/m);
    expect(fused).toMatch(/^ {2}scan t by 16 \(t\.chunk\) \{$/m);
    // The delta rule's UT system is solved by products (no row-by-row scan inside the chunk).
    expect(fused).not.toMatch(/^ {4}scan /m);
  });
});

describeGPU('recurrent attention on WebGPU', (gpu) => {
  // Beside the golden files (test/scan-golden.test.ts) (every rule, Titans' memories): other chunks, batch × heads, a partial
  // last chunk, a decode step (T = 1) from a given state, and head dims of 33 and 35, whose
  // products take 8-wide register blocks with a partial last block. Each case compiles its own
  // shader, which lavapipe takes seconds over, so the list stays short.
  const cases: { rule: LinearAttentionRule; chunk: number; t: number; initial: boolean; d: number; e: number }[] = [
    { rule: 'linear', chunk: 7, t: 63, initial: false, d: 8, e: 5 },
    { rule: 'gla', chunk: 16, t: 65, initial: true, d: 8, e: 5 },
    { rule: 'gated_delta', chunk: 16, t: 1, initial: true, d: 8, e: 5 },
    { rule: 'gla', chunk: 32, t: 40, initial: false, d: 33, e: 35 },
    // A state of 65 × 65 words is past 16 KiB: it is kept in the scratch buffer instead.
    { rule: 'linear', chunk: 4, t: 9, initial: true, d: 65, e: 65 },
  ];
  it('masked products (s ≥ t, s > t) with a partial last chunk and partial register blocks: the interpreter\'s numbers', async () => {
    const x = { x: randomTensor([2, 21, 5], 61), v: randomTensor([2, 21, 40], 62) };
    await expectMatchesInterpreter(gpu, maskedProducts('anti', false), x, {}, 2e-4, 2e-5);
    await expectMatchesInterpreter(gpu, maskedProducts('mixed', true), x, {}, 2e-4, 2e-5);
  });

  it('a masked product skips the masked terms: an infinity there does not reach the result (README, Infinities and NaN)', async () => {
    // v is +∞ at the first token: with s ≥ t only row t = 0 of the first chunk reads it.
    const x = { x: randomTensor([1, 8, 5], 63), v: randomTensor([1, 8, 40], 64) };
    (x.v.data as Float32Array).fill(Infinity, 0, 40);
    const got = (await run(maskedProducts('anti', false), x, gpu))['ahead']!.data;
    const want = interpretKernel(maskedProducts('anti', false), x, { precision: 'f64' })['ahead']!.data;
    const rows = (data: ArrayLike<number>, finite: boolean) => Array.from({ length: 8 }, (_, t) => Array.from(data).slice(t * 40, t * 40 + 40).every((v) => Number.isFinite(v) === finite));
    // The interpreter's 0 · ∞ gives NaN in every later row; the kernel never forms those terms.
    expect(rows(want, false)).toEqual(Array(8).fill(true));
    expect(rows(got, true)).toEqual([false, ...Array(7).fill(true)]);
  });

  it("Titans' MLP memory with states split between workgroup memory and the scratch: the interpreter's numbers", async () => {
    // Four 40 × 40 states: the weights fit 16 KiB of workgroup memory, the momenta go to the scratch.
    const titans = titansMemoryKernel({ memory: 'mlp', chunk: 2 });
    const fused = printFused(fuseGraph(titans.trace({ sizes: { d: 40, e: 40, f: 40 } })));
    // l1..l4 are the states W1, W2, S1, S2.
    expect(fused.split('\n').filter((l) => /^ {2}l[1-4] /.test(l))).toEqual(['  l1 f32[a3=f:40, a4=d:40] workgroup', '  l2 f32[a5=e:40, a3=f:40] workgroup', '  l3 f32[a3=f:40, a4=d:40]', '  l4 f32[a5=e:40, a3=f:40]']);
    const [b, h, t] = [1, 2, 5];
    const x: Record<string, HostTensor> = {
      q: randomTensor([b, h, t, 40], 71),
      k: randomTensor([b, h, t, 40], 72),
      v: randomTensor([b, h, t, 40], 73),
      theta: randomTensor([b, h, t], 74, 0, 0.1),
      eta: randomTensor([b, h, t], 75, 0.5, 0.9),
      alpha: randomTensor([b, h, t], 76, 0, 0.1),
      w1: randomTensor([h, 40, 40], 77, -0.2, 0.2),
      w2: randomTensor([h, 40, 40], 78, -0.2, 0.2),
    };
    await expectMatchesInterpreter(gpu, titans, x, {}, 2e-4, 2e-5);
  });

  it("runs the README's example (no batch axes: one workgroup) as the interpreter does", async () => {
    const x = inputs('linear', 1, 1, 150, 4, 3, 9, true);
    const flat = (t: HostTensor, shape: number[]): HostTensor => ({ shape, data: t.data });
    await expectMatchesInterpreter(gpu, linearAttention, { q: flat(x['q']!, [150, 4]), k: flat(x['k']!, [150, 4]), v: flat(x['v']!, [150, 3]), s0: flat(x['s0']!, [3, 4]) }, {}, 2e-4, 2e-5, { params: { scale: 0.5 } });
  });

  for (const c of cases) {
    it(`${c.rule}, chunk ${c.chunk}, T = ${c.t}${c.initial ? ', a given initial state' : ''}, D = ${c.d}, Dv = ${c.e}, 2 × 3 heads: the interpreter's numbers`, async () => {
      const x = inputs(c.rule, 2, 3, c.t, c.d, c.e, c.t + c.chunk, c.initial);
      await expectMatchesInterpreter(gpu, linearAttentionKernel({ rule: c.rule, chunk: c.chunk, initialState: c.initial }), x, {}, 2e-4, 2e-5, { params: { scale: 0.35 } });
    });
  }
});
