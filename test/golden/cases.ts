/**
 * How each golden kind runs: which library kernel, with which inputs and parameters, and which
 * kernel output answers which golden output. Shared by the golden tests and `npm run golden`.
 */
import { interpretKernel, run, type Backend } from '../../index.ts';
import type { Kernel } from '../../dsl/kernel.ts';
import type { HostTensor } from '../../dsl/types.ts';
import { attentionKernel, splitHeads } from '../../kernels/attention.ts';
import { einsumKernel } from '../../kernels/einsum.ts';
import { hopfieldKernel } from '../../kernels/hopfield.ts';
import { simplicialAttentionKernel } from '../../kernels/simplicial.ts';
import { linearAttentionKernel, type LinearAttentionRule } from '../../kernels/linear-attention.ts';
import { titansMemoryKernel } from '../../kernels/titans.ts';
import { graphAttentionKernel } from '../../kernels/graph-attention.ts';
import { efficientVectorRoutingKernel, generativeMatrixRoutingKernel, type MatrixRoutingOutput, type VectorRoutingOutput } from '../../kernels/routing.ts';
import type { GoldenCase } from './load.ts';

export interface GoldenRun {
  readonly kernel: Kernel;
  readonly inputs: Readonly<Record<string, HostTensor>>;
  readonly params: Readonly<Record<string, number>>;
  /** Golden output name → kernel output name. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Symbols pinned when tracing (the attention head dims, which the fused kernel needs static). */
  readonly sizes?: Readonly<Record<string, number>>;
  /**
   * Kernel output name → the golden's shape for it, when the kernel lays the same data out with
   * more axes (attention's split head axis `[b, hkv, g, ...]` against the golden's `[B, Hq, ...]`).
   */
  readonly reshape?: Readonly<Record<string, readonly number[]>>;
}

function input(c: GoldenCase, name: string): HostTensor {
  const t = c.inputs[name];
  if (!t) throw new Error(`${c.kind} case has no input '${name}'`);
  return t;
}

function numberOrNull(c: GoldenCase, key: string): number | null {
  const value = c.config[key];
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number') throw new Error(`${c.kind} case: config.${key} must be a number or null, got ${JSON.stringify(value)}`);
  return value;
}

function integer(c: GoldenCase, key: string): number {
  const value = c.config[key];
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error(`${c.kind} case: config.${key} must be a whole number, got ${JSON.stringify(value)}`);
  return value;
}

function param(c: GoldenCase, name: string): HostTensor {
  const t = c.params[name];
  if (!t) throw new Error(`${c.kind} case has no param '${name}'`);
  return t;
}

/** The number of leading batch axes: `config.batch` lists their sizes. */
function batchAxes(c: GoldenCase): number {
  const batch = c.config['batch'] ?? [];
  if (!Array.isArray(batch)) throw new Error(`${c.kind} case: config.batch must be an array of sizes, got ${JSON.stringify(batch)}`);
  return batch.length;
}

/**
 * The routing kernels take every learned tensor as an input under its reference name, except the
 * variable-n_inp linear maps, whose dotted PyTorch names (`compute_beta_use.weight`) become
 * `W_beta_use` / `B_beta_use`.
 */
const ROUTING_PARAM_NAMES: Readonly<Record<string, string>> = {
  'compute_beta_use.weight': 'W_beta_use',
  'compute_beta_use.bias': 'B_beta_use',
  'compute_beta_ign.weight': 'W_beta_ign',
  'compute_beta_ign.bias': 'B_beta_ign',
};

function routingInputs(c: GoldenCase): Record<string, HostTensor> {
  const inputs: Record<string, HostTensor> = { ...c.inputs };
  for (const [name, t] of Object.entries(c.params)) inputs[ROUTING_PARAM_NAMES[name] ?? name] = t;
  return inputs;
}

/** Every golden output is a kernel output of the same name. */
function sameNames(c: GoldenCase): Record<string, string> {
  return Object.fromEntries(Object.keys(c.outputs).map((name) => [name, name]));
}

type Preparer = (c: GoldenCase) => GoldenRun;

const PREPARERS: Readonly<Record<string, Preparer>> = {
  einsum(c) {
    const spec = c.config['spec'];
    if (typeof spec !== 'string') throw new Error('einsum case has no config.spec');
    const names = Object.keys(c.inputs).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    const kernel = einsumKernel(spec, names.map((n) => c.inputs[n]!.shape.length));
    return { kernel, inputs: c.inputs, params: {}, outputs: { out: 'out' } };
  },
  attention(c) {
    const scale = numberOrNull(c, 'scale');
    if (scale === null) throw new Error('attention case has no config.scale');
    const q = input(c, 'q');
    const k = input(c, 'k');
    const v = input(c, 'v');
    const documentMask = c.config['document_mask'] === true;
    const kernel = attentionKernel({
      causal: c.config['causal'] === true,
      window: numberOrNull(c, 'window'),
      softcap: numberOrNull(c, 'softcap'),
      alibi: c.config['alibi'] === true,
      documentMask,
    });
    const [batch, heads, n] = q.shape as [number, number, number, number];
    const inputs: Record<string, HostTensor> = { q: splitHeads(q, k.shape[1]!), k, v };
    if (documentMask) inputs['doc'] = input(c, 'doc');
    return {
      kernel,
      inputs,
      params: { scale },
      outputs: { o: 'o', lse: 'lse' },
      sizes: { d: q.shape[3]!, e: v.shape[3]! },
      reshape: { o: [batch, heads, n, v.shape[3]!], lse: [batch, heads, n] },
    };
  },
  hopfield(c) {
    const steps = numberOrNull(c, 'steps');
    if (steps === null) throw new Error('hopfield case has no config.steps');
    const xi = input(c, 'xi');
    const v = input(c, 'v');
    return {
      kernel: hopfieldKernel(steps),
      inputs: { xi, k: input(c, 'k'), v, beta: input(c, 'beta') },
      params: {},
      outputs: { xi_final: 'xi_final', o: 'o' },
      sizes: { d: xi.shape[3]!, e: v.shape[3]! },
    };
  },
  simplicial_attention(c) {
    const scale = numberOrNull(c, 'scale');
    if (scale === null) throw new Error('simplicial_attention case has no config.scale');
    const q = input(c, 'q');
    const k1 = input(c, 'k1');
    const v1 = input(c, 'v1');
    const [batch, heads, n] = q.shape as [number, number, number, number];
    return {
      kernel: simplicialAttentionKernel({ w1: numberOrNull(c, 'w1'), w2: numberOrNull(c, 'w2') }),
      inputs: { q: splitHeads(q, k1.shape[1]!), k1, k2: input(c, 'k2'), v1, v2: input(c, 'v2') },
      params: { scale },
      outputs: { o: 'o' },
      reshape: { o: [batch, heads, n, v1.shape[3]!] },
    };
  },
  graph_attention(c) {
    const score = c.config['score'];
    if (score !== 'dot' && score !== 'gat') throw new Error(`graph_attention case: config.score must be 'dot' or 'gat', got ${JSON.stringify(score)}`);
    const edgeBias = c.inputs['edge_bias'] !== undefined;
    const params: Record<string, number> = {};
    if (score === 'dot') {
      const scale = numberOrNull(c, 'scale');
      if (scale === null) throw new Error('graph_attention case has no config.scale');
      params['scale'] = scale;
    } else {
      const slope = numberOrNull(c, 'negative_slope');
      if (slope === null) throw new Error('graph_attention case has no config.negative_slope');
      params['negative_slope'] = slope;
    }
    return { kernel: graphAttentionKernel({ score, edgeBias }), inputs: c.inputs, params, outputs: sameNames(c) };
  },
  linear_attention(c) {
    const scale = numberOrNull(c, 'scale');
    if (scale === null) throw new Error('linear_attention case has no config.scale');
    const rule = c.config['rule'] as LinearAttentionRule;
    const initialState = c.inputs['s0'] !== undefined;
    return { kernel: linearAttentionKernel({ rule, initialState }), inputs: c.inputs, params: { scale }, outputs: sameNames(c) };
  },
  titans_memory(c) {
    const memory = c.config['memory'];
    if (memory !== 'linear' && memory !== 'mlp') throw new Error(`titans_memory case: config.memory must be 'linear' or 'mlp', got ${JSON.stringify(memory)}`);
    if (memory === 'mlp' && c.config['activation'] !== 'silu') throw new Error(`titans_memory case: activation ${JSON.stringify(c.config['activation'])} is not the kernel's silu`);
    return { kernel: titansMemoryKernel({ memory, chunk: integer(c, 'chunk') }), inputs: c.inputs, params: {}, outputs: sameNames(c) };
  },
  EfficientVectorRouting(c) {
    const normalize = c.config['normalize'];
    if (typeof normalize !== 'boolean') throw new Error('EfficientVectorRouting case has no boolean config.normalize');
    const eps = c.config['layer_norm_eps'];
    if (eps !== undefined && eps !== 1e-5) throw new Error(`EfficientVectorRouting case: layer_norm_eps ${JSON.stringify(eps)} is not the kernel's 1e-5`);
    const kernel = efficientVectorRoutingKernel({
      nInp: integer(c, 'n_inp'),
      nOut: integer(c, 'n_out'),
      dInp: integer(c, 'd_inp'),
      dOut: integer(c, 'd_out'),
      nIters: integer(c, 'n_iters'),
      normalize,
      batchAxes: batchAxes(c),
      mask: c.inputs['mask'] !== undefined,
      outputs: Object.keys(c.outputs).filter((name) => name !== 'x_out') as VectorRoutingOutput[],
    });
    return { kernel, inputs: routingInputs(c), params: {}, outputs: sameNames(c) };
  },
  GenerativeMatrixRouting(c) {
    const pModel = c.config['p_model'];
    if (pModel !== 'gaussian' && pModel !== 'skm') throw new Error(`GenerativeMatrixRouting case: unknown p_model ${JSON.stringify(pModel)}`);
    const eps = numberOrNull(c, 'eps');
    param(c, 'beta_use');
    const kernel = generativeMatrixRoutingKernel({
      nInp: integer(c, 'n_inp'),
      nOut: integer(c, 'n_out'),
      dCov: integer(c, 'd_cov'),
      dInp: integer(c, 'd_inp'),
      dOut: integer(c, 'd_out'),
      nIters: integer(c, 'n_iters'),
      pModel,
      ...(eps !== null ? { eps } : {}),
      singleBeta: c.params['beta_ign'] === undefined,
      batchAxes: batchAxes(c),
      outputs: Object.keys(c.outputs).filter((name) => !['a_out', 'mu_out', 'sig2_out'].includes(name)) as MatrixRoutingOutput[],
    });
    return { kernel, inputs: routingInputs(c), params: {}, outputs: sameNames(c) };
  },
};

/** The kinds this project can run. */
export const SUPPORTED_KINDS: readonly string[] = Object.keys(PREPARERS);

/** Prepares a golden case, or returns null when its kind is not supported yet. */
export function prepareGolden(c: GoldenCase): GoldenRun | null {
  const prepare = PREPARERS[c.kind];
  return prepare ? prepare(c) : null;
}

/** A result in the golden's layout. */
export interface GoldenResult {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/**
 * Runs a prepared golden on a backend, or on the float64 interpreter when `backend` is null, and
 * gives each output the golden's shape.
 */
export async function runGolden(prepared: GoldenRun, backend: Backend | null): Promise<Record<string, GoldenResult>> {
  const options = { params: prepared.params, ...(prepared.sizes ? { sizes: prepared.sizes } : {}) };
  const results: Record<string, GoldenResult> = backend
    ? await run(prepared.kernel, prepared.inputs, backend, options)
    : interpretKernel(prepared.kernel, prepared.inputs, { ...options, precision: 'f64' });
  for (const [output, shape] of Object.entries(prepared.reshape ?? {})) {
    const result = results[output];
    if (result) results[output] = { ...result, shape };
  }
  return results;
}
