/**
 * How fast can this WebGPU device multiply small matrices at all? `npm run bench:layouts` times
 * hand-written WGSL for one 64 × 64 × 64 product (the size of a chunked scan's products, and of
 * the tiles of tessera's GEMM kernels) in several register-block layouts, on the bench's shared
 * device, and prints the multiply-adds per second of each.
 *
 * It is the device's ceiling for product-bound kernels, not a tessera benchmark: a target that
 * needs more multiply-adds per second than the best layout here reaches cannot be met by any
 * schedule of the same arithmetic. On lavapipe the layouts differ by less than the machine's
 * noise, which is why tessera's emitters keep their 8 × 8 blocks (see bench/README.md).
 *
 * Layouts (each workgroup computes `REPS` products, one after another; 4 workgroups, as a scan
 * kernel at B·H = 4 has):
 * - `blocks RxC`: each of the (64/R)·(64/C) threads owns an R × C block of outputs and loads R
 *   values of A and C of B per contracted index (the layout of tessera's emitters; R = C = 8).
 * - `blocks 8x8 vec4`: the same, loading four contracted indices at once as `vec4<f32>`.
 * - `rows T×R×C`: T threads; a loop shared by all of them walks blocks of R rows, so the row
 *   index is the same in every thread, and each thread owns C interleaved columns.
 * Every variant's output is checked against a float64 product before it is timed.
 */
import { parseArgs } from 'node:util';
import { BufferUsage, MapMode } from '../runtime/gpu-flags.ts';
import { openSharedDevice } from './device.ts';
import { hashSeed, randomF32, seededRandom } from './random.ts';

const N = 64;
const REPS = 32;
const WORKGROUPS = 4;

interface Layout {
  readonly name: string;
  readonly threads: number;
  /** The body of `main`, computing product `rep` of this workgroup into C. */
  readonly body: string;
  /** Whether A and B are bound as `array<vec4<f32>>`. */
  readonly vec4?: boolean;
}

const lines = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
const outAt = (row: string, col: string) => `C[((wg.x * ${REPS}u + rep) * ${N}u + ${row}) * ${N}u + ${col}]`;

/** Each thread an R × C block; A is [m][k] row-major, B [k][n]. */
function blocks(R: number, C: number): Layout {
  const across = N / C;
  return {
    name: `blocks ${R}x${C}`,
    threads: (N / R) * across,
    body: `
    let i0 = (lid / ${across}u) * ${R}u;
    let j0 = (lid % ${across}u) * ${C}u;
${lines(R * C, (i) => `    var c${i}: f32 = 0.0;`)}
    for (var k = 0u; k < ${N}u; k++) {
${lines(R, (r) => `      let a${r} = A[(rep * ${N}u + i0 + ${r}u) * ${N}u + k];`)}
${lines(C, (c) => `      let b${c} = B[k * ${N}u + j0 + ${c}u];`)}
${lines(R * C, (i) => `      c${i} += a${Math.floor(i / C)} * b${i % C};`)}
    }
${lines(R * C, (i) => `    ${outAt(`i0 + ${Math.floor(i / C)}u`, `j0 + ${i % C}u`)} = c${i};`)}`,
  };
}

/** 8 × 8 blocks loading four contracted indices at a time (B read transposed: Bt[n][k]). */
function vec4Blocks(): Layout {
  return {
    name: 'blocks 8x8 vec4',
    threads: 64,
    vec4: true,
    body: `
    let i0 = (lid / 8u) * 8u;
    let j0 = (lid % 8u) * 8u;
${lines(64, (i) => `    var c${i}: f32 = 0.0;`)}
    for (var k = 0u; k < ${N / 4}u; k++) {
${lines(8, (r) => `      let a${r} = A[(rep * ${N}u + i0 + ${r}u) * ${N / 4}u + k];`)}
${lines(8, (c) => `      let b${c} = B[(j0 + ${c}u) * ${N / 4}u + k];`)}
${lines(64, (i) => `      c${i} += dot(a${Math.floor(i / 8)}, b${i % 8});`)}
    }
${lines(64, (i) => `    ${outAt(`i0 + ${Math.floor(i / 8)}u`, `j0 + ${i % 8}u`)} = c${i};`)}`,
  };
}

/** T threads; a shared loop over blocks of R rows; each thread C columns `lid + T·c`. */
function rows(T: number, R: number, C: number): Layout {
  return {
    name: `rows ${T}x${R}x${C}`,
    threads: T,
    body: `
    for (var i0 = 0u; i0 < ${N}u; i0 += ${R}u) {
${lines(R * C, (i) => `      var c${i}: f32 = 0.0;`)}
      for (var k = 0u; k < ${N}u; k++) {
${lines(C, (c) => `        let b${c} = B[k * ${N}u + lid + ${T * c}u];`)}
${lines(R, (r) => `        let a${r} = A[(rep * ${N}u + i0 + ${r}u) * ${N}u + k];`)}
${lines(R * C, (i) => `        c${i} += a${Math.floor(i / C)} * b${i % C};`)}
      }
${lines(R * C, (i) => `      ${outAt(`i0 + ${Math.floor(i / C)}u`, `lid + ${T * (i % C)}u`)} = c${i};`)}
    }`,
  };
}

const LAYOUTS: readonly Layout[] = [blocks(8, 8), blocks(16, 8), blocks(8, 16), blocks(4, 8), blocks(16, 16), vec4Blocks(), rows(64, 8, 1), rows(16, 16, 4), rows(8, 8, 8)];

function shader(l: Layout): string {
  const t = l.vec4 ? 'vec4<f32>' : 'f32';
  return `@group(0) @binding(0) var<storage, read> A: array<${t}>;
@group(0) @binding(1) var<storage, read> B: array<${t}>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(${l.threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var rep = 0u; rep < ${REPS}u; rep++) {${l.body}
  }
}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, only: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 20);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number >= 1, got '${values.rounds}'`);
  const wanted = values.only?.split(',');
  const layouts = wanted ? LAYOUTS.filter((l) => wanted.some((w) => l.name.includes(w))) : LAYOUTS;
  if (layouts.length === 0) throw new Error(`--only matched no layout (layouts: ${LAYOUTS.map((l) => l.name).join('; ')})`);

  const { device, description } = await openSharedDevice();
  if (!device.features.has('timestamp-query')) throw new Error('bench:layouts times with timestamp queries; this device has none');
  console.log(`device: ${description}; ${WORKGROUPS} workgroups × ${REPS} products of ${N}³ per dispatch`);
  // A: REPS matrices [m][k]; B [k][n] and its transpose [n][k] (for the vec4 layout).
  const rand = seededRandom(hashSeed('product-layouts'));
  const a = randomF32(REPS * N * N, rand);
  const b = randomF32(N * N, rand);
  const bt = Float32Array.from({ length: N * N }, (_, i) => b[(i % N) * N + Math.floor(i / N)]!);
  const storage = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;
  const buffer = (data: Float32Array | number) => {
    const size = typeof data === 'number' ? data : data.byteLength;
    const buf = device.createBuffer({ size, usage: storage });
    if (typeof data !== 'number') device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  };
  const [bufA, bufB, bufBt, bufC] = [buffer(a), buffer(b), buffer(bt), buffer(WORKGROUPS * REPS * N * N * 4)];
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = device.createBuffer({ size: 16, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
  const readback = (size: number) => device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const stamps = readback(16);
  const check = readback(N * N * 4);

  // Float64 product 0 of workgroup 0, the check every layout must pass.
  const expected = new Float64Array(N * N);
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) for (let k = 0; k < N; k++) expected[i * N + j]! += a[i * N + k]! * b[k * N + j]!;

  const timed = [];
  for (const l of layouts) {
    const module = device.createShaderModule({ code: shader(l) });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [bufA, l.vec4 ? bufBt : bufB, bufC].map((buf, binding) => ({ binding, resource: { buffer: buf } })) });
    const run = async (): Promise<number> => {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(WORKGROUPS);
      pass.end();
      encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, stamps, 0, 16);
      device.queue.submit([encoder.finish()]);
      await stamps.mapAsync(MapMode.READ);
      const [t0, t1] = new BigUint64Array(stamps.getMappedRange().slice(0));
      stamps.unmap();
      return Number(t1! - t0!) / 1e6;
    };
    await run();
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(bufC, 0, check, 0, N * N * 4);
    device.queue.submit([encoder.finish()]);
    await check.mapAsync(MapMode.READ);
    const got = new Float32Array(check.getMappedRange().slice(0));
    check.unmap();
    const err = got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
    if (!(err < 1e-3)) throw new Error(`layout '${l.name}' computes a wrong product (max |error| ${err})`);
    timed.push({ layout: l, run, ms: [] as number[] });
  }
  // Interleaved rounds, so a burst of load on the machine lands on every layout.
  for (let r = 0; r < rounds; r++) for (const t of timed) t.ms.push(await t.run());
  const macs = WORKGROUPS * REPS * N ** 3;
  console.log(`${'layout'.padEnd(18)} ${'ms_min'.padStart(8)} ${'ms_median'.padStart(10)} ${'GMAC/s(min)'.padStart(12)} ${'GMAC/s(median)'.padStart(15)}`);
  for (const t of timed) {
    const ms = [...t.ms].sort((x, y) => x - y);
    const [min, median] = [ms[0]!, ms[ms.length >> 1]!];
    console.log(`${t.layout.name.padEnd(18)} ${min.toFixed(2).padStart(8)} ${median.toFixed(2).padStart(10)} ${(macs / min / 1e6).toFixed(2).padStart(12)} ${(macs / median / 1e6).toFixed(2).padStart(15)}`);
  }
}

await main();
process.exit(0);
