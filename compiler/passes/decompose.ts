/**
 * decompose: replace composites (softmax, log_softmax, layer_norm) by their definitions — the same
 * primitive graphs the interpreter evaluates (`decomposeComposite`) — and the logsumexp reduction
 * by max/exp/sum/log, so the fuser sees only map/reduce/contract nodes.
 */
import type { Graph, Node } from '../../dsl/ir.ts';
import { inferMap, inferReduce } from '../../dsl/infer.ts';
import { decomposeComposite } from '../../dsl/interpret.ts';
import { copyNode, rewriteGraph, type GraphWriter } from '../rewrite.ts';

function constant(out: GraphWriter, value: number): number {
  return out.add({ op: 'const', value, type: { dtype: 'f32', axes: [] } });
}

function mapNode(out: GraphWriter, fn: string, args: number[]): number {
  return out.add({ op: 'map', fn, args, type: inferMap(fn, args.map((a) => out.type(a))) });
}

function reduceNode(out: GraphWriter, fn: 'sum' | 'max', arg: number, axes: readonly string[]): number {
  return out.add({ op: 'reduce', fn, arg, axes, type: inferReduce(fn, out.type(arg), axes) });
}

/** Writes the primitive form of a composite or logsumexp; null for nodes kept as they are. */
function expand(node: Node, out: GraphWriter, map: (id: number) => number): number | null {
  if (node.op === 'reduce' && node.fn === 'logsumexp') {
    // As the interpreter defines it: shift by the max, except in an all -Infinity row, which
    // shifts by 0 so the result is log(0) = -Infinity rather than NaN.
    const x = map(node.arg);
    const m = reduceNode(out, 'max', x, node.axes);
    const valid = mapNode(out, 'ne', [m, constant(out, -Infinity)]);
    const shift = mapNode(out, 'where', [valid, m, constant(out, 0)]);
    const e = mapNode(out, 'exp', [mapNode(out, 'sub', [x, shift])]);
    const s = reduceNode(out, 'sum', e, node.axes);
    return mapNode(out, 'add', [mapNode(out, 'log', [s]), shift]);
  }
  if (node.op !== 'composite') return null;
  // Splice the composite's own definition (shared with the interpreter) in place of the node.
  const definition = decomposeComposite(node);
  const ids = new Map<number, number>();
  for (const inner of definition.nodes) {
    if (inner.op === 'input') ids.set(inner.id, map(node.arg));
    else ids.set(inner.id, copyNode(inner, out, (old) => ids.get(old)!));
  }
  return ids.get(definition.outputs['out']!)!;
}

export function decompose(graph: Graph): Graph {
  return rewriteGraph(graph, (node, out, map) => expand(node, out, map) ?? copyNode(node, out, map));
}
