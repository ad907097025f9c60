/**
 * A flash node over a CSR edge axis (graph attention, see `match-attention`) as two kernels: the
 * edge-balanced `graph-attention` kernel and the `graph-merge` pass that writes rows without edges
 * and merges rows cut across parts. Nothing per edge is stored: scores, weights and messages live
 * in registers and workgroup memory.
 */
import type { Graph, Node } from '../../dsl/ir.ts';
import { TesseraError, type Axis } from '../../dsl/types.ts';
import { sizeProduct, type SizeExpr } from '../../program/index.ts';
import type { AxisLoad, HostStep, KExpr, NewBuffer } from '../kernel-ir.ts';
import { axisEnv, axisIds, buildExpr } from '../lower-expr.ts';
import { captureLoad, scoreProducts, type FlashArg } from './flash-kernel.ts';
import { peelValidity } from './kv-bounds.ts';

/** Edges one workgroup scores and folds: enough to amortise its setup, few enough to balance. */
export const GRAPH_EDGES_PER_GROUP = 128;

/** The parts of a graph-attention body, by node id. */
export interface GraphParts {
  /** The softmax's operand: the per-edge score. */
  readonly sId: number;
  /** The message aggregated with the softmax weights. */
  readonly wId: number;
  readonly csrId: number;
  /** The score's product (`q·k` over d), if it has one. */
  readonly cId: number | null;
  /** The value axes (the message's axes the score lacks). */
  readonly value: readonly Axis[];
}

/**
 * The parts of a flash body of the form `o = segment_sum(segment_softmax(S, g) · W, g)`, or null
 * when the body is not of that form (it is an ordinary flash body then).
 */
export function graphParts(body: Graph): GraphParts | null {
  const o = body.nodes[body.outputs['o']!];
  if (o?.op !== 'segment_reduce' || o.fn !== 'sum') return null;
  const x = body.nodes[o.args[0]!]!;
  if (x.op !== 'map' || x.fn !== 'mul' || x.args.length !== 2) return null;
  const pAt = x.args.findIndex((a) => body.nodes[a]!.op === 'segment_softmax');
  if (pAt < 0) return null;
  const p = body.nodes[x.args[pAt]!] as Extract<Node, { op: 'segment_softmax' }>;
  if (p.args[1] !== o.args[1]) return null;
  const sId = p.args[0]!;
  const wId = x.args[1 - pAt]!;
  const inS = new Set(body.nodes[sId]!.type.axes.map((a) => a.name));
  return { sId, wId, csrId: o.args[1]!, cId: oneProduct(scoreProducts(body, sId)), value: body.nodes[wId]!.type.axes.filter((a) => !inS.has(a.name)) };
}

/** The score's product when it has exactly one, else null. */
function oneProduct(products: readonly number[]): number | null {
  return products.length === 1 ? products[0]! : null;
}

/**
 * The two kernels computing a graph-attention flash body into `oBuffer` (and `lseBuffer`), with the
 * pieces buffer of rows cut across parts.
 */
export function graphAttention(body: Graph, args: readonly FlashArg[], oBuffer: number, lseBuffer: number | null, name: string, newBuffer: NewBuffer): HostStep[] {
  const parts = graphParts(body);
  if (!parts) throw new TesseraError(`fuse: flash node ${name} does not have the form segment_sum(segment_softmax(S) · W)`);
  const { sId, wId, csrId, cId } = parts;
  const csr = body.nodes[csrId] as Extract<Node, { op: 'csr' }>;
  const sType = body.nodes[sId]!.type;
  const edgeName = body.nodes[csrId]!.type.axes[0]!.name;
  const kaxis = axisIds();
  const outer = sType.axes.filter((a) => a.name !== edgeName).map(kaxis);
  const edge = kaxis(sType.axes.find((a) => a.name === edgeName)!);
  const row = kaxis(csr.rows);
  const value = parts.value.map(kaxis);
  const product = cId === null ? null : (body.nodes[cId] as Extract<Node, { op: 'contract' }>);
  if (product && product.args.length !== 2) throw new TesseraError(`fuse: flash node ${name}: the score's product must have two operands`);
  const inS = new Set(sType.axes.map((a) => a.name));
  const d = product ? [...new Map(product.args.flatMap((a) => body.nodes[a]!.type.axes.filter((x) => !inS.has(x.name)).map((x) => [x.name, x] as const))).values()].map(kaxis) : [];

  const leaf = (id: number, names: Map<string, string>): KExpr | null => {
    const n = body.nodes[id]!;
    if (id === cId) return { k: 'acc' };
    if (n.op === 'capture') return captureLoad(args[n.index]!, names);
    // The edge's source node is `col` at the edge; its target node is the row being folded.
    if (n.op === 'csr') return buildExpr(body, n.args[1]!, names, leaf);
    if (n.op === 'segment_ids') return { k: 'index', axis: row.id };
    return null;
  };
  const rowptrNode = body.nodes[csr.args[0]!]!;
  if (rowptrNode.op !== 'capture') throw new TesseraError(`fuse: flash node ${name}: rowptr must be a buffer`);
  const rowptrArg = args[rowptrNode.index]!;
  const rowptr: AxisLoad = { k: 'load', buffer: rowptrArg.buffer, dtype: 'i32', axes: [{ size: rowptrArg.type.axes[0]!.size, index: row.id }] };

  const { score, valid } = peelValidity(buildExpr(body, sId, axisEnv([...outer, edge, row]), leaf));
  const productEnv = axisEnv([...outer, edge, row, ...d]);
  const [a, b] = product ? product.args.map((x) => buildExpr(body, x, productEnv, leaf)) : [null, null];
  const message = buildExpr(body, wId, axisEnv([...outer, edge, row, ...value]), leaf);

  const typeOf = (output: 'o' | 'lse') => body.nodes[body.outputs[output]!]!.type;
  const out = { buffer: oBuffer, dtype: 'f32' as const, axes: typeOf('o').axes.map(kaxis) };
  const lse = lseBuffer === null ? null : { buffer: lseBuffer, dtype: 'f32' as const, axes: typeOf('lse').axes.map(kaxis) };
  const C = GRAPH_EDGES_PER_GROUP;
  const partCount: SizeExpr = { op: 'max', args: [1, { op: 'ceildiv', args: [edge.size, C] }] };
  const valueSize = sizeProduct(value.map((x) => x.size));
  if (typeof valueSize !== 'number') throw new TesseraError(`fuse: flash node ${name}: the value axes must have static sizes`);
  const outerCount = sizeProduct(outer.map((x) => x.size));
  const piecesBuffer = newBuffer('f32', [], 'temp', `${name} pieces`, { op: 'mul', args: [partCount, 2 * (valueSize + 2), outerCount] });
  const pieces = { buffer: piecesBuffer, dtype: 'f32' as const, axes: [] };
  const shared = { out, lse, outer, row, value, rowptr, edgesPerGroup: C };
  return [
    { kind: 'kernel', kernel: { kind: 'graph-attention', name, ...shared, pieces, edge, d, a, b, score, valid, message } },
    { kind: 'kernel', kernel: { kind: 'graph-merge', name: `${name} merge`, ...shared, pieces: { k: 'load', ...pieces } } },
  ];
}
