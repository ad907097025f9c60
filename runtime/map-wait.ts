/**
 * Waiting for a readback without keeping a CPU core busy.
 *
 * Dawn's Node bindings resolve `mapAsync` by polling: while any map is pending, they process
 * events from a `setImmediate` callback that re-queues itself, so the JavaScript thread spins for
 * the whole time the GPU works. On a GPU that only costs a core; on a driver that runs the "GPU" on
 * the CPU (lavapipe, SwiftShader) it takes that core away from the shader threads. On the 2-core
 * CI machine (lavapipe), `npm run bench -- --filter "recurrent gla"` measured tessera's GLA at
 * 68.6 ms (T = 1024) and 529.3 ms (T = 8192) with `'poll'`, and the next run with
 * `--tessera-wait map` 85.5 and 586.2 ms.
 *
 * `'poll'` therefore waits like this:
 * - a readback whose expected wait (same label) is short is an ordinary `mapAsync` (a timer has a
 *   1 ms grain, too coarse for it), but on every turn of the event loop while it is pending the
 *   thread sleeps `NAP_MS` (`Atomics.wait`): the bindings still poll every ~0.1 ms, and lavapipe's
 *   shader threads get the core back. An ad-hoc script alternating this with the plain spin
 *   (`'map'`) over 200 run-and-read rounds each of the trilinear einsum of the bench measured
 *   medians of 3.22 against 4.39 ms (p90 4.36 against 6.77), and of the einsum chain 1.96 against
 *   1.95 ms (p90 2.43 against 4.99);
 * - otherwise a map that is cancelled while still pending (`unmap` on a pending map aborts it,
 *   and the bindings stop polling), and the thread sleeps. With an expected wait for the label
 *   (the shortest of its last few, see `WaitHistory`) the map gets one turn of the event loop,
 *   the thread sleeps until 80% of the wait has passed, then retries every 1/64 of the time
 *   waited so far. Without one the first map stays pending, napping, for up to `SPIN_MS` (a
 *   result already done comes back at once), and the retries come every 1/16 (fewer attempts
 *   over a wait of unknown length). Either way a retry is at least 1 ms after the last, and the result arrives at most
 *   ~1.5% (~6%) later than it is ready. Not spinning at the start of a known long wait leaves
 *   both cores to the shader: on lavapipe (2 cores) an ad-hoc script alternating the two in one
 *   process measured run-and-read medians of 13.60 against 14.30 ms for the trilinear einsum of
 *   the bench (150 rounds each) and 64.79 against 66.49 ms for GLA at T = 1024 (60 rounds).
 *
 * `'map'` is the plain `mapAsync`: the right choice where the event loop does not spin, as in
 * browsers, or where the event loop must never be held even for `NAP_MS`.
 */
import { MapMode } from './gpu-flags.ts';

/** How a backend waits for the GPU before a readback (see the module comment). */
export type ReadbackWait = 'poll' | 'map';

/** How long `'poll'` keeps an ordinary pending map before it starts to sleep, when it expects no wait. */
export const SPIN_MS = 2;
/** A label whose expected wait is at most this long is read with an ordinary map. */
export const SHORT_WAIT_MS = 4;
/** The part of the expected wait slept through before the first retry. */
const EXPECTED_FRACTION = 0.8;
/** Labels remembered by a `WaitHistory`; the oldest is forgotten first. */
const HISTORY_LABELS = 256;
/** Recent waits kept per label; the expected wait is their minimum. */
const HISTORY_WAITS = 4;

/**
 * `'poll'` where Dawn's Node bindings serve the device (Node.js), `'map'` elsewhere: browsers
 * resolve maps from their own event loop without spinning.
 */
export function defaultReadbackWait(): ReadbackWait {
  const versions = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions;
  return versions?.node !== undefined ? 'poll' : 'map';
}

/**
 * Recent waits per readback label (a program's output is read under the same label each run).
 * The expected wait is the shortest of the last few, and needs two of them: one slow wait (the
 * first run, which may include compiling the shaders) must not make the next one sleep as long.
 */
export class WaitHistory {
  readonly #recent = new Map<string, number[]>();

  expected(label: string): number | undefined {
    const waits = this.#recent.get(label);
    return waits && waits.length >= 2 ? Math.min(...waits) : undefined;
  }

  record(label: string, ms: number): void {
    const waits = this.#recent.get(label) ?? [];
    this.#recent.delete(label);
    this.#recent.set(label, [...waits, ms].slice(-HISTORY_WAITS));
    if (this.#recent.size > HISTORY_LABELS) this.#recent.delete(this.#recent.keys().next().value!);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** `setImmediate`, where there is one (Node.js). */
const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
/**
 * One turn of the event loop: `setImmediate` where there is one (Node.js), so the probe runs right
 * after the bindings' own event processing, queued by the `mapAsync` call just before it.
 */
const nextTurn = (): Promise<void> => new Promise<void>((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));

/**
 * Maps `buffer` (or `size` bytes of it from 0) for reading, waiting as `wait` says; `history` and
 * `label` say how long this readback took recently, and learn how long it takes now. Rejects as
 * `mapAsync` would when the map fails for any reason other than this function's own cancelling.
 */
export async function mapForReading(buffer: GPUBuffer, wait: ReadbackWait, history: WaitHistory, label: string, size?: number): Promise<void> {
  const map = () => (size === undefined ? buffer.mapAsync(MapMode.READ) : buffer.mapAsync(MapMode.READ, 0, size));
  const start = performance.now();
  const expected = history.expected(label);
  if (wait === 'map') await map();
  else if (expected !== undefined && expected <= SHORT_WAIT_MS) {
    const mapped = map();
    napWhilePending(mapped);
    await mapped;
  } else await pollMap(buffer, map, start, expected);
  history.record(label, performance.now() - start);
}

/** How long the thread sleeps on each turn of the event loop while a map it spins for is pending (`napWhilePending`). */
export const NAP_MS = 0.1;
/** The cell `Atomics.wait` sleeps on (never notified: each sleep runs to its timeout), made on first use. */
let napCell: Int32Array | undefined;

/**
 * Sleeps `NAP_MS` (`Atomics.wait`) on every turn of the event loop while `pending` is unsettled,
 * until the returned function is called: the bindings still process events each turn, but the
 * thread is asleep for most of the wait instead of spinning, and the event loop is held for
 * `NAP_MS` at a time. Nothing where blocking is not allowed (`Atomics.wait` throws), there is no
 * `SharedArrayBuffer` or no `setImmediate`.
 */
function napWhilePending(pending: Promise<unknown>): () => void {
  let done = false;
  const stop = () => void (done = true);
  pending.then(stop, stop);
  const nap = () => {
    if (done) return;
    try {
      Atomics.wait((napCell ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, NAP_MS);
    } catch {
      return;
    }
    immediate!(nap);
  };
  immediate?.(nap);
  return stop;
}

/** `'poll'`'s loop (see the module comment): returns once `map()` succeeded. */
async function pollMap(buffer: GPUBuffer, map: () => Promise<void>, start: number, expected: number | undefined): Promise<void> {
  for (let first = true; ; first = false) {
    const outcome: { state: 'pending' | 'mapped' | 'failed'; error?: unknown } = { state: 'pending' };
    const attempt = map().then(
      () => void (outcome.state = 'mapped'),
      (error: unknown) => void Object.assign(outcome, { state: 'failed', error }),
    );
    // Without an expected wait the first attempt is an ordinary map for up to SPIN_MS, napping;
    // every other one gets one turn of the event loop, queued after the `mapAsync` call so it runs
    // after the bindings' event processing.
    if (first && expected === undefined) {
      const stop = napWhilePending(attempt);
      await Promise.race([attempt, sleep(SPIN_MS)]);
      stop();
    } else {
      await Promise.race([attempt, nextTurn()]);
    }
    if (outcome.state === 'mapped') return;
    if (outcome.state === 'failed') throw outcome.error;
    // Still pending: cancel it (it rejects with an abort, which is ours), then sleep.
    buffer.unmap();
    await attempt;
    const waited = performance.now() - start;
    const untilExpected = first && expected !== undefined ? EXPECTED_FRACTION * expected - waited : 0;
    await sleep(Math.max(1, untilExpected, waited / (expected === undefined ? 16 : 64)));
  }
}
