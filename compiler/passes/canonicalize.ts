/**
 * canonicalize: fold constants, drop identity relabels and copies, turn permutation-only
 * contractions into relabels, share common subexpressions, and drop dead nodes.
 */
import { exactKey } from '../../program/index.ts';
import { type Graph, type Node } from '../../dsl/ir.ts';
import { roundTo, scalarOp } from '../../dsl/scalar-ops.ts';
import { typesEqual } from '../../dsl/infer.ts';
import { copyNode, eliminateDeadNodes, remapOperands, rewriteGraph, type GraphWriter } from '../rewrite.ts';

/** A key identifying a node's computation (operands already remapped), for CSE; loops have none. */
function cseKey(node: Node, map: (id: number) => number): string | null {
  return node.op === 'loop' || node.op === 'scan' ? null : exactKey(remapOperands(node, map));
}

function simplify(node: Node, out: GraphWriter, map: (id: number) => number): number | null {
  if (node.op === 'size' && typeof node.axis.size === 'number') return out.add({ op: 'const', value: node.axis.size, type: node.type });
  if (node.op === 'map') {
    const args = node.args.map(map);
    const argNodes = args.map((a) => out.node(a));
    if (argNodes.every((a) => a.op === 'const') && node.type.axes.length === 0) {
      const op = scalarOp(node.fn);
      const dtypes = argNodes.map((a) => a.type.dtype);
      const value = roundTo(op.evaluate(argNodes.map((a) => (a as { value: number }).value), dtypes), node.type.dtype, true);
      if (!Number.isNaN(value)) return out.add({ op: 'const', value, type: node.type });
    }
    if (node.fn === 'id' && typesEqual(out.type(args[0]!), node.type)) return args[0]!;
  }
  if (node.op === 'relabel') {
    const arg = map(node.arg);
    const argAxes = out.type(arg).axes;
    const identity = node.names.every((n, i) => n === argAxes[i]!.name) && typesEqual(out.type(arg), node.type);
    if (identity) return arg;
  }
  if (node.op === 'contract' && node.args.length === 1) {
    const arg = map(node.args[0]!);
    const argType = out.type(arg);
    if (argType.axes.length === node.type.axes.length) {
      // Nothing is summed: a pure permutation.
      const names = argType.axes.map((a) => a.name);
      if (typesEqual(argType, node.type)) return arg;
      return out.add({ op: 'relabel', arg, names, type: node.type });
    }
  }
  return null;
}

/** Runs the canonicalisation on a graph (and its loop bodies). */
export function canonicalize(graph: Graph): Graph {
  // Each graph (top level or loop body) has its own CSE table.
  const tables = new WeakMap<GraphWriter, Map<string, number>>();
  const rewritten = rewriteGraph(graph, (node, out, map) => {
    let seen = tables.get(out);
    if (!seen) tables.set(out, (seen = new Map()));
    const simplified = simplify(node, out, map);
    if (simplified !== null) return simplified;
    const key = cseKey(node, map);
    if (key !== null) {
      const hit = seen.get(key);
      if (hit !== undefined) return hit;
    }
    const id = copyNode(node, out, map);
    if (key !== null) seen.set(key, id);
    return id;
  });
  return eliminateDeadNodes(rewritten);
}
