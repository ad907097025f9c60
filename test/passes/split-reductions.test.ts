/**
 * split-reductions: printed Tensor IR in, fused (pinned in `fuse.test.ts`) and then split; the
 * Kernel IR printed (`printFused`) and pinned. A reduction or GEMM whose reduced axis `i` has at
 * least 16384 elements and whose unsplit grid is at most 1024 workgroups (`SPLIT_DEFAULTS`) becomes
 * a partial kernel over [i/C parts, outputs...] reducing `i%C` (C = 8192 for a reduction, 1024 for
 * a GEMM), reading `i` at `s·C + t` (clamped) and, where C does not divide the length, replacing
 * the elements past the end by the fold's identity; then a combine kernel reducing the parts.
 * Symbolic sizes give guarded variants (`when`). Each expectation was read and checked by hand
 * (the comments say what to look for).
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { fuse } from '../../compiler/passes/fuse.ts';
import { planMemory } from '../../compiler/passes/plan-memory.ts';
import { splitReductions } from '../../compiler/passes/split-reductions.ts';
import type { FusedProgram } from '../../compiler/kernel-ir.ts';
import { printFused } from '../../compiler/kernel-ir-print.ts';
import { floatFacts } from '../../compiler/nonfinite.ts';
import { DEFAULT_LIMITS } from '../../program/index.ts';

const split = (text: string): FusedProgram => splitReductions(fuse(parseGraph(text), { name: 'test', maxStorageBuffers: 8, limits: DEFAULT_LIMITS }), DEFAULT_LIMITS);
const run = (text: string) => printFused(split(text));

describe('split-reductions', () => {
  it('splits a sum over a static long axis into 13 parts and a combine, guarding the tail chunk', () => {
    const input = ir`
      %0 = input "x" : f32[i:100003, j:16]
      %1 = reduce sum(%0) over [i] : f32[j:16]
      outputs y=%1
    `;
    // ⌈100003 / 8192⌉ = 13 parts (a2, outermost); each folds i%8192 (a3) at i = a2·8192 + a3, read
    // clamped; 12·8192 = 98304, so the last part has 1699 elements and the rest of its chunk reads
    // as 0, the identity of sum. The partial buffer b2 holds [13, 16]; the combine sums a2 into the
    // output buffer b1, in order. The unsplit grid was 16 workgroups, now 208 plus 16.
    expect(run(input)).toBe(ir`
      b0 input f32[i:100003, j:16] "input 'x'"
      b1 temp f32[j:16] "%1 reduce"
      b2 temp f32[i/8192:13, j:16] "%1 reduce partial"
      reduce %1 reduce partial -> b2 f32[a2=i/8192:13, a0=j:16] = sum over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |100003|), b0[clamp(add(mul(#a2, 8192:i32), #a3)),a0], 0:f32) (partial)
      reduce %1 reduce combine -> b1 f32[a0=j:16] = sum over [a2=i/8192:13] of b2[a2,a0] (combine, count 100003)
      outputs y=b1
    `);
  });

  it('gives a symbolic long axis both variants, guarded by its length', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:16]
      %1 = reduce sum(%0) over [i] : f32[j:16]
      outputs y=%1
    `;
    // 16 outputs fit the 1024-workgroup bound statically, so only i decides: i >= 16384 runs the
    // partial and the combine, i < 16384 the whole reduction (unchanged). The parts axis counts
    // ceil(i/8192) parts; having no size of its own, the partial buffer b2 is declared over [j:16]
    // with its element count 16·ceil(i/8192).
    expect(run(input)).toBe(ir`
      b0 input f32[i:i, j:16] "input 'x'"
      b1 temp f32[j:16] "%1 reduce"
      b2 temp f32[j:16] x{"op":"mul","args":[16,{"op":"ceildiv","args":["i",8192]}]} "%1 reduce partial"
      when i >= 16384: reduce %1 reduce partial -> b2 f32[a2=i/8192:ceil(i/8192), a0=j:16] = sum over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |i|), b0[clamp(add(mul(#a2, 8192:i32), #a3)),a0], 0:f32) (partial)
      when i >= 16384: reduce %1 reduce combine -> b1 f32[a0=j:16] = sum over [a2=i/8192:ceil(i/8192)] of b2[a2,a0] (combine, count i)
      when i < 16384: reduce %1 reduce -> b1 f32[a0=j:16] = sum over [a1=i:i] of b0[a1,a0]
      outputs y=b1
    `);
  });

  it('guards on the axis and the output at once when both are symbolic', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = reduce sum(%0) over [i] : f32[j:j]
      outputs y=%1
    `;
    // Split when i >= 16384 and j <= 1024: min(i, ceil(16384·1024 / j)) >= 16384. For j = 1024 the
    // ceil is 16384 (split if i is long), for j = 1025 it is 16369 (never split).
    expect(run(input)).toBe(ir`
      b0 input f32[i:i, j:j] "input 'x'"
      b1 temp f32[j:j] "%1 reduce"
      b2 temp f32[j:j] x{"op":"mul","args":["j",{"op":"ceildiv","args":["i",8192]}]} "%1 reduce partial"
      when min(i, ceil(16777216/j)) >= 16384: reduce %1 reduce partial -> b2 f32[a2=i/8192:ceil(i/8192), a0=j:j] = sum over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |i|), b0[clamp(add(mul(#a2, 8192:i32), #a3)),a0], 0:f32) (partial)
      when min(i, ceil(16777216/j)) >= 16384: reduce %1 reduce combine -> b1 f32[a0=j:j] = sum over [a2=i/8192:ceil(i/8192)] of b2[a2,a0] (combine, count i)
      when min(i, ceil(16777216/j)) < 16384: reduce %1 reduce -> b1 f32[a0=j:j] = sum over [a1=i:i] of b0[a1,a0]
      outputs y=b1
    `);
  });

  it('finalises a mean once, in the combine, dividing by the count of the whole reduction', () => {
    const input = ir`
      %0 = input "x" : f32[i:100003, j:16, k:3]
      %1 = reduce mean(%0) over [i, k] : f32[j:16]
      outputs y=%1
    `;
    // Only the long axis i is cut; k stays reduced in the partial kernel ([a4, a2]). The partial
    // stores unfinalised sums (the padding reads 0, mean's identity); the combine sums the 13 parts
    // and divides by 100003·3 = 300009, not by 13.
    expect(run(input)).toBe(ir`
      b0 input f32[i:100003, j:16, k:3] "input 'x'"
      b1 temp f32[j:16] "%1 reduce"
      b2 temp f32[i/8192:13, j:16] "%1 reduce partial"
      reduce %1 reduce partial -> b2 f32[a3=i/8192:13, a0=j:16] = mean over [a4=i%8192:8192, a2=k:3] of where(lt(add(mul(#a3, 8192:i32), #a4), |100003|), b0[clamp(add(mul(#a3, 8192:i32), #a4)),a0,a2], 0:f32) (partial)
      reduce %1 reduce combine -> b1 f32[a0=j:16] = mean over [a3=i/8192:13] of b2[a3,a0] (combine, count 300009)
      outputs y=b1
    `);
  });

  it('pads a max with −∞, and needs no guard where the chunk divides the axis', () => {
    const input = ir`
      %0 = input "x" : f32[j:16, i:65536]
      %1 = input "w" : f32[j:16, i:i]
      %2 = reduce max(%0) over [i] : f32[j:16]
      %3 = reduce max(%1) over [i] : f32[j:16]
      outputs y=%2, z=%3
    `;
    // 65536 = 8·8192: every read is in range, so the value is the clamped load alone (i is the
    // second axis of x: b0[a0, clamp(...)]). A symbolic i may end mid-chunk: past the end reads
    // −∞, max's identity.
    expect(run(input)).toBe(ir`
      b0 input f32[j:16, i:65536] "input 'x'"
      b1 input f32[j:16, i:i] "input 'w'"
      b2 temp f32[j:16] "%2 reduce"
      b3 temp f32[j:16] "%3 reduce"
      b4 temp f32[i/8192:8, j:16] "%2 reduce partial"
      b5 temp f32[j:16] x{"op":"mul","args":[16,{"op":"ceildiv","args":["i",8192]}]} "%3 reduce partial"
      reduce %2 reduce partial -> b4 f32[a2=i/8192:8, a0=j:16] = max over [a3=i%8192:8192] of b0[a0,clamp(add(mul(#a2, 8192:i32), #a3))] (partial)
      reduce %2 reduce combine -> b2 f32[a0=j:16] = max over [a2=i/8192:8] of b4[a2,a0] (combine, count 65536)
      when i >= 16384: reduce %3 reduce partial -> b5 f32[a2=i/8192:ceil(i/8192), a0=j:16] = max over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |i|), b1[a0,clamp(add(mul(#a2, 8192:i32), #a3))], -Infinity:f32) (partial)
      when i >= 16384: reduce %3 reduce combine -> b3 f32[a0=j:16] = max over [a2=i/8192:ceil(i/8192)] of b5[a2,a0] (combine, count i)
      when i < 16384: reduce %3 reduce -> b3 f32[a0=j:16] = max over [a1=i:i] of b1[a0,a1]
      outputs y=b2, z=b3
    `);
  });

  it('splits a GEMM along its contracted axis (split-K), zeroing both operands past the end', () => {
    const input = ir`
      %0 = input "a" : f32[i:i, j:16]
      %1 = input "b" : f32[i:i, k:64]
      %2 = contract(%0, %1) : f32[j:16, k:64]
      outputs c=%2
    `;
    // One 64×64 output tile unsplit. The partial GEMM takes the parts axis a3 as a batch axis
    // (ceil(i/1024) tiles) and contracts i%1024 (a4); both operands read 0 past the end (0·0, where
    // a clamped read could be ±∞). The combine sums the parts of b3 [parts, 16, 64] into b2.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i, j:16] "input 'a'"
      b1 input f32[i:i, k:64] "input 'b'"
      b2 temp f32[j:16, k:64] "%2 contract"
      b3 temp f32[j:16, k:64] x{"op":"mul","args":[1024,{"op":"ceildiv","args":["i",1024]}]} "%2 contract partial"
      when i >= 16384: gemm %2 contract partial -> b3 f32[a3=i/1024:ceil(i/1024), a0=j:16, a1=k:64] batch[a3=i/1024:ceil(i/1024)] m[a0=j:16] n[a1=k:64] k[a4=i%1024:1024] a=where(lt(add(mul(#a3, 1024:i32), #a4), |i|), b0[clamp(add(mul(#a3, 1024:i32), #a4)),a0], 0:f32) b=where(lt(add(mul(#a3, 1024:i32), #a4), |i|), b1[clamp(add(mul(#a3, 1024:i32), #a4)),a1], 0:f32)
      when i >= 16384: reduce %2 contract combine -> b2 f32[a0=j:16, a1=k:64] = sum over [a3=i/1024:ceil(i/1024)] of b3[a3,a0,a1] (combine, count i)
      when i < 16384: gemm %2 contract -> b2 f32[a0=j:16, a1=k:64] batch[] m[a0=j:16] n[a1=k:64] k[a2=i:i] a=b0[a2,a0] b=b1[a2,a1]
      outputs c=b2
    `);
  });

  it('splits a static GEMM into 64 parts with no guard', () => {
    const input = ir`
      %0 = input "a" : f32[i:65536, j:16]
      %1 = input "b" : f32[i:65536, k:64]
      %2 = contract(%0, %1) : f32[j:16, k:64]
      outputs c=%2
    `;
    // 65536 = 64·1024: the partial buffer is [64, 16, 64] and the operands are plain clamped loads.
    expect(run(input)).toBe(ir`
      b0 input f32[i:65536, j:16] "input 'a'"
      b1 input f32[i:65536, k:64] "input 'b'"
      b2 temp f32[j:16, k:64] "%2 contract"
      b3 temp f32[i/1024:64, j:16, k:64] "%2 contract partial"
      gemm %2 contract partial -> b3 f32[a3=i/1024:64, a0=j:16, a1=k:64] batch[a3=i/1024:64] m[a0=j:16] n[a1=k:64] k[a4=i%1024:1024] a=b0[clamp(add(mul(#a3, 1024:i32), #a4)),a0] b=b1[clamp(add(mul(#a3, 1024:i32), #a4)),a1]
      reduce %2 contract combine -> b2 f32[a0=j:16, a1=k:64] = sum over [a3=i/1024:64] of b3[a3,a0,a1] (combine, count 65536)
      outputs c=b2
    `);
  });

  it('leaves a short reduction, and one whose outputs fill the device, whole', () => {
    const input = ir`
      %0 = input "x" : f32[i:16383, j:16]
      %1 = input "y" : f32[i:100003, j:2048]
      %2 = reduce sum(%0) over [i] : f32[j:16]
      %3 = reduce sum(%1) over [i] : f32[j:2048]
      outputs a=%2, b=%3
    `;
    // 16383 < 16384; 2048 outputs are 2048 workgroups unsplit, over the 1024 bound. Nothing changes.
    expect(run(input)).toBe(ir`
      b0 input f32[i:16383, j:16] "input 'x'"
      b1 input f32[i:100003, j:2048] "input 'y'"
      b2 temp f32[j:16] "%2 reduce"
      b3 temp f32[j:2048] "%3 reduce"
      reduce %2 reduce -> b2 f32[a0=j:16] = sum over [a1=i:16383] of b0[a1,a0]
      reduce %3 reduce -> b3 f32[a0=j:2048] = sum over [a1=i:100003] of b1[a1,a0]
      outputs a=b2, b=b3
    `);
  });

  it('carries the partial buffer of a non-finite-carrying reduction as xf, and only that one', () => {
    const input = ir`
      %0 = input "n" : i32[i:i, j:16]
      %1 = map to_f32(%0) : f32[i:i, j:16]
      %2 = reduce sum(%1) over [i] : f32[j:16]
      %3 = map log(%1) : f32[i:i, j:16]
      %4 = reduce sum(%3) over [i] : f32[j:16]
      outputs plain=%2, logs=%4
    `;
    // Integers cast to f32 are finite; their logs may be −∞ or NaN (log 0, log of a negative).
    const p = split(input);
    expect(printFused(p)).toBe(ir`
      b0 input i32[i:i, j:16] "input 'n'"
      b1 temp f32[j:16] "%2 reduce"
      b2 temp f32[j:16] "%4 reduce"
      b3 temp f32[j:16] x{"op":"mul","args":[16,{"op":"ceildiv","args":["i",8192]}]} "%2 reduce partial"
      b4 temp f32[j:16] x{"op":"mul","args":[16,{"op":"ceildiv","args":["i",8192]}]} "%4 reduce partial"
      when i >= 16384: reduce %2 reduce partial -> b3 f32[a2=i/8192:ceil(i/8192), a0=j:16] = sum over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |i|), to_f32(b0[clamp(add(mul(#a2, 8192:i32), #a3)),a0]), 0:f32) (partial)
      when i >= 16384: reduce %2 reduce combine -> b1 f32[a0=j:16] = sum over [a2=i/8192:ceil(i/8192)] of b3[a2,a0] (combine, count i)
      when i < 16384: reduce %2 reduce -> b1 f32[a0=j:16] = sum over [a1=i:i] of to_f32(b0[a1,a0])
      when i >= 16384: reduce %4 reduce partial -> b4 f32[a2=i/8192:ceil(i/8192), a0=j:16] = sum over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |i|), log(to_f32(b0[clamp(add(mul(#a2, 8192:i32), #a3)),a0])), 0:f32) (partial)
      when i >= 16384: reduce %4 reduce combine -> b2 f32[a0=j:16] = sum over [a2=i/8192:ceil(i/8192)] of b4[a2,a0] (combine, count i)
      when i < 16384: reduce %4 reduce -> b2 f32[a0=j:16] = sum over [a1=i:i] of log(to_f32(b0[a1,a0]))
      outputs plain=b1, logs=b2
    `);
    // The log sum's partial buffer b4 may hold ±∞ and NaN, so it is stored as bit patterns and its
    // combine folds xf, as does the output b2; the plain sum's b3 and b1 stay plain.
    expect([...floatFacts(p.steps, []).nonFinite].sort()).toEqual([2, 4]);
  });

  it('keeps the guards through plan-memory, where the two partial buffers share one', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:16]
      %1 = reduce max(%0) over [i] : f32[j:16]
      %2 = map sub(%0, %1) : f32[i:i, j:16]
      %3 = map exp(%2) : f32[i:i, j:16]
      %4 = reduce sum(%3) over [i] : f32[j:16]
      outputs m=%1, s=%4
    `;
    // The max's partial buffer is dead after its combine (step 1) before the sum's partial (step 3)
    // is written, and both hold 16·ceil(i/8192) elements: one buffer b3. The outputs claim b1, b2,
    // written by either variant.
    expect(printFused(planMemory(split(input)))).toBe(ir`
      b0 input f32[i:i, j:16] "input 'x'"
      b1 output f32[j:16] "output 'm'"
      b2 output f32[j:16] "output 's'"
      b3 temp f32[j:16] x{"op":"mul","args":[16,{"op":"ceildiv","args":["i",8192]}]} "%1 reduce partial"
      when i >= 16384: reduce %1 reduce partial -> b3 f32[a2=i/8192:ceil(i/8192), a0=j:16] = max over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |i|), b0[clamp(add(mul(#a2, 8192:i32), #a3)),a0], -Infinity:f32) (partial)
      when i >= 16384: reduce %1 reduce combine -> b1 f32[a0=j:16] = max over [a2=i/8192:ceil(i/8192)] of b3[a2,a0] (combine, count i)
      when i < 16384: reduce %1 reduce -> b1 f32[a0=j:16] = max over [a1=i:i] of b0[a1,a0]
      when i >= 16384: reduce %4 reduce partial -> b3 f32[a2=i/8192:ceil(i/8192), a0=j:16] = sum over [a3=i%8192:8192] of where(lt(add(mul(#a2, 8192:i32), #a3), |i|), exp(sub(b0[clamp(add(mul(#a2, 8192:i32), #a3)),a0], b1[a0])), 0:f32) (partial)
      when i >= 16384: reduce %4 reduce combine -> b2 f32[a0=j:16] = sum over [a2=i/8192:ceil(i/8192)] of b3[a2,a0] (combine, count i)
      when i < 16384: reduce %4 reduce -> b2 f32[a0=j:16] = sum over [a1=i:i] of exp(sub(b0[a1,a0], b1[a0]))
      outputs m=b1, s=b2
    `);
  });
  it('follows split overrides: another chunk, none at all, and a readable error for a bad one', () => {
    const input = ir`
      %0 = input "x" : f32[i:100003, j:16]
      %1 = reduce sum(%0) over [i] : f32[j:16]
      outputs y=%1
    `;
    const fused = fuse(parseGraph(input), { name: 'test', maxStorageBuffers: 8, limits: DEFAULT_LIMITS });
    // Chunks of 65536: ⌈100003 / 65536⌉ = 2 parts, the second with 34467 elements.
    expect(printFused(splitReductions(fused, DEFAULT_LIMITS, { split: { chunk: { reduce: 65536 } } }))).toBe(ir`
      b0 input f32[i:100003, j:16] "input 'x'"
      b1 temp f32[j:16] "%1 reduce"
      b2 temp f32[i/65536:2, j:16] "%1 reduce partial"
      reduce %1 reduce partial -> b2 f32[a2=i/65536:2, a0=j:16] = sum over [a3=i%65536:65536] of where(lt(add(mul(#a2, 65536:i32), #a3), |100003|), b0[clamp(add(mul(#a2, 65536:i32), #a3)),a0], 0:f32) (partial)
      reduce %1 reduce combine -> b1 f32[a0=j:16] = sum over [a2=i/65536:2] of b2[a2,a0] (combine, count 100003)
      outputs y=b1
    `);
    expect(printFused(splitReductions(fused, DEFAULT_LIMITS, { split: false }))).toBe(printFused(fused));
    expect(() => splitReductions(fused, DEFAULT_LIMITS, { split: { chunk: { reduce: 0 } } })).toThrow('schedule: split reduce chunk must be a whole number >= 1, got 0');
  });
});
