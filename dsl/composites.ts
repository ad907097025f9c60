/**
 * The composites' definitions: softmax, log_softmax, layer_norm and the logsumexp reduction, each
 * a graph of primitive nodes over one input `x`. This is the only place their semantics are
 * written: the interpreter evaluates these graphs and the compiler's `decompose` pass splices the
 * same graphs in, so the CPU and the GPU give one answer for every input, ±∞ rows included.
 *
 * Rows with infinities follow from one rule: shift by the row's max when it is finite, else by 0.
 * - A row whose max is -∞ (everything masked out): softmax gives zeros, log_softmax and
 *   logsumexp -∞.
 * - A row whose max is +∞: logsumexp is +∞; softmax and log_softmax give NaN at the +∞ entries
 *   (∞/∞) and 0 / -∞ elsewhere.
 * - A NaN anywhere in a row makes the whole row NaN.
 */
import { GraphBuilder } from './graph-builder.ts';
import type { CompositeNode, CsrNode, Graph, Node, ReduceNode, SegmentReduceNode, SegmentSoftmaxNode } from './ir.ts';
import { inferGather, inferSegmentReduce } from './infer.ts';
import { TesseraError, type Axis, type TensorType } from './types.ts';

/** What a definition sees: the builder, the operand node, and the composite's own fields. */
type Definition = (b: GraphBuilder, x: number, axes: readonly string[], eps: number | undefined) => number;

/**
 * The max over `axes` when it is finite, else 0: what every composite shifts a row by.
 *
 * The sum of exp(x - shift) is then at least 1 wherever the max is finite (its own term is
 * exp(0) = 1), 0 for a row of -∞, and +∞ or NaN for a row with +∞ or NaN; so max(sum, 1) is the
 * sum for every row but one with nothing allowed, which it gives 1 (its softmax 0 / 1 = 0). The
 * compiler sees that denominator is positive (`ScalarOp.sign`), so the division after it is not
 * singular and a softmax over finite scores is computed in plain arithmetic.
 */
function shiftOf(b: GraphBuilder, m: number): number {
  return b.map('where', b.map('is_finite', m), m, b.constant(0));
}

/** max(sum, 1): the sum of a row's exp(x - shift), 1 for a row with nothing allowed (see `shiftOf`). */
function atLeastOne(b: GraphBuilder, sum: number): number {
  return b.map('max', sum, b.constant(1));
}

const DEFINITIONS: Readonly<Record<CompositeNode['fn'] | 'logsumexp', Definition>> = {
  /** exp(x - shift) / sum(exp(x - shift)); a row with nothing above -∞ gives zeros (0 / 1). */
  softmax(b, x, axes) {
    const e = b.map('exp', b.map('sub', x, shiftOf(b, b.reduce('max', x, axes))));
    return b.map('div', e, atLeastOne(b, b.reduce('sum', e, axes)));
  },
  /** (x - shift) - log(sum(exp(x - shift))); a row with nothing above -∞ stays -∞. */
  log_softmax(b, x, axes) {
    const z = b.map('sub', x, shiftOf(b, b.reduce('max', x, axes)));
    return b.map('sub', z, b.map('log', atLeastOne(b, b.reduce('sum', b.map('exp', z), axes))));
  },
  /** shift + log(sum(exp(x - shift))): -∞ for a row of -∞, +∞ for a row with +∞. */
  logsumexp(b, x, axes) {
    const shift = shiftOf(b, b.reduce('max', x, axes));
    const s = b.reduce('sum', b.map('exp', b.map('sub', x, shift)), axes);
    return b.map('add', b.map('log', s), shift);
  },
  /** (x - mean) / sqrt(var + eps) with the population variance; no affine terms. */
  layer_norm(b, x, axes, eps) {
    if (eps === undefined) throw new TesseraError('layer_norm: the composite node has no eps');
    const centered = b.map('sub', x, b.reduce('mean', x, axes));
    const variance = b.reduce('mean', b.map('mul', centered, centered), axes);
    return b.map('div', centered, b.map('sqrt', b.map('add', variance, b.constant(eps))));
  },
};

/** A composite node, or a reduction that is defined by a graph (see `reductions.ts`). */
export type DefinedNode = Pick<CompositeNode, 'op' | 'fn' | 'arg' | 'axes' | 'eps'> | Pick<ReduceNode, 'op' | 'fn' | 'arg' | 'axes'>;

/** Whether a node stands for a graph of primitives (a composite, or the logsumexp reduction). */
export function definedByGraph(node: Node): DefinedNode | null {
  return node.op === 'composite' || (node.op === 'reduce' && node.fn === 'logsumexp') ? node : null;
}

/**
 * Writes the primitive form of `node` into `b`, reading its operand as `x` (an id in `b`), and
 * returns the id of the result.
 */
export function writeDefinition(b: GraphBuilder, node: DefinedNode, x: number): number {
  if (node.op === 'composite') return DEFINITIONS[node.fn](b, x, node.axes, node.eps);
  if (node.fn !== 'logsumexp') throw new TesseraError(`${node.fn} is a primitive reduction, not defined by a graph`);
  return DEFINITIONS.logsumexp(b, x, node.axes, undefined);
}

const cache = new WeakMap<object, Graph>();

/**
 * The definition of `node` as a graph of its own: one input `x` of the operand's type, one output
 * `out`. Cached per node object (the interpreter evaluates a loop body's composites every
 * iteration).
 */
export function definitionGraph(node: DefinedNode, operand: TensorType): Graph {
  let graph = cache.get(node);
  if (!graph) {
    const b = new GraphBuilder();
    const x = b.add({ op: 'input', name: 'x', type: operand });
    graph = b.finish({ out: writeDefinition(b, node, x) });
    cache.set(node, graph);
  }
  return graph;
}

// ---- over a sparse graph: the same rule, each target node's edges standing for a row ------------

/** A segment softmax, or the segment logsumexp reduction: defined by graphs of segment primitives. */
export type SegmentDefinedNode = SegmentSoftmaxNode | SegmentReduceNode;

export function segmentDefinedByGraph(node: Node): SegmentDefinedNode | null {
  return node.op === 'segment_softmax' || (node.op === 'segment_reduce' && node.fn === 'logsumexp') ? node : null;
}

/**
 * Writes the primitive form of a segment softmax or logsumexp into `b`: `x` and the CSR node `g`
 * are ids in `b`. Each target node's max shifts its edges (0 when it is not finite), gathered back
 * to the edges by their target row, exactly as `shiftOf` does for a dense row.
 */
export function writeSegmentDefinition(b: GraphBuilder, node: SegmentDefinedNode, x: number, g: number): number {
  const csr = b.node(g) as CsrNode;
  const rows = csr.rows;
  const axis = node.axis;
  const segment = (fn: SegmentReduceNode['fn'], arg: number) =>
    b.add({ op: 'segment_reduce', fn, args: [arg, g], axis, type: inferSegmentReduce(fn, b.type(arg), b.type(g), rows, axis) });
  const ids = b.add({ op: 'segment_ids', args: [g], type: b.type(g) });
  const toEdges = (t: number) => b.add({ op: 'gather', args: [t, ids], axis: rows.name, type: inferGather(b.type(t), b.type(ids), rows.name) });
  const shift = shiftOf(b, segment('max', x));
  const e = b.map('exp', b.map('sub', x, toEdges(shift)));
  if (node.op === 'segment_reduce') return b.map('add', b.map('log', segment('sum', e)), shift);
  return b.map('div', e, toEdges(atLeastOne(b, segment('sum', e))));
}

const segmentCache = new WeakMap<object, Map<string, Graph>>();

/**
 * A segment node's definition as a graph of its own, over inputs `x`, `rowptr` and `col` of the
 * given (concrete) types with `rows` target nodes and `cols` source nodes; output `out`. Cached
 * per node and types.
 */
export function segmentDefinitionGraph(node: SegmentDefinedNode, x: TensorType, rowptr: TensorType, col: TensorType, rows: Axis, cols: number): Graph {
  let byTypes = segmentCache.get(node);
  if (!byTypes) segmentCache.set(node, (byTypes = new Map()));
  const key = JSON.stringify([x, rowptr, col, rows, cols]);
  let graph = byTypes.get(key);
  if (!graph) {
    const b = new GraphBuilder();
    const xi = b.add({ op: 'input', name: 'x', type: x });
    const args = [b.add({ op: 'input', name: 'rowptr', type: rowptr }), b.add({ op: 'input', name: 'col', type: col })];
    const g = b.add({ op: 'csr', args, rows, cols, type: col });
    graph = b.finish({ out: writeSegmentDefinition(b, node, xi, g) });
    byTypes.set(key, graph);
  }
  return graph;
}
