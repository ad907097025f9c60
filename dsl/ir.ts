/**
 * Tensor IR: a graph of named-axis tensor operations, produced by tracing DSL code and consumed by
 * the interpreter and the compiler. Nodes are plain data in topological order (every operand id is
 * smaller than the node's own id), so a graph serialises to JSON as it is.
 */
import type { Axis, DType, Size, TensorType } from './types.ts';

/** Reductions over named axes. `mean` and `logsumexp` need f32. */
export type ReduceFn = 'sum' | 'max' | 'min' | 'prod' | 'mean' | 'logsumexp';

/** Composites keep their intent for the fuser and carry a decomposition for the interpreter. */
export type CompositeFn = 'softmax' | 'log_softmax' | 'layer_norm';

interface NodeBase {
  /** Index of this node in its graph's `nodes`. */
  readonly id: number;
  readonly type: TensorType;
}

/** A named input tensor; its axis sizes define the kernel's symbols. */
export interface InputNode extends NodeBase {
  readonly op: 'input';
  readonly name: string;
}

/** A named scalar parameter supplied at run time (a uniform on the GPU). */
export interface ParamNode extends NodeBase {
  readonly op: 'param';
  readonly name: string;
}

/** A scalar constant, broadcast wherever it is used. */
export interface ConstNode extends NodeBase {
  readonly op: 'const';
  readonly value: number;
}

/** The index along one axis: a one-axis i32 tensor with values 0..size-1. */
export interface IotaNode extends NodeBase {
  readonly op: 'iota';
}

/** The size of an axis as an i32 scalar (static, or the run-time value of its symbol). */
export interface SizeNode extends NodeBase {
  readonly op: 'size';
  readonly axis: Axis;
}

/**
 * An elementwise scalar op (see `scalar-ops.ts`) over operands broadcast by axis name. The result
 * axes contain every operand axis and may add more (pure broadcast).
 */
export interface MapNode extends NodeBase {
  readonly op: 'map';
  readonly fn: string;
  readonly args: readonly number[];
}

/** A reduction over named axes; the result keeps the other axes in order. */
export interface ReduceNode extends NodeBase {
  readonly op: 'reduce';
  readonly fn: ReduceFn;
  readonly arg: number;
  readonly axes: readonly string[];
}

/**
 * An n-ary contraction over named axes: the product of the operands (broadcast by name), summed
 * over every axis that is not in the result. No operand repeats an axis name (diagonals are taken
 * by `relabel` first).
 */
export interface ContractNode extends NodeBase {
  readonly op: 'contract';
  readonly args: readonly number[];
}

/**
 * Renames, transposes or takes diagonals: operand axis `i` becomes result axis `names[i]`; the
 * result's axes are `type.axes` (a permutation of the distinct names). Two operand axes with the
 * same new name select their diagonal.
 */
export interface RelabelNode extends NodeBase {
  readonly op: 'relabel';
  readonly arg: number;
  readonly names: readonly string[];
}

/**
 * Reads the table `args[0]` along `axis` at the positions an i32 index tensor `args[1]` gives,
 * clamped into the axis: `out[…] = table[…, clamp(index[…], 0, size - 1), …]`. The result has the
 * table's other axes, then the index's axes not among them; an axis both have selects the same
 * position in each (a learned relative-position bias is `gather(bias, 'r', q − kv + M − 1)`).
 */
export interface GatherNode extends NodeBase {
  readonly op: 'gather';
  readonly args: readonly number[];
  readonly axis: string;
}

/**
 * A sparse adjacency in CSR form over the i32 inputs `args = [rowptr, col]`: the neighbours of
 * target node `i` (axis `rows`) are `col[rowptr[i] .. rowptr[i+1])`, each a source node in
 * `[0, cols)`. Its value is `col` (one i32 per edge, the edge axis being col's axis), checked:
 * the interpreter and the runtime reject a `rowptr` of the wrong length, not starting at 0, not
 * non-decreasing or not ending at the edge count, and a `col` entry out of range, before anything
 * reads them. Segment nodes take it as their second operand to find the rows.
 */
export interface CsrNode extends NodeBase {
  readonly op: 'csr';
  readonly args: readonly number[];
  /** The target-node axis (name and size); `rowptr` has its size + 1 entries. */
  readonly rows: Axis;
  /** The number of source nodes: every `col` entry lies in `[0, cols)`. */
  readonly cols: Size;
}

/** Reductions over each target node's edges. An empty segment gives sum 0, mean 0, max −∞, min +∞, logsumexp −∞. */
export type SegmentFn = 'sum' | 'mean' | 'max' | 'min' | 'logsumexp';

/**
 * A reduction of `args[0]` over its edge axis `axis`, edge by edge into the target node of each
 * edge (the CSR node `args[1]`): the result has the operand's axes with `axis` replaced, in place,
 * by the CSR's target axis (message aggregation: `Σ_{e ∈ rows i} x[…, e, …]`).
 */
export interface SegmentReduceNode extends NodeBase {
  readonly op: 'segment_reduce';
  readonly fn: SegmentFn;
  readonly args: readonly number[];
  readonly axis: string;
}

/**
 * `exp(x)` normalised over each target node's edges (the CSR node `args[1]`) along the edge axis
 * `axis`: the softmax over a node's neighbours. A node whose scores are all −∞ gives zeros.
 */
export interface SegmentSoftmaxNode extends NodeBase {
  readonly op: 'segment_softmax';
  readonly args: readonly number[];
  readonly axis: string;
}

/** The target node of every edge of the CSR node `args[0]`: i32 over the edge axis. */
export interface SegmentIdsNode extends NodeBase {
  readonly op: 'segment_ids';
  readonly args: readonly number[];
}

export interface CompositeNode extends NodeBase {
  readonly op: 'composite';
  readonly fn: CompositeFn;
  readonly arg: number;
  /** The axes it normalises over, jointly (`softmax(x, ['j', 'l'])`): one or more, in order. */
  readonly axes: readonly string[];
  /** layer_norm's epsilon. */
  readonly eps?: number;
}

/**
 * A body graph run `count` times. The body's `carry` nodes read the carried values (initialised
 * from `init`), its `capture` nodes read loop-invariant tensors of the enclosing graph
 * (`captures`), and its `results` give the next carried values, type for type.
 */
export interface LoopNode extends NodeBase {
  readonly op: 'loop';
  readonly count: number;
  readonly init: readonly number[];
  readonly captures: readonly number[];
  readonly body: Graph;
}

/**
 * A fused attention region found by the compiler (`match-attention`): its `body` is the original
 * subgraph — `capture` nodes read `args`, outputs `o` (softmax(S) contracted with V over `axis`)
 * and `lse` (logsumexp(S) over `axis`) — so the interpreter and verifier evaluate it by definition,
 * while the fuser lowers it to one flash kernel. Two flash nodes with equal args and body (one per
 * output) become one kernel.
 */
export interface FlashNode extends NodeBase {
  readonly op: 'flash';
  readonly output: 'o' | 'lse';
  readonly args: readonly number[];
  /** The axes the softmax runs over jointly: the kv axis, or (j, l) for 2-simplicial attention. */
  readonly axes: readonly string[];
  readonly body: Graph;
}

/**
 * A recurrence over the axis `axis` of the tensors `xs`, a chunk of `chunk` elements at a time (the
 * last chunk may be shorter). Each step the body reads the current chunk of each `xs` tensor
 * (`chunk` nodes: the tensor with `axis` sized by the symbol `size`, bound to the chunk's length),
 * the carried state (`carry` nodes, from `init`) and loop-invariant tensors (`capture` nodes); its
 * results `0`, `1`, ... are the next state (type for type) and `y0`, `y1`, ... the chunk's outputs,
 * which carry `axis` (sized `size`) and are stacked along it. `loop_result` nodes read the final
 * state (index < init.length) and the stacked outputs (index init.length + k for `yk`).
 */
export interface ScanNode extends NodeBase {
  readonly op: 'scan';
  readonly axis: string;
  readonly chunk: number;
  readonly size: string;
  readonly xs: readonly number[];
  readonly init: readonly number[];
  readonly captures: readonly number[];
  readonly body: Graph;
}

/** Inside a scan body: the current chunk of the scan's tensor `xs[index]`. */
export interface ChunkNode extends NodeBase {
  readonly op: 'chunk';
  readonly index: number;
}

/** Carried value `index` of a loop (or scan) after its last iteration; for a scan also its stacked outputs. */
export interface LoopResultNode extends NodeBase {
  readonly op: 'loop_result';
  readonly loop: number;
  readonly index: number;
}

/** Inside a loop body: the carried value `index` at the start of an iteration. */
export interface CarryNode extends NodeBase {
  readonly op: 'carry';
  readonly index: number;
}

/** Inside a loop body: the enclosing graph's tensor `loop.captures[index]`. */
export interface CaptureNode extends NodeBase {
  readonly op: 'capture';
  readonly index: number;
}

export type Node =
  | InputNode
  | ParamNode
  | ConstNode
  | IotaNode
  | SizeNode
  | MapNode
  | ReduceNode
  | ContractNode
  | RelabelNode
  | GatherNode
  | CsrNode
  | SegmentReduceNode
  | SegmentSoftmaxNode
  | SegmentIdsNode
  | CompositeNode
  | LoopNode
  | ScanNode
  | ChunkNode
  | FlashNode
  | LoopResultNode
  | CarryNode
  | CaptureNode;

export type NodeOp = Node['op'];

/**
 * Ops computed pointwise from their operands (a gather at a computed position of its table; a CSR
 * node is its `col`, checked before the run):
 * the fuser inlines them into their consumers, and attention matching follows them.
 */
export const ELEMENTWISE_OPS: ReadonlySet<NodeOp> = new Set<NodeOp>(['map', 'relabel', 'gather', 'iota', 'const', 'param', 'size', 'csr']);

/**
 * A graph: nodes in topological order and named results. A top-level graph's results are its
 * outputs; a loop body's results are named `0`, `1`, ... for the next carried values.
 */
export interface Graph {
  readonly nodes: readonly Node[];
  readonly outputs: Readonly<Record<string, number>>;
}

/** Operand ids of a node (loop captures and inits included). */
export function operands(node: Node): readonly number[] {
  switch (node.op) {
    case 'map':
    case 'contract':
    case 'flash':
    case 'gather':
    case 'csr':
    case 'segment_reduce':
    case 'segment_softmax':
    case 'segment_ids':
      return node.args;
    case 'reduce':
    case 'relabel':
    case 'composite':
      return [node.arg];
    case 'loop':
      return [...node.init, ...node.captures];
    case 'scan':
      return [...node.xs, ...node.init, ...node.captures];
    case 'loop_result':
      return [node.loop];
    default:
      return [];
  }
}

/** Inputs of a graph in declaration order. */
export function graphInputs(graph: Graph): InputNode[] {
  return graph.nodes.filter((n): n is InputNode => n.op === 'input');
}

export function graphParams(graph: Graph): ParamNode[] {
  return graph.nodes.filter((n): n is ParamNode => n.op === 'param');
}

/**
 * The nodes the outputs depend on (1) and the dead ones (0): the one liveness walk that the
 * interpreter (dead nodes cost nothing and need no bound sizes) and dead-node elimination share.
 */
export function liveNodes(graph: Graph): Uint8Array {
  const live = new Uint8Array(graph.nodes.length);
  for (const id of Object.values(graph.outputs)) live[id] = 1;
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    if (!live[id]) continue;
    for (const operand of operands(graph.nodes[id]!)) live[operand] = 1;
  }
  return live;
}
