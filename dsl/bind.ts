/**
 * Checks the tensors and parameters a caller passes at a kernel's boundary and binds the size
 * symbols. Shared by the interpreter and every runtime backend so that bad input gives the same
 * readable error everywhere.
 */
import { TesseraError, formatSize, type DType, type HostArray, type HostTensor, type Size } from './types.ts';

/** What the boundary declares for one input tensor. */
export interface BoundaryTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly axes: readonly string[];
  readonly shape: readonly Size[];
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
 * Validates the shapes of all inputs against their declarations and returns the symbol values.
 * Throws for a missing or unknown input, a wrong rank, a static size mismatch, or a symbol bound
 * to two different sizes.
 */
export function bindSymbols(
  declared: readonly BoundaryTensor[],
  given: Readonly<Record<string, Shaped | undefined>>,
  pinned: Readonly<Record<string, number>> = {},
): Record<string, number> {
  const names = declared.map((d) => d.name);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) throw new TesseraError(`unknown input '${key}'; the inputs are ${names.join(', ') || '(none)'}`);
  }
  const symbols: Record<string, number> = { ...pinned };
  const origin: Record<string, string> = {};
  for (const decl of declared) {
    const t = given[decl.name];
    if (!t) throw new TesseraError(`input '${decl.name}' is missing`);
    const shape = t.shape;
    if (!Array.isArray(shape) && !ArrayBuffer.isView(shape)) throw new TesseraError(`input '${decl.name}' has no shape`);
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

/** Checks a run's scalar parameters: every declared one present, finite or at least not NaN. */
export function checkParams(declared: readonly { name: string; dtype: DType }[], given: Readonly<Record<string, number>> = {}): Record<string, number> {
  const names = declared.map((d) => d.name);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) throw new TesseraError(`unknown parameter '${key}'; the parameters are ${names.join(', ') || '(none)'}`);
  }
  const out: Record<string, number> = {};
  for (const { name, dtype } of declared) {
    const v = given[name];
    if (v === undefined) throw new TesseraError(`parameter '${name}' is missing`);
    if (typeof v !== 'number' || Number.isNaN(v)) throw new TesseraError(`parameter '${name}' must be a number, got ${Number.isNaN(v) ? 'NaN' : typeof v}`);
    if (dtype !== 'f32' && !Number.isInteger(v)) throw new TesseraError(`parameter '${name}' is ${dtype} but got ${v}`);
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
 * The data of a host tensor as the dtype's host array type, after checking that its kind and
 * length fit. Plain arrays are converted; a Float64Array is accepted for f32 and rounded.
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
    const v = (data as ArrayLike<number | boolean>)[i];
    if (typeof v === 'boolean') {
      if (dtype !== 'bool') throw new TesseraError(`input '${name}' must be ${dtype} but holds booleans`);
      out[i] = v ? 1 : 0;
    } else {
      out[i] = dtype === 'bool' ? (v ? 1 : 0) : (v as number);
    }
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
    const v = symbols[s];
    if (v === undefined) throw new TesseraError(`size '${formatSize(s)}' is not bound by any input`);
    return v;
  });
}
