/**
 * The measurement method (DESIGN.md, "Performance method"): warm-up runs, then N timed runs,
 * each timed run ending with a readback to the host, reporting the median; timed runs of a case's
 * implementations are interleaved (see `benchCase`). Also: deterministic inputs, a float64
 * reference, GFLOP/s from the standard flop count, and the JSON row format.
 *
 * Why every run ends with a readback: WebGPU submission is asynchronous, so the time until
 * `queue.submit()` returns says nothing about the GPU. Waiting for `onSubmittedWorkDone` would
 * depend on each library submitting eagerly (jax-js and TF.js both defer and batch). Reading the
 * result back is the one completion signal every library offers, and it is what an application
 * pays before it can use the answer. The cost of copying the output to the host is therefore part
 * of every figure, for every implementation alike.
 */
import { loadavg } from 'node:os';
import type { SharedDevice } from './device.ts';
export { hashSeed, randomF32, seededRandom } from './random.ts';

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
  /**
   * The 1-minute load average when the case's rows were written (after its timed rounds). lavapipe runs the "GPU" on the same CPU cores
   * as everything else, so a row measured while other processes were busy (load above the core
   * count) is not comparable with a quiet one; this says which it was.
   */
  readonly load_1m: number;
  /** Present when the implementation could not run; the reason, verbatim. */
  readonly error?: string;
  /** Present when the case counts tokens (`Case.tokens`): tokens ÷ `ms_median`, per second. */
  readonly tokens_per_s?: number | null;
  /** Present when the case carries a remark for its rows (`Case.note`). */
  readonly note?: string;
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
  /** What it runs on, when that is not the shared WebGPU device (the CPU interpreter). */
  readonly device?: string;
}

export interface Impl<I> {
  readonly name: string;
  /** Describes `peak_bytes` for the rows of this impl. */
  readonly peakBytesSource: string;
  /** Uploads inputs and builds what `run` needs (compiling, tracing, pipeline creation). */
  prepare(inputs: I, ctx: BenchContext): Promise<Prepared>;
  /**
   * At most this many warm-up and timed runs, whatever the case asks: for a slow reference (the
   * CPU interpreter) that needs no warming and whose every run would otherwise stretch each round.
   */
  readonly maxWarmup?: number;
  readonly maxRuns?: number;
}

/** A benchmark case: fixed inputs, a float64 reference and the implementations to compare. */
export interface Case<I> {
  /** Unique, e.g. `matmul 512x512x512`; `--filter` matches it as `case/impl`. */
  readonly name: string;
  /** Standard flop count (matmul: 2·M·N·K). */
  readonly flops: number;
  /**
   * Tokens (sequence items, e.g. routed input vectors) one run processes, where that is the figure
   * users quote; the rows then carry `tokens_per_s` and the table a `tokens/s` column.
   */
  readonly tokens?: number;
  /** A remark shown in the note column of every row of the case (e.g. why an impl is absent). */
  readonly note?: string;
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
   * Stop adding rounds once the timed runs have taken this many seconds per implementation on
   * average (after at least `minRuns` rounds), so a slow implementation on a software device
   * cannot blow the run's time budget.
   */
  readonly maxSecondsPerImpl: number;
  readonly minRuns: number;
  /**
   * A single run taking longer than this fails the row. A lost readback (a `mapAsync` that never
   * settles) would otherwise hang the whole bench with no row written at all.
   */
  readonly runTimeoutSeconds: number;
}

/**
 * Measures every implementation of one case and returns their rows, in `impls` order.
 *
 * Phase 1, one implementation at a time: prepare, warm up (the first run inside WebGPU error
 * scopes, so a validation or out-of-memory error fails the row instead of yielding garbage), read
 * the peak GPU bytes, dispose. Peaks are taken here, alone, because implementations sharing a
 * library (tessera and tessera-pinned) share its allocation record.
 *
 * Phase 2, all survivors together: prepare again, one untimed run each (lazy uploads happen on
 * first use), then timed rounds that run every implementation once per round, in turn. On
 * lavapipe the "GPU" is the CPU cores everything else also uses, so background load comes and
 * goes; interleaving spreads it evenly over the implementations instead of penalising whichever
 * happened to run during a busy minute.
 */
export async function benchCase<I>(
  c: Case<I>,
  impls: readonly Impl<I>[],
  inputs: I,
  reference: Float64Array,
  ctx: BenchContext,
  opts: MeasureOptions,
  log: (line: string) => void = () => {},
): Promise<Row[]> {
  const device = ctx.shared.device;
  const failed = new Map<Impl<I>, string>();
  const peaks = new Map<Impl<I>, number | null>();
  const devices = new Map<Impl<I>, string>();
  const run = (p: Prepared): Promise<Float32Array> => withTimeout(p.run(), opts.runTimeoutSeconds);

  for (const impl of impls) {
    const t0 = performance.now();
    let prepared: Prepared | undefined;
    try {
      prepared = await impl.prepare(inputs, ctx);
      const p = prepared;
      await withErrorScopes(device, () => run(p));
      for (let i = 1; i < Math.min(opts.warmup, impl.maxWarmup ?? Infinity); i++) await run(p);
      peaks.set(impl, p.peakBytes());
      if (p.device !== undefined) devices.set(impl, p.device);
      log(`  ${impl.name}: prepared and warmed up in ${seconds(t0)} s`);
    } catch (e) {
      failed.set(impl, errorText(e));
      log(`  ${impl.name}: ERROR ${errorText(e)}`);
    } finally {
      await disposeQuietly(prepared, `${c.name}/${impl.name}`);
    }
  }

  const live = new Map<Impl<I>, { prepared: Prepared; times: number[]; last?: Float32Array }>();
  const drop = async (impl: Impl<I>, e: unknown): Promise<void> => {
    failed.set(impl, errorText(e));
    log(`  ${impl.name}: ERROR ${errorText(e)}`);
    await disposeQuietly(live.get(impl)?.prepared, `${c.name}/${impl.name}`);
    live.delete(impl);
  };
  for (const impl of impls) {
    if (failed.has(impl)) continue;
    try {
      const prepared = await impl.prepare(inputs, ctx);
      live.set(impl, { prepared, times: [] });
      await run(prepared);
    } catch (e) {
      await drop(impl, e);
    }
  }

  const t0 = performance.now();
  for (let round = 1; round <= opts.runs && live.size > 0; round++) {
    for (const [impl, state] of [...live]) {
      if (state.times.length >= (impl.maxRuns ?? Infinity)) continue;
      try {
        const start = performance.now();
        state.last = await run(state.prepared);
        state.times.push(performance.now() - start);
      } catch (e) {
        await drop(impl, e);
      }
    }
    const perImpl = (performance.now() - t0) / 1000 / Math.max(1, live.size);
    if (round >= opts.minRuns && perImpl > opts.maxSecondsPerImpl) {
      log(`  time cap: stopped after ${round} rounds (${opts.maxSecondsPerImpl} s per implementation)`);
      break;
    }
  }

  const rows: Row[] = [];
  for (const impl of impls) {
    const state = live.get(impl);
    const error = failed.get(impl);
    if (state === undefined || error !== undefined || state.last === undefined) {
      rows.push(makeRow(c, impl, ctx, { ms_median: null, gflops: null, peak_bytes: null, max_abs_err: null, runs: 0, ms_min: null, error: error ?? 'no timed run completed' }));
      continue;
    }
    const ms = median(state.times);
    let maxErr: number | null = null;
    let err: string | undefined;
    try {
      maxErr = maxAbsErr(state.last, reference);
    } catch (e) {
      err = errorText(e);
    }
    const measured: Measured = {
      ms_median: round(ms, 3),
      gflops: round(c.flops / (ms * 1e6), 3),
      peak_bytes: peaks.get(impl) ?? null,
      max_abs_err: maxErr,
      runs: state.times.length,
      ms_min: round(Math.min(...state.times), 3),
      ...(devices.has(impl) ? { device: devices.get(impl)! } : {}),
    };
    rows.push(makeRow(c, impl, ctx, err === undefined ? measured : { ...measured, error: err }));
    await disposeQuietly(state.prepared, `${c.name}/${impl.name}`);
  }
  return rows;
}

async function disposeQuietly(prepared: Prepared | undefined, what: string): Promise<void> {
  try {
    await prepared?.dispose();
  } catch (e) {
    console.error(`bench: dispose failed for ${what}: ${errorText(e)}`);
  }
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}

function withTimeout<T>(p: Promise<T>, seconds: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a single run took longer than ${seconds} s; gave up`)), seconds * 1000);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
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


type Measured = Pick<Row, 'ms_median' | 'gflops' | 'peak_bytes' | 'max_abs_err' | 'runs' | 'ms_min' | 'error'> & { device?: string };

/** Builds a row with its fields in the documented order (the JSON is read by people too). */
function makeRow<I>(c: Case<I>, impl: Impl<I>, ctx: BenchContext, m: Measured): Row {
  const row: Row = {
    case: c.name,
    impl: impl.name,
    ms_median: m.ms_median,
    gflops: m.gflops,
    peak_bytes: m.peak_bytes,
    max_abs_err: m.max_abs_err,
    device: m.device ?? ctx.shared.description,
    runs: m.runs,
    ms_min: m.ms_min,
    peak_bytes_source: impl.peakBytesSource,
    tolerance: c.tolerance,
    load_1m: round(loadavg()[0]!, 2),
  };
  const extra = {
    ...(c.tokens === undefined ? {} : { tokens_per_s: m.ms_median === null ? null : round((c.tokens * 1000) / m.ms_median, 0) }),
    ...(c.note === undefined ? {} : { note: c.note }),
    ...(m.error === undefined ? {} : { error: m.error }),
  };
  return { ...row, ...extra };
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

/** A fixed-width text table; errors are shortened here but kept whole in the JSON. */
export function formatTable(rows: readonly Row[]): string {
  // The tokens/s column appears only when some row counts tokens, so other tables are unchanged.
  const tokens = rows.some((r) => r.tokens_per_s !== undefined);
  const header = ['case', 'impl', 'ms_median', 'ms_min', 'runs', 'GFLOP/s', ...(tokens ? ['tokens/s'] : []), 'peak_MiB', 'max_abs_err', 'note'];
  const num = (x: number | null, digits: number): string => (x === null ? '-' : x.toFixed(digits));
  const body = rows.map((r) => [
    r.case,
    r.impl,
    num(r.ms_median, 2),
    num(r.ms_min, 2),
    String(r.runs),
    num(r.gflops, 2),
    ...(tokens ? [r.tokens_per_s === undefined || r.tokens_per_s === null ? '-' : r.tokens_per_s.toFixed(0)] : []),
    r.peak_bytes === null ? '-' : (r.peak_bytes / 2 ** 20).toFixed(1),
    r.max_abs_err === null ? '-' : r.max_abs_err.toExponential(2),
    r.error !== undefined
      ? `ERROR: ${shorten(r.error.replace(/\s+/g, ' '), 100)}`
      : r.max_abs_err !== null && !(r.max_abs_err <= r.tolerance)
        ? `WRONG? max_abs_err above tolerance ${r.tolerance.toExponential(1)}`
        : (r.note ?? ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const numeric = new Set(tokens ? [2, 3, 4, 5, 6, 7, 8] : [2, 3, 4, 5, 6, 7]);
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
