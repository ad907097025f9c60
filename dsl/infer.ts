/**
 * Type rules for Tensor IR nodes, shared by tracing (which builds node types with them) and the
 * verifier (which re-derives every type and compares), so the two cannot disagree.
 */
import type { CompositeFn, ReduceFn, SegmentFn } from './ir.ts';
import { reduction } from './reductions.ts';
import { scalarOp } from './scalar-ops.ts';
import { TesseraError, formatSize, type Axis, type DType, type Size, type TensorType } from './types.ts';

function sizesAgree(a: Size, b: Size): boolean {
  return a === b;
}

function listAxes(type: TensorType): string {
  return `[${type.axes.map((a) => a.name).join(', ')}]`;
}

/**
 * Merges axes by name in order of first appearance, checking that equal names have equal sizes.
 * `what` names the operation for the error message.
 */
function unionAxes(what: string, types: readonly TensorType[]): Axis[] {
  const out: Axis[] = [];
  const where = new Map<string, { size: Size; operand: number }>();
  types.forEach((type, operand) => {
    for (const axis of type.axes) {
      const seen = where.get(axis.name);
      if (seen === undefined) {
        where.set(axis.name, { size: axis.size, operand });
        out.push(axis);
      } else if (!sizesAgree(seen.size, axis.size)) {
        throw new TesseraError(
          `${what}: conflicting sizes for axis '${axis.name}': ${formatSize(seen.size)} in operand ${seen.operand} and ${formatSize(axis.size)} in operand ${operand}`,
        );
      }
    }
  });
  return out;
}

function checkDistinct(what: string, type: TensorType): void {
  const names = new Set<string>();
  for (const a of type.axes) {
    if (names.has(a.name)) throw new TesseraError(`${what}: axis '${a.name}' appears twice in ${listAxes(type)}`);
    names.add(a.name);
  }
}

export function inferMap(fn: string, args: readonly TensorType[], extra: readonly Axis[] = []): TensorType {
  const op = scalarOp(fn);
  if (args.length !== op.arity) throw new TesseraError(`${fn}: takes ${op.arity} operand(s), got ${args.length}`);
  const dtype = op.type(args.map((a) => a.dtype));
  // `where(cond, a, b)` takes its axis order from the values, then the condition.
  const ordered = fn === 'where' ? [args[1]!, args[2]!, args[0]!] : args;
  const axes = unionAxes(fn, [...ordered, { dtype, axes: extra }]);
  return { dtype, axes };
}

export function inferGather(table: TensorType, index: TensorType, axis: string): TensorType {
  if (!table.axes.some((a) => a.name === axis)) throw new TesseraError(`gather: table has no axis '${axis}'; its axes are ${listAxes(table)}`);
  if (index.dtype !== 'i32') throw new TesseraError(`gather: the index must be i32, got ${index.dtype}`);
  if (index.axes.some((a) => a.name === axis)) throw new TesseraError(`gather: the index must not have the gathered axis '${axis}'; rename it first`);
  const kept = { dtype: table.dtype, axes: table.axes.filter((a) => a.name !== axis) };
  return { dtype: table.dtype, axes: unionAxes('gather', [kept, index]) };
}

/**
 * A CSR adjacency's type (its `col`, one i32 per edge) from `rowptr` and `col`: both one-axis i32
 * tensors, on different axes (rowptr has one entry more than there are target nodes).
 */
export function inferCsr(rowptr: TensorType, col: TensorType, rows: Axis): TensorType {
  if (rowptr.dtype !== 'i32' || rowptr.axes.length !== 1) throw new TesseraError(`csr: rowptr must be a one-axis i32 tensor, got ${rowptr.dtype}${listAxes(rowptr)}`);
  if (col.dtype !== 'i32' || col.axes.length !== 1) throw new TesseraError(`csr: col must be a one-axis i32 tensor, got ${col.dtype}${listAxes(col)}`);
  const edge = col.axes[0]!.name;
  if (rowptr.axes[0]!.name === edge) throw new TesseraError(`csr: rowptr and col must have different axes (rowptr has one entry per target node plus one), both are '${edge}'`);
  if (rows.name === edge) throw new TesseraError(`csr: the target axis '${rows.name}' must differ from the edge axis`);
  return col;
}

/**
 * A segment reduction's type: the operand with its edge axis `axis` replaced in place by the CSR's
 * target axis `rows`. `csr` is the CSR node's type (one axis: the edges).
 */
export function inferSegmentReduce(fn: SegmentFn, x: TensorType, csr: TensorType, rows: Axis, axis: string): TensorType {
  checkSegmentOperand(`segment ${fn}`, x, csr, axis);
  if (x.axes.some((a) => a.name === rows.name)) throw new TesseraError(`segment ${fn}: the operand already has the target axis '${rows.name}'; rename it first`);
  if (x.dtype === 'bool') throw new TesseraError(`segment ${fn}: needs a numeric tensor, got bool`);
  if ((fn === 'mean' || fn === 'logsumexp') && x.dtype !== 'f32') throw new TesseraError(`segment ${fn}: needs an f32 tensor, got ${x.dtype}`);
  return { dtype: x.dtype, axes: x.axes.map((a) => (a.name === axis ? rows : a)) };
}

/** A segment softmax's type: its operand's (f32, with the CSR's edge axis). */
export function inferSegmentSoftmax(x: TensorType, csr: TensorType, axis: string): TensorType {
  checkSegmentOperand('segment softmax', x, csr, axis);
  if (x.dtype !== 'f32') throw new TesseraError(`segment softmax: needs an f32 tensor, got ${x.dtype}`);
  return x;
}

function checkSegmentOperand(what: string, x: TensorType, csr: TensorType, axis: string): void {
  const edges = csr.axes[0];
  if (csr.dtype !== 'i32' || csr.axes.length !== 1 || !edges) throw new TesseraError(`${what}: the second operand must be a CSR adjacency`);
  if (axis !== edges.name) throw new TesseraError(`${what}: runs over the CSR's edge axis '${edges.name}', not '${axis}'`);
  const own = x.axes.find((a) => a.name === axis);
  if (!own) throw new TesseraError(`${what}: tensor has no edge axis '${axis}'; its axes are ${listAxes(x)}`);
  if (!sizesAgree(own.size, edges.size)) throw new TesseraError(`${what}: edge axis '${axis}' has size ${formatSize(own.size)} but the CSR has ${formatSize(edges.size)} edges`);
}

export function inferReduce(fn: ReduceFn, arg: TensorType, axes: readonly string[]): TensorType {
  for (const name of axes) {
    if (!arg.axes.some((a) => a.name === name)) {
      throw new TesseraError(`${fn}: tensor has no axis '${name}'; its axes are ${listAxes(arg)}`);
    }
  }
  if (new Set(axes).size !== axes.length) throw new TesseraError(`${fn}: axis listed twice in [${axes.join(', ')}]`);
  return { dtype: reduction(fn).type(arg.dtype), axes: arg.axes.filter((a) => !axes.includes(a.name)) };
}

export function inferContract(args: readonly TensorType[], out: readonly string[]): TensorType {
  if (args.length === 0) throw new TesseraError('contract: needs at least one operand');
  args.forEach((a) => checkDistinct('contract', a));
  const dtype = args[0]!.dtype;
  for (const a of args) {
    if (a.dtype !== dtype) {
      throw new TesseraError(`contract: operand dtypes ${args.map((t) => t.dtype).join(', ')} differ; cast them to one dtype first`);
    }
  }
  if (dtype === 'bool') throw new TesseraError('contract: needs numeric operands, got bool');
  const all = unionAxes('contract', args);
  const axes = out.map((name) => {
    const axis = all.find((a) => a.name === name);
    if (!axis) throw new TesseraError(`contract: output axis '${name}' is in no operand`);
    return axis;
  });
  if (new Set(out).size !== out.length) throw new TesseraError(`contract: output axis listed twice in [${out.join(', ')}]`);
  return { dtype, axes };
}

export function inferRelabel(arg: TensorType, names: readonly string[], order?: readonly string[]): TensorType {
  if (names.length !== arg.axes.length) {
    throw new TesseraError(`relabel: tensor has ${arg.axes.length} axes ${listAxes(arg)} but ${names.length} names were given`);
  }
  const sizes = new Map<string, Size>();
  names.forEach((name, i) => {
    const size = arg.axes[i]!.size;
    const seen = sizes.get(name);
    if (seen !== undefined && seen !== size) {
      throw new TesseraError(`relabel: diagonal axis '${name}' joins sizes ${formatSize(seen)} and ${formatSize(size)}`);
    }
    sizes.set(name, size);
  });
  const distinct = [...sizes.keys()];
  const result = order ?? distinct;
  if (result.length !== distinct.length || result.some((n) => !sizes.has(n)) || new Set(result).size !== result.length) {
    throw new TesseraError(`relabel: result order [${result.join(', ')}] must list each of [${distinct.join(', ')}] once`);
  }
  return { dtype: arg.dtype, axes: result.map((name) => ({ name, size: sizes.get(name)! })) };
}

export function inferComposite(fn: CompositeFn, arg: TensorType, axes: readonly string[]): TensorType {
  if (axes.length === 0) throw new TesseraError(`${fn}: needs at least one axis`);
  const twice = axes.find((a, i) => axes.indexOf(a) !== i);
  if (twice !== undefined) throw new TesseraError(`${fn}: axis '${twice}' is listed twice`);
  for (const axis of axes) {
    if (!arg.axes.some((a) => a.name === axis)) {
      throw new TesseraError(`${fn}: tensor has no axis '${axis}'; its axes are ${listAxes(arg)}`);
    }
  }
  if (arg.dtype !== 'f32') throw new TesseraError(`${fn}: needs an f32 tensor, got ${arg.dtype}`);
  return arg;
}

/**
 * A scan's view of one of its `xs` tensors in the body: the same tensor with the scanned axis sized
 * by the chunk-length symbol. Throws when the tensor lacks the axis.
 */
export function inferScanChunk(x: TensorType, axis: string, size: string): TensorType {
  if (!x.axes.some((a) => a.name === axis)) throw new TesseraError(`scan: a scanned tensor has no axis '${axis}'; its axes are ${listAxes(x)}`);
  return { dtype: x.dtype, axes: x.axes.map((a) => (a.name === axis ? { name: axis, size } : a)) };
}

/**
 * The stacked output of a scan from the body's per-chunk output: the chunk-length axis sized as
 * the scanned axis (`full`). Throws when the body's output does not carry that axis.
 */
export function inferScanOutput(y: TensorType, axis: string, size: string, full: Size): TensorType {
  if (!y.axes.some((a) => a.name === axis && a.size === size)) {
    throw new TesseraError(`scan: each output must have the scanned axis '${axis}' of the chunk's length; got ${listAxes(y)}`);
  }
  return { dtype: y.dtype, axes: y.axes.map((a) => (a.name === axis ? { name: axis, size: full } : a)) };
}

export function inferIota(axis: Axis, dtype: DType = 'i32'): TensorType {
  return { dtype, axes: [axis] };
}

export function typesEqual(a: TensorType, b: TensorType): boolean {
  return (
    a.dtype === b.dtype &&
    a.axes.length === b.axes.length &&
    a.axes.every((x, i) => x.name === b.axes[i]!.name && x.size === b.axes[i]!.size)
  );
}
