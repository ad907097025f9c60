/**
 * Graph attention over a CSR adjacency (`kernels/graph-attention.ts`, the segment operations of
 * `dsl/csr.ts`): the golden files on the float64 interpreter and on WebGPU; the interpreter against
 * an independent float64 implementation on random graphs (Erdős–Rényi, power-law degrees, empty
 * rows, one node holding every edge, bipartite N ≠ M, several heads, GAT scores, edge bias, a
 * masking score modifier); the fused kernel and the unfused segment kernels against the
 * interpreter, including rows spread over many parts; equality with tessera's dense flash
 * attention under the equivalent mask; the plain segment reductions; and the errors for a bad
 * adjacency, on both backends.
 */
import { describe, expect, it, vi } from 'vitest';
import { compile, createCpuBackend, interpretKernel, run, type HostTensor } from '../index.ts';
import { attentionKernel } from '../kernels/attention.ts';
import { graphAttentionKernel, type GraphAttentionConfig } from '../kernels/graph-attention.ts';
import { csr, segmentMax, segmentMean, segmentMin, segmentSoftmax, segmentSum } from '../dsl/csr.ts';
import { bool, f32, i32, kernel } from '../dsl/kernel.ts';
import { gather, lt, mod, mul, where } from '../dsl/ops.ts';
import { csrFromCoo, csrFromDense, type CsrGraph } from '../program/csr.ts';
import { seededRandom } from '../bench/random.ts';
import { gatv2 } from '../examples/graph-attention.ts';
import { randomTensor, stepKernels } from './helpers.ts';
import { expectMatchesInterpreter } from './interpreter-check.ts';
import { describeGPU } from './gpu.ts';
import { goldenFilesMatching, expectGoldenFile } from './golden/expect.ts';

const files = goldenFilesMatching(/^graph_attention_/);


// ---- graphs ------------------------------------------------------------------------------------

/** Each (target, source) pair an edge with probability p. */
function erdosRenyi(rows: number, cols: number, p: number, seed: number): CsrGraph {
  const rand = seededRandom(seed);
  const target: number[] = [];
  const source: number[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) if (rand() < p) (target.push(i), source.push(j));
  return csrFromCoo(target, source, { rows, cols });
}

/** Target degrees from a Zipf law (most 0–2, a few large), sources uniform; node `heavy` gets `heavyDegree` edges. */
function powerLaw(rows: number, cols: number, seed: number, heavy: number, heavyDegree: number): CsrGraph {
  const rand = seededRandom(seed);
  const target: number[] = [];
  const source: number[] = [];
  for (let i = 0; i < rows; i++) {
    const degree = i === heavy ? heavyDegree : Math.floor(1 / Math.max(rand(), 0.02)) - 1;
    for (let t = 0; t < degree; t++) (target.push(i), source.push(Math.floor(rand() * cols)));
  }
  return csrFromCoo(target, source, { rows, cols });
}

function graphInputs(g: CsrGraph, heads: number, d: number, dv: number, seed: number, config: GraphAttentionConfig = {}): Record<string, HostTensor> {
  const e = g.col.length;
  const inputs: Record<string, HostTensor> = {
    v: randomTensor([heads, g.cols, dv], seed),
    rowptr: { shape: [g.rows + 1], data: g.rowptr, dtype: 'i32' },
    col: { shape: [e], data: g.col, dtype: 'i32' },
  };
  if ((config.score ?? 'dot') === 'dot') {
    inputs['q'] = randomTensor([heads, g.rows, d], seed + 1);
    inputs['k'] = randomTensor([heads, g.cols, d], seed + 2);
  } else {
    inputs['a_src'] = randomTensor([heads, g.cols], seed + 1);
    inputs['a_dst'] = randomTensor([heads, g.rows], seed + 2);
  }
  if (config.edgeBias) inputs['edge_bias'] = randomTensor([heads, e], seed + 3);
  return inputs;
}

/**
 * Graph attention straight from its definition, in float64, edge by edge — independent of the DSL
 * and the interpreter. `drop(h, e)` removes an edge (a masking modifier).
 */
function reference(g: CsrGraph, inputs: Record<string, HostTensor>, heads: number, dv: number, params: Record<string, number>, drop: (h: number, e: number) => boolean = () => false) {
  const at = (name: string, i: number) => Number(inputs[name]!.data[i]);
  const d = inputs['q'] ? inputs['q'].shape[2]! : 0;
  const o = new Float64Array(heads * g.rows * dv);
  const lse = new Float64Array(heads * g.rows).fill(-Infinity);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < g.rows; i++) {
      const scores: [number, number][] = [];
      for (let e = g.rowptr[i]!; e < g.rowptr[i + 1]!; e++) {
        if (drop(h, e)) continue;
        const j = g.col[e]!;
        let s: number;
        if (inputs['q']) {
          s = 0;
          for (let x = 0; x < d; x++) s += at('q', (h * g.rows + i) * d + x) * at('k', (h * g.cols + j) * d + x);
          s *= params['scale']!;
        } else {
          const z = at('a_src', h * g.cols + j) + at('a_dst', h * g.rows + i);
          s = z >= 0 ? z : params['negative_slope']! * z;
        }
        if (inputs['edge_bias']) s += at('edge_bias', h * g.col.length + e);
        scores.push([s, j]);
      }
      if (scores.length === 0) continue;
      const m = Math.max(...scores.map(([s]) => s));
      const total = scores.reduce((t, [s]) => t + Math.exp(s - m), 0);
      lse[h * g.rows + i] = m + Math.log(total);
      for (const [s, j] of scores) {
        const p = Math.exp(s - m) / total;
        for (let c = 0; c < dv; c++) o[(h * g.rows + i) * dv + c] += p * at('v', (h * g.cols + j) * dv + c);
      }
    }
  }
  return { o, lse };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    const ok = Number.isFinite(w) ? Math.abs(g - w) <= tol * (1 + Math.abs(w)) : Object.is(g, w);
    if (!ok) expect.fail(`${what} at ${i}: ${g} vs ${w}`);
  }
}

const CASES: readonly { name: string; graph: () => CsrGraph; heads: number; d: number; dv: number; config: GraphAttentionConfig; params: Record<string, number>; drop?: (g: CsrGraph) => (h: number, e: number) => boolean }[] = [
  { name: 'Erdős–Rényi, dot, 2 heads', graph: () => erdosRenyi(37, 37, 0.15, 1), heads: 2, d: 8, dv: 5, config: {}, params: { scale: 0.35 } },
  { name: 'power-law with a 300-edge node (spans 4 parts), empty rows', graph: () => powerLaw(60, 45, 2, 7, 300), heads: 2, d: 4, dv: 3, config: {}, params: { scale: 0.5 } },
  {
    name: 'one node holds every edge, 70 value channels (two per thread)',
    graph: () => csrFromCoo(Array(200).fill(3), Array.from({ length: 200 }, (_, e) => (e * 7) % 50), { rows: 9, cols: 50 }),
    heads: 1,
    d: 6,
    dv: 70,
    config: {},
    params: { scale: 0.3 },
  },
  { name: 'bipartite N != M, GAT with edge bias, 3 heads', graph: () => erdosRenyi(23, 41, 0.2, 3), heads: 3, d: 0, dv: 6, config: { score: 'gat', edgeBias: true }, params: { negative_slope: 0.2 } },
  {
    name: 'a masking scoreMod (nodes whose neighbours are all masked)',
    graph: () => erdosRenyi(30, 30, 0.1, 4),
    heads: 2,
    d: 4,
    dv: 4,
    config: { scoreMod: (s, idx) => where(lt(mod(idx.source, 3), 1), -Infinity, s) },
    params: { scale: 0.5 },
    drop: (g) => (_h, e) => g.col[e]! % 3 === 0,
  },
  { name: 'a single edge, the other rows empty', graph: () => csrFromCoo([4], [2], { rows: 5, cols: 4 }), heads: 2, d: 3, dv: 2, config: {}, params: { scale: 1 } },
];

describe('graph attention', () => {
  it('finds the four golden files', () => {
    expect(files).toEqual(['graph_attention_bipartite_bias.json', 'graph_attention_dot.json', 'graph_attention_gat.json', 'graph_attention_power_law.json']);
  });
  for (const file of files) it(`golden ${file} on the float64 interpreter`, () => expectGoldenFile(file, null, { rtol: 1e-9, atol: 1e-12 }));

  for (const c of CASES) {
    it(`the interpreter equals the definition: ${c.name}`, () => {
      const g = c.graph();
      const inputs = graphInputs(g, c.heads, c.d, c.dv, 11, c.config);
      const got = interpretKernel(graphAttentionKernel(c.config), inputs, { params: c.params });
      const want = reference(g, inputs, c.heads, c.dv, c.params, c.drop?.(g));
      expectClose(got['o']!.data, want.o, 1e-12, 'o');
      expectClose(got['lse']!.data, want.lse, 1e-12, 'lse');
    });
  }

  it("runs the README's snippet (csrFromCoo, then run) with nodes 1 and 3 left without neighbours", async () => {
    const [H, D, Dv] = [2, 3, 2];
    const [q, k, v] = [randomTensor([H, 4, D], 1), randomTensor([H, 4, D], 2), randomTensor([H, 4, Dv], 3)];
    const backend = createCpuBackend();
    const graph = csrFromCoo([0, 0, 2, 2, 2], [1, 2, 0, 1, 3], { rows: 4, cols: 4 });
    const { o, lse } = await run(graphAttentionKernel(), {
      q, k, v,
      rowptr: { shape: [5], data: graph.rowptr, dtype: 'i32' },
      col: { shape: [graph.col.length], data: graph.col, dtype: 'i32' },
    }, backend, { params: { scale: 1 / Math.sqrt(D) } });
    expect(Array.from(graph.rowptr)).toEqual([0, 2, 2, 5, 5]);
    expect(Array.from(lse!.data)).toEqual(expect.arrayContaining([-Infinity]));
    for (const h of [0, 1]) {
      for (const node of [1, 3]) {
        expect(lse!.data[h * 4 + node]).toBe(-Infinity);
        expect(Array.from(o!.data.slice((h * 4 + node) * Dv, (h * 4 + node + 1) * Dv))).toEqual([0, 0]);
      }
      expect(Number.isFinite(lse!.data[h * 4])).toBe(true);
    }
    const want = reference(graph, { q, k, v }, H, Dv, { scale: 1 / Math.sqrt(D) });
    expectClose(o!.data, want.o, 1e-6, 'o');
    backend.destroy();
  });

  it('compiles to the edge-balanced kernel and its merge pass, with no per-edge buffer', () => {
    const program = compile(graphAttentionKernel().trace({ sizes: { c: 16 } }), { name: 'ga' });
    expect(stepKernels(program).map((k) => k.name)).toEqual(['ga:graph-attention', 'ga:graph-merge']);
    // Every buffer is an input, an output, or the pieces of rows cut across parts.
    expect(program.buffers.filter((b) => b.role === 'temp').map((b) => b.label)).toEqual(['%6 flash pieces']);
  });
});

/** A user's own aggregations with the segment operations (GraphSAGE-style mean, max pooling, ...). */
const segmentOps = kernel(
  'segment_ops',
  { x: f32('h', 'j', 'c'), w: f32('h', 'e'), rowptr: i32('r'), col: i32('e'), like: f32('i') },
  ({ x, w, rowptr, col, like }) => {
    const g = csr(rowptr, col, { rows: [like, 'i'], cols: [x, 'j'] });
    const messages = mul(gather(x, 'j', g.col), w);
    return {
      sum: segmentSum(messages, g),
      mean: segmentMean(messages, g),
      max: segmentMax(messages, g),
      min: segmentMin(messages, g),
      softmax: segmentSoftmax(w, g),
      rows: g.row,
    };
  },
);

function segmentInputs(g: CsrGraph, seed: number): Record<string, HostTensor> {
  return {
    x: randomTensor([2, g.cols, 3], seed),
    w: randomTensor([2, g.col.length], seed + 1),
    rowptr: { shape: [g.rows + 1], data: g.rowptr, dtype: 'i32' },
    col: { shape: [g.col.length], data: g.col, dtype: 'i32' },
    like: randomTensor([g.rows], seed + 2),
  };
}

/** Dense flash attention over the same heads with the adjacency as a boolean mask input. */
const denseMasked = attentionKernel({ extraInputs: { adj: bool('n', 'm') }, maskMod: (_idx, { adj }) => adj });

function denseInputs(g: CsrGraph, inputs: Record<string, HostTensor>, heads: number, d: number, dv: number): Record<string, HostTensor> {
  const adjacency = new Uint8Array(g.rows * g.cols);
  for (let i = 0; i < g.rows; i++) for (let e = g.rowptr[i]!; e < g.rowptr[i + 1]!; e++) adjacency[i * g.cols + g.col[e]!] = 1;
  return {
    q: { shape: [1, heads, 1, g.rows, d], data: inputs['q']!.data },
    k: { shape: [1, heads, g.cols, d], data: inputs['k']!.data },
    v: { shape: [1, heads, g.cols, dv], data: inputs['v']!.data },
    adj: { shape: [g.rows, g.cols], data: adjacency, dtype: 'bool' },
  };
}

describe('segment operations', () => {
  it('reduce each node\'s edges on the interpreter, empty rows included', () => {
    const g = powerLaw(12, 9, 5, 2, 20);
    const inputs = segmentInputs(g, 3);
    const got = interpretKernel(segmentOps, inputs);
    const x = inputs['x']!.data as ArrayLike<number>;
    const w = inputs['w']!.data as ArrayLike<number>;
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < g.rows; i++) {
        for (let c = 0; c < 3; c++) {
          const m: number[] = [];
          for (let e = g.rowptr[i]!; e < g.rowptr[i + 1]!; e++) m.push(x[(h * g.cols + g.col[e]!) * 3 + c]! * w[h * g.col.length + e]!);
          // The messages are [h, c, e] (gather puts the index axis last), so the results are [h, c, i].
          const at = (h * 3 + c) * g.rows + i;
          const sum = m.reduce((a, b) => a + b, 0);
          expect(got['sum']!.data[at]).toBeCloseTo(sum, 12);
          expect(got['mean']!.data[at]).toBeCloseTo(m.length ? sum / m.length : 0, 12);
          expect(got['max']!.data[at]).toBe(m.length ? Math.max(...m) : -Infinity);
          expect(got['min']!.data[at]).toBe(m.length ? Math.min(...m) : Infinity);
        }
      }
    }
    expect(Array.from(got['rows']!.data)).toEqual(Array.from(g.col, (_, e) => g.rowptr.findIndex((_, i) => i < g.rows && g.rowptr[i]! <= e && e < g.rowptr[i + 1]!)));
  });
});

describe('adjacency errors', () => {
  const g = erdosRenyi(6, 5, 0.4, 9);
  const good = graphInputs(g, 1, 2, 2, 1);
  const bad = (rowptr: number[], col: number[]): Record<string, HostTensor> => ({
    ...good,
    rowptr: { shape: [rowptr.length], data: Int32Array.from(rowptr), dtype: 'i32' },
    col: { shape: [col.length], data: Int32Array.from(col), dtype: 'i32' },
  });
  const E = g.col.length;
  const withCol = (at: number, value: number) => Array.from(g.col, (c, e) => (e === at ? value : c));
  const cases: [string, Record<string, HostTensor>, string][] = [
    ['a col entry out of range', bad(Array.from(g.rowptr), withCol(2, 5)), "csr(rowptr 'rowptr', col 'col'): col[2] = 5 is outside [0, 5)"],
    ['a negative col entry', bad(Array.from(g.rowptr), withCol(0, -1)), "csr(rowptr 'rowptr', col 'col'): col[0] = -1 is outside [0, 5)"],
    ['a decreasing rowptr', bad([0, 3, 2, ...Array.from(g.rowptr).slice(3)], Array.from(g.col)), `csr(rowptr 'rowptr', col 'col'): rowptr decreases at 1: rowptr[1] = 3 > rowptr[2] = 2`],
    ['a rowptr of the wrong length', bad(Array.from(g.rowptr).slice(0, 6), Array.from(g.col)), "csr(rowptr 'rowptr', col 'col'): rowptr has 6 entries; a graph of 6 target nodes needs 7"],
    ['a rowptr not ending at the edge count', bad([...Array.from(g.rowptr).slice(0, 6), E - 1], Array.from(g.col)), `csr(rowptr 'rowptr', col 'col'): rowptr[6] is ${E - 1} but col has ${E} entries`],
  ];
  for (const [what, inputs, message] of cases) {
    it(`rejects ${what} on the interpreter`, () => {
      expect(() => interpretKernel(graphAttentionKernel(), inputs, { params: { scale: 1 } })).toThrow(message);
    });
  }
  it('rejects a graph without edges (sizes are >= 1)', () => {
    expect(() => interpretKernel(graphAttentionKernel(), bad([0, 0, 0, 0, 0, 0, 0], []), { params: { scale: 1 } })).toThrow("input 'col': axis 'e' has size 0; sizes must be whole numbers >= 1");
  });
  it('rejects a rowptr or col that is not a kernel input', () => {
    const k = kernel('computed', { rowptr: i32('r'), col: i32('e'), x: f32('i') }, ({ rowptr, col, x }) => segmentSum(gather(x, 'i', col), csr(rowptr, mod(col, 2), { rows: [x, 'i'], cols: [x, 'i'] })));
    expect(() => k.trace()).toThrow('csr: col must be a kernel input (the runtime checks the adjacency before a run)');
  });
  it('rejects a segment reduction over another axis', () => {
    const k = kernel('wrong_axis', { rowptr: i32('r'), col: i32('e'), x: f32('i', 'c') }, ({ rowptr, col, x }) => {
      const g = csr(rowptr, col, { rows: [x, 'i'], cols: [x, 'i'] });
      return segmentSum(x as never, g);
    });
    expect(() => k.trace()).toThrow("segment sum: tensor has no edge axis 'e'; its axes are [i, c]");
  });

  describeGPU('adjacency errors on WebGPU', (gpu) => {
    for (const [what, inputs, message] of cases.slice(0, 3)) {
      it(`rejects ${what} before dispatching`, async () => {
        await expect(run(graphAttentionKernel(), inputs, gpu, { params: { scale: 1 } })).rejects.toThrow(message);
      });
    }
    it('reads a device-resident graph back once, and again after its buffer was handed out', async () => {
      const rowptr = gpu.upload(good['rowptr']!);
      const col = gpu.upload(good['col']!);
      const reads = [vi.spyOn(rowptr, 'read'), vi.spyOn(col, 'read')];
      const inputs = { ...good, rowptr, col };
      for (let r = 0; r < 2; r++) await run(graphAttentionKernel(), inputs, gpu, { params: { scale: 1 } });
      expect(reads.map((x) => x.mock.calls.length)).toEqual([1, 1]);
      // Someone else may now write col: a bad entry is caught on the next run.
      gpu.device.queue.writeBuffer(gpu.bufferOf(col), 4 * 2, Int32Array.from([5]));
      await expect(run(graphAttentionKernel(), inputs, gpu, { params: { scale: 1 } })).rejects.toThrow("csr(rowptr 'rowptr', col 'col'): col[2] = 5 is outside [0, 5)");
      rowptr.destroy();
      col.destroy();
    });

    it('checks device-resident rowptr and col too', async () => {
      const inputs = cases[0]![1];
      const resident = { ...inputs, rowptr: gpu.upload(inputs['rowptr']!), col: gpu.upload(inputs['col']!) };
      await expect(run(graphAttentionKernel(), resident, gpu, { params: { scale: 1 } })).rejects.toThrow(cases[0]![2]);
      resident.rowptr.destroy();
      resident.col.destroy();
    });
  });
});

describeGPU('graph attention on WebGPU', (gpu) => {
  for (const file of files) it(`golden ${file}`, () => expectGoldenFile(file, gpu, { rtol: 2e-4, atol: 2e-5 }));

  for (const c of CASES) {
    it(`the fused kernel equals the interpreter: ${c.name}`, async () => {
      const g = c.graph();
      await expectMatchesInterpreter(gpu, graphAttentionKernel(c.config), graphInputs(g, c.heads, c.d, c.dv, 21, c.config), {}, 1e-4, 1e-5, { params: c.params });
    });
  }

  it('the unfused segment kernels equal the interpreter (power-law, GAT with edge bias)', async () => {
    for (const c of [CASES[1]!, CASES[3]!]) {
      const g = c.graph();
      await expectMatchesInterpreter(gpu, graphAttentionKernel(c.config), graphInputs(g, c.heads, c.d, c.dv, 31, c.config), {}, 1e-4, 1e-5, { params: c.params, compile: { fuseAttention: false } });
    }
  });

  it('plain segment reductions and the segment softmax equal the interpreter', async () => {
    await expectMatchesInterpreter(gpu, segmentOps, segmentInputs(powerLaw(40, 30, 6, 5, 150), 4), {}, 1e-5, 1e-6);
  });

  it("the README's GATv2 layer (examples/graph-attention.ts) is fused and equals the interpreter", async () => {
    const g = powerLaw(50, 40, 8, 3, 260);
    const inputs: Record<string, HostTensor> = {
      x_src: randomTensor([2, 40, 5], 1),
      x_dst: randomTensor([2, 50, 5], 2),
      a: randomTensor([2, 5], 3),
      v: randomTensor([2, 40, 6], 4),
      rowptr: { shape: [51], data: g.rowptr, dtype: 'i32' },
      col: { shape: [g.col.length], data: g.col, dtype: 'i32' },
    };
    expect(stepKernels(compile(gatv2.trace({ sizes: { f: 6 } }), { name: 'gatv2' })).map((k) => k.name)).toEqual(['gatv2:graph-attention', 'gatv2:graph-merge']);
    await expectMatchesInterpreter(gpu, gatv2, inputs, {}, 1e-4, 1e-5);
  });

  it('equals dense flash attention under the equivalent mask', async () => {
    const g = csrFromDense(
      Array.from({ length: 24 * 20 }, (_, x) => ((x * 2654435761) >>> 0) % 5 === 0),
      { rows: 24, cols: 20 },
    );
    const inputs = graphInputs(g, 2, 8, 8, 41);
    const sparse = await run(graphAttentionKernel(), inputs, gpu, { params: { scale: 0.4 } });
    const dense = await run(denseMasked, denseInputs(g, inputs, 2, 8, 8), gpu, { params: { scale: 0.4 } });
    expectClose(sparse['o']!.data, dense['o']!.data, 1e-5, 'o');
    expectClose(sparse['lse']!.data, dense['lse']!.data, 1e-5, 'lse');
  });
});
