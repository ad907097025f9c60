/**
 * Reading the golden files (format: `test/golden/README.md`) and comparing results with them.
 * Shared by the vitest suites and the `npm run golden` CLI, so both judge a result the same way.
 */
import { readFileSync } from 'node:fs';
import type { DType, HostTensor } from '../../dsl/types.ts';

/** A golden reference output: float64 values in row-major order. */
export interface GoldenOutput {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export interface GoldenCase {
  readonly kind: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** Learned tensors of the routing cases (empty for the others), decoded like inputs. */
  readonly params: Readonly<Record<string, HostTensor>>;
  readonly inputs: Readonly<Record<string, HostTensor>>;
  readonly outputs: Readonly<Record<string, GoldenOutput>>;
}

interface RawTensor {
  shape: number[];
  data: (number | boolean | null)[];
  dtype?: string;
}

function isRawTensor(value: unknown): value is RawTensor {
  return typeof value === 'object' && value !== null && Array.isArray((value as RawTensor).shape) && Array.isArray((value as RawTensor).data);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Decodes one tensor: `"dtype": "i32"` gives an Int32Array, boolean data a Uint8Array (dtype
 * bool), anything else a Float64Array, so no precision is lost before the code under test
 * decides how to round.
 */
function decodeTensor(file: string, name: string, raw: unknown): HostTensor {
  if (!isRawTensor(raw)) throw new Error(`${file}: '${name}' is not a {shape, data} tensor`);
  const { shape, data } = raw;
  if (data.length !== elementCount(shape)) {
    throw new Error(`${file}: '${name}' has shape [${shape.join(', ')}] but ${data.length} values`);
  }
  if (raw.dtype !== undefined && raw.dtype !== 'i32') throw new Error(`${file}: '${name}' has unknown dtype '${raw.dtype}'`);
  const isBool = data.length > 0 && data.every((v) => typeof v === 'boolean');
  let dtype: DType | undefined;
  let array: Float64Array | Int32Array | Uint8Array;
  if (raw.dtype === 'i32') {
    dtype = 'i32';
    array = Int32Array.from(data as number[]);
  } else if (isBool) {
    dtype = 'bool';
    array = Uint8Array.from(data as boolean[], (v) => (v ? 1 : 0));
  } else {
    // `null` is how the golden files write −∞ (a node without neighbours has lse = −∞).
    array = Float64Array.from(data as (number | null)[], (v) => (v === null ? -Infinity : v));
  }
  return dtype ? { shape, data: array, dtype } : { shape, data: array };
}

function decodeTensors(file: string, record: unknown): Record<string, HostTensor> {
  if (record === undefined) return {};
  if (typeof record !== 'object' || record === null) throw new Error(`${file}: expected an object of tensors`);
  return Object.fromEntries(Object.entries(record).map(([name, raw]) => [name, decodeTensor(file, name, raw)]));
}

/** Reads and decodes one golden file. */
export function loadGolden(path: string): GoldenCase {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  if (typeof json['kind'] !== 'string') throw new Error(`${path}: no "kind"`);
  const outputs = decodeTensors(path, json['outputs']);
  return {
    kind: json['kind'],
    config: (json['config'] ?? {}) as Record<string, unknown>,
    params: decodeTensors(path, json['params']),
    inputs: decodeTensors(path, json['inputs']),
    outputs: Object.fromEntries(
      Object.entries(outputs).map(([name, t]) => [name, { shape: [...t.shape], data: Float64Array.from(t.data as ArrayLike<number>) }]),
    ),
  };
}

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

export interface GoldenComparison {
  /** Largest |actual - expected|; Infinity on a shape mismatch or a NaN where a number was expected. */
  readonly maxAbs: number;
  /** Largest |actual - expected| / |expected| over elements with expected != 0. */
  readonly maxRel: number;
  /** Every element within atol + rtol * |expected| (numpy's `allclose`), shapes equal. */
  readonly ok: boolean;
  /** A one-line reason when not ok (shape mismatch, or the worst element), for reports. */
  readonly detail: string;
}

/**
 * Compares a result with a golden output elementwise, numpy `allclose` style. Equal infinities
 * and NaN against NaN count as equal, since the golden files may hold either on purpose.
 */
export function compareToGolden(
  actual: { readonly shape: readonly number[]; readonly data: ArrayLike<number> },
  expected: { readonly shape: readonly number[]; readonly data: ArrayLike<number> },
  tolerance: Tolerance,
): GoldenComparison {
  const sameShape = actual.shape.length === expected.shape.length && actual.shape.every((s, i) => s === expected.shape[i]);
  if (!sameShape || actual.data.length !== expected.data.length) {
    return {
      maxAbs: Infinity,
      maxRel: Infinity,
      ok: false,
      detail: `shape [${actual.shape.join(', ')}] (${actual.data.length} values) but expected [${expected.shape.join(', ')}] (${expected.data.length} values)`,
    };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const diff = Number.isNaN(a) || Number.isNaN(e) ? Infinity : Math.abs(a - e);
    maxAbs = Math.max(maxAbs, diff);
    if (e !== 0) maxRel = Math.max(maxRel, diff / Math.abs(e));
    // An infinite expected value is matched only exactly (handled above), never by tolerance.
    const excess = Number.isFinite(e) ? diff - (tolerance.atol + tolerance.rtol * Math.abs(e)) : Infinity;
    if (excess > 0 && (worst < 0 || excess > worstExcess)) {
      worst = i;
      worstExcess = excess;
    }
  }
  const ok = worst < 0;
  const detail = ok
    ? `within rtol ${tolerance.rtol}, atol ${tolerance.atol}`
    : `element ${worst}: got ${actual.data[worst]}, expected ${expected.data[worst]} (rtol ${tolerance.rtol}, atol ${tolerance.atol})`;
  return { maxAbs, maxRel, ok, detail };
}
