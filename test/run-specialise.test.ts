/**
 * `run()` gives a kernel its fused lowering without pinning: the README's attention kernel, whose
 * sizes are all symbolic, compiles through `run()` / `compileFor(..., inputs)` to a flash kernel
 * with no N×M buffer, because the head dims the flash kernel needs static are pinned from the
 * shapes bound at run time (`symbolsToPin`), one program per head-dim signature.
 */
import { describe, expect, it } from 'vitest';
import { compile, compileFor, contract, createCpuBackend, einsum, f32, interpretKernel, kernel, planRun, run, softmax, symbolsToPin } from '../index.ts';
import type { Backend, HostTensor, Kernel, Program } from '../index.ts';
import { attentionKernel, einsumKernel, hopfieldKernel, linearAttentionKernel } from '../kernels/index.ts';
import { attention } from '../examples/softmax-attention.ts';
import { describeGPU } from './gpu.ts';
import { flashDispatches, randomTensor } from './helpers.ts';

const inputs = (n: number, m: number, d: number, e: number, seed = 1): Record<string, HostTensor> => ({
  q: randomTensor([n, d], seed),
  k: randomTensor([m, d], seed + 1),
  v: randomTensor([m, e], seed + 2),
});

/** The largest buffer a run of `program` on these inputs allocates that is not an input or output. */
function largestTempBytes(program: Program, given: Record<string, HostTensor>, backend: Backend, params: Record<string, number>): number {
  const plan = planRun(program, given, params, backend.limits);
  let most = 0;
  for (const b of plan.buffers.values()) if (b.buffer.role === 'temp' || b.buffer.role === 'cache') most = Math.max(most, b.bytes);
  return most;
}

/** What each compiled kernel is (kernels are named `<program>:<kind>`). */
const kernelKinds = (program: Program) => program.kernels.map((k) => k.name.slice(k.name.lastIndexOf(':') + 1));

/** The symbols each graph input is sized by, as traced into a program. */
const inputSizes = (program: Program) => Object.fromEntries(program.inputs.map((t) => [t.name, t.shape]));

describe('symbolsToPin', () => {
  it("names the README attention kernel's head dims d and e, and nothing else", () => {
    expect(symbolsToPin(attention.trace())).toEqual(['d', 'e']);
  });

  it('follows renamed symbols and skips head dims that are static already', () => {
    const renamed = kernel('renamed', { q: f32('n', 'd').pin({ d: 'h' }), k: f32('m', 'd').pin({ d: 'h' }), v: f32('m', 'e').pin({ e: 'w' }) }, ({ q, k, v }) => ({
      o: einsum('nm,me->ne', softmax(einsum('nd,md->nm', q, k), 'm'), v),
    }));
    expect(symbolsToPin(renamed.trace())).toEqual(['h', 'w']);
    expect(symbolsToPin(attention.trace({ sizes: { d: 16 } }))).toEqual(['e']);
    expect(symbolsToPin(attention.trace({ sizes: { d: 16, e: 8 } }))).toEqual([]);
  });

  it('finds the regions of the library kernels, inside loops too', () => {
    expect(symbolsToPin(attentionKernel({ causal: true }).trace())).toEqual(['d', 'e']);
    expect(symbolsToPin(hopfieldKernel(2).trace())).toEqual(['d', 'e']);
  });

  it("names a scan's local sizes (the state's and scanned tensors' axes other than the scanned and parallel ones)", () => {
    // The chunk-length symbol (t.chunk) is the scan's own: the probe keeps it, and the scans'
    // pins are reported even where the probe's optimisation fails.
    expect(symbolsToPin(linearAttentionKernel({ rule: 'gla' }).trace())).toEqual(['d', 'e']);
    expect(symbolsToPin(linearAttentionKernel({ rule: 'gated_delta', chunk: 7 }).trace({ sizes: { d: 8 } }))).toEqual(['e']);
  });

  it('is empty for a kernel with no attention region', () => {
    const matmul = kernel('matmul', { a: f32('i', 'j'), b: f32('j', 'k') }, ({ a, b }) => ({ c: contract([a, b], ['i', 'k'] as const) }));
    const rowSoftmax = kernel('softmax', { x: f32('n', 'm') }, ({ x }) => ({ p: softmax(x, 'm') }));
    expect(symbolsToPin(matmul.trace())).toEqual([]);
    expect(symbolsToPin(rowSoftmax.trace())).toEqual([]);
  });
});

describe('compileFor specialises to the bound head dims (CPU backend limits)', () => {
  const cpu = createCpuBackend();

  it('pins d and e from the shapes, keeps n and m symbolic, and fuses', () => {
    const program = compileFor(attention, cpu, {}, inputs(37, 53, 16, 8));
    expect(inputSizes(program)).toEqual({ q: ['n', 16], k: ['m', 16], v: ['m', 8] });
    expect(flashDispatches(program).top).toBeGreaterThan(0);
    // Without shapes nothing is pinned: the symbolic program a build step would get unpinned.
    const symbolic = compileFor(attention, cpu);
    expect(inputSizes(symbolic)).toEqual({ q: ['n', 'd'], k: ['m', 'd'], v: ['m', 'e'] });
    // The pinned compile is the one `compile(kernel.trace({ sizes }))` gives: same kernels.
    const shipped = compile(attention.trace({ sizes: { d: 16, e: 8 } }), { name: attention.kernelName, limits: cpu.limits });
    expect(program.kernels.map((k) => k.wgsl)).toEqual(shipped.kernels.map((k) => k.wgsl));
  });

  it('caches one program per head-dim signature, user pins, limits and schedules', () => {
    const a = compileFor(attention, cpu, {}, inputs(37, 53, 16, 8));
    expect(compileFor(attention, cpu, {}, inputs(37, 53, 16, 8))).toBe(a);
    // Other N and M: the same program (they stay symbolic).
    expect(compileFor(attention, cpu, {}, inputs(5, 300, 16, 8))).toBe(a);
    // Other d or e: another program, itself cached.
    const otherD = compileFor(attention, cpu, {}, inputs(37, 53, 32, 8));
    const otherE = compileFor(attention, cpu, {}, inputs(37, 53, 16, 4));
    expect(new Set([a, otherD, otherE]).size).toBe(3);
    expect(inputSizes(otherD)).toEqual({ q: ['n', 32], k: ['m', 32], v: ['m', 8] });
    expect(inputSizes(otherE)).toEqual({ q: ['n', 16], k: ['m', 16], v: ['m', 4] });
    expect(compileFor(attention, cpu, {}, inputs(9, 9, 32, 8))).toBe(otherD);
    // A user pin is part of the key; the rest is still pinned from the shapes.
    const userPinned = compileFor(attention, cpu, { sizes: { d: 16 } }, inputs(37, 53, 16, 8));
    expect(userPinned).not.toBe(a);
    expect(inputSizes(userPinned)).toEqual({ q: ['n', 16], k: ['m', 16], v: ['m', 8] });
  });

  it('compiles a kernel with no attention region once, symbolically, whatever the shapes', () => {
    const matmul = kernel('matmul', { a: f32('i', 'j'), b: f32('j', 'k') }, ({ a, b }) => ({ c: contract([a, b], ['i', 'k'] as const) }));
    const p = compileFor(matmul, cpu, {}, { a: randomTensor([3, 4], 1), b: randomTensor([4, 5], 2) });
    expect(inputSizes(p)).toEqual({ a: ['i', 'j'], b: ['j', 'k'] });
    expect(compileFor(matmul, cpu, {}, { a: randomTensor([7, 2], 1), b: randomTensor([2, 9], 2) })).toBe(p);
    expect(compileFor(matmul, cpu)).toBe(p);
  });

  it('reports bad shapes with the same error as the backend', async () => {
    const bad = { ...inputs(4, 5, 8, 8), k: randomTensor([5, 7], 3) };
    expect(() => compileFor(attention, cpu, {}, bad)).toThrow("conflicting sizes for 'd': 8 from input 'q' (axis 'd') and 7 from input 'k' (axis 'd')");
    await expect(run(attention, bad, cpu, { params: { scale: 1 } })).rejects.toThrow("conflicting sizes for 'd'");
  });

  it('runs on the CPU backend and matches the interpreter', async () => {
    const given = inputs(6, 11, 4, 3);
    const { o } = await run(attention, given, cpu, { params: { scale: 0.5 } });
    const want = interpretKernel(attention, given, { params: { scale: 0.5 } }).o!;
    expect(o!.shape).toEqual(want.shape);
    expect(Array.from(o!.data)).toEqual(Array.from(want.data, (x) => Math.fround(x)));
  });
});

describeGPU('run() gets the flash kernel without pinning (WebGPU)', (gpu) => {
  const [n, m, d, e] = [37, 53, 16, 8];
  const params = { scale: 1 / Math.sqrt(d) };

  it('compiles the README attention kernel to a flash kernel with no N×M buffer', () => {
    const given = inputs(n, m, d, e);
    const program = compileFor(attention, gpu, {}, given);
    expect(kernelKinds(program)).toContain('flash');
    expect(kernelKinds(program)).not.toContain('gemm');
    expect(flashDispatches(program)).toEqual({ top: 1, inLoops: 0 });
    expect(largestTempBytes(program, given, gpu, params)).toBeLessThan(n * m * 4);
    // What `run()` used to compile (sizes symbolic): gemm, reduce, reduce, gemm with the N×M
    // scores in a buffer. If the compiler ever fuses symbolic head dims, this contrast can go.
    const symbolic = compileFor(attention, gpu);
    expect(kernelKinds(symbolic)).not.toContain('flash');
    expect(flashDispatches(symbolic).top).toBe(0);
    expect(largestTempBytes(symbolic, given, gpu, params)).toBeGreaterThanOrEqual(n * m * 4);
  });

  it('matches the interpreter, compiling once per head-dim signature', async () => {
    const k: Kernel = kernel('attention (fresh cache)', attention.specs, (x) => attention(x));
    const compiled: string[] = [];
    const log = (pass: string, text: string) => {
      if (pass === 'emit-wgsl') compiled.push(text);
    };
    const shapes: [number, number, number, number, boolean][] = [
      // n, m, d, e, whether this call compiles
      [37, 53, 16, 8, true],
      [37, 53, 16, 8, false],
      [70, 9, 16, 8, false],
      [37, 53, 32, 8, true],
      [5, 130, 16, 24, true],
      [37, 53, 32, 8, false],
    ];
    for (const [i, [sn, sm, sd, se, fresh]] of shapes.entries()) {
      const given = inputs(sn, sm, sd, se, 10 * i + 1);
      const before = compiled.length;
      const { o } = await run(k, given, gpu, { params: { scale: 0.25 }, compile: { log } });
      expect(compiled.length - before, `call ${i} (n=${sn} m=${sm} d=${sd} e=${se}) compiled`).toBe(fresh ? 1 : 0);
      if (fresh) expect(compiled[compiled.length - 1]).toMatch(/^\/\/ [^\n]*:flash$/m);
      const want = interpretKernel(k, given, { params: { scale: 0.25 }, precision: 'f64' }).o!;
      expect(o!.shape).toEqual(want.shape);
      let worst = 0;
      for (let j = 0; j < want.data.length; j++) worst = Math.max(worst, Math.abs(o!.data[j]! - want.data[j]!) - 1e-4 * Math.abs(want.data[j]!));
      expect(worst, `call ${i}`).toBeLessThan(1e-5);
    }
  });
});

describe('compileFor orders n-ary contractions by the sizes a run binds', () => {
  const k = einsumKernel('ab,bc,cd->ad', [2, 2, 2]);
  const cpu = createCpuBackend();
  const t = (r: number, c: number): HostTensor => ({ shape: [r, c], data: new Float32Array(r * c) });
  /** The first binary contraction `plan-contractions` wrote for these sizes. */
  const firstStep = (a: number, d: number): string => {
    let text = '';
    compileFor(k, cpu, { compile: { log: (pass, s) => void (pass === 'plan-contractions' && (text = s)) } }, { x0: t(a, 64), x1: t(64, 64), x2: t(64, d) });
    return /^%\d+ = contract\(.*$/m.exec(text)![0];
  };

  it('contracts through the small end first: a = 2 takes ab·bc, d = 2 takes bc·cd', () => {
    expect(firstStep(2, 256)).toBe('%6 = contract(%3, %4) : f32[a:a, c:c]');
    expect(firstStep(256, 2)).toBe('%6 = contract(%4, %5) : f32[b:b, d:d]');
  });

  it('keeps a hint the caller gives', () => {
    let text = '';
    compileFor(k, cpu, { compile: { sizeHints: { a: 4096, d: 2 }, log: (pass, s) => void (pass === 'plan-contractions' && (text = s)) } }, { x0: t(2, 64), x1: t(64, 64), x2: t(64, 256) });
    expect(text).toContain('%6 = contract(%4, %5) : f32[b:b, d:d]');
  });
});

