/**
 * Which values may be ±∞ or NaN, so emission carries exactly those as `xf` (see
 * `dsl/nonfinite-wgsl.ts`) and leaves all other arithmetic plain. A value may be non-finite when it
 * is a non-finite constant, reads a buffer that may hold one, is an f32 op over such a value, or
 * is the result of an op with singular points (log, division, sqrt: `ScalarOp.singular`);
 * a buffer may hold one when a kernel writing it computes such a value, when it is a flash
 * kernel's log-sum-exp (−∞ for a row with nothing allowed), or when a copy fills it from one.
 *
 * Input tensors may hold anything (a bias of −∞, a NaN), so every f32 input buffer starts in the
 * set. Parameters count as finite: they scale and shift, and a non-finite one meets the device's
 * own float arithmetic.
 */
import { scalarOp } from '../dsl/scalar-ops.ts';
import { kernelExprs, kernelOutputs, subExprs, type HostStep, type KExpr, type KernelIR } from './kernel-ir.ts';

/**
 * The buffers of a program that may hold non-finite f32 values (loop bodies to a fixed point),
 * starting from `inputs`: the caller's f32 tensors, which may hold anything.
 */
export function nonFiniteBuffers(steps: readonly HostStep[], inputs: readonly number[]): Set<number> {
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
        for (const b of writesNonFinite(step.kernel, buffers)) {
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
function writesNonFinite(k: KernelIR, buffers: ReadonlySet<number>): number[] {
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
      return k.value && mayBeNonFinite(k.value, buffers) && k.out.dtype === 'f32' ? [k.out.buffer] : [];
    case 'row-block':
      // Its on-chip locals too, so the stages reading them carry what they may hold.
      return [
        ...[...k.invariants, ...k.stages, ...k.finals.map((f) => ({ ...f.kernel, out: f.out }))].flatMap((x) => writesNonFinite(x, buffers)),
        ...k.stores.filter((x) => buffers.has(x.local)).map((x) => x.out.buffer),
      ];
    default:
      return kernelExprs(k).some((e) => mayBeNonFinite(e, buffers)) ? kernelOutputs(k).filter((o) => o.dtype === 'f32').map((o) => o.buffer) : [];
  }
}

/** Whether an expression's value may be ±∞ or NaN (f32 results only; other dtypes never are). */
export function mayBeNonFinite(e: KExpr, buffers: ReadonlySet<number>, memo?: WeakMap<KExpr, boolean>): boolean {
  const known = memo?.get(e);
  if (known !== undefined) return known;
  const result = nonFiniteAt(e, buffers, memo);
  memo?.set(e, result);
  return result;
}

function nonFiniteAt(e: KExpr, buffers: ReadonlySet<number>, memo: WeakMap<KExpr, boolean> | undefined): boolean {
  switch (e.k) {
    case 'const':
      return e.dtype === 'f32' && !Number.isFinite(e.value);
    case 'load':
      return e.dtype === 'f32' && buffers.has(e.buffer);
    case 'op':
      return e.dtype === 'f32' && (singularAt(e) || subExprs(e).some((a) => mayBeNonFinite(a, buffers, memo)));
    default:
      return false;
  }
}

/** Whether an op may hit a singular point: not on a positive operand (a constant, an axis size). */
function singularAt(e: Extract<KExpr, { k: 'op' }>): boolean {
  if (!scalarOp(e.fn).singular) return false;
  if (e.fn === 'div' || e.fn === 'mod') {
    const d = e.args[1]!;
    return !(positive(d) || (d.k === 'const' && Number.isFinite(d.value) && d.value !== 0));
  }
  // log, log1p, sqrt and rsqrt are finite on positive operands (an axis size, n^-1/2 scalings).
  return e.fn === 'pow' || !positive(e.args[0]!);
}

/** Whether an expression is known positive and finite: a positive constant, an axis size, a cast of one. */
function positive(e: KExpr): boolean {
  if (e.k === 'const') return Number.isFinite(e.value) && e.value > 0;
  if (e.k === 'size') return true;
  return e.k === 'op' && (e.fn === 'to_f32' || e.fn === 'id') && positive(e.args[0]!);
}

