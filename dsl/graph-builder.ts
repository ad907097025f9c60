/**
 * Building Tensor IR: a graph under construction, node by node, with the types derived by the
 * shared rules of `infer.ts`. Tracing, the composites' definitions and the compiler's rewrites all
 * write graphs through this one builder; it knows nothing of tracing state.
 */
import type { Graph, Node, ReduceFn } from './ir.ts';
import { inferMap, inferReduce } from './infer.ts';
import { TesseraError, type DType, type TensorType } from './types.ts';
import { ownEntries } from './bind.ts';

/** A node's fields without its id (the builder assigns ids). */
export type NodeData = Node extends infer N ? (N extends Node ? Omit<N, 'id'> : never) : never;

export class GraphBuilder {
  readonly nodes: Node[] = [];
  /** Outer node ids captured by this (loop body) builder, by capture index. */
  readonly captures: number[] = [];
  private readonly captureIndex = new Map<number, number>();

  constructor(readonly parent: GraphBuilder | null = null) {}

  add(data: NodeData): number {
    const id = this.nodes.length;
    this.nodes.push({ ...data, id } as Node);
    return id;
  }

  type(id: number): TensorType {
    return this.nodes[id]!.type;
  }

  node(id: number): Node {
    return this.nodes[id]!;
  }

  /** The id, in this builder, of a node owned by `owner` (this builder or an ancestor). */
  import(owner: GraphBuilder, id: number): number {
    if (owner === this) return id;
    if (!this.parent) throw new TesseraError('a tensor from another kernel trace was used here; pass it as an input instead');
    const outerId = this.parent.import(owner, id);
    let index = this.captureIndex.get(outerId);
    if (index === undefined) {
      index = this.captures.length;
      this.captures.push(outerId);
      this.captureIndex.set(outerId, index);
    }
    const type = this.parent.type(outerId);
    const existing = this.nodes.find((n) => n.op === 'capture' && n.index === index);
    return existing ? existing.id : this.add({ op: 'capture', index, type });
  }

  /** A scalar constant. */
  constant(value: number, dtype: DType = 'f32'): number {
    return this.add({ op: 'const', value, type: { dtype, axes: [] } });
  }

  /** A scalar-op node over operands broadcast by axis name. */
  map(fn: string, ...args: number[]): number {
    return this.add({ op: 'map', fn, args, type: inferMap(fn, args.map((a) => this.type(a))) });
  }

  /** A reduction over named axes. */
  reduce(fn: ReduceFn, arg: number, axes: readonly string[]): number {
    return this.add({ op: 'reduce', fn, arg, axes, type: inferReduce(fn, this.type(arg), axes) });
  }

  /** The graph; its outputs record has no prototype, since output names are data (`__proto__` too). */
  finish(outputs: Readonly<Record<string, number>>): Graph {
    return { nodes: this.nodes, outputs: ownEntries(outputs) };
  }
}
