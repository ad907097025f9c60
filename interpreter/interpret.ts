/**
 * The CPU interpreter: the executable definition of the Tensor IR. Every GPU result is tested
 * against it, so it favours being obviously right over being fast, while staying fast enough for a
 * few million multiply-adds per contraction.
 *
 * Two precisions:
 * - `f64` (default): f32 tensors are held in Float64Array and computed with exact JS arithmetic. This
 *   is the reference that reproduces the float64 golden files.
 * - `f32`: f32 tensors are held in Float32Array and every scalar result and every partial sum is
 *   rounded with `Math.fround`, which is what a GPU accumulating in f32 registers does.
 *
 * i32, u32 and bool tensors always live in Int32Array, Uint32Array and Uint8Array and wrap through
 * the registry's `roundTo`, in both modes.
 *
 * Scalar semantics come from the scalar-op registry (`scalar-ops.ts`) and nowhere else; composites
 * are run through their definitions (`dsl/composites.ts`), graphs of primitive nodes, so the interpreter and any
 * compiler pass that splices in the same decomposition agree by construction.
 */
import { allocHost, bindSymbols, boundaryOf, checkParams, concreteShape, elementCount, hostData, nameRecord } from '../dsl/bind.ts';
import { definedByGraph, definitionGraph, segmentDefinedByGraph, segmentDefinitionGraph, type DefinedNode, type SegmentDefinedNode } from '../dsl/composites.ts';
import { graphInputs, graphParams, liveNodes, type Graph, type Node } from '../dsl/ir.ts';
import type { TraceOptions } from '../dsl/kernel.ts';
import { reductionFold } from '../dsl/reductions.ts';
import { roundTo, scalarOp } from '../dsl/scalar-ops.ts';
import { TesseraError, type DType, type HostTensor, type TensorType } from '../dsl/types.ts';
import { verifyGraph } from '../dsl/verify.ts';
import { checkCsr, csrInputNames, csrProblem } from '../program/csr.ts';

export type Precision = 'f64' | 'f32';

export interface InterpretOptions {
  /** `f64` (default): exact reference arithmetic; `f32`: round like a GPU computing in f32. */
  readonly precision?: Precision;
  /** Values of the graph's scalar `param` nodes, by name. */
  readonly params?: Readonly<Record<string, number>>;
  /**
   * Symbol values fixed in advance (checked against the inputs like any other binding). Needed only
   * for symbols no input carries, e.g. the size of an `iotaOf` axis; `interpretKernel` also pins
   * them in the trace.
   */
  readonly sizes?: Readonly<Record<string, number>>;
}

export type InterpretedData = Float64Array | Float32Array | Int32Array | Uint32Array | Uint8Array;

/** A tensor the interpreter produced: row-major data with its concrete shape and axis names. */
export interface InterpretedTensor {
  shape: number[];
  axes: string[];
  dtype: DType;
  /** f32: Float64Array in f64 mode, Float32Array in f32 mode; i32/u32/bool: their own arrays. */
  data: InterpretedData;
}

/** What every node evaluation needs besides its operands. */
interface Context {
  readonly float32: boolean;
  readonly symbols: Readonly<Record<string, number>>;
  readonly params: Readonly<Record<string, number>>;
  /** Top-level inputs by name (or the operand of a composite's decomposition, as `x`). */
  readonly inputs: Readonly<Record<string, InterpretedTensor>>;
}

/** The tensors a loop or scan body reads through its `capture`, `carry` and `chunk` nodes. */
interface BodyScope {
  readonly captures: readonly InterpretedTensor[];
  readonly carried: readonly InterpretedTensor[];
  readonly chunks?: readonly InterpretedTensor[];
}

const TOP_LEVEL: BodyScope = { captures: [], carried: [] };

// ---- public entry points --------------------------------------------------------------------------

/**
 * Runs a Tensor IR graph on host tensors and returns its outputs by name. Inputs and parameters
 * are checked with the same boundary rules as the GPU runtime (`bind.ts`), so a bad call fails
 * with the same message on every backend.
 */
export function interpret(
  graph: Graph,
  inputs: Readonly<Record<string, HostTensor>>,
  options: InterpretOptions = {},
): Record<string, InterpretedTensor> {
  verifyGraph(graph);
  const precision = options.precision ?? 'f64';
  if (precision !== 'f64' && precision !== 'f32') throw new TesseraError(`interpret: precision must be 'f64' or 'f32', got '${String(precision)}'`);
  const float32 = precision === 'f32';
  const inputNodes = graphInputs(graph);
  const declared = inputNodes.map((node) => boundaryOf(node.name, node.type));
  const symbols = bindSymbols(declared, inputs, options.sizes ?? {});
  const params = checkParams(
    graphParams(graph).map((p) => ({ name: p.name, dtype: p.type.dtype })),
    options.params ?? {},
  );
  // Names are data (an input may be called `constructor`): records here have no prototype, and
  // bindSymbols has checked that each input is the caller's own entry.
  const values = nameRecord<InterpretedTensor>();
  for (const node of inputNodes) values[node.name] = inputValue(node.name, node.type, inputs[node.name]!, float32);

  const results = evaluateGraph(graph, { float32, symbols, params, inputs: values }, TOP_LEVEL);
  // Two output names may share one node; give each caller-visible tensor its own data.
  const handedOut = new Set<InterpretedTensor>();
  const outputs = nameRecord<InterpretedTensor>();
  for (const [name, value] of Object.entries(results)) {
    outputs[name] = handedOut.has(value) ? { ...value, shape: [...value.shape], axes: [...value.axes], data: value.data.slice() } : value;
    handedOut.add(value);
  }
  return outputs;
}

/** Anything that traces to Tensor IR: a `Kernel` from `kernel(...)`. */
export interface Traceable {
  trace(options?: TraceOptions): Graph;
}

/**
 * Traces a kernel (pinning `options.sizes`) and interprets it: the shortest path from DSL code to
 * numbers, for tests, the demo and the CPU baseline.
 */
export function interpretKernel(
  k: Traceable,
  inputs: Readonly<Record<string, HostTensor>>,
  options: InterpretOptions = {},
): Record<string, InterpretedTensor> {
  const graph = k.trace(options.sizes ? { sizes: options.sizes } : {});
  return interpret(graph, inputs, options);
}

// ---- graph evaluation -----------------------------------------------------------------------------

const liveCache = new WeakMap<Graph, Uint8Array>();

/** `liveNodes`, cached per graph because a loop body is evaluated once per iteration. */
function liveOf(graph: Graph): Uint8Array {
  let live = liveCache.get(graph);
  if (!live) liveCache.set(graph, (live = liveNodes(graph)));
  return live;
}

function evaluateGraph(graph: Graph, ctx: Context, scope: BodyScope): Record<string, InterpretedTensor> {
  const live = liveOf(graph);
  const values: (InterpretedTensor | undefined)[] = new Array(graph.nodes.length);
  const loopFinals = new Map<number, readonly InterpretedTensor[]>();
  const get = (id: number): InterpretedTensor => {
    const v = values[id];
    if (!v) throw new Error(`interpret: internal error: %${id} read before it was computed`);
    return v;
  };
  for (const node of graph.nodes) {
    if (!live[node.id]) continue;
    if (node.op === 'loop') {
      loopFinals.set(node.id, runLoop(node, ctx, node.captures.map(get), node.init.map(get)));
      continue;
    }
    if (node.op === 'scan') {
      loopFinals.set(node.id, runScan(node, ctx, node.captures.map(get), node.xs.map(get), node.init.map(get)));
      continue;
    }
    values[node.id] = evaluateNode(node, ctx, scope, get, loopFinals, graph);
  }
  const outputs = nameRecord<InterpretedTensor>();
  for (const [name, id] of Object.entries(graph.outputs)) outputs[name] = get(id);
  return outputs;
}

/** Runs a loop body `count` times; the body's outputs `0`, `1`, ... become the next carried values. */
function runLoop(
  node: Extract<Node, { op: 'loop' }>,
  ctx: Context,
  captures: readonly InterpretedTensor[],
  init: readonly InterpretedTensor[],
): readonly InterpretedTensor[] {
  let carried = init;
  for (let iteration = 0; iteration < node.count; iteration++) {
    const results = evaluateGraph(node.body, ctx, { captures, carried });
    carried = carried.map((_, i) => {
      const next = results[String(i)];
      if (!next) throw new TesseraError(`interpret: loop %${node.id} body has no result ${i}`);
      return next;
    });
  }
  return carried;
}

/**
 * Runs a scan as it is written: the body once per chunk of `chunk` elements of the scanned axis (the
 * last one shorter), with the chunk-length symbol bound to the chunk's length; the final carried
 * values, then each output stacked along the axis.
 */
function runScan(
  node: Extract<Node, { op: 'scan' }>,
  ctx: Context,
  captures: readonly InterpretedTensor[],
  xs: readonly InterpretedTensor[],
  init: readonly InterpretedTensor[],
): readonly InterpretedTensor[] {
  const length = xs[0]!.shape[xs[0]!.axes.indexOf(node.axis)]!;
  let carried = init;
  const pieces: InterpretedTensor[][] = [];
  for (let start = 0; start < length; start += node.chunk) {
    const count = Math.min(node.chunk, length - start);
    const symbols: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, ctx.symbols, { [node.size]: count });
    const chunks = xs.map((x) => sliceAxis(x, x.axes.indexOf(node.axis), start, count));
    const results = evaluateGraph(node.body, { ...ctx, symbols }, { captures, carried, chunks });
    carried = carried.map((_, i) => results[String(i)]!);
    for (let k = 0; results[`y${k}`] !== undefined; k++) (pieces[k] ??= []).push(results[`y${k}`]!);
  }
  return [...carried, ...pieces.map((p) => concatAxis(p, node.axis, length))];
}

/** Elements [start, start + count) of axis `at` of a row-major tensor. */
function sliceAxis(x: InterpretedTensor, at: number, start: number, count: number): InterpretedTensor {
  const outer = x.shape.slice(0, at).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(at + 1).reduce((a, b) => a * b, 1);
  const n = x.shape[at]!;
  const shape = x.shape.map((s, i) => (i === at ? count : s));
  const data = new (x.data.constructor as new (n: number) => InterpretedData)(outer * count * inner);
  for (let o = 0; o < outer; o++) data.set(x.data.subarray((o * n + start) * inner, (o * n + start + count) * inner), o * count * inner);
  return { shape, axes: [...x.axes], dtype: x.dtype, data };
}

/** Pieces of a tensor along `axis`, in order, joined into one of `length` elements along it. */
function concatAxis(pieces: readonly InterpretedTensor[], axis: string, length: number): InterpretedTensor {
  const first = pieces[0]!;
  const at = first.axes.indexOf(axis);
  const outer = first.shape.slice(0, at).reduce((a, b) => a * b, 1);
  const inner = first.shape.slice(at + 1).reduce((a, b) => a * b, 1);
  const data = new (first.data.constructor as new (n: number) => InterpretedData)(outer * length * inner);
  let start = 0;
  for (const p of pieces) {
    const count = p.shape[at]!;
    for (let o = 0; o < outer; o++) data.set(p.data.subarray(o * count * inner, (o + 1) * count * inner), (o * length + start) * inner);
    start += count;
  }
  return { shape: first.shape.map((s, i) => (i === at ? length : s)), axes: [...first.axes], dtype: first.dtype, data };
}

function evaluateNode(
  node: Node,
  ctx: Context,
  scope: BodyScope,
  get: (id: number) => InterpretedTensor,
  loopFinals: ReadonlyMap<number, readonly InterpretedTensor[]>,
  graph: Graph,
): InterpretedTensor {
  switch (node.op) {
    case 'input': {
      const value = ctx.inputs[node.name];
      if (!value) throw new TesseraError(`input '${node.name}' is missing`);
      return value;
    }
    case 'param': {
      const value = ctx.params[node.name];
      if (value === undefined) throw new TesseraError(`parameter '${node.name}' is missing`);
      return scalar(node.type.dtype, roundTo(value, node.type.dtype, ctx.float32), ctx.float32);
    }
    case 'const':
      return scalar(node.type.dtype, roundTo(node.value, node.type.dtype, ctx.float32), ctx.float32);
    case 'size': {
      const size = node.axis.size;
      const value = typeof size === 'number' ? size : ctx.symbols[size];
      if (value === undefined) throw new TesseraError(`size '${size}' is not bound by any input`);
      return scalar('i32', value, ctx.float32);
    }
    case 'iota': {
      const out = allocateTensor(node.type, ctx);
      for (let i = 0; i < out.data.length; i++) out.data[i] = roundTo(i, out.dtype, ctx.float32);
      return out;
    }
    case 'map':
      return evaluateMap(node.fn, node.type, node.args.map(get), ctx);
    case 'reduce':
      if (definedByGraph(node)) return evaluateDefinition(node, get(node.arg), ctx);
      return evaluateReduce(node.fn, node.type, get(node.arg), node.axes, ctx);
    case 'contract':
      return evaluateContract(node.type, node.args.map(get), ctx);
    case 'relabel':
      return evaluateRelabel(node.type, get(node.arg), node.names, ctx);
    case 'gather':
      return evaluateGather(node.type, get(node.args[0]!), get(node.args[1]!), node.axis, ctx);
    case 'csr':
      return evaluateCsr(node, graph, get(node.args[0]!), get(node.args[1]!), ctx);
    case 'segment_reduce':
      if (segmentDefinedByGraph(node)) return evaluateSegmentDefinition(node, graph, get, ctx);
      return evaluateSegmentReduce(node, get(node.args[0]!), rowptrOf(graph, node.args[1]!, get), ctx);
    case 'segment_softmax':
      return evaluateSegmentDefinition(node, graph, get, ctx);
    case 'segment_ids':
      return evaluateSegmentIds(node.type, rowptrOf(graph, node.args[0]!, get), ctx);
    case 'composite':
      return evaluateDefinition(node, get(node.arg), ctx);
    case 'loop':
    case 'scan':
      throw new Error('interpret: internal error: loops and scans are run by evaluateGraph');
    case 'chunk': {
      const value = scope.chunks?.[node.index];
      if (!value) throw new TesseraError(`interpret: chunk %${node.id} outside a scan body`);
      return value;
    }
    case 'flash':
      return evaluateGraph(node.body, ctx, { captures: node.args.map(get), carried: [] })[node.output]!;
    case 'loop_result': {
      const finals = loopFinals.get(node.loop);
      const value = finals?.[node.index];
      if (!value) throw new TesseraError(`interpret: loop_result %${node.id} reads a missing loop value`);
      return value;
    }
    case 'carry': {
      const value = scope.carried[node.index];
      if (!value) throw new TesseraError(`interpret: carry %${node.id} outside a loop body`);
      return value;
    }
    case 'capture': {
      const value = scope.captures[node.index];
      if (!value) throw new TesseraError(`interpret: capture %${node.id} outside a loop body`);
      return value;
    }
  }
}

// ---- storage ------------------------------------------------------------------------------------

function allocate(dtype: DType, length: number, float32: boolean): InterpretedData {
  return dtype === 'f32' && !float32 ? new Float64Array(length) : allocHost(dtype, length);
}

/** A zeroed tensor of a node's type with its symbols resolved. */
function allocateTensor(type: TensorType, ctx: Context): InterpretedTensor {
  const shape = concreteShape(type.axes.map((a) => a.size), ctx.symbols);
  return { shape, axes: type.axes.map((a) => a.name), dtype: type.dtype, data: allocate(type.dtype, elementCount(shape), ctx.float32) };
}

function scalar(dtype: DType, value: number, float32: boolean): InterpretedTensor {
  const data = allocate(dtype, 1, float32);
  data[0] = value;
  return { shape: [], axes: [], dtype, data };
}

/**
 * Copies a checked host tensor into interpreter storage. In f64 mode f32 data keeps every bit the
 * caller gave (a Float64Array is not rounded), so float64 golden inputs are reproduced exactly.
 */
function inputValue(name: string, type: TensorType, host: HostTensor, float32: boolean): InterpretedTensor {
  const checked = hostData(name, host, type.dtype);
  const shape = [...host.shape];
  const data = allocate(type.dtype, checked.length, float32);
  if (type.dtype === 'f32' && !float32) {
    const source = host.data as ArrayLike<number>;
    for (let i = 0; i < data.length; i++) data[i] = Number(source[i]);
  } else {
    data.set(checked);
  }
  return { shape, axes: type.axes.map((a) => a.name), dtype: type.dtype, data };
}

// ---- index arithmetic -----------------------------------------------------------------------------

function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= shape[d]!;
  }
  return strides;
}

/**
 * The strides of `value` along the named axes of an iteration space: 0 for a name the value lacks,
 * which is what broadcasting by name means.
 */
function stridesByName(value: InterpretedTensor, names: readonly string[], sizes: readonly number[]): number[] {
  const own = rowMajorStrides(value.shape);
  return names.map((name, d) => {
    const at = value.axes.indexOf(name);
    if (at < 0) return 0;
    if (value.shape[at] !== sizes[d]) {
      throw new Error(`interpret: internal error: axis '${name}' has size ${value.shape[at]} in an operand but ${sizes[d]} in the result`);
    }
    return own[at]!;
  });
}

/**
 * Walks an index space in row-major order, keeping one flat offset per operand up to date
 * incrementally (an odometer), so no per-element index arithmetic or allocation is needed.
 */
class StridedCursor {
  readonly offsets: number[];
  private readonly index: number[];

  constructor(
    private readonly shape: readonly number[],
    private readonly strides: readonly (readonly number[])[],
  ) {
    this.offsets = strides.map(() => 0);
    this.index = shape.map(() => 0);
  }

  next(): void {
    const { shape, strides, offsets, index } = this;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] += 1;
      for (let k = 0; k < offsets.length; k++) offsets[k] += strides[k]![d]!;
      if (index[d]! < shape[d]!) return;
      for (let k = 0; k < offsets.length; k++) offsets[k] -= strides[k]![d]! * shape[d]!;
      index[d] = 0;
    }
  }
}

/** Every flat offset of an index space, in row-major order (for the inner, summed spaces). */
function offsetsOver(shape: readonly number[], strides: readonly number[]): Int32Array {
  let offsets = new Int32Array([0]);
  shape.forEach((size, d) => {
    const next = new Int32Array(offsets.length * size);
    const stride = strides[d]!;
    let at = 0;
    for (let i = 0; i < offsets.length; i++) {
      for (let j = 0; j < size; j++) next[at++] = offsets[i]! + j * stride;
    }
    offsets = next;
  });
  return offsets;
}

/** A registry op on two operands of one dtype, rounded to that dtype; allocation-free. */
function binaryScalar(fn: string, dtype: DType, float32: boolean): (a: number, b: number) => number {
  const op = scalarOp(fn);
  const args = [0, 0];
  const dtypes = [dtype, dtype];
  return (a, b) => {
    args[0] = a;
    args[1] = b;
    return roundTo(op.evaluate(args, dtypes), dtype, float32);
  };
}

// ---- node semantics -------------------------------------------------------------------------------

/**
 * Elementwise registry op over operands broadcast by axis name into the result's axes. The last
 * axis is walked in a plain loop and the cursor only steps the outer axes, which keeps the
 * per-element cost to the registry call.
 */
function evaluateMap(fn: string, type: TensorType, args: readonly InterpretedTensor[], ctx: Context): InterpretedTensor {
  const op = scalarOp(fn);
  const out = allocateTensor(type, ctx);
  const strides = args.map((a) => stridesByName(a, out.axes, out.shape));
  const rank = out.shape.length;
  const rowLength = rank > 0 ? out.shape[rank - 1]! : 1;
  const rowStrides = strides.map((s) => (rank > 0 ? s[rank - 1]! : 0));
  const rows = new StridedCursor(out.shape.slice(0, -1), strides.map((s) => s.slice(0, -1)));
  const sources = args.map((a) => a.data);
  const operandValues = args.map(() => 0);
  const dtypes = args.map((a) => a.dtype);
  const { dtype, data } = out;
  const float32 = ctx.float32;
  for (let i = 0; i < data.length; ) {
    for (let j = 0; j < rowLength; j++, i++) {
      for (let k = 0; k < sources.length; k++) operandValues[k] = sources[k]![rows.offsets[k]! + j * rowStrides[k]!]!;
      data[i] = roundTo(op.evaluate(operandValues, dtypes), dtype, float32);
    }
    rows.next();
  }
  return out;
}

/**
 * `table` read along `axis` at `index` (clamped into the axis), for every element of the result;
 * the other table axes and the index axes are walked by name like a map's operands.
 */
function evaluateGather(type: TensorType, table: InterpretedTensor, index: InterpretedTensor, axis: string, ctx: Context): InterpretedTensor {
  const out = allocateTensor(type, ctx);
  const at = table.axes.indexOf(axis);
  const size = table.shape[at]!;
  const along = rowMajorStrides(table.shape)[at]!;
  const cursor = new StridedCursor(out.shape, [stridesByName(table, out.axes, out.shape), stridesByName(index, out.axes, out.shape)]);
  for (let i = 0; i < out.data.length; i++) {
    const position = Math.min(Math.max(index.data[cursor.offsets[1]!]!, 0), size - 1);
    out.data[i] = table.data[cursor.offsets[0]! + position * along]!;
    cursor.next();
  }
  return out;
}

// ---- sparse graphs (CSR) ------------------------------------------------------------------------

/** A CSR node: its `col`, once the adjacency is checked against itself and the node counts. */
function evaluateCsr(node: Extract<Node, { op: 'csr' }>, graph: Graph, rowptr: InterpretedTensor, col: InterpretedTensor, ctx: Context): InterpretedTensor {
  const sizeOf = (size: number | string) => {
    const v = typeof size === 'number' ? size : ctx.symbols[size];
    if (v === undefined) throw new TesseraError(`size '${size}' is not bound by any input`);
    return v;
  };
  const problem = checkCsr(rowptr.data, col.data, sizeOf(node.rows.size), sizeOf(node.cols));
  if (problem !== null) throw new TesseraError(csrProblem(csrInputNames(graph, node), problem));
  return col;
}

/** The `rowptr` data behind the CSR node `id`. */
function rowptrOf(graph: Graph, id: number, get: (id: number) => InterpretedTensor): InterpretedData {
  const csrNode = graph.nodes[id]!;
  if (csrNode.op !== 'csr') throw new Error(`interpret: internal error: %${id} is not a CSR node`);
  get(id); // checked
  return get(csrNode.args[0]!).data;
}

/**
 * Calls `body` for every position of the axes around the edge axis and every target row: the
 * flat offset of edge 0 there, the row's output offset, its edges' range and the edge stride.
 */
function forSegments(x: InterpretedTensor, axis: string, rowptr: InterpretedData, body: (edgeBase: number, rowBase: number, begin: number, end: number, stride: number) => void): void {
  const at = x.axes.indexOf(axis);
  const outer = x.shape.slice(0, at).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(at + 1).reduce((a, b) => a * b, 1);
  const edges = x.shape[at]!;
  const rows = rowptr.length - 1;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < inner; c++) {
      for (let i = 0; i < rows; i++) body(o * edges * inner + c, (o * rows + i) * inner + c, rowptr[i]!, rowptr[i + 1]!, inner);
    }
  }
}

/** A segment reduction by its definition: each target row folds its own edges, in order. */
function evaluateSegmentReduce(node: Extract<Node, { op: 'segment_reduce' }>, x: InterpretedTensor, rowptr: InterpretedData, ctx: Context): InterpretedTensor {
  const out = allocateTensor(node.type, ctx);
  const src = x.data;
  // The registry's fold, as for a dense reduction; a row without edges keeps the identity (the
  // mean of nothing is 0, not 0/0).
  const fold = reductionFold(node.fn);
  const combine = binaryScalar(fold.combine, x.dtype, ctx.float32);
  const identity = roundTo(fold.identity(x.dtype), x.dtype, ctx.float32);
  const finalise = fold.finalise ? binaryScalar(fold.finalise, x.dtype, ctx.float32) : null;
  forSegments(x, node.axis, rowptr, (eb, rb, begin, end, stride) => {
    let acc = identity;
    for (let e = begin; e < end; e++) acc = combine(acc, src[eb + e * stride]!);
    out.data[rb] = finalise && end > begin ? finalise(acc, end - begin) : acc;
  });
  return out;
}

/**
 * A segment softmax or logsumexp: its definition (`dsl/composites.ts`, the graph `decompose`
 * splices in for the GPU) run on the operand and the adjacency.
 */
function evaluateSegmentDefinition(node: SegmentDefinedNode, graph: Graph, get: (id: number) => InterpretedTensor, ctx: Context): InterpretedTensor {
  const csrNode = graph.nodes[node.args[1]!] as Extract<Node, { op: 'csr' }>;
  get(csrNode.id); // checked
  const [x, rowptr, col] = [get(node.args[0]!), get(csrNode.args[0]!), get(csrNode.args[1]!)];
  const rows = { name: csrNode.rows.name, size: rowptr.shape[0]! - 1 };
  const cols = typeof csrNode.cols === 'number' ? csrNode.cols : ctx.symbols[csrNode.cols]!;
  const definition = segmentDefinitionGraph(node, nodeTypeOf(x), nodeTypeOf(rowptr), nodeTypeOf(col), rows, cols);
  return evaluateGraph(definition, { ...ctx, inputs: { x, rowptr, col } }, TOP_LEVEL)['out']!;
}

/** The target row of every edge. */
function evaluateSegmentIds(type: TensorType, rowptr: InterpretedData, ctx: Context): InterpretedTensor {
  const out = allocateTensor(type, ctx);
  for (let i = 0; i + 1 < rowptr.length; i++) out.data.fill(i, rowptr[i]!, rowptr[i + 1]!);
  return out;
}

/**
 * A composite (softmax, log_softmax, layer_norm) or the logsumexp reduction: its definition graph
 * (`dsl/composites.ts`, the same graph the compiler splices in) run on the operand.
 */
function evaluateDefinition(node: DefinedNode, operand: InterpretedTensor, ctx: Context): InterpretedTensor {
  const definition = definitionGraph(node, nodeTypeOf(operand));
  return evaluateGraph(definition, { ...ctx, inputs: { x: operand } }, TOP_LEVEL)['out']!;
}

/** The type of an interpreted tensor (its sizes concrete), for a definition graph's input. */
function nodeTypeOf(t: InterpretedTensor): TensorType {
  return { dtype: t.dtype, axes: t.axes.map((name, i) => ({ name, size: t.shape[i]! })) };
}

/**
 * A primitive reduction over named axes: the registry's fold (`dsl/reductions.ts`) — its scalar
 * combine op from its identity (so integers wrap exactly as elementwise ops do, and an empty axis
 * gives the identity), then its finalise with the element count (mean).
 */
function evaluateReduce(fn: string, type: TensorType, arg: InterpretedTensor, axes: readonly string[], ctx: Context): InterpretedTensor {
  const out = allocateTensor(type, ctx);
  const reducedSizes = axes.map((name) => arg.shape[arg.axes.indexOf(name)]!);
  const inner = offsetsOver(reducedSizes, stridesByName(arg, axes, reducedSizes));
  const cursor = new StridedCursor(out.shape, [stridesByName(arg, out.axes, out.shape)]);
  const dtype = arg.dtype;
  const f32 = ctx.float32;
  const fold = reductionFold(fn);
  const combine = binaryScalar(fold.combine, dtype, f32);
  const identity = roundTo(fold.identity(dtype), dtype, f32);
  const finalise = fold.finalise ? binaryScalar(fold.finalise, dtype, f32) : null;
  const src = arg.data;
  for (let i = 0; i < out.data.length; i++) {
    const base = cursor.offsets[0]!;
    let acc = identity;
    for (let j = 0; j < inner.length; j++) acc = combine(acc, src[base + inner[j]!]!);
    out.data[i] = finalise ? finalise(acc, inner.length) : acc;
    cursor.next();
  }
  return out;
}

/**
 * n-ary contraction: for each result element, the sum over every axis not in the result of the
 * product of the operands (broadcast by name). Products multiply left to right.
 */
function evaluateContract(type: TensorType, args: readonly InterpretedTensor[], ctx: Context): InterpretedTensor {
  const out = allocateTensor(type, ctx);
  const summedNames: string[] = [];
  const summedSizes: number[] = [];
  for (const a of args) {
    a.axes.forEach((name, d) => {
      if (!out.axes.includes(name) && !summedNames.includes(name)) {
        summedNames.push(name);
        summedSizes.push(a.shape[d]!);
      }
    });
  }
  const inner = args.map((a) => offsetsOver(summedSizes, stridesByName(a, summedNames, summedSizes)));
  const cursor = new StridedCursor(out.shape, args.map((a) => stridesByName(a, out.axes, out.shape)));
  const base = cursor.offsets;
  const sources = args.map((a) => a.data);
  const count = inner[0]!.length;
  const n = args.length;
  const data = out.data;
  if (out.dtype === 'f32' && n === 2) {
    // The common binary contraction (matmul, attention scores): the registry's f32 mul and add
    // inlined, with the operands in locals, since this loop is the interpreter's hot spot.
    const [a, b] = sources as [InterpretedData, InterpretedData];
    const [innerA, innerB] = inner as [Int32Array, Int32Array];
    for (let i = 0; i < data.length; i++) {
      const baseA = base[0]!;
      const baseB = base[1]!;
      let acc = 0;
      if (ctx.float32) {
        for (let j = 0; j < count; j++) acc = Math.fround(acc + Math.fround(a[baseA + innerA[j]!]! * b[baseB + innerB[j]!]!));
      } else {
        for (let j = 0; j < count; j++) acc += a[baseA + innerA[j]!]! * b[baseB + innerB[j]!]!;
      }
      data[i] = acc;
      cursor.next();
    }
  } else if (out.dtype === 'f32') {
    // The registry's f32 mul and add, inlined, for any number of operands.
    const f32 = ctx.float32;
    for (let i = 0; i < data.length; i++) {
      let acc = 0;
      for (let j = 0; j < count; j++) {
        let product = sources[0]![base[0]! + inner[0]![j]!]!;
        for (let k = 1; k < n; k++) {
          product *= sources[k]![base[k]! + inner[k]![j]!]!;
          if (f32) product = Math.fround(product);
        }
        acc = f32 ? Math.fround(acc + product) : acc + product;
      }
      data[i] = acc;
      cursor.next();
    }
  } else {
    const multiply = binaryScalar('mul', out.dtype, ctx.float32);
    const addTo = binaryScalar('add', out.dtype, ctx.float32);
    for (let i = 0; i < data.length; i++) {
      let acc = 0;
      for (let j = 0; j < count; j++) {
        let product = sources[0]![base[0]! + inner[0]![j]!]!;
        for (let k = 1; k < n; k++) product = multiply(product, sources[k]![base[k]! + inner[k]![j]!]!);
        acc = addTo(acc, product);
      }
      data[i] = acc;
      cursor.next();
    }
  }
  return out;
}

/**
 * Operand axis `i` becomes `names[i]`; the result's axis order is the node type's. Operand axes
 * sharing a name walk together (their strides add up), which selects the diagonal.
 */
function evaluateRelabel(type: TensorType, arg: InterpretedTensor, names: readonly string[], ctx: Context): InterpretedTensor {
  const out = allocateTensor(type, ctx);
  const own = rowMajorStrides(arg.shape);
  const strides = out.axes.map((name) => names.reduce((total, n, i) => (n === name ? total + own[i]! : total), 0));
  const cursor = new StridedCursor(out.shape, [strides]);
  for (let i = 0; i < out.data.length; i++) {
    out.data[i] = arg.data[cursor.offsets[0]!]!;
    cursor.next();
  }
  return out;
}
