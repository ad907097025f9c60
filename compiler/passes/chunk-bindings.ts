/**
 * chunk-bindings: run every kernel that binds a buffer larger than one storage binding
 * (`maxStorageBufferBindingSize`) one chunk of its outermost iteration axis at a time, binding
 * those buffers a slice at a time; a kernel that cannot be cut that way is a compile-time error.
 *
 * A kernel is cut along the outermost axis `a` of its iteration: an elementwise or reduce kernel's
 * outermost output axis, a GEMM's outermost batch axis (a split-K partial's parts axis) or, failing
 * that, its outermost `m` axis. It can be when every buffer too large to bind whole has `a` as the
 * outermost index of every access (its loads, its store), read either directly (row factor 1) or
 * through a split reduction's gather `s·C + t` with `t` the reduced axis of size C (row factor C,
 * `split-reductions`): then the rows [c·R, (c+1)·R) of `a` touch only rows [c·R·f, (c+1)·R·f) of
 * such a buffer, and the chunk c binds just those. R, the rows of `a` per chunk, is the largest
 * count for which every slice fits one binding, every slice starts at a multiple of
 * `minStorageBufferOffsetAlignment` and (cutting a GEMM along `m`) every chunk is whole `m` tiles.
 * Smaller buffers are bound whole. Sizes must be static to be known too large: a program with
 * symbolic sizes is left as it is (`run()` pins the sizes of a run that needs chunks).
 *
 * The cut is recorded on the step (`Chunking`); the emitters read the chunk index from one more
 * uniform word, iterate over the chunk's rows only and index sliced buffers from the slice's start
 * (`emit/core.ts`), and `emit-wgsl` writes the dispatch step's `chunks`.
 */
import { TesseraError } from '../../dsl/types.ts';
import { evalSize, formatBytes, sizeProduct, type DeviceLimits, type SizeExpr } from '../../program/index.ts';
import {
  axisExtent,
  kernelExprs,
  kernelInputs,
  kernelOutputs,
  ROW_AXIS,
  staticProduct,
  subExprs,
  type BufferDecl,
  type ChunkedBuffer,
  type Chunking,
  type KAxis,
  type KExpr,
  type KIndex,
  type KernelIR,
} from '../kernel-ir.ts';
import { printFused } from '../kernel-ir-print.ts';
import type { Schedule } from '../schedule.ts';
import type { TiledProgram, TiledStep } from './lower-to-tiles.ts';

/** Cuts every kernel that binds a too-large buffer into chunks (see the file comment). */
export function chunkBindings(program: TiledProgram, limits: DeviceLimits): TiledProgram {
  const bytes = program.buffers.map(staticBytes);
  const visit = (steps: readonly TiledStep[]): TiledStep[] =>
    steps.map((s): TiledStep => {
      if (s.kind === 'loop') return { ...s, body: visit(s.body) };
      if (s.kind !== 'kernel') return s;
      const chunk = chunkKernel(s.kernel, s.schedule, program.buffers, bytes, limits);
      return chunk ? { ...s, chunk } : s;
    });
  return { ...program, steps: visit(program.steps) };
}

/** The tiled program as text: `printFused`, then one line per chunked kernel. */
export function printChunked(program: TiledProgram): string {
  const lines: string[] = [];
  const visit = (steps: readonly TiledStep[], indent: string) => {
    for (const s of steps) {
      if (s.kind === 'loop') visit(s.body, `${indent}  `);
      else if (s.kind === 'kernel' && s.chunk) lines.push(`${indent}${s.kernel.kind} ${s.kernel.name}: ${printChunking(s.chunk)}`);
    }
  };
  visit(program.steps, '');
  return `${printFused(program)}\nchunks${lines.length === 0 ? ' none' : `\n${lines.join('\n')}`}`;
}

/** `a0 1048576 in 2 chunks of 524288 rows; slices b0 1x64, b19 1024x64` (buffer: factor × row elements). */
export function printChunking(c: Chunking): string {
  const slices = c.slices.map((s) => `b${s.buffer} ${s.factor}x${s.rowElements}`).join(', ');
  return `${c.axis} ${c.extent} in ${Math.ceil(c.extent / c.rows)} chunks of ${c.rows} rows; slices ${slices}`;
}

/** A buffer's size in bytes when it is static (every element is 4 bytes), else null. */
function staticBytes(b: BufferDecl): number | null {
  const elements: SizeExpr = b.elements ?? sizeProduct(b.axes.map((a) => a.size));
  try {
    return 4 * evalSize(elements, {});
  } catch {
    return null;
  }
}

/** How one access indexes a buffer: its rows per row of the chunk axis and its row length, or why not. */
type Along = { readonly factor: number; readonly rowElements: number } | { readonly why: string };

/** The chunking of one kernel, or null when it binds nothing too large; throws when it cannot be cut. */
function chunkKernel(k: KernelIR, schedule: Schedule, buffers: readonly BufferDecl[], bytes: readonly (number | null)[], limits: DeviceLimits): Chunking | null {
  const limit = limits.maxStorageBufferBindingSize;
  const bound = [...new Set([...kernelInputs(k), ...kernelOutputs(k).map((o) => o.buffer)])].sort((a, b) => a - b);
  const tooLarge = bound.filter((b) => (bytes[b] ?? 0) > limit);
  if (tooLarge.length === 0) return null;
  const accesses = accessesOf(k);
  const reasons: string[] = [];
  const candidates = chunkAxes(k, schedule);
  for (const c of candidates) {
    const chunking = alongAxis(k, c.axis, c.multiple, tooLarge, accesses, buffers, limits);
    if (typeof chunking !== 'string') return chunking;
    reasons.push(chunking);
  }
  if (candidates.length === 0) {
    reasons.push(
      k.kind === 'elementwise' || k.kind === 'reduce'
        ? 'its output has no axis to cut along'
        : k.kind === 'gemm'
          ? 'it has no batch axis, and its m axes are not static'
          : `a ${k.kind} kernel is never run in chunks`,
    );
  }
  const first = tooLarge[0]!;
  throw new TesseraError(
    `chunk-bindings: kernel '${k.name}' binds ${describe(buffers[first]!)} (${formatBytes(bytes[first]!)}) but this device binds at most ${formatBytes(limit)} per storage buffer (maxStorageBufferBindingSize), and it cannot run in chunks: ${reasons.join('; ')}`,
  );
}

/**
 * The axes a kernel may be cut along, outermost first, each with the multiple its rows per chunk
 * must be (a GEMM cut along `m` runs whole tiles of `tileM` in every chunk).
 */
function chunkAxes(k: KernelIR, schedule: Schedule): { axis: KAxis; multiple: number }[] {
  if (k.kind === 'elementwise' || k.kind === 'reduce') return k.out.axes.length > 0 ? [{ axis: k.out.axes[0]!, multiple: 1 }] : [];
  // A row block with outer axes numbers its workgroups outer-major: no one axis to cut along.
  if (k.kind === 'row-block') return k.outer.length === 0 ? [{ axis: k.parts, multiple: 1 }] : [];
  if (k.kind !== 'gemm' || schedule.kind !== 'gemm') return [];
  const out: { axis: KAxis; multiple: number }[] = [];
  if (k.batch.length > 0) out.push({ axis: k.batch[0]!, multiple: 1 });
  const rest = staticProduct(k.m.slice(1).map((a) => a.size));
  if (k.m.length > 0 && rest !== null) out.push({ axis: k.m[0]!, multiple: schedule.tileM / gcd(schedule.tileM, rest) });
  return out;
}

/** Every access of each buffer: its loads' index lists and, for an output, its store's axes. */
function accessesOf(k: KernelIR): Map<number, (readonly KIndex[])[]> {
  const map = new Map<number, (readonly KIndex[])[]>();
  const add = (b: number, axes: readonly KIndex[]) => {
    const list = map.get(b) ?? [];
    list.push(axes);
    map.set(b, list);
  };
  const visit = (e: KExpr) => {
    if (e.k === 'load') add(e.buffer, e.axes);
    subExprs(e).forEach(visit);
  };
  kernelExprs(k).forEach(visit);
  for (const o of kernelOutputs(k)) add(o.buffer, o.axes.map((a) => ({ size: a.size, index: a.id })));
  return map;
}

/** The chunking of `k` along `axis`, or why it cannot be cut there. */
function alongAxis(
  k: KernelIR,
  axis: KAxis,
  multiple: number,
  tooLarge: readonly number[],
  accesses: ReadonlyMap<number, (readonly KIndex[])[]>,
  buffers: readonly BufferDecl[],
  limits: DeviceLimits,
): Chunking | string {
  const extent = axisExtent(axis);
  if (typeof extent !== 'number') return `axis '${axis.name}' has no static size`;
  const reduced = k.kind === 'reduce' ? k.reduced : k.kind === 'gemm' ? k.k : [];
  // A row block's part covers `chunk` rows of the row axis.
  const rowAxis = k.kind === 'row-block' ? { id: ROW_AXIS, factor: k.chunk } : null;
  const slices: ChunkedBuffer[] = [];
  for (const b of tooLarge) {
    let found: ChunkedBuffer | null = null;
    for (const access of accesses.get(b) ?? []) {
      const along = indexedAlong(access, axis, reduced, rowAxis);
      if ('why' in along) return `${describe(buffers[b]!)} ${along.why}`;
      if (found && (found.factor !== along.factor || found.rowElements !== along.rowElements)) return `${describe(buffers[b]!)} is read with different row layouts`;
      found = { buffer: b, ...along };
    }
    if (found) slices.push(found);
  }
  // Rows per chunk: every slice within one binding, every slice start aligned, whole GEMM tiles.
  const align = limits.minStorageBufferOffsetAlignment;
  let step = multiple;
  let most = Infinity;
  for (const s of slices) {
    const rowBytes = 4 * s.factor * s.rowElements;
    step = lcm(step, align / gcd(align, rowBytes));
    most = Math.min(most, Math.floor(limits.maxStorageBufferBindingSize / rowBytes));
  }
  const rows = Math.floor(most / step) * step;
  if (rows < 1) {
    const widest = slices.reduce((a, b) => (a.factor * a.rowElements >= b.factor * b.rowElements ? a : b));
    const fewest = step === 1 ? 'one row' : `${step} rows (the fewest whose slices align)`;
    return `a chunk of ${fewest} of axis '${axis.name}' binds ${formatBytes(4 * step * widest.factor * widest.rowElements)} of ${describe(buffers[widest.buffer]!)}`;
  }
  return { axis: axis.id, extent, rows: Math.min(rows, extent), slices };
}

/**
 * How one access indexes its buffer along the chunk axis `axis`: directly as its outermost index,
 * through a split reduction's gather `s·C + t` (`t` a reduced axis of size C), or, in a row block
 * cut along its parts, by the row axis (`rows`: a part's `factor` rows).
 */
function indexedAlong(access: readonly KIndex[], axis: KAxis, reduced: readonly KAxis[], rows: { id: string; factor: number } | null): Along {
  const [first, ...rest] = access;
  if (!first) return { why: `has no axis '${axis.name}'` };
  const rowElements = staticProduct(rest.map((a) => a.size));
  if (rowElements === null) return { why: 'has rows of symbolic length' };
  if ('index' in first && rows && first.index === rows.id) return { factor: rows.factor, rowElements };
  if ('index' in first) return first.index === axis.id ? { factor: 1, rowElements } : { why: `is not indexed by axis '${axis.name}' outermost` };
  const factor = splitGather(first.at, axis.id, reduced);
  return factor !== null ? { factor, rowElements } : { why: `is read at a computed position, not along axis '${axis.name}'` };
}

/** C where `e` is `s·C + t` with `s` the axis `s` and `t` a reduced axis of size C, else null. */
function splitGather(e: KExpr, s: string, reduced: readonly KAxis[]): number | null {
  if (e.k !== 'op' || e.fn !== 'add' || e.args.length !== 2) return null;
  const [mul, t] = e.args as [KExpr, KExpr];
  if (mul.k !== 'op' || mul.fn !== 'mul' || mul.args.length !== 2 || t.k !== 'index') return null;
  const [index, c] = mul.args as [KExpr, KExpr];
  if (index.k !== 'index' || index.axis !== s || c.k !== 'const' || !Number.isInteger(c.value) || c.value < 1) return null;
  return reduced.some((a) => a.id === t.axis && a.size === c.value) ? c.value : null;
}

/** A buffer as errors name it: `input 'x'`, `output 'y'`, `temp buffer '%3 mul'`. */
function describe(b: BufferDecl): string {
  return b.role === 'input' || b.role === 'output' ? b.label : `${b.role} buffer '${b.label}'`;
}


function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
