/**
 * A flash node's body (see `match-attention`) as a flash kernel: Q·K, the score tree, V and the
 * softmax axis found; the validity predicate split from the score; analytic kv bounds derived,
 * with the tiled query axis chosen as one the bounds speak of.
 */
import { ELEMENTWISE_OPS, operands, type Graph, type Node } from '../../dsl/ir.ts';
import { TesseraError, type Axis } from '../../dsl/types.ts';
import type { FlashKernel, KAxis, KExpr, KOutput } from '../kernel-ir.ts';
import { axisEnv, axisIds, buildExpr, lookup } from '../lower-expr.ts';
import { kvBounds, peelValidity } from './kv-bounds.ts';

/** A flash node's captured operand: its buffer and type. */
export interface FlashArg {
  readonly buffer: number;
  readonly type: Node['type'];
}

/**
 * The parts of a flash body: node ids of the Q·K (·K…) product, Q, the keys and values (one per
 * softmax axis, in the axes' order) and the score, and the head axes.
 */
export interface FlashParts {
  readonly cId: number;
  readonly qId: number;
  readonly kIds: readonly number[];
  readonly vIds: readonly number[];
  readonly sId: number;
  /** The contracted head axes (Q's axes that every key has and the scores do not). */
  readonly d: readonly Axis[];
  /** The value axes (the first value's axes the scores do not have). */
  readonly e: readonly Axis[];
}

/**
 * The contractions the score `sId` reads through elementwise ops only (its products: `q·k`),
 * depth first in operand order.
 */
export function scoreProducts(body: Graph, sId: number): number[] {
  const found: number[] = [];
  const visit = (id: number) => {
    const n = body.nodes[id]!;
    if (n.op === 'contract') found.push(id);
    else if (ELEMENTWISE_OPS.has(n.op)) operands(n).forEach(visit);
  };
  visit(sId);
  return found;
}

/** A load of a flash body's captured operand at the kernel indices `names`. */
export function captureLoad(arg: FlashArg, names: Map<string, string>): KExpr {
  return { k: 'load', buffer: arg.buffer, dtype: arg.type.dtype, axes: arg.type.axes.map((a) => ({ size: a.size, index: lookup(names, a.name) })) };
}

/**
 * Finds the parts of a flash body over the softmax axes `axes` (`o = contract(softmax(S), V…)`, S
 * an elementwise tree over `contract(Q, K…)`), or null when the body is not of that form. The one
 * reading of a flash body: the lowerings and `symbolsToPin` (which head sizes must be static) use it.
 */
export function flashParts(body: Graph, axes: readonly string[]): FlashParts | null {
  const has = (id: number, name: string) => body.nodes[id]!.type.axes.some((a) => a.name === name);
  const oneWith = (ids: readonly number[], name: string) => {
    const found = ids.filter((id) => has(id, name));
    return found.length === 1 ? found[0]! : null;
  };
  const oNode = body.nodes[body.outputs['o']!];
  if (oNode?.op !== 'contract' || oNode.args.length !== axes.length + 1) return null;
  const pIndex = oNode.args.findIndex((a) => body.nodes[a]!.op === 'composite');
  if (pIndex < 0) return null;
  const p = body.nodes[oNode.args[pIndex]!] as Extract<Node, { op: 'composite' }>;
  const others = oNode.args.filter((_, i) => i !== pIndex);
  const vIds = axes.map((m) => (axes.length === 1 ? others[0]! : oneWith(others, m)));
  const sId = p.arg;
  const cId = scoreProducts(body, sId)[0];
  if (cId === undefined) return null;
  const c = body.nodes[cId] as Extract<Node, { op: 'contract' }>;
  if (c.args.length !== axes.length + 1) return null;
  const qId = c.args.find((id) => axes.every((m) => !has(id, m)));
  const kIds = axes.map((m) => oneWith(c.args, m));
  if (qId === undefined || kIds.some((k) => k === null) || vIds.some((v) => v === null)) return null;
  const inS = (n: string) => body.nodes[sId]!.type.axes.some((a) => a.name === n);
  const d = body.nodes[qId]!.type.axes.filter((a) => kIds.every((k) => has(k!, a.name)) && !inS(a.name));
  const e = body.nodes[vIds[0]!]!.type.axes.filter((a) => !inS(a.name));
  return { cId, qId, kIds: kIds as number[], vIds: vIds as number[], sId, d, e };
}

/**
 * What the flash and simplicial kernels build alike from a flash body over the softmax `axes`: the
 * kernel axes (rows, kv axes, head axes, batch), the outputs, the score split from its validity,
 * the Q, key and value expressions, and the tiled query axis — the last query row axis, or one the
 * analytic kv bounds speak of — with each kv axis's bounds against it.
 */
export function flashFrame(body: Graph, axes: readonly string[], args: readonly FlashArg[], oBuffer: number, lseBuffer: number | null, name: string) {
  const parts = flashParts(body, axes);
  if (!parts) throw new TesseraError(`fuse: flash node ${name} does not have the form contract(softmax(S, [${axes.join(', ')}]), V…)`);
  const { cId, qId, sId, kIds, vIds } = parts;
  const sType = body.nodes[sId]!.type;
  const inAllKeys = (n: string) => kIds.every((k) => body.nodes[k]!.type.axes.some((a) => a.name === n));

  const kaxis = axisIds();
  const rows = sType.axes.filter((a) => !axes.includes(a.name)).map(kaxis);
  const kv = axes.map((m) => kaxis(sType.axes.find((a) => a.name === m)!));
  const d = parts.d.map(kaxis);
  const e = parts.e.map(kaxis);
  const batch = rows.filter((a) => inAllKeys(a.name));
  const oType = body.nodes[body.outputs['o']!]!.type;
  const lseType = body.nodes[body.outputs['lse']!]!.type;
  const out: KOutput = { buffer: oBuffer, dtype: 'f32', axes: oType.axes.map(kaxis) };
  const lse: KOutput | null = lseBuffer === null ? null : { buffer: lseBuffer, dtype: 'f32', axes: lseType.axes.map(kaxis) };

  const leaf = (id: number, names: Map<string, string>): KExpr | null => {
    const n = body.nodes[id]!;
    if (id === cId) return { k: 'acc' };
    return n.op === 'capture' ? captureLoad(args[n.index]!, names) : null;
  };
  const { score, valid } = peelValidity(buildExpr(body, sId, axisEnv([...rows, ...kv]), leaf));
  const qrows = rows.filter((a) => !inAllKeys(a.name));
  const boundsAt = (tiled: KAxis | null) => kv.map((a) => kvBounds(valid, tiled?.id ?? null, a.id));
  let tiled: KAxis | null = qrows.length > 0 ? qrows[qrows.length - 1]! : null;
  let bounds = boundsAt(tiled);
  for (const candidate of [...qrows].reverse()) {
    const b = boundsAt(candidate);
    if (b.some((x) => [...x.lower, ...x.upper].some((y) => y.t !== 0))) {
      tiled = candidate;
      bounds = b;
      break;
    }
  }
  const slice = (t: number, head: readonly KAxis[]) => axisEnv([...batch, kv[t]!, ...head]);
  return {
    out,
    lse,
    outer: rows.filter((a) => a !== tiled),
    batch,
    tiled,
    kv,
    d,
    e,
    q: buildExpr(body, qId, axisEnv([...rows, ...d]), leaf),
    k: kIds.map((id, t) => buildExpr(body, id, slice(t, d), leaf)),
    v: vIds.map((id, t) => buildExpr(body, id, slice(t, e), leaf)),
    score,
    valid,
    bounds: bounds.map((b) => ({ lower: b.lower, upper: b.upper })),
  };
}

export function flashKernel(body: Graph, axis: string, args: readonly FlashArg[], oBuffer: number, lseBuffer: number | null, name: string): FlashKernel {
  const f = flashFrame(body, [axis], args, oBuffer, lseBuffer, name);
  return {
    kind: 'flash',
    name,
    out: f.out,
    lse: f.lse,
    outer: f.outer,
    batch: f.batch,
    tiled: f.tiled,
    kv: f.kv[0]!,
    d: f.d,
    e: f.e,
    q: f.q,
    k: f.k[0]!,
    v: f.v[0]!,
    score: f.score,
    valid: f.valid,
    lower: f.bounds[0]!.lower,
    upper: f.bounds[0]!.upper,
    split: null,
    blockMask: null,
  };
}
