/**
 * fuse-row-blocks: printed Tensor IR in, fused (pinned in `fuse.test.ts`) and then row blocks
 * formed; the Kernel IR printed (`printFused`) and pinned. Each expectation was read and checked
 * by hand (the comments say what to look for).
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { fuse } from '../../compiler/passes/fuse.ts';
import { fuseRowBlocks } from '../../compiler/passes/fuse-row-blocks.ts';
import { printFused } from '../../compiler/kernel-ir-print.ts';
import { DEFAULT_LIMITS } from '../../program/index.ts';

const run = (text: string): string => printFused(fuseRowBlocks(fuse(parseGraph(text), { name: 'test', maxStorageBuffers: 8, limits: DEFAULT_LIMITS }), DEFAULT_LIMITS));

describe('fuse-row-blocks', () => {
  it('fuses a softmax over a short axis with the contraction and the sum over the long axis it feeds', () => {
    // Attention whose softmax runs over the outputs j (routing's shape): the scores GEMM, the row
    // max and the row sum become stages computed per row (locals l1..l3; b2..b4 are left unused for
    // plan-memory to drop); w, read the same by every row, is an invariant (l4) computed once per
    // workgroup; the normalised weights are recomputed inside both finals, which fold parts of 1024
    // rows (ceil(i/1024) parts, blocks of 64 rows) into partials b7 and b8; two combines sum the
    // parts in order into the outputs.
    expect(
      run(ir`
        %0 = input "x" : f32[i:i, d:8]
        %1 = input "w" : f32[j:4, d:8]
        %2 = contract(%0, %1) : f32[i:i, j:4]
        %3 = reduce max(%2) over [j] : f32[i:i]
        %4 = map sub(%2, %3) : f32[i:i, j:4]
        %5 = map exp(%4) : f32[i:i, j:4]
        %6 = reduce sum(%5) over [j] : f32[i:i]
        %7 = map div(%5, %6) : f32[i:i, j:4]
        %8 = contract(%7, %0) : f32[j:4, d:8]
        %9 = reduce sum(%7) over [i] : f32[j:4]
        outputs y=%8, z=%9
      `),
    ).toBe(ir`
      b0 input f32[i:i, d:8] "input 'x'"
      b1 input f32[j:4, d:8] "input 'w'"
      b2 temp f32[i:i, j:4] "%2 contract"
      b3 temp f32[i:i] "%3 reduce"
      b4 temp f32[i:i] "%6 reduce"
      b5 temp f32[j:4, d:8] "%8 contract"
      b6 temp f32[j:4] "%9 reduce"
      b7 temp f32[j:4, d:8] x{"op":"mul","args":[32,{"op":"ceildiv","args":["i",1024]}]} "%8 contract partial"
      b8 temp f32[j:4] x{"op":"mul","args":[4,{"op":"ceildiv","args":["i",1024]}]} "%9 reduce partial"
      row-block %8 contract + %9 reduce rows[row=i:i] parts[part=i/1024:ceil(i/1024)] of 1024 rows, blocks of 64
        invariant elementwise %2 contract invariant -> l4 f32[a1=j:4, a2=d:8] = b1[a1,a2]
        stage gemm %2 contract -> l1 f32[row=i:i, a1=j:4] batch[] m[row=i:i] n[a1=j:4] k[a2=d:8] a=b0[row,a2] b=l4[a1,a2]
        stage reduce %3 reduce -> l2 f32[row=i:i] = max over [a1=j:4] of l1[row,a1]
        stage reduce %6 reduce -> l3 f32[row=i:i] = sum over [a1=j:4] of exp(sub(l1[row,a1], l2[row]))
        final gemm %8 contract -> b5 f32[a0=j:4, a1=d:8] batch[] m[a0=j:4] n[a1=d:8] k[row=i:i] a=div(exp(sub(l1[row,a0], l2[row])), l3[row]) b=b0[row,a1]
          partial -> b7 f32[part=i/1024:ceil(i/1024), a0=j:4, a1=d:8]
        final reduce %9 reduce -> b6 f32[a0=j:4] = sum over [row=i:i] of div(exp(sub(l1[row,a0], l2[row])), l3[row])
          partial -> b8 f32[part=i/1024:ceil(i/1024), a0=j:4]
      reduce %8 contract combine -> b5 f32[a0=j:4, a1=d:8] = sum over [part=i/1024:ceil(i/1024)] of b7[part,a0,a1] (combine, count i)
      reduce %9 reduce combine -> b6 f32[a0=j:4] = sum over [part=i/1024:ceil(i/1024)] of b8[part,a0] (combine, count i)
      outputs y=b5, z=b6
    `);
  });

  it('stores a row tensor the program returns as the row block computes it', () => {
    // p = exp(x·w) is an output, so the row block that computes it per row (stage l2) also writes
    // it to its buffer b3 ("stored"); x·w itself (l1) stays on chip and b2 is left unused. The
    // static 5000 rows make ceil(5000/1024) = 5 parts; the last folds 904 rows.
    expect(
      run(ir`
        %0 = input "x" : f32[i:5000, d:8]
        %1 = input "w" : f32[j:4, d:8]
        %2 = contract(%0, %1) : f32[i:5000, j:4]
        %3 = map exp(%2) : f32[i:5000, j:4]
        %4 = map mul(%3, %3) : f32[i:5000, j:4]
        %5 = reduce sum(%4) over [i] : f32[j:4]
        outputs p=%3, z=%5
      `),
    ).toBe(ir`
      b0 input f32[i:5000, d:8] "input 'x'"
      b1 input f32[j:4, d:8] "input 'w'"
      b2 temp f32[i:5000, j:4] "%2 contract"
      b3 temp f32[i:5000, j:4] "%3 exp"
      b4 temp f32[j:4] "%5 reduce"
      b5 temp f32[i/1024:5, j:4] "%5 reduce partial"
      row-block %5 reduce rows[row=i:5000] parts[part=i/1024:5] of 1024 rows, blocks of 64
        invariant elementwise %2 contract invariant -> l3 f32[a1=j:4, a2=d:8] = b1[a1,a2]
        stage gemm %2 contract -> l1 f32[row=i:5000, a1=j:4] batch[] m[row=i:5000] n[a1=j:4] k[a2=d:8] a=b0[row,a2] b=l3[a1,a2]
        stage elementwise %3 exp -> l2 f32[row=i:5000, a1=j:4] = exp(l1[row,a1])
          stored -> b3
        final reduce %5 reduce -> b4 f32[a0=j:4] = sum over [row=i:5000] of mul(l2[row,a0], l2[row,a0])
          partial -> b5 f32[part=i/1024:5, a0=j:4]
      reduce %5 reduce combine -> b4 f32[a0=j:4] = sum over [part=i/1024:5] of b5[part,a0] (combine, count 5000)
      outputs p=b3, z=b4
    `);
  });

  it('recomputes a row tensor computed before a loop inside the loop body\'s row block', () => {
    // x·w (b3, [i, 4]) is computed once before the loop and read by every iteration: its GEMM
    // becomes stage l1 of the loop's row block (recomputed per iteration from x and w, which the
    // loop does not write), so no [i, j] tensor outlives a row block. The carry b4 is read per
    // iteration as an invariant (l4).
    expect(
      run(ir`
        %0 = input "x" : f32[i:i, d:8]
        %1 = input "w" : f32[j:4, d:8]
        %2 = input "c" : f32[j:4, d:8]
        %3 = contract(%0, %1) : f32[i:i, j:4]
        %4 = loop 2 init(%2) captures(%0, %3) : f32[j:4, d:8] {
          %0 = carry 0 : f32[j:4, d:8]
          %1 = capture 0 : f32[i:i, d:8]
          %2 = capture 1 : f32[i:i, j:4]
          %3 = contract(%1, %0) : f32[i:i, j:4]
          %4 = map mul(%3, %2) : f32[i:i, j:4]
          %5 = contract(%4, %1) : f32[j:4, d:8]
          outputs 0=%5
        }
        %5 = loop_result %4[0] : f32[j:4, d:8]
        outputs y=%5
      `),
    ).toBe(ir`
      b0 input f32[i:i, d:8] "input 'x'"
      b1 input f32[j:4, d:8] "input 'w'"
      b2 input f32[j:4, d:8] "input 'c'"
      b3 temp f32[i:i, j:4] "%3 contract"
      b4 temp f32[j:4, d:8] "%4 loop carry 0"
      b5 temp f32[i:i, j:4] "%4 loop/%3 contract"
      b6 temp f32[j:4, d:8] "%4 loop/%5 contract"
      b7 temp f32[j:4, d:8] x{"op":"mul","args":[32,{"op":"ceildiv","args":["i",1024]}]} "%4 loop/%5 contract partial"
      copy b2 -> b4 (%4 loop init carry 0)
      loop 2 (%4 loop) {
        row-block %4 loop/%5 contract rows[row=i:i] parts[part=i/1024:ceil(i/1024)] of 1024 rows, blocks of 64
          invariant elementwise %3 contract invariant -> l3 f32[a1=j:4, a2=d:8] = b1[a1,a2]
          invariant elementwise %4 loop/%3 contract invariant -> l4 f32[a1=j:4, a2=d:8] = b4[a1,a2]
          stage gemm %3 contract -> l1 f32[row=i:i, a1=j:4] batch[] m[row=i:i] n[a1=j:4] k[a2=d:8] a=b0[row,a2] b=l3[a1,a2]
          stage gemm %4 loop/%3 contract -> l2 f32[row=i:i, a1=j:4] batch[] m[row=i:i] n[a1=j:4] k[a2=d:8] a=b0[row,a2] b=l4[a1,a2]
          final gemm %4 loop/%5 contract -> b6 f32[a0=j:4, a1=d:8] batch[] m[a0=j:4] n[a1=d:8] k[row=i:i] a=mul(l2[row,a0], l1[row,a0]) b=b0[row,a1]
            partial -> b7 f32[part=i/1024:ceil(i/1024), a0=j:4, a1=d:8]
        reduce %4 loop/%5 contract combine -> b6 f32[a0=j:4, a1=d:8] = sum over [part=i/1024:ceil(i/1024)] of b7[part,a0,a1] (combine, count i)
        copy b6 -> b4 (%4 loop carry 0)
      }
      outputs y=b4
    `);
  });

  it('holds a batch axis fixed per workgroup: outer axes the locals do not store', () => {
    // The symbolic batch b is an outer axis (outer0): a workgroup folds one part of the rows for
    // one b, so the invariant w[b, j, d] is read per workgroup as [j, d] (l3), the locals hold
    // [row, j] and [row], and the partial b5 is [part, b, j, d], which the combine reduces with its
    // own axis ids.
    expect(
      run(ir`
        %0 = input "x" : f32[b:b, i:i, d:8]
        %1 = input "w" : f32[b:b, j:4, d:8]
        %2 = contract(%0, %1) : f32[b:b, i:i, j:4]
        %3 = reduce max(%2) over [j] : f32[b:b, i:i]
        %4 = map sub(%2, %3) : f32[b:b, i:i, j:4]
        %5 = map exp(%4) : f32[b:b, i:i, j:4]
        %6 = contract(%5, %0) : f32[b:b, j:4, d:8]
        outputs y=%6
      `),
    ).toBe(ir`
      b0 input f32[b:b, i:i, d:8] "input 'x'"
      b1 input f32[b:b, j:4, d:8] "input 'w'"
      b2 temp f32[b:b, i:i, j:4] "%2 contract"
      b3 temp f32[b:b, i:i] "%3 reduce"
      b4 temp f32[b:b, j:4, d:8] "%6 contract"
      b5 temp f32[b:b, j:4, d:8] x{"op":"mul","args":[{"op":"mul","args":[32,"b"]},{"op":"ceildiv","args":["i",1024]}]} "%6 contract partial"
      row-block %6 contract rows[row=i:i] outer[outer0=b:b] parts[part=i/1024:ceil(i/1024)] of 1024 rows, blocks of 64
        invariant elementwise %2 contract invariant -> l3 f32[a2=j:4, a3=d:8] = b1[outer0,a2,a3]
        stage gemm %2 contract -> l1 f32[outer0=b:b, row=i:i, a2=j:4] batch[outer0=b:b] m[row=i:i] n[a2=j:4] k[a3=d:8] a=b0[outer0,row,a3] b=l3[a2,a3]
        stage reduce %3 reduce -> l2 f32[outer0=b:b, row=i:i] = max over [a2=j:4] of l1[outer0,row,a2]
        final gemm %6 contract -> b4 f32[outer0=b:b, a1=j:4, a2=d:8] batch[outer0=b:b] m[a1=j:4] n[a2=d:8] k[row=i:i] a=exp(sub(l1[outer0,row,a1], l2[outer0,row])) b=b0[outer0,row,a2]
          partial -> b5 f32[part=i/1024:ceil(i/1024), outer0=b:b, a1=j:4, a2=d:8]
      reduce %6 contract combine -> b4 f32[a0=b:b, a1=j:4, a2=d:8] = sum over [part=i/1024:ceil(i/1024)] of b5[part,a0,a1,a2] (combine, count i)
      outputs y=b4
    `);
  });
});
