/**
 * fuse: printed Tensor IR in (an optimised graph: decomposed, contraction-planned, flash nodes
 * matched), printed Kernel IR out (`printFused`: buffers, host steps, outputs). Every reduction and
 * contraction roots a kernel; elementwise work is inlined into its consumers; flash nodes become
 * flash kernels whose kv bounds (`lower-attention/kv-bounds.ts`) decide which kv tiles are
 * skipped, with block-mask kernels for masks the bounds do not capture. Each expectation was read
 * and checked by hand (the comments say what to look for).
 */
import { describe, expect, it } from 'vitest';
import { causalFlashPair, ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { fuse } from '../../compiler/passes/fuse.ts';
import { printFused } from '../../compiler/kernel-ir-print.ts';
import { DEFAULT_LIMITS } from '../../program/index.ts';

const run = (text: string, maxStorageBuffers = 8) => printFused(fuse(parseGraph(text), { name: 'test', maxStorageBuffers, limits: DEFAULT_LIMITS }));

describe('fuse', () => {
  describe('elementwise, reductions and contractions', () => {
    it('fuses an elementwise chain with a transpose into one kernel', () => {
      const input = ir`
        %0 = input "x" : f32[i:i, j:j]
        %1 = param "s" : f32[]
        %2 = map mul(%0, %1) : f32[i:i, j:j]
        %3 = const 1 : f32[]
        %4 = map add(%2, %3) : f32[i:i, j:j]
        %5 = map exp(%4) : f32[i:i, j:j]
        %6 = relabel(%5) as [i, j] : f32[j:j, i:i]
        outputs out=%6
      `;
      // exp(x·s + 1) transposed: one elementwise kernel over the output axes [j, i] (a0, a1), reading
      // x at [a1, a0]; the parameter is $s and the constant 1 is typed.
      expect(run(input)).toBe(ir`
        b0 input f32[i:i, j:j] "input 'x'"
        b1 temp f32[j:j, i:i] "%6 relabel"
        elementwise %6 relabel -> b1 f32[a0=j:j, a1=i:i] = exp(add(mul(b0[a1,a0], $s), 1:f32))
        outputs out=b1
      `);
    });

    it('inlines a gather as a load whose gathered axis is indexed by the clamped position', () => {
      const input = ir`
        %0 = input "t" : f32[h:h, r:r]
        %1 = input "x" : f32[n:n, m:m]
        %2 = iota : i32[n:n]
        %3 = iota : i32[m:m]
        %4 = map sub(%2, %3) : i32[n:n, m:m]
        %5 = const 2 : i32[]
        %6 = map add(%4, %5) : i32[n:n, m:m]
        %7 = gather(%0) along r at %6 : f32[h:h, n:n, m:m]
        %8 = map add(%1, %7) : f32[n:n, m:m, h:h]
        outputs out=%8
      `;
      // x + t[h, n − m + 2]: the gather is a load of t with its r index an i32 expression, clamped.
      expect(run(input)).toBe(ir`
        b0 input f32[h:h, r:r] "input 't'"
        b1 input f32[n:n, m:m] "input 'x'"
        b2 temp f32[n:n, m:m, h:h] "%8 add"
        elementwise %8 add -> b2 f32[a0=n:n, a1=m:m, a2=h:h] = add(b1[a0,a1], b0[a2,clamp(add(sub(#a0, #a1), 2:i32))])
        outputs out=b2
      `);
    });

    it('runs a reduction’s epilogue as an elementwise kernel that reads the reduction', () => {
      const input = ir`
        %0 = input "x" : f32[i:i, j:j]
        %1 = reduce sum(%0) over [j] : f32[i:i]
        %2 = const 2 : f32[]
        %3 = map mul(%1, %2) : f32[i:i]
        %4 = map exp(%3) : f32[i:i]
        outputs out=%4
      `;
      // exp(2·sum_j x): every reduction roots a kernel; the epilogue is inlined into its consumer,
      // here the output kernel, which loads the reduced value.
      expect(run(input)).toBe(ir`
        b0 input f32[i:i, j:j] "input 'x'"
        b1 temp f32[i:i] "%1 reduce"
        b2 temp f32[i:i] "%4 exp"
        reduce %1 reduce -> b1 f32[a0=i:i] = sum over [a1=j:j] of b0[a0,a1]
        elementwise %4 exp -> b2 f32[a0=i:i] = exp(mul(b1[a0], 2:f32))
        outputs out=b2
      `);
    });

    it('lowers a decomposed softmax to a max reduction, a sum reduction and a normalising elementwise kernel', () => {
      const input = ir`
        %0 = input "x" : f32[r:r, c:c]
        %1 = reduce max(%0) over [c] : f32[r:r]
        %2 = map is_finite(%1) : bool[r:r]
        %3 = const 0 : f32[]
        %4 = map where(%2, %1, %3) : f32[r:r]
        %5 = map is_inf(%1) : bool[r:r]
        %6 = map lt(%1, %3) : bool[r:r]
        %7 = map and(%5, %6) : bool[r:r]
        %8 = map not(%7) : bool[r:r]
        %9 = map sub(%0, %4) : f32[r:r, c:c]
        %10 = map exp(%9) : f32[r:r, c:c]
        %11 = reduce sum(%10) over [c] : f32[r:r]
        %12 = const 1 : f32[]
        %13 = map where(%8, %11, %12) : f32[r:r]
        %14 = map div(%10, %13) : f32[r:r, c:c]
        outputs out=%14
      `;
      // The shift where(is_finite(max), max, 0) is inlined wherever it is read; exp(x − shift) is
      // cheap enough to recompute in the sum's prologue and in the normalisation; the fully-masked row
      // test not(and(is_inf(max), lt(max, 0))) picks the divisor.
      expect(run(input)).toBe(ir`
        b0 input f32[r:r, c:c] "input 'x'"
        b1 temp f32[r:r] "%1 reduce"
        b2 temp f32[r:r] "%11 reduce"
        b3 temp f32[r:r, c:c] "%14 div"
        reduce %1 reduce -> b1 f32[a0=r:r] = max over [a1=c:c] of b0[a0,a1]
        reduce %11 reduce -> b2 f32[a0=r:r] = sum over [a1=c:c] of exp(sub(b0[a0,a1], where(is_finite(b1[a0]), b1[a0], 0:f32)))
        elementwise %14 div -> b3 f32[a0=r:r, a1=c:c] = div(exp(sub(b0[a0,a1], where(is_finite(b1[a0]), b1[a0], 0:f32))), where(not(and(is_inf(b1[a0]), lt(b1[a0], 0:f32))), b2[a0], 1:f32))
        outputs out=b3
      `);
    });

    it('inlines the prologue of a reduction and of a matrix product', () => {
      const input = ir`
        %0 = input "a" : f32[m:m, k:k]
        %1 = input "b" : f32[k:k, n:n]
        %2 = map exp(%0) : f32[m:m, k:k]
        %3 = reduce sum(%2) over [k] : f32[m:m]
        %4 = const 2 : f32[]
        %5 = map mul(%0, %4) : f32[m:m, k:k]
        %6 = contract(%5, %1) : f32[m:m, n:n]
        outputs r=%3, c=%6
      `;
      // sum_k exp(a) is one reduce kernel with exp inlined; (2a)·b is one gemm whose A operand is
      // mul(a, 2) and whose k axis is a2.
      expect(run(input)).toBe(ir`
        b0 input f32[m:m, k:k] "input 'a'"
        b1 input f32[k:k, n:n] "input 'b'"
        b2 temp f32[m:m] "%3 reduce"
        b3 temp f32[m:m, n:n] "%6 contract"
        reduce %3 reduce -> b2 f32[a0=m:m] = sum over [a1=k:k] of exp(b0[a0,a1])
        gemm %6 contract -> b3 f32[a0=m:m, a1=n:n] batch[] m[a0=m:m] n[a1=n:n] k[a2=k:k] a=mul(b0[a0,a2], 2:f32) b=b1[a2,a1]
        outputs r=b2, c=b3
      `);
    });

    it('gives a matrix product its prologue, and its bias epilogue its own elementwise kernel', () => {
      const input = ir`
        %0 = input "a" : f32[m:m, k:k]
        %1 = input "b" : f32[k:k, n:n]
        %2 = input "bias" : f32[n:n]
        %3 = map exp(%0) : f32[m:m, k:k]
        %4 = contract(%3, %1) : f32[m:m, n:n]
        %5 = map add(%4, %2) : f32[m:m, n:n]
        outputs c=%5
      `;
      // exp(a)·b + bias: exp is inlined into the gemm's A operand; the bias add reads the gemm output.
      expect(run(input)).toBe(ir`
        b0 input f32[m:m, k:k] "input 'a'"
        b1 input f32[k:k, n:n] "input 'b'"
        b2 input f32[n:n] "input 'bias'"
        b3 temp f32[m:m, n:n] "%4 contract"
        b4 temp f32[m:m, n:n] "%5 add"
        gemm %4 contract -> b3 f32[a0=m:m, a1=n:n] batch[] m[a0=m:m] n[a1=n:n] k[a2=k:k] a=exp(b0[a0,a2]) b=b1[a2,a1]
        elementwise %5 add -> b4 f32[a0=m:m, a1=n:n] = add(b3[a0,a1], b2[a1])
        outputs c=b4
      `);
    });

    it('materialises a shared value that is costly to recompute, and recomputes a cheap one', () => {
      const input = ir`
        %0 = input "x" : f32[i:i]
        %1 = const 1 : f32[]
        %2 = map add(%0, %1) : f32[i:i]
        %3 = map exp(%2) : f32[i:i]
        %4 = map add(%3, %1) : f32[i:i]
        %5 = map exp(%4) : f32[i:i]
        %6 = map add(%5, %1) : f32[i:i]
        %7 = map exp(%6) : f32[i:i]
        %8 = map add(%7, %1) : f32[i:i]
        %9 = map exp(%8) : f32[i:i]
        %10 = map add(%9, %1) : f32[i:i]
        %11 = map exp(%10) : f32[i:i]
        %12 = map add(%11, %1) : f32[i:i]
        %13 = map exp(%12) : f32[i:i]
        %14 = map add(%13, %1) : f32[i:i]
        %15 = map exp(%14) : f32[i:i]
        %16 = map add(%15, %1) : f32[i:i]
        %17 = map exp(%16) : f32[i:i]
        %18 = map exp(%0) : f32[i:i]
        %19 = reduce sum(%17) over [i] : f32[]
        %20 = reduce sum(%18) over [i] : f32[]
        %21 = map add(%19, %20) : f32[]
        %22 = const 2 : f32[]
        %23 = map mul(%17, %22) : f32[i:i]
        %24 = reduce sum(%23) over [i] : f32[]
        %25 = const 3 : f32[]
        %26 = map mul(%18, %25) : f32[i:i]
        %27 = reduce sum(%26) over [i] : f32[]
        %28 = map mul(%24, %27) : f32[]
        outputs a=%21, b=%28
      `;
      // The eight exp(add(·, 1)) steps (16 ops, over the recompute limit of 6) feed two reductions:
      // materialised once (b1). exp(x) is one op: inlined into both reductions that read it. Scalar
      // results combine in elementwise kernels over no axes.
      expect(run(input)).toBe(ir`
        b0 input f32[i:i] "input 'x'"
        b1 temp f32[i:i] "%17 exp"
        b2 temp f32[] "%19 reduce"
        b3 temp f32[] "%20 reduce"
        b4 temp f32[] "%21 add"
        b5 temp f32[] "%24 reduce"
        b6 temp f32[] "%27 reduce"
        b7 temp f32[] "%28 mul"
        elementwise %17 exp -> b1 f32[a0=i:i] = exp(add(exp(add(exp(add(exp(add(exp(add(exp(add(exp(add(exp(add(b0[a0], 1:f32)), 1:f32)), 1:f32)), 1:f32)), 1:f32)), 1:f32)), 1:f32)), 1:f32))
        reduce %19 reduce -> b2 f32[] = sum over [a0=i:i] of b1[a0]
        reduce %20 reduce -> b3 f32[] = sum over [a0=i:i] of exp(b0[a0])
        elementwise %21 add -> b4 f32[] = add(b2[], b3[])
        reduce %24 reduce -> b5 f32[] = sum over [a0=i:i] of mul(b1[a0], 2:f32)
        reduce %27 reduce -> b6 f32[] = sum over [a0=i:i] of mul(exp(b0[a0]), 3:f32)
        elementwise %28 mul -> b7 f32[] = mul(b5[], b6[])
        outputs a=b4, b=b7
      `);
    });

  });

  describe('loops', () => {
    it('turns a loop into a host loop step: carries copied in, body kernels, results copied back', () => {
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
      // Both body kernels read the carries b2, b3 before the copies write them; the loop results are
      // the carry buffers themselves.
      expect(run(input)).toBe(ir`
        b0 input f32[i:i] "input 'x'"
        b1 input f32[i:i] "input 'w'"
        b2 temp f32[i:i] "%2 loop carry 0"
        b3 temp f32[i:i] "%2 loop carry 1"
        b4 temp f32[i:i] "%2 loop/%2 mul"
        b5 temp f32[i:i] "%2 loop/%3 add"
        copy b0 -> b2 (%2 loop init carry 0)
        copy b1 -> b3 (%2 loop init carry 1)
        loop 3 (%2 loop) {
          elementwise %2 loop/%2 mul -> b4 f32[a0=i:i] = mul(b2[a0], b3[a0])
          elementwise %2 loop/%3 add -> b5 f32[a0=i:i] = add(b2[a0], b3[a0])
          copy b4 -> b2 (%2 loop carry 0)
          copy b5 -> b3 (%2 loop carry 1)
        }
        outputs y=b2, z=b3
      `);
    });

    it('materialises a loop-invariant capture once before the loop, and reads the carry after it', () => {
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
      // exp(x) is captured: computed into b2 before the loop; the body's reduction reads it and the
      // carry; the epilogue after the loop reads the carry buffer b3 (the loop result).
      expect(run(input)).toBe(ir`
        b0 input f32[i:i, j:j] "input 'x'"
        b1 input f32[i:i] "input 'y'"
        b2 temp f32[i:i, j:j] "%2 exp"
        b3 temp f32[i:i] "%3 loop carry 0"
        b4 temp f32[i:i] "%3 loop/%3 reduce"
        b5 temp f32[i:i] "%5 add"
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

    it('stages carried values that are each other’s results (a swap) so the copies cannot clobber them', () => {
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
      // Results 0=carry 1 and 1=carry 0: both are copied to stage buffers first, then into the carries.
      expect(run(input)).toBe(ir`
        b0 input f32[i:i] "input 'a'"
        b1 input f32[i:i] "input 'b'"
        b2 temp f32[i:i] "%2 loop carry 0"
        b3 temp f32[i:i] "%2 loop carry 1"
        b4 temp f32[i:i] "%2 loop stage 0"
        b5 temp f32[i:i] "%2 loop stage 1"
        copy b0 -> b2 (%2 loop init carry 0)
        copy b1 -> b3 (%2 loop init carry 1)
        loop 5 (%2 loop) {
          copy b3 -> b4 (%2 loop stage carry 0)
          copy b2 -> b5 (%2 loop stage carry 1)
          copy b4 -> b2 (%2 loop carry 0)
          copy b5 -> b3 (%2 loop carry 1)
        }
        outputs a=b2, b=b3
      `);
    });

  });

  describe('storage-buffer limit', () => {
    it('splits a kernel that would bind more storage buffers than the device allows (4)', () => {
      const input = ir`
        %0 = input "a" : f32[i:i]
        %1 = input "b" : f32[i:i]
        %2 = input "c" : f32[i:i]
        %3 = input "d" : f32[i:i]
        %4 = map add(%0, %1) : f32[i:i]
        %5 = map add(%2, %3) : f32[i:i]
        %6 = map add(%4, %5) : f32[i:i]
        outputs out=%6
      `;
      // (a + b) + (c + d) binds 5 buffers; materialising a + b (3 bindings) leaves the root with
      // b5, c, d and its output: 4.
      expect(run(input, 4)).toBe(ir`
        b0 input f32[i:i] "input 'a'"
        b1 input f32[i:i] "input 'b'"
        b2 input f32[i:i] "input 'c'"
        b3 input f32[i:i] "input 'd'"
        b4 temp f32[i:i] "%6 add"
        b5 temp f32[i:i] "%4 add"
        elementwise %4 add -> b5 f32[a0=i:i] = add(b0[a0], b1[a0])
        elementwise %6 add -> b4 f32[a0=i:i] = add(b5[a0], add(b2[a0], b3[a0]))
        outputs out=b4
      `);
    });

    it('splits again for a limit of 3', () => {
      const input = ir`
        %0 = input "a" : f32[i:i]
        %1 = input "b" : f32[i:i]
        %2 = input "c" : f32[i:i]
        %3 = input "d" : f32[i:i]
        %4 = map add(%0, %1) : f32[i:i]
        %5 = map add(%2, %3) : f32[i:i]
        %6 = map add(%4, %5) : f32[i:i]
        outputs out=%6
      `;
      // Both inner adds are materialised; every kernel binds two inputs and its output.
      expect(run(input, 3)).toBe(ir`
        b0 input f32[i:i] "input 'a'"
        b1 input f32[i:i] "input 'b'"
        b2 input f32[i:i] "input 'c'"
        b3 input f32[i:i] "input 'd'"
        b4 temp f32[i:i] "%6 add"
        b5 temp f32[i:i] "%4 add"
        b6 temp f32[i:i] "%5 add"
        elementwise %4 add -> b5 f32[a0=i:i] = add(b0[a0], b1[a0])
        elementwise %5 add -> b6 f32[a0=i:i] = add(b2[a0], b3[a0])
        elementwise %6 add -> b4 f32[a0=i:i] = add(b5[a0], b6[a0])
        outputs out=b4
      `);
    });

  });

  describe('flash attention and its kv bounds', () => {
    it('lowers a causal flash pair to one kernel with an upper kv bound t+0 and no block mask', () => {
      const input = causalFlashPair('n');
      // valid = q >= kv, so kv <= t + 0 with t the tiled query index (a0): tiles past the diagonal
      // are never visited. The o and lse nodes (same args and body) share the kernel: out b3, lse b4.
      expect(run(input)).toBe(ir`
        b0 input f32[n:n, d:4] "input 'q'"
        b1 input f32[m:m, d:4] "input 'k'"
        b2 input f32[m:m, e:2] "input 'v'"
        b3 temp f32[n:n, e:2] "%3 flash o"
        b4 temp f32[n:n] "%3 flash lse"
        flash %3 flash -> b3 f32[a0=n:n, a3=e:2] lse b4[a0=n:n]
          outer[] batch[] tiled[a0=n:n] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
          q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
          score=q·k valid=ge(#a0, #a1) kv>=[] kv<=[t+0:i32]
        outputs o=b3, lse=b4
      `);
    });

    it('bounds a sliding window below and above', () => {
      const input = ir`
        %0 = input "q" : f32[n:n, d:4]
        %1 = input "k" : f32[m:m, d:4]
        %2 = input "v" : f32[m:m, e:2]
        %3 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
          %0 = capture 0 : f32[n:n, d:4]
          %1 = capture 1 : f32[m:m, d:4]
          %2 = capture 2 : f32[m:m, e:2]
          %3 = contract(%0, %1) : f32[n:n, m:m]
          %4 = iota : i32[n:n]
          %5 = iota : i32[m:m]
          %6 = map sub(%4, %5) : i32[n:n, m:m]
          %7 = const 3 : i32[]
          %8 = map lt(%6, %7) : bool[n:n, m:m]
          %9 = map ge(%4, %5) : bool[n:n, m:m]
          %10 = map and(%9, %8) : bool[n:n, m:m]
          %11 = const -Infinity : f32[]
          %12 = map where(%10, %3, %11) : f32[n:n, m:m]
          %13 = softmax(%12) over m : f32[n:n, m:m]
          %14 = contract(%13, %2) : f32[n:n, e:2]
          %15 = reduce logsumexp(%12) over [m] : f32[n:n]
          outputs o=%14, lse=%15
        }
        outputs o=%3
      `;
      // q >= kv gives kv <= t + 0; q − kv < 3 gives kv >= t − 2, printed t+sub(1:i32, 3:i32)
      // (1 for the strict comparison, minus the window).
      expect(run(input)).toBe(ir`
        b0 input f32[n:n, d:4] "input 'q'"
        b1 input f32[m:m, d:4] "input 'k'"
        b2 input f32[m:m, e:2] "input 'v'"
        b3 temp f32[n:n, e:2] "%3 flash o"
        flash %3 flash -> b3 f32[a0=n:n, a3=e:2]
          outer[] batch[] tiled[a0=n:n] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
          q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
          score=q·k valid=and(ge(#a0, #a1), lt(sub(#a0, #a1), 3:i32)) kv>=[t+sub(1:i32, 3:i32)] kv<=[t+0:i32]
        outputs o=b3
      `);
    });

    it('bounds causal attention aligned to the end (kv <= q + M − N) with sizes in the bound', () => {
      const input = ir`
        %0 = input "q" : f32[n:n, d:4]
        %1 = input "k" : f32[m:m, d:4]
        %2 = input "v" : f32[m:m, e:2]
        %3 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
          %0 = capture 0 : f32[n:n, d:4]
          %1 = capture 1 : f32[m:m, d:4]
          %2 = capture 2 : f32[m:m, e:2]
          %3 = contract(%0, %1) : f32[n:n, m:m]
          %4 = iota : i32[n:n]
          %5 = iota : i32[m:m]
          %6 = size m:m : i32[]
          %7 = size n:n : i32[]
          %8 = map sub(%6, %7) : i32[]
          %9 = map add(%4, %8) : i32[n:n]
          %10 = map le(%5, %9) : bool[m:m, n:n]
          %11 = const -Infinity : f32[]
          %12 = map where(%10, %3, %11) : f32[n:n, m:m]
          %13 = softmax(%12) over m : f32[n:n, m:m]
          %14 = contract(%13, %2) : f32[n:n, e:2]
          %15 = reduce logsumexp(%12) over [m] : f32[n:n]
          outputs o=%14, lse=%15
        }
        outputs o=%3
      `;
      // The uniform part of the bound is built from the size uniforms: 0 + |m| − |n|.
      expect(run(input)).toBe(ir`
        b0 input f32[n:n, d:4] "input 'q'"
        b1 input f32[m:m, d:4] "input 'k'"
        b2 input f32[m:m, e:2] "input 'v'"
        b3 temp f32[n:n, e:2] "%3 flash o"
        flash %3 flash -> b3 f32[a0=n:n, a3=e:2]
          outer[] batch[] tiled[a0=n:n] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
          q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
          score=q·k valid=le(#a1, add(#a0, sub(|m|, |n|))) kv>=[] kv<=[t+sub(add(0:i32, |m|), |n|)]
        outputs o=b3
      `);
    });

    it('gives a document mask (no analytic bound) a block mask: classify, compact, then flash over the list', () => {
      const input = ir`
        %0 = input "q" : f32[n:n, d:4]
        %1 = input "k" : f32[m:n, d:4]
        %2 = input "v" : f32[m:n, e:2]
        %3 = input "doc" : i32[n:n]
        %4 = flash o over m args(%0, %1, %2, %3) : f32[n:n, e:2] {
          %0 = capture 0 : f32[n:n, d:4]
          %1 = capture 1 : f32[m:n, d:4]
          %2 = capture 2 : f32[m:n, e:2]
          %3 = capture 3 : i32[n:n]
          %4 = contract(%0, %1) : f32[n:n, m:n]
          %5 = relabel(%3) as [m] : i32[m:n]
          %6 = map eq(%3, %5) : bool[n:n, m:n]
          %7 = const -Infinity : f32[]
          %8 = map where(%6, %4, %7) : f32[n:n, m:n]
          %9 = softmax(%8) over m : f32[n:n, m:n]
          %10 = contract(%9, %2) : f32[n:n, e:2]
          %11 = reduce logsumexp(%8) over [m] : f32[n:n]
          outputs o=%10, lse=%11
        }
        outputs o=%4
      `;
      // doc[q] == doc[kv] reads a tensor, so the block buffers are per-run temporaries, sized by
      // ceil(N/32) query tiles × ceil(M/32) kv tiles (M is N here); no kv bounds.
      expect(run(input)).toBe(ir`
        b0 input f32[n:n, d:4] "input 'q'"
        b1 input f32[m:n, d:4] "input 'k'"
        b2 input f32[m:n, e:2] "input 'v'"
        b3 input i32[n:n] "input 'doc'"
        b4 temp f32[n:n, e:2] "%4 flash o"
        b5 temp u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["n",32]}]} "%4 flash mask blocks"
        b6 temp u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]}]} "%4 flash mask counts"
        b7 temp u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["n",32]}]} "%4 flash mask list"
        mask-classify %4 flash mask classify -> b5 u32[] = classify blocks of eq(b3[a0], b3[a1]) (32x32)
        mask-compact %4 flash mask compact -> b7 u32[] counts b6 = compact b5[]
        flash %4 flash -> b4 f32[a0=n:n, a3=e:2]
          outer[] batch[] tiled[a0=n:n] kv[a1=m:n] d[a2=d:4] e[a3=e:2]
          q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
          score=q·k valid=eq(b3[a0], b3[a1]) kv>=[] kv<=[]
          blocks 32x32 counts b6 list b7
        outputs o=b4
      `);
    });

    it('refuses to bound a mask that is not a linear comparison: ne(mod(q − kv, 4), 3)', () => {
      const input = ir`
        %0 = input "q" : f32[n:n, d:4]
        %1 = input "k" : f32[m:m, d:4]
        %2 = input "v" : f32[m:m, e:2]
        %3 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
          %0 = capture 0 : f32[n:n, d:4]
          %1 = capture 1 : f32[m:m, d:4]
          %2 = capture 2 : f32[m:m, e:2]
          %3 = contract(%0, %1) : f32[n:n, m:m]
          %4 = iota : i32[n:n]
          %5 = iota : i32[m:m]
          %6 = map sub(%4, %5) : i32[n:n, m:m]
          %7 = const 4 : i32[]
          %8 = map mod(%6, %7) : i32[n:n, m:m]
          %9 = const 3 : i32[]
          %10 = map ne(%8, %9) : bool[n:n, m:m]
          %11 = const -Infinity : f32[]
          %12 = map where(%10, %3, %11) : f32[n:n, m:m]
          %13 = softmax(%12) over m : f32[n:n, m:m]
          %14 = contract(%13, %2) : f32[n:n, e:2]
          %15 = reduce logsumexp(%12) over [m] : f32[n:n]
          outputs o=%14, lse=%15
        }
        outputs o=%3
      `;
      // No bound (mod and ne are not linear comparisons): a block mask; it reads no tensor, so its
      // buffers are cache buffers the runtime keeps across runs.
      expect(run(input)).toBe(ir`
        b0 input f32[n:n, d:4] "input 'q'"
        b1 input f32[m:m, d:4] "input 'k'"
        b2 input f32[m:m, e:2] "input 'v'"
        b3 temp f32[n:n, e:2] "%3 flash o"
        b4 cache u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["m",32]}]} "%3 flash mask blocks"
        b5 cache u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]}]} "%3 flash mask counts"
        b6 cache u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["m",32]}]} "%3 flash mask list"
        mask-classify %3 flash mask classify -> b4 u32[] = classify blocks of ne(mod(sub(#a0, #a1), 4:i32), 3:i32) (32x32)
        mask-compact %3 flash mask compact -> b6 u32[] counts b5 = compact b4[]
        flash %3 flash -> b3 f32[a0=n:n, a3=e:2]
          outer[] batch[] tiled[a0=n:n] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
          q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
          score=q·k valid=ne(mod(sub(#a0, #a1), 4:i32), 3:i32) kv>=[] kv<=[]
          blocks 32x32 counts b5 list b6
        outputs o=b3
      `);
    });

    it('combines an analytic bound with a block mask: the library’s causal document-masked attention (GQA layout)', () => {
      const input = ir`
        %0 = input "q" : f32[b:b, hkv:hkv, g:g, n:n, d:4]
        %1 = input "k" : f32[b:b, hkv:hkv, m:n, d:4]
        %2 = input "v" : f32[b:b, hkv:hkv, m:n, e:4]
        %3 = param "scale" : f32[]
        %4 = input "doc" : i32[b:b, n:n]
        %5 = flash o over m args(%0, %1, %2, %4) : f32[b:b, hkv:hkv, g:g, n:n, e:4] {
          %0 = capture 0 : f32[b:b, hkv:hkv, g:g, n:n, d:4]
          %1 = capture 1 : f32[b:b, hkv:hkv, m:n, d:4]
          %2 = capture 2 : f32[b:b, hkv:hkv, m:n, e:4]
          %3 = capture 3 : i32[b:b, n:n]
          %4 = param "scale" : f32[]
          %5 = iota : i32[n:n]
          %6 = iota : i32[m:n]
          %7 = contract(%0, %1) : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %8 = map mul(%7, %4) : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %9 = map ge(%5, %6) : bool[n:n, m:n]
          %10 = relabel(%3) as [b, m] : i32[b:b, m:n]
          %11 = map eq(%3, %10) : bool[b:b, n:n, m:n]
          %12 = map and(%9, %11) : bool[n:n, m:n, b:b]
          %13 = const -Infinity : f32[]
          %14 = map where(%12, %8, %13) : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %15 = softmax(%14) over m : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %16 = contract(%15, %2) : f32[b:b, hkv:hkv, g:g, n:n, e:4]
          %17 = reduce logsumexp(%14) over [m] : f32[b:b, hkv:hkv, g:g, n:n]
          outputs o=%16, lse=%17
        }
        %6 = flash lse over m args(%0, %1, %2, %4) : f32[b:b, hkv:hkv, g:g, n:n] {
          %0 = capture 0 : f32[b:b, hkv:hkv, g:g, n:n, d:4]
          %1 = capture 1 : f32[b:b, hkv:hkv, m:n, d:4]
          %2 = capture 2 : f32[b:b, hkv:hkv, m:n, e:4]
          %3 = capture 3 : i32[b:b, n:n]
          %4 = param "scale" : f32[]
          %5 = iota : i32[n:n]
          %6 = iota : i32[m:n]
          %7 = contract(%0, %1) : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %8 = map mul(%7, %4) : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %9 = map ge(%5, %6) : bool[n:n, m:n]
          %10 = relabel(%3) as [b, m] : i32[b:b, m:n]
          %11 = map eq(%3, %10) : bool[b:b, n:n, m:n]
          %12 = map and(%9, %11) : bool[n:n, m:n, b:b]
          %13 = const -Infinity : f32[]
          %14 = map where(%12, %8, %13) : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %15 = softmax(%14) over m : f32[b:b, hkv:hkv, g:g, n:n, m:n]
          %16 = contract(%15, %2) : f32[b:b, hkv:hkv, g:g, n:n, e:4]
          %17 = reduce logsumexp(%14) over [m] : f32[b:b, hkv:hkv, g:g, n:n]
          outputs o=%16, lse=%17
        }
        outputs o=%5, lse=%6
      `;
      // attentionKernel({ causal: true, documentMask: true }) with d = e = 4, optimised. Rows are
      // [b, hkv, g, n]; K and V vary with b and hkv (batch); n is tiled because the causal conjunct
      // bounds it (kv <= t + 0). The document conjunct has no bound, so a block mask is built too, per
      // b (the only outer axis the mask reads): b × ceil(N/32)² blocks.
      expect(run(input)).toBe(ir`
        b0 input f32[b:b, hkv:hkv, g:g, n:n, d:4] "input 'q'"
        b1 input f32[b:b, hkv:hkv, m:n, d:4] "input 'k'"
        b2 input f32[b:b, hkv:hkv, m:n, e:4] "input 'v'"
        b3 input i32[b:b, n:n] "input 'doc'"
        b4 temp f32[b:b, hkv:hkv, g:g, n:n, e:4] "%5 flash o"
        b5 temp f32[b:b, hkv:hkv, g:g, n:n] "%5 flash lse"
        b6 temp u32[b:b] x{"op":"mul","args":["b",{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["n",32]}]} "%5 flash mask blocks"
        b7 temp u32[b:b] x{"op":"mul","args":["b",{"op":"ceildiv","args":["n",32]}]} "%5 flash mask counts"
        b8 temp u32[b:b] x{"op":"mul","args":["b",{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["n",32]}]} "%5 flash mask list"
        mask-classify %5 flash mask classify -> b6 u32[] = classify blocks of and(ge(#a3, #a4), eq(b3[a0,a3], b3[a0,a4])) (32x32)
        mask-compact %5 flash mask compact -> b8 u32[] counts b7 = compact b6[]
        flash %5 flash -> b4 f32[a0=b:b, a1=hkv:hkv, a2=g:g, a3=n:n, a6=e:4] lse b5[a0=b:b, a1=hkv:hkv, a2=g:g, a3=n:n]
          outer[a0=b:b, a1=hkv:hkv, a2=g:g] batch[a0=b:b, a1=hkv:hkv] tiled[a3=n:n] kv[a4=m:n] d[a5=d:4] e[a6=e:4]
          q=b0[a0,a1,a2,a3,a5] k=b1[a0,a1,a4,a5] v=b2[a0,a1,a4,a6]
          score=mul(q·k, $scale) valid=and(ge(#a3, #a4), eq(b3[a0,a3], b3[a0,a4])) kv>=[] kv<=[t+0:i32]
          blocks 32x32 counts b7 list b8
        outputs o=b4, lse=b5
      `);
    });

    it('splits a decode-shaped flash kernel (one static query row, symbolic kv) along kv and combines', () => {
      const input = ir`
        %0 = input "q" : f32[n:1, d:4]
        %1 = input "k" : f32[m:m, d:4]
        %2 = input "v" : f32[m:m, e:2]
        %3 = flash o over m args(%0, %1, %2) : f32[n:1, e:2] {
          %0 = capture 0 : f32[n:1, d:4]
          %1 = capture 1 : f32[m:m, d:4]
          %2 = capture 2 : f32[m:m, e:2]
          %3 = contract(%0, %1) : f32[n:1, m:m]
          %4 = softmax(%3) over m : f32[n:1, m:m]
          %5 = contract(%4, %2) : f32[n:1, e:2]
          %6 = reduce logsumexp(%3) over [m] : f32[n:1]
          outputs o=%5, lse=%6
        }
        outputs o=%3
      `;
      // n = 1 row against an unknown kv length: 16 kv chunks write (max, sum, 2 accumulators) = 4
      // slots each to the partial buffer; the combine kernel writes o.
      expect(run(input)).toBe(ir`
        b0 input f32[n:1, d:4] "input 'q'"
        b1 input f32[m:m, d:4] "input 'k'"
        b2 input f32[m:m, e:2] "input 'v'"
        b3 temp f32[n:1, e:2] "%3 flash o"
        b4 temp f32[n:1, _split:16, _slot:4] "%3 flash split-kv partials"
        flash %3 flash -> b3 f32[a0=n:1, a3=e:2]
          outer[] batch[] tiled[a0=n:1] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
          q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
          score=q·k valid=all kv>=[] kv<=[]
          split 16 -> b4
        flash-combine %3 flash combine -> b3 f32[a0=n:1, a3=e:2] = combine 16 parts of b4[a0,sp,slot]
        outputs o=b3
      `);
    });

  });

  it('names the kernel that cannot fit the storage-buffer limit at all', () => {
    // Every add needs two inputs and an output: 3 bindings can never fit in 2.
    const input = ir`
      %0 = input "a" : f32[i:i]
      %1 = input "b" : f32[i:i]
      %2 = input "c" : f32[i:i]
      %3 = input "d" : f32[i:i]
      %4 = map add(%0, %1) : f32[i:i]
      %5 = map add(%2, %3) : f32[i:i]
      %6 = map add(%4, %5) : f32[i:i]
      outputs out=%6
    `;
    // The split recurses into the widest operand, so the error names the innermost add that fails.
    expect(() => run(input, 2)).toThrow('fuse: kernel %4 add needs more than 2 storage buffers');
  });

  it('splits a materialised subtree that itself binds more storage buffers than the limit', () => {
    // f + ((a + b + c) + (d + e)) with 4 bindings: the widest subtree (five inputs) is split off,
    // and it is too wide itself, so its own widest subtree (a + b + c) is split off first. Every
    // kernel below binds at most 4 buffers (inputs read plus its output).
    const input = ir`
      %0 = input "a" : f32[i:i]
      %1 = input "b" : f32[i:i]
      %2 = input "c" : f32[i:i]
      %3 = input "d" : f32[i:i]
      %4 = input "e" : f32[i:i]
      %5 = input "f" : f32[i:i]
      %6 = map add(%0, %1) : f32[i:i]
      %7 = map add(%6, %2) : f32[i:i]
      %8 = map add(%3, %4) : f32[i:i]
      %9 = map add(%7, %8) : f32[i:i]
      %10 = map add(%5, %9) : f32[i:i]
      outputs out=%10
    `;
    expect(run(input, 4)).toBe(ir`
      b0 input f32[i:i] "input 'a'"
      b1 input f32[i:i] "input 'b'"
      b2 input f32[i:i] "input 'c'"
      b3 input f32[i:i] "input 'd'"
      b4 input f32[i:i] "input 'e'"
      b5 input f32[i:i] "input 'f'"
      b6 temp f32[i:i] "%10 add"
      b7 temp f32[i:i] "%9 add"
      b8 temp f32[i:i] "%7 add"
      elementwise %7 add -> b8 f32[a0=i:i] = add(add(b0[a0], b1[a0]), b2[a0])
      elementwise %9 add -> b7 f32[a0=i:i] = add(b8[a0], add(b3[a0], b4[a0]))
      elementwise %10 add -> b6 f32[a0=i:i] = add(b5[a0], b7[a0])
      outputs out=b6
    `);
  });

  describe('sparse graphs', () => {
    it('runs a segment reduction as a segment kernel over its rows, and the edges\' rows as an ids kernel', () => {
      const input = ir`
        %0 = input "x" : f32[h:h, j:j]
        %1 = input "w" : f32[h:h, e:e]
        %2 = input "rowptr" : i32[r:r]
        %3 = input "col" : i32[e:e]
        %4 = csr(%2, %3) rows i:i cols j : i32[e:e]
        %5 = gather(%0) along j at %4 : f32[h:h, e:e]
        %6 = map mul(%5, %1) : f32[h:h, e:e]
        %7 = segment_reduce max(%6) over e by %4 : f32[h:h, i:i]
        %8 = segment_ids(%4) : i32[e:e]
        outputs m=%7, rows=%8
      `;
      // The CSR node is its col, inlined: x is read at the edge's source col[a2]; each output
      // (a0 = h, a1 = i) folds the edges a2 of row a1, found in rowptr at a1.
      expect(run(input)).toBe(ir`
        b0 input f32[h:h, j:j] "input 'x'"
        b1 input f32[h:h, e:e] "input 'w'"
        b2 input i32[r:r] "input 'rowptr'"
        b3 input i32[e:e] "input 'col'"
        b4 temp f32[h:h, i:i] "%7 segment_reduce"
        b5 temp i32[e:e] "%8 segment_ids"
        segment %7 segment_reduce -> b4 f32[a0=h:h, a1=i:i] = segment max(mul(b0[a0,clamp(b3[a2])], b1[a0,a2])) over a2 by b2[a1]
        segment %8 segment_ids -> b5 i32[a0=e:e] = segment ids over a0 by b2[a1]
        outputs m=b4, rows=b5
      `);
    });
  });
});
