/**
 * The typed tensor handle of the DSL. A `Tensor<A, D>` carries its axis names `A` (a tuple of
 * string literals) and dtype `D` in the type, so that naming an axis the tensor lacks, passing the
 * wrong number of operands or axes to einsum, or mixing dtypes fails in the editor, before tracing.
 */
import { GraphBuilder, currentBuilder } from './trace.ts';
import type { Axis, DType, TensorType } from './types.ts';

/** Axis names of a tensor, in storage order. */
export type Axes = readonly string[];

export type NumericDType = 'f32' | 'i32' | 'u32';

/** `A` followed by the names of `B` that `A` lacks: the axes of a broadcast result. */
export type UnionAxes<A extends Axes, B extends Axes> = B extends readonly [infer H extends string, ...infer T extends Axes]
  ? H extends A[number]
    ? UnionAxes<A, T>
    : UnionAxes<readonly [...A, H], T>
  : string[] extends B
    ? Axes
    : A;

/** `A` without the names in `X`. */
export type WithoutAxes<A extends Axes, X extends string> = A extends readonly [infer H extends string, ...infer T extends Axes]
  ? H extends X
    ? WithoutAxes<T, X>
    : readonly [H, ...WithoutAxes<T, X>]
  : string[] extends A
    ? Axes
    : readonly [];

export class Tensor<A extends Axes = Axes, D extends DType = DType> {
  /** @internal the trace this tensor belongs to */
  readonly builder: GraphBuilder;
  /** @internal node id in `builder` */
  readonly id: number;
  readonly type: TensorType;
  /** Phantom fields that carry the static axis names and dtype. */
  declare readonly __axes: A;
  declare readonly __dtype: D;

  constructor(builder: GraphBuilder, id: number) {
    this.builder = builder;
    this.id = id;
    this.type = builder.type(id);
  }

  get dtype(): D {
    return this.type.dtype as D;
  }

  get axes(): A {
    return this.type.axes.map((a) => a.name) as unknown as A;
  }

  get rank(): number {
    return this.type.axes.length;
  }

  /** The axis record (name and static or symbolic size) of one of this tensor's axes. */
  axis(name: A[number]): Axis {
    return this.type.axes.find((a) => a.name === name)!;
  }
}

/** Any tensor of dtype D, whatever its axes. */
export type AnyTensor<D extends DType = DType> = Tensor<Axes, D>;

/** The id of `t` inside the current trace (capturing it into a loop body if needed). */
export function nodeIn(builder: GraphBuilder, t: Tensor): number {
  return builder.import(t.builder, t.id);
}

/** Appends a node to the current trace and wraps it. */
export function emit<A extends Axes, D extends DType>(what: string, data: Parameters<GraphBuilder['add']>[0]): Tensor<A, D> {
  const builder = currentBuilder(what);
  return new Tensor<A, D>(builder, builder.add(data));
}
