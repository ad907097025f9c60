/**
 * match-attention: find the attention pattern — `contract(softmax(S, m), V)` summing over `m`,
 * where S is an elementwise expression (score modifiers, masks) over one `contract(Q, K)` — and
 * replace it (and any `logsumexp(S, m)` beside it) by `flash` nodes whose body is the matched
 * subgraph, so the fuser emits one flash kernel and no N×M tensor ever exists. The same with a
 * softmax jointly over several axes, `contract(softmax(S, [j, l]), V1, V2)` over
 * `contract(Q, K1, K2)` (2-simplicial attention): one fused kernel, no N×N×N tensor. Elementwise
 * prologues of Q, K and V come along into the body so they are fused too. A region whose head
 * dims are symbolic, or too large for a K/V tile in workgroup memory, is left unfused. Over a sparse
 * graph, `segment_sum(segment_softmax(S, g) · W, g)` (graph attention over a CSR adjacency g) is
 * matched the same way: one fused kernel, no per-edge tensor.
 */
import { ELEMENTWISE_OPS, operands, type Graph, type Node } from '../../dsl/ir.ts';
import { TesseraError, type Size } from '../../dsl/types.ts';
import { staticProduct } from '../kernel-ir.ts';
import { copyNode, eliminateDeadNodes, GraphWriter } from '../rewrite.ts';

/** Head dims (d + dv) above this do not fit a useful K/V tile in 16 KiB of workgroup memory. */
const MAX_FLASH_HEAD_DIMS = 1024;

interface Match {
  readonly o: number;
  readonly lse: readonly number[];
  /** The softmax axes (one; or the pair of 2-simplicial attention). */
  readonly axes: readonly string[];
  /** Nodes of the region, in id order. */
  readonly region: readonly number[];
  /** Outer nodes the region reads, in capture order. */
  readonly leaves: readonly number[];
  readonly scoreRoot: number;
  /** Graph attention: the CSR node whose edges the softmax runs over. */
  readonly csr?: number;
}

function axisSet(node: Node): Set<string> {
  return new Set(node.type.axes.map((a) => a.name));
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/**
 * The elementwise subtree under `root` (root included): its nodes and the leaves it reads. Gather
 * tables are always leaves: they are read at computed positions, so they must be buffers.
 */
function elementwiseTree(graph: Graph, root: number): { nodes: Set<number>; leaves: Set<number> } {
  const stopAt = new Set(graph.nodes.flatMap((n) => (n.op === 'gather' ? [n.args[0]!] : [])));
  const nodes = new Set<number>();
  const leaves = new Set<number>();
  const visit = (id: number) => {
    if (nodes.has(id) || leaves.has(id)) return;
    const n = graph.nodes[id]!;
    if (stopAt.has(id) || !ELEMENTWISE_OPS.has(n.op)) {
      leaves.add(id);
      return;
    }
    nodes.add(id);
    for (const o of operands(n)) visit(o);
  };
  visit(root);
  return { nodes, leaves };
}

/** The sizes of the named axes of node `id`. */
function sizesOf(graph: Graph, id: number, names: readonly string[]): Size[] {
  return names.map((name) => graph.nodes[id]!.type.axes.find((a) => a.name === name)!.size);
}

/** The operand of `ids` with axis `name`, when exactly one has it. */
function theOneWith(graph: Graph, ids: readonly number[], name: string): number | null {
  const found = ids.filter((id) => axisSet(graph.nodes[id]!).has(name));
  return found.length === 1 ? found[0]! : null;
}

/**
 * The attention pattern at `o`, or null. With one softmax axis m: `o = contract(P, V)`; with
 * several (2-simplicial attention, the joint softmax over (j, l)): `o = contract(P, V_j, V_l)`,
 * one value operand per softmax axis, and the score a product `contract(Q, K_j, K_l)`, one key per
 * axis. Each key and value reads its own softmax axis, batch axes and head axes only.
 */
function matchAt(graph: Graph, o: Node): Match | null {
  if (o.op !== 'contract') return null;
  const pIndex = o.args.findIndex((id) => {
    const n = graph.nodes[id]!;
    return n.op === 'composite' && n.fn === 'softmax';
  });
  if (pIndex < 0) return null;
  const pId = o.args[pIndex]!;
  const p = graph.nodes[pId] as Extract<Node, { op: 'composite' }>;
  const softAxes = p.axes;
  const others = o.args.filter((_, i) => i !== pIndex);
  if (others.length !== softAxes.length) return null;
  const vIds = softAxes.map((m) => theOneWith(graph, others, m));
  if (vIds.some((v) => v === null) || new Set(vIds).size !== vIds.length) return null;
  // The contraction sums exactly the softmax axes.
  const union = new Set([...axisSet(p), ...others.flatMap((v) => [...axisSet(graph.nodes[v]!)])]);
  const kept = axisSet(o);
  const summed = new Set([...union].filter((x) => !kept.has(x)));
  if (!sameSet(summed, new Set(softAxes))) return null;
  // S: an elementwise tree over exactly one Q·K (·K...) contraction with S's axes.
  const sId = p.arg;
  const sAxes = axisSet(graph.nodes[sId]!);
  const score = elementwiseTree(graph, sId);
  const contracts = [...score.leaves].filter((id) => {
    const n = graph.nodes[id]!;
    return n.op === 'contract' && n.args.length === softAxes.length + 1 && sameSet(axisSet(n), sAxes);
  });
  if (contracts.length !== 1) return null;
  const cId = contracts[0]!;
  const c = graph.nodes[cId] as Extract<Node, { op: 'contract' }>;
  const qCandidates = c.args.filter((id) => softAxes.every((m) => !axisSet(graph.nodes[id]!).has(m)));
  if (qCandidates.length !== 1) return null;
  const qId = qCandidates[0]!;
  const kIds = softAxes.map((m) => theOneWith(graph, c.args, m));
  if (kIds.some((k) => k === null) || new Set(kIds).size !== kIds.length) return null;
  const q = axisSet(graph.nodes[qId]!);
  const keys = kIds.map((k) => axisSet(graph.nodes[k!]!));
  const d = [...q].filter((x) => keys.every((k) => k.has(x)) && !sAxes.has(x));
  if (d.length === 0) return null;
  const rows = [...sAxes].filter((x) => !softAxes.includes(x));
  const batch = rows.filter((x) => keys.every((k) => k.has(x)));
  const values = vIds.map((v) => axisSet(graph.nodes[v!]!));
  const e = [...values[0]!].filter((x) => !sAxes.has(x));
  // Keys and values may vary with batch axes only (their tiles are shared by a workgroup's rows);
  // with several softmax axes each reads its own, and the values share one value head.
  const own = (set: Set<string>, t: number, head: readonly string[]) =>
    [...set].every((x) => x === softAxes[t] || head.includes(x) || batch.includes(x)) && (softAxes.length === 1 || [...set].filter((x) => softAxes.includes(x)).length === 1);
  if (!values.every((v, t) => own(v, t, e))) return null;
  if (softAxes.length > 1) {
    if (!keys.every((k, t) => own(k, t, d))) return null;
    if (!values.every((v) => sameSet(new Set([...v].filter((x) => !sAxes.has(x))), new Set(e)))) return null;
  }
  // Static head dims, small enough for a tile.
  const dSize = staticProduct(sizesOf(graph, qId, d));
  const eSize = staticProduct(sizesOf(graph, vIds[0]!, e));
  if (dSize === null || eSize === null || dSize + eSize > MAX_FLASH_HEAD_DIMS) return null;
  if (vIds.some((v) => graph.nodes[v!]!.type.dtype !== 'f32') || c.type.dtype !== 'f32') return null;

  const lse = graph.nodes
    .filter((n) => n.op === 'reduce' && n.fn === 'logsumexp' && n.arg === sId && sameSet(new Set(n.axes), new Set(softAxes)) && n.axes.length === softAxes.length)
    .map((n) => n.id);
  // The region: O, P, the score tree, C, and the elementwise prologues of Q, the keys and values.
  const region = new Set<number>([o.id, pId, cId, ...lse, ...score.nodes]);
  const leaves = new Set<number>();
  for (const root of [qId, ...kIds, ...vIds] as number[]) {
    const tree = elementwiseTree(graph, root);
    tree.nodes.forEach((n) => region.add(n));
    tree.leaves.forEach((l) => leaves.add(l));
  }
  score.leaves.forEach((l) => {
    if (l !== cId) leaves.add(l);
  });
  for (const id of region) leaves.delete(id);
  return { o: o.id, lse, axes: softAxes, region: [...region].sort((x, y) => x - y), leaves: [...leaves].sort((x, y) => x - y), scoreRoot: sId };
}

/**
 * Graph attention at `o`, or null: `o = segment_sum(segment_softmax(S, g) · W, g)` over one CSR
 * adjacency g, S an elementwise tree over at most one two-operand product (`q·k` of gathered node
 * features) and per-edge leaves, W a per-edge message with static value axes. The body carries the
 * CSR node, so the interpreter runs it by definition and the lowering finds `rowptr`.
 */
function matchGraphAt(graph: Graph, o: Node): Match | null {
  if (o.op !== 'segment_reduce' || o.fn !== 'sum') return null;
  const x = graph.nodes[o.args[0]!]!;
  if (x.op !== 'map' || x.fn !== 'mul' || x.args.length !== 2) return null;
  const pAt = x.args.findIndex((a) => graph.nodes[a]!.op === 'segment_softmax');
  const csrId = o.args[1]!;
  const p = graph.nodes[x.args[pAt] ?? -1];
  if (p?.op !== 'segment_softmax' || p.args[1] !== csrId) return null;
  const sId = p.args[0]!;
  const wId = x.args[1 - pAt]!;
  const sAxes = axisSet(graph.nodes[sId]!);
  const value = graph.nodes[wId]!.type.axes.filter((a) => !sAxes.has(a.name));
  const valueSize = staticProduct(value.map((a) => a.size));
  if (valueSize === null || valueSize > MAX_FLASH_HEAD_DIMS || graph.nodes[wId]!.type.dtype !== 'f32') return null;
  const score = elementwiseTree(graph, sId);
  const products = [...score.leaves].filter((id) => graph.nodes[id]!.op === 'contract');
  if (products.length > 1) return null;
  const c = products.length === 1 ? (graph.nodes[products[0]!] as Extract<Node, { op: 'contract' }>) : null;
  if (c && (c.args.length !== 2 || !sameSet(axisSet(c), sAxes))) return null;
  const lse = graph.nodes.filter((n) => n.op === 'segment_reduce' && n.fn === 'logsumexp' && n.args[0] === sId && n.args[1] === csrId).map((n) => n.id);
  const region = new Set<number>([o.id, x.id, p.id, csrId, ...lse, ...score.nodes, ...(c ? [c.id] : [])]);
  const leaves = new Set<number>(score.leaves);
  for (const root of [...(c ? c.args : []), wId]) {
    const tree = elementwiseTree(graph, root);
    tree.nodes.forEach((n) => region.add(n));
    tree.leaves.forEach((l) => leaves.add(l));
  }
  // The adjacency's own nodes come along (the kernel reads the edge's row and col from them).
  for (const l of [...leaves]) {
    const n = graph.nodes[l]!;
    if (n.op === 'segment_ids' && n.args[0] === csrId) region.add(l);
  }
  const adjacency = graph.nodes[csrId]!;
  if (adjacency.op === 'csr') adjacency.args.forEach((a) => leaves.add(a));
  for (const id of region) leaves.delete(id);
  const edge = graph.nodes[csrId]!.type.axes[0]!.name;
  return { o: o.id, lse, axes: [edge], region: [...region].sort((a, b) => a - b), leaves: [...leaves].sort((a, b) => a - b), scoreRoot: sId, csr: csrId };
}

/** Builds a match's body graph: captures for the leaves, the region copied, outputs o and lse. */
function bodyOf(graph: Graph, match: Match): Graph {
  const out = new GraphWriter();
  const ids = new Map<number, number>();
  match.leaves.forEach((leaf, index) => ids.set(leaf, out.add({ op: 'capture', index, type: graph.nodes[leaf]!.type })));
  for (const id of match.region) ids.set(id, copyNode(graph.nodes[id]!, out, (old) => ids.get(old)!));
  let lse = match.lse.length > 0 ? ids.get(match.lse[0]!)! : undefined;
  if (lse === undefined) {
    const s = ids.get(match.scoreRoot)!;
    const sType = out.type(s);
    if (match.csr !== undefined) {
      const g = ids.get(match.csr)!;
      const rows = (out.nodes[g] as Extract<Node, { op: 'csr' }>).rows;
      lse = out.add({ op: 'segment_reduce', fn: 'logsumexp', args: [s, g], axis: match.axes[0]!, type: { dtype: 'f32', axes: sType.axes.map((a) => (a.name === match.axes[0] ? rows : a)) } });
    } else {
      lse = out.add({ op: 'reduce', fn: 'logsumexp', arg: s, axes: match.axes, type: { dtype: 'f32', axes: sType.axes.filter((x) => !match.axes.includes(x.name)) } });
    }
  }
  return eliminateDeadNodes({ nodes: out.nodes, outputs: { o: ids.get(match.o)!, lse } });
}

function transform(graph: Graph): Graph {
  const nodes = graph.nodes.map((n) => (n.op === 'loop' || n.op === 'scan' ? { ...n, body: transform(n.body) } : n));
  const g: Graph = { nodes, outputs: graph.outputs };
  const replace = new Map<number, { output: 'o' | 'lse'; match: Match; body: Graph }>();
  for (const node of g.nodes) {
    const match = matchAt(g, node) ?? matchGraphAt(g, node);
    if (!match || replace.has(match.o)) continue;
    const body = bodyOf(g, match);
    replace.set(match.o, { output: 'o', match, body });
    for (const l of match.lse) replace.set(l, { output: 'lse', match, body });
  }
  if (replace.size === 0) return g;
  const out = new GraphWriter();
  const ids = new Map<number, number>();
  const map = (old: number) => {
    const id = ids.get(old);
    if (id === undefined) throw new TesseraError(`match-attention: %${old} used before it was written`);
    return id;
  };
  for (const node of g.nodes) {
    const r = replace.get(node.id);
    if (r) {
      ids.set(node.id, out.add({ op: 'flash', output: r.output, args: r.match.leaves.map(map), axes: r.match.axes, body: r.body, type: node.type }));
    } else if (node.op === 'loop') {
      ids.set(node.id, out.add({ ...node, init: node.init.map(map), captures: node.captures.map(map) }));
    } else if (node.op === 'scan') {
      ids.set(node.id, out.add({ ...node, xs: node.xs.map(map), init: node.init.map(map), captures: node.captures.map(map) }));
    } else {
      ids.set(node.id, copyNode(node, out, map));
    }
  }
  return eliminateDeadNodes({ nodes: out.nodes, outputs: Object.fromEntries(Object.entries(g.outputs).map(([k, v]) => [k, map(v)])) });
}

/** Replaces every attention region (in loop bodies too) by flash nodes. */
export function matchAttention(graph: Graph): Graph {
  return transform(graph);
}
