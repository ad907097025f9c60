/**
 * Graph attention over a CSR adjacency (`GraphAttentionKernel`, `GraphMergeKernel`).
 *
 * The edges kernel: one workgroup per (part of `edgesPerGroup` edges, outer index). Its threads
 * first score the part's edges in parallel — each finds its edge's target row by binary search in
 * `rowptr` and computes the score (the `q·k` product over d, then the modifiers) into workgroup
 * memory. Then every thread walks the part's edges in order with the same online softmax (running
 * max and sum), accumulating the value components it owns (`lid`, `lid + threads`, ...); when the
 * row changes, the finished row is written — to the output if all its edges lie in this part, as
 * a piece (max, sum, accumulator) otherwise. A node with thousands of neighbours is thus spread
 * over many workgroups, and one with a single neighbour costs one step of one. As in the flash
 * kernel, a score that is not finite does not take part: −∞ is a masked edge, exactly as the
 * softmax treats it (+∞ and NaN, for which the interpreter gives NaN rows, are dropped too).
 *
 * The merge kernel: one thread per (outer index, row) writes a row without edges (o = 0,
 * lse = −∞) and folds the pieces of a row spanning several parts, in part order (deterministic,
 * no atomics), by log-sum-exp.
 */
import { sizeProduct } from '../../program/index.ts';
import { readsAxis, subExprs, type GraphAttentionKernel, type GraphMergeKernel, type KAxis, type KExpr } from '../kernel-ir.ts';
import { printExpr } from '../kernel-ir-print.ts';
import type { ElementwiseSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, F32_LOWEST, staticHeadSize, type Emitted } from './core.ts';
import { forRange, strided } from './loops.ts';

/** Shared emission helpers of both kernels. */
function frame(em: Emitter, k: GraphAttentionKernel | GraphMergeKernel) {
  const V = staticHeadSize(k.value);
  const O = em.product(k.outer.map((a) => a.size));
  const N = em.size(k.row.size);
  const rowptr = (at: string) => `u32(${em.at(k.rowptr.buffer, at)})`;
  const store = (out: { buffer: number; axes: readonly KAxis[] }, value: string): Stmt => ({
    s: 'assign',
    target: em.at(out.buffer, em.offset(out.axes.map((a) => ({ size: a.size, index: a.id })))),
    value,
  });
  /** The first word of a piece: part `p`, the slot of the row starting at `rb`. */
  const piece = (p: string, rb: string) => `((${p} * 2u + select(1u, 0u, ${rb} <= ${p} * ${k.edgesPerGroup}u)) * ${O} + oflat) * ${V + 2}u`;
  return { V, O, N, rowptr, store, piece };
}

export function emitGraphAttention(k: GraphAttentionKernel, s: ElementwiseSchedule, em: Emitter): Emitted {
  const NT = s.workgroupSize;
  const C = k.edgesPerGroup;
  const { V, O, N, rowptr, store, piece } = frame(em, k);
  const R = Math.ceil(V / NT);
  const E = em.size(k.edge.size);
  // The message's gathered rows are indexed per edge (`v[col[e]]`): each such index is computed
  // once per edge while scoring, kept in workgroup memory, and read there by every thread.
  const hoisted = edgeIndices(k.message, new Set(k.value.map((a) => a.id)));
  const message = replaceIndices(k.message, hoisted);
  const pieces = (at: string) => em.at(k.pieces.buffer, at);
  const negInf = em.negInfinity();

  /** `body` for each value component this thread owns (index `x`, the value axes bound). */
  const ownValues = (body: (j: number) => Stmt[]): Stmt[] =>
    Array.from({ length: R }, (_, j) => ({
      s: 'block' as const,
      body: [{ s: 'let' as const, name: 'x', value: `lid + ${j * NT}u` }, { s: 'if' as const, cond: `x < ${V}u`, then: [...em.decompose('x', k.value, `v${j}`), ...body(j)] }],
    }));

  // The score of edge `ed` of row `rw` (the product first, then the score tree and validity).
  em.accName = 'dot';
  const dCount = k.d.length === 0 ? null : em.product(k.d.map((a) => a.size));
  const special = em.special(k.score);
  const scoreStmts: Stmt[] = [
    ...(k.a && k.b && dCount !== null
      ? [
          { s: 'var' as const, name: 'dot', type: 'f32', value: '0.0f' },
          forRange('dd', typeof k.d[0]!.size === 'number' && k.d.length === 1 ? em.opaque(k.d[0]!.size) : dCount, [
            ...em.decompose('dd', k.d, 'd'),
            { s: 'assign', target: 'dot', op: '+', value: `${em.expr(k.a)} * ${em.expr(k.b)}` },
          ]),
        ]
      : []),
    ...(special ? [{ s: 'let' as const, name: 'sx', value: em.xexpr(k.score) }, { s: 'let' as const, name: 'sv', value: 'sx.v' }] : [{ s: 'let' as const, name: 'sv', value: em.expr(k.score) }]),
    { s: 'assign', target: 'ok', value: `true${k.valid ? ` && ${em.expr(k.valid)}` : ''}${special ? ' && sx.c == 0u' : ''}` },
    { s: 'assign', target: 'sc', value: 'sv' },
  ];

  /** Writes the row `cur` folded so far: whole to the output, or as a piece. */
  const flush: Stmt = {
    s: 'block',
    body: [
      { s: 'let', name: k.row.id, value: 'cur' },
      { s: 'let', name: 'rb', value: rowptr('cur') },
      { s: 'let', name: 're', value: rowptr('cur + 1u') },
      {
        s: 'if',
        cond: 'rb >= e0 && re <= e1',
        then: [
          { s: 'let', name: 'inv', value: 'select(0.0f, 1.0f / l_run, l_run > 0.0f)' },
          ...ownValues((j) => [store(k.out, `acc[${j}] * inv`)]),
          ...(k.lse ? [{ s: 'if' as const, cond: 'lid == 0u', then: [store(k.lse, `select(${negInf}, m_run + log(l_run), l_run > 0.0f)`)] }] : []),
        ],
        else: [
          { s: 'let', name: 'pb', value: piece('part', 'rb') },
          { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: pieces('pb'), value: 'm_run' }, { s: 'assign', target: pieces('pb + 1u'), value: 'l_run' }] },
          ...ownValues((j) => [{ s: 'assign', target: pieces('pb + 2u + x'), value: `acc[${j}]` }]),
        ],
      },
    ],
  };
  const reset: Stmt[] = [
    { s: 'assign', target: 'm_run', value: F32_LOWEST },
    { s: 'assign', target: 'l_run', value: '0.0f' },
    ...Array.from({ length: R }, (_, j): Stmt => ({ s: 'assign', target: `acc[${j}]`, value: '0.0f' })),
  ];

  const body: Stmt[] = [
    { s: 'let', name: 'oflat', value: `wid % ${O}` },
    { s: 'let', name: 'part', value: `wid / ${O}` },
    ...em.decompose('oflat', k.outer, 'o'),
    { s: 'let', name: 'e0', value: `part * ${C}u` },
    { s: 'let', name: 'e1', value: `min(e0 + ${C}u, ${E})` },
    // Phase 1: the part's scores, one edge per thread at a time.
    strided('t', C, NT, [
      { s: 'let', name: 'ed', value: 'e0 + t' },
      { s: 'var', name: 'sc', type: 'f32', value: '0.0f' },
      { s: 'var', name: 'ok', type: 'bool', value: 'false' },
      { s: 'var', name: 'lo', type: 'u32', value: '0u' },
      {
        s: 'if',
        cond: 'ed < e1',
        then: [
          // The edge's row: the last r with rowptr[r] <= ed (rows without edges are skipped).
          { s: 'var', name: 'hi', type: 'u32', value: N },
          { s: 'for', init: 'var it = 0u', cond: 'hi - lo > 1u', update: 'it += 1u', body: [
            { s: 'let', name: 'mid', value: '(lo + hi) / 2u' },
            { s: 'if', cond: `${rowptr('mid')} <= ed`, then: [{ s: 'assign', target: 'lo', value: 'mid' }], else: [{ s: 'assign', target: 'hi', value: 'mid' }] },
          ] },
          { s: 'block', body: [{ s: 'let', name: k.edge.id, value: 'ed' }, { s: 'let', name: k.row.id, value: 'lo' }, ...scoreStmts] },
        ],
      },
      ...hoisted.map((at, n): Stmt => ({ s: 'if', cond: 'ed < e1', then: [{ s: 'block', body: [{ s: 'let', name: k.edge.id, value: 'ed' }, { s: 'let', name: k.row.id, value: 'lo' }, { s: 'assign', target: `s_at${n}[t]`, value: em.expr(at) }] }] })),
      { s: 'assign', target: 's_sc[t]', value: 'sc' },
      { s: 'assign', target: 's_row[t]', value: 'lo' },
      { s: 'assign', target: 's_ok[t]', value: 'select(0u, 1u, ok)' },
    ]),
    { s: 'barrier' },
    // Phase 2: every thread folds the part's edges in order, owning some value components.
    { s: 'let', name: 'count', value: 'select(0u, e1 - e0, e1 > e0)' },
    { s: 'var', name: 'm_run', type: 'f32', value: F32_LOWEST },
    { s: 'var', name: 'l_run', type: 'f32', value: '0.0f' },
    { s: 'var', name: 'acc', type: `array<f32, ${R}>` },
    { s: 'var', name: 'cur', type: 'u32', value: 's_row[0]' },
    forRange('t', 'count', [
      { s: 'let', name: 'r', value: 's_row[t]' },
      { s: 'if', cond: 'r != cur', then: [flush, { s: 'assign', target: 'cur', value: 'r' }, ...reset] },
      {
        s: 'if',
        cond: 's_ok[t] != 0u',
        then: [
          { s: 'let', name: 'sc', value: 's_sc[t]' },
          { s: 'let', name: 'mn', value: 'max(m_run, sc)' },
          { s: 'let', name: 'al', value: 'exp(m_run - mn)' },
          { s: 'let', name: 'pw', value: 'exp(sc - mn)' },
          { s: 'assign', target: 'l_run', value: 'l_run * al + pw' },
          { s: 'let', name: k.edge.id, value: 'e0 + t' },
          { s: 'let', name: k.row.id, value: 'r' },
          ...hoisted.map((_, n): Stmt => ({ s: 'let', name: `at${n}`, value: `bitcast<u32>(s_at${n}[t])` })),
          ...ownValues((j) => [{ s: 'assign', target: `acc[${j}]`, value: `acc[${j}] * al + pw * ${em.expr(message)}` }]),
          { s: 'assign', target: 'm_run', value: 'mn' },
        ],
      },
    ]),
    { s: 'if', cond: 'count > 0u', then: [flush] },
  ];
  const parts = { op: 'max' as const, args: [1, { op: 'ceildiv' as const, args: [k.edge.size, C] }] };
  return {
    module: em.module(NT, body, [
      { name: 's_sc', type: `array<f32, ${C}>` },
      { name: 's_row', type: `array<u32, ${C}>` },
      { name: 's_ok', type: `array<u32, ${C}>` },
      ...hoisted.map((_, n) => ({ name: `s_at${n}`, type: `array<i32, ${C}>` })),
    ]),
    workgroups: { op: 'mul', args: [parts, sizeProduct(k.outer.map((a) => a.size))] },
    em,
  };
}

/** The gather indices in `e` that read none of the `value` axes (at most 4), distinct by their text. */
function edgeIndices(e: KExpr, value: ReadonlySet<string>): KExpr[] {
  const found = new Map<string, KExpr>();
  const visit = (x: KExpr) => {
    if (x.k === 'load') for (const a of x.axes) if ('at' in a && !readsAxis(a.at, value) && found.size < 4) found.set(printExpr(a.at), a.at);
    subExprs(x).forEach(visit);
  };
  visit(e);
  return [...found.values()];
}

/** `e` with each of `indices` read from the per-edge variable `at<n>` (an `index` expression). */
function replaceIndices(e: KExpr, indices: readonly KExpr[]): KExpr {
  const texts = indices.map(printExpr);
  const walk = (x: KExpr): KExpr => {
    if (x.k === 'load') {
      return {
        ...x,
        axes: x.axes.map((a) => {
          if (!('at' in a)) return a;
          const n = texts.indexOf(printExpr(a.at));
          return n >= 0 ? { size: a.size, at: { k: 'index' as const, axis: `at${n}` } } : { size: a.size, at: walk(a.at) };
        }),
      };
    }
    return x.k === 'op' ? { ...x, args: x.args.map(walk) } : x;
  };
  return walk(e);
}

export function emitGraphMerge(k: GraphMergeKernel, s: ElementwiseSchedule, em: Emitter): Emitted {
  const NT = s.workgroupSize;
  const C = k.edgesPerGroup;
  const { V, O, N, rowptr, store, piece } = frame(em, k);
  const pieces = (at: string) => em.at(k.pieces.buffer, at);
  const negInf = em.negInfinity();
  const overParts = (body: Stmt[]): Stmt => ({ s: 'for', init: 'var p = p0', cond: 'p <= p1', update: 'p += 1u', body: [{ s: 'let', name: 'pb', value: piece('p', 'rb') }, ...body] });
  const overValues = (body: Stmt[]): Stmt => forRange('x', em.opaque(V), [...em.decompose('x', k.value, 'v'), ...body]);
  const body: Stmt[] = [
    { s: 'let', name: 'gid', value: `wid * ${NT}u + lid` },
    { s: 'if', cond: `gid >= ${O} * ${N}`, then: [{ s: 'return' }] },
    { s: 'let', name: k.row.id, value: `gid % ${N}` },
    { s: 'let', name: 'oflat', value: `gid / ${N}` },
    ...em.decompose('oflat', k.outer, 'o'),
    { s: 'let', name: 'rb', value: rowptr(k.row.id) },
    { s: 'let', name: 're', value: rowptr(`${k.row.id} + 1u`) },
    {
      s: 'if',
      cond: 're <= rb',
      then: [overValues([store(k.out, '0.0f')]), ...(k.lse ? [store(k.lse, negInf)] : []), { s: 'return' }],
    },
    { s: 'let', name: 'p0', value: `rb / ${C}u` },
    { s: 'let', name: 'p1', value: `(re - 1u) / ${C}u` },
    // A row inside one part was written whole by the edges kernel.
    { s: 'if', cond: 'p0 == p1', then: [{ s: 'return' }] },
    { s: 'var', name: 'mx', type: 'f32', value: F32_LOWEST },
    overParts([{ s: 'if', cond: `${pieces('pb + 1u')} > 0.0f`, then: [{ s: 'assign', target: 'mx', value: `max(mx, ${pieces('pb')})` }] }]),
    { s: 'var', name: 'total', type: 'f32', value: '0.0f' },
    overParts([{ s: 'assign', target: 'total', op: '+', value: `select(0.0f, exp(${pieces('pb')} - mx) * ${pieces('pb + 1u')}, ${pieces('pb + 1u')} > 0.0f)` }]),
    { s: 'let', name: 'inv', value: 'select(0.0f, 1.0f / total, total > 0.0f)' },
    overValues([
      { s: 'var', name: 'a', type: 'f32', value: '0.0f' },
      overParts([{ s: 'assign', target: 'a', op: '+', value: `select(0.0f, exp(${pieces('pb')} - mx), ${pieces('pb + 1u')} > 0.0f) * ${pieces('pb + 2u + x')}` }]),
      store(k.out, 'a * inv'),
    ]),
    ...(k.lse ? [store(k.lse, `select(${negInf}, mx + log(total), total > 0.0f)`)] : []),
  ];
  return { module: em.module(NT, body), workgroups: { op: 'ceildiv', args: [{ op: 'mul', args: [sizeProduct(k.outer.map((a) => a.size)), k.row.size] }, NT] }, em };
}
