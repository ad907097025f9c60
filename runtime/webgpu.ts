/**
 * The WebGPU backend: runs a Program by planning it (sizes, limits), compiling its kernels
 * (cached), allocating its buffers (outputs fresh, temporaries pooled), recording every step into
 * one command encoder and submitting it, with every device call inside error scopes so a WebGPU
 * error becomes an exception that names the program, the step and the kernel.
 */
import { checkCsr, csrInputs, csrProblem, evalSize, exactKey, type CsrInputs } from '../program/index.ts';
import { hostData, nameRecord, ownEntry, type Shaped } from '../dsl/bind.ts';
import { TesseraError, type DType, type HostTensor } from '../dsl/types.ts';
import { isRuntimeTensor, type Profile, type RunInputs, type RuntimeTensor, type StepTiming, type TensorData, type WebGPUBackend } from './backend.ts';
import { BindingCache } from './bindings.ts';
import { DeviceContext, type TrackedBuffer } from './context.ts';
import { describeAdapter, deviceLimits, openDevice, probeGPU, type AcquiredGPU } from './device.ts';
import { countDispatches, distinctSteps, encodeSteps, type TimedDispatch } from './encode.ts';
import { WebGPUError, describeKind, popScopes, pushScopes } from './errors.ts';
import { formatBytes } from './format.ts';
import { BufferUsage } from './gpu-flags.ts';
import { defaultReadbackWait, mapForReading, type ReadbackWait } from './map-wait.ts';
import { GPUTensor, uploadTensor } from './gpu-tensor.ts';
import { allFinite, uploadData } from './host.ts';
import { MemoryTracker } from './memory.ts';
import { exceedsLimits, planKey, planRun, type PlannedDispatch, type PlannedStep, type RunPlan } from './plan.ts';
import { LruMap } from './lru.ts';
import { PipelineCache, type CompiledKernel } from './pipelines.ts';
import { BufferPool } from './pool.ts';
import type { DeviceLimits, Program } from '../program/index.ts';
import { validateProgram } from '../program/validate.ts';

/** WebGPU allows at most 4096 queries per query set: two timestamps per timed dispatch. */
const MAX_TIMED_DISPATCHES = 2048;

type Params = Readonly<Record<string, number>>;

/** An input ready for the allocation phase: a tensor of this device, or host data to upload. */
type PreparedInput = { readonly name: string; readonly tensor: GPUTensor } | { readonly name: string; readonly host: TensorData; readonly shape: readonly number[]; readonly dtype: DType };

class WebGPURuntime implements WebGPUBackend {
  readonly kind = 'webgpu' as const;
  readonly fallbackReason: string | null = null;
  readonly limits: DeviceLimits;
  readonly hasTimestamps: boolean;
  readonly #memory = new MemoryTracker();
  readonly #ctx: DeviceContext;
  readonly #pipelines: PipelineCache;
  readonly #pool: BufferPool;
  readonly #bindings: BindingCache;
  /** Cache buffers per program and per (symbols, parameters), most recent last. */
  readonly #cached = new WeakMap<Program, Map<string, Map<number, TrackedBuffer>>>();
  /** Recent plans per program by `planKey`: re-running on inputs of the same shapes plans nothing. */
  readonly #plans = new WeakMap<Program, LruMap<string, RunPlan>>();
  static readonly CACHED_PER_PROGRAM = 8;
  /** Plans kept per program (distinct input shapes, parameters). */
  static readonly PLANS_PER_PROGRAM = 16;
  /** Every cache entry held, so destroy() can return them (the WeakMap cannot be walked). */
  readonly #held = new Set<Map<number, TrackedBuffer>>();

  constructor(
    readonly device: GPUDevice,
    readonly deviceDescription: string,
    /** The object that keeps Dawn's instance alive for the device's whole life. */
    private readonly keepAlive: unknown,
    private readonly ownsDevice: boolean,
    lower: Partial<DeviceLimits> = {},
    readbackWait: ReadbackWait = defaultReadbackWait(),
    readonly finiteSteps = true,
  ) {
    this.#ctx = new DeviceContext(device, this.#memory, readbackWait);
    this.#pipelines = new PipelineCache(device);
    this.#pool = new BufferPool(this.#ctx);
    this.#bindings = new BindingCache(this.#ctx);
    this.limits = lowerLimits(deviceLimits(device), lower);
    this.hasTimestamps = device.features.has('timestamp-query');
  }

  get memory(): MemoryTracker {
    return this.#memory;
  }

  get readbackWait(): ReadbackWait {
    return this.#ctx.readbackWait;
  }

  upload(t: HostTensor, dtype?: DType): RuntimeTensor {
    this.#ctx.checkAlive();
    const host = uploadData(t, dtype);
    // A tensor larger than one storage binding is fine: programs bind it a chunk at a time.
    const tooBig = exceedsLimits('upload: the tensor', host.data.length * 4, this.limits, false);
    if (tooBig !== null) throw new TesseraError(tooBig);
    const tensor = uploadTensor(this.#ctx, `upload ${host.dtype}[${host.shape.join(', ')}]`, host.data, host.shape, host.dtype);
    // Checked once here, so that every run given this tensor knows whether `finiteSteps` may read it.
    if (host.dtype !== 'f32' || allFinite(host.data)) tensor.markFinite();
    return tensor;
  }

  wrap(buffer: GPUBuffer, shape: readonly number[], dtype: DType = 'f32'): RuntimeTensor {
    this.#ctx.checkAlive();
    if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) throw new TesseraError(`wrap: shape must be an array of whole numbers >= 0, got ${JSON.stringify(shape)}`);
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    const label = buffer.label || 'a wrapped buffer';
    if (buffer.size < bytes) throw new TesseraError(`wrap: ${dtype}[${shape.join(', ')}] needs ${bytes} bytes but ${label} has ${buffer.size}`);
    if ((buffer.usage & BufferUsage.STORAGE) === 0) throw new TesseraError(`wrap: ${label} lacks STORAGE usage, which programs bind it with`);
    // Borrowed: forgetting it must not destroy the owner's buffer or count it as ours.
    const tracked = { buffer, bytes, destroy() {} };
    const tensor = new GPUTensor(this.#ctx, tracked, [...shape], dtype, `wrapped ${label}`, Promise.resolve(null));
    tensor.expose();
    return tensor;
  }

  bufferOf(tensor: RuntimeTensor): GPUBuffer {
    if (!(tensor instanceof GPUTensor) || tensor.ctx !== this.#ctx) throw new TesseraError('bufferOf: the tensor does not belong to this backend');
    tensor.expose();
    return tensor.buffer;
  }

  async run(program: Program, inputs: RunInputs, params?: Params): Promise<Record<string, RuntimeTensor>> {
    return (await this.#execute(program, inputs, params, false)).outputs;
  }

  async profile(program: Program, inputs: RunInputs, params?: Params): Promise<{ outputs: Record<string, RuntimeTensor>; profile: Profile }> {
    if (!this.hasTimestamps) throw new TesseraError(`profile: this device has no 'timestamp-query' feature (hasTimestamps is false)`);
    const { outputs, profile } = await this.#execute(program, inputs, params, true);
    return { outputs, profile: profile! };
  }

  trimPool(): void {
    this.#pool.trim();
    this.#ctx.readbacks.trim();
  }

  destroy(): void {
    this.#ctx.close();
    for (const held of this.#held) for (const t of held.values()) this.#pool.release(t);
    this.#held.clear();
    this.#pool.trim();
    this.#ctx.readbacks.trim();
    this.#bindings.clear();
    if (this.ownsDevice) this.device.destroy();
  }

  /**
   * Whether every f32 input is known to hold only finite values: host data checked now, a tensor
   * of this device by what its upload found. Anything else (a run's output, an exposed or wrapped
   * buffer, another backend's tensor) may hold ±∞ or NaN, and the run takes the exact steps.
   */
  #inputsFinite(program: Program, inputs: RunInputs): boolean {
    return program.inputs.every((t) => {
      if (t.dtype !== 'f32') return true;
      const given = ownEntry(inputs, t.name);
      if (given === undefined || given === null || typeof given !== 'object') return false;
      if (isRuntimeTensor(given)) return given instanceof GPUTensor && given.ctx === this.#ctx && given.knownFinite;
      return Array.isArray(given.data) || ArrayBuffer.isView(given.data) ? allFinite(given.data) : false;
    });
  }

  /** `planRun`, or the plan an earlier run with the same `planKey` got. */
  #plan(program: Program, inputs: Readonly<Record<string, Shaped | undefined>>, params: Params | undefined, finite: boolean): RunPlan {
    const key = planKey(inputs, params, finite);
    let plans = this.#plans.get(program);
    const hit = key === null ? undefined : plans?.get(key);
    if (hit) return hit;
    const plan = planRun(program, inputs, params, this.limits, finite);
    if (key !== null) {
      if (!plans) this.#plans.set(program, (plans = new LruMap(WebGPURuntime.PLANS_PER_PROGRAM)));
      plans.set(key, plan);
    }
    return plan;
  }

  /** Checks the inputs' dtypes and data, and fetches tensors that live elsewhere, before any allocation. */
  async #prepareInputs(plan: RunPlan, inputs: RunInputs): Promise<PreparedInput[]> {
    const prepared: PreparedInput[] = [];
    for (const t of plan.inputs) {
      const given = ownEntry(inputs, t.name)!;
      if (!isRuntimeTensor(given)) {
        prepared.push({ name: t.name, host: hostData(t.name, given, t.dtype), shape: t.shape, dtype: t.dtype });
        continue;
      }
      if (given.dtype !== t.dtype) throw new TesseraError(`input '${t.name}' must be ${t.dtype} but has dtype ${given.dtype}`);
      if (given instanceof GPUTensor && given.ctx === this.#ctx) {
        if (given.destroyed) throw new TesseraError(`input '${t.name}' was destroyed`);
        await given.ready();
        prepared.push({ name: t.name, tensor: given });
      } else {
        // A tensor of another backend or device: copy it through the host for this run.
        prepared.push({ name: t.name, host: await given.read(), shape: t.shape, dtype: t.dtype });
      }
    }
    return prepared;
  }

  /** Compiles (or finds cached) every kernel the steps dispatch. */
  async #compile(program: Program, plan: RunPlan): Promise<Map<number, CompiledKernel>> {
    const firstUse = new Map<number, string>();
    for (const step of distinctSteps(plan.steps)) {
      if (step.kind === 'dispatch' && !firstUse.has(step.kernel)) firstUse.set(step.kernel, step.label);
    }
    const compiled = await Promise.all(
      [...firstUse].map(async ([index, step]) => [index, await this.#pipelines.get(program.kernels[index]!, { program: program.name, step })] as const),
    );
    return new Map(compiled);
  }

  async #execute(program: Program, inputs: RunInputs, params: Params | undefined, timed: boolean): Promise<{ outputs: Record<string, RuntimeTensor>; profile: Profile | null }> {
    const ctx = this.#ctx;
    const { device } = this;
    ctx.checkAlive();
    validateProgram(program);
    const plan = this.#plan(program, inputs as Readonly<Record<string, Shaped | undefined>>, params, this.finiteSteps && program.finiteSteps !== undefined && this.#inputsFinite(program, inputs));
    const prepared = await this.#prepareInputs(plan, inputs);
    await checkGraphInputs(program, plan, prepared);
    const compiled = await this.#compile(program, plan);
    ctx.checkAlive();
    for (const p of prepared) {
      if ('tensor' in p && p.tensor.destroyed) throw new TesseraError(`input '${p.name}' was destroyed while the run was being prepared`);
    }
    const dispatches = timed ? countDispatches(plan.steps) : 0;
    if (dispatches > MAX_TIMED_DISPATCHES) {
      throw new TesseraError(`profile: program '${program.name}' records ${dispatches} dispatches; at most ${MAX_TIMED_DISPATCHES} can be timed in one run`);
    }

    // From here to the submit nothing awaits, so no other run can push error scopes in between.
    const buffers = new Map<number, GPUBuffer>();
    // Cache buffers kept from an earlier run with the same symbols and parameters, if any.
    const cacheKey = exactKey([plan.symbols, plan.params]);
    const programCache = this.#cached.get(program);
    const cacheHit = programCache?.get(cacheKey);
    const freshCache = new Map<number, TrackedBuffer>();
    const steps = cacheHit ? withoutCachedSteps(plan.steps) : plan.steps;
    const uploaded: GPUTensor[] = [];
    const temps: { tracked: TrackedBuffer; bytes: number }[] = [];
    // The outputs' buffers, cleared with the temps before the first dispatch: a pooled one holds an
    // earlier run's data (a new one is zero already, and WebGPU's own zeroing is the same work).
    const outputBuffers: { tracked: TrackedBuffer; bytes: number }[] = [];
    // Output names are data (one may be called `__proto__`): a prototype-free record.
    const outputs = nameRecord<GPUTensor>();
    const allocations: { what: string; bytes: number; error: Promise<{ kind: GPUErrorFilter; message: string } | null> }[] = [];
    const allocate = <T>(what: string, bytes: number, create: () => T): T => {
      pushScopes(device);
      try {
        return create();
      } finally {
        allocations.push({ what, bytes, error: popScopes(device) });
      }
    };
    // A pooled buffer reused allocates nothing, so it needs no error scopes (three pushes and pops).
    const pooled = (what: string, bytes: number, label: string, exact = false): TrackedBuffer =>
      this.#pool.reuse(bytes, label, exact) ?? allocate(what, bytes, () => this.#pool.create(bytes, label));
    let runError: Promise<{ kind: GPUErrorFilter; message: string } | null>;
    let timing: { querySet: GPUQuerySet; timed: TimedDispatch[]; resolve: TrackedBuffer; readback: TrackedBuffer } | null = null;
    try {
      for (const p of prepared) {
        const id = plan.inputs.find((t) => t.name === p.name)!.buffer;
        if ('tensor' in p) {
          buffers.set(id, p.tensor.buffer);
        } else {
          const t = allocate(`tensor '${p.name}'`, p.host.length * 4, () => uploadTensor(ctx, `${program.name}/${p.name}`, p.host, p.shape, p.dtype));
          uploaded.push(t);
          buffers.set(id, t.buffer);
        }
      }
      for (const t of plan.outputs) {
        const bytes = plan.buffers.get(t.buffer)!.bytes;
        const label = `${program.name}/${t.name}`;
        // An output destroyed after an earlier run left its buffer in the pool: reusing it (cleared
        // below) spares the allocation, and the bind groups that held it are found in the cache.
        const tracked = pooled(`tensor '${t.name}'`, bytes, label, true);
        outputBuffers.push({ tracked, bytes });
        const tensor = new GPUTensor(ctx, tracked, t.shape, t.dtype, label, Promise.resolve(null), (b) => this.#pool.release(b));
        outputs[t.name] = tensor;
        buffers.set(t.buffer, tensor.buffer);
      }
      for (const b of plan.buffers.values()) {
        if (b.buffer.role === 'cache') {
          const kept = cacheHit?.get(b.buffer.id);
          if (kept) {
            buffers.set(b.buffer.id, kept.buffer);
          } else {
            const tracked = pooled(b.what, b.bytes, `${program.name}/${b.buffer.label}`);
            freshCache.set(b.buffer.id, tracked);
            temps.push({ tracked, bytes: b.bytes });
            buffers.set(b.buffer.id, tracked.buffer);
          }
          continue;
        }
        if (b.buffer.role !== 'temp') continue;
        const tracked = pooled(b.what, b.bytes, `${program.name}/${b.buffer.label}`);
        temps.push({ tracked, bytes: b.bytes });
        buffers.set(b.buffer.id, tracked.buffer);
      }

      pushScopes(device);
      try {
        const encoder = device.createCommandEncoder({ label: program.name });
        // Pooled buffers hold the previous run's data; clearing makes them behave like fresh ones.
        for (const t of temps.concat(outputBuffers)) encoder.clearBuffer(t.tracked.buffer, 0, t.bytes);
        if (timed) {
          const count = Math.max(2, 2 * dispatches);
          timing = {
            querySet: device.createQuerySet({ label: `${program.name} timestamps`, type: 'timestamp', count }),
            timed: [],
            resolve: ctx.createBuffer(`${program.name} timestamps (resolve)`, count * 8, BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC),
            readback: ctx.createBuffer(`${program.name} timestamps (readback)`, count * 8, BufferUsage.MAP_READ | BufferUsage.COPY_DST),
          };
        }
        const groups = new Map<PlannedDispatch, GPUBindGroup>();
        encodeSteps(
          encoder,
          steps,
          {
            pipeline: (k) => compiled.get(k)!.pipeline,
            buffer: (id) => buffers.get(id)!,
            bindGroup: (step) => {
              let group = groups.get(step);
              if (!group) {
                group = this.#bindGroup(program, plan, step, compiled, buffers, true);
                groups.set(step, group);
              }
              return group;
            },
          },
          program.name,
          timing,
        );
        if (timing && timing.timed.length > 0) {
          const n = 2 * timing.timed.length;
          encoder.resolveQuerySet(timing.querySet, 0, n, timing.resolve.buffer, 0);
          encoder.copyBufferToBuffer(timing.resolve.buffer, 0, timing.readback.buffer, 0, n * 8);
        }
        device.queue.submit([encoder.finish()]);
      } finally {
        runError = popScopes(device);
        ctx.flushDeferred();
      }
    } catch (e) {
      this.#cleanUp(temps, uploaded, Object.values(outputs), timing);
      throw e;
    }

    let failure: string | null = null;
    try {
      for (const a of allocations) {
        const e = await a.error;
        if (e !== null && failure === null) {
          failure = `program '${program.name}': ${describeKind(e.kind)} allocating ${a.what} (${formatBytes(a.bytes)}): ${e.message}`;
        }
      }
      for (const t of uploaded) {
        // An upload's own error scope caught its failure (e.g. out of memory); report it as the run's.
        await t.ready().catch((err: Error) => {
          failure ??= `program '${program.name}': ${err.message}`;
        });
      }
      const e = await runError;
      if (e !== null && failure === null) failure = await this.#diagnose(program, plan, compiled, buffers, e);
      if (failure === null) ctx.checkAlive();
    } catch (err) {
      this.#cleanUp(temps, uploaded, Object.values(outputs), timing);
      throw err;
    }
    if (failure !== null) {
      this.#cleanUp(temps, uploaded, Object.values(outputs), timing);
      throw new WebGPUError(failure);
    }
    // Fresh cache buffers stay with the program instead of returning to the pool.
    const kept = temps.filter((t) => ![...freshCache.values()].includes(t.tracked));
    if (freshCache.size > 0) this.#keepCache(program, cacheKey, freshCache);
    this.#cleanUp(kept, uploaded, null, null);
    let profile: Profile | null = null;
    if (timing) {
      try {
        profile = await readTimestamps(timing, program, ctx);
      } finally {
        timing.resolve.destroy();
        timing.readback.destroy();
        timing.querySet.destroy();
      }
    }
    return { outputs, profile };
  }

  #bindGroup(program: Program, plan: RunPlan, step: PlannedDispatch, compiled: Map<number, CompiledKernel>, buffers: Map<number, GPUBuffer>, cached: boolean): GPUBindGroup {
    const storage = step.buffers.map((id, i) => ({ buffer: buffers.get(id)!, ...step.ranges[i]! }));
    const uniform = step.uniforms ? this.#bindings.uniformBuffer(step.uniforms).buffer : null;
    const kernel = program.kernels[step.kernel]!;
    return this.#bindings.bindGroup(compiled.get(step.kernel)!, storage, uniform, `${program.name}/${step.label} (kernel '${kernel.name}')`, cached);
  }

  /** Holds a run's cache buffers for later runs, evicting the oldest entry past the limit. */
  #keepCache(program: Program, key: string, buffers: Map<number, TrackedBuffer>): void {
    let entries = this.#cached.get(program);
    if (!entries) this.#cached.set(program, (entries = new Map()));
    entries.set(key, buffers);
    this.#held.add(buffers);
    while (entries.size > WebGPURuntime.CACHED_PER_PROGRAM) {
      const [oldest, dropped] = entries.entries().next().value as [string, Map<number, TrackedBuffer>];
      entries.delete(oldest);
      this.#held.delete(dropped);
      for (const t of dropped.values()) this.#pool.release(t);
    }
  }

  /**
   * Temporaries back to the pool and per-run uploads freed; on failure (`outputs` given) the
   * outputs too, and the pool is emptied: an allocation that failed left an invalid buffer, which
   * the next run must not be handed.
   */
  #cleanUp(temps: { tracked: TrackedBuffer }[], uploaded: GPUTensor[], outputs: GPUTensor[] | null, timing: { querySet: GPUQuerySet; resolve: TrackedBuffer; readback: TrackedBuffer } | null): void {
    for (const t of temps) this.#pool.release(t.tracked);
    for (const t of uploaded) t.destroy();
    if (outputs) {
      for (const t of outputs) t.destroy();
      this.#pool.trim();
    }
    if (timing) {
      timing.resolve.destroy();
      timing.readback.destroy();
      timing.querySet.destroy();
    }
  }

  /**
   * Finds the step behind an error WebGPU reported for a whole run by recording each distinct step
   * alone (not submitted) under its own error scope; the message names the first that fails.
   */
  async #diagnose(
    program: Program,
    plan: RunPlan,
    compiled: Map<number, CompiledKernel>,
    buffers: Map<number, GPUBuffer>,
    error: { kind: GPUErrorFilter; message: string },
  ): Promise<string> {
    const { device } = this;
    for (const step of distinctSteps(plan.steps)) {
      if (step.kind === 'dispatch' ? step.total === 0 : step.bytes === 0) continue;
      pushScopes(device);
      try {
        const encoder = device.createCommandEncoder({ label: `${program.name} (diagnosis)` });
        if (step.kind === 'dispatch') {
          const pass = encoder.beginComputePass({ label: `${program.name}: ${step.label}` });
          pass.setPipeline(compiled.get(step.kernel)!.pipeline);
          pass.setBindGroup(0, this.#bindGroup(program, plan, step, compiled, buffers, false));
          pass.dispatchWorkgroups(step.grid[0], step.grid[1]);
          pass.end();
        } else {
          encoder.copyBufferToBuffer(buffers.get(step.src)!, 0, buffers.get(step.dst)!, 0, step.bytes);
        }
        encoder.finish();
      } finally {
        const found = await popScopes(device);
        if (found !== null) {
          const subject = step.kind === 'dispatch' ? `step '${step.label}' (kernel '${program.kernels[step.kernel]!.name}')` : `copy step '${step.label}'`;
          return `program '${program.name}': ${subject}: ${describeKind(found.kind)}: ${found.message}`;
        }
      }
    }
    return `program '${program.name}': ${describeKind(error.kind)} while running (no single step reproduces it alone): ${error.message}`;
  }
}

async function readTimestamps(timing: { timed: TimedDispatch[]; readback: TrackedBuffer }, program: Program, ctx: DeviceContext): Promise<Profile> {
  const n = timing.timed.length;
  if (n === 0) return { steps: [], totalMs: 0 };
  await mapForReading(timing.readback.buffer, ctx.readbackWait, ctx.waits, `${program.name} timestamps`, 2 * n * 8);
  const ticks = new BigInt64Array(timing.readback.buffer.getMappedRange(0, 2 * n * 8).slice(0));
  timing.readback.buffer.unmap();
  const steps: StepTiming[] = timing.timed.map(({ step, iteration }, i) => ({
    label: step.label,
    kernel: program.kernels[step.kernel]!.name,
    iteration,
    ms: Math.max(0, Number(ticks[2 * i + 1]! - ticks[2 * i]!) / 1e6),
  }));
  return { steps, totalMs: steps.reduce((sum, s) => sum + s.ms, 0) };
}

/**
 * The device's limits, each lowered to `lower`'s value where that is smaller (a larger value is
 * refused: the device cannot honour it). Lets an app plan for smaller devices than the one it
 * runs on, and tests exercise the paths small devices take (chunked bindings).
 */
function lowerLimits(device: DeviceLimits, lower: Partial<DeviceLimits>): DeviceLimits {
  const out: Record<string, number> = { ...device };
  for (const [name, value] of Object.entries(lower)) {
    const has = (device as unknown as Record<string, number>)[name];
    if (has === undefined) throw new TesseraError(`unknown device limit '${name}'`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new TesseraError(`device limit '${name}' must be a whole number >= 1, got ${String(value)}`);
    const alignment = name === 'minStorageBufferOffsetAlignment';
    // An alignment is a lower bound: a device limit can only be made stricter (larger) there.
    if (alignment ? value < has : value > has) throw new TesseraError(`device limit '${name}' can only be made ${alignment ? 'larger' : 'smaller'} than this device's ${has}, got ${value}`);
    out[name] = value;
  }
  return out as unknown as DeviceLimits;
}

/**
 * A WebGPU backend on `options.device`, or on a device opened on the best adapter (with the
 * adapter's larger limits and 'timestamp-query' when it has it). A device the caller passes stays
 * the caller's: `destroy()` leaves it open. `limits` plans runs against smaller limits than the
 * device's (see `lowerLimits`).
 */
export async function createWebGPUBackend(
  options: { device?: GPUDevice; powerPreference?: GPUPowerPreference; limits?: Partial<DeviceLimits>; readbackWait?: ReadbackWait; finiteSteps?: boolean } = {},
): Promise<WebGPUBackend> {
  const wait = options.readbackWait ?? defaultReadbackWait();
  if (wait !== 'poll' && wait !== 'map') throw new TesseraError(`readbackWait must be 'poll' or 'map', got '${String(wait)}'`);
  const finiteSteps = options.finiteSteps ?? true;
  if (typeof finiteSteps !== 'boolean') throw new TesseraError(`finiteSteps must be true or false, got ${String(finiteSteps)}`);
  if (options.device) {
    const info = (options.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return new WebGPURuntime(options.device, describeAdapter(info), null, false, options.limits, wait, finiteSteps);
  }
  const probe = await probeGPU(options.powerPreference ? { powerPreference: options.powerPreference } : {});
  if (!probe.ok) throw new WebGPUError(`no WebGPU adapter: ${probe.reason}`);
  return backendOnAdapter(probe.gpu, options.limits, wait, finiteSteps);
}

/** A backend on a device it opens (and owns) on an adapter already found. */
export async function backendOnAdapter(gpu: AcquiredGPU, limits: Partial<DeviceLimits> = {}, readbackWait: ReadbackWait = defaultReadbackWait(), finiteSteps = true): Promise<WebGPUBackend> {
  const device = await openDevice(gpu.adapter);
  return new WebGPURuntime(device, describeAdapter(gpu.adapter.info), gpu.keepAlive, true, limits, readbackWait, finiteSteps);
}

/** The steps without the cached dispatches (their results are already in the cache buffers). */
function withoutCachedSteps(steps: readonly PlannedStep[]): PlannedStep[] {
  return steps.flatMap((s): PlannedStep[] => {
    if (s.kind === 'dispatch') return s.cached ? [] : [s];
    if (s.kind === 'loop') return [{ ...s, body: withoutCachedSteps(s.body) }];
    return [s];
  });
}

/**
 * The CSR checks passed by device tensors no one else can write (uploaded, or a run's outputs):
 * per rowptr tensor, the col tensors and node counts it was checked with. Their contents never
 * change, so a graph kept on the device is read back once, not every run.
 */
const checkedGraphs = new WeakMap<GPUTensor, Set<string>>();

/** Each program's CSR inputs, found once rather than by walking its graph every run. */
const graphChecks = new WeakMap<Program, readonly CsrInputs[]>();

/**
 * Checks every CSR adjacency the program reads (`csrInputs`) before anything is dispatched: a bad
 * `rowptr` or `col` would otherwise give wrong rows, not an error. Host inputs are checked as
 * given; inputs already on the device are read back for it, once per pair of tensors unless their
 * buffers were handed out (`wrap`, `bufferOf`).
 */
async function checkGraphInputs(program: Program, plan: RunPlan, prepared: readonly PreparedInput[]): Promise<void> {
  let checks = graphChecks.get(program);
  if (!checks) graphChecks.set(program, (checks = csrInputs(program.graph)));
  if (checks.length === 0) return;
  const find = (name: string) => prepared.find((x) => x.name === name)!;
  const dataOf = async (p: PreparedInput): Promise<Int32Array> => {
    const data = 'tensor' in p ? await p.tensor.read() : p.host;
    return data instanceof Int32Array ? data : new Int32Array(data.buffer, data.byteOffset, data.length);
  };
  for (const c of checks) {
    const [rowptr, col] = [find(c.rowptr), find(c.col)];
    const [rows, cols] = [evalSize(c.rows, plan.symbols), evalSize(c.cols, plan.symbols)];
    const kept = 'tensor' in rowptr && 'tensor' in col && !rowptr.tensor.exposed && !col.tensor.exposed;
    const key = kept ? `${col.tensor.serial} ${rows} ${cols}` : '';
    if (kept && checkedGraphs.get(rowptr.tensor)?.has(key)) continue;
    const problem = checkCsr(await dataOf(rowptr), await dataOf(col), rows, cols);
    if (problem !== null) throw new TesseraError(`program '${program.name}': ${csrProblem(c, problem)}`);
    if (kept) {
      const set = checkedGraphs.get(rowptr.tensor) ?? new Set<string>();
      checkedGraphs.set(rowptr.tensor, set.add(key));
    }
  }
}
