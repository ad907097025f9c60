/**
 * The CPU backend: runs a Program by interpreting its traced Tensor IR (`program.graph`) with the
 * reference interpreter. It ignores the WGSL, so it answers "what should this program compute" on
 * any machine, and is the fallback when no WebGPU adapter exists.
 */
import { bindSymbols, checkParams, nameRecord, ownEntry, type Shaped } from '../dsl/bind.ts';
import { interpret, type InterpretedTensor, type Precision } from '../interpreter/interpret.ts';
import { TesseraError, type DType, type HostTensor } from '../dsl/types.ts';
import { isRuntimeTensor, type Backend, type RunInputs, type RuntimeTensor, type TensorData } from './backend.ts';
import { uploadData } from './host.ts';
import { MemoryTracker } from './memory.ts';
import { DEFAULT_LIMITS, type DeviceLimits, type Program } from '../program/index.ts';
import { validateProgram } from '../program/validate.ts';

/** A tensor in host memory. `read()` hands out copies so callers cannot change it in place. */
class CpuTensor implements RuntimeTensor {
  #data: TensorData | null;
  readonly #release: () => void;

  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    data: TensorData,
    memory: MemoryTracker,
    label: string,
  ) {
    this.#data = data;
    this.#release = memory.allocate(label, data.byteLength);
  }

  /** The data without a copy, for the backend's own use as a run input. */
  get data(): TensorData {
    if (this.#data === null) throw new TesseraError('tensor was destroyed');
    return this.#data;
  }

  get destroyed(): boolean {
    return this.#data === null;
  }

  async read(): Promise<TensorData> {
    return this.data.slice();
  }

  destroy(): void {
    this.#data = null;
    this.#release();
  }
}

/** Interpreter output as the runtime's host array for its dtype (f32 rounded to Float32Array). */
function tensorData(t: InterpretedTensor): TensorData {
  return t.data instanceof Float64Array ? Float32Array.from(t.data) : t.data;
}

class CpuRuntime implements Backend {
  readonly kind = 'cpu' as const;
  readonly limits: DeviceLimits = DEFAULT_LIMITS;
  readonly deviceDescription: string;
  readonly memory = new MemoryTracker();
  #destroyed = false;

  constructor(
    private readonly precision: Precision,
    readonly fallbackReason: string | null,
  ) {
    this.deviceDescription = `CPU interpreter (${precision})`;
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new TesseraError('this CPU backend was destroyed');
  }

  upload(t: HostTensor, dtype?: DType): RuntimeTensor {
    this.#checkAlive();
    const host = uploadData(t, dtype);
    // uploadData may hand back the caller's own array; copy so later changes to it do not leak in.
    return new CpuTensor(host.shape, host.dtype, host.data.slice(), this.memory, `upload ${host.dtype}[${host.shape.join(', ')}]`);
  }

  async run(program: Program, inputs: RunInputs, params?: Readonly<Record<string, number>>): Promise<Record<string, RuntimeTensor>> {
    this.#checkAlive();
    validateProgram(program);
    // The same boundary checks, in the same order, as the WebGPU backend, so errors read the same.
    bindSymbols(program.inputs, inputs as Readonly<Record<string, Shaped | undefined>>);
    checkParams(program.params, params ?? {});
    // Names are data (an input may be called `constructor`): prototype-free records, own entries only.
    const host = nameRecord<HostTensor>();
    for (const decl of program.inputs) {
      const given = ownEntry(inputs, decl.name)!;
      if (!isRuntimeTensor(given)) {
        host[decl.name] = given;
        continue;
      }
      if (given.dtype !== decl.dtype) throw new TesseraError(`input '${decl.name}' must be ${decl.dtype} but has dtype ${given.dtype}`);
      if (given instanceof CpuTensor && given.destroyed) throw new TesseraError(`input '${decl.name}' was destroyed`);
      const data = given instanceof CpuTensor ? given.data : await given.read();
      host[decl.name] = { shape: given.shape, data, dtype: given.dtype };
    }
    const results = interpret(program.graph, host, { precision: this.precision, params: params ?? {} });
    const outputs = nameRecord<RuntimeTensor>();
    for (const out of program.outputs) {
      const r = ownEntry(results, out.name);
      if (!r) throw new TesseraError(`program '${program.name}' is malformed: output '${out.name}' is not an output of its graph`);
      outputs[out.name] = new CpuTensor(r.shape, r.dtype, tensorData(r), this.memory, `${program.name}/${out.name}`);
    }
    return outputs;
  }

  destroy(): void {
    this.#destroyed = true;
  }
}

/** A backend that interprets `program.graph` on the CPU; `precision` defaults to the f64 reference. */
export function createCpuBackend(options: { precision?: Precision; fallbackReason?: string | null } = {}): Backend {
  return new CpuRuntime(options.precision ?? 'f64', options.fallbackReason ?? null);
}
