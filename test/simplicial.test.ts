/**
 * 2-simplicial attention (`kernels/simplicial.ts`: trilinear contraction, causal windows, joint
 * softmax over (j, l), output contraction — compiled to one fused kernel) against the independent
 * golden files, on the float64 interpreter and on WebGPU; the fused kernel against the interpreter
 * on GQA heads, sequences that are not a workgroup multiple, every window combination, several
 * schedules, and a user's own einsum-written variant with rows that allow nothing; the compiled
 * program holds no tensor over the pairs; and the errors for bad windows.
 */
import { describe, expect, it } from 'vitest';
import { simplicialAttentionKernel } from '../kernels/index.ts';
import { fuseGraph } from '../compiler/index.ts';
import { printFused } from '../compiler/kernel-ir-print.ts';
import { einsum } from '../dsl/einsum.ts';
import { f32, kernel, param, type Kernel } from '../dsl/kernel.ts';
import { and, gt, iota, logsumexp, mul, softmax, where } from '../dsl/ops.ts';
import type { HostTensor } from '../dsl/types.ts';
import { randomTensor } from './helpers.ts';
import { expectMatchesInterpreter } from './interpreter-check.ts';
import { describeGPU } from './gpu.ts';
import { goldenFilesMatching, expectGoldenFile } from './golden/expect.ts';

const files = goldenFilesMatching(/^simplicial_attention_/);


describe('2-simplicial attention', () => {
  it('finds the three golden files (full causal, windowed, narrow)', () => {
    expect(files).toEqual(['simplicial_attention_full_causal.json', 'simplicial_attention_narrow.json', 'simplicial_attention_windowed.json']);
  });

  for (const file of files) it(`golden ${file} on the float64 interpreter`, () => expectGoldenFile(file, null, { rtol: 1e-9, atol: 1e-12 }));

  it('refuses a window that is not a whole number >= 1', () => {
    expect(() => simplicialAttentionKernel({ w1: 0 })).toThrow('simplicialAttention: w1 must be a whole number >= 1 or null, got 0');
    expect(() => simplicialAttentionKernel({ w2: 2.5 })).toThrow('simplicialAttention: w2 must be a whole number >= 1 or null, got 2.5');
  });
});

describeGPU('2-simplicial attention on WebGPU', (gpu) => {
  for (const file of files) it(`golden ${file}`, () => expectGoldenFile(file, gpu, { rtol: 2e-4, atol: 2e-5 }));
});

/** Inputs of `simplicialAttentionKernel` for B, Hkv, G, N, D, E. */
function simplicialInputs(b: number, hkv: number, g: number, n: number, d: number, e: number, seed: number): Record<string, HostTensor> {
  return {
    q: randomTensor([b, hkv, g, n, d], seed),
    k1: randomTensor([b, hkv, n, d], seed + 1),
    k2: randomTensor([b, hkv, n, d], seed + 2),
    v1: randomTensor([b, hkv, n, e], seed + 3),
    v2: randomTensor([b, hkv, n, e], seed + 4),
  };
}

/**
 * A user's own variant written with einsum: strictly causal in both keys (`j < i`, `l < i`), so
 * row 0 allows nothing (o = 0, lse = −∞), and the scale applied after the mask.
 */
const strictSimplicial: Kernel = kernel(
  'strict_simplicial',
  { q: f32('b', 'i', 'd'), k1: f32('b', 'j', 'd'), k2: f32('b', 'l', 'd'), v1: f32('b', 'j', 'e'), v2: f32('b', 'l', 'e'), scale: param() },
  ({ q, k1, k2, v1, v2, scale }) => {
    const logits = einsum('bid,bjd,bld->bijl', q, k1, k2);
    const [i, j, l] = [iota(q, 'i'), iota(k1, 'j'), iota(k2, 'l')];
    const masked = mul(where(and(gt(i, j), gt(i, l)), logits, -Infinity), scale);
    return { o: einsum('bijl,bje,ble->bie', softmax(masked, ['j', 'l']), v1, v2), lse: logsumexp(masked, ['j', 'l']) };
  },
);

describe('2-simplicial attention compiles to one fused kernel', () => {
  it('holds no tensor over the pairs (j, l): one simplicial kernel writes o and lse', () => {
    const fused = printFused(fuseGraph(simplicialAttentionKernel({ w1: 8, w2: 4 }).trace({ sizes: { d: 16, e: 8 } })));
    expect(fused.split('\n').filter((line) => /^b\d+ /.test(line))).toEqual([
      'b0 input f32[b:b, hkv:hkv, g:g, i:n, d:16] "input \'q\'"',
      'b1 input f32[b:b, hkv:hkv, j:n, d:16] "input \'k1\'"',
      'b2 input f32[b:b, hkv:hkv, l:n, d:16] "input \'k2\'"',
      'b3 input f32[b:b, hkv:hkv, j:n, e:8] "input \'v1\'"',
      'b4 input f32[b:b, hkv:hkv, l:n, e:8] "input \'v2\'"',
      'b5 output f32[b:b, hkv:hkv, g:g, i:n, e:8] "output \'o\'"',
      'b6 output f32[b:b, hkv:hkv, g:g, i:n] "output \'lse\'"',
    ]);
    expect(fused.match(/^simplicial /gm)).toHaveLength(1);
  });

  it("fuses a user's einsum-written variant too", () => {
    const fused = printFused(fuseGraph(strictSimplicial.trace({ sizes: { d: 4, e: 4 } })));
    expect(fused.match(/^simplicial /gm)).toHaveLength(1);
    expect(fused).not.toMatch(/^b\d+ temp/m);
  });
});

describeGPU('fused 2-simplicial attention on WebGPU against the float64 interpreter', (gpu) => {
  const cases: { label: string; shape: [number, number, number, number, number, number]; w1: number | null; w2: number | null }[] = [
    { label: 'GQA (2 kv heads, 2 query heads each), N = 70 (two workgroups, the second partly empty), w1 = 5', shape: [1, 2, 2, 70, 8, 6], w1: 5, w2: null },
    { label: 'batch 2, w2 = 3 only', shape: [2, 1, 1, 19, 4, 3], w1: null, w2: 3 },
    { label: 'both windows, N = 1', shape: [1, 1, 3, 1, 4, 4], w1: 2, w2: 2 },
    { label: 'no windows (causal in both keys), head 12, value head 5', shape: [1, 1, 1, 33, 12, 5], w1: null, w2: null },
  ];
  for (const c of cases) {
    it(c.label, async () => {
      const [b, hkv, g, n, d, e] = c.shape;
      await expectMatchesInterpreter(gpu, simplicialAttentionKernel({ w1: c.w1, w2: c.w2 }), simplicialInputs(b, hkv, g, n, d, e, n + d), {}, 2e-4, 2e-5, { params: { scale: 1 / Math.sqrt(d) } });
    });
  }

  it('gives the same numbers under other schedules (1 thread, tiles of 1, 7 and 32 keys)', async () => {
    const inputs = simplicialInputs(1, 1, 2, 23, 4, 4, 5);
    for (const simplicial of [{ threads: 1, lTile: 1 }, { threads: 8, lTile: 7 }, { threads: 64, lTile: 32 }]) {
      await expectMatchesInterpreter(gpu, simplicialAttentionKernel({ w1: 6, w2: 9 }), inputs, {}, 2e-4, 2e-5, { params: { scale: 0.5 }, compile: { schedules: { simplicial } } });
    }
  });

  it("runs a user's variant whose first row allows nothing: o = 0 and lse = -Infinity there", async () => {
    const inputs = { q: randomTensor([2, 9, 4], 1), k1: randomTensor([2, 9, 4], 2), k2: randomTensor([2, 9, 4], 3), v1: randomTensor([2, 9, 3], 4), v2: randomTensor([2, 9, 3], 5) };
    await expectMatchesInterpreter(gpu, strictSimplicial, inputs, {}, 2e-4, 2e-5, { params: { scale: 0.7 } });
  });
});
