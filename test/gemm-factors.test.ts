/**
 * Factored GEMM operands (`compiler/gemm-factors.ts`): an operand that is a product of factors,
 * each along the leading or the trailing part of its side's free axes (the fused outer product of
 * an n-ary einsum), is staged as those two products and multiplied per register. Checked on the
 * split the rule picks, on the WGSL (tiles, loads, register reads), on the workgroup memory the
 * schedule counts, and on WebGPU against the float64 interpreter: both sides, vec4 and scalar
 * reads, tiles off every extent, a factor along neither part, a broadcast operand, non-finite
 * inputs.
 */
import { describe, expect, it } from 'vitest';
import { operandFactors } from '../compiler/gemm-factors.ts';
import { printExpr } from '../compiler/kernel-ir-print.ts';
import type { KAxis, KExpr } from '../compiler/kernel-ir.ts';
import * as T from '../index.ts';
import { describeGPU } from './gpu.ts';
import { randomTensor } from './helpers.ts';
import { expectMatchesInterpreter } from './interpreter-check.ts';

const axis = (id: string, size: T.Size): KAxis => ({ id, name: id, size });
const load = (buffer: number, ...ids: string[]): KExpr => ({ k: 'load', buffer, dtype: 'f32', axes: ids.map((index) => ({ size: 4, index })) });
const mul = (a: KExpr, b: KExpr): KExpr => ({ k: 'op', fn: 'mul', args: [a, b], dtype: 'f32' });

describe('operandFactors', () => {
  const [i, j, l] = [axis('a0', 5), axis('a1', 8), axis('a2', 4)];
  const print = (e: KExpr | null) => (e ? printExpr(e) : null);

  it('splits a product over (i, j) into its i factor (outer) and its j factor (inner)', () => {
    const f = operandFactors(mul(load(0, 'a0', 'k'), load(1, 'a1', 'k')), [i, j], 32)!;
    expect([f.outer.map((a) => a.id), f.inner.map((a) => a.id), f.extent, f.staged]).toEqual([['a0'], ['a1'], 8, 4 + 8]);
    expect([print(f.outerValue), print(f.innerValue)]).toEqual(['b0[a0,k]', 'b1[a1,k]']);
  });

  it('takes the split that stages least, groups factors by part, and puts a factor along neither with the outer ones', () => {
    // Over (i, j, l), 64 wide: split after i stages 2 + 32, after (i, j) 16 + 4.
    const value = mul(mul(load(0, 'a0', 'a1', 'k'), load(2, 'k')), load(1, 'a2', 'k'));
    const f = operandFactors(value, [i, j, l], 64)!;
    expect([f.inner.map((a) => a.id), f.staged]).toEqual([['a2'], 16 + 4]);
    expect([print(f.outerValue), print(f.innerValue)]).toEqual(['mul(b0[a0,a1,k], b2[k])', 'b1[a2,k]']);
  });

  it('stages a broadcast operand (inner factors only) as its inner rows', () => {
    const f = operandFactors(load(1, 'a1', 'k'), [i, j], 32)!;
    expect([f.outerValue, print(f.innerValue), f.staged]).toEqual([null, 'b1[a1,k]', 8]);
  });

  it('declines a factor along both parts, a symbolic or non-dividing inner extent, one free axis, and a split that saves nothing', () => {
    expect(operandFactors(mul(load(0, 'a0', 'a1', 'k'), load(1, 'a1', 'k')), [i, j], 32)).toBeNull();
    expect(operandFactors(mul(load(0, 'a0', 'k'), load(1, 'a1', 'k')), [i, axis('a1', 'n')], 32)).toBeNull();
    expect(operandFactors(mul(load(0, 'a0', 'k'), load(1, 'a1', 'k')), [i, axis('a1', 6)], 32)).toBeNull();
    expect(operandFactors(load(0, 'a0', 'k'), [i], 32)).toBeNull();
    // 8 wide over j of 8: 1 outer row + 8 inner rows is not fewer than 8.
    expect(operandFactors(mul(load(0, 'a0', 'k'), load(1, 'a1', 'k')), [i, j], 8)).toBeNull();
  });
});

/**
 * The trilinear product `ik,jk,lk->ijl` (the planner fuses i·j into B over (i, j)), or with the
 * output `lji` (B over (j, i)).
 */
const trilinear = (out: 'ijl' | 'lji' = 'ijl') =>
  T.kernel('tri', { a: T.f32('i', 'k'), b: T.f32('j', 'k'), c: T.f32('l', 'k') }, ({ a, b, c }) => ({ out: out === 'ijl' ? T.einsum('ik,jk,lk->ijl', a, b, c) : T.einsum('ik,jk,lk->lji', a, b, c) }));

describe('factored staging in the GEMM kernel', () => {
  const schedule = { tileM: 8, tileN: 32, tileK: 4, threadsM: 2, threadsN: 4 };

  it('stages B as 4 rows of i and 8 of j a step, and each register reads one of each', () => {
    const p = T.compile(trilinear().trace({ sizes: { i: 5, j: 8, l: 8, k: 7 } }), { name: 'tri', schedules: { gemm: schedule } });
    const lines = p.kernels[0]!.wgsl.split('\n').map((x) => x.trim());
    expect(lines.filter((x) => x.startsWith('var<workgroup>'))).toEqual([
      'var<workgroup> tile_a: array<vec4<f32>, 8>;',
      'var<workgroup> tile_bo: array<f32, 16>;',
      'var<workgroup> tile_bi: array<vec4<f32>, 8>;',
    ]);
    // The outer rows are i from tn·4, zero past i's 5; the inner rows are all of j.
    expect(lines).toContain('let noflat = tn * 4u + fi;');
    expect(lines).toContain('if (noflat < 5u && kflat < 7u) {');
    expect(lines).toContain('let niflat = fi;');
    expect(lines).toContain('if (niflat < 8u && kflat < 7u) {');
    // Registers 0..3 are columns 4tx..4tx+3 (i = 4tx / 8, j = 4tx % 8 onwards), 4..7 columns 16 further on: i + 2, same j.
    const reads = lines.filter((x) => /^(let rb[io]_|rb\[)/.test(x));
    expect(reads).toEqual([
      'let rbi_0 = tile_bi[kk * 2u + (tx * 4u + 0u) % 8u / 4u];',
      'let rbo_0 = tile_bo[kk * 4u + (tx * 4u + 0u) / 8u + 0u];',
      ...[0, 1, 2, 3].map((c) => `rb[${c}] = rbo_0 * rbi_0[${c}];`),
      'let rbo_1 = tile_bo[kk * 4u + (tx * 4u + 0u) / 8u + 2u];',
      ...[0, 1, 2, 3].map((c) => `rb[${4 + c}] = rbo_1 * rbi_0[${c}];`),
    ]);
  });

  it('reads an inner extent that is no multiple of 4 one register at a time', () => {
    // 'ik,jk,lk->lji': B over (j, i), i (5) inner; 20-wide tiles, 4 registers per thread.
    const p = T.compile(trilinear('lji').trace({ sizes: { i: 5, j: 8, l: 8, k: 7 } }), { name: 'tri', schedules: { gemm: { tileM: 8, tileN: 20, tileK: 4, threadsM: 2, threadsN: 5 } } });
    const lines = p.kernels[0]!.wgsl.split('\n').map((x) => x.trim());
    expect(lines).toContain('var<workgroup> tile_bi: array<f32, 20>;');
    // Register 1 is column 4tx + 1: i = (4tx + 1) % 5 of j = (4tx + 1) / 5 (4 rows of j a tile).
    expect(lines).toContain('let rbo_1 = tile_bo[kk * 4u + (tx * 4u + 1u) / 5u + 0u];');
    expect(lines).toContain('rb[1] = rbo_1 * tile_bi[kk * 5u + (tx * 4u + 1u) % 5u];');
  });

  it('counts the factored tiles in workgroup memory: K = 64 stages whole at 32 KiB, and a schedule fits only with them', () => {
    const tri = T.kernel('tri', { a: T.f32('b', 'h', 'i', 'k'), b: T.f32('b', 'h', 'j', 'k'), c: T.f32('b', 'h', 'l', 'k') }, ({ a, b, c }) => ({ out: T.einsum('bhik,bhjk,bhlk->bhijl', a, b, c) }));
    const sizes = { b: 1, h: 4, i: 32, j: 32, l: 32, k: 64 };
    // 32 × 128 tiles: A 32 and B 4 + 32 elements a step; (32 + 36) · 64 · 4 = 17408 bytes.
    const wgsl = T.compile(tri.trace({ sizes }), { name: 'tri', limits: { maxComputeWorkgroupStorageSize: 32768 } }).kernels[0]!.wgsl;
    expect(wgsl).toContain('k0 += 64u');
    const gemm = { tileM: 32, tileN: 128, tileK: 64, threadsM: 4, threadsN: 16 };
    expect(() => T.compile(tri.trace({ sizes }), { name: 'tri', schedules: { gemm }, limits: { maxComputeWorkgroupStorageSize: 17408 } })).not.toThrow();
    expect(() => T.compile(tri.trace({ sizes }), { name: 'tri', schedules: { gemm }, limits: { maxComputeWorkgroupStorageSize: 17404 } })).toThrow(
      'schedule: gemm tiles need 17408 bytes of workgroup memory; the device has 17404',
    );
  });
});

describeGPU('factored GEMM operands on WebGPU', (gpu) => {
  const inputs = (sizes: Record<string, number>, names: Record<string, string>) =>
    Object.fromEntries(Object.entries(names).map(([name, axes], n) => [name, randomTensor([...axes].map((x) => sizes[x]!), 700 + n)]));

  it('agree with the interpreter: B factored, vec4 and scalar reads, tiles off every extent', async () => {
    const sizes = { i: 5, j: 8, l: 8, k: 7 };
    const x = inputs(sizes, { a: 'ik', b: 'jk', c: 'lk' });
    for (const gemm of [
      { tileM: 8, tileN: 32, tileK: 4, threadsM: 2, threadsN: 4 }, // vec4 inner reads, i past its end
      { tileM: 8, tileN: 16, tileK: 8, threadsM: 2, threadsN: 8 }, // 2 registers a thread: scalar reads
      { tileM: 16, tileN: 64, tileK: 16, threadsM: 4, threadsN: 4 }, // one tile past i, K in one step
    ]) {
      await expectMatchesInterpreter(gpu, trilinear(), x, sizes, 1e-5, 1e-6, { compile: { schedules: { gemm } } });
    }
    // i inner (5 a row, no multiple of 4), 20-wide tiles.
    await expectMatchesInterpreter(gpu, trilinear('lji'), x, sizes, 1e-5, 1e-6, { compile: { schedules: { gemm: { tileM: 8, tileN: 20, tileK: 4, threadsM: 2, threadsN: 5 } } } });
  });

  it('agree with the interpreter: A factored, a factor along neither part, a broadcast operand, batched default tiles', async () => {
    const aSide = T.kernel('aside', { a: T.f32('i', 'k'), b: T.f32('j', 'k'), c: T.f32('l', 'k') }, ({ a, b, c }) => ({ out: T.einsum('ijk,lk->ijl', T.einsum('ik,jk->ijk', a, b), c) }));
    const sizes = { i: 5, j: 8, l: 8, k: 7 };
    const gemm = { tileM: 32, tileN: 8, tileK: 4, threadsM: 4, threadsN: 2 };
    expect(T.compile(aSide.trace({ sizes }), { name: 'a', schedules: { gemm } }).kernels[0]!.wgsl).toContain('var<workgroup> tile_ao: array<f32, 16>;');
    await expectMatchesInterpreter(gpu, aSide, inputs(sizes, { a: 'ik', b: 'jk', c: 'lk' }), sizes, 1e-5, 1e-6, { compile: { schedules: { gemm } } });

    const neither = T.kernel('neither', { a: T.f32('i', 'k'), b: T.f32('j', 'k'), w: T.f32('k'), c: T.f32('l', 'k') }, ({ a, b, w, c }) => ({ out: T.einsum('ik,jk,k,lk->ijl', a, b, w, c) }));
    const bGemm = { tileM: 8, tileN: 32, tileK: 4, threadsM: 2, threadsN: 4 };
    expect(T.compile(neither.trace({ sizes }), { name: 'n', schedules: { gemm: bGemm } }).kernels[0]!.wgsl).toContain('var<workgroup> tile_bo: array<f32, 16>;');
    await expectMatchesInterpreter(gpu, neither, inputs(sizes, { a: 'ik', b: 'jk', w: 'k', c: 'lk' }), sizes, 1e-5, 1e-6, { compile: { schedules: { gemm: bGemm } } });

    const broadcast = T.kernel('bcast', { b: T.f32('j', 'k'), c: T.f32('l', 'k') }, ({ b, c }) => ({ out: T.einsum('jki,lk->ijl', T.expand(b, [{ name: 'i', size: 5 }]), c) }));
    const wgsl = T.compile(broadcast.trace({ sizes }), { name: 'b', schedules: { gemm } }).kernels[0]!.wgsl;
    expect(wgsl).toContain('var<workgroup> tile_ai: array<vec4<f32>, 8>;');
    expect(wgsl).not.toContain('tile_ao');
    await expectMatchesInterpreter(gpu, broadcast, inputs(sizes, { b: 'jk', c: 'lk' }), sizes, 1e-5, 1e-6, { compile: { schedules: { gemm } } });

    const batched = T.kernel('tri4', { a: T.f32('b', 'h', 'i', 'k'), b: T.f32('b', 'h', 'j', 'k'), c: T.f32('b', 'h', 'l', 'k') }, ({ a, b, c }) => ({ out: T.einsum('bhik,bhjk,bhlk->bhijl', a, b, c) }));
    const bSizes = { b: 2, h: 3, i: 6, j: 16, l: 12, k: 40 };
    await expectMatchesInterpreter(gpu, batched, inputs(bSizes, { a: 'bhik', b: 'bhjk', c: 'bhlk' }), bSizes, 1e-5, 1e-5);
  });

  it('carry ±∞ and NaN through the factors as the interpreter does', async () => {
    const sizes = { i: 5, j: 8, l: 8, k: 7 };
    const x = inputs(sizes, { a: 'ik', b: 'jk', c: 'lk' });
    const a = Float32Array.from(x.a!.data as Float32Array);
    const b = Float32Array.from(x.b!.data as Float32Array);
    a[3 * 7 + 2] = Infinity; // i = 3, k = 2: inf · b[j, 2]
    b[5 * 7 + 2] = 0; // j = 5, k = 2: inf · 0 = NaN at i = 3, j = 5
    a[1 * 7 + 4] = -Infinity;
    const gemm = { tileM: 8, tileN: 32, tileK: 4, threadsM: 2, threadsN: 4 };
    await expectMatchesInterpreter(gpu, trilinear(), { ...x, a: { shape: [5, 7], data: a }, b: { shape: [8, 7], data: b } }, sizes, 1e-5, 1e-6, { compile: { schedules: { gemm } } });
  });
});
