/**
 * `scan`: a recurrence over a named axis with carried tensors, a chunk of the axis at a time —
 * the construct recurrent attention (linear attention, the delta rule, Titans' memory) is written
 * in. The body is ordinary DSL code over one chunk; the interpreter runs it chunk by chunk exactly
 * as written, and the compiler lowers the whole scan to one kernel that keeps the state on chip.
 */
import { inferScanChunk, inferScanOutput, typesEqual } from './infer.ts';
import { GraphBuilder, currentBuilder, withBuilder } from './trace.ts';
import { Tensor, nodeIn, type Axes } from './tensor.ts';
import { TesseraError, formatType, type DType } from './types.ts';


/** Tensors by name, as a scan takes and gives them. */
export type TensorRecord = Readonly<Record<string, Tensor<Axes, DType>>>;

export interface ScanOptions<X extends TensorRecord, C extends TensorRecord> {
  /** The axis to run along: every tensor of `xs` has it, and every output of the body. */
  readonly axis: string;
  /**
   * Elements of the axis per step (default 1: token by token). The last step gets what is left,
   * so the body must not assume the chunk is full: inside it, the axis is sized by a symbol bound
   * to the current chunk's length.
   */
  readonly chunk?: number;
  /** The tensors scanned: the body sees the current chunk of each. */
  readonly xs: X;
  /** The state's initial values: the body sees the current state and returns the next one, type for type. */
  readonly init: C;
}

/** What a scan's body returns for one chunk, and what the scan returns. */
export interface ScanResult<C extends TensorRecord, Y extends TensorRecord> {
  /** The next state (from the body) or the final state (from the scan). */
  readonly carry: C;
  /** The chunk's outputs along the axis (from the body), or all of them stacked (from the scan). */
  readonly ys: Y;
}

/** How many scans enclose the one being traced: nested scans get their own chunk-length symbols. */
let depth = 0;

/**
 * Runs `body` over `options.xs` a chunk of `options.axis` at a time, carrying a state:
 *
 * ```ts
 * const { carry, ys } = scan({ axis: 't', chunk: 64, xs: { k, v }, init: { S } }, ({ k, v }, { S }) => ({
 *   carry: { S: add(S, contract([v, k], ['e', 'd'])) },
 *   ys: { kv: ... },
 * }));
 * ```
 *
 * Tensors of the enclosing kernel used in the body are captured as they are. The state must keep
 * its axes, sizes and dtypes; each output must carry the scanned axis (the chunk's part of it).
 */
export function scan<X extends TensorRecord, C extends TensorRecord, Y extends TensorRecord>(
  options: ScanOptions<X, C>,
  body: (xs: X, carry: C) => ScanResult<C, Y>,
): ScanResult<C, Y> {
  const chunk = options.chunk ?? 1;
  if (!Number.isInteger(chunk) || chunk < 1) throw new TesseraError(`scan: chunk must be a whole number >= 1, got ${chunk}`);
  const xsNames = Object.keys(options.xs);
  const carryNames = Object.keys(options.init);
  if (xsNames.length === 0) throw new TesseraError('scan: needs at least one tensor in xs to run along');
  const parent = currentBuilder('scan');
  const axis = options.axis;
  const size = depth === 0 ? `${axis}.chunk` : `${axis}.chunk${depth}`;
  const xsIds = xsNames.map((name) => nodeIn(parent, options.xs[name]!));
  const initIds = carryNames.map((name) => nodeIn(parent, options.init[name]!));
  const full = parent.type(xsIds[0]!).axes.find((a) => a.name === axis)?.size;
  xsIds.forEach((id, i) => {
    const found = parent.type(id).axes.find((a) => a.name === axis);
    if (!found) throw new TesseraError(`scan: xs '${xsNames[i]}' has no axis '${axis}'; its axes are [${parent.type(id).axes.map((a) => a.name).join(', ')}]`);
    if (found.size !== full) throw new TesseraError(`scan: xs '${xsNames[i]}' has axis '${axis}' of size ${found.size}, but xs '${xsNames[0]}' has ${full}`);
  });
  const child = new GraphBuilder(parent);
  depth++;
  let results: { carry: number[]; ys: number[]; yNames: string[] };
  try {
    results = withBuilder(child, () => {
      const chunks = Object.fromEntries(xsIds.map((id, index) => [xsNames[index]!, new Tensor(child, child.add({ op: 'chunk', index, type: inferScanChunk(parent.type(id), axis, size) }))]));
      const carried = Object.fromEntries(initIds.map((id, index) => [carryNames[index]!, new Tensor(child, child.add({ op: 'carry', index, type: parent.type(id) }))]));
      const out = body(chunks as unknown as X, carried as unknown as C);
      if (!out || typeof out !== 'object' || !out.carry || !out.ys) throw new TesseraError('scan: body must return { carry, ys }');
      const gotCarry = Object.keys(out.carry);
      if (gotCarry.length !== carryNames.length || !carryNames.every((n) => Object.hasOwn(out.carry, n))) {
        throw new TesseraError(`scan: body must return the carried tensors [${carryNames.join(', ')}], got [${gotCarry.join(', ')}]`);
      }
      const yNames = Object.keys(out.ys);
      return { carry: carryNames.map((n) => nodeIn(child, out.carry[n]!)), ys: yNames.map((n) => nodeIn(child, out.ys[n]!)), yNames };
    });
  } finally {
    depth--;
  }
  results.carry.forEach((id, i) => {
    const want = parent.type(initIds[i]!);
    const got = child.type(id);
    if (!typesEqual(want, got)) throw new TesseraError(`scan: carried tensor '${carryNames[i]}' must keep its type; it enters as ${formatType(want)} and leaves as ${formatType(got)}`);
  });
  const yTypes = results.ys.map((id, k) => {
    try {
      return inferScanOutput(child.type(id), axis, size, full!);
    } catch {
      throw new TesseraError(`scan: output '${results.yNames[k]}' must have the scanned axis '${axis}' (the chunk's part of it); it is ${formatType(child.type(id))}`);
    }
  });
  const outputs = Object.fromEntries([...results.carry.map((id, i) => [String(i), id]), ...results.ys.map((id, k) => [`y${k}`, id])]);
  const scanId = parent.add({ op: 'scan', axis, chunk, size, xs: xsIds, init: initIds, captures: [...child.captures], body: child.finish(outputs), type: parent.type(xsIds[0]!) });
  const result = (index: number, type: Tensor['type']) => new Tensor(parent, parent.add({ op: 'loop_result', loop: scanId, index, type }));
  return {
    carry: Object.fromEntries(carryNames.map((n, i) => [n, result(i, parent.type(initIds[i]!))])) as unknown as C,
    ys: Object.fromEntries(results.yNames.map((n, k) => [n, result(initIds.length + k, yTypes[k]!)])) as unknown as Y,
  };
}
