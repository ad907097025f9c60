/**
 * decompose: replace composites (softmax, log_softmax, layer_norm) and the logsumexp reduction by
 * primitive map/reduce nodes, which the fuser then groups into reduction and elementwise kernels.
 */
import type { Graph, Node } from '../../dsl/ir.ts';
import { inferMap, inferReduce } from '../../dsl/infer.ts';
import { copyNode, rewriteGraph, type GraphWriter } from '../rewrite.ts';

function mapNode(out: GraphWriter, fn: string, args: number[]): number {
  return out.add({ op: 'map', fn, args, type: inferMap(fn, args.map((a) => out.type(a))) });
}

function reduceNode(out: GraphWriter, fn: 'sum' | 'max' | 'mean', arg: number, axes: readonly string[]): number {
  return out.add({ op: 'reduce', fn, arg, axes, type: inferReduce(fn, out.type(arg), axes) });
}

function constant(out: GraphWriter, value: number): number {
  return out.add({ op: 'const', value, type: { dtype: 'f32', axes: [] } });
}

/** Writes the primitive form of a composite or logsumexp; null for nodes kept as they are. */
function expand(node: Node, out: GraphWriter, map: (id: number) => number): number | null {
  if (node.op === 'reduce' && node.fn === 'logsumexp') {
    const x = map(node.arg);
    const m = reduceNode(out, 'max', x, node.axes);
    const e = mapNode(out, 'exp', [mapNode(out, 'sub', [x, m])]);
    const s = reduceNode(out, 'sum', e, node.axes);
    return mapNode(out, 'add', [mapNode(out, 'log', [s]), m]);
  }
  if (node.op !== 'composite') return null;
  const x = map(node.arg);
  const axes = [node.axis];
  // The result keeps x's axis order: broadcasting by name puts x's axes first.
  switch (node.fn) {
    case 'softmax': {
      const m = reduceNode(out, 'max', x, axes);
      const e = mapNode(out, 'exp', [mapNode(out, 'sub', [x, m])]);
      const s = reduceNode(out, 'sum', e, axes);
      return mapNode(out, 'div', [e, s]);
    }
    case 'log_softmax': {
      const m = reduceNode(out, 'max', x, axes);
      const shifted = mapNode(out, 'sub', [x, m]);
      const s = reduceNode(out, 'sum', mapNode(out, 'exp', [shifted]), axes);
      return mapNode(out, 'sub', [shifted, mapNode(out, 'log', [s])]);
    }
    case 'layer_norm': {
      const mean = reduceNode(out, 'mean', x, axes);
      const centered = mapNode(out, 'sub', [x, mean]);
      const variance = reduceNode(out, 'mean', mapNode(out, 'mul', [centered, centered]), axes);
      const inv = mapNode(out, 'rsqrt', [mapNode(out, 'add', [variance, constant(out, node.eps ?? 1e-5)])]);
      return mapNode(out, 'mul', [centered, inv]);
    }
  }
}

export function decompose(graph: Graph): Graph {
  return rewriteGraph(graph, (node, out, map) => expand(node, out, map) ?? copyNode(node, out, map));
}
