/**
 * fuse-row-blocks: fuse the reductions over a long axis with the row-local kernels that feed
 * them into one `row-block` kernel, so those kernels' [rows × small] tensors stay on chip.
 *
 * A *final* is a reduction over one long axis `r` (symbolic, or at least `MIN_ROWS` long) whose
 * output is small and static, or a contraction with `k = [r]` and small static m and n. A *stage*
 * is an elementwise, reduce or GEMM kernel whose output has `r` and otherwise small static axes and
 * which reduces only over static axes, so row `i` of its output depends on row `i` of its row
 * inputs alone. A stage's output joins a final's row block when every load of it there reads the
 * row the reader is computing, when it is written once, and when every reader of it anywhere is a
 * member of a row block (so the tensor need not exist): then each row block recomputes it from
 * its own inputs. That includes a stage written before a loop whose body's row block reads it
 * (routing's betas: recomputed per iteration instead of held as [n_inp × n_out] tensors), when
 * its inputs do not change in between. Finals of one step list over the same rows form one row
 * block where their inputs allow; each final's partial result per part of the rows is folded by a
 * combine kernel after the row block (deterministic: no atomics). Operands of a stage's or
 * final's contraction that do not depend on the row (a prediction `x̃[j, d]`) become *invariants*,
 * computed once per workgroup. What is not fused is left as it was, for `split-reductions`.
 */
import type { Axis, DType, Size } from '../../dsl/types.ts';
import { type DeviceLimits } from '../../program/index.ts';
import {
  exprDtype,
  extentProduct,
  isSumOfProducts,
  kernelExprs,
  kernelLoads,
  readsAxis,
  kernelOutputs,
  ROW_AXIS,
  staticProduct,
  subExprs,
  type FusedProgram,
  type HostStep,
  type KAxis,
  type KExpr,
  type KernelIR,
  type KOutput,
  type RowBlockKernel,
  type RowKernel,
} from '../kernel-ir.ts';

/** The shortest static axis a row block folds (a symbolic axis always qualifies). */
export const MIN_ROWS = 256;
/** The most outputs a final may have (each thread keeps ⌈outputs / rows⌉ accumulators). */
export const MAX_FINAL_OUTPUTS = 4096;
/** The most elements a stage may compute per row. */
export const MAX_STAGE_ELEMENTS = 256;
/** The most elements a stage may reduce or contract per output element (work per row stays small). */
export const MAX_STAGE_REDUCTION = 4096;
/**
 * A tensor several row blocks compute is stored by the first and read by the rest, unless it is
 * static and at least this large: then each recomputes it, so that it never exists (routing's
 * betas at a million inputs are 64 MiB each). At 65,536 inputs reading the stored 4 MiB betas
 * beats redoing them: the routing bench's kernels took 604 ms of GPU time with the betas
 * recomputed in the loop's row block and 370 ms stored (timestamp profile, lavapipe, 2 cores).
 */
export const RECOMPUTE_BYTES = 16 * 2 ** 20;
/** Rows per part: each workgroup folds this many rows into one partial result. */
export const ROWS_PER_PART = 1024;

type Final = Extract<KernelIR, { kind: 'reduce' | 'gemm' }>;
/** The long axis a group folds, and the outer axes (a batch) each of its workgroups holds fixed. */
type Row = { readonly name: string; readonly size: Size; readonly outer: readonly { readonly name: string; readonly size: Size }[] };

/** The id a row block gives its `k`-th outer axis. */
export function outerAxisId(k: number): string {
  return `outer${k}`;
}

const isOuterId = (id: string) => /^outer\d+$/.test(id);

/** A kernel or copy step with where it runs: its flat position and the loops around it. */
interface Site {
  readonly step: Exclude<HostStep, { kind: 'loop' }>;
  readonly pos: number;
  readonly list: readonly HostStep[];
  /** The enclosing loops' flat position spans, outermost first. */
  readonly loops: readonly { readonly start: number; readonly end: number }[];
}

interface Group {
  readonly list: readonly HostStep[];
  readonly pos: number;
  readonly row: Row;
  readonly finals: { kernel: Final; rowId: string; site: Site }[];
  /** Absorbed buffers and the stage kernel (and its row axis id) writing each. */
  readonly stages: Map<number, { kernel: RowKernel; rowId: string; site: Site }>;
}

/** Fuses row blocks (see the file comment). */
export function fuseRowBlocks(program: FusedProgram, limits: DeviceLimits): FusedProgram {
  const sites: Site[] = [];
  let position = 0;
  const walk = (list: readonly HostStep[], loops: Site['loops']) => {
    for (const step of list) {
      if (step.kind === 'loop') {
        const start = position;
        const inner = { start, end: -1 };
        walk(step.body, [...loops, inner]);
        (inner as { end: number }).end = position - 1;
        continue;
      }
      const site = { step, pos: position++, list, loops };
      sites.push(site);
    }
  };
  walk(program.steps, []);
  const writers = new Map<number, Site[]>();
  const readers = new Map<number, Site[]>();
  const push = (map: Map<number, Site[]>, b: number, s: Site) => map.set(b, [...(map.get(b) ?? []), s]);
  for (const s of sites) {
    if (s.step.kind === 'copy') {
      push(writers, s.step.dst, s);
      push(readers, s.step.src, s);
    } else {
      for (const o of kernelOutputs(s.step.kernel)) push(writers, o.buffer, s);
      for (const b of kernelLoads(s.step.kernel)) push(readers, b, s);
    }
  }
  const outputs = new Set(program.outputs.map((o) => o.buffer));

  // Groups, then settle every absorbed tensor that other code needs, to a fixed point: the first
  // block computing it that runs before all of that code stores it (the others read it), else it
  // is not absorbed at all. A tensor that only row blocks read is recomputed by each of them when
  // it is static and large (`RECOMPUTE_BYTES`); otherwise the first stores it for the rest.
  const excluded = new Set<number>();
  const readOnly = new Map<KernelIR, Set<number>>();
  /** Finals whose row block would bind more storage buffers than the device allows. */
  const unfused = new Set<KernelIR>();
  let groups: Group[];
  let stores: Map<Group, Set<number>>;
  for (;;) {
    groups = formGroups(sites, writers, excluded, readOnly, unfused);
    stores = new Map(groups.map((g) => [g, new Set<number>()]));
    const memberOf = new Map<KernelIR, Group>();
    for (const g of groups) for (const k of [...g.finals.map((f) => f.kernel), ...[...g.stages.values()].map((x) => x.kernel)]) if (!memberOf.has(k)) memberOf.set(k, g);
    // A final's result is never recomputed as another block's stage.
    const finalOutputs = new Set(groups.flatMap((g) => g.finals.map((f) => f.kernel.out.buffer)));
    let changed = false;
    for (const b of new Set(groups.flatMap((g) => [...g.stages.keys()]))) {
      const absorbers = groups.filter((g) => g.stages.has(b));
      const inAbsorber = (r: Site) => r.step.kind === 'kernel' && absorbers.some((g) => isMember(g, (r.step as Extract<HostStep, { kind: 'kernel' }>).kernel));
      const outside = (readers.get(b) ?? []).filter((r) => !inAbsorber(r));
      const large = (() => {
        const bytes = staticProduct(program.buffers[b]!.axes.map((x) => x.size));
        return bytes !== null && 4 * bytes >= RECOMPUTE_BYTES;
      })();
      const store = outputs.has(b) || outside.length > 0 || (absorbers.length > 1 && !large);
      if (finalOutputs.has(b)) {
        excluded.add(b);
        changed = true;
        continue;
      }
      if (!store) continue;
      // The owner runs before every reader that is not one of its own members.
      const owner = absorbers.find((g) => (readers.get(b) ?? []).every((r) => (r.step.kind === 'kernel' && isMember(g, r.step.kernel)) || r.pos > g.pos));
      if (!owner) {
        excluded.add(b);
        changed = true;
        continue;
      }
      stores.get(owner)!.add(b);
      for (const h of absorbers) {
        if (h === owner) continue;
        const key = h.finals[0]!.kernel;
        if (!readOnly.has(key)) readOnly.set(key, new Set());
        readOnly.get(key)!.add(b);
        changed = true;
      }
    }
    // Every buffer a row block binds: what it reads, its partials and what it stores.
    for (const g of groups) {
      const absorbed = new Set(g.stages.keys());
      const reads = new Set([...g.finals.map((f) => f.kernel), ...[...g.stages.values()].map((x) => x.kernel)].flatMap((k) => [...kernelLoads(k)]).filter((b) => !absorbed.has(b)));
      // A row block over outer axes cannot run in chunks (`chunk-bindings`): where a buffer it
      // would bind is larger than one binding, the unfused kernels (which can) run instead.
      const tooLarge = g.row.outer.length > 0 && [...reads, ...stores.get(g)!].some((b) => {
        const n = staticProduct(program.buffers[b]!.axes.map((a) => a.size));
        return n !== null && 4 * n > limits.maxStorageBufferBindingSize;
      });
      if (tooLarge || reads.size + g.finals.length + stores.get(g)!.size > limits.maxStorageBuffersPerShaderStage) {
        unfused.add(g.finals[g.finals.length - 1]!.kernel);
        changed = true;
      }
    }
    if (!changed) break;
  }
  if (groups.length === 0) return program;

  // Rewrite: each group's row block and combines replace its first final; members and absorbed writers go.
  const buffers = [...program.buffers];
  const newBuffer = (dtype: DType, axes: readonly Axis[], label: string, elements?: ReturnType<typeof extentProduct>) => {
    const id = buffers.length;
    buffers.push({ id, dtype, axes, role: 'temp', label, ...(elements !== undefined ? { elements } : {}) });
    return id;
  };
  const replaced = new Map<KernelIR, KernelIR[]>();
  const removed = new Set<KernelIR>();
  for (const g of groups) {
    const kernels = buildRowBlock(g, stores.get(g)!, newBuffer, limits);
    g.finals.forEach((f, i) => (i === 0 ? replaced.set(f.kernel, kernels) : removed.add(f.kernel)));
    for (const s of g.stages.values()) removed.add(s.kernel);
  }
  const rewrite = (list: readonly HostStep[]): HostStep[] =>
    list.flatMap((s): HostStep[] => {
      if (s.kind === 'loop') return [{ ...s, body: rewrite(s.body) }];
      if (s.kind !== 'kernel') return [s];
      const r = replaced.get(s.kernel);
      if (r) return r.map((kernel) => ({ kind: 'kernel', kernel }));
      return removed.has(s.kernel) ? [] : [s];
    });
  return { ...program, buffers, steps: rewrite(program.steps) };
}

/** Whether `k` is one of a group's finals or stages. */
function isMember(g: Group, k: KernelIR): boolean {
  return g.finals.some((f) => f.kernel === k) || [...g.stages.values()].some((x) => x.kernel === k);
}


/**
 * The rows `k` folds as a final, and its outer axes (a batch: a GEMM's batch axes, a reduction's
 * symbolic output axes), or null.
 */
function asFinal(k: KernelIR): { row: KAxis; outer: KAxis[] } | null {
  const long = (a: KAxis) => a.chunk === undefined && (typeof a.size === 'string' || a.size >= MIN_ROWS);
  const small = (axes: readonly KAxis[]) => {
    const n = staticProduct(axes.map((a) => a.size));
    return n !== null && n <= MAX_FINAL_OUTPUTS;
  };
  if (k.kind === 'reduce') {
    if (k.split) return null;
    const rows = k.reduced.filter(long);
    const rest = k.reduced.filter((a) => !rows.includes(a));
    const outer = k.out.axes.filter((a) => typeof a.size === 'string');
    if (rows.length !== 1 || staticProduct(rest.map((a) => a.size)) === null || !small(k.out.axes.filter((a) => !outer.includes(a)))) return null;
    return { row: rows[0]!, outer };
  }
  if (k.kind === 'gemm') {
    if (k.k.length !== 1 || !long(k.k[0]!) || k.batch.some((a) => a.chunk !== undefined) || !small([...k.m, ...k.n])) return null;
    return { row: k.k[0]!, outer: [...k.batch] };
  }
  return null;
}

/** The axis of `k`'s output that is `row` when `k` can be a stage over it, or null. */
function asStage(k: KernelIR, row: Row): KAxis | null {
  if (k.kind !== 'elementwise' && k.kind !== 'reduce' && k.kind !== 'gemm') return null;
  if (k.kind === 'reduce' && k.split) return null;
  const rows = k.out.axes.filter((a) => a.name === row.name && a.size === row.size && a.chunk === undefined);
  if (rows.length !== 1) return null;
  const isOuter = (a: KAxis) => row.outer.some((o) => o.name === a.name && o.size === a.size);
  const rest = staticProduct(k.out.axes.filter((a) => a !== rows[0] && !isOuter(a)).map((a) => a.size));
  if (rest === null || rest > MAX_STAGE_ELEMENTS) return null;
  const reduced = k.kind === 'reduce' ? k.reduced : k.kind === 'gemm' ? k.k : [];
  const work = staticProduct(reduced.map((a) => a.size));
  if (work === null || work > MAX_STAGE_REDUCTION) return null;
  return rows[0]!;
}

/**
 * Whether every load of `buffer` (written with `writerAxes`) in `k` reads row `rowId` at the
 * writer's row position and, at each outer axis's position, `k`'s own axis of that name.
 */
function readsOwnRow(k: KernelIR, buffer: number, writerAxes: readonly KAxis[], rowAt: number, rowId: string, row: Row): boolean {
  const own = new Map(iterationAxes(k).map((a) => [a.name, a.id]));
  const outerAt = writerAxes.flatMap((a, i) => (row.outer.some((o) => o.name === a.name && o.size === a.size) ? [[i, own.get(a.name)] as const] : []));
  let ok = true;
  const visit = (e: KExpr) => {
    if (e.k === 'load' && e.buffer === buffer) {
      const a = e.axes[rowAt];
      if (!a || !('index' in a) || a.index !== rowId) ok = false;
      for (const [i, id] of outerAt) {
        const x = e.axes[i];
        if (!x || !('index' in x) || id === undefined || x.index !== id) ok = false;
      }
    }
    subExprs(e).forEach(visit);
  };
  kernelExprs(k).forEach(visit);
  return ok;
}

/** Every iteration axis of a stage or final kernel. */
function iterationAxes(k: KernelIR): KAxis[] {
  if (k.kind === 'gemm') return [...k.batch, ...k.m, ...k.n, ...k.k];
  if (k.kind === 'reduce') return [...k.out.axes, ...k.reduced];
  return k.kind === 'elementwise' ? [...k.out.axes] : [];
}

/**
 * The row blocks: per step list, finals in order, each with the stages it can absorb; a final
 * joins the open group over the same rows when nothing it reads is written after that group.
 */
function formGroups(
  sites: readonly Site[],
  writers: ReadonlyMap<number, Site[]>,
  excluded: ReadonlySet<number>,
  readOnly: ReadonlyMap<KernelIR, ReadonlySet<number>>,
  unfused: ReadonlySet<KernelIR>,
): Group[] {
  const groups: Group[] = [];
  /** The group each step list and row axis has open for later finals. */
  const open = new Map<readonly HostStep[], Map<string, Group>>();
  /** Whether `b`, read by the code at `reader`, holds the same value at the group's position `at`. */
  const stable = (b: number, reader: Site, at: Place) => {
    const lo = Math.min(reader.pos, at.pos);
    const hi = Math.max(reader.pos, at.pos);
    const ws = writers.get(b) ?? [];
    if (ws.some((w) => w.pos >= lo && w.pos <= hi && w !== reader)) return false;
    const entered = at.loops.filter((l) => !reader.loops.includes(l));
    return !entered.some((l) => ws.some((w) => w.pos >= l.start && w.pos <= l.end));
  };
  /** Absorbs what `k` (row axis `rowId`) reads into `stages`; false when a read cannot move to `at`. */
  const absorb = (k: KernelIR, rowId: string, site: Site, at: Place, row: Row, stages: Group['stages'], key: KernelIR): boolean => {
    for (const b of kernelLoads(k)) {
      if (stages.has(b)) continue;
      const ws = writers.get(b) ?? [];
      const w = ws.length === 1 && ws[0]!.step.kind === 'kernel' && !excluded.has(b) && !readOnly.get(key)?.has(b) ? ws[0]! : null;
      const writer = w ? ((w.step as Extract<HostStep, { kind: 'kernel' }>).kernel as RowKernel) : null;
      const stageRow = writer ? asStage(writer, row) : null;
      const visible = w !== null && w.pos < at.pos && w.loops.every((l) => at.loops.includes(l));
      if (w && writer && stageRow && visible && readsOwnRow(k, b, writer.out.axes, writer.out.axes.indexOf(stageRow), rowId, row)) {
        stages.set(b, { kernel: writer, rowId: stageRow.id, site: w });
        if (!absorb(writer, stageRow.id, w, at, row, stages, key)) return false;
      } else if (!stable(b, site, at)) {
        return false;
      }
    }
    return true;
  };
  for (const site of sites) {
    if (site.step.kind !== 'kernel') continue;
    const k = site.step.kernel;
    const fin = unfused.has(k) ? null : asFinal(k);
    if (!fin || (k.kind !== 'reduce' && k.kind !== 'gemm')) continue;
    const row: Row = { name: fin.row.name, size: fin.row.size, outer: fin.outer.map((a) => ({ name: a.name, size: a.size })) };
    const key = JSON.stringify(row);
    if (!open.has(site.list)) open.set(site.list, new Map());
    const g = open.get(site.list)!.get(key);
    if (g) {
      const stages = new Map(g.stages);
      const untouched = !sites.some((s) => s.pos > g.pos && s.pos < site.pos && touches(s, k.out.buffer));
      if (untouched && absorb(k, fin.row.id, site, { pos: g.pos, loops: site.loops }, row, stages, g.finals[0]!.kernel)) {
        g.finals.push({ kernel: k, rowId: fin.row.id, site });
        for (const [b, s] of stages) g.stages.set(b, s);
        continue;
      }
    }
    const stages: Group['stages'] = new Map();
    if (absorb(k, fin.row.id, site, site, row, stages, k) && stages.size > 0) {
      const created: Group = { list: site.list, pos: site.pos, row, finals: [{ kernel: k, rowId: fin.row.id, site }], stages };
      groups.push(created);
      open.get(site.list)!.set(key, created);
    }
  }
  return groups;
}

/** A position a row block may run at: a flat position inside some loops. */
type Place = Pick<Site, 'pos' | 'loops'>;

function touches(s: Site, b: number): boolean {
  if (s.step.kind === 'copy') return s.step.src === b || s.step.dst === b;
  return kernelLoads(s.step.kernel).has(b) || kernelOutputs(s.step.kernel).some((o) => o.buffer === b);
}

/** The row block for a group, then one combine kernel per final. */
function buildRowBlock(g: Group, stored: ReadonlySet<number>, newBuffer: (dtype: DType, axes: readonly Axis[], label: string, elements?: ReturnType<typeof extentProduct>) => number, limits: DeviceLimits): KernelIR[] {
  // Stages in program order; locals numbered -1, -2, ... in that order.
  const ordered = [...g.stages.entries()].sort((a, b) => a[1].site.pos - b[1].site.pos);
  const local = new Map(ordered.map(([b], i) => [b, -(i + 1)]));
  const toLocal = (b: number) => local.get(b) ?? b;
  let nextLocal = -(ordered.length + 1);
  const invariants: Extract<KernelIR, { kind: 'elementwise' }>[] = [];
  const hoist = <K extends RowKernel>(k: K): K => {
    if (k.kind !== 'gemm') return k;
    // A plain load moves to workgroup memory too where the emitter then reads it four k at a time.
    const fours = (staticProduct(k.k.map((a) => a.size)) ?? 1) % 4 === 0 && k.out.dtype === 'f32';
    const operand = (e: KExpr, axes: readonly KAxis[]): KExpr => {
      if ((e.k === 'load' && (!fours || e.buffer < 0)) || dependsOnRow(e)) return e;
      // Fixed per workgroup, the outer axes are not axes of the invariant.
      const used = axes.filter((a) => a.id !== ROW_AXIS && !isOuterId(a.id) && readsAxis(e, new Set([a.id])));
      if (staticProduct(used.map((a) => a.size)) === null) return e;
      const id = nextLocal--;
      invariants.push({ kind: 'elementwise', name: `${k.name} invariant`, out: { buffer: id, dtype: exprDtype(e), axes: used }, value: e });
      return { k: 'load', buffer: id, dtype: exprDtype(e), axes: used.map((a) => ({ size: a.size, index: a.id })) };
    };
    return { ...k, a: operand(k.a, [...k.batch, ...k.m, ...k.k]), b: operand(k.b, [...k.batch, ...k.n, ...k.k]) };
  };
  const stages = ordered.map(([, s]) => hoist(asContraction(renameAxes(mapLoads(s.kernel, toLocal), canonicalIds(s.kernel, s.rowId, g.row)))));
  const finalKernels = g.finals.map((f) => hoist(renameAxes(mapLoads(f.kernel, toLocal), canonicalIds(f.kernel, f.rowId, g.row))));

  const rowAxis = g.finals[0]!.kernel.kind === 'gemm' ? g.finals[0]!.kernel.k[0]! : (g.finals[0]!.kernel as Extract<KernelIR, { kind: 'reduce' }>).reduced.find((a) => a.id === g.finals[0]!.rowId)!;
  const row: KAxis = { id: ROW_AXIS, name: rowAxis.name, size: rowAxis.size };
  const outer: KAxis[] = g.row.outer.map((o, i) => ({ id: outerAxisId(i), name: o.name, size: o.size }));
  const rows = blockRows(stages, finalKernels, invariants, limits);
  const chunk = typeof row.size === 'number' ? Math.min(ROWS_PER_PART, Math.ceil(row.size / rows) * rows) : ROWS_PER_PART;
  const parts: KAxis = typeof row.size === 'number' ? { id: 'part', name: `${row.name}/${chunk}`, size: Math.ceil(row.size / chunk) } : { id: 'part', name: `${row.name}/${chunk}`, size: row.size, chunk };

  const combines: KernelIR[] = [];
  const finals = finalKernels.map((k, i) => {
    const original = g.finals[i]!.kernel;
    const outAxes: Axis[] = k.out.axes.map((a) => ({ name: a.name, size: a.size }));
    const label = `${k.name} partial`;
    const buffer =
      parts.chunk === undefined ? newBuffer(k.out.dtype, [{ name: parts.name, size: parts.size }, ...outAxes], label) : newBuffer(k.out.dtype, outAxes, label, extentProduct([parts, ...k.out.axes]));
    const out: KOutput = { buffer, dtype: k.out.dtype, axes: [parts, ...k.out.axes] };
    const reduced = original.kind === 'reduce' ? original.reduced : original.k;
    combines.push({
      kind: 'reduce',
      name: `${k.name} combine`,
      fn: original.kind === 'reduce' ? original.fn : 'sum',
      out: original.out,
      reduced: [parts],
      // The combine iterates the final's own output axes (the row block renamed its outer ones).
      value: { k: 'load', buffer, dtype: k.out.dtype, axes: [parts, ...original.out.axes].map((a) => ({ size: a.size, index: a.id })) },
      split: { stage: 'combine', count: reduced.map((a) => a.size) },
    });
    return { kernel: k as Final, out };
  });
  const stores = ordered.flatMap(([b], i) => (stored.has(b) ? [{ local: stages[i]!.out.buffer, out: { ...stages[i]!.out, buffer: b } }] : []));
  const kernel: RowBlockKernel = {
    kind: 'row-block',
    name: g.finals.map((f) => f.kernel.name).join(' + '),
    out: finals[0]!.out,
    row,
    outer,
    parts,
    chunk,
    rows,
    invariants,
    stages,
    stores,
    finals,
  };
  return [kernel, ...combines];
}

/**
 * Rows per block: the most (64 down to 8) whose workgroup memory fits — the locals finals read,
 * a block's rows of each, and the invariants.
 */
function blockRows(stages: readonly RowKernel[], finals: readonly RowKernel[], invariants: readonly RowKernel[], limits: DeviceLimits): number {
  const readByFinals = new Set<number>();
  for (const f of finals) for (const b of kernelLoads(f)) if (b < 0) readByFinals.add(b);
  const perRow = stages.filter((s) => readByFinals.has(s.out.buffer)).reduce((n, s) => n + rowElements(s.out.axes), 0);
  const fixed = invariants.reduce((n, s) => n + (staticProduct(s.out.axes.map((a) => a.size)) ?? 0), 0);
  const threads = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  for (let rows = 64; rows >= 8; rows /= 2) {
    if (rows <= threads && 4 * (rows * perRow + fixed) <= limits.maxComputeWorkgroupStorageSize) return rows;
  }
  return 8;
}

/**
 * A stage summing a product of a row's value and a row-independent one over its reduced axes —
 * a contraction written as a reduction (`Σ_d x[i, d]·w[d]`) — as the GEMM it is, so that it gets a
 * GEMM stage's register blocking and arithmetic. The row-independent factor must use only the
 * reduced axes (it becomes the GEMM's `b`, with no `n` axes).
 */
function asContraction(k: RowKernel): RowKernel {
  if (k.kind !== 'reduce' || !isSumOfProducts(k) || k.value.k !== 'op' || k.value.args.length !== 2) return k;
  const [x, y] = k.value.args as [KExpr, KExpr];
  const onlyReduced = (e: KExpr) => !dependsOnRow(e) && !readsAxis(e, new Set(k.out.axes.map((a) => a.id)));
  const [a, b] = onlyReduced(y) && dependsOnRow(x) ? [x, y] : onlyReduced(x) && dependsOnRow(y) ? [y, x] : [null, null];
  if (!a || !b) return k;
  return { kind: 'gemm', name: k.name, out: k.out, batch: [], m: k.out.axes, n: [], k: k.reduced, a, b };
}

/** Elements per row of a stage's output (its axes but the row). */
export function rowElements(axes: readonly KAxis[]): number {
  return staticProduct(axes.filter((a) => a.id !== ROW_AXIS && !isOuterId(a.id)).map((a) => a.size)) ?? 0;
}

const ROW_ONLY: ReadonlySet<string> = new Set([ROW_AXIS]);

/** Whether `e` varies with the row: reads the row axis or an on-chip local. */
function dependsOnRow(e: KExpr): boolean {
  return readsAxis(e, ROW_ONLY) || (e.k === 'load' && e.buffer < 0) || subExprs(e).some(dependsOnRow);
}


/** `k` with its loads of buffers renamed by `f`. */
function mapLoads<K extends RowKernel>(k: K, f: (b: number) => number): K {
  const m = (e: KExpr): KExpr => {
    if (e.k === 'load') return { ...e, buffer: f(e.buffer), axes: e.axes.map((a) => ('at' in a ? { size: a.size, at: m(a.at) } : a)) };
    if (e.k === 'op') return { ...e, args: e.args.map(m) };
    return e;
  };
  const out = { ...k.out, buffer: f(k.out.buffer) };
  if (k.kind === 'gemm') return { ...k, out, a: m(k.a), b: m(k.b) };
  return { ...k, out, value: m((k as Extract<RowKernel, { value: KExpr }>).value) } as K;
}

/** `k` with its axes renamed by `ids` (old id → new id). */
function renameAxes<K extends RowKernel>(k: K, ids: ReadonlyMap<string, string>): K {
  const to = (id: string) => ids.get(id) ?? id;
  const ax = (axes: readonly KAxis[]) => axes.map((a) => (ids.has(a.id) ? { ...a, id: to(a.id) } : a));
  const r = (e: KExpr): KExpr => {
    if (e.k === 'index') return ids.has(e.axis) ? { ...e, axis: to(e.axis) } : e;
    if (e.k === 'load') return { ...e, axes: e.axes.map((a) => ('at' in a ? { size: a.size, at: r(a.at) } : ids.has(a.index) ? { ...a, index: to(a.index) } : a)) };
    if (e.k === 'op') return { ...e, args: e.args.map(r) };
    return e;
  };
  const out = { ...k.out, axes: ax(k.out.axes) };
  if (k.kind === 'gemm') return { ...k, out, batch: ax(k.batch), m: ax(k.m), n: ax(k.n), k: ax(k.k), a: r(k.a), b: r(k.b) };
  if (k.kind === 'reduce') return { ...k, out, reduced: ax(k.reduced), value: r(k.value) };
  return { ...k, out, value: r((k as Extract<RowKernel, { kind: 'elementwise' }>).value) };
}

/** The renaming that gives a kernel's row axis `ROW_AXIS` and its outer axes `outer0, outer1, ...`. */
function canonicalIds(k: RowKernel, rowId: string, row: Row): Map<string, string> {
  const ids = new Map([[rowId, ROW_AXIS]]);
  const axes = iterationAxes(k);
  row.outer.forEach((o, i) => {
    const a = axes.find((x) => x.name === o.name && x.size === o.size);
    if (a) ids.set(a.id, outerAxisId(i));
  });
  return ids;
}
