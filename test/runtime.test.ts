/**
 * The runtime on hand-written Programs (small WGSL kernels written here, not by the compiler), so
 * it is tested independently of the compiler: uploads and readback, uniforms, loops and copies,
 * large dispatches, the buffer pool, every class of error, and the CPU backend.
 */
import { describe, expect, it } from 'vitest';
import { add, mul } from '../dsl/ops.ts';
import { f32, kernel, param } from '../dsl/kernel.ts';
import type { Graph } from '../dsl/ir.ts';
import { TesseraError, type DType } from '../dsl/types.ts';
import { formatBytes, formatWgslListing } from '../runtime/format.ts';
import {
  DEFAULT_LIMITS,
  WebGPUError,
  backendFor,
  createBackend,
  createCpuBackend,
  createWebGPUBackend,
  planRun,
  validateProgram,
  workgroupGrid,
  type Program,
  type ProgramKernel,
  type Step,
  type UniformWord,
} from '../runtime/index.ts';
import { planKey } from '../runtime/plan.ts';
import { describeGPU } from './gpu.ts';

const EMPTY_GRAPH: Graph = { nodes: [], outputs: {} };

/**
 * One dispatch binding buffer `id` whole (a storage binding of its full size): what makes a
 * buffer larger than `maxStorageBufferBindingSize` an error. Buffers that are only read back, or
 * bound a chunk at a time, may be larger (see chunked-dispatch.test.ts).
 */
function fillingWhole(id: number): Pick<Program, 'kernels' | 'steps'> {
  const kernel: ProgramKernel = {
    name: 'fill',
    entryPoint: 'main',
    workgroupSize: [64, 1, 1],
    bindings: ['read_write'],
    uniformWords: 0,
    wgsl: '@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n@compute @workgroup_size(64) fn main() { x[0] = 1.0; }',
  };
  return { kernels: [kernel], steps: [{ kind: 'dispatch', kernel: 0, label: 'fill', buffers: [id], uniforms: [], workgroups: 1 }] };
}

/** A Program with the boilerplate filled in. */
function program(p: Omit<Program, 'format' | 'version' | 'params' | 'graph'> & Partial<Pick<Program, 'params' | 'graph'>>): Program {
  return { format: 'tessera-program', version: 1, params: [], graph: EMPTY_GRAPH, ...p };
}

/** The linear workgroup id, as the Program format asks shaders to compute it. */
const LINEAR_ID = 'let gid = wg.x + wg.y * nwg.x;';
const BUILTINS = '@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32';

/** y = x * alpha over n elements, 64 lanes per workgroup; uniforms: n (a size) and alpha (an f32 param). */
const SCALE: ProgramKernel = {
  name: 'scale',
  entryPoint: 'main',
  workgroupSize: [64, 1, 1],
  bindings: ['read', 'read_write'],
  uniformWords: 2,
  wgsl: `struct U { n: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(64) fn main(${BUILTINS}) {
  ${LINEAR_ID}
  let i = gid * 64u + li;
  if (i >= u.n) { return; }
  y[i] = x[i] * u.alpha;
}`,
};

const scaleKernel = kernel('scale', { x: f32('n'), alpha: param() }, ({ x, alpha }) => mul(x, alpha));

const bytesN = { op: 'mul', args: ['n', 4] } as const;

/**
 * One kernel over n elements, input buffer 0 to output buffer 1, one dispatch of ⌈n / 64⌉
 * workgroups: the shape of the scale and mixed programs.
 */
function mapProgram(p: {
  name: string;
  input: { name: string; dtype: DType };
  output: string;
  params: Program['params'];
  kernel: ProgramKernel;
  label: string;
  uniforms: UniformWord[];
  graph?: Graph;
}): Program {
  return program({
    name: p.name,
    inputs: [{ name: p.input.name, dtype: p.input.dtype, axes: ['n'], shape: ['n'], buffer: 0 }],
    params: p.params,
    outputs: [{ name: p.output, dtype: 'f32', axes: ['n'], shape: ['n'], buffer: 1 }],
    buffers: [
      { id: 0, bytes: bytesN, role: 'input', label: p.input.name },
      { id: 1, bytes: bytesN, role: 'output', label: p.output },
    ],
    kernels: [p.kernel],
    steps: [{ kind: 'dispatch', kernel: 0, label: p.label, buffers: [0, 1], uniforms: p.uniforms, workgroups: { op: 'ceildiv', args: ['n', 64] } }],
    ...(p.graph ? { graph: p.graph } : {}),
  });
}

const scaleProgram = mapProgram({
  name: 'scale',
  input: { name: 'x', dtype: 'f32' },
  output: 'out',
  params: [{ name: 'alpha', dtype: 'f32' }],
  kernel: SCALE,
  label: 'scale x',
  uniforms: [{ size: 'n' }, { param: 'alpha' }],
  graph: scaleKernel.trace(),
});

/** The scale program's dispatch, which the malformed-program cases edit. */
const scaleStep = scaleProgram.steps[0] as Step & { kind: 'dispatch' };

/** Every uniform word kind: y = f32(x + off * three) * half, with off an i32 param. */
const MIXED: ProgramKernel = {
  name: 'mixed',
  entryPoint: 'main',
  workgroupSize: [64, 1, 1],
  bindings: ['read', 'read_write'],
  uniformWords: 4,
  wgsl: `struct U { n: u32, off: i32, three: u32, half: f32 }
@group(0) @binding(0) var<storage, read> x: array<i32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(64) fn main(${BUILTINS}) {
  ${LINEAR_ID}
  let i = gid * 64u + li;
  if (i >= u.n) { return; }
  y[i] = f32(x[i] + u.off * i32(u.three)) * u.half;
}`,
};

const mixedProgram = mapProgram({
  name: 'mixed',
  input: { name: 'x', dtype: 'i32' },
  output: 'y',
  params: [{ name: 'off', dtype: 'i32' }],
  kernel: MIXED,
  label: 'mixed',
  uniforms: [{ size: 'n' }, { param: 'off' }, { u32: 3 }, { f32: 0.5 }],
});

/** b = a * 2 over n elements; used by the loop program. */
const DOUBLE: ProgramKernel = {
  name: 'double',
  entryPoint: 'main',
  workgroupSize: [64, 1, 1],
  bindings: ['read', 'read_write'],
  uniformWords: 1,
  wgsl: `struct U { n: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(64) fn main(${BUILTINS}) {
  ${LINEAR_ID}
  let i = gid * 64u + li;
  if (i >= u.n) { return; }
  b[i] = a[i] * 2.0;
}`,
};

/**
 * Busy work for the profiler: each of SPIN_LANES lanes iterates a multiply-add `iters` times (a
 * literal uniform), so a dispatch's GPU time grows with `iters`; y = the result.
 */
const SPIN: ProgramKernel = {
  name: 'spin',
  entryPoint: 'main',
  workgroupSize: [64, 1, 1],
  bindings: ['read', 'read_write'],
  uniformWords: 2,
  wgsl: `struct U { n: u32, iters: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(64) fn main(${BUILTINS}) {
  ${LINEAR_ID}
  let i = gid * 64u + li;
  if (i >= u.n) { return; }
  var acc = x[i];
  for (var k = 0u; k < u.iters; k++) { acc = fma(acc, 0.999, 0.001); }
  y[i] = acc;
}`,
};
const SPIN_LANES = 4096;
const SPIN_LIGHT = 1;
const SPIN_HEAVY = 20000;
const spinStep = (label: string, iters: number): Step => ({
  kind: 'dispatch',
  kernel: 0,
  label,
  buffers: [0, 1],
  uniforms: [{ size: 'n' }, { u32: iters }],
  workgroups: { op: 'ceildiv', args: ['n', 64] },
});
/** A program from f32 x [n] (buffer 0) to y [n] (buffer 1), with a temp of the same size (buffer 2) where `temp` names it. */
function xToY(name: string, kernels: ProgramKernel[], steps: Step[], temp?: string): Program {
  return program({
    name,
    inputs: [{ name: 'x', dtype: 'f32', axes: ['n'], shape: ['n'], buffer: 0 }],
    outputs: [{ name: 'y', dtype: 'f32', axes: ['n'], shape: ['n'], buffer: 1 }],
    buffers: [
      { id: 0, bytes: bytesN, role: 'input', label: 'x' },
      { id: 1, bytes: bytesN, role: 'output', label: 'y' },
      ...(temp ? [{ id: 2, bytes: bytesN, role: 'temp' as const, label: temp }] : []),
    ],
    kernels,
    steps,
  });
}

/** Three dispatches of the spin kernel: light, heavy, light. */
const spinProgram = xToY('spin', [SPIN], [spinStep('light before', SPIN_LIGHT), spinStep('heavy', SPIN_HEAVY), spinStep('light after', SPIN_LIGHT)]);

/** y = x * 2^3: x is copied into a temp t, then three times: y = double(t); t = y. */
const loopProgram = xToY(
  'loop',
  [DOUBLE],
  [
    { kind: 'copy', label: 'init carry', src: 0, dst: 2, bytes: bytesN },
    {
      kind: 'loop',
      label: 'three doublings',
      count: 3,
      body: [
        { kind: 'dispatch', kernel: 0, label: 'double', buffers: [2, 1], uniforms: [{ size: 'n' }], workgroups: { op: 'ceildiv', args: ['n', 64] } },
        { kind: 'copy', label: 'carry y', src: 1, dst: 2, bytes: bytesN },
      ],
    },
  ],
  'carry',
);

/** t += x (so a temp that is not zeroed at the start of a run shows), then y = t + 1. */
const ACCUMULATE: ProgramKernel = {
  ...DOUBLE,
  name: 'accumulate',
  bindings: ['read', 'read_write'],
  wgsl: DOUBLE.wgsl.replace('b[i] = a[i] * 2.0;', 'b[i] = b[i] + a[i];'),
};
const PLUS_ONE: ProgramKernel = { ...DOUBLE, name: 'plus_one', wgsl: DOUBLE.wgsl.replace('b[i] = a[i] * 2.0;', 'b[i] = a[i] + 1.0;') };

const tempProgram = xToY(
  'temps',
  [ACCUMULATE, PLUS_ONE],
  [
    { kind: 'dispatch', kernel: 0, label: 'accumulate', buffers: [0, 2], uniforms: [{ size: 'n' }], workgroups: { op: 'ceildiv', args: ['n', 64] } },
    { kind: 'dispatch', kernel: 1, label: 'plus one', buffers: [2, 1], uniforms: [{ size: 'n' }], workgroups: { op: 'ceildiv', args: ['n', 64] } },
  ],
  'scratch',
);

/** y = y + x: the output read before it is written, so a reused output buffer must be cleared. */
const accumulateProgram = xToY('accum', [ACCUMULATE], [{ kind: 'dispatch', kernel: 0, label: 'accumulate', buffers: [0, 1], uniforms: [{ size: 'n' }], workgroups: { op: 'ceildiv', args: ['n', 64] } }]);

/** out[id] = id for `total` workgroups of one lane each: proves the (x, y) split past 65535. */
const IDS: ProgramKernel = {
  name: 'ids',
  entryPoint: 'main',
  workgroupSize: [1, 1, 1],
  bindings: ['read_write'],
  uniformWords: 1,
  wgsl: `struct U { total: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> u: U;
@compute @workgroup_size(1) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  ${LINEAR_ID}
  if (gid >= u.total) { return; }
  out[gid] = gid;
}`,
};

function idsProgram(total: number): Program {
  return program({
    name: 'ids',
    inputs: [],
    outputs: [{ name: 'ids', dtype: 'u32', axes: ['i'], shape: [total], buffer: 0 }],
    buffers: [{ id: 0, bytes: total * 4, role: 'output', label: 'ids' }],
    kernels: [IDS],
    steps: [{ kind: 'dispatch', kernel: 0, label: 'write ids', buffers: [0], uniforms: [{ u32: total }], workgroups: total }],
  });
}

/** Two inputs sharing the symbol n, for the binding errors. */
const addProgram = program({
  name: 'add',
  inputs: [
    { name: 'x', dtype: 'f32', axes: ['n'], shape: ['n'], buffer: 0 },
    { name: 'y', dtype: 'f32', axes: ['n'], shape: ['n'], buffer: 1 },
  ],
  outputs: [{ name: 'out', dtype: 'f32', axes: ['n'], shape: ['n'], buffer: 2 }],
  buffers: [
    { id: 0, bytes: bytesN, role: 'input', label: 'x' },
    { id: 1, bytes: bytesN, role: 'input', label: 'y' },
    { id: 2, bytes: bytesN, role: 'output', label: 'out' },
  ],
  kernels: [],
  steps: [],
  graph: kernel('add', { x: f32('n'), y: f32('n') }, ({ x, y }) => add(x, y)).trace(),
});

function ramp(n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (i - n / 3) * scale);
}

// ---- pure parts: no device needed ------------------------------------------------------------------

describe('planning a run (no device)', () => {
  it('splits workgroup counts past the per-dimension limit into (x, y)', () => {
    expect(workgroupGrid(70000, 65535)).toEqual([65535, 2]);
    expect(workgroupGrid(65535, 65535)).toEqual([65535, 1]);
    expect(workgroupGrid(7, 65535)).toEqual([7, 1]);
    expect(workgroupGrid(0, 65535)).toEqual([0, 0]);
  });

  it('evaluates buffer sizes, workgroups and uniform words (f32 params as their bits, padded to 16 bytes)', () => {
    const plan = planRun(scaleProgram, { x: { shape: [1000] } }, { alpha: 2.5 }, DEFAULT_LIMITS);
    expect(plan.symbols).toEqual({ n: 1000 });
    expect(plan.buffers.get(0)!.bytes).toBe(4000);
    const step = plan.steps[0]!;
    if (step.kind !== 'dispatch') throw new Error('expected a dispatch');
    expect(step.total).toBe(16);
    expect(step.grid).toEqual([16, 1]);
    expect(Array.from(step.uniforms!)).toEqual([1000, new Uint32Array(new Float32Array([2.5]).buffer)[0], 0, 0]);
    const mixed = planRun(mixedProgram, { x: { shape: [5] } }, { off: -7 }, DEFAULT_LIMITS).steps[0]!;
    if (mixed.kind !== 'dispatch') throw new Error('expected a dispatch');
    expect(Array.from(mixed.uniforms!)).toEqual([5, 0xfffffff9, 3, 0x3f000000]);
  });

  it('pins the message for a tensor larger than a storage binding', () => {
    const big = program({
      name: 'too-big',
      inputs: [],
      outputs: [{ name: 'x', dtype: 'f32', axes: ['i'], shape: [52428800], buffer: 0 }],
      buffers: [{ id: 0, bytes: 209715200, role: 'output', label: 'x' }],
      ...fillingWhole(0),
    });
    expect(() => planRun(big, {}, {}, DEFAULT_LIMITS)).toThrow(
      new TesseraError("program 'too-big': tensor 'x' needs 200.0 MiB but this device binds at most 128.0 MiB per storage buffer (maxStorageBufferBindingSize)"),
    );
    expect(() => planRun(big, {}, {}, { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 27 })).toThrow(
      new TesseraError("program 'too-big': tensor 'x' needs 200.0 MiB but this device allocates at most 128.0 MiB per buffer (maxBufferSize)"),
    );
  });

  it('reports bad inputs with the boundary messages of dsl/bind.ts', () => {
    const plan = (inputs: Record<string, { shape: number[] }>, params: Record<string, number> = {}) => () => planRun(addProgram, inputs, params, DEFAULT_LIMITS);
    expect(plan({ x: { shape: [3] } })).toThrow(new TesseraError("input 'y' is missing"));
    expect(plan({ x: { shape: [3, 1] }, y: { shape: [3] } })).toThrow(new TesseraError("input 'x' must have rank 1 (axes [n]) but has shape [3, 1]"));
    expect(plan({ x: { shape: [3] }, y: { shape: [4] } })).toThrow(
      new TesseraError("conflicting sizes for 'n': 3 from input 'x' (axis 'n') and 4 from input 'y' (axis 'n')"),
    );
    expect(() => planRun(scaleProgram, { x: { shape: [3] } }, {}, DEFAULT_LIMITS)).toThrow(new TesseraError("parameter 'alpha' is missing"));
    expect(() => planRun(scaleProgram, { x: { shape: [3] } }, { alpha: NaN }, DEFAULT_LIMITS)).toThrow(new TesseraError("parameter 'alpha' must be a number, got NaN"));
  });

  it('rejects malformed programs with a message naming the step and kernel', () => {
    const wrongCount = program({ ...scaleProgram, name: 'bad', steps: [{ ...scaleStep, buffers: [0] }] });
    expect(() => validateProgram(wrongCount)).toThrow(
      new TesseraError("program 'bad' is malformed: step 'scale x' (kernel 'scale') binds 1 buffers but the kernel declares 2 storage bindings"),
    );
    const aliased = program({ ...scaleProgram, name: 'alias', steps: [{ ...scaleStep, buffers: [1, 1] }] });
    expect(() => validateProgram(aliased)).toThrow(/step 'scale x' \(kernel 'scale'\) binds buffer 'out' at bindings 0 and 1 and writes it/);
    const writesInput = program({ ...scaleProgram, name: 'w', steps: [{ ...scaleStep, buffers: [1, 0] }] });
    expect(() => validateProgram(writesInput)).toThrow("program 'w' is malformed: step 'scale x' (kernel 'scale') binds input buffer 'x' as read_write at binding 1");
  });

  it('runs only the size variants whose ranges all hold, and rejects a non-finite bound or an empty list', () => {
    const base = scaleStep;
    const variants = program({
      ...scaleProgram,
      name: 'variants',
      steps: [
        { ...base, label: 'long', when: { size: 'n', atLeast: 256 } },
        { ...base, label: 'short', when: { size: 'n', below: 256 } },
        { ...base, label: 'always' },
      ],
    });
    const labels = (n: number) => planRun(variants, { x: { shape: [n] } }, { alpha: 1 }, DEFAULT_LIMITS).steps.map((s) => s.label);
    expect(labels(255)).toEqual(['short', 'always']);
    expect(labels(256)).toEqual(['long', 'always']);
    // A list of ranges: every one must hold.
    const both = program({
      ...scaleProgram,
      name: 'both',
      steps: [
        { ...base, label: 'middle', when: [{ size: 'n', atLeast: 10 }, { size: { op: 'mul', args: ['n', 2] }, below: 64 }] },
        { ...base, label: 'outside', when: [{ size: 'n', below: 10 }] },
      ],
    });
    const ran = (n: number) => planRun(both, { x: { shape: [n] } }, { alpha: 1 }, DEFAULT_LIMITS).steps.map((s) => s.label);
    expect([9, 10, 31, 32].map(ran)).toEqual([['outside'], ['middle'], ['middle'], []]);
    const bad = program({ ...scaleProgram, name: 'bad-range', steps: [{ ...base, when: { size: 'n', below: NaN } }] });
    expect(() => validateProgram(bad)).toThrow(new TesseraError("program 'bad-range' is malformed: step 'scale x' (kernel 'scale') has when.below = NaN; it must be a finite number"));
    const badList = program({ ...scaleProgram, name: 'bad-list', steps: [{ ...base, when: [{ size: 'n' }, { size: 'n', atLeast: Infinity }] }] });
    expect(() => validateProgram(badList)).toThrow(new TesseraError("program 'bad-list' is malformed: step 'scale x' (kernel 'scale') has when[1].atLeast = Infinity; it must be a finite number"));
    const empty = program({ ...scaleProgram, name: 'empty-list', steps: [{ ...base, when: [] }] });
    expect(() => validateProgram(empty)).toThrow(new TesseraError("program 'empty-list' is malformed: step 'scale x' (kernel 'scale') has when [], which is not a size range or a list of them"));
  });

  it('keys a plan by the input shapes, the parameters and the finite flag, and declines anything else', () => {
    const key = (given: Record<string, unknown>, params?: Record<string, unknown>, finite = false) => planKey(given as never, params as never, finite);
    const base = key({ x: { shape: [3, 4] } }, { alpha: 2 });
    expect(base).not.toBeNull();
    // The same shapes and values (a typed-array shape, another object) give the same key.
    expect(key({ x: { shape: Int32Array.from([3, 4]), data: [1] } }, { alpha: 2 })).toBe(base);
    for (const other of [
      key({ x: { shape: [4, 3] } }, { alpha: 2 }),
      key({ x: { shape: [34] } }, { alpha: 2 }),
      key({ x: { shape: [3, 4] } }, { alpha: 3 }),
      key({ x: { shape: [3, 4] } }, { alpha: 2 }, true),
      key({ x: { shape: [3, 4] }, y: { shape: [1] } }, { alpha: 2 }),
      key({ 'x"': { shape: [3, 4] } }, { alpha: 2 }),
    ]) {
      expect(other).not.toBe(base);
    }
    // -0 and 0 have different f32 bits; ±Infinity and NaN stay apart.
    expect(key({}, { a: -0 })).not.toBe(key({}, { a: 0 }));
    expect(new Set([Infinity, -Infinity, NaN].map((a) => key({}, { a }))).size).toBe(3);
    // Nothing that planRun would have to reject is keyed.
    expect(key({ x: { shape: ['3', 4] } })).toBeNull();
    expect(key({ x: {} })).toBeNull();
    expect(key({ x: null })).toBeNull();
    expect(key({}, { a: '1' })).toBeNull();
  });

  it('formats sizes and WGSL listings with the offending line marked', () => {
    expect(formatBytes(209715200)).toBe('200.0 MiB');
    expect(formatBytes(4 * 1024 ** 3)).toBe('4.0 GiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12)).toBe('12 B');
    const listing = formatWgslListing('a\nbb cc\nd', [{ type: 'error', message: 'bad cc', lineNum: 2, linePos: 4, length: 2 }]);
    expect(listing).toBe(['  1 | a', '> 2 | bb cc', '    |    ^^ error: bad cc', '  3 | d'].join('\n'));
  });
});

// ---- CPU backend ------------------------------------------------------------------------------------

describe('CPU backend', () => {
  it('interprets the program graph and returns f32 outputs as Float32Array', async () => {
    const cpu = createCpuBackend();
    expect(cpu.kind).toBe('cpu');
    expect(cpu.fallbackReason).toBeNull();
    expect(cpu.deviceDescription).toBe('CPU interpreter (f64)');
    const x = ramp(10);
    const { out } = await cpu.run(scaleProgram, { x: { shape: [10], data: x } }, { alpha: -1.5 });
    expect(out!.shape).toEqual([10]);
    expect(out!.dtype).toBe('f32');
    const data = await out!.read();
    expect(data).toBeInstanceOf(Float32Array);
    expect(Array.from(data)).toEqual(Array.from(x, (v) => Math.fround(v * -1.5)));
    expect(cpu.memory.allocations).toEqual([{ label: 'scale/out', bytes: 40 }]);
    out!.destroy();
    expect(cpu.memory.currentBytes).toBe(0);
  });

  it('takes its own uploaded tensors as inputs, checks their dtype, and reports binding errors like the GPU', async () => {
    const cpu = createCpuBackend({ precision: 'f32' });
    expect(cpu.deviceDescription).toBe('CPU interpreter (f32)');
    const x = cpu.upload({ shape: [3], data: [1, 2, 3] });
    const y = cpu.upload({ shape: [3], data: new Float32Array([10, 20, 30]) });
    const { out } = await cpu.run(addProgram, { x, y });
    expect(Array.from(await out!.read())).toEqual([11, 22, 33]);
    const ints = cpu.upload({ shape: [3], data: new Int32Array([1, 2, 3]) });
    await expect(cpu.run(addProgram, { x: ints, y })).rejects.toThrow(new TesseraError("input 'x' must be f32 but has dtype i32"));
    await expect(cpu.run(addProgram, { x })).rejects.toThrow(new TesseraError("input 'y' is missing"));
    await expect(cpu.run(addProgram, { x, y: cpu.upload({ shape: [4], data: [1, 2, 3, 4] }) })).rejects.toThrow(
      new TesseraError("conflicting sizes for 'n': 3 from input 'x' (axis 'n') and 4 from input 'y' (axis 'n')"),
    );
    x.destroy();
    await expect(cpu.run(addProgram, { x, y })).rejects.toThrow(/was destroyed/);
  });

  it('is the fallback, with the reason, when no adapter is found', async () => {
    const b = await backendFor({ ok: false, reason: "the 'webgpu' package (Dawn) found no WebGPU adapter" }, { precision: 'f32' });
    expect(b.kind).toBe('cpu');
    expect(b.fallbackReason).toBe("WebGPU unavailable: the 'webgpu' package (Dawn) found no WebGPU adapter");
    expect(b.deviceDescription).toBe('CPU interpreter (f32)');
    const { out } = await b.run(scaleProgram, { x: { shape: [2], data: [1, -2] } }, { alpha: 3 });
    expect(Array.from(await out!.read())).toEqual([3, -6]);
  });

  it('is what createBackend gives when the CPU is preferred', async () => {
    const b = await createBackend({ prefer: 'cpu', precision: 'f32' });
    expect(b.kind).toBe('cpu');
    expect(b.fallbackReason).toBeNull();
    expect(b.deviceDescription).toBe('CPU interpreter (f32)');
  });
});

// ---- WebGPU backend ---------------------------------------------------------------------------------

describeGPU('WebGPU backend', (gpu) => {
  it('describes its device and reports the device limits', () => {
    expect(gpu.kind).toBe('webgpu');
    expect(gpu.fallbackReason).toBeNull();
    expect(gpu.deviceDescription.length).toBeGreaterThan(0);
    expect(gpu.limits.maxStorageBufferBindingSize).toBe(gpu.device.limits.maxStorageBufferBindingSize);
    expect(gpu.limits.maxComputeWorkgroupsPerDimension).toBe(gpu.device.limits.maxComputeWorkgroupsPerDimension);
    expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(DEFAULT_LIMITS.maxStorageBufferBindingSize);
  });

  it('uploads and reads back f32, i32, u32 and bool', async () => {
    const cases = [
      { dtype: 'f32', data: new Float32Array([1.5, -2, 3.25e-8, Infinity, -0]), want: [1.5, -2, Math.fround(3.25e-8), Infinity, -0] },
      { dtype: 'i32', data: new Int32Array([-2147483648, -1, 0, 7, 2147483647]), want: [-2147483648, -1, 0, 7, 2147483647] },
      { dtype: 'u32', data: new Uint32Array([0, 1, 0xffffffff, 123456789]), want: [0, 1, 0xffffffff, 123456789] },
      { dtype: 'bool', data: new Uint8Array([1, 0, 2, 0, 1]), want: [1, 0, 1, 0, 1] },
    ] as const;
    for (const c of cases) {
      const t = gpu.upload({ shape: [c.data.length], data: c.data });
      expect(t.dtype).toBe(c.dtype);
      const back = await t.read();
      expect(back.constructor).toBe(c.data.constructor);
      expect(Array.from(back)).toEqual(c.want);
      t.destroy();
    }
    const fromBooleans = gpu.upload({ shape: [2, 2], data: [true, false, false, true] });
    expect(fromBooleans.dtype).toBe('bool');
    expect(Array.from(await fromBooleans.read())).toEqual([1, 0, 0, 1]);
    const asU32 = gpu.upload({ shape: [3], data: [1, 2, 3] }, 'u32');
    expect(await asU32.read()).toEqual(new Uint32Array([1, 2, 3]));
    fromBooleans.destroy();
    asU32.destroy();
    expect(() => gpu.upload({ shape: [2], data: [1, 2, 3] })).toThrow(new TesseraError("input 'upload' has shape [2] (2 elements) but 3 values"));
  });

  it('runs a dispatch with a size and an f32 parameter as uniforms, for several sizes', async () => {
    // Sizes and parameters come back (the plans are kept by shape and parameter), in between a
    // bad shape: each run gets its own numbers, and the bad one its error.
    for (const [n, alpha] of [[1000, 2.5], [64, 2.5], [3, 2.5], [1000, 2.5], [64, -0.5], [3, 2.5]] as const) {
      const x = ramp(n, 0.25);
      const { out } = await gpu.run(scaleProgram, { x: { shape: [n], data: x } }, { alpha });
      expect(out!.shape).toEqual([n]);
      expect(await out!.read()).toEqual(Float32Array.from(x, (v) => Math.fround(v * alpha)));
      out!.destroy();
      await expect(gpu.run(scaleProgram, { x: { shape: [n, 1], data: x } }, { alpha })).rejects.toThrow(`input 'x' must have rank 1 (axes [n]) but has shape [${n}, 1]`);
    }
  });

  it('agrees with the CPU backend on the same program', async () => {
    const x = ramp(77, 0.1);
    const onGpu = await gpu.run(scaleProgram, { x: { shape: [77], data: x } }, { alpha: 1.75 });
    const onCpu = await createCpuBackend({ precision: 'f32' }).run(scaleProgram, { x: { shape: [77], data: x } }, { alpha: 1.75 });
    expect(await onGpu.out!.read()).toEqual(await onCpu.out!.read());
    onGpu.out!.destroy();
  });

  it('passes i32 parameters, u32 and f32 literals as uniform bits', async () => {
    const x = new Int32Array([5, -3, 0, 100, 21]);
    const { y } = await gpu.run(mixedProgram, { x: { shape: [5], data: x } }, { off: -7 });
    expect(Array.from(await y!.read())).toEqual(Array.from(x, (v) => (v - 21) * 0.5));
    y!.destroy();
  });

  it('runs a loop whose copy carries the value (x doubled three times)', async () => {
    const x = ramp(130);
    const { y } = await gpu.run(loopProgram, { x: { shape: [130], data: x } });
    expect(await y!.read()).toEqual(Float32Array.from(x, (v) => v * 8));
    y!.destroy();
  });

  it('dispatches more than 65535 workgroups as an (x, y) grid', async () => {
    const { ids } = await gpu.run(idsProgram(70000), {});
    const data = await ids!.read();
    expect(data).toEqual(Uint32Array.from({ length: 70000 }, (_, i) => i));
    ids!.destroy();
  });

  it('reuses pooled temp buffers across runs, cleared like fresh ones, and records every allocation', async () => {
    const x = ramp(100);
    const want = Float32Array.from(x, (v) => v + 1);
    // Earlier tests left buffers in the pool that would fit; start from an empty one.
    gpu.trimPool();
    gpu.memory.resetPeak();
    const first = await gpu.run(tempProgram, { x: { shape: [100], data: x } });
    const labels1 = gpu.memory.allocations.map((a) => a.label);
    expect(labels1).toContain('temps/scratch');
    expect(labels1).toContain('temps/x');
    expect(labels1).toContain('temps/y');
    expect(await first.y!.read()).toEqual(want);
    first.y!.destroy();
    const before = gpu.memory.currentBytes;

    gpu.memory.resetPeak();
    const second = await gpu.run(tempProgram, { x: { shape: [100], data: x } });
    // Only the host input is uploaded again: the scratch temp and the output buffer the first
    // run's `y` gave back when destroyed are reused.
    expect(gpu.memory.allocations).toEqual([{ label: 'temps/x', bytes: 400 }]);
    // The accumulating kernel would give x + x + 1 if the pooled scratch kept the first run's data.
    expect(await second.y!.read()).toEqual(want);
    second.y!.destroy();
    expect(gpu.memory.currentBytes).toBe(before);
    expect(gpu.memory.peakBytes).toBeGreaterThanOrEqual(before + 400);
  });

  it('reuses a destroyed output\'s buffer for the next run\'s output, cleared; one handed out is freed instead', async () => {
    const x = ramp(100);
    gpu.trimPool();
    const first = await gpu.run(accumulateProgram, { x: { shape: [100], data: x } });
    expect(await first.y!.read()).toEqual(x);
    first.y!.destroy();
    const held = gpu.memory.currentBytes;
    gpu.memory.resetPeak();
    // y = y + x gives 2x if the reused buffer kept the first run's data.
    const second = await gpu.run(accumulateProgram, { x: { shape: [100], data: x } });
    expect(gpu.memory.allocations).toEqual([{ label: 'accum/x', bytes: 400 }]);
    expect(await second.y!.read()).toEqual(x);
    // A buffer handed out may still be bound by its holder: destroying the tensor frees it.
    expect(gpu.bufferOf(second.y!).size).toBe(400);
    second.y!.destroy();
    expect(gpu.memory.currentBytes).toBe(held - 400);
    // A smaller output never takes a larger pooled buffer (its holder may bind the whole buffer).
    const spare = await gpu.run(accumulateProgram, { x: { shape: [100], data: x } });
    spare.y!.destroy();
    gpu.memory.resetPeak();
    const smaller = await gpu.run(accumulateProgram, { x: { shape: [60], data: ramp(60) } });
    expect(gpu.memory.allocations.filter((a) => a.label.startsWith('accum/'))).toEqual([{ label: 'accum/x', bytes: 240 }, { label: 'accum/y', bytes: 240 }]);
    expect(await smaller.y!.read()).toEqual(ramp(60));
    smaller.y!.destroy();
    gpu.trimPool();
  });

  it('wraps only device calls in error scopes: a pooled temp reused takes none', async () => {
    let pushed = 0;
    const device = new Proxy(gpu.device, {
      get(target, key) {
        if (key === 'pushErrorScope') return (filter: GPUErrorFilter) => (pushed++, target.pushErrorScope(filter));
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const guest = await createWebGPUBackend({ device });
    const x = guest.upload({ shape: [100], data: ramp(100) });
    const run = async () => {
      pushed = 0;
      const { y } = await guest.run(tempProgram, { x });
      const scopes = pushed;
      expect(await y!.read()).toEqual(Float32Array.from(ramp(100), (v) => v + 1));
      y!.destroy();
      return scopes;
    };
    // Three scopes (validation, out of memory, internal) around each group of device calls: the
    // encoding, and each temp or output the pool does not have (the first run also compiles).
    const temps = tempProgram.buffers.filter((b) => b.role === 'temp').length;
    expect(temps).toBeGreaterThan(0);
    await run();
    expect(await run()).toBe(3);
    guest.trimPool();
    expect(await run()).toBe(3 * (1 + temps + 1));
    expect(await run()).toBe(3);
    x.destroy();
    guest.destroy();
  });

  it('keeps readback staging buffers for the next read, also a smaller one, until trimPool', async () => {
    const big = gpu.upload({ shape: [100], data: ramp(100) });
    const small = gpu.upload({ shape: [60], data: ramp(60, -1) });
    gpu.trimPool();
    gpu.memory.resetPeak();
    const staged = () => gpu.memory.allocations.filter((a) => a.label.endsWith('(readback)')).map((a) => a.bytes);
    expect(await big.read()).toEqual(ramp(100));
    expect(staged()).toEqual([400]);
    const held = gpu.memory.currentBytes;
    // The 400-byte staging buffer serves the 240-byte read: only its first 60 words come back.
    expect(await small.read()).toEqual(ramp(60, -1));
    expect(await big.read()).toEqual(ramp(100));
    expect(staged()).toEqual([400]);
    expect(gpu.memory.currentBytes).toBe(held);
    gpu.trimPool();
    expect(gpu.memory.currentBytes).toBe(held - 400);
    big.destroy();
    small.destroy();
  });

  it('a read that finishes after its backend was destroyed frees its staging buffer instead of pooling it', async () => {
    const guest = await createWebGPUBackend({ device: gpu.device });
    const t = guest.upload({ shape: [64], data: ramp(64) });
    const reading = t.read();
    guest.destroy();
    expect(await reading).toEqual(ramp(64));
    t.destroy();
    expect(guest.memory.currentBytes).toBe(0);
  });

  it('takes resident tensors as inputs and leaves them usable; takes CPU tensors too', async () => {
    const x = gpu.upload({ shape: [5], data: [1, 2, 3, 4, 5] });
    for (const alpha of [2, 3]) {
      const { out } = await gpu.run(scaleProgram, { x }, { alpha });
      expect(Array.from(await out!.read())).toEqual([1, 2, 3, 4, 5].map((v) => v * alpha));
      out!.destroy();
    }
    expect(Array.from(await x.read())).toEqual([1, 2, 3, 4, 5]);
    const fromCpu = createCpuBackend().upload({ shape: [2], data: [7, 8] });
    const { out } = await gpu.run(scaleProgram, { x: fromCpu }, { alpha: 0.5 });
    expect(Array.from(await out!.read())).toEqual([3.5, 4]);
    out!.destroy();
    x.destroy();
    await expect(gpu.run(scaleProgram, { x }, { alpha: 1 })).rejects.toThrow(new TesseraError("input 'x' was destroyed"));
  });

  it('skips a dispatch of zero workgroups (its output keeps WebGPU\'s zero fill)', async () => {
    const p = idsProgram(8);
    const none = { ...p, name: 'no-work', steps: [{ ...(p.steps[0] as Step & { kind: 'dispatch' }), workgroups: { op: 'mul', args: [8, 0] } } as Step] };
    const planned = planRun(none, {}, {}, gpu.limits).steps[0]!;
    expect(planned.kind === 'dispatch' && planned.grid).toEqual([0, 0]);
    const { ids } = await gpu.run(none, {});
    expect(await ids!.read()).toEqual(new Uint32Array(8));
    ids!.destroy();
  });

  it('runs on a device the caller passes in, and leaves it open when destroyed', async () => {
    const guest = await createWebGPUBackend({ device: gpu.device });
    expect(guest.device).toBe(gpu.device);
    expect(guest.deviceDescription.length).toBeGreaterThan(0);
    const { out } = await guest.run(scaleProgram, { x: { shape: [3], data: [1, 2, 3] } }, { alpha: -1 });
    expect(Array.from(await out!.read())).toEqual([-1, -2, -3]);
    out!.destroy();
    guest.destroy();
    // The shared device still works for its owner.
    const { out: again } = await gpu.run(scaleProgram, { x: { shape: [1], data: [4] } }, { alpha: 2 });
    expect(Array.from(await again!.read())).toEqual([8]);
    again!.destroy();
  });

  it('rejects a buffer too large for the device before allocating anything', async () => {
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const elements = Math.floor((limit * 1.5625) / 4);
    const big = program({
      name: 'too-big',
      inputs: [],
      outputs: [{ name: 'x', dtype: 'f32', axes: ['i'], shape: [elements], buffer: 0 }],
      buffers: [{ id: 0, bytes: elements * 4, role: 'output', label: 'x' }],
      ...fillingWhole(0),
    });
    gpu.memory.resetPeak();
    await expect(gpu.run(big, {})).rejects.toThrow(
      `program 'too-big': tensor 'x' needs ${formatBytes(elements * 4)} but this device binds at most ${formatBytes(limit)} per storage buffer (maxStorageBufferBindingSize)`,
    );
    expect(gpu.memory.allocations).toEqual([]);
  });

  it('reports bad inputs with the boundary messages', async () => {
    const x = { shape: [3], data: [1, 2, 3] };
    await expect(gpu.run(addProgram, { x })).rejects.toThrow(new TesseraError("input 'y' is missing"));
    await expect(gpu.run(addProgram, { x: { shape: [1, 3], data: [1, 2, 3] }, y: x })).rejects.toThrow(
      new TesseraError("input 'x' must have rank 1 (axes [n]) but has shape [1, 3]"),
    );
    await expect(gpu.run(addProgram, { x, y: { shape: [2], data: [1, 2] } })).rejects.toThrow(
      new TesseraError("conflicting sizes for 'n': 3 from input 'x' (axis 'n') and 2 from input 'y' (axis 'n')"),
    );
    await expect(gpu.run(scaleProgram, { x: { shape: [3], data: new Int32Array(3) } }, { alpha: 1 })).rejects.toThrow(
      new TesseraError("input 'x' must be f32 but a Int32Array was given"),
    );
    const ints = gpu.upload({ shape: [3], data: new Int32Array(3) });
    await expect(gpu.run(scaleProgram, { x: ints }, { alpha: 1 })).rejects.toThrow(new TesseraError("input 'x' must be f32 but has dtype i32"));
    ints.destroy();
  });

  /** Runs the ids program with its kernel renamed and its WGSL edited; resolves to the error it throws. */
  const runEditedIds = (kernelName: string, programName: string, edit: (wgsl: string) => string): Promise<Error | null> => {
    const kernel: ProgramKernel = { ...IDS, name: kernelName, wgsl: edit(IDS.wgsl) };
    return gpu.run({ ...idsProgram(4), name: programName, kernels: [kernel] }, {}).then(
      () => null,
      (e: unknown) => e as Error,
    );
  };

  it('runs a kernel whose WGSL was edited in place since its last run with the new text, then the old again', async () => {
    const kernel: { -readonly [K in keyof ProgramKernel]: ProgramKernel[K] } = { ...IDS, name: 'edited' };
    const p = { ...idsProgram(4), name: 'edited-in-place', kernels: [kernel] };
    const idsOf = async () => {
      const out = (await gpu.run(p, {}))['ids']!;
      const ids = Array.from(await out.read());
      out.destroy();
      return ids;
    };
    expect(await idsOf()).toEqual([0, 1, 2, 3]);
    kernel.wgsl = IDS.wgsl.replace('out[gid] = gid;', 'out[gid] = gid + 10u;');
    expect(await idsOf()).toEqual([10, 11, 12, 13]);
    kernel.wgsl = IDS.wgsl;
    expect(await idsOf()).toEqual([0, 1, 2, 3]);
  });

  it('prints the WGSL with the offending line marked when a kernel does not compile', async () => {
    const error = await runEditedIds('broken', 'compile-error', (wgsl) => wgsl.replace('out[gid] = gid;', 'out[gid] = gid + 1.5;'));
    expect(error).toBeInstanceOf(WebGPUError);
    const lines = error!.message.split('\n');
    expect(lines[0]).toMatch(/^kernel 'broken' \(program 'compile-error', step 'write ids'\) failed to compile: 7:\d+: /);
    expect(lines).toContain('> 7 |   out[gid] = gid + 1.5;');
    expect(lines).toContain('  1 | struct U { total: u32 }');
    const caret = lines[lines.indexOf('> 7 |   out[gid] = gid + 1.5;') + 1]!;
    // The caret sits under the offending expression, followed by the first line of the message.
    expect(caret).toBe(`    | ${' '.repeat(13)}^^^^^^^^^ error: ${lines[0]!.replace(/^.*failed to compile: 7:14: /, '')}`);
  });

  it('names the program, step and kernel for a validation error (a binding smaller than the shader needs)', async () => {
    gpu.trimPool();
    const held = gpu.memory.currentBytes;
    const error = await runEditedIds('fill64', 'small-binding', (wgsl) => wgsl.replace('array<u32>', 'array<u32, 64>'));
    expect(error).toBeInstanceOf(WebGPUError);
    expect(error!.message).toMatch(/^program 'small-binding': step 'write ids' \(kernel 'fill64'\): WebGPU validation error: /);
    expect(error!.message).toMatch(/256/);
    // The failed run's output was freed, not pooled for the next run (the same program ran before,
    // so its uniform buffer was already held).
    expect(gpu.memory.currentBytes).toBe(held);
  });

  it('names the kernel and step when the declared bindings do not match the shader', async () => {
    const twoBindings: ProgramKernel = {
      ...IDS,
      name: 'needs_two',
      wgsl: IDS.wgsl.replace('@group(0) @binding(1) var<uniform> u: U;', '@group(0) @binding(1) var<uniform> u: U;\n@group(0) @binding(2) var<storage, read> extra: array<u32>;').replace(
        'out[gid] = gid;',
        'out[gid] = gid + extra[0];',
      ),
    };
    const p = { ...idsProgram(4), name: 'binding-count', kernels: [twoBindings] };
    await expect(gpu.run(p, {})).rejects.toThrow(/^kernel 'needs_two' \(program 'binding-count', step 'write ids'\): creating its compute pipeline failed: /);
  });

  it('throws for a malformed program (wrong binding count) before touching the device', async () => {
    const p = program({ ...scaleProgram, name: 'bad', steps: [{ ...scaleStep, buffers: [0] }] });
    await expect(gpu.run(p, { x: { shape: [2], data: [1, 2] } }, { alpha: 1 })).rejects.toThrow(
      "program 'bad' is malformed: step 'scale x' (kernel 'scale') binds 1 buffers but the kernel declares 2 storage bindings",
    );
  });

  it('times each dispatch with timestamp queries when the device has them', async () => {
    if (!gpu.hasTimestamps) {
      await expect(gpu.profile(loopProgram, { x: { shape: [4], data: [1, 2, 3, 4] } })).rejects.toThrow(/no 'timestamp-query' feature/);
      return;
    }
    const start = performance.now();
    const { outputs, profile } = await gpu.profile(loopProgram, { x: { shape: [4], data: [1, 2, 3, 4] } });
    const wallMs = performance.now() - start;
    expect(Array.from(await outputs.y!.read())).toEqual([8, 16, 24, 32]);
    outputs.y!.destroy();
    expect(profile.steps.map((s) => [s.label, s.kernel, s.iteration])).toEqual([
      ['double', 'double', [0]],
      ['double', 'double', [1]],
      ['double', 'double', [2]],
    ]);
    // Step times and their total are GPU time inside the measured call: finite, and no more than
    // the wall-clock time of the whole call (a wrong tick unit, e.g. µs read as ns, breaks this).
    for (const s of profile.steps) expect(Number.isFinite(s.ms), `${s.label} ${s.iteration}: ${s.ms} ms`).toBe(true);
    expect(profile.totalMs).toBeLessThanOrEqual(wallMs);
  });

  it('attributes each timestamp pair to its own dispatch: the heavy one between two light ones dominates', async () => {
    if (!gpu.hasTimestamps) return;
    const given = { x: { shape: [SPIN_LANES], data: new Float32Array(SPIN_LANES).fill(0.5) } };
    // Warm up (pipeline creation), then time one profiled run from the outside.
    (await gpu.run(spinProgram, given)).y!.destroy();
    const start = performance.now();
    const { outputs, profile } = await gpu.profile(spinProgram, given);
    await outputs.y!.read();
    const wallMs = performance.now() - start;
    outputs.y!.destroy();
    expect(profile.steps.map((s) => [s.label, s.kernel, s.iteration])).toEqual([
      ['light before', 'spin', []],
      ['heavy', 'spin', []],
      ['light after', 'spin', []],
    ]);
    const [before, heavy, after] = profile.steps.map((s) => s.ms) as [number, number, number];
    for (const ms of [before, heavy, after]) expect(Number.isFinite(ms)).toBe(true);
    // The heavy dispatch does SPIN_HEAVY / SPIN_LIGHT times the work of each light one: its own
    // pair of timestamps must show it (a pairing shifted by one, or a zeroed delta, does not).
    expect(heavy).toBeGreaterThan(0);
    expect(heavy).toBeGreaterThan(before);
    expect(heavy).toBeGreaterThan(after);
    expect(heavy).toBeGreaterThan(profile.totalMs / 2);
    // GPU time fits inside the wall-clock time of the call that measured it.
    expect(profile.totalMs).toBeLessThanOrEqual(wallMs);
  });
});

describeGPU('WebGPU device lifecycle', () => {
  it('turns a lost device into a clear error on later calls', async () => {
    const own = await createWebGPUBackend();
    const x = own.upload({ shape: [2], data: [1, 2] });
    own.device.destroy();
    await own.device.lost;
    expect(() => own.upload({ shape: [1], data: [1] })).toThrow(/^device was lost: destroyed/);
    await expect(own.run(scaleProgram, { x }, { alpha: 1 })).rejects.toThrow(/^device was lost: destroyed/);
    await expect(x.read()).rejects.toThrow(/^device was lost: destroyed/);
  });

  it('refuses calls after destroy()', async () => {
    const own = await createWebGPUBackend();
    own.destroy();
    expect(() => own.upload({ shape: [1], data: [1] })).toThrow(new TesseraError('this WebGPU backend was destroyed'));
  });

  it('is what createBackend picks when an adapter exists', async () => {
    const b = await createBackend();
    expect(b.kind).toBe('webgpu');
    expect(b.fallbackReason).toBeNull();
    b.destroy();
  });
});
