/**
 * Rebuilding Tensor IR: passes walk a graph in order and write a new one, mapping old ids to new.
 * Loop bodies are rewritten recursively with the same visitor; dead nodes are dropped afterwards.
 */
import { liveNodes, type Graph, type LoopNode, type Node, type ScanNode } from '../dsl/ir.ts';
import { GraphBuilder, type NodeData } from '../dsl/graph-builder.ts';

export type { NodeData } from '../dsl/graph-builder.ts';

/** Passes write new graphs with the same builder tracing uses (no parent: no captures). */
export class GraphWriter extends GraphBuilder {}

/**
 * Called for every node except loops (which `rewriteGraph` handles): return the new id for the
 * node, writing whatever nodes it needs. `map` gives the new id of an old operand.
 */
export type Visitor = (node: Node, out: GraphWriter, map: (oldId: number) => number) => number;

/** Rewrites `graph` node by node with `visit`, recursing into loop bodies. */
export function rewriteGraph(graph: Graph, visit: Visitor): Graph {
  const out = new GraphWriter();
  const ids = new Map<number, number>();
  const map = (old: number) => {
    const id = ids.get(old);
    if (id === undefined) throw new Error(`rewrite: %${old} used before it was written`);
    return id;
  };
  for (const node of graph.nodes) {
    if (node.op === 'loop') {
      const body = rewriteGraph(node.body, visit);
      const loop: Omit<LoopNode, 'id'> = { ...node, init: node.init.map(map), captures: node.captures.map(map), body };
      ids.set(node.id, out.add(loop));
    } else if (node.op === 'scan') {
      const body = rewriteGraph(node.body, visit);
      const scan: Omit<ScanNode, 'id'> = { ...node, xs: node.xs.map(map), init: node.init.map(map), captures: node.captures.map(map), body };
      ids.set(node.id, out.add(scan));
    } else {
      ids.set(node.id, visit(node, out, map));
    }
  }
  const outputs = Object.fromEntries(Object.entries(graph.outputs).map(([k, v]) => [k, map(v)]));
  return { nodes: out.nodes, outputs };
}

/** A node's fields (without its id) with its operands remapped; loops are handled by their callers. */
export function remapOperands(node: Node, map: (oldId: number) => number): NodeData {
  const { id: _id, ...data } = node;
  switch (data.op) {
    case 'map':
    case 'contract':
    case 'flash':
    case 'gather':
    case 'csr':
    case 'segment_reduce':
    case 'segment_softmax':
    case 'segment_ids':
      return { ...data, args: data.args.map(map) };
    case 'reduce':
    case 'relabel':
    case 'composite':
      return { ...data, arg: map(data.arg) };
    case 'loop_result':
      return { ...data, loop: map(data.loop) };
    case 'loop':
    case 'scan':
      throw new Error('remapOperands: loops and scans are rewritten by rewriteGraph');
    default:
      return data;
  }
}

/** Copies a node with its operands remapped. */
export function copyNode(node: Node, out: GraphWriter, map: (oldId: number) => number): number {
  return out.add(remapOperands(node, map));
}

/**
 * Drops nodes no output needs (loop bodies included; a loop body's carry and capture nodes and
 * loop inputs are kept as the loop's interface needs them).
 */
export function eliminateDeadNodes(graph: Graph): Graph {
  const live = liveNodes(graph);
  const remap = new Map<number, number>();
  const out = new GraphWriter();
  for (const node of graph.nodes) {
    const keep = live[node.id] === 1 || node.op === 'input' || node.op === 'param';
    if (!keep) continue;
    const map = (old: number) => remap.get(old)!;
    if (node.op === 'loop') {
      remap.set(node.id, out.add({ ...node, init: node.init.map(map), captures: node.captures.map(map), body: eliminateDeadNodes(node.body) }));
    } else if (node.op === 'scan') {
      remap.set(node.id, out.add({ ...node, xs: node.xs.map(map), init: node.init.map(map), captures: node.captures.map(map), body: eliminateDeadNodes(node.body) }));
    } else {
      remap.set(node.id, copyNode(node, out, map));
    }
  }
  return { nodes: out.nodes, outputs: Object.fromEntries(Object.entries(graph.outputs).map(([k, v]) => [k, remap.get(v)!])) };
}
