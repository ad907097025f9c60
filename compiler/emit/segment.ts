/**
 * The segment kernel (`SegmentKernel`): one thread per output element folds the edges of its target
 * row, `rowptr[row] .. rowptr[row + 1]`, with the registry's fold for the reduction (the same
 * accumulator as the reduce kernel, `xf` where values may be non-finite); a row without edges gets
 * the empty result (sum and mean 0, max −∞, min +∞). With `fn` `ids` one thread per row writes the
 * row into each of its edges. Work per thread follows the row's degree: graph attention, which
 * must not let one heavy row serialise a dispatch, has its own edge-balanced kernel.
 */
import { reductionFold } from '../../dsl/reductions.ts';
import { wgslLiteral } from '../../dsl/scalar-ops.ts';
import { sizeProduct } from '../../program/index.ts';
import type { KernelIR, SegmentKernel } from '../kernel-ir.ts';
import type { ElementwiseSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, type Emitted } from './core.ts';
import { accumulator } from './reduce.ts';

export function emitSegment(k: SegmentKernel, s: ElementwiseSchedule, em: Emitter): Emitted {
  const NT = s.workgroupSize;
  const rowptr = (at: string) => `u32(${em.at(k.rowptr.buffer, at)})`;
  const edges = (body: Stmt[]): Stmt => ({ s: 'for', init: 'var ed = rb', cond: 'ed < re', update: 'ed += 1u', body: [{ s: 'let', name: k.edge.id, value: 'ed' }, ...body] });
  const bounds = (row: string): Stmt[] => [
    { s: 'let', name: 'rb', value: rowptr(row) },
    { s: 'let', name: 're', value: rowptr(`${row} + 1u`) },
  ];
  if (k.fn === 'ids') {
    const N = em.size(k.row.size);
    const body: Stmt[] = [
      { s: 'let', name: 'gid', value: `wid * ${NT}u + lid` },
      { s: 'if', cond: `gid >= ${N}`, then: [{ s: 'return' }] },
      ...bounds('gid'),
      edges([{ s: 'assign', target: em.at(k.out.buffer, 'ed'), value: 'i32(gid)' }]),
    ];
    return { module: em.module(NT, body), workgroups: { op: 'ceildiv', args: [k.row.size, NT] }, em };
  }
  const total = em.product(k.out.axes.map((a) => a.size));
  const reduce: Extract<KernelIR, { kind: 'reduce' }> = { kind: 'reduce', name: k.name, fn: k.fn, out: k.out, reduced: [k.edge], value: k.value! };
  const acc = accumulator(em, reduce, reductionFold(k.fn));
  const folded = acc.finalise('acc', 're - rb');
  const d = k.out.dtype;
  // What a row without edges gets (the plain accumulator starts max and min at the finite extremes).
  const empty = k.fn === 'max' && d === 'f32' ? em.negInfinity() : k.fn === 'min' && d === 'f32' ? em.posInfinity() : wgslLiteral(reductionFold(k.fn).identity(d), d);
  const body: Stmt[] = [
    { s: 'let', name: 'gid', value: `wid * ${NT}u + lid` },
    { s: 'if', cond: `gid >= ${total}`, then: [{ s: 'return' }] },
    ...em.decompose('gid', k.out.axes, 'o'),
    ...bounds(k.row.id),
    { s: 'var', name: 'acc', type: acc.type, value: acc.init },
    edges([{ s: 'assign', target: 'acc', value: acc.combine('acc', acc.element()) }]),
    {
      s: 'assign',
      target: em.at(k.out.buffer, em.offset(k.out.axes.map((a) => ({ size: a.size, index: a.id })))),
      value: `select(${empty}, ${folded}, re > rb)`,
    },
  ];
  return { module: em.module(NT, body), workgroups: { op: 'ceildiv', args: [sizeProduct(k.out.axes.map((a) => a.size)), NT] }, em };
}
