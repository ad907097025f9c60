/**
 * fuse: group Tensor IR nodes into kernels. Every reduction and contraction roots a kernel;
 * elementwise work (maps, relabels, iotas, constants, parameters) is inlined into the kernels that
 * consume it (prologues), so chains of elementwise ops cost one kernel; a value is materialised
 * only when it is an output, a loop's input, captured by a loop, or shared by several consumers
 * and costly to recompute. Loops become host loop steps over their body's kernels.
 */
import { ELEMENTWISE_OPS, operands, type FlashNode, type Graph, type Node } from '../../dsl/ir.ts';
import { kvBounds, peelValidity } from '../flash-analysis.ts';
import { DEFAULT_LIMITS, type DeviceLimits, type SizeExpr } from '../../program/index.ts';
import { defaultFlashSchedule } from './lower-to-tiles.ts';
import { TesseraError, type Axis, type DType } from '../../dsl/types.ts';
import { kernelInputs, kernelOutputs, loadedBuffers, sizeExpr, subExprs, type FlashKernel, type KOutput, type BoundaryDecl, type BufferDecl, type FusedProgram, type HostStep, type KAxis, type KExpr, type KernelIR } from '../kernel-ir.ts';

/** An inlined expression shared by several consumers is recomputed only up to this many ops. */
const RECOMPUTE_LIMIT = 6;

export interface FuseOptions {
  readonly name: string;
  /** Storage buffers one kernel may bind (its output included). */
  readonly maxStorageBuffers: number;
  /** Device limits (flash kernels with a block mask fix their tile sizes here). */
  readonly limits?: DeviceLimits;
}

class Fuser {
  readonly buffers: BufferDecl[] = [];

  constructor(readonly options: FuseOptions) {}

  newBuffer(dtype: DType, axes: readonly Axis[], role: BufferDecl['role'], label: string, elements?: SizeExpr): number {
    const id = this.buffers.length;
    this.buffers.push({ id, dtype, axes, role, label, ...(elements !== undefined ? { elements } : {}) });
    return id;
  }

  /**
   * Fuses one graph. `bound` gives buffers for nodes that already have one (inputs, carries,
   * captures). Returns the steps and the buffer of every materialised node.
   */
  fuseGraph(graph: Graph, bound: Map<number, number>, scope: string): { steps: HostStep[]; bufferOf: Map<number, number> } {
    const uses = new Map<number, number>();
    const mustMaterialize = new Set<number>(Object.values(graph.outputs));
    for (const node of graph.nodes) {
      for (const o of operands(node)) uses.set(o, (uses.get(o) ?? 0) + 1);
      if (node.op === 'loop') for (const o of operands(node)) mustMaterialize.add(o);
      // A gather reads its table at computed positions: the table must sit in a buffer.
      if (node.op === 'gather') mustMaterialize.add(node.args[0]!);
    }
    const cost = new Map<number, number>();
    const materialized = (id: number): boolean => {
      const node = graph.nodes[id]!;
      if (!ELEMENTWISE_OPS.has(node.op)) return true;
      if (mustMaterialize.has(id)) return true;
      return (uses.get(id) ?? 0) > 1 && (cost.get(id) ?? 0) > RECOMPUTE_LIMIT;
    };
    for (const node of graph.nodes) {
      const c = ELEMENTWISE_OPS.has(node.op) && operands(node).length > 0 ? 1 + operands(node).reduce((s, o) => s + (materialized(o) ? 0 : cost.get(o) ?? 0), 0) : 0;
      cost.set(node.id, c);
    }

    const bufferOf = new Map(bound);
    const steps: HostStep[] = [];
    for (const node of graph.nodes) {
      if (bufferOf.has(node.id) || !materialized(node.id)) continue;
      const label = `${scope}%${node.id} ${node.op === 'map' ? node.fn : node.op}`;
      if (node.op === 'loop') {
        steps.push(...this.fuseLoop(graph, node, bufferOf, label));
        continue;
      }
      if (node.op === 'loop_result') {
        bufferOf.set(node.id, this.loopCarry.get(`${scope}${node.loop}:${node.index}`)!);
        continue;
      }
      if (node.op === 'flash') {
        steps.push(...this.fuseFlash(graph, node, bufferOf, label));
        continue;
      }
      if (node.op === 'input' || node.op === 'carry' || node.op === 'capture') {
        throw new TesseraError(`fuse: ${node.op} %${node.id} has no buffer`);
      }
      const buffer = this.newBuffer(node.type.dtype, node.type.axes, 'temp', label);
      let kernel = this.kernelFor(graph, node, buffer, bufferOf, materialized, label);
      // Too many bindings: materialise the inlined operand subtrees that load the most buffers.
      const forced = new Set<number>();
      while (kernelBindings(kernel) > this.options.maxStorageBuffers) {
        const candidate = widestInlined(graph, node, materialized, forced);
        if (candidate === null) throw new TesseraError(`fuse: kernel ${label} needs more than ${this.options.maxStorageBuffers} storage buffers`);
        forced.add(candidate);
        const sub = this.fuseGraphNode(graph, candidate, bufferOf, (id) => materialized(id) || forced.has(id), `${scope}`);
        steps.push(...sub);
        kernel = this.kernelFor(graph, node, buffer, bufferOf, (id) => materialized(id) || forced.has(id), label);
      }
      bufferOf.set(node.id, buffer);
      steps.push({ kind: 'kernel', kernel });
    }
    return { steps, bufferOf };
  }

  /** Materialises one inlinable node (used when a kernel has too many bindings). */
  private fuseGraphNode(graph: Graph, id: number, bufferOf: Map<number, number>, materialized: (id: number) => boolean, scope: string): HostStep[] {
    const node = graph.nodes[id]!;
    const label = `${scope}%${id} ${node.op === 'map' ? node.fn : node.op}`;
    const buffer = this.newBuffer(node.type.dtype, node.type.axes, 'temp', label);
    const kernel = this.kernelFor(graph, node, buffer, bufferOf, (x) => x !== id && materialized(x), label);
    bufferOf.set(id, buffer);
    return [{ kind: 'kernel', kernel }];
  }

  private readonly loopCarry = new Map<string, number>();

  /** One flash kernel for a flash node and its sibling of the other output (same args and body). */
  private fuseFlash(graph: Graph, node: FlashNode, bufferOf: Map<number, number>, label: string): HostStep[] {
    const key = JSON.stringify([node.args, node.axis, node.body]);
    const siblings = graph.nodes.filter((n): n is FlashNode => n.op === 'flash' && JSON.stringify([n.args, n.axis, n.body]) === key);
    const body = node.body;
    const bufferFor = (output: 'o' | 'lse'): number => {
      const owner = siblings.find((n) => n.output === output);
      const type = body.nodes[body.outputs[output]!]!.type;
      const buffer = this.newBuffer(type.dtype, type.axes, 'temp', `${label} ${output}`);
      if (owner) bufferOf.set(owner.id, buffer);
      return buffer;
    };
    const wantsLse = siblings.some((n) => n.output === 'lse');
    const oBuffer = bufferFor('o');
    const lseBuffer = wantsLse ? bufferFor('lse') : null;
    let kernel = flashKernel(body, node.axis, node.args.map((a) => ({ buffer: bufferOf.get(a)!, type: graph.nodes[a]!.type })), oBuffer, lseBuffer, label);
    const steps: HostStep[] = [];
    if (kernel.valid && kvBounds(kernel.valid, kernel.tiled?.id ?? null, kernel.kv.id).rest.length > 0) {
      // A mask the analytic bounds do not capture: classify blocks and compact the visit lists.
      const masked = this.blockMask(kernel, label);
      steps.push(...masked.steps);
      kernel = masked.kernel;
    }
    if (!isDecodeShape(kernel)) return [...steps, { kind: 'kernel', kernel }];
    // Split-KV: few query rows against a long kv axis would leave the device idle; cut kv into
    // chunks with a workgroup each, then merge the partial softmax states by log-sum-exp.
    const parts = SPLIT_KV_PARTS;
    const rows = [...kernel.outer, ...(kernel.tiled ? [kernel.tiled] : [])];
    const eSize = kernel.e.reduce((p, a) => p * (a.size as number), 1);
    const partialAxes = [...rows.map((a) => ({ name: a.name, size: a.size })), { name: '_split', size: parts }, { name: '_slot', size: eSize + 2 }];
    const partialBuffer = this.newBuffer('f32', partialAxes, 'temp', `${label} split-kv partials`);
    const partial: KOutput = {
      buffer: partialBuffer,
      dtype: 'f32',
      axes: [...rows, { id: 'sp', name: '_split', size: parts }, { id: 'slot', name: '_slot', size: eSize + 2 }],
    };
    const combine: KernelIR = {
      kind: 'flash-combine',
      name: `${label} combine`,
      out: kernel.out,
      lse: kernel.lse,
      partial: { k: 'load', buffer: partialBuffer, dtype: 'f32', axes: partial.axes.map((a) => ({ size: a.size, index: a.id })) },
      rows,
      e: kernel.e,
      parts,
    };
    return [...steps, { kind: 'kernel', kernel: { ...kernel, split: { parts, partial } } }, { kind: 'kernel', kernel: combine }];
  }

  /** The classify and compact kernels of a block mask, and the flash kernel that reads it. */
  private blockMask(k: FlashKernel, label: string): { kernel: FlashKernel; steps: HostStep[] } {
    const { rows, kvTile } = defaultFlashSchedule(k, this.options.limits ?? DEFAULT_LIMITS);
    const refs = axisRefs(k.valid!);
    const maskOuter = k.outer.filter((a) => refs.has(a.id));
    const qTiles: SizeExpr = { op: 'ceildiv', args: [k.tiled?.size ?? 1, rows] };
    const kvTiles: SizeExpr = { op: 'ceildiv', args: [k.kv.size, kvTile] };
    const outerCount = sizeExpr(maskOuter.map((a) => a.size));
    const axes = maskOuter.map((a) => ({ name: a.name, size: a.size }));
    // A mask that reads no tensor depends on sizes and parameters only: the runtime keeps its
    // block lists across runs (cache buffers) instead of recomputing them.
    const role = loadedBuffers(k.valid!).size === 0 ? 'cache' : 'temp';
    const blocks = this.newBuffer('u32', axes, role, `${label} mask blocks`, { op: 'mul', args: [outerCount, qTiles, kvTiles] });
    const counts = this.newBuffer('u32', axes, role, `${label} mask counts`, { op: 'mul', args: [outerCount, qTiles] });
    const list = this.newBuffer('u32', axes, role, `${label} mask list`, { op: 'mul', args: [outerCount, qTiles, kvTiles] });
    const out = (buffer: number): KOutput => ({ buffer, dtype: 'u32', axes: [] });
    const load = (buffer: number) => ({ k: 'load' as const, buffer, dtype: 'u32' as const, axes: [] });
    const shared = { maskOuter, tiled: k.tiled, kv: k.kv, rows, kvTile };
    return {
      steps: [
        { kind: 'kernel', kernel: { kind: 'mask-classify', name: `${label} mask classify`, out: out(blocks), valid: k.valid!, ...shared } },
        { kind: 'kernel', kernel: { kind: 'mask-compact', name: `${label} mask compact`, out: out(list), counts: out(counts), blocks: load(blocks), ...shared } },
      ],
      kernel: { ...k, blockMask: { maskOuter, rows, kvTile, counts: load(counts), list: load(list) } },
    };
  }

  private fuseLoop(graph: Graph, node: Extract<Node, { op: 'loop' }>, bufferOf: Map<number, number>, label: string): HostStep[] {
    const steps: HostStep[] = [];
    const scope = `${label}/`;
    const carries = node.init.map((init, i) => {
      const t = graph.nodes[init]!.type;
      const carry = this.newBuffer(t.dtype, t.axes, 'temp', `${label} carry ${i}`);
      steps.push({ kind: 'copy', src: bufferOf.get(init)!, dst: carry, label: `${label} init carry ${i}` });
      this.loopCarry.set(`${this.scopeOf(label)}${node.id}:${i}`, carry);
      return carry;
    });
    const bound = new Map<number, number>();
    for (const inner of node.body.nodes) {
      if (inner.op === 'carry') bound.set(inner.id, carries[inner.index]!);
      if (inner.op === 'capture') bound.set(inner.id, bufferOf.get(node.captures[inner.index]!)!);
    }
    const body = this.fuseGraph(node.body, bound, scope);
    const tail: HostStep[] = [];
    const staged: HostStep[] = [];
    node.init.forEach((_, i) => {
      const resultNode = node.body.outputs[String(i)]!;
      const src = body.bufferOf.get(resultNode)!;
      if (src === carries[i]) return;
      if (carries.includes(src)) {
        // The result is another carried value: stage it so the copies cannot overwrite each other.
        const t = node.body.nodes[resultNode]!.type;
        const stage = this.newBuffer(t.dtype, t.axes, 'temp', `${label} stage ${i}`);
        staged.push({ kind: 'copy', src, dst: stage, label: `${label} stage carry ${i}` });
        tail.push({ kind: 'copy', src: stage, dst: carries[i]!, label: `${label} carry ${i}` });
      } else {
        tail.push({ kind: 'copy', src, dst: carries[i]!, label: `${label} carry ${i}` });
      }
    });
    steps.push({ kind: 'loop', count: node.count, label, body: [...body.steps, ...staged, ...tail] });
    return steps;
  }

  private scopeOf(label: string): string {
    const cut = label.lastIndexOf('/');
    return cut < 0 ? '' : label.slice(0, cut + 1);
  }

  /** Builds the kernel computing `node` into `buffer`. */
  private kernelFor(graph: Graph, node: Node, buffer: number, bufferOf: Map<number, number>, materialized: (id: number) => boolean, name: string): KernelIR {
    const axisIds = new Map<string, string>();
    const kaxis = (axis: Axis): KAxis => {
      let id = axisIds.get(axis.name);
      if (id === undefined) axisIds.set(axis.name, (id = `a${axisIds.size}`));
      return { id, name: axis.name, size: axis.size };
    };
    const out = { buffer, dtype: node.type.dtype, axes: node.type.axes.map(kaxis) };
    const env = (axes: readonly KAxis[]) => new Map(axes.map((a) => [a.name, a.id]));
    const build = (id: number, names: Map<string, string>, root = false): KExpr =>
      buildExpr(graph, id, names, (leafId, leafNames) => {
        if (root && leafId === node.id) return null;
        if (!materialized(leafId)) return null;
        return loadOf(graph, leafId, bufferOf, leafNames);
      });
    if (node.op === 'reduce') {
      if (node.fn === 'logsumexp') throw new TesseraError('fuse: logsumexp must be decomposed first');
      const argType = graph.nodes[node.arg]!.type;
      const reduced = node.axes.map((name) => kaxis(argType.axes.find((a) => a.name === name)!));
      return { kind: 'reduce', name, fn: node.fn, out, reduced, value: build(node.arg, env([...out.axes, ...reduced])) };
    }
    if (node.op === 'contract') {
      const [ta, tb] = node.args.map((a) => graph.nodes[a]!.type) as [Node['type'], Node['type']];
      const inA = new Set(ta.axes.map((a) => a.name));
      const inB = new Set(tb.axes.map((a) => a.name));
      const batch = out.axes.filter((a) => inA.has(a.name) && inB.has(a.name));
      const m = out.axes.filter((a) => inA.has(a.name) && !inB.has(a.name));
      const n = out.axes.filter((a) => inB.has(a.name) && !inA.has(a.name));
      const k = ta.axes.filter((a) => inB.has(a.name) && !out.axes.some((o) => o.name === a.name)).map(kaxis);
      const names = env([...out.axes, ...k]);
      return { kind: 'gemm', name, out, batch, m, n, k, a: build(node.args[0]!, names), b: build(node.args[1]!, names) };
    }
    if (ELEMENTWISE_OPS.has(node.op)) return { kind: 'elementwise', name, out, value: build(node.id, env(out.axes), true) };
    throw new TesseraError(`fuse: no kernel for ${node.op} %${node.id}`);
  }
}

/**
 * Lowers a flash body (see `match-attention`) to a flash kernel: finds Q·K, the score tree, V and
 * the softmax axis, splits the validity predicate from the score, and derives analytic kv bounds,
 * choosing as the tiled query axis one the bounds speak of.
 */
function flashKernel(
  body: Graph,
  axis: string,
  args: readonly { buffer: number; type: Node['type'] }[],
  oBuffer: number,
  lseBuffer: number | null,
  name: string,
): FlashKernel {
  const oNode = body.nodes[body.outputs['o']!] as Extract<Node, { op: 'contract' }>;
  const pIndex = oNode.args.findIndex((a) => body.nodes[a]!.op === 'composite');
  const p = body.nodes[oNode.args[pIndex]!] as Extract<Node, { op: 'composite' }>;
  const vId = oNode.args[1 - pIndex]!;
  const sId = p.arg;
  const sType = body.nodes[sId]!.type;
  const findContract = (id: number): number | null => {
    const n = body.nodes[id]!;
    if (n.op === 'contract') return id;
    if (!ELEMENTWISE_OPS.has(n.op)) return null;
    for (const o of operands(n)) {
      const c = findContract(o);
      if (c !== null) return c;
    }
    return null;
  };
  const cId = findContract(sId)!;
  const c = body.nodes[cId] as Extract<Node, { op: 'contract' }>;
  let [qId, kId] = c.args as [number, number];
  if (body.nodes[qId]!.type.axes.some((a) => a.name === axis)) [qId, kId] = [kId, qId];
  const qType = body.nodes[qId]!.type;
  const kType = body.nodes[kId]!.type;
  const vType = body.nodes[vId]!.type;
  const inS = (n: string) => sType.axes.some((a) => a.name === n);
  const inK = (n: string) => kType.axes.some((a) => a.name === n);

  const axisIds = new Map<string, string>();
  const kaxis = (a: Axis): KAxis => {
    let id = axisIds.get(a.name);
    if (id === undefined) axisIds.set(a.name, (id = `a${axisIds.size}`));
    return { id, name: a.name, size: a.size };
  };
  const rows = sType.axes.filter((a) => a.name !== axis).map(kaxis);
  const kv = kaxis(sType.axes.find((a) => a.name === axis)!);
  const d = qType.axes.filter((a) => inK(a.name) && !inS(a.name)).map(kaxis);
  const e = vType.axes.filter((a) => !inS(a.name)).map(kaxis);
  const batch = rows.filter((a) => inK(a.name));
  const oType = body.nodes[body.outputs['o']!]!.type;
  const lseType = body.nodes[body.outputs['lse']!]!.type;
  const out: KOutput = { buffer: oBuffer, dtype: 'f32', axes: oType.axes.map(kaxis) };
  const lse: KOutput | null = lseBuffer === null ? null : { buffer: lseBuffer, dtype: 'f32', axes: lseType.axes.map(kaxis) };

  const leaf = (id: number, names: Map<string, string>): KExpr | null => {
    const n = body.nodes[id]!;
    if (id === cId) return { k: 'acc' };
    if (n.op === 'capture') {
      const arg = args[n.index]!;
      return { k: 'load', buffer: arg.buffer, dtype: n.type.dtype, axes: n.type.axes.map((a) => ({ size: a.size, index: lookup(names, a.name) })) };
    }
    return null;
  };
  const env = (axes: readonly KAxis[]) => new Map(axes.map((a) => [a.name, a.id]));
  const { score, valid } = peelValidity(buildExpr(body, sId, env([...rows, kv]), leaf));
  const qrows = rows.filter((a) => !inK(a.name));
  let tiled: KAxis | null = qrows.length > 0 ? qrows[qrows.length - 1]! : null;
  let bounds = kvBounds(valid, tiled?.id ?? null, kv.id);
  for (const candidate of [...qrows].reverse()) {
    const b = kvBounds(valid, candidate.id, kv.id);
    if ([...b.lower, ...b.upper].some((x) => x.t !== 0)) {
      tiled = candidate;
      bounds = b;
      break;
    }
  }
  return {
    kind: 'flash',
    name,
    out,
    lse,
    outer: rows.filter((a) => a !== tiled),
    batch,
    tiled,
    kv,
    d,
    e,
    q: buildExpr(body, qId, env([...rows, ...d]), leaf),
    k: buildExpr(body, kId, env([...batch, kv, ...d]), leaf),
    v: buildExpr(body, vId, env([...batch, kv, ...e]), leaf),
    score,
    valid,
    lower: bounds.lower,
    upper: bounds.upper,
    split: null,
    blockMask: null,
  };
}

/** Kernel axis ids an expression reads (as indices or through loads). */
function axisRefs(e: KExpr, into: Set<string> = new Set()): Set<string> {
  if (e.k === 'index') into.add(e.axis);
  if (e.k === 'load') for (const a of e.axes) if ('index' in a) into.add(a.index);
  for (const sub of subExprs(e)) axisRefs(sub, into);
  return into;
}

/** Chunks of the kv axis in the split-KV path. */
export const SPLIT_KV_PARTS = 16;

/** Decode shapes: at most 4 query rows (static), and a kv axis that is long or unknown. */
function isDecodeShape(k: FlashKernel): boolean {
  const rows = k.tiled ? k.tiled.size : 1;
  if (typeof rows !== 'number' || rows > 4) return false;
  return typeof k.kv.size !== 'number' || k.kv.size >= 256;
}

/** Stands for a gathered axis while its table's load is built (never a kernel axis id). */
const GATHERED = '<gathered>';

/** A load of a materialised node's buffer at the kernel's indices for its axes. */
function loadOf(graph: Graph, id: number, bufferOf: Map<number, number>, names: Map<string, string>): KExpr {
  const n = graph.nodes[id]!;
  const b = bufferOf.get(id);
  if (b === undefined) throw new TesseraError(`fuse: %${id} is read before it is computed`);
  return { k: 'load', buffer: b, dtype: n.type.dtype, axes: n.type.axes.map((a) => ({ size: a.size, index: lookup(names, a.name) })) };
}

/**
 * The scalar expression computing node `id` at the kernel indices `names` (axis name → kernel
 * axis id), inlining elementwise nodes; `leaf` supplies the expression for nodes read as they are
 * (loads, placeholders) and returns null for nodes to inline.
 */
export function buildExpr(graph: Graph, id: number, names: Map<string, string>, leaf: (id: number, names: Map<string, string>) => KExpr | null): KExpr {
  const given = leaf(id, names);
  if (given) return given;
  const n = graph.nodes[id]!;
  switch (n.op) {
    case 'const':
      return { k: 'const', value: n.value, dtype: n.type.dtype };
    case 'param':
      return { k: 'param', name: n.name, dtype: n.type.dtype };
    case 'iota':
      return { k: 'index', axis: lookup(names, n.type.axes[0]!.name) };
    case 'size':
      return { k: 'size', size: n.axis.size };
    case 'map':
      return { k: 'op', fn: n.fn, args: n.args.map((a) => buildExpr(graph, a, names, leaf)), dtype: n.type.dtype };
    case 'gather': {
      // The table's load, with the gathered axis indexed by the index expression.
      const [tableId, indexId] = n.args as [number, number];
      const table = leaf(tableId, new Map([...names, [n.axis, GATHERED]]));
      if (table?.k !== 'load') throw new TesseraError(`fuse: gather %${id} reads a table that is not in a buffer`);
      const at = buildExpr(graph, indexId, names, leaf);
      return { ...table, axes: table.axes.map((a) => ('index' in a && a.index === GATHERED ? { size: a.size, at } : a)) };
    }
    case 'relabel': {
      const argAxes = graph.nodes[n.arg]!.type.axes;
      const inner = new Map(argAxes.map((a, i) => [a.name, lookup(names, n.names[i]!)]));
      return buildExpr(graph, n.arg, inner, leaf);
    }
    default:
      throw new TesseraError(`fuse: cannot inline ${n.op} %${id}`);
  }
}

function lookup(names: Map<string, string>, axis: string): string {
  const id = names.get(axis);
  if (id === undefined) throw new TesseraError(`fuse: axis '${axis}' is not an iteration axis here`);
  return id;
}

function kernelBindings(k: KernelIR): number {
  const outputs = kernelOutputs(k).map((o) => o.buffer);
  return kernelInputs(k).filter((b) => !outputs.includes(b)).length + outputs.length;
}

/** The inlined operand (transitively) of `root` that reads the most distinct materialised values. */
function widestInlined(graph: Graph, root: Node, materialized: (id: number) => boolean, forced: Set<number>): number | null {
  const leaves = (id: number, seen: Set<number>): Set<number> => {
    if (materialized(id) || forced.has(id)) return seen.add(id);
    for (const o of operands(graph.nodes[id]!)) leaves(o, seen);
    return seen;
  };
  let best: number | null = null;
  let bestCount = 1;
  const visit = (id: number) => {
    for (const o of operands(graph.nodes[id]!)) {
      if (materialized(o) || forced.has(o)) continue;
      const count = leaves(o, new Set()).size;
      if (count > bestCount) {
        best = o;
        bestCount = count;
      }
      visit(o);
    }
  };
  visit(root.id);
  return best;
}

/** Fuses a whole (decomposed, contraction-planned) graph into kernels and host steps. */
export function fuse(graph: Graph, options: FuseOptions): FusedProgram {
  const fuser = new Fuser(options);
  const bound = new Map<number, number>();
  const inputs: BoundaryDecl[] = [];
  const params: { name: string; dtype: DType }[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'input') {
      const buffer = fuser.newBuffer(node.type.dtype, node.type.axes, 'input', `input '${node.name}'`);
      bound.set(node.id, buffer);
      inputs.push({ name: node.name, dtype: node.type.dtype, axes: node.type.axes, buffer });
    }
    if (node.op === 'param') params.push({ name: node.name, dtype: node.type.dtype });
  }
  const { steps, bufferOf } = fuser.fuseGraph(graph, bound, '');
  const outputs = Object.entries(graph.outputs).map(([name, id]) => {
    const t = graph.nodes[id]!.type;
    return { name, dtype: t.dtype, axes: t.axes, buffer: bufferOf.get(id)! };
  });
  return { name: options.name, buffers: fuser.buffers, steps, inputs, outputs, params };
}
