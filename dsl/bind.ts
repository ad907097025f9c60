/**
 * Checks the tensors and parameters a caller passes at a kernel's boundary and binds the size
 * symbols. Shared by the interpreter and every runtime backend so that bad input gives the same
 * readable error everywhere.
 */
import { TesseraError, formatSize, type DType, type HostArray, type HostTensor, type Size, type TensorType } from './types.ts';

/** What the boundary declares for one input tensor. */
export interface BoundaryTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly axes: readonly string[];
  readonly shape: readonly Size[];
}

/** The boundary record of a tensor of the given type (sizes static or symbols). */
export function boundaryOf(name: string, type: TensorType): BoundaryTensor {
  return { name, dtype: type.dtype, axes: type.axes.map((a) => a.name), shape: type.axes.map((a) => a.size) };
}

/** Anything with a shape and maybe a dtype: host tensors and device tensors alike. */
export interface Shaped {
  readonly shape: readonly number[];
  readonly dtype?: DType;
}

const ARRAY_DTYPE: ReadonlyArray<[new (...args: never[]) => HostArray, DType | 'f64']> = [
  [Float32Array, 'f32'],
  [Float64Array, 'f64'],
  [Int32Array, 'i32'],
  [Uint32Array, 'u32'],
  [Uint8Array, 'bool'],
];

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A record with no prototype. Names are data — an axis, input, output or parameter may be called
 * `constructor`, `toString` or `__proto__` — so every record indexed by a name is made with this,
 * and reads an entry only when it was set, never an inherited `Object.prototype` member.
 */
export function nameRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** The entry a caller's record holds for `name` itself (own property), never an inherited one. */
export function ownEntry<T>(record: Readonly<Record<string, T>> | null | undefined, name: string): T | undefined {
  return record !== null && record !== undefined && Object.hasOwn(record, name) ? record[name] : undefined;
}

/** A prototype-free copy of a caller's record (own entries only). */
export function ownEntries<T>(record: Readonly<Record<string, T>> | null | undefined): Record<string, T> {
  const out = nameRecord<T>();
  if (record !== null && record !== undefined) for (const [key, value] of Object.entries(record)) out[key] = value;
  return out;
}

/** A value as boundary messages show it: strings quoted, arrays bracketed. */
function showValue(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map(showValue).join(', ')}]`;
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

const LARGEST_F32 = 3.4028234663852886e38;

/**
 * Why a number cannot be a value of `dtype` at the boundary (null when it can): an f32 holds any
 * number but finite ones past the largest f32, which would silently become infinite on the GPU
 * while the float64 interpreter kept them; integers must be whole and in range, since storing
 * them would truncate or wrap; a bool is 0 or 1 (or true/false in a plain array).
 */
function numberProblem(v: number, dtype: DType, inArray: boolean): string | null {
  switch (dtype) {
    case 'f32':
      return Number.isFinite(v) && !Number.isFinite(Math.fround(v)) ? `which an f32 cannot hold (largest finite f32 is ${LARGEST_F32})` : null;
    case 'i32':
      return Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff ? null : 'which an i32 cannot hold (whole numbers in [-2147483648, 2147483647])';
    case 'u32':
      return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? null : 'which a u32 cannot hold (whole numbers in [0, 4294967295])';
    case 'bool':
      return v === 0 || v === 1 ? null : `which a bool cannot hold (${inArray ? 'true, false, 0 or 1' : '0 or 1'})`;
  }
}

/** Throws unless a given shape is a list of numbers (typed arrays are numbers by construction). */
export function checkShapeValues(what: string, shape: readonly unknown[] | ArrayLike<number>): void {
  if (Array.isArray(shape) && !shape.every((s) => typeof s === 'number')) {
    throw new TesseraError(`${what}: shape must be an array of whole numbers, got ${showValue(shape)}`);
  }
}

/**
 * Validates the shapes of all inputs against their declarations and returns the symbol values.
 * Throws for a missing or unknown input, a wrong rank, a static size mismatch, or a symbol bound
 * to two different sizes. The result has no prototype (see `nameRecord`).
 */
export function bindSymbols(
  declared: readonly BoundaryTensor[],
  given: Readonly<Record<string, Shaped | undefined>>,
  pinned: Readonly<Record<string, number>> = {},
): Record<string, number> {
  if (typeof given !== 'object' || given === null) throw new TesseraError(`the inputs must be an object of tensors by name, got ${showValue(given)}`);
  const names = declared.map((d) => d.name);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) throw new TesseraError(`unknown input '${key}'; the inputs are ${names.join(', ') || '(none)'}`);
  }
  const symbols = ownEntries(pinned);
  const origin = nameRecord<string>();
  for (const decl of declared) {
    const t = ownEntry(given, decl.name);
    if (!t) throw new TesseraError(`input '${decl.name}' is missing`);
    const shape = t.shape;
    if (!Array.isArray(shape) && !ArrayBuffer.isView(shape)) throw new TesseraError(`input '${decl.name}' has no shape`);
    checkShapeValues(`input '${decl.name}'`, shape);
    if (shape.length !== decl.shape.length) {
      throw new TesseraError(
        `input '${decl.name}' must have rank ${decl.shape.length} (axes [${decl.axes.join(', ')}]) but has shape ${fmtShape(shape)}`,
      );
    }
    shape.forEach((size, i) => {
      const axis = decl.axes[i]!;
      if (!Number.isInteger(size) || size < 1) {
        throw new TesseraError(`input '${decl.name}': axis '${axis}' has size ${size}; sizes must be whole numbers >= 1`);
      }
      const want = decl.shape[i]!;
      if (typeof want === 'number') {
        if (size !== want) throw new TesseraError(`input '${decl.name}': axis '${axis}' must have size ${want} but has ${size}`);
        return;
      }
      const bound = symbols[want];
      if (bound === undefined) {
        symbols[want] = size;
        origin[want] = `input '${decl.name}' (axis '${axis}')`;
      } else if (bound !== size) {
        const from = origin[want] ?? 'the pinned sizes';
        throw new TesseraError(`conflicting sizes for '${want}': ${bound} from ${from} and ${size} from input '${decl.name}' (axis '${axis}')`);
      }
    });
  }
  return symbols;
}

/**
 * Checks a run's scalar parameters: every declared one present, a number other than NaN, and one
 * its dtype holds (an f32 within the f32 range, an integer whole and in range, a bool 0 or 1), so
 * every backend computes with the same value. The result has no prototype.
 */
export function checkParams(declared: readonly { name: string; dtype: DType }[], given: Readonly<Record<string, number>> = {}): Record<string, number> {
  if (typeof given !== 'object' || given === null) throw new TesseraError(`the parameters must be an object of numbers by name, got ${showValue(given)}`);
  const names = declared.map((d) => d.name);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) throw new TesseraError(`unknown parameter '${key}'; the parameters are ${names.join(', ') || '(none)'}`);
  }
  const out = nameRecord<number>();
  for (const { name, dtype } of declared) {
    const v = ownEntry(given, name);
    if (v === undefined) throw new TesseraError(`parameter '${name}' is missing`);
    if (typeof v !== 'number' || Number.isNaN(v)) throw new TesseraError(`parameter '${name}' must be a number, got ${Number.isNaN(v) ? 'NaN' : typeof v}`);
    const problem = numberProblem(v, dtype, false);
    if (problem !== null) throw new TesseraError(`parameter '${name}' is ${v}, ${problem}`);
    out[name] = v;
  }
  return out;
}

/** A zeroed host array of the dtype's host type (bool: Uint8Array). */
export function allocHost(dtype: DType, length: number): Float32Array | Int32Array | Uint32Array | Uint8Array {
  switch (dtype) {
    case 'f32':
      return new Float32Array(length);
    case 'i32':
      return new Int32Array(length);
    case 'u32':
      return new Uint32Array(length);
    case 'bool':
      return new Uint8Array(length);
  }
}

/**
 * The data of a host tensor as the dtype's host array type, after checking that its kind, length
 * and values fit. A typed array of the dtype's own kind is used as it is; a Float64Array is
 * accepted for f32 and rounded; a plain array is converted element by element, and an element the
 * dtype cannot hold (1.7 or NaN for an i32, 1e39 for an f32, 2 for a bool) is an error naming it,
 * where storing it would truncate, wrap or overflow silently.
 */
export function hostData(name: string, t: HostTensor, dtype: DType): Float32Array | Int32Array | Uint32Array | Uint8Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const data = t.data;
  if (t.dtype !== undefined && t.dtype !== dtype) throw new TesseraError(`input '${name}' must be ${dtype} but has dtype ${t.dtype}`);
  if (ArrayBuffer.isView(data)) {
    const kind = ARRAY_DTYPE.find(([ctor]) => data instanceof ctor)?.[1];
    const fits = kind === dtype || (dtype === 'f32' && kind === 'f64');
    if (!fits) throw new TesseraError(`input '${name}' must be ${dtype} but a ${data.constructor.name} was given`);
  } else if (!Array.isArray(data)) {
    throw new TesseraError(`input '${name}' has no data array`);
  }
  if (data.length !== count) {
    throw new TesseraError(`input '${name}' has shape ${fmtShape(t.shape)} (${count} elements) but ${data.length} values`);
  }
  if (ArrayBuffer.isView(data) && !(data instanceof Float64Array)) return data as Float32Array | Int32Array | Uint32Array | Uint8Array;
  const out = allocHost(dtype, count);
  for (let i = 0; i < count; i++) {
    const v = (data as ArrayLike<unknown>)[i];
    if (typeof v === 'boolean') {
      if (dtype !== 'bool') throw new TesseraError(`input '${name}' must be ${dtype} but holds booleans`);
      out[i] = v ? 1 : 0;
      continue;
    }
    const problem = typeof v !== 'number' ? (dtype === 'bool' ? 'which a bool cannot hold (true, false, 0 or 1)' : 'not a number') : numberProblem(v, dtype, true);
    if (problem !== null) throw new TesseraError(`input '${name}': element ${i} is ${showValue(v)}, ${problem}`);
    out[i] = v as number;
  }
  return out;
}

/** Number of elements of a shape. */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The concrete shape of sizes given bound symbols. */
export function concreteShape(shape: readonly Size[], symbols: Readonly<Record<string, number>>): number[] {
  return shape.map((s) => {
    if (typeof s === 'number') return s;
    const v = ownEntry(symbols, s);
    if (v === undefined) throw new TesseraError(`size '${formatSize(s)}' is not bound by any input`);
    return v;
  });
}
