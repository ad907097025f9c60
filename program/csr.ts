/**
 * Compressed sparse rows (CSR) on the host, for sparse graph attention: the neighbours of target
 * node `i` are `col[rowptr[i] .. rowptr[i + 1])`, each a source node in `[0, cols)`. A kernel that
 * walks a row reads one contiguous slice of `col`, which is why edges are stored grouped by
 * target rather than as the (target, source) pairs a graph usually arrives in.
 *
 * Everything here is a pure function on typed arrays, with no compiler, runtime or interpreter
 * behind it: both sides import `program/`, and both need to build and check these arrays.
 */
import type { Graph, Node } from '../dsl/ir.ts';
import { TesseraError, type Size } from '../dsl/types.ts';

/** A graph in CSR form, with the order its edges had before sorting. */
export interface CsrGraph {
  /** `rows + 1` offsets into `col`: row `i` is `col[rowptr[i] .. rowptr[i + 1])`. */
  readonly rowptr: Int32Array;
  /** The source node of each edge, rows in order and sources ascending within a row. */
  readonly col: Int32Array;
  /** The number of target nodes. */
  readonly rows: number;
  /** The number of source nodes (equal to `rows` for a graph attending to itself). */
  readonly cols: number;
  /**
   * `perm[e]` is where CSR edge `e` came from in the caller's input (its index in the edge list,
   * or its flat index `i * cols + j` in a dense adjacency), so per-edge features given in the
   * caller's order can be put in CSR order (`permuteEdges`).
   */
  readonly perm: Int32Array;
}

/** The largest count an Int32Array offset or index can hold. */
const INT32_MAX = 2147483647;

function checkShape(what: string, shape: { rows: number; cols: number }): void {
  for (const key of ['rows', 'cols'] as const) {
    const n = shape[key];
    if (!Number.isInteger(n) || n < 0) throw new TesseraError(`${what}: ${key} must be a whole number >= 0, got ${n}`);
    if (n > INT32_MAX) throw new TesseraError(`${what}: ${key} = ${n} does not fit an Int32Array index (at most ${INT32_MAX})`);
  }
}

/** Reads node indices into an Int32Array, checking each is a whole number in `[0, size)`. */
function nodeIndices(what: string, name: string, values: ArrayLike<number>, size: number): Int32Array {
  const out = new Int32Array(values.length);
  for (let e = 0; e < values.length; e++) {
    const v = values[e]!;
    if (!Number.isInteger(v)) throw new TesseraError(`${what}: ${name}[${e}] = ${v} is not a whole number`);
    if (v < 0 || v >= size) throw new TesseraError(`${what}: ${name}[${e}] = ${v} is outside [0, ${size})`);
    out[e] = v;
  }
  return out;
}

/**
 * CSR from an edge list: edge `e` lets target `target[e]` (in `[0, rows)`) attend to source
 * `source[e]` (in `[0, cols)`), in any order. The result is sorted by target, then source; equal
 * pairs are kept (a multigraph's parallel edges are separate edges) in their input order, so
 * `perm` is deterministic. O(rows + cols + E): two stable counting sorts, by source and then by
 * target.
 */
export function csrFromCoo(target: ArrayLike<number>, source: ArrayLike<number>, shape: { rows: number; cols: number }): CsrGraph {
  const what = 'csrFromCoo';
  checkShape(what, shape);
  const { rows, cols } = shape;
  if (target.length !== source.length) {
    throw new TesseraError(`${what}: target has ${target.length} entries but source has ${source.length}; edge e is the pair (target[e], source[e])`);
  }
  const edges = target.length;
  if (edges > INT32_MAX) throw new TesseraError(`${what}: ${edges} edges do not fit Int32Array offsets (at most ${INT32_MAX})`);
  const t = nodeIndices(what, 'target', target, rows);
  const s = nodeIndices(what, 'source', source, cols);

  // Pass 1, by source: a stable order in which sources ascend.
  const bySource = new Int32Array(edges);
  const next = new Int32Array(cols + 1);
  for (let e = 0; e < edges; e++) next[s[e]! + 1]!++;
  for (let j = 0; j < cols; j++) next[j + 1]! += next[j]!;
  for (let e = 0; e < edges; e++) bySource[next[s[e]!]!++] = e;

  // Pass 2, by target, stable: sources stay ascending within a row, equal pairs in input order.
  const rowptr = new Int32Array(rows + 1);
  for (let e = 0; e < edges; e++) rowptr[t[e]! + 1]!++;
  for (let i = 0; i < rows; i++) rowptr[i + 1]! += rowptr[i]!;
  const fill = rowptr.slice(0, rows);
  const perm = new Int32Array(edges);
  for (let k = 0; k < edges; k++) {
    const e = bySource[k]!;
    perm[fill[t[e]!]!++] = e;
  }
  const col = new Int32Array(edges);
  for (let k = 0; k < edges; k++) col[k] = s[perm[k]!]!;
  return { rowptr, col, rows, cols, perm };
}

/**
 * CSR from a dense row-major `rows × cols` adjacency: an entry that is nonzero or `true` is an
 * edge (row `i` attends to column `j`), 0 or `false` is none. `perm` holds each edge's flat index
 * `i * cols + j`, so `permuteEdges` picks per-edge values out of a dense `[lead, rows × cols]`
 * array. A NaN entry is an error: it is neither an edge nor clearly not one.
 */
export function csrFromDense(adjacency: ArrayLike<number | boolean>, shape: { rows: number; cols: number }): CsrGraph {
  const what = 'csrFromDense';
  checkShape(what, shape);
  const { rows, cols } = shape;
  if (adjacency.length !== rows * cols) {
    throw new TesseraError(`${what}: adjacency has ${adjacency.length} entries; a ${rows} × ${cols} graph needs ${rows * cols}`);
  }
  let edges = 0;
  for (let f = 0; f < adjacency.length; f++) {
    const v = adjacency[f]!;
    if (typeof v === 'number' && Number.isNaN(v)) {
      throw new TesseraError(`${what}: adjacency[${f}] (row ${Math.floor(f / cols)}, column ${f % cols}) is NaN; an entry must be 0/false (no edge) or nonzero/true (an edge)`);
    }
    if (v !== 0 && v !== false) edges++;
  }
  if (edges > INT32_MAX) throw new TesseraError(`${what}: ${edges} edges do not fit Int32Array offsets (at most ${INT32_MAX})`);
  const rowptr = new Int32Array(rows + 1);
  const col = new Int32Array(edges);
  const perm = new Int32Array(edges);
  let e = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0, f = i * cols; j < cols; j++, f++) {
      const v = adjacency[f]!;
      if (v !== 0 && v !== false) {
        col[e] = j;
        perm[e] = f;
        e++;
      }
    }
    rowptr[i + 1] = e;
  }
  return { rowptr, col, rows, cols, perm };
}

/**
 * Puts per-edge values in CSR order: `values` is `[lead, S]` row-major in the caller's order (an
 * `edge_bias [H, E]` has lead H; S is `values.length / lead`), the result `[lead, perm.length]`
 * with `out[h, e] = values[h, perm[e]]`. For a `CsrGraph` from `csrFromCoo`, S is the edge count;
 * from `csrFromDense`, S is `rows × cols` and the dense values are gathered at the edges.
 */
export function permuteEdges(values: ArrayLike<number>, perm: Int32Array, lead = 1): Float32Array {
  const what = 'permuteEdges';
  if (!Number.isInteger(lead) || lead < 1) throw new TesseraError(`${what}: lead must be a whole number >= 1, got ${lead}`);
  if (values.length % lead !== 0) throw new TesseraError(`${what}: values has ${values.length} entries, not a multiple of lead = ${lead}`);
  const stride = values.length / lead;
  const edges = perm.length;
  for (let e = 0; e < edges; e++) {
    const p = perm[e]!;
    if (p < 0 || p >= stride) throw new TesseraError(`${what}: perm[${e}] = ${p} is outside [0, ${stride}) (values holds ${stride} entries per lead row)`);
  }
  const out = new Float32Array(lead * edges);
  for (let h = 0; h < lead; h++) {
    const from = h * stride;
    const to = h * edges;
    for (let e = 0; e < edges; e++) out[to + e] = values[from + perm[e]!]!;
  }
  return out;
}

/** Whether every element of an array is known to be a whole number without looking at it. */
function holdsIntegers(a: ArrayLike<number>): boolean {
  return a instanceof Int32Array || a instanceof Uint32Array || a instanceof Int16Array || a instanceof Uint16Array || a instanceof Int8Array || a instanceof Uint8Array;
}

/**
 * Checks CSR arrays a caller built (or received) before they reach a kernel, which would read
 * out of bounds on a bad offset. Returns null when they describe a graph of `rows` targets over
 * `cols` sources, else the first problem found, as a sentence to prefix with context. Checked in
 * this order: bad `rows`/`cols`, the length of `rowptr`, `rowptr[0]`, offsets that decrease (or
 * are not whole numbers), `rowptr[rows]` against the length of `col`, then each `col` entry's
 * range (or wholeness). O(rows + E) in plain loops, and integer typed arrays skip the wholeness
 * tests.
 */
export function checkCsr(rowptr: ArrayLike<number>, col: ArrayLike<number>, rows: number, cols: number): string | null {
  if (!Number.isInteger(rows) || rows < 0) return `rows must be a whole number >= 0, got ${rows}`;
  if (!Number.isInteger(cols) || cols < 0) return `cols must be a whole number >= 0, got ${cols}`;
  if (rowptr.length !== rows + 1) return `rowptr has ${rowptr.length} entries; a graph of ${rows} target nodes needs ${rows + 1}`;
  if (rowptr[0] !== 0) return `rowptr[0] is ${rowptr[0]}; it must be 0`;
  const wholeOffsets = holdsIntegers(rowptr);
  for (let i = 0; i < rows; i++) {
    const a = rowptr[i]!;
    const b = rowptr[i + 1]!;
    if (!wholeOffsets && !Number.isInteger(b)) return `rowptr[${i + 1}] = ${b} is not a whole number`;
    if (a > b) return `rowptr decreases at ${i}: rowptr[${i}] = ${a} > rowptr[${i + 1}] = ${b}`;
  }
  const last = rowptr[rows]!;
  if (last !== col.length) return `rowptr[${rows}] is ${last} but col has ${col.length} entries`;
  const wholeColumns = holdsIntegers(col);
  for (let e = 0; e < col.length; e++) {
    const c = col[e]!;
    if (!wholeColumns && !Number.isInteger(c)) return `col[${e}] = ${c} is not a whole number`;
    if (c < 0 || c >= cols) return `col[${e}] = ${c} is outside [0, ${cols})`;
  }
  return null;
}

/**
 * The error text for a CSR adjacency that fails `checkCsr`, naming the inputs that hold it; the
 * interpreter and the runtime give the same text for the same bad graph.
 */
export function csrProblem(names: { readonly rowptr: string; readonly col: string }, problem: string): string {
  return `csr(rowptr '${names.rowptr}', col '${names.col}'): ${problem}`;
}

/** A CSR adjacency a program reads: its two input tensors and the node counts it is checked against. */
export interface CsrInputs {
  readonly rowptr: string;
  readonly col: string;
  readonly rows: Size;
  readonly cols: Size;
}

/**
 * The names of the inputs a CSR node of `graph` reads (`%id` for an operand that is not an input,
 * which the DSL does not build), for its checks and their errors.
 */
export function csrInputNames(graph: Graph, node: Extract<Node, { op: 'csr' }>): { rowptr: string; col: string } {
  const name = (id: number) => {
    const n = graph.nodes[id]!;
    return n.op === 'input' ? n.name : `%${id}`;
  };
  return { rowptr: name(node.args[0]!), col: name(node.args[1]!) };
}

/**
 * The CSR adjacencies of a traced graph (a Program's `graph`): every `csr` node, whose operands
 * the DSL requires to be kernel inputs. The runtime checks each before a run.
 */
export function csrInputs(graph: Graph): CsrInputs[] {
  const found: CsrInputs[] = [];
  for (const node of graph.nodes) {
    if (node.op !== 'csr' || !node.args.every((id) => graph.nodes[id]?.op === 'input')) continue;
    const names = csrInputNames(graph, node);
    if (!found.some((c) => c.rowptr === names.rowptr && c.col === names.col)) found.push({ ...names, rows: node.rows.size, cols: node.cols });
  }
  return found;
}
