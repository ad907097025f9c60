/**
 * lower-to-tiles: attach a schedule to every kernel — the override for its kind or the default
 * (`schedule.ts`), checked against the device limits — and give a flash kernel over a symbolic
 * query axis two size-guarded variants when the long-axis schedule applies, a GEMM over symbolic
 * rows or columns a variant per range of them it would tile differently (`gemmVariants`). A step
 * already guarded (a split reduction's variant) keeps its guard, and a GEMM variant's ranges
 * are added to it.
 */
import { guardRanges, type DeviceLimits, type SizeGuard, type SizeRange } from '../../program/index.ts';
import type { Chunking, FlashKernel, FusedProgram, HostStep, KernelIR } from '../kernel-ir.ts';
import { checkSchedule, defaultSchedule, gemmVariants, LONG_QUERY_ROWS, longFlashSchedule, type Schedule, type ScheduleOverrides } from '../schedule.ts';

/** A scheduled step; a kernel step run a chunk at a time carries its `chunk` (`chunk-bindings`). */
export type TiledStep =
  | { readonly kind: 'kernel'; readonly kernel: KernelIR; readonly schedule: Schedule; readonly when?: SizeGuard; readonly chunk?: Chunking }
  | Extract<HostStep, { kind: 'copy' }>
  | { readonly kind: 'loop'; readonly count: number; readonly label: string; readonly body: readonly TiledStep[] };

export interface TiledProgram extends Omit<FusedProgram, 'steps'> {
  readonly steps: readonly TiledStep[];
}

/**
 * A flash kernel's schedules: one, or — when the query axis is symbolic and a long-axis schedule
 * exists — two steps guarded by the query length, so short runs never compile the long variant.
 */
function flashVariants(kernel: FlashKernel, limits: DeviceLimits): { schedule: Schedule; when?: SizeRange }[] {
  const short = defaultSchedule(kernel, limits);
  const tiled = kernel.tiled;
  if (!tiled || typeof tiled.size === 'number') return [{ schedule: short }];
  const long = longFlashSchedule(kernel, limits);
  const fixed = kernel.blockMask;
  if (!long || (fixed && (long.rows !== fixed.rows || long.kvTile !== fixed.kvTile))) return [{ schedule: short }];
  return [
    { schedule: long, when: { size: tiled.size, atLeast: LONG_QUERY_ROWS } },
    { schedule: short, when: { size: tiled.size, below: LONG_QUERY_ROWS } },
  ];
}

/** A step's guard with `ranges` added: none, the one range, or the list of them. */
function guarded(when: SizeGuard | undefined, ranges: readonly SizeRange[]): { when?: SizeGuard } {
  const all = [...(when ? guardRanges(when) : []), ...ranges];
  return all.length === 0 ? {} : { when: all.length === 1 ? all[0]! : all };
}

function lowerSteps(steps: readonly HostStep[], limits: DeviceLimits, overrides: ScheduleOverrides): TiledStep[] {
  return steps.flatMap((s): TiledStep[] => {
    if (s.kind === 'kernel') {
      const variants: { schedule: Schedule; when?: SizeGuard }[] =
        s.kernel.kind === 'flash' && !overrides.flash && !s.when
          ? flashVariants(s.kernel, limits)
          : s.kernel.kind === 'gemm'
            ? gemmVariants(s.kernel, limits, overrides).map(({ schedule, ranges }) => ({ schedule, ...guarded(s.when, ranges) }))
            : [{ schedule: defaultSchedule(s.kernel, limits, overrides), ...(s.when ? { when: s.when } : {}) }];
      return variants.map((v) => {
        checkSchedule(v.schedule, limits, s.kernel);
        return { kind: 'kernel', kernel: s.kernel, ...v };
      });
    }
    if (s.kind === 'loop') return [{ ...s, body: lowerSteps(s.body, limits, overrides) }];
    return [s];
  });
}

/** Schedules every kernel of the fused program. */
export function lowerToTiles(program: FusedProgram, limits: DeviceLimits, overrides: ScheduleOverrides = {}): TiledProgram {
  return { ...program, steps: lowerSteps(program.steps, limits, overrides) };
}
