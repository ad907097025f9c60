/**
 * `mapForReading` (runtime/map-wait.ts): the `'poll'` wait cancels and retries a pending map
 * until it is ready, learns each label's wait, uses a plain map for labels that waited briefly,
 * and passes on real failures; and on WebGPU both waits read back the same data.
 */
import { describe, expect, it } from 'vitest';
import { f32, kernel } from '../dsl/kernel.ts';
import { exp, sum } from '../dsl/ops.ts';
import { compile } from '../compiler/index.ts';
import { createCpuBackend, createWebGPUBackend } from '../runtime/index.ts';
import { NAP_MS, SHORT_WAIT_MS, SPIN_MS, WaitHistory, mapForReading } from '../runtime/map-wait.ts';
import { describeGPU } from './gpu.ts';

/**
 * A buffer whose map completes as Dawn's Node bindings complete it: a pending map settles on an
 * event-processing turn (here a `setImmediate`) once the work is done at `readyAt`, and `unmap()`
 * on a pending map rejects it with an AbortError.
 */
class FakeBuffer {
  maps = 0;
  unmaps = 0;
  /** Per map attempt: the event-processing turns it took (the bindings' spinning) and how long it was pending. */
  readonly attempts: { turns: number; ms: number }[] = [];
  #pending: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(
    readonly readyAt: number,
    readonly failWith: Error | null = null,
  ) {}

  mapAsync(): Promise<void> {
    this.maps++;
    const attempt = { turns: 0, ms: 0 };
    this.attempts.push(attempt);
    const start = performance.now();
    const settled = () => void (attempt.ms = performance.now() - start);
    return new Promise<void>((resolve, reject) => {
      this.#pending = { resolve: () => (settled(), resolve()), reject: (e) => (settled(), reject(e)) };
      const tick = () => {
        if (this.#pending === null) return;
        attempt.turns++;
        const pending = this.#pending;
        if (this.failWith) {
          this.#pending = null;
          pending.reject(this.failWith);
        } else if (performance.now() >= this.readyAt) {
          this.#pending = null;
          pending.resolve();
        } else {
          setImmediate(tick);
        }
      };
      setImmediate(tick);
    });
  }

  unmap(): void {
    this.unmaps++;
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(Object.assign(new Error('unmapped before the map completed'), { name: 'AbortError' }));
  }
}

const asBuffer = (b: FakeBuffer) => b as unknown as GPUBuffer;

/** A `'poll'` read of a buffer whose work is done `readyIn` ms from now, the label having waited `waits` before. */
async function pollAfter(waits: readonly number[], readyIn: number): Promise<FakeBuffer> {
  const history = new WaitHistory();
  for (const ms of waits) history.record('p/out', ms);
  const buffer = new FakeBuffer(performance.now() + readyIn);
  await mapForReading(asBuffer(buffer), 'poll', history, 'p/out');
  return buffer;
}

describe('mapForReading', () => {
  it("'poll' cancels a pending map and retries until the work is done, and records the wait", async () => {
    const history = new WaitHistory();
    const buffer = new FakeBuffer(performance.now() + 40);
    const start = performance.now();
    await mapForReading(asBuffer(buffer), 'poll', history, 'p/out');
    const took = performance.now() - start;
    expect(took).toBeGreaterThanOrEqual(39);
    expect(buffer.maps).toBeGreaterThan(1);
    expect(buffer.unmaps).toBe(buffer.maps - 1);
    // One wait is not yet an expectation; two are, and it is the shorter.
    expect(history.expected('p/out')).toBeUndefined();
    history.record('p/out', took + 100);
    expect(history.expected('p/out')).toBeCloseTo(took, -1);
  });

  it('one slow wait (a first run that compiled shaders) does not make the next run sleep long', async () => {
    const history = new WaitHistory();
    history.record('p/out', 20_000);
    const buffer = new FakeBuffer(performance.now() + 30);
    const start = performance.now();
    await mapForReading(asBuffer(buffer), 'poll', history, 'p/out');
    expect(performance.now() - start).toBeLessThan(5_000);
    // And once the history has a short wait, the slow one no longer counts.
    history.record('p/out', 30);
    expect(history.expected('p/out')).toBeLessThan(100);
  });

  it("'poll' sleeps through most of the last wait before its first retry", async () => {
    const buffer = await pollAfter([50, 60], 50);
    // One turn, one retry at 80% of the shorter wait (50 ms), then one every millisecond: about
    // 11 attempts, where retrying blind from the start makes about 34.
    expect(buffer.maps).toBeLessThanOrEqual(16);
  });

  it("'poll' does not spin at the start of a wait it expects to be long, only of one it knows nothing of", async () => {
    const expected = await pollAfter([30, 30], 30);
    // The first attempt is cancelled after one turn of the event loop, however loaded the machine.
    expect(expected.attempts[0]!.turns).toBe(1);
    const unknown = await pollAfter([], 30);
    // The first map stays pending for SPIN_MS (a timer may fire up to a millisecond early).
    expect(unknown.attempts[0]!.ms).toBeGreaterThanOrEqual(SPIN_MS - 1);
  });

  it("'poll' reads a label whose last wait was short with one ordinary map, sleeping NAP_MS on each turn while it is pending", async () => {
    const buffer = await pollAfter([SHORT_WAIT_MS, 100], 3 * SPIN_MS);
    expect([buffer.maps, buffer.unmaps]).toEqual([1, 0]);
    // Every turn but the last sleeps NAP_MS first (Atomics.wait runs to its timeout), so the turns
    // are at most the wait over NAP_MS, plus the last; a spinning wait takes a turn every few µs.
    const { turns, ms } = buffer.attempts[0]!;
    expect(turns).toBeLessThanOrEqual(Math.floor(ms / NAP_MS) + 1);
    expect(ms).toBeGreaterThanOrEqual(3 * SPIN_MS - 1);
  });

  it("'poll' naps through the first map of a label it knows nothing of too", async () => {
    const buffer = await pollAfter([], 3 * SPIN_MS);
    // That map stays pending for up to SPIN_MS, napping on every turn.
    const { turns, ms } = buffer.attempts[0]!;
    expect(turns).toBeLessThanOrEqual(Math.floor(ms / NAP_MS) + 1);
  });

  it("'map' is one ordinary map, however long the wait", async () => {
    const buffer = new FakeBuffer(performance.now() + 20);
    await mapForReading(asBuffer(buffer), 'map', new WaitHistory(), 'p/out');
    expect([buffer.maps, buffer.unmaps]).toEqual([1, 0]);
  });

  it('passes on a failed map', async () => {
    const buffer = new FakeBuffer(0, Object.assign(new Error('device lost'), { name: 'OperationError' }));
    await expect(mapForReading(asBuffer(buffer), 'poll', new WaitHistory(), 'p/out')).rejects.toThrow('device lost');
  });

  it('keeps the last four waits of a label, and forgets the oldest label past 256', () => {
    const history = new WaitHistory();
    for (const ms of [1, 9, 8, 7, 6]) history.record('p/out', ms);
    expect(history.expected('p/out')).toBe(6);
    for (let i = 0; i <= 256; i++) {
      history.record(`l${i}`, i);
      history.record(`l${i}`, i);
    }
    expect(history.expected('l0')).toBeUndefined();
    expect(history.expected('l1')).toBe(1);
    expect(history.expected('l256')).toBe(256);
  });
});

describeGPU("WebGPU readback waits ('poll' and 'map')", (gpu) => {
  it('reads the same data both ways, against the interpreter', async () => {
    const k = kernel('softsum', { x: f32('r', 'c') }, ({ x }) => ({ y: sum(exp(x), 'c') }));
    const program = compile(k.trace({ sizes: { r: 300, c: 257 } }), { name: 'softsum', limits: gpu.limits });
    const x = { shape: [300, 257], data: Float32Array.from({ length: 300 * 257 }, (_, i) => Math.sin(i) * 2) };
    const expected = (await (await createCpuBackend({ precision: 'f64', fallbackReason: null }).run(program, { x }))['y']!.read()) as Float32Array;
    expect(gpu.readbackWait).toBe('poll');
    const mapped = await createWebGPUBackend({ device: gpu.device, readbackWait: 'map' });
    for (const backend of [gpu, mapped]) {
      for (let run = 0; run < 3; run++) {
        const outs = await backend.run(program, { x });
        const y = (await outs['y']!.read()) as Float32Array;
        for (const t of Object.values(outs)) t.destroy();
        for (let i = 0; i < y.length; i++) expect(Math.abs(y[i]! - expected[i]!)).toBeLessThan(1e-4 * Math.abs(expected[i]!));
      }
    }
  });

  it('refuses an unknown wait', async () => {
    await expect(createWebGPUBackend({ device: gpu.device, readbackWait: 'spin' as never })).rejects.toThrow("readbackWait must be 'poll' or 'map', got 'spin'");
  });
});
