/**
 * Pass tests: printed IR in, printed IR out, one pass at a time. Each expectation was read and
 * checked by hand against the pass's contract (the comments say what to look for).
 */
import { describe, expect, it } from 'vitest';
import { add, constant, einsum, exp, f32, gather, ge, iota, kernel, mod, mul, ne, param, relabel, softmax, sub, sum, transpose, where } from '../dsl/index.ts';
import { printGraph } from '../dsl/print.ts';
import { canonicalize } from '../compiler/passes/canonicalize.ts';
import { planContractions } from '../compiler/passes/plan-contractions.ts';
import { decompose } from '../compiler/passes/decompose.ts';
import { fuse } from '../compiler/passes/fuse.ts';
import { planMemory } from '../compiler/passes/plan-memory.ts';
import { lowerToTiles } from '../compiler/passes/lower-to-tiles.ts';
import { checkSchedule } from '../compiler/schedule.ts';
import { compile, fuseGraph, optimizeGraph } from '../compiler/index.ts';
import { printFused } from '../compiler/kernel-ir.ts';
import { DEFAULT_LIMITS } from '../program/index.ts';

describe('canonicalize', () => {
  it('folds constants, removes identity relabels, shares common subexpressions and drops dead nodes', () => {
    const k = kernel('c', { x: f32('i', 'j') }, ({ x }) => {
      const a = add(x, add(mul(exp(x), 2), 3)); // exp(x) is traced twice below
      const b = add(x, add(mul(exp(x), 2), 3));
      const same = relabel(x, ['i', 'j']);
      void sub(x, 1); // dead
      return { out: add(add(a, b), same) };
    });
    const text = printGraph(canonicalize(k.trace()));
    expect(text).toBe(
      [
        '%0 = input "x" : f32[i:i, j:j]',
        '%1 = map exp(%0) : f32[i:i, j:j]',
        '%2 = const 2 : f32[]',
        '%3 = map mul(%1, %2) : f32[i:i, j:j]',
        '%4 = const 3 : f32[]',
        '%5 = map add(%3, %4) : f32[i:i, j:j]',
        '%6 = map add(%0, %5) : f32[i:i, j:j]',
        '%7 = map add(%6, %6) : f32[i:i, j:j]',
        '%8 = map add(%7, %0) : f32[i:i, j:j]',
        'outputs out=%8',
      ].join('\n'),
    );
  });

  it('folds scalar constant arithmetic and keeps tensor arithmetic', () => {
    const k = kernel('fold', { x: f32('i') }, ({ x }) => add(mul(x, 0), mul(add(constant(2), 1), 4)));
    expect(printGraph(canonicalize(k.trace()))).toBe(
      ['%0 = input "x" : f32[i:i]', '%1 = const 0 : f32[]', '%2 = map mul(%0, %1) : f32[i:i]', '%3 = const 12 : f32[]', '%4 = map add(%2, %3) : f32[i:i]', 'outputs out=%4'].join('\n'),
    );
  });
});

describe('plan-contractions', () => {
  it('splits a five-operand contraction into binary steps, smallest intermediate first', () => {
    const k = kernel('chain', { a: f32('i', 'j').pin({ i: 4, j: 5 }), b: f32('j', 'k').pin({ j: 5, k: 6 }), c: f32('k', 'l').pin({ k: 6, l: 7 }), d: f32('l', 'm').pin({ l: 7, m: 3 }), e: f32('m', 'i').pin({ m: 3, i: 4 }) }, (t) =>
      einsum('ij,jk,kl,lm,mi->', t.a, t.b, t.c, t.d, t.e),
    );
    const text = printGraph(planContractions(canonicalize(k.trace())));
    // Every contract left is binary with free axes on both sides and a summed axis.
    const contracts = text.split('\n').filter((l) => l.includes('contract('));
    for (const line of contracts) expect(line).toMatch(/contract\(%\d+, %\d+\)/);
    // The final step is a product-sum to a scalar (no free axes remain): map mul + reduce sum.
    expect(text).toMatch(/reduce sum\(%\d+\) over \[[a-z, ]+\] : f32\[\]\noutputs out=%\d+$/);
  });

  it('turns a dot product into map+reduce and a matrix-vector product into a fused reduction', () => {
    const dot = kernel('dot', { x: f32('i'), y: f32('i') }, ({ x, y }) => einsum('i,i->', x, y));
    expect(printGraph(planContractions(dot.trace()))).toBe(
      ['%0 = input "x" : f32[i:i]', '%1 = input "y" : f32[i:i]', '%2 = map mul(%0, %1) : f32[i:i]', '%3 = reduce sum(%2) over [i] : f32[]', 'outputs out=%3'].join('\n'),
    );
    const mv = kernel('mv', { a: f32('m', 'k'), x: f32('k') }, ({ a, x }) => einsum('mk,k->m', a, x));
    expect(printGraph(planContractions(mv.trace()))).toBe(
      ['%0 = input "a" : f32[m:m, k:k]', '%1 = input "x" : f32[k:k]', '%2 = map mul(%0, %1) : f32[m:m, k:k]', '%3 = reduce sum(%2) over [k] : f32[m:m]', 'outputs out=%3'].join('\n'),
    );
  });

  it('pre-sums an axis only one operand carries, and keeps a true matrix product', () => {
    const k = kernel('mm', { a: f32('m', 'k', 'x'), b: f32('k', 'n') }, ({ a, b }) => einsum('mkx,kn->nm', a, b));
    expect(printGraph(planContractions(k.trace()))).toBe(
      [
        '%0 = input "a" : f32[m:m, k:k, x:x]',
        '%1 = input "b" : f32[k:k, n:n]',
        '%2 = reduce sum(%0) over [x] : f32[m:m, k:k]',
        '%3 = contract(%2, %1) : f32[n:n, m:m]',
        'outputs out=%3',
      ].join('\n'),
    );
  });
});

describe('decompose', () => {
  it('splices the interpreter’s softmax definition in place of the composite', () => {
    const k = kernel('sm', { x: f32('r', 'c') }, ({ x }) => softmax(x, 'c'));
    expect(printGraph(decompose(k.trace()))).toBe(
      [
        '%0 = input "x" : f32[r:r, c:c]',
        '%1 = reduce max(%0) over [c] : f32[r:r]',
        '%2 = map is_finite(%1) : bool[r:r]',
        '%3 = const 0 : f32[]',
        '%4 = map where(%2, %1, %3) : f32[r:r]',
        '%5 = map is_inf(%1) : bool[r:r]',
        '%6 = const 0 : f32[]',
        '%7 = map lt(%1, %6) : bool[r:r]',
        '%8 = map and(%5, %7) : bool[r:r]',
        '%9 = map not(%8) : bool[r:r]',
        '%10 = map sub(%0, %4) : f32[r:r, c:c]',
        '%11 = map exp(%10) : f32[r:r, c:c]',
        '%12 = reduce sum(%11) over [c] : f32[r:r]',
        '%13 = const 1 : f32[]',
        '%14 = map where(%9, %12, %13) : f32[r:r]',
        '%15 = map div(%11, %14) : f32[r:r, c:c]',
        'outputs out=%15',
      ].join('\n'),
    );
  });
});

describe('fuse', () => {
  it('fuses an elementwise chain with a transpose into one kernel', () => {
    const k = kernel('chain', { x: f32('i', 'j'), s: param() }, ({ x, s }) => transpose(exp(add(mul(x, s), 1)), ['j', 'i']));
    const fused = fuse(optimizeGraph(k.trace()), { name: 'chain', maxStorageBuffers: 8 });
    expect(printFused(fused)).toBe(
      [
        'b0 input f32[i:i, j:j] "input \'x\'"',
        'b1 temp f32[j:j, i:i] "%6 relabel"',
        'elementwise %6 relabel -> b1 f32[a0=j:j, a1=i:i] = exp(add(mul(b0[a1,a0], $s), 1:f32))',
        'outputs out=b1',
      ].join('\n'),
    );
  });

  it('inlines a gather as a load whose gathered axis is indexed by the clamped position', () => {
    const k = kernel('rel', { t: f32('h', 'r'), x: f32('n', 'm') }, ({ t, x }) => add(x, gather(t, 'r', add(sub(iota(x, 'n'), iota(x, 'm')), 2))));
    expect(printFused(fuse(optimizeGraph(k.trace()), { name: 'rel', maxStorageBuffers: 8 }))).toContain(
      'elementwise %8 add -> b2 f32[a0=n:n, a1=m:m, a2=h:h] = add(b1[a0,a1], b0[a2,clamp(add(sub(#a0, #a1), 2:i32))])',
    );
  });

  it('inlines the prologue of a reduction and of a matrix product', () => {
    const k = kernel('pro', { a: f32('m', 'k'), b: f32('k', 'n') }, ({ a, b }) => ({ r: sum(exp(a), 'k'), c: einsum('mk,kn->mn', mul(a, 2), b) }));
    const text = printFused(fuse(optimizeGraph(k.trace()), { name: 'pro', maxStorageBuffers: 8 }));
    expect(text).toContain('reduce %3 reduce -> b2 f32[a0=m:m] = sum over [a1=k:k] of exp(b0[a0,a1])');
    expect(text).toContain('gemm %6 contract -> b3 f32[a0=m:m, a1=n:n] batch[] m[a0=m:m] n[a1=n:n] k[a2=k:k] a=mul(b0[a0,a2], 2:f32) b=b1[a2,a1]');
  });

  it('materialises a shared value that is costly to recompute, and recomputes a cheap one', () => {
    const k = kernel('share', { x: f32('i') }, ({ x }) => {
      let costly = x;
      for (let i = 0; i < 8; i++) costly = exp(add(costly, 1));
      const cheap = exp(x);
      return { a: add(sum(costly, 'i'), sum(cheap, 'i')), b: mul(sum(mul(costly, 2), 'i'), sum(mul(cheap, 3), 'i')) };
    });
    const text = printFused(fuse(optimizeGraph(k.trace()), { name: 'share', maxStorageBuffers: 8 }));
    const kernels = text.split('\n').filter((l) => /^(elementwise|reduce|gemm)/.test(l));
    // One elementwise kernel materialises the costly chain; the cheap exp is inlined twice.
    expect(kernels.filter((l) => l.startsWith('elementwise') && l.includes('exp(add(exp(add('))).toHaveLength(1);
    expect(kernels.filter((l) => l.includes('of exp(b0[a0])') || l.includes('of mul(exp(b0[a0]), 3:f32)'))).toHaveLength(2);
  });

  it('splits a kernel that would bind more storage buffers than the device allows', () => {
    const k = kernel('wide', { a: f32('i'), b: f32('i'), c: f32('i'), d: f32('i') }, (t) => add(add(t.a, t.b), add(t.c, t.d)));
    const fused = fuse(optimizeGraph(k.trace()), { name: 'wide', maxStorageBuffers: 4 });
    const kernels = printFused(fused).split('\n').filter((l) => l.startsWith('elementwise'));
    expect(kernels).toHaveLength(2);
    for (const line of kernels) expect(new Set(line.match(/b\d+\[/g)).size).toBeLessThanOrEqual(3);
  });
});

describe('plan-memory', () => {
  it('reuses a temporary buffer once its value is dead, and claims kernel outputs as outputs', () => {
    const k = kernel('mem', { x: f32('i', 'j') }, ({ x }) => {
      const r1 = sum(exp(x), 'j');
      const r2 = sum(mul(x, r1), 'j');
      const r3 = sum(mul(x, r2), 'j');
      return sum(mul(x, r3), 'j');
    });
    const before = fuse(optimizeGraph(k.trace()), { name: 'mem', maxStorageBuffers: 8 });
    const after = planMemory(before);
    expect(before.buffers.filter((b) => b.role === 'temp')).toHaveLength(4);
    // r1 and r3 share a buffer (r1 is dead once r2 exists); the last reduction is the output.
    expect(printFused(after)).toBe(
      [
        'b0 input f32[i:i, j:j] "input \'x\'"',
        'b1 temp f32[i:i] "%2 reduce"',
        'b2 temp f32[i:i] "%4 reduce"',
        'b3 output f32[i:i] "output \'out\'"',
        'reduce %2 reduce -> b1 f32[a0=i:i] = sum over [a1=j:j] of exp(b0[a0,a1])',
        'reduce %4 reduce -> b2 f32[a0=i:i] = sum over [a1=j:j] of mul(b0[a0,a1], b1[a0])',
        'reduce %6 reduce -> b1 f32[a0=i:i] = sum over [a1=j:j] of mul(b0[a0,a1], b2[a0])',
        'reduce %8 reduce -> b3 f32[a0=i:i] = sum over [a1=j:j] of mul(b0[a0,a1], b1[a0])',
        'outputs out=b3',
      ].join('\n'),
    );
  });

  it('copies an output that is an input', () => {
    const k = kernel('id', { x: f32('i') }, ({ x }) => ({ same: x }));
    expect(printFused(fuseGraph(k.trace()))).toBe(['b0 input f32[i:i] "input \'x\'"', 'b1 output f32[i:i] "output \'same\'"', "copy b0 -> b1 (output 'same')", 'outputs same=b1'].join('\n'));
  });
});

describe('lower-to-tiles', () => {
  it('rejects illegal schedules with readable errors', () => {
    expect(() => checkSchedule({ kind: 'gemm', tileM: 64, tileN: 64, tileK: 16, threadsM: 12, threadsN: 16 }, DEFAULT_LIMITS)).toThrow(
      'schedule: gemm tileM 64 is not a multiple of threadsM 12',
    );
    expect(() => checkSchedule({ kind: 'gemm', tileM: 128, tileN: 128, tileK: 32, threadsM: 16, threadsN: 16 }, DEFAULT_LIMITS)).toThrow(
      'schedule: gemm tiles need 32768 bytes of workgroup memory; the device has 16384',
    );
    expect(() => checkSchedule({ kind: 'reduce', strategy: 'workgroup', workgroupSize: 96 }, DEFAULT_LIMITS)).toThrow('schedule: reduce workgroup size 96 must be a power of two');
    expect(() => checkSchedule({ kind: 'elementwise', workgroupSize: 512 }, DEFAULT_LIMITS)).toThrow('schedule: elementwise workgroup of 512 threads exceeds the device\'s 256');
  });

  it('picks one thread per output for short static reductions and a workgroup tree otherwise', () => {
    const k = kernel('r', { x: f32('i', 'j'), y: f32('i', 'k').pin({ k: 8 }) }, ({ x, y }) => ({ a: sum(x, 'j'), b: sum(y, 'k') }));
    const tiled = lowerToTiles(fuseGraph(k.trace()), DEFAULT_LIMITS);
    const schedules = tiled.steps.flatMap((s) => (s.kind === 'kernel' ? [s.schedule] : []));
    expect(schedules).toEqual([
      { kind: 'reduce', strategy: 'workgroup', workgroupSize: 64 },
      { kind: 'reduce', strategy: 'thread', workgroupSize: 64 },
    ]);
  });
});

describe('emit-wgsl', () => {
  it('prints the same WGSL for the same kernel, and one shader serves every size', () => {
    const k = kernel('mm', { a: f32('m', 'k'), b: f32('k', 'n') }, ({ a, b }) => einsum('mk,kn->mn', a, b));
    const p1 = compile(k.trace(), { name: 'mm' });
    const p2 = compile(k.trace(), { name: 'mm' });
    expect(p1.kernels.map((x) => x.wgsl)).toEqual(p2.kernels.map((x) => x.wgsl));
    expect(p1.kernels).toHaveLength(1);
    // Sizes are uniforms: the shader names no size literal of its own.
    expect(p1.kernels[0]!.wgsl).toContain('let n0 = u.w[0].y;');
    expect(JSON.parse(JSON.stringify(p1))).toEqual(p1);
  });

  it('specialises pinned sizes into the shader', () => {
    const k = kernel('mm', { a: f32('m', 'k'), b: f32('k', 'n') }, ({ a, b }) => einsum('mk,kn->mn', a, b));
    const p = compile(k.trace({ sizes: { k: 24 } }), { name: 'mm' });
    expect(p.kernels[0]!.wgsl).toContain('k0 < 24u');
  });
});

describe('flash attention lowering', () => {
  const build = (mask: 'causal' | 'stride') =>
    kernel('attn', { q: f32('n', 'd').pin({ d: 8 }), k: f32('m', 'd').pin({ d: 8 }), v: f32('m', 'e').pin({ e: 4 }) }, ({ q, k, v }) => {
      const s = einsum('nd,md->nm', q, k);
      const qi = iota(s, 'n');
      const ki = iota(s, 'm');
      const allowed = mask === 'causal' ? ge(qi, ki) : ne(mod(sub(qi, ki), 4), 3);
      return einsum('nm,me->ne', softmax(where(allowed, s, -Infinity), 'm'), v);
    });
  /** Each step's kind, with its size range when it has one. */
  const dispatches = (k: ReturnType<typeof build>, sizes: Record<string, number> = {}) =>
    compile(k.trace({ sizes })).steps.map((s) => {
      const kind = s.label.split(' ')[0];
      if (s.kind !== 'dispatch' || !s.when) return kind;
      return `${kind} ${s.when.atLeast !== undefined ? `${String(s.when.size)}>=${s.when.atLeast}` : `${String(s.when.size)}<${s.when.below}`}`;
    });

  it('bounds a causal mask analytically: one flash kernel, no block mask', () => {
    // A symbolic query axis gets the long-axis variant from 256 rows and the short one below;
    // a pinned one gets just the variant for its size.
    expect(dispatches(build('causal'))).toEqual(['flash n>=256', 'flash n<256']);
    expect(dispatches(build('causal'), { n: 7 })).toEqual(['flash']);
    expect(printFused(fuseGraph(build('causal').trace()))).toContain('valid=ge(#a0, #a1) kv>=[] kv<=[t+0:i32]');
  });

  it('gives a mask the bounds cannot capture a block mask: classify, compact, then flash over the list', () => {
    expect(dispatches(build('stride'))).toEqual(['mask-classify', 'mask-compact', 'flash n>=256', 'flash n<256']);
    expect(printFused(fuseGraph(build('stride').trace()))).toMatch(/blocks 32x32 counts b\d+ list b\d+/);
  });
});
