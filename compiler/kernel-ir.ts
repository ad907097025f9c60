/**
 * Kernel IR: what the fuser produces. Each kernel computes one materialised tensor from
 * buffers, over named iteration axes; scalar work is an expression tree whose leaves load from
 * buffers at kernel axis indices. Host steps order kernels, copies and loops. A schedule (tile
 * sizes, workgroup size) is attached by `lower-to-tiles`; `kernel-ir-print.ts` shows everything so
 * each pass can be tested on text.
 */
import type { ReduceFn } from '../dsl/ir.ts';
import type { Axis, DType, Size } from '../dsl/types.ts';
import { sizeProduct, type SizeExpr, type SizeGuard } from '../program/index.ts';

/**
 * The product of sizes known at compile time, or null when one is symbolic (the run-time product
 * is `sizeProduct` in `program/`).
 */
export function staticProduct(sizes: readonly Size[]): number | null {
  let p = 1;
  for (const s of sizes) {
    if (typeof s !== 'number') return null;
    p *= s;
  }
  return p;
}

/**
 * An iteration axis of a kernel: a local id (`a0`, `a1`, ...) for a Tensor IR axis.
 *
 * A parts axis (`split-reductions`) over a symbolic axis has no size of its own: it counts the
 * chunks of `chunk` elements of an axis of `size`, so its extent is ⌈size / chunk⌉ (`axisExtent`).
 * Such an axis is always the outermost of the index lists it appears in, where no stride depends
 * on its extent, and only the reduce and GEMM emitters meet it (through `extentProduct`).
 */
export interface KAxis {
  readonly id: string;
  readonly name: string;
  readonly size: Size;
  readonly chunk?: number;
}

/** An axis's extent: its size, or ⌈size / chunk⌉ for a parts axis. */
export function axisExtent(a: KAxis): SizeExpr {
  return a.chunk === undefined ? a.size : { op: 'ceildiv', args: [a.size, a.chunk] };
}

/** The product of axes' extents (`sizeProduct` with parts axes as ⌈size / chunk⌉). */
export function extentProduct(axes: readonly KAxis[]): SizeExpr {
  const whole = sizeProduct(axes.filter((a) => a.chunk === undefined).map((a) => a.size));
  const parts = axes.filter((a) => a.chunk !== undefined).map(axisExtent);
  if (parts.length === 0) return whole;
  const args = whole === 1 ? parts : [whole, ...parts];
  return args.length === 1 ? args[0]! : { op: 'mul', args };
}


/**
 * How a load indexes one axis of its buffer: by a kernel axis id, or (a gather) by an i32
 * expression, clamped into the axis.
 */
export type KIndex = { readonly size: Size; readonly index: string } | { readonly size: Size; readonly at: KExpr };

export type KExpr =
  | { readonly k: 'load'; readonly buffer: number; readonly dtype: DType; readonly axes: readonly KIndex[] }
  | { readonly k: 'const'; readonly value: number; readonly dtype: DType }
  | { readonly k: 'param'; readonly name: string; readonly dtype: DType }
  | { readonly k: 'index'; readonly axis: string }
  | { readonly k: 'size'; readonly size: Size }
  /** In a flash kernel's score: the q·k dot product of the current query row and key. */
  | { readonly k: 'acc' }
  | { readonly k: 'op'; readonly fn: string; readonly args: readonly KExpr[]; readonly dtype: DType };

/** A load indexed by kernel axes only (no gathered axis). */
export type AxisLoad = Omit<Extract<KExpr, { k: 'load' }>, 'axes'> & { readonly axes: readonly { readonly size: Size; readonly index: string }[] };

export interface KOutput {
  readonly buffer: number;
  readonly dtype: DType;
  /** The output tensor's axes in storage order, as kernel axes. */
  readonly axes: readonly KAxis[];
}

/**
 * A batched matrix product's operands: `a` over its `batch`, `m` and `k` axes times `b` over
 * `batch`, `k` and `n`, summed over `k`.
 */
export interface GemmOperands {
  readonly batch: readonly KAxis[];
  readonly m: readonly KAxis[];
  readonly n: readonly KAxis[];
  readonly k: readonly KAxis[];
  readonly a: KExpr;
  readonly b: KExpr;
}

export type KernelIR =
  | { readonly kind: 'elementwise'; readonly name: string; readonly out: KOutput; readonly value: KExpr }
  | {
      readonly kind: 'reduce';
      readonly name: string;
      readonly fn: Exclude<ReduceFn, 'logsumexp'>;
      readonly out: KOutput;
      readonly reduced: readonly KAxis[];
      readonly value: KExpr;
      /** One half of a reduction split by `split-reductions`; absent for a whole reduction. */
      readonly split?: ReduceSplit;
    }
  | ({ readonly kind: 'gemm'; readonly name: string; readonly out: KOutput } & GemmOperands)
  | FlashKernel
  | SimplicialKernel
  | ScanKernel
  | FlashCombineKernel
  | GraphAttentionKernel
  | GraphMergeKernel
  | SegmentKernel
  | MaskClassifyKernel
  | MaskCompactKernel
  | RowBlockKernel;

/** A kernel a row block is built from: a stage computing per-row values or a final folding rows. */
export type RowKernel = Extract<KernelIR, { kind: 'elementwise' | 'reduce' | 'gemm' }>;

/**
 * Row-local work fused with the reductions over the rows it feeds (`fuse-row-blocks`).
 *
 * Every `stage` computes a tensor over the long axis `row` and small static axes, one row at a
 * time from that row alone (its loads of other stages read the same row), so a block of rows is
 * computed on chip: each stage's output is a local buffer (a negative id: `localId`), never
 * allocated. Every `final` folds its value over `row` (a reduction over `row`, or a contraction
 * with `k = [row]`); a workgroup folds the `chunk` rows of one part of `row` (`parts`, ⌈n / chunk⌉
 * of them), `rows` at a time, and writes its part's partial result to `out` ([parts, ...outputs]),
 * which a combine kernel after it folds in a fixed order. Every stage and final names the row axis
 * `ROW_AXIS`.
 */
export interface RowBlockKernel {
  readonly kind: 'row-block';
  readonly name: string;
  /** The first final's partial output (every final's is in `finals`). */
  readonly out: KOutput;
  readonly row: KAxis;
  /**
   * Outer axes (a batch): every workgroup folds its part of the rows for one index of them, so
   * stages and finals read them as fixed (ids `outer0`, `outer1`, ...; locals do not store them).
   */
  readonly outer: readonly KAxis[];
  readonly parts: KAxis;
  /** Rows per part (a multiple of `rows`). */
  readonly chunk: number;
  /** Rows per block: one thread each for the stages. */
  readonly rows: number;
  /** Row-independent operands of the stages' and finals' contractions, computed once per workgroup. */
  readonly invariants: readonly Extract<KernelIR, { kind: 'elementwise' }>[];
  readonly stages: readonly RowKernel[];
  /** Stage outputs that other code reads as well, written to their buffers as they are computed. */
  readonly stores: readonly { readonly local: number; readonly out: KOutput }[];
  readonly finals: readonly { readonly kernel: Extract<KernelIR, { kind: 'reduce' | 'gemm' }>; readonly out: KOutput }[];
}

/** The id every stage and final of a row block gives its row axis. */
export const ROW_AXIS = 'row';

/** Whether a buffer id is a row block's on-chip local (stage outputs are numbered -1, -2, ...). */
export function isLocal(buffer: number): boolean {
  return buffer < 0;
}

/**
 * A half of a split reduction: `partial` folds one chunk per part and leaves the finaliser out;
 * `combine` folds the parts and finalises with the element count of the whole reduction, the
 * product of `count` (what mean divides by), not the number of parts.
 */
export type ReduceSplit = { readonly stage: 'partial' } | { readonly stage: 'combine'; readonly count: readonly Size[] };

/**
 * A bound on the kv index derived from the mask: `kv >= t·tiled + c` (lower) or `kv <= t·tiled + c`
 * (upper), with `c` built from constants, parameters and sizes only (uniform in a workgroup).
 */
export interface KvBound {
  readonly t: -1 | 0 | 1;
  readonly c: KExpr;
}

/** What both fused attention kernels hold: the outputs, the row axes, head axes, Q and the score. */
interface FusedAttentionRows {
  readonly name: string;
  readonly out: KOutput;
  readonly lse: KOutput | null;
  /** Row axes other than `tiled`; `batch` is the part the keys and values vary with. */
  readonly outer: readonly KAxis[];
  readonly batch: readonly KAxis[];
  /** The query axis split across a workgroup's threads (null: one row per workgroup). */
  readonly tiled: KAxis | null;
  readonly d: readonly KAxis[];
  readonly e: readonly KAxis[];
  readonly q: KExpr;
  readonly score: KExpr;
  readonly valid: KExpr | null;
}

/**
 * Fused attention: for every row (outer × tiled axes), online softmax over `kv` of `score`
 * (where `valid`), accumulating `v`; writes `out` = normalised sum and `lse` = log-sum-exp.
 */
export interface FlashKernel extends FusedAttentionRows {
  readonly kind: 'flash';
  readonly kv: KAxis;
  readonly k: KExpr;
  readonly v: KExpr;
  readonly lower: readonly KvBound[];
  readonly upper: readonly KvBound[];
  /**
   * Split-KV (decode shapes): the kv axis is cut into `parts` chunks, one workgroup each, which
   * write (max, sum, unnormalised accumulator) rows to `partial` for a `flash-combine` kernel.
   */
  readonly split: { readonly parts: number; readonly partial: KOutput } | null;
  /** Block mask (mask not captured by analytic bounds): the compacted list of kv tiles to visit. */
  readonly blockMask: BlockMask | null;
}

/**
 * Fused attention whose softmax runs jointly over several kv axes (2-simplicial attention: keys
 * `j` and `l`): for every row, online softmax over the pairs (kv[0], kv[1], ...) of `score`
 * (where `valid`), whose `acc` is the n-ary dot product Σ_d q·k[0]·k[1]·…, accumulating the product
 * of the values `v[0] ⊙ v[1] ⊙ …`; writes `out` = normalised sum and `lse` = log-sum-exp. No tensor
 * over the pairs exists. `k[t]` and `v[t]` read kv axis `kv[t]` (and batch, head axes) only;
 * `bounds[t]` are the analytic bounds on `kv[t]` in terms of the tiled query axis.
 */
export interface SimplicialKernel extends FusedAttentionRows {
  readonly kind: 'simplicial';
  readonly kv: readonly KAxis[];
  readonly k: readonly KExpr[];
  readonly v: readonly KExpr[];
  readonly bounds: readonly { readonly lower: readonly KvBound[]; readonly upper: readonly KvBound[] }[];
}

/**
 * A scan (`dsl/scan.ts`) as one kernel: one workgroup per index of the `parallel` axes (batch,
 * heads) runs the whole recurrence, chunk after chunk, its state and every intermediate of the
 * body kept in `locals` — per-workgroup regions of the `scratch` buffer, never a whole-sequence
 * tensor. Each level of (possibly nested) scans is a loop over chunks whose steps the workgroup's
 * threads share, with a barrier after each; see `emit/scan.ts`.
 */
/**
 * Attention over a sparse graph (a flash node whose softmax runs over a CSR edge axis, see
 * `lower-attention/graph-kernel.ts`), load-balanced by edges: the edge axis is cut into parts of
 * `edgesPerGroup` edges, one workgroup per (part, outer index), whatever the rows' degrees. Each
 * workgroup scores its edges in parallel (finding each edge's target row by binary search in
 * `rowptr`), then folds them row by row with an online softmax, its threads sharing the value
 * axes. A row wholly inside the part is written to `out` (and `lse`); a row cut by a part's edge
 * leaves its partial state (max, sum, unnormalised accumulator) in `pieces` — slot 0 for the row
 * holding the part's first edge, slot 1 for the row running past its last — for `graph-merge`.
 */
export interface GraphAttentionKernel extends GraphRows {
  readonly kind: 'graph-attention';
  /** `[parts, 2, outer, value + 2]` f32: (max, sum, accumulator) of rows cut by a part's edges. */
  readonly pieces: KOutput;
  readonly edge: KAxis;
  /** The axes the score's product sums (`q·k` over d), empty when the score has no product. */
  readonly d: readonly KAxis[];
  /** The score's product's operands over (outer, edge, row, d), or null without a product. */
  readonly a: KExpr | null;
  readonly b: KExpr | null;
  /** The score over (outer, edge, row), `acc` standing for the product; `valid`: which edges count. */
  readonly score: KExpr;
  readonly valid: KExpr | null;
  /** The message aggregated, over (outer, edge, row, value). */
  readonly message: KExpr;
}

export interface GraphMergeKernel extends GraphRows {
  readonly kind: 'graph-merge';
  readonly pieces: AxisLoad;
}

/** What both graph-attention kernels know of the rows they write. */
interface GraphRows {
  readonly name: string;
  readonly out: KOutput;
  readonly lse: KOutput | null;
  /** Axes of the scores other than the edge axis (heads, batch). */
  readonly outer: readonly KAxis[];
  /** The CSR's target-node axis: the row each edge belongs to. */
  readonly row: KAxis;
  /** The value (message) axes: the output's axes besides the outer and row axes; static. */
  readonly value: readonly KAxis[];
  /** `rowptr`, loaded at the row axis (the emitters read it at computed rows). */
  readonly rowptr: AxisLoad;
  readonly edgesPerGroup: number;
}

/**
 * A reduction over each target row's edges of a CSR adjacency, one thread per output element
 * (`fn` sum, mean, max or min; `value` over the output's axes, the edge axis and the row), or with
 * `fn` `ids` the target row of every edge (`out` over the edge axis, one thread per row). The
 * unfused path of the segment operations; graph attention has its own balanced kernel.
 */
export interface SegmentKernel {
  readonly kind: 'segment';
  readonly name: string;
  readonly fn: 'sum' | 'mean' | 'max' | 'min' | 'ids';
  readonly out: KOutput;
  readonly row: KAxis;
  readonly edge: KAxis;
  readonly rowptr: AxisLoad;
  readonly value: KExpr | null;
}

export interface ScanKernel {
  readonly kind: 'scan';
  readonly name: string;
  /** The first of `results` (or the scratch buffer when the scan's results are all unused). */
  readonly out: KOutput;
  /** Output buffers: the final states and the stacked outputs the program reads. */
  readonly results: readonly KOutput[];
  /** Per-workgroup scratch words (u32; f32 values stored as their bits), `perWorkgroup` each. */
  readonly scratch: KOutput;
  readonly perWorkgroup: SizeExpr;
  readonly parallel: readonly KAxis[];
  readonly locals: readonly ScanLocal[];
  readonly root: ScanLevel;
  /** Final states copied to their result buffers after the last chunk. */
  readonly finals: readonly { readonly local: number; readonly out: KOutput }[];
}

/** A scan kernel's on-chip tensor: its id (negative, like a row block's), dtype and axes. */
export interface ScanLocal {
  readonly id: number;
  readonly dtype: DType;
  readonly axes: readonly KAxis[];
  /** Its elements' upper bound (a chunk-length axis counts as its chunk) and its offset in a workgroup's scratch. */
  readonly capacity: SizeExpr;
  readonly offset: SizeExpr;
  /** Held in workgroup memory (a state of static size; see `lower-scan.ts`), not in the scratch. */
  readonly workgroup?: boolean;
}

/**
 * One scan's loop: over `length` elements of its axis, `chunk` at a time; `start` and `count` name
 * the chunk's first index and length (the symbol `size` stands for the count inside the body).
 */
export interface ScanLevel {
  readonly length: Size;
  readonly chunk: number;
  readonly size: string;
  readonly start: string;
  readonly count: string;
  /** The state locals and their initial values (computed before the first chunk). */
  readonly carries: readonly { readonly local: number; readonly init: KExpr }[];
  readonly steps: readonly ScanStep[];
  /**
   * The chunk's outputs, stored at the chunk's offset along `axis` (a kernel axis id) of a result
   * buffer (top level) or a stacked local (nested scans).
   */
  readonly ys: readonly { readonly target: number; readonly axes: readonly KAxis[]; readonly axis: string; readonly value: KExpr }[];
  /**
   * The next state: computed into `next`, then copied over the state once every step has read it;
   * or, `next` null, written over the state in place (the value reads the state only at the element
   * it writes, and no other state).
   */
  readonly next: readonly { readonly local: number; readonly next: number | null; readonly value: KExpr }[];
}

/** An index comparison `p op q` (a causal mask's). */
export type Relation = 'le' | 'lt' | 'ge' | 'gt';

/** Each relation as its operator (in WGSL and in printed IR alike). */
export const RELATION_SYMBOL: Readonly<Record<Relation, string>> = { le: '<=', lt: '<', ge: '>=', gt: '>' };

/**
 * What a scan level's product may skip because a causal mask leaves it unused (`scan-masks.ts`);
 * its sides are `m` and `n`.
 */
export interface GemmMask {
  /** A term needs `k op side` (k the contracted index, side the block's row or column). */
  readonly terms?: { readonly side: 'm' | 'n'; readonly op: Relation };
  /** An output is read only where `n op m`. */
  readonly outputs?: Relation;
}

/**
 * A step of a scan level: a local computed elementwise, folded over axes, a binary contraction
 * (`a` over its `batch`, `m` and `k` axes times `b` over `batch`, `k` and `n`, summed over `k`:
 * register-blocked like a GEMM), or a nested scan.
 */
export type ScanStep =
  | { readonly kind: 'compute'; readonly local: number; readonly value: KExpr }
  | { readonly kind: 'reduce'; readonly local: number; readonly fn: Exclude<ReduceFn, 'logsumexp'>; readonly reduced: readonly KAxis[]; readonly value: KExpr }
  | ({
      readonly kind: 'gemm';
      readonly local: number;
      /** Outputs per thread along m and n (1 where that side has a single element). */
      readonly blockM: number;
      readonly blockN: number;
      /** Terms and outputs a causal mask leaves unused (`scan-masks.ts`). */
      readonly mask?: GemmMask;
    } & GemmOperands)
  | { readonly kind: 'scan'; readonly level: ScanLevel };

/** Every expression of a scan level (nested levels included). */
export function scanLevelExprs(level: ScanLevel): KExpr[] {
  return [
    ...level.carries.map((c) => c.init),
    ...level.steps.flatMap((s) => (s.kind === 'scan' ? scanLevelExprs(s.level) : s.kind === 'gemm' ? [s.a, s.b] : [s.value])),
    ...level.ys.map((y) => y.value),
    ...level.next.map((n) => n.value),
  ];
}

function mapScanLevel(level: ScanLevel, f: (e: KExpr) => KExpr, g: (b: number) => number): ScanLevel {
  return {
    ...level,
    carries: level.carries.map((c) => ({ ...c, init: f(c.init) })),
    steps: level.steps.map((s) => (s.kind === 'scan' ? { ...s, level: mapScanLevel(s.level, f, g) } : s.kind === 'gemm' ? { ...s, a: f(s.a), b: f(s.b) } : { ...s, value: f(s.value) })),
    ys: level.ys.map((y) => ({ ...y, target: g(y.target), value: f(y.value) })),
    next: level.next.map((n) => ({ ...n, value: f(n.value) })),
  };
}

/**
 * A block mask: per (mask-outer index, query tile), `counts` holds how many kv tiles have any
 * allowed pair and `list` their indices, with bit 31 set where every pair is allowed (the mask is
 * then not evaluated). `maskOuter` are the outer axes the mask depends on. Tile sizes are fixed
 * here because the buffers are indexed by tile.
 */
export interface BlockMask {
  readonly maskOuter: readonly KAxis[];
  readonly rows: number;
  readonly kvTile: number;
  readonly counts: AxisLoad;
  readonly list: AxisLoad;
}

/** Classifies every (mask-outer, query tile, kv tile) block: 0 empty, 1 partial, 2 full. */
export interface MaskClassifyKernel {
  readonly kind: 'mask-classify';
  readonly name: string;
  readonly out: KOutput;
  readonly valid: KExpr;
  readonly maskOuter: readonly KAxis[];
  readonly tiled: KAxis | null;
  readonly kv: KAxis;
  readonly rows: number;
  readonly kvTile: number;
}

/** Compacts each block row's non-empty kv tiles into a list and a count. */
export interface MaskCompactKernel {
  readonly kind: 'mask-compact';
  readonly name: string;
  /** The list; `counts` is the second output. */
  readonly out: KOutput;
  readonly counts: KOutput;
  readonly blocks: AxisLoad;
  readonly maskOuter: readonly KAxis[];
  readonly tiled: KAxis | null;
  readonly kv: KAxis;
  readonly rows: number;
  readonly kvTile: number;
}

/** Merges split-KV partial results by log-sum-exp into the attention output and lse. */
export interface FlashCombineKernel {
  readonly kind: 'flash-combine';
  readonly name: string;
  readonly out: KOutput;
  readonly lse: KOutput | null;
  /** The partial buffer, as a load over [rows..., split, slot] (for binding bookkeeping). */
  readonly partial: AxisLoad;
  readonly rows: readonly KAxis[];
  readonly e: readonly KAxis[];
  readonly parts: number;
}

/**
 * A kernel run a chunk at a time (`chunk-bindings`), so that buffers larger than one storage
 * binding are bound a slice at a time: the iteration's outermost axis `axis` (static `extent`) is
 * cut into chunks of `rows`, one dispatch each. Every access to a sliced buffer has `axis` as its
 * outermost index, directly (`factor` 1) or through a split reduction's gather `s·C + t`
 * (`factor` C), so the rows of `axis` in a chunk touch `rows · factor` consecutive rows of
 * `rowElements` elements each, and the buffer is bound from that slice's first element.
 */
export interface Chunking {
  readonly axis: string;
  readonly extent: number;
  readonly rows: number;
  readonly slices: readonly ChunkedBuffer[];
}

/** A buffer of a chunked kernel bound a slice at a time (see `Chunking`). */
export interface ChunkedBuffer {
  readonly buffer: number;
  /** Its rows per row of the chunk axis. */
  readonly factor: number;
  /** Elements per row of its outermost axis. */
  readonly rowElements: number;
}

export interface BufferDecl {
  readonly id: number;
  readonly dtype: DType;
  readonly axes: readonly Axis[];
  readonly role: 'input' | 'output' | 'temp' | 'cache';
  /** Element count when it is not the product of the axis sizes (tile-indexed buffers). */
  readonly elements?: SizeExpr;
  readonly label: string;
}

/** Declares a buffer of the fused program and returns its id. */
export type NewBuffer = (dtype: DType, axes: readonly Axis[], role: BufferDecl['role'], label: string, elements?: SizeExpr) => number;

/**
 * A host step. A kernel step with `when` runs only for the sizes in that range: a program carries
 * variants of a kernel for ranges of a symbolic size this way (a split reduction and the whole
 * one), and the runtime dispatches (and compiles) only the variant a run's sizes select.
 */
export type HostStep =
  | { readonly kind: 'kernel'; readonly kernel: KernelIR; readonly when?: SizeGuard }
  | { readonly kind: 'copy'; readonly src: number; readonly dst: number; readonly label: string }
  | { readonly kind: 'loop'; readonly count: number; readonly label: string; readonly body: readonly HostStep[] };

export interface BoundaryDecl {
  readonly name: string;
  readonly dtype: DType;
  readonly axes: readonly Axis[];
  readonly buffer: number;
}

/** The fused program: buffers, host steps and the boundary. */
export interface FusedProgram {
  readonly name: string;
  readonly buffers: readonly BufferDecl[];
  readonly steps: readonly HostStep[];
  readonly inputs: readonly BoundaryDecl[];
  readonly outputs: readonly BoundaryDecl[];
  readonly params: readonly { readonly name: string; readonly dtype: DType }[];
}

/** The expressions directly under `e`: an op's operands, a gather's index expressions. */
export function subExprs(e: KExpr): KExpr[] {
  if (e.k === 'op') return [...e.args];
  if (e.k === 'load') return e.axes.flatMap((a) => ('at' in a ? [a.at] : []));
  return [];
}

/** An expression's dtype (indices and sizes are i32, a flash score's `acc` f32). */
export function exprDtype(e: KExpr): DType {
  return e.k === 'index' || e.k === 'size' ? 'i32' : e.k === 'acc' ? 'f32' : e.dtype;
}

/** Whether `e` reads any of the axes `ids` (as an index, or to index a load). */
export function readsAxis(e: KExpr, ids: ReadonlySet<string>): boolean {
  if (e.k === 'index') return ids.has(e.axis);
  if (e.k === 'load' && e.axes.some((a) => 'index' in a && ids.has(a.index))) return true;
  return subExprs(e).some((x) => readsAxis(x, ids));
}

/**
 * Whether a reduction is a contraction written as one: an f32 sum of a product (a dot product,
 * a fused n-ary contraction). Such kernels follow the GEMM's arithmetic (`Emitter.products`).
 */
export function isSumOfProducts(k: Extract<KernelIR, { kind: 'reduce' }>): boolean {
  return k.fn === 'sum' && k.out.dtype === 'f32' && k.value.k === 'op' && k.value.fn === 'mul';
}

/** Distinct buffers an expression loads. */
export function loadedBuffers(e: KExpr, into: Set<number> = new Set()): Set<number> {
  if (e.k === 'load') into.add(e.buffer);
  for (const sub of subExprs(e)) loadedBuffers(sub, into);
  return into;
}

/** Every expression a kernel evaluates. */
export function kernelExprs(k: KernelIR): KExpr[] {
  switch (k.kind) {
    case 'gemm':
      return [k.a, k.b];
    case 'flash':
      return [
        k.q,
        k.k,
        k.v,
        k.score,
        ...(k.valid ? [k.valid] : []),
        ...k.lower.map((b) => b.c),
        ...k.upper.map((b) => b.c),
        ...(k.blockMask ? [k.blockMask.counts, k.blockMask.list] : []),
      ];
    case 'scan':
      return scanLevelExprs(k.root);
    case 'simplicial':
      return [k.q, ...k.k, ...k.v, k.score, ...(k.valid ? [k.valid] : []), ...k.bounds.flatMap((b) => [...b.lower, ...b.upper].map((x) => x.c))];
    case 'flash-combine':
      return [k.partial];
    case 'mask-classify':
      return [k.valid];
    case 'mask-compact':
      return [k.blocks];
    case 'graph-attention':
      return [k.rowptr, ...(k.a ? [k.a] : []), ...(k.b ? [k.b] : []), k.score, ...(k.valid ? [k.valid] : []), k.message];
    case 'graph-merge':
      return [k.rowptr, k.pieces];
    case 'segment':
      return [k.rowptr, ...(k.value ? [k.value] : [])];
    case 'row-block':
      return [...k.invariants, ...k.stages, ...k.finals.map((f) => f.kernel)].flatMap(kernelExprs);
    default:
      return [k.value];
  }
}

/** The tensors a kernel writes. */
export function kernelOutputs(k: KernelIR): KOutput[] {
  if (k.kind === 'flash' && k.split) return [k.split.partial];
  if (k.kind === 'mask-compact') return [k.out, k.counts];
  if (k.kind === 'scan') return [...k.results, k.scratch];
  if (k.kind === 'row-block') return [...k.finals.map((f) => f.out), ...k.stores.map((x) => x.out)];
  if (k.kind === 'graph-attention') return [k.out, ...(k.lse ? [k.lse] : []), k.pieces];
  return (k.kind === 'flash' || k.kind === 'simplicial' || k.kind === 'flash-combine' || k.kind === 'graph-merge') && k.lse ? [k.out, k.lse] : [k.out];
}

/** Every buffer id a kernel's expressions load (a row block's locals included). */
export function kernelLoads(k: KernelIR): Set<number> {
  const set = new Set<number>();
  for (const e of kernelExprs(k)) loadedBuffers(e, set);
  return set;
}

/** Buffers a kernel reads (a row block's on-chip locals are not buffers of the program). */
export function kernelInputs(k: KernelIR): number[] {
  return [...kernelLoads(k)].filter((b) => !isLocal(b));
}

function mapExpr(e: KExpr, f: (b: number) => number): KExpr {
  if (e.k === 'load') return { ...e, buffer: f(e.buffer), axes: e.axes.map((a) => ('at' in a ? { size: a.size, at: mapExpr(a.at, f) } : a)) };
  if (e.k === 'op') return { ...e, args: e.args.map((a) => mapExpr(a, f)) };
  return e;
}

/** The kernel with every buffer id renamed by `f`. */
export function mapKernelBuffers(k: KernelIR, f: (b: number) => number): KernelIR {
  const out = { ...k.out, buffer: f(k.out.buffer) };
  const bound = (b: KvBound): KvBound => ({ ...b, c: mapExpr(b.c, f) });
  /** The fields both fused attention kernels share, renamed. */
  const rows = (x: FlashKernel | SimplicialKernel) => ({ out, lse: x.lse ? { ...x.lse, buffer: f(x.lse.buffer) } : null, q: mapExpr(x.q, f), score: mapExpr(x.score, f), valid: x.valid ? mapExpr(x.valid, f) : null });
  switch (k.kind) {
    case 'gemm':
      return { ...k, out, a: mapExpr(k.a, f), b: mapExpr(k.b, f) };
    case 'flash': {
      return {
        ...k,
        ...rows(k),
        k: mapExpr(k.k, f),
        v: mapExpr(k.v, f),
        lower: k.lower.map(bound),
        upper: k.upper.map(bound),
        split: k.split ? { ...k.split, partial: { ...k.split.partial, buffer: f(k.split.partial.buffer) } } : null,
        blockMask: k.blockMask ? { ...k.blockMask, counts: { ...k.blockMask.counts, buffer: f(k.blockMask.counts.buffer) }, list: { ...k.blockMask.list, buffer: f(k.blockMask.list.buffer) } } : null,
      };
    }
    case 'scan': {
      const g = (b: number) => (isLocal(b) ? b : f(b));
      const results = k.results.map((r) => ({ ...r, buffer: f(r.buffer) }));
      const scratch = { ...k.scratch, buffer: f(k.scratch.buffer) };
      return {
        ...k,
        out: results[0] ?? scratch,
        results,
        scratch,
        root: mapScanLevel(k.root, (e) => mapExpr(e, g), g),
        finals: k.finals.map((x) => ({ ...x, out: { ...x.out, buffer: f(x.out.buffer) } })),
      };
    }
    case 'simplicial': {
      return {
        ...k,
        ...rows(k),
        k: k.k.map((x) => mapExpr(x, f)),
        v: k.v.map((x) => mapExpr(x, f)),
        bounds: k.bounds.map((b) => ({ lower: b.lower.map(bound), upper: b.upper.map(bound) })),
      };
    }
    case 'mask-classify':
      return { ...k, out, valid: mapExpr(k.valid, f) };
    case 'mask-compact':
      return { ...k, out, counts: { ...k.counts, buffer: f(k.counts.buffer) }, blocks: { ...k.blocks, buffer: f(k.blocks.buffer) } };
    case 'flash-combine':
      return { ...k, out, lse: k.lse ? { ...k.lse, buffer: f(k.lse.buffer) } : null, partial: { ...k.partial, buffer: f(k.partial.buffer) } };
    case 'graph-attention': {
      const e = (x: KExpr | null) => (x ? mapExpr(x, f) : null);
      return {
        ...k,
        out,
        lse: k.lse ? { ...k.lse, buffer: f(k.lse.buffer) } : null,
        pieces: { ...k.pieces, buffer: f(k.pieces.buffer) },
        rowptr: { ...k.rowptr, buffer: f(k.rowptr.buffer) },
        a: e(k.a),
        b: e(k.b),
        score: mapExpr(k.score, f),
        valid: e(k.valid),
        message: mapExpr(k.message, f),
      };
    }
    case 'segment':
      return { ...k, out, rowptr: { ...k.rowptr, buffer: f(k.rowptr.buffer) }, value: k.value ? mapExpr(k.value, f) : null };
    case 'graph-merge':
      return { ...k, out, lse: k.lse ? { ...k.lse, buffer: f(k.lse.buffer) } : null, pieces: { ...k.pieces, buffer: f(k.pieces.buffer) }, rowptr: { ...k.rowptr, buffer: f(k.rowptr.buffer) } };
    case 'row-block': {
      const g = (b: number) => (isLocal(b) ? b : f(b));
      const finals = k.finals.map((x) => ({ kernel: mapKernelBuffers(x.kernel, g) as RowBlockKernel['finals'][number]['kernel'], out: { ...x.out, buffer: f(x.out.buffer) } }));
      return {
        ...k,
        out: finals[0]!.out,
        invariants: k.invariants.map((x) => mapKernelBuffers(x, g) as RowBlockKernel['invariants'][number]),
        stages: k.stages.map((x) => mapKernelBuffers(x, g) as RowKernel),
        stores: k.stores.map((x) => ({ local: x.local, out: { ...x.out, buffer: f(x.out.buffer) } })),
        finals,
      };
    }
    default:
      return { ...k, out, value: mapExpr(k.value, f) };
  }
}

