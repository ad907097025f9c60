/**
 * plan-contractions: rewrite every n-ary contraction into a sequence of binary ones, in the order
 * a path function chooses by cost (`contraction-path.ts`: exhaustive up to 4 operands, dynamic
 * programming up to 12, greedy beyond; a symbolic size counts as its hint, else 64), after summing axes that only
 * one operand carries. Binary
 * contractions with no summed axis become an elementwise product, and those with no free axis on
 * one side (dot products, matrix-vector) become product-then-sum reductions; what remains is a
 * true batched matrix product for the tiled GEMM lowering.
 */
import type { ContractNode, Graph } from '../../dsl/ir.ts';
import { inferContract, inferMap, inferReduce, inferRelabel } from '../../dsl/infer.ts';
import type { Size } from '../../dsl/types.ts';
import { choosePath, fusedCost, inlinedCost, type PathName, type PathProblem } from '../contraction-path.ts';
import { copyNode, rewriteGraph, type GraphWriter } from '../rewrite.ts';

/** Size used for cost estimates when an axis size is only known at run time. */
const SYMBOLIC_SIZE_ESTIMATE = 64;

function estimate(size: Size, hints: Readonly<Record<string, number>> = {}): number {
  return typeof size === 'number' ? size : (Object.hasOwn(hints, size) ? hints[size]! : SYMBOLIC_SIZE_ESTIMATE);
}

function axesOf(out: GraphWriter, id: number): string[] {
  return out.type(id).axes.map((a) => a.name);
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

function plan(node: ContractNode, out: GraphWriter, map: (id: number) => number, options: PlanOptions): number {
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
  const problem: PathProblem = {
    operands: args.map((id) => axesOf(out, id)),
    output: result,
    sizes: Object.fromEntries(args.flatMap((id) => out.type(id).axes.map((a) => [a.name, estimate(a.size, options.sizeHints)]))),
    ...(options.memoryLimit !== undefined ? { memoryLimit: options.memoryLimit } : {}),
  };
  // Three or more operands run fused — one product summed over the contracted axes, which the
  // fuser makes one kernel storing nothing — when no pairwise path keeps its intermediates within
  // the memory limit (static sizes), or when that is cheaper (than the path as the fuser runs it,
  // broadcast products inlined) and each output's sum is short and static; unless a path function
  // was asked for by name.
  if (options.path === 'fused') return fused(out, args, result);
  const path = choosePath(problem, options.path);
  // The memory limit only speaks where the sizes are known (symbolic ones are estimates).
  const known = args.every((id) => out.type(id).axes.every((a) => typeof a.size === 'number'));
  if (args.length > 2 && !options.path && ((!path && known) || (path && shortSums(out, args, result) && fusedCost(problem).cost < inlinedCost(problem, path)))) return fused(out, args, result);
  const order = path ?? choosePath({ ...problem, memoryLimit: undefined }, options.path)!;
  order.steps.forEach((s, k) => {
    const last = k === order.steps.length - 1;
    const merged = binary(out, args[s.a]!, args[s.b]!, last ? result : s.result);
    args = [...args.filter((_, i) => i !== s.a && i !== s.b), merged];
  });
  return args[0]!;
}

/**
 * Whether each output of a fused contraction sums a short static run of terms (at most
 * `FUSED_SUM_MAX`): then one thread per output does it without barriers; a long or symbolic sum
 * would take a workgroup per output, which the pairwise path's GEMMs beat.
 */
function shortSums(out: GraphWriter, args: readonly number[], result: readonly string[]): boolean {
  const summed = new Map<string, Size>();
  for (const id of args) for (const a of out.type(id).axes) if (!result.includes(a.name)) summed.set(a.name, a.size);
  let terms = 1;
  for (const size of summed.values()) {
    if (typeof size !== 'number') return false;
    terms *= size;
  }
  return terms <= FUSED_SUM_MAX;
}

/** The longest sum per output a fused contraction is chosen for by cost (the reduce kernel's one-thread-per-output limit). */
const FUSED_SUM_MAX = 1024;

/** Every operand multiplied (broadcast by axis name), then summed over the axes the result drops. */
function fused(out: GraphWriter, args: readonly number[], result: readonly string[]): number {
  let product = args[0]!;
  for (const id of args.slice(1)) product = out.add({ op: 'map', fn: 'mul', args: [product, id], type: inferMap('mul', [out.type(product), out.type(id)]) });
  const summed = axesOf(out, product).filter((n) => !result.includes(n));
  const reduced = summed.length === 0 ? product : out.add({ op: 'reduce', fn: 'sum', arg: product, axes: summed, type: inferReduce('sum', out.type(product), summed) });
  return ordered(out, reduced, result);
}

/**
 * Which path function orders the contractions (`'fused'`: every contraction as one product and
 * sum), and the most elements an intermediate may have.
 */
export interface PlanOptions {
  readonly path?: PathName | 'fused';
  /** Expected values of size symbols, for the cost only (the program stays shape-generic). */
  readonly sizeHints?: Readonly<Record<string, number>>;
  readonly memoryLimit?: number;
}

export function planContractions(graph: Graph, options: PlanOptions = {}): Graph {
  return rewriteGraph(graph, (node, out, map) => (node.op === 'contract' ? plan(node, out, map, options) : copyNode(node, out, map)));
}
