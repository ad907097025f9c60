/**
 * Tracing state: the graph under construction. DSL ops append nodes to the innermost builder; a
 * loop body gets a child builder, and a tensor of an enclosing graph used inside it becomes a
 * `capture` node automatically, so users close over outer tensors as they would in plain code.
 */
import type { Graph, Node } from './ir.ts';
import { TesseraError, type TensorType } from './types.ts';

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

  finish(outputs: Record<string, number>): Graph {
    return { nodes: this.nodes, outputs };
  }
}

let current: GraphBuilder | null = null;

/** The builder of the trace in progress; ops outside any trace are an error. */
export function currentBuilder(what: string): GraphBuilder {
  if (!current) {
    throw new TesseraError(`${what}: tensors exist only while a kernel is traced; build them inside kernel(...)'s body`);
  }
  return current;
}

/** Runs `fn` with `builder` as the current trace, restoring the previous one afterwards. */
export function withBuilder<T>(builder: GraphBuilder, fn: () => T): T {
  const saved = current;
  current = builder;
  try {
    return fn();
  } finally {
    current = saved;
  }
}
