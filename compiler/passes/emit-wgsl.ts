/**
 * emit-wgsl: turn each scheduled kernel into a WGSL module (through the AST and its printer) and
 * the whole tiled program into the runtime's plain-data Program: deduplicated kernels, buffers
 * with byte sizes as size expressions, and dispatch/copy/loop steps with their uniform words.
 *
 * Every shader reads word 0 of its uniforms as the total workgroup count (the runtime may round
 * the grid up when it splits it in two dimensions), then the size symbols it uses, then the
 * parameters it uses. Index arithmetic is u32.
 */
import type { Graph } from '../../dsl/ir.ts';
import { scalarOp, wgslLiteral } from '../../dsl/scalar-ops.ts';
import { TesseraError, type DType, type Size } from '../../dsl/types.ts';
import type { Program, ProgramKernel, SizeExpr, Step, UniformWord } from '../../program/index.ts';
import { kernelExprs, kernelInputs, kernelOutputs, sizeExpr, subExprs, type FlashKernel, type KAxis, type KExpr, type KernelIR } from '../kernel-ir.ts';
import type { Stmt, WgslModule } from '../wgsl/ast.ts';
import { printWgsl } from '../wgsl/print.ts';
import { flashWorkgroupLayout, type FlashSchedule, type GemmSchedule, type ReduceSchedule, type Schedule, type TiledProgram, type TiledStep } from './lower-to-tiles.ts';

const F32_LOWEST = -3.4028234663852886e38;

/** The register type of a dtype and the element type of its storage array. */
function regType(d: DType): string {
  return d === 'bool' ? 'bool' : d;
}
function storageType(d: DType): string {
  return d === 'bool' ? 'u32' : d;
}


/** An index expression into a region of a kernel's workgroup array. */
type Region = (index: string) => string;

/** Per-kernel emission state: bindings, uniform words, helpers. */
class Emitter {
  readonly symbols: string[] = [];
  readonly params: { name: string; dtype: DType }[] = [];
  readonly helpers = new Map<string, string>();
  readonly bindingOf = new Map<number, number>();
  readonly bufferDtypes = new Map<number, DType>();

  readonly outputs: readonly number[];
  /** The WGSL expression a flash score's `acc` placeholder stands for. */
  accName = 'dot';

  constructor(readonly kernel: KernelIR) {
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

  /** Literal values passed as uniform words (so the shader compiler cannot unroll on them). */
  readonly literals: number[] = [];

  /** A u32 read from a uniform word holding `value`. */
  opaque(value: number): string {
    let i = this.literals.indexOf(value);
    if (i < 0) {
      i = this.literals.length;
      this.literals.push(value);
    }
    return `c${i}`;
  }

  size(s: Size): string {
    if (typeof s === 'number') return `${s}u`;
    let i = this.symbols.indexOf(s);
    if (i < 0) {
      i = this.symbols.length;
      this.symbols.push(s);
    }
    return `n${i}`;
  }

  product(sizes: readonly Size[]): string {
    if (sizes.length === 0) return '1u';
    const fixed = sizes.filter((s): s is number => typeof s === 'number').reduce((a, b) => a * b, 1);
    const parts = sizes.filter((s) => typeof s === 'string').map((s) => this.size(s));
    if (fixed !== 1 || parts.length === 0) parts.unshift(`${fixed}u`);
    return parts.length === 1 ? parts[0]! : `(${parts.join(' * ')})`;
  }

  buffer(b: number): string {
    const i = this.bindingOf.get(b);
    if (i === undefined) throw new TesseraError(`emit: buffer ${b} is not bound`);
    const o = this.outputs.indexOf(b);
    return o === 0 ? 'out' : o > 0 ? `out${o}` : `in${i}`;
  }

  offset(axes: readonly { size: Size; index: string }[]): string {
    if (axes.length === 0) return '0u';
    let text = axes[0]!.index;
    for (let i = 1; i < axes.length; i++) text = `(${text} * ${this.size(axes[i]!.size)} + ${axes[i]!.index})`;
    return text;
  }

  expr(e: KExpr): string {
    switch (e.k) {
      case 'load': {
        // A gathered axis: the i32 index clamped into the axis.
        const axes = e.axes.map((a) => ('at' in a ? { size: a.size, index: `u32(clamp(${this.expr(a.at)}, 0i, i32(${this.size(a.size)}) - 1i))` } : a));
        const v = `${this.buffer(e.buffer)}[${this.offset(axes)}]`;
        return e.dtype === 'bool' ? `(${v} != 0u)` : v;
      }
      case 'const':
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
      case 'op': {
        const op = scalarOp(e.fn);
        for (const [name, text] of Object.entries(op.helpers ?? {})) this.helpers.set(name, text);
        return op.wgsl(
          e.args.map((a) => this.expr(a)),
          e.args.map(dtypeOf),
        );
      }
    }
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

  store(value: string): string {
    return this.kernel.out.dtype === 'bool' ? `select(0u, 1u, ${value})` : value;
  }

  /** Uniform reads and the workgroup guard that open every kernel. */
  prologue(): Stmt[] {
    const word = (i: number) => `u.w[${i >> 2}].${'xyzw'[i & 3]}`;
    const stmts: Stmt[] = [{ s: 'let', name: 'total_wg', value: word(0) }];
    this.symbols.forEach((_, i) => stmts.push({ s: 'let', name: `n${i}`, value: word(1 + i) }));
    this.literals.forEach((_, i) => stmts.push({ s: 'let', name: `c${i}`, value: word(1 + this.symbols.length + this.params.length + i) }));
    this.params.forEach((p, i) => {
      const raw = word(1 + this.symbols.length + i);
      const value = p.dtype === 'f32' ? `bitcast<f32>(${raw})` : p.dtype === 'i32' ? `bitcast<i32>(${raw})` : p.dtype === 'bool' ? `(${raw} != 0u)` : raw;
      stmts.push({ s: 'let', name: `p${i}`, value });
    });
    stmts.push({ s: 'let', name: 'wid', value: 'wg.x + wg.y * nwg.x' });
    stmts.push({ s: 'if', cond: 'wid >= total_wg', then: [{ s: 'return' }] });
    return stmts;
  }

  uniformCount(): number {
    return 1 + this.symbols.length + this.params.length + this.literals.length;
  }

  module(workgroupSize: number, body: Stmt[], workgroupVars: { name: string; type: string }[] = []): WgslModule {
    const prologue = this.prologue();
    const bindings = [...this.bindingOf.entries()]
      .sort((a, b) => a[1] - b[1])
      .map(([buffer, binding]) => ({
        binding,
        name: this.buffer(buffer),
        space: this.outputs.includes(buffer) ? ('storage-read_write' as const) : ('storage-read' as const),
        type: `array<${storageType(this.bufferDtypes.get(buffer)!)}>`,
      }));
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

function dtypeOf(e: KExpr): DType {
  switch (e.k) {
    case 'load':
    case 'const':
    case 'param':
    case 'op':
      return e.dtype;
    case 'index':
    case 'size':
      return 'i32';
    case 'acc':
      return 'f32';
  }
}

interface Emitted {
  module: WgslModule;
  workgroups: SizeExpr;
  em: Emitter;
}

function emitElementwise(k: Extract<KernelIR, { kind: 'elementwise' }>, wgSize: number): Emitted {
  const em = new Emitter(k);
  const total = em.product(k.out.axes.map((a) => a.size));
  const body: Stmt[] = [
    { s: 'let', name: 'flat', value: `wid * ${wgSize}u + lid` },
    { s: 'if', cond: `flat >= ${total}`, then: [{ s: 'return' }] },
    ...em.decompose('flat', k.out.axes, 'o'),
  ];
  body.push({ s: 'assign', target: 'out[flat]', value: em.store(em.expr(k.value)) });
  return { module: em.module(wgSize, body), workgroups: { op: 'ceildiv', args: [sizeExpr(k.out.axes.map((a) => a.size)), wgSize] }, em };
}

function reduceInit(fn: string, d: DType): string {
  switch (fn) {
    case 'sum':
    case 'mean':
      return wgslLiteral(0, d);
    case 'prod':
      return wgslLiteral(1, d);
    case 'max':
      return d === 'f32' ? wgslLiteral(F32_LOWEST, d) : d === 'i32' ? wgslLiteral(-2147483648, d) : '0u';
    case 'min':
      return d === 'f32' ? wgslLiteral(-F32_LOWEST, d) : d === 'i32' ? wgslLiteral(2147483647, d) : '4294967295u';
  }
  throw new TesseraError(`emit: no reduction '${fn}'`);
}

function combine(fn: string, acc: string, v: string): string {
  switch (fn) {
    case 'sum':
    case 'mean':
      return `${acc} + ${v}`;
    case 'prod':
      return `${acc} * ${v}`;
    case 'max':
      return `max(${acc}, ${v})`;
    default:
      return `min(${acc}, ${v})`;
  }
}

function emitReduce(k: Extract<KernelIR, { kind: 'reduce' }>, s: ReduceSchedule): Emitted {
  const em = new Emitter(k);
  const d = k.out.dtype;
  const outCount = em.product(k.out.axes.map((a) => a.size));
  const redCount = em.product(k.reduced.map((a) => a.size));
  const finalize = (acc: string) => (k.fn === 'mean' ? `${acc} / f32(${redCount})` : acc);
  const wg = s.workgroupSize;
  if (s.strategy === 'thread') {
    const body: Stmt[] = [
      { s: 'let', name: 'o', value: `wid * ${wg}u + lid` },
      { s: 'if', cond: `o >= ${outCount}`, then: [{ s: 'return' }] },
      ...em.decompose('o', k.out.axes, 'o'),
      { s: 'var', name: 'acc', type: regType(d), value: reduceInit(k.fn, d) },
      {
        s: 'for',
        init: 'var r = 0u',
        cond: `r < ${redCount}`,
        update: 'r += 1u',
        body: [...em.decompose('r', k.reduced, 'r'), { s: 'assign', target: 'acc', value: combine(k.fn, 'acc', em.expr(k.value)) }],
      },
      { s: 'assign', target: 'out[o]', value: finalize('acc') },
    ];
    return { module: em.module(wg, body), workgroups: { op: 'ceildiv', args: [sizeExpr(k.out.axes.map((a) => a.size)), wg] }, em };
  }
  const body: Stmt[] = [
    ...em.decompose('wid', k.out.axes, 'o'),
    { s: 'var', name: 'acc', type: regType(d), value: reduceInit(k.fn, d) },
    {
      s: 'for',
      init: 'var r = lid',
      cond: `r < ${redCount}`,
      update: `r += ${wg}u`,
      body: [...em.decompose('r', k.reduced, 'r'), { s: 'assign', target: 'acc', value: combine(k.fn, 'acc', em.expr(k.value)) }],
    },
    { s: 'assign', target: 'partial[lid]', value: 'acc' },
    { s: 'barrier' },
    {
      s: 'for',
      init: `var half = ${wg >> 1}u`,
      cond: 'half > 0u',
      update: 'half = half >> 1u',
      body: [
        { s: 'if', cond: 'lid < half', then: [{ s: 'assign', target: 'partial[lid]', value: combine(k.fn, 'partial[lid]', 'partial[lid + half]') }] },
        { s: 'barrier' },
      ],
    },
    { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: 'out[wid]', value: finalize('partial[0]') }] },
  ];
  return {
    module: em.module(wg, body, [{ name: 'partial', type: `array<${regType(d)}, ${wg}>` }]),
    workgroups: sizeExpr(k.out.axes.map((a) => a.size)),
    em,
  };
}

function emitGemm(k: Extract<KernelIR, { kind: 'gemm' }>, s: GemmSchedule): Emitted {
  const em = new Emitter(k);
  const d = k.out.dtype;
  const T = regType(d);
  const zero = wgslLiteral(0, d);
  const { tileM: TM, tileN: TN, tileK: TK, threadsM: TY, threadsN: TX } = s;
  const RM = TM / TY;
  const RN = TN / TX;
  const threads = TX * TY;
  const M = em.product(k.m.map((a) => a.size));
  const N = em.product(k.n.map((a) => a.size));
  const K = em.product(k.k.map((a) => a.size));
  const body: Stmt[] = [
    { s: 'let', name: 'tiles_n', value: `(${N} + ${TN - 1}u) / ${TN}u` },
    { s: 'let', name: 'tiles_m', value: `(${M} + ${TM - 1}u) / ${TM}u` },
    { s: 'let', name: 'tn', value: 'wid % tiles_n' },
    { s: 'let', name: 'tm', value: '(wid / tiles_n) % tiles_m' },
    { s: 'let', name: 'bflat', value: '(wid / tiles_n) / tiles_m' },
    ...em.decompose('bflat', k.batch, 'b'),
    { s: 'let', name: 'tx', value: `lid % ${TX}u` },
    { s: 'let', name: 'ty', value: `lid / ${TX}u` },
    { s: 'var', name: 'acc', type: `array<${T}, ${RM * RN}>` },
    { s: 'var', name: 'ra', type: `array<${T}, ${RM}>` },
    { s: 'var', name: 'rb', type: `array<${T}, ${RN}>` },
  ];
  /**
   * Cooperative load of one operand tile, stored k-major (`tile[kk * width + free]`). A walks its
   * global memory k-fastest, B free-fastest: each reads along its contiguous axis.
   */
  const loadTile = (tile: string, width: number, kFastest: boolean, base: string, free: readonly KAxis[], bound: string, expr: KExpr, tag: string): Stmt => ({
    s: 'for',
    init: 'var e = lid',
    cond: `e < ${width * TK}u`,
    update: `e += ${threads}u`,
    body: [
      { s: 'let', name: 'fi', value: kFastest ? `e / ${TK}u` : `e % ${width}u` },
      { s: 'let', name: 'kk', value: kFastest ? `e % ${TK}u` : `e / ${width}u` },
      { s: 'let', name: `${tag}flat`, value: `${base} * ${width}u + fi` },
      { s: 'let', name: 'kflat', value: 'k0 + kk' },
      { s: 'var', name: 'v', type: T, value: zero },
      {
        s: 'if',
        cond: `${tag}flat < ${bound} && kflat < ${K}`,
        then: [...em.decompose(`${tag}flat`, free, tag), ...em.decompose('kflat', k.k, 'k'), { s: 'assign', target: 'v', value: em.expr(expr) }],
      },
      { s: 'assign', target: `${tile}[kk * ${width}u + fi]`, value: 'v' },
    ],
  });
  const loadA = [loadTile('tile_a', TM, true, 'tm', k.m, M, k.a, 'm')];
  const loadB = [loadTile('tile_b', TN, false, 'tn', k.n, N, k.b, 'n')];
  const inner: Stmt[] = [];
  for (let i = 0; i < RM; i++) inner.push({ s: 'assign', target: `ra[${i}]`, value: `tile_a[kk * ${TM}u + ty + ${i * TY}u]` });
  for (let j = 0; j < RN; j++) inner.push({ s: 'assign', target: `rb[${j}]`, value: `tile_b[kk * ${TN}u + tx + ${j * TX}u]` });
  for (let i = 0; i < RM; i++) {
    for (let j = 0; j < RN; j++) inner.push({ s: 'assign', target: `acc[${i * RN + j}]`, op: '+', value: `ra[${i}] * rb[${j}]` });
  }
  body.push({
    s: 'for',
    init: 'var k0 = 0u',
    cond: `k0 < ${K}`,
    update: `k0 += ${TK}u`,
    body: [...loadA, ...loadB, { s: 'barrier' }, { s: 'for', init: 'var kk = 0u', cond: `kk < ${TK}u`, update: 'kk += 1u', body: inner }, { s: 'barrier' }],
  });
  const outIndex = em.offset(k.out.axes.map((a) => ({ size: a.size, index: a.id })));
  for (let i = 0; i < RM; i++) {
    for (let j = 0; j < RN; j++) {
      body.push({
        s: 'if',
        cond: `tm * ${TM}u + ty + ${i * TY}u < ${M} && tn * ${TN}u + tx + ${j * TX}u < ${N}`,
        then: [
          { s: 'let', name: `mo${i}_${j}`, value: `tm * ${TM}u + ty + ${i * TY}u` },
          { s: 'let', name: `no${i}_${j}`, value: `tn * ${TN}u + tx + ${j * TX}u` },
          ...em.decompose(`mo${i}_${j}`, k.m, `mo${i}_${j}`),
          ...em.decompose(`no${i}_${j}`, k.n, `no${i}_${j}`),
          { s: 'assign', target: `out[${outIndex}]`, value: `acc[${i * RN + j}]` },
        ],
      });
    }
  }
  const workgroups: SizeExpr = {
    op: 'mul',
    args: [
      sizeExpr(k.batch.map((a) => a.size)),
      { op: 'ceildiv', args: [sizeExpr(k.m.map((a) => a.size)), TM] },
      { op: 'ceildiv', args: [sizeExpr(k.n.map((a) => a.size)), TN] },
    ],
  };
  return {
    module: em.module(threads, body, [
      { name: 'tile_a', type: `array<${T}, ${TM * TK}>` },
      { name: 'tile_b', type: `array<${T}, ${TN * TK}>` },
    ]),
    workgroups,
    em,
  };
}

function staticSize(axes: readonly KAxis[]): number {
  return axes.reduce((p, a) => {
    if (typeof a.size !== 'number') throw new TesseraError(`emit: flash head axis '${a.name}' must have a static size`);
    return p * a.size;
  }, 1);
}

/**
 * The flash kernel, FlashAttention-2 style: a workgroup owns `rows` query rows of one outer index
 * on `threads` threads, each the owner of the rows congruent to it. Per kv tile the threads
 * compute the score tile Q·Kᵀ as a register-blocked GEMM (each thread a block of rows × keys; Q
 * resident in workgroup memory or staged in head chunks, K staged) and write it to workgroup
 * memory; each row's owner runs that row's online softmax — score modifier, validity, running
 * (max, sum) — turning scores into probabilities in place; then the threads, register-blocked
 * again, rescale their block of the output accumulator by the rows' correction factors and add
 * P·V (V staged whole or in chunks). No N×M score ever exists; only kv tiles inside the analytic
 * bounds (or listed by the block mask) are visited; a masked score never enters the sum (a row's
 * validity in a tile is a bit mask). Four barriers per kv tile when Q is resident and K and V
 * come whole: barriers are costly on lavapipe, which runs threads as coroutines.
 *
 * Loop trip counts that the shader compiler could unroll around the register blocks come from
 * uniforms: lavapipe's LLVM took minutes on fully unrolled flash kernels.
 */
function emitFlash(k: FlashKernel, s: FlashSchedule): Emitted {
  const em = new Emitter(k);
  const { rows: BR, kvTile: BC, dTile: TK, vTile: VK } = s;
  const NT = s.threads;
  const TX = s.across;
  const TY = NT / TX;
  const RM = BR / TY;
  const RS = BC / TX;
  const D = staticSize(k.d);
  const E = staticSize(k.e);
  const RO = Math.ceil(E / TX);
  const fullD = TK >= D;
  const fullV = VK >= BC;
  const QW = fullD ? D : TK;
  // One workgroup array carved into regions (WGSL has no unions): row state, then the tiles. At
  // the end each thread stages its output block over the tiles, so the global writes are one
  // short loop rather than an unrolled epilogue.
  const layout = flashWorkgroupLayout(s, D, E);
  const region = (offset: number) => (i: string) => `wgm[${offset === 0 ? '' : `${offset}u + `}${i}]`;
  const [wscale, wm, wl, wq, wk, ws, wv, wo] = [layout.scale, layout.m, layout.l, layout.q, layout.k, layout.s, layout.v, layout.o].map(region) as [Region, Region, Region, Region, Region, Region, Region, Region];
  const T = k.tiled ? em.size(k.tiled.size) : '1u';
  const M = em.size(k.kv.size);
  const NEG = wgslLiteral(F32_LOWEST, 'f32');
  const dCount = em.opaque(D);
  const bcCount = em.opaque(BC);
  em.helpers.set('ts_neg_inf_bits', 'var<private> ts_neg_inf_bits: u32 = 0xff800000u;');
  const parts = k.split?.parts ?? 1;
  const rowOf = (i: number) => `ty + ${i * TY}u`;
  const tiledLet = (row: string): Stmt[] => (k.tiled ? [{ s: 'let', name: k.tiled.id, value: `min(${row}, ${T} - 1u)` }] : []);
  const kvLet: Stmt = { s: 'let', name: k.kv.id, value: 'kvi' };
  /** `for (var v = lid; v < count; v += threads)`: the workgroup's threads share the iterations. */
  const strided = (v: string, count: number, body: Stmt[]): Stmt => ({ s: 'for', init: `var ${v} = lid`, cond: `${v} < ${count}u`, update: `${v} += ${NT}u`, body });
  /**
   * A register-blocked product's loop (`kk`) over `count`: whole, its tiles already staged
   * (`chunk` null), or `chunk` at a time (`v` the chunk start), staging each chunk's tiles
   * between barriers.
   */
  const blocked = (v: string, count: string, chunk: string | null, stages: (base: string) => Stmt[], inner: Stmt[]): Stmt[] =>
    chunk === null
      ? [{ s: 'let', name: v, value: '0u' }, { s: 'for', init: 'var kk = 0u', cond: `kk < ${count}`, update: 'kk += 1u', body: inner }]
      : [
          {
            s: 'for',
            init: `var ${v} = 0u`,
            cond: `${v} < ${count}`,
            update: `${v} += ${chunk}`,
            body: [...stages(`${v} + `), { s: 'barrier' }, { s: 'for', init: 'var kk = 0u', cond: `kk < ${chunk}`, update: 'kk += 1u', body: inner }, { s: 'barrier' }],
          },
        ];
  /** A loop over the keys of the current kv tile (`j`). */
  const overKeys = (body: Stmt[]): Stmt => ({ s: 'for', init: 'var j = 0u', cond: `j < ${bcCount}`, update: 'j += 1u', body });
  const body: Stmt[] = [
    { s: 'let', name: 'tiles_t', value: `(${T} + ${BR - 1}u) / ${BR}u` },
    { s: 'let', name: 'sp', value: `wid % ${parts}u` },
    { s: 'let', name: 'tt', value: `(wid / ${parts}u) % tiles_t` },
    { s: 'let', name: 'oflat', value: `(wid / ${parts}u) / tiles_t` },
    ...em.decompose('oflat', k.outer, 'o'),
    { s: 'let', name: 'tx', value: `lid % ${TX}u` },
    { s: 'let', name: 'ty', value: `lid / ${TX}u` },
    { s: 'let', name: 'row0', value: `tt * ${BR}u` },
    { s: 'var', name: 'sacc', type: `array<f32, ${RM * RS}>` },
    { s: 'var', name: 'acc', type: `array<f32, ${RM * RO}>` },
    { s: 'var', name: 'ra', type: `array<f32, ${RM}>` },
    { s: 'var', name: 'rb', type: `array<f32, ${Math.max(RS, RO)}>` },
    // The running (max, sum) of every row, kept by the thread that owns the row (rr ≡ lid mod threads).
    strided('rr', BR, [{ s: 'assign', target: wm('rr'), value: NEG }, { s: 'assign', target: wl('rr'), value: '0.0f' }]),
    { s: 'let', name: 't_first', value: 'i32(row0)' },
    { s: 'let', name: 't_last', value: `i32(min(row0 + ${BR}u, ${T})) - 1i` },
    { s: 'var', name: 'lo', type: 'i32', value: '0i' },
    { s: 'var', name: 'hi', type: 'i32', value: `i32(${M}) - 1i` },
  ];
  const at = (t: -1 | 0 | 1, first: boolean) => (t === 0 ? '0i' : t === 1 ? (first ? 't_first' : 't_last') : first ? '(-t_last)' : '(-t_first)');
  if (k.split) {
    body.push(
      { s: 'let', name: 'chunk', value: `(${M} + ${parts - 1}u) / ${parts}u` },
      { s: 'assign', target: 'lo', value: 'i32(sp * chunk)' },
      { s: 'assign', target: 'hi', value: `min(hi, i32((sp + 1u) * chunk) - 1i)` },
    );
  }
  for (const b of k.lower) body.push({ s: 'assign', target: 'lo', value: `max(lo, ${at(b.t, true)} + ${em.expr(b.c)})` });
  for (const b of k.upper) body.push({ s: 'assign', target: 'hi', value: `min(hi, ${at(b.t, false)} + ${em.expr(b.c)})` });

  /** Cooperative load of `count` elements into `tile(at)`, zero where `inRange` fails. */
  const stage = (tile: Region, count: number, coords: Stmt[], inRange: string, setup: Stmt[], expr: KExpr, at: string): Stmt =>
    strided('e', count, [...coords, { s: 'var', name: 'val', type: 'f32', value: '0.0f' }, { s: 'if', cond: inRange, then: [...setup, { s: 'assign', target: 'val', value: em.expr(expr) }] }, { s: 'assign', target: tile(at), value: 'val' }]);
  // Score tile: sacc[i][j] = q[row i] · k[key j] (k-major tiles, as the GEMM). With `dTile >= D`
  // the query block stays resident in workgroup memory for the whole kernel and K comes in one
  // piece per kv tile; otherwise both are staged chunk by chunk (two barriers a chunk).
  const stageQ = (base: string) =>
    stage(wq, BR * QW, [{ s: 'let', name: 'qrow', value: `e / ${QW}u` }, { s: 'let', name: 'kk', value: `e % ${QW}u` }, { s: 'let', name: 'dflat', value: `${base}kk` }], `dflat < ${D}u`, [...tiledLet('row0 + qrow'), ...em.decompose('dflat', k.d, 'qd')], k.q, `kk * ${BR}u + qrow`);
  const stageK = (base: string) =>
    stage(wk, BC * QW, [{ s: 'let', name: 'key', value: `e / ${QW}u` }, { s: 'let', name: 'kk', value: `e % ${QW}u` }, { s: 'let', name: 'dflat', value: `${base}kk` }, { s: 'let', name: 'kvi', value: 'kv0 + key' }], `dflat < ${D}u && kvi < ${M}`, [kvLet, ...em.decompose('dflat', k.d, 'kd')], k.k, `kk * ${BC}u + key`);
  const stageV = (base: string) =>
    stage(wv, VK * E, [{ s: 'let', name: 'key', value: `e / ${E}u` }, { s: 'let', name: 'c', value: `e % ${E}u` }, { s: 'let', name: 'kvi', value: `kv0 + ${base}key` }], `kvi < ${M}`, [kvLet, ...em.decompose('c', k.e, 've')], k.v, 'e');
  const scoreInner: Stmt[] = [];
  for (let i = 0; i < RM; i++) scoreInner.push({ s: 'assign', target: `ra[${i}]`, value: wq(`kk * ${BR}u + ${rowOf(i)}`) });
  for (let j = 0; j < RS; j++) scoreInner.push({ s: 'assign', target: `rb[${j}]`, value: wk(`kk * ${BC}u + tx + ${j * TX}u`) });
  for (let i = 0; i < RM; i++) for (let j = 0; j < RS; j++) scoreInner.push({ s: 'assign', target: `sacc[${i * RS + j}]`, op: '+', value: `ra[${i}] * rb[${j}]` });
  const scoreTile: Stmt[] = [];
  if (fullD) scoreTile.push(stageK(''));
  if (fullV && !layout.shareKV) scoreTile.push(stageV(''));
  if (fullD || fullV) scoreTile.push({ s: 'barrier' });
  for (let i = 0; i < RM * RS; i++) scoreTile.push({ s: 'assign', target: `sacc[${i}]`, value: '0.0f' });
  scoreTile.push(...blocked('d0', dCount, fullD ? null : em.opaque(TK), (base) => [stageQ(base), stageK(base)], scoreInner));
  for (let i = 0; i < RM; i++) for (let j = 0; j < RS; j++) scoreTile.push({ s: 'assign', target: ws(`(${rowOf(i)}) * ${BC}u + tx + ${j * TX}u`), value: `sacc[${i * RS + j}]` });
  scoreTile.push({ s: 'barrier' });

  // Each row's owner: modifier, validity, online softmax; probabilities replace scores in place.
  const validText = k.valid ? ` && ${em.expr(k.valid)}` : '';
  const ownRow = (inner: Stmt[]): Stmt =>
    strided('rr', BR, [{ s: 'let', name: 'trow', value: 'row0 + rr' }, { s: 'let', name: 'row_ok', value: `trow < ${T}` }, ...tiledLet('trow'), { s: 'let', name: 'm_run', value: wm('rr') }, { s: 'let', name: 'l_run', value: wl('rr') }, ...inner]);
  const rowSoftmax: Stmt[] = [
    ownRow([
      { s: 'var', name: 'tmax', type: 'f32', value: NEG },
      { s: 'var', name: 'okbits', type: 'u32', value: '0u' },
      overKeys([
        { s: 'let', name: 'kvi', value: 'kv0 + j' },
        kvLet,
        { s: 'let', name: em.accName, value: ws(`rr * ${BC}u + j`) },
        { s: 'let', name: 'sv', value: em.expr(k.score) },
        // A split's chunk boundary is not implied by the mask, so it is checked per key.
        { s: 'let', name: 'okj', value: `row_ok && kvi < ${M}${k.split ? ' && i32(kvi) >= lo && i32(kvi) <= hi' : ''}${k.blockMask && k.valid ? ` && (full || ${em.expr(k.valid)})` : validText}` },
        { s: 'if', cond: 'okj', then: [{ s: 'assign', target: 'tmax', value: 'max(tmax, sv)' }, { s: 'assign', target: 'okbits', value: 'okbits | (1u << j)' }] },
        { s: 'assign', target: ws(`rr * ${BC}u + j`), value: 'sv' },
      ]),
      { s: 'let', name: 'm_new', value: 'max(m_run, tmax)' },
      // No finite running max yet: the accumulator and sum are zero, whatever the factor.
      { s: 'let', name: 'alpha', value: `select(0.0f, exp(m_run - m_new), m_run > ${NEG})` },
      { s: 'var', name: 'lsum', type: 'f32', value: '0.0f' },
      overKeys([
        { s: 'let', name: 'pj', value: `select(0.0f, exp(${ws(`rr * ${BC}u + j`)} - m_new), ((okbits >> j) & 1u) != 0u)` },
        { s: 'assign', target: 'lsum', op: '+', value: 'pj' },
        { s: 'assign', target: ws(`rr * ${BC}u + j`), value: 'pj' },
      ]),
      { s: 'assign', target: wl('rr'), value: 'l_run * alpha + lsum' },
      { s: 'assign', target: wm('rr'), value: 'm_new' },
      { s: 'assign', target: wscale('rr'), value: 'alpha' },
    ]),
    // K is no longer read: V takes its region.
    ...(layout.shareKV ? [stageV('')] : []),
    { s: 'barrier' },
  ];

  // Output block: rescale by the rows' factors, then add P·V, V staged `vTile` keys at a time.
  const pvInner: Stmt[] = [];
  for (let i = 0; i < RM; i++) pvInner.push({ s: 'assign', target: `ra[${i}]`, value: ws(`(${rowOf(i)}) * ${BC}u + kc + kk`) });
  for (let j = 0; j < RO; j++) pvInner.push({ s: 'assign', target: `rb[${j}]`, value: wv(`kk * ${E}u + tx + ${j * TX}u`) });
  for (let i = 0; i < RM; i++) for (let j = 0; j < RO; j++) pvInner.push({ s: 'assign', target: `acc[${i * RO + j}]`, op: '+', value: `ra[${i}] * rb[${j}]` });
  const oAt = (i: number, j: number) => wo(`(${rowOf(i)}) * ${E}u + tx + ${j * TX}u`);
  /** Columns past the value head (E not a multiple of the threads across) are never stored. */
  const inColumns = (j: number, st: Stmt): Stmt => ((j + 1) * TX > E ? { s: 'if', cond: `tx + ${j * TX}u < ${E}u`, then: [st] } : st);
  const outputTile: Stmt[] = [];
  for (let i = 0; i < RM; i++) {
    outputTile.push({ s: 'let', name: `alpha${i}`, value: wscale(rowOf(i)) });
    for (let j = 0; j < RO; j++) outputTile.push({ s: 'assign', target: `acc[${i * RO + j}]`, value: `acc[${i * RO + j}] * alpha${i}` });
  }
  outputTile.push(...blocked('kc', bcCount, fullV ? null : em.opaque(VK), (base) => [stageV(base)], pvInner));
  // Tiles staged at the top of the kv tile are overwritten by the next one: wait for every reader.
  if (fullD || fullV) outputTile.push({ s: 'barrier' });

  const tileBody = (): Stmt[] => [{ s: 'let', name: 'kv0', value: `u32(kt) * ${BC}u` }, ...scoreTile, ...rowSoftmax, ...outputTile];
  if (fullD) body.push(stageQ(''));
  body.push(
    { s: 'let', name: 'kt_begin', value: `max(lo, 0i) / ${BC}i` },
    { s: 'let', name: 'kt_end', value: `select(-1i, hi / ${BC}i, hi >= 0i && lo <= hi)` },
  );
  const bm = k.blockMask;
  if (!bm) {
    body.push({ s: 'for', init: 'var kt = kt_begin', cond: 'kt <= kt_end', update: 'kt += 1i', body: tileBody() });
  } else {
    // Visit only the kv tiles the block mask lists; the list is read through workgroup memory so
    // its values are uniform (the loop holds barriers).
    const mo = em.offset(bm.maskOuter.map((a) => ({ size: a.size, index: a.id })));
    body.push(
      { s: 'let', name: 'kv_tiles', value: `(${M} + ${BC - 1}u) / ${BC}u` },
      { s: 'let', name: 'brow', value: `${mo} * tiles_t + tt` },
      { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: 'wg_count', value: `${em.buffer(bm.counts.buffer)}[brow]` }] },
      { s: 'let', name: 'n_blocks', value: 'workgroupUniformLoad(&wg_count)' },
      {
        s: 'for',
        init: 'var bi = 0u',
        cond: 'bi < n_blocks',
        update: 'bi += 1u',
        body: [
          { s: 'if', cond: 'lid == 0u', then: [{ s: 'assign', target: 'wg_entry', value: `${em.buffer(bm.list.buffer)}[brow * kv_tiles + bi]` }] },
          { s: 'let', name: 'entry', value: 'workgroupUniformLoad(&wg_entry)' },
          { s: 'let', name: 'kt', value: 'i32(entry & 0x7fffffffu)' },
          { s: 'let', name: 'full', value: 'entry >= 0x80000000u' },
          { s: 'if', cond: 'kt >= kt_begin && kt <= kt_end', then: tileBody() },
          // Thread 0 rewrites wg_entry next iteration: everyone must have read it first.
          { s: 'barrier' },
        ],
      },
    );
  }

  // Each row's owner publishes its normaliser (or, split, writes its max and sum); then every
  // thread writes its output block.
  const split = k.split;
  const rowIndex = (value: string) => em.offset((split ? split.partial.axes : k.out.axes).map((a) => ({ size: a.size, index: a.id === 'slot' ? value : a.id })));
  if (split) {
    body.push(ownRow([{ s: 'if', cond: 'row_ok', then: [{ s: 'assign', target: `out[${rowIndex('0u')}]`, value: 'm_run' }, { s: 'assign', target: `out[${rowIndex('1u')}]`, value: 'l_run' }] }]));
  } else {
    const lseAt = k.lse ? em.offset(k.lse.axes.map((a) => ({ size: a.size, index: a.id }))) : '';
    body.push(
      ownRow([
        { s: 'assign', target: wscale('rr'), value: 'select(0.0f, 1.0f / l_run, l_run > 0.0f)' },
        ...(k.lse ? [{ s: 'if', cond: 'row_ok', then: [{ s: 'assign', target: `out1[${lseAt}]`, value: 'select(bitcast<f32>(ts_neg_inf_bits), m_run + log(l_run), l_run > 0.0f)' }] } as Stmt] : []),
      ]),
    );
  }
  // Every thread stages its output block (the tiles are free: the last kv tile ended in a barrier).
  for (let i = 0; i < RM; i++) for (let j = 0; j < RO; j++) body.push(inColumns(j, { s: 'assign', target: oAt(i, j), value: `acc[${i * RO + j}]` }));
  body.push(
    { s: 'barrier' },
    strided('e', BR * E, [
      { s: 'let', name: 'r', value: `e / ${E}u` },
      { s: 'let', name: 'col', value: `e % ${E}u` },
      {
        s: 'if',
        cond: `row0 + r < ${T}`,
        then: [...tiledLet('row0 + r'), ...(split ? [] : em.decompose('col', k.e, 'oe')), { s: 'assign', target: `out[${split ? rowIndex('col + 2u') : rowIndex('')}]`, value: split ? wo('e') : `${wo('e')} * ${wscale('r')}` }],
      },
    ]),
  );
  const outerCount = sizeExpr(k.outer.map((a) => a.size));
  const tiles: SizeExpr = k.tiled ? { op: 'ceildiv', args: [k.tiled.size, BR] } : 1;
  return {
    module: em.module(NT, body, [
      { name: 'wgm', type: `array<f32, ${layout.total}>` },
      ...(bm ? [{ name: 'wg_count', type: 'u32' }, { name: 'wg_entry', type: 'u32' }] : []),
    ]),
    workgroups: { op: 'mul', args: [outerCount, tiles, parts] },
    em,
  };
}

/** Shared shape of the block-mask kernels: query/kv tile counts as WGSL expressions. */
function blockGrid(em: Emitter, k: { tiled: KAxis | null; kv: KAxis; rows: number; kvTile: number; maskOuter: readonly KAxis[] }) {
  const T = k.tiled ? em.size(k.tiled.size) : '1u';
  const M = em.size(k.kv.size);
  return {
    T,
    M,
    qTiles: `((${T} + ${k.rows - 1}u) / ${k.rows}u)`,
    kvTiles: `((${M} + ${k.kvTile - 1}u) / ${k.kvTile}u)`,
    outer: em.product(k.maskOuter.map((a) => a.size)),
  };
}

/**
 * One workgroup per (mask-outer, query tile, kv tile) block, one thread per query row: counts the
 * allowed pairs and classifies the block as empty (0), partial (1) or full (2).
 */
function emitMaskClassify(k: Extract<KernelIR, { kind: 'mask-classify' }>): Emitted {
  const em = new Emitter(k);
  const g = blockGrid(em, k);
  const body: Stmt[] = [
    { s: 'let', name: 'kt', value: `wid % ${g.kvTiles}` },
    { s: 'let', name: 'qt', value: `(wid / ${g.kvTiles}) % ${g.qTiles}` },
    { s: 'let', name: 'mo', value: `(wid / ${g.kvTiles}) / ${g.qTiles}` },
    ...em.decompose('mo', k.maskOuter, 'mo'),
    { s: 'let', name: 'trow', value: `qt * ${k.rows}u + lid` },
    { s: 'var', name: 'cnt', type: 'u32', value: '0u' },
    {
      s: 'if',
      cond: `trow < ${g.T}`,
      then: [
        ...(k.tiled ? [{ s: 'let', name: k.tiled.id, value: 'trow' } as Stmt] : []),
        {
          s: 'for',
          init: 'var j = 0u',
          cond: `j < ${em.opaque(k.kvTile)}`,
          update: 'j += 1u',
          body: [
            { s: 'let', name: 'kvi', value: `kt * ${k.kvTile}u + j` },
            { s: 'if', cond: `kvi < ${g.M}`, then: [{ s: 'let', name: k.kv.id, value: 'kvi' }, { s: 'if', cond: em.expr(k.valid), then: [{ s: 'assign', target: 'cnt', op: '+', value: '1u' }] }] },
          ],
        },
      ],
    },
    { s: 'let', name: 'added', value: 'atomicAdd(&n_valid, cnt)' },
    { s: 'barrier' },
    {
      s: 'if',
      cond: 'lid == 0u',
      then: [
        { s: 'let', name: 'rows_in', value: `min(${g.T} - qt * ${k.rows}u, ${k.rows}u)` },
        { s: 'let', name: 'keys_in', value: `min(${g.M} - kt * ${k.kvTile}u, ${k.kvTile}u)` },
        { s: 'let', name: 'nv', value: 'atomicLoad(&n_valid)' },
        { s: 'assign', target: 'out[wid]', value: 'select(select(1u, 2u, nv == rows_in * keys_in), 0u, nv == 0u)' },
      ],
    },
  ];
  return {
    module: em.module(k.rows, body, [{ name: 'n_valid', type: 'atomic<u32>' }]),
    workgroups: {
      op: 'mul',
      args: [sizeExpr(k.maskOuter.map((a) => a.size)), { op: 'ceildiv', args: [k.tiled?.size ?? 1, k.rows] }, { op: 'ceildiv', args: [k.kv.size, k.kvTile] }],
    },
    em,
  };
}

/** One thread per (mask-outer, query tile): lists the non-empty kv tiles (bit 31: full) and counts them. */
function emitMaskCompact(k: Extract<KernelIR, { kind: 'mask-compact' }>, wg: number): Emitted {
  const em = new Emitter(k);
  const g = blockGrid(em, k);
  const blocks = em.buffer(k.blocks.buffer);
  const body: Stmt[] = [
    { s: 'let', name: 'r', value: `wid * ${wg}u + lid` },
    { s: 'if', cond: `r >= ${g.outer} * ${g.qTiles}`, then: [{ s: 'return' }] },
    { s: 'let', name: 'nkt', value: g.kvTiles },
    { s: 'var', name: 'count', type: 'u32', value: '0u' },
    {
      s: 'for',
      init: 'var kt = 0u',
      cond: 'kt < nkt',
      update: 'kt += 1u',
      body: [
        { s: 'let', name: 'c', value: `${blocks}[r * nkt + kt]` },
        { s: 'if', cond: 'c != 0u', then: [{ s: 'assign', target: 'out[r * nkt + count]', value: 'select(kt, kt | 0x80000000u, c == 2u)' }, { s: 'assign', target: 'count', op: '+', value: '1u' }] },
      ],
    },
    { s: 'assign', target: 'out1[r]', value: 'count' },
  ];
  return {
    module: em.module(wg, body),
    workgroups: { op: 'ceildiv', args: [{ op: 'mul', args: [sizeExpr(k.maskOuter.map((a) => a.size)), { op: 'ceildiv', args: [k.tiled?.size ?? 1, k.rows] }] }, wg] },
    em,
  };
}

/** One thread per attention row: merges the split-KV partial states by log-sum-exp. */
function emitFlashCombine(k: Extract<KernelIR, { kind: 'flash-combine' }>, wg: number): Emitted {
  const em = new Emitter(k);
  const E = staticSize(k.e);
  const P = k.parts;
  const NEG = wgslLiteral(F32_LOWEST, 'f32');
  em.helpers.set('ts_neg_inf_bits', 'var<private> ts_neg_inf_bits: u32 = 0xff800000u;');
  const rowsCount = em.product(k.rows.map((a) => a.size));
  const part = em.buffer(k.partial.buffer);
  const at = (slot: string) => `${part}[${em.offset(k.partial.axes.map((a) => ({ size: a.size, index: a.index === 'slot' ? slot : a.index })))}]`;
  const body: Stmt[] = [
    { s: 'let', name: 'r', value: `wid * ${wg}u + lid` },
    { s: 'if', cond: `r >= ${rowsCount}`, then: [{ s: 'return' }] },
    ...em.decompose('r', k.rows, 'r'),
    { s: 'var', name: 'mx', type: 'f32', value: NEG },
    { s: 'for', init: 'var sp = 0u', cond: `sp < ${P}u`, update: 'sp += 1u', body: [{ s: 'if', cond: `${at('1u')} > 0.0f`, then: [{ s: 'assign', target: 'mx', value: `max(mx, ${at('0u')})` }] }] },
    { s: 'var', name: 'w', type: `array<f32, ${P}>` },
    { s: 'var', name: 'total', type: 'f32', value: '0.0f' },
    {
      s: 'for',
      init: 'var sp = 0u',
      cond: `sp < ${P}u`,
      update: 'sp += 1u',
      body: [
        { s: 'let', name: 'ls', value: at('1u') },
        { s: 'assign', target: 'w[sp]', value: `select(0.0f, exp(${at('0u')} - mx), ls > 0.0f)` },
        { s: 'assign', target: 'total', op: '+', value: 'w[sp] * ls' },
      ],
    },
    { s: 'let', name: 'inv', value: 'select(0.0f, 1.0f / total, total > 0.0f)' },
    {
      s: 'for',
      init: 'var ee = 0u',
      cond: `ee < ${E}u`,
      update: 'ee += 1u',
      body: [
        { s: 'var', name: 'o', type: 'f32', value: '0.0f' },
        { s: 'for', init: 'var sp = 0u', cond: `sp < ${P}u`, update: 'sp += 1u', body: [{ s: 'assign', target: 'o', op: '+', value: `w[sp] * ${at('ee + 2u')}` }] },
        ...em.decompose('ee', k.e, 'e'),
        { s: 'assign', target: `out[${em.offset(k.out.axes.map((a) => ({ size: a.size, index: a.id })))}]`, value: 'o * inv' },
      ],
    },
  ];
  if (k.lse) {
    body.push({
      s: 'assign',
      target: `out1[${em.offset(k.lse.axes.map((a) => ({ size: a.size, index: a.id })))}]`,
      value: 'select(bitcast<f32>(ts_neg_inf_bits), mx + log(total), total > 0.0f)',
    });
  }
  return { module: em.module(wg, body), workgroups: { op: 'ceildiv', args: [sizeExpr(k.rows.map((a) => a.size)), wg] }, em };
}

/** Emits one kernel under its schedule: WGSL text, bindings and the dispatch's workgroup count. */
export function emitKernel(kernel: KernelIR, schedule: Schedule): { wgsl: string; workgroups: SizeExpr; uniforms: UniformWord[]; buffers: number[]; workgroupSize: number } {
  let emitted: Emitted;
  if (kernel.kind === 'elementwise' && schedule.kind === 'elementwise') emitted = emitElementwise(kernel, schedule.workgroupSize);
  else if (kernel.kind === 'reduce' && schedule.kind === 'reduce') emitted = emitReduce(kernel, schedule);
  else if (kernel.kind === 'gemm' && schedule.kind === 'gemm') emitted = emitGemm(kernel, schedule);
  else if (kernel.kind === 'flash' && schedule.kind === 'flash') emitted = emitFlash(kernel, schedule);
  else if (kernel.kind === 'flash-combine' && schedule.kind === 'elementwise') emitted = emitFlashCombine(kernel, schedule.workgroupSize);
  else if (kernel.kind === 'mask-classify' && schedule.kind === 'elementwise') emitted = emitMaskClassify(kernel);
  else if (kernel.kind === 'mask-compact' && schedule.kind === 'elementwise') emitted = emitMaskCompact(kernel, schedule.workgroupSize);
  else throw new TesseraError(`emit: schedule ${schedule.kind} does not fit kernel ${kernel.kind}`);
  const { em, module, workgroups } = emitted;
  const uniforms: UniformWord[] = [
    { size: workgroups },
    ...em.symbols.map((s) => ({ size: s })),
    ...em.params.map((p) => ({ param: p.name })),
    ...em.literals.map((value) => ({ u32: value })),
  ];
  const buffers = [...em.bindingOf.entries()].sort((a, b) => a[1] - b[1]).map(([b]) => b);
  return { wgsl: printWgsl(module), workgroups, uniforms, buffers, workgroupSize: module.entry.workgroupSize[0] };
}

/** Assembles the runtime Program from the tiled program. */
export function emitWgsl(program: TiledProgram, graph: Graph): Program {
  const kernels: ProgramKernel[] = [];
  const byText = new Map<string, number>();
  const steps = (list: readonly TiledStep[]): Step[] =>
    list.map((s): Step => {
      if (s.kind === 'copy') {
        const b = program.buffers[s.src]!;
        return { kind: 'copy', label: s.label, src: s.src, dst: s.dst, bytes: { op: 'mul', args: [4, sizeExpr(b.axes.map((a) => a.size))] } };
      }
      if (s.kind === 'loop') return { kind: 'loop', label: s.label, count: s.count, body: steps(s.body) };
      const e = emitKernel(s.kernel, s.schedule);
      let index = byText.get(e.wgsl);
      if (index === undefined) {
        index = kernels.length;
        byText.set(e.wgsl, index);
        kernels.push({
          name: `${program.name}:${s.kernel.kind}`,
          wgsl: e.wgsl,
          entryPoint: 'main',
          workgroupSize: [e.workgroupSize, 1, 1],
          bindings: e.buffers.map((b) => (kernelOutputs(s.kernel).some((o) => o.buffer === b) ? 'read_write' : 'read')),
          uniformWords: e.uniforms.length,
        });
      }
      const cached = kernelOutputs(s.kernel).every((o) => program.buffers[o.buffer]!.role === 'cache');
      return {
        kind: 'dispatch',
        kernel: index,
        label: `${s.kernel.kind} ${s.kernel.name}`,
        buffers: e.buffers,
        uniforms: e.uniforms,
        workgroups: e.workgroups,
        ...(cached ? { cached } : {}),
        ...(s.when ? { when: s.when } : {}),
      };
    });
  const programSteps = steps(program.steps);
  const boundary = (t: { name: string; dtype: DType; axes: readonly { name: string; size: Size }[]; buffer: number }) => ({
    name: t.name,
    dtype: t.dtype,
    axes: t.axes.map((a) => a.name),
    shape: t.axes.map((a) => a.size),
    buffer: t.buffer,
  });
  return {
    format: 'tessera-program',
    version: 1,
    name: program.name,
    inputs: program.inputs.map(boundary),
    params: program.params,
    outputs: program.outputs.map(boundary),
    buffers: program.buffers.map((b) => ({ id: b.id, bytes: { op: 'mul', args: [4, b.elements ?? sizeExpr(b.axes.map((a) => a.size))] }, role: b.role, label: b.label })),
    kernels,
    steps: programSteps,
    graph,
  };
}
