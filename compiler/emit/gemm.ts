/**
 * GEMM kernels (a binary contraction with its fused prologues): a (tileM × tileN) output tile per
 * workgroup, K staged `tileK` at a time through workgroup memory, each thread a register block
 * of (tileM / threadsM) × (tileN / threadsN) outputs. A side only one thread wide is not staged:
 * its registers are read from the operand directly (see `directLoads`); a side whose operand is a
 * product of factors along two parts of its free axes stages the factors (`factoredStage`,
 * `gemm-factors.ts`). Run a chunk at a time
 * (`chunk-bindings`), a dispatch covers the chunk's rows of the outermost batch axis, or the
 * chunk's whole `m` tiles.
 */
import { wgslLiteral } from '../../dsl/scalar-ops.ts';
import { sizeProduct, type SizeExpr } from '../../program/index.ts';
import { operandFactors, type OperandFactors } from '../gemm-factors.ts';
import { staticProduct, type KAxis, type KExpr, type KernelIR } from '../kernel-ir.ts';
import { gemmStaged, type GemmSchedule } from '../schedule.ts';
import type { Stmt } from '../wgsl/ast.ts';
import { Emitter, regType, type Emitted } from './core.ts';
import { forRange, strided } from './loops.ts';

/** A GEMM multiplies and adds on the device's IEEE arithmetic, its operands from input tensors read plain (`Emitter.products`). */
export function emitGemm(k: Extract<KernelIR, { kind: 'gemm' }>, s: GemmSchedule, em: Emitter): Emitted {
  return em.withNonFinite(em.products, () => emitTiles(k, s, em));
}

function emitTiles(k: Extract<KernelIR, { kind: 'gemm' }>, s: GemmSchedule, em: Emitter): Emitted {
  const d = k.out.dtype;
  const T = regType(d);
  const zero = wgslLiteral(0, d);
  const { tileM: TM, tileN: TN, tileK: TK, threadsM: TY, threadsN: TX } = s;
  const RM = TM / TY;
  const RN = TN / TX;
  const threads = TX * TY;
  const vecA = RM % 4 === 0;
  const vecB = RN % 4 === 0;
  const M = em.product(k.m.map((a) => a.size));
  const N = em.product(k.n.map((a) => a.size));
  const K = em.product(k.k.map((a) => a.size));
  // Cut along m, a chunk is whole tiles (`chunk-bindings` makes its rows a multiple of tileM):
  // `tiles_m` counts a chunk's, and `tm` is offset to the chunk's first.
  const mTiles = em.chunked(k.m) ? (em.chunk!.rows * staticProduct(k.m.slice(1).map((a) => a.size))!) / TM : null;
  const body: Stmt[] = [
    { s: 'let', name: 'tiles_n', value: `(${N} + ${TN - 1}u) / ${TN}u` },
    { s: 'let', name: 'tiles_m', value: mTiles === null ? `(${M} + ${TM - 1}u) / ${TM}u` : `${mTiles}u` },
    { s: 'let', name: 'tn', value: 'wid % tiles_n' },
    ...(mTiles === null
      ? [{ s: 'let' as const, name: 'tm', value: '(wid / tiles_n) % tiles_m' }]
      : [
          { s: 'let' as const, name: 'tm', value: 'chunk * tiles_m + (wid / tiles_n) % tiles_m' },
          { s: 'if' as const, cond: `tm * ${TM}u >= ${M}`, then: [{ s: 'return' as const }] },
        ]),
    ...em.flatIndex('bflat', '(wid / tiles_n) / tiles_m', k.batch),
    ...em.decompose('bflat', k.batch, 'b'),
    { s: 'let', name: 'tx', value: `lid % ${TX}u` },
    { s: 'let', name: 'ty', value: `lid / ${TX}u` },
    { s: 'var', name: 'acc', type: `array<${T}, ${RM * RN}>` },
    { s: 'var', name: 'ra', type: `array<${T}, ${RM}>` },
    { s: 'var', name: 'rb', type: `array<${T}, ${RN}>` },
  ];
  /**
   * An operand's value as a plain number. An outer `where` with a finite constant filler (the
   * split-K tail guard, a masked operand) selects between IEEE values without arithmetic, so it
   * is a plain `select` even where its branch may be non-finite (no `xf` round trip per element).
   */
  const operand = (e: KExpr): string => {
    const [cond, value, filler] = e.k === 'op' && e.fn === 'where' ? e.args : [];
    if (!cond || !value || filler?.k !== 'const' || !Number.isFinite(filler.value)) return em.expr(e);
    return `select(${em.expr(filler)}, ${operand(value)}, ${em.expr(cond)})`;
  };
  /** The operand's element at free index `${tag}flat` and K index `k0 + kk`, or zero outside the product. */
  const element = (tag: string, bound: string, free: readonly KAxis[], expr: KExpr): Stmt[] => [
    { s: 'let', name: 'kflat', value: 'k0 + kk' },
    { s: 'var', name: 'v', type: T, value: zero },
    {
      s: 'if',
      cond: `${tag}flat < ${bound} && kflat < ${K}`,
      then: [...em.decompose(`${tag}flat`, free, tag), ...em.decompose('kflat', k.k, 'k'), { s: 'assign', target: 'v', value: operand(expr) }],
    },
  ];
  /**
   * Cooperative load of `width` × tileK elements of `value` into `tile`, stored k-major
   * (`tile[kk * width + fi]`, as vec4s where `vec`): element `fi` is free index `first + fi`
   * (`first` a WGSL expression, decomposed over `free` under `bound`). A walks its global memory
   * k-fastest, B free-fastest: each reads along its contiguous axis.
   */
  const loadTile = (tile: string, width: number, kFastest: boolean, first: string, free: readonly KAxis[], bound: string, value: KExpr, tag: string, vec: boolean): Stmt =>
    strided('e', width * TK, threads, [
      { s: 'let', name: 'fi', value: kFastest ? `e / ${TK}u` : `e % ${width}u` },
      { s: 'let', name: 'kk', value: kFastest ? `e % ${TK}u` : `e / ${width}u` },
      { s: 'let', name: `${tag}flat`, value: `${first}fi` },
      ...element(tag, bound, free, value),
      { s: 'assign', target: vec ? `${tile}[kk * ${width / 4}u + fi / 4u][fi % 4u]` : `${tile}[kk * ${width}u + fi]`, value: 'v' },
    ]);
  /**
   * One side's registers for step `kk`, read straight from the operand: register `i` is the
   * element at the tile's row `row(i)`. Used for A when one thread spans the tile's columns
   * (threadsN = 1), for B when one spans its rows: then no other thread of the workgroup reads
   * those elements, and staging them through workgroup memory is a store, a barrier and a load
   * for nothing. The narrow products of the einsum chain took 0.72 against 1.05 ms
   * (256 × 256 · 256 × 8, A direct) and 0.66 against 0.98 ms (8 × 256 · 256 × 256, B direct):
   * an ad-hoc script alternating the two WGSL texts in one process on lavapipe, medians of 60
   * `backend.profile` GPU timestamps each.
   */
  const directLoads = (side: Side): Stmt[] =>
    Array.from({ length: side.block }, (_, i): Stmt => ({
      s: 'block',
      body: [
        { s: 'let', name: `${side.tag}flat`, value: `${side.base} * ${side.width}u + ${blockRow(i, side.t, side.threads, side.vec)}` },
        ...element(side.tag, side.bound, side.free, side.value),
        { s: 'assign', target: `${side.reg}[${i}]`, value: 'v' },
      ],
    }));
  /** A side staged whole: its tile (as vec4s where its block is read as vec4s), loaded, then read per step. */
  const plainStage = (side: Side): Stage => ({
    tiles: [side.vec ? { name: side.tile, type: `array<vec4<${T}>, ${(side.width * TK) / 4}>` } : { name: side.tile, type: `array<${T}, ${side.width * TK}>` }],
    loads: [loadTile(side.tile, side.width, side.kFastest, `${side.base} * ${side.width}u + `, side.free, side.bound, side.value, side.tag, side.vec)],
    registers: registerLoads(side.reg, side.tile, side.width, side.block, side.t, side.threads, side.vec),
  });
  /**
   * A side whose operand is a product of factors along two parts of its free axes
   * (`operandFactors`): each part's factors staged on their own, `width / extent` outer rows and
   * `extent` inner ones, and each register their product. The trilinear einsum's B operand
   * (`in0[i, k] * in1[j, k]` over (i, j), 128 wide) stages 4 + 32 elements a step instead of 128:
   * a quarter of the global reads, each once. Hand-edited into its WGSL, GPU medians went from
   * 4.92 to 3.87 ms (lavapipe, 120 interleaved `backend.profile` runs).
   */
  const factoredStage = (side: Side, f: OperandFactors): Stage => {
    const E = f.extent;
    const rows = side.width / E;
    const [outerTile, innerTile] = [`${side.tile}o`, `${side.tile}i`];
    const innerVec = side.vec && E % 4 === 0;
    const tiles: { name: string; type: string }[] = [];
    const loads: Stmt[] = [];
    if (f.outerValue) {
      tiles.push({ name: outerTile, type: `array<${T}, ${rows * TK}>` });
      loads.push(loadTile(outerTile, rows, side.kFastest, `${side.base} * ${rows}u + `, f.outer, em.product(f.outer.map((a) => a.size)), f.outerValue, `${side.tag}o`, false));
    }
    if (f.innerValue) {
      tiles.push(innerVec ? { name: innerTile, type: `array<vec4<${T}>, ${(E * TK) / 4}>` } : { name: innerTile, type: `array<${T}, ${E * TK}>` });
      loads.push(loadTile(innerTile, E, side.kFastest, '', f.inner, `${E}u`, f.innerValue, `${side.tag}i`, innerVec));
    }
    // Register i's row is t·step + c (`blockRow`): its inner index (t·step + c % E) % E, its outer
    // one (t·step + c % E) / E + ⌊c / E⌋.
    const row = (c: number) => `${side.t}${side.vec ? ' * 4u' : ''} + ${c % E}u`;
    const registers: Stmt[] = [];
    // Each distinct read once, named: registers that share an outer row, or a vec4 of the inner
    // tile, read it together.
    const reads = new Map<string, string>();
    const counts = new Map<string, number>();
    const read = (prefix: string, value: string): string => {
      let name = reads.get(value);
      if (name === undefined) {
        const n = counts.get(prefix) ?? 0;
        counts.set(prefix, n + 1);
        name = `${prefix}${n}`;
        reads.set(value, name);
        registers.push({ s: 'let', name, value });
      }
      return name;
    };
    for (let i = 0; i < side.block; i++) {
      const c = blockOffset(i, side.threads, side.vec);
      // Within a vec4 group the outer row is the group's first register's (inner rows come whole).
      const first = innerVec ? c - (i & 3) : c;
      const outer = `${outerTile}[kk * ${rows}u + (${row(first)}) / ${E}u + ${Math.floor(first / E)}u]`;
      const inner = innerVec
        ? `${read(`${side.reg}i_`, `${innerTile}[kk * ${E / 4}u + (${row(first)}) % ${E}u / 4u]`)}[${i & 3}]`
        : `${innerTile}[kk * ${E}u + (${row(c)}) % ${E}u]`;
      const parts = [...(f.outerValue ? [read(`${side.reg}o_`, outer)] : []), ...(f.innerValue ? [inner] : [])];
      registers.push({ s: 'assign', target: `${side.reg}[${i}]`, value: parts.join(' * ') });
    }
    return { tiles, loads, registers };
  };
  const staged = gemmStaged(s);
  const sides: [Side, Side] = [
    { reg: 'ra', tile: 'tile_a', width: TM, block: RM, t: 'ty', threads: TY, vec: vecA, base: 'tm', free: k.m, bound: M, value: k.a, tag: 'm', kFastest: true, staged: staged.a },
    { reg: 'rb', tile: 'tile_b', width: TN, block: RN, t: 'tx', threads: TX, vec: vecB, base: 'tn', free: k.n, bound: N, value: k.b, tag: 'n', kFastest: false, staged: staged.b },
  ];
  const stages = sides.map((side): Stage => {
    if (!side.staged) return { tiles: [], loads: [], registers: directLoads(side) };
    const factors = operandFactors(side.value, side.free, side.width);
    return factors ? factoredStage(side, factors) : plainStage(side);
  });
  const inner: Stmt[] = stages.flatMap((st) => st.registers);
  for (let i = 0; i < RM; i++) {
    for (let j = 0; j < RN; j++) inner.push({ s: 'assign', target: `acc[${i * RN + j}]`, op: '+', value: `ra[${i}] * rb[${j}]` });
  }
  const loads = stages.flatMap((st) => st.loads);
  // Nothing staged, nothing to wait for.
  const step = loads.length > 0 ? [...loads, { s: 'barrier' } as Stmt, forRange('kk', TK, inner), { s: 'barrier' } as Stmt] : [forRange('kk', TK, inner)];
  body.push(forRange('k0', K, step, TK));
  const outIndex = em.offset(k.out.axes.map((a) => ({ size: a.size, index: a.id })));
  const rowA = (i: number) => blockRow(i, 'ty', TY, vecA);
  const rowB = (j: number) => blockRow(j, 'tx', TX, vecB);
  /** Binds the output indices of register (i, j) (see `blockRow`) and runs `store` where it is in range. */
  const guarded = (i: number, j: number, store: Stmt): Stmt => ({
    s: 'if',
    cond: `tm * ${TM}u + ${rowA(i)} < ${M} && tn * ${TN}u + ${rowB(j)} < ${N}`,
    then: [
      { s: 'let', name: `mo${i}_${j}`, value: `tm * ${TM}u + ${rowA(i)}` },
      { s: 'let', name: `no${i}_${j}`, value: `tn * ${TN}u + ${rowB(j)}` },
      ...em.decompose(`mo${i}_${j}`, k.m, `mo${i}_${j}`),
      ...em.decompose(`no${i}_${j}`, k.n, `no${i}_${j}`),
      store,
    ],
  });
  const side = vectorSide(k, vecA, vecB);
  const out4 = side ? em.atVec4(k.out.buffer, outIndex) : null;
  // A vec4 store covers four registers along its side: (i..i+3, j) or (i, j..j+3).
  const [stepM, stepN] = [out4 && side === 'm' ? 4 : 1, out4 && side === 'n' ? 4 : 1];
  for (let i = 0; i < RM; i += stepM) {
    for (let j = 0; j < RN; j += stepN) {
      const acc = (c: number) => `acc[${stepM > 1 ? (i + c) * RN + j : i * RN + j + c}]`;
      const store: Stmt = out4
        ? { s: 'assign', target: out4, value: `vec4<${T}>(${[0, 1, 2, 3].map(acc).join(', ')})` }
        : { s: 'assign', target: em.at(k.out.buffer, outIndex), value: acc(0) };
      body.push(guarded(i, j, store));
    }
  }
  const workgroups: SizeExpr = {
    op: 'mul',
    args: [
      em.extent(k.batch),
      mTiles ?? { op: 'ceildiv', args: [sizeProduct(k.m.map((a) => a.size)), TM] },
      { op: 'ceildiv', args: [sizeProduct(k.n.map((a) => a.size)), TN] },
    ],
  };
  return {
    module: em.module(threads, body, stages.flatMap((st) => st.tiles)),
    workgroups,
    em,
  };
}

/** One operand side of a GEMM as the emitter stages it (A: `m`, rows `ty`; B: `n`, columns `tx`). */
interface Side {
  readonly reg: string;
  readonly tile: string;
  /** The tile's free extent (tileM or tileN) and a thread's register block along it. */
  readonly width: number;
  readonly block: number;
  /** The thread's index along the side and the thread count. */
  readonly t: string;
  readonly threads: number;
  /** Whether the block is read as vec4s (`blockRow`). */
  readonly vec: boolean;
  /** The workgroup's tile index along the side. */
  readonly base: string;
  readonly free: readonly KAxis[];
  /** The side's free extent, a WGSL expression. */
  readonly bound: string;
  readonly value: KExpr;
  readonly tag: string;
  readonly kFastest: boolean;
  readonly staged: boolean;
}

/** What one side adds to the kernel: workgroup tiles, their cooperative loads, and the per-step register reads. */
interface Stage {
  readonly tiles: { name: string; type: string }[];
  readonly loads: Stmt[];
  readonly registers: Stmt[];
}

/**
 * Where a thread's `i`-th register of one side sits in the tile, from the thread's index `t` of
 * `threads` along that side. A block whose length is a multiple of 4 is read as vec4s: register
 * `i` is lane `i % 4` of vec4 `i / 4 · threads + t` (groups of 4 interleaved across the threads,
 * so neighbouring threads read neighbouring vec4s). Otherwise registers are `threads` apart.
 */
function blockRow(i: number, t: string, threads: number, vec: boolean): string {
  return `${t}${vec ? ' * 4u' : ''} + ${blockOffset(i, threads, vec)}u`;
}

/** The constant part of register `i`'s row in `blockRow`. */
function blockOffset(i: number, threads: number, vec: boolean): number {
  return vec ? (i >> 2) * threads * 4 + (i & 3) : i * threads;
}

/**
 * One side's registers for step `kk` of a staged K tile (`tile[kk * width + row]`, see `blockRow`).
 * Read as vec4s where the block allows: lavapipe compiles a workgroup-memory read whose index
 * differs across invocations into a loop over the SIMD lanes, and a vec4 read moves four values
 * per pass of that loop. 512³ f32 with
 * 8 × 8 blocks took 76.3 ms against 91.8 ms scalar (GPU timestamps, medians of 12 interleaved runs);
 * GPUs read vec4s from workgroup memory in one instruction as well.
 */
function registerLoads(reg: string, tile: string, width: number, block: number, t: string, threads: number, vec: boolean): Stmt[] {
  if (!vec) return Array.from({ length: block }, (_, i): Stmt => ({ s: 'assign', target: `${reg}[${i}]`, value: `${tile}[kk * ${width}u + ${blockRow(i, t, threads, false)}]` }));
  return Array.from({ length: block / 4 }, (_, g): Stmt[] => [
    { s: 'let', name: `${reg}4_${g}`, value: `${tile}[kk * ${width / 4}u + ${t} + ${g * threads}u]` },
    ...[0, 1, 2, 3].map((c): Stmt => ({ s: 'assign', target: `${reg}[${g * 4 + c}]`, value: `${reg}4_${g}[${c}]` })),
  ]).flat();
}

/**
 * The side whose registers a thread stores four at a time, as one `vec4`: the side read as vec4s
 * (`blockRow`) whose last axis is the output's last (contiguous) axis, of a static size that is a
 * multiple of 4 (so a group of four never straddles a row, and a side's extent is whole groups).
 * On lavapipe a store whose address differs between invocations is a loop over the SIMD lanes,
 * as a load is: with this store written into the WGSL by hand, the K = 8 product of the einsum
 * chain (256 × 8 · 8 × 256) took 0.59 ms against 0.72 ms storing one element at a time, the
 * trilinear einsum 3.60 against 3.93 ms (GPU timestamps, medians of 150 and 100 interleaved runs).
 */
function vectorSide(k: Extract<KernelIR, { kind: 'gemm' }>, vecA: boolean, vecB: boolean): 'm' | 'n' | null {
  const last = k.out.axes.at(-1);
  if (!last || typeof last.size !== 'number' || last.size % 4 !== 0) return null;
  if (vecB && k.n.at(-1)?.id === last.id) return 'n';
  if (vecA && k.m.at(-1)?.id === last.id) return 'm';
  return null;
}
