/**
 * What every kernel emitter shares: the `Emitter`, which owns one kernel's bindings, uniform
 * words (sizes, parameters, opaque literals), helper functions and expression emission, and
 * assembles the WGSL module. Index arithmetic is u32.
 *
 * Every shader reads word 0 of its uniforms as the total workgroup count (the runtime may round
 * the grid up when it splits it in two dimensions), then the size symbols it uses, then the
 * parameters it uses, then its opaque literals, and last, in a kernel run a chunk at a time
 * (`Chunking`), the chunk index.
 *
 * A chunked kernel is emitted here in two places, so the kind emitters only change their iteration
 * space: `flatIndex` and `extent` restrict an iteration whose outermost axis is the chunk axis to
 * the chunk's rows (`chunk_row0`, `chunk_rows`, read in the prologue), and `at`, through which
 * every load and store goes, indexes a buffer bound a slice at a time from the slice's start.
 */
import { withDependencies, xfLiteral } from '../../dsl/nonfinite-wgsl.ts';
import { scalarOp, wgslLiteral } from '../../dsl/scalar-ops.ts';
import { TesseraError, type DType, type Size } from '../../dsl/types.ts';
import type { SizeExpr } from '../../program/index.ts';
import { exprDtype, extentProduct, isLocal, kernelExprs, kernelInputs, kernelOutputs, staticProduct, subExprs, type Chunking, type KAxis, type KExpr, type KernelIR } from '../kernel-ir.ts';
import { printExpr } from '../kernel-ir-print.ts';
import { mayBeNonFinite, type FloatFacts } from '../nonfinite.ts';
import type { Stmt, WgslModule } from '../wgsl/ast.ts';

/** The lowest finite f32: where a running max starts (WGSL may assume there are no infinities). */
export const F32_LOWEST = wgslLiteral(-Infinity, 'f32');

/** The register type of a dtype (booleans are stored as u32). */
export function regType(d: DType): string {
  return d === 'bool' ? 'bool' : d;
}

/** A flash head's element count (match-attention only fuses static heads). */
export function staticHeadSize(axes: readonly KAxis[]): number {
  const n = staticProduct(axes.map((a) => a.size));
  if (n === null) throw new TesseraError(`emit: flash head axis '${axes.find((a) => typeof a.size !== 'number')!.name}' must have a static size`);
  return n;
}

function storageType(d: DType): string {
  return d === 'bool' ? 'u32' : d;
}

/** One emitted kernel: its module, its dispatch's workgroup count and the state that bound it. */
export interface Emitted {
  readonly module: WgslModule;
  readonly workgroups: SizeExpr;
  readonly em: Emitter;
}

/** Per-kernel emission state: bindings, uniform words, helpers. */
export class Emitter {
  readonly symbols: string[] = [];
  readonly params: { name: string; dtype: DType }[] = [];
  /** Literal values passed as uniform words (so the shader compiler cannot unroll on them). */
  readonly literals: number[] = [];
  readonly helpers = new Map<string, string>();
  readonly bindingOf = new Map<number, number>();
  readonly bufferDtypes = new Map<number, DType>();
  /** Buffers bound as `array<vec4<…>>` (written four elements at a time, `atVec4`). */
  readonly vec4Buffers = new Set<number>();

  readonly outputs: readonly number[];
  /** The WGSL expression a flash score's `acc` placeholder stands for. */
  accName = 'dot';
  /**
   * Where a row block's on-chip locals (negative buffer ids) are read and written: the element
   * of local `buffer` at the given indices of its axes.
   */
  localAt: ((buffer: number, axes: readonly { size: Size; index: string }[]) => string) | null = null;
  #facts: FloatFacts;
  /**
   * The buffers that may be non-finite as contractions see them: the GEMM rule, under which the
   * caller's input tensors are read plain (see `emit-wgsl`).
   */
  readonly products: ReadonlySet<number>;

  /**
   * `facts`: the program's buffers that may hold ±∞ or NaN, and their signs. Values computed from
   * them (or from non-finite constants, or singular ops) are carried as `xf` (see
   * `dsl/nonfinite-wgsl.ts`). `chunk`: the kernel runs a chunk at a time (`chunk-bindings`).
   * `products`: see the field.
   */
  constructor(
    readonly kernel: KernelIR,
    facts: FloatFacts = { nonFinite: new Set(), signs: new Map() },
    readonly chunk: Chunking | null = null,
    products?: ReadonlySet<number>,
  ) {
    this.#facts = facts;
    this.products = products ?? facts.nonFinite;
    this.outputs = kernelOutputs(kernel).map((o) => o.buffer);
    kernelInputs(kernel)
      .sort((a, b) => a - b)
      .forEach((b, i) => this.bindingOf.set(b, i));
    for (const o of this.outputs) this.bindingOf.set(o, this.bindingOf.size);
    const visit = (e: KExpr) => {
      if (e.k === 'load') this.bufferDtypes.set(e.buffer, e.dtype);
      subExprs(e).forEach(visit);
    };
    kernelExprs(kernel).forEach(visit);
    for (const o of kernelOutputs(kernel)) this.bufferDtypes.set(o.buffer, o.dtype);
  }

  // ---- named subexpressions (a row block's per-row and repeated values, computed once) ----

  readonly #bound = new Map<string, { readonly name: string; readonly xf: boolean }>();
  readonly #keys = new WeakMap<KExpr, string>();

  #key(e: KExpr): string {
    let k = this.#keys.get(e);
    if (k === undefined) this.#keys.set(e, (k = printExpr(e)));
    return k;
  }

  #lookup(e: KExpr): { readonly name: string; readonly xf: boolean } | undefined {
    return this.#bound.size === 0 || e.k !== 'op' ? undefined : this.#bound.get(this.#key(e));
  }

  /**
   * `let` statements computing `exprs` (ops, in order: an expression may use an earlier one) into
   * `prefix0, prefix1, ...` (those already named are skipped); until `unbindAll`, every later
   * emission of an equal expression reads the name instead of computing it again (as `xf` where the
   * value may be non-finite).
   */
  bind(exprs: readonly KExpr[], prefix: string): Stmt[] {
    return exprs.filter((e) => !this.#lookup(e)).map((e, i) => {
      const name = `${prefix}${i}`;
      const xf = this.special(e);
      const value = xf ? this.xexpr(e) : this.expr(e);
      this.#bound.set(this.#key(e), { name, xf });
      return { s: 'let', name, value };
    });
  }

  /** Forgets the names `bind` gave with this prefix (all of them without one). */
  unbindAll(prefix = ''): void {
    for (const [key, b] of this.#bound) if (b.name.startsWith(prefix)) this.#bound.delete(key);
  }

  /** A u32 read from a uniform word holding `value`. */
  opaque(value: number): string {
    let i = this.literals.indexOf(value);
    if (i < 0) {
      i = this.literals.length;
      this.literals.push(value);
    }
    return `c${i}`;
  }

  /**
   * Size symbols a kernel binds itself (a scan's chunk length, a loop variable) to the WGSL name
   * holding their value, instead of a uniform word.
   */
  readonly sizeNames = new Map<string, string>();

  /** A size as a u32: a literal, the uniform word of its symbol, or the variable in `sizeNames`. */
  size(s: Size): string {
    if (typeof s === 'number') return `${s}u`;
    const named = this.sizeNames.get(s);
    if (named !== undefined) return named;
    let i = this.symbols.indexOf(s);
    if (i < 0) {
      i = this.symbols.length;
      this.symbols.push(s);
    }
    return `n${i}`;
  }

  /** The product of sizes as a u32 expression (static factors folded). */
  product(sizes: readonly Size[]): string {
    if (sizes.length === 0) return '1u';
    const fixed = sizes.filter((s): s is number => typeof s === 'number').reduce((a, b) => a * b, 1);
    const parts = sizes.filter((s) => typeof s === 'string').map((s) => this.size(s));
    if (fixed !== 1 || parts.length === 0) parts.unshift(`${fixed}u`);
    return parts.length === 1 ? parts[0]! : `(${parts.join(' * ')})`;
  }

  /** The binding name of a buffer: `out`, `out1`, ... for outputs, `in<binding>` for inputs. */
  buffer(b: number): string {
    const i = this.bindingOf.get(b);
    if (i === undefined) throw new TesseraError(`emit: buffer ${b} is not bound`);
    const o = this.outputs.indexOf(b);
    return o === 0 ? 'out' : o > 0 ? `out${o}` : `in${i}`;
  }

  /**
   * The element of buffer `b` at a flat offset: its binding indexed there, or — for a buffer bound
   * a slice at a time — less the elements before this chunk's slice. Every load and store goes
   * through here.
   */
  at(b: number, offset: string): string {
    if (this.vec4Buffers.has(b)) throw new TesseraError(`emit: buffer ${b} is bound as vec4s; access it through atVec4`);
    const slice = this.chunk?.slices.find((s) => s.buffer === b);
    if (!slice) return `${this.buffer(b)}[${offset}]`;
    return `${this.buffer(b)}[${offset} - chunk * ${this.sliceStart(b)}u]`;
  }

  /**
   * The four elements of buffer `b` from a flat offset that is a multiple of 4, as one `vec4`:
   * binds `b` as `array<vec4<…>>` (so every access to it in the kernel must come through here).
   * Null where its elements are not 4 bytes or a chunk's slice of it does not start at a multiple
   * of 4 elements.
   */
  atVec4(b: number, offset: string): string | null {
    const d = this.bufferDtypes.get(b);
    if (d !== 'f32' && d !== 'i32' && d !== 'u32') return null;
    const start = this.chunk?.slices.some((s) => s.buffer === b) ? this.sliceStart(b) : 0;
    if (start % 4 !== 0) return null;
    this.vec4Buffers.add(b);
    return `${this.buffer(b)}[(${offset}${start ? ` - chunk * ${start}u` : ''}) / 4u]`;
  }

  /** Elements before chunk 1's slice of buffer `b` (chunk c's starts c times as far). */
  private sliceStart(b: number): number {
    const slice = this.chunk!.slices.find((s) => s.buffer === b)!;
    return this.chunk!.rows * slice.factor * slice.rowElements;
  }

  /** The element of a row block's local (see `localAt`). */
  local(buffer: number, axes: readonly { size: Size; index: string }[]): string {
    if (!this.localAt) throw new TesseraError(`emit: local buffer ${buffer} outside a row block`);
    return this.localAt(buffer, axes);
  }

  /** Whether an iteration over `axes` is cut into chunks: the chunk axis is its outermost. */
  chunked(axes: readonly KAxis[]): boolean {
    return this.chunk !== null && axes.length > 0 && axes[0]!.id === this.chunk.axis;
  }

  /**
   * A flat row-major index `name` over `axes` from this thread's or workgroup's `local` index,
   * returning past `count` (when given). Cut into chunks, `local` counts the chunk's elements
   * (`chunk_rows` rows of the outer axis) and `name` is offset to the chunk's first.
   */
  flatIndex(name: string, local: string, axes: readonly KAxis[], count?: string): Stmt[] {
    if (!this.chunked(axes)) {
      return [{ s: 'let', name, value: local }, ...(count !== undefined ? [{ s: 'if' as const, cond: `${name} >= ${count}`, then: [{ s: 'return' as const }] }] : [])];
    }
    const rest = this.product(axes.slice(1).map((a) => a.size));
    const times = (x: string) => (rest === '1u' ? x : `${x} * ${rest}`);
    return [
      { s: 'let', name: `${name}_c`, value: local },
      { s: 'if', cond: `${name}_c >= ${times('chunk_rows')}`, then: [{ s: 'return' }] },
      { s: 'let', name, value: `${times('chunk_row0')} + ${name}_c` },
    ];
  }

  /** The elements of an iteration over `axes` that one dispatch's workgroups are sized for. */
  extent(axes: readonly KAxis[]): SizeExpr {
    if (!this.chunked(axes)) return extentProduct(axes);
    const rest = extentProduct(axes.slice(1));
    const rows = this.chunk!.rows;
    return typeof rest === 'number' ? rows * rest : { op: 'mul', args: [rows, rest] };
  }

  /** The row-major flat offset of indices into axes of the given sizes. */
  offset(axes: readonly { size: Size; index: string }[]): string {
    if (axes.length === 0) return '0u';
    let text = axes[0]!.index;
    for (let i = 1; i < axes.length; i++) text = `(${text} * ${this.size(axes[i]!.size)} + ${axes[i]!.index})`;
    return text;
  }

  /** A scalar op of the registry applied to WGSL operands (its helper functions included). */
  op(fn: string, args: readonly string[], dtypes: readonly DType[]): string {
    const op = scalarOp(fn);
    const text = op.wgsl(args, dtypes);
    // Only the helpers the text calls (directly or through another helper): div's integer
    // helpers stay out of an f32 kernel.
    const used = [text];
    let added = true;
    while (added) {
      added = false;
      for (const [name, helper] of Object.entries(op.helpers ?? {})) {
        if (!this.helpers.has(name) && used.some((t) => t.includes(`${name}(`) || t.includes(`${name})`) || t.includes(`${name};`))) {
          this.helpers.set(name, helper);
          used.push(helper);
          added = true;
        }
      }
    }
    return text;
  }

  /**
   * A scalar op on operands that may be non-finite: f32 operands as `xf` expressions, others
   * plain; an `xf` result when the op gives f32.
   */
  xop(fn: string, args: readonly string[], dtypes: readonly DType[]): string {
    const op = scalarOp(fn);
    if (!op.xf) throw new TesseraError(`emit: '${fn}' has no emission for non-finite operands`);
    const plain = Object.fromEntries(Object.entries(op.helpers ?? {}).map(([name, text]) => [name, { text }]));
    this.useHelpers(op.xf.helpers, { ...plain, ...op.xf.own });
    return op.xf.emit(args, dtypes);
  }

  /** Records WGSL helpers (and what they need) by name. */
  useHelpers(names: readonly string[], own: Parameters<typeof withDependencies>[1] = {}): void {
    for (const [name, text] of withDependencies(names, own)) this.helpers.set(name, text);
  }

  /** Whether `e` may be ±∞ or NaN here, so it is carried as `xf`. */
  special(e: KExpr): boolean {
    // Emission asks this at every level of an expression tree: one memo, so a deep tree costs one walk.
    return mayBeNonFinite(e, this.#facts, this.#special);
  }

  #special = new WeakMap<KExpr, boolean>();

  /** Emits with another set of buffers that may be non-finite (a row block's contractions take the GEMM set). */
  withNonFinite<T>(nonFinite: ReadonlySet<number>, emit: () => T): T {
    const saved = [this.#facts, this.#special] as const;
    this.#facts = { ...this.#facts, nonFinite };
    this.#special = new WeakMap();
    try {
      return emit();
    } finally {
      [this.#facts, this.#special] = saved;
    }
  }

  /**
   * A kernel expression as WGSL, in its register type. A value that may be non-finite is
   * computed as `xf` and handed over with its IEEE bits (what a store or a GEMM tile wants).
   */
  expr(e: KExpr): string {
    const bound = this.#lookup(e);
    if (bound) return bound.xf ? this.bits(bound.name) : bound.name;
    switch (e.k) {
      case 'load': {
        // A gathered axis: the i32 index clamped into the axis.
        const axes = e.axes.map((a) => ('at' in a ? { size: a.size, index: `u32(clamp(${this.expr(a.at)}, 0i, i32(${this.size(a.size)}) - 1i))` } : a));
        const v = isLocal(e.buffer) ? this.local(e.buffer, axes) : this.at(e.buffer, this.offset(axes));
        return e.dtype === 'bool' ? `(${v} != 0u)` : v;
      }
      case 'const':
        if (this.special(e)) return this.bits(this.xexpr(e));
        return wgslLiteral(e.value, e.dtype);
      case 'param': {
        let i = this.params.findIndex((p) => p.name === e.name);
        if (i < 0) {
          i = this.params.length;
          this.params.push({ name: e.name, dtype: e.dtype });
        }
        return `p${i}`;
      }
      case 'index':
        return `i32(${e.axis})`;
      case 'size':
        return `i32(${this.size(e.size)})`;
      case 'acc':
        return this.accName;
      case 'op':
        if (this.special(e)) return this.bits(this.xexpr(e));
        // A bool or integer result over operands that may be non-finite (a comparison, a cast).
        if (e.args.some((a) => this.special(a))) return this.xop(e.fn, this.xargs(e.args), e.args.map(exprDtype));
        return this.op(
          e.fn,
          e.args.map((a) => this.expr(a)),
          e.args.map(exprDtype),
        );
    }
  }

  /** An f32 kernel expression as an `xf` expression (classes decided by integer logic). */
  xexpr(e: KExpr): string {
    const bound = this.#lookup(e);
    if (bound?.xf) return bound.name;
    if (e.k === 'const') {
      this.useHelpers(['xf']);
      return xfLiteral(e.value);
    }
    if (e.k === 'op' && this.special(e)) return this.xop(e.fn, this.xargs(e.args), e.args.map(exprDtype));
    // Anything else is classified by its bits: a load from a buffer that may hold ±∞, or a value
    // whose arithmetic ran plain (an overflow becomes +∞ here too).
    this.useHelpers(['xf_of']);
    return `xf_of(${this.expr(e)})`;
  }

  /** Operands for `xop`: f32 ones as `xf`, others plain. */
  private xargs(args: readonly KExpr[]): string[] {
    return args.map((a) => (exprDtype(a) === 'f32' ? this.xexpr(a) : this.expr(a)));
  }

  /** An `xf` expression's IEEE value (non-finite classes as bit patterns). */
  bits(x: string): string {
    this.useHelpers(['xf_bits']);
    return `xf_bits(${x})`;
  }

  /** -Infinity at run time (a private variable's bits: a constant would be an overflow error). */
  negInfinity(): string {
    this.helpers.set('ts_neg_inf_bits', 'var<private> ts_neg_inf_bits: u32 = 0xff800000u;');
    return 'bitcast<f32>(ts_neg_inf_bits)';
  }

  /** +Infinity at run time (see `negInfinity`). */
  posInfinity(): string {
    this.helpers.set('ts_pos_inf_bits', 'var<private> ts_pos_inf_bits: u32 = 0x7f800000u;');
    return 'bitcast<f32>(ts_pos_inf_bits)';
  }

  /** `let` statements giving each axis's index from a flat row-major index. */
  decompose(flat: string, axes: readonly KAxis[], tag: string): Stmt[] {
    if (axes.length === 0) return [];
    if (axes.length === 1) return [{ s: 'let', name: axes[0]!.id, value: flat }];
    const out: Stmt[] = [{ s: 'var', name: `rem_${tag}`, type: 'u32', value: flat }];
    for (let i = axes.length - 1; i >= 1; i--) {
      const size = this.size(axes[i]!.size);
      out.push({ s: 'let', name: axes[i]!.id, value: `rem_${tag} % ${size}` });
      out.push({ s: 'assign', target: `rem_${tag}`, value: `rem_${tag} / ${size}` });
    }
    out.push({ s: 'let', name: axes[0]!.id, value: `rem_${tag}` });
    return out;
  }

  /** A value as stored in the kernel's output (booleans as 0/1 words). */
  store(value: string): string {
    return this.kernel.out.dtype === 'bool' ? `select(0u, 1u, ${value})` : value;
  }

  /** Uniform reads and the workgroup guard that open every kernel. */
  private prologue(): Stmt[] {
    const word = (i: number) => `u.w[${i >> 2}].${'xyzw'[i & 3]}`;
    const stmts: Stmt[] = [{ s: 'let', name: 'total_wg', value: word(0) }];
    this.symbols.forEach((_, i) => stmts.push({ s: 'let', name: `n${i}`, value: word(1 + i) }));
    this.literals.forEach((_, i) => stmts.push({ s: 'let', name: `c${i}`, value: word(1 + this.symbols.length + this.params.length + i) }));
    this.params.forEach((p, i) => {
      const raw = word(1 + this.symbols.length + i);
      const value = p.dtype === 'f32' ? `bitcast<f32>(${raw})` : p.dtype === 'i32' ? `bitcast<i32>(${raw})` : p.dtype === 'bool' ? `(${raw} != 0u)` : raw;
      stmts.push({ s: 'let', name: `p${i}`, value });
    });
    if (this.chunk) {
      const { rows, extent } = this.chunk;
      stmts.push({ s: 'let', name: 'chunk', value: word(this.uniformCount() - 1) });
      stmts.push({ s: 'let', name: 'chunk_row0', value: `chunk * ${rows}u` });
      stmts.push({ s: 'let', name: 'chunk_rows', value: `min(${rows}u, ${extent}u - chunk_row0)` });
    }
    stmts.push({ s: 'let', name: 'wid', value: 'wg.x + wg.y * nwg.x' });
    stmts.push({ s: 'if', cond: 'wid >= total_wg', then: [{ s: 'return' }] });
    return stmts;
  }

  private uniformCount(): number {
    return 1 + this.symbols.length + this.params.length + this.literals.length + (this.chunk ? 1 : 0);
  }

  /** The module: bindings, uniforms, workgroup variables, helpers, and the prologue before `body`. */
  module(workgroupSize: number, body: Stmt[], workgroupVars: { name: string; type: string }[] = []): WgslModule {
    const prologue = this.prologue();
    const bindings = [...this.bindingOf.entries()]
      .sort((a, b) => a[1] - b[1])
      .map(([buffer, binding]) => {
        const element = storageType(this.bufferDtypes.get(buffer)!);
        return {
          binding,
          name: this.buffer(buffer),
          space: this.outputs.includes(buffer) ? ('storage-read_write' as const) : ('storage-read' as const),
          type: `array<${this.vec4Buffers.has(buffer) ? `vec4<${element}>` : element}>`,
        };
      });
    const vec4s = Math.ceil(this.uniformCount() / 4);
    return {
      structs: [`struct Uniforms {\n  w: array<vec4<u32>, ${vec4s}>,\n}`],
      bindings: [...bindings, { binding: bindings.length, name: 'u', space: 'uniform', type: 'Uniforms' }],
      workgroupVars,
      helpers: [...this.helpers.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, t]) => t),
      entry: { name: 'main', workgroupSize: [workgroupSize, 1, 1], body: [...prologue, ...body] },
    };
  }
}
