/**
 * Tracing state: the graph under construction. DSL ops append nodes to the innermost builder; a
 * loop body gets a child builder, and a tensor of an enclosing graph used inside it becomes a
 * `capture` node automatically, so users close over outer tensors as they would in plain code.
 */
import { TesseraError } from './types.ts';
import { GraphBuilder } from './graph-builder.ts';

export { GraphBuilder, type NodeData } from './graph-builder.ts';

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
