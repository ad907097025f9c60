/**
 * Block-mask classification (for flash masks the analytic kv bounds do not capture): one
 * workgroup per (mask-outer, query tile, kv tile) block, one thread per query row, counting the
 * allowed pairs and classifying the block as empty (0), partial (1) or full (2).
 */
import { sizeProduct } from '../../program/index.ts';
import type { KAxis, KernelIR } from '../kernel-ir.ts';
import type { ElementwiseSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, type Emitted } from './core.ts';
import { forRange } from './loops.ts';

/** The block-mask kernels' shared shape: query/kv tile counts as WGSL expressions. */
export function blockGrid(em: Emitter, k: { tiled: KAxis | null; kv: KAxis; rows: number; kvTile: number; maskOuter: readonly KAxis[] }) {
  const T = k.tiled ? em.size(k.tiled.size) : '1u';
  const M = em.size(k.kv.size);
  return {
    T,
    M,
    qTiles: `((${T} + ${k.rows - 1}u) / ${k.rows}u)`,
    kvTiles: `((${M} + ${k.kvTile - 1}u) / ${k.kvTile}u)`,
    outer: em.product(k.maskOuter.map((a) => a.size)),
  };
}

/** The workgroup size is the block's query rows (the schedule's is the same, by construction). */
export function emitMaskClassify(k: Extract<KernelIR, { kind: 'mask-classify' }>, _s: ElementwiseSchedule, em: Emitter): Emitted {
  const g = blockGrid(em, k);
  const body: Stmt[] = [
    { s: 'let', name: 'kt', value: `wid % ${g.kvTiles}` },
    { s: 'let', name: 'qt', value: `(wid / ${g.kvTiles}) % ${g.qTiles}` },
    { s: 'let', name: 'mo', value: `(wid / ${g.kvTiles}) / ${g.qTiles}` },
    ...em.decompose('mo', k.maskOuter, 'mo'),
    { s: 'let', name: 'trow', value: `qt * ${k.rows}u + lid` },
    { s: 'var', name: 'cnt', type: 'u32', value: '0u' },
    {
      s: 'if',
      cond: `trow < ${g.T}`,
      then: [
        ...(k.tiled ? [{ s: 'let', name: k.tiled.id, value: 'trow' } as Stmt] : []),
        forRange('j', em.opaque(k.kvTile), [
          { s: 'let', name: 'kvi', value: `kt * ${k.kvTile}u + j` },
          { s: 'if', cond: `kvi < ${g.M}`, then: [{ s: 'let', name: k.kv.id, value: 'kvi' }, { s: 'if', cond: em.expr(k.valid), then: [{ s: 'assign', target: 'cnt', op: '+', value: '1u' }] }] },
        ]),
      ],
    },
    { s: 'let', name: 'added', value: 'atomicAdd(&n_valid, cnt)' },
    { s: 'barrier' },
    {
      s: 'if',
      cond: 'lid == 0u',
      then: [
        { s: 'let', name: 'rows_in', value: `min(${g.T} - qt * ${k.rows}u, ${k.rows}u)` },
        { s: 'let', name: 'keys_in', value: `min(${g.M} - kt * ${k.kvTile}u, ${k.kvTile}u)` },
        { s: 'let', name: 'nv', value: 'atomicLoad(&n_valid)' },
        { s: 'assign', target: 'out[wid]', value: 'select(select(1u, 2u, nv == rows_in * keys_in), 0u, nv == 0u)' },
      ],
    },
  ];
  return {
    module: em.module(k.rows, body, [{ name: 'n_valid', type: 'atomic<u32>' }]),
    workgroups: {
      op: 'mul',
      args: [sizeProduct(k.maskOuter.map((a) => a.size)), { op: 'ceildiv', args: [k.tiled?.size ?? 1, k.rows] }, { op: 'ceildiv', args: [k.kv.size, k.kvTile] }],
    },
    em,
  };
}
