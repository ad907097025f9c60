/**
 * Heinsen routing in the DSL: the vector routing of "An Algorithm for Routing Vectors in
 * Sequences" (Heinsen, 2022, arXiv 2211.11754) — `efficientVectorRoutingKernel` and its general
 * form `definableVectorRoutingKernel` — and the matrix routing of "An Algorithm for Routing
 * Capsules in All Domains" (Heinsen, 2019) — `generativeMatrixRoutingKernel`. Semantics follow the
 * golden kinds `EfficientVectorRouting` and `GenerativeMatrixRouting` (`test/golden/README.md`).
 *
 * Vector routing is an EM-like iteration: each input i has an activation f_i = σ(A(x_i)); each
 * iteration splits it over the outputs by routing weights R (uniform at first, then a softmax over
 * the outputs j of scores S between the inputs and predictions G(x_out) of them), into data used
 * (D_use = f·R) and ignored (D_ign = f − D_use); the credit assignments
 * phi = β_use·D_use − β_ign·D_ign weigh each input's contribution F to the outputs x_out.
 *
 * Axes are named: `i` inputs, `j` outputs, `d` d_inp, `h` d_out, leading batch axes `b0, b1, ...`;
 * matrix routing adds `c` (d_cov). The iterations after the first run as a DSL `loop` carrying
 * x_out (and whichever per-iteration outputs were asked for); the first iteration, whose routing
 * weights need no scores, runs before it.
 *
 * EfficientVectorRouting never builds the n_inp × n_out × d_out votes: its F contracts the credit
 * assignments with the inputs first, `x_out = ((phiᵀ x̂) ⊙ W_F1) W_F2 + (Σ_i phi) ⊙ B_F2`, written as
 * separate contractions so the compiler's planner has no votes tensor to choose. Every learned
 * tensor is a kernel input, so one compiled Program serves any trained weights.
 */
import { add, contract, div, expand, layerNorm, logSigmoid, logSoftmax, log, mul, neg, rsqrt, sigmoid, sizeOf, softmax, sqrt, sub, sum, toF32, transpose, where, loop, constant } from '../dsl/ops.ts';
import { bool, f32, kernel, type Kernel, type Spec, type Specs, type TensorSpec, type TensorsOf } from '../dsl/kernel.ts';
import type { Axes, Tensor } from '../dsl/tensor.ts';
import { TesseraError, type Axis } from '../dsl/types.ts';

/** An f32 tensor over named axes, as the routing functions take and return them. */
export type Vec = Tensor<Axes, 'f32'>;

/** The per-iteration tensors a vector routing kernel can return besides `x_out` (last iteration). */
export const VECTOR_ROUTING_OUTPUTS = ['a_inp', 'R', 'D_use', 'D_ign', 'phi'] as const;
export type VectorRoutingOutput = (typeof VECTOR_ROUTING_OUTPUTS)[number];

/** The per-iteration tensors a matrix routing kernel can return besides a_out, mu_out, sig2_out. */
export const MATRIX_ROUTING_OUTPUTS = ['R', 'D_use', 'D_ign'] as const;
export type MatrixRoutingOutput = (typeof MATRIX_ROUTING_OUTPUTS)[number];

/** The names of the leading batch axes: `b0, b1, ...`. */
export function batchAxisNames(count: number): string[] {
  return Array.from({ length: count }, (_, k) => `b${k}`);
}

// ---- configuration checks ----------------------------------------------------------------------

function wholeAtLeast(what: string, name: string, value: unknown, min: number): void {
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= min)) {
    throw new TesseraError(`${what}: ${name} must be a whole number >= ${min}, got ${String(value)}`);
  }
}

function checkNInp(what: string, value: unknown): void {
  if (!(typeof value === 'number' && Number.isInteger(value) && (value >= 1 || value === -1))) {
    throw new TesseraError(`${what}: nInp must be a whole number >= 1, or -1 for a variable number of inputs, got ${String(value)}`);
  }
}

function checkOutputs(what: string, outputs: readonly string[] | undefined, allowed: readonly string[]): void {
  if (outputs === undefined) return;
  if (!Array.isArray(outputs)) throw new TesseraError(`${what}: outputs must be an array of output names`);
  for (const name of outputs) {
    if (!allowed.includes(name)) throw new TesseraError(`${what}: unknown output '${String(name)}'; choose from ${allowed.join(', ')}`);
  }
}

function checkBoolean(what: string, name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') throw new TesseraError(`${what}: ${name} must be true or false, got ${String(value)}`);
}

/** Output names in the canonical order, without repeats. */
function canonical<T extends string>(all: readonly T[], wanted: readonly string[] | undefined): T[] {
  return all.filter((name) => (wanted ?? []).includes(name));
}

// ---- layouts -----------------------------------------------------------------------------------

/**
 * Brings `t` to exactly the axes `want`, in that order: a function may return its axes in any
 * order (elementwise ops order them by first appearance) and may leave out an axis it does not
 * vary along (it is broadcast). Axes outside `want` are an error naming `what`.
 */
function inLayout(what: string, t: Tensor, want: readonly Axis[]): Vec {
  checkAxes(what, t, want);
  const names = want.map((a) => a.name);
  const missing = want.filter((a) => !t.axes.includes(a.name));
  const full = (missing.length > 0 ? expand(t, missing) : t) as Vec;
  if (full.axes.length === names.length && full.axes.every((a, k) => a === names[k])) return full;
  return transpose(full, names) as Vec;
}

/** Throws unless `t` is f32 with axes among `allowed` (it broadcasts over the others). */
function checkAxes(what: string, t: Tensor, allowed: readonly Axis[]): Vec {
  if (t.dtype !== 'f32') throw new TesseraError(`${what} must be an f32 tensor, got ${t.dtype}`);
  const names = allowed.map((a) => a.name);
  if (t.axes.some((a) => !names.includes(a))) {
    throw new TesseraError(`${what} has axes [${t.axes.join(', ')}]; only [${names.join(', ')}] are allowed`);
  }
  return t as Vec;
}

/** Sums away a size-1 axis (the reference's leading `1` of per-input weights shared by all inputs). */
function squeeze(t: Vec, axis: string): Vec {
  return sum(t, axis) as Vec;
}

// ---- vector routing: the shared iteration ------------------------------------------------------

/** What the four routing functions see besides their main argument. */
export interface RoutingContext<P extends Specs = Specs> {
  /** The input vectors `x_inp [...batch, i, d]`, as given. */
  readonly x: Vec;
  /** `x_inp · n^(-1/2)`, n the number of inputs (the scaling EfficientVectorRouting's A and F use). */
  readonly xScaled: Vec;
  /** The learned tensors declared in `params`, as kernel inputs. */
  readonly params: TensorsOf<P>;
  /** The batch axis names, `b0, b1, ...`, to write contractions over `[...batch, 'i', 'j']`. */
  readonly batch: readonly string[];
}

/**
 * The four functions of DefinableVectorRouting, as DSL code over named axes. Each returns an f32
 * tensor whose axes are among those listed (in any order; an axis left out is broadcast).
 */
export interface VectorRoutingFunctions<P extends Specs = Specs> {
  /** Input activation logits `[...batch, i]`; the routing applies σ to them. */
  readonly A: (ctx: RoutingContext<P>) => Vec;
  /**
   * The outputs from the credit assignments `phi [...batch, i, j]`: `x_out [...batch, j, h]`. The
   * reference computes votes V `[..., i, j, h]` and contracts `Σ_i phi·V`; an F that contracts
   * `phi` with the inputs first never builds them.
   */
  readonly F: (phi: Vec, ctx: RoutingContext<P>) => Vec;
  /** Predictions of the inputs from the outputs `x_out [...batch, j, h]`: `[...batch, j, d]`. */
  readonly G: (xOut: Vec, ctx: RoutingContext<P>) => Vec;
  /**
   * Scores of each input against each prediction `[...batch, j, d]`: `[...batch, i, j]`; the
   * routing weights are their softmax over `j`. (EfficientVectorRouting's S ends in logσ.)
   */
  readonly S: (xPred: Vec, ctx: RoutingContext<P>) => Vec;
}

/** The options of the iteration shared by every vector routing kernel. */
interface IterationOptions {
  readonly nOut: number;
  readonly nIters: number;
  readonly dOut: number | undefined;
  readonly normalize: boolean;
  readonly outputs: readonly VectorRoutingOutput[];
  readonly mask: Tensor<Axes, 'bool'> | null;
  readonly betas: { readonly use: Vec; readonly ign: Vec };
}

const PER_ITERATION = ['R', 'D_use', 'D_ign', 'phi'] as const;

/**
 * The EM iteration of vector routing (the reference's `DefinableVectorRouting.forward`), with an
 * optional mask `[i, j]` (true = input i is ignored by output j) and the final layer norm.
 */
function routeVectors<P extends Specs>(ctx: RoutingContext<P>, fns: VectorRoutingFunctions<P>, options: IterationOptions): Record<string, Vec> {
  const { x, batch } = ctx;
  const B = batch.map((name) => x.axis(name));
  const I = x.axis('i');
  const D = x.axis('d');
  const J: Axis = { name: 'j', size: options.nOut };
  const { mask } = options;
  // The betas broadcast as they are (fixed ones have no batch axes): no copy over the batch.
  const use = checkAxes('beta_use', options.betas.use, [...B, I, J]);
  const ign = checkAxes('beta_ign', options.betas.ign, [...B, I, J]);

  const a = inLayout('A result', fns.A(ctx), [...B, I]);
  const fa = sigmoid(a);
  // With a mask the activations gain the output axis: f[i, j] = 0 where j ignores i.
  const f = (mask ? inLayout('f', where(mask, 0, fa), [...B, I, J]) : fa) as Vec;

  let H: Axis | null = options.dOut === undefined ? null : { name: 'h', size: options.dOut };
  const mStep = (R: Vec): Record<(typeof PER_ITERATION)[number] | 'x_out', Vec> => {
    const D_use = inLayout('D_use', mul(f, R), [...B, I, J]);
    const D_ign = inLayout('D_ign', sub(f, D_use), [...B, I, J]);
    const phi = inLayout('phi', sub(mul(D_use, use), mul(D_ign, ign)), [...B, I, J]);
    const raw = fns.F(phi, ctx);
    if (!H) {
      if (!raw.axes.includes('h')) throw new TesseraError(`F result has axes [${raw.axes.join(', ')}]; it must have the output axis 'h'`);
      H = raw.axis('h');
    }
    const x_out = inLayout('F result', raw, [...B, J, H]);
    return { R, D_use, D_ign, phi, x_out };
  };

  // Iteration 0: R = 1/n_out, or with a mask the softmax over j of equal logits with masked j at −∞.
  // 1/n_out is rounded to float32 as in the reference, whose `CONST_ones_over_n_out` buffer is
  // created in float32 (a float64 model keeps that rounding), so float64 results agree with it.
  const R0 = mask ? softmax(where(mask, -Infinity, constant(0)) as Vec, 'j') : constant(Math.fround(1 / options.nOut));
  const first = mStep(inLayout('R', R0, [...B, I, J]));

  const kept = options.outputs.filter((name): name is (typeof PER_ITERATION)[number] => (PER_ITERATION as readonly string[]).includes(name));
  let last: Record<string, Vec> = first;
  if (options.nIters > 1) {
    // Later iterations: R = softmax_j(S(x_inp, G(x_out))), masked j excluded. The loop carries
    // x_out, plus the per-iteration tensors asked for (so only those are written every iteration).
    const init = [first.x_out, ...kept.map((name) => first[name])] as const;
    const finals = loop(options.nIters - 1, init, (xOut) => {
      const pred = inLayout('G result', fns.G(xOut, ctx), [...B, J, D]);
      const scores = inLayout('S result', fns.S(pred, ctx), [...B, I, J]);
      const R = softmax((mask ? where(mask, -Infinity, scores) : scores) as Vec, 'j');
      const it = mStep(inLayout('R', R, [...B, I, J]));
      return [it.x_out, ...kept.map((name) => it[name])] as unknown as typeof init;
    });
    last = { x_out: finals[0] };
    kept.forEach((name, k) => (last[name] = finals[k + 1]!));
  }

  const x_out = options.normalize ? (layerNorm(last['x_out']!, 'h', 1e-5) as Vec) : last['x_out']!;
  const result: Record<string, Vec> = { x_out };
  if (options.outputs.includes('a_inp')) result['a_inp'] = a;
  for (const name of kept) result[name] = last[name]!;
  return result;
}

// ---- DefinableVectorRouting --------------------------------------------------------------------

/** Options of `definableVectorRoutingKernel`: the sizes, the iteration, and A, F, G, S. */
export interface DefinableVectorRoutingConfig<P extends Specs = {}> extends VectorRoutingFunctions<P> {
  /** Number of outputs (the `j` axis). */
  readonly nOut: number;
  /** Number of inputs (pins `i`), or -1 (the default) for any number. */
  readonly nInp?: number;
  /** Size of the input vectors (pins `d`); symbolic when absent. */
  readonly dInp?: number;
  /** Size of the output vectors (pins `h`); taken from F's result when absent. */
  readonly dOut?: number;
  /** Routing iterations, >= 1 (default 2). */
  readonly nIters?: number;
  /** Layer-normalise the final x_out over `h` (eps 1e-5, no affine terms). Default false. */
  readonly normalize?: boolean;
  /** Number of leading batch axes of x_inp, named `b0, b1, ...` (default 0). */
  readonly batchAxes?: number;
  /** Adds the input `mask: bool[i, j]`, true where input i is ignored by output j. */
  readonly mask?: boolean;
  /** Which of a_inp, R, D_use, D_ign, phi to return besides x_out (the last iteration's). */
  readonly outputs?: readonly VectorRoutingOutput[];
  /**
   * The learned tensors A, F, G and S read, as DSL specs (kernel inputs). Their axes named `i`,
   * `j`, `d` or `h` take the routing's sizes unless the spec pins them.
   */
  readonly params?: P;
  /**
   * The credit coefficients `{ use, ign }` over `[...batch, i, j]` (or fewer axes). Without it the
   * kernel takes them as the inputs `beta_use, beta_ign: f32[i, j]`.
   */
  readonly betas?: (ctx: RoutingContext<P>) => { readonly use: Vec; readonly ign: Vec };
  /** The kernel's name (labels compiled programs and errors). */
  readonly name?: string;
}

/** Input names the vector routing kernels use for themselves. */
const VECTOR_RESERVED = ['x_inp', 'mask', 'beta_use', 'beta_ign'] as const;

interface VectorShape {
  readonly nInp: number;
  readonly nOut: number;
  readonly dInp: number | undefined;
  readonly dOut: number | undefined;
  readonly batchAxes: number;
}

/** The sizes a routing axis takes: static where the config gives one, else the axis's symbol. */
function routingSizes(shape: VectorShape): Record<string, number | string> {
  const sizes: Record<string, number | string> = { j: shape.nOut };
  if (shape.nInp > 0) sizes['i'] = shape.nInp;
  if (shape.dInp !== undefined) sizes['d'] = shape.dInp;
  if (shape.dOut !== undefined) sizes['h'] = shape.dOut;
  return sizes;
}

/** Pins the routing axes of a user spec to the routing's sizes, unless the spec pins them itself. */
function pinRoutingAxes(spec: Spec, sizes: Record<string, number | string>): Spec {
  if (spec.kind !== 'tensor') return spec;
  const pins: Record<string, number | string> = {};
  for (const axis of spec.axes) {
    if (Object.hasOwn(sizes, axis) && spec.sizes[axis] === undefined) pins[axis] = sizes[axis]!;
  }
  return Object.keys(pins).length > 0 ? (spec as TensorSpec).pin(pins as never) : spec;
}

function vectorInputSpecs(shape: VectorShape, mask: boolean): Record<string, Spec> {
  const sizes = routingSizes(shape);
  const pin = (spec: TensorSpec): Spec => pinRoutingAxes(spec, sizes);
  return {
    x_inp: pin(f32(...batchAxisNames(shape.batchAxes), 'i', 'd')),
    ...(mask ? { mask: pin(bool('i', 'j')) } : {}),
  };
}

function vectorContext<P extends Specs>(inputs: Readonly<Record<string, Tensor>>, params: TensorsOf<P>, batchAxes: number): RoutingContext<P> {
  const x = inputs['x_inp'] as Vec;
  return { x, xScaled: mul(x, rsqrt(toF32(sizeOf(x, 'i')))) as Vec, params, batch: batchAxisNames(batchAxes) };
}

function checkVectorShape(what: string, shape: { nInp?: unknown; nOut?: unknown; dInp?: unknown; dOut?: unknown; nIters?: unknown; batchAxes?: unknown }, required: boolean): void {
  checkNInp(what, shape.nInp);
  wholeAtLeast(what, 'nOut', shape.nOut, 1);
  if (required || shape.dInp !== undefined) wholeAtLeast(what, 'dInp', shape.dInp, 1);
  if (required || shape.dOut !== undefined) wholeAtLeast(what, 'dOut', shape.dOut, 1);
  wholeAtLeast(what, 'nIters', shape.nIters, 1);
  wholeAtLeast(what, 'batchAxes', shape.batchAxes, 0);
}

/**
 * DefinableVectorRouting: vector routing with the user's own A, F, G and S, written in the DSL.
 * Inputs: `x_inp: f32[...batch, i, d]`, `mask: bool[i, j]` with `mask`, `beta_use, beta_ign:
 * f32[i, j]` unless `betas` computes them, and the `params`. Outputs: `x_out: f32[...batch, j, h]`
 * and the `outputs` asked for (`a_inp [...batch, i]`, `R`, `D_use`, `D_ign`, `phi`
 * `[...batch, i, j]`, of the last iteration). EfficientVectorRouting is the instance with
 * `efficientVectorRoutingFunctions`.
 */
export function definableVectorRoutingKernel<P extends Specs = {}>(config: DefinableVectorRoutingConfig<P>): Kernel {
  const what = 'DefinableVectorRouting';
  const shape = {
    nInp: config.nInp ?? -1,
    nOut: config.nOut,
    dInp: config.dInp,
    dOut: config.dOut,
    nIters: config.nIters ?? 2,
    batchAxes: config.batchAxes ?? 0,
  };
  checkVectorShape(what, shape, false);
  checkBoolean(what, 'normalize', config.normalize);
  checkBoolean(what, 'mask', config.mask);
  checkOutputs(what, config.outputs, VECTOR_ROUTING_OUTPUTS);
  for (const fn of ['A', 'F', 'G', 'S'] as const) {
    if (typeof config[fn] !== 'function') throw new TesseraError(`${what}: ${fn} must be a function of DSL tensors`);
  }
  const mask = config.mask === true;
  const computedBetas = config.betas !== undefined;
  const params = config.params ?? ({} as P);
  for (const name of Object.keys(params)) {
    if ((VECTOR_RESERVED as readonly string[]).includes(name)) {
      throw new TesseraError(`${what}: param '${name}' clashes with a built-in input (${VECTOR_RESERVED.join(', ')})`);
    }
  }
  const sizes = routingSizes(shape);
  const specs: Record<string, Spec> = {
    ...vectorInputSpecs(shape, mask),
    ...(computedBetas ? {} : { beta_use: pinRoutingAxes(f32('i', 'j'), sizes), beta_ign: pinRoutingAxes(f32('i', 'j'), sizes) }),
    ...Object.fromEntries(Object.entries(params).map(([name, spec]) => [name, pinRoutingAxes(spec, sizes)])),
  };
  const outputs = canonical(VECTOR_ROUTING_OUTPUTS, config.outputs);
  const name = config.name ?? `DefinableVectorRouting(${describeVector(shape, mask, config.normalize === true)})`;
  return kernel(name, specs, (inputs) => {
    const p = Object.fromEntries(Object.keys(params).map((key) => [key, inputs[key]])) as unknown as TensorsOf<P>;
    const ctx = vectorContext(inputs, p, shape.batchAxes);
    const betas = config.betas ? config.betas(ctx) : { use: inputs['beta_use'] as Vec, ign: inputs['beta_ign'] as Vec };
    return routeVectors(ctx, config, {
      nOut: shape.nOut,
      nIters: shape.nIters,
      dOut: shape.dOut,
      normalize: config.normalize === true,
      outputs,
      mask: mask ? (inputs['mask'] as Tensor<Axes, 'bool'>) : null,
      betas,
    });
  });
}

function describeVector(shape: VectorShape & { nIters: number }, mask: boolean, normalize: boolean): string {
  const parts = [`n_inp=${shape.nInp}`, `n_out=${shape.nOut}`];
  if (shape.dInp !== undefined) parts.push(`d_inp=${shape.dInp}`);
  if (shape.dOut !== undefined) parts.push(`d_out=${shape.dOut}`);
  parts.push(`n_iters=${shape.nIters}`);
  if (shape.batchAxes > 0) parts.push(`batch=${shape.batchAxes}`);
  if (normalize) parts.push('normalize');
  if (mask) parts.push('mask');
  return parts.join(', ');
}

// ---- EfficientVectorRouting --------------------------------------------------------------------

/** Options of `efficientVectorRoutingKernel` (the reference's constructor arguments, camelCased). */
export interface EfficientVectorRoutingConfig {
  /** Number of inputs, or -1 for a variable number (betas computed from each input vector). */
  readonly nInp: number;
  readonly nOut: number;
  readonly dInp: number;
  readonly dOut: number;
  /** Routing iterations, >= 1 (default 2). */
  readonly nIters?: number;
  /** Layer-normalise the final x_out (only when dOut > 1, as the reference). Default true. */
  readonly normalize?: boolean;
  /** Number of leading batch axes of x_inp, named `b0, b1, ...` (default 0). */
  readonly batchAxes?: number;
  /** Adds the input `mask: bool[i, j]`, true where input i is ignored by output j. */
  readonly mask?: boolean;
  /** Which of a_inp, R, D_use, D_ign, phi to return besides x_out (the last iteration's). */
  readonly outputs?: readonly VectorRoutingOutput[];
}

/**
 * The learned tensors of EfficientVectorRouting as A, F, G and S read them: W_A `[i, d]` or `[d]`,
 * B_A `[i]` or `[]`, W_S and B_S `[i, j]` or `[j]` (the variable-n_inp weights without their
 * leading 1), and W_F1 `[j, d]`, W_F2 `[d, h]`, B_F2 `[j, h]`, W_G1 `[h, d]`, W_G2 and B_G2 `[j, d]`.
 */
export type EfficientVectorRoutingParams = Readonly<Record<'W_A' | 'B_A' | 'W_F1' | 'W_F2' | 'B_F2' | 'W_G1' | 'W_G2' | 'B_G2' | 'W_S' | 'B_S', Vec>>;

/**
 * EfficientVectorRouting's A, F, G and S (the golden README's formulas), for
 * `definableVectorRoutingKernel` or to build variants from (replace one and keep the rest):
 * - A: `a = Σ_d x̂ W_A + B_A`
 * - F: `x_out = ((phiᵀ x̂) ⊙ W_F1) W_F2 + (Σ_i phi) ⊙ B_F2`, the votes never built
 * - G: `x̃ = (LN(x_out) W_G1) ⊙ W_G2 + B_G2` (LN over `h` only when dOut > 1)
 * - S: `logσ((x_inp · x̃) ⊙ W_S + B_S)`
 */
export function efficientVectorRoutingFunctions(dOut: number): VectorRoutingFunctions<Specs> {
  const p = (ctx: RoutingContext<Specs>): EfficientVectorRoutingParams => ctx.params as unknown as EfficientVectorRoutingParams;
  return {
    A: (ctx) => add(contract([ctx.xScaled, p(ctx).W_A], [...ctx.batch, 'i']), p(ctx).B_A),
    F: (phi, ctx) => {
      const { W_F1, W_F2, B_F2 } = p(ctx);
      const phiX = contract([phi, ctx.xScaled], [...ctx.batch, 'j', 'd']);
      return add(contract([phiX, W_F1, W_F2], [...ctx.batch, 'j', 'h']), mul(sum(phi, 'i') as Vec, B_F2));
    },
    G: (xOut, ctx) => {
      const { W_G1, W_G2, B_G2 } = p(ctx);
      const normed = dOut > 1 ? layerNorm(xOut, 'h', 1e-5) : xOut;
      return add(mul(contract([normed, W_G1], [...ctx.batch, 'j', 'd']), W_G2), B_G2);
    },
    S: (xPred, ctx) => {
      const { W_S, B_S } = p(ctx);
      return logSigmoid(add(mul(contract([ctx.x, xPred], [...ctx.batch, 'i', 'j']), W_S), B_S));
    },
  };
}

/**
 * The kernel inputs of EfficientVectorRouting besides `x_inp` and `mask`, with the reference's
 * shapes: with a fixed n_inp, `W_A [i, d]`, `B_A [i]`, `W_S, B_S, beta_use, beta_ign [i, j]`; with
 * n_inp = -1, `W_A [i1, d]`, `B_A [i1]`, `W_S, B_S [i1, j]` with `i1` of size 1, and the linear maps
 * `W_beta_use, W_beta_ign [j, d]`, `B_beta_use, B_beta_ign [j]` (the reference's
 * `compute_beta_use.weight` / `.bias` and the same for `ign`).
 */
function efficientParamSpecs(config: EfficientVectorRoutingConfig): Record<string, TensorSpec> {
  const variable = config.nInp === -1;
  const perInput = (...axes: string[]): TensorSpec => (variable ? f32('i1', ...axes).pin({ i1: 1 }) : f32('i', ...axes));
  return {
    W_A: perInput('d'),
    B_A: perInput(),
    W_F1: f32('j', 'd'),
    W_F2: f32('d', 'h'),
    B_F2: f32('j', 'h'),
    W_G1: f32('h', 'd'),
    W_G2: f32('j', 'd'),
    B_G2: f32('j', 'd'),
    W_S: perInput('j'),
    B_S: perInput('j'),
    ...(variable
      ? { W_beta_use: f32('j', 'd'), B_beta_use: f32('j'), W_beta_ign: f32('j', 'd'), B_beta_ign: f32('j') }
      : { beta_use: f32('i', 'j'), beta_ign: f32('i', 'j') }),
  };
}

/**
 * EfficientVectorRouting (Heinsen 2022). Inputs: `x_inp: f32[...batch, i, d]`, `mask: bool[i, j]`
 * with `mask`, and the learned tensors under their reference names (see `efficientParamSpecs`;
 * `W_beta_use` and friends stand for `compute_beta_use.weight` ...). Outputs: `x_out:
 * f32[...batch, j, h]` and the `outputs` asked for. It is `definableVectorRoutingKernel` with
 * `efficientVectorRoutingFunctions`, after dropping the leading 1 of the variable-n_inp weights.
 */
export function efficientVectorRoutingKernel(config: EfficientVectorRoutingConfig): Kernel {
  const what = 'EfficientVectorRouting';
  if (typeof config !== 'object' || config === null) throw new TesseraError(`${what}: config must be an object`);
  const shape = { ...config, nIters: config.nIters ?? 2, batchAxes: config.batchAxes ?? 0 };
  checkVectorShape(what, shape, true);
  checkBoolean(what, 'normalize', config.normalize);
  checkBoolean(what, 'mask', config.mask);
  checkOutputs(what, config.outputs, VECTOR_ROUTING_OUTPUTS);
  const mask = config.mask === true;
  const normalize = config.normalize !== false;
  const sizes = routingSizes(shape);
  const params = efficientParamSpecs(config);
  const specs: Record<string, Spec> = {
    ...vectorInputSpecs(shape, mask),
    ...Object.fromEntries(Object.entries(params).map(([name, spec]) => [name, pinRoutingAxes(spec, sizes)])),
  };
  const variable = config.nInp === -1;
  const fns = efficientVectorRoutingFunctions(config.dOut);
  const outputs = canonical(VECTOR_ROUTING_OUTPUTS, config.outputs);
  return kernel(`EfficientVectorRouting(${describeVector(shape, mask, normalize)})`, specs, (inputs) => {
    const t = (name: string): Vec => inputs[name] as Vec;
    const perInput = (name: string): Vec => (variable ? squeeze(t(name), 'i1') : t(name));
    const p: EfficientVectorRoutingParams = {
      W_A: perInput('W_A'),
      B_A: perInput('B_A'),
      W_F1: t('W_F1'),
      W_F2: t('W_F2'),
      B_F2: t('B_F2'),
      W_G1: t('W_G1'),
      W_G2: t('W_G2'),
      B_G2: t('B_G2'),
      W_S: perInput('W_S'),
      B_S: perInput('B_S'),
    };
    const ctx = vectorContext(inputs, p as unknown as TensorsOf<Specs>, shape.batchAxes);
    const linear = (kind: 'use' | 'ign'): Vec => add(contract([ctx.x, t(`W_beta_${kind}`)], [...ctx.batch, 'i', 'j']), t(`B_beta_${kind}`));
    const betas = variable ? { use: linear('use'), ign: linear('ign') } : { use: t('beta_use'), ign: t('beta_ign') };
    return routeVectors(ctx, fns, {
      nOut: config.nOut,
      nIters: shape.nIters,
      dOut: config.dOut,
      normalize: normalize && config.dOut > 1,
      outputs,
      mask: mask ? (inputs['mask'] as Tensor<Axes, 'bool'>) : null,
      betas,
    });
  });
}

// ---- GenerativeMatrixRouting -------------------------------------------------------------------

/** Options of `generativeMatrixRoutingKernel` (the reference's constructor arguments, camelCased). */
export interface GenerativeMatrixRoutingConfig {
  /** Number of input matrices, or -1 for a variable number (weights of leading size 1, shared). */
  readonly nInp: number;
  readonly nOut: number;
  /** Rows of every matrix (the `c` axis). */
  readonly dCov: number;
  /** Columns of the input matrices (`d`). */
  readonly dInp: number;
  /** Columns of the output matrices (`h`). */
  readonly dOut: number;
  /** Routing iterations, >= 1 (default 3). */
  readonly nIters?: number;
  /** How the probability of a vote under an output is modelled: Gaussian mixture or soft k-means. */
  readonly pModel?: 'gaussian' | 'skm';
  /** Small positive number for numerical stability (default 1e-5). */
  readonly eps?: number;
  /** beta_ign is beta_use (one input `beta_use`). Default false. */
  readonly singleBeta?: boolean;
  /** Number of leading batch axes, named `b0, b1, ...` (default 0). */
  readonly batchAxes?: number;
  /** Which of R, D_use, D_ign (last iteration) to return besides a_out, mu_out, sig2_out. */
  readonly outputs?: readonly MatrixRoutingOutput[];
}

/**
 * GenerativeMatrixRouting (Heinsen 2019). Inputs: `a_inp: f32[...batch, i]`,
 * `mu_inp: f32[...batch, i, c, d]`, and the learned `W: f32[i, j, d, h]`, `B: f32[i, j, c, h]`,
 * `beta_use, beta_ign: f32[i, j]` (with nInp = -1 each has a leading axis `i1` of size 1 in place
 * of `i`). Outputs: `a_out [...batch, j]`, `mu_out` and `sig2_out [...batch, j, c, h]`, and the
 * `outputs` asked for, `[...batch, i, j]`. The votes `V [...batch, i, j, c, h]` are built: the
 * algorithm reads them against every output's mean and variance.
 */
export function generativeMatrixRoutingKernel(config: GenerativeMatrixRoutingConfig): Kernel {
  const what = 'GenerativeMatrixRouting';
  if (typeof config !== 'object' || config === null) throw new TesseraError(`${what}: config must be an object`);
  const nIters = config.nIters ?? 3;
  const pModel = config.pModel ?? 'gaussian';
  const eps = config.eps ?? 1e-5;
  const batchAxes = config.batchAxes ?? 0;
  checkNInp(what, config.nInp);
  wholeAtLeast(what, 'nOut', config.nOut, 1);
  wholeAtLeast(what, 'dCov', config.dCov, 1);
  wholeAtLeast(what, 'dInp', config.dInp, 1);
  wholeAtLeast(what, 'dOut', config.dOut, 1);
  wholeAtLeast(what, 'nIters', nIters, 1);
  wholeAtLeast(what, 'batchAxes', batchAxes, 0);
  if (pModel !== 'gaussian' && pModel !== 'skm') throw new TesseraError(`${what}: pModel must be 'gaussian' or 'skm', got '${String(pModel)}'`);
  if (!(typeof eps === 'number' && Number.isFinite(eps) && eps > 0)) throw new TesseraError(`${what}: eps must be a finite number > 0, got ${String(eps)}`);
  checkBoolean(what, 'singleBeta', config.singleBeta);
  checkOutputs(what, config.outputs, MATRIX_ROUTING_OUTPUTS);

  const variable = config.nInp === -1;
  const sizes: Record<string, number | string> = { j: config.nOut, c: config.dCov, d: config.dInp, h: config.dOut };
  if (!variable) sizes['i'] = config.nInp;
  const pin = (spec: TensorSpec): Spec => pinRoutingAxes(spec, sizes);
  const perInput = (...axes: string[]): Spec => pin(variable ? f32('i1', ...axes).pin({ i1: 1 }) : f32('i', ...axes));
  const batch = batchAxisNames(batchAxes);
  const singleBeta = config.singleBeta === true;
  const specs: Record<string, Spec> = {
    a_inp: pin(f32(...batch, 'i')),
    mu_inp: pin(f32(...batch, 'i', 'c', 'd')),
    W: perInput('j', 'd', 'h'),
    B: perInput('j', 'c', 'h'),
    beta_use: perInput('j'),
    ...(singleBeta ? {} : { beta_ign: perInput('j') }),
  };
  const outputs = canonical(MATRIX_ROUTING_OUTPUTS, config.outputs);
  const parts = [`n_inp=${config.nInp}`, `n_out=${config.nOut}`, `d_cov=${config.dCov}`, `d_inp=${config.dInp}`, `d_out=${config.dOut}`, `n_iters=${nIters}`, `p_model=${pModel}`, `eps=${eps}`];
  if (singleBeta) parts.push('single_beta');
  if (batchAxes > 0) parts.push(`batch=${batchAxes}`);

  return kernel(`GenerativeMatrixRouting(${parts.join(', ')})`, specs, (inputs) => {
    const t = (name: string): Vec => inputs[name] as Vec;
    const shared = (name: string): Vec => (variable ? squeeze(t(name), 'i1') : t(name));
    const aInp = t('a_inp');
    const muInp = t('mu_inp');
    const Bx = batch.map((name) => aInp.axis(name));
    const I = aInp.axis('i');
    const J: Axis = { name: 'j', size: config.nOut };
    const C = muInp.axis('c');
    const H: Axis = { name: 'h', size: config.dOut };
    const IJ = [...Bx, I, J];
    const JCH = [...Bx, J, C, H];
    const W = shared('W');
    const betaUse = shared('beta_use');
    const betaIgn = singleBeta ? betaUse : shared('beta_ign');

    // V[i, j, c, h] = Σ_d mu_inp[i, c, d] W[i, j, d, h] + B[i, j, c, h]: with nInp = -1, W is
    // [j, d, h] and the contraction broadcasts it over i.
    const votes = contract([muInp, W], [...batch, 'i', 'j', 'c', 'h']);
    const V = inLayout('V', add(votes, shared('B')), [...IJ, C, H]);
    const f = sigmoid(aInp);

    const mStep = (R: Vec): Record<'R' | 'D_use' | 'D_ign' | 'a_out' | 'mu_out' | 'sig2_out', Vec> => {
      const D_use = inLayout('D_use', mul(f, R), IJ);
      const D_ign = inLayout('D_ign', sub(f, D_use), IJ);
      const a_out = sub(sum(mul(D_use, betaUse), 'i'), sum(mul(D_ign, betaIgn), 'i')) as Vec;
      const normalized = div(D_use, add(sum(D_use, 'i'), eps)) as Vec;
      const mu_out = contract([normalized, V], [...batch, 'j', 'c', 'h']);
      const diff = sub(V, mu_out);
      const sig2_out = add(contract([normalized, mul(diff, diff)], [...batch, 'j', 'c', 'h']), eps) as Vec;
      return { R, D_use, D_ign, a_out: inLayout('a_out', a_out, [...Bx, J]), mu_out, sig2_out: inLayout('sig2_out', sig2_out, JCH) };
    };

    const first = mStep(inLayout('R', constant(1 / config.nOut), IJ));
    let last: Record<string, Vec> = first;
    if (nIters > 1) {
      const init = [first.a_out, first.mu_out, first.sig2_out, ...outputs.map((name) => first[name])] as const;
      const finals = loop(nIters - 1, init, (aOut, muOut, sig2Out) => {
        const diff = sub(V, muOut);
        const d2 = mul(diff, diff);
        const logP =
          pModel === 'gaussian'
            ? sub(neg(contract([d2, div(0.5, sig2Out)], [...batch, 'i', 'j'])), sum(log(sqrt(sig2Out)), ['c', 'h']))
            : logSoftmax(neg(sum(d2, ['c', 'h'])) as Vec, 'j');
        const R = inLayout('R', softmax(inLayout('logits', add(logP, logSigmoid(aOut)), IJ), 'j'), IJ);
        const it = mStep(R);
        return [it.a_out, it.mu_out, it.sig2_out, ...outputs.map((name) => it[name])] as unknown as typeof init;
      });
      last = { a_out: finals[0], mu_out: finals[1], sig2_out: finals[2] };
      outputs.forEach((name, k) => (last[name] = finals[k + 3]!));
    }
    const result: Record<string, Vec> = { a_out: last['a_out']!, mu_out: last['mu_out']!, sig2_out: last['sig2_out']! };
    for (const name of outputs) result[name] = last[name]!;
    return result;
  });
}
