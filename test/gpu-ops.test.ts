/**
 * Every op on a real WebGPU device against the float64 interpreter, on random inputs at several
 * shapes: sizes that are not multiples of any tile (7, 33, 130), axes of size 1, and sizes large
 * enough to take the multi-tile and workgroup-tree paths.
 */
import { expect, it } from 'vitest';
import * as T from '../index.ts';
import type { HostTensor, Kernel } from '../index.ts';
import { describeGPU } from './gpu.ts';
import { count, random, stepKernels } from './helpers.ts';

function randomInts(count: number, seed: number, lo: number, hi: number): Int32Array {
  return Int32Array.from(random(count, seed, lo, hi), (v) => Math.floor(v));
}


interface Check {
  rtol?: number;
  atol?: number;
  params?: Record<string, number>;
  sizes?: Record<string, number>;
  schedules?: T.ScheduleOverrides;
}

/** Runs `k` on the GPU and on the f64 interpreter and compares every output. */
async function expectMatches(gpu: T.Backend, k: Kernel, inputs: Record<string, HostTensor>, check: Check = {}): Promise<void> {
  const rtol = check.rtol ?? 1e-4;
  const atol = check.atol ?? 1e-5;
  const options = { ...(check.params ? { params: check.params } : {}), ...(check.sizes ? { sizes: check.sizes } : {}) };
  const got = await T.run(k, inputs, gpu, { ...options, ...(check.schedules ? { compile: { schedules: check.schedules } } : {}) });
  const want = T.interpretKernel(k, inputs, { ...options, precision: 'f64' });
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    const g = got[name]!;
    expect(g.shape, `${name} shape`).toEqual(w.shape);
    expect(g.dtype, `${name} dtype`).toBe(w.dtype);
    let worst = 0;
    let where = -1;
    for (let i = 0; i < w.data.length; i++) {
      const excess = Math.abs(g.data[i]! - w.data[i]!) - (atol + rtol * Math.abs(w.data[i]!));
      if (!(excess <= worst)) {
        worst = excess;
        where = i;
      }
    }
    if (where >= 0) expect.fail(`${k.kernelName} output '${name}' at flat index ${where}: GPU ${g.data[where]} vs interpreter ${w.data[where]}`);
  }
}

const SHAPES: readonly (readonly [number, number])[] = [
  [1, 1],
  [1, 7],
  [33, 1],
  [7, 130],
  [130, 33],
];

describeGPU('elementwise ops on WebGPU', (gpu) => {
  const unary: [string, (x: T.Tensor<readonly ['i', 'j'], 'f32'>) => T.Tensor, number, number][] = [
    ['exp', T.exp, -5, 5],
    ['log', T.log, 0.01, 10],
    ['log1p', T.log1p, -0.9, 10],
    ['sqrt', T.sqrt, 0, 10],
    ['rsqrt', T.rsqrt, 0.01, 10],
    ['tanh', T.tanh, -20, 20],
    ['sigmoid', T.sigmoid, -30, 30],
    ['logSigmoid', T.logSigmoid, -30, 30],
    ['abs', T.abs, -3, 3],
    ['neg', T.neg, -3, 3],
  ];
  for (const [name, fn, lo, hi] of unary) {
    it(`${name} at shapes ${SHAPES.map((s) => s.join('x')).join(', ')}`, async () => {
      const k = T.kernel(name, { x: T.f32('i', 'j') }, ({ x }) => fn(x));
      for (const shape of SHAPES) await expectMatches(gpu, k, { x: { shape, data: random(count(shape), 7, lo, hi) } });
    });
  }

  it('log1p keeps its accuracy near zero', async () => {
    const k = T.kernel('log1p small', { x: T.f32('i') }, ({ x }) => T.log1p(x));
    await expectMatches(gpu, k, { x: { shape: [64], data: random(64, 3, -1e-6, 1e-6) } }, { rtol: 1e-5, atol: 0 });
  });

  const binary: [string, (a: T.Tensor<readonly ['i', 'j'], 'f32'>, b: T.Tensor<readonly ['j'], 'f32'>) => T.Tensor, number, number][] = [
    ['add', T.add, -2, 2],
    ['sub', T.sub, -2, 2],
    ['mul', T.mul, -2, 2],
    ['div', T.div, 0.5, 2],
    ['minimum', T.minimum, -2, 2],
    ['maximum', T.maximum, -2, 2],
    ['pow', T.pow, 0.1, 3],
    ['mod', T.mod, 0.5, 5],
  ];
  for (const [name, fn, lo, hi] of binary) {
    it(`${name} broadcasting [i, j] with [j]`, async () => {
      const k = T.kernel(name, { a: T.f32('i', 'j'), b: T.f32('j') }, ({ a, b }) => fn(a, b));
      for (const [i, j] of SHAPES) {
        await expectMatches(gpu, k, { a: { shape: [i, j], data: random(i * j, 11, lo, hi) }, b: { shape: [j], data: random(j, 13, lo, hi) } });
      }
    });
  }

  it('pow with a negative base and integral exponents', async () => {
    const k = T.kernel('pow neg', { a: T.f32('i') }, ({ a }) => ({ sq: T.pow(a, 2), cube: T.pow(a, 3) }));
    await expectMatches(gpu, k, { a: { shape: [9], data: random(9, 5, -3, -0.5) } });
  });

  it('integer arithmetic wraps, and division/remainder truncate with WGSL’s rules for zero', async () => {
    const k = T.kernel('ints', { a: T.i32('i'), b: T.i32('i') }, ({ a, b }) => ({
      add: T.add(a, b),
      sub: T.sub(a, b),
      mul: T.mul(a, b),
      div: T.div(a, b),
      mod: T.mod(a, b),
      min: T.minimum(a, b),
      abs: T.abs(a),
      neg: T.neg(b),
    }));
    const a = Int32Array.from([7, -7, 7, -7, 2147483647, -2147483648, 5, 0, 123456789, -1]);
    const b = Int32Array.from([2, 2, -2, -2, 1, -1, 0, 3, 1000, 0]);
    await expectMatches(gpu, k, { a: { shape: [10], data: a }, b: { shape: [10], data: b } }, { rtol: 0, atol: 0 });
    const big = T.kernel('wrap', { a: T.i32('i') }, ({ a }) => T.mul(a, 65536));
    await expectMatches(gpu, big, { a: { shape: [33], data: randomInts(33, 3, -100000, 100000) } }, { rtol: 0, atol: 0 });
  });

  it('u32 arithmetic wraps', async () => {
    const k = T.kernel('u32', { a: T.u32('i'), b: T.u32('i') }, ({ a, b }) => ({ sub: T.sub(a, b), div: T.div(a, b), neg: T.neg(a) }));
    const a = Uint32Array.from([5, 0, 4294967295, 17, 100]);
    const b = Uint32Array.from([7, 1, 2, 0, 9]);
    await expectMatches(gpu, k, { a: { shape: [5], data: a }, b: { shape: [5], data: b } }, { rtol: 0, atol: 0 });
  });

  it('comparisons, logic, where and casts', async () => {
    const k = T.kernel('logic', { a: T.f32('i', 'j'), b: T.f32('j'), m: T.bool('i', 'j') }, ({ a, b, m }) => {
      const lt = T.lt(a, b);
      const ge = T.ge(a, b);
      return {
        lt,
        le: T.le(a, b),
        gt: T.gt(a, b),
        eq: T.eq(T.toI32(T.mul(a, 2)), T.toI32(T.mul(b, 2))),
        ne: T.ne(m, lt),
        and: T.and(lt, m),
        or: T.or(ge, m),
        xor: T.xor(lt, m),
        not: T.not(m),
        where: T.where(m, a, b),
        whereNum: T.where(lt, a, -1),
        toF32: T.toF32(m),
        toI32: T.toI32(T.mul(a, 10)),
        toU32: T.toU32(T.abs(T.mul(a, 10))),
        toBool: T.toBool(T.toI32(T.mul(a, 2))),
      };
    });
    for (const [i, j] of SHAPES) {
      const mask = Uint8Array.from(random(i * j, 17), (v) => (v > 0 ? 1 : 0));
      await expectMatches(gpu, k, { a: { shape: [i, j], data: random(i * j, 19, -3, 3) }, b: { shape: [j], data: random(j, 23, -3, 3) }, m: { shape: [i, j], data: mask } }, { rtol: 0, atol: 0 });
    }
  });

  it('iota builds masks and positions', async () => {
    const k = T.kernel('iota', { x: T.f32('q', 'kv') }, ({ x }) => {
      const q = T.iota(x, 'q');
      const kv = T.iota(x, 'kv');
      return { causal: T.where(T.le(kv, q), x, 0), pos: T.toF32(T.sub(kv, q)), flat: T.add(T.mul(q, T.sizeOf(x, 'kv')), kv) };
    });
    for (const [i, j] of SHAPES) await expectMatches(gpu, k, { x: { shape: [i, j], data: random(i * j, 29) } });
  });

  it('scalar parameters of each dtype', async () => {
    const k = T.kernel('params', { x: T.f32('i'), n: T.i32('i'), s: T.param('f32'), t: T.param('i32'), u: T.param('u32') }, ({ x, n, s, t, u }) => ({
      a: T.mul(x, s),
      b: T.add(n, t),
      c: T.toF32(T.add(T.toU32(T.abs(n)), u)),
    }));
    await expectMatches(gpu, k, { x: { shape: [33], data: random(33, 31) }, n: { shape: [33], data: randomInts(33, 37, -50, 50) } }, { params: { s: -1.75, t: -7, u: 4000000000 }, rtol: 1e-6, atol: 0 });
  });

  it('transpose, rename, diagonal relabel and expand', async () => {
    const k = T.kernel('relabel', { x: T.f32('a', 'b', 'c'), sq: T.f32('i', 'j').pin({ j: 'i' }) }, ({ x, sq }) => ({
      t: T.transpose(x, ['c', 'a', 'b']),
      r: T.add(T.rename(x, { a: 'z' }), 1),
      diag: T.relabel(sq, ['i', 'i']),
      e: T.expand(T.sum(x, 'c'), [{ name: 'n', size: 3 }]),
    }));
    for (const [a, b, c, n] of [
      [1, 1, 1, 1],
      [2, 7, 3, 7],
      [5, 1, 33, 5],
    ] as const) {
      await expectMatches(gpu, k, { x: { shape: [a, b, c], data: random(a * b * c, 41) }, sq: { shape: [n, n], data: random(n * n, 43) } });
    }
  });

  it('a long fused chain stays one kernel and matches', async () => {
    const k = T.kernel('chain', { x: T.f32('i') }, ({ x }) => {
      let y: T.Tensor<readonly ['i'], 'f32'> = x;
      for (let i = 0; i < 12; i++) y = T.tanh(T.add(T.mul(y, 1.1), i * 0.01));
      return y;
    });
    expect(stepKernels(T.compile(k.trace()))).toHaveLength(1);
    await expectMatches(gpu, k, { x: { shape: [1000], data: random(1000, 47, -2, 2) } });
  });

  it('gather: a relative-position lookup with out-of-range positions clamped, fused into its consumer', async () => {
    // Positions q - kv + 2 run from -(M - 3) to N + 1: both ends leave the table [h, 5].
    const k = T.kernel('rel', { t: T.f32('h', 'r'), x: T.f32('n', 'm') }, ({ t, x }) => T.add(x, T.gather(t, 'r', T.add(T.sub(T.iota(x, 'n'), T.iota(x, 'm')), 2))));
    expect(stepKernels(T.compile(k.trace()))).toHaveLength(1);
    for (const [n, m] of [[7, 9], [33, 130]] as const) {
      await expectMatches(gpu, k, { t: { shape: [3, 5], data: random(15, 53) }, x: { shape: [n, m], data: random(n * m, 59) } });
    }
  });

  it('gather: from a computed table (materialised), with an axis the index shares, summed afterwards', async () => {
    const k = T.kernel('pick', { t: T.f32('h', 'r'), i: T.i32('h', 'n') }, ({ t, i }) => T.sum(T.gather(T.exp(t), 'r', i), 'n'));
    const i = { shape: [4, 70], data: randomInts(280, 61, -2, 12), dtype: 'i32' as const };
    await expectMatches(gpu, k, { t: { shape: [4, 10], data: random(40, 67) }, i });
  });
});

describeGPU('reductions and composites on WebGPU', (gpu) => {
  type Reducer = (x: T.Tensor<readonly ['r', 'c'], 'f32'>, axes: 'r' | 'c' | readonly ('r' | 'c')[]) => T.Tensor;
  const reducers: readonly (readonly [string, Reducer])[] = [
    ['sum', T.sum],
    ['max', T.max],
    ['min', T.min],
    ['mean', T.mean],
    ['logsumexp', T.logsumexp],
  ];
  const sizes: readonly (readonly [number, number])[] = [
    [1, 1],
    [3, 1],
    [1, 130],
    [7, 33],
    [5, 1000],
    [2, 4097],
  ];
  for (const [name, fn] of reducers) {
    it(`${name} over the last axis, the first axis and both`, async () => {
      const k = T.kernel(name, { x: T.f32('r', 'c') }, ({ x }) => ({
        last: fn(x, 'c'),
        first: fn(x, 'r'),
        both: fn(x, ['r', 'c']),
      }));
      for (const [r, c] of sizes) await expectMatches(gpu, k, { x: { shape: [r, c], data: random(r * c, 53, -3, 3) } }, { rtol: 2e-4, atol: 2e-4 });
    });
  }

  it('prod, and integer reductions', async () => {
    const k = T.kernel('prod', { x: T.f32('r', 'c'), n: T.i32('r', 'c') }, ({ x, n }) => ({ p: T.prod(x, 'c'), s: T.sum(n, 'c'), mx: T.max(n, 'r'), mn: T.min(n, ['r', 'c']) }));
    for (const [r, c] of [
      [1, 1],
      [4, 9],
      [3, 40],
    ] as const) {
      await expectMatches(gpu, k, { x: { shape: [r, c], data: random(r * c, 59, 0.8, 1.25) }, n: { shape: [r, c], data: randomInts(r * c, 61, -1000, 1000) } }, { rtol: 1e-4, atol: 0 });
    }
  });

  it('one thread per output and a workgroup tree give the same sums', async () => {
    const k = T.kernel('sched', { x: T.f32('r', 'c') }, ({ x }) => T.sum(x, 'c'));
    const inputs = { x: { shape: [37, 300], data: random(37 * 300, 67) } };
    for (const reduce of [
      { strategy: 'thread', workgroupSize: 64 },
      { strategy: 'workgroup', workgroupSize: 32 },
      { strategy: 'workgroup', workgroupSize: 256 },
    ] as const) {
      await expectMatches(gpu, k, inputs, { schedules: { reduce } });
    }
  });

  it('softmax, log_softmax and layer_norm over either axis', async () => {
    const k = T.kernel('composites', { x: T.f32('r', 'c') }, ({ x }) => ({
      sm: T.softmax(x, 'c'),
      smr: T.softmax(x, 'r'),
      lsm: T.logSoftmax(x, 'c'),
      ln: T.layerNorm(x, 'c'),
    }));
    for (const [r, c] of sizes) await expectMatches(gpu, k, { x: { shape: [r, c], data: random(r * c, 71, -4, 4) } }, { rtol: 2e-4, atol: 2e-5 });
  });

  it('softmax of a fully masked row gives zeros', async () => {
    const k = T.kernel('masked', { x: T.f32('r', 'c') }, ({ x }) => {
      const allowed = T.lt(T.iota(x, 'c'), T.iota(x, 'r'));
      return T.softmax(T.where(allowed, x, -Infinity), 'c');
    });
    await expectMatches(gpu, k, { x: { shape: [4, 6], data: random(24, 73) } });
  });

  it('reduces with more than 65535 workgroups', async () => {
    const k = T.kernel('many rows', { x: T.f32('r', 'c') }, ({ x }) => T.sum(x, 'c'));
    await expectMatches(gpu, k, { x: { shape: [70000, 20], data: random(70000 * 20, 79) } }, { schedules: { reduce: { strategy: 'workgroup', workgroupSize: 32 } } });
  });
});

describeGPU('contractions on WebGPU', (gpu) => {
  const mm = T.kernel('matmul', { a: T.f32('m', 'k'), b: T.f32('k', 'n') }, ({ a, b }) => T.einsum('mk,kn->mn', a, b));
  const mmShapes: readonly (readonly [number, number, number])[] = [
    [1, 1, 1],
    [1, 7, 1],
    [7, 13, 5],
    [65, 33, 130],
    [130, 70, 129],
  ];

  it('matrix products at sizes off every tile', async () => {
    for (const [m, k, n] of mmShapes) {
      await expectMatches(gpu, mm, { a: { shape: [m, k], data: random(m * k, 83) }, b: { shape: [k, n], data: random(k * n, 89) } });
    }
  });

  it('every legal GEMM schedule gives the same product', async () => {
    const inputs = { a: { shape: [70, 45], data: random(70 * 45, 97) }, b: { shape: [45, 67], data: random(45 * 67, 101) } };
    for (const gemm of [
      { tileM: 64, tileN: 64, tileK: 16, threadsM: 16, threadsN: 16 },
      { tileM: 32, tileN: 32, tileK: 8, threadsM: 8, threadsN: 8 },
      { tileM: 16, tileN: 16, tileK: 16, threadsM: 16, threadsN: 16 },
      { tileM: 32, tileN: 64, tileK: 4, threadsM: 8, threadsN: 16 },
      { tileM: 8, tileN: 128, tileK: 8, threadsM: 4, threadsN: 32 },
      // One thread wide along a side: that side's registers are read from the operand, unstaged.
      { tileM: 32, tileN: 8, tileK: 16, threadsM: 4, threadsN: 1 },
      { tileM: 8, tileN: 64, tileK: 16, threadsM: 1, threadsN: 8 },
      { tileM: 24, tileN: 6, tileK: 8, threadsM: 8, threadsN: 1 },
      { tileM: 4, tileN: 4, tileK: 8, threadsM: 1, threadsN: 1 },
    ]) {
      await expectMatches(gpu, mm, inputs, { schedules: { gemm } });
    }
  });

  it('pinned sizes specialise the shader and agree', async () => {
    await expectMatches(gpu, mm, { a: { shape: [33, 20], data: random(660, 103) }, b: { shape: [20, 9], data: random(180, 107) } }, { sizes: { k: 20, n: 9 } });
  });

  it('batched, transposed and multi-axis contractions', async () => {
    const k = T.kernel('einsums', { x: T.f32('b', 'i', 'j'), y: T.f32('b', 'k', 'j'), z: T.f32('p', 'q', 'j') }, ({ x, y, z }) => ({
      bmm: T.einsum('bij,bkj->bik', x, y),
      bmmT: T.einsum('bij,bkj->kbi', x, y),
      groups: T.einsum('bij,pqj->bipq', x, z),
    }));
    for (const [b, i, j, kk, p, q] of [
      [1, 1, 1, 1, 1, 1],
      [3, 7, 5, 9, 2, 4],
      [2, 33, 17, 65, 3, 11],
    ] as const) {
      await expectMatches(gpu, k, {
        x: { shape: [b, i, j], data: random(b * i * j, 109) },
        y: { shape: [b, kk, j], data: random(b * kk * j, 113) },
        z: { shape: [p, q, j], data: random(p * q * j, 127) },
      });
    }
  });

  it('an integer matrix product is exact', async () => {
    const k = T.kernel('imm', { a: T.i32('m', 'k'), b: T.i32('k', 'n') }, ({ a, b }) => T.einsum('mk,kn->mn', a, b));
    await expectMatches(gpu, k, { a: { shape: [9, 70], data: randomInts(630, 131, -50, 50) }, b: { shape: [70, 11], data: randomInts(770, 137, -50, 50) } }, { rtol: 0, atol: 0 });
  });

  it('n-ary contractions, diagonals, traces, outer products and ellipses', async () => {
    const k = T.kernel('nary', { a: T.f32('i', 'j'), b: T.f32('j', 'k'), c: T.f32('k', 'l'), d: T.f32('l', 'i'), s: T.f32('x', 'x2').pin({ x2: 'x' }) }, (t) => ({
      chain: T.einsum('ij,jk,kl->il', t.a, t.b, t.c),
      ring: T.einsum('ij,jk,kl,li->', t.a, t.b, t.c, t.d),
      diag: T.einsum('ii->i', t.s),
      trace: T.einsum('ii->', t.s),
      outer: T.einsum('i,j->ij', T.sum(t.a, 'j'), T.sum(t.b, 'k')),
      ell: T.einsum('...j,jk->...k', t.a, t.b),
    }));
    for (const [i, j, kk, l, x] of [
      [1, 1, 1, 1, 1],
      [4, 5, 6, 7, 9],
      [33, 40, 3, 50, 130],
    ] as const) {
      await expectMatches(gpu, k, {
        a: { shape: [i, j], data: random(i * j, 139) },
        b: { shape: [j, kk], data: random(j * kk, 149) },
        c: { shape: [kk, l], data: random(kk * l, 151) },
        d: { shape: [l, i], data: random(l * i, 157) },
        s: { shape: [x, x], data: random(x * x, 163) },
      }, { rtol: 2e-4, atol: 5e-5 });
    }
  });

  it('a contraction with an elementwise prologue and epilogue', async () => {
    const k = T.kernel('pro-epi', { a: T.f32('m', 'k'), b: T.f32('k', 'n'), s: T.param() }, ({ a, b, s }) => T.tanh(T.mul(T.einsum('mk,kn->mn', T.exp(T.mul(a, s)), b), 0.1)));
    await expectMatches(gpu, k, { a: { shape: [65, 17], data: random(65 * 17, 167) }, b: { shape: [17, 70], data: random(17 * 70, 173) } }, { params: { s: 0.5 } });
  });
});

describeGPU('loops on WebGPU', (gpu) => {
  it('carries tensors and captures loop-invariant ones', async () => {
    const k = T.kernel('loop', { x: T.f32('i', 'j'), w: T.f32('j', 'j2').pin({ j2: 'j' }) }, ({ x, w }) => {
      const [y, total] = T.loop(3, [x, T.sum(x, ['i', 'j'])], (y, total) => {
        const next = T.tanh(T.rename(T.einsum('ij,jk->ik', y, w), { k: 'j' }) as never as T.Tensor<readonly ['i', 'j'], 'f32'>);
        return [next, T.add(total, T.sum(next, ['i', 'j']))];
      });
      return { y, total };
    });
    for (const [i, j] of [
      [1, 1],
      [7, 5],
      [33, 20],
    ] as const) {
      await expectMatches(gpu, k, { x: { shape: [i, j], data: random(i * j, 179) }, w: { shape: [j, j], data: random(j * j, 181, -0.5, 0.5) } }, { rtol: 2e-4, atol: 5e-5 });
    }
  });

  it('swaps carried values and runs zero times', async () => {
    const k = T.kernel('swap', { a: T.f32('i'), b: T.f32('i') }, ({ a, b }) => {
      const [p, q] = T.loop(3, [a, b], (p, q) => [q, T.add(p, 1)]);
      const [z] = T.loop(0, [a], (z) => [T.mul(z, 100)]);
      return { p, q, z };
    });
    await expectMatches(gpu, k, { a: { shape: [5], data: random(5, 191) }, b: { shape: [5], data: random(5, 193) } }, { rtol: 0, atol: 1e-6 });
  });
});

describeGPU('masked rows on WebGPU', (gpu) => {
  it('logsumexp of a fully masked row is -Infinity, as in the interpreter', async () => {
    const k = T.kernel('lse masked', { x: T.f32('r', 'c') }, ({ x }) => T.logsumexp(T.where(T.lt(T.iota(x, 'c'), T.iota(x, 'r')), x, -Infinity), 'c'));
    const inputs = { x: { shape: [3, 5], data: random(15, 197) } };
    const got = await T.run(k, inputs, gpu);
    const want = T.interpretKernel(k, inputs, { precision: 'f64' });
    expect(want.out!.data[0]).toBe(-Infinity);
    expect(got.out!.data[0]).toBe(-Infinity);
    for (let i = 1; i < 3; i++) expect(got.out!.data[i]).toBeCloseTo(want.out!.data[i]!, 5);
  });
});
