/**
 * Schedules: how a kernel maps onto the device — workgroup size, reduction strategy, GEMM and
 * flash tile sizes. A schedule is a plain record and emission is a pure function of kernel plus
 * schedule, so autotuning and invariance tests just enumerate schedules. This module holds the
 * schedule types, the defaults, the checks against device limits and the flash kernel's workgroup
 * memory layout; `lower-to-tiles` attaches schedules to kernels, and the fuser reads the flash
 * default when it fixes a block mask's tile sizes. The rule for splitting a long reduction across
 * workgroups (`splitRule`, read by `split-reductions`) lives here too, beside the schedules whose
 * grids it compares.
 */
import { operands, type Node } from '../dsl/ir.ts';
import { scalarOp } from '../dsl/scalar-ops.ts';
import { TesseraError } from '../dsl/types.ts';
import { sizeProduct, type DeviceLimits, type SizeExpr, type SizeRange } from '../program/index.ts';
import { stagedWidth } from './gemm-factors.ts';
import { extentProduct, staticProduct, type FlashKernel, type KAxis, type KernelIR } from './kernel-ir.ts';

export interface ElementwiseSchedule {
  readonly kind: 'elementwise';
  readonly workgroupSize: number;
}

/** `workgroup`: one workgroup per output with a tree reduction; `thread`: one thread per output. */
export interface ReduceSchedule {
  readonly kind: 'reduce';
  readonly strategy: 'workgroup' | 'thread';
  readonly workgroupSize: number;
}

/** A (tileM × tileN) output tile per workgroup of threadsM × threadsN, K staged tileK at a time. */
export interface GemmSchedule {
  readonly kind: 'gemm';
  readonly tileM: number;
  readonly tileN: number;
  readonly tileK: number;
  readonly threadsM: number;
  readonly threadsN: number;
}

/**
 * A flash kernel: `rows` query rows per workgroup of `threads` threads, `across` of them across
 * the score and output tiles (the rest go down, each thread a register block); kv tiles of
 * `kvTile` keys (at most 32: a row's validity is a bit mask); the score tile computed `dTile`
 * head elements at a time (`dTile >= D`: the query block stays resident) and the value tile
 * staged `vTile` keys at a time.
 */
export interface FlashSchedule {
  readonly kind: 'flash';
  readonly rows: number;
  readonly threads: number;
  readonly across: number;
  readonly kvTile: number;
  readonly dTile: number;
  readonly vTile: number;
}

/**
 * A row block (`fuse-row-blocks`): blocks of `rows` rows (fixed by the fuser, which sizes workgroup
 * memory by them) on `threads` threads, each computing the stages of rows / threads rows.
 */
export interface RowBlockSchedule {
  readonly kind: 'row-block';
  readonly rows: number;
  readonly threads: number;
}

/**
 * A 2-simplicial (joint-softmax) kernel: `threads` query rows per workgroup, one per thread; the
 * innermost kv axis is scored `lTile` keys at a time (at most 32: the tile's validity is a bit
 * mask), one rescale of the running state per tile.
 */
export interface SimplicialSchedule {
  readonly kind: 'simplicial';
  readonly threads: number;
  readonly lTile: number;
}

export type Schedule = ElementwiseSchedule | ReduceSchedule | GemmSchedule | FlashSchedule | SimplicialSchedule | RowBlockSchedule;

/** The schedule each kernel kind runs under (the block-mask and combine kernels are one thread per item). */
export interface ScheduleOf {
  readonly elementwise: ElementwiseSchedule;
  readonly reduce: ReduceSchedule;
  readonly gemm: GemmSchedule;
  readonly flash: FlashSchedule;
  readonly simplicial: SimplicialSchedule;
  /** A scan: its workgroup's threads share each step's elements. */
  readonly scan: ElementwiseSchedule;
  readonly 'flash-combine': ElementwiseSchedule;
  readonly 'mask-classify': ElementwiseSchedule;
  readonly 'mask-compact': ElementwiseSchedule;
  readonly 'graph-attention': ElementwiseSchedule;
  readonly 'graph-merge': ElementwiseSchedule;
  readonly segment: ElementwiseSchedule;
  readonly 'row-block': RowBlockSchedule;
}

export interface ScheduleOverrides {
  readonly elementwise?: Omit<ElementwiseSchedule, 'kind'>;
  readonly reduce?: Omit<ReduceSchedule, 'kind'>;
  readonly gemm?: Omit<GemmSchedule, 'kind'>;
  readonly flash?: Omit<FlashSchedule, 'kind'>;
  readonly simplicial?: Omit<SimplicialSchedule, 'kind'>;
  /** A scan kernel's threads per workgroup. */
  readonly scan?: Omit<ElementwiseSchedule, 'kind'>;
  /** A row block's threads (its rows are the fuser's). */
  readonly rowBlock?: Pick<RowBlockSchedule, 'threads'>;
  /** Long-axis splitting (`splitRule`): other thresholds or chunks, or `false` for none. */
  readonly split?: false | (Partial<Omit<SplitParams, 'chunk'>> & { readonly chunk?: Partial<SplitParams['chunk']> });
}

/** Threads one workgroup may have (all along x, as every kernel here is one-dimensional). */
function maxWorkgroupThreads(limits: DeviceLimits): number {
  return Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
}

/**
 * Where a flash schedule's regions sit in its one workgroup array (offsets in floats): the row
 * state (correction factor or normaliser, running max, running sum), then the Q and K tiles, the
 * score tile and the V tile (padded so thread columns past the value head stay in bounds). When Q
 * is resident and K and V come whole, V is staged after the scores are done and shares K's
 * region. At the end the output block `o` is staged over the tiles.
 */
export function flashWorkgroupLayout(s: Omit<FlashSchedule, 'kind'>, headSize: number, valueSize: number) {
  const qw = Math.min(s.dTile, headSize);
  const shareKV = s.dTile >= headSize && s.vTile >= s.kvTile;
  const kSize = s.kvTile * qw;
  const vSize = s.vTile * valueSize + Math.ceil(valueSize / s.across) * s.across;
  const sizes = { scale: s.rows, m: s.rows, l: s.rows, q: s.rows * qw, k: shareKV ? Math.max(kSize, vSize) : kSize, s: s.rows * s.kvTile, v: shareKV ? 0 : vSize };
  let at = 0;
  const offsets = Object.fromEntries(
    Object.entries(sizes).map(([name, size]) => {
      const offset = at;
      at += size;
      return [name, offset];
    }),
  ) as Record<keyof typeof sizes, number>;
  const o = offsets.q;
  return { ...offsets, v: shareKV ? offsets.k : offsets.v, o, shareKV, total: Math.max(at, o + s.rows * valueSize) };
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** A flash head's element count (NaN when symbolic: match-attention only fuses static heads). */
function headSize(axes: readonly KAxis[]): number {
  return staticProduct(axes.map((a) => a.size)) ?? NaN;
}

/** Checks a schedule against the device; throws a readable error for an illegal one. */
export function checkSchedule(s: Schedule, limits: DeviceLimits, kernel?: KernelIR): void {
  const fail = (msg: string): never => {
    throw new TesseraError(`schedule: ${msg}`);
  };
  const threads = s.kind === 'gemm' ? s.threadsM * s.threadsN : s.kind === 'flash' || s.kind === 'simplicial' || s.kind === 'row-block' ? s.threads : s.workgroupSize;
  if (!(Number.isInteger(threads) && threads >= 1)) fail(`${s.kind} workgroup size must be a whole number >= 1`);
  if (threads > maxWorkgroupThreads(limits)) fail(`${s.kind} workgroup of ${threads} threads exceeds the device's ${maxWorkgroupThreads(limits)}`);
  if (s.kind === 'row-block' && s.rows % s.threads !== 0) fail(`row-block threads ${s.threads} must divide its ${s.rows} rows`);
  if (s.kind === 'reduce' && s.strategy === 'workgroup' && !isPow2(s.workgroupSize)) fail(`reduce workgroup size ${s.workgroupSize} must be a power of two`);
  if (s.kind === 'flash' && kernel?.kind === 'flash') {
    if (!isPow2(s.rows)) fail(`flash rows must be a power of two, got ${s.rows}`);
    if (!(isPow2(s.threads) && s.threads <= s.rows)) fail(`flash threads must be a power of two up to rows ${s.rows}, got ${s.threads}`);
    if (!(isPow2(s.across) && s.across <= s.threads)) fail(`flash across must be a power of two up to threads ${s.threads}, got ${s.across}`);
    if (!(isPow2(s.kvTile) && s.kvTile >= s.across && s.kvTile <= 32)) fail(`flash kvTile must be a power of two from ${s.across} to 32, got ${s.kvTile}`);
    if (!(Number.isInteger(s.dTile) && s.dTile >= 1)) fail(`flash dTile must be a whole number >= 1, got ${s.dTile}`);
    if (!(Number.isInteger(s.vTile) && s.vTile >= 1 && s.kvTile % s.vTile === 0)) fail(`flash vTile must divide kvTile ${s.kvTile}, got ${s.vTile}`);
    const bytes = flashWorkgroupLayout(s, headSize(kernel.d), headSize(kernel.e)).total * 4;
    if (bytes > limits.maxComputeWorkgroupStorageSize) {
      fail(`flash tiles need ${bytes} bytes of workgroup memory; the device has ${limits.maxComputeWorkgroupStorageSize}`);
    }
  }
  if (s.kind === 'simplicial' && !(Number.isInteger(s.lTile) && s.lTile >= 1 && s.lTile <= 32)) fail(`simplicial lTile must be a whole number from 1 to 32, got ${s.lTile}`);
  if (s.kind === 'gemm') {
    for (const [name, v] of Object.entries({ tileM: s.tileM, tileN: s.tileN, tileK: s.tileK })) {
      if (!(Number.isInteger(v) && v >= 1)) fail(`gemm ${name} must be a whole number >= 1, got ${v}`);
    }
    if (s.tileM % s.threadsM !== 0) fail(`gemm tileM ${s.tileM} is not a multiple of threadsM ${s.threadsM}`);
    if (s.tileN % s.threadsN !== 0) fail(`gemm tileN ${s.tileN} is not a multiple of threadsN ${s.threadsN}`);
    const bytes = gemmStagedBytes(s, kernel?.kind === 'gemm' ? kernel : undefined);
    if (bytes > limits.maxComputeWorkgroupStorageSize) {
      fail(`gemm tiles need ${bytes} bytes of workgroup memory; the device has ${limits.maxComputeWorkgroupStorageSize}`);
    }
  }
}

/**
 * Which operand tiles a GEMM stages through workgroup memory: not A when one thread spans the
 * tile's columns (`threadsN` = 1), not B when one spans its rows — no other thread reads those
 * elements, so each thread reads its own from the operand (`emit/gemm.ts`).
 */
export function gemmStaged(s: Pick<GemmSchedule, 'threadsM' | 'threadsN'>): { readonly a: boolean; readonly b: boolean } {
  return { a: s.threadsN > 1, b: s.threadsM > 1 };
}

/**
 * Workgroup memory a GEMM's staged tiles take (4 bytes an element): a side's whole tile, or
 * with the kernel, what its operand's factors stage (`gemm-factors.ts`).
 */
export function gemmStagedBytes(s: Omit<GemmSchedule, 'kind'>, kernel?: GemmKernel): number {
  const staged = gemmStaged(s);
  const [a, b] = kernel ? gemmStagedWidths(kernel, s.tileM, s.tileN) : [s.tileM, s.tileN];
  return ((staged.a ? a : 0) + (staged.b ? b : 0)) * s.tileK * 4;
}

/** Elements the A and B tiles of a `tileM` × `tileN` tile stage per step of K (`stagedWidth`). */
function gemmStagedWidths(kernel: GemmKernel, tileM: number, tileN: number): [number, number] {
  return [stagedWidth(kernel.a, kernel.m, tileM), stagedWidth(kernel.b, kernel.n, tileN)];
}

/**
 * A GEMM's tiles. On lavapipe a workgroup-memory read whose index differs across invocations is a
 * loop over the SIMD lanes (an extract, four loads and four inserts per lane for a vec4), so a
 * thread's step of K costs its (RM + RN) / 4 register reads far more than its RM × RN
 * multiply-adds: larger register blocks read less per multiply-add. A square product takes
 * 128 × 64 tiles, 8 × 8 threads with 16 × 8 register blocks (8 × 8 blocks on 64 × 64 tiles were
 * the fastest of six schedules of 4 × 4 and 8 × 8 blocks, 512³ f32: 110 ms against 170 ms for
 * 16 × 16 threads with 4 × 4 blocks; 16 × 8 blocks then took 512³ from 72.6 to 55.1 ms and 1024³
 * from 450.8 to 381.9 ms, GPU medians of 8 and 4 interleaved runs). 16 × 16 blocks were faster
 * still (51.8 ms at 512³) but their shader took 4.3 s to compile against 1.5 s.
 *
 * A skinny product — one side's free extent static and at most 32, like the [n_inp × 16] scores
 * of routing — narrows that side's tile to its extent, 8 registers a thread along it, and
 * lengthens the other to 128 (or to its own static extent, when smaller: the [16 × 64] blocks of a
 * split-K partial): [65536 × 64]·[64 × 16] took 179 ms with 64×64 tiles and 48–65 ms with 128×16
 * (16×2 threads), medians of 7 interleaved runs on lavapipe; the routing bench's split-K partials
 * went from 77–91 ms to 43 ms per dispatch with 16×64 tiles. The long side takes 16 registers a
 * thread where the narrow side is 32 wide: the trilinear einsum's 32 × 128 tiles took 4.46 against
 * 5.31 ms (GPU medians of 60 interleaved runs); beside a side of 8 or 16 the loads dominate
 * ([65536 × 64]·[64 × 16]: 27.2 against 28.2 ms) and the larger block only compiles slower
 * (1.9 s against 0.7 s), so that long side keeps 8.
 *
 * K is staged 16 at a time when it is long or unknown. A static K of at most 64 is staged as deep
 * as the workgroup memory allows, all of it in one tile where it fits (its extent rounded up to a
 * power of two): fewer stages, fewer barriers. The trilinear einsum `bhik,bhjk,bhlk->bhijl`
 * (K = 64, 32 × 128 tiles) took 7.6 ms of GPU time staged 32 deep against 9.7 ms staged 16 deep
 * (lavapipe, medians of 80 interleaved runs); 512³ took 73.5 against 76.2 ms staged 32 and 16
 * deep, so a long K keeps 16. A K shorter than 16 is one tile of its extent: a 16-deep tile over
 * K = 8 multiplies as many zeros as terms.
 */
function gemmSchedule(kernel: GemmKernel, limits: DeviceLimits): GemmSchedule {
  const [m, n, k] = [kernel.m, kernel.n, kernel.k].map((axes) => staticProduct(axes.map((a) => a.size))) as [number | null, number | null, number | null];
  return gemmScheduleFor({ m, n, k }, { m, n }, limits, kernel);
}

type GemmKernel = Extract<KernelIR, { kind: 'gemm' }>;

/**
 * `gemmSchedule`'s rule on extents (null: unknown): `narrow` decides which side is narrow and its
 * tile; `long` sizes the other side's tile (a symbolic variant passes null there, see
 * `gemmVariants`).
 */
function gemmScheduleFor(narrowOf: { m: number | null; n: number | null; k: number | null }, long: { m: number | null; n: number | null }, limits: DeviceLimits, kernel: GemmKernel): GemmSchedule {
  const narrow = (e: number | null): number | null => (e !== null && e <= 32 ? Math.max(8, 1 << Math.ceil(Math.log2(e))) : null);
  /** The long side's tile: 128, or the side's static extent rounded up to a power of two when smaller. */
  const longTile = (e: number | null): number => (e !== null && e < 128 ? Math.max(8, 1 << Math.ceil(Math.log2(e))) : 128);
  const kExtent = narrowOf.k;
  /** K's staging depth for tiles of `tileM` × `tileN` (see above), both sides counted staged. */
  const depth = (tileM: number, tileN: number): number => {
    if (kExtent === null || kExtent > 64) return 16;
    let tileK = 1 << Math.ceil(Math.log2(Math.max(1, kExtent)));
    const [a, b] = gemmStagedWidths(kernel, tileM, tileN);
    while (tileK > 16 && (a + b) * tileK * 4 > limits.maxComputeWorkgroupStorageSize) tileK /= 2;
    return tileK;
  };
  /** Threads along a long side's `tile`: 16 registers each beside a side 32 or more wide, else 8 (see above). */
  const longThreads = (tile: number, other: number): number => (other >= 32 ? Math.max(1, tile / 16) : tile / 8);
  const n = narrow(narrowOf.n);
  const m = narrow(narrowOf.m);
  if (n !== null && (m === null || n <= m)) {
    const tileM = longTile(long.m);
    return { kind: 'gemm', tileM, tileN: n, tileK: depth(tileM, n), threadsM: longThreads(tileM, n), threadsN: n / 8 };
  }
  if (m !== null) {
    const tileN = longTile(long.n);
    return { kind: 'gemm', tileM: m, tileN, tileK: depth(m, tileN), threadsM: m / 8, threadsN: longThreads(tileN, m) };
  }
  const tileM = longTile(long.m);
  return { kind: 'gemm', tileM, tileN: 64, tileK: depth(tileM, 64), threadsM: longThreads(tileM, 64), threadsN: 8 };
}

/**
 * The ranges of a symbolic side's extent that get their own GEMM variants, each tiled as
 * `gemmSchedule` tiles its `extent`: narrow tiles of 8 and of 32 (a side of 9 to 16 takes the
 * 32-wide tile rather than a variant more: a program carries every variant), then wide.
 */
const NARROW_BUCKETS: readonly { readonly extent: number | null; readonly atLeast?: number; readonly below?: number }[] = [
  { extent: 8, below: 9 },
  { extent: 32, atLeast: 9, below: 33 },
  { extent: null, atLeast: 33 },
];

/**
 * A GEMM's schedules, each with the size ranges it is for. Static sides decide the schedule at
 * compile time (one variant, no ranges). A symbolic side (rows or columns, the product of its
 * axes' sizes) gets a variant per range of `NARROW_BUCKETS`, tiled as `gemmSchedule` tiles a
 * static side in that range, with the long side's tile 128 (its extent unknown); ranges on both
 * sides merge where the schedules agree: up to five variants, each guarded by at most one range
 * per side. A run takes the one its sizes fall in, and the runtime compiles only that one. The
 * einsum chain's products ([256 × 256]·[256 × 8], [8 × 256]·[256 × 256], then the 256 × 256
 * result) with symbolic sizes took 8.9 ms a run on 64 × 64 tiles and 3.5 ms with the variants
 * (`npm run bench -- --filter "einsum "`, medians of 30 on lavapipe, two runs ten minutes apart;
 * jax-js took 6.2 and 6.1 ms in them).
 */
export function gemmVariants(kernel: GemmKernel, limits: DeviceLimits, overrides: ScheduleOverrides = {}): { schedule: GemmSchedule; ranges: SizeRange[] }[] {
  if (overrides.gemm) return [{ schedule: defaultSchedule(kernel, limits, overrides) as GemmSchedule, ranges: [] }];
  const k = staticProduct(kernel.k.map((a) => a.size));
  type Side = { extent: number | null; long: number | null; index: number; range: Omit<SizeRange, 'size'> | null };
  const options = (axes: readonly KAxis[]): Side[] => {
    const e = staticProduct(axes.map((a) => a.size));
    if (e !== null) return [{ extent: e, long: e, index: 0, range: null }];
    return NARROW_BUCKETS.map(({ extent, ...range }, index) => ({ extent, long: null, index, range }));
  };
  const [ms, ns] = [options(kernel.m), options(kernel.n)];
  const groups = new Map<string, { schedule: GemmSchedule; combos: [Side, Side][] }>();
  for (const m of ms) {
    for (const n of ns) {
      const schedule = gemmScheduleFor({ m: m.extent, n: n.extent, k }, { m: m.long, n: n.long }, limits, kernel);
      const key = JSON.stringify(schedule);
      (groups.get(key) ?? groups.set(key, { schedule, combos: [] }).get(key)!).combos.push([m, n]);
    }
  }
  const [mSize, nSize] = [kernel.m, kernel.n].map((axes) => sizeProduct(axes.map((a) => a.size))) as [SizeExpr, SizeExpr];
  /** The union of consecutive ranges of one side (none for a static side). */
  const span = (sides: readonly Side[], size: SizeExpr): SizeRange[] => {
    const [first, last] = [sides[0]!.range, sides[sides.length - 1]!.range];
    if (first === null || last === null || (first.atLeast === undefined && last.below === undefined)) return [];
    return [{ size, ...(first.atLeast !== undefined ? { atLeast: first.atLeast } : {}), ...(last.below !== undefined ? { below: last.below } : {}) }];
  };
  return [...groups.values()].flatMap(({ schedule, combos }) => {
    const distinct = (sides: Side[]) => [...new Set(sides)].sort((a, b) => a.index - b.index);
    const [m, n] = [distinct(combos.map((c) => c[0])), distinct(combos.map((c) => c[1]))];
    const consecutive = (sides: Side[]) => sides.every((x, i) => i === 0 || x.index === sides[i - 1]!.index + 1);
    // Combinations with one schedule that fill a block of consecutive ranges share one guard;
    // any other group keeps a variant per combination.
    if (m.length * n.length === combos.length && consecutive(m) && consecutive(n)) return [{ schedule, ranges: [...span(m, mSize), ...span(n, nSize)] }];
    return combos.map(([cm, cn]) => ({ schedule, ranges: [...span([cm], mSize), ...span([cn], nSize)] }));
  });
}

/**
 * An elementwise expression shared by several consumers (or captured by a loop) is recomputed in
 * each of them up to this many ops; a costlier one is materialised once.
 */
export const RECOMPUTE_LIMIT = 6;

/** What recomputing one elementwise node costs toward `RECOMPUTE_LIMIT`: its op's `recomputeCost`, 0 for a leaf. */
export function recomputeCost(node: Node): number {
  if (operands(node).length === 0) return 0;
  return node.op === 'map' ? (scalarOp(node.fn).recomputeCost ?? 1) : 1;
}

/** A kernel's schedule: the override for its kind where one is given, else the default. */
export function defaultSchedule(kernel: KernelIR, limits: DeviceLimits, overrides: ScheduleOverrides = {}): Schedule {
  const maxThreads = maxWorkgroupThreads(limits);
  switch (kernel.kind) {
    case 'elementwise':
      return { kind: 'elementwise', workgroupSize: Math.min(256, maxThreads), ...overrides.elementwise };
    case 'reduce': {
      if (overrides.reduce) return { kind: 'reduce', ...overrides.reduce };
      const r = staticProduct(kernel.reduced.map((a) => a.size));
      if (r !== null && r <= 16) return { kind: 'reduce', strategy: 'thread', workgroupSize: Math.min(64, maxThreads) };
      // Many outputs over a moderate static axis (a row reduction over a sequence): one thread per
      // output fills the device and skips the tree's barriers. [65536 × 64] row sums took 17.5 ms
      // this way against 246 ms with a workgroup per output, [65536 × 512] 92 against 374 ms
      // (lavapipe, medians of 7 interleaved runs). A symbolic output count is taken to be many.
      const outputs = staticProduct(kernel.out.axes.map((a) => a.size));
      if (r !== null && r <= 1024 && (outputs === null || outputs >= 2048)) return { kind: 'reduce', strategy: 'thread', workgroupSize: Math.min(64, maxThreads) };
      const size = r !== null && r >= 2048 ? 256 : 64;
      return { kind: 'reduce', strategy: 'workgroup', workgroupSize: Math.min(size, 1 << Math.floor(Math.log2(maxThreads))) };
    }
    case 'gemm':
      return { ...gemmSchedule(kernel, limits), ...overrides.gemm };
    case 'flash-combine':
      return { kind: 'elementwise', workgroupSize: Math.min(64, maxThreads) };
    case 'flash':
      // A block mask's tiles are fixed by its buffers (fuse chose them with the same default).
      if (kernel.blockMask) return { ...defaultFlashSchedule(kernel, limits), rows: kernel.blockMask.rows, kvTile: kernel.blockMask.kvTile };
      if (overrides.flash) return { kind: 'flash', ...overrides.flash };
      return defaultFlashSchedule(kernel, limits);
    case 'simplicial': {
      if (overrides.simplicial) return { kind: 'simplicial', ...overrides.simplicial };
      // One thread per query row; a static query axis shorter than a workgroup gets a smaller one.
      const t = kernel.tiled?.size;
      const rows = typeof t === 'number' ? 1 << Math.ceil(Math.log2(Math.max(1, t))) : kernel.tiled ? 64 : 1;
      return { kind: 'simplicial', threads: Math.min(64, rows, 1 << Math.floor(Math.log2(maxThreads))), lTile: 16 };
    }
    case 'scan':
      return { kind: 'elementwise', workgroupSize: Math.min(64, maxThreads), ...overrides.scan };
    case 'mask-classify':
      return { kind: 'elementwise', workgroupSize: kernel.rows };
    case 'mask-compact':
    case 'graph-merge':
    case 'segment':
      return { kind: 'elementwise', workgroupSize: Math.min(64, maxThreads) };
    case 'graph-attention':
      // Its threads share the value axes and score the part's edges (`edgesPerGroup` per workgroup).
      return { kind: 'elementwise', workgroupSize: Math.min(64, maxThreads, kernel.edgesPerGroup) };
    case 'row-block':
      return { kind: 'row-block', rows: kernel.rows, threads: overrides.rowBlock?.threads ?? Math.max(1, kernel.rows / ROW_BLOCK_ROWS_PER_THREAD) };
  }
}

/**
 * Rows of a block each row-block thread computes the stages of (see `RowBlockSchedule`). Lavapipe
 * pays for every value each lane loads, even one all lanes share, so a thread with more rows loads
 * a row-independent operand (the betas' weights, the predictions x̃) once for all of them: the
 * routing bench at 65,536 inputs took 354 ms with 1 row per thread, 319 with 2, 269 with 4, 302
 * with 8 and 367 with 16 (lavapipe, 2 cores; an ad-hoc script compiling the bench's kernel with
 * `compileFor(..., { compile: { schedules: { rowBlock: { threads } } } })` for each and timing
 * `runAndRead` in 5 interleaved rounds after one warm-up; medians; the outputs were identical).
 */
export const ROW_BLOCK_ROWS_PER_THREAD = 4;

/** Query rows from which the long-axis flash schedule pays for its slower first compile. */
export const LONG_QUERY_ROWS = 256;

/**
 * The long-axis flash schedule, for head dims up to 64: 32 rows on 8 threads, 4 across, so each
 * thread holds 16×8 scores and 16×16 outputs. Fewer, fatter threads load less from workgroup
 * memory per multiply-add, which is what lavapipe's SIMD-over-threads execution pays for; it was
 * the fastest schedule measured there (N = M = 1024, D = 64). Its first compile takes lavapipe
 * tens of seconds, so only long query axes get it. Null where it does not apply or fit.
 */
export function longFlashSchedule(kernel: Pick<FlashKernel, 'd' | 'e' | 'tiled'>, limits: DeviceLimits): FlashSchedule | null {
  const d = headSize(kernel.d);
  const e = headSize(kernel.e);
  if (!kernel.tiled || !(d <= 64 && e <= 64)) return null;
  const s = { rows: 32, threads: 8, across: 4, kvTile: 32, dTile: d, vTile: 32 };
  return fits(s, d, e, limits) ? { kind: 'flash', ...s } : null;
}

function fits(s: Omit<FlashSchedule, 'kind'>, d: number, e: number, limits: DeviceLimits): boolean {
  return s.threads <= maxWorkgroupThreads(limits) && flashWorkgroupLayout(s, d, e).total * 4 <= limits.maxComputeWorkgroupStorageSize;
}

/**
 * The default flash schedule. A static query axis of at least `LONG_QUERY_ROWS` rows gets the
 * long-axis schedule where it applies. Otherwise: one thread per row, 8 across; the most rows (up
 * to 32), then the largest kv tile, then the query block resident (`dTile = D`) or the largest
 * head chunk, then the largest value chunk that fit the device.
 */
export function defaultFlashSchedule(kernel: Pick<FlashKernel, 'd' | 'e' | 'tiled'>, limits: DeviceLimits): FlashSchedule {
  const t = kernel.tiled?.size;
  const d = headSize(kernel.d);
  const e = headSize(kernel.e);
  if (!Number.isFinite(d * e)) throw new TesseraError('schedule: a flash kernel needs static head sizes (the head axes of q, k and v)');
  const long = typeof t === 'number' && t >= LONG_QUERY_ROWS ? longFlashSchedule(kernel, limits) : null;
  if (long) return long;
  const maxRows = Math.min(typeof t === 'number' ? Math.min(32, 1 << Math.ceil(Math.log2(t))) : kernel.tiled ? 32 : 1, 1 << Math.floor(Math.log2(maxWorkgroupThreads(limits))));
  const dTiles = [d, 16, 8, 4, 2, 1].filter((x) => x <= d);
  for (let rows = maxRows; rows >= 1; rows /= 2) {
    const across = Math.min(8, rows);
    for (let kvTile = 32; kvTile >= across; kvTile /= 2) {
      for (const dTile of dTiles) {
        for (let vTile = kvTile; vTile >= 1; vTile /= 2) {
          const s = { rows, threads: rows, across, kvTile, dTile, vTile };
          if (fits(s, d, e, limits)) return { kind: 'flash', ...s };
        }
      }
    }
  }
  throw new TesseraError(`schedule: no flash tiles fit ${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory (head ${d}, value head ${e})`);
}

// ---- long reductions split across workgroups ------------------------------------------------------

/**
 * When and how `split-reductions` cuts a long reduced axis (`splitRule`): a kernel is split when
 * the axis has at least `minExtent` elements and the kernel, unsplit, launches at most
 * `maxWorkgroups` workgroups; each part folds `chunk` elements of the axis.
 */
export interface SplitParams {
  /** The shortest axis worth cutting. */
  readonly minExtent: number;
  /** The largest unsplit grid that leaves a GPU partly idle. */
  readonly maxWorkgroups: number;
  /** Elements of the axis per part, for a reduction and for a GEMM. */
  readonly chunk: { readonly reduce: number; readonly gemm: number };
}

/**
 * The defaults. `maxWorkgroups` 1024: a large GPU holds about a thousand 256-thread workgroups
 * at once (an H200: 132 SMs of up to 2048 threads); beyond that the outputs alone fill it.
 * `chunk.reduce` 8192: 32 elements per thread of the 256-thread tree. More parts fill a GPU
 * sooner, but every workgroup pays for its tree and barriers, which lavapipe runs as coroutines:
 * summing [1048576 × 16] there took 164 ms with chunks of 4096, 112 ms with 8192 and 108 ms with
 * 16384 (258 ms unsplit, the same run), so 8192 keeps most of the gain and still gives 1M × 16 a
 * GPU-filling 2048 workgroups. `chunk.gemm` 1024: 64 K-steps of 16 per output tile (256 to 4096
 * measured alike on lavapipe, whose cost per K-step does not depend on the chunk). `minExtent`
 * 16384: two reduce chunks, so every part but the last folds a full one.
 */
export const SPLIT_DEFAULTS: SplitParams = { minExtent: 16384, maxWorkgroups: 1024, chunk: { reduce: 8192, gemm: 1024 } };

/** How `split-reductions` cuts a kernel: which reduced axis, in chunks of how many elements, and when. */
export interface SplitRule {
  /** The reduced axis to cut: one of a reduction's `reduced` or a GEMM's `k` axes. */
  readonly axis: KAxis;
  /** Its elements per part. */
  readonly chunk: number;
  /**
   * The sizes for which splitting pays, where that depends on symbolic sizes (the program then
   * carries the split kernels and the whole one, each guarded); absent when it always does.
   */
  readonly when?: SizeRange;
}

/**
 * Whether to split a reduction or GEMM whose reduced axis is long next to its output
 * (`SplitParams`; the override `split: false` never splits). The unsplit grid is a reduction's
 * one workgroup per output, or a GEMM's one per output tile of its schedule. The axis cut is the
 * longest static one of at least `minExtent`, else the first symbolic one. Where a size is
 * symbolic the test moves to run time (`when`): on the axis length `n` alone (`n >= 16384`), on
 * the grid `g` alone (`g < 1025`), or on both at once as `min(n·p, ceil(16384·p·1024 / g)) >=
 * 16384·p`, which holds exactly when `n >= 16384` and `g <= 1024` (`p`, the least whole number
 * with 16384·p > 1024, is 1 for the defaults). Null when the kernel is not split.
 */
export function splitRule(kernel: KernelIR, limits: DeviceLimits, overrides: ScheduleOverrides = {}): SplitRule | null {
  if (kernel.kind !== 'reduce' && kernel.kind !== 'gemm') return null;
  if ((kernel.kind === 'reduce' && kernel.split) || overrides.split === false) return null;
  const params = { ...SPLIT_DEFAULTS, ...overrides.split, chunk: { ...SPLIT_DEFAULTS.chunk, ...overrides.split?.chunk } };
  const { minExtent, maxWorkgroups } = params;
  const chunk = params.chunk[kernel.kind];
  for (const [name, v] of Object.entries({ minExtent, maxWorkgroups, [`${kernel.kind} chunk`]: chunk })) {
    if (!(Number.isInteger(v) && v >= 1)) throw new TesseraError(`schedule: split ${name} must be a whole number >= 1, got ${v}`);
  }
  const reduced = kernel.kind === 'reduce' ? kernel.reduced : kernel.k;
  const longest = reduced
    .filter((a) => a.chunk === undefined && typeof a.size === 'number' && a.size >= minExtent)
    .sort((a, b) => (b.size as number) - (a.size as number))[0];
  const axis = longest ?? reduced.find((a) => a.chunk === undefined && typeof a.size === 'string');
  if (!axis) return null;
  const grid = unsplitGrid(kernel, limits, overrides);
  if (typeof grid === 'number' && grid > maxWorkgroups) return null;
  if (typeof axis.size === 'number') return typeof grid === 'number' ? { axis, chunk } : { axis, chunk, when: { size: grid, below: maxWorkgroups + 1 } };
  if (typeof grid === 'number') return { axis, chunk, when: { size: axis.size, atLeast: minExtent } };
  // ceil(R·W / g) >= R exactly when g <= W, once R = minExtent·p exceeds W.
  const p = Math.floor(maxWorkgroups / minExtent) + 1;
  const n: SizeExpr = p === 1 ? axis.size : { op: 'mul', args: [axis.size, p] };
  const size: SizeExpr = { op: 'min', args: [n, { op: 'ceildiv', args: [minExtent * p * maxWorkgroups, grid] }] };
  return { axis, chunk, when: { size, atLeast: minExtent * p } };
}

/** The workgroups a reduction or GEMM launches unsplit, under its schedule. */
function unsplitGrid(kernel: Extract<KernelIR, { kind: 'reduce' | 'gemm' }>, limits: DeviceLimits, overrides: ScheduleOverrides): SizeExpr {
  const s = defaultSchedule(kernel, limits, overrides);
  const tiles = (axes: readonly KAxis[], tile: number): SizeExpr => {
    const n = extentProduct(axes);
    return typeof n === 'number' ? Math.ceil(n / tile) : { op: 'ceildiv', args: [n, tile] };
  };
  if (kernel.kind === 'reduce') return s.kind === 'reduce' && s.strategy === 'thread' ? tiles(kernel.out.axes, s.workgroupSize) : extentProduct(kernel.out.axes);
  if (s.kind !== 'gemm') throw new TesseraError('schedule: a gemm kernel needs a gemm schedule');
  const product = [extentProduct(kernel.batch), tiles(kernel.m, s.tileM), tiles(kernel.n, s.tileN)];
  const fixed = product.filter((x): x is number => typeof x === 'number').reduce((a, b) => a * b, 1);
  const symbolic = product.filter((x) => typeof x !== 'number');
  if (symbolic.length === 0) return fixed;
  const args = fixed === 1 ? symbolic : [fixed, ...symbolic];
  return args.length === 1 ? args[0]! : { op: 'mul', args };
}
