/**
 * `npm run bench -- [--json FILE] [--filter TEXT] [--runs N] [--warmup N] [--max-seconds S]`
 *
 * Runs every registered case on every implementation, all on one shared WebGPU device, prints a
 * table and writes the rows as JSON (default `bench/results/latest.json`). A failing
 * implementation becomes a row with an `error` field, never a missing row, so a regression or a
 * broken peer is visible in the results rather than silently absent.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cases } from './cases/index.ts';
import { openSharedDevice, type SharedDevice } from './device.ts';
import { benchCase, errorText, formatTable, type MeasureOptions, type Row } from './harness.ts';
import { deviceRequests } from './peers/navigator-shim.ts';
import { setTesseraFiniteSteps, setTesseraReadbackWait } from './tessera.ts';
import type { ReadbackWait } from '../runtime/index.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT_JSON = resolve(HERE, 'results', 'latest.json');

const USAGE = `usage: npm run bench -- [options]
  --json FILE         where to write the JSON rows (default bench/results/latest.json)
  --filter TEXT       only run case/impl pairs whose "case/impl" contains TEXT
                      (e.g. "1024", "tfjs", "512x512x512/tessera")
  --runs N            timed runs per impl (default: per case, 10 at 512³, 5 at 1024³)
  --warmup N          untimed warm-up runs per impl (default: per case; at least 1)
  --max-seconds S     stop the timed rounds of a case once they have taken S seconds
                      per impl on average and made 3 runs (default 30)
  --tessera-wait W    how tessera's readbacks wait for the GPU: poll (its default under
                      Node) or map (a plain mapAsync, as the peers wait); see
                      runtime/map-wait.ts
  --tessera-finite-steps on|off
                      whether tessera's runs take a Program's finite-input steps
                      when every input is known finite (default on); off runs the
                      steps that carry ±∞ and NaN exactly
  --list              print the case/impl pairs and exit
  -h, --help          this text`;

interface Options {
  readonly json: string;
  readonly filter: string | undefined;
  readonly runs: number | undefined;
  readonly warmup: number | undefined;
  readonly maxSeconds: number;
  readonly list: boolean;
  readonly tesseraWait: ReadbackWait | undefined;
  readonly tesseraFiniteSteps: boolean | undefined;
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
      'tessera-wait': { type: 'string' },
      'tessera-finite-steps': { type: 'string' },
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
  const maxSeconds = values['max-seconds'] === undefined ? 30 : Number(values['max-seconds']);
  if (!(maxSeconds > 0)) throw new Error(`--max-seconds must be a positive number, got '${values['max-seconds']}'`);
  const wait = values['tessera-wait'];
  if (wait !== undefined && wait !== 'poll' && wait !== 'map') throw new Error(`--tessera-wait must be poll or map, got '${wait}'`);
  const finite = values['tessera-finite-steps'];
  if (finite !== undefined && finite !== 'on' && finite !== 'off') throw new Error(`--tessera-finite-steps must be on or off, got '${finite}'`);
  return {
    json: values.json === undefined ? DEFAULT_JSON : resolve(values.json),
    filter: values.filter,
    runs: count('runs', values.runs, 1),
    warmup: count('warmup', values.warmup, 1),
    maxSeconds,
    list: values.list === true,
    tesseraWait: wait,
    tesseraFiniteSteps: finite === undefined ? undefined : finite === 'on',
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
  if (opts.tesseraWait) setTesseraReadbackWait(opts.tesseraWait);
  if (opts.tesseraFiniteSteps !== undefined) setTesseraFiniteSteps(opts.tesseraFiniteSteps);
  const [load1] = loadavg();
  const cores = availableParallelism();
  if (load1! > cores / 2) {
    console.warn(`bench: load average ${load1!.toFixed(1)} on ${cores} cores; lavapipe shares these cores, so timings will be noisy (see load_1m in the rows)`);
  }

  const rows: Row[] = [];
  const started = performance.now();
  for (const { rc, impls } of plan) {
    await rc.use(async (c) => {
      const measureOpts: MeasureOptions = {
        warmup: opts.warmup ?? c.warmup,
        runs: opts.runs ?? c.runs,
        maxSecondsPerImpl: opts.maxSeconds,
        minRuns: Math.min(3, opts.runs ?? c.runs),
        runTimeoutSeconds: 300,
      };
      const t0 = performance.now();
      const inputs = c.makeInputs();
      const reference = c.reference(inputs);
      console.log(`\n${c.name}: float64 reference in ${((performance.now() - t0) / 1000).toFixed(1)} s; warm-up ${measureOpts.warmup}, runs ${measureOpts.runs}`);
      const selectedImpls = c.impls.filter((impl) => impls.includes(impl.name));
      const caseRows = await benchCase(c, selectedImpls, inputs, reference, { shared }, measureOpts, (line) => console.log(line));
      for (const row of caseRows) {
        rows.push(row);
        if (row.error === undefined) console.log(`  ${row.impl}: ${row.ms_median} ms median over ${row.runs} runs`);
      }
      console.log(`  (${c.name} took ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    });
  }
  console.log(`\nall cases in ${((performance.now() - started) / 1000).toFixed(0)} s; devices handed out by the navigator shim: ${deviceRequests.length}`);
  console.log(`\n${formatTable(rows)}`);

  mkdirSync(dirname(opts.json), { recursive: true });
  writeFileSync(opts.json, `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`\nwrote ${rows.length} rows to ${opts.json}`);
  return 0;
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
