/**
 * `kernel(name, specs, body)` turns a typed TypeScript function into a reusable kernel. Tracing it
 * (`trace()`) runs the body once on symbolic tensors and records Tensor IR; calling it inside another
 * kernel's body inlines it.
 */
import type { Graph } from './ir.ts';
import { GraphBuilder, currentBuilder, withBuilder } from './trace.ts';
import { Tensor, nodeIn, type Axes } from './tensor.ts';
import { verifyGraph } from './verify.ts';
import { TesseraError, type DType, type Size } from './types.ts';
import { nameRecord, ownEntries, ownEntry } from './bind.ts';

/** Declares a tensor input: dtype, axis names, and sizes pinned to numbers (others are symbols). */
export interface TensorSpec<A extends Axes = Axes, D extends DType = DType> {
  readonly kind: 'tensor';
  readonly dtype: D;
  readonly axes: A;
  readonly sizes: Readonly<Record<string, Size>>;
  /** Pins axis sizes to numbers (specialising shaders) or renames their symbols. */
  pin(sizes: Partial<Record<A[number], Size>>): TensorSpec<A, D>;
}

/** Declares a scalar parameter supplied at run time. */
export interface ParamSpec<D extends DType = DType> {
  readonly kind: 'param';
  readonly dtype: D;
}

export type Spec = TensorSpec | ParamSpec;
export type Specs = Readonly<Record<string, Spec>>;

/** The tensors a kernel body receives for its specs. */
export type TensorsOf<S extends Specs> = {
  readonly [K in keyof S]: S[K] extends TensorSpec<infer A, infer D> ? Tensor<A, D> : S[K] extends ParamSpec<infer D> ? Tensor<readonly [], D> : never;
};

export type KernelResult = Tensor | Readonly<Record<string, Tensor>>;

function tensorSpec<const A extends Axes, D extends DType>(dtype: D, axes: A, given: Readonly<Record<string, Size>> = {}): TensorSpec<A, D> {
  // Axis names are data: a prototype-free record, so an axis called `constructor` has no size
  // unless one is pinned.
  const sizes = ownEntries(given);
  const seen = new Set<string>();
  for (const a of axes) {
    if (typeof a !== 'string' || a === '') throw new TesseraError(`${dtype}(...): axis names must be non-empty strings`);
    if (seen.has(a)) throw new TesseraError(`${dtype}(...): axis '${a}' is declared twice`);
    seen.add(a);
  }
  return {
    kind: 'tensor',
    dtype,
    axes,
    sizes,
    pin(more) {
      for (const [name, size] of Object.entries(more)) {
        if (!axes.includes(name)) throw new TesseraError(`pin: no axis '${name}' in [${axes.join(', ')}]`);
        if (typeof size === 'number' && !(Number.isInteger(size) && size >= 1)) {
          throw new TesseraError(`pin: size of '${name}' must be a whole number >= 1, got ${size}`);
        }
      }
      const merged = ownEntries(sizes);
      for (const [name, size] of Object.entries(more)) merged[name] = size as Size;
      return tensorSpec(dtype, axes, merged);
    },
  };
}

export const f32 = <const A extends Axes>(...axes: A): TensorSpec<A, 'f32'> => tensorSpec('f32', axes);
export const i32 = <const A extends Axes>(...axes: A): TensorSpec<A, 'i32'> => tensorSpec('i32', axes);
export const u32 = <const A extends Axes>(...axes: A): TensorSpec<A, 'u32'> => tensorSpec('u32', axes);
export const bool = <const A extends Axes>(...axes: A): TensorSpec<A, 'bool'> => tensorSpec('bool', axes);
/**
 * A scalar parameter, f32 unless a dtype is given. Overloads rather than a defaulted type parameter:
 * inside `kernel(...)`'s specs a bare `param()` would otherwise infer its dtype from the context
 * (`DType`) instead of the default, and the body would get a tensor of unknown dtype.
 */
export function param(): ParamSpec<'f32'>;
export function param<D extends DType>(dtype: D): ParamSpec<D>;
export function param(dtype: DType = 'f32'): ParamSpec {
  return { kind: 'param', dtype };
}

export interface TraceOptions {
  /** Pins symbols to numbers for this trace (e.g. `{ k: 64 }`). */
  readonly sizes?: Readonly<Record<string, number>>;
}

/**
 * The call signature of a kernel, declared as a method so that its parameter is compared
 * bivariantly: otherwise a specific `Kernel<{ x: ... }>` would not be assignable to the plain
 * `Kernel` that runtimes, the interpreter and the library accept.
 */
type KernelCall<S extends Specs, R extends KernelResult> = { inline(inputs: TensorsOf<S>): R }['inline'];

/** A traced-on-demand kernel. Call it inside another kernel body to inline it. */
export interface Kernel<S extends Specs = Specs, R extends KernelResult = KernelResult> extends KernelCall<S, R> {
  readonly kernelName: string;
  readonly specs: S;
  /** Runs the body on symbolic inputs and returns verified Tensor IR. */
  trace(options?: TraceOptions): Graph;
}

function outputsOf(name: string, result: unknown): Record<string, Tensor> {
  if (result instanceof Tensor) return { out: result };
  if (result && typeof result === 'object') {
    const entries = Object.entries(result as Record<string, unknown>);
    if (entries.length === 0) throw new TesseraError(`kernel '${name}': body returned no tensors`);
    const outputs = nameRecord<Tensor>();
    for (const [key, value] of entries) {
      if (!(value instanceof Tensor)) throw new TesseraError(`kernel '${name}': output '${key}' is not a tensor`);
      outputs[key] = value;
    }
    return outputs;
  }
  throw new TesseraError(`kernel '${name}': body must return a tensor or an object of tensors`);
}

/** Defines a kernel from input specs and a typed body. */
export function kernel<const S extends Specs, R extends KernelResult>(name: string, specs: S, body: (inputs: TensorsOf<S>) => R): Kernel<S, R> {
  const call = (inputs: TensorsOf<S>): R => {
    const builder = currentBuilder(`kernel '${name}'`);
    for (const [key, spec] of Object.entries(specs)) {
      const t = ownEntry(inputs as Readonly<Record<string, unknown>>, key);
      if (!(t instanceof Tensor)) throw new TesseraError(`kernel '${name}': input '${key}' is missing`);
      const want = spec.kind === 'param' ? [] : spec.axes;
      if (t.dtype !== spec.dtype || t.rank !== want.length) {
        throw new TesseraError(`kernel '${name}': input '${key}' must be ${spec.dtype} with ${want.length} axes, got ${t.dtype} with ${t.rank}`);
      }
      nodeIn(builder, t);
    }
    return body(inputs);
  };
  const k = call as Kernel<S, R>;
  Object.defineProperty(k, 'kernelName', { value: name });
  Object.defineProperty(k, 'specs', { value: specs });
  Object.defineProperty(k, 'trace', {
    value: (options: TraceOptions = {}): Graph => {
      const builder = new GraphBuilder();
      const pins = options.sizes ?? {};
      for (const [sym, size] of Object.entries(pins)) {
        if (!(Number.isInteger(size) && size >= 1)) throw new TesseraError(`kernel '${name}': pinned size '${sym}' must be a whole number >= 1, got ${size}`);
      }
      const outputs = withBuilder(builder, () => {
        // Input and parameter names are data (one may be called `__proto__`): a prototype-free record.
        const inputs = nameRecord<Tensor>();
        for (const [key, spec] of Object.entries(specs)) {
          if (spec.kind === 'param') {
            inputs[key] = new Tensor(builder, builder.add({ op: 'param', name: key, type: { dtype: spec.dtype, axes: [] } }));
          } else {
            const axes = spec.axes.map((axis) => {
              const declared = ownEntry(spec.sizes, axis) ?? axis;
              const pinned = typeof declared === 'string' ? ownEntry(pins, declared) : undefined;
              const size = pinned !== undefined ? pinned : declared;
              return { name: axis, size };
            });
            inputs[key] = new Tensor(builder, builder.add({ op: 'input', name: key, type: { dtype: spec.dtype, axes } }));
          }
        }
        const result = outputsOf(name, body(inputs as TensorsOf<S>));
        const ids = nameRecord<number>();
        for (const [key, t] of Object.entries(result)) ids[key] = nodeIn(builder, t);
        return ids;
      });
      const graph = builder.finish(outputs);
      verifyGraph(graph);
      return graph;
    },
  });
  return k;
}

export type { Axes };
