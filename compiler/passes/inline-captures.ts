/**
 * inline-captures: a loop (or scan) that captures a cheap elementwise value of the enclosing graph (a scaled
 * input, a mask) recomputes it inside its body from what that value reads, so the value need not
 * be materialised for the loop (a loop's captures are buffers): the fuser then inlines it into the
 * body's kernels like any other elementwise operand. "Cheap" is the fuser's recompute limit.
 */
import { ELEMENTWISE_OPS, operands, type Graph, type Node } from '../../dsl/ir.ts';
import { copyNode, eliminateDeadNodes, GraphWriter } from '../rewrite.ts';
import { RECOMPUTE_LIMIT, recomputeCost } from '../schedule.ts';

/** The elementwise ops computing node `id` from its non-elementwise leaves, or null past the limit. */
function elementwiseCost(graph: Graph, id: number, memo: Map<number, number | null>): number | null {
  if (memo.has(id)) return memo.get(id)!;
  const node = graph.nodes[id]!;
  let cost: number | null = 0;
  if (ELEMENTWISE_OPS.has(node.op)) {
    cost = recomputeCost(node);
    for (const o of operands(node)) {
      const c = ELEMENTWISE_OPS.has(graph.nodes[o]!.op) ? elementwiseCost(graph, o, memo) : 0;
      cost = c === null || cost === null ? null : cost + c;
    }
    if (cost !== null && cost > RECOMPUTE_LIMIT) cost = null;
  }
  memo.set(id, cost);
  return cost;
}

export function inlineCaptures(graph: Graph): Graph {
  const out = new GraphWriter();
  const ids = new Map<number, number>();
  const map = (old: number) => ids.get(old)!;
  const costs = new Map<number, number | null>();
  for (const node of graph.nodes) {
    if (node.op !== 'loop' && node.op !== 'scan') {
      ids.set(node.id, copyNode(node, out, map));
      continue;
    }
    const inner = inlineCaptures(node.body);
    const body = new GraphWriter();
    const captures: number[] = [];
    /** The body's capture node for an outer node (new id), one per outer node. */
    const captureNodes = new Map<number, number>();
    const captureOf = (outer: number, type: Node['type']): number => {
      let id = captureNodes.get(outer);
      if (id === undefined) {
        captures.push(outer);
        captureNodes.set(outer, (id = body.add({ op: 'capture', index: captures.length - 1, type })));
      }
      return id;
    };
    /** Node `id` of the enclosing graph, recomputed in the body (its non-elementwise leaves captured). */
    const clones = new Map<number, number>();
    const cloneInto = (id: number): number => {
      const known = clones.get(id);
      if (known !== undefined) return known;
      const n = graph.nodes[id]!;
      const cloned = ELEMENTWISE_OPS.has(n.op) ? copyNode(n, body, cloneInto) : captureOf(map(id), n.type);
      clones.set(id, cloned);
      return cloned;
    };
    const bodyIds = new Map<number, number>();
    for (const b of inner.nodes) {
      if (b.op === 'capture') {
        const outer = node.captures[b.index]!;
        const cheap = ELEMENTWISE_OPS.has(graph.nodes[outer]!.op) && elementwiseCost(graph, outer, costs) !== null;
        bodyIds.set(b.id, cheap ? cloneInto(outer) : captureOf(map(outer), b.type));
      } else if (b.op === 'loop') {
        // A nested loop (already rewritten) keeps its own captures, remapped into this body.
        bodyIds.set(b.id, body.add({ ...b, init: b.init.map((o) => bodyIds.get(o)!), captures: b.captures.map((o) => bodyIds.get(o)!) }));
      } else if (b.op === 'scan') {
        bodyIds.set(b.id, body.add({ ...b, xs: b.xs.map((o) => bodyIds.get(o)!), init: b.init.map((o) => bodyIds.get(o)!), captures: b.captures.map((o) => bodyIds.get(o)!) }));
      } else {
        bodyIds.set(b.id, copyNode(b, body, (o) => bodyIds.get(o)!));
      }
    }
    const outputs = Object.fromEntries(Object.entries(inner.outputs).map(([k, v]) => [k, bodyIds.get(v)!]));
    const rewritten = { init: node.init.map(map), captures, body: { nodes: body.nodes, outputs } };
    const { id: _id, ...rest } = node;
    ids.set(node.id, out.add(rest.op === 'scan' ? { ...rest, ...rewritten, xs: rest.xs.map(map) } : { ...rest, ...rewritten }));
  }
  const outputs = Object.fromEntries(Object.entries(graph.outputs).map(([k, v]) => [k, map(v)]));
  return eliminateDeadNodes({ nodes: out.nodes, outputs });
}
