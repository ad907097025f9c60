/**
 * Block masks, for flash masks the analytic kv bounds do not capture (document masks, masks read
 * from tensors): a classify kernel marks every (mask-outer, query tile, kv tile) block empty,
 * partial or full, a compact kernel lists each block row's non-empty kv tiles, and the flash
 * kernel visits only those, skipping the mask on full blocks.
 */
import { sizeProduct, type DeviceLimits, type SizeExpr } from '../../program/index.ts';
import { loadedBuffers, subExprs, type FlashKernel, type HostStep, type KExpr, type KOutput, type NewBuffer } from '../kernel-ir.ts';
import { defaultFlashSchedule } from '../schedule.ts';
import { kvBounds } from './kv-bounds.ts';

/** Kernel axis ids an expression reads (as indices or through loads). */
function axisRefs(e: KExpr, into: Set<string> = new Set()): Set<string> {
  if (e.k === 'index') into.add(e.axis);
  if (e.k === 'load') for (const a of e.axes) if ('index' in a) into.add(a.index);
  for (const sub of subExprs(e)) axisRefs(sub, into);
  return into;
}

/** Whether the kernel's mask has conjuncts no analytic bound captures. */
export function needsBlockMask(k: FlashKernel): boolean {
  return k.valid !== null && kvBounds(k.valid, k.tiled?.id ?? null, k.kv.id).rest.length > 0;
}

/**
 * The classify and compact kernels of a block mask, and the flash kernel that reads it. The tile
 * sizes are fixed here, from the default flash schedule, because the buffers are indexed by tile.
 */
export function blockMask(k: FlashKernel, label: string, newBuffer: NewBuffer, limits: DeviceLimits): { kernel: FlashKernel; steps: HostStep[] } {
  const { rows, kvTile } = defaultFlashSchedule(k, limits);
  const refs = axisRefs(k.valid!);
  const maskOuter = k.outer.filter((a) => refs.has(a.id));
  const qTiles: SizeExpr = { op: 'ceildiv', args: [k.tiled?.size ?? 1, rows] };
  const kvTiles: SizeExpr = { op: 'ceildiv', args: [k.kv.size, kvTile] };
  const outerCount = sizeProduct(maskOuter.map((a) => a.size));
  const axes = maskOuter.map((a) => ({ name: a.name, size: a.size }));
  // A mask that reads no tensor depends on sizes and parameters only: the runtime keeps its
  // block lists across runs (cache buffers) instead of recomputing them.
  const role = loadedBuffers(k.valid!).size === 0 ? 'cache' : 'temp';
  const blocks = newBuffer('u32', axes, role, `${label} mask blocks`, { op: 'mul', args: [outerCount, qTiles, kvTiles] });
  const counts = newBuffer('u32', axes, role, `${label} mask counts`, { op: 'mul', args: [outerCount, qTiles] });
  const list = newBuffer('u32', axes, role, `${label} mask list`, { op: 'mul', args: [outerCount, qTiles, kvTiles] });
  const out = (buffer: number): KOutput => ({ buffer, dtype: 'u32', axes: [] });
  const load = (buffer: number) => ({ k: 'load' as const, buffer, dtype: 'u32' as const, axes: [] });
  const shared = { maskOuter, tiled: k.tiled, kv: k.kv, rows, kvTile };
  return {
    steps: [
      { kind: 'kernel', kernel: { kind: 'mask-classify', name: `${label} mask classify`, out: out(blocks), valid: k.valid!, ...shared } },
      { kind: 'kernel', kernel: { kind: 'mask-compact', name: `${label} mask compact`, out: out(list), counts: out(counts), blocks: load(blocks), ...shared } },
    ],
    kernel: { ...k, blockMask: { maskOuter, rows, kvTile, counts: load(counts), list: load(list) } },
  };
}
