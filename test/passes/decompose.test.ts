/**
 * decompose: printed Tensor IR in, printed Tensor IR out. Composites (softmax, log_softmax,
 * layer_norm) and the logsumexp reduction are replaced by the primitive graphs the interpreter
 * evaluates (`dsl/composites.ts`), node for node; everything else is copied. Each expectation was
 * read against those definitions.
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { printGraph } from '../../dsl/print.ts';
import { decompose } from '../../compiler/passes/decompose.ts';

const run = (text: string) => printGraph(decompose(parseGraph(text)));

describe('decompose', () => {
  it('splices the interpreter’s softmax definition in place of the composite', () => {
    const input = ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = softmax(%0) over c : f32[r:r, c:c]
      outputs out=%1
    `;
    // dsl/composites.ts: shift = the row max where finite, else 0 (%4); e = exp(x − shift) (%6);
    // softmax = e / max(sum(e), 1) (%9): the sum wherever the max is finite, 1 for a fully masked
    // row, which so gives 0.
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = reduce max(%0) over [c] : f32[r:r]
      %2 = map is_finite(%1) : bool[r:r]
      %3 = const 0 : f32[]
      %4 = map where(%2, %1, %3) : f32[r:r]
      %5 = map sub(%0, %4) : f32[r:r, c:c]
      %6 = map exp(%5) : f32[r:r, c:c]
      %7 = reduce sum(%6) over [c] : f32[r:r]
      %8 = const 1 : f32[]
      %9 = map max(%7, %8) : f32[r:r]
      %10 = map div(%6, %9) : f32[r:r, c:c]
      outputs out=%10
    `);
  });

  it('splices log_softmax: (x − shift) − log(max(sum(exp(x − shift)), 1))', () => {
    const input = ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = log_softmax(%0) over c : f32[r:r, c:c]
      outputs out=%1
    `;
    // z = x − shift is %5 and is reused by the final sub (%11), as in the definition.
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = reduce max(%0) over [c] : f32[r:r]
      %2 = map is_finite(%1) : bool[r:r]
      %3 = const 0 : f32[]
      %4 = map where(%2, %1, %3) : f32[r:r]
      %5 = map sub(%0, %4) : f32[r:r, c:c]
      %6 = map exp(%5) : f32[r:r, c:c]
      %7 = reduce sum(%6) over [c] : f32[r:r]
      %8 = const 1 : f32[]
      %9 = map max(%7, %8) : f32[r:r]
      %10 = map log(%9) : f32[r:r]
      %11 = map sub(%5, %10) : f32[r:r, c:c]
      outputs out=%11
    `);
  });

  it('splices layer_norm with its eps as a constant', () => {
    const input = ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = layer_norm(%0) over c eps=0.00001 : f32[r:r, c:c]
      outputs out=%1
    `;
    // (x − mean) / sqrt(mean((x − mean)²) + eps), population variance; eps=0.00001 becomes const 0.00001.
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = reduce mean(%0) over [c] : f32[r:r]
      %2 = map sub(%0, %1) : f32[r:r, c:c]
      %3 = map mul(%2, %2) : f32[r:r, c:c]
      %4 = reduce mean(%3) over [c] : f32[r:r]
      %5 = const 0.00001 : f32[]
      %6 = map add(%4, %5) : f32[r:r]
      %7 = map sqrt(%6) : f32[r:r]
      %8 = map div(%2, %7) : f32[r:r, c:c]
      outputs out=%8
    `);
  });

  it('splices the logsumexp reduction: shift + log(sum(exp(x − shift)))', () => {
    const input = ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = reduce logsumexp(%0) over [c] : f32[r:r]
      outputs out=%1
    `;
    // No max(sum, 1) here: a row of −∞ sums to 0, and its logsumexp is log 0 = −∞.
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = reduce max(%0) over [c] : f32[r:r]
      %2 = map is_finite(%1) : bool[r:r]
      %3 = const 0 : f32[]
      %4 = map where(%2, %1, %3) : f32[r:r]
      %5 = map sub(%0, %4) : f32[r:r, c:c]
      %6 = map exp(%5) : f32[r:r, c:c]
      %7 = reduce sum(%6) over [c] : f32[r:r]
      %8 = map log(%7) : f32[r:r]
      %9 = map add(%8, %4) : f32[r:r]
      outputs out=%9
    `);
  });

  it('decomposes composites inside loop bodies', () => {
    const input = ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = loop 2 init(%0) captures() : f32[r:r, c:c] {
        %0 = carry 0 : f32[r:r, c:c]
        %1 = reduce logsumexp(%0) over [c] : f32[r:r]
        %2 = map sub(%0, %1) : f32[r:r, c:c]
        outputs 0=%2
      }
      %2 = loop_result %1[0] : f32[r:r, c:c]
      outputs out=%2
    `;
    // The body's logsumexp is replaced in place; the loop interface is unchanged.
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[r:r, c:c]
      %1 = loop 2 init(%0) captures() : f32[r:r, c:c] {
        %0 = carry 0 : f32[r:r, c:c]
        %1 = reduce max(%0) over [c] : f32[r:r]
        %2 = map is_finite(%1) : bool[r:r]
        %3 = const 0 : f32[]
        %4 = map where(%2, %1, %3) : f32[r:r]
        %5 = map sub(%0, %4) : f32[r:r, c:c]
        %6 = map exp(%5) : f32[r:r, c:c]
        %7 = reduce sum(%6) over [c] : f32[r:r]
        %8 = map log(%7) : f32[r:r]
        %9 = map add(%8, %4) : f32[r:r]
        %10 = map sub(%0, %9) : f32[r:r, c:c]
        outputs 0=%10
      }
      %2 = loop_result %1[0] : f32[r:r, c:c]
      outputs out=%2
    `);
  });

  it('leaves flash bodies alone: the fuser lowers their softmax and logsumexp itself', () => {
    const input = ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = contract(%0, %1) : f32[n:n, m:m]
        %4 = softmax(%3) over m : f32[n:n, m:m]
        %5 = contract(%4, %2) : f32[n:n, e:2]
        %6 = reduce logsumexp(%3) over [m] : f32[n:n]
        outputs o=%5, lse=%6
      }
      outputs o=%3
    `;
    // rewriteGraph recurses into loops only; a flash node is copied with its body as it is.
    expect(run(input)).toBe(input);
  });

  it('splices the segment softmax: the same rule over each target node\'s edges, gathered back by their rows', () => {
    const input = ir`
      %0 = input "s" : f32[h:h, e:e]
      %1 = input "rowptr" : i32[r:r]
      %2 = input "col" : i32[e:e]
      %3 = csr(%1, %2) rows i:i cols j : i32[e:e]
      %4 = segment_softmax(%0) over e by %3 : f32[h:h, e:e]
      outputs p=%4
    `;
    // As softmax, with segment reductions over the edges into their target rows i (%5, %12), the
    // per-row shift and max(sum, 1) brought back to the edges by gathering at each edge's row (%9, %15).
    expect(run(input)).toBe(ir`
      %0 = input "s" : f32[h:h, e:e]
      %1 = input "rowptr" : i32[r:r]
      %2 = input "col" : i32[e:e]
      %3 = csr(%1, %2) rows i:i cols j : i32[e:e]
      %4 = segment_ids(%3) : i32[e:e]
      %5 = segment_reduce max(%0) over e by %3 : f32[h:h, i:i]
      %6 = map is_finite(%5) : bool[h:h, i:i]
      %7 = const 0 : f32[]
      %8 = map where(%6, %5, %7) : f32[h:h, i:i]
      %9 = gather(%8) along i at %4 : f32[h:h, e:e]
      %10 = map sub(%0, %9) : f32[h:h, e:e]
      %11 = map exp(%10) : f32[h:h, e:e]
      %12 = segment_reduce sum(%11) over e by %3 : f32[h:h, i:i]
      %13 = const 1 : f32[]
      %14 = map max(%12, %13) : f32[h:h, i:i]
      %15 = gather(%14) along i at %4 : f32[h:h, e:e]
      %16 = map div(%11, %15) : f32[h:h, e:e]
      outputs p=%16
    `);
  });
});
