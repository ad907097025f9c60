/**
 * Records a planned run into one command encoder: consecutive dispatches share a compute pass,
 * a copy ends the pass (copies are encoder commands), and loops are unrolled because their counts
 * are fixed in the Program. When profiling, each dispatch gets its own pass whose start and end
 * write timestamps.
 */
import type { PlannedDispatch, PlannedStep } from './plan.ts';

/** How the encoder gets the GPU objects for a planned step. */
export interface EncodeResources {
  pipeline(kernel: number): GPUComputePipeline;
  bindGroup(step: PlannedDispatch): GPUBindGroup;
  buffer(id: number): GPUBuffer;
}

/** One timed dispatch: the step and, for a step inside loops, its iteration numbers. */
export interface TimedDispatch {
  readonly step: PlannedDispatch;
  readonly iteration: readonly number[];
}

/** Dispatches a run will record (loops multiplied out, empty dispatches left out). */
export function countDispatches(steps: readonly PlannedStep[]): number {
  let n = 0;
  for (const s of steps) {
    if (s.kind === 'dispatch') n += s.total > 0 ? 1 : 0;
    else if (s.kind === 'loop') n += s.count * countDispatches(s.body);
  }
  return n;
}

/** Every distinct planned step (loop bodies once), in program order: what diagnosis checks. */
export function distinctSteps(steps: readonly PlannedStep[]): (Exclude<PlannedStep, { kind: 'loop' }>)[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? distinctSteps(s.body) : [s]));
}

export function encodeSteps(
  encoder: GPUCommandEncoder,
  steps: readonly PlannedStep[],
  resources: EncodeResources,
  passLabel: string,
  timing: { readonly querySet: GPUQuerySet; readonly timed: TimedDispatch[] } | null = null,
): void {
  let pass: GPUComputePassEncoder | null = null;
  const endPass = (): void => {
    pass?.end();
    pass = null;
  };
  const walk = (list: readonly PlannedStep[], iteration: readonly number[]): void => {
    for (const step of list) {
      if (step.kind === 'loop') {
        for (let i = 0; i < step.count; i++) walk(step.body, [...iteration, i]);
      } else if (step.kind === 'copy') {
        if (step.bytes === 0) continue;
        endPass();
        encoder.copyBufferToBuffer(resources.buffer(step.src), 0, resources.buffer(step.dst), 0, step.bytes);
      } else {
        if (step.total === 0) continue;
        if (timing) {
          endPass();
          const index = timing.timed.length;
          timing.timed.push({ step, iteration });
          pass = encoder.beginComputePass({
            label: `${passLabel}: ${step.label}`,
            timestampWrites: { querySet: timing.querySet, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 },
          });
        } else {
          pass ??= encoder.beginComputePass({ label: passLabel });
        }
        const p: GPUComputePassEncoder = pass;
        p.setPipeline(resources.pipeline(step.kernel));
        p.setBindGroup(0, resources.bindGroup(step));
        p.dispatchWorkgroups(step.grid[0], step.grid[1]);
      }
    }
  };
  walk(steps, []);
  endPass();
}
