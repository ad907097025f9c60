/**
 * Tracing, pinned as printed IR, and every user mistake the DSL and the kernel boundary catch,
 * pinned as the exact message the user reads.
 */
import { describe, expect, it } from 'vitest';
import { expectError } from './helpers.ts';
import { bindSymbols } from '../dsl/bind.ts';
import { einsum } from '../dsl/einsum.ts';
import { interpretKernel } from '../interpreter/interpret.ts';
import { f32, i32, kernel, param } from '../dsl/kernel.ts';
import * as ops from '../dsl/ops.ts';
import { printGraph } from '../dsl/print.ts';
import type { Tensor } from '../dsl/tensor.ts';

const lines = (...text: string[]) => text.join('\n');

describe('printed IR of traced kernels', () => {
  const matmul = kernel('matmul', { a: f32('m', 'k'), b: f32('k', 'n') }, ({ a, b }) => einsum('mk,kn->mn', a, b));

  it('einsum over named axes is one contraction; sizes are symbols', () => {
    expect(printGraph(matmul.trace())).toBe(
      lines(
        '%0 = input "a" : f32[m:m, k:k]',
        '%1 = input "b" : f32[k:k, n:n]',
        '%2 = contract(%0, %1) : f32[m:m, n:n]',
        'outputs out=%2',
      ),
    );
  });

  it('pinning a symbol specialises its size everywhere', () => {
    expect(printGraph(matmul.trace({ sizes: { k: 64 } }))).toBe(
      lines(
        '%0 = input "a" : f32[m:m, k:64]',
        '%1 = input "b" : f32[k:64, n:n]',
        '%2 = contract(%0, %1) : f32[m:m, n:n]',
        'outputs out=%2',
      ),
    );
  });

  it('causal attention with a parameter, iota masks, a softmax composite and two outputs', () => {
    const attention = kernel('attention', { q: f32('n', 'd'), k: f32('m', 'd'), v: f32('m', 'e'), scale: param() }, ({ q, k, v, scale }) => {
      const s = ops.mul(einsum('nd,md->nm', q, k), scale);
      const causal = ops.ge(ops.iota(s, 'n'), ops.iota(s, 'm'));
      const p = ops.softmax(ops.where(causal, s, -Infinity), 'm');
      return { o: einsum('nm,me->ne', p, v), lse: ops.logsumexp(s, 'm') };
    });
    expect(printGraph(attention.trace())).toBe(
      lines(
        '%0 = input "q" : f32[n:n, d:d]',
        '%1 = input "k" : f32[m:m, d:d]',
        '%2 = input "v" : f32[m:m, e:e]',
        '%3 = param "scale" : f32[]',
        '%4 = contract(%0, %1) : f32[n:n, m:m]',
        '%5 = map mul(%4, %3) : f32[n:n, m:m]',
        '%6 = iota : i32[n:n]',
        '%7 = iota : i32[m:m]',
        '%8 = map ge(%6, %7) : bool[n:n, m:m]',
        '%9 = const -Infinity : f32[]',
        '%10 = map where(%8, %5, %9) : f32[n:n, m:m]',
        '%11 = softmax(%10) over m : f32[n:n, m:m]',
        '%12 = contract(%11, %2) : f32[n:n, e:e]',
        '%13 = reduce logsumexp(%5) over [m] : f32[n:n]',
        'outputs o=%12, lse=%13',
      ),
    );
  });

  it('a loop body with a carried value and a captured tensor', () => {
    const iterate = kernel('iterate', { x: f32('i'), c: f32('i') }, ({ x, c }) => ops.loop(3, [x], (y) => [ops.add(ops.mul(y, 2), c)])[0]);
    expect(printGraph(iterate.trace())).toBe(
      lines(
        '%0 = input "x" : f32[i:i]',
        '%1 = input "c" : f32[i:i]',
        '%2 = loop 3 init(%0) captures(%1) : f32[i:i] {',
        '  %0 = carry 0 : f32[i:i]',
        '  %1 = const 2 : f32[]',
        '  %2 = map mul(%0, %1) : f32[i:i]',
        '  %3 = capture 0 : f32[i:i]',
        '  %4 = map add(%2, %3) : f32[i:i]',
        '  outputs 0=%4',
        '}',
        '%3 = loop_result %2[0] : f32[i:i]',
        'outputs out=%3',
      ),
    );
  });

  it('einsum takes a diagonal with relabel and names ellipsis dimensions _0, _1, ...', () => {
    const trace = kernel('trace', { a: f32('i', 'j').pin({ j: 'i' }) }, ({ a }) => einsum('ii->', a));
    expect(printGraph(trace.trace())).toBe(
      lines('%0 = input "a" : f32[i:i, j:i]', '%1 = relabel(%0) as [i, i] : f32[i:i]', '%2 = contract(%1) : f32[]', 'outputs out=%2'),
    );
    const batched = kernel('matvec', { a: f32('b', 'i', 'j'), x: f32('j') }, ({ a, x }) => einsum('...ij,j->...i', a, x));
    expect(printGraph(batched.trace())).toBe(
      lines(
        '%0 = input "a" : f32[b:b, i:i, j:j]',
        '%1 = input "x" : f32[j:j]',
        '%2 = relabel(%0) as [_0, i, j] : f32[_0:b, i:i, j:j]',
        '%3 = contract(%2, %1) : f32[_0:b, i:i]',
        'outputs out=%3',
      ),
    );
  });
});

describe('errors at trace time', () => {
  it('gather: a missing axis, a non-i32 index, an index with the gathered axis, clashing sizes', () => {
    const tables = { t: f32('h', 'r'), x: f32('n'), y: f32('h2', 'r').pin({ h2: 5 }) };
    const untyped = ops.gather as unknown as (t: Tensor, axis: string, i: Tensor) => Tensor;
    const trace = (body: (t: Record<string, Tensor>) => Tensor) => () => kernel('g', tables, body as never).trace();
    expectError(trace(({ t, x }) => untyped(t!, 'z', ops.iota(x!, 'n'))), "gather: table has no axis 'z'; its axes are [h, r]");
    expectError(trace(({ t, x }) => untyped(t!, 'r', x!)), 'gather: the index must be i32, got f32');
    expectError(trace(({ t }) => untyped(t!, 'r', ops.iota(t!, 'r'))), "gather: the index must not have the gathered axis 'r'; rename it first");
    const idx = kernel('g', { t: f32('h', 'r'), i: i32('h').pin({ h: 3 }) }, ({ t, i }) => ops.gather(t, 'r', i));
    expectError(() => idx.trace({ sizes: { h: 2 } }), "gather: conflicting sizes for axis 'h': 2 in operand 0 and 3 in operand 1");
  });

  it('einsum: an operand whose rank does not match its term', () => {
    const k = kernel('k', { a: f32('b', 'i', 'j'), w: f32('j', 'k') }, ({ a, w }) => einsum('ij,jk->ik', a as never, w));
    expectError(() => k.trace(), "einsum: operand 0 has rank 3 but 'ij' names 2 axes");
  });

  it('einsum: too few operands, and fewer axes than letters beside an ellipsis', () => {
    const untyped = einsum as unknown as (spec: string, ...operands: Tensor[]) => Tensor;
    expectError(() => kernel('k', { a: f32('i', 'j') }, ({ a }) => untyped('ij,jk->ik', a)).trace(), "einsum: 'ij,jk->ik' names 2 operand(s) but 1 were given");
    expectError(() => kernel('k', { a: f32('i') }, ({ a }) => untyped('...ij->i', a)).trace(), 'einsum: operand 0 has rank 1, fewer than the 2 letters of its term');
  });

  it('einsum: one letter bound to two different sizes', () => {
    const k = kernel('k', { a: f32('i', 'j'), b: f32('k', 'l') }, ({ a, b }) => einsum('ij,jk->ik', a, b));
    expectError(() => k.trace(), "einsum: letter 'j' has size j in operand 0 and k in operand 1");
  });

  describe('einsum strings that do not parse', () => {
    const untyped = einsum as unknown as (spec: string, ...operands: Tensor[]) => Tensor;
    const cases: [string, string][] = [
      ['ij,j$->i', "einsum: cannot parse 'ij,j$->i': unexpected '$' (use letters a-z, A-Z, ',', '->' and '...')"],
      ['ij->j->i', "einsum: cannot parse 'ij->j->i': more than one '->'"],
      ['ij,jk->ii', "einsum: cannot parse 'ij,jk->ii': output letter 'i' appears twice"],
      ['ij,jk->iz', "einsum: cannot parse 'ij,jk->iz': output letter 'z' is in no operand"],
      ['i...j...->ij', "einsum: cannot parse 'i...j...->ij': 'i...j...' has more than one '...'"],
      ['->i', "einsum: cannot parse '->i': no operand terms before '->'"],
    ];
    for (const [spec, message] of cases) {
      it(spec, () => {
        expectError(() => kernel('k', { a: f32('i', 'j') }, ({ a }) => untyped(spec, a)).trace(), message);
      });
    }
  });

  it('map: same-named axes with different static sizes do not broadcast', () => {
    const k = kernel('k', { a: f32('i').pin({ i: 3 }), b: f32('i').pin({ i: 4 }) }, ({ a, b }) => ops.add(a, b));
    expectError(() => k.trace(), "add: conflicting sizes for axis 'i': 3 in operand 0 and 4 in operand 1");
  });

  it('map: same-named axes sized by different symbols do not broadcast', () => {
    const k = kernel('k', { a: f32('i'), b: f32('i').pin({ i: 'n' }) }, ({ a, b }) => ops.mul(a, b));
    expectError(() => k.trace(), "mul: conflicting sizes for axis 'i': i in operand 0 and n in operand 1");
  });

  it('wrong dtype: exp of an i32 tensor (past the static check)', () => {
    const k = kernel('k', { a: i32('i') }, ({ a }) => ops.exp(a as never));
    expectError(() => k.trace(), 'exp: needs f32 operands, got i32');
  });

  it('wrong dtype: adding f32 and i32 tensors', () => {
    const k = kernel('k', { a: f32('i'), n: i32('i') }, ({ a, n }) => ops.add(a, n as never));
    expectError(() => k.trace(), 'add: operand dtypes f32 and i32 differ; cast one operand first (toF32, toI32, toU32)');
  });

  it('a reduction or composite over an axis the tensor lacks', () => {
    expectError(() => kernel('k', { a: f32('i', 'j') }, ({ a }) => ops.sum(a, 'k' as never)).trace(), "sum: tensor has no axis 'k'; its axes are [i, j]");
    expectError(() => kernel('k', { a: f32('i', 'j') }, ({ a }) => ops.softmax(a, 'k' as never)).trace(), "softmax: tensor has no axis 'k'; its axes are [i, j]");
  });

  it('a NaN constant, a NaN epsilon, and a loop that changes a carried type', () => {
    expectError(() => kernel('k', { a: f32('i') }, ({ a }) => ops.add(a, NaN)).trace(), 'add: operand must be a tensor or a number, got NaN');
    expectError(() => kernel('k', { a: f32('i') }, ({ a }) => ops.layerNorm(a, 'i', NaN)).trace(), 'layerNorm: eps must be a finite number >= 0, got NaN');
    const k = kernel('k', { x: f32('i'), y: f32('j') }, ({ x, y }) => ops.loop(2, [x], () => [y as never])[0]);
    expectError(() => k.trace(), 'loop: carried tensor 0 must keep its type; it enters as f32[i:i] and leaves as f32[j:j]');
  });

  it('ops outside a kernel trace', () => {
    expectError(() => ops.exp(null as never), "exp: tensors exist only while a kernel is traced; build them inside kernel(...)'s body");
  });
});

describe('errors at the kernel boundary', () => {
  const add = kernel('add', { x: f32('n'), y: f32('n') }, ({ x, y }) => ops.add(x, y));
  const one = { shape: [1], data: [1] };

  it('one symbol bound to two sizes (bindSymbols, and through the interpreter)', () => {
    expectError(
      () =>
        bindSymbols(
          [
            { name: 'x', dtype: 'f32', axes: ['i'], shape: ['n'] },
            { name: 'y', dtype: 'f32', axes: ['j'], shape: ['n'] },
          ],
          { x: { shape: [3] }, y: { shape: [4] } },
        ),
      "conflicting sizes for 'n': 3 from input 'x' (axis 'i') and 4 from input 'y' (axis 'j')",
    );
    expectError(
      () => interpretKernel(add, { x: { shape: [3], data: [1, 2, 3] }, y: { shape: [4], data: [1, 2, 3, 4] } }),
      "conflicting sizes for 'n': 3 from input 'x' (axis 'n') and 4 from input 'y' (axis 'n')",
    );
  });

  it('a pinned size the input does not have, and a wrong rank', () => {
    expectError(
      () => interpretKernel(add, { x: { shape: [3], data: [1, 2, 3] }, y: { shape: [3], data: [1, 2, 3] } }, { sizes: { n: 4 } }),
      "input 'x': axis 'n' must have size 4 but has 3",
    );
    const neg = kernel('neg', { x: f32('i', 'j') }, ({ x }) => ops.neg(x));
    expectError(() => interpretKernel(neg, { x: { shape: [6], data: [1, 2, 3, 4, 5, 6] } }), "input 'x' must have rank 2 (axes [i, j]) but has shape [6]");
    expectError(() => interpretKernel(add, { x: { shape: [0], data: [] }, y: { shape: [0], data: [] } }), "input 'x': axis 'n' has size 0; sizes must be whole numbers >= 1");
  });

  it('wrong dtype: an Int32Array, an i32 tag or booleans for an f32 input', () => {
    expectError(() => interpretKernel(add, { x: { shape: [2], data: new Int32Array(2) }, y: { shape: [2], data: [1, 2] } }), "input 'x' must be f32 but a Int32Array was given");
    expectError(() => interpretKernel(add, { x: { shape: [2], data: [1, 2], dtype: 'i32' }, y: { shape: [2], data: [1, 2] } }), "input 'x' must be f32 but has dtype i32");
    expectError(() => interpretKernel(add, { x: { shape: [2], data: [true, false] }, y: { shape: [2], data: [1, 2] } }), "input 'x' must be f32 but holds booleans");
  });

  it('wrong data length', () => {
    const neg = kernel('neg', { x: f32('i', 'j') }, ({ x }) => ops.neg(x));
    expectError(() => interpretKernel(neg, { x: { shape: [2, 3], data: [1, 2, 3, 4, 5] } }), "input 'x' has shape [2, 3] (6 elements) but 5 values");
  });

  it('unknown and missing inputs', () => {
    expectError(() => interpretKernel(add, { x: one, y: one, z: one }), "unknown input 'z'; the inputs are x, y");
    expectError(() => interpretKernel(add, { x: one }), "input 'y' is missing");
  });

  it('missing, NaN, unknown and non-integral parameters', () => {
    const scale = kernel('scale', { x: f32('i'), s: param() }, ({ x, s }) => ops.mul(x, s));
    expectError(() => interpretKernel(scale, { x: one }), "parameter 's' is missing");
    expectError(() => interpretKernel(scale, { x: one }, { params: { s: NaN } }), "parameter 's' must be a number, got NaN");
    expectError(() => interpretKernel(scale, { x: one }, { params: { s: 1, t: 2 } }), "unknown parameter 't'; the parameters are s");
    const shift = kernel('shift', { x: i32('i'), n: param('i32') }, ({ x, n }) => ops.add(x, n));
    expectError(() => interpretKernel(shift, { x: one }, { params: { n: 1.5 } }), "parameter 'n' is 1.5, which an i32 cannot hold (whole numbers in [-2147483648, 2147483647])");
  });

  it('an unknown interpreter precision', () => {
    expectError(() => interpretKernel(add, { x: one, y: one }, { precision: 'f16' as never }), "interpret: precision must be 'f64' or 'f32', got 'f16'");
  });

  it('a symbol no input binds', () => {
    const k = kernel('k', { x: f32('i') }, () => ops.iotaOf('t', 'T'));
    expectError(() => interpretKernel(k, { x: one }), "size 'T' is not bound by any input");
  });
});
