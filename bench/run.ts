/**
 * `npm run bench -- [--json FILE] [--filter TEXT] [--runs N] [--warmup N] [--max-seconds S]`
 *
 * Runs every registered case on every implementation, all on one shared WebGPU device, prints a
 * table and writes the rows as JSON (default `bench/results/latest.json`). A failing
 * implementation becomes a row with an `error` field, never a missing row, so a regression or a
 * broken peer is visible in the results rather than silently absent.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cases } from './cases/index.ts';
import { openSharedDevice, type SharedDevice } from './device.ts';
import { benchImpl, errorText, type MeasureOptions, type Row } from './harness.ts';
import { deviceRequests } from './peers/navigator-shim.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT_JSON = resolve(HERE, 'results', 'latest.json');

const USAGE = `usage: npm run bench -- [options]
  --json FILE         where to write the JSON rows (default bench/results/latest.json)
  --filter TEXT       only run case/impl pairs whose "case/impl" contains TEXT
                      (e.g. "1024", "tfjs", "512x512x512/tessera")
  --runs N            timed runs per impl (default: per case, 10 at 512³, 5 at 1024³)
  --warmup N          untimed warm-up runs per impl (default: per case; at least 1)
  --max-seconds S     stop timing an impl after S seconds of timed runs, once it has
                      3 runs (default 60)
  --list              print the case/impl pairs and exit
  -h, --help          this text`;

interface Options {
  readonly json: string;
  readonly filter: string | undefined;
  readonly runs: number | undefined;
  readonly warmup: number | undefined;
  readonly maxSeconds: number;
  readonly list: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'string' },
      filter: { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      'max-seconds': { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const count = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new Error(`--${name} must be a whole number >= ${min}, got '${v}'`);
    return x;
  };
  const maxSeconds = values['max-seconds'] === undefined ? 60 : Number(values['max-seconds']);
  if (!(maxSeconds > 0)) throw new Error(`--max-seconds must be a positive number, got '${values['max-seconds']}'`);
  return {
    json: values.json === undefined ? DEFAULT_JSON : resolve(values.json),
    filter: values.filter,
    runs: count('runs', values.runs, 1),
    warmup: count('warmup', values.warmup, 1),
    maxSeconds,
    list: values.list === true,
  };
}

/** `--filter` is a plain, case-sensitive substring test over `case/impl`. */
function selected(caseName: string, implName: string, filter: string | undefined): boolean {
  return filter === undefined || `${caseName}/${implName}`.includes(filter);
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const plan = cases
    .map((rc) => rc.use((c) => ({ rc, impls: c.impls.map((i) => i.name).filter((i) => selected(c.name, i, opts.filter)) })))
    .filter((p) => p.impls.length > 0);
  if (opts.list) {
    for (const p of plan) for (const i of p.impls) console.log(`${p.rc.name}/${i}`);
    return 0;
  }
  if (plan.length === 0) {
    console.error(`bench: --filter '${opts.filter}' matches no case/impl; try --list`);
    return 2;
  }

  let shared: SharedDevice;
  try {
    shared = await openSharedDevice();
  } catch (e) {
    console.error(`bench: cannot open a WebGPU device: ${errorText(e)}`);
    return 1;
  }
  console.log(`device: ${shared.description}`);

  const rows: Row[] = [];
  const started = performance.now();
  for (const { rc, impls } of plan) {
    await rc.use(async (c) => {
      const measureOpts: MeasureOptions = {
        warmup: opts.warmup ?? c.warmup,
        runs: opts.runs ?? c.runs,
        maxSecondsPerImpl: opts.maxSeconds,
        minRuns: Math.min(3, opts.runs ?? c.runs),
      };
      const t0 = performance.now();
      const inputs = c.makeInputs();
      const reference = c.reference(inputs);
      console.log(`\n${c.name}: float64 reference in ${((performance.now() - t0) / 1000).toFixed(1)} s; warm-up ${measureOpts.warmup}, runs ${measureOpts.runs}`);
      for (const impl of c.impls) {
        if (!impls.includes(impl.name)) continue;
        const t1 = performance.now();
        const row = await benchImpl(c, impl, inputs, reference, { shared }, measureOpts);
        rows.push(row);
        const took = ((performance.now() - t1) / 1000).toFixed(1);
        console.log(row.error === undefined ? `  ${impl.name}: ${row.ms_median} ms median over ${row.runs} runs (${took} s)` : `  ${impl.name}: ERROR ${row.error}`);
      }
    });
  }
  console.log(`\nall cases in ${((performance.now() - started) / 1000).toFixed(0)} s; devices handed out by the navigator shim: ${deviceRequests.length}`);
  console.log(`\n${formatTable(rows)}`);

  mkdirSync(dirname(opts.json), { recursive: true });
  writeFileSync(opts.json, `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`\nwrote ${rows.length} rows to ${opts.json}`);
  return 0;
}

/** A fixed-width text table; errors are shortened here but kept whole in the JSON. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['case', 'impl', 'ms_median', 'ms_min', 'runs', 'GFLOP/s', 'peak_MiB', 'max_abs_err', 'note'];
  const num = (x: number | null, digits: number): string => (x === null ? '-' : x.toFixed(digits));
  const body = rows.map((r) => [
    r.case,
    r.impl,
    num(r.ms_median, 2),
    num(r.ms_min, 2),
    String(r.runs),
    num(r.gflops, 2),
    r.peak_bytes === null ? '-' : (r.peak_bytes / 2 ** 20).toFixed(1),
    r.max_abs_err === null ? '-' : r.max_abs_err.toExponential(2),
    r.error !== undefined
      ? `ERROR: ${r.error.length > 100 ? `${r.error.slice(0, 97)}...` : r.error}`
      : r.max_abs_err !== null && !(r.max_abs_err <= r.tolerance)
        ? `WRONG? max_abs_err above tolerance ${r.tolerance.toExponential(1)}`
        : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7]);
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

// Dawn and the peers' pending promises can keep the event loop alive after the work is done, so
// exit explicitly once the JSON is written.
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`bench: ${errorText(e)}`);
    process.exit(1);
  },
);
