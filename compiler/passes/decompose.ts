/**
 * decompose: replace the composites (softmax, log_softmax, layer_norm) and the logsumexp reduction
 * by their definitions — the same primitive graphs the interpreter evaluates (`dsl/composites.ts`)
 * — so the fuser sees only map/reduce/contract nodes.
 */
import { definedByGraph, writeDefinition } from '../../dsl/composites.ts';
import type { Graph } from '../../dsl/ir.ts';
import { copyNode, rewriteGraph } from '../rewrite.ts';

export function decompose(graph: Graph): Graph {
  return rewriteGraph(graph, (node, out, map) => {
    const defined = definedByGraph(node);
    return defined ? writeDefinition(out, defined, map(defined.arg)) : copyNode(node, out, map);
  });
}
