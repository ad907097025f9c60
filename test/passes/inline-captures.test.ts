/**
 * inline-captures: printed IR in, printed IR out. A loop capturing a cheap elementwise value of
 * the enclosing graph recomputes it in its body from what it reads (those leaves become the
 * captures); a costly value, or a non-elementwise one, stays captured.
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { printGraph } from '../../dsl/print.ts';
import { inlineCaptures } from '../../compiler/passes/inline-captures.ts';

const run = (text: string) => printGraph(inlineCaptures(parseGraph(text)));

describe('inline-captures', () => {
  it('recomputes a scaled input inside the loop body, capturing the input itself', () => {
    // %3 = x · rsqrt(|i|) is captured by the loop: the body now captures x (%0) and rebuilds
    // the scaling from it (size, to_f32, rsqrt, mul); the outer %3 is dead and dropped.
    expect(
      run(ir`
        %0 = input "x" : f32[i:i, d:4]
        %1 = size i:i : i32[]
        %2 = map to_f32(%1) : f32[]
        %3 = map rsqrt(%2) : f32[]
        %4 = map mul(%0, %3) : f32[i:i, d:4]
        %5 = input "s" : f32[d:4]
        %6 = loop 2 init(%5) captures(%4) : f32[d:4] {
          %0 = carry 0 : f32[d:4]
          %1 = capture 0 : f32[i:i, d:4]
          %2 = map mul(%1, %0) : f32[i:i, d:4]
          %3 = reduce sum(%2) over [i] : f32[d:4]
          outputs 0=%3
        }
        %7 = loop_result %6[0] : f32[d:4]
        outputs out=%7
      `),
    ).toBe(ir`
      %0 = input "x" : f32[i:i, d:4]
      %1 = input "s" : f32[d:4]
      %2 = loop 2 init(%1) captures(%0) : f32[d:4] {
        %0 = carry 0 : f32[d:4]
        %1 = capture 0 : f32[i:i, d:4]
        %2 = size i:i : i32[]
        %3 = map to_f32(%2) : f32[]
        %4 = map rsqrt(%3) : f32[]
        %5 = map mul(%1, %4) : f32[i:i, d:4]
        %6 = map mul(%5, %0) : f32[i:i, d:4]
        %7 = reduce sum(%6) over [i] : f32[d:4]
        outputs 0=%7
      }
      %3 = loop_result %2[0] : f32[d:4]
      outputs out=%3
    `);
  });

  it('keeps a reduction result and a costly elementwise value captured', () => {
    // %2 is a reduction (a kernel's output anyway); %9 chains 7 elementwise ops past the recompute
    // limit (6), so recomputing it in every use would cost more than materialising it once.
    const text = ir`
      %0 = input "x" : f32[i:i]
      %1 = const 1 : f32[]
      %2 = reduce sum(%0) over [i] : f32[]
      %3 = map exp(%0) : f32[i:i]
      %4 = map add(%3, %1) : f32[i:i]
      %5 = map log(%4) : f32[i:i]
      %6 = map mul(%5, %5) : f32[i:i]
      %7 = map add(%6, %1) : f32[i:i]
      %8 = map sqrt(%7) : f32[i:i]
      %9 = map neg(%8) : f32[i:i]
      %10 = loop 3 init(%0) captures(%2, %9) : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = capture 0 : f32[]
        %2 = capture 1 : f32[i:i]
        %3 = map mul(%0, %1) : f32[i:i]
        %4 = map add(%3, %2) : f32[i:i]
        outputs 0=%4
      }
      %11 = loop_result %10[0] : f32[i:i]
      outputs out=%11
    `;
    expect(run(text)).toBe(text);
  });
});
