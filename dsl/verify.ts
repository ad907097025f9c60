/**
 * The Tensor IR verifier: re-derives every node's type with the shared rules in `infer.ts` and
 * checks graph structure (topological ids, loop-carried type stability, outputs). Runs after
 * tracing and after every compiler pass in debug builds.
 */
import { inferCsr, inferSegmentReduce, inferSegmentSoftmax, inferGather, inferComposite, inferContract, inferIota, inferMap, inferReduce, inferRelabel, inferScanChunk, inferScanOutput, typesEqual } from './infer.ts';
import { operands, type Graph, type Node, type ScanNode } from './ir.ts';
import { TesseraError, formatType, type TensorType } from './types.ts';

function expectType(node: Node, derived: TensorType): void {
  if (!typesEqual(node.type, derived)) {
    throw new TesseraError(`verify: %${node.id} (${node.op}) has type ${formatType(node.type)} but its rule gives ${formatType(derived)}`);
  }
}

/** A loop's or scan's body returns each carried value (`0`, `1`, ...) with the type it entered with. */
function carriedStable(node: Extract<Node, { op: 'loop' | 'scan' }>, inits: readonly TensorType[]): void {
  inits.forEach((init, i) => {
    const res = node.body.outputs[String(i)];
    if (res === undefined) throw new TesseraError(`verify: ${node.op} %${node.id} body has no result ${i}`);
    const rt = node.body.nodes[res]!.type;
    if (!typesEqual(init, rt)) {
      throw new TesseraError(`verify: ${node.op} %${node.id} carried value ${i} changes type from ${formatType(init)} to ${formatType(rt)}`);
    }
  });
}

function verifyNode(graph: Graph, node: Node, outer: readonly TensorType[] | null, carried: readonly TensorType[] | null, chunks: readonly TensorType[] | null): void {
  const t = (id: number) => graph.nodes[id]!.type;
  switch (node.op) {
    case 'input':
      if (outer) throw new TesseraError(`verify: %${node.id} input inside a body`);
      return;
    case 'param':
      // Parameters are run-time scalars, the same everywhere: bodies may read them directly.
      if (node.type.axes.length !== 0) throw new TesseraError(`verify: param %${node.id} is not a scalar`);
      return;
    case 'const':
      if (node.type.axes.length !== 0) throw new TesseraError(`verify: const %${node.id} is not a scalar`);
      return;
    case 'size':
      if (node.type.axes.length !== 0 || node.type.dtype !== 'i32') throw new TesseraError(`verify: size %${node.id} must be an i32 scalar`);
      return;
    case 'iota':
      if (node.type.axes.length !== 1) throw new TesseraError(`verify: iota %${node.id} must have one axis`);
      return expectType(node, inferIota(node.type.axes[0]!, node.type.dtype));
    case 'map': {
      const derived = inferMap(node.fn, node.args.map(t));
      const extra = node.type.axes.filter((a) => !derived.axes.some((d) => d.name === a.name));
      return expectType(node, inferMap(node.fn, node.args.map(t), extra));
    }
    case 'reduce':
      return expectType(node, inferReduce(node.fn, t(node.arg), node.axes));
    case 'contract':
      return expectType(node, inferContract(node.args.map(t), node.type.axes.map((a) => a.name)));
    case 'relabel':
      return expectType(node, inferRelabel(t(node.arg), node.names, node.type.axes.map((a) => a.name)));
    case 'gather':
      return expectType(node, inferGather(t(node.args[0]!), t(node.args[1]!), node.axis));
    case 'csr':
      return expectType(node, inferCsr(t(node.args[0]!), t(node.args[1]!), node.rows));
    case 'segment_reduce':
      return expectType(node, inferSegmentReduce(node.fn, t(node.args[0]!), t(node.args[1]!), csrOf(graph, node.args[1]!).rows, node.axis));
    case 'segment_softmax':
      return expectType(node, inferSegmentSoftmax(t(node.args[0]!), t(node.args[1]!), node.axis));
    case 'segment_ids':
      csrOf(graph, node.args[0]!);
      return expectType(node, t(node.args[0]!));
    case 'composite':
      return expectType(node, inferComposite(node.fn, t(node.arg), node.axes));
    case 'loop': {
      const inits = node.init.map(t);
      verifyGraph(node.body, node.captures.map(t), inits);
      carriedStable(node, inits);
      return;
    }
    case 'scan': {
      if (!(Number.isInteger(node.chunk) && node.chunk >= 1)) throw new TesseraError(`verify: scan %${node.id} has chunk ${node.chunk}; it is a whole number >= 1`);
      if (node.xs.length === 0) throw new TesseraError(`verify: scan %${node.id} scans no tensor`);
      const full = scanLength(graph, node);
      for (const x of node.xs) {
        if (t(x).axes.find((a) => a.name === node.axis)?.size !== full) throw new TesseraError(`verify: scan %${node.id} scans tensors whose axis '${node.axis}' differs in size`);
      }
      const inits = node.init.map(t);
      verifyGraph(node.body, node.captures.map(t), inits, node.xs.map((x) => inferScanChunk(t(x), node.axis, node.size)));
      carriedStable(node, inits);
      for (let k = 0; node.body.outputs[`y${k}`] !== undefined; k++) inferScanOutput(node.body.nodes[node.body.outputs[`y${k}`]!]!.type, node.axis, node.size, full);
      return expectType(node, t(node.xs[0]!));
    }
    case 'chunk':
      if (!chunks || chunks[node.index] === undefined) throw new TesseraError(`verify: chunk %${node.id} outside a scan or out of range`);
      return expectType(node, chunks[node.index]!);
    case 'flash': {
      verifyGraph(node.body, node.args.map(t), []);
      const out = node.body.outputs[node.output];
      if (out === undefined) throw new TesseraError(`verify: flash %${node.id} body has no output '${node.output}'`);
      return expectType(node, node.body.nodes[out]!.type);
    }
    case 'loop_result': {
      const loop = graph.nodes[node.loop]!;
      if (loop.op === 'scan') return expectType(node, scanResultType(graph, loop, node.index));
      if (loop.op !== 'loop') throw new TesseraError(`verify: loop_result %${node.id} does not read a loop`);
      const init = loop.init[node.index];
      if (init === undefined) throw new TesseraError(`verify: loop_result %${node.id} index ${node.index} out of range`);
      return expectType(node, t(init));
    }
    case 'carry':
      if (!carried || carried[node.index] === undefined) throw new TesseraError(`verify: carry %${node.id} outside a loop or out of range`);
      return expectType(node, carried[node.index]!);
    case 'capture':
      if (!outer || outer[node.index] === undefined) throw new TesseraError(`verify: capture %${node.id} outside a loop or out of range`);
      return expectType(node, outer[node.index]!);
  }
}

/** The CSR node a segment node reads (its operand must be one). */
export function csrOf(graph: Graph, id: number): Extract<Node, { op: 'csr' }> {
  const n = graph.nodes[id];
  if (n?.op !== 'csr') throw new TesseraError(`verify: %${id} is read as a CSR adjacency but is ${n ? `a ${n.op} node` : 'missing'}`);
  return n;
}

/** The length of the axis a scan runs over (as its first scanned tensor has it). */
export function scanLength(graph: Graph, scan: ScanNode): TensorType['axes'][number]['size'] {
  const axis = graph.nodes[scan.xs[0]!]!.type.axes.find((a) => a.name === scan.axis);
  if (!axis) throw new TesseraError(`verify: scan %${scan.id} scans a tensor without axis '${scan.axis}'`);
  return axis.size;
}

/** The type of a scan's result `index`: a final carried value, or (from init.length on) a stacked output. */
export function scanResultType(graph: Graph, scan: ScanNode, index: number): TensorType {
  if (index < scan.init.length) return graph.nodes[scan.init[index]!]!.type;
  const y = scan.body.outputs[`y${index - scan.init.length}`];
  if (y === undefined) throw new TesseraError(`verify: scan %${scan.id} has no result ${index}`);
  return inferScanOutput(scan.body.nodes[y]!.type, scan.axis, scan.size, scanLength(graph, scan));
}

/**
 * Checks a graph; throws a TesseraError naming the first bad node. `captures` and `carried` are
 * given for loop bodies, and `chunks` (the scanned tensors' chunks) for scan bodies.
 */
export function verifyGraph(graph: Graph, captures: readonly TensorType[] | null = null, carried: readonly TensorType[] | null = null, chunks: readonly TensorType[] | null = null): void {
  graph.nodes.forEach((node, index) => {
    if (node.id !== index) throw new TesseraError(`verify: node at index ${index} has id ${node.id}`);
    for (const operand of operands(node)) {
      if (!(operand >= 0 && operand < index)) throw new TesseraError(`verify: %${index} reads %${operand}, which is not defined before it`);
    }
    verifyNode(graph, node, captures, carried, chunks);
  });
  for (const [name, id] of Object.entries(graph.outputs)) {
    if (graph.nodes[id] === undefined) throw new TesseraError(`verify: output '${name}' refers to missing node %${id}`);
  }
}
