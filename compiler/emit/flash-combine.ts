/**
 * The split-KV combine kernel: one thread per attention row merges the flash kernel's per-chunk
 * partial states (max, sum, unnormalised accumulator) by log-sum-exp into the output and lse.
 */
import { sizeProduct } from '../../program/index.ts';
import type { KernelIR } from '../kernel-ir.ts';
import type { ElementwiseSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, F32_LOWEST, staticHeadSize, type Emitted } from './core.ts';
import { forRange } from './loops.ts';

export function emitFlashCombine(k: Extract<KernelIR, { kind: 'flash-combine' }>, s: ElementwiseSchedule, em: Emitter): Emitted {
  const wg = s.workgroupSize;
  const E = staticHeadSize(k.e);
  const P = k.parts;
  const negInf = em.negInfinity();
  const rowsCount = em.product(k.rows.map((a) => a.size));
  const part = em.buffer(k.partial.buffer);
  const at = (slot: string) => `${part}[${em.offset(k.partial.axes.map((a) => ({ size: a.size, index: a.index === 'slot' ? slot : a.index })))}]`;
  const overParts = (body: Stmt[]) => forRange('sp', P, body);
  const body: Stmt[] = [
    { s: 'let', name: 'r', value: `wid * ${wg}u + lid` },
    { s: 'if', cond: `r >= ${rowsCount}`, then: [{ s: 'return' }] },
    ...em.decompose('r', k.rows, 'r'),
    { s: 'var', name: 'mx', type: 'f32', value: F32_LOWEST },
    overParts([{ s: 'if', cond: `${at('1u')} > 0.0f`, then: [{ s: 'assign', target: 'mx', value: `max(mx, ${at('0u')})` }] }]),
    { s: 'var', name: 'w', type: `array<f32, ${P}>` },
    { s: 'var', name: 'total', type: 'f32', value: '0.0f' },
    overParts([
      { s: 'let', name: 'ls', value: at('1u') },
      { s: 'assign', target: 'w[sp]', value: `select(0.0f, exp(${at('0u')} - mx), ls > 0.0f)` },
      { s: 'assign', target: 'total', op: '+', value: 'w[sp] * ls' },
    ]),
    { s: 'let', name: 'inv', value: 'select(0.0f, 1.0f / total, total > 0.0f)' },
    forRange('ee', E, [
      { s: 'var', name: 'o', type: 'f32', value: '0.0f' },
      overParts([{ s: 'assign', target: 'o', op: '+', value: `w[sp] * ${at('ee + 2u')}` }]),
      ...em.decompose('ee', k.e, 'e'),
      { s: 'assign', target: `out[${em.offset(k.out.axes.map((a) => ({ size: a.size, index: a.id })))}]`, value: 'o * inv' },
    ]),
  ];
  if (k.lse) {
    body.push({
      s: 'assign',
      target: `out1[${em.offset(k.lse.axes.map((a) => ({ size: a.size, index: a.id })))}]`,
      value: `select(${negInf}, mx + log(total), total > 0.0f)`,
    });
  }
  return { module: em.module(wg, body), workgroups: { op: 'ceildiv', args: [sizeProduct(k.rows.map((a) => a.size)), wg] }, em };
}
