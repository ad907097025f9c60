/**
 * The simplicial kernel: attention whose softmax runs jointly over several kv axes, fused (for
 * 2-simplicial attention, keys j and l; Roy et al. 2025 do the same in Triton). A workgroup owns
 * `threads` consecutive query rows of one outer index, one row per thread. Each thread walks the
 * pairs its own analytic bounds allow — windows make that a w1 × w2 square per row — and keeps
 * everything in registers:
 *
 * - for each outer key j: `u = q ⊙ k1[j]` once (so a pair's logit is one dot product u · k2[l]),
 *   and a value accumulator `acc = Σ_l p[j,l] · v2[l]`, folded into the output as `o += v1[j] ⊙ acc`;
 * - the inner keys l in tiles of `lTile`: the tile's scores, then one online-softmax step (running
 *   max and sum, rescaling o and acc only when the max grows), then the tile's probabilities times v2.
 *
 * No tensor over the pairs (N × w1 × w2) exists, and memory does not depend on the windows. With
 * more than two kv axes the outer levels nest (u and the value product are carried down). Loop
 * trip counts the shader compiler could unroll come from uniforms (lavapipe's LLVM is slow on
 * unrolled bodies); there are no barriers, so rows may diverge freely.
 */
import { sizeProduct, type SizeExpr } from '../../program/index.ts';
import type { SimplicialKernel } from '../kernel-ir.ts';
import type { SimplicialSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, F32_LOWEST, staticHeadSize, type Emitted } from './core.ts';
import { forRange } from './loops.ts';

export function emitSimplicial(k: SimplicialKernel, s: SimplicialSchedule, em: Emitter): Emitted {
  const NT = s.threads;
  const TL = s.lTile;
  const D = staticHeadSize(k.d);
  const E = staticHeadSize(k.e);
  const dCount = em.opaque(D);
  const eCount = em.opaque(E);
  const tlCount = em.opaque(TL);
  const T = k.tiled ? em.size(k.tiled.size) : '1u';
  const n = k.kv.length;
  const inner = n - 1;
  const kvIndex = (t: number) => `kv${t}`;
  /** Loops over the head (d) or value (e) elements, each index decomposed into its axes. */
  const overD = (body: Stmt[]) => forRange('dd', dCount, [...em.decompose('dd', k.d, 'd'), ...body]);
  const overE = (body: Stmt[]) => forRange('ee', eCount, [...em.decompose('ee', k.e, 'e'), ...body]);

  const body: Stmt[] = [
    { s: 'let', name: 'tiles_t', value: `(${T} + ${NT - 1}u) / ${NT}u` },
    { s: 'let', name: 'tt', value: 'wid % tiles_t' },
    { s: 'let', name: 'oflat', value: 'wid / tiles_t' },
    ...em.decompose('oflat', k.outer, 'o'),
    { s: 'let', name: 'trow', value: `tt * ${NT}u + lid` },
    { s: 'let', name: 'row_ok', value: `trow < ${T}` },
    // Rows past the end compute a clamped row's values and store nothing.
    ...(k.tiled ? [{ s: 'let' as const, name: k.tiled.id, value: `min(trow, ${T} - 1u)` }] : []),
    { s: 'let', name: 't_row', value: k.tiled ? `i32(${k.tiled.id})` : '0i' },
  ];
  // Each kv axis's range for this row: the whole axis, narrowed by the analytic bounds.
  k.kv.forEach((a, t) => {
    body.push({ s: 'var', name: `lo${t}`, type: 'i32', value: '0i' }, { s: 'var', name: `hi${t}`, type: 'i32', value: `i32(${em.size(a.size)}) - 1i` });
    const at = (x: -1 | 0 | 1) => (x === 0 ? '0i' : x === 1 ? 't_row' : '(-t_row)');
    for (const b of k.bounds[t]!.lower) body.push({ s: 'assign', target: `lo${t}`, value: `max(lo${t}, ${at(b.t)} + ${em.expr(b.c)})` });
    for (const b of k.bounds[t]!.upper) body.push({ s: 'assign', target: `hi${t}`, value: `min(hi${t}, ${at(b.t)} + ${em.expr(b.c)})` });
  });
  body.push(
    { s: 'var', name: 'qv', type: `array<f32, ${D}>` },
    overD([{ s: 'assign', target: 'qv[dd]', value: em.expr(k.q) }]),
    { s: 'var', name: 'o', type: `array<f32, ${E}>` },
    { s: 'var', name: 'acc', type: `array<f32, ${E}>` },
    { s: 'var', name: 'sc', type: `array<f32, ${TL}>` },
    { s: 'var', name: 'm_run', type: 'f32', value: F32_LOWEST },
    { s: 'var', name: 'l_run', type: 'f32', value: '0.0f' },
  );
  for (let t = 0; t < inner; t++) body.push({ s: 'var', name: `u${t}`, type: `array<f32, ${D}>` }, ...(t > 0 ? [{ s: 'var' as const, name: `w${t}`, type: `array<f32, ${E}>` }] : []));

  // The innermost axis, a tile at a time: scores, one online-softmax step, probabilities × values.
  const L = inner;
  const lAxis = k.kv[L]!;
  const special = em.special(k.score);
  const score: Stmt[] = special ? [{ s: 'let', name: 'sx', value: em.xexpr(k.score) }, { s: 'let', name: 'sv', value: 'sx.v' }] : [{ s: 'let', name: 'sv', value: em.expr(k.score) }];
  const u = `u${inner - 1}`;
  const tile: Stmt[] = [
    { s: 'var', name: 'tmax', type: 'f32', value: F32_LOWEST },
    { s: 'var', name: 'okbits', type: 'u32', value: '0u' },
    forRange('tl', tlCount, [
      { s: 'let', name: kvIndex(L), value: `lb + i32(tl)` },
      { s: 'let', name: lAxis.id, value: `u32(min(${kvIndex(L)}, hi${L}))` },
      { s: 'var', name: em.accName, type: 'f32', value: '0.0f' },
      overD([{ s: 'assign', target: em.accName, op: '+', value: `${u}[dd] * ${em.expr(k.k[L]!)}` }]),
      ...score,
      { s: 'let', name: 'ok', value: `row_ok && ${kvIndex(L)} <= hi${L}${k.valid ? ` && ${em.expr(k.valid)}` : ''}${special ? ' && sx.c == 0u' : ''}` },
      { s: 'if', cond: 'ok', then: [{ s: 'assign', target: 'tmax', value: 'max(tmax, sv)' }, { s: 'assign', target: 'okbits', value: 'okbits | (1u << tl)' }] },
      { s: 'assign', target: 'sc[tl]', value: 'sv' },
    ]),
    {
      s: 'if',
      cond: 'okbits != 0u',
      then: [
        {
          s: 'if',
          cond: 'tmax > m_run',
          then: [
            // No finite running max yet: o, acc and the sum are zero, whatever the factor.
            { s: 'let', name: 'alpha', value: `select(0.0f, exp(m_run - tmax), m_run > ${F32_LOWEST})` },
            { s: 'assign', target: 'l_run', op: '*', value: 'alpha' },
            overE([{ s: 'assign', target: 'o[ee]', op: '*', value: 'alpha' }, { s: 'assign', target: 'acc[ee]', op: '*', value: 'alpha' }]),
            { s: 'assign', target: 'm_run', value: 'tmax' },
          ],
        },
        forRange('tl', tlCount, [
          {
            s: 'if',
            cond: '((okbits >> tl) & 1u) != 0u',
            then: [
              { s: 'let', name: 'p', value: 'exp(sc[tl] - m_run)' },
              { s: 'assign', target: 'l_run', op: '+', value: 'p' },
              { s: 'let', name: lAxis.id, value: `u32(lb + i32(tl))` },
              overE([{ s: 'assign', target: 'acc[ee]', op: '+', value: `p * ${em.expr(k.v[L]!)}` }]),
            ],
          },
        ]),
      ],
    },
  ];
  let loops: Stmt[] = [
    overE([{ s: 'assign', target: 'acc[ee]', value: '0.0f' }]),
    { s: 'for', init: `var lb = lo${L}`, cond: `lb <= hi${L}`, update: `lb += ${TL}i`, body: tile },
  ];
  // The outer axes, innermost first: u_t = u_{t-1} ⊙ k_t and the value product w_t carried down;
  // the innermost outer level folds acc into o.
  for (let t = inner - 1; t >= 0; t--) {
    const a = k.kv[t]!;
    const uPrev = t === 0 ? 'qv' : `u${t - 1}`;
    const wv = (e: string) => (t === 0 ? e : `w${t}[ee] * ${e}`);
    const levelBody: Stmt[] = [
      { s: 'let', name: a.id, value: `u32(${kvIndex(t)})` },
      overD([{ s: 'assign', target: `u${t}[dd]`, value: `${uPrev}[dd] * ${em.expr(k.k[t]!)}` }]),
    ];
    if (t === inner - 1) {
      levelBody.push(...loops, overE([{ s: 'assign', target: 'o[ee]', op: '+', value: `${wv(em.expr(k.v[t]!))} * acc[ee]` }]));
    } else {
      levelBody.push(overE([{ s: 'assign', target: `w${t + 1}[ee]`, value: wv(em.expr(k.v[t]!)) }]), ...loops);
    }
    loops = [{ s: 'for', init: `var ${kvIndex(t)} = lo${t}`, cond: `${kvIndex(t)} <= hi${t}`, update: `${kvIndex(t)} += 1i`, body: levelBody }];
  }
  body.push(...loops);

  // Epilogue: the normalised output and the log-sum-exp (−∞ for a row with nothing allowed).
  const negInf = em.negInfinity();
  const outAt = em.offset(k.out.axes.map((a) => ({ size: a.size, index: a.id })));
  body.push({
    s: 'if',
    cond: 'row_ok',
    then: [
      { s: 'let', name: 'inv', value: 'select(0.0f, 1.0f / l_run, l_run > 0.0f)' },
      overE([{ s: 'assign', target: em.at(k.out.buffer, outAt), value: 'o[ee] * inv' }]),
      ...(k.lse ? [{ s: 'assign' as const, target: em.at(k.lse.buffer, em.offset(k.lse.axes.map((a) => ({ size: a.size, index: a.id })))), value: `select(${negInf}, m_run + log(l_run), l_run > 0.0f)` }] : []),
    ],
  });
  const outerCount = sizeProduct(k.outer.map((a) => a.size));
  const tiles: SizeExpr = k.tiled ? { op: 'ceildiv', args: [k.tiled.size, NT] } : 1;
  return { module: em.module(NT, body), workgroups: { op: 'mul', args: [outerCount, tiles] }, em };
}
