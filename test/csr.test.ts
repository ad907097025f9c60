/**
 * Host-side CSR for sparse graph attention: edge lists and dense adjacencies into CSR (checked
 * against a plain sort on seeded random graphs with empty rows, parallel edges and rows ≠ cols),
 * per-edge values carried into CSR order, and every message `checkCsr` and the constructors give.
 */
import { describe, expect, it } from 'vitest';
import { expectError } from './helpers.ts';
import { seededRandom } from '../bench/random.ts';
import { checkCsr, csrFromCoo, csrFromDense, permuteEdges, type CsrGraph } from '../program/index.ts';

interface Coo {
  readonly target: number[];
  readonly source: number[];
}

/** `edges` random edges of a rows × cols graph (parallel edges likely when cols is small). */
function randomCoo(seed: number, rows: number, cols: number, edges: number): Coo {
  const rand = seededRandom(seed);
  const target: number[] = [];
  const source: number[] = [];
  for (let e = 0; e < edges; e++) {
    target.push(Math.floor(rand() * rows));
    source.push(Math.floor(rand() * cols));
  }
  return { target, source };
}

/** The CSR edge order by a plain comparison sort: target, then source, then input position. */
function referenceOrder({ target, source }: Coo): number[] {
  return target.map((_, e) => e).sort((a, b) => target[a]! - target[b]! || source[a]! - source[b]! || a - b);
}

/** The target node of each CSR edge, read back from rowptr. */
function rowOfEdge(csr: CsrGraph): number[] {
  const rows: number[] = [];
  for (let i = 0; i < csr.rows; i++) for (let e = csr.rowptr[i]!; e < csr.rowptr[i + 1]!; e++) rows.push(i);
  return rows;
}

describe('csrFromCoo', () => {
  const graphs: [string, number, number, number, number][] = [
    // name, seed, rows, cols, edges
    ['a square graph', 1, 10, 10, 40],
    ['many empty rows', 2, 50, 7, 12],
    ['parallel edges (few sources)', 3, 6, 2, 60],
    ['more sources than targets', 4, 5, 31, 70],
    ['more targets than sources', 5, 31, 5, 70],
    ['one node', 6, 1, 1, 5],
    ['no edges', 7, 4, 3, 0],
  ];
  for (const [name, seed, rows, cols, edges] of graphs) {
    it(`sorts ${name} (${rows}×${cols}, ${edges} edges) by target then source, stably`, () => {
      const coo = randomCoo(seed, rows, cols, edges);
      const csr = csrFromCoo(coo.target, coo.source, { rows, cols });
      expect(checkCsr(csr.rowptr, csr.col, rows, cols)).toBeNull();
      expect([csr.rows, csr.cols]).toEqual([rows, cols]);
      expect(csr.rowptr).toBeInstanceOf(Int32Array);
      expect(csr.col).toBeInstanceOf(Int32Array);
      expect(csr.perm).toBeInstanceOf(Int32Array);
      const order = referenceOrder(coo);
      expect(Array.from(csr.perm)).toEqual(order);
      expect(Array.from(csr.col)).toEqual(order.map((e) => coo.source[e]));
      expect(rowOfEdge(csr)).toEqual(order.map((e) => coo.target[e]));
    });
  }

  it('keeps parallel edges as separate edges, in input order', () => {
    const csr = csrFromCoo([1, 0, 1, 1, 0], [2, 1, 0, 2, 1], { rows: 3, cols: 3 });
    expect(Array.from(csr.rowptr)).toEqual([0, 2, 5, 5]);
    expect(Array.from(csr.col)).toEqual([1, 1, 0, 2, 2]);
    expect(Array.from(csr.perm)).toEqual([1, 4, 2, 0, 3]);
  });

  it('accepts typed arrays and a graph with no nodes', () => {
    const csr = csrFromCoo(Int32Array.from([2, 0]), Uint32Array.from([0, 1]), { rows: 3, cols: 2 });
    expect(Array.from(csr.rowptr)).toEqual([0, 1, 1, 2]);
    expect(Array.from(csr.col)).toEqual([1, 0]);
    const empty = csrFromCoo([], [], { rows: 0, cols: 0 });
    expect(Array.from(empty.rowptr)).toEqual([0]);
    expect(empty.col.length).toBe(0);
  });

  it('names the offending entry or size in its errors', () => {
    const shape = { rows: 4, cols: 16 };
    expectError(() => csrFromCoo([0, 1, 2], [0, 1], shape), 'csrFromCoo: target has 3 entries but source has 2; edge e is the pair (target[e], source[e])');
    expectError(() => csrFromCoo([0, 1, 2, 3], [0, 1, 2, 17], shape), 'csrFromCoo: source[3] = 17 is outside [0, 16)');
    expectError(() => csrFromCoo([0, 4], [0, 1], shape), 'csrFromCoo: target[1] = 4 is outside [0, 4)');
    expectError(() => csrFromCoo([0, -1], [0, 1], shape), 'csrFromCoo: target[1] = -1 is outside [0, 4)');
    expectError(() => csrFromCoo([0, 1.5], [0, 1], shape), 'csrFromCoo: target[1] = 1.5 is not a whole number');
    expectError(() => csrFromCoo([0, 1], [NaN, 1], shape), 'csrFromCoo: source[0] = NaN is not a whole number');
    expectError(() => csrFromCoo([], [], { rows: -1, cols: 2 }), 'csrFromCoo: rows must be a whole number >= 0, got -1');
    expectError(() => csrFromCoo([], [], { rows: 2, cols: 2.5 }), 'csrFromCoo: cols must be a whole number >= 0, got 2.5');
    expectError(() => csrFromCoo([], [], { rows: 2 ** 31, cols: 2 }), 'csrFromCoo: rows = 2147483648 does not fit an Int32Array index (at most 2147483647)');
  });
});

describe('csrFromDense', () => {
  it('finds the nonzero entries row by row, with their flat indices as perm', () => {
    const csr = csrFromDense([0, 1, 0, 2, 0, 0, 0, 0, -1, 0.5, 0, 0], { rows: 3, cols: 4 });
    expect(Array.from(csr.rowptr)).toEqual([0, 2, 2, 4]);
    expect(Array.from(csr.col)).toEqual([1, 3, 0, 1]);
    expect(Array.from(csr.perm)).toEqual([1, 3, 8, 9]);
    expect([csr.rows, csr.cols]).toEqual([3, 4]);
  });

  it('takes booleans and typed arrays, and agrees with csrFromCoo on random masks', () => {
    const rand = seededRandom(11);
    const rows = 9;
    const cols = 13;
    const mask = Array.from({ length: rows * cols }, () => rand() < 0.3);
    const fromBools = csrFromDense(mask, { rows, cols });
    const fromBytes = csrFromDense(Uint8Array.from(mask, Number), { rows, cols });
    const flat = mask.flatMap((m, f) => (m ? [f] : []));
    const fromCoo = csrFromCoo(flat.map((f) => Math.floor(f / cols)), flat.map((f) => f % cols), { rows, cols });
    for (const csr of [fromBools, fromBytes]) {
      expect(checkCsr(csr.rowptr, csr.col, rows, cols)).toBeNull();
      expect(csr.rowptr).toEqual(fromCoo.rowptr);
      expect(csr.col).toEqual(fromCoo.col);
      expect(Array.from(csr.perm)).toEqual(flat);
    }
  });

  it('rejects a wrong length and NaN entries', () => {
    expectError(() => csrFromDense([1, 0, 1], { rows: 2, cols: 2 }), 'csrFromDense: adjacency has 3 entries; a 2 × 2 graph needs 4');
    expectError(() => csrFromDense([1, 0, NaN, 1], { rows: 2, cols: 2 }), 'csrFromDense: adjacency[2] (row 1, column 0) is NaN; an entry must be 0/false (no edge) or nonzero/true (an edge)');
    expectError(() => csrFromDense([], { rows: 1.5, cols: 0 }), 'csrFromDense: rows must be a whole number >= 0, got 1.5');
  });
});

describe('permuteEdges', () => {
  it('carries [lead, E] features in edge-list order into CSR order, head by head', () => {
    const coo = randomCoo(21, 7, 5, 30);
    const csr = csrFromCoo(coo.target, coo.source, { rows: 7, cols: 5 });
    const heads = 3;
    const edges = coo.target.length;
    // Feature (h, e) encodes its edge's endpoints and the head, so a misplaced value shows.
    const values = Float32Array.from({ length: heads * edges }, (_, f) => {
      const h = Math.floor(f / edges);
      const e = f % edges;
      return h * 1000 + coo.target[e]! * 10 + coo.source[e]!;
    });
    const out = permuteEdges(values, csr.perm, heads);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(heads * edges);
    const rowOf = rowOfEdge(csr);
    for (let h = 0; h < heads; h++) {
      for (let e = 0; e < edges; e++) expect(out[h * edges + e]).toBe(h * 1000 + rowOf[e]! * 10 + csr.col[e]!);
    }
    expect(Array.from(permuteEdges([5, 6, 7], Int32Array.from([2, 0, 1])))).toEqual([7, 5, 6]);
  });

  it('gathers dense [lead, rows × cols] values at the edges of a dense adjacency', () => {
    const csr = csrFromDense([1, 0, 0, 1], { rows: 2, cols: 2 });
    expect(Array.from(permuteEdges([10, 11, 12, 13, 20, 21, 22, 23], csr.perm, 2))).toEqual([10, 13, 20, 23]);
  });

  it('rejects a bad lead, a ragged layout and a perm entry out of range', () => {
    const perm = Int32Array.from([1, 0]);
    expectError(() => permuteEdges([1, 2], perm, 0), 'permuteEdges: lead must be a whole number >= 1, got 0');
    expectError(() => permuteEdges([1, 2, 3], perm, 2), 'permuteEdges: values has 3 entries, not a multiple of lead = 2');
    expectError(() => permuteEdges([1, 2], Int32Array.from([0, 2])), 'permuteEdges: perm[1] = 2 is outside [0, 2) (values holds 2 entries per lead row)');
  });
});

describe('checkCsr', () => {
  const rowptr = [0, 2, 2, 5];
  const col = [0, 3, 1, 1, 2];

  it('accepts valid CSR, empty rows and a graph with no edges or no nodes', () => {
    expect(checkCsr(rowptr, col, 3, 4)).toBeNull();
    expect(checkCsr(Int32Array.from(rowptr), Int32Array.from(col), 3, 4)).toBeNull();
    expect(checkCsr([0, 0, 0], [], 2, 5)).toBeNull();
    expect(checkCsr([0], [], 0, 0)).toBeNull();
  });

  it('gives the first problem, in the documented order, with exact texts', () => {
    expect(checkCsr([0, 2, 5], col, 3, 4)).toBe('rowptr has 3 entries; a graph of 3 target nodes needs 4');
    expect(checkCsr([1, 2, 2, 5], col, 3, 4)).toBe('rowptr[0] is 1; it must be 0');
    expect(checkCsr([0, 3, 2, 5], col, 3, 4)).toBe('rowptr decreases at 1: rowptr[1] = 3 > rowptr[2] = 2');
    expect(checkCsr([0, 2, 2, 4], col, 3, 4)).toBe('rowptr[3] is 4 but col has 5 entries');
    expect(checkCsr(rowptr, [0, 3, 1, 4, 2], 3, 4)).toBe('col[3] = 4 is outside [0, 4)');
    expect(checkCsr(rowptr, Int32Array.from([0, -1, 1, 1, 2]), 3, 4)).toBe('col[1] = -1 is outside [0, 4)');
    // Several problems at once: the earliest check wins.
    expect(checkCsr([1, 3, 2, 9], [9], 3, 4)).toBe('rowptr[0] is 1; it must be 0');
    expect(checkCsr([0, 3, 2, 9], [9], 3, 4)).toBe('rowptr decreases at 1: rowptr[1] = 3 > rowptr[2] = 2');
    expect(checkCsr([0, 1, 1, 9], [9], 3, 4)).toBe('rowptr[3] is 9 but col has 1 entries');
  });

  it('reports non-whole entries and bad sizes in plain arrays', () => {
    expect(checkCsr([0, 1.5, 2, 5], col, 3, 4)).toBe('rowptr[1] = 1.5 is not a whole number');
    expect(checkCsr([0, 2, NaN, 5], col, 3, 4)).toBe('rowptr[2] = NaN is not a whole number');
    expect(checkCsr(rowptr, [0, 3, 0.5, 1, 2], 3, 4)).toBe('col[2] = 0.5 is not a whole number');
    expect(checkCsr(rowptr, col, -1, 4)).toBe('rows must be a whole number >= 0, got -1');
    expect(checkCsr(rowptr, col, 3, 1.5)).toBe('cols must be a whole number >= 0, got 1.5');
  });

  it('checks a million edges over a million nodes in plain loops', () => {
    const n = 1_000_000;
    const big = csrFromCoo(Int32Array.from({ length: n }, (_, e) => (e * 7919) % n), Int32Array.from({ length: n }, (_, e) => (e * 104729) % n), { rows: n, cols: n });
    const start = performance.now();
    expect(checkCsr(big.rowptr, big.col, n, n)).toBeNull();
    const col = big.col.slice();
    col[n - 1] = n;
    expect(checkCsr(big.rowptr, col, n, n)).toBe(`col[${n - 1}] = ${n} is outside [0, ${n})`);
    // Generous for a shared machine: a plain O(N + E) pass takes a few milliseconds.
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
