/**
 * The routing library (`kernels/routing.ts`) against the independent oracle and against itself:
 * every routing golden (the reference PyTorch implementation, float64) on the float64 interpreter
 * and on WebGPU; EfficientVectorRouting as an instance of DefinableVectorRouting; one variable-n_inp
 * kernel serving any number of inputs and equal to the fixed-n_inp kernel with shared weights; a
 * user's own routing variant on WebGPU against the interpreter; the README's snippet; and the exact
 * error for each bad configuration.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { contract, f32, interpretKernel, layerNorm, mul, run, sigmoid, sub, type Graph, type HostTensor } from '../index.ts';
import type { Backend } from '../index.ts';
import {
  definableVectorRoutingKernel,
  efficientVectorRoutingFunctions,
  efficientVectorRoutingKernel,
  generativeMatrixRoutingKernel,
  type EfficientVectorRoutingConfig,
  type GenerativeMatrixRoutingConfig,
} from '../kernels/index.ts';
import { prepareGolden, runGolden } from './golden/cases.ts';
import { compareToGolden, loadGolden, type GoldenCase, type Tolerance } from './golden/load.ts';
import { describeGPU } from './gpu.ts';
import { expectReadmeShows, random, randomTensor } from './helpers.ts';
import { GOLDEN_DIR, goldenFilesMatching } from './golden/expect.ts';

const goldenFiles = goldenFilesMatching(/^(efficient_vector|generative_matrix)_routing_\d+\.json$/);

const F64: Tolerance = { rtol: 1e-9, atol: 1e-12 };
const F32: Tolerance = { rtol: 2e-4, atol: 2e-5 };
const within = (t: Tolerance): string => `within rtol ${t.rtol}, atol ${t.atol}`;

type Result = { readonly shape: readonly number[]; readonly data: ArrayLike<number> };

function expectClose(actual: Readonly<Record<string, Result>>, expected: Readonly<Record<string, Result>>, tolerance: Tolerance, label: string): void {
  expect(Object.keys(actual).sort(), label).toEqual(Object.keys(expected).sort());
  for (const [name, want] of Object.entries(expected)) {
    expect(compareToGolden(actual[name]!, want, tolerance).detail, `${label} ${name}`).toBe(within(tolerance));
  }
}

async function expectGolden(file: string, backend: Backend | null, tolerance: Tolerance): Promise<void> {
  const golden = loadGolden(join(GOLDEN_DIR, file));
  const prepared = prepareGolden(golden)!;
  expect(prepared, `${file}: kind ${golden.kind} is supported`).not.toBeNull();
  const results = await runGolden(prepared, backend);
  expectClose(results, golden.outputs, tolerance, file);
  if (backend) {
    // The GPU program against the interpreter, not only against the file.
    expectClose(results, await runGolden(prepared, null), tolerance, `${file} vs interpreter`);
  }
}

function golden(file: string): GoldenCase {
  return loadGolden(join(GOLDEN_DIR, file));
}

/** Host tensors as plain f64 arrays, to build inputs from other inputs. */
const values = (t: HostTensor): number[] => Array.from(t.data as ArrayLike<number>);

/** `t` repeated `n` times along a new (or size-1) leading axis. */
function tile(t: HostTensor, n: number, dropLeadingOne: boolean): HostTensor {
  const rest = dropLeadingOne ? t.shape.slice(1) : t.shape;
  const data = values(t);
  return { shape: [n, ...rest], data: Float64Array.from({ length: n * data.length }, (_, k) => data[k % data.length]!) };
}

/** The first `n` rows of an `[N, ...]` tensor. */
function rows(t: HostTensor, n: number): HostTensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [n, ...t.shape.slice(1)], data: Float64Array.from(values(t).slice(0, n * per)) };
}

/** `x W^T + b` for `x [n, d]`, `W [j, d]`, `b [j]`: a PyTorch `nn.Linear`, in float64. */
function linear(x: HostTensor, w: HostTensor, b: HostTensor): HostTensor {
  const [n, d] = x.shape as [number, number];
  const j = w.shape[0]!;
  const xs = values(x);
  const ws = values(w);
  const bs = values(b);
  const out = new Float64Array(n * j);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < j; o++) {
      let s = bs[o]!;
      for (let k = 0; k < d; k++) s += xs[i * d + k]! * ws[o * d + k]!;
      out[i * j + o] = s;
    }
  }
  return { shape: [n, j], data: out };
}

/** Every node type of a graph, loop bodies included. */
function allAxes(graph: Graph): string[][] {
  return graph.nodes.flatMap((node) => [node.type.axes.map((a) => a.name), ...('body' in node ? allAxes(node.body) : [])]);
}

describe('routing goldens on the float64 interpreter', () => {
  it('finds the copied golden files', () => {
    expect(goldenFiles).toEqual([
      'efficient_vector_routing_0.json',
      'efficient_vector_routing_1.json',
      'efficient_vector_routing_2.json',
      'efficient_vector_routing_3.json',
      'efficient_vector_routing_4.json',
      'generative_matrix_routing_0.json',
      'generative_matrix_routing_1.json',
    ]);
  });
  for (const file of goldenFiles) it(file, () => expectGolden(file, null, F64));
});

describe('EfficientVectorRouting', () => {
  it('is DefinableVectorRouting with its A, F, G and S (golden efficient_vector_routing_1)', () => {
    const g = golden('efficient_vector_routing_1.json');
    const k = definableVectorRoutingKernel({
      ...efficientVectorRoutingFunctions(6),
      nInp: 19,
      nOut: 4,
      dInp: 8,
      dOut: 6,
      nIters: 3,
      normalize: true,
      batchAxes: 1,
      outputs: ['a_inp', 'R', 'D_use', 'D_ign', 'phi'],
      params: {
        W_A: f32('i', 'd'),
        B_A: f32('i'),
        W_F1: f32('j', 'd'),
        W_F2: f32('d', 'h'),
        B_F2: f32('j', 'h'),
        W_G1: f32('h', 'd'),
        W_G2: f32('j', 'd'),
        B_G2: f32('j', 'd'),
        W_S: f32('i', 'j'),
        B_S: f32('i', 'j'),
      },
    });
    expectClose(interpretKernel(k, { ...g.inputs, ...g.params }, { precision: 'f64' }), g.outputs, F64, 'definable');
  });

  it('never builds the votes: no tensor of the traced graph spans inputs, outputs and d_out', () => {
    const k = efficientVectorRoutingKernel({ nInp: -1, nOut: 16, dInp: 64, dOut: 64, nIters: 3, batchAxes: 1 });
    const spans = allAxes(k.trace()).filter((axes) => ['i', 'j', 'h'].every((a) => axes.includes(a)));
    expect(spans).toEqual([]);
  });

  it('with nInp = -1 serves any number of inputs and equals the fixed-n kernel with the shared weights tiled', () => {
    const g = golden('efficient_vector_routing_3.json');
    const base = { nOut: 3, dInp: 16, dOut: 1, nIters: 2, normalize: true, outputs: ['a_inp', 'phi'] } as const;
    const variable = efficientVectorRoutingKernel({ ...base, nInp: -1 });
    const inputs = (n: number): Record<string, HostTensor> => ({
      ...Object.fromEntries(Object.entries(g.params).map(([name, t]) => [name.replace(/^compute_beta_(use|ign)\.(weight|bias)$/, (_, kind: string, part: string) => `${part === 'weight' ? 'W' : 'B'}_beta_${kind}`), t])),
      x_inp: rows(g.inputs['x_inp']!, n),
    });
    for (const n of [50, 20]) {
      const got = interpretKernel(variable, inputs(n), { precision: 'f64' });
      const x = rows(g.inputs['x_inp']!, n);
      const p = g.params;
      const fixed = interpretKernel(
        efficientVectorRoutingKernel({ ...base, nInp: n }),
        {
          x_inp: x,
          W_A: tile(p['W_A']!, n, true),
          B_A: tile(p['B_A']!, n, true),
          W_S: tile(p['W_S']!, n, true),
          B_S: tile(p['B_S']!, n, true),
          beta_use: linear(x, p['compute_beta_use.weight']!, p['compute_beta_use.bias']!),
          beta_ign: linear(x, p['compute_beta_ign.weight']!, p['compute_beta_ign.bias']!),
          ...Object.fromEntries(['W_F1', 'W_F2', 'B_F2', 'W_G1', 'W_G2', 'B_G2'].map((name) => [name, p[name]!])),
        },
        { precision: 'f64' },
      );
      expectClose(got, fixed, F64, `n=${n}`);
      expect(got['phi']!.shape).toEqual([n, 3]);
    }
  });

  it('with one iteration routes uniformly: R = 1/n_out (as float32, like the reference) and D_use = σ(a_inp)·R', () => {
    const g = golden('efficient_vector_routing_0.json');
    const k = efficientVectorRoutingKernel({ nInp: 37, nOut: 5, dInp: 12, dOut: 9, nIters: 1, outputs: ['a_inp', 'R', 'D_use'] });
    const out = interpretKernel(k, { ...g.inputs, ...g.params }, { precision: 'f64' });
    expect(new Set(out['R']!.data)).toEqual(new Set([Math.fround(1 / 5)]));
    const a = out['a_inp']!.data;
    out['D_use']!.data.forEach((v, k) => expect(v).toBeCloseTo(Math.fround(0.2) / (1 + Math.exp(-a[Math.floor(k / 5)]!)), 14));
    expect(out['x_out']!.shape).toEqual([5, 9]);
  });
});

describe('GenerativeMatrixRouting', () => {
  it('with nInp = -1 equals the fixed-n kernel with the shared weights tiled', () => {
    const n = 7;
    const config: Omit<GenerativeMatrixRoutingConfig, 'nInp'> = { nOut: 3, dCov: 2, dInp: 3, dOut: 4, nIters: 3, batchAxes: 1, outputs: ['R', 'D_ign'] };
    const shared = { W: randomTensor([1, 3, 3, 4], 1), B: randomTensor([1, 3, 2, 4], 2), beta_use: randomTensor([1, 3], 3), beta_ign: randomTensor([1, 3], 4) };
    const data = { a_inp: randomTensor([2, n], 5, -2, 2), mu_inp: randomTensor([2, n, 2, 3], 6) };
    const got = interpretKernel(generativeMatrixRoutingKernel({ ...config, nInp: -1 }), { ...data, ...shared }, { precision: 'f64' });
    const tiled = Object.fromEntries(Object.entries(shared).map(([name, t]) => [name, tile(t, n, true)]));
    const want = interpretKernel(generativeMatrixRoutingKernel({ ...config, nInp: n }), { ...data, ...tiled }, { precision: 'f64' });
    expectClose(got, want, F64, 'variable');
    expect(Object.keys(got).sort()).toEqual(['D_ign', 'R', 'a_out', 'mu_out', 'sig2_out']);
  });
});

describe('routing configuration errors', () => {
  const evr: EfficientVectorRoutingConfig = { nInp: 10, nOut: 4, dInp: 8, dOut: 6 };
  const gmr: GenerativeMatrixRoutingConfig = { nInp: 10, nOut: 4, dCov: 2, dInp: 3, dOut: 3 };

  it('EfficientVectorRouting rejects non-positive sizes, nIters < 1 and unknown outputs', () => {
    const bad = (change: object): (() => unknown) => () => efficientVectorRoutingKernel({ ...evr, ...change });
    expect(bad({ nInp: 0 })).toThrow('EfficientVectorRouting: nInp must be a whole number >= 1, or -1 for a variable number of inputs, got 0');
    expect(bad({ nInp: -2 })).toThrow('EfficientVectorRouting: nInp must be a whole number >= 1, or -1 for a variable number of inputs, got -2');
    expect(bad({ nOut: 0 })).toThrow('EfficientVectorRouting: nOut must be a whole number >= 1, got 0');
    expect(bad({ dInp: 2.5 })).toThrow('EfficientVectorRouting: dInp must be a whole number >= 1, got 2.5');
    expect(bad({ dOut: -1 })).toThrow('EfficientVectorRouting: dOut must be a whole number >= 1, got -1');
    expect(bad({ nIters: 0 })).toThrow('EfficientVectorRouting: nIters must be a whole number >= 1, got 0');
    expect(bad({ batchAxes: -1 })).toThrow('EfficientVectorRouting: batchAxes must be a whole number >= 0, got -1');
    expect(bad({ normalize: 'yes' })).toThrow('EfficientVectorRouting: normalize must be true or false, got yes');
    expect(bad({ outputs: ['S'] })).toThrow("EfficientVectorRouting: unknown output 'S'; choose from a_inp, R, D_use, D_ign, phi");
  });

  it('GenerativeMatrixRouting rejects bad sizes, an unknown p_model and a bad eps', () => {
    const bad = (change: object): (() => unknown) => () => generativeMatrixRoutingKernel({ ...gmr, ...change });
    expect(bad({ dCov: 0 })).toThrow('GenerativeMatrixRouting: dCov must be a whole number >= 1, got 0');
    expect(bad({ nIters: 0 })).toThrow('GenerativeMatrixRouting: nIters must be a whole number >= 1, got 0');
    expect(bad({ pModel: 'vonmises' })).toThrow("GenerativeMatrixRouting: pModel must be 'gaussian' or 'skm', got 'vonmises'");
    expect(bad({ eps: 0 })).toThrow('GenerativeMatrixRouting: eps must be a finite number > 0, got 0');
    expect(bad({ eps: Infinity })).toThrow('GenerativeMatrixRouting: eps must be a finite number > 0, got Infinity');
    expect(bad({ outputs: ['phi'] })).toThrow("GenerativeMatrixRouting: unknown output 'phi'; choose from R, D_use, D_ign");
  });

  it('DefinableVectorRouting names a missing function, a clashing param, and a function result with wrong axes', () => {
    const fns = efficientVectorRoutingFunctions(6);
    expect(() => definableVectorRoutingKernel({ ...fns, S: undefined as never, nOut: 4 })).toThrow('DefinableVectorRouting: S must be a function of DSL tensors');
    expect(() => definableVectorRoutingKernel({ ...fns, nOut: 4, params: { mask: f32('i', 'j') } })).toThrow(
      "DefinableVectorRouting: param 'mask' clashes with a built-in input (x_inp, mask, beta_use, beta_ign)",
    );
    const params = { W: f32('j', 'd') };
    const wideA = definableVectorRoutingKernel({ ...fns, nOut: 4, params, A: ({ x, params: p }) => contract([x, p.W], ['i', 'j']) });
    expect(() => wideA.trace()).toThrow('A result has axes [i, j]; only [i] are allowed');
    const flatF = definableVectorRoutingKernel({ ...fns, nOut: 4, A: ({ x }) => contract([x], ['i']), F: (phi) => contract([phi], ['j']) });
    expect(() => flatF.trace()).toThrow("F result has axes [j]; it must have the output axis 'h'");
  });

  it('a run with inputs of the wrong size names the input and the axis', () => {
    const g = golden('efficient_vector_routing_0.json');
    const k = efficientVectorRoutingKernel({ nInp: 37, nOut: 5, dInp: 12, dOut: 9 });
    expect(() => interpretKernel(k, { ...g.params, x_inp: randomTensor([36, 12], 1) })).toThrow("input 'x_inp': axis 'i' must have size 37 but has 36");
  });
});

// ---- a user's own routing variant ------------------------------------------------------------

/**
 * Routing with the user's own functions: A without a bias, F through one learned map per output,
 * G a plain linear map of the normalised outputs, S a scaled dot product (no logσ), and betas
 * from each input through a sigmoid; with a mask, a batch axis and any number of inputs.
 */
const D_INP = 10;
const variant = definableVectorRoutingKernel({
  nOut: 3,
  dInp: D_INP,
  dOut: 6,
  nIters: 3,
  batchAxes: 1,
  mask: true,
  outputs: ['R', 'phi'],
  params: { w_a: f32('d'), W_F: f32('j', 'd', 'h'), W_G: f32('h', 'd'), W_beta: f32('j', 'd') },
  A: ({ xScaled, params, batch }) => contract([xScaled, params.w_a], [...batch, 'i']),
  F: (phi, { xScaled, params, batch }) => contract([contract([phi, xScaled], [...batch, 'j', 'd']), params.W_F], [...batch, 'j', 'h']),
  G: (xOut, { params, batch }) => contract([layerNorm(xOut, 'h'), params.W_G], [...batch, 'j', 'd']),
  S: (xPred, { x, batch }) => mul(contract([x, xPred], [...batch, 'i', 'j']), 1 / Math.sqrt(D_INP)),
  betas: ({ x, params, batch }) => {
    const b = sigmoid(contract([x, params.W_beta], [...batch, 'i', 'j']));
    return { use: b, ign: sub(1, b) };
  },
});

function variantInputs(n: number): Record<string, HostTensor> {
  const mask = random(n * 3, 40 + n).map((v) => (v > 0.6 ? 1 : 0));
  mask.fill(0, 0, 3); // input 0 goes everywhere
  return {
    x_inp: randomTensor([2, n, D_INP], n, -2, 2),
    mask: { shape: [n, 3], data: Uint8Array.from(mask), dtype: 'bool' },
    w_a: randomTensor([D_INP], 11),
    W_F: randomTensor([3, D_INP, 6], 12),
    W_G: randomTensor([6, D_INP], 13),
    W_beta: randomTensor([3, D_INP], 14),
  };
}

describe('a routing variant written with definableVectorRoutingKernel', () => {
  it('masks: an output ignoring an input gives it no routing weight and no credit', () => {
    const inputs = variantInputs(9);
    const out = interpretKernel(variant, inputs, { precision: 'f64' });
    const mask = inputs['mask']!.data as Uint8Array;
    for (let b = 0; b < 2; b++) {
      mask.forEach((ignored, k) => {
        if (ignored) {
          expect(out['R']!.data[b * 27 + k]).toBe(0);
          expect(out['phi']!.data[b * 27 + k]).toBe(0);
        }
      });
    }
    expect(out['x_out']!.shape).toEqual([2, 3, 6]);
  });
});

// ---- the README snippet -----------------------------------------------------------------------

const README_SNIPPET_START = '// Route a sequence of any length';

/** The README's routing snippet, run as it is written (between its first line and the last). */
async function readmeSnippet(backend: Backend): Promise<{ x_out: Result; phi: Result; weights: Record<string, HostTensor>; x_inp: HostTensor; routing: ReturnType<typeof efficientVectorRoutingKernel> }> {
  // README:begin
  // Route a sequence of any length (nInp: -1) of 64-vectors to 8 vectors of size 32, in 3 iterations.
  const routing = efficientVectorRoutingKernel({ nInp: -1, nOut: 8, dInp: 64, dOut: 32, nIters: 3, outputs: ['phi'] });
  const rand = (...shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() - 0.5) });
  const x_inp = rand(100, 64); // 100 input vectors
  const weights = {
    W_A: rand(1, 64), B_A: rand(1), W_S: rand(1, 8), B_S: rand(1, 8), // shared by every input (nInp: -1)
    W_F1: rand(8, 64), W_F2: rand(64, 32), B_F2: rand(8, 32),
    W_G1: rand(32, 64), W_G2: rand(8, 64), B_G2: rand(8, 64),
    W_beta_use: rand(8, 64), B_beta_use: rand(8), W_beta_ign: rand(8, 64), B_beta_ign: rand(8),
  };
  const { x_out, phi } = await run(routing, { x_inp, ...weights }, backend);
  // x_out [8, 32]: the outputs; phi [100, 8]: what each output owes each input
  // README:end
  return { x_out: x_out!, phi: phi!, weights, x_inp, routing };
}

describe('README routing snippet', () => {
  it('is the code the test runs', () => {
    expect(expectReadmeShows(import.meta.url).startsWith(README_SNIPPET_START)).toBe(true);
  });
});

// ---- WebGPU ------------------------------------------------------------------------------------

describeGPU('routing on WebGPU', (gpu) => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  for (const file of goldenFiles) it(`golden ${file}`, () => expectGolden(file, gpu, F32));

  it('a user variant (own A, F, G, S, betas; mask, batch axis) matches the float64 interpreter at two sequence lengths', async () => {
    for (const n of [45, 29]) {
      const inputs = variantInputs(n);
      const got = await run(variant, inputs, gpu);
      expectClose(got, interpretKernel(variant, inputs, { precision: 'f64' }), F32, `n=${n}`);
    }
  });

  it('the README snippet runs and matches the float64 interpreter', async () => {
    const random01 = random(1 << 16, 7, 0, 1);
    let next = 0;
    vi.spyOn(Math, 'random').mockImplementation(() => random01[next++ % random01.length]!);
    const { x_out, phi, weights, x_inp, routing } = await readmeSnippet(gpu);
    expect(x_out.shape).toEqual([8, 32]);
    expect(phi.shape).toEqual([100, 8]);
    const want = interpretKernel(routing, { x_inp, ...weights }, { precision: 'f64' });
    expectClose({ x_out, phi }, want, F32, 'readme');
  });
});
