/**
 * plan-memory: printed Tensor IR in, fused (`fuse`, pinned in `fuse.test.ts`) and then planned;
 * the planned Kernel IR printed (`printFused`) and pinned. Outputs claim the kernel-written
 * temporary that computes them (a copy where that is impossible: an input, a loop carry, a value
 * already claimed); temporaries whose lifetimes do not overlap share a buffer — a loop body's
 * iteration-local temporaries (written before they are read, touched nowhere else) by their span
 * in the body, everything else a loop touches for the whole loop; buffers are renumbered. Each
 * expectation was checked by hand.
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { fuse } from '../../compiler/passes/fuse.ts';
import { planMemory } from '../../compiler/passes/plan-memory.ts';
import { printFused } from '../../compiler/kernel-ir-print.ts';
import { DEFAULT_LIMITS } from '../../program/index.ts';

const run = (text: string) => printFused(planMemory(fuse(parseGraph(text), { name: 'test', maxStorageBuffers: 8, limits: DEFAULT_LIMITS })));

describe('plan-memory', () => {
  it('lets iteration-local temporaries of a loop body share a buffer', () => {
    // Three reductions per iteration: the third writes b3 again, since the first's value (read by
    // the second) is dead by then and every iteration writes b3 before reading it. The carry b2 is
    // read before it is written in the body, so it lives across iterations and shares nothing.
    expect(
      run(ir`
        %0 = input "x" : f32[i:i, j:j]
        %1 = input "c" : f32[i:i]
        %2 = loop 3 init(%1) captures(%0) : f32[i:i] {
          %0 = carry 0 : f32[i:i]
          %1 = capture 0 : f32[i:i, j:j]
          %2 = map add(%1, %0) : f32[i:i, j:j]
          %3 = reduce sum(%2) over [j] : f32[i:i]
          %4 = map mul(%1, %3) : f32[i:i, j:j]
          %5 = reduce max(%4) over [j] : f32[i:i]
          %6 = map mul(%1, %5) : f32[i:i, j:j]
          %7 = reduce sum(%6) over [j] : f32[i:i]
          outputs 0=%7
        }
        %3 = loop_result %2[0] : f32[i:i]
        outputs out=%3
      `),
    ).toBe(ir`
      b0 input f32[i:i, j:j] "input 'x'"
      b1 input f32[i:i] "input 'c'"
      b2 temp f32[i:i] "%2 loop carry 0"
      b3 temp f32[i:i] "%2 loop/%3 reduce"
      b4 temp f32[i:i] "%2 loop/%5 reduce"
      b5 output f32[i:i] "output 'out'"
      copy b1 -> b2 (%2 loop init carry 0)
      loop 3 (%2 loop) {
        reduce %2 loop/%3 reduce -> b3 f32[a0=i:i] = sum over [a1=j:j] of add(b0[a0,a1], b2[a0])
        reduce %2 loop/%5 reduce -> b4 f32[a0=i:i] = max over [a1=j:j] of mul(b0[a0,a1], b3[a0])
        reduce %2 loop/%7 reduce -> b3 f32[a0=i:i] = sum over [a1=j:j] of mul(b0[a0,a1], b4[a0])
        copy b3 -> b2 (%2 loop carry 0)
      }
      copy b2 -> b5 (output 'out')
      outputs out=b5
    `);
  });

  it('reuses a temporary buffer once its value is dead, and claims the last kernel’s buffer as the output', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = map exp(%0) : f32[i:i, j:j]
      %2 = reduce sum(%1) over [j] : f32[i:i]
      %3 = map mul(%0, %2) : f32[i:i, j:j]
      %4 = reduce sum(%3) over [j] : f32[i:i]
      %5 = map mul(%0, %4) : f32[i:i, j:j]
      %6 = reduce sum(%5) over [j] : f32[i:i]
      %7 = map mul(%0, %6) : f32[i:i, j:j]
      %8 = reduce sum(%7) over [j] : f32[i:i]
      outputs out=%8
    `;
    // Before: four temporaries b1..b4 for r1..r4. r1 (b1) is last read by r2's kernel (step 1) and r3
    // is first written at step 2, so r3 reuses b1; r2 stays in b2 (read by r3); r4 is kernel-written
    // and becomes the output buffer b3 (renumbered).
    expect(run(input)).toBe(ir`
      b0 input f32[i:i, j:j] "input 'x'"
      b1 temp f32[i:i] "%2 reduce"
      b2 temp f32[i:i] "%4 reduce"
      b3 output f32[i:i] "output 'out'"
      reduce %2 reduce -> b1 f32[a0=i:i] = sum over [a1=j:j] of exp(b0[a0,a1])
      reduce %4 reduce -> b2 f32[a0=i:i] = sum over [a1=j:j] of mul(b0[a0,a1], b1[a0])
      reduce %6 reduce -> b1 f32[a0=i:i] = sum over [a1=j:j] of mul(b0[a0,a1], b2[a0])
      reduce %8 reduce -> b3 f32[a0=i:i] = sum over [a1=j:j] of mul(b0[a0,a1], b1[a0])
      outputs out=b3
    `);
  });

  it('shares a buffer between temporaries of equal element count whatever their axis names', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:i]
      %1 = reduce sum(%0) over [j] : f32[i:i]
      %2 = map mul(%0, %1) : f32[i:i, j:i]
      %3 = reduce sum(%2) over [i] : f32[j:i]
      %4 = map mul(%0, %3) : f32[i:i, j:i]
      %5 = reduce max(%4) over [i] : f32[j:i]
      %6 = reduce sum(%5) over [j] : f32[]
      outputs out=%6
    `;
    // [i:i] and [j:i] both hold i elements: the max over i (%5, step 2) reuses b1, free after step 1.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i, j:i] "input 'x'"
      b1 temp f32[i:i] "%1 reduce"
      b2 temp f32[j:i] "%3 reduce"
      b3 output f32[] "output 'out'"
      reduce %1 reduce -> b1 f32[a0=i:i] = sum over [a1=j:i] of b0[a0,a1]
      reduce %3 reduce -> b2 f32[a0=j:i] = sum over [a1=i:i] of mul(b0[a1,a0], b1[a1])
      reduce %5 reduce -> b1 f32[a0=j:i] = max over [a1=i:i] of mul(b0[a1,a0], b2[a0])
      reduce %6 reduce -> b3 f32[] = sum over [a0=j:i] of b1[a0]
      outputs out=b3
    `);
  });

  it('copies an output that is an input', () => {
    const input = ir`
      %0 = input "x" : f32[i:i]
      outputs same=%0
    `;
    // An input cannot be the output buffer: a new output buffer and a copy.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i] "input 'x'"
      b1 output f32[i:i] "output 'same'"
      copy b0 -> b1 (output 'same')
      outputs same=b1
    `);
  });

  it('claims a buffer for one output and copies it for a second output of the same value', () => {
    const input = ir`
      %0 = input "x" : f32[i:i]
      %1 = map exp(%0) : f32[i:i]
      outputs a=%1, b=%1
    `;
    // Outputs a and b are the same node: a claims b1, b gets its own buffer b2 and a copy.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i] "input 'x'"
      b1 output f32[i:i] "output 'a'"
      b2 output f32[i:i] "output 'b'"
      elementwise %1 exp -> b1 f32[a0=i:i] = exp(b0[a0])
      copy b1 -> b2 (output 'b')
      outputs a=b1, b=b2
    `);
  });

  it('keeps loop-carried and loop-body buffers apart for the whole loop, and copies carries out as outputs', () => {
    const input = ir`
      %0 = input "x" : f32[i:i]
      %1 = input "w" : f32[i:i]
      %2 = loop 3 init(%0, %1) captures() : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = carry 1 : f32[i:i]
        %2 = map mul(%0, %1) : f32[i:i]
        %3 = map add(%0, %1) : f32[i:i]
        outputs 0=%2, 1=%3
      }
      %3 = loop_result %2[0] : f32[i:i]
      %4 = loop_result %2[1] : f32[i:i]
      outputs y=%3, z=%4
    `;
    // A loop is one step for liveness: carries b2, b3 and body results b4, b5 are all live across it,
    // so none is shared though all hold i elements. The outputs are the carries, written by copies,
    // not kernels: each gets an output buffer and a copy after the loop.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i] "input 'x'"
      b1 input f32[i:i] "input 'w'"
      b2 temp f32[i:i] "%2 loop carry 0"
      b3 temp f32[i:i] "%2 loop carry 1"
      b4 temp f32[i:i] "%2 loop/%2 mul"
      b5 temp f32[i:i] "%2 loop/%3 add"
      b6 output f32[i:i] "output 'y'"
      b7 output f32[i:i] "output 'z'"
      copy b0 -> b2 (%2 loop init carry 0)
      copy b1 -> b3 (%2 loop init carry 1)
      loop 3 (%2 loop) {
        elementwise %2 loop/%2 mul -> b4 f32[a0=i:i] = mul(b2[a0], b3[a0])
        elementwise %2 loop/%3 add -> b5 f32[a0=i:i] = add(b2[a0], b3[a0])
        copy b4 -> b2 (%2 loop carry 0)
        copy b5 -> b3 (%2 loop carry 1)
      }
      copy b2 -> b6 (output 'y')
      copy b3 -> b7 (output 'z')
      outputs y=b6, z=b7
    `);
  });

  it('keeps a captured loop-invariant buffer live across the loop, and claims the epilogue as the output', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = input "y" : f32[i:i]
      %2 = map exp(%0) : f32[i:i, j:j]
      %3 = loop 2 init(%1) captures(%2) : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = capture 0 : f32[i:i, j:j]
        %2 = map mul(%1, %0) : f32[i:i, j:j]
        %3 = reduce sum(%2) over [j] : f32[i:i]
        outputs 0=%3
      }
      %4 = loop_result %3[0] : f32[i:i]
      %5 = map add(%4, %1) : f32[i:i]
      outputs out=%5
    `;
    // b2 = exp(x) is read inside the loop only; nothing else could reuse it anyway. The epilogue's
    // kernel-written buffer becomes the output.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i, j:j] "input 'x'"
      b1 input f32[i:i] "input 'y'"
      b2 temp f32[i:i, j:j] "%2 exp"
      b3 temp f32[i:i] "%3 loop carry 0"
      b4 temp f32[i:i] "%3 loop/%3 reduce"
      b5 output f32[i:i] "output 'out'"
      elementwise %2 exp -> b2 f32[a0=i:i, a1=j:j] = exp(b0[a0,a1])
      copy b1 -> b3 (%3 loop init carry 0)
      loop 2 (%3 loop) {
        reduce %3 loop/%3 reduce -> b4 f32[a0=i:i] = sum over [a1=j:j] of mul(b2[a0,a1], b3[a0])
        copy b4 -> b3 (%3 loop carry 0)
      }
      elementwise %5 add -> b5 f32[a0=i:i] = add(b3[a0], b1[a0])
      outputs out=b5
    `);
  });

  it('keeps the stage buffers of a swapping loop', () => {
    const input = ir`
      %0 = input "a" : f32[i:i]
      %1 = input "b" : f32[i:i]
      %2 = loop 5 init(%0, %1) captures() : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = carry 1 : f32[i:i]
        outputs 0=%1, 1=%0
      }
      %3 = loop_result %2[0] : f32[i:i]
      %4 = loop_result %2[1] : f32[i:i]
      outputs a=%3, b=%4
    `;
    // Carries and stage buffers all live across the loop; the outputs are copied out of the carries.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i] "input 'a'"
      b1 input f32[i:i] "input 'b'"
      b2 temp f32[i:i] "%2 loop carry 0"
      b3 temp f32[i:i] "%2 loop carry 1"
      b4 temp f32[i:i] "%2 loop stage 0"
      b5 temp f32[i:i] "%2 loop stage 1"
      b6 output f32[i:i] "output 'a'"
      b7 output f32[i:i] "output 'b'"
      copy b0 -> b2 (%2 loop init carry 0)
      copy b1 -> b3 (%2 loop init carry 1)
      loop 5 (%2 loop) {
        copy b3 -> b4 (%2 loop stage carry 0)
        copy b2 -> b5 (%2 loop stage carry 1)
        copy b4 -> b2 (%2 loop carry 0)
        copy b5 -> b3 (%2 loop carry 1)
      }
      copy b2 -> b6 (output 'a')
      copy b3 -> b7 (output 'b')
      outputs a=b6, b=b7
    `);
  });
});
