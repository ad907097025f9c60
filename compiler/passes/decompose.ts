/**
 * decompose: replace the composites (softmax, log_softmax, layer_norm) and the logsumexp reduction
 * by their definitions — the same primitive graphs the interpreter evaluates (`dsl/composites.ts`)
 * — so the fuser sees only map/reduce/contract nodes; likewise the segment softmax and segment
 * logsumexp over a sparse graph (by segment max and sum, gathered back to the edges).
 */
import { definedByGraph, segmentDefinedByGraph, writeDefinition, writeSegmentDefinition } from '../../dsl/composites.ts';
import type { Graph } from '../../dsl/ir.ts';
import { copyNode, rewriteGraph } from '../rewrite.ts';

export function decompose(graph: Graph): Graph {
  return rewriteGraph(graph, (node, out, map) => {
    const defined = definedByGraph(node);
    if (defined) return writeDefinition(out, defined, map(defined.arg));
    const segment = segmentDefinedByGraph(node);
    if (segment) return writeSegmentDefinition(out, segment, map(segment.args[0]!), map(segment.args[1]!));
    return copyNode(node, out, map);
  });
}
