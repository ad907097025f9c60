/**
 * The flash kernel's per-kv-tile stages (see `flash.ts`): the score tile Q·Kᵀ as a
 * register-blocked product, each row's online softmax, and the output tile's rescale plus P·V;
 * and the context they share — the schedule's derived sizes and the regions of the one
 * workgroup array.
 */
import type { FlashKernel, KExpr } from '../kernel-ir.ts';
import { flashWorkgroupLayout, type FlashSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { F32_LOWEST, staticHeadSize, type Emitter } from './core.ts';
import { blocked, forRange, strided } from './loops.ts';

/** An index expression into a region of the workgroup array. */
type Region = (index: string) => string;

/** What the flash stages share: the kernel, the schedule's sizes and the workgroup regions. */
export interface FlashContext {
  readonly em: Emitter;
  readonly k: FlashKernel;
  /** Rows, kv tile, head chunk and value chunk (the schedule's rows, kvTile, dTile, vTile). */
  readonly BR: number;
  readonly BC: number;
  readonly TK: number;
  readonly VK: number;
  /** Threads; threads across (TX) and down (TY). */
  readonly NT: number;
  readonly TX: number;
  readonly TY: number;
  /** A thread's register block: rows, keys of the score tile, value columns of the output. */
  readonly RM: number;
  readonly RS: number;
  readonly RO: number;
  /** Head and value head sizes; the query chunk width. */
  readonly D: number;
  readonly E: number;
  readonly QW: number;
  /** Q resident (`dTile >= D`); V staged whole (`vTile >= kvTile`). */
  readonly fullD: boolean;
  readonly fullV: boolean;
  readonly layout: ReturnType<typeof flashWorkgroupLayout>;
  readonly w: Readonly<Record<'scale' | 'm' | 'l' | 'q' | 'k' | 's' | 'v' | 'o', Region>>;
  /** Query rows and keys (u32 expressions); D and the kv tile as opaque uniforms. */
  readonly T: string;
  readonly M: string;
  readonly dCount: string;
  readonly bcCount: string;
}

export function flashContext(em: Emitter, k: FlashKernel, s: FlashSchedule): FlashContext {
  const { rows: BR, kvTile: BC, dTile: TK, vTile: VK, threads: NT, across: TX } = s;
  const TY = NT / TX;
  const D = staticHeadSize(k.d);
  const E = staticHeadSize(k.e);
  // One workgroup array carved into regions (WGSL has no unions): row state, then the tiles. At
  // the end each thread stages its output block over the tiles, so the global writes are one
  // short loop rather than an unrolled epilogue.
  const layout = flashWorkgroupLayout(s, D, E);
  const region = (offset: number): Region => (i) => `wgm[${offset === 0 ? '' : `${offset}u + `}${i}]`;
  const w = { scale: region(layout.scale), m: region(layout.m), l: region(layout.l), q: region(layout.q), k: region(layout.k), s: region(layout.s), v: region(layout.v), o: region(layout.o) };
  const T = k.tiled ? em.size(k.tiled.size) : '1u';
  const M = em.size(k.kv.size);
  const fullD = TK >= D;
  return {
    em, k, BR, BC, TK, VK, NT, TX, TY,
    RM: BR / TY,
    RS: BC / TX,
    RO: Math.ceil(E / TX),
    D, E,
    QW: fullD ? D : TK,
    fullD,
    fullV: VK >= BC,
    layout, w, T, M,
    dCount: em.opaque(D),
    bcCount: em.opaque(BC),
  };
}

/** The row a thread's register block row `i` is (relative to the tile). */
const rowOf = (c: FlashContext, i: number) => `ty + ${i * c.TY}u`;

/** The tiled query axis's index for a tile row (clamped: rows past the end compute garbage, never stored). */
export const tiledLet = (c: FlashContext, row: string): Stmt[] => (c.k.tiled ? [{ s: 'let', name: c.k.tiled.id, value: `min(${row}, ${c.T} - 1u)` }] : []);

const kvLet = (c: FlashContext): Stmt => ({ s: 'let', name: c.k.kv.id, value: 'kvi' });

/** A loop over the rows a thread owns (rr ≡ lid mod threads), with the row's running state. */
export function ownRow(c: FlashContext, inner: Stmt[]): Stmt {
  const { w } = c;
  return strided('rr', c.BR, c.NT, [{ s: 'let', name: 'trow', value: 'row0 + rr' }, { s: 'let', name: 'row_ok', value: `trow < ${c.T}` }, ...tiledLet(c, 'trow'), { s: 'let', name: 'm_run', value: w.m('rr') }, { s: 'let', name: 'l_run', value: w.l('rr') }, ...inner]);
}

/** Cooperative load of `count` elements into `tile(at)`, zero where `inRange` fails. */
function stage(c: FlashContext, tile: Region, count: number, coords: Stmt[], inRange: string, setup: Stmt[], expr: KExpr, at: string): Stmt {
  return strided('e', count, c.NT, [...coords, { s: 'var', name: 'val', type: 'f32', value: '0.0f' }, { s: 'if', cond: inRange, then: [...setup, { s: 'assign', target: 'val', value: c.em.expr(expr) }] }, { s: 'assign', target: tile(at), value: 'val' }]);
}

/** Stages the query block (or its head chunk from `base`), k-major. */
export function stageQ(c: FlashContext, base: string): Stmt {
  const { BR, QW, em, k } = c;
  return stage(c, c.w.q, BR * QW, [{ s: 'let', name: 'qrow', value: `e / ${QW}u` }, { s: 'let', name: 'kk', value: `e % ${QW}u` }, { s: 'let', name: 'dflat', value: `${base}kk` }], `dflat < ${c.D}u`, [...tiledLet(c, 'row0 + qrow'), ...em.decompose('dflat', k.d, 'qd')], k.q, `kk * ${BR}u + qrow`);
}

function stageK(c: FlashContext, base: string): Stmt {
  const { BC, QW, em, k } = c;
  return stage(c, c.w.k, BC * QW, [{ s: 'let', name: 'key', value: `e / ${QW}u` }, { s: 'let', name: 'kk', value: `e % ${QW}u` }, { s: 'let', name: 'dflat', value: `${base}kk` }, { s: 'let', name: 'kvi', value: 'kv0 + key' }], `dflat < ${c.D}u && kvi < ${c.M}`, [kvLet(c), ...em.decompose('dflat', k.d, 'kd')], k.k, `kk * ${BC}u + key`);
}

function stageV(c: FlashContext, base: string): Stmt {
  const { VK, E, em, k } = c;
  return stage(c, c.w.v, VK * E, [{ s: 'let', name: 'key', value: `e / ${E}u` }, { s: 'let', name: 'c', value: `e % ${E}u` }, { s: 'let', name: 'kvi', value: `kv0 + ${base}key` }], `kvi < ${c.M}`, [kvLet(c), ...em.decompose('c', k.e, 've')], k.v, 'e');
}

/**
 * Score tile: sacc[i][j] = q[row i] · k[key j] (k-major tiles, as the GEMM), written to the score
 * region. With `dTile >= D` the query block stays resident in workgroup memory for the whole
 * kernel and K comes in one piece per kv tile; otherwise both are staged chunk by chunk (two
 * barriers a chunk).
 */
export function scoreTile(c: FlashContext): Stmt[] {
  const { RM, RS, BR, BC, TX, w } = c;
  const inner: Stmt[] = [];
  for (let i = 0; i < RM; i++) inner.push({ s: 'assign', target: `ra[${i}]`, value: w.q(`kk * ${BR}u + ${rowOf(c, i)}`) });
  for (let j = 0; j < RS; j++) inner.push({ s: 'assign', target: `rb[${j}]`, value: w.k(`kk * ${BC}u + tx + ${j * TX}u`) });
  for (let i = 0; i < RM; i++) for (let j = 0; j < RS; j++) inner.push({ s: 'assign', target: `sacc[${i * RS + j}]`, op: '+', value: `ra[${i}] * rb[${j}]` });
  const out: Stmt[] = [];
  if (c.fullD) out.push(stageK(c, ''));
  if (c.fullV && !c.layout.shareKV) out.push(stageV(c, ''));
  if (c.fullD || c.fullV) out.push({ s: 'barrier' });
  for (let i = 0; i < RM * RS; i++) out.push({ s: 'assign', target: `sacc[${i}]`, value: '0.0f' });
  out.push(...blocked('d0', c.dCount, c.fullD ? null : c.em.opaque(c.TK), (base) => [stageQ(c, base), stageK(c, base)], inner));
  for (let i = 0; i < RM; i++) for (let j = 0; j < RS; j++) out.push({ s: 'assign', target: w.s(`(${rowOf(c, i)}) * ${BC}u + tx + ${j * TX}u`), value: `sacc[${i * RS + j}]` });
  out.push({ s: 'barrier' });
  return out;
}

/**
 * Each row's owner: score modifier, validity, online softmax (running max and sum, the
 * correction factor for the accumulator); probabilities replace the scores in place.
 */
export function rowSoftmax(c: FlashContext): Stmt[] {
  const { em, k, BC, w } = c;
  const validText = k.valid ? ` && ${em.expr(k.valid)}` : '';
  /** A loop over the keys of the current kv tile (`j`). */
  const overKeys = (body: Stmt[]) => forRange('j', c.bcCount, body);
  // A score that may be non-finite (a −∞ added by a modifier) is carried as xf: a −∞ score is a
  // masked key, exactly as softmax treats it. +∞ and NaN scores are masked too (the interpreter
  // gives NaN rows there); the README says so.
  const special = em.special(k.score);
  const score: Stmt[] = special ? [{ s: 'let', name: 'sx', value: em.xexpr(k.score) }, { s: 'let', name: 'sv', value: 'sx.v' }] : [{ s: 'let', name: 'sv', value: em.expr(k.score) }];
  const scoreOk = special ? ' && sx.c == 0u' : '';
  return [
    ownRow(c, [
      { s: 'var', name: 'tmax', type: 'f32', value: F32_LOWEST },
      { s: 'var', name: 'okbits', type: 'u32', value: '0u' },
      overKeys([
        { s: 'let', name: 'kvi', value: 'kv0 + j' },
        kvLet(c),
        { s: 'let', name: em.accName, value: w.s(`rr * ${BC}u + j`) },
        ...score,
        // A split's chunk boundary is not implied by the mask, so it is checked per key.
        { s: 'let', name: 'okj', value: `row_ok && kvi < ${c.M}${k.split ? ' && i32(kvi) >= lo && i32(kvi) <= hi' : ''}${k.blockMask && k.valid ? ` && (full || ${em.expr(k.valid)})` : validText}${scoreOk}` },
        { s: 'if', cond: 'okj', then: [{ s: 'assign', target: 'tmax', value: 'max(tmax, sv)' }, { s: 'assign', target: 'okbits', value: 'okbits | (1u << j)' }] },
        { s: 'assign', target: w.s(`rr * ${BC}u + j`), value: 'sv' },
      ]),
      { s: 'let', name: 'm_new', value: 'max(m_run, tmax)' },
      // No finite running max yet: the accumulator and sum are zero, whatever the factor.
      { s: 'let', name: 'alpha', value: `select(0.0f, exp(m_run - m_new), m_run > ${F32_LOWEST})` },
      { s: 'var', name: 'lsum', type: 'f32', value: '0.0f' },
      overKeys([
        { s: 'let', name: 'pj', value: `select(0.0f, exp(${w.s(`rr * ${BC}u + j`)} - m_new), ((okbits >> j) & 1u) != 0u)` },
        { s: 'assign', target: 'lsum', op: '+', value: 'pj' },
        { s: 'assign', target: w.s(`rr * ${BC}u + j`), value: 'pj' },
      ]),
      { s: 'assign', target: w.l('rr'), value: 'l_run * alpha + lsum' },
      { s: 'assign', target: w.m('rr'), value: 'm_new' },
      { s: 'assign', target: w.scale('rr'), value: 'alpha' },
    ]),
    // K is no longer read: V takes its region.
    ...(c.layout.shareKV ? [stageV(c, '')] : []),
    { s: 'barrier' },
  ];
}

/** Where a thread's output block element (i, j) is staged at the end. */
export const outputAt = (c: FlashContext, i: number, j: number) => c.w.o(`(${rowOf(c, i)}) * ${c.E}u + tx + ${j * c.TX}u`);

/** Columns past the value head (E not a multiple of the threads across) are never stored. */
export const inColumns = (c: FlashContext, j: number, st: Stmt): Stmt => ((j + 1) * c.TX > c.E ? { s: 'if', cond: `tx + ${j * c.TX}u < ${c.E}u`, then: [st] } : st);

/** Output block: rescale by the rows' factors, then add P·V, V staged `vTile` keys at a time. */
export function outputTile(c: FlashContext): Stmt[] {
  const { RM, RO, BC, E, TX, w } = c;
  const inner: Stmt[] = [];
  for (let i = 0; i < RM; i++) inner.push({ s: 'assign', target: `ra[${i}]`, value: w.s(`(${rowOf(c, i)}) * ${BC}u + kc + kk`) });
  for (let j = 0; j < RO; j++) inner.push({ s: 'assign', target: `rb[${j}]`, value: w.v(`kk * ${E}u + tx + ${j * TX}u`) });
  for (let i = 0; i < RM; i++) for (let j = 0; j < RO; j++) inner.push({ s: 'assign', target: `acc[${i * RO + j}]`, op: '+', value: `ra[${i}] * rb[${j}]` });
  const out: Stmt[] = [];
  for (let i = 0; i < RM; i++) {
    out.push({ s: 'let', name: `alpha${i}`, value: w.scale(rowOf(c, i)) });
    for (let j = 0; j < RO; j++) out.push({ s: 'assign', target: `acc[${i * RO + j}]`, value: `acc[${i * RO + j}] * alpha${i}` });
  }
  out.push(...blocked('kc', c.bcCount, c.fullV ? null : c.em.opaque(c.VK), (base) => [stageV(c, base)], inner));
  // Tiles staged at the top of the kv tile are overwritten by the next one: wait for every reader.
  if (c.fullD || c.fullV) out.push({ s: 'barrier' });
  return out;
}
