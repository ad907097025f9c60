/**
 * The DSL's tensor operations. Each appends a node to the trace in progress; types are checked
 * twice: statically through the signatures (axis names, operand counts, dtypes) and at trace time
 * by the shared rules in `infer.ts`, which also check sizes.
 */
import { inferComposite, inferContract, inferGather, inferIota, inferMap, inferReduce, inferRelabel } from './infer.ts';
import type { ReduceFn } from './ir.ts';
import { GraphBuilder, currentBuilder, withBuilder } from './trace.ts';
import { Tensor, emit, nodeIn, type Axes, type NumericDType, type UnionAxes, type WithoutAxes } from './tensor.ts';
import { TesseraError, type Axis, type DType, type Size } from './types.ts';

type Res<R extends DType | null, D extends DType> = R extends DType ? R : D;

/** A binary elementwise op: tensors broadcast by axis name; a JS number adopts the tensor's dtype. */
export interface BinaryOp<C extends DType, R extends DType | null> {
  // D is inferred from `a` alone (NoInfer on `b`): inferring it from both would widen it to a
  // union such as 'f32' | 'i32' and accept mixed dtypes that tracing then rejects.
  <A extends Axes, B extends Axes, D extends C>(a: Tensor<A, D>, b: Tensor<B, NoInfer<D>>): Tensor<UnionAxes<A, B>, Res<R, D>>;
  <A extends Axes, D extends C>(a: Tensor<A, D>, b: number): Tensor<A, Res<R, D>>;
  <B extends Axes, D extends C>(a: number, b: Tensor<B, D>): Tensor<B, Res<R, D>>;
}

export type UnaryOp<C extends DType, R extends DType | null> = <A extends Axes, D extends C>(a: Tensor<A, D>) => Tensor<A, Res<R, D>>;

type Operand = Tensor | number | boolean;

/** Turns operands into node ids in the current trace; numbers become constants of `dtype`. */
function toIds(what: string, builder: GraphBuilder, args: readonly Operand[], dtypeOfNumbers: DType): number[] {
  return args.map((arg) => {
    if (arg instanceof Tensor) return nodeIn(builder, arg);
    if (typeof arg === 'boolean') return builder.add({ op: 'const', value: arg ? 1 : 0, type: { dtype: 'bool', axes: [] } });
    if (typeof arg !== 'number' || Number.isNaN(arg)) {
      throw new TesseraError(`${what}: operand must be a tensor or a number, got ${Number.isNaN(arg as number) ? 'NaN' : typeof arg}`);
    }
    return builder.add({ op: 'const', value: arg, type: { dtype: dtypeOfNumbers, axes: [] } });
  });
}

/** Builds a map node over mixed tensor/number operands. */
export function mapOp(fn: string, args: readonly Operand[], numberDtype?: DType): Tensor {
  const builder = currentBuilder(fn);
  const firstTensor = args.find((a): a is Tensor => a instanceof Tensor);
  if (!firstTensor) throw new TesseraError(`${fn}: needs at least one tensor operand`);
  const dtype = numberDtype ?? firstTensor.dtype;
  const ids = toIds(fn, builder, args, dtype);
  const type = inferMap(fn, ids.map((id) => builder.type(id)));
  return new Tensor(builder, builder.add({ op: 'map', fn, args: ids, type }));
}

function binary<C extends DType, R extends DType | null>(fn: string): BinaryOp<C, R> {
  return ((a: Operand, b: Operand) => mapOp(fn, [a, b])) as unknown as BinaryOp<C, R>;
}

function unary<C extends DType, R extends DType | null>(fn: string): UnaryOp<C, R> {
  return ((a: Tensor) => mapOp(fn, [a])) as unknown as UnaryOp<C, R>;
}

export const add = binary<NumericDType, null>('add');
export const sub = binary<NumericDType, null>('sub');
export const mul = binary<NumericDType, null>('mul');
/** Division; integer division truncates toward zero and `x / 0` is `x` (WGSL's rule). */
export const div = binary<NumericDType, null>('div');
/** Truncated remainder; integer `x % 0` is 0 (WGSL's rule). */
export const mod = binary<NumericDType, null>('mod');
export const minimum = binary<NumericDType, null>('min');
export const maximum = binary<NumericDType, null>('max');
/** `x ** y` for x >= 0, or x < 0 with integral y; NaN otherwise. */
export const pow = binary<'f32', null>('pow');

/**
 * Leaky ReLU, `x >= 0 ? x : negativeSlope · x`: the nonlinearity graph attention (GAT) applies to
 * its edge logits before the softmax over neighbours, which keeps a gradient for negative logits
 * where ReLU would zero it. The slope is a number (default 0.01; GAT uses 0.2) or an f32 tensor
 * broadcast by axis name (a learned slope per head). NaN stays NaN, +∞ stays +∞, and −∞ gives
 * `negativeSlope · −∞`, so a −∞ mask survives a positive slope.
 */
export function leakyRelu<A extends Axes>(x: Tensor<A, 'f32'>, negativeSlope?: number): Tensor<A, 'f32'>;
export function leakyRelu<A extends Axes, B extends Axes>(x: Tensor<A, 'f32'>, negativeSlope: Tensor<B, 'f32'>): Tensor<UnionAxes<A, B>, 'f32'>;
export function leakyRelu(x: Tensor, negativeSlope: Tensor | number = 0.01): Tensor {
  return mapOp('leaky_relu', [x, negativeSlope]);
}

/** The dtypes the bit ops take: both operands i32 or both u32. */
type IntegerDType = 'i32' | 'u32';

/** Bitwise AND of the two's-complement words (a number adopts the tensor's dtype). */
export const bitAnd = binary<IntegerDType, null>('bit_and');
/** Bitwise OR of the two's-complement words. */
export const bitOr = binary<IntegerDType, null>('bit_or');
/** Bitwise XOR of the two's-complement words. */
export const bitXor = binary<IntegerDType, null>('bit_xor');
/**
 * `a << b`: bits shifted out of the top are lost. The amount is taken modulo 32 (its low 5 bits,
 * as WGSL does), so a shift by 32 leaves `a` unchanged and a shift by −1 is a shift by 31.
 */
export const shiftLeft = binary<IntegerDType, null>('shift_left');
/**
 * `a >> b`, the amount modulo 32 as in `shiftLeft`: arithmetic on i32 (the sign bit fills in, so
 * −8 >> 1 is −4) and logical on u32 (zeros fill in).
 */
export const shiftRight = binary<IntegerDType, null>('shift_right');

export const neg = unary<NumericDType, null>('neg');
export const abs = unary<NumericDType, null>('abs');
export const exp = unary<'f32', null>('exp');
export const log = unary<'f32', null>('log');
export const log1p = unary<'f32', null>('log1p');
export const sqrt = unary<'f32', null>('sqrt');
export const rsqrt = unary<'f32', null>('rsqrt');
export const tanh = unary<'f32', null>('tanh');
export const sigmoid = unary<'f32', null>('sigmoid');
export const logSigmoid = unary<'f32', null>('log_sigmoid');
/** True where the value is neither infinite nor NaN. */
export const isFinite = unary<'f32', 'bool'>('is_finite');
/** True where the value is +Infinity or -Infinity. */
export const isInf = unary<'f32', 'bool'>('is_inf');
export const isNan = unary<'f32', 'bool'>('is_nan');

export const lt = binary<NumericDType, 'bool'>('lt');
export const le = binary<NumericDType, 'bool'>('le');
export const gt = binary<NumericDType, 'bool'>('gt');
export const ge = binary<NumericDType, 'bool'>('ge');
export const eq = binary<DType, 'bool'>('eq');
export const ne = binary<DType, 'bool'>('ne');

export const and = binary<'bool', null>('and');
export const or = binary<'bool', null>('or');
export const xor = binary<'bool', null>('xor');
export const not = unary<'bool', null>('not');

export const toF32 = unary<DType, 'f32'>('to_f32');
export const toI32 = unary<DType, 'i32'>('to_i32');
export const toU32 = unary<DType, 'u32'>('to_u32');
export const toBool = unary<DType, 'bool'>('to_bool');

type AxesOf<T> = T extends Tensor<infer A, DType> ? A : readonly [];

/**
 * `cond ? a : b` elementwise, broadcasting all three by axis name. The result's axes are the
 * values' axes first (a's, then b's new ones), then the condition's new ones.
 */
export function where<C extends Axes, X extends Tensor | number, Y extends Tensor | number, D extends DType>(
  cond: Tensor<C, 'bool'>,
  a: X & (Tensor<Axes, D> | number),
  b: Y & (Tensor<Axes, NoInfer<D>> | number),
): Tensor<UnionAxes<UnionAxes<AxesOf<X>, AxesOf<Y>>, C>, X extends Tensor<Axes, infer E> ? E : Y extends Tensor<Axes, infer E> ? E : 'f32'> {
  const dtype = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : 'f32';
  const builder = currentBuilder('where');
  const ids = [nodeIn(builder, cond), ...toIds('where', builder, [a, b], dtype)];
  const type = inferMap('where', ids.map((id) => builder.type(id)));
  return new Tensor(builder, builder.add({ op: 'map', fn: 'where', args: ids, type })) as never;
}

/** A scalar constant. */
export function constant<D extends DType = 'f32'>(value: number, dtype?: D): Tensor<readonly [], D> {
  if (Number.isNaN(value)) throw new TesseraError('constant: value is NaN');
  return emit('constant', { op: 'const', value, type: { dtype: dtype ?? 'f32', axes: [] } });
}

/** Index values 0..size-1 along axis `name` of `like` (for masks and positions), as i32. */
export function iota<A extends Axes, const N extends A[number]>(like: Tensor<A, DType>, name: N): Tensor<readonly [N], 'i32'> {
  const axis = like.type.axes.find((a) => a.name === name);
  if (!axis) throw new TesseraError(`iota: tensor has no axis '${name}'; its axes are [${like.axes.join(', ')}]`);
  return emit('iota', { op: 'iota', type: inferIota(axis) });
}

/** The size of axis `name` of `like` as an i32 scalar (a uniform when the size is symbolic). */
export function sizeOf<A extends Axes>(like: Tensor<A, DType>, name: A[number]): Tensor<readonly [], 'i32'> {
  const axis = like.type.axes.find((a) => a.name === name);
  if (!axis) throw new TesseraError(`sizeOf: tensor has no axis '${name}'; its axes are [${like.axes.join(', ')}]`);
  return emit('sizeOf', { op: 'size', axis, type: { dtype: 'i32', axes: [] } });
}

/** Index values along an axis given by name and size (static number or symbol). */
export function iotaOf<N extends string>(name: N, size: number | string): Tensor<readonly [N], 'i32'> {
  return emit('iota', { op: 'iota', type: inferIota({ name, size }) });
}

type ReduceAxes<A extends Axes> = A[number] | readonly A[number][];
type Reduced<A extends Axes, X> = WithoutAxes<A, X extends readonly (infer E extends string)[] ? E : X & string>;

function reduce(fn: ReduceFn, x: Tensor, axes: string | readonly string[]): Tensor {
  const builder = currentBuilder(fn);
  const list = typeof axes === 'string' ? [axes] : [...axes];
  const arg = nodeIn(builder, x);
  const type = inferReduce(fn, builder.type(arg), list);
  return new Tensor(builder, builder.add({ op: 'reduce', fn, arg, axes: list, type }));
}

type Reducer<C extends DType> = <A extends Axes, D extends C, const X extends ReduceAxes<A>>(x: Tensor<A, D>, axes: X) => Tensor<Reduced<A, X>, D>;

function reducer<C extends DType>(fn: ReduceFn): Reducer<C> {
  return ((x: Tensor, axes: string | readonly string[]) => reduce(fn, x, axes)) as unknown as Reducer<C>;
}

export const sum = reducer<NumericDType>('sum');
export const prod = reducer<NumericDType>('prod');
export const max = reducer<NumericDType>('max');
export const min = reducer<NumericDType>('min');
export const mean = reducer<'f32'>('mean');
/**
 * Reads `table` along `axis` at the positions in the i32 tensor `index`, clamped into the axis:
 * `out[…] = table[…, clamp(index[…], 0, size − 1), …]`. The result has the table's other axes,
 * then the index's axes not among them; an axis both have selects the same position in each. A
 * relative-position bias over a table `[h, r]` with `r = 2·M − 1` is
 * `gather(bias, 'r', add(sub(q, kv), sizeOf(s, 'm') − 1))`, read inside a fused kernel without
 * materialising anything of size N×M.
 */
export function gather<A extends Axes, D extends DType, const X extends A[number], I extends Axes>(table: Tensor<A, D>, axis: X, index: Tensor<I, 'i32'>): Tensor<UnionAxes<WithoutAxes<A, X>, I>, D> {
  const builder = currentBuilder('gather');
  const args = [nodeIn(builder, table), nodeIn(builder, index)];
  const type = inferGather(builder.type(args[0]!), builder.type(args[1]!), axis);
  return new Tensor(builder, builder.add({ op: 'gather', args, axis, type })) as unknown as Tensor<UnionAxes<WithoutAxes<A, X>, I>, D>;
}

/** log(sum(exp(x))) over the axes, computed stably. */
export const logsumexp = reducer<'f32'>('logsumexp');

/**
 * A composite over one axis or jointly over several (a softmax over the pair (j, l)): a node that
 * keeps its intent for the fuser (attention, 2-simplicial attention, routing) and carries its
 * definition for the interpreter and `decompose`.
 */
function composite<A extends Axes>(fn: 'softmax' | 'log_softmax' | 'layer_norm', x: Tensor<A, 'f32'>, over: string | readonly string[], eps?: number): Tensor<A, 'f32'> {
  const builder = currentBuilder(fn);
  const arg = nodeIn(builder, x);
  const axes = typeof over === 'string' ? [over] : [...over];
  const type = inferComposite(fn, builder.type(arg), axes);
  return new Tensor(builder, builder.add({ op: 'composite', fn, arg, axes, type, ...(eps !== undefined ? { eps } : {}) }));
}

/** exp(x) normalised over `axis`, or jointly over several axes (`['j', 'l']`); a row with nothing above −∞ gives zeros. */
export function softmax<A extends Axes>(x: Tensor<A, 'f32'>, axis: A[number] | readonly A[number][]): Tensor<A, 'f32'> {
  return composite('softmax', x, axis);
}

/** log(softmax(x)) over `axis` or jointly over several axes, computed stably. */
export function logSoftmax<A extends Axes>(x: Tensor<A, 'f32'>, axis: A[number] | readonly A[number][]): Tensor<A, 'f32'> {
  return composite('log_softmax', x, axis);
}

/** (x - mean) / sqrt(var + eps) over one axis (or jointly over several), with no affine terms (multiply and add yourself). */
export function layerNorm<A extends Axes>(x: Tensor<A, 'f32'>, axis: A[number] | readonly A[number][], eps = 1e-5): Tensor<A, 'f32'> {
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new TesseraError(`layerNorm: eps must be a finite number >= 0, got ${eps}`);
  return composite('layer_norm', x, axis, eps);
}

/**
 * Contraction over named axes: multiplies the operands (broadcast by name) and sums every axis not
 * listed in `out`, which also fixes the result's axis order.
 */
export function contract<const O extends Axes, D extends NumericDType>(operands: readonly Tensor<Axes, D>[], out: O): Tensor<O, D> {
  const builder = currentBuilder('contract');
  const args = operands.map((t) => nodeIn(builder, t));
  const type = inferContract(args.map((id) => builder.type(id)), out);
  return new Tensor(builder, builder.add({ op: 'contract', args, type }));
}

type Renamed<A extends Axes, M extends Record<string, string>> = { readonly [K in keyof A]: A[K] extends keyof M ? M[A[K]] : A[K] };

/** Renames axes: `rename(x, { n: 'm' })`. */
export function rename<A extends Axes, D extends DType, const M extends Partial<Record<A[number], string>>>(
  x: Tensor<A, D>,
  mapping: M,
): Tensor<Renamed<A, M & Record<string, string>>, D> {
  for (const key of Object.keys(mapping)) {
    if (!x.axes.includes(key)) throw new TesseraError(`rename: tensor has no axis '${key}'; its axes are [${x.axes.join(', ')}]`);
  }
  const names = x.axes.map((a) => (Object.hasOwn(mapping, a) ? (mapping as Record<string, string>)[a]! : a));
  return relabel(x, names) as never;
}

/** Reorders axes: `transpose(x, ['n', 'b'])` must list every axis once. */
export function transpose<A extends Axes, D extends DType, const O extends readonly A[number][]>(x: Tensor<A, D>, order: O): Tensor<O, D> {
  return relabel(x, x.axes, order) as never;
}

/**
 * The general relabelling: operand axis `i` becomes `names[i]`; equal names take a diagonal;
 * `order` fixes the result axis order (default: first appearance).
 */
export function relabel<D extends DType>(x: Tensor<Axes, D>, names: readonly string[], order?: readonly string[]): Tensor<Axes, D> {
  const builder = currentBuilder('relabel');
  const arg = nodeIn(builder, x);
  const type = inferRelabel(builder.type(arg), names, order);
  return new Tensor(builder, builder.add({ op: 'relabel', arg, names: [...names], type }));
}

/** Broadcasts `x` to carry extra axes (sizes given), as a copy; useful to materialise a broadcast. */
export function expand<A extends Axes, D extends DType, const N extends string>(x: Tensor<A, D>, extra: readonly { readonly name: N; readonly size: Size }[]): Tensor<readonly [...A, N], D> {
  const builder = currentBuilder('expand');
  const arg = nodeIn(builder, x);
  const type = inferMap('id', [builder.type(arg)], extra);
  return new Tensor(builder, builder.add({ op: 'map', fn: 'id', args: [arg], type }));
}

type Carried<T extends readonly Tensor[]> = { readonly [K in keyof T]: T[K] extends Tensor<infer A, infer D> ? Tensor<A, D> : never };

/**
 * Runs `body` `count` times on carried tensors (same axes, sizes and dtypes each iteration) and
 * returns their final values. Tensors of the enclosing kernel used in the body are captured.
 */
export function loop<const T extends readonly Tensor[]>(count: number, init: T, body: (...carried: Carried<T>) => Carried<T>): Carried<T> {
  if (!Number.isInteger(count) || count < 0) throw new TesseraError(`loop: count must be a whole number >= 0, got ${count}`);
  if (init.length === 0) throw new TesseraError('loop: needs at least one carried tensor');
  const parent = currentBuilder('loop');
  const initIds = init.map((t) => nodeIn(parent, t));
  const child = new GraphBuilder(parent);
  const results = withBuilder(child, () => {
    const carried = initIds.map((id, index) => new Tensor(child, child.add({ op: 'carry', index, type: parent.type(id) })));
    const out = body(...(carried as unknown as Carried<T>));
    if (!Array.isArray(out) || out.length !== init.length) {
      throw new TesseraError(`loop: body must return ${init.length} tensor(s) in an array, got ${Array.isArray(out) ? out.length : typeof out}`);
    }
    return out.map((t: Tensor) => nodeIn(child, t));
  });
  results.forEach((id, i) => {
    const want = parent.type(initIds[i]!);
    const got = child.type(id);
    const same = want.dtype === got.dtype && want.axes.length === got.axes.length && want.axes.every((a, k) => a.name === got.axes[k]!.name && a.size === got.axes[k]!.size);
    if (!same) {
      throw new TesseraError(`loop: carried tensor ${i} must keep its type; it enters as ${describeType(want)} and leaves as ${describeType(got)}`);
    }
  });
  const outputs = Object.fromEntries(results.map((id, i) => [String(i), id]));
  const loopId = parent.add({
    op: 'loop',
    count,
    init: initIds,
    captures: [...child.captures],
    body: child.finish(outputs),
    type: parent.type(initIds[0]!),
  });
  return initIds.map((id, index) => new Tensor(parent, parent.add({ op: 'loop_result', loop: loopId, index, type: parent.type(id) }))) as unknown as Carried<T>;
}

function describeType(t: { dtype: DType; axes: readonly Axis[] }): string {
  return `${t.dtype}[${t.axes.map((a) => `${a.name}:${a.size}`).join(', ')}]`;
}

/** @internal used by einsum */
export { reduce as reduceOp };
