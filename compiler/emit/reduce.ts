/**
 * Reduction kernels. The fold — combining op, identity, finalisation — comes from the reduction
 * registry (`dsl/reductions.ts`), so WGSL and the interpreter cannot disagree. Two strategies:
 * `thread`, one thread per output looping over the reduced elements (short reductions), and
 * `workgroup`, one workgroup per output, each thread folding a strided share and a tree
 * reduction through workgroup memory at the end.
 */
import { reductionFold, type ReductionFold } from '../../dsl/reductions.ts';
import { wgslLiteral } from '../../dsl/scalar-ops.ts';
import type { DType } from '../../dsl/types.ts';
import { sizeProduct } from '../../program/index.ts';
import type { KernelIR } from '../kernel-ir.ts';
import type { ReduceSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, regType, type Emitted } from './core.ts';
import { forRange, strided } from './loops.ts';

/** The accumulator's start: the fold's identity (±Infinity becomes the finite ±FLT_MAX). */
function accInit(fold: ReductionFold, d: DType): string {
  return wgslLiteral(fold.identity(d), d);
}

/** `acc` combined with one more element `v`. */
function accCombine(em: Emitter, fold: ReductionFold, d: DType, acc: string, v: string): string {
  return em.op(fold.combine, [acc, v], [d, d]);
}

/** The result from the folded accumulator and the reduced element count (a u32 expression). */
function accFinalise(fold: ReductionFold, acc: string, count: string): string {
  return fold.finalise ? fold.finalise.wgsl(acc, count) : acc;
}

export function emitReduce(k: Extract<KernelIR, { kind: 'reduce' }>, s: ReduceSchedule): Emitted {
  const em = new Emitter(k);
  const fold = reductionFold(k.fn);
  const d = k.out.dtype;
  const outCount = em.product(k.out.axes.map((a) => a.size));
  const redCount = em.product(k.reduced.map((a) => a.size));
  const wg = s.workgroupSize;
  /** Folds the reduced elements the loop `r` visits into `acc`. */
  const foldInto = (): Stmt[] => [...em.decompose('r', k.reduced, 'r'), { s: 'assign', target: 'acc', value: accCombine(em, fold, d, 'acc', em.expr(k.value)) }];
  if (s.strategy === 'thread') {
    const body: Stmt[] = [
      { s: 'let', name: 'o', value: `wid * ${wg}u + lid` },
      { s: 'if', cond: `o >= ${outCount}`, then: [{ s: 'return' }] },
      ...em.decompose('o', k.out.axes, 'o'),
      { s: 'var', name: 'acc', type: regType(d), value: accInit(fold, d) },
      forRange('r', redCount, foldInto()),
      { s: 'assign', target: 'out[o]', value: accFinalise(fold, 'acc', redCount) },
    ];
    return { module: em.module(wg, body), workgroups: { op: 'ceildiv', args: [sizeProduct(k.out.axes.map((a) => a.size)), wg] }, em };
  }
  const body: Stmt[] = [
    ...em.decompose('wid', k.out.axes, 'o'),
    { s: 'var', name: 'acc', type: regType(d), value: accInit(fold, d) },
    strided('r', redCount, wg, foldInto()),
    { s: 'assign', target: 'partial[lid]', value: 'acc' },
    { s: 'barrier' },
    {
      s: 'for',
      init: `var half = ${wg >> 1}u`,
      cond: 'half > 0u',
      update: 'half = half >> 1u',
      body: [
        { s: 'if', cond: 'lid < half', then: [{ s: 'assign', target: 'partial[lid]', value: accCombine(em, fold, d, 'partial[lid]', 'partial[lid + half]') }] },
        { s: 'barrier' },
      ],
    },
    { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: 'out[wid]', value: accFinalise(fold, 'partial[0]', redCount) }] },
  ];
  return {
    module: em.module(wg, body, [{ name: 'partial', type: `array<${regType(d)}, ${wg}>` }]),
    workgroups: sizeProduct(k.out.axes.map((a) => a.size)),
    em,
  };
}
