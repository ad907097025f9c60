/**
 * Plans one run of a Program without touching the GPU: binds the size symbols from the input
 * shapes, checks the parameters, evaluates every size expression (buffer bytes, workgroup counts,
 * uniform words, copy sizes) and checks them against the device limits. Everything that can be
 * wrong with a run's inputs is reported here, before a single buffer is allocated.
 */
import { bindSymbols, checkParams, concreteShape, elementCount, type Shaped } from '../dsl/bind.ts';
import { TesseraError, type DType } from '../dsl/types.ts';
import { formatBytes } from './format.ts';
import { evalSize, guardHolds, type DeviceLimits, type Program, type ProgramBuffer, type SizeExpr, type Step, type UniformWord } from '../program/index.ts';

export interface PlannedDispatch {
  readonly kind: 'dispatch';
  readonly label: string;
  readonly kernel: number;
  readonly buffers: readonly number[];
  /**
   * The byte range bound for each binding: the whole buffer, or one chunk's slice of it (see the
   * dispatch step's `chunks`).
   */
  readonly ranges: readonly { readonly offset: number; readonly size: number }[];
  /** The uniform words padded to 16 bytes, or null when the kernel reads none. */
  readonly uniforms: Uint32Array | null;
  /** Total workgroups, and how they are laid out as (x, y); a step with 0 is skipped. */
  readonly total: number;
  readonly grid: readonly [number, number];
  /** Skipped when the program's cache buffers are kept from an earlier run (see Step). */
  readonly cached: boolean;
}

export interface PlannedCopy {
  readonly kind: 'copy';
  readonly label: string;
  readonly src: number;
  readonly dst: number;
  readonly bytes: number;
}

export interface PlannedLoop {
  readonly kind: 'loop';
  readonly label: string;
  readonly count: number;
  readonly body: readonly PlannedStep[];
}

export type PlannedStep = PlannedDispatch | PlannedCopy | PlannedLoop;

export interface PlannedBuffer {
  readonly buffer: ProgramBuffer;
  /** What errors call it: `tensor 'x'` for inputs and outputs, `temp buffer 'label'` otherwise. */
  readonly what: string;
  /** Bytes the program asked for (a multiple of 4, at least 4: WebGPU binds nothing smaller). */
  readonly bytes: number;
}

export interface PlannedTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly axes: readonly string[];
  readonly shape: readonly number[];
  readonly buffer: number;
}

export interface RunPlan {
  readonly symbols: Readonly<Record<string, number>>;
  readonly params: Readonly<Record<string, number>>;
  readonly buffers: ReadonlyMap<number, PlannedBuffer>;
  readonly inputs: readonly PlannedTensor[];
  readonly outputs: readonly PlannedTensor[];
  readonly steps: readonly PlannedStep[];
}

/**
 * Splits a total workgroup count into (x, y) with x ≤ the per-dimension limit; shaders recover
 * the linear id as `wg.x + wg.y * num_workgroups.x` and skip ids past the total.
 */
export function workgroupGrid(total: number, maxPerDimension: number): [number, number] {
  if (total === 0) return [0, 0];
  const x = Math.min(total, maxPerDimension);
  return [x, Math.ceil(total / x)];
}

/** The bits of a run-time parameter as one 32-bit word, as the shader reads it. */
function paramBits(value: number, dtype: DType): number {
  const word = new DataView(new ArrayBuffer(4));
  switch (dtype) {
    case 'f32':
      word.setFloat32(0, value, true);
      break;
    case 'i32':
      word.setInt32(0, value, true);
      break;
    case 'u32':
      word.setUint32(0, value, true);
      break;
    case 'bool':
      word.setUint32(0, value ? 1 : 0, true);
      break;
  }
  return word.getUint32(0, true);
}

/**
 * Why a buffer of `bytes` cannot be allocated on this device — or, when it is `bound` whole, be
 * one storage binding — or null when it can.
 */
export function exceedsLimits(what: string, bytes: number, limits: DeviceLimits, bound = true): string | null {
  if (bound && bytes > limits.maxStorageBufferBindingSize) {
    return `${what} needs ${formatBytes(bytes)} but this device binds at most ${formatBytes(limits.maxStorageBufferBindingSize)} per storage buffer (maxStorageBufferBindingSize)`;
  }
  if (bytes > limits.maxBufferSize) {
    return `${what} needs ${formatBytes(bytes)} but this device allocates at most ${formatBytes(limits.maxBufferSize)} per buffer (maxBufferSize)`;
  }
  return null;
}

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/**
 * What a run's plan depends on besides the program and the device limits, as a string: the
 * given inputs' names and shapes, the parameters and `finiteInputs`. Two runs with the same key
 * get the same plan (or the same error), so a backend can keep plans by it. Null where anything
 * is not a plain number (a shape element, a parameter) or an input has no shape: such a run is
 * planned afresh, and `planRun` reports what is wrong.
 */
export function planKey(given: Readonly<Record<string, Shaped | undefined>>, params: Readonly<Record<string, number>> | undefined, finiteInputs: boolean): string | null {
  if (typeof given !== 'object' || given === null || (params !== undefined && (typeof params !== 'object' || params === null))) return null;
  const parts: (string | number | boolean)[] = [finiteInputs];
  for (const [name, t] of Object.entries(given)) {
    const shape = typeof t === 'object' && t !== null ? t.shape : undefined;
    if (!Array.isArray(shape) && !ArrayBuffer.isView(shape)) return null;
    const sizes = Array.from(shape as ArrayLike<unknown>);
    if (!sizes.every((n) => typeof n === 'number')) return null;
    parts.push(name, sizes.join(','));
  }
  for (const [name, v] of Object.entries(params ?? {})) {
    if (typeof v !== 'number') return null;
    // String(-0) is '0', and -0 has its own f32 bits.
    parts.push(name, Object.is(v, -0) ? '-0' : String(v));
  }
  return JSON.stringify(parts);
}

/**
 * Plans a run; throws a TesseraError naming the program (and the step) for any bad input.
 * `finiteInputs`: every f32 input is known to hold only finite values, so the program's
 * `finiteSteps` run where it has them.
 */
export function planRun(
  program: Program,
  given: Readonly<Record<string, Shaped | undefined>>,
  params: Readonly<Record<string, number>> | undefined,
  limits: DeviceLimits,
  finiteInputs = false,
): RunPlan {
  const prefix = `program '${program.name}'`;
  const programSteps = finiteInputs && program.finiteSteps ? program.finiteSteps : program.steps;
  const fail = (why: string): never => {
    throw new TesseraError(`${prefix}: ${why}`);
  };
  const symbols = bindSymbols(program.inputs, given);
  const checkedParams = checkParams(program.params, params ?? {});
  const paramDtypes = new Map(program.params.map((p) => [p.name, p.dtype]));
  const size = (expr: SizeExpr, what: string): number => {
    const v = evalSize(expr, symbols);
    if (!Number.isInteger(v) || v < 0) fail(`${what} evaluates to ${v}; sizes must be whole numbers >= 0`);
    return v;
  };

  const tensorOf = new Map<number, string>();
  for (const t of [...program.inputs, ...program.outputs]) tensorOf.set(t.buffer, t.name);
  // A buffer that some dispatch binds whole must fit one storage binding; one that is only ever
  // bound a chunk at a time (or only copied) need only fit one allocation.
  const boundWhole = new Set<number>();
  const collect = (list: readonly Step[]): void => {
    for (const step of list) {
      if (step.kind === 'loop') collect(step.body);
      else if (step.kind === 'copy') continue;
      else if (!step.when || guardHolds(step.when, symbols)) {
        const sliced = new Set(step.chunks?.slices.map((sl) => sl.binding) ?? []);
        step.buffers.forEach((id, i) => sliced.has(i) || boundWhole.add(id));
      }
    }
  };
  collect(programSteps);
  const buffers = new Map<number, PlannedBuffer>();
  for (const b of program.buffers) {
    const tensor = tensorOf.get(b.id);
    const what = tensor !== undefined ? `tensor '${tensor}'` : `${b.role} buffer '${b.label}'`;
    const asked = size(b.bytes, `the size of ${what}`);
    const bytes = Math.max(4, Math.ceil(asked / 4) * 4);
    const tooBig = exceedsLimits(what, bytes, limits, boundWhole.has(b.id));
    if (tooBig !== null) fail(tooBig);
    buffers.set(b.id, { buffer: b, what, bytes });
  }

  const tensors = (list: Program['inputs'], role: 'input' | 'output'): PlannedTensor[] =>
    list.map((t) => {
      const shape = concreteShape(t.shape, symbols);
      const need = elementCount(shape) * 4;
      const have = buffers.get(t.buffer)!.bytes;
      if (role === 'input' ? have !== Math.max(4, need) : have < need) {
        fail(`${role} '${t.name}' has shape [${shape.join(', ')}] (${need} bytes) but its buffer is declared with ${have} bytes`);
      }
      return { name: t.name, dtype: t.dtype, axes: t.axes, shape, buffer: t.buffer };
    });
  const inputs = tensors(program.inputs, 'input');
  const outputs = tensors(program.outputs, 'output');

  for (const k of program.kernels) {
    if (k.bindings.length > limits.maxStorageBuffersPerShaderStage) {
      fail(
        `kernel '${k.name}' uses ${k.bindings.length} storage buffers but this device allows ${limits.maxStorageBuffersPerShaderStage} per shader stage (maxStorageBuffersPerShaderStage)`,
      );
    }
    const [x, y, z] = k.workgroupSize;
    if (x * y * z > limits.maxComputeInvocationsPerWorkgroup || x > limits.maxComputeWorkgroupSizeX) {
      fail(
        `kernel '${k.name}' has workgroup size (${x}, ${y}, ${z}) but this device allows ${limits.maxComputeInvocationsPerWorkgroup} invocations (maxComputeInvocationsPerWorkgroup) and ${limits.maxComputeWorkgroupSizeX} in x (maxComputeWorkgroupSizeX)`,
      );
    }
  }

  const uniformWord = (u: UniformWord, where: string): number => {
    if ('size' in u) {
      const v = size(u.size, `a size uniform of ${where}`);
      if (!isU32(v)) fail(`${where}: size uniform ${v} does not fit in a u32`);
      return v;
    }
    if ('param' in u) return paramBits(checkedParams[u.param]!, paramDtypes.get(u.param)!);
    if ('f32' in u) return paramBits(u.f32, 'f32');
    if (!isU32(u.u32)) fail(`${where}: u32 uniform ${u.u32} does not fit in a u32`);
    return u.u32;
  };

  const plan = (list: readonly Step[]): PlannedStep[] => list.flatMap(planStep);
  /** A step's plan: nothing when its `when` range excludes this run, one dispatch per chunk. */
  const planStep = (step: Step): PlannedStep[] => {
    if (step.kind === 'loop') return [{ kind: 'loop', label: step.label, count: step.count, body: plan(step.body) }];
    if (step.kind === 'copy') {
      const where = `copy '${step.label}'`;
      const bytes = size(step.bytes, `the size of ${where}`);
      if (bytes % 4 !== 0) fail(`${where} copies ${bytes} bytes; copies must be a multiple of 4 bytes`);
      for (const id of [step.src, step.dst]) {
        const b = buffers.get(id)!;
        if (bytes > b.bytes) fail(`${where} copies ${bytes} bytes but ${b.what} holds ${b.bytes}`);
      }
      return [{ kind: 'copy', label: step.label, src: step.src, dst: step.dst, bytes }];
    }
    if (step.when && !guardHolds(step.when, symbols)) return [];
    const kernel = program.kernels[step.kernel]!;
    const where = `step '${step.label}' (kernel '${kernel.name}')`;
    const total = size(step.workgroups, `the workgroup count of ${where}`);
    const max = limits.maxComputeWorkgroupsPerDimension;
    if (total > max * max) {
      fail(`${where} needs ${total} workgroups but this device dispatches at most ${max} x ${max} (maxComputeWorkgroupsPerDimension)`);
    }
    let uniforms: Uint32Array | null = null;
    if (kernel.uniformWords > 0) {
      uniforms = new Uint32Array(Math.ceil(kernel.uniformWords / 4) * 4);
      step.uniforms.forEach((u, i) => (uniforms![i] = uniformWord(u, where)));
    }
    const whole = step.buffers.map((id) => ({ offset: 0, size: buffers.get(id)!.bytes }));
    const dispatch = (ranges: PlannedDispatch['ranges'], words: Uint32Array | null, label: string): PlannedDispatch => ({
      kind: 'dispatch',
      label,
      kernel: step.kernel,
      buffers: step.buffers,
      ranges,
      uniforms: words,
      total,
      grid: workgroupGrid(total, max),
      cached: step.cached === true,
    });
    if (!step.chunks) return [dispatch(whole, uniforms, step.label)];
    const chunks = step.chunks;
    const count = size(chunks.count, `the chunk count of ${where}`);
    const slices = chunks.slices.map((slice) => {
      const planned = buffers.get(step.buffers[slice.binding]!)!;
      const stride = size(slice.stride, `the chunk stride of ${where}`);
      const bytes = size(slice.bytes, `the chunk size of ${where}`);
      if (stride % limits.minStorageBufferOffsetAlignment !== 0) {
        fail(`${where} binds ${planned.what} in chunks ${stride} bytes apart, not a multiple of this device's ${limits.minStorageBufferOffsetAlignment} (minStorageBufferOffsetAlignment)`);
      }
      if (bytes > limits.maxStorageBufferBindingSize) {
        fail(`${where} binds ${formatBytes(bytes)} chunks of ${planned.what} but this device binds at most ${formatBytes(limits.maxStorageBufferBindingSize)} per storage buffer (maxStorageBufferBindingSize)`);
      }
      if (count > 0 && (count - 1) * stride >= planned.bytes) fail(`${where} has ${count} chunks of ${planned.what}, but the last starts past its ${planned.bytes} bytes`);
      return { binding: slice.binding, stride, bytes, total: planned.bytes };
    });
    return Array.from({ length: count }, (_, c) => {
      const ranges = whole.map((range, binding) => {
        const slice = slices.find((sl) => sl.binding === binding);
        if (!slice) return range;
        const offset = c * slice.stride;
        return { offset, size: Math.ceil(Math.min(slice.bytes, slice.total - offset) / 4) * 4 };
      });
      let words = uniforms;
      if (uniforms) {
        words = uniforms.slice();
        words[chunks.word] = c;
      }
      return dispatch(ranges, words, count > 1 ? `${step.label} [chunk ${c}]` : step.label);
    });
  };

  return { symbols, params: checkedParams, buffers, inputs, outputs, steps: plan(programSteps) };
}
