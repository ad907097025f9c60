/**
 * Split-KV, for decode shapes: few query rows against a long kv axis would leave the device idle,
 * so the kv axis is cut into chunks with a workgroup each, and a combine kernel merges the
 * partial softmax states by log-sum-exp.
 */
import { staticProduct, type FlashKernel, type HostStep, type KernelIR, type KOutput, type NewBuffer } from '../kernel-ir.ts';

/** Chunks of the kv axis in the split-KV path. */
const SPLIT_KV_PARTS = 16;

/** Decode shapes: at most 4 query rows (static), and a kv axis that is long or unknown. */
export function isDecodeShape(k: FlashKernel): boolean {
  const rows = k.tiled ? k.tiled.size : 1;
  if (typeof rows !== 'number' || rows > 4) return false;
  return typeof k.kv.size !== 'number' || k.kv.size >= 256;
}

/** The split flash kernel, writing (max, sum, accumulator) rows per chunk, and its combine kernel. */
export function splitKv(kernel: FlashKernel, label: string, newBuffer: NewBuffer): HostStep[] {
  const parts = SPLIT_KV_PARTS;
  const rows = [...kernel.outer, ...(kernel.tiled ? [kernel.tiled] : [])];
  const eSize = staticProduct(kernel.e.map((a) => a.size))!;
  const partialAxes = [...rows.map((a) => ({ name: a.name, size: a.size })), { name: '_split', size: parts }, { name: '_slot', size: eSize + 2 }];
  const partialBuffer = newBuffer('f32', partialAxes, 'temp', `${label} split-kv partials`);
  const partial: KOutput = {
    buffer: partialBuffer,
    dtype: 'f32',
    axes: [...rows, { id: 'sp', name: '_split', size: parts }, { id: 'slot', name: '_slot', size: eSize + 2 }],
  };
  const combine: KernelIR = {
    kind: 'flash-combine',
    name: `${label} combine`,
    out: kernel.out,
    lse: kernel.lse,
    partial: { k: 'load', buffer: partialBuffer, dtype: 'f32', axes: partial.axes.map((a) => ({ size: a.size, index: a.id })) },
    rows,
    e: kernel.e,
    parts,
  };
  return [
    { kind: 'kernel', kernel: { ...kernel, split: { parts, partial } } },
    { kind: 'kernel', kernel: combine },
  ];
}
