/**
 * Reduction kernels. The fold — combining op, identity, finalisation — comes from the reduction
 * registry (`dsl/reductions.ts`), so WGSL and the interpreter cannot disagree. Two strategies:
 * `thread`, one thread per output looping over the reduced elements (short reductions), and
 * `workgroup`, one workgroup per output, each thread folding a strided share and a tree
 * reduction through workgroup memory at the end. A split reduction's partial kernel stores its
 * folded chunk unfinalised; its combine kernel finalises with the whole reduction's count.
 */
import { reductionFold, type ReductionFold } from '../../dsl/reductions.ts';
import { xfLiteral } from '../../dsl/nonfinite-wgsl.ts';
import { wgslLiteral } from '../../dsl/scalar-ops.ts';
import type { DType } from '../../dsl/types.ts';
import { isSumOfProducts, type KAxis, type KernelIR } from '../kernel-ir.ts';
import type { ReduceSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, regType, type Emitted } from './core.ts';
import { forRange, strided } from './loops.ts';

/**
 * How the accumulator is carried: plain registers, or `xf` when the folded values may be ±∞ or
 * NaN (the identity of max is then −∞ itself, not −FLT_MAX).
 */
interface Acc {
  readonly type: string;
  readonly init: string;
  /** `acc` combined with one more element `v` (an expression in the accumulator's form). */
  combine(acc: string, v: string): string;
  /** One element of the reduced value, in the accumulator's form. */
  element(): string;
  /** The stored result from the folded accumulator and the reduced element count (a u32 expression). */
  finalise(acc: string, count: string): string;
}

export function accumulator(em: Emitter, k: Extract<KernelIR, { kind: 'reduce' }>, registered: ReductionFold): Acc {
  const d = k.out.dtype;
  // A partial result is finalised by the combine kernel, once.
  const { finalise: _, ...unfinalised } = registered;
  const fold: ReductionFold = k.split?.stage === 'partial' ? unfinalised : registered;
  if (d === 'f32' && em.special(k.value)) {
    em.useHelpers(['xf']);
    return {
      type: 'xf',
      init: xfLiteral(fold.identity(d)),
      combine: (acc, v) => em.xop(fold.combine, [acc, v], [d, d]),
      element: () => em.xexpr(k.value),
      finalise: (acc, count) => em.bits(fold.finalise ? em.xop(fold.finalise, [acc, `xf(f32(${count}), 0u)`], [d, d]) : acc),
    };
  }
  return {
    type: regType(d),
    init: wgslLiteral(fold.identity(d), d),
    combine: (acc, v) => em.op(fold.combine, [acc, v], [d, d]),
    element: () => em.expr(k.value),
    finalise: (acc, count) => (fold.finalise ? em.op(fold.finalise, [acc, d === 'f32' ? `f32(${count})` : `${regType(d)}(${count})`], [d, d]) : acc),
  };
}

/** The product of axes' extents as a u32 expression (a parts axis as ⌈size / chunk⌉). */
function extents(em: Emitter, axes: readonly KAxis[]): string {
  const whole = em.product(axes.filter((a) => a.chunk === undefined).map((a) => a.size));
  const parts = axes.filter((a) => a.chunk !== undefined).map((a) => `((${em.size(a.size)} + ${a.chunk! - 1}u) / ${a.chunk}u)`);
  const factors = whole === '1u' && parts.length > 0 ? parts : [whole, ...parts];
  return factors.length === 1 ? factors[0]! : `(${factors.join(' * ')})`;
}

/**
 * A sum of products is a contraction written as a reduction (a dot product, a fused n-ary
 * contraction): like a GEMM it multiplies and adds on the device's IEEE arithmetic, its operands
 * read from input tensors plain (`Emitter.products`).
 */
export function emitReduce(k: Extract<KernelIR, { kind: 'reduce' }>, s: ReduceSchedule, em: Emitter): Emitted {
  return isSumOfProducts(k) ? em.withNonFinite(em.products, () => emitFold(k, s, em)) : emitFold(k, s, em);
}

function emitFold(k: Extract<KernelIR, { kind: 'reduce' }>, s: ReduceSchedule, em: Emitter): Emitted {
  const fold = reductionFold(k.fn);
  const outCount = extents(em, k.out.axes);
  const redCount = extents(em, k.reduced);
  // What the finaliser divides by: the elements folded, or for a combine, those of the whole reduction.
  const count = k.split?.stage === 'combine' ? em.product(k.split.count) : redCount;
  const wg = s.workgroupSize;
  /** Folds the reduced elements the loop `r` visits into `acc`. */
  const acc = accumulator(em, k, fold);
  const foldInto = (): Stmt[] => [...em.decompose('r', k.reduced, 'r'), { s: 'assign', target: 'acc', value: acc.combine('acc', acc.element()) }];
  if (s.strategy === 'thread') {
    const body: Stmt[] = [
      ...em.flatIndex('o', `wid * ${wg}u + lid`, k.out.axes, outCount),
      ...em.decompose('o', k.out.axes, 'o'),
      { s: 'var', name: 'acc', type: acc.type, value: acc.init },
      forRange('r', redCount, foldInto()),
      { s: 'assign', target: em.at(k.out.buffer, 'o'), value: acc.finalise('acc', count) },
    ];
    return { module: em.module(wg, body), workgroups: { op: 'ceildiv', args: [em.extent(k.out.axes), wg] }, em };
  }
  // One workgroup per output: `wid` is the output's flat index, or counts the chunk's outputs.
  const o = em.chunked(k.out.axes) ? 'o' : 'wid';
  const body: Stmt[] = [
    ...(o === 'o' ? em.flatIndex('o', 'wid', k.out.axes) : []),
    ...em.decompose(o, k.out.axes, 'o'),
    { s: 'var', name: 'acc', type: acc.type, value: acc.init },
    strided('r', redCount, wg, foldInto()),
    { s: 'assign', target: 'partial[lid]', value: 'acc' },
    { s: 'barrier' },
    {
      s: 'for',
      init: `var half = ${wg >> 1}u`,
      cond: 'half > 0u',
      update: 'half = half >> 1u',
      body: [
        { s: 'if', cond: 'lid < half', then: [{ s: 'assign', target: 'partial[lid]', value: acc.combine('partial[lid]', 'partial[lid + half]') }] },
        { s: 'barrier' },
      ],
    },
    { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: em.at(k.out.buffer, o), value: acc.finalise('partial[0]', count) }] },
  ];
  return {
    module: em.module(wg, body, [{ name: 'partial', type: `array<${acc.type}, ${wg}>` }]),
    workgroups: em.extent(k.out.axes),
    em,
  };
}
