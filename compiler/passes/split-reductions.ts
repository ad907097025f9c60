/**
 * split-reductions: cut a reduction or contraction whose reduced axis is long next to its output
 * into a partial kernel over (parts × outputs), each part folding one chunk of the axis, and a
 * combine kernel folding the parts in a fixed order — deterministic, no atomics.
 *
 * The long axis `r` of `n` elements becomes `r = s·C + t`: `s`, the parts axis (⌈n / C⌉ parts),
 * leads the partial kernel's output (a GEMM's batch), and `t`, of size `C`, is reduced in `r`'s
 * place. Every read of `r` reads position `s·C + t` (a clamped gather), and where `C` does not
 * divide `n` the value is `where(s·C + t < n, value, identity)`, so the tail chunk folds exactly
 * its own elements (a GEMM zeroes both operands there). The combine is an ordinary reduction over
 * `s`; a reduction with a finaliser (mean) skips it in the partial kernel and applies it once in
 * the combine, with the count of the whole axis (`ReduceSplit`). Fold, identity and finaliser are
 * the reduction registry's. When to split is `splitRule` (`schedule.ts`); where it depends on
 * symbolic sizes, the program carries the split kernels and the whole one, each guarded by the
 * size range (`when`) it is chosen for, so a short run never pays for the split.
 */
import { reductionFold } from '../../dsl/reductions.ts';
import type { Axis, DType } from '../../dsl/types.ts';
import type { DeviceLimits, SizeRange } from '../../program/index.ts';
import { exprDtype, extentProduct, kernelExprs, subExprs, type FusedProgram, type HostStep, type KAxis, type KExpr, type KernelIR, type NewBuffer } from '../kernel-ir.ts';
import { splitRule, type ScheduleOverrides, type SplitRule } from '../schedule.ts';

type Splittable = Extract<KernelIR, { kind: 'reduce' | 'gemm' }>;

/**
 * Splits every reduction and GEMM of the program that `splitRule` selects (a step already guarded
 * by a size range is left as it is: a step has one range).
 */
export function splitReductions(program: FusedProgram, limits: DeviceLimits, overrides: ScheduleOverrides = {}): FusedProgram {
  const buffers = [...program.buffers];
  const newBuffer: NewBuffer = (dtype, axes, role, label, elements) => {
    const id = buffers.length;
    buffers.push({ id, dtype, axes, role, label, ...(elements !== undefined ? { elements } : {}) });
    return id;
  };
  const visit = (steps: readonly HostStep[]): HostStep[] =>
    steps.flatMap((s): HostStep[] => {
      if (s.kind === 'loop') return [{ ...s, body: visit(s.body) }];
      if (s.kind !== 'kernel' || s.when || (s.kernel.kind !== 'reduce' && s.kernel.kind !== 'gemm')) return [s];
      const rule = splitRule(s.kernel, limits, overrides);
      if (!rule) return [s];
      const split = splitKernel(s.kernel, rule, newBuffer);
      if (!rule.when) return split.map((kernel) => ({ kind: 'kernel', kernel }));
      return [...split.map((kernel) => ({ kind: 'kernel' as const, kernel, when: rule.when })), { ...s, when: complement(rule.when) }];
    });
  const steps = visit(program.steps);
  return { ...program, buffers, steps };
}

/** The sizes outside a one-sided range. */
function complement(r: SizeRange): SizeRange {
  return r.atLeast !== undefined ? { size: r.size, below: r.atLeast } : { size: r.size, atLeast: r.below! };
}

/** The partial kernel and the combine kernel computing `k`'s output. */
function splitKernel(k: Splittable, rule: SplitRule, newBuffer: NewBuffer): [KernelIR, KernelIR] {
  const { axis: r, chunk } = rule;
  const [sId, tId] = freshIds(k, 2) as [string, string];
  const parts: KAxis =
    typeof r.size === 'number' ? { id: sId, name: `${r.name}/${chunk}`, size: Math.ceil(r.size / chunk) } : { id: sId, name: `${r.name}/${chunk}`, size: r.size, chunk };
  const within: KAxis = { id: tId, name: `${r.name}%${chunk}`, size: chunk };

  // Position s·C + t along r; the tail test where C does not divide n.
  const i32 = (e: KExpr, fn: string, arg: KExpr): KExpr => ({ k: 'op', fn, args: [e, arg], dtype: 'i32' });
  const position = i32(i32({ k: 'index', axis: sId }, 'mul', { k: 'const', value: chunk, dtype: 'i32' }), 'add', { k: 'index', axis: tId });
  const inRange: KExpr | null = typeof r.size === 'number' && r.size % chunk === 0 ? null : { k: 'op', fn: 'lt', args: [position, { k: 'size', size: r.size }], dtype: 'bool' };
  const chunked = (e: KExpr, filler: number, dtype: DType): KExpr => {
    const at = atPosition(e, r.id, position);
    return inRange ? { k: 'op', fn: 'where', args: [inRange, at, { k: 'const', value: filler, dtype }], dtype } : at;
  };

  // The partial buffer: [parts, ...outputs]; a symbolic count of parts has no axis size, so the
  // buffer is declared over the outputs with its element count given.
  const outAxes: Axis[] = k.out.axes.map((a) => ({ name: a.name, size: a.size }));
  const label = `${k.name} partial`;
  const partialBuffer =
    parts.chunk === undefined
      ? newBuffer(k.out.dtype, [{ name: parts.name, size: parts.size }, ...outAxes], 'temp', label)
      : newBuffer(k.out.dtype, outAxes, 'temp', label, extentProduct([parts, ...k.out.axes]));
  const partialOut = { buffer: partialBuffer, dtype: k.out.dtype, axes: [parts, ...k.out.axes] };
  const replace = (axes: readonly KAxis[]) => axes.map((a) => (a.id === r.id ? within : a));

  const combine = (fn: Extract<KernelIR, { kind: 'reduce' }>['fn'], reduced: readonly KAxis[]): KernelIR => ({
    kind: 'reduce',
    name: `${k.name} combine`,
    fn,
    out: k.out,
    reduced: [parts],
    value: { k: 'load', buffer: partialBuffer, dtype: k.out.dtype, axes: partialOut.axes.map((a) => ({ size: a.size, index: a.id })) },
    split: { stage: 'combine', count: reduced.map((a) => a.size) },
  });
  if (k.kind === 'reduce') {
    const identity = reductionFold(k.fn).identity(k.out.dtype);
    const partial: KernelIR = { ...k, name: label, out: partialOut, reduced: replace(k.reduced), value: chunked(k.value, identity, k.out.dtype), split: { stage: 'partial' } };
    return [partial, combine(k.fn, k.reduced)];
  }
  // Both operands are zero past the end: 0·0, where a clamped read could be ±∞ or NaN.
  const operand = (e: KExpr) => chunked(e, 0, exprDtype(e));
  const partial: KernelIR = { ...k, name: label, out: partialOut, batch: [parts, ...k.batch], k: replace(k.k), a: operand(k.a), b: operand(k.b) };
  return [partial, combine('sum', k.k)];
}

/** `e` with every read of axis `id` made a read at `position` (a clamped gather). */
function atPosition(e: KExpr, id: string, position: KExpr): KExpr {
  switch (e.k) {
    case 'index':
      return e.axis === id ? position : e;
    case 'load':
      return { ...e, axes: e.axes.map((a) => ('at' in a ? { size: a.size, at: atPosition(a.at, id, position) } : a.index === id ? { size: a.size, at: position } : a)) };
    case 'op':
      return { ...e, args: e.args.map((x) => atPosition(x, id, position)) };
    default:
      return e;
  }
}

/** `count` axis ids (`a<n>`) that `k` does not use yet. */
function freshIds(k: Splittable, count: number): string[] {
  const used: string[] = [...k.out.axes.map((a) => a.id), ...(k.kind === 'reduce' ? k.reduced : [...k.batch, ...k.m, ...k.n, ...k.k]).map((a) => a.id)];
  const collect = (e: KExpr) => {
    if (e.k === 'index') used.push(e.axis);
    if (e.k === 'load') for (const a of e.axes) if ('index' in a) used.push(a.index);
    subExprs(e).forEach(collect);
  };
  kernelExprs(k).forEach(collect);
  let next = 1 + Math.max(-1, ...used.map((id) => (/^a\d+$/.test(id) ? Number(id.slice(1)) : -1)));
  return Array.from({ length: count }, () => `a${next++}`);
}
