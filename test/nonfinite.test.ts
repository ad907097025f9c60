/**
 * ±∞ and NaN: the composites' one answer on rows with infinities (interpreter and `decompose`
 * share the definition), and WebGPU against the interpreter on masked programs — the examples a
 * user hit and a seeded differential sweep over random expression trees — where every non-finite
 * output must be the same value, bit for bit, and every finite one close.
 */
import { describe, expect, it } from 'vitest';
import * as T from '../index.ts';
import type { HostTensor, Kernel, Tensor } from '../index.ts';
import { SCALAR_OPS } from '../dsl/scalar-ops.ts';
import { DEFAULT_LIMITS } from '../program/limits.ts';
import { allFinite } from '../runtime/host.ts';
import { planRun } from '../runtime/plan.ts';
import { describeGPU } from './gpu.ts';
import { random } from './helpers.ts';

type Row = readonly number[];

/** Runs a one-output kernel over a [r, c] input on the f64 interpreter. */
function rows(fn: (x: Tensor<readonly ['r', 'c'], 'f32'>) => Tensor, data: readonly Row[]): number[][] {
  const k = T.kernel('k', { x: T.f32('r', 'c') }, ({ x }) => ({ y: fn(x) }));
  const c = data[0]!.length;
  const out = T.interpretKernel(k, { x: { shape: [data.length, c], data: data.flat() } }).y!;
  const width = out.shape.length === 2 ? out.shape[1]! : 1;
  return Array.from({ length: data.length }, (_, i) => Array.from(out.data.slice(i * width, (i + 1) * width)));
}

const INF = Infinity;

describe('composites on rows with infinities (one definition for the interpreter and decompose)', () => {
  const data: Row[] = [
    [1, 2, 3],
    [-INF, -INF, -INF],
    [1, INF, 2],
    [-INF, 0, -INF],
    [1, NaN, 2],
    [INF, -INF, 0],
  ];

  it('logsumexp: −∞ for a row of −∞, +∞ for a row with +∞, NaN with a NaN', () => {
    const got = rows((x) => T.logsumexp(x, 'c'), data).map((r) => r[0]);
    expect(got[0]).toBeCloseTo(3 + Math.log(1 + Math.exp(-1) + Math.exp(-2)), 12);
    expect(got.slice(1)).toEqual([-INF, INF, 0, NaN, INF]);
  });

  it('softmax: zeros for a row of −∞, NaN at +∞ entries and 0 elsewhere, NaN rows with a NaN', () => {
    const got = rows((x) => T.softmax(x, 'c'), data);
    expect(got[1]).toEqual([0, 0, 0]);
    expect(got[2]).toEqual([0, NaN, 0]);
    expect(got[3]).toEqual([0, 1, 0]);
    expect(got[4]).toEqual([NaN, NaN, NaN]);
    expect(got[5]).toEqual([NaN, 0, 0]);
  });

  it('log_softmax: −∞ for a row of −∞, NaN at +∞ entries and −∞ elsewhere', () => {
    const got = rows((x) => T.logSoftmax(x, 'c'), data);
    expect(got[1]).toEqual([-INF, -INF, -INF]);
    expect(got[2]).toEqual([-INF, NaN, -INF]);
    expect(got[3]).toEqual([-INF, 0, -INF]);
    expect(got[4]).toEqual([NaN, NaN, NaN]);
  });

  it('max, min and sum over rows with infinities', () => {
    expect(rows((x) => T.max(x, 'c'), data).map((r) => r[0])).toEqual([3, -INF, INF, 0, NaN, INF]);
    expect(rows((x) => T.min(x, 'c'), data).map((r) => r[0])).toEqual([1, -INF, 1, -INF, NaN, -INF]);
    expect(rows((x) => T.sum(x, 'c'), data).map((r) => r[0])).toEqual([6, -INF, INF, -INF, NaN, NaN]);
  });
});

describe('the scalar-op registry', () => {
  it('gives every op that takes an f32 operand an emission for non-finite operands', () => {
    const missing = [...SCALAR_OPS.values()].filter((op) => {
      let acceptsF32 = true;
      try {
        op.type(Array.from({ length: op.arity }, (_, i) => (op.name === 'where' && i === 0 ? 'bool' : 'f32')));
      } catch {
        acceptsF32 = false;
      }
      return acceptsF32 && !op.xf;
    });
    expect(missing.map((op) => op.name)).toEqual([]);
  });
});

describe('which values are carried as xf', () => {
  const gemmOf = (p: T.Program) => p.kernels.find((k) => k.name.endsWith(':gemm'))!.wgsl;

  it('runs a GEMM prologue over input tensors on plain IEEE arithmetic, and an axis size is never singular', () => {
    // x · n^-1/2 as a contraction operand: x is an input (device IEEE arithmetic inside a GEMM),
    // rsqrt of an axis size cannot hit its singular point, so no xf at all.
    const k = T.kernel('scaled', { x: T.f32('i', 'd'), w: T.f32('j', 'd') }, ({ x, w }) => ({
      s: T.einsum('id,jd->ij', T.mul(x, T.rsqrt(T.toF32(T.sizeOf(x, 'i')))), w),
    }));
    expect(gemmOf(T.compile(k.trace({ sizes: { d: 8, j: 4 } })))).not.toContain('xf');
  });

  it('keeps an infinity the program writes exact inside a GEMM prologue', () => {
    const k = T.kernel('masked', { x: T.f32('i', 'd'), w: T.f32('j', 'd') }, ({ x, w }) => ({
      s: T.einsum('id,jd->ij', T.where(T.le(T.iota(x, 'd'), 2), x, -Infinity), w),
    }));
    expect(gemmOf(T.compile(k.trace({ sizes: { d: 8, j: 4 } })))).toContain('xf_bits(xf_select(xf(0.0f, 2u)');
  });

  /** The WGSL of the kernels a list of steps dispatches. */
  const wgslOf = (p: T.Program, steps: readonly T.Step[] | undefined): string[] => {
    const out: string[] = [];
    const visit = (list: readonly T.Step[]) => {
      for (const s of list) {
        if (s.kind === 'loop') visit(s.body);
        else if (s.kind === 'dispatch') out.push(p.kernels[s.kernel]!.wgsl);
      }
    };
    visit(steps ?? []);
    return out;
  };

  it('gives a program finite steps in which softmax and layer norm over finite inputs are plain', () => {
    // Neither division can hit its singular point: softmax divides by max(Σ exp, 1) and layer norm
    // by sqrt(variance + eps), a mean of squares plus a positive constant.
    const k = T.kernel('plain', { x: T.f32('i', 'd'), w: T.f32('d', 'e') }, ({ x, w }) => ({
      p: T.softmax(T.einsum('id,de->ie', x, w), 'e'),
      n: T.layerNorm(x, 'd', 1e-5),
    }));
    const p = T.compile(k.trace({ sizes: { d: 8, e: 4 } }));
    expect(wgslOf(p, p.steps).some((w) => w.includes('xf_'))).toBe(true);
    expect(p.finiteSteps).toBeDefined();
    expect(wgslOf(p, p.finiteSteps).filter((w) => w.includes('xf_'))).toEqual([]);
  });

  it('keeps a division by what may be zero, a layer norm without eps and a log of a sum exact in the finite steps', () => {
    const k = T.kernel('singular', { x: T.f32('i', 'd') }, ({ x }) => ({
      q: T.div(x, T.sum(T.abs(x), 'd')),
      n: T.layerNorm(x, 'd', 0),
      l: T.logsumexp(x, 'd'),
    }));
    const p = T.compile(k.trace({ sizes: { d: 8 } }));
    const finite = wgslOf(p, p.finiteSteps);
    expect(finite.some((w) => w.includes('xf_div('))).toBe(true);
    expect(finite.some((w) => w.includes('xf_log('))).toBe(true);
  });

  it('gives no finite steps to a program without f32 inputs, or whose inputs only meet contractions', () => {
    const ints = T.kernel('ints', { n: T.i32('i') }, ({ n }) => ({ y: T.softmax(T.toF32(n), 'i') }));
    expect(T.compile(ints.trace({ sizes: { i: 8 } })).finiteSteps).toBeUndefined();
    const mm = T.kernel('mm', { x: T.f32('i', 'd'), w: T.f32('j', 'd') }, ({ x, w }) => ({ s: T.einsum('id,jd->ij', x, w) }));
    expect(T.compile(mm.trace({ sizes: { d: 8, j: 4 } })).finiteSteps).toBeUndefined();
  });

  it('plans the finite steps only for a run told its inputs are finite', () => {
    const k = T.kernel('plan', { x: T.f32('i', 'd') }, ({ x }) => ({ p: T.softmax(x, 'd') }));
    const p = T.compile(k.trace({ sizes: { i: 4, d: 8 } }));
    const kernels = (plan: ReturnType<typeof planRun>) => plan.steps.flatMap((s) => ('kernel' in s ? [s.kernel] : []));
    const x = { shape: [4, 8] };
    expect(kernels(planRun(p, { x }, undefined, DEFAULT_LIMITS, true))).not.toEqual(kernels(planRun(p, { x }, undefined, DEFAULT_LIMITS)));
    expect(kernels(planRun(p, { x }, undefined, DEFAULT_LIMITS, true)).every((i) => !p.kernels[i]!.wgsl.includes('xf_'))).toBe(true);
  });

  it('checks host data for infinities and NaN by its bits', () => {
    expect(allFinite(Float32Array.of(1, -0, 3.4e38, -1e-45))).toBe(true);
    expect(allFinite(Float32Array.of(1, Infinity))).toBe(false);
    expect(allFinite(Float32Array.of(-Infinity, 1))).toBe(false);
    expect(allFinite(new Float32Array(new Float32Array([0, 0, NaN, 0]).buffer, 4, 3))).toBe(false);
    expect(allFinite(new Float32Array(new Float32Array([NaN, 0, 0]).buffer, 4, 2))).toBe(true);
    expect(allFinite([1, 2, NaN])).toBe(false);
    expect(allFinite([1, 2, 3])).toBe(true);
  });
});

/** Equal as a GPU result should be: non-finite values exactly, finite ones within tolerance. */
function mismatch(got: number, want: number, rtol: number, atol: number): boolean {
  if (!Number.isFinite(want)) return !Object.is(got, want) && !(Number.isNaN(got) && Number.isNaN(want));
  return !(Math.abs(got - want) <= atol + rtol * Math.abs(want));
}

/** Runs `k` on the GPU and on the f32 interpreter and compares every output element. */
async function expectSame(gpu: T.Backend, k: Kernel, inputs: Record<string, HostTensor>, rtol = 2e-4, atol = 1e-5): Promise<void> {
  const got = await T.run(k, inputs, gpu);
  const want = T.interpretKernel(k, inputs, { precision: 'f32' });
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    expect(g.shape, `${k.kernelName}.${name} shape`).toEqual(w.shape);
    for (let i = 0; i < w.data.length; i++) {
      if (mismatch(g.data[i]!, w.data[i]!, rtol, atol)) {
        expect.fail(`${k.kernelName} output '${name}' at ${i}: GPU ${g.data[i]} vs interpreter ${w.data[i]} (GPU ${Array.from(g.data).join(', ')})`);
      }
    }
  }
}

const X = { shape: [4, 6], data: Float32Array.from(random(24, 7, -2, 2), (v) => Math.round(v * 8) / 8) };
const XY = { x: X, y: { shape: [4, 6], data: Float32Array.from(random(24, 11, -2, 2), (v) => Math.round(v * 8) / 8) } };

type M = Tensor<readonly ['i', 'j'], 'f32'>;

/** Entries with j > 3 masked to −∞ (rows 0 and 1 keep j ≤ 3), and row 2 masked entirely. */
function masked(x: M): M {
  const keep = T.and(T.le(T.iota(x, 'j'), 3), T.ne(T.iota(x, 'i'), 2));
  return T.where(keep, x, -Infinity) as M;
}

describeGPU('non-finite values on WebGPU match the interpreter', (gpu) => {
  const cases: [string, (x: M, y: M) => Record<string, Tensor>][] = [
    ['the masked tensor itself', (x) => ({ m: masked(x) })],
    ['max and min over fully masked rows', (x) => ({ mx: T.max(masked(x), 'j'), mn: T.min(masked(x), 'j') })],
    ['logSoftmax over a partly masked axis', (x) => ({ ls: T.logSoftmax(masked(x), 'j') })],
    ['softmax and logsumexp over masked rows', (x) => ({ sm: T.softmax(masked(x), 'j'), lse: T.logsumexp(masked(x), 'j') })],
    ['add(x, −∞), mul(masked, 0.5), sub(masked, masked)', (x) => ({ a: T.add(x, -Infinity), h: T.mul(masked(x), 0.5), d: T.sub(masked(x), masked(x)) })],
    ['+∞ masks, division, comparisons and casts', (x, y) => {
      const up = T.where(T.gt(y, 0), y, Infinity) as M;
      return { q: T.div(masked(x), up), c: T.toF32(T.lt(masked(x), up)), z: T.mul(up, 0), i: T.toF32(T.toI32(masked(x))), f: T.toF32(T.isFinite(T.add(masked(x), up))) };
    }],
    ['exp, log, sqrt, pow and tanh of masked values', (x) => ({
      e: T.exp(masked(x)),
      l: T.log(T.exp(masked(x))),
      s: T.sqrt(masked(x)),
      p: T.pow(T.abs(masked(x)), -1),
      t: T.tanh(T.neg(masked(x))),
    })],
    ['a sum and a mean over masked entries', (x) => ({ s: T.sum(masked(x), 'j'), m: T.mean(T.abs(masked(x)), 'i') })],
  ];
  for (const [name, body] of cases) {
    it(name, async () => {
      const k = T.kernel(name.replace(/\W+/g, '_'), { x: T.f32('i', 'j'), y: T.f32('i', 'j') }, ({ x, y }) => body(x as M, y as M));
      await expectSame(gpu, k, XY);
    });
  }

  it('takes the finite steps only for inputs known finite: host data and uploads checked, outputs and exposed buffers not', async () => {
    // A program whose finite steps compute something else (3x, where its steps compute 2x), so the
    // result tells which list ran.
    const scaled = (factor: number) => T.compile(T.kernel('scaled', { x: T.f32('i') }, ({ x }) => ({ y: T.mul(x, factor) })).trace({ sizes: { i: 4 } }));
    const [two, three] = [scaled(2), scaled(3)];
    const shift = (steps: readonly T.Step[]): T.Step[] => steps.map((st) => (st.kind === 'dispatch' ? { ...st, kernel: st.kernel + two.kernels.length } : st));
    const p: T.Program = { ...two, kernels: [...two.kernels, ...three.kernels], finiteSteps: shift(three.steps) };
    const y = async (x: T.HostTensor | T.RuntimeTensor) => Array.from((await (await gpu.run(p, { x }))['y']!.read()) as Float32Array);
    const host = (data: number[]) => ({ shape: [4], data: Float32Array.from(data) });
    expect(await y(host([1, 2, 3, 4]))).toEqual([3, 6, 9, 12]);
    expect(await y(host([1, Infinity, 3, 4]))).toEqual([2, Infinity, 6, 8]);
    const finite = gpu.upload(host([1, 2, 3, 4]));
    expect(await y(finite)).toEqual([3, 6, 9, 12]);
    expect(await y(gpu.upload(host([1, 2, NaN, 4])))).toEqual([2, 4, NaN, 8]);
    const output = (await gpu.run(two, { x: finite }))['y']!;
    expect(await y(output)).toEqual([4, 8, 12, 16]);
    (gpu as T.WebGPUBackend).bufferOf(finite);
    expect(await y(finite)).toEqual([2, 4, 6, 8]);
    // A backend created with finiteSteps off always takes the exact steps.
    const exact = await T.createWebGPUBackend({ device: (gpu as T.WebGPUBackend).device, finiteSteps: false });
    expect(exact.finiteSteps).toBe(false);
    expect(Array.from((await (await exact.run(p, { x: host([1, 2, 3, 4]) }))['y']!.read()) as Float32Array)).toEqual([2, 4, 6, 8]);
    exact.destroy();
    await expect(T.createWebGPUBackend({ device: (gpu as T.WebGPUBackend).device, finiteSteps: 'yes' as never })).rejects.toThrow(new T.TesseraError('finiteSteps must be true or false, got yes'));
  });

  it('infinities and NaN inside input tensors', async () => {
    const data = Float32Array.from(random(24, 3, -2, 2));
    data[1] = -Infinity;
    data[8] = Infinity;
    data[13] = NaN;
    data[19] = -Infinity;
    data[20] = -Infinity;
    const k = T.kernel('inputs', { x: T.f32('i', 'j'), y: T.f32('i', 'j') }, ({ x, y }) => ({
      d: T.sub(x, x),
      z: T.mul(x, 0),
      mx: T.max(x, 'j'),
      mn: T.min(T.add(x, y), 'i'),
      s: T.sum(x, 'j'),
      sm: T.softmax(x, 'j'),
      c: T.toF32(T.eq(x, x)),
      mm: T.einsum('ij,kj->ik', x, y),
    }));
    await expectSame(gpu, k, { x: { shape: [4, 6], data }, y: XY.y });
  });

  it('a seeded sweep of random expression trees over masked inputs', async () => {
    // Each trace of a kernel must build the same tree: the body restarts the generator.
    let seed = 0;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const constants = [0, 0.5, -2, Infinity, -Infinity];
    const build = (x: M, y: M, depth: number): M => {
      const leaves: (() => M)[] = [() => x, () => y, () => masked(x), () => T.where(T.gt(y, 0), y, Infinity) as M, () => T.add(T.mul(x, 0), constants[next(constants.length)]!) as M];
      if (depth === 0) return leaves[next(leaves.length)]!();
      const a = () => build(x, y, depth - 1);
      const ops: (() => M)[] = [
        () => T.add(a(), a()) as M,
        () => T.sub(a(), a()) as M,
        () => T.mul(a(), a()) as M,
        () => T.div(a(), a()) as M,
        () => T.maximum(a(), a()) as M,
        () => T.minimum(a(), a()) as M,
        () => T.exp(T.mul(a(), 0.25)) as M,
        () => T.log(a()) as M,
        () => T.neg(a()) as M,
        () => T.abs(a()) as M,
        () => T.sigmoid(a()) as M,
        () => {
          const p = a();
          const q = a();
          return T.where(T.lt(p, q), p, q) as M;
        },
        () => T.mod(a(), a()) as M,
        // Singular ops whose operands' signs may clear them (sqrt of |a|, rsqrt of |a| + 0.5,
        // a division by a sum of exps at least 1): plain in the finite steps, and still exact.
        () => T.sqrt(T.abs(a())) as M,
        () => T.rsqrt(T.add(T.abs(a()), 0.5)) as M,
        () => T.div(a(), T.maximum(T.add(T.exp(a()), T.sigmoid(a())), 1)) as M,
      ];
      return ops[next(ops.length)]!();
    };
    for (let program = 0; program < 32; program++) {
      const k = T.kernel(`random_${program}`, { x: T.f32('i', 'j'), y: T.f32('i', 'j') }, ({ x, y }) => {
        seed = 12345 + program * 7919;
        const e = build(x as M, y as M, 3);
        return { e, r: [T.sum, T.max, T.min][next(3)]!(e, 'j'), l: T.logSoftmax(e, 'j') };
      });
      await expectSame(gpu, k, XY, 1e-3, 1e-4);
    }
  });
});
