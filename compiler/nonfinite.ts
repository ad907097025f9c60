/**
 * Which values may be ±∞ or NaN, so emission carries exactly those as `xf` (see
 * `dsl/nonfinite-wgsl.ts`) and leaves all other arithmetic plain. A value may be non-finite when it
 * is a non-finite constant, reads a buffer that may hold one, is an f32 op over such a value, or
 * is the result of an op with singular points (log, division, sqrt: `ScalarOp.singular`) whose
 * operands' signs do not keep it clear of them; a buffer may hold one when a kernel writing it
 * computes such a value, when it is a flash kernel's log-sum-exp (−∞ for a row with nothing
 * allowed), or when a copy fills it from one.
 *
 * Signs come from the ops' rules (`ScalarOp.sign`) and, through buffers, from every kernel that
 * writes one (`bufferSigns`): a softmax divides by max(Σ exp, 1) and a layer norm by
 * sqrt(mean of squares + eps), so neither division is singular, and what follows them stays plain.
 *
 * Input tensors may hold anything (a bias of −∞, a NaN), so every f32 input buffer starts in the
 * set. Parameters count as finite: they scale and shift, and a non-finite one meets the device's
 * own float arithmetic.
 */
import { scalarOp, weakerSign, type Sign } from '../dsl/scalar-ops.ts';
import { reductionFold } from '../dsl/reductions.ts';
import { kernelExprs, kernelOutputs, subExprs, type HostStep, type KExpr, type KernelIR } from './kernel-ir.ts';

/** What the analysis knows of a program's buffers (row-block locals included, by their ids). */
export interface FloatFacts {
  /** The buffers that may hold ±∞ or NaN. */
  readonly nonFinite: ReadonlySet<number>;
  /** The sign every finite value of a buffer has, where one is known. */
  readonly signs: ReadonlyMap<number, Exclude<Sign, null>>;
}

/** The facts of a program: its buffers' signs, then the buffers that may be non-finite from `inputs`. */
export function floatFacts(steps: readonly HostStep[], inputs: readonly number[]): FloatFacts {
  const signs = bufferSigns(steps);
  return { signs, nonFinite: nonFiniteBuffers(steps, inputs, signs) };
}

/**
 * The buffers of a program that may hold non-finite f32 values (loop bodies to a fixed point),
 * starting from `inputs`: the caller's f32 tensors, which may hold anything.
 */
function nonFiniteBuffers(steps: readonly HostStep[], inputs: readonly number[], signs: FloatFacts['signs']): Set<number> {
  const buffers = new Set<number>(inputs);
  let changed = true;
  const visit = (list: readonly HostStep[]) => {
    for (const step of list) {
      if (step.kind === 'loop') visit(step.body);
      else if (step.kind === 'copy') {
        if (buffers.has(step.src) && !buffers.has(step.dst)) {
          buffers.add(step.dst);
          changed = true;
        }
      } else {
        for (const b of writesNonFinite(step.kernel, { nonFinite: buffers, signs })) {
          if (!buffers.has(b)) {
            buffers.add(b);
            changed = true;
          }
        }
      }
    }
  };
  while (changed) {
    changed = false;
    visit(steps);
  }
  return buffers;
}

/** The outputs of `k` that may hold non-finite values, given the buffers that already may. */
function writesNonFinite(k: KernelIR, facts: FloatFacts): number[] {
  switch (k.kind) {
    case 'flash':
    case 'simplicial':
    case 'flash-combine':
    case 'graph-attention':
    case 'graph-merge':
      // lse is −∞ for a row with nothing allowed (written as its bit pattern).
      return k.lse ? [k.lse.buffer] : [];
    case 'mask-classify':
    case 'mask-compact':
      return [];
    case 'segment':
      // A row without edges has max −∞ and min +∞.
      if (k.out.dtype === 'f32' && (k.fn === 'max' || k.fn === 'min')) return [k.out.buffer];
      return k.value && mayBeNonFinite(k.value, facts) && k.out.dtype === 'f32' ? [k.out.buffer] : [];
    case 'row-block':
      // Its on-chip locals too, so the stages reading them carry what they may hold.
      return [
        ...[...k.invariants, ...k.stages, ...k.finals.map((f) => ({ ...f.kernel, out: f.out }))].flatMap((x) => writesNonFinite(x, facts)),
        ...k.stores.filter((x) => facts.nonFinite.has(x.local)).map((x) => x.out.buffer),
      ];
    default:
      return kernelExprs(k).some((e) => mayBeNonFinite(e, facts)) ? kernelOutputs(k).filter((o) => o.dtype === 'f32').map((o) => o.buffer) : [];
  }
}

/** Whether an expression's value may be ±∞ or NaN (f32 results only; other dtypes never are). */
export function mayBeNonFinite(e: KExpr, facts: FloatFacts, memo?: WeakMap<KExpr, boolean>): boolean {
  const known = memo?.get(e);
  if (known !== undefined) return known;
  const result = nonFiniteAt(e, facts, memo);
  memo?.set(e, result);
  return result;
}

function nonFiniteAt(e: KExpr, facts: FloatFacts, memo: WeakMap<KExpr, boolean> | undefined): boolean {
  switch (e.k) {
    case 'const':
      return e.dtype === 'f32' && !Number.isFinite(e.value);
    case 'load':
      return e.dtype === 'f32' && facts.nonFinite.has(e.buffer);
    case 'op':
      return e.dtype === 'f32' && (singularAt(e, facts.signs) || subExprs(e).some((a) => mayBeNonFinite(a, facts, memo)));
    default:
      return false;
  }
}

/** Whether an op may hit a singular point: not when its operands' signs keep it clear, nor dividing by a nonzero constant. */
function singularAt(e: Extract<KExpr, { k: 'op' }>, signs: FloatFacts['signs']): boolean {
  const singular = scalarOp(e.fn).singular;
  if (!singular) return false;
  const d = e.args[1];
  if ((e.fn === 'div' || e.fn === 'mod') && d?.k === 'const' && Number.isFinite(d.value) && d.value !== 0) return false;
  return !singular.clearOf(e.args.map((a) => signOf(a, signs)));
}

const signMemo = new WeakMap<FloatFacts['signs'], WeakMap<KExpr, Sign>>();

/** The sign of an expression's finite values, where the ops' rules and the buffers' signs tell it. */
function signOf(e: KExpr, signs: FloatFacts['signs']): Sign {
  let memo = signMemo.get(signs);
  if (!memo) signMemo.set(signs, (memo = new WeakMap()));
  const known = memo.get(e);
  if (known !== undefined) return known;
  const sign = signAt(e, signs);
  memo.set(e, sign);
  return sign;
}

function signAt(e: KExpr, signs: FloatFacts['signs']): Sign {
  switch (e.k) {
    case 'const':
      return constantSign(e.value);
    case 'size':
      return 'positive';
    case 'load':
      return signs.get(e.buffer) ?? null;
    case 'op': {
      // A square, whatever its operand.
      if (e.fn === 'mul' && sameExpr(e.args[0]!, e.args[1]!)) return 'nonnegative';
      const rule = scalarOp(e.fn).sign;
      return rule ? rule(e.args.map((a) => signOf(a, signs))) : null;
    }
    default:
      return null;
  }
}

function constantSign(value: number): Sign {
  return !Number.isFinite(value) || value < 0 ? null : value > 0 ? 'positive' : 'nonnegative';
}

function sameExpr(a: KExpr, b: KExpr): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** The sign of a reduction of values of sign `value`: its fold's combine from its identity, then its finaliser by the (positive) count. */
function reducedSign(fn: string, value: Sign): Sign {
  const fold = reductionFold(fn);
  const combine = scalarOp(fold.combine).sign;
  if (!combine || value === null) return null;
  // An identity that is not finite (max's −∞) is the result over an empty axis only, a non-finite value.
  const identity = fold.identity('f32');
  let sign = Number.isFinite(identity) ? weakerSign(combine([value, value]), constantSign(identity)) : combine([value, value]);
  if (fold.finalise) sign = scalarOp(fold.finalise).sign?.([sign, 'positive']) ?? null;
  return sign;
}

/**
 * The sign of every buffer whose writers all give it one: a greatest fixed point, every written
 * buffer starting positive and weakened by each writer (copies and loop bodies included) until
 * nothing changes. Inputs, which nothing writes, have none.
 */
function bufferSigns(steps: readonly HostStep[]): Map<number, Exclude<Sign, null>> {
  const writes: { buffer: number; sign: (signs: FloatFacts['signs']) => Sign }[] = [];
  const visit = (list: readonly HostStep[]) => {
    for (const step of list) {
      if (step.kind === 'loop') visit(step.body);
      else if (step.kind === 'copy') writes.push({ buffer: step.dst, sign: (signs) => signs.get(step.src) ?? null });
      else writes.push(...kernelWrites(step.kernel));
    }
  };
  visit(steps);
  const signs = new Map<number, Exclude<Sign, null>>(writes.map((w) => [w.buffer, 'positive']));
  for (let changed = true; changed; ) {
    changed = false;
    for (const w of writes) {
      const before = signs.get(w.buffer);
      if (before === undefined) continue;
      const after = weakerSign(before, w.sign(signs));
      if (after === before) continue;
      changed = true;
      if (after === null) signs.delete(w.buffer);
      else signs.set(w.buffer, after);
    }
  }
  return signs;
}

/** The buffers (and locals) a kernel writes, each with the sign of what it writes there. */
function kernelWrites(k: KernelIR): { buffer: number; sign: (signs: FloatFacts['signs']) => Sign }[] {
  switch (k.kind) {
    case 'elementwise':
      return [{ buffer: k.out.buffer, sign: (signs) => signOf(k.value, signs) }];
    case 'reduce':
      return [{ buffer: k.out.buffer, sign: (signs) => reducedSign(k.fn, signOf(k.value, signs)) }];
    case 'gemm':
      // A sum of the products a·b.
      return [{ buffer: k.out.buffer, sign: (signs) => reducedSign('sum', scalarOp('mul').sign!([signOf(k.a, signs), signOf(k.b, signs)])) }];
    case 'row-block':
      return [
        ...[...k.invariants, ...k.stages, ...k.finals.map((f) => ({ ...f.kernel, out: f.out }))].flatMap(kernelWrites),
        ...k.stores.map((x) => ({ buffer: x.out.buffer, sign: (signs: FloatFacts['signs']) => signs.get(x.local) ?? null })),
      ];
    default:
      return kernelOutputs(k).map((o) => ({ buffer: o.buffer, sign: () => null }));
  }
}
