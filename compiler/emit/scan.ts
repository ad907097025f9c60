/**
 * The scan kernel (`ScanKernel`, built by `lower-scan.ts`): one workgroup per index of the parallel
 * axes runs the whole recurrence. Its locals live in the workgroup's region of the scratch buffer
 * (u32 words; f32 values as their bits), at fixed offsets, or, for states marked `workgroup`, in a
 * workgroup array each (every barrier is then a storage and a workgroup barrier). Each scan level is a loop over chunks:
 * every step spreads its local's elements over the threads (a reduction folds its axes per
 * element, as the `thread` reduce strategy does), then a storage barrier; the chunk's outputs are
 * stored at the chunk's offset; the next state is computed beside the state and copied over it
 * once every step has read it. Nested scans are nested loops. Chunk lengths are run-time values:
 * the body's chunk-length symbols name the loop's `count` variables (`Emitter.sizeNames`).
 */
import { reductionFold } from '../../dsl/reductions.ts';
import type { DType } from '../../dsl/types.ts';
import type { SizeExpr } from '../../program/index.ts';
import { RELATION_SYMBOL, type GemmMask, type KAxis, type KExpr, type KernelIR, type Relation, type ScanKernel, type ScanLevel } from '../kernel-ir.ts';
import type { ElementwiseSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, type Emitted } from './core.ts';
import { accumulator } from './reduce.ts';
import { forRange, strided } from './loops.ts';

export function emitScan(k: ScanKernel, s: ElementwiseSchedule, em: Emitter): Emitted {
  const NT = s.workgroupSize;
  const scr = em.buffer(k.scratch.buffer);
  // States in workgroup memory are published by a workgroup barrier, the scratch by a storage one.
  const onChip = k.locals.filter((l) => l.workgroup);
  const storage: Stmt = { s: 'barrier', storage: true };
  const BARRIER: Stmt = onChip.length > 0 ? { s: 'block', body: [storage, { s: 'barrier' }] } : storage;
  const sizeExpr = (e: SizeExpr): string => {
    if (typeof e === 'number') return `${e}u`;
    if (typeof e === 'string') return em.size(e);
    const args = e.args.map(sizeExpr);
    switch (e.op) {
      case 'mul':
        return `(${args.join(' * ')})`;
      case 'add':
        return `(${args.join(' + ')})`;
      case 'ceildiv':
        return `((${args[0]} + ${args[1]} - 1u) / ${args[1]})`;
      case 'max':
        return `max(${args.join(', ')})`;
      case 'min':
        return `min(${args.join(', ')})`;
    }
  };
  const localOf = (id: number) => k.locals[-id - 1]!;
  /** The scratch word of local `id` at a flat offset within it. */
  const word = (id: number, offset: string) => (localOf(id).workgroup ? `${onChipName(id)}[${offset}]` : `${scr}[wbase + ${sizeExpr(localOf(id).offset)} + ${offset}]`);
  em.localAt = (buffer, axes) => {
    const w = word(buffer, em.offset(axes));
    const d = localOf(buffer).dtype;
    return d === 'f32' ? `bitcast<f32>(${w})` : d === 'i32' ? `bitcast<i32>(${w})` : w;
  };
  /** A register value as its scratch word. */
  const asWord = (value: string, d: DType) => (d === 'bool' ? `select(0u, 1u, ${value})` : d === 'u32' ? value : `bitcast<u32>(${value})`);
  const flat = (axes: readonly KAxis[]) => em.offset(axes.map((a) => ({ size: a.size, index: a.id })));
  /**
   * A loop's trip count over `axes`: static factors as a uniform word, so the shader compiler
   * cannot unroll the loop (lavapipe's LLVM takes seconds per unrolled product body).
   */
  const trips = (axes: readonly KAxis[]): string => {
    const fixed = axes.reduce((p, a) => (typeof a.size === 'number' ? p * a.size : p), 1);
    const parts = axes.filter((a) => typeof a.size === 'string').map((a) => em.size(a.size));
    if (fixed !== 1 || parts.length === 0) parts.unshift(em.opaque(fixed));
    return parts.length === 1 ? parts[0]! : `(${parts.join(' * ')})`;
  };

  /** `body` for every element of `axes` (the threads share them), the axes' ids bound. */
  const overElements = (axes: readonly KAxis[], tag: string, body: Stmt[]): Stmt =>
    strided('e', trips(axes), NT, [...em.decompose('e', axes, tag), ...body]);
  const storeLocal = (id: number, value: KExpr): Stmt => {
    const l = localOf(id);
    return overElements(l.axes, 'l', [{ s: 'assign', target: word(id, flat(l.axes)), value: asWord(em.expr(value), l.dtype) }]);
  };
  const copyLocal = (from: number, to: number): Stmt => {
    const l = localOf(to);
    return strided('e', trips(l.axes), NT, [{ s: 'assign', target: word(to, 'e'), value: word(from, 'e') }]);
  };
  const reduceLocal = (id: number, fn: Extract<KernelIR, { kind: 'reduce' }>['fn'], reduced: readonly KAxis[], value: KExpr): Stmt => {
    const l = localOf(id);
    const kernel: Extract<KernelIR, { kind: 'reduce' }> = { kind: 'reduce', name: '', fn, out: { buffer: id, dtype: l.dtype, axes: l.axes }, reduced, value };
    const acc = accumulator(em, kernel, reductionFold(fn));
    const count = trips(reduced);
    return overElements(l.axes, 'l', [
      { s: 'var', name: 'acc', type: acc.type, value: acc.init },
      forRange('r', count, [...em.decompose('r', reduced, 'r'), { s: 'assign', target: 'acc', value: acc.combine('acc', acc.element()) }]),
      { s: 'assign', target: word(id, flat(l.axes)), value: asWord(acc.finalise('acc', count), l.dtype) },
    ]);
  };

  /**
   * A binary contraction into a local, register-blocked: each thread owns blocks of up to RM × RN
   * outputs and, per contracted index, evaluates RM values of `a` and RN of `b` for RM·RN
   * multiply-adds (one load per multiply-add would otherwise go to the scratch buffer twice).
   */
  const gemmLocal = (step: Extract<ScanLevel['steps'][number], { kind: 'gemm' }>): Stmt => {
    const l = localOf(step.local);
    const [M, N, K, B] = [step.m, step.n, step.k, step.batch].map(trips) as [string, string, string, string];
    const [RM, RN] = [step.blockM, step.blockN];
    const bind = (axes: readonly KAxis[], index: string, tag: string): Stmt[] => em.decompose(index, axes, tag);
    const body: Stmt[] = [
      { s: 'let', name: 'mt', value: `(${M} + ${RM - 1}u) / ${RM}u` },
      { s: 'let', name: 'nt', value: `(${N} + ${RN - 1}u) / ${RN}u` },
    ];
    const block: Stmt[] = [
      { s: 'let', name: 'bb', value: 'blk / (mt * nt)' },
      { s: 'let', name: 'i0', value: `((blk % (mt * nt)) / nt) * ${RM}u` },
      { s: 'let', name: 'j0', value: `(blk % nt) * ${RN}u` },
      ...bind(step.batch, 'bb', 'gb'),
    ];
    const work: Stmt[] = [];
    for (let i = 0; i < RM * RN; i++) work.push({ s: 'var', name: `gc${i}`, type: 'f32', value: '0.0f' });
    const loads: Stmt[] = [...bind(step.k, 'kk', 'gk')];
    for (let r = 0; r < RM; r++) loads.push({ s: 'var', name: `ga${r}`, type: 'f32' }, { s: 'block', body: [{ s: 'let', name: 'gi', value: `min(i0 + ${r}u, ${M} - 1u)` }, ...bind(step.m, 'gi', 'gm'), { s: 'assign', target: `ga${r}`, value: em.expr(step.a) }] });
    for (let c = 0; c < RN; c++) loads.push({ s: 'var', name: `gb${c}`, type: 'f32' }, { s: 'block', body: [{ s: 'let', name: 'gj', value: `min(j0 + ${c}u, ${N} - 1u)` }, ...bind(step.n, 'gj', 'gn'), { s: 'assign', target: `gb${c}`, value: em.expr(step.b) }] });
    const fmas = (kept: ((r: number, c: number) => string) | null): Stmt[] => {
      const out: Stmt[] = [];
      for (let r = 0; r < RM; r++) {
        for (let c = 0; c < RN; c++) out.push({ s: 'assign', target: `gc${r * RN + c}`, op: '+', value: kept ? `select(0.0f, ga${r} * gb${c}, ${kept(r, c)})` : `ga${r} * gb${c}` });
      }
      return out;
    };
    work.push(...termsLoops(step.mask?.terms, K, RM, RN, loads, fmas));
    for (let r = 0; r < RM; r++) {
      for (let c = 0; c < RN; c++) {
        work.push({
          s: 'if',
          cond: `i0 + ${r}u < ${M} && j0 + ${c}u < ${N}`,
          then: [{ s: 'let', name: 'gi', value: `i0 + ${r}u` }, { s: 'let', name: 'gj', value: `j0 + ${c}u` }, ...bind(step.m, 'gi', 'gm'), ...bind(step.n, 'gj', 'gn'), { s: 'assign', target: word(step.local, flat(l.axes)), value: `bitcast<u32>(gc${r * RN + c})` }],
        });
      }
    }
    // A block with no output the mask keeps is skipped whole.
    const outputs = step.mask?.outputs;
    block.push(...(outputs ? [{ s: 'if', cond: blockMeets(outputs, RM, RN), then: work } as const] : work));
    body.push(strided('blk', `${B} * mt * nt`, NT, block));
    return { s: 'block', body };
  };

  const emitLevel = (level: ScanLevel): Stmt[] => {
    em.sizeNames.set(level.size, level.count);
    const out: Stmt[] = level.carries.map((c) => storeLocal(c.local, c.init));
    if (level.carries.length > 0) out.push(BARRIER);
    const chunkBody: Stmt[] = [{ s: 'let', name: level.count, value: `min(${level.chunk}u, ${em.size(level.length)} - ${level.start})` }];
    for (const step of level.steps) {
      if (step.kind === 'scan') chunkBody.push(...emitLevel(step.level));
      // A contraction reads the caller's tensors plain, as the GEMM kernel does (`Emitter.products`).
      else if (step.kind === 'gemm') chunkBody.push(em.withNonFinite(em.products, () => gemmLocal(step)), BARRIER);
      else chunkBody.push(step.kind === 'compute' ? storeLocal(step.local, step.value) : reduceLocal(step.local, step.fn, step.reduced, step.value), BARRIER);
    }
    for (const y of level.ys) {
      // Every element of the chunk's part of the target (its parallel axes are the workgroup's).
      const own = y.axes.filter((a) => !k.parallel.some((p) => p.id === a.id));
      const view = own.map((a) => (a.id === y.axis ? { ...a, size: level.size } : a));
      const at = em.offset(y.axes.map((a) => ({ size: a.size, index: a.id === y.axis ? `(${level.start} + ${a.id})` : a.id })));
      const isLocal = y.target < 0;
      const d = isLocal ? localOf(y.target).dtype : k.results.find((r) => r.buffer === y.target)!.dtype;
      const value = em.expr(y.value);
      const target = isLocal ? word(y.target, at) : em.at(y.target, at);
      chunkBody.push(overElements(view, 'y', [{ s: 'assign', target, value: isLocal ? asWord(value, d) : d === 'bool' ? `select(0u, 1u, ${value})` : value }]));
    }
    // The outputs are read after the loop: the next state's barrier (or this one) publishes them.
    if (level.ys.length > 0 && level.next.length === 0) chunkBody.push(BARRIER);
    if (level.next.length > 0) {
      const staged = level.next.filter((n) => n.next !== null);
      for (const n of staged) chunkBody.push(storeLocal(n.next!, n.value));
      if (staged.length > 0) chunkBody.push(BARRIER);
      for (const n of level.next) chunkBody.push(n.next === null ? storeLocal(n.local, n.value) : copyLocal(n.next, n.local));
      chunkBody.push(BARRIER);
    }
    out.push({ s: 'for', init: `var ${level.start} = 0u`, cond: `${level.start} < ${em.size(level.length)}`, update: `${level.start} += ${level.chunk}u`, body: chunkBody });
    em.sizeNames.delete(level.size);
    return out;
  };

  const body: Stmt[] = [
    ...em.decompose('wid', k.parallel, 'p'),
    { s: 'let', name: 'wbase', value: `wid * ${sizeExpr(k.perWorkgroup)}` },
    ...emitLevel(k.root),
  ];
  for (const f of k.finals) {
    const l = localOf(f.local);
    const at = em.offset(f.out.axes.map((a) => ({ size: a.size, index: a.id })));
    body.push(overElements(l.axes, 'f', [{ s: 'assign', target: em.at(f.out.buffer, at), value: em.localAt!(f.local, l.axes.map((a) => ({ size: a.size, index: a.id }))) }]));
  }
  const workgroups: SizeExpr = k.parallel.length === 0 ? 1 : k.parallel.length === 1 ? k.parallel[0]!.size : { op: 'mul', args: k.parallel.map((a) => a.size) };
  const workgroupVars = onChip.map((l) => ({ name: onChipName(l.id), type: `array<u32, ${sizeExpr(l.capacity).replace(/u$/, '')}>` }));
  return { module: em.module(NT, body, workgroupVars), workgroups, em };
}

/** The workgroup array holding on-chip local `id`. */
const onChipName = (id: number) => `state${-id}`;

/**
 * A register block's `kk` loops over `count` terms, restricted to those a causal mask keeps. With
 * `k op side`, the block's rows `i0 ..< i0 + RM` (side m) or columns `j0 ..< j0 + RN` (side n)
 * share a run of terms every one of them keeps (plain multiply-adds) beside a diagonal strip of
 * at most RM (or RN) terms where each row keeps its own, guarded per row; the terms no row keeps
 * are never formed. Guarding the strip makes a masked term absent whatever the blocking, so a ±∞
 * or NaN in the other operand at a masked position never reaches the result.
 */
function termsLoops(terms: GemmMask['terms'], count: string, RM: number, RN: number, loads: Stmt[], fmas: (kept: ((r: number, c: number) => string) | null) => Stmt[]): Stmt[] {
  const loop = (from: string, to: string, body: Stmt[]): Stmt => ({ s: 'for', init: `var kk = ${from}`, cond: `kk < ${to}`, update: 'kk += 1u', body });
  if (!terms) return [loop('0u', count, [...loads, ...fmas(null)])];
  const [first, size] = terms.side === 'm' ? ['i0', RM] : ['j0', RN];
  const last = `${first} + ${size - 1}u`;
  const strip = fmas((r, c) => `kk ${RELATION_SYMBOL[terms.op]} ${first} + ${terms.side === 'm' ? r : c}u`);
  const capped = (to: string) => `min(${count}, ${to})`;
  switch (terms.op) {
    case 'le':
      return [loop('0u', capped(first), [...loads, ...fmas(null)]), loop(first, capped(`${last} + 1u`), [...loads, ...strip])];
    case 'lt':
      return [loop('0u', capped(first), [...loads, ...fmas(null)]), loop(first, capped(last), [...loads, ...strip])];
    case 'ge':
      return [loop(first, capped(last), [...loads, ...strip]), loop(capped(last), count, [...loads, ...fmas(null)])];
    case 'gt':
      return [loop(`${first} + 1u`, capped(`${last} + 1u`), [...loads, ...strip]), loop(capped(`${last} + 1u`), count, [...loads, ...fmas(null)])];
  }
}

/** Whether block (i0, j0) of RM × RN outputs holds an element with `n op m`. */
function blockMeets(op: Relation, RM: number, RN: number): string {
  const [lastI, lastJ] = [`i0 + ${RM - 1}u`, `j0 + ${RN - 1}u`];
  return { le: `j0 <= ${lastI}`, lt: `j0 < ${lastI}`, ge: `${lastJ} >= i0`, gt: `${lastJ} > i0` }[op];
}
