/**
 * fuse: group Tensor IR nodes into kernels. Every reduction and contraction roots a kernel;
 * elementwise work (maps, relabels, iotas, constants, parameters) is inlined into the kernels that
 * consume it (prologues), so chains of elementwise ops cost one kernel; a value is materialised
 * only when it is an output, a loop's input, captured by a loop, or shared by several consumers
 * and costly to recompute. Loops become host loop steps over their body's kernels; flash nodes
 * are lowered by `lower-attention`. Segment reductions over a CSR adjacency (and the edges' rows)
 * are segment kernels; a CSR node is its `col`, inlined like an elementwise op.
 */
import { ELEMENTWISE_OPS, operands, type Graph, type Node } from '../../dsl/ir.ts';
import { TesseraError, type Axis, type DType } from '../../dsl/types.ts';
import { DEFAULT_LIMITS, type DeviceLimits, type SizeExpr } from '../../program/index.ts';
import { kernelInputs, kernelOutputs, type BoundaryDecl, type BufferDecl, type FusedProgram, type HostStep, type KExpr, type KernelIR } from '../kernel-ir.ts';
import { lowerFlash } from '../lower-attention/index.ts';
import { lowerScan } from '../lower-scan.ts';
import { RECOMPUTE_LIMIT, recomputeCost } from '../schedule.ts';
import { axisEnv, axisIds, buildExpr, loadOf } from '../lower-expr.ts';


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
      // A scan's kernel reads its chunks from buffers; its initial state and captures may be inlined.
      if (node.op === 'scan') for (const o of node.xs) mustMaterialize.add(o);
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
      const c = ELEMENTWISE_OPS.has(node.op) && operands(node).length > 0 ? recomputeCost(node) + operands(node).reduce((s, o) => s + (materialized(o) ? 0 : cost.get(o) ?? 0), 0) : 0;
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
      if (node.op === 'scan') {
        steps.push(this.fuseScan(graph, node, bufferOf, label));
        continue;
      }
      if (node.op === 'loop_result') {
        bufferOf.set(node.id, this.loopCarry.get(`${scope}${node.loop}:${node.index}`)!);
        continue;
      }
      if (node.op === 'flash') {
        steps.push(...lowerFlash(graph, node, bufferOf, label, (...args) => this.newBuffer(...args), this.options.limits ?? DEFAULT_LIMITS));
        continue;
      }
      if (node.op === 'input' || node.op === 'carry' || node.op === 'capture') {
        throw new TesseraError(`fuse: ${node.op} %${node.id} has no buffer`);
      }
      const buffer = this.newBuffer(node.type.dtype, node.type.axes, 'temp', label);
      steps.push(...this.fitted(graph, node, buffer, bufferOf, materialized, label, scope));
      bufferOf.set(node.id, buffer);
    }
    return { steps, bufferOf };
  }

  /**
   * The kernel computing `node` into `buffer`, after the kernels of any inlined operand subtrees
   * it had to split off: while it binds more storage buffers than the device allows, the inlined
   * subtree that loads the most buffers gets a kernel of its own — fitted the same way, since it
   * may be too wide itself.
   */
  private fitted(graph: Graph, node: Node, buffer: number, bufferOf: Map<number, number>, materialized: (id: number) => boolean, label: string, scope: string): HostStep[] {
    const steps: HostStep[] = [];
    const forced = new Set<number>();
    const leaf = (id: number) => id !== node.id && (materialized(id) || forced.has(id));
    let kernel = this.kernelFor(graph, node, buffer, bufferOf, leaf, label);
    while (kernelBindings(kernel) > this.options.maxStorageBuffers) {
      const candidate = widestInlined(graph, node, materialized, forced);
      if (candidate === null) throw new TesseraError(`fuse: kernel ${label} needs more than ${this.options.maxStorageBuffers} storage buffers`);
      forced.add(candidate);
      const sub = graph.nodes[candidate]!;
      const subLabel = `${scope}%${candidate} ${sub.op === 'map' ? sub.fn : sub.op}`;
      const subBuffer = this.newBuffer(sub.type.dtype, sub.type.axes, 'temp', subLabel);
      steps.push(...this.fitted(graph, sub, subBuffer, bufferOf, leaf, subLabel, scope));
      bufferOf.set(candidate, subBuffer);
      kernel = this.kernelFor(graph, node, buffer, bufferOf, leaf, label);
    }
    steps.push({ kind: 'kernel', kernel });
    return steps;
  }

  private readonly loopCarry = new Map<string, number>();

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

  /**
   * A scan as one scan kernel (`lower-scan.ts`), writing the results its graph reads: each
   * `loop_result` of it gets a buffer, registered like a loop's carried values.
   */
  private fuseScan(graph: Graph, node: Extract<Node, { op: 'scan' }>, bufferOf: Map<number, number>, label: string): HostStep {
    const wanted = new Map<number, number>();
    for (const r of graph.nodes) {
      if (r.op !== 'loop_result' || r.loop !== node.id || wanted.has(r.index)) continue;
      const buffer = this.newBuffer(r.type.dtype, r.type.axes, 'temp', `${label} result ${r.index}`);
      wanted.set(r.index, buffer);
      this.loopCarry.set(`${this.scopeOf(label)}${node.id}:${r.index}`, buffer);
    }
    return { kind: 'kernel', kernel: lowerScan(graph, node, bufferOf, wanted, label, (...args) => this.newBuffer(...args)) };
  }

  private scopeOf(label: string): string {
    const cut = label.lastIndexOf('/');
    return cut < 0 ? '' : label.slice(0, cut + 1);
  }

  /** Builds the kernel computing `node` into `buffer`. */
  private kernelFor(graph: Graph, node: Node, buffer: number, bufferOf: Map<number, number>, materialized: (id: number) => boolean, name: string): KernelIR {
    const kaxis = axisIds();
    const out = { buffer, dtype: node.type.dtype, axes: node.type.axes.map(kaxis) };
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
      return { kind: 'reduce', name, fn: node.fn, out, reduced, value: build(node.arg, axisEnv([...out.axes, ...reduced])) };
    }
    if (node.op === 'contract') {
      const [ta, tb] = node.args.map((a) => graph.nodes[a]!.type) as [Node['type'], Node['type']];
      const inA = new Set(ta.axes.map((a) => a.name));
      const inB = new Set(tb.axes.map((a) => a.name));
      const batch = out.axes.filter((a) => inA.has(a.name) && inB.has(a.name));
      const m = out.axes.filter((a) => inA.has(a.name) && !inB.has(a.name));
      const n = out.axes.filter((a) => inB.has(a.name) && !inA.has(a.name));
      const k = ta.axes.filter((a) => inB.has(a.name) && !out.axes.some((o) => o.name === a.name)).map(kaxis);
      const names = axisEnv([...out.axes, ...k]);
      return { kind: 'gemm', name, out, batch, m, n, k, a: build(node.args[0]!, names), b: build(node.args[1]!, names) };
    }
    if (node.op === 'segment_reduce' || node.op === 'segment_ids') {
      const csr = graph.nodes[node.op === 'segment_ids' ? node.args[0]! : node.args[1]!] as Extract<Node, { op: 'csr' }>;
      const rowptrType = graph.nodes[csr.args[0]!]!.type;
      const row = kaxis(csr.rows);
      const edge = kaxis(graph.nodes[csr.id]!.type.axes[0]!);
      const rowptr = { k: 'load' as const, buffer: bufferOf.get(csr.args[0]!)!, dtype: 'i32' as const, axes: [{ size: rowptrType.axes[0]!.size, index: row.id }] };
      if (node.op === 'segment_ids') return { kind: 'segment', name, fn: 'ids', out, row, edge, rowptr, value: null };
      if (node.fn === 'logsumexp') throw new TesseraError('fuse: a segment logsumexp must be decomposed first');
      return { kind: 'segment', name, fn: node.fn, out, row, edge, rowptr, value: build(node.args[0]!, axisEnv([...out.axes, edge])) };
    }
    if (ELEMENTWISE_OPS.has(node.op)) return { kind: 'elementwise', name, out, value: build(node.id, axisEnv(out.axes), true) };
    throw new TesseraError(`fuse: no kernel for ${node.op} %${node.id}`);
  }
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
