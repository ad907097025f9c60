/**
 * The emitter of every kernel kind, in one table: each kind's emitter, the schedule kind it runs
 * under and whether it can run a chunk at a time (`chunk-bindings`). Adding a kernel kind means
 * adding its IR, its default schedule and a row here.
 */
import { TesseraError } from '../../dsl/types.ts';
import type { Chunking, KernelIR } from '../kernel-ir.ts';
import type { FloatFacts } from '../nonfinite.ts';
import type { Schedule, ScheduleOf } from '../schedule.ts';
import { Emitter, type Emitted } from './core.ts';
import { emitElementwise } from './elementwise.ts';
import { emitFlashCombine } from './flash-combine.ts';
import { emitFlash } from './flash.ts';
import { emitGemm } from './gemm.ts';
import { emitGraphAttention, emitGraphMerge } from './graph-attention.ts';
import { emitMaskClassify } from './mask-classify.ts';
import { emitMaskCompact } from './mask-compact.ts';
import { emitReduce } from './reduce.ts';
import { emitRowBlock } from './row-block.ts';
import { emitSimplicial } from './simplicial.ts';
import { emitScan } from './scan.ts';
import { emitSegment } from './segment.ts';

type KernelEmitters = {
  readonly [K in KernelIR['kind']]: {
    readonly schedule: ScheduleOf[K]['kind'];
    readonly chunks: boolean;
    readonly emit: (kernel: Extract<KernelIR, { kind: K }>, schedule: ScheduleOf[K], em: Emitter) => Emitted;
  };
};

const EMITTERS: KernelEmitters = {
  elementwise: { schedule: 'elementwise', chunks: true, emit: emitElementwise },
  reduce: { schedule: 'reduce', chunks: true, emit: emitReduce },
  gemm: { schedule: 'gemm', chunks: true, emit: emitGemm },
  flash: { schedule: 'flash', chunks: false, emit: emitFlash },
  simplicial: { schedule: 'simplicial', chunks: false, emit: emitSimplicial },
  scan: { schedule: 'elementwise', chunks: false, emit: emitScan },
  'flash-combine': { schedule: 'elementwise', chunks: false, emit: emitFlashCombine },
  'graph-attention': { schedule: 'elementwise', chunks: false, emit: emitGraphAttention },
  'graph-merge': { schedule: 'elementwise', chunks: false, emit: emitGraphMerge },
  segment: { schedule: 'elementwise', chunks: false, emit: emitSegment },
  'mask-classify': { schedule: 'elementwise', chunks: false, emit: emitMaskClassify },
  'mask-compact': { schedule: 'elementwise', chunks: false, emit: emitMaskCompact },
  'row-block': { schedule: 'row-block', chunks: true, emit: emitRowBlock },
};

/**
 * Emits one kernel under its schedule: the WGSL module, its workgroup count and its bindings.
 * `facts` say which of the program's buffers may hold ±∞ or NaN (see `nonfinite.ts`); `chunk`,
 * the cut of a kernel run a chunk at a time; `products`, the set contractions see (`Emitter.products`).
 */
export function emitModule(kernel: KernelIR, schedule: Schedule, facts: FloatFacts, chunk: Chunking | null = null, products?: ReadonlySet<number>): Emitted {
  const entry = EMITTERS[kernel.kind] as { readonly schedule: Schedule['kind']; readonly chunks: boolean; readonly emit: (k: KernelIR, s: Schedule, em: Emitter) => Emitted };
  if (schedule.kind !== entry.schedule) throw new TesseraError(`emit: schedule ${schedule.kind} does not fit kernel ${kernel.kind}`);
  if (chunk && !entry.chunks) throw new TesseraError(`emit: a ${kernel.kind} kernel cannot run in chunks`);
  return entry.emit(kernel, schedule, new Emitter(kernel, facts, chunk, products));
}
