/**
 * WGSL text per kernel kind, on every machine (no GPU needed): small kernels compiled and their
 * shaders pinned in full, plus the Program's kernels and dispatch steps. The expected texts were
 * generated once from the emitters and read line by line against the kernel each one implements
 * (the comments say what to look for); a change to an emitter shows up here as a text diff.
 */
import { describe, expect, it } from 'vitest';
import { compile, einsum, eq, exp, f32, i32, kernel, max, mean, mul, param, softmax, sum, toF32, where, type Program } from '../index.ts';
import { stepKernels } from './helpers.ts';

/** One line per step: the kernel it dispatches, its grid and its size guard. */
function stepsOf(p: Program): string[] {
  return p.steps.map((s) => (s.kind === 'dispatch' ? `${p.kernels[s.kernel]!.name} wg=${JSON.stringify(s.workgroups)}${s.when ? ` when=${JSON.stringify(s.when)}` : ''}` : s.kind));
}

/** The WGSL of the kernel named `name` that the program's steps dispatch (the only one of that name). */
function wgslOf(p: Program, name: string): string {
  const found = stepKernels(p).filter((k) => k.name === name);
  expect(found.length, name).toBe(1);
  return found[0]!.wgsl;
}

/** softmax(q·kᵀ)·v over named axes: fused into one flash kernel once the head sizes are pinned. */
const attn = kernel('attn', { q: f32('n', 'd'), k: f32('m', 'd'), v: f32('m', 'e') }, ({ q, k, v }) => ({
  o: einsum('nm,me->ne', softmax(einsum('nd,md->nm', q, k), 'm'), v),
}));

/** A document mask read from tensors (query and key document ids): no analytic kv bound captures it. */
const docAttn = kernel('doc', { q: f32('n', 'd'), k: f32('m', 'd'), v: f32('m', 'e'), qdoc: i32('n'), kdoc: i32('m') }, ({ q, k, v, qdoc, kdoc }) => ({
  o: einsum('nm,me->ne', softmax(where(eq(qdoc, kdoc), einsum('nd,md->nm', q, k), -Infinity), 'm'), v),
}));

describe('emit-wgsl: elementwise', () => {
  it('one thread per element, the fused expression in place, the parameter read from the uniforms', () => {
    const p = compile(kernel('ew', { x: f32('i'), s: param() }, ({ x, s }) => ({ y: mul(exp(x), s) })).trace(), { name: 'ew' });
    expect(stepsOf(p)).toEqual(['ew:elementwise wg={"op":"ceildiv","args":["i",256]}']);
    // Words: total workgroups, i, the parameter s (as f32 bits); a guard past the last element.
    // x is an input, which may hold ±∞ or NaN: exp and the product are carried as xf and the result
    // is stored with its IEEE bits.
    expect(p.kernels[0]!.wgsl).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<f32>;',
      '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(2) var<uniform> u: Uniforms;',
      'struct xf {',
      '  v: f32,',
      '  c: u32,',
      '}',
      '// The IEEE value of an xf, non-finite classes written as bit patterns (for storage).',
      'fn xf_bits(x: xf) -> f32 {',
      '  if (x.c == 0u) { return x.v; }',
      '  return bitcast<f32>(select(select(0x7fc00000u, 0xff800000u, x.c == 2u), 0x7f800000u, x.c == 1u));',
      '}',
      'fn xf_exp(a: xf) -> xf {',
      '  if (a.c == 1u) { return xf(0.0f, 1u); }',
      '  if (a.c == 2u) { return xf(0.0f, 0u); }',
      '  if (a.c == 3u) { return xf(0.0f, 3u); }',
      '  return xf_of(exp(a.v));',
      '}',
      'fn xf_mul(a: xf, b: xf) -> xf {',
      '  if ((a.c | b.c) == 0u) { return xf_of(a.v * b.v); }',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  if ((a.c == 0u && a.v == 0.0f) || (b.c == 0u && b.v == 0.0f)) { return xf(0.0f, 3u); }',
      '  return xf(0.0f, select(1u, 2u, xf_signbit(a) != xf_signbit(b)));',
      '}',
      '// Classifies a hardware f32 by its bits (integer logic, never folded away).',
      'fn xf_of(v: f32) -> xf {',
      '  let b = bitcast<u32>(v);',
      '  if ((b & 0x7f800000u) != 0x7f800000u) { return xf(v, 0u); }',
      '  if ((b & 0x007fffffu) != 0u) { return xf(0.0f, 3u); }',
      '  return xf(0.0f, select(1u, 2u, (b >> 31u) != 0u));',
      '}',
      'fn xf_signbit(a: xf) -> bool {',
      '  return a.c == 2u || (a.c == 0u && a.v < 0.0f);',
      '}',
      '@compute @workgroup_size(256, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let p0 = bitcast<f32>(u.w[0].z);',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let flat = wid * 256u + lid;',
      '  if (flat >= n0) {',
      '    return;',
      '  }',
      '  let a0 = flat;',
      '  out[flat] = xf_bits(xf_mul(xf_exp(xf_of(in0[a0])), xf_of(p0)));',
      '}',
      '',
    ].join('\n'));
  });
});

describe('emit-wgsl: reduce', () => {
  it('thread strategy (short static axis): one thread per output, the fold from the reduction registry (mean: add from 0, then / count), on xf values', () => {
    const p = compile(kernel('rt', { x: f32('i', 'j') }, ({ x }) => ({ y: mean(x, 'j') })).trace({ sizes: { j: 8 } }), { name: 'rt' });
    expect(stepsOf(p)).toEqual(['rt:reduce wg={"op":"ceildiv","args":["i",64]}']);
    expect(p.kernels[0]!.wgsl).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<f32>;',
      '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(2) var<uniform> u: Uniforms;',
      'struct xf {',
      '  v: f32,',
      '  c: u32,',
      '}',
      'fn xf_add(a: xf, b: xf) -> xf {',
      '  if ((a.c | b.c) == 0u) { return xf_of(a.v + b.v); }',
      '  return xf(0.0f, a.c | b.c);',
      '}',
      '// The IEEE value of an xf, non-finite classes written as bit patterns (for storage).',
      'fn xf_bits(x: xf) -> f32 {',
      '  if (x.c == 0u) { return x.v; }',
      '  return bitcast<f32>(select(select(0x7fc00000u, 0xff800000u, x.c == 2u), 0x7f800000u, x.c == 1u));',
      '}',
      'fn xf_div(a: xf, b: xf) -> xf {',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  if ((a.c | b.c) == 0u) {',
      '    if (b.v != 0.0f) { return xf_of(a.v / b.v); }',
      '    if (a.v == 0.0f) { return xf(0.0f, 3u); }',
      '    return xf(0.0f, select(1u, 2u, a.v < 0.0f));',
      '  }',
      '  if (a.c != 0u && b.c != 0u) { return xf(0.0f, 3u); }',
      '  if (b.c != 0u) { return xf(0.0f, 0u); }',
      '  return xf(0.0f, select(1u, 2u, xf_signbit(a) != (b.v < 0.0f)));',
      '}',
      '// Classifies a hardware f32 by its bits (integer logic, never folded away).',
      'fn xf_of(v: f32) -> xf {',
      '  let b = bitcast<u32>(v);',
      '  if ((b & 0x7f800000u) != 0x7f800000u) { return xf(v, 0u); }',
      '  if ((b & 0x007fffffu) != 0u) { return xf(0.0f, 3u); }',
      '  return xf(0.0f, select(1u, 2u, (b >> 31u) != 0u));',
      '}',
      'fn xf_signbit(a: xf) -> bool {',
      '  return a.c == 2u || (a.c == 0u && a.v < 0.0f);',
      '}',
      '@compute @workgroup_size(64, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let o = wid * 64u + lid;',
      '  if (o >= n0) {',
      '    return;',
      '  }',
      '  let a0 = o;',
      '  var acc: xf = xf(0.0f, 0u);',
      '  for (var r = 0u; r < 8u; r += 1u) {',
      '    let a1 = r;',
      '    acc = xf_add(acc, xf_of(in0[(a0 * 8u + a1)]));',
      '  }',
      '  out[o] = xf_bits(xf_div(acc, xf(f32(8u), 0u)));',
      '}',
      '',
    ].join('\n'));
  });

  it('workgroup strategy (symbolic axis): strided partial folds, then a tree in workgroup memory (max of xf values from −∞)', () => {
    const p = compile(kernel('rw', { x: f32('i', 'j') }, ({ x }) => ({ y: max(x, 'j') })).trace(), { name: 'rw' });
    // With both sizes symbolic the program also carries the split variant (split-reductions: a
    // partial over ceil(j/8192) parts per row and a combine), guarded by j >= 16384 and i <= 1024;
    // the whole reduction, pinned here, runs otherwise.
    const guard = '{"op":"min","args":["j",{"op":"ceildiv","args":[16777216,"i"]}]}';
    expect(stepsOf(p)).toEqual([
      `rw:reduce wg={"op":"mul","args":["i",{"op":"ceildiv","args":["j",8192]}]} when={"size":${guard},"atLeast":16384}`,
      `rw:reduce wg="i" when={"size":${guard},"atLeast":16384}`,
      `rw:reduce wg="i" when={"size":${guard},"below":16384}`,
    ]);
    expect(p.kernels[2]!.wgsl).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<f32>;',
      '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(2) var<uniform> u: Uniforms;',
      'var<workgroup> partial: array<xf, 64>;',
      'struct xf {',
      '  v: f32,',
      '  c: u32,',
      '}',
      '// The IEEE value of an xf, non-finite classes written as bit patterns (for storage).',
      'fn xf_bits(x: xf) -> f32 {',
      '  if (x.c == 0u) { return x.v; }',
      '  return bitcast<f32>(select(select(0x7fc00000u, 0xff800000u, x.c == 2u), 0x7f800000u, x.c == 1u));',
      '}',
      'fn xf_max(a: xf, b: xf) -> xf {',
      '  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }',
      '  let ra = xf_rank(a);',
      '  let rb = xf_rank(b);',
      '  if (ra > rb) { return a; }',
      '  if (ra < rb) { return b; }',
      '  return xf(max(a.v, b.v), a.c);',
      '}',
      '// Classifies a hardware f32 by its bits (integer logic, never folded away).',
      'fn xf_of(v: f32) -> xf {',
      '  let b = bitcast<u32>(v);',
      '  if ((b & 0x7f800000u) != 0x7f800000u) { return xf(v, 0u); }',
      '  if ((b & 0x007fffffu) != 0u) { return xf(0.0f, 3u); }',
      '  return xf(0.0f, select(1u, 2u, (b >> 31u) != 0u));',
      '}',
      'fn xf_rank(a: xf) -> i32 {',
      '  return select(select(0i, -1i, a.c == 2u), 1i, a.c == 1u);',
      '}',
      '@compute @workgroup_size(64, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let n1 = u.w[0].z;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let a0 = wid;',
      '  var acc: xf = xf(0.0f, 2u);',
      '  for (var r = lid; r < n1; r += 64u) {',
      '    let a1 = r;',
      '    acc = xf_max(acc, xf_of(in0[(a0 * n1 + a1)]));',
      '  }',
      '  partial[lid] = acc;',
      '  workgroupBarrier();',
      '  for (var half = 32u; half > 0u; half = half >> 1u) {',
      '    if (lid < half) {',
      '      partial[lid] = xf_max(partial[lid], partial[lid + half]);',
      '    }',
      '    workgroupBarrier();',
      '  }',
      '  if (lid == 0u) {',
      '    out[wid] = xf_bits(partial[0]);',
      '  }',
      '}',
      '',
    ].join('\n'));
  });

  it('integer reductions stay plain: max of i32 from the smallest i32, combined with max()', () => {
    const p = compile(kernel('ri', { x: i32('i', 'j') }, ({ x }) => ({ y: max(x, 'j') })).trace({ sizes: { j: 4 } }), { name: 'ri' });
    const body = p.kernels[0]!.wgsl.split('\n').slice(-9).join('\n');
    expect(body).toBe(
      [
        '  let a0 = o;',
        '  var acc: i32 = i32(-2147483647 - 1);',
        '  for (var r = 0u; r < 4u; r += 1u) {',
        '    let a1 = r;',
        '    acc = max(acc, in0[(a0 * 4u + a1)]);',
        '  }',
        '  out[o] = acc;',
        '}',
        '',
      ].join('\n'),
    );
    expect(p.kernels[0]!.wgsl).not.toContain('xf');
  });

  it('a split mean (symbolic long axis): the partial folds one chunk per workgroup unfinalised, the combine folds the parts and divides by the whole count', () => {
    const p = compile(kernel('sm', { n: i32('i', 'j') }, ({ n }) => ({ y: mean(toF32(n), 'i') })).trace({ sizes: { j: 16 } }), { name: 'sm' });
    // split-reductions: for i >= 16384 a partial over 16·ceil(i/8192) workgroups and a combine over
    // 16, for i < 16384 the whole reduction. (Integers cast to f32 are finite: no xf.)
    expect(stepsOf(p)).toEqual([
      'sm:reduce wg={"op":"mul","args":[16,{"op":"ceildiv","args":["i",8192]}]} when={"size":"i","atLeast":16384}',
      'sm:reduce wg=16 when={"size":"i","atLeast":16384}',
      'sm:reduce wg=16 when={"size":"i","below":16384}',
    ]);
    // Partial: workgroup wid is (part a2, output a0), part outermost; each of 256 threads folds its
    // share of the 8192 positions a2·8192 + a3, read clamped into [0, n) and replaced by 0 past the
    // end; the sum is stored as it is (mean's division waits for the combine).
    expect(p.kernels[0]!.wgsl).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<i32>;',
      '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(2) var<uniform> u: Uniforms;',
      'var<workgroup> partial: array<f32, 256>;',
      '@compute @workgroup_size(256, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  var rem_o: u32 = wid;',
      '  let a0 = rem_o % 16u;',
      '  rem_o = rem_o / 16u;',
      '  let a2 = rem_o;',
      '  var acc: f32 = 0.0f;',
      '  for (var r = lid; r < 8192u; r += 256u) {',
      '    let a3 = r;',
      '    acc = (acc + select(0.0f, f32(in0[(u32(clamp(((i32(a2) * 8192i) + i32(a3)), 0i, i32(n0) - 1i)) * 16u + a0)]), (((i32(a2) * 8192i) + i32(a3)) < i32(n0))));',
      '  }',
      '  partial[lid] = acc;',
      '  workgroupBarrier();',
      '  for (var half = 128u; half > 0u; half = half >> 1u) {',
      '    if (lid < half) {',
      '      partial[lid] = (partial[lid] + partial[lid + half]);',
      '    }',
      '    workgroupBarrier();',
      '  }',
      '  if (lid == 0u) {',
      '    out[wid] = partial[0];',
      '  }',
      '}',
      '',
    ].join('\n'));
    // Combine: one workgroup per output folds the ceil(n/8192) parts (part-major in the partial
    // buffer) and divides by n, the count of the whole reduction.
    expect(p.kernels[1]!.wgsl).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<f32>;',
      '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(2) var<uniform> u: Uniforms;',
      'var<workgroup> partial: array<f32, 64>;',
      '@compute @workgroup_size(64, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let a0 = wid;',
      '  var acc: f32 = 0.0f;',
      '  for (var r = lid; r < ((n0 + 8191u) / 8192u); r += 64u) {',
      '    let a2 = r;',
      '    acc = (acc + in0[(a2 * 16u + a0)]);',
      '  }',
      '  partial[lid] = acc;',
      '  workgroupBarrier();',
      '  for (var half = 32u; half > 0u; half = half >> 1u) {',
      '    if (lid < half) {',
      '      partial[lid] = (partial[lid] + partial[lid + half]);',
      '    }',
      '    workgroupBarrier();',
      '  }',
      '  if (lid == 0u) {',
      '    out[wid] = (partial[0] / f32(n0));',
      '  }',
      '}',
      '',
    ].join('\n'));
  });
});

describe('emit-wgsl: gemm', () => {
  it('k-major operand tiles in workgroup memory and 2×2 register blocks, every store guarded', () => {
    const k = kernel('mm', { a: f32('i', 'k'), b: f32('k', 'j') }, ({ a, b }) => ({ c: einsum('ik,kj->ij', a, b) }));
    const p = compile(k.trace(), { name: 'mm', schedules: { gemm: { tileM: 4, tileN: 4, tileK: 2, threadsM: 2, threadsN: 2 } } });
    // With every size symbolic the program also carries the split-K variant (a partial GEMM over
    // ceil(k/1024) parts and a combine), guarded by k >= 16384 and at most 1024 output tiles; the
    // whole GEMM, pinned here, runs otherwise.
    const tiles = '{"op":"mul","args":[{"op":"ceildiv","args":["i",4]},{"op":"ceildiv","args":["j",4]}]}';
    const guard = `{"op":"min","args":["k",{"op":"ceildiv","args":[16777216,${tiles}]}]}`;
    expect(stepsOf(p)).toEqual([
      `mm:gemm wg={"op":"mul","args":[{"op":"ceildiv","args":["k",1024]},{"op":"ceildiv","args":["i",4]},{"op":"ceildiv","args":["j",4]}]} when={"size":${guard},"atLeast":16384}`,
      `mm:reduce wg={"op":"mul","args":["i","j"]} when={"size":${guard},"atLeast":16384}`,
      `mm:gemm wg={"op":"mul","args":[1,{"op":"ceildiv","args":["i",4]},{"op":"ceildiv","args":["j",4]}]} when={"size":${guard},"below":16384}`,
    ]);
    // A [i, k] is read at i * K + k, B [k, j] at k * J + j; the tile loops and K come from the uniforms.
    expect(p.kernels[2]!.wgsl).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<f32>;',
      '@group(0) @binding(1) var<storage, read> in1: array<f32>;',
      '@group(0) @binding(2) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(3) var<uniform> u: Uniforms;',
      'var<workgroup> tile_a: array<f32, 8>;',
      'var<workgroup> tile_b: array<f32, 8>;',
      '@compute @workgroup_size(4, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let n1 = u.w[0].z;',
      '  let n2 = u.w[0].w;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let tiles_n = (n1 + 3u) / 4u;',
      '  let tiles_m = (n0 + 3u) / 4u;',
      '  let tn = wid % tiles_n;',
      '  let tm = (wid / tiles_n) % tiles_m;',
      '  let bflat = (wid / tiles_n) / tiles_m;',
      '  let tx = lid % 2u;',
      '  let ty = lid / 2u;',
      '  var acc: array<f32, 4>;',
      '  var ra: array<f32, 2>;',
      '  var rb: array<f32, 2>;',
      '  for (var k0 = 0u; k0 < n2; k0 += 2u) {',
      '    for (var e = lid; e < 8u; e += 4u) {',
      '      let fi = e / 2u;',
      '      let kk = e % 2u;',
      '      let mflat = tm * 4u + fi;',
      '      let kflat = k0 + kk;',
      '      var v: f32 = 0.0f;',
      '      if (mflat < n0 && kflat < n2) {',
      '        let a0 = mflat;',
      '        let a2 = kflat;',
      '        v = in0[(a0 * n2 + a2)];',
      '      }',
      '      tile_a[kk * 4u + fi] = v;',
      '    }',
      '    for (var e = lid; e < 8u; e += 4u) {',
      '      let fi = e % 4u;',
      '      let kk = e / 4u;',
      '      let nflat = tn * 4u + fi;',
      '      let kflat = k0 + kk;',
      '      var v: f32 = 0.0f;',
      '      if (nflat < n1 && kflat < n2) {',
      '        let a1 = nflat;',
      '        let a2 = kflat;',
      '        v = in1[(a2 * n1 + a1)];',
      '      }',
      '      tile_b[kk * 4u + fi] = v;',
      '    }',
      '    workgroupBarrier();',
      '    for (var kk = 0u; kk < 2u; kk += 1u) {',
      '      ra[0] = tile_a[kk * 4u + ty + 0u];',
      '      ra[1] = tile_a[kk * 4u + ty + 2u];',
      '      rb[0] = tile_b[kk * 4u + tx + 0u];',
      '      rb[1] = tile_b[kk * 4u + tx + 2u];',
      '      acc[0] += ra[0] * rb[0];',
      '      acc[1] += ra[0] * rb[1];',
      '      acc[2] += ra[1] * rb[0];',
      '      acc[3] += ra[1] * rb[1];',
      '    }',
      '    workgroupBarrier();',
      '  }',
      '  if (tm * 4u + ty + 0u < n0 && tn * 4u + tx + 0u < n1) {',
      '    let mo0_0 = tm * 4u + ty + 0u;',
      '    let no0_0 = tn * 4u + tx + 0u;',
      '    let a0 = mo0_0;',
      '    let a1 = no0_0;',
      '    out[(a0 * n1 + a1)] = acc[0];',
      '  }',
      '  if (tm * 4u + ty + 0u < n0 && tn * 4u + tx + 2u < n1) {',
      '    let mo0_1 = tm * 4u + ty + 0u;',
      '    let no0_1 = tn * 4u + tx + 2u;',
      '    let a0 = mo0_1;',
      '    let a1 = no0_1;',
      '    out[(a0 * n1 + a1)] = acc[1];',
      '  }',
      '  if (tm * 4u + ty + 2u < n0 && tn * 4u + tx + 0u < n1) {',
      '    let mo1_0 = tm * 4u + ty + 2u;',
      '    let no1_0 = tn * 4u + tx + 0u;',
      '    let a0 = mo1_0;',
      '    let a1 = no1_0;',
      '    out[(a0 * n1 + a1)] = acc[2];',
      '  }',
      '  if (tm * 4u + ty + 2u < n0 && tn * 4u + tx + 2u < n1) {',
      '    let mo1_1 = tm * 4u + ty + 2u;',
      '    let no1_1 = tn * 4u + tx + 2u;',
      '    let a0 = mo1_1;',
      '    let a1 = no1_1;',
      '    out[(a0 * n1 + a1)] = acc[3];',
      '  }',
      '}',
      '',
    ].join('\n'));
  });

  it('register blocks of a multiple of 4 are read as vec4s, groups of 4 interleaved across the threads', () => {
    const k = kernel('mm', { a: f32('i', 'k'), b: f32('k', 'j') }, ({ a, b }) => ({ c: einsum('ik,kj->ij', a, b) }));
    // 8 rows per thread (2 threads: tile 16), 4 columns per thread (2 threads: tile 8).
    const p = compile(k.trace({ sizes: { i: 16, k: 2, j: 8 } }), { name: 'mm', schedules: { gemm: { tileM: 16, tileN: 8, tileK: 2, threadsM: 2, threadsN: 2 } } });
    const lines = p.kernels[0]!.wgsl.split('\n').map((l) => l.trim());
    expect(lines).toContain('var<workgroup> tile_a: array<vec4<f32>, 8>;');
    expect(lines).toContain('var<workgroup> tile_b: array<vec4<f32>, 4>;');
    // The cooperative loads store one lane of a vec4 each.
    expect(lines).toContain('tile_a[kk * 4u + fi / 4u][fi % 4u] = v;');
    expect(lines).toContain('tile_b[kk * 2u + fi / 4u][fi % 4u] = v;');
    // Thread ty's rows: vec4s ty and ty + 2, that is rows 4ty..4ty+3 and 8+4ty..8+4ty+3.
    const reads = lines.filter((l) => /^(let r[ab]4_|r[ab]\[)/.test(l));
    expect(reads).toEqual([
      'let ra4_0 = tile_a[kk * 4u + ty + 0u];',
      ...[0, 1, 2, 3].map((c) => `ra[${c}] = ra4_0[${c}];`),
      'let ra4_1 = tile_a[kk * 4u + ty + 2u];',
      ...[0, 1, 2, 3].map((c) => `ra[${4 + c}] = ra4_1[${c}];`),
      'let rb4_0 = tile_b[kk * 2u + tx + 0u];',
      ...[0, 1, 2, 3].map((c) => `rb[${c}] = rb4_0[${c}];`),
    ]);
    // The output's last axis (j, 8 long) is the B side's: registers (5, 0..3), row 4ty + 9 and
    // columns 4tx..4tx+3, are stored as one vec4.
    expect(lines).toContain('@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;');
    expect(lines).toContain('let mo5_0 = tm * 16u + ty * 4u + 9u;');
    expect(lines).toContain('let no5_0 = tn * 8u + tx * 4u + 0u;');
    expect(lines).toContain('out[((a0 * 8u + a1)) / 4u] = vec4<f32>(acc[20], acc[21], acc[22], acc[23]);');
    expect(lines.filter((l) => l.startsWith('out['))).toHaveLength(8);
  });

  it('a side one thread wide reads its registers straight from the operand: nothing of it is staged', () => {
    const k = kernel('mm', { a: f32('i', 'k'), b: f32('k', 'j') }, ({ a, b }) => ({ c: einsum('ik,kj->ij', a, b) }));
    // One thread across j (threadsN = 1): each row of A feeds one thread only, so A has no tile.
    const p = compile(k.trace({ sizes: { i: 16, k: 2, j: 8 } }), { name: 'mm', schedules: { gemm: { tileM: 16, tileN: 8, tileK: 2, threadsM: 2, threadsN: 1 } } });
    const lines = p.kernels[0]!.wgsl.split('\n').map((l) => l.trim());
    expect(lines.filter((l) => l.startsWith('var<workgroup>'))).toEqual(['var<workgroup> tile_b: array<vec4<f32>, 4>;']);
    expect(lines.filter((l) => l.startsWith('tile_a'))).toEqual([]);
    // Register 5 of thread ty: row 4ty + 9 (see the vec4 register layout), at k0 + kk, zero past the ends.
    const at = lines.indexOf('let mflat = tm * 16u + ty * 4u + 9u;');
    expect(lines.slice(at, at + 10)).toEqual([
      'let mflat = tm * 16u + ty * 4u + 9u;',
      'let kflat = k0 + kk;',
      'var v: f32 = 0.0f;',
      'if (mflat < 16u && kflat < 2u) {',
      'let a0 = mflat;',
      'let a2 = kflat;',
      'v = in0[(a0 * 2u + a2)];',
      '}',
      'ra[5] = v;',
      '}',
    ]);
    // B is still staged and shared: one barrier after its load, one after the products.
    expect(lines.filter((l) => l === 'workgroupBarrier();')).toHaveLength(2);
    // One thread in all (threadsM = threadsN = 1): both sides direct, no tiles, no barriers.
    const alone = compile(k.trace({ sizes: { i: 16, k: 2, j: 8 } }), { name: 'mm', schedules: { gemm: { tileM: 4, tileN: 4, tileK: 2, threadsM: 1, threadsN: 1 } } }).kernels[0]!.wgsl;
    expect(alone).not.toContain('var<workgroup>');
    expect(alone).not.toContain('workgroupBarrier');
    expect(alone).toContain('rb[3] = v;');
  });

  it('stores four outputs at a time along whichever side holds the output\'s last axis, one at a time where its size is no multiple of 4', () => {
    const k = kernel('mmt', { a: f32('i', 'k'), b: f32('k', 'j') }, ({ a, b }) => ({ c: einsum('ik,kj->ji', a, b) }));
    const gemm = { tileM: 16, tileN: 8, tileK: 2, threadsM: 2, threadsN: 2 };
    // c [j, i]: i, the A side, is contiguous; registers (4..7, 1) are rows 4ty + 8..11 of column 4tx + 1.
    const along = compile(k.trace({ sizes: { i: 16, k: 2, j: 8 } }), { name: 'mmt', schedules: { gemm } }).kernels[0]!.wgsl.split('\n').map((l) => l.trim());
    expect(along).toContain('let mo4_1 = tm * 16u + ty * 4u + 8u;');
    expect(along).toContain('out[((a0 * 16u + a1)) / 4u] = vec4<f32>(acc[17], acc[21], acc[25], acc[29]);');
    const rows = compile(k.trace({ sizes: { i: 18, k: 2, j: 8 } }), { name: 'mmt', schedules: { gemm } }).kernels[0]!.wgsl;
    expect(rows).toContain('var<storage, read_write> out: array<f32>;');
    expect(rows).toContain('out[(a0 * 18u + a1)] = acc[17];');
  });

  it('split-K (symbolic contracted axis): a part per batch index, its chunk of k staged, both operands zero past the end', () => {
    const k = kernel('sk', { a: f32('i', 'j'), b: f32('i', 'k') }, ({ a, b }) => ({ c: einsum('ij,ik->jk', a, b) }));
    const p = compile(k.trace({ sizes: { j: 16, k: 64 } }), { name: 'sk' });
    expect(stepKernels(p).map((x) => x.name)).toEqual(['sk:gemm', 'sk:reduce', 'sk:gemm']);
    const lines = p.kernels[0]!.wgsl.split('\n');
    // The part a3 is the batch index; K is the chunk, 1024, staged 16 at a time.
    expect(lines).toContain('  let a3 = bflat;');
    expect(lines).toContain('  for (var k0 = 0u; k0 < 1024u; k0 += 16u) {');
    // Each operand is read at a3·1024 + a4, clamped, and selected against 0 past the end: a select
    // passes IEEE values through, so the inputs' possible ±∞ and NaN need no xf round trip here.
    expect(lines).toContain('        v = select(0.0f, in0[(u32(clamp(((i32(a3) * 1024i) + i32(a4)), 0i, i32(n0) - 1i)) * 16u + a0)], (((i32(a3) * 1024i) + i32(a4)) < i32(n0)));');
    expect(lines).toContain('        v = select(0.0f, in1[(u32(clamp(((i32(a3) * 1024i) + i32(a4)), 0i, i32(n0) - 1i)) * 64u + a1)], (((i32(a3) * 1024i) + i32(a4)) < i32(n0)));');
    expect(p.kernels[0]!.wgsl).not.toContain('xf');
  });
});

describe('emit-wgsl: flash', () => {
  it('a small schedule in full: Q resident, K then V staged per kv tile, online softmax per row, normalised output', () => {
    const p = compile(attn.trace({ sizes: { d: 2, e: 2 } }), { name: 'attn', schedules: { flash: { rows: 2, threads: 2, across: 2, kvTile: 2, dTile: 2, vTile: 2 } } });
    expect(stepsOf(p)).toEqual(['attn:flash wg={"op":"mul","args":[1,{"op":"ceildiv","args":["n",2]},1]}']);
    // Regions of wgm: scale [0, 2), m [2, 4), l [4, 6), q [6, 10), k and v [10, 16), s [16, 20);
    // the output block is staged over q at the end. The kv tile's key count is an opaque uniform (c0).
    expect(p.kernels[0]!.wgsl).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<f32>;',
      '@group(0) @binding(1) var<storage, read> in1: array<f32>;',
      '@group(0) @binding(2) var<storage, read> in2: array<f32>;',
      '@group(0) @binding(3) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(4) var<uniform> u: Uniforms;',
      'var<workgroup> wgm: array<f32, 20>;',
      'var<private> ts_neg_inf_bits: u32 = 0xff800000u;',
      '@compute @workgroup_size(2, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let n1 = u.w[0].z;',
      '  let c0 = u.w[0].w;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let tiles_t = (n0 + 1u) / 2u;',
      '  let sp = wid % 1u;',
      '  let tt = (wid / 1u) % tiles_t;',
      '  let oflat = (wid / 1u) / tiles_t;',
      '  let tx = lid % 2u;',
      '  let ty = lid / 2u;',
      '  let row0 = tt * 2u;',
      '  var sacc: array<f32, 2>;',
      '  var acc: array<f32, 2>;',
      '  var ra: array<f32, 2>;',
      '  var rb: array<f32, 1>;',
      '  for (var rr = lid; rr < 2u; rr += 2u) {',
      '    wgm[2u + rr] = -3.4028234663852886e+38f;',
      '    wgm[4u + rr] = 0.0f;',
      '  }',
      '  let t_first = i32(row0);',
      '  let t_last = i32(min(row0 + 2u, n0)) - 1i;',
      '  var lo: i32 = 0i;',
      '  var hi: i32 = i32(n1) - 1i;',
      '  for (var e = lid; e < 4u; e += 2u) {',
      '    let qrow = e / 2u;',
      '    let kk = e % 2u;',
      '    let dflat = kk;',
      '    var val: f32 = 0.0f;',
      '    if (dflat < 2u) {',
      '      let a0 = min(row0 + qrow, n0 - 1u);',
      '      let a2 = dflat;',
      '      val = in0[(a0 * 2u + a2)];',
      '    }',
      '    wgm[6u + kk * 2u + qrow] = val;',
      '  }',
      '  let kt_begin = max(lo, 0i) / 2i;',
      '  let kt_end = select(-1i, hi / 2i, hi >= 0i && lo <= hi);',
      '  for (var kt = kt_begin; kt <= kt_end; kt += 1i) {',
      '    let kv0 = u32(kt) * 2u;',
      '    for (var e = lid; e < 4u; e += 2u) {',
      '      let key = e / 2u;',
      '      let kk = e % 2u;',
      '      let dflat = kk;',
      '      let kvi = kv0 + key;',
      '      var val: f32 = 0.0f;',
      '      if (dflat < 2u && kvi < n1) {',
      '        let a1 = kvi;',
      '        let a2 = dflat;',
      '        val = in1[(a1 * 2u + a2)];',
      '      }',
      '      wgm[10u + kk * 2u + key] = val;',
      '    }',
      '    workgroupBarrier();',
      '    sacc[0] = 0.0f;',
      '    sacc[1] = 0.0f;',
      '    let d0 = 0u;',
      '    for (var kk = 0u; kk < c0; kk += 1u) {',
      '      ra[0] = wgm[6u + kk * 2u + ty + 0u];',
      '      ra[1] = wgm[6u + kk * 2u + ty + 1u];',
      '      rb[0] = wgm[10u + kk * 2u + tx + 0u];',
      '      sacc[0] += ra[0] * rb[0];',
      '      sacc[1] += ra[1] * rb[0];',
      '    }',
      '    wgm[16u + (ty + 0u) * 2u + tx + 0u] = sacc[0];',
      '    wgm[16u + (ty + 1u) * 2u + tx + 0u] = sacc[1];',
      '    workgroupBarrier();',
      '    for (var rr = lid; rr < 2u; rr += 2u) {',
      '      let trow = row0 + rr;',
      '      let row_ok = trow < n0;',
      '      let a0 = min(trow, n0 - 1u);',
      '      let m_run = wgm[2u + rr];',
      '      let l_run = wgm[4u + rr];',
      '      var tmax: f32 = -3.4028234663852886e+38f;',
      '      var okbits: u32 = 0u;',
      '      for (var j = 0u; j < c0; j += 1u) {',
      '        let kvi = kv0 + j;',
      '        let a1 = kvi;',
      '        let dot = wgm[16u + rr * 2u + j];',
      '        let sv = dot;',
      '        let okj = row_ok && kvi < n1;',
      '        if (okj) {',
      '          tmax = max(tmax, sv);',
      '          okbits = okbits | (1u << j);',
      '        }',
      '        wgm[16u + rr * 2u + j] = sv;',
      '      }',
      '      let m_new = max(m_run, tmax);',
      '      let alpha = select(0.0f, exp(m_run - m_new), m_run > -3.4028234663852886e+38f);',
      '      var lsum: f32 = 0.0f;',
      '      for (var j = 0u; j < c0; j += 1u) {',
      '        let pj = select(0.0f, exp(wgm[16u + rr * 2u + j] - m_new), ((okbits >> j) & 1u) != 0u);',
      '        lsum += pj;',
      '        wgm[16u + rr * 2u + j] = pj;',
      '      }',
      '      wgm[4u + rr] = l_run * alpha + lsum;',
      '      wgm[2u + rr] = m_new;',
      '      wgm[rr] = alpha;',
      '    }',
      '    for (var e = lid; e < 4u; e += 2u) {',
      '      let key = e / 2u;',
      '      let c = e % 2u;',
      '      let kvi = kv0 + key;',
      '      var val: f32 = 0.0f;',
      '      if (kvi < n1) {',
      '        let a1 = kvi;',
      '        let a3 = c;',
      '        val = in2[(a1 * 2u + a3)];',
      '      }',
      '      wgm[10u + e] = val;',
      '    }',
      '    workgroupBarrier();',
      '    let alpha0 = wgm[ty + 0u];',
      '    acc[0] = acc[0] * alpha0;',
      '    let alpha1 = wgm[ty + 1u];',
      '    acc[1] = acc[1] * alpha1;',
      '    let kc = 0u;',
      '    for (var kk = 0u; kk < c0; kk += 1u) {',
      '      ra[0] = wgm[16u + (ty + 0u) * 2u + kc + kk];',
      '      ra[1] = wgm[16u + (ty + 1u) * 2u + kc + kk];',
      '      rb[0] = wgm[10u + kk * 2u + tx + 0u];',
      '      acc[0] += ra[0] * rb[0];',
      '      acc[1] += ra[1] * rb[0];',
      '    }',
      '    workgroupBarrier();',
      '  }',
      '  for (var rr = lid; rr < 2u; rr += 2u) {',
      '    let trow = row0 + rr;',
      '    let row_ok = trow < n0;',
      '    let a0 = min(trow, n0 - 1u);',
      '    let m_run = wgm[2u + rr];',
      '    let l_run = wgm[4u + rr];',
      '    wgm[rr] = select(0.0f, 1.0f / l_run, l_run > 0.0f);',
      '  }',
      '  wgm[6u + (ty + 0u) * 2u + tx + 0u] = acc[0];',
      '  wgm[6u + (ty + 1u) * 2u + tx + 0u] = acc[1];',
      '  workgroupBarrier();',
      '  for (var e = lid; e < 4u; e += 2u) {',
      '    let r = e / 2u;',
      '    let col = e % 2u;',
      '    if (row0 + r < n0) {',
      '      let a0 = min(row0 + r, n0 - 1u);',
      '      let a3 = col;',
      '      out[(a0 * 2u + a3)] = wgm[6u + e] * wgm[r];',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'));
  });

  it('a symbolic query axis gets the long-query variant (≥ 256 rows) and the short one, guarded by the size', () => {
    const p = compile(attn.trace({ sizes: { d: 2, e: 2 } }), { name: 'attn' });
    expect(stepsOf(p)).toEqual([
      'attn:flash wg={"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},1]} when={"size":"n","atLeast":256}',
      'attn:flash wg={"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},1]} when={"size":"n","below":256}',
    ]);
    const [long, short] = p.kernels;
    // Long: 32 rows on 8 threads, 4 across (16 × 8 scores per thread); short: one thread per row, 8
    // across (8 × 4 scores per thread).
    expect(long!.workgroupSize).toEqual([8, 1, 1]);
    expect(short!.workgroupSize).toEqual([32, 1, 1]);
    expect(long!.wgsl).toContain('var sacc: array<f32, 128>;');
    expect(short!.wgsl).toContain('var sacc: array<f32, 32>;');
    for (const k of [long!, short!]) expect(k.wgsl).toContain('for (var kt = kt_begin; kt <= kt_end; kt += 1i) {');
  });
});

describe('emit-wgsl: flash-combine (split-KV)', () => {
  it('a decode shape (one static query row, a symbolic kv axis) splits kv into 16 parts and merges them by log-sum-exp', () => {
    const p = compile(attn.trace({ sizes: { n: 1, d: 2, e: 2 } }), { name: 'decode' });
    expect(stepsOf(p)).toEqual(['decode:flash wg={"op":"mul","args":[1,{"op":"ceildiv","args":[1,1]},16]}', 'decode:flash-combine wg={"op":"ceildiv","args":[1,64]}']);
    // The split kernel writes (max, sum, accumulator) per part: slots 0, 1, then 2.. of each row.
    expect(wgslOf(p, 'decode:flash')).toContain('out[((a0 * 16u + sp) * 4u + 0u)] = m_run;');
    // Partials [row, 16 parts, 2 + E slots]: max over parts with a non-zero sum, weights, the merged row.
    expect(wgslOf(p, 'decode:flash-combine')).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<f32>;',
      '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
      '@group(0) @binding(2) var<uniform> u: Uniforms;',
      'var<private> ts_neg_inf_bits: u32 = 0xff800000u;',
      '@compute @workgroup_size(64, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let r = wid * 64u + lid;',
      '  if (r >= 1u) {',
      '    return;',
      '  }',
      '  let a0 = r;',
      '  var mx: f32 = -3.4028234663852886e+38f;',
      '  for (var sp = 0u; sp < 16u; sp += 1u) {',
      '    if (in0[((a0 * 16u + sp) * 4u + 1u)] > 0.0f) {',
      '      mx = max(mx, in0[((a0 * 16u + sp) * 4u + 0u)]);',
      '    }',
      '  }',
      '  var w: array<f32, 16>;',
      '  var total: f32 = 0.0f;',
      '  for (var sp = 0u; sp < 16u; sp += 1u) {',
      '    let ls = in0[((a0 * 16u + sp) * 4u + 1u)];',
      '    w[sp] = select(0.0f, exp(in0[((a0 * 16u + sp) * 4u + 0u)] - mx), ls > 0.0f);',
      '    total += w[sp] * ls;',
      '  }',
      '  let inv = select(0.0f, 1.0f / total, total > 0.0f);',
      '  for (var ee = 0u; ee < 2u; ee += 1u) {',
      '    var o: f32 = 0.0f;',
      '    for (var sp = 0u; sp < 16u; sp += 1u) {',
      '      o += w[sp] * in0[((a0 * 16u + sp) * 4u + ee + 2u)];',
      '    }',
      '    let a3 = ee;',
      '    out[(a0 * 2u + a3)] = o * inv;',
      '  }',
      '}',
      '',
    ].join('\n'));
  });
});

describe('emit-wgsl: block masks', () => {
  const p = compile(docAttn.trace({ sizes: { d: 2, e: 2 } }), { name: 'doc' });

  it('a mask read from tensors is classified per block and compacted before the flash variants', () => {
    expect(stepsOf(p)).toEqual([
      'doc:mask-classify wg={"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["m",32]}]}',
      'doc:mask-compact wg={"op":"ceildiv","args":[{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]}]},64]}',
      'doc:flash wg={"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},1]} when={"size":"n","atLeast":256}',
      'doc:flash wg={"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},1]} when={"size":"n","below":256}',
    ]);
    // The flash kernels visit only the listed kv tiles and skip the mask on full ones.
    for (const k of p.kernels.filter((k) => k.name === 'doc:flash')) {
      expect(k.wgsl).toContain('let n_blocks = workgroupUniformLoad(&wg_count);');
      expect(k.wgsl).toContain('let okj = row_ok && kvi < n1 && (full || (in3[a0] == in4[a1]));');
    }
  });

  it('mask-classify: one workgroup per (query tile, kv tile) block, one thread per row, counting allowed pairs', () => {
    // 0 empty, 1 partial, 2 full: full when every (row, key) inside the axes is allowed.
    expect(wgslOf(p, 'doc:mask-classify')).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<i32>;',
      '@group(0) @binding(1) var<storage, read> in1: array<i32>;',
      '@group(0) @binding(2) var<storage, read_write> out: array<u32>;',
      '@group(0) @binding(3) var<uniform> u: Uniforms;',
      'var<workgroup> n_valid: atomic<u32>;',
      '@compute @workgroup_size(32, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let n1 = u.w[0].z;',
      '  let c0 = u.w[0].w;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let kt = wid % ((n1 + 31u) / 32u);',
      '  let qt = (wid / ((n1 + 31u) / 32u)) % ((n0 + 31u) / 32u);',
      '  let mo = (wid / ((n1 + 31u) / 32u)) / ((n0 + 31u) / 32u);',
      '  let trow = qt * 32u + lid;',
      '  var cnt: u32 = 0u;',
      '  if (trow < n0) {',
      '    let a0 = trow;',
      '    for (var j = 0u; j < c0; j += 1u) {',
      '      let kvi = kt * 32u + j;',
      '      if (kvi < n1) {',
      '        let a1 = kvi;',
      '        if ((in0[a0] == in1[a1])) {',
      '          cnt += 1u;',
      '        }',
      '      }',
      '    }',
      '  }',
      '  let added = atomicAdd(&n_valid, cnt);',
      '  workgroupBarrier();',
      '  if (lid == 0u) {',
      '    let rows_in = min(n0 - qt * 32u, 32u);',
      '    let keys_in = min(n1 - kt * 32u, 32u);',
      '    let nv = atomicLoad(&n_valid);',
      '    out[wid] = select(select(1u, 2u, nv == rows_in * keys_in), 0u, nv == 0u);',
      '  }',
      '}',
      '',
    ].join('\n'));
  });

  it('mask-compact: one thread per query tile lists its non-empty kv tiles (bit 31: full) and counts them', () => {
    expect(wgslOf(p, 'doc:mask-compact')).toBe([
      'struct Uniforms {',
      '  w: array<vec4<u32>, 1>,',
      '}',
      '@group(0) @binding(0) var<storage, read> in0: array<u32>;',
      '@group(0) @binding(1) var<storage, read_write> out: array<u32>;',
      '@group(0) @binding(2) var<storage, read_write> out1: array<u32>;',
      '@group(0) @binding(3) var<uniform> u: Uniforms;',
      '@compute @workgroup_size(64, 1, 1)',
      'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {',
      '  let total_wg = u.w[0].x;',
      '  let n0 = u.w[0].y;',
      '  let n1 = u.w[0].z;',
      '  let wid = wg.x + wg.y * nwg.x;',
      '  if (wid >= total_wg) {',
      '    return;',
      '  }',
      '  let r = wid * 64u + lid;',
      '  if (r >= 1u * ((n0 + 31u) / 32u)) {',
      '    return;',
      '  }',
      '  let nkt = ((n1 + 31u) / 32u);',
      '  var count: u32 = 0u;',
      '  for (var kt = 0u; kt < nkt; kt += 1u) {',
      '    let c = in0[r * nkt + kt];',
      '    if (c != 0u) {',
      '      out[r * nkt + count] = select(kt, kt | 0x80000000u, c == 2u);',
      '      count += 1u;',
      '    }',
      '  }',
      '  out1[r] = count;',
      '}',
      '',
    ].join('\n'));
  });
});

describe('emit-wgsl: row-block', () => {
  // softmax over j (2 outputs) of x·wᵀ, then its contraction with x and its sum over the inputs i.
  const k = kernel('route', { x: f32('i', 'd'), w: f32('j', 'd') }, ({ x, w }) => {
    const p = softmax(einsum('id,jd->ij', x, w), 'j');
    return { y: einsum('ij,id->jd', p, x), total: sum(p, 'i') };
  });

  it('stages per row on chip, the invariant read four k at a time, finals folded per part of 1024 rows', () => {
    // 32 threads for the 64 rows of a block, so each computes two rows' stages (the default is 16).
    const p = compile(k.trace({ sizes: { j: 2, d: 4 } }), { name: 'route', schedules: { rowBlock: { threads: 32 } } });
    expect(stepKernels(p).map((x) => x.name)).toEqual(['route:row-block', 'route:reduce', 'route:reduce']);
    // What to look for: w copied once into workgroup memory as vec4s (inv5); per block of 64 rows
    // each thread computes the scores of its two rows (lid and lid + 32: four accumulators, k four
    // at a time by dot, one read of w for both rows), then row by row the max and sum in xf (x may
    // hold ±∞, so the scores may too) in private arrays indexed by the row's rp, and the normalised
    // weights into workgroup memory (loc4, the one local a final reads), what a row's elements share
    // computed once before their loop (hs2_0 the shift, reused by the next stage; hs3_0 the divisor); after a barrier the
    // contraction's 2 × 4 outputs on an 8 × 4 thread grid and the sum's two outputs fold the block's
    // rows; at the end each part's partials are written.
    expect(wgslOf(p, 'route:row-block').trimEnd().split('\n')).toEqual([
      "struct Uniforms {",
      "  w: array<vec4<u32>, 1>,",
      "}",
      "@group(0) @binding(0) var<storage, read> in0: array<f32>;",
      "@group(0) @binding(1) var<storage, read> in1: array<f32>;",
      "@group(0) @binding(2) var<storage, read_write> out: array<f32>;",
      "@group(0) @binding(3) var<storage, read_write> out1: array<f32>;",
      "@group(0) @binding(4) var<uniform> u: Uniforms;",
      "var<workgroup> inv5: array<vec4<f32>, 2>;",
      "var<workgroup> loc4: array<f32, 128>;",
      "struct xf {",
      "  v: f32,",
      "  c: u32,",
      "}",
      "fn xf_add(a: xf, b: xf) -> xf {",
      "  if ((a.c | b.c) == 0u) { return xf_of(a.v + b.v); }",
      "  return xf(0.0f, a.c | b.c);",
      "}",
      "// The IEEE value of an xf, non-finite classes written as bit patterns (for storage).",
      "fn xf_bits(x: xf) -> f32 {",
      "  if (x.c == 0u) { return x.v; }",
      "  return bitcast<f32>(select(select(0x7fc00000u, 0xff800000u, x.c == 2u), 0x7f800000u, x.c == 1u));",
      "}",
      "fn xf_div(a: xf, b: xf) -> xf {",
      "  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }",
      "  if ((a.c | b.c) == 0u) {",
      "    if (b.v != 0.0f) { return xf_of(a.v / b.v); }",
      "    if (a.v == 0.0f) { return xf(0.0f, 3u); }",
      "    return xf(0.0f, select(1u, 2u, a.v < 0.0f));",
      "  }",
      "  if (a.c != 0u && b.c != 0u) { return xf(0.0f, 3u); }",
      "  if (b.c != 0u) { return xf(0.0f, 0u); }",
      "  return xf(0.0f, select(1u, 2u, xf_signbit(a) != (b.v < 0.0f)));",
      "}",
      "fn xf_exp(a: xf) -> xf {",
      "  if (a.c == 1u) { return xf(0.0f, 1u); }",
      "  if (a.c == 2u) { return xf(0.0f, 0u); }",
      "  if (a.c == 3u) { return xf(0.0f, 3u); }",
      "  return xf_of(exp(a.v));",
      "}",
      "fn xf_is_finite(a: xf) -> bool {",
      "  return a.c == 0u;",
      "}",
      "fn xf_max(a: xf, b: xf) -> xf {",
      "  if (a.c == 3u || b.c == 3u) { return xf(0.0f, 3u); }",
      "  let ra = xf_rank(a);",
      "  let rb = xf_rank(b);",
      "  if (ra > rb) { return a; }",
      "  if (ra < rb) { return b; }",
      "  return xf(max(a.v, b.v), a.c);",
      "}",
      "fn xf_neg(a: xf) -> xf {",
      "  return xf(-a.v, ((a.c & 1u) << 1u) | ((a.c & 2u) >> 1u));",
      "}",
      "// Classifies a hardware f32 by its bits (integer logic, never folded away).",
      "fn xf_of(v: f32) -> xf {",
      "  let b = bitcast<u32>(v);",
      "  if ((b & 0x7f800000u) != 0x7f800000u) { return xf(v, 0u); }",
      "  if ((b & 0x007fffffu) != 0u) { return xf(0.0f, 3u); }",
      "  return xf(0.0f, select(1u, 2u, (b >> 31u) != 0u));",
      "}",
      "fn xf_rank(a: xf) -> i32 {",
      "  return select(select(0i, -1i, a.c == 2u), 1i, a.c == 1u);",
      "}",
      "fn xf_select(f: xf, t: xf, c: bool) -> xf {",
      "  if (c) { return t; }",
      "  return f;",
      "}",
      "fn xf_signbit(a: xf) -> bool {",
      "  return a.c == 2u || (a.c == 0u && a.v < 0.0f);",
      "}",
      "fn xf_sub(a: xf, b: xf) -> xf {",
      "  return xf_add(a, xf_neg(b));",
      "}",
      "@compute @workgroup_size(32, 1, 1)",
      "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
      "  let total_wg = u.w[0].x;",
      "  let n0 = u.w[0].y;",
      "  let wid = wg.x + wg.y * nwg.x;",
      "  if (wid >= total_wg) {",
      "    return;",
      "  }",
      "  let part = wid;",
      "  let nrows = n0;",
      "  var loc1: array<f32, 4>;",
      "  var loc2: array<f32, 2>;",
      "  var loc3: array<f32, 2>;",
      "  for (var ei0 = lid; ei0 < 8u; ei0 += 32u) {",
      "    var rem_ei0: u32 = ei0;",
      "    let a2 = rem_ei0 % 4u;",
      "    rem_ei0 = rem_ei0 / 4u;",
      "    let a1 = rem_ei0;",
      "    inv5[(a1 * 4u + a2) / 4u][(a1 * 4u + a2) % 4u] = in1[(a1 * 4u + a2)];",
      "  }",
      "  workgroupBarrier();",
      "  let txf0 = lid % 4u;",
      "  let tyf0 = lid / 4u;",
      "  var f0_0_0: f32 = 0.0f;",
      "  var f1_0: xf = xf(0.0f, 0u);",
      "  for (var blk = 0u; blk < 16u; blk += 1u) {",
      "    let row0 = part * 1024u + blk * 64u;",
      "    if (row0 >= nrows) {",
      "      break;",
      "    }",
      "    {",
      "      var dots0_0_0: f32 = 0.0f;",
      "      var dots0_1_0: f32 = 0.0f;",
      "      var dots0_0_1: f32 = 0.0f;",
      "      var dots0_1_1: f32 = 0.0f;",
      "      for (var ks0 = 0u; ks0 < 1u; ks0 += 1u) {",
      "        var avs0_0: vec4<f32>;",
      "        {",
      "          let rp = 0u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 0u;",
      "          let a2 = kfs0;",
      "          avs0_0.x = in0[(row * 4u + a2)];",
      "        }",
      "        {",
      "          let rp = 0u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 1u;",
      "          let a2 = kfs0;",
      "          avs0_0.y = in0[(row * 4u + a2)];",
      "        }",
      "        {",
      "          let rp = 0u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 2u;",
      "          let a2 = kfs0;",
      "          avs0_0.z = in0[(row * 4u + a2)];",
      "        }",
      "        {",
      "          let rp = 0u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 3u;",
      "          let a2 = kfs0;",
      "          avs0_0.w = in0[(row * 4u + a2)];",
      "        }",
      "        var avs0_1: vec4<f32>;",
      "        {",
      "          let rp = 1u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 0u;",
      "          let a2 = kfs0;",
      "          avs0_1.x = in0[(row * 4u + a2)];",
      "        }",
      "        {",
      "          let rp = 1u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 1u;",
      "          let a2 = kfs0;",
      "          avs0_1.y = in0[(row * 4u + a2)];",
      "        }",
      "        {",
      "          let rp = 1u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 2u;",
      "          let a2 = kfs0;",
      "          avs0_1.z = in0[(row * 4u + a2)];",
      "        }",
      "        {",
      "          let rp = 1u;",
      "          let row = row0 + lid + rp * 32u;",
      "          let kfs0 = ks0 * 4u + 3u;",
      "          let a2 = kfs0;",
      "          avs0_1.w = in0[(row * 4u + a2)];",
      "        }",
      "        {",
      "          let a1 = 0u;",
      "          let ws0 = inv5[a1 * 1u + ks0];",
      "          dots0_0_0 += dot(avs0_0, ws0);",
      "          dots0_0_1 += dot(avs0_1, ws0);",
      "        }",
      "        {",
      "          let a1 = 1u;",
      "          let ws0 = inv5[a1 * 1u + ks0];",
      "          dots0_1_0 += dot(avs0_0, ws0);",
      "          dots0_1_1 += dot(avs0_1, ws0);",
      "        }",
      "      }",
      "      {",
      "        let rp = 0u;",
      "        let row = row0 + lid + rp * 32u;",
      "        if (row < nrows) {",
      "          {",
      "            let a1 = 0u;",
      "            loc1[rp * 2u + a1] = dots0_0_0;",
      "          }",
      "          {",
      "            let a1 = 1u;",
      "            loc1[rp * 2u + a1] = dots0_1_0;",
      "          }",
      "        }",
      "      }",
      "      {",
      "        let rp = 1u;",
      "        let row = row0 + lid + rp * 32u;",
      "        if (row < nrows) {",
      "          {",
      "            let a1 = 0u;",
      "            loc1[rp * 2u + a1] = dots0_0_1;",
      "          }",
      "          {",
      "            let a1 = 1u;",
      "            loc1[rp * 2u + a1] = dots0_1_1;",
      "          }",
      "        }",
      "      }",
      "    }",
      "    for (var rpi = 0u; rpi < 2u; rpi += 1u) {",
      "      let rp = rpi;",
      "      let row = row0 + lid + rp * 32u;",
      "      if (row < nrows) {",
      "        for (var es1 = 0u; es1 < 1u; es1 += 1u) {",
      "          var accs1: xf = xf(0.0f, 2u);",
      "          for (var rs1 = 0u; rs1 < 2u; rs1 += 1u) {",
      "            let a1 = rs1;",
      "            accs1 = xf_max(accs1, xf_of(loc1[rp * 2u + a1]));",
      "          }",
      "          loc2[rp * 1u + 0u] = xf_bits(accs1);",
      "        }",
      "        let hs2_0 = xf_select(xf(0.0f, 0u), xf_of(loc2[rp * 1u + 0u]), xf_is_finite(xf_of(loc2[rp * 1u + 0u])));",
      "        for (var es2 = 0u; es2 < 1u; es2 += 1u) {",
      "          var accs2: xf = xf(0.0f, 0u);",
      "          for (var rs2 = 0u; rs2 < 2u; rs2 += 1u) {",
      "            let a1 = rs2;",
      "            accs2 = xf_add(accs2, xf_exp(xf_sub(xf_of(loc1[rp * 2u + a1]), hs2_0)));",
      "          }",
      "          loc3[rp * 1u + 0u] = xf_bits(accs2);",
      "        }",
      "        let hs3_0 = xf_max(xf_of(loc3[rp * 1u + 0u]), xf(1.0f, 0u));",
      "        for (var es3 = 0u; es3 < 2u; es3 += 1u) {",
      "          let a1 = es3;",
      "          loc4[((row - row0) * 2u + a1)] = xf_bits(xf_div(xf_exp(xf_sub(xf_of(loc1[rp * 2u + a1]), hs2_0)), hs3_0));",
      "        }",
      "      }",
      "    }",
      "    workgroupBarrier();",
      "    let rend = min(64u, nrows - row0);",
      "    for (var r = 0u; r < rend; r += 1u) {",
      "      let row = row0 + r;",
      "      var vaf0_0: f32;",
      "      {",
      "        let vaf0_0_at = min(tyf0 + 0u, 1u);",
      "        let a0 = vaf0_0_at;",
      "        vaf0_0 = loc4[((row - row0) * 2u + a0)];",
      "      }",
      "      var vbf0_0: f32;",
      "      {",
      "        let vbf0_0_at = min(txf0 + 0u, 3u);",
      "        let a1 = vbf0_0_at;",
      "        vbf0_0 = in0[(row * 4u + a1)];",
      "      }",
      "      f0_0_0 += vaf0_0 * vbf0_0;",
      "    }",
      "    {",
      "      let of1_0 = lid + 0u;",
      "      if (of1_0 < 2u) {",
      "        let a0 = of1_0;",
      "        for (var r = 0u; r < rend; r += 1u) {",
      "          let row = row0 + r;",
      "          f1_0 = xf_add(f1_0, xf_of(loc4[((row - row0) * 2u + a0)]));",
      "        }",
      "      }",
      "    }",
      "    workgroupBarrier();",
      "  }",
      "  if (tyf0 + 0u < 2u && txf0 + 0u < 4u) {",
      "    let mof0_0_0 = tyf0 + 0u;",
      "    let nof0_0_0 = txf0 + 0u;",
      "    let a0 = mof0_0_0;",
      "    let a1 = nof0_0_0;",
      "    out[part * 8u + (a0 * 4u + a1)] = f0_0_0;",
      "  }",
      "  if (lid + 0u < 2u) {",
      "    let wf1_0 = lid + 0u;",
      "    let a0 = wf1_0;",
      "    out1[part * 2u + a0] = xf_bits(f1_0);",
      "  }",
      "}",
    ]);
  });

  it('by default 16 threads each compute the stages of four rows', () => {
    const p = compile(k.trace({ sizes: { j: 2, d: 4 } }), { name: 'route' });
    const lines = wgslOf(p, 'route:row-block').split('\n');
    expect(lines).toContain('@compute @workgroup_size(16, 1, 1)');
    expect(lines).toContain('    for (var rpi = 0u; rpi < 4u; rpi += 1u) {');
    expect(lines.filter((l) => l.startsWith('        var avs0_'))).toEqual(['        var avs0_0: vec4<f32>;', '        var avs0_1: vec4<f32>;', '        var avs0_2: vec4<f32>;', '        var avs0_3: vec4<f32>;']);
  });
});
