/**
 * Block-mask compaction: one thread per (mask-outer, query tile) lists the non-empty kv tiles of
 * its block row (bit 31 set where the block is full) and counts them, for the flash kernel to visit.
 */
import { sizeProduct } from '../../program/index.ts';
import type { KernelIR } from '../kernel-ir.ts';
import type { ElementwiseSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, type Emitted } from './core.ts';
import { forRange } from './loops.ts';
import { blockGrid } from './mask-classify.ts';

export function emitMaskCompact(k: Extract<KernelIR, { kind: 'mask-compact' }>, s: ElementwiseSchedule, em: Emitter): Emitted {
  const wg = s.workgroupSize;
  const g = blockGrid(em, k);
  const blocks = em.buffer(k.blocks.buffer);
  const body: Stmt[] = [
    { s: 'let', name: 'r', value: `wid * ${wg}u + lid` },
    { s: 'if', cond: `r >= ${g.outer} * ${g.qTiles}`, then: [{ s: 'return' }] },
    { s: 'let', name: 'nkt', value: g.kvTiles },
    { s: 'var', name: 'count', type: 'u32', value: '0u' },
    forRange('kt', 'nkt', [
      { s: 'let', name: 'c', value: `${blocks}[r * nkt + kt]` },
      { s: 'if', cond: 'c != 0u', then: [{ s: 'assign', target: 'out[r * nkt + count]', value: 'select(kt, kt | 0x80000000u, c == 2u)' }, { s: 'assign', target: 'count', op: '+', value: '1u' }] },
    ]),
    { s: 'assign', target: 'out1[r]', value: 'count' },
  ];
  return {
    module: em.module(wg, body),
    workgroups: { op: 'ceildiv', args: [{ op: 'mul', args: [sizeProduct(k.maskOuter.map((a) => a.size)), { op: 'ceildiv', args: [k.tiled?.size ?? 1, k.rows] }] }, wg] },
    em,
  };
}
