/**
 * Core value types shared by the DSL, the Tensor IR, the interpreter, the compiler and the runtime.
 *
 * Everything here is plain data so that traced graphs and compiled programs serialise to JSON.
 */

/** Element types. `bool` is stored as `u32` (0/1) on the GPU and as `Uint8Array` on the host. */
export type DType = 'f32' | 'i32' | 'u32' | 'bool';

export const DTYPES: readonly DType[] = ['f32', 'i32', 'u32', 'bool'];

/**
 * An axis size: a number is static (specialised into shaders); a string is a symbol bound at run
 * time from the shapes of the inputs and passed to shaders as a uniform, so one shader serves many
 * shapes. By default a kernel's symbol for an axis is the axis name itself.
 */
export type Size = number | string;

export interface Axis {
  readonly name: string;
  readonly size: Size;
}

/** A tensor's type: dtype plus named axes in row-major storage order. */
export interface TensorType {
  readonly dtype: DType;
  readonly axes: readonly Axis[];
}

/** Host-side array types per dtype. */
export type HostArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;

/** A tensor on the host: row-major data plus its shape (and optionally its dtype). */
export interface HostTensor {
  readonly shape: readonly number[];
  readonly data: HostArray | readonly number[] | readonly boolean[];
  readonly dtype?: DType;
}

/** Errors raised for bad user input carry this class so callers can tell them from bugs. */
export class TesseraError extends Error {
  override name = 'TesseraError';
}

export function formatSize(size: Size): string {
  return typeof size === 'number' ? String(size) : size;
}

export function formatType(type: TensorType): string {
  return `${type.dtype}[${type.axes.map((a) => `${a.name}:${formatSize(a.size)}`).join(', ')}]`;
}

