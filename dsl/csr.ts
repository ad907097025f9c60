/**
 * Sparse graphs in the DSL: a CSR adjacency declared from two i32 kernel inputs, and the segment
 * operations of message passing over it — per-edge values gathered from node tensors by the edge's
 * endpoints (`gather(k, 'j', g.col)`, `gather(q, 'i', g.row)`), a softmax over each target node's
 * edges, and reductions of per-edge messages into their target nodes.
 *
 * ```ts
 * const g = csr(rowptr, col, { rows: [q, 'i'], cols: [k, 'j'] });
 * const s = mul(sum(mul(gather(q, 'i', g.row), gather(k, 'j', g.col)), 'd'), scale); // [h, e]
 * const o = segmentSum(mul(segmentSoftmax(s, g), gather(v, 'j', g.col)), g);     // [h, i, c]
 * ```
 *
 * The compiler runs this pattern (scores, the per-node softmax and the aggregation) as one fused
 * kernel that never stores a per-edge tensor; other uses of the segment ops run as ordinary
 * kernels. The adjacency is checked where it is used (interpreter) or before a run (GPU runtime):
 * a `rowptr` of the wrong length, not starting at 0, decreasing or not ending at the edge count,
 * or a `col` entry out of range, is an error naming the input, never a wrong answer.
 */
import { inferCsr, inferSegmentReduce, inferSegmentSoftmax } from './infer.ts';
import type { SegmentFn } from './ir.ts';
import { currentBuilder } from './trace.ts';
import { Tensor, nodeIn, type Axes } from './tensor.ts';
import { TesseraError, type Axis, type DType } from './types.ts';

/** `A` with the axis `From` replaced in place by `To`. */
export type ReplaceAxis<A extends Axes, From extends string, To extends string> = A extends readonly [infer H extends string, ...infer T extends Axes]
  ? readonly [H extends From ? To : H, ...ReplaceAxis<T, From, To>]
  : string[] extends A
    ? Axes
    : readonly [];

/** A CSR adjacency over target nodes (axis `I`) with edges along axis `E`. */
export interface Csr<E extends string = string, I extends string = string> {
  /** The source node of every edge (the checked `col`), for `gather(x, sourceAxis, g.col)`. */
  readonly col: Tensor<readonly [E], 'i32'>;
  /** The target node of every edge, for `gather(x, targetAxis, g.row)`. */
  readonly row: Tensor<readonly [E], 'i32'>;
  /** The edge axis (col's axis). */
  readonly edges: E;
  /** The target-node axis the segment reductions produce. */
  readonly rows: I;
}

/** Where a node count comes from: an axis of a tensor, as `[q, 'i']`. */
export type NodeAxis<I extends string> = readonly [Tensor<Axes, DType>, I];

function axisOf(what: string, spec: NodeAxis<string>): Axis {
  const [like, name] = spec;
  if (!(like instanceof Tensor)) throw new TesseraError(`csr: ${what} must be given as [tensor, axis name]`);
  const axis = like.type.axes.find((a) => a.name === name);
  if (!axis) throw new TesseraError(`csr: ${what} axis '${name}' is not an axis of the given tensor; its axes are [${like.axes.join(', ')}]`);
  return axis;
}

/**
 * Declares a CSR adjacency: the neighbours of target node `i` are `col[rowptr[i] .. rowptr[i+1])`,
 * each a source node. `rowptr` and `col` must be i32 kernel inputs (they are checked against each
 * other and the node counts before any kernel reads them); `rows` names the target-node axis and
 * takes its size from a tensor that has it (`[q, 'i']`), `cols` gives the number of source nodes
 * the same way (`[k, 'j']`).
 */
export function csr<const E extends string, const I extends string>(
  rowptr: Tensor<readonly [string], 'i32'>,
  col: Tensor<readonly [E], 'i32'>,
  nodes: { readonly rows: NodeAxis<I>; readonly cols: NodeAxis<string> },
): Csr<E, I> {
  const builder = currentBuilder('csr');
  const rows = axisOf('rows', nodes.rows);
  const cols = axisOf('cols', nodes.cols);
  const ids = [nodeIn(builder, rowptr), nodeIn(builder, col)];
  for (const [id, name] of [
    [ids[0]!, 'rowptr'],
    [ids[1]!, 'col'],
  ] as const) {
    if (builder.nodes[id]?.op !== 'input') throw new TesseraError(`csr: ${name} must be a kernel input (the runtime checks the adjacency before a run)`);
  }
  const type = inferCsr(builder.type(ids[0]!), builder.type(ids[1]!), rows);
  const csrId = builder.add({ op: 'csr', args: ids, rows, cols: cols.size, type });
  const edges = type.axes[0]!.name as E;
  return {
    col: new Tensor(builder, csrId),
    row: new Tensor(builder, builder.add({ op: 'segment_ids', args: [csrId], type })),
    edges,
    rows: rows.name as I,
  };
}

/** The CSR node behind an adjacency, in the current trace. */
function csrNode(what: string, g: Csr): { id: number; rows: Axis } {
  const builder = currentBuilder(what);
  const id = nodeIn(builder, g.col);
  const node = builder.nodes[id];
  if (node?.op === 'capture') throw new TesseraError(`${what}: an adjacency declared outside a loop or scan body cannot be used inside it; declare it in the body`);
  if (node?.op !== 'csr') throw new TesseraError(`${what}: the second argument must be an adjacency made by csr()`);
  return { id, rows: node.rows };
}

function segmentReduce(fn: SegmentFn, x: Tensor, g: Csr): Tensor {
  const what = `segment ${fn}`;
  const builder = currentBuilder(what);
  const { id, rows } = csrNode(what, g);
  const arg = nodeIn(builder, x);
  const type = inferSegmentReduce(fn, builder.type(arg), builder.type(id), rows, g.edges);
  return new Tensor(builder, builder.add({ op: 'segment_reduce', fn, args: [arg, id], axis: g.edges, type }));
}

type Segmented<A extends Axes, E extends string, I extends string, D extends DType> = Tensor<ReplaceAxis<A, E, I>, D>;

/** A tensor over the adjacency's edges: one whose axes include the edge axis `E` (else a type error naming it). */
type OverEdges<A extends Axes, D extends DType, E extends string> = Tensor<A, D> & (string extends E ? unknown : E extends A[number] ? unknown : { readonly missingEdgeAxis: E });

/** Σ over each target node's edges: `out[…, i, …] = Σ_{e in row i} x[…, e, …]` (0 for a node without edges). */
export function segmentSum<A extends Axes, D extends 'f32' | 'i32' | 'u32', E extends string, I extends string>(x: OverEdges<A, D, E>, g: Csr<E, I>): Segmented<A, E, I, D> {
  return segmentReduce('sum', x, g) as Segmented<A, E, I, D>;
}

/** The mean over each target node's edges (0 for a node without edges, as PyG's scatter mean). */
export function segmentMean<A extends Axes, E extends string, I extends string>(x: OverEdges<A, 'f32', E>, g: Csr<E, I>): Segmented<A, E, I, 'f32'> {
  return segmentReduce('mean', x, g) as Segmented<A, E, I, 'f32'>;
}

/** The max over each target node's edges (−∞, or the dtype's lowest, for a node without edges). */
export function segmentMax<A extends Axes, D extends 'f32' | 'i32' | 'u32', E extends string, I extends string>(x: OverEdges<A, D, E>, g: Csr<E, I>): Segmented<A, E, I, D> {
  return segmentReduce('max', x, g) as Segmented<A, E, I, D>;
}

/** The min over each target node's edges (+∞, or the dtype's highest, for a node without edges). */
export function segmentMin<A extends Axes, D extends 'f32' | 'i32' | 'u32', E extends string, I extends string>(x: OverEdges<A, D, E>, g: Csr<E, I>): Segmented<A, E, I, D> {
  return segmentReduce('min', x, g) as Segmented<A, E, I, D>;
}

/** log Σ exp over each target node's edges, computed stably (−∞ for a node without edges). */
export function segmentLogsumexp<A extends Axes, E extends string, I extends string>(x: OverEdges<A, 'f32', E>, g: Csr<E, I>): Segmented<A, E, I, 'f32'> {
  return segmentReduce('logsumexp', x, g) as Segmented<A, E, I, 'f32'>;
}

/**
 * `exp(x)` normalised over each target node's edges: the attention weights of a node's
 * neighbours. Edges whose target's scores are all −∞ get 0.
 */
export function segmentSoftmax<A extends Axes, E extends string, I extends string>(x: OverEdges<A, 'f32', E>, g: Csr<E, I>): Tensor<A, 'f32'> {
  const what = 'segment softmax';
  const builder = currentBuilder(what);
  const { id } = csrNode(what, g);
  const arg = nodeIn(builder, x);
  const type = inferSegmentSoftmax(builder.type(arg), builder.type(id), g.edges);
  return new Tensor(builder, builder.add({ op: 'segment_softmax', args: [arg, id], axis: g.edges, type }));
}
