/** Elementwise kernels: one thread per output element, the fused expression evaluated in place. */
import type { KernelIR } from '../kernel-ir.ts';
import type { ElementwiseSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, type Emitted } from './core.ts';

export function emitElementwise(k: Extract<KernelIR, { kind: 'elementwise' }>, s: ElementwiseSchedule, em: Emitter): Emitted {
  const wg = s.workgroupSize;
  const total = em.product(k.out.axes.map((a) => a.size));
  const body: Stmt[] = [
    ...em.flatIndex('flat', `wid * ${wg}u + lid`, k.out.axes, total),
    ...em.decompose('flat', k.out.axes, 'o'),
    { s: 'assign', target: em.at(k.out.buffer, 'flat'), value: em.store(em.expr(k.value)) },
  ];
  return { module: em.module(wg, body), workgroups: { op: 'ceildiv', args: [em.extent(k.out.axes), wg] }, em };
}
