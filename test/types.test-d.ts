/**
 * Type-level tests: the mistakes the DSL promises to catch in the editor are compile errors, and
 * result types carry the right axis names and dtypes. Run by `vitest` in typecheck mode (tsc); a
 * `@ts-expect-error` whose line compiles fails the run, so each negative case is checked too.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { einsum } from '../dsl/einsum.ts';
import { f32, i32, kernel, param, type Kernel } from '../dsl/kernel.ts';
import { add, exp, gather, ge, iota, logSoftmax, lt, mean, mul, softmax, sum, toF32, transpose, where } from '../dsl/ops.ts';
import type { Axes, Tensor } from '../dsl/tensor.ts';
import { segmentMax, segmentSoftmax, segmentSum, type Csr } from '../dsl/csr.ts';

declare const mk: Tensor<readonly ['m', 'k'], 'f32'>;
declare const kn: Tensor<readonly ['k', 'n'], 'f32'>;
declare const bmk: Tensor<readonly ['b', 'm', 'k'], 'f32'>;
declare const mkn: Tensor<readonly ['m', 'k', 'n'], 'f32'>;
declare const counts: Tensor<readonly ['m', 'k'], 'i32'>;
declare const table: Tensor<readonly ['h', 'r'], 'f32'>;
declare const index: Tensor<readonly ['n', 'm'], 'i32'>;

describe('reductions', () => {
  it('sum removes the summed axis', () => {
    expectTypeOf(sum(mkn, 'k')).toEqualTypeOf<Tensor<readonly ['m', 'n'], 'f32'>>();
    expectTypeOf(sum(mkn, ['m', 'n'])).toEqualTypeOf<Tensor<readonly ['k'], 'f32'>>();
    expectTypeOf(sum(counts, 'm')).toEqualTypeOf<Tensor<readonly ['k'], 'i32'>>();
  });

  it('summing over an axis the tensor lacks does not compile', () => {
    // @ts-expect-error 'z' is not an axis of mkn
    sum(mkn, 'z');
    // @ts-expect-error 'z' is not an axis of mkn
    sum(mkn, ['m', 'z']);
    // @ts-expect-error 'n' is not an axis of mk
    softmax(mk, 'n');
  });

  it('mean needs f32', () => {
    expectTypeOf(mean(mk, 'k')).toEqualTypeOf<Tensor<readonly ['m'], 'f32'>>();
    // @ts-expect-error mean of an i32 tensor
    mean(counts, 'k');
  });
});

describe('gather', () => {
  it('replaces the gathered axis by the index axes', () => {
    expectTypeOf(gather(table, 'r', index)).toEqualTypeOf<Tensor<readonly ['h', 'n', 'm'], 'f32'>>();
    // @ts-expect-error 'z' is not an axis of the table
    gather(table, 'z', index);
    // @ts-expect-error the index must be i32
    gather(table, 'r', mk);
  });
});

describe('einsum', () => {
  it('names the result axes after the output letters', () => {
    expectTypeOf(einsum('mk,kn->mn', mk, kn)).toEqualTypeOf<Tensor<readonly ['m', 'n'], 'f32'>>();
    expectTypeOf(einsum('bmk,kn->bnm', bmk, kn)).toEqualTypeOf<Tensor<readonly ['b', 'n', 'm'], 'f32'>>();
    expectTypeOf(einsum('mk,mk->', mk, mk)).toEqualTypeOf<Tensor<readonly [], 'f32'>>();
  });

  it('the wrong number of operands does not compile', () => {
    // @ts-expect-error one operand for a two-operand spec
    einsum('mk,kn->mn', mk);
    // @ts-expect-error three operands for a two-operand spec
    einsum('mk,kn->mn', mk, kn, kn);
  });

  it('an operand of the wrong rank does not compile', () => {
    // @ts-expect-error bmk has rank 3 but 'mk' names 2 axes
    einsum('mk,kn->mn', bmk, kn);
    // @ts-expect-error mk has rank 2 but 'bmk' names 3 axes
    einsum('bmk,kn->bmn', mk, kn);
  });

  it('a spec with an ellipsis accepts any rank and gives untyped axes', () => {
    expectTypeOf(einsum('...k,kn->...n', bmk, kn)).toEqualTypeOf<Tensor<Axes, 'f32'>>();
  });
});

describe('elementwise dtypes', () => {
  it('adding an f32 tensor to an i32 tensor does not compile; a cast fixes it', () => {
    // @ts-expect-error f32 + i32
    add(mk, counts);
    // @ts-expect-error i32 < f32
    lt(counts, mk);
    expectTypeOf(add(mk, toF32(counts))).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'f32'>>();
  });

  it('exp of an i32 tensor does not compile', () => {
    // @ts-expect-error exp needs f32
    exp(counts);
    expectTypeOf(exp(mk)).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'f32'>>();
  });

  it('broadcasting by name appends the axes the first operand lacks', () => {
    expectTypeOf(mul(mk, kn)).toEqualTypeOf<Tensor<readonly ['m', 'k', 'n'], 'f32'>>();
    expectTypeOf(add(counts, 1)).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'i32'>>();
  });

  it('comparisons give bool; where keeps the value dtype', () => {
    const mask = ge(iota(mk, 'm'), iota(mk, 'k'));
    expectTypeOf(mask).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'bool'>>();
    expectTypeOf(where(mask, mk, 0)).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'f32'>>();
    expectTypeOf(where(mask, 0, mk)).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'f32'>>();
    // @ts-expect-error the condition must be bool
    where(mk, mk, 0);
    // @ts-expect-error the two branches have different dtypes
    where(mask, mk, counts);
  });

  it('transpose gives the requested order and rejects unknown axes', () => {
    expectTypeOf(transpose(mk, ['k', 'm'])).toEqualTypeOf<Tensor<readonly ['k', 'm'], 'f32'>>();
    // @ts-expect-error 'n' is not an axis of mk
    transpose(mk, ['n', 'm']);
    expectTypeOf(logSoftmax(mk, 'k')).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'f32'>>();
  });
});

describe('kernels', () => {
  it('a body receives typed tensors; a bare param() is an f32 scalar', () => {
    kernel('k', { a: f32('m', 'k'), n: i32('m'), s: param(), p: param('i32') }, ({ a, n, s, p }) => {
      expectTypeOf(a).toEqualTypeOf<Tensor<readonly ['m', 'k'], 'f32'>>();
      expectTypeOf(n).toEqualTypeOf<Tensor<readonly ['m'], 'i32'>>();
      expectTypeOf(s).toEqualTypeOf<Tensor<readonly [], 'f32'>>();
      expectTypeOf(p).toEqualTypeOf<Tensor<readonly [], 'i32'>>();
      return mul(a, s);
    });
  });

  it('a specific kernel is a Kernel, and inlining it checks its inputs', () => {
    const scale = kernel('scale', { x: f32('i') }, ({ x }) => mul(x, 2));
    expectTypeOf(scale).toMatchTypeOf<Kernel>();
    kernel('outer', { y: f32('i'), z: i32('i') }, ({ y, z }) => {
      expectTypeOf(scale({ x: y })).toEqualTypeOf<Tensor<readonly ['i'], 'f32'>>();
      // @ts-expect-error x must be an f32 tensor
      return scale({ x: z });
    });
  });
});

declare const g: Csr<'e', 'i'>;
declare const messages: Tensor<readonly ['h', 'c', 'e'], 'f32'>;
declare const scores: Tensor<readonly ['h', 'e'], 'f32'>;
declare const edgeCounts: Tensor<readonly ['e'], 'i32'>;

describe('sparse graphs', () => {
  it('segment reductions put the target axis where the edge axis was', () => {
    expectTypeOf(segmentSum(messages, g)).toEqualTypeOf<Tensor<readonly ['h', 'c', 'i'], 'f32'>>();
    expectTypeOf(segmentMax(edgeCounts, g)).toEqualTypeOf<Tensor<readonly ['i'], 'i32'>>();
    expectTypeOf(segmentSoftmax(scores, g)).toEqualTypeOf<Tensor<readonly ['h', 'e'], 'f32'>>();
    expectTypeOf(g.row).toEqualTypeOf<Tensor<readonly ['e'], 'i32'>>();
  });
  it('a tensor without the edge axis, or a softmax of integers, does not compile', () => {
    // @ts-expect-error mk has no edge axis 'e'
    segmentSum(mk, g);
    // @ts-expect-error a segment softmax needs f32
    segmentSoftmax(edgeCounts, g);
  });
});
