/**
 * lower-to-tiles: printed Tensor IR in, fused and memory-planned (pinned in `fuse.test.ts` and
 * `plan-memory.test.ts`), then lowered. The lowered program's kernels are the planned ones, so the
 * pinned text is `printFused` of the planned program followed by each step's schedule record (as
 * JSON, with the `when` size range of a size-guarded variant). Each expectation was checked by
 * hand against the defaults in `compiler/schedule.ts` (the comments say what to look for).
 */
import { describe, expect, it } from 'vitest';
import { causalFlashPair, ir, SYMBOLIC_PRODUCT } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { fuse } from '../../compiler/passes/fuse.ts';
import { planMemory } from '../../compiler/passes/plan-memory.ts';
import { lowerToTiles, type TiledStep } from '../../compiler/passes/lower-to-tiles.ts';
import { splitReductions } from '../../compiler/passes/split-reductions.ts';
import { checkSchedule, type ScheduleOverrides } from '../../compiler/schedule.ts';
import { printFused } from '../../compiler/kernel-ir-print.ts';
import { DEFAULT_LIMITS } from '../../program/index.ts';

/** One line per step: a kernel's kind, name and schedule (and size range), copies, loops. */
function printSchedules(steps: readonly TiledStep[], indent = ''): string[] {
  return steps.flatMap((s) => {
    if (s.kind === 'kernel') return [`${indent}${s.kernel.kind} ${s.kernel.name}: ${JSON.stringify(s.schedule)}${s.when ? ` when ${JSON.stringify(s.when)}` : ''}`];
    if (s.kind === 'copy') return [`${indent}copy b${s.src} -> b${s.dst}`];
    return [`${indent}loop ${s.count} {`, ...printSchedules(s.body, `${indent}  `), `${indent}}`];
  });
}

function run(text: string, overrides: ScheduleOverrides = {}): string {
  const planned = planMemory(fuse(parseGraph(text), { name: 'test', maxStorageBuffers: 8, limits: DEFAULT_LIMITS }));
  const tiled = lowerToTiles(planned, DEFAULT_LIMITS, overrides);
  return `${printFused(planned)}\nschedules\n${printSchedules(tiled.steps).join('\n')}`;
}

describe('lower-to-tiles', () => {
  it('gives each kernel kind its default schedule', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = input "y" : f32[i:i, k:8]
      %2 = input "z" : f32[i:i, l:4096]
      %3 = input "b" : f32[j:j, n:n]
      %4 = reduce sum(%0) over [j] : f32[i:i]
      %5 = reduce max(%1) over [k] : f32[i:i]
      %6 = reduce sum(%2) over [l] : f32[i:i]
      %7 = map add(%4, %5) : f32[i:i]
      %8 = map add(%7, %6) : f32[i:i]
      %9 = contract(%0, %3) : f32[i:i, n:n]
      outputs r=%8, c=%9
    `;
    // Reductions: a symbolic axis gets a 64-thread workgroup tree, a static one of at most 16 (k:8)
    // one thread per output, one of at least 2048 (l:4096) a 256-thread tree. Elementwise: 256
    // threads. GEMM (rows i and columns n symbolic): a variant per range of them (k staged 16 at
    // a time) — n ≤ 8: 128×8 tiles (whatever i); i ≤ 8 < n: 8×128 (8×8 register blocks);
    // 9 ≤ n ≤ 32 and i ≥ 9: 128×32; 9 ≤ i ≤ 32 < n: 32×128; both over 32: 128×64 (16 registers
    // along the long side, 8 along the other).
    expect(run(input)).toBe(ir`
      b0 input f32[i:i, j:j] "input 'x'"
      b1 input f32[i:i, k:8] "input 'y'"
      b2 input f32[i:i, l:4096] "input 'z'"
      b3 input f32[j:j, n:n] "input 'b'"
      b4 temp f32[i:i] "%4 reduce"
      b5 temp f32[i:i] "%5 reduce"
      b6 temp f32[i:i] "%6 reduce"
      b7 output f32[i:i] "output 'r'"
      b8 output f32[i:i, n:n] "output 'c'"
      reduce %4 reduce -> b4 f32[a0=i:i] = sum over [a1=j:j] of b0[a0,a1]
      reduce %5 reduce -> b5 f32[a0=i:i] = max over [a1=k:8] of b1[a0,a1]
      reduce %6 reduce -> b6 f32[a0=i:i] = sum over [a1=l:4096] of b2[a0,a1]
      elementwise %8 add -> b7 f32[a0=i:i] = add(add(b4[a0], b5[a0]), b6[a0])
      gemm %9 contract -> b8 f32[a0=i:i, a1=n:n] batch[] m[a0=i:i] n[a1=n:n] k[a2=j:j] a=b0[a0,a2] b=b3[a2,a1]
      outputs r=b7, c=b8
      schedules
      reduce %4 reduce: {"kind":"reduce","strategy":"workgroup","workgroupSize":64}
      reduce %5 reduce: {"kind":"reduce","strategy":"thread","workgroupSize":64}
      reduce %6 reduce: {"kind":"reduce","strategy":"workgroup","workgroupSize":256}
      elementwise %8 add: {"kind":"elementwise","workgroupSize":256}
      gemm %9 contract: {"kind":"gemm","tileM":128,"tileN":8,"tileK":16,"threadsM":16,"threadsN":1} when {"size":"n","below":9}
      gemm %9 contract: {"kind":"gemm","tileM":8,"tileN":128,"tileK":16,"threadsM":1,"threadsN":16} when [{"size":"i","below":9},{"size":"n","atLeast":9}]
      gemm %9 contract: {"kind":"gemm","tileM":128,"tileN":32,"tileK":16,"threadsM":8,"threadsN":4} when [{"size":"i","atLeast":9},{"size":"n","atLeast":9,"below":33}]
      gemm %9 contract: {"kind":"gemm","tileM":32,"tileN":128,"tileK":16,"threadsM":4,"threadsN":8} when [{"size":"i","atLeast":9,"below":33},{"size":"n","atLeast":33}]
      gemm %9 contract: {"kind":"gemm","tileM":128,"tileN":64,"tileK":16,"threadsM":8,"threadsN":8} when [{"size":"i","atLeast":33},{"size":"n","atLeast":33}]
    `);
  });

  it('prints a GEMM variant\'s ranges joined by "and"', () => {
    const planned = planMemory(fuse(parseGraph(SYMBOLIC_PRODUCT), { name: 'test', maxStorageBuffers: 8, limits: DEFAULT_LIMITS }));
    const printed = printFused(lowerToTiles(planned, DEFAULT_LIMITS)).split('\n').filter((l) => l.startsWith('when'));
    expect(printed.map((l) => l.slice(0, l.indexOf(': gemm')))).toEqual([
      'when n < 9',
      'when m < 9 and n >= 9',
      'when m >= 9 and 9 <= n < 33',
      'when 9 <= m < 33 and n >= 33',
      'when m >= 33 and n >= 33',
    ]);
  });

  it('gives a flash kernel over a symbolic query axis two size-guarded variants', () => {
    const input = causalFlashPair('n');
    // n >= 256: the long-axis schedule (32 rows on 8 threads, 4 across, dTile = D = 4); n < 256: the
    // default (one thread per row, 32 rows, 8 across). Both keep 32-key kv tiles and a resident Q.
    expect(run(input)).toBe(ir`
      b0 input f32[n:n, d:4] "input 'q'"
      b1 input f32[m:m, d:4] "input 'k'"
      b2 input f32[m:m, e:2] "input 'v'"
      b3 output f32[n:n, e:2] "output 'o'"
      b4 output f32[n:n] "output 'lse'"
      flash %3 flash -> b3 f32[a0=n:n, a3=e:2] lse b4[a0=n:n]
        outer[] batch[] tiled[a0=n:n] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
        q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
        score=q·k valid=ge(#a0, #a1) kv>=[] kv<=[t+0:i32]
      outputs o=b3, lse=b4
      schedules
      flash %3 flash: {"kind":"flash","rows":32,"threads":8,"across":4,"kvTile":32,"dTile":4,"vTile":32} when {"size":"n","atLeast":256}
      flash %3 flash: {"kind":"flash","rows":32,"threads":32,"across":8,"kvTile":32,"dTile":4,"vTile":32} when {"size":"n","below":256}
    `);
  });

  it('gives a flash kernel over a short static query axis one schedule sized to it', () => {
    const input = causalFlashPair(7);
    // n = 7: rows rounded up to 8, one thread each; no size guard, since the size is known.
    expect(run(input)).toBe(ir`
      b0 input f32[n:7, d:4] "input 'q'"
      b1 input f32[m:m, d:4] "input 'k'"
      b2 input f32[m:m, e:2] "input 'v'"
      b3 output f32[n:7, e:2] "output 'o'"
      b4 output f32[n:7] "output 'lse'"
      flash %3 flash -> b3 f32[a0=n:7, a3=e:2] lse b4[a0=n:7]
        outer[] batch[] tiled[a0=n:7] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
        q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
        score=q·k valid=ge(#a0, #a1) kv>=[] kv<=[t+0:i32]
      outputs o=b3, lse=b4
      schedules
      flash %3 flash: {"kind":"flash","rows":8,"threads":8,"across":8,"kvTile":32,"dTile":4,"vTile":32}
    `);
  });

  it('gives a flash kernel over a long static query axis the long-axis schedule alone', () => {
    const input = causalFlashPair(512);
    // n = 512 >= 256: the long-axis schedule, unguarded.
    expect(run(input)).toBe(ir`
      b0 input f32[n:512, d:4] "input 'q'"
      b1 input f32[m:m, d:4] "input 'k'"
      b2 input f32[m:m, e:2] "input 'v'"
      b3 output f32[n:512, e:2] "output 'o'"
      b4 output f32[n:512] "output 'lse'"
      flash %3 flash -> b3 f32[a0=n:512, a3=e:2] lse b4[a0=n:512]
        outer[] batch[] tiled[a0=n:512] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
        q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
        score=q·k valid=ge(#a0, #a1) kv>=[] kv<=[t+0:i32]
      outputs o=b3, lse=b4
      schedules
      flash %3 flash: {"kind":"flash","rows":32,"threads":8,"across":4,"kvTile":32,"dTile":4,"vTile":32}
    `);
  });

  it('keeps a block mask’s tile sizes in both flash variants and sizes the block-mask kernels', () => {
    const input = ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = contract(%0, %1) : f32[n:n, m:m]
        %4 = iota : i32[n:n]
        %5 = iota : i32[m:m]
        %6 = map sub(%4, %5) : i32[n:n, m:m]
        %7 = const 4 : i32[]
        %8 = map mod(%6, %7) : i32[n:n, m:m]
        %9 = const 3 : i32[]
        %10 = map ne(%8, %9) : bool[n:n, m:m]
        %11 = const -Infinity : f32[]
        %12 = map where(%10, %3, %11) : f32[n:n, m:m]
        %13 = softmax(%12) over m : f32[n:n, m:m]
        %14 = contract(%13, %2) : f32[n:n, e:2]
        %15 = reduce logsumexp(%12) over [m] : f32[n:n]
        outputs o=%14, lse=%15
      }
      outputs o=%3
    `;
    // The block buffers were laid out for 32-row, 32-key tiles, which both variants keep (so the
    // long variant is allowed); classify runs one thread per row of a tile (32), compact 64 threads.
    expect(run(input)).toBe(ir`
      b0 input f32[n:n, d:4] "input 'q'"
      b1 input f32[m:m, d:4] "input 'k'"
      b2 input f32[m:m, e:2] "input 'v'"
      b3 output f32[n:n, e:2] "output 'o'"
      b4 cache u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["m",32]}]} "%3 flash mask blocks"
      b5 cache u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]}]} "%3 flash mask counts"
      b6 cache u32[] x{"op":"mul","args":[1,{"op":"ceildiv","args":["n",32]},{"op":"ceildiv","args":["m",32]}]} "%3 flash mask list"
      mask-classify %3 flash mask classify -> b4 u32[] = classify blocks of ne(mod(sub(#a0, #a1), 4:i32), 3:i32) (32x32)
      mask-compact %3 flash mask compact -> b6 u32[] counts b5 = compact b4[]
      flash %3 flash -> b3 f32[a0=n:n, a3=e:2]
        outer[] batch[] tiled[a0=n:n] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
        q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
        score=q·k valid=ne(mod(sub(#a0, #a1), 4:i32), 3:i32) kv>=[] kv<=[]
        blocks 32x32 counts b5 list b6
      outputs o=b3
      schedules
      mask-classify %3 flash mask classify: {"kind":"elementwise","workgroupSize":32}
      mask-compact %3 flash mask compact: {"kind":"elementwise","workgroupSize":64}
      flash %3 flash: {"kind":"flash","rows":32,"threads":8,"across":4,"kvTile":32,"dTile":4,"vTile":32} when {"size":"n","atLeast":256}
      flash %3 flash: {"kind":"flash","rows":32,"threads":32,"across":8,"kvTile":32,"dTile":4,"vTile":32} when {"size":"n","below":256}
    `);
  });

  it('schedules a split-kv decode kernel one row per workgroup and its combine as elementwise', () => {
    const input = ir`
      %0 = input "q" : f32[n:1, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = flash o over m args(%0, %1, %2) : f32[n:1, e:2] {
        %0 = capture 0 : f32[n:1, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = contract(%0, %1) : f32[n:1, m:m]
        %4 = softmax(%3) over m : f32[n:1, m:m]
        %5 = contract(%4, %2) : f32[n:1, e:2]
        %6 = reduce logsumexp(%3) over [m] : f32[n:1]
        outputs o=%5, lse=%6
      }
      outputs o=%3
    `;
    // n = 1: a single row, one thread, 32-key tiles; the combine kernel is one thread per item.
    expect(run(input)).toBe(ir`
      b0 input f32[n:1, d:4] "input 'q'"
      b1 input f32[m:m, d:4] "input 'k'"
      b2 input f32[m:m, e:2] "input 'v'"
      b3 output f32[n:1, e:2] "output 'o'"
      b4 temp f32[n:1, _split:16, _slot:4] "%3 flash split-kv partials"
      flash %3 flash -> b3 f32[a0=n:1, a3=e:2]
        outer[] batch[] tiled[a0=n:1] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
        q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
        score=q·k valid=all kv>=[] kv<=[]
        split 16 -> b4
      flash-combine %3 flash combine -> b3 f32[a0=n:1, a3=e:2] = combine 16 parts of b4[a0,sp,slot]
      outputs o=b3
      schedules
      flash %3 flash: {"kind":"flash","rows":1,"threads":1,"across":1,"kvTile":32,"dTile":4,"vTile":32}
      flash-combine %3 flash combine: {"kind":"elementwise","workgroupSize":64}
    `);
  });

  it('schedules the kernels inside loop bodies', () => {
    const input = ir`
      %0 = input "x" : f32[i:i]
      %1 = input "w" : f32[i:i]
      %2 = loop 3 init(%0, %1) captures() : f32[i:i] {
        %0 = carry 0 : f32[i:i]
        %1 = carry 1 : f32[i:i]
        %2 = map mul(%0, %1) : f32[i:i]
        %3 = map add(%0, %1) : f32[i:i]
        outputs 0=%2, 1=%3
      }
      %3 = loop_result %2[0] : f32[i:i]
      %4 = loop_result %2[1] : f32[i:i]
      outputs y=%3, z=%4
    `;
    // Copies pass through unchanged; the loop keeps its body's order.
    expect(run(input)).toBe(ir`
      b0 input f32[i:i] "input 'x'"
      b1 input f32[i:i] "input 'w'"
      b2 temp f32[i:i] "%2 loop carry 0"
      b3 temp f32[i:i] "%2 loop carry 1"
      b4 temp f32[i:i] "%2 loop/%2 mul"
      b5 temp f32[i:i] "%2 loop/%3 add"
      b6 output f32[i:i] "output 'y'"
      b7 output f32[i:i] "output 'z'"
      copy b0 -> b2 (%2 loop init carry 0)
      copy b1 -> b3 (%2 loop init carry 1)
      loop 3 (%2 loop) {
        elementwise %2 loop/%2 mul -> b4 f32[a0=i:i] = mul(b2[a0], b3[a0])
        elementwise %2 loop/%3 add -> b5 f32[a0=i:i] = add(b2[a0], b3[a0])
        copy b4 -> b2 (%2 loop carry 0)
        copy b5 -> b3 (%2 loop carry 1)
      }
      copy b2 -> b6 (output 'y')
      copy b3 -> b7 (output 'z')
      outputs y=b6, z=b7
      schedules
      copy b0 -> b2
      copy b1 -> b3
      loop 3 {
        elementwise %2 loop/%2 mul: {"kind":"elementwise","workgroupSize":256}
        elementwise %2 loop/%3 add: {"kind":"elementwise","workgroupSize":256}
        copy b4 -> b2
        copy b5 -> b3
      }
      copy b2 -> b6
      copy b3 -> b7
    `);
  });

  it('applies schedule overrides to every kernel of their kind', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = input "y" : f32[i:i, k:8]
      %2 = input "z" : f32[i:i, l:4096]
      %3 = input "b" : f32[j:j, n:n]
      %4 = reduce sum(%0) over [j] : f32[i:i]
      %5 = reduce max(%1) over [k] : f32[i:i]
      %6 = reduce sum(%2) over [l] : f32[i:i]
      %7 = map add(%4, %5) : f32[i:i]
      %8 = map add(%7, %6) : f32[i:i]
      %9 = contract(%0, %3) : f32[i:i, n:n]
      outputs r=%8, c=%9
    `;
    // The reduce override replaces the default even for the short k:8 reduction.
    expect(run(input, { gemm: { tileM: 32, tileN: 32, tileK: 8, threadsM: 8, threadsN: 8 }, reduce: { strategy: 'workgroup', workgroupSize: 128 }, elementwise: { workgroupSize: 64 } })).toBe(ir`
      b0 input f32[i:i, j:j] "input 'x'"
      b1 input f32[i:i, k:8] "input 'y'"
      b2 input f32[i:i, l:4096] "input 'z'"
      b3 input f32[j:j, n:n] "input 'b'"
      b4 temp f32[i:i] "%4 reduce"
      b5 temp f32[i:i] "%5 reduce"
      b6 temp f32[i:i] "%6 reduce"
      b7 output f32[i:i] "output 'r'"
      b8 output f32[i:i, n:n] "output 'c'"
      reduce %4 reduce -> b4 f32[a0=i:i] = sum over [a1=j:j] of b0[a0,a1]
      reduce %5 reduce -> b5 f32[a0=i:i] = max over [a1=k:8] of b1[a0,a1]
      reduce %6 reduce -> b6 f32[a0=i:i] = sum over [a1=l:4096] of b2[a0,a1]
      elementwise %8 add -> b7 f32[a0=i:i] = add(add(b4[a0], b5[a0]), b6[a0])
      gemm %9 contract -> b8 f32[a0=i:i, a1=n:n] batch[] m[a0=i:i] n[a1=n:n] k[a2=j:j] a=b0[a0,a2] b=b3[a2,a1]
      outputs r=b7, c=b8
      schedules
      reduce %4 reduce: {"kind":"reduce","strategy":"workgroup","workgroupSize":128}
      reduce %5 reduce: {"kind":"reduce","strategy":"workgroup","workgroupSize":128}
      reduce %6 reduce: {"kind":"reduce","strategy":"workgroup","workgroupSize":128}
      elementwise %8 add: {"kind":"elementwise","workgroupSize":64}
      gemm %9 contract: {"kind":"gemm","tileM":32,"tileN":32,"tileK":8,"threadsM":8,"threadsN":8}
    `);
  });

  it('gives a flash kernel with a schedule override that one schedule, without size guards', () => {
    const input = causalFlashPair('n');
    // The override is legal: rows 16 (a power of two), 16 threads, 8 across, 16-key tiles.
    expect(run(input, { flash: { rows: 16, threads: 16, across: 8, kvTile: 16, dTile: 4, vTile: 16 } })).toBe(ir`
      b0 input f32[n:n, d:4] "input 'q'"
      b1 input f32[m:m, d:4] "input 'k'"
      b2 input f32[m:m, e:2] "input 'v'"
      b3 output f32[n:n, e:2] "output 'o'"
      b4 output f32[n:n] "output 'lse'"
      flash %3 flash -> b3 f32[a0=n:n, a3=e:2] lse b4[a0=n:n]
        outer[] batch[] tiled[a0=n:n] kv[a1=m:m] d[a2=d:4] e[a3=e:2]
        q=b0[a0,a2] k=b1[a1,a2] v=b2[a1,a3]
        score=q·k valid=ge(#a0, #a1) kv>=[] kv<=[t+0:i32]
      outputs o=b3, lse=b4
      schedules
      flash %3 flash: {"kind":"flash","rows":16,"threads":16,"across":8,"kvTile":16,"dTile":4,"vTile":16}
    `);
  });

  it('rejects an impossible schedule override with the schedule checker’s error', () => {
    const gemm = ir`
      %0 = input "x" : f32[i:i, j:j]
      %1 = input "y" : f32[i:i, k:8]
      %2 = input "z" : f32[i:i, l:4096]
      %3 = input "b" : f32[j:j, n:n]
      %4 = reduce sum(%0) over [j] : f32[i:i]
      %5 = reduce max(%1) over [k] : f32[i:i]
      %6 = reduce sum(%2) over [l] : f32[i:i]
      %7 = map add(%4, %5) : f32[i:i]
      %8 = map add(%7, %6) : f32[i:i]
      %9 = contract(%0, %3) : f32[i:i, n:n]
      outputs r=%8, c=%9
    `;
    expect(() => run(gemm, { gemm: { tileM: 128, tileN: 128, tileK: 32, threadsM: 16, threadsN: 16 } })).toThrow('schedule: gemm tiles need 32768 bytes of workgroup memory; the device has 16384');
    const flash = causalFlashPair('n');
    expect(() => run(flash, { flash: { rows: 16, threads: 16, across: 8, kvTile: 64, dTile: 4, vTile: 16 } })).toThrow('schedule: flash kvTile must be a power of two from 8 to 32, got 64');
  });

  it('rejects illegal schedules with readable errors', () => {
    expect(() => checkSchedule({ kind: 'gemm', tileM: 64, tileN: 64, tileK: 16, threadsM: 12, threadsN: 16 }, DEFAULT_LIMITS)).toThrow(
      'schedule: gemm tileM 64 is not a multiple of threadsM 12',
    );
    expect(() => checkSchedule({ kind: 'gemm', tileM: 128, tileN: 128, tileK: 32, threadsM: 16, threadsN: 16 }, DEFAULT_LIMITS)).toThrow(
      'schedule: gemm tiles need 32768 bytes of workgroup memory; the device has 16384',
    );
    // A side one thread wide is read straight from its operand, so only the other side's tile counts.
    expect(() => checkSchedule({ kind: 'gemm', tileM: 512, tileN: 8, tileK: 64, threadsM: 64, threadsN: 2 }, DEFAULT_LIMITS)).toThrow(
      'schedule: gemm tiles need 133120 bytes of workgroup memory; the device has 16384',
    );
    expect(() => checkSchedule({ kind: 'gemm', tileM: 512, tileN: 8, tileK: 64, threadsM: 64, threadsN: 1 }, DEFAULT_LIMITS)).not.toThrow();
    expect(() => checkSchedule({ kind: 'gemm', tileM: 8, tileN: 512, tileK: 16, threadsM: 1, threadsN: 64 }, DEFAULT_LIMITS)).not.toThrow();
    expect(() => checkSchedule({ kind: 'gemm', tileM: 8, tileN: 512, tileK: 16, threadsM: 2, threadsN: 64 }, DEFAULT_LIMITS)).toThrow(
      'schedule: gemm tiles need 33280 bytes of workgroup memory; the device has 16384',
    );
    expect(() => checkSchedule({ kind: 'reduce', strategy: 'workgroup', workgroupSize: 96 }, DEFAULT_LIMITS)).toThrow('schedule: reduce workgroup size 96 must be a power of two');
    expect(() => checkSchedule({ kind: 'elementwise', workgroupSize: 512 }, DEFAULT_LIMITS)).toThrow("schedule: elementwise workgroup of 512 threads exceeds the device's 256");
  });
  it('keeps the size guards of a split reduction’s variants (split-reductions), each with its own schedule', () => {
    const input = ir`
      %0 = input "x" : f32[i:i, j:16]
      %1 = reduce sum(%0) over [i] : f32[j:16]
      outputs y=%1
    `;
    // The split kernels (pinned in split-reductions.test.ts) keep their guard i >= 16384 and the
    // whole reduction its i < 16384. The partial reduces a static 8192 (>= 2048): a 256-thread tree;
    // the combine's ceil(i/8192) parts and the whole reduction's i are symbolic: 64 threads.
    const planned = planMemory(splitReductions(fuse(parseGraph(input), { name: 'test', maxStorageBuffers: 8, limits: DEFAULT_LIMITS }), DEFAULT_LIMITS));
    expect(printSchedules(lowerToTiles(planned, DEFAULT_LIMITS).steps).join('\n')).toBe(ir`
      reduce %1 reduce partial: {"kind":"reduce","strategy":"workgroup","workgroupSize":256} when {"size":"i","atLeast":16384}
      reduce %1 reduce combine: {"kind":"reduce","strategy":"workgroup","workgroupSize":64} when {"size":"i","atLeast":16384}
      reduce %1 reduce: {"kind":"reduce","strategy":"workgroup","workgroupSize":64} when {"size":"i","below":16384}
    `);
  });
});
