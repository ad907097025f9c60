/**
 * The measurement method (DESIGN.md, "Performance method"): warm-up runs, then N timed runs,
 * each timed run ending with a readback to the host, reporting the median. Also: deterministic
 * inputs, a float64 reference, GFLOP/s from the standard flop count, and the JSON row format.
 *
 * Why every run ends with a readback: WebGPU submission is asynchronous, so the time until
 * `queue.submit()` returns says nothing about the GPU. Waiting for `onSubmittedWorkDone` would
 * depend on each library submitting eagerly (jax-js and TF.js both defer and batch). Reading the
 * result back is the one completion signal every library offers, and it is what an application
 * pays before it can use the answer. The cost of copying the output to the host is therefore part
 * of every figure, for every implementation alike.
 */
import type { SharedDevice } from './device.ts';

/** One result row, as written to the JSON file. Field names are part of the file format. */
export interface Row {
  readonly case: string;
  readonly impl: string;
  /** Median wall time of the timed runs, each ending with the output on the host. */
  readonly ms_median: number | null;
  readonly ms_min: number | null;
  /** Timed runs actually made (can be below the requested count when the time cap hit). */
  readonly runs: number;
  /** Standard flop count of the case divided by `ms_median`. */
  readonly gflops: number | null;
  /** Peak GPU bytes the implementation allocated during the case, or null when unknowable. */
  readonly peak_bytes: number | null;
  /** Where `peak_bytes` comes from; each library measures differently. */
  readonly peak_bytes_source: string;
  /** Largest |output − float64 reference| over all elements, on the last timed run's output. */
  readonly max_abs_err: number | null;
  /**
   * The case's bound on `max_abs_err` for a correct f32 result. Exceeding it flags the row in the
   * table (a fast wrong answer must not look like a win); the row is still written.
   */
  readonly tolerance: number;
  readonly device: string;
  /** Present when the implementation could not run; the reason, verbatim. */
  readonly error?: string;
}

/** What a case needs from one implementation: a prepared computation on resident inputs. */
export interface Prepared {
  /**
   * One complete computation: dispatch, wait, and copy the output to the host. The inputs were
   * uploaded by `prepare`, so upload time is not part of a run (it is the same for every impl
   * and says nothing about kernels).
   */
  run(): Promise<Float32Array>;
  /** Peak GPU bytes since `prepare` started, or null. */
  peakBytes(): number | null;
  /** Frees the inputs and anything cached for this case (not the library's pools). */
  dispose(): void | Promise<void>;
}

export interface Impl<I> {
  readonly name: string;
  /** Describes `peak_bytes` for the rows of this impl. */
  readonly peakBytesSource: string;
  /** Uploads inputs and builds what `run` needs (compiling, tracing, pipeline creation). */
  prepare(inputs: I, ctx: BenchContext): Promise<Prepared>;
}

/** A benchmark case: fixed inputs, a float64 reference and the implementations to compare. */
export interface Case<I> {
  /** Unique, e.g. `matmul 512x512x512`; `--filter` matches it as `case/impl`. */
  readonly name: string;
  /** Standard flop count (matmul: 2·M·N·K). */
  readonly flops: number;
  /** Largest `max_abs_err` a correct f32 implementation may show on these inputs. */
  readonly tolerance: number;
  /** Deterministic inputs (seeded), built once per case. */
  makeInputs(): I;
  /** Float64 reference for `inputs`, computed in plain JS. */
  reference(inputs: I): Float64Array;
  readonly impls: readonly Impl<I>[];
  /** Defaults sized for the case's cost on lavapipe; `--runs`/`--warmup` override them. */
  readonly warmup: number;
  readonly runs: number;
}

/** Shared state handed to every impl. */
export interface BenchContext {
  /** The one device every implementation runs on. */
  readonly shared: SharedDevice;
}

export interface MeasureOptions {
  readonly warmup: number;
  readonly runs: number;
  /**
   * Stop adding timed runs once this many seconds of timed runs have elapsed (after at least
   * `minRuns`), so a slow implementation on a software device cannot blow the run's time budget.
   */
  readonly maxSecondsPerImpl: number;
  readonly minRuns: number;
}

export interface Measurement {
  readonly times: number[];
  readonly lastOutput: Float32Array;
}

/**
 * Runs `prepared` `warmup` times untimed (pipeline compilation, lazy uploads, pool growth), then
 * times up to `runs` runs. The first warm-up run executes inside WebGPU error scopes so that a
 * validation or out-of-memory error fails the row instead of yielding silent garbage.
 */
export async function measure(prepared: Prepared, device: GPUDevice, opts: MeasureOptions): Promise<Measurement> {
  let lastOutput: Float32Array | undefined;
  for (let i = 0; i < Math.max(1, opts.warmup); i++) {
    lastOutput = i === 0 ? await withErrorScopes(device, () => prepared.run()) : await prepared.run();
  }
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < opts.runs; i++) {
    const t0 = performance.now();
    lastOutput = await prepared.run();
    times.push(performance.now() - t0);
    const elapsed = (performance.now() - started) / 1000;
    if (times.length >= opts.minRuns && elapsed > opts.maxSecondsPerImpl) break;
  }
  return { times, lastOutput: lastOutput! };
}

/** Runs `fn` under validation, out-of-memory and internal error scopes; throws the first error. */
async function withErrorScopes<T>(device: GPUDevice, fn: () => Promise<T>): Promise<T> {
  const filters: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
  for (const f of filters) device.pushErrorScope(f);
  let result: T | undefined;
  let thrown: unknown;
  try {
    result = await fn();
  } catch (e) {
    thrown = e;
  }
  const errors: (GPUError | null)[] = [];
  for (let i = 0; i < filters.length; i++) errors.push(await device.popErrorScope());
  if (thrown !== undefined) throw thrown;
  const first = errors.find((e) => e !== null);
  if (first) throw new Error(`WebGPU error during first run: ${first.message}`);
  return result as T;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Largest absolute difference; NaN anywhere in `got` makes it NaN (reported, not hidden). */
export function maxAbsErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`output has ${got.length} elements, reference ${want.length}`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= worst)) worst = d; // also catches NaN
  }
  return worst;
}

/**
 * mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Seeded from the case name so every run,
 * every machine and every implementation sees the same inputs.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, used as a seed so a case's inputs depend only on its name. */
export function hashSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** `n` values uniform in [-1, 1), rounded to f32 (the reference uses these exact values). */
export function randomF32(n: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rand() * 2 - 1;
  return out;
}

/** Runs one impl of one case end to end and turns the outcome (or failure) into a row. */
export async function benchImpl<I>(
  c: Case<I>,
  impl: Impl<I>,
  inputs: I,
  reference: Float64Array,
  ctx: BenchContext,
  opts: MeasureOptions,
): Promise<Row> {
  let prepared: Prepared | undefined;
  try {
    prepared = await impl.prepare(inputs, ctx);
    const m = await measure(prepared, ctx.shared.device, opts);
    const ms = median(m.times);
    return makeRow(c, impl, ctx, {
      ms_median: round(ms, 3),
      gflops: round(c.flops / (ms * 1e6), 3),
      peak_bytes: prepared.peakBytes(),
      max_abs_err: maxAbsErr(m.lastOutput, reference),
      runs: m.times.length,
      ms_min: round(Math.min(...m.times), 3),
    });
  } catch (e) {
    return makeRow(c, impl, ctx, { ms_median: null, gflops: null, peak_bytes: null, max_abs_err: null, runs: 0, ms_min: null, error: errorText(e) });
  } finally {
    try {
      await prepared?.dispose();
    } catch (e) {
      console.error(`bench: dispose failed for ${c.name}/${impl.name}: ${errorText(e)}`);
    }
  }
}

type Measured = Pick<Row, 'ms_median' | 'gflops' | 'peak_bytes' | 'max_abs_err' | 'runs' | 'ms_min' | 'error'>;

/** Builds a row with its fields in the documented order (the JSON is read by people too). */
function makeRow<I>(c: Case<I>, impl: Impl<I>, ctx: BenchContext, m: Measured): Row {
  const row: Row = {
    case: c.name,
    impl: impl.name,
    ms_median: m.ms_median,
    gflops: m.gflops,
    peak_bytes: m.peak_bytes,
    max_abs_err: m.max_abs_err,
    device: ctx.shared.description,
    runs: m.runs,
    ms_min: m.ms_min,
    peak_bytes_source: impl.peakBytesSource,
    tolerance: c.tolerance,
  };
  return m.error === undefined ? row : { ...row, error: m.error };
}

/** The error's message plus the first stack frame that is not in node internals, for a row. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const frame = e.stack
      ?.split('\n')
      .slice(1)
      .map((l) => l.trim())
      .find((l) => l.startsWith('at ') && !l.includes('node:'));
    return frame ? `${e.name}: ${e.message} (${frame})` : `${e.name}: ${e.message}`;
  }
  return String(e);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
