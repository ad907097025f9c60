/**
 * plan-contractions: printed Tensor IR in, printed Tensor IR out. Every n-ary contraction becomes
 * binary steps in the cheapest order by flops and bytes moved (`contraction-path.ts`, tested on
 * its own in `test/contraction-path.test.ts`; symbolic sizes count as 64), after pre-summing axes
 * only one operand carries — or, for three or more operands, one product summed over the
 * contracted axes when that costs less or no pairwise path fits the memory limit. A binary step with a summed axis and free axes on both sides stays a
 * `contract` (a GEMM); otherwise it is `map mul` then `reduce sum` (dot products, matrix-vector),
 * reordered by a relabel when the result order differs. Each expectation was checked by hand.
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { printGraph } from '../../dsl/print.ts';
import { planContractions } from '../../compiler/passes/plan-contractions.ts';

const run = (text: string, memoryLimit?: number) => printGraph(planContractions(parseGraph(text), memoryLimit !== undefined ? { memoryLimit } : {}));

describe('plan-contractions', () => {
  it('splits a five-operand cyclic contraction into binary steps, cheapest order first', () => {
    // einsum('ij,jk,kl,lm,mi->') with i=4 j=5 k=6 l=7 m=3, five operands: dynamic programming.
    // Cheapest (flops + 4·bytes): c·d → [k, m] (126 terms), b·(cd) → [j, m] (90), a·(bcd) → [i, m]
    // (60), then e·(abcd) sums everything (12): 576 flops, 864 bytes, cost 4032; the smallest-
    // intermediate-first order (a·e, b·(ae), c·d, then [k, m]·[k, m]) costs 588 + 4·912 = 4236. The
    // last step has no free axes: map mul + reduce sum over [m, i].
    const input = ir`
      %0 = input "a" : f32[i:4, j:5]
      %1 = input "b" : f32[j:5, k:6]
      %2 = input "c" : f32[k:6, l:7]
      %3 = input "d" : f32[l:7, m:3]
      %4 = input "e" : f32[m:3, i:4]
      %5 = contract(%0, %1, %2, %3, %4) : f32[]
      outputs out=%5
    `;
    expect(run(input)).toBe(ir`
      %0 = input "a" : f32[i:4, j:5]
      %1 = input "b" : f32[j:5, k:6]
      %2 = input "c" : f32[k:6, l:7]
      %3 = input "d" : f32[l:7, m:3]
      %4 = input "e" : f32[m:3, i:4]
      %5 = contract(%2, %3) : f32[k:6, m:3]
      %6 = contract(%1, %5) : f32[j:5, m:3]
      %7 = contract(%0, %6) : f32[i:4, m:3]
      %8 = map mul(%4, %7) : f32[m:3, i:4]
      %9 = reduce sum(%8) over [m, i] : f32[]
      outputs out=%9
    `);
  });

  it('orders a three-matrix chain by the sizes: the small side first', () => {
    // (2×100)(100×100)(100×50): a·b is 2×100 = 200, b·c would be 100×50 = 5000.
    expect(
      run(ir`
        %0 = input "a" : f32[i:2, j:100]
        %1 = input "b" : f32[j:100, k:100]
        %2 = input "c" : f32[k:100, l:50]
        %3 = contract(%0, %1, %2) : f32[i:2, l:50]
        outputs out=%3
      `),
    ).toBe(ir`
      %0 = input "a" : f32[i:2, j:100]
      %1 = input "b" : f32[j:100, k:100]
      %2 = input "c" : f32[k:100, l:50]
      %3 = contract(%0, %1) : f32[i:2, k:100]
      %4 = contract(%2, %3) : f32[i:2, l:50]
      outputs out=%4
    `);
    // (50×100)(100×100)(100×2): now b·c (100×2 = 200) is the smaller intermediate.
    expect(
      run(ir`
        %0 = input "a" : f32[i:50, j:100]
        %1 = input "b" : f32[j:100, k:100]
        %2 = input "c" : f32[k:100, l:2]
        %3 = contract(%0, %1, %2) : f32[i:50, l:2]
        outputs out=%3
      `),
    ).toBe(ir`
      %0 = input "a" : f32[i:50, j:100]
      %1 = input "b" : f32[j:100, k:100]
      %2 = input "c" : f32[k:100, l:2]
      %3 = contract(%1, %2) : f32[j:100, l:2]
      %4 = contract(%0, %3) : f32[i:50, l:2]
      outputs out=%4
    `);
  });

  it('turns a dot product and a matrix-vector product into map mul + reduce sum', () => {
    expect(
      run(ir`
        %0 = input "x" : f32[i:i]
        %1 = input "y" : f32[i:i]
        %2 = contract(%0, %1) : f32[]
        outputs out=%2
      `),
    ).toBe(ir`
      %0 = input "x" : f32[i:i]
      %1 = input "y" : f32[i:i]
      %2 = map mul(%0, %1) : f32[i:i]
      %3 = reduce sum(%2) over [i] : f32[]
      outputs out=%3
    `);
    // x has no free axis: no GEMM, a reduction over k of the broadcast product.
    expect(
      run(ir`
        %0 = input "a" : f32[m:m, k:k]
        %1 = input "x" : f32[k:k]
        %2 = contract(%0, %1) : f32[m:m]
        outputs out=%2
      `),
    ).toBe(ir`
      %0 = input "a" : f32[m:m, k:k]
      %1 = input "x" : f32[k:k]
      %2 = map mul(%0, %1) : f32[m:m, k:k]
      %3 = reduce sum(%2) over [k] : f32[m:m]
      outputs out=%3
    `);
  });

  it('pre-sums an axis only one operand carries, and keeps a true matrix product', () => {
    // einsum('mkx,kn->nm'): x is only in a, so it is summed first; then k is summed with m and n
    // free on either side: a GEMM, written straight to the result order [n, m].
    expect(
      run(ir`
        %0 = input "a" : f32[m:m, k:k, x:x]
        %1 = input "b" : f32[k:k, n:n]
        %2 = contract(%0, %1) : f32[n:n, m:m]
        outputs out=%2
      `),
    ).toBe(ir`
      %0 = input "a" : f32[m:m, k:k, x:x]
      %1 = input "b" : f32[k:k, n:n]
      %2 = reduce sum(%0) over [x] : f32[m:m, k:k]
      %3 = contract(%2, %1) : f32[n:n, m:m]
      outputs out=%3
    `);
  });

  it('keeps a batched matrix product as one contraction', () => {
    const input = ir`
      %0 = input "a" : f32[b:b, i:i, j:j]
      %1 = input "b" : f32[b:b, j:j, k:k]
      %2 = contract(%0, %1) : f32[b:b, i:i, k:k]
      outputs out=%2
    `;
    expect(run(input)).toBe(input);
  });

  it('writes an outer product as map mul, relabelled into the result order', () => {
    // Nothing is summed: mul broadcasts to [i, j] (operand order); the result wants [j, i].
    expect(
      run(ir`
        %0 = input "a" : f32[i:i]
        %1 = input "b" : f32[j:j]
        %2 = contract(%0, %1) : f32[j:j, i:i]
        outputs out=%2
      `),
    ).toBe(ir`
      %0 = input "a" : f32[i:i]
      %1 = input "b" : f32[j:j]
      %2 = map mul(%0, %1) : f32[i:i, j:j]
      %3 = relabel(%2) as [i, j] : f32[j:j, i:i]
      outputs out=%3
    `);
  });

  it('plans contractions inside loop bodies', () => {
    // x ← wᵀx with w square (j sized i): a matrix-vector product in the body.
    expect(
      run(ir`
        %0 = input "x" : f32[i:i]
        %1 = input "w" : f32[i:i, j:i]
        %2 = loop 3 init(%0) captures(%1) : f32[i:i] {
          %0 = carry 0 : f32[i:i]
          %1 = capture 0 : f32[i:i, j:i]
          %2 = contract(%1, %0) : f32[j:i]
          %3 = relabel(%2) as [i] : f32[i:i]
          outputs 0=%3
        }
        %3 = loop_result %2[0] : f32[i:i]
        outputs out=%3
      `),
    ).toBe(ir`
      %0 = input "x" : f32[i:i]
      %1 = input "w" : f32[i:i, j:i]
      %2 = loop 3 init(%0) captures(%1) : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = capture 0 : f32[i:i, j:i]
        %2 = map mul(%1, %0) : f32[i:i, j:i]
        %3 = reduce sum(%2) over [i] : f32[j:i]
        %4 = relabel(%3) as [i] : f32[i:i]
        outputs 0=%4
      }
      %3 = loop_result %2[0] : f32[i:i]
      outputs out=%3
    `);
  });

  it('fuses three operands into one product summed over the contracted axes when that costs less', () => {
    // 'aij,bjk,cki->abc' (a=b=c=8, i=j=k=2), a cycle: every pair path stores a summed [a, i, b, k]
    // (256) and costs 23040 (flops + 4·bytes); one product over [a, i, j, b, k, c] summed over
    // i, j, k costs 3·4096 + 4·2432 = 22016 and stores nothing in between (the fuser makes the muls
    // and the sum one reduce kernel).
    expect(
      run(ir`
        %0 = input "x" : f32[a:8, i:2, j:2]
        %1 = input "y" : f32[b:8, j:2, k:2]
        %2 = input "z" : f32[c:8, k:2, i:2]
        %3 = contract(%0, %1, %2) : f32[a:8, b:8, c:8]
        outputs out=%3
      `),
    ).toBe(ir`
      %0 = input "x" : f32[a:8, i:2, j:2]
      %1 = input "y" : f32[b:8, j:2, k:2]
      %2 = input "z" : f32[c:8, k:2, i:2]
      %3 = map mul(%0, %1) : f32[a:8, i:2, j:2, b:8, k:2]
      %4 = map mul(%3, %2) : f32[a:8, i:2, j:2, b:8, k:2, c:8]
      %5 = reduce sum(%4) over [i, j, k] : f32[a:8, b:8, c:8]
      outputs out=%5
    `);
  });

  it('counts a broadcast product as inlined into the step that reads it, so a trilinear product stays pairwise', () => {
    // 'ai,bi,ci->abc' (a=b=c=8, i=2): the pair path's [a, i, b] sums nothing, so the fuser inlines
    // it into the GEMM with z and it is never stored: 15360 − 4·(2·4·128) = 11264, below the fused
    // product's 12032.
    expect(
      run(ir`
        %0 = input "x" : f32[a:8, i:2]
        %1 = input "y" : f32[b:8, i:2]
        %2 = input "z" : f32[c:8, i:2]
        %3 = contract(%0, %1, %2) : f32[a:8, b:8, c:8]
        outputs out=%3
      `),
    ).toBe(ir`
      %0 = input "x" : f32[a:8, i:2]
      %1 = input "y" : f32[b:8, i:2]
      %2 = input "z" : f32[c:8, i:2]
      %3 = map mul(%0, %1) : f32[a:8, i:2, b:8]
      %4 = contract(%2, %3) : f32[a:8, b:8, c:8]
      outputs out=%4
    `);
  });

  it('runs a chain pairwise, or fused when no pairwise path keeps its intermediate within the limit', () => {
    const chain = ir`
      %0 = input "a" : f32[i:64, j:64]
      %1 = input "b" : f32[j:64, k:64]
      %2 = input "c" : f32[k:64, l:64]
      %3 = contract(%0, %1, %2) : f32[i:64, l:64]
      outputs out=%3
    `;
    // Pairwise: a·b → [i, k], then with c; fusing would cost 3·64⁴ flops.
    expect(run(chain)).toBe(ir`
      %0 = input "a" : f32[i:64, j:64]
      %1 = input "b" : f32[j:64, k:64]
      %2 = input "c" : f32[k:64, l:64]
      %3 = contract(%0, %1) : f32[i:64, k:64]
      %4 = contract(%2, %3) : f32[i:64, l:64]
      outputs out=%4
    `);
    // With at most 1000 elements per intermediate every pair path's [64 × 64] is too large: fused.
    expect(run(chain, 1000)).toBe(ir`
      %0 = input "a" : f32[i:64, j:64]
      %1 = input "b" : f32[j:64, k:64]
      %2 = input "c" : f32[k:64, l:64]
      %3 = map mul(%0, %1) : f32[i:64, j:64, k:64]
      %4 = map mul(%3, %2) : f32[i:64, j:64, k:64, l:64]
      %5 = reduce sum(%4) over [j, k] : f32[i:64, l:64]
      outputs out=%5
    `);
  });

  it('orders symbolic sizes by their hints (64 without one), leaving the sizes symbolic', () => {
    const chain = ir`
      %0 = input "x" : f32[a:a, b:b]
      %1 = input "y" : f32[b:b, c:c]
      %2 = input "z" : f32[c:c, d:d]
      %3 = contract(%0, %1, %2) : f32[a:a, d:d]
      outputs out=%3
    `;
    // All 64: both orders cost the same and the first pair wins. With b expected to be 2, x·y
    // would make a 64 × 64 [a, c] through a short b but then a 64³ step; y·z first contracts c
    // into [b, d] (2 × 64) and the last step sums over the short b.
    expect(printGraph(planContractions(parseGraph(chain)))).toContain('%3 = contract(%0, %1) : f32[a:a, c:c]');
    expect(printGraph(planContractions(parseGraph(chain), { sizeHints: { b: 2 } }))).toBe(ir`
      %0 = input "x" : f32[a:a, b:b]
      %1 = input "y" : f32[b:b, c:c]
      %2 = input "z" : f32[c:c, d:d]
      %3 = contract(%1, %2) : f32[b:b, d:d]
      %4 = contract(%0, %3) : f32[a:a, d:d]
      outputs out=%4
    `);
  });
});
