/**
 * A scan node (`dsl/scan.ts`) as one scan kernel (`ScanKernel`, emitted by `emit/scan.ts`).
 *
 * The workgroups split the *parallel* axes: those every scanned tensor and every state carries
 * that the body never mixes (sums, renames, gathers or scans along) — batch and heads for
 * recurrent attention — so each workgroup runs the whole recurrence of one (batch, head) on its
 * own. Inside, the body's tensors lose those axes and become *locals*: per-workgroup regions of one
 * scratch buffer, sized by the chunk (never by the sequence), or for a state of static size that
 * fits, workgroup memory. Every reduction and contraction of
 * the body is a step that computes a local; elementwise work is inlined into the steps that read
 * it; a nested scan is a nested loop; the state is a local that the next state is copied into once
 * a chunk's steps are done. Chunk tensors are read from the scanned tensors in place, at the
 * chunk's offset.
 */
import type { Graph, Node, ScanNode } from '../dsl/ir.ts';
import { TesseraError, type Axis, type TensorType } from '../dsl/types.ts';
import type { SizeExpr } from '../program/index.ts';
import { subExprs, type KAxis, type KExpr, type KOutput, type NewBuffer, type ScanKernel, type ScanLevel, type ScanLocal, type ScanStep } from './kernel-ir.ts';
import { axisEnv, axisIds, buildExpr, loadOf, lookup } from './lower-expr.ts';
import { gemmMasks } from './scan-masks.ts';

/** Where a scan's chunk tensors come from: a buffer of the enclosing program, or a local. */
type Source = { readonly buffer: number; readonly type: TensorType };

/** Axes the body mixes across indices (reduced, contracted, renamed, gathered or scanned along). */
function mixedAxes(graph: Graph, into: Set<string> = new Set()): Set<string> {
  for (const node of graph.nodes) {
    const t = (id: number) => graph.nodes[id]!.type;
    switch (node.op) {
      case 'reduce':
        node.axes.forEach((a) => into.add(a));
        break;
      case 'contract': {
        const kept = new Set(node.type.axes.map((a) => a.name));
        for (const arg of node.args) for (const a of t(arg).axes) if (!kept.has(a.name)) into.add(a.name);
        break;
      }
      case 'relabel':
        t(node.arg).axes.forEach((a, i) => {
          if (node.names[i] !== a.name) into.add(a.name).add(node.names[i]!);
        });
        break;
      case 'gather':
        into.add(node.axis);
        break;
      case 'composite':
        node.axes.forEach((a) => into.add(a));
        break;
      case 'scan':
        into.add(node.axis);
        mixedAxes(node.body, into);
        break;
      case 'loop':
      case 'flash':
        mixedAxes(node.body, into);
        break;
      default:
        break;
    }
  }
  return into;
}

/**
 * Words of workgroup memory for states: WebGPU's guaranteed `maxComputeWorkgroupStorageSize`
 * (16 KiB), so a program compiled for one device runs on any. A state that fits (D = Dv = 64 in f32
 * exactly does) stays on chip across chunks; the chunk's other locals, sized by the chunk, go to the
 * scratch buffer.
 */
const WORKGROUP_STATE_WORDS = 16384 / 4;

class ScanBuilder {
  readonly kaxis = axisIds();
  readonly locals: ScanLocal[] = [];
  /** Chunk-length symbols and their chunk (the bound a local is sized by). */
  readonly chunkBounds = new Map<string, number>();
  #offset: SizeExpr = 0;

  constructor(readonly parallel: ReadonlySet<string>) {}

  /** The axes of a body tensor that a local keeps (the parallel ones are the workgroup's). */
  localAxes(type: TensorType): KAxis[] {
    return type.axes.filter((a) => !this.parallel.has(a.name)).map(this.kaxis);
  }

  /** Words of workgroup memory the states placed there take so far (`WORKGROUP_STATE_WORDS`). */
  #workgroupWords = 0;

  /**
   * A new local for a tensor of `type`. A state (`state`) of static size goes to workgroup memory
   * while the states there fit `WORKGROUP_STATE_WORDS`; every other local to the scratch buffer.
   */
  newLocal(type: TensorType, state = false): number {
    const axes = this.localAxes(type);
    const bound = (a: KAxis): SizeExpr => (typeof a.size === 'string' && this.chunkBounds.has(a.size) ? this.chunkBounds.get(a.size)! : a.size);
    const factors = axes.map(bound);
    const fixed = factors.filter((f): f is number => typeof f === 'number').reduce((a, b) => a * b, 1);
    const rest = factors.filter((f) => typeof f !== 'number');
    const capacity: SizeExpr = rest.length === 0 ? fixed : { op: 'mul', args: fixed === 1 ? rest : [fixed, ...rest] };
    const id = -(this.locals.length + 1);
    if (state && typeof capacity === 'number' && this.#workgroupWords + capacity <= WORKGROUP_STATE_WORDS) {
      this.#workgroupWords += capacity;
      this.locals.push({ id, dtype: type.dtype, axes, capacity, offset: 0, workgroup: true });
      return id;
    }
    this.locals.push({ id, dtype: type.dtype, axes, capacity, offset: this.#offset });
    const o = this.#offset;
    this.#offset = typeof o === 'number' && typeof capacity === 'number' ? o + capacity : o === 0 ? capacity : { op: 'add', args: [o, capacity] };
    return id;
  }

  /** An axis's largest extent when known: its static size, or a chunk-length symbol's chunk. */
  bound(a: { readonly size: Axis['size'] }): number | null {
    return typeof a.size === 'number' ? a.size : (this.chunkBounds.get(a.size) ?? null);
  }

  /** Whether a node is a fold over axes of one element. */
  single(g: Graph, n: Node): boolean {
    if (n.op !== 'reduce' || n.fn === 'logsumexp') return false;
    const argAxes = g.nodes[n.arg]!.type.axes;
    return n.axes.every((name) => this.bound(argAxes.find((a) => a.name === name)!) === 1);
  }

  /**
   * Outputs per thread along one side of a blocked product: 8 for a side of 32 or more (or an
   * unknown one), else 4 or the side's length. Lavapipe pays per value loaded: 8 × 8 blocks load a
   * quarter of a value per multiply-add against half for 4 × 4, and GLA at T = 8192 (H = 4,
   * D = 64) went from ~650–750 to ~390 ms (an ad-hoc script timing `backend.run` and the readback,
   * medians of 3), its shader's first compile from ~3 to ~12 s.
   */
  block(axes: readonly KAxis[]): number {
    let extent = 1;
    for (const a of axes) {
      const b = this.bound(a);
      if (b === null) return 8;
      extent *= b;
    }
    return extent >= 32 ? 8 : Math.min(4, extent);
  }

  get perWorkgroup(): SizeExpr {
    return this.#offset === 0 ? 1 : this.#offset;
  }

  localLoad(local: number, names: Map<string, string>): KExpr {
    const l = this.locals[-local - 1]!;
    return { k: 'load', buffer: local, dtype: l.dtype, axes: l.axes.map((a) => ({ size: a.size, index: lookup(names, a.name) })) };
  }

  /** Every kernel axis id a tensor of `type` is indexed by (parallel ones included). */
  env(types: readonly TensorType[]): Map<string, string> {
    return axisEnv(types.flatMap((t) => t.axes.map(this.kaxis)));
  }

  /**
   * One scan level: `scan` (a node of `parent`) with `outer` building the parent's values, its
   * chunks read from `sources`, and its outputs `yk` stored into `ysTarget(k)`.
   */
  level(
    parent: Graph,
    scan: ScanNode,
    depth: number,
    outer: (id: number, names: Map<string, string>) => KExpr,
    sources: readonly (Source | { readonly local: number })[],
    ysTarget: (k: number) => { readonly target: number; readonly axes: readonly KAxis[] } | null,
  ): { level: ScanLevel; carries: number[] } {
    const g = scan.body;
    this.chunkBounds.set(scan.size, scan.chunk);
    const start = `scan_start${depth}`;
    const count = `scan_count${depth}`;
    const scanAxis = this.kaxis({ name: scan.axis, size: scan.size }).id;
    const carries = scan.init.map((init) => this.newLocal(parent.nodes[init]!.type, true));
    const carryInits = scan.init.map((init, i) => ({ local: carries[i]!, init: outer(init, this.env([parent.nodes[init]!.type])) }));
    const localOf = new Map<number, number>();
    const steps: ScanStep[] = [];
    // A chunk element's index along the scanned axis: every step reads indices below the chunk's
    // length, so start + index is in range without a clamp.
    const shifted = (index: string): string => `(${start} + ${index})`;
    const leaf = (id: number, names: Map<string, string>): KExpr | null => {
      const local = localOf.get(id);
      if (local !== undefined) return this.localLoad(local, names);
      const n = g.nodes[id]!;
      // A fold over one element (a one-token chunk's axis) is that element: no step.
      if (this.single(g, n)) return buildExpr(g, (n as Extract<Node, { op: 'reduce' }>).arg, new Map([...names, ...(n as Extract<Node, { op: 'reduce' }>).axes.map((a) => [a, '0u'] as const)]), leaf);
      if (n.op === 'carry') return this.localLoad(carries[n.index]!, names);
      if (n.op === 'capture') return outer(scan.captures[n.index]!, names);
      if (n.op === 'chunk') {
        // The scanned tensor (a buffer, or for a nested scan a local) at the chunk's offset.
        const source = sources[n.index]!;
        const [buffer, dtype, axes] = 'local' in source ? [source.local, this.locals[-source.local - 1]!.dtype, this.locals[-source.local - 1]!.axes] : [source.buffer, source.type.dtype, source.type.axes];
        return { k: 'load', buffer, dtype, axes: axes.map((a) => ({ size: a.size, index: a.name === scan.axis ? shifted(lookup(names, a.name)) : lookup(names, a.name) })) };
      }
      return null;
    };
    const build = (id: number): KExpr => buildExpr(g, id, this.env([g.nodes[id]!.type]), leaf);
    for (const node of g.nodes) {
      if (node.op === 'reduce' && this.single(g, node)) {
        // Inlined where it is read (see `leaf`).
      } else if (node.op === 'reduce') {
        if (node.fn === 'logsumexp') throw new TesseraError('scan: logsumexp must be decomposed first');
        const local = this.newLocal(node.type);
        const argType = g.nodes[node.arg]!.type;
        const reduced = node.axes.map((name) => this.kaxis(argType.axes.find((a) => a.name === name)!));
        steps.push({ kind: 'reduce', local, fn: node.fn, reduced, value: build(node.arg) });
        localOf.set(node.id, local);
      } else if (node.op === 'contract' && node.args.length === 2 && node.type.dtype === 'f32') {
        // A binary contraction: a register-blocked product over the local's axes.
        const [ta, tb] = node.args.map((a) => g.nodes[a]!.type) as [TensorType, TensorType];
        const inA = new Set(ta.axes.map((a) => a.name));
        const inB = new Set(tb.axes.map((a) => a.name));
        const own = this.localAxes(node.type);
        const k = ta.axes.filter((a) => inB.has(a.name) && !node.type.axes.some((o) => o.name === a.name) && !this.parallel.has(a.name)).map(this.kaxis);
        const names = this.env([node.type, ta, tb]);
        const m = own.filter((a) => inA.has(a.name) && !inB.has(a.name));
        const n = own.filter((a) => inB.has(a.name) && !inA.has(a.name));
        const [blockM, blockN] = [this.block(m), this.block(n)];
        // Each block of outputs evaluates its operands again: an operand that is computed (not a
        // plain read) and read by more than one block is computed once into a local first.
        const operand = (arg: number, otherSide: readonly KAxis[], otherBlock: number): KExpr => {
          const expr = buildExpr(g, arg, names, leaf);
          const extent = otherSide.reduce<number | null>((p, a) => (p === null || this.bound(a) === null ? null : p * this.bound(a)!), 1);
          if (expr.k === 'load' || (extent !== null && extent <= otherBlock)) return expr;
          // A renamed tensor is stored once under its own names: every rename of it reads that local.
          let stored = arg;
          for (let n = g.nodes[stored]!; n.op === 'relabel' && new Set(n.names).size === n.names.length; n = g.nodes[stored]!) stored = n.arg;
          const materialized = this.newLocal(g.nodes[stored]!.type);
          steps.push({ kind: 'compute', local: materialized, value: build(stored) });
          localOf.set(stored, materialized);
          return buildExpr(g, arg, names, leaf);
        };
        const a = operand(node.args[0]!, n, blockN);
        const b = operand(node.args[1]!, m, blockM);
        const local = this.newLocal(node.type);
        steps.push({ kind: 'gemm', local, batch: own.filter((x) => inA.has(x.name) && inB.has(x.name)), m, n, k, a, b, blockM, blockN });
        localOf.set(node.id, local);
      } else if (node.op === 'contract') {
        const local = this.newLocal(node.type);
        const types = node.args.map((a) => g.nodes[a]!.type);
        const kept = new Set(node.type.axes.map((a) => a.name));
        const reduced = [...new Map(types.flatMap((t) => t.axes).filter((a) => !kept.has(a.name)).map((a) => [a.name, a] as const)).values()].map(this.kaxis);
        const names = this.env([node.type, ...types]);
        const factors = node.args.map((a) => buildExpr(g, a, names, leaf));
        const value = factors.slice(1).reduce<KExpr>((acc, f) => ({ k: 'op', fn: 'mul', args: [acc, f], dtype: node.type.dtype }), factors[0]!);
        steps.push({ kind: 'reduce', local, fn: 'sum', reduced, value });
        localOf.set(node.id, local);
      } else if (node.op === 'scan') {
        const innerSources = node.xs.map((x) => {
          const known = localOf.get(x) ?? (g.nodes[x]!.op === 'carry' ? carries[(g.nodes[x] as Extract<Node, { op: 'carry' }>).index] : undefined);
          if (known !== undefined) return { local: known };
          const local = this.newLocal(g.nodes[x]!.type);
          steps.push({ kind: 'compute', local, value: build(x) });
          localOf.set(x, local);
          return { local };
        });
        // Its stacked outputs, where this level reads them.
        const stacked = new Map<number, number>();
        for (const r of g.nodes) {
          if (r.op === 'loop_result' && r.loop === node.id && r.index >= node.init.length && !stacked.has(r.index)) {
            const local = this.newLocal(r.type);
            stacked.set(r.index, local);
          }
        }
        const inner = this.level(g, node, depth + 1, (id, names) => buildExpr(g, id, names, leaf), innerSources, (k) => {
          const local = stacked.get(node.init.length + k);
          return local === undefined ? null : { target: local, axes: this.locals[-local - 1]!.axes };
        });
        steps.push({ kind: 'scan', level: inner.level });
        for (const r of g.nodes) {
          if (r.op !== 'loop_result' || r.loop !== node.id) continue;
          localOf.set(r.id, r.index < node.init.length ? inner.carries[r.index]! : stacked.get(r.index)!);
        }
      } else if (node.op === 'loop' || node.op === 'flash') {
        throw new TesseraError(`scan: a ${node.op} inside a scan body has no lowering in the scan kernel; write it with scan or plain ops`);
      }
    }
    const ys: ScanLevel['ys'][number][] = [];
    for (let k = 0; g.outputs[`y${k}`] !== undefined; k++) {
      const target = ysTarget(k);
      if (!target) continue;
      const id = g.outputs[`y${k}`]!;
      ys.push({ target: target.target, axes: target.axes, axis: scanAxis, value: build(id) });
    }
    const next = scan.init.map((_, i) => {
      const id = g.outputs[String(i)]!;
      const value = build(id);
      return { local: carries[i]!, next: inPlace(value, carries[i]!, carries, this.locals[-carries[i]! - 1]!.axes) ? null : this.newLocal(g.nodes[id]!.type), value };
    });
    const built: ScanLevel = { length: lengthOf(parent, scan), chunk: scan.chunk, size: scan.size, start, count, carries: carryInits, steps, ys, next };
    // The products a causal mask leaves partly unused skip those terms and outputs.
    const masks = gemmMasks(built, (local) => this.locals[-local - 1]!.axes);
    const masked = steps.map((s) => (s.kind === 'gemm' && masks.has(s.local) ? { ...s, mask: masks.get(s.local)! } : s));
    return { level: { ...built, steps: masked }, carries };
  }
}

/**
 * Whether the next value of state `local` may be written over it in place: it reads that state only
 * at the element being written (indices = the state's own axes, in order) and reads no other state.
 */
function inPlace(value: KExpr, local: number, states: readonly number[], axes: readonly KAxis[]): boolean {
  if (value.k === 'load' && states.includes(value.buffer)) {
    return value.buffer === local && value.axes.length === axes.length && value.axes.every((a, i) => 'index' in a && a.index === axes[i]!.id);
  }
  return subExprs(value).every((e) => inPlace(e, local, states, axes));
}

function lengthOf(parent: Graph, scan: ScanNode): Axis['size'] {
  return parent.nodes[scan.xs[0]!]!.type.axes.find((a) => a.name === scan.axis)!.size;
}

/**
 * The scan kernel for `node` of `graph` (its operands' buffers in `bufferOf`), writing the results
 * `wanted` (result index → buffer); results not wanted are not stored.
 */
/**
 * The parallel axes of a scan (see the file comment): those every scanned tensor and every state
 * carries, other than the scanned axis, that the body never mixes.
 */
export function parallelAxes(graph: Graph, node: ScanNode): Axis[] {
  const types = [...node.xs, ...node.init].map((id) => graph.nodes[id]!.type);
  const mixed = mixedAxes(node.body);
  const common = types.reduce((set, t) => new Set(t.axes.map((a) => a.name).filter((a) => set.has(a))), new Set(types[0]!.axes.map((a) => a.name)));
  return graph.nodes[node.xs[0]!]!.type.axes.filter((a) => common.has(a.name) && a.name !== node.axis && !mixed.has(a.name));
}

/**
 * The size symbols a scan's locals are sized by — every axis of its scanned tensors and states but
 * the scanned and parallel ones — which `run()` pins, so index arithmetic and loop counts in the
 * scan kernel are constants (the program still serves every sequence length and batch).
 */
export function scanLocalSymbols(graph: Graph, node: ScanNode): string[] {
  const parallel = new Set(parallelAxes(graph, node).map((a) => a.name));
  const sizes = [...node.xs, ...node.init].flatMap((id) => graph.nodes[id]!.type.axes.filter((a) => a.name !== node.axis && !parallel.has(a.name)).map((a) => a.size));
  return [...new Set(sizes.filter((s): s is string => typeof s === 'string'))];
}

export function lowerScan(graph: Graph, node: ScanNode, bufferOf: ReadonlyMap<number, number>, wanted: ReadonlyMap<number, number>, name: string, newBuffer: NewBuffer): ScanKernel {
  const parallelAxes_ = parallelAxes(graph, node);
  const builder = new ScanBuilder(new Set(parallelAxes_.map((a) => a.name)));
  const parallel = parallelAxes_.map(builder.kaxis);
  const buffers = new Map(bufferOf);
  const outer = (id: number, names: Map<string, string>): KExpr => buildExpr(graph, id, names, (leaf, leafNames) => (buffers.has(leaf) ? loadOf(graph, leaf, buffers, leafNames) : null));
  const sources = node.xs.map((x) => ({ buffer: bufferOf.get(x)!, type: graph.nodes[x]!.type }));
  const resultOut = (index: number): KOutput | null => {
    const buffer = wanted.get(index);
    if (buffer === undefined) return null;
    const type = graph.nodes.find((n) => n.op === 'loop_result' && n.loop === node.id && n.index === index)!.type;
    return { buffer, dtype: type.dtype, axes: type.axes.map(builder.kaxis) };
  };
  const { level, carries } = builder.level(graph, node, 0, outer, sources, (k) => {
    const out = resultOut(node.init.length + k);
    return out ? { target: out.buffer, axes: out.axes } : null;
  });
  const finals = node.init.flatMap((_, i) => {
    const out = resultOut(i);
    return out ? [{ local: carries[i]!, out }] : [];
  });
  const results = [...wanted.keys()].sort((a, b) => a - b).map((i) => resultOut(i)!);
  const perWorkgroup = builder.perWorkgroup;
  const count: SizeExpr = parallel.length === 0 ? 1 : parallel.length === 1 ? parallel[0]!.size : { op: 'mul', args: parallel.map((a) => a.size) };
  const scratchBuffer = newBuffer('u32', [], 'temp', `${name} scratch`, count === 1 ? perWorkgroup : { op: 'mul', args: [count, perWorkgroup] });
  const scratch: KOutput = { buffer: scratchBuffer, dtype: 'u32', axes: [] };
  return { kind: 'scan', name, out: results[0] ?? scratch, results, scratch, perWorkgroup, parallel, locals: builder.locals, root: level, finals };
}
