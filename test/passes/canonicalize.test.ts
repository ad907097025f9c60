/**
 * canonicalize: printed Tensor IR in, printed Tensor IR out. Each expectation was read and checked
 * by hand against the pass's contract: fold constants (scalar maps of constants, static sizes),
 * drop identity relabels/`id` maps/permutation-free contractions, share common subexpressions
 * (per graph: loop bodies have their own table), and drop dead nodes (inputs and params stay).
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { printGraph } from '../../dsl/print.ts';
import { canonicalize } from '../../compiler/passes/canonicalize.ts';

const run = (text: string) => printGraph(canonicalize(parseGraph(text)));

describe('canonicalize', () => {
  it('folds constants, removes identity relabels, shares common subexpressions and drops dead nodes', () => {
    // Traced from `a = x + (exp(x)·2 + 3)`, the same expression traced again as b, an identity
    // relabel of x, and a dead `x − 1`; out = (a + b) + relabel(x).
    const input = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = map exp(%0) : f32[i:i, j:j]
      %2 = const 2 : f32[]
      %3 = map mul(%1, %2) : f32[i:i, j:j]
      %4 = const 3 : f32[]
      %5 = map add(%3, %4) : f32[i:i, j:j]
      %6 = map add(%0, %5) : f32[i:i, j:j]
      %7 = map exp(%0) : f32[i:i, j:j]
      %8 = const 2 : f32[]
      %9 = map mul(%7, %8) : f32[i:i, j:j]
      %10 = const 3 : f32[]
      %11 = map add(%9, %10) : f32[i:i, j:j]
      %12 = map add(%0, %11) : f32[i:i, j:j]
      %13 = relabel(%0) as [i, j] : f32[i:i, j:j]
      %14 = const 1 : f32[]
      %15 = map sub(%0, %14) : f32[i:i, j:j]
      %16 = map add(%6, %12) : f32[i:i, j:j]
      %17 = map add(%16, %13) : f32[i:i, j:j]
      outputs out=%17
    `;
    // b (%7..%12) collapses onto a (%1..%6), so %16 becomes add(%6, %6); the identity relabel is
    // replaced by x itself (add(%7, %0)); the dead sub and its const 1 are gone.
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = map exp(%0) : f32[i:i, j:j]
      %2 = const 2 : f32[]
      %3 = map mul(%1, %2) : f32[i:i, j:j]
      %4 = const 3 : f32[]
      %5 = map add(%3, %4) : f32[i:i, j:j]
      %6 = map add(%0, %5) : f32[i:i, j:j]
      %7 = map add(%6, %6) : f32[i:i, j:j]
      %8 = map add(%7, %0) : f32[i:i, j:j]
      outputs out=%8
    `);
  });

  it('folds scalar constant arithmetic and keeps tensor arithmetic', () => {
    // x·0 + (2 + 1)·4: the scalar part folds to 12; x·0 is a tensor op and stays (no algebra).
    const input = ir`
      %0 = input "x" : f32[i:i]
      %1 = const 0 : f32[]
      %2 = map mul(%0, %1) : f32[i:i]
      %3 = const 2 : f32[]
      %4 = const 1 : f32[]
      %5 = map add(%3, %4) : f32[]
      %6 = const 4 : f32[]
      %7 = map mul(%5, %6) : f32[]
      %8 = map add(%2, %7) : f32[i:i]
      outputs out=%8
    `;
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[i:i]
      %1 = const 0 : f32[]
      %2 = map mul(%0, %1) : f32[i:i]
      %3 = const 12 : f32[]
      %4 = map add(%2, %3) : f32[i:i]
      outputs out=%4
    `);
  });

  it('folds the size of a static axis and keeps a symbolic one', () => {
    // `size d:4` becomes `const 4 : i32[]`; `size i:i` is a run-time value, so the add over it stays.
    const input = ir`
      %0 = input "x" : f32[i:i, d:4]
      %1 = size d:4 : i32[]
      %2 = size i:i : i32[]
      %3 = map add(%1, %2) : i32[]
      %4 = map to_f32(%3) : f32[]
      %5 = map mul(%0, %4) : f32[i:i, d:4]
      outputs out=%5
    `;
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[i:i, d:4]
      %1 = const 4 : i32[]
      %2 = size i:i : i32[]
      %3 = map add(%1, %2) : i32[]
      %4 = map to_f32(%3) : f32[]
      %5 = map mul(%0, %4) : f32[i:i, d:4]
      outputs out=%5
    `);
  });

  it('keeps -Infinity, Infinity and NaN constants apart, and shares equal ones', () => {
    // A key that spells all three as null (JSON) would merge them; the second -Infinity is the
    // first one again.
    const input = ir`
      %0 = input "x" : f32[i:i]
      %1 = const -Infinity : f32[]
      %2 = const Infinity : f32[]
      %3 = const NaN : f32[]
      %4 = map max(%0, %1) : f32[i:i]
      %5 = map min(%4, %2) : f32[i:i]
      %6 = map add(%5, %3) : f32[i:i]
      %7 = const -Infinity : f32[]
      %8 = map max(%6, %7) : f32[i:i]
      outputs out=%8
    `;
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[i:i]
      %1 = const -Infinity : f32[]
      %2 = const Infinity : f32[]
      %3 = const NaN : f32[]
      %4 = map max(%0, %1) : f32[i:i]
      %5 = map min(%4, %2) : f32[i:i]
      %6 = map add(%5, %3) : f32[i:i]
      %7 = map max(%6, %1) : f32[i:i]
      outputs out=%7
    `);
  });

  it('turns a one-operand contraction into a relabel (a transpose) or nothing, and drops an id map', () => {
    // contract(x) -> [j, i] sums nothing: relabel with the same names in a new order. contract(x)
    // -> [i, j] is x itself, and `id` of a value of the same type is that value.
    const input = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = contract(%0) : f32[j:j, i:i]
      %2 = contract(%0) : f32[i:i, j:j]
      %3 = map id(%2) : f32[i:i, j:j]
      %4 = map add(%1, %3) : f32[j:j, i:i]
      outputs out=%4
    `;
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = relabel(%0) as [i, j] : f32[j:j, i:i]
      %2 = map add(%1, %0) : f32[j:j, i:i]
      outputs out=%2
    `);
  });

  it('does not fold a constant expression whose value is NaN, but folds one that is infinite', () => {
    // log(−1) is NaN: kept as a map. 1/0 = Infinity folds. 0/0 is NaN too, but dead, so it goes.
    const input = ir`
      %0 = input "x" : f32[i:i]
      %1 = const -1 : f32[]
      %2 = map log(%1) : f32[]
      %3 = const 0 : f32[]
      %4 = map div(%3, %3) : f32[]
      %5 = const 1 : f32[]
      %6 = map div(%5, %3) : f32[]
      %7 = map add(%0, %2) : f32[i:i]
      %8 = map add(%7, %6) : f32[i:i]
      outputs out=%8
    `;
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[i:i]
      %1 = const -1 : f32[]
      %2 = map log(%1) : f32[]
      %3 = const Infinity : f32[]
      %4 = map add(%0, %2) : f32[i:i]
      %5 = map add(%4, %3) : f32[i:i]
      outputs out=%5
    `);
  });

  it('shares subexpressions inside a loop body and outside it separately, and keeps the loop interface', () => {
    // In the body the two exp(carry) merge; outside, the second exp(x) merges with the one the loop
    // captures. The body's `capture` stays even though CSE ran (it is the loop's interface).
    const input = ir`
      %0 = input "x" : f32[i:i]
      %1 = map exp(%0) : f32[i:i]
      %2 = loop 2 init(%0) captures(%1) : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = capture 0 : f32[i:i]
        %2 = map exp(%0) : f32[i:i]
        %3 = map exp(%0) : f32[i:i]
        %4 = map add(%2, %3) : f32[i:i]
        %5 = map add(%4, %1) : f32[i:i]
        outputs 0=%5
      }
      %3 = loop_result %2[0] : f32[i:i]
      %4 = map exp(%0) : f32[i:i]
      %5 = map add(%3, %4) : f32[i:i]
      outputs out=%5
    `;
    expect(run(input)).toBe(ir`
      %0 = input "x" : f32[i:i]
      %1 = map exp(%0) : f32[i:i]
      %2 = loop 2 init(%0) captures(%1) : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = capture 0 : f32[i:i]
        %2 = map exp(%0) : f32[i:i]
        %3 = map add(%2, %2) : f32[i:i]
        %4 = map add(%3, %1) : f32[i:i]
        outputs 0=%4
      }
      %3 = loop_result %2[0] : f32[i:i]
      %4 = map add(%3, %1) : f32[i:i]
      outputs out=%4
    `);
  });
});
