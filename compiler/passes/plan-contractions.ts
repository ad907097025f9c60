/**
 * plan-contractions: rewrite every n-ary contraction into a sequence of binary ones (greedy
 * order: smallest intermediate first), after summing axes that only one operand carries. Binary
 * contractions with no summed axis become an elementwise product, and those with no free axis on
 * one side (dot products, matrix-vector) become product-then-sum reductions; what remains is a
 * true batched matrix product for the tiled GEMM lowering.
 */
import type { ContractNode, Graph } from '../../dsl/ir.ts';
import { inferContract, inferMap, inferReduce, inferRelabel } from '../../dsl/infer.ts';
import type { Size } from '../../dsl/types.ts';
import { copyNode, rewriteGraph, type GraphWriter } from '../rewrite.ts';

/** Size used for cost estimates when an axis size is only known at run time. */
const SYMBOLIC_SIZE_ESTIMATE = 64;

function estimate(size: Size): number {
  return typeof size === 'number' ? size : SYMBOLIC_SIZE_ESTIMATE;
}

function axesOf(out: GraphWriter, id: number): string[] {
  return out.type(id).axes.map((a) => a.name);
}

function volume(out: GraphWriter, ids: readonly number[], names: Iterable<string>): number {
  let v = 1;
  for (const name of names) {
    for (const id of ids) {
      const axis = out.type(id).axes.find((a) => a.name === name);
      if (axis) {
        v *= estimate(axis.size);
        break;
      }
    }
  }
  return v;
}

/** Reorders `id` to `order` if its axes are in another order. */
function ordered(out: GraphWriter, id: number, order: readonly string[]): number {
  const names = axesOf(out, id);
  if (names.length === order.length && names.every((n, i) => n === order[i])) return id;
  return out.add({ op: 'relabel', arg: id, names, type: inferRelabel(out.type(id), names, order) });
}

function binary(out: GraphWriter, a: number, b: number, result: readonly string[]): number {
  const inA = new Set(axesOf(out, a));
  const inB = new Set(axesOf(out, b));
  const keep = new Set(result);
  const summed = [...inA].filter((n) => inB.has(n) && !keep.has(n));
  const freeA = [...inA].filter((n) => !inB.has(n));
  const freeB = [...inB].filter((n) => !inA.has(n));
  if (summed.length > 0 && freeA.length > 0 && freeB.length > 0) {
    return out.add({ op: 'contract', args: [a, b], type: inferContract([out.type(a), out.type(b)], result) });
  }
  const product = out.add({ op: 'map', fn: 'mul', args: [a, b], type: inferMap('mul', [out.type(a), out.type(b)]) });
  const reduced = summed.length === 0 ? product : out.add({ op: 'reduce', fn: 'sum', arg: product, axes: summed, type: inferReduce('sum', out.type(product), summed) });
  return ordered(out, reduced, result);
}

function plan(node: ContractNode, out: GraphWriter, map: (id: number) => number): number {
  const result = node.type.axes.map((a) => a.name);
  let args = node.args.map(map);
  // Sum axes that exactly one operand carries and the result does not keep.
  args = args.map((id, i) => {
    const others = new Set(args.flatMap((o, j) => (j === i ? [] : axesOf(out, o))));
    const own = axesOf(out, id).filter((n) => !others.has(n) && !result.includes(n));
    if (own.length === 0) return id;
    return out.add({ op: 'reduce', fn: 'sum', arg: id, axes: own, type: inferReduce('sum', out.type(id), own) });
  });
  if (args.length === 1) return ordered(out, args[0]!, result);
  while (args.length > 2) {
    let best: { i: number; j: number; cost: number; keep: string[] } | null = null;
    for (let i = 0; i < args.length; i++) {
      for (let j = i + 1; j < args.length; j++) {
        const rest = new Set([...result, ...args.flatMap((o, k) => (k === i || k === j ? [] : axesOf(out, o)))]);
        const union = [...new Set([...axesOf(out, args[i]!), ...axesOf(out, args[j]!)])];
        const keep = union.filter((n) => rest.has(n));
        const cost = volume(out, [args[i]!, args[j]!], keep) + 1e-9 * volume(out, [args[i]!, args[j]!], union);
        if (!best || cost < best.cost) best = { i, j, cost, keep };
      }
    }
    const { i, j, keep } = best!;
    const merged = binary(out, args[i]!, args[j]!, keep);
    args = [...args.filter((_, k) => k !== i && k !== j), merged];
  }
  return binary(out, args[0]!, args[1]!, result);
}

export function planContractions(graph: Graph): Graph {
  return rewriteGraph(graph, (node, out, map) => (node.op === 'contract' ? plan(node, out, map) : copyNode(node, out, map)));
}
