/**
 * The reduction registry: one entry per reduction over named axes, holding its type rule and its
 * semantics together — a primitive reduction folds a scalar op of the registry from its identity
 * and may finalise the result with the element count; a composite one (logsumexp) is defined by a
 * graph of primitive nodes (`composites.ts`). Type inference, the interpreter and WGSL emission
 * all read these entries, so the three cannot disagree.
 */
import type { ReduceFn } from './ir.ts';
import { TesseraError, type DType } from './types.ts';

/** How a primitive reduction folds: `acc = combine(acc, x)` from `identity`, then `finalise(acc, count)`. */
export interface ReductionFold {
  /** The scalar op (see `scalar-ops.ts`) that combines the accumulator with one element. */
  readonly combine: string;
  /** The accumulator's start, also the result over an empty axis. */
  identity(dtype: DType): number;
  /**
   * The scalar op that turns the folded accumulator and the number of elements folded (in the
   * accumulator's dtype) into the result: `div` for mean.
   */
  readonly finalise?: string;
}

export interface Reduction {
  readonly name: ReduceFn;
  /** Result dtype for the operand's; throws a TesseraError naming the reduction otherwise. */
  type(arg: DType): DType;
  /** Primitive reductions fold; composite ones have `fold: null` and a definition in `composites.ts`. */
  readonly fold: ReductionFold | null;
}

function numeric(name: string, arg: DType): DType {
  if (arg === 'bool') throw new TesseraError(`${name}: needs a numeric tensor, got bool`);
  return arg;
}

function floating(name: string, arg: DType): DType {
  if (arg !== 'f32') throw new TesseraError(`${name}: needs an f32 tensor, got ${arg}`);
  return arg;
}

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;
const U32_MAX = 4294967295;

const entries: Reduction[] = [
  { name: 'sum', type: (d) => numeric('sum', d), fold: { combine: 'add', identity: () => 0 } },
  { name: 'prod', type: (d) => numeric('prod', d), fold: { combine: 'mul', identity: () => 1 } },
  {
    name: 'max',
    type: (d) => numeric('max', d),
    fold: { combine: 'max', identity: (d) => (d === 'f32' ? -Infinity : d === 'i32' ? I32_MIN : 0) },
  },
  {
    name: 'min',
    type: (d) => numeric('min', d),
    fold: { combine: 'min', identity: (d) => (d === 'f32' ? Infinity : d === 'i32' ? I32_MAX : U32_MAX) },
  },
  {
    name: 'mean',
    type: (d) => floating('mean', d),
    fold: {
      combine: 'add',
      identity: () => 0,
      finalise: 'div',
    },
  },
  { name: 'logsumexp', type: (d) => floating('logsumexp', d), fold: null },
];

/** All reductions by name. */
const REDUCTIONS: ReadonlyMap<string, Reduction> = new Map(entries.map((e) => [e.name, e]));

export function reduction(name: string): Reduction {
  const r = REDUCTIONS.get(name);
  if (!r) throw new TesseraError(`unknown reduction '${name}'`);
  return r;
}

/** The fold of a primitive reduction; composite reductions must be decomposed first. */
export function reductionFold(name: string): ReductionFold {
  const fold = reduction(name).fold;
  if (!fold) throw new TesseraError(`${name} is a composite reduction: decompose it first`);
  return fold;
}
