/**
 * chunk-bindings: printed Tensor IR in, fused, split, memory-planned and lowered (pinned in the
 * tests of those passes), then cut into chunks against a device that binds at most 4 KiB per
 * storage buffer (alignment 256 bytes). The pinned text is `printChunked`: `printFused` of the
 * program and one line per chunked kernel — its chunk axis and extent, the chunk count and rows
 * per chunk, and each buffer bound a slice at a time as `b<id> <rows per chunk row>x<row elements>`.
 * Each expectation was checked by hand (the comments give the arithmetic).
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { TesseraError } from '../../dsl/types.ts';
import { compile, fuseGraph } from '../../compiler/index.ts';
import { lowerToTiles } from '../../compiler/passes/lower-to-tiles.ts';
import { chunkBindings, printChunked } from '../../compiler/passes/chunk-bindings.ts';
import type { ScheduleOverrides } from '../../compiler/schedule.ts';
import { DEFAULT_LIMITS } from '../../program/index.ts';

const limits = { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 4096 };

function run(text: string, schedules: ScheduleOverrides = {}): string {
  const planned = fuseGraph(parseGraph(text), { name: 'test', limits, schedules });
  return printChunked(chunkBindings(lowerToTiles(planned, limits, schedules), limits));
}

describe('chunk-bindings', () => {
  it('cuts an elementwise kernel along its outermost output axis, slicing input and output', () => {
    const input = ir`
      %0 = input "x" : f32[i:1000, j:4]
      %1 = map exp(%0) : f32[i:1000, j:4]
      %2 = const 2 : f32[]
      %3 = map mul(%1, %2) : f32[i:1000, j:4]
      outputs y=%3
    `;
    // x and y are 16,000 bytes, rows of 16: at most 4096 / 16 = 256 rows per slice, and 256·16 is
    // a multiple of 256, so 256 rows per chunk and ⌈1000 / 256⌉ = 4 chunks (the last one 232 rows).
    expect(run(input)).toBe(ir`
      b0 input f32[i:1000, j:4] "input 'x'"
      b1 output f32[i:1000, j:4] "output 'y'"
      elementwise %3 mul -> b1 f32[a0=i:1000, a1=j:4] = mul(exp(b0[a0,a1]), 2:f32)
      outputs y=b1
      chunks
      elementwise %3 mul: a0 1000 in 4 chunks of 256 rows; slices b0 1x4, b1 1x4
    `);
  });

  it('cuts a reduction over an inner axis along its output rows, binding the small output whole', () => {
    const input = ir`
      %0 = input "x" : f32[i:1000, j:8]
      %1 = reduce sum(%0) over [j] : f32[i:1000]
      outputs y=%1
    `;
    // x is 32,000 bytes (rows of 32: 128 rows per 4 KiB); y, 4000 bytes, fits one binding and is
    // written whole at global indices. 128 rows per chunk, 8 chunks.
    expect(run(input)).toBe(ir`
      b0 input f32[i:1000, j:8] "input 'x'"
      b1 output f32[i:1000] "output 'y'"
      reduce %1 reduce -> b1 f32[a0=i:1000] = sum over [a1=j:8] of b0[a0,a1]
      outputs y=b1
      chunks
      reduce %1 reduce: a0 1000 in 8 chunks of 128 rows; slices b0 1x8
    `);
  });

  it('cuts a split-K partial GEMM along its parts axis, each part reading 128 rows through s·C + t', () => {
    const input = ir`
      %0 = input "a" : f32[i:2000, j:4]
      %1 = input "b" : f32[i:2000, k:2]
      %2 = contract(%0, %1) : f32[j:4, k:2]
      outputs c=%2
    `;
    // Split in parts of C = 128 (16 parts, the last 80 rows, guarded). A part reads 128 rows of a
    // (2048 bytes) and of b (1024 bytes): 2 parts per chunk fill 4 KiB of a, so 8 chunks, binding
    // a 256 rows and b 256 rows at a time. The partial and the combine's output are small, whole.
    expect(run(input, { split: { minExtent: 1024, chunk: { gemm: 128 } } })).toBe(ir`
      b0 input f32[i:2000, j:4] "input 'a'"
      b1 input f32[i:2000, k:2] "input 'b'"
      b2 output f32[j:4, k:2] "output 'c'"
      b3 temp f32[i/128:16, j:4, k:2] "%2 contract partial"
      gemm %2 contract partial -> b3 f32[a3=i/128:16, a0=j:4, a1=k:2] batch[a3=i/128:16] m[a0=j:4] n[a1=k:2] k[a4=i%128:128] a=where(lt(add(mul(#a3, 128:i32), #a4), |2000|), b0[clamp(add(mul(#a3, 128:i32), #a4)),a0], 0:f32) b=where(lt(add(mul(#a3, 128:i32), #a4), |2000|), b1[clamp(add(mul(#a3, 128:i32), #a4)),a1], 0:f32)
      reduce %2 contract combine -> b2 f32[a0=j:4, a1=k:2] = sum over [a3=i/128:16] of b3[a3,a0,a1] (combine, count 2000)
      outputs c=b2
      chunks
      gemm %2 contract partial: a3 16 in 8 chunks of 2 rows; slices b0 128x4, b1 128x2
    `);
  });

  it('cuts a GEMM without batch axes along m, in whole m tiles', () => {
    const input = ir`
      %0 = input "a" : f32[m:1000, k:8]
      %1 = input "b" : f32[k:8, n:4]
      %2 = contract(%0, %1) : f32[m:1000, n:4]
      outputs c=%2
    `;
    // a (rows of 32 bytes) allows 128 rows per slice, c (rows of 16) 256; chunks must be whole
    // tiles of tileM = 64, so 128 rows: 8 chunks of 2 tiles.
    const gemm = { tileM: 64, tileN: 64, tileK: 16, threadsM: 8, threadsN: 8 };
    expect(run(input, { gemm })).toBe(ir`
      b0 input f32[m:1000, k:8] "input 'a'"
      b1 input f32[k:8, n:4] "input 'b'"
      b2 output f32[m:1000, n:4] "output 'c'"
      gemm %2 contract -> b2 f32[a0=m:1000, a1=n:4] batch[] m[a0=m:1000] n[a1=n:4] k[a2=k:8] a=b0[a0,a2] b=b1[a2,a1]
      outputs c=b2
      chunks
      gemm %2 contract: a0 1000 in 8 chunks of 128 rows; slices b0 1x8, b2 1x4
    `);
    // With tileM = 48 the rows must be a multiple of 48, of 8 and of 16 (a's and c's slices start
    // 256-byte aligned) and at most 128: 96.
    expect(run(input, { gemm: { ...gemm, tileM: 48 } }).split('\n').at(-1)).toBe('gemm %2 contract: a0 1000 in 11 chunks of 96 rows; slices b0 1x8, b2 1x4');
  });

  it('emits the chunk index as the last uniform word, the rows of the chunk and slice-relative offsets', () => {
    const program = compile(
      parseGraph(ir`
        %0 = input "x" : f32[i:1000, j:4]
        %1 = map exp(%0) : f32[i:1000, j:4]
        outputs y=%1
      `),
      { name: 'test', limits },
    );
    const step = program.steps[0]!;
    if (step.kind !== 'dispatch') throw new Error('expected a dispatch');
    // Word 0 the workgroups (one chunk's 256 rows × 4 / 256 threads), word 1 the chunk index.
    expect(step.uniforms).toEqual([{ size: { op: 'ceildiv', args: [1024, 256] } }, { u32: 0 }]);
    expect(step.chunks).toEqual({
      count: 4,
      word: 1,
      slices: [
        { binding: 0, stride: 4096, bytes: 4096 },
        { binding: 1, stride: 4096, bytes: 4096 },
      ],
    });
    const wgsl = program.kernels[step.kernel]!.wgsl;
    for (const line of [
      'let chunk = u.w[0].y;',
      'let chunk_row0 = chunk * 256u;',
      'let chunk_rows = min(256u, 1000u - chunk_row0);',
      'if (flat_c >= chunk_rows * 4u) {',
      'let flat = chunk_row0 * 4u + flat_c;',
      // The input may hold ±∞, so exp runs on xf; what matters is both offsets, less 1024·chunk.
      'out[flat - chunk * 1024u] = ',
      'in0[(a0 * 4u + a1) - chunk * 1024u]',
    ]) {
      expect(wgsl).toContain(line);
    }
  });

  it('leaves programs with symbolic sizes or small buffers as they are', () => {
    const symbolic = ir`
      %0 = input "x" : f32[i:i, j:4]
      %1 = map exp(%0) : f32[i:i, j:4]
      outputs y=%1
    `;
    expect(run(symbolic).split('\n').slice(-2)).toEqual(['outputs y=b1', 'chunks none']);
    const small = ir`
      %0 = input "x" : f32[i:256, j:4]
      %1 = map exp(%0) : f32[i:256, j:4]
      outputs y=%1
    `;
    expect(run(small).split('\n').slice(-2)).toEqual(['outputs y=b1', 'chunks none']);
  });

  it('refuses, naming the kernel and the tensor, a kernel that cannot be cut', () => {
    // The output's outermost axis is j; x is stored with i outermost.
    const transposed = ir`
      %0 = input "x" : f32[i:1000, j:4]
      %1 = map exp(%0) : f32[i:1000, j:4]
      %2 = relabel(%1) as [i, j] : f32[j:4, i:1000]
      outputs y=%2
    `;
    expect(() => run(transposed)).toThrow(
      new TesseraError(
        "chunk-bindings: kernel '%2 relabel' binds input 'x' (15.6 KiB) but this device binds at most 4.0 KiB per storage buffer (maxStorageBufferBindingSize), and it cannot run in chunks: input 'x' is not indexed by axis 'j' outermost",
      ),
    );
    // A reduction over x's outermost axis that is too short to be split.
    const reduced = ir`
      %0 = input "x" : f32[i:2000, j:4]
      %1 = reduce sum(%0) over [i] : f32[j:4]
      outputs y=%1
    `;
    expect(() => run(reduced)).toThrow("kernel '%1 reduce' binds input 'x' (31.3 KiB)");
    // A part of a split reduction wider than one binding: 8192 rows of 4 floats are 128 KiB.
    const wide = ir`
      %0 = input "x" : f32[i:20000, j:4]
      %1 = reduce sum(%0) over [i] : f32[j:4]
      outputs y=%1
    `;
    expect(() => run(wide)).toThrow("and it cannot run in chunks: a chunk of one row of axis 'i/8192' binds 128.0 KiB of input 'x'");
    // Flash attention is never cut.
    const attention = ir`
      %0 = input "q" : f32[n:2000, d:4]
      %1 = input "k" : f32[m:64, d:4]
      %2 = input "v" : f32[m:64, e:2]
      %3 = contract(%0, %1) : f32[n:2000, m:64]
      %4 = softmax(%3) over m : f32[n:2000, m:64]
      %5 = contract(%4, %2) : f32[n:2000, e:2]
      outputs o=%5
    `;
    expect(() => run(attention)).toThrow(/kernel '.*' binds input 'q' \(31\.3 KiB\).*a flash kernel is never run in chunks$/);
  });
});
