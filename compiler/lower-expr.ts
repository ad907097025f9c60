/**
 * From Tensor IR to kernel scalar expressions, shared by the fuser and the attention lowering:
 * kernel axis ids for named axes, loads of materialised nodes, and elementwise trees inlined
 * into one expression.
 */
import type { Graph } from '../dsl/ir.ts';
import { TesseraError, type Axis } from '../dsl/types.ts';
import type { KAxis, KExpr } from './kernel-ir.ts';

/** Gives each axis name a kernel axis id (`a0`, `a1`, ...) in order of first use. */
export function axisIds(): (axis: Axis) => KAxis {
  const ids = new Map<string, string>();
  return (axis) => {
    let id = ids.get(axis.name);
    if (id === undefined) ids.set(axis.name, (id = `a${ids.size}`));
    return { id, name: axis.name, size: axis.size };
  };
}

/** Axis name → kernel axis id, for `buildExpr`. */
export function axisEnv(axes: readonly KAxis[]): Map<string, string> {
  return new Map(axes.map((a) => [a.name, a.id]));
}

export function lookup(names: Map<string, string>, axis: string): string {
  const id = names.get(axis);
  if (id === undefined) throw new TesseraError(`fuse: axis '${axis}' is not an iteration axis here`);
  return id;
}

/** Stands for a gathered axis while its table's load is built (never a kernel axis id). */
const GATHERED = '<gathered>';

/** A load of a materialised node's buffer at the kernel's indices for its axes. */
export function loadOf(graph: Graph, id: number, bufferOf: Map<number, number>, names: Map<string, string>): KExpr {
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
    case 'csr':
      // The adjacency's value is its `col` (checked by the runtime before the run).
      return buildExpr(graph, n.args[1]!, names, leaf);
    case 'relabel': {
      const argAxes = graph.nodes[n.arg]!.type.axes;
      const inner = new Map(argAxes.map((a, i) => [a.name, lookup(names, n.names[i]!)]));
      return buildExpr(graph, n.arg, inner, leaf);
    }
    default:
      throw new TesseraError(`fuse: cannot inline ${n.op} %${id}`);
  }
}
