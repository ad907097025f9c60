/**
 * The flash kernel, FlashAttention-2 style: a workgroup owns `rows` query rows of one outer index
 * on `threads` threads, each the owner of the rows congruent to it. Per kv tile the threads
 * compute the score tile Q·Kᵀ as a register-blocked GEMM (each thread a block of rows × keys; Q
 * resident in workgroup memory or staged in head chunks, K staged) and write it to workgroup
 * memory; each row's owner runs that row's online softmax — score modifier, validity, running
 * (max, sum) — turning scores into probabilities in place; then the threads, register-blocked
 * again, rescale their block of the output accumulator by the rows' correction factors and add
 * P·V (V staged whole or in chunks). No N×M score ever exists; only kv tiles inside the analytic
 * bounds (or listed by the block mask) are visited; a masked score never enters the sum (a row's
 * validity in a tile is a bit mask). Four barriers per kv tile when Q is resident and K and V
 * come whole: barriers are costly on lavapipe, which runs threads as coroutines.
 *
 * Loop trip counts that the shader compiler could unroll around the register blocks come from
 * uniforms: lavapipe's LLVM took minutes on fully unrolled flash kernels. The per-tile stages
 * are in `flash-tiles.ts`; this file holds the kernel's frame: the row grid, the kv range, the
 * loop over kv tiles (or the block mask's list) and the epilogue.
 */
import { sizeProduct, type SizeExpr } from '../../program/index.ts';
import type { FlashKernel } from '../kernel-ir.ts';
import type { FlashSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, F32_LOWEST, type Emitted } from './core.ts';
import { flashContext, inColumns, outputAt, outputTile, ownRow, rowSoftmax, scoreTile, stageQ, tiledLet, type FlashContext } from './flash-tiles.ts';
import { forRange, strided } from './loops.ts';

export function emitFlash(k: FlashKernel, s: FlashSchedule, em: Emitter): Emitted {
  const c = flashContext(em, k, s);
  const { BR, BC, NT, TX, RM, RS, RO, E, T, M, w } = c;
  const negInf = em.negInfinity();
  const parts = k.split?.parts ?? 1;
  const body: Stmt[] = [
    { s: 'let', name: 'tiles_t', value: `(${T} + ${BR - 1}u) / ${BR}u` },
    { s: 'let', name: 'sp', value: `wid % ${parts}u` },
    { s: 'let', name: 'tt', value: `(wid / ${parts}u) % tiles_t` },
    { s: 'let', name: 'oflat', value: `(wid / ${parts}u) / tiles_t` },
    ...em.decompose('oflat', k.outer, 'o'),
    { s: 'let', name: 'tx', value: `lid % ${TX}u` },
    { s: 'let', name: 'ty', value: `lid / ${TX}u` },
    { s: 'let', name: 'row0', value: `tt * ${BR}u` },
    { s: 'var', name: 'sacc', type: `array<f32, ${RM * RS}>` },
    { s: 'var', name: 'acc', type: `array<f32, ${RM * RO}>` },
    { s: 'var', name: 'ra', type: `array<f32, ${RM}>` },
    { s: 'var', name: 'rb', type: `array<f32, ${Math.max(RS, RO)}>` },
    // The running (max, sum) of every row, kept by the thread that owns the row (rr ≡ lid mod threads).
    strided('rr', BR, NT, [{ s: 'assign', target: w.m('rr'), value: F32_LOWEST }, { s: 'assign', target: w.l('rr'), value: '0.0f' }]),
    { s: 'let', name: 't_first', value: 'i32(row0)' },
    { s: 'let', name: 't_last', value: `i32(min(row0 + ${BR}u, ${T})) - 1i` },
    ...kvRange(c, parts),
  ];

  const scores = scoreTile(c);
  const softmax = rowSoftmax(c);
  const output = outputTile(c);
  const tileBody = (): Stmt[] => [{ s: 'let', name: 'kv0', value: `u32(kt) * ${BC}u` }, ...scores, ...softmax, ...output];
  if (c.fullD) body.push(stageQ(c, ''));
  body.push(
    { s: 'let', name: 'kt_begin', value: `max(lo, 0i) / ${BC}i` },
    { s: 'let', name: 'kt_end', value: `select(-1i, hi / ${BC}i, hi >= 0i && lo <= hi)` },
  );
  const bm = k.blockMask;
  if (!bm) {
    body.push({ s: 'for', init: 'var kt = kt_begin', cond: 'kt <= kt_end', update: 'kt += 1i', body: tileBody() });
  } else {
    // Visit only the kv tiles the block mask lists; the list is read through workgroup memory so
    // its values are uniform (the loop holds barriers).
    const mo = em.offset(bm.maskOuter.map((a) => ({ size: a.size, index: a.id })));
    body.push(
      { s: 'let', name: 'kv_tiles', value: `(${M} + ${BC - 1}u) / ${BC}u` },
      { s: 'let', name: 'brow', value: `${mo} * tiles_t + tt` },
      { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: 'wg_count', value: `${em.buffer(bm.counts.buffer)}[brow]` }] },
      { s: 'let', name: 'n_blocks', value: 'workgroupUniformLoad(&wg_count)' },
      forRange('bi', 'n_blocks', [
        { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: 'wg_entry', value: `${em.buffer(bm.list.buffer)}[brow * kv_tiles + bi]` }] },
        { s: 'let', name: 'entry', value: 'workgroupUniformLoad(&wg_entry)' },
        { s: 'let', name: 'kt', value: 'i32(entry & 0x7fffffffu)' },
        { s: 'let', name: 'full', value: 'entry >= 0x80000000u' },
        { s: 'if', cond: 'kt >= kt_begin && kt <= kt_end', then: tileBody() },
        // Thread 0 rewrites wg_entry next iteration: everyone must have read it first.
        { s: 'barrier' },
      ]),
    );
  }

  // Each row's owner publishes its normaliser (or, split, writes its max and sum); then every
  // thread writes its output block.
  const split = k.split;
  const rowIndex = (value: string) => em.offset((split ? split.partial.axes : k.out.axes).map((a) => ({ size: a.size, index: a.id === 'slot' ? value : a.id })));
  if (split) {
    body.push(ownRow(c, [{ s: 'if', cond: 'row_ok', then: [{ s: 'assign', target: `out[${rowIndex('0u')}]`, value: 'm_run' }, { s: 'assign', target: `out[${rowIndex('1u')}]`, value: 'l_run' }] }]));
  } else {
    const lseAt = k.lse ? em.offset(k.lse.axes.map((a) => ({ size: a.size, index: a.id }))) : '';
    body.push(
      ownRow(c, [
        { s: 'assign', target: w.scale('rr'), value: 'select(0.0f, 1.0f / l_run, l_run > 0.0f)' },
        ...(k.lse ? [{ s: 'if', cond: 'row_ok', then: [{ s: 'assign', target: `out1[${lseAt}]`, value: `select(${negInf}, m_run + log(l_run), l_run > 0.0f)` }] } as Stmt] : []),
      ]),
    );
  }
  // Every thread stages its output block (the tiles are free: the last kv tile ended in a barrier).
  for (let i = 0; i < RM; i++) for (let j = 0; j < RO; j++) body.push(inColumns(c, j, { s: 'assign', target: outputAt(c, i, j), value: `acc[${i * RO + j}]` }));
  body.push(
    { s: 'barrier' },
    strided('e', BR * E, NT, [
      { s: 'let', name: 'r', value: `e / ${E}u` },
      { s: 'let', name: 'col', value: `e % ${E}u` },
      {
        s: 'if',
        cond: `row0 + r < ${T}`,
        then: [...tiledLet(c, 'row0 + r'), ...(split ? [] : em.decompose('col', k.e, 'oe')), { s: 'assign', target: `out[${split ? rowIndex('col + 2u') : rowIndex('')}]`, value: split ? w.o('e') : `${w.o('e')} * ${w.scale('r')}` }],
      },
    ]),
  );
  const outerCount = sizeProduct(k.outer.map((a) => a.size));
  const tiles: SizeExpr = k.tiled ? { op: 'ceildiv', args: [k.tiled.size, BR] } : 1;
  return {
    module: em.module(NT, body, [
      { name: 'wgm', type: `array<f32, ${c.layout.total}>` },
      ...(bm ? [{ name: 'wg_count', type: 'u32' }, { name: 'wg_entry', type: 'u32' }] : []),
    ]),
    workgroups: { op: 'mul', args: [outerCount, tiles, parts] },
    em,
  };
}

/**
 * The kv range [lo, hi] the workgroup's rows may see: the whole axis, cut to this workgroup's
 * chunk when split, narrowed by the analytic bounds at the tile's first and last rows.
 */
function kvRange(c: FlashContext, parts: number): Stmt[] {
  const { em, k, M } = c;
  const out: Stmt[] = [
    { s: 'var', name: 'lo', type: 'i32', value: '0i' },
    { s: 'var', name: 'hi', type: 'i32', value: `i32(${M}) - 1i` },
  ];
  const at = (t: -1 | 0 | 1, first: boolean) => (t === 0 ? '0i' : t === 1 ? (first ? 't_first' : 't_last') : first ? '(-t_last)' : '(-t_first)');
  if (k.split) {
    out.push(
      { s: 'let', name: 'chunk', value: `(${M} + ${parts - 1}u) / ${parts}u` },
      { s: 'assign', target: 'lo', value: 'i32(sp * chunk)' },
      { s: 'assign', target: 'hi', value: `min(hi, i32((sp + 1u) * chunk) - 1i)` },
    );
  }
  for (const b of k.lower) out.push({ s: 'assign', target: 'lo', value: `max(lo, ${at(b.t, true)} + ${em.expr(b.c)})` });
  for (const b of k.upper) out.push({ s: 'assign', target: 'hi', value: `min(hi, ${at(b.t, false)} + ${em.expr(b.c)})` });
  return out;
}
