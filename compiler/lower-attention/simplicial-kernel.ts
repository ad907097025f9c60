/**
 * A flash node over several softmax axes (2-simplicial attention) as a simplicial kernel: Q, the
 * keys and values (one per axis), the score tree and its validity found; analytic bounds on each
 * kv axis derived against the tiled query axis.
 */
import type { Graph, Node } from '../../dsl/ir.ts';
import { TesseraError } from '../../dsl/types.ts';
import type { KAxis, KExpr, KOutput, SimplicialKernel } from '../kernel-ir.ts';
import { axisEnv, axisIds, buildExpr, lookup } from '../lower-expr.ts';
import { flashParts } from './flash-kernel.ts';
import { kvBounds, peelValidity } from './kv-bounds.ts';

export function simplicialKernel(
  body: Graph,
  axes: readonly string[],
  args: readonly { readonly buffer: number; readonly type: Node['type'] }[],
  oBuffer: number,
  lseBuffer: number | null,
  name: string,
): SimplicialKernel {
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
    if (n.op === 'capture') {
      const arg = args[n.index]!;
      return { k: 'load', buffer: arg.buffer, dtype: n.type.dtype, axes: n.type.axes.map((a) => ({ size: a.size, index: lookup(names, a.name) })) };
    }
    return null;
  };
  const { score, valid } = peelValidity(buildExpr(body, sId, axisEnv([...rows, ...kv]), leaf));
  // The tiled query axis: the last query row axis, or one the bounds speak of.
  const qrows = rows.filter((a) => !inAllKeys(a.name));
  const boundsAt = (tiled: KAxis | null) => kv.map((a) => kvBounds(valid, tiled?.id ?? null, a.id));
  const speaks = (b: ReturnType<typeof boundsAt>) => b.some((x) => [...x.lower, ...x.upper].some((y) => y.t !== 0));
  let tiled: KAxis | null = qrows.length > 0 ? qrows[qrows.length - 1]! : null;
  let bounds = boundsAt(tiled);
  for (const candidate of [...qrows].reverse()) {
    const b = boundsAt(candidate);
    if (speaks(b)) {
      tiled = candidate;
      bounds = b;
      break;
    }
  }
  const sliceEnv = (t: number, head: readonly KAxis[]) => axisEnv([...batch, kv[t]!, ...head]);
  return {
    kind: 'simplicial',
    name,
    out,
    lse,
    outer: rows.filter((a) => a !== tiled),
    batch,
    tiled,
    kv,
    d,
    e,
    q: buildExpr(body, qId, axisEnv([...rows, ...d]), leaf),
    k: kIds.map((id, t) => buildExpr(body, id, sliceEnv(t, d), leaf)),
    v: vIds.map((id, t) => buildExpr(body, id, sliceEnv(t, e), leaf)),
    score,
    valid,
    bounds: bounds.map((b) => ({ lower: b.lower, upper: b.upper })),
  };
}
