/**
 * Row-block kernels (`fuse-row-blocks`): one workgroup per part of the long axis, `rows` threads,
 * folding the part `rows` rows at a time. The threads first compute the invariants together (once);
 * then per block each thread computes one row's stages, alone and without barriers (a stage reads
 * only its own row), into private arrays — or, for the locals a final reads, into workgroup
 * memory — and after a barrier every thread folds its share of each final's outputs over the
 * block's rows into registers. At the end each thread writes its outputs' partial results for the
 * part. Contractions (GEMM stages and finals) multiply-add on plain IEEE arithmetic, as the GEMM
 * kernel does; the rest carries non-finite values exactly (`nonfinite.ts`).
 */
import { reductionFold } from '../../dsl/reductions.ts';
import { wgslLiteral } from '../../dsl/scalar-ops.ts';
import type { DType, Size } from '../../dsl/types.ts';
import { printExpr } from '../kernel-ir-print.ts';
import { sizeProduct, type SizeExpr } from '../../program/index.ts';
import { extentProduct, readsAxis, ROW_AXIS, staticProduct, subExprs, type KAxis, type KExpr, type KernelIR, type RowBlockKernel, type RowKernel } from '../kernel-ir.ts';
import type { RowBlockSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, regType, type Emitted } from './core.ts';
import { forRange, strided } from './loops.ts';
import { accumulator } from './reduce.ts';

/** The largest op subtrees of `e` that read none of `axes`, each once, in evaluation order. */
function invariantOps(e: KExpr, axes: ReadonlySet<string>): KExpr[] {
  const out = new Map<string, KExpr>();
  const visit = (x: KExpr) => {
    if (x.k === 'op' && !readsAxis(x, axes)) {
      out.set(printExpr(x), x);
      return;
    }
    subExprs(x).forEach(visit);
  };
  visit(e);
  return [...out.values()];
}

/**
 * The op subtrees that occur more than once in `e` (an element's value) and read some of `varying`
 * (or, with `varying` empty, any), inner ones first, each once.
 */
function repeatedOps(e: KExpr, varying: ReadonlySet<string>): KExpr[] {
  const seen = new Map<string, { e: KExpr; n: number }>();
  const order: string[] = [];
  const visit = (x: KExpr) => {
    subExprs(x).forEach(visit);
    if (x.k !== 'op' || (varying.size > 0 && !readsAxis(x, varying))) return;
    const key = printExpr(x);
    const entry = seen.get(key);
    if (entry) entry.n++;
    else {
      seen.set(key, { e: x, n: 1 });
      order.push(key);
    }
  };
  visit(e);
  return order.filter((k) => seen.get(k)!.n > 1).map((k) => seen.get(k)!.e);
}

/**
 * Whether a GEMM stage can multiply four k at a time: f32, few outputs, k a multiple of 4, one
 * operand depends on the row and the other is an invariant whose trailing axes are exactly `k`
 * (so four consecutive k are one vec4 of it). Returns the two operands.
 */
function byFours(st: Extract<RowKernel, { kind: 'gemm' }>, invariants: RowBlockKernel['invariants']): { row: KExpr; inv: Extract<KExpr, { k: 'load' }> } | null {
  const rest = st.out.axes.filter((a) => !fixed(a));
  if (st.out.dtype !== 'f32' || count(rest) > UNROLLED_OUTPUTS || count(st.k) % 4 !== 0) return null;
  const isInv = (e: KExpr): e is Extract<KExpr, { k: 'load' }> => {
    if (e.k !== 'load' || !invariants.some((i) => i.out.buffer === e.buffer)) return false;
    const tail = e.axes.slice(e.axes.length - st.k.length);
    return e.axes.every((a) => 'index' in a) && tail.length === st.k.length && tail.every((a, i) => 'index' in a && a.index === st.k[i]!.id);
  };
  if (isInv(st.b)) return { row: st.a, inv: st.b };
  if (isInv(st.a)) return { row: st.b, inv: st.a };
  return null;
}

/** A final's part of the kernel: declarations before the blocks, its fold per block, its stores. */
interface FinalPlan {
  readonly decls: Stmt[];
  readonly fold: Stmt[];
  readonly write: Stmt[];
}

/** The most outputs per row a GEMM stage keeps in registers (more: one output at a time). */
const UNROLLED_OUTPUTS = 64;

/** An axis a workgroup or a thread holds fixed while a stage runs: the row, an outer axis. */
function fixed(a: { readonly id: string }): boolean {
  return a.id === ROW_AXIS || /^outer\d+$/.test(a.id);
}

function storage(d: DType): string {
  return d === 'bool' ? 'u32' : d;
}

function count(axes: readonly KAxis[]): number {
  return staticProduct(axes.map((a) => a.size))!;
}

/** Emits a row block; its contractions see the buffers that may be non-finite as `em.products`. */
export function emitRowBlock(k: RowBlockKernel, s: RowBlockSchedule, em: Emitter): Emitted {
  const products = em.products;
  const R = s.rows;
  /** Threads; each computes the stages of rows lid, lid + TH, ... (RPT of them) of a block. */
  const TH = s.threads;
  const RPT = R / TH;
  const nrows = em.size(k.row.size);
  // Where each local lives: invariants and the stages a final reads in workgroup memory, the rest private.
  const finalReads = new Set<number>();
  for (const f of k.finals) {
    const visit = (e: KExpr): void => {
      if (e.k === 'load' && e.buffer < 0) finalReads.add(e.buffer);
      if (e.k === 'op') e.args.forEach(visit);
    };
    (f.kernel.kind === 'gemm' ? [f.kernel.a, f.kernel.b] : [f.kernel.value]).forEach(visit);
  }
  // `rowAt`: the row's position in the local's axes (-1 for an invariant); `outerAt`: the outer axes', which locals do not store.
  const layout = new Map<number, { kind: 'shared' | 'private'; rowAt: number; outerAt: number[]; per: number; dtype: DType }>();
  const workgroupVars: { name: string; type: string }[] = [];
  const decls: Stmt[] = [];
  // GEMM stages that read a row-independent operand four k at a time, and that operand's invariant.
  const fours = new Map<RowKernel, { row: KExpr; inv: Extract<KExpr, { k: 'load' }> }>();
  for (const st of k.stages) {
    const v = st.kind === 'gemm' ? byFours(st, k.invariants) : null;
    if (v) fours.set(st, v);
  }
  const vec4s = new Set([...fours.values()].map((v) => v.inv.buffer));
  for (const inv of k.invariants) {
    layout.set(inv.out.buffer, { kind: 'shared', rowAt: -1, outerAt: [], per: 0, dtype: inv.out.dtype });
    const n = count(inv.out.axes);
    workgroupVars.push({ name: `inv${-inv.out.buffer}`, type: vec4s.has(inv.out.buffer) ? `array<vec4<f32>, ${n / 4}>` : `array<${storage(inv.out.dtype)}, ${n}>` });
  }
  for (const st of k.stages) {
    const rowAt = st.out.axes.findIndex((a) => a.id === ROW_AXIS);
    const outerAt = st.out.axes.flatMap((a, i) => (a.id !== ROW_AXIS && fixed(a) ? [i] : []));
    const per = count(st.out.axes.filter((a) => !fixed(a)));
    if (finalReads.has(st.out.buffer)) {
      layout.set(st.out.buffer, { kind: 'shared', rowAt, outerAt, per, dtype: st.out.dtype });
      workgroupVars.push({ name: `loc${-st.out.buffer}`, type: `array<${storage(st.out.dtype)}, ${R * per}>` });
    } else {
      layout.set(st.out.buffer, { kind: 'private', rowAt, outerAt, per, dtype: st.out.dtype });
      decls.push({ s: 'var', name: `loc${-st.out.buffer}`, type: `array<${storage(st.out.dtype)}, ${RPT * per}>` });
    }
  }
  em.localAt = (buffer, axes) => {
    const l = layout.get(buffer)!;
    if (l.rowAt < 0) return vec4s.has(buffer) ? `inv${-buffer}[${em.offset(axes)} / 4u][${em.offset(axes)} % 4u]` : `inv${-buffer}[${em.offset(axes)}]`;
    if (l.kind === 'private') {
      const at = em.offset(axes.filter((_, i) => i !== l.rowAt && !l.outerAt.includes(i)));
      return RPT === 1 ? `loc${-buffer}[${at}]` : `loc${-buffer}[rp * ${l.per}u + ${at}]`;
    }
    return `loc${-buffer}[${em.offset(axes.flatMap((a, i) => (l.outerAt.includes(i) ? [] : [i === l.rowAt ? { size: R, index: `(${a.index} - row0)` } : a])))}]`;
  };
  const indices = (axes: readonly KAxis[]) => axes.map((a) => ({ size: a.size as Size, index: a.id }));
  /** A stage's element to its local — and, for a stored stage, to its buffer too. */
  const store = (out: RowKernel['out'], value: string): Stmt => {
    const v = out.dtype === 'bool' ? `select(0u, 1u, ${value})` : value;
    const global = k.stores.find((x) => x.local === out.buffer);
    const local: Stmt = { s: 'assign', target: em.local(out.buffer, indices(out.axes)), value: v };
    if (!global) return local;
    return { s: 'block', body: [{ s: 'let', name: 'stored', value: v }, { ...local, value: 'stored' }, { s: 'assign', target: em.at(global.out.buffer, em.offset(indices(global.out.axes))), value: 'stored' }] };
  };

  /**
   * One stage for this thread's row: every element of its output row. What the elements share —
   * subexpressions of the row alone (the input's activation in each of its credit assignments) —
   * is computed once before them, and what one element needs twice once per element.
   */
  const stage = (st: RowKernel, tag: string): Stmt[] => {
    const rest = st.out.axes.filter((a) => !fixed(a));
    if (st.kind === 'gemm' && count(rest) <= UNROLLED_OUTPUTS) return gemmStage(st, tag);
    const varying = new Set([...rest, ...(st.kind === 'reduce' ? st.reduced : st.kind === 'gemm' ? st.k : [])].map((a) => a.id));
    const value = st.kind === 'gemm' ? null : st.value;
    const shared = value ? em.bind(invariantOps(value, varying), `h${tag}_`) : [];
    const body: Stmt[] = [...em.decompose(`e${tag}`, rest, `e${tag}`)];
    if (st.kind === 'elementwise') body.push(...em.bind(repeatedOps(st.value, varying), `c${tag}_`));
    body.push(...element(st, tag, (v) => [store(st.out, v)]));
    // Names bound inside the element loop end with it; the row's stay for the run's later stages.
    em.unbindAll('c');
    return [...shared, forRange(`e${tag}`, `${count(rest)}u`, body)];
  };
  /** The statements computing one output element of a stage or invariant, handed to `emit`. */
  const element = (st: RowKernel, tag: string, emit: (value: string) => Stmt[]): Stmt[] => {
    if (st.kind === 'elementwise') return emit(em.expr(st.value));
    if (st.kind === 'reduce') {
      const acc = accumulator(em, st, reductionFold(st.fn));
      const n = `${count(st.reduced)}u`;
      return [
        { s: 'var', name: `acc${tag}`, type: acc.type, value: acc.init },
        forRange(`r${tag}`, n, [...em.decompose(`r${tag}`, st.reduced, `r${tag}`), ...em.bind(repeatedOps(st.value, new Set()), `c${tag}_`), { s: 'assign', target: `acc${tag}`, value: acc.combine(`acc${tag}`, acc.element()) }]),
        ...emit(acc.finalise(`acc${tag}`, n)),
      ];
    }
    const T = regType(st.out.dtype);
    return em.withNonFinite(products, () => [
      { s: 'var', name: `dot${tag}`, type: T, value: wgslLiteral(0, st.out.dtype) },
      forRange(`k${tag}`, `${count(st.k)}u`, [...em.decompose(`k${tag}`, st.k, `k${tag}`), { s: 'assign', target: `dot${tag}`, op: '+', value: `${em.expr(st.a)} * ${em.expr(st.b)}` }]),
      ...emit(`dot${tag}`),
    ]);
  };
  /** `let` statements binding `axes` to the indices of flat position `p` (a number: constants). */
  const constants = (p: number, axes: readonly KAxis[]): Stmt[] => {
    const out: Stmt[] = [];
    for (let i = axes.length - 1; i >= 0; i--) {
      const n = axes[i]!.size as number;
      out.push({ s: 'let', name: axes[i]!.id, value: `${p % n}u` });
      p = Math.floor(p / n);
    }
    return out;
  };
  /**
   * A GEMM stage with few outputs per row, register-blocked: k outermost, every output's
   * accumulator a register, so the row's operand (x[row, k]) is loaded once per k for all of them.
   */
  const gemmStage = (st: Extract<RowKernel, { kind: 'gemm' }>, tag: string): Stmt[] => {
    const rest = st.out.axes.filter((a) => !fixed(a));
    const P = count(rest);
    const T = regType(st.out.dtype);
    const acc = (p: number) => `dot${tag}_${p}`;
    const four = fours.get(st);
    if (four) {
      // Four k at a time: each of the thread's rows' operand gathered into a vec4, the invariant
      // read as one vec4 and used for all of them.
      const K4 = count(st.k) / 4;
      const invAt = em.offset(four.inv.axes.slice(0, four.inv.axes.length - st.k.length) as { size: Size; index: string }[]);
      const accOf = (p: number, r: number) => `dot${tag}_${p}_${r}`;
      const rows = Array.from({ length: RPT }, (_, r) => r);
      return em.withNonFinite(products, () => [
        ...rows.flatMap((r) => Array.from({ length: P }, (_, p): Stmt => ({ s: 'var', name: accOf(p, r), type: T, value: '0.0f' }))),
        forRange(`k${tag}`, `${K4}u`, [
          ...rows.flatMap((r): Stmt[] => [
            { s: 'var', name: `av${tag}_${r}`, type: 'vec4<f32>' },
            ...[0, 1, 2, 3].map((c): Stmt => ({
              s: 'block',
              body: [
                ...rowOf(r),
                { s: 'let', name: `kf${tag}`, value: `k${tag} * 4u + ${c}u` },
                ...em.decompose(`kf${tag}`, st.k, `kf${tag}`),
                { s: 'assign', target: `av${tag}_${r}.${'xyzw'[c]}`, value: em.expr(four.row) },
              ],
            })),
          ]),
          ...Array.from({ length: P }, (_, p): Stmt => ({
            s: 'block',
            body: [
              ...constants(p, rest),
              { s: 'let', name: `w${tag}`, value: `inv${-four.inv.buffer}[${invAt === '0u' ? '' : `${invAt} * ${K4}u + `}k${tag}]` },
              ...rows.map((r): Stmt => ({ s: 'assign', target: accOf(p, r), op: '+', value: `dot(av${tag}_${r}, w${tag})` })),
            ],
          })),
        ]),
        ...rows.map((r): Stmt => ({
          s: 'block',
          body: [...rowOf(r), { s: 'if', cond: `${ROW_AXIS} < nrows`, then: Array.from({ length: P }, (_, p): Stmt => ({ s: 'block', body: [...constants(p, rest), store(st.out, accOf(p, r))] })) }],
        })),
      ]);
    }
    return em.withNonFinite(products, () => [
      ...Array.from({ length: P }, (_, p): Stmt => ({ s: 'var', name: acc(p), type: T, value: wgslLiteral(0, st.out.dtype) })),
      forRange(`k${tag}`, `${count(st.k)}u`, [
        ...em.decompose(`k${tag}`, st.k, `k${tag}`),
        ...Array.from({ length: P }, (_, p): Stmt => ({ s: 'block', body: [...constants(p, rest), { s: 'assign', target: acc(p), op: '+', value: `${em.expr(st.a)} * ${em.expr(st.b)}` }] })),
      ]),
      ...Array.from({ length: P }, (_, p): Stmt => ({ s: 'block', body: [...constants(p, rest), store(st.out, acc(p))] })),
    ]);
  };

  /** `rp` and the row of a thread's `r`-th row in the block. */
  function rowOf(r: number | string): Stmt[] {
    return [
      { s: 'let', name: 'rp', value: typeof r === 'number' ? `${r}u` : r },
      { s: 'let', name: ROW_AXIS, value: RPT === 1 ? 'row0 + lid' : `row0 + lid + rp * ${TH}u` },
    ];
  }
  /**
   * The stages of a block: a GEMM stage read four k at a time for all of the thread's rows at once,
   * every run of other stages row by row.
   */
  const stageStmts: Stmt[] = [];
  let run: Stmt[] = [];
  const flush = () => {
    if (run.length > 0) stageStmts.push(forRange('rpi', `${RPT}u`, [...rowOf('rpi'), { s: 'if', cond: `${ROW_AXIS} < nrows`, then: run }]));
    run = [];
    em.unbindAll();
  };
  k.stages.forEach((st, j) => {
    if (st.kind === 'gemm' && fours.has(st)) {
      flush();
      stageStmts.push({ s: 'block', body: gemmStage(st, `s${j}`) });
    } else {
      run.push(...stage(st, `s${j}`));
    }
  });
  flush();

  // Workgroups are numbered outer-major: part `wid % nparts` of the rows, for outer index `wid / nparts`.
  const nparts = k.parts.chunk === undefined ? em.size(k.parts.size) : `((${em.size(k.parts.size)} + ${k.parts.chunk - 1}u) / ${k.parts.chunk}u)`;
  const placed: Stmt[] =
    k.outer.length === 0
      ? em.flatIndex('part', 'wid', [k.parts])
      : [{ s: 'let', name: 'part', value: `wid % ${nparts}` }, { s: 'let', name: 'ofl', value: `wid / ${nparts}` }, ...em.decompose('ofl', k.outer, 'ofl')];
  const body: Stmt[] = [...placed, { s: 'let', name: 'nrows', value: nrows }, ...decls];
  // Invariants: once per workgroup, every thread a strided share.
  k.invariants.forEach((inv, i) => {
    const tag = `i${i}`;
    body.push(
      strided(`e${tag}`, `${count(inv.out.axes)}u`, TH, [
        ...em.decompose(`e${tag}`, inv.out.axes, `e${tag}`),
        ...element(inv, tag, (v) => [store(inv.out, v)]),
      ]),
    );
  });
  if (k.invariants.length > 0) body.push({ s: 'barrier' });

  // Every final's accumulators (registers), its fold over a block's rows, its partial results.
  const plans = k.finals.map((f, i) => (f.kernel.kind === 'gemm' ? gemmFinal(f.kernel, f.out.buffer, `f${i}`) : reduceFinal(f.kernel, f.out.buffer, `f${i}`)));
  body.push(...plans.flatMap((p) => p.decls));
  const blockBody: Stmt[] = [
    { s: 'let', name: 'row0', value: `part * ${k.chunk}u + blk * ${R}u` },
    { s: 'if', cond: 'row0 >= nrows', then: [{ s: 'break' }] },
    ...stageStmts,
    { s: 'barrier' },
    { s: 'let', name: 'rend', value: `min(${R}u, nrows - row0)` },
    ...plans.flatMap((p) => p.fold),
    { s: 'barrier' },
  ];
  body.push(forRange('blk', `${k.chunk / R}u`, blockBody), ...plans.flatMap((p) => p.write));

  /**
   * A contraction final, register-blocked like the GEMM kernel: the threads form a TY × TX grid
   * over its (m × n) outputs, each holding RM × RN of them, so per row each thread evaluates RM
   * values of `a` and RN of `b` for RM · RN multiply-adds. Lavapipe pays for every value a lane
   * loads, even one every lane shares, so the grid minimises RM + RN.
   */
  function gemmFinal(fk: Extract<KernelIR, { kind: 'gemm' }>, partial: number, tag: string): FinalPlan {
    const M = count(fk.m);
    const N = count(fk.n);
    // The grid with the fewest operand values per row and thread (ties: more threads along n).
    let TX = 1;
    for (let tx = 2; tx <= TH && tx / 2 < N; tx *= 2) if (Math.ceil(M / (TH / tx)) + Math.ceil(N / tx) <= Math.ceil(M / (TH / TX)) + Math.ceil(N / TX)) TX = tx;
    const TY = TH / TX;
    const RM = Math.ceil(M / TY);
    const RN = Math.ceil(N / TX);
    const T = regType(fk.out.dtype);
    const acc = (i: number, j: number) => `${tag}_${i}_${j}`;
    const mAt = (i: number) => `ty${tag} + ${i * TY}u`;
    const nAt = (j: number) => `tx${tag} + ${j * TX}u`;
    const decls: Stmt[] = [{ s: 'let', name: `tx${tag}`, value: `lid % ${TX}u` }, { s: 'let', name: `ty${tag}`, value: `lid / ${TX}u` }];
    for (let i = 0; i < RM; i++) for (let j = 0; j < RN; j++) decls.push({ s: 'var', name: acc(i, j), type: T, value: wgslLiteral(0, fk.out.dtype) });
    const operand = (name: string, at: string, size: number, axes: readonly KAxis[], e: KExpr): Stmt[] => [
      { s: 'var', name, type: T },
      { s: 'block', body: [{ s: 'let', name: `${name}_at`, value: `min(${at}, ${size - 1}u)` }, ...em.decompose(`${name}_at`, axes, name), { s: 'assign', target: name, value: em.expr(e) }] },
    ];
    const perRow: Stmt[] = [{ s: 'let', name: ROW_AXIS, value: 'row0 + r' }];
    em.withNonFinite(products, () => {
      for (let i = 0; i < RM; i++) perRow.push(...operand(`va${tag}_${i}`, mAt(i), M, fk.m, fk.a));
      for (let j = 0; j < RN; j++) perRow.push(...operand(`vb${tag}_${j}`, nAt(j), N, fk.n, fk.b));
    });
    for (let i = 0; i < RM; i++) for (let j = 0; j < RN; j++) perRow.push({ s: 'assign', target: acc(i, j), op: '+', value: `va${tag}_${i} * vb${tag}_${j}` });
    const write: Stmt[] = [];
    const outputs = M * N;
    for (let i = 0; i < RM; i++) {
      for (let j = 0; j < RN; j++) {
        write.push({
          s: 'if',
          cond: `${mAt(i)} < ${M}u && ${nAt(j)} < ${N}u`,
          then: [
            { s: 'let', name: `mo${tag}_${i}_${j}`, value: mAt(i) },
            { s: 'let', name: `no${tag}_${j}_${i}`, value: nAt(j) },
            ...em.decompose(`mo${tag}_${i}_${j}`, fk.m, `mo${tag}_${i}_${j}`),
            ...em.decompose(`no${tag}_${j}_${i}`, fk.n, `no${tag}_${j}_${i}`),
            { s: 'assign', target: em.at(partial, `part * ${em.product(fk.out.axes.map((a) => a.size))} + ${em.offset(indices(fk.out.axes))}`), value: acc(i, j) },
          ],
        });
      }
    }
    return { decls, fold: [forRange('r', 'rend', perRow)], write };
  }

  /** A reduction final: each thread folds outputs lid, lid + TH, ... over the block's rows. */
  function reduceFinal(fk: Extract<KernelIR, { kind: 'reduce' }>, partial: number, tag: string): FinalPlan {
    // The outputs a workgroup folds: those of its outer index.
    const rest = fk.out.axes.filter((a) => !fixed(a));
    const outputs = count(rest);
    const whole = em.product(fk.out.axes.map((a) => a.size));
    const per = Math.ceil(outputs / TH);
    const acc = accumulator(em, { ...fk, split: { stage: 'partial' } }, reductionFold(fk.fn));
    const name = (q: number) => `${tag}_${q}`;
    const others = fk.reduced.filter((a) => a.id !== ROW_AXIS);
    const decls: Stmt[] = [];
    const fold: Stmt[] = [];
    const write: Stmt[] = [];
    for (let q = 0; q < per; q++) {
      const o = `o${tag}_${q}`;
      decls.push({ s: 'var', name: name(q), type: acc.type, value: acc.init });
      const step: Stmt = { s: 'assign', target: name(q), value: acc.combine(name(q), acc.element()) };
      const rowFold = others.length === 0 ? [step] : [forRange(`r${tag}`, `${count(others)}u`, [...em.decompose(`r${tag}`, others, `r${tag}`), step])];
      fold.push({
        s: 'block',
        body: [
          { s: 'let', name: o, value: `lid + ${q * TH}u` },
          { s: 'if', cond: `${o} < ${outputs}u`, then: [...em.decompose(o, rest, o), forRange('r', 'rend', [{ s: 'let', name: ROW_AXIS, value: 'row0 + r' }, ...rowFold])] },
        ],
      });
      const w = `w${tag}_${q}`;
      write.push({
        s: 'if',
        cond: `lid + ${q * TH}u < ${outputs}u`,
        then: [{ s: 'let', name: w, value: `lid + ${q * TH}u` }, ...em.decompose(w, rest, w), { s: 'assign', target: em.at(partial, `part * ${whole} + ${em.offset(indices(fk.out.axes))}`), value: acc.finalise(name(q), '1u') }],
      });
    }
    return { decls, fold, write };
  }

  const workgroups: SizeExpr = k.outer.length === 0 ? em.extent([k.parts]) : { op: 'mul', args: [extentProduct([k.parts]), sizeProduct(k.outer.map((a) => a.size))] };
  return { module: em.module(TH, body, workgroupVars), workgroups, em };
}

