/**
 * specialize: which size symbols of a traced kernel its best lowering needs static. The fused flash
 * kernel sizes its register blocks and K/V tiles by the head axes — `d`, the axes q·kᵀ contracts,
 * and `e`, the value axes not in the scores — so `match-attention` leaves a region whose head dims
 * are symbolic unfused (gemm, reduce, reduce, gemm, with an N×M buffer). A runner that knows the
 * sizes at run time (`run()`) pins exactly these symbols to the values the inputs bind and leaves
 * every other size symbolic: one program per head-dim signature serves every N, M and batch.
 *
 * A pure function of the graph. It cannot ask the passes "what would match if these were static"
 * directly, so it runs them on a copy whose symbols are all replaced by distinct small stand-in
 * numbers (none equal to a static size of the graph, none 1, so nothing broadcasts or folds that
 * would not with the real sizes), then reads the head axes of every flash region the passes found
 * and maps their stand-ins back to symbols. Head axes that are already static need no pin.
 *
 * A scan kernel sizes its on-chip locals and loops by the axes of its state and scanned tensors
 * other than the scanned and parallel ones (`scanLocalSymbols`): those are pinned too, so its
 * index arithmetic is constant.
 */
import type { Graph, Node } from '../dsl/ir.ts';
import { flashParts } from './lower-attention/flash-kernel.ts';
import { graphParts } from './lower-attention/graph-kernel.ts';
import { scanLocalSymbols } from './lower-scan.ts';
import type { Size } from '../dsl/types.ts';
import { optimizeGraph } from './index.ts';

/**
 * The symbols to pin so that every attention region of `graph` gets the fused flash lowering: the
 * symbolic sizes of each region's head axes (`d` and `e`), sorted. Empty for a graph with no
 * attention region, and for one whose head dims are static already.
 */
export function symbolsToPin(graph: Graph): string[] {
  const symbols = new Set<string>();
  const statics = new Set<number>();
  collectSizes(graph, symbols, statics);
  // A scan's chunk-length symbol is the scan's own (its node names it): it keeps its name.
  for (const chunk of chunkSymbols(graph)) symbols.delete(chunk);
  const pins = new Set<string>(scanSymbols(graph));
  if (symbols.size === 0) return [...pins].sort();

  // Distinct stand-ins, smallest first so head dims stay well inside the flash tile limits.
  const standIn = new Map<string, number>();
  const symbolOf = new Map<number, string>();
  let next = 2;
  for (const symbol of [...symbols].sort()) {
    while (statics.has(next)) next++;
    standIn.set(symbol, next);
    symbolOf.set(next, symbol);
    next++;
  }

  let optimized: Graph;
  try {
    optimized = optimizeGraph(substitute(graph, standIn) as Graph);
  } catch {
    // The probe only decides what to pin; the real compilation reports any genuine error.
    return [...pins].sort();
  }
  for (const flash of flashNodes(optimized)) {
    for (const size of headSizes(flash)) {
      if (typeof size === 'string') pins.add(size);
      else if (symbolOf.has(size)) pins.add(symbolOf.get(size)!);
    }
  }
  return [...pins].sort();
}

/** The symbols every scan of the graph (loop bodies too) sizes its locals by (`scanLocalSymbols`). */
function scanSymbols(graph: Graph): string[] {
  return graph.nodes.flatMap((node) => (node.op === 'scan' ? scanLocalSymbols(graph, node) : node.op === 'loop' ? scanSymbols(node.body) : []));
}

/** The chunk-length symbols of every scan of the graph (loop and scan bodies too). */
function chunkSymbols(graph: Graph): string[] {
  return graph.nodes.flatMap((node) => (node.op === 'scan' ? [node.size, ...chunkSymbols(node.body)] : node.op === 'loop' || node.op === 'flash' ? chunkSymbols(node.body) : []));
}

/** Every symbol and static size on an axis anywhere in the graph (loop and flash bodies too). */
function collectSizes(value: unknown, symbols: Set<string>, statics: Set<number>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectSizes(v, symbols, statics);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  if (isAxis(record)) {
    if (typeof record.size === 'string') symbols.add(record.size);
    else statics.add(record.size as number);
    return;
  }
  for (const v of Object.values(record)) collectSizes(v, symbols, statics);
}

/** A copy of the graph with every symbolic axis size replaced by its stand-in. */
function substitute(value: unknown, standIn: ReadonlyMap<string, number>): unknown {
  if (Array.isArray(value)) return value.map((v) => substitute(v, standIn));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (isAxis(record)) return typeof record.size === 'string' && standIn.has(record.size) ? { ...record, size: standIn.get(record.size)! } : record;
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, substitute(v, standIn)]));
}

/** An axis `{ name, size }` (in a tensor type, or a `size` node's axis). */
function isAxis(record: Record<string, unknown>): boolean {
  const keys = Object.keys(record);
  return keys.length === 2 && typeof record['name'] === 'string' && (typeof record['size'] === 'string' || typeof record['size'] === 'number');
}

/** The flash nodes of a graph and of its loop bodies. */
function flashNodes(graph: Graph): Extract<Node, { op: 'flash' }>[] {
  const found: Extract<Node, { op: 'flash' }>[] = [];
  for (const node of graph.nodes) {
    if (node.op === 'flash') found.push(node);
    if (node.op === 'loop' || node.op === 'scan') found.push(...flashNodes(node.body));
  }
  return found;
}

/**
 * The sizes of a flash region's head axes (d and e), as the flash lowering reads them; for graph
 * attention only the value axes (its threads own value components; the score's product loops).
 */
function headSizes(flash: Extract<Node, { op: 'flash' }>): Size[] {
  const graph = graphParts(flash.body);
  if (graph) return graph.value.map((a) => a.size);
  const parts = flashParts(flash.body, flash.axes);
  return parts ? [...parts.d, ...parts.e].map((a) => a.size) : [];
}
