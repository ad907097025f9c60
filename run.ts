/**
 * Running DSL kernels in one call: `run` traces, compiles and runs a kernel on a backend, and
 * `attention` runs the library's attention kernel on the usual `[B, H, N, D]` layouts. Both load
 * the compiler, so they live here, in the full bundle (`tessera`), and not in `tessera/kernels`
 * (the library written in the DSL) or `tessera/runtime` (which runs precompiled Programs only).
 */
import { graphInputs, type Graph } from './dsl/ir.ts';
import type { Kernel, Specs } from './dsl/kernel.ts';
import { TesseraError, type DType, type HostTensor } from './dsl/types.ts';
import { bindSymbols, boundaryOf, concreteShape, elementCount, type BoundaryTensor, type Shaped } from './dsl/bind.ts';
import { compile, type CompileOptions } from './compiler/index.ts';
import { symbolsToPin } from './compiler/specialize.ts';
import type { Backend, RuntimeTensor } from './runtime/index.ts';
import { LruMap } from './runtime/lru.ts';
import { evalSize, type Program, type SizeExpr } from './program/index.ts';
import { attentionKernel, mergeHeads, splitHeads, type AttentionConfig } from './kernels/attention.ts';

export interface RunOptions {
  /** Scalar parameters by name. */
  readonly params?: Readonly<Record<string, number>>;
  /**
   * Symbols pinned to numbers when tracing (specialises the shaders). `run` pins the symbols the
   * fused lowering needs static, and the sizes of tensors larger than one storage binding, by
   * itself (see `compileFor`), so this is for further pins.
   */
  readonly sizes?: Readonly<Record<string, number>>;
  /**
   * Extra compiler options (schedules, logging). `log` sees the passes only when a program is
   * compiled, not when a cached one is reused.
   */
  readonly compile?: Omit<CompileOptions, 'limits' | 'name'>;
}

/** A result read back to the host. */
export interface RunResult {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: Float32Array | Int32Array | Uint32Array | Uint8Array;
}

/** Programs kept per kernel: one per (pins, device limits, schedules); least recently used go first. */
const PROGRAMS_PER_KERNEL = 32;

/** A kernel traced with the user's pins: its graph, its boundary and the symbols to specialise. */
interface Traced {
  readonly graph: Graph;
  readonly declared: readonly BoundaryTensor[];
  readonly pin: readonly string[];
  /** Size symbols of contractions of three or more operands: their order is chosen by these sizes. */
  readonly ordered: readonly string[];
}

/** The size symbols of every contraction of three or more operands (loop and flash bodies too). */
function orderedSymbols(graph: Graph, into: Set<string> = new Set()): Set<string> {
  for (const node of graph.nodes) {
    if (node.op === 'contract' && node.args.length >= 3) {
      for (const arg of node.args) for (const a of graph.nodes[arg]!.type.axes) if (typeof a.size === 'string') into.add(a.size);
    }
    if (node.op === 'loop' || node.op === 'scan' || node.op === 'flash') orderedSymbols(node.body, into);
  }
  return into;
}

/**
 * A bound size's class for planning: the nearest power of two. Contraction orders are chosen by
 * the sizes a run binds (`sizeHints`), one program per class rather than per size.
 */
function sizeClass(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.round(Math.log2(n));
}

const tracedCache = new WeakMap<Kernel, Map<string, Traced>>();
const programCache = new WeakMap<Kernel, LruMap<string, Program>>();

function traced(k: Kernel, sizes: Readonly<Record<string, number>>): Traced {
  let byPins = tracedCache.get(k);
  if (!byPins) tracedCache.set(k, (byPins = new Map()));
  const key = JSON.stringify(sortedEntries(sizes));
  let t = byPins.get(key);
  if (!t) {
    const graph = k.trace({ sizes });
    const declared = graphInputs(graph).map((node) => boundaryOf(node.name, node.type));
    t = { graph, declared, pin: symbolsToPin(graph), ordered: [...orderedSymbols(graph)].sort() };
    byPins.set(key, t);
  }
  return t;
}

function sortedEntries(record: Readonly<Record<string, number>>): [string, number][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Traces and compiles `k` for `backend`, reusing an earlier compilation for the same settings.
 *
 * With `inputs` (only their shapes are read), the symbols the best lowering needs static are
 * pinned to the sizes those shapes bind: an attention region's head dims (`d` and `e`), which the
 * fused flash kernel sizes its tiles by; and, on a backend that binds storage buffers (WebGPU),
 * the sizes of every tensor — input, output or temporary — that this run makes larger than one
 * binding (`maxStorageBufferBindingSize`), which the compiler can only split into chunks when it
 * sees them static (`chunk-bindings`). Every other size stays symbolic. Programs are cached per
 * (kernel, signature of those values, `options.sizes`, device limits, schedules), so a new head dim
 * compiles once and every N, M or batch size reuses it, except sizes past one binding, which
 * compile once each. A kernel without an attention region is compiled once with symbolic sizes
 * for every run whose tensors fit one binding, with or without `inputs`. Without `inputs` nothing
 * is pinned but `options.sizes` (what `compile(k.trace({ sizes }))` gives, for shipping).
 *
 * With `inputs`, a contraction of three or more operands is ordered by the sizes the run binds:
 * each of its size symbols is hinted (`sizeHints`, unless the caller hints it) with the power of
 * two nearest its bound value, so the program stays shape-generic and one compiles per size class.
 */
export function compileFor(
  k: Kernel,
  backend: Backend,
  options: Pick<RunOptions, 'sizes' | 'compile'> = {},
  inputs?: Readonly<Record<string, Shaped | undefined>>,
): Program {
  const userSizes = options.sizes ?? {};
  const t = traced(k, userSizes);
  const specialised: Record<string, number> = Object.create(null);
  const binds = backend.kind !== 'cpu';
  // The same binding (and the same errors for bad shapes) as the backend's run.
  const bound = inputs && (t.pin.length > 0 || binds || t.ordered.length > 0) ? bindSymbols(t.declared, inputs) : null;
  if (!bound) return compiled(k, backend, options, t, specialised);
  // n-ary contractions are ordered by the sizes this run binds (their classes), unless hinted.
  const given = options.compile?.sizeHints ?? {};
  const classes = t.ordered.filter((s) => bound[s] !== undefined && !Object.hasOwn(given, s)).map((s) => [s, sizeClass(bound[s]!)] as const);
  if (classes.length > 0) options = { ...options, compile: { ...options.compile, sizeHints: { ...Object.fromEntries(classes), ...given } } };
  for (const symbol of t.pin) if (bound[symbol] !== undefined) specialised[symbol] = bound[symbol]!;
  if (!binds) return compiled(k, backend, options, t, specialised);
  const limit = backend.limits.maxStorageBufferBindingSize;
  for (const input of t.declared) {
    if (elementCount(concreteShape(input.shape, bound)) * 4 > limit) pinSymbols(input.shape, bound, specialised);
  }
  const program = compiled(k, backend, options, t, specialised);
  // A temporary or an output can be too large for one binding where no input is.
  const before = Object.keys(specialised).length;
  for (const b of program.buffers) {
    const bytes = tryEvalSize(b.bytes, bound);
    if (bytes !== null && bytes > limit) pinSymbols(symbolsOf(b.bytes), bound, specialised);
  }
  return Object.keys(specialised).length === before ? program : compiled(k, backend, options, t, specialised);
}

/** The program for `k` traced with `specialised` pinned, compiled once per settings and kept. */
function compiled(k: Kernel, backend: Backend, options: Pick<RunOptions, 'sizes' | 'compile'>, t: Traced, specialised: Readonly<Record<string, number>>): Program {
  const userSizes = options.sizes ?? {};
  let cache = programCache.get(k);
  if (!cache) programCache.set(k, (cache = new LruMap(PROGRAMS_PER_KERNEL)));
  const key = JSON.stringify([sortedEntries(userSizes), sortedEntries(specialised), backend.limits, options.compile?.schedules ?? null, options.compile?.contractionPath ?? null, options.compile?.sizeHints ?? null]);
  let program = cache.get(key);
  if (!program) {
    const graph = Object.keys(specialised).length === 0 ? t.graph : k.trace({ sizes: { ...userSizes, ...specialised } });
    program = compile(graph, { ...options.compile, name: k.kernelName, limits: backend.limits });
    cache.set(key, program);
  }
  return program;
}

/** Pins every symbol among `sizes` to its bound value. */
function pinSymbols(sizes: readonly (string | number)[], bound: Readonly<Record<string, number>>, into: Record<string, number>): void {
  for (const s of sizes) if (typeof s === 'string' && Object.hasOwn(bound, s)) into[s] = bound[s]!;
}

/** The symbols a size expression names. */
function symbolsOf(e: SizeExpr): string[] {
  if (typeof e === 'number') return [];
  if (typeof e === 'string') return [e];
  return e.args.flatMap(symbolsOf);
}

function tryEvalSize(e: SizeExpr, symbols: Readonly<Record<string, number>>): number | null {
  try {
    return evalSize(e, symbols);
  } catch {
    return null;
  }
}

/**
 * Runs a kernel on a backend and reads every output back: the one-call path from DSL code to
 * numbers. The program is specialised to the head dims of any attention region (see `compileFor`)
 * and cached. For repeated runs keep the device tensors instead
 * (`backend.run(compileFor(k, backend, {}, inputs), ...)`).
 */
export async function run(
  k: Kernel,
  inputs: Readonly<Record<string, HostTensor | RuntimeTensor>>,
  backend: Backend,
  options: RunOptions = {},
): Promise<Record<string, RunResult>> {
  const program = compileFor(k, backend, options, inputs);
  const outputs = await backend.run(program, inputs, options.params ?? {});
  const results: Record<string, RunResult> = Object.create(null);
  for (const [name, t] of Object.entries(outputs)) {
    results[name] = { shape: t.shape, dtype: t.dtype, data: await t.read() };
    t.destroy();
  }
  return results;
}

// ---- attention on the usual layouts -------------------------------------------------------------

/** Inputs of `attention`: the usual layouts, `doc [B, N]` with `documentMask`, and extra inputs. */
export interface AttentionInputs {
  readonly q: HostTensor;
  readonly k: HostTensor;
  readonly v: HostTensor;
  readonly doc?: HostTensor;
  readonly [extra: string]: HostTensor | undefined;
}

/** `attention`'s options: a kernel configuration plus the scale (default `1 / sqrt(D)`). */
export type AttentionOptions<E extends Specs = {}> = AttentionConfig<E> & { readonly scale?: number };

/**
 * Kernels built by `attention`, by configuration: tracing and compiling happen once per distinct
 * configuration (and head dims) rather than once per call. Modifier functions and extra specs are
 * told apart by identity, so hoist them out of hot loops to share a kernel.
 */
const kernelCache = new LruMap<string, Kernel>(64);
const identities = new WeakMap<object, number>();
let nextIdentity = 1;

function identity(value: object | undefined): number | null {
  if (value === undefined) return null;
  let id = identities.get(value);
  if (id === undefined) identities.set(value, (id = nextIdentity++));
  return id;
}

function cachedKernel<E extends Specs>(config: AttentionConfig<E>): Kernel {
  const key = JSON.stringify([
    config.softcap ?? null,
    config.alibi === true,
    config.causal === true,
    config.window ?? null,
    config.documentMask === true,
    config.prefix ?? null,
    identity(config.scoreMod),
    identity(config.maskMod),
    identity(config.extraInputs),
  ]);
  let k = kernelCache.get(key);
  if (!k) kernelCache.set(key, (k = attentionKernel(config)));
  return k;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Runs the library's attention kernel (`attentionKernel`) on `backend` with the usual layouts:
 * `q [B, Hq, N, D]`, `k [B, Hkv, M, D]`, `v [B, Hkv, M, Dv]` (and `doc [B, N]`, and any extra
 * inputs, passed through unchanged). Returns `o [B, Hq, N, Dv]` and `lse [B, Hq, N]`. Like every
 * `run`, the program is specialised to the head dims D and Dv, which the fused flash kernel sizes
 * its register blocks and workgroup tiles by; N, M, B and the head counts stay symbolic (the
 * compiled program picks its flash variant by N at run time).
 */
export async function attention<E extends Specs = {}>(
  backend: Backend,
  inputs: AttentionInputs,
  options: AttentionOptions<E> = {},
): Promise<{ o: RunResult; lse: RunResult }> {
  const { q, k, v, doc, ...extra } = inputs;
  for (const [name, t] of [['k', k], ['v', v]] as const) {
    if (!t || t.shape.length !== 4) throw new TesseraError(`attention: ${name} must have shape [B, Hkv, M, ${name === 'k' ? 'D' : 'Dv'}], got ${t ? shapeText(t.shape) : 'nothing'}`);
  }
  if (!q || q.shape.length !== 4) throw new TesseraError(`attention: q must have shape [B, Hq, N, D], got ${q ? shapeText(q.shape) : 'nothing'}`);
  const [, , n, d] = q.shape as [number, number, number, number];
  const [, hkv, m, dk] = k.shape as [number, number, number, number];
  if (dk !== d) throw new TesseraError(`attention: q has head dim ${d} but k has ${dk}`);
  if (options.documentMask === true) {
    if (n !== m) throw new TesseraError(`attention: documentMask needs as many queries as keys, got N = ${n} and M = ${m}`);
    if (!doc) throw new TesseraError('attention: documentMask needs the input doc [B, N]');
  } else if (doc) {
    throw new TesseraError('attention: doc was given but documentMask is off');
  }
  const scale = options.scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(scale)) throw new TesseraError(`attention: scale must be a finite number, got ${scale}`);
  const runInputs: Record<string, HostTensor> = { q: splitHeads(q, hkv), k, v };
  if (doc) runInputs['doc'] = doc;
  for (const [name, t] of Object.entries(extra)) if (t) runInputs[name] = t;
  const result = await run(cachedKernel(options), runInputs, backend, { params: { scale } });
  return { o: mergeHeads(result['o']!), lse: mergeHeads(result['lse']!) };
}
