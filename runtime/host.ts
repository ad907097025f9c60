/**
 * Host tensors at a backend's boundary: which dtype a bare array means, and checking a tensor
 * before it is uploaded. Shared by both backends so `upload` behaves identically on each.
 */
import { checkShapeValues, hostData } from '../dsl/bind.ts';
import { TesseraError, type DType, type HostTensor } from '../dsl/types.ts';
import type { TensorData } from './backend.ts';

/** The dtype a host tensor declares, or that its array type implies (plain numbers: f32). */
function inferDType(t: HostTensor): DType {
  if (t.dtype !== undefined) return t.dtype;
  const data = t.data;
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Uint32Array) return 'u32';
  if (data instanceof Uint8Array) return 'bool';
  if (Array.isArray(data) && data.length > 0 && typeof data[0] === 'boolean') return 'bool';
  return 'f32';
}

/**
 * Checks a tensor passed to `upload` and returns its data as the dtype's host array. Messages call
 * it input 'upload', the wording `hostData` uses for every boundary tensor.
 */
export function uploadData(t: HostTensor, dtype?: DType): { data: TensorData; shape: number[]; dtype: DType } {
  if (!t || !Array.isArray(t.shape)) throw new TesseraError(`upload: the tensor has no shape`);
  checkShapeValues('upload', t.shape);
  for (const s of t.shape) {
    if (!Number.isInteger(s) || s < 1) throw new TesseraError(`upload: shape [${t.shape.join(', ')}] has a size that is not a whole number >= 1`);
  }
  const type = dtype ?? inferDType(t);
  return { data: hostData('upload', t, type), shape: [...t.shape], dtype: type };
}

/**
 * Whether every value of host data is finite (no ±∞, no NaN): what lets a run take a program's
 * `finiteSteps`. A Float32Array is checked by its exponent bits, the fast path for large inputs.
 */
export function allFinite(data: HostTensor['data']): boolean {
  if (data instanceof Float32Array) {
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < words.length; i++) if ((words[i]! & 0x7f800000) === 0x7f800000) return false;
    return true;
  }
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(Number(data[i]))) return false;
  return true;
}
