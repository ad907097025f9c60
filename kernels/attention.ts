/**
 * FlexAttention-style attention written in the DSL: scaled dot-product attention with GQA/MQA,
 * built-in score modifiers (tanh soft-cap, ALiBi) and masks (causal, sliding window, document ids,
 * prefix-LM), plus user `scoreMod` / `maskMod` functions written in the DSL that may read captured
 * tensors. Semantics follow the golden kind `attention` (`test/golden/README.md`).
 *
 * The body is written in one fixed shape, because the compiler's fusion pass recognises exactly
 * this pattern and lowers it to a single flash kernel (online softmax, no N×M buffer):
 *
 * ```
 * s      = mul(contract(q, k -> [b, hkv, g, n, m]), scale)
 * s      = <score modifiers, elementwise>
 * masked = where(allowed, s, -Infinity)         (absent when no mask is active)
 * o      = contract(softmax(masked, 'm'), v -> [b, hkv, g, n, e])
 * lse    = logsumexp(masked, 'm')
 * ```
 *
 * The contractions are written with `contract` over named axes rather than `einsum`: einsum names
 * its result axes by single letters, and the kv-head axis is called `hkv`. The IR is the same
 * `contract` node einsum would produce.
 *
 * GQA is expressed with axes, not index arithmetic: row-major `q [B, Hq, N, D]` is the same memory
 * as `[B, Hkv, G, N, D]` with query head `h = hkv·G + g`, so splitting the head axis makes query
 * head `h` read kv head `floor(h / G)` by plain broadcasting over `g`.
 */
import { contract, and, add, div, exp, ge, iota, le, lt, mul, or, eq, rename, sizeOf, softmax, sub, tanh, toF32, transpose, where, expand, logsumexp } from '../dsl/ops.ts';
import { f32, i32, kernel, param, type Kernel, type Spec, type Specs, type TensorSpec, type TensorsOf } from '../dsl/kernel.ts';
import type { Tensor, Axes } from '../dsl/tensor.ts';
import { TesseraError, type HostTensor } from '../dsl/types.ts';

/** Axes of the score tensor, in the order every score-shaped tensor of the kernel keeps. */
export const SCORE_AXES = ['b', 'hkv', 'g', 'n', 'm'] as const;
type ScoreAxes = typeof SCORE_AXES;

/** The attention scores `[b, hkv, g, n, m]` a `scoreMod` receives and returns. */
export type Scores = Tensor<ScoreAxes, 'f32'>;

/**
 * Index tensors handed to `scoreMod` and `maskMod`, each over only the axes it varies along, so a
 * modifier broadcasts them by name: `b` over `b`; `h` the query head `hkv·G + g` over `[hkv, g]`;
 * `q` the query position over `n`; `kv` the key position over `m`.
 */
export interface AttentionIndices {
  readonly b: Tensor<readonly ['b'], 'i32'>;
  readonly h: Tensor<readonly ['hkv', 'g'], 'i32'>;
  readonly q: Tensor<readonly ['n'], 'i32'>;
  readonly kv: Tensor<readonly ['m'], 'i32'>;
}

/** Options of `attentionKernel`; every modifier and mask defaults to off. */
export interface AttentionConfig<E extends Specs = {}> {
  /** Tanh soft-cap c: `s = c·tanh(s / c)`. A number > 0, or null/absent for none. */
  readonly softcap?: number | null;
  /** ALiBi: `s += slope_h·(kv − q)` with `slope_h = 2^(−8(h+1)/Hq)`. */
  readonly alibi?: boolean;
  /** Causal mask: `kv <= q`. */
  readonly causal?: boolean;
  /** Sliding window w: `q − kv < w` (combine with `causal` for the usual local attention). */
  readonly window?: number | null;
  /** Document mask: `doc[b, q] == doc[b, kv]`, adding the input `doc: i32[b, n]`; needs N = M. */
  readonly documentMask?: boolean;
  /** Prefix-LM with prefix length p: allowed iff `kv < p` or `kv <= q`. */
  readonly prefix?: number | null;
  /**
   * A user score modifier, applied after soft-cap and ALiBi. It returns the new scores (the axes
   * of `score`, in any order) and may read the index tensors and the `extraInputs`.
   */
  readonly scoreMod?: (score: Scores, idx: AttentionIndices, extra: TensorsOf<E>) => Tensor<Axes, 'f32'>;
  /** A user mask: true where a (query, key) pair may attend; its axes must be score axes. */
  readonly maskMod?: (idx: AttentionIndices, extra: TensorsOf<E>) => Tensor<Axes, 'bool'>;
  /**
   * Further kernel inputs the modifiers read (a learned bias table, say), as DSL specs. Name their
   * axes like the scores' (`b, hkv, g, n, m`) to broadcast against them; with `documentMask` an
   * `m` axis is sized by N, like k and v.
   */
  readonly extraInputs?: E;
}

/** The names `attentionKernel` reserves for its own inputs. */
const RESERVED = ['q', 'k', 'v', 'scale', 'doc'] as const;

function checkConfig<E extends Specs>(config: AttentionConfig<E>): void {
  const { softcap, window, prefix } = config;
  if (softcap !== undefined && softcap !== null && !(Number.isFinite(softcap) && softcap > 0)) {
    throw new TesseraError(`attention: softcap must be a finite number > 0 or null, got ${softcap}`);
  }
  if (window !== undefined && window !== null && !(Number.isInteger(window) && window >= 1)) {
    throw new TesseraError(`attention: window must be a whole number >= 1 or null, got ${window}`);
  }
  if (prefix !== undefined && prefix !== null && !(Number.isInteger(prefix) && prefix >= 0)) {
    throw new TesseraError(`attention: prefix must be a whole number >= 0 or null, got ${prefix}`);
  }
  for (const name of Object.keys(config.extraInputs ?? {})) {
    if ((RESERVED as readonly string[]).includes(name)) {
      throw new TesseraError(`attention: extra input '${name}' clashes with a built-in input (${RESERVED.join(', ')})`);
    }
  }
}

/** Throws unless every axis of `t` is a score axis (a modifier must not add axes of its own). */
function checkScoreAxes(what: string, t: Tensor): void {
  const foreign = t.axes.filter((a) => !(SCORE_AXES as readonly string[]).includes(a));
  if (foreign.length > 0) {
    throw new TesseraError(`attention: ${what} has axes [${t.axes.join(', ')}]; only the score axes [${SCORE_AXES.join(', ')}] are allowed`);
  }
}

/**
 * Brings a `scoreMod` result to the exact score layout `[b, hkv, g, n, m]`. Elementwise ops order
 * their result axes by first appearance, so `add(bias, s)` comes out as `[n, m, b, hkv, g]` when
 * `bias` is `[n, m]`; transposing back keeps `softmax`, `logsumexp` and the `lse` output in score
 * order. Both steps are elementwise and fuse into the consumer.
 */
function inScoreLayout(t: Tensor<Axes, 'f32'>, scores: Scores): Scores {
  checkScoreAxes('scoreMod result', t);
  const axes = t.axes;
  if (axes.length === SCORE_AXES.length && axes.every((a, i) => a === SCORE_AXES[i])) return t as Scores;
  const missing = SCORE_AXES.filter((a) => !axes.includes(a)).map((name) => scores.axis(name));
  const full = missing.length > 0 ? expand(t, missing) : t;
  return transpose(full as Scores, SCORE_AXES);
}

/**
 * The attention kernel for one configuration. Inputs: `q: f32[b, hkv, g, n, d]`,
 * `k: f32[b, hkv, m, d]`, `v: f32[b, hkv, m, e]`, the parameter `scale`, `doc: i32[b, n]` when
 * `documentMask` is on, and the `extraInputs`. Outputs: `o: f32[b, hkv, g, n, e]` and
 * `lse: f32[b, hkv, g, n]`; a query row with no allowed key gives `o = 0` and `lse = −∞`.
 * `splitHeads` / `mergeHeads` convert from and to the usual `[B, H, N, D]` layouts, and `attention`
 * (in `tessera`, next to `run`, since it compiles) does the whole round trip.
 */
export function attentionKernel<E extends Specs = {}>(config: AttentionConfig<E> = {}): Kernel {
  checkConfig(config);
  const documentMask = config.documentMask === true;
  // With a document mask the kv axis `m` is the query axis `n` renamed, so both must carry one size
  // symbol: k and v declare `m` with the symbol `n`, and binding N ≠ M fails at the boundary.
  // Extra inputs over the kv axis (a dense bias table, say) follow, unless they pin `m` themselves.
  const kvSizes = documentMask ? { m: 'n' } : {};
  const extraSpecs = Object.fromEntries(
    Object.entries(config.extraInputs ?? {}).map(([name, spec]) => [
      name,
      documentMask && spec.kind === 'tensor' && spec.axes.includes('m') && spec.sizes['m'] === undefined ? (spec as TensorSpec).pin(kvSizes as never) : spec,
    ]),
  );
  const specs: Record<string, Spec> = {
    q: f32('b', 'hkv', 'g', 'n', 'd'),
    k: f32('b', 'hkv', 'm', 'd').pin(kvSizes),
    v: f32('b', 'hkv', 'm', 'e').pin(kvSizes),
    scale: param(),
    ...(documentMask ? { doc: i32('b', 'n') } : {}),
    ...extraSpecs,
  };
  const extraNames = Object.keys(config.extraInputs ?? {});
  return kernel(attentionName(config), specs, (inputs) => {
    const q = inputs['q'] as Tensor<readonly ['b', 'hkv', 'g', 'n', 'd'], 'f32'>;
    const k = inputs['k'] as Tensor<readonly ['b', 'hkv', 'm', 'd'], 'f32'>;
    const v = inputs['v'] as Tensor<readonly ['b', 'hkv', 'm', 'e'], 'f32'>;
    const scale = inputs['scale'] as Tensor<readonly [], 'f32'>;
    const extra = Object.fromEntries(extraNames.map((name) => [name, inputs[name]])) as unknown as TensorsOf<E>;

    const idx: AttentionIndices = {
      b: iota(q, 'b'),
      h: add(mul(iota(q, 'hkv'), sizeOf(q, 'g')), iota(q, 'g')),
      q: iota(q, 'n'),
      kv: iota(k, 'm'),
    };

    let s: Scores = mul(contract([q, k], SCORE_AXES), scale);

    if (config.softcap !== undefined && config.softcap !== null) {
      const c = config.softcap;
      s = mul(tanh(div(s, c)), c);
    }
    if (config.alibi === true) {
      // slope_h = 2^(−8(h+1)/Hq) with Hq = Hkv·G, as exp(ln 2 · exponent).
      const heads = toF32(mul(sizeOf(q, 'hkv'), sizeOf(q, 'g')));
      const slope = exp(mul(div(mul(toF32(add(idx.h, 1)), -8), heads), Math.LN2));
      s = add(s, mul(slope, toF32(sub(idx.kv, idx.q))));
    }
    if (config.scoreMod) s = inScoreLayout(config.scoreMod(s, idx, extra), s);

    const masks: Tensor<Axes, 'bool'>[] = [];
    if (config.causal === true) masks.push(ge(idx.q, idx.kv));
    if (config.window !== undefined && config.window !== null) masks.push(lt(sub(idx.q, idx.kv), config.window));
    if (documentMask) {
      const doc = inputs['doc'] as Tensor<readonly ['b', 'n'], 'i32'>;
      masks.push(eq(doc, rename(doc, { n: 'm' })));
    }
    if (config.prefix !== undefined && config.prefix !== null) masks.push(or(lt(idx.kv, config.prefix), le(idx.kv, idx.q)));
    if (config.maskMod) {
      const m = config.maskMod(idx, extra);
      if (m.dtype !== 'bool') throw new TesseraError(`attention: maskMod must return a bool tensor, got ${m.dtype}`);
      checkScoreAxes('maskMod result', m);
      masks.push(m);
    }

    // `where` orders its result axes by its values, so the mask may cover any subset of the score
    // axes in any order and `masked` still has the score layout. The masks stay a flat chain of
    // `and`s of comparisons, from which the fused kernel derives analytic kv bounds (causal, window).
    const masked = (masks.length === 0 ? s : where(masks.reduce((a, b) => and(a, b)), s, -Infinity)) as Scores;
    const o = contract([softmax(masked, 'm'), v], ['b', 'hkv', 'g', 'n', 'e'] as const);
    const lse = logsumexp(masked, 'm');
    return { o, lse };
  });
}

/** A readable kernel name listing the active options (it labels compiled programs and errors). */
function attentionName<E extends Specs>(config: AttentionConfig<E>): string {
  const parts: string[] = [];
  if (config.softcap != null) parts.push(`softcap=${config.softcap}`);
  if (config.alibi) parts.push('alibi');
  if (config.causal) parts.push('causal');
  if (config.window != null) parts.push(`window=${config.window}`);
  if (config.documentMask) parts.push('document');
  if (config.prefix != null) parts.push(`prefix=${config.prefix}`);
  if (config.scoreMod) parts.push('scoreMod');
  if (config.maskMod) parts.push('maskMod');
  return `attention(${parts.join(', ')})`;
}

// ---- the boundary: ordinary [B, H, N, D] layouts --------------------------------------------------

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Views `q [B, Hq, N, D]` as `[B, Hkv, G, N, D]` with `G = Hq / Hkv`: the same data, since query
 * head `h = hkv·G + g` is stored at the same place either way. Throws when Hq is not a multiple.
 */
export function splitHeads(q: HostTensor, hkv: number): HostTensor {
  if (q.shape.length !== 4) throw new TesseraError(`attention: q must have shape [B, Hq, N, D], got ${shapeText(q.shape)}`);
  const [b, hq, n, d] = q.shape as [number, number, number, number];
  if (!(Number.isInteger(hkv) && hkv >= 1)) throw new TesseraError(`attention: the number of key/value heads must be a whole number >= 1, got ${hkv}`);
  if (hq % hkv !== 0) {
    throw new TesseraError(`attention: q has ${hq} heads, which is not a multiple of the ${hkv} key/value heads`);
  }
  return { ...q, shape: [b, hkv, hq / hkv, n, d] };
}

/**
 * Undoes `splitHeads` on a result: `o [B, Hkv, G, N, Dv]` becomes `[B, Hq, N, Dv]` and
 * `lse [B, Hkv, G, N]` becomes `[B, Hq, N]`, sharing the data.
 */
export function mergeHeads<T extends { readonly shape: readonly number[] }>(t: T): T {
  const s = t.shape;
  if (s.length === 5) return { ...t, shape: [s[0]!, s[1]! * s[2]!, s[3]!, s[4]!] };
  if (s.length === 4) return { ...t, shape: [s[0]!, s[1]! * s[2]!, s[3]!] };
  throw new TesseraError(`mergeHeads: expected a [B, Hkv, G, N, Dv] or [B, Hkv, G, N] tensor, got ${shapeText(s)}`);
}
