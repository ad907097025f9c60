/**
 * plan-memory: give outputs their own buffers (a copy only where an output would alias an input,
 * a loop carry or another output) and let temporaries whose lifetimes do not overlap share one
 * buffer, by liveness over the host steps: a loop body's iteration-local temporaries by their span
 * in the body, anything else a loop touches for the whole loop (`liveness`).
 */
import type { Axis } from '../../dsl/types.ts';
import { kernelInputs, kernelOutputs, mapKernelBuffers, type BufferDecl, type FusedProgram, type HostStep } from '../kernel-ir.ts';

function mapSteps(steps: readonly HostStep[], f: (b: number) => number): HostStep[] {
  return steps.map((s) => {
    if (s.kind === 'kernel') return { ...s, kernel: mapKernelBuffers(s.kernel, f) };
    if (s.kind === 'copy') return { ...s, src: f(s.src), dst: f(s.dst) };
    return { ...s, body: mapSteps(s.body, f) };
  });
}

function touched(step: HostStep, into: Set<number>): Set<number> {
  if (step.kind === 'copy') {
    into.add(step.src).add(step.dst);
  } else if (step.kind === 'loop') {
    for (const s of step.body) touched(s, into);
  } else {
    for (const o of kernelOutputs(step.kernel)) into.add(o.buffer);
    for (const b of kernelInputs(step.kernel)) into.add(b);
  }
  return into;
}

/** The buffers a kernel or copy step writes. */
function written(step: Exclude<HostStep, { kind: 'loop' }>): number[] {
  return step.kind === 'copy' ? [step.dst] : kernelOutputs(step.kernel).map((o) => o.buffer);
}

/**
 * Each buffer's live interval over the steps in program order (loop bodies in place, once). A
 * buffer that a loop body writes before it reads it, and that nothing outside the loop touches,
 * lives within one iteration: its interval is its span inside the body, so iteration-local
 * temporaries can share a buffer with each other. Any other buffer a loop touches stays live for
 * the whole loop, whose later iterations read what earlier ones wrote.
 */
function liveness(steps: readonly HostStep[]): { first: Map<number, number>; last: Map<number, number> } {
  const touches = new Map<number, { at: number; write: boolean }[]>();
  const loops: { start: number; end: number }[] = [];
  let position = 0;
  const walk = (list: readonly HostStep[]): void => {
    for (const step of list) {
      if (step.kind === 'loop') {
        const start = position;
        walk(step.body);
        loops.push({ start, end: position - 1 });
        continue;
      }
      const at = position++;
      const writes = new Set(written(step));
      for (const b of touched(step, new Set())) {
        let list = touches.get(b);
        if (!list) touches.set(b, (list = []));
        // A step that reads and writes a buffer reads it first.
        list.push({ at, write: writes.has(b) && !(step.kind === 'kernel' && kernelInputs(step.kernel).includes(b)) });
      }
    }
  };
  walk(steps);
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  for (const [b, list] of touches) {
    let lo = Math.min(...list.map((t) => t.at));
    let hi = Math.max(...list.map((t) => t.at));
    // Innermost loops first (they were recorded first), so an outer loop sees the widened interval.
    for (const loop of loops) {
      const inside = list.filter((t) => t.at >= loop.start && t.at <= loop.end);
      if (inside.length === 0) continue;
      const local = inside.length === list.length && inside.reduce((a, t) => (t.at < a.at ? t : a)).write;
      if (!local) {
        lo = Math.min(lo, loop.start);
        hi = Math.max(hi, loop.end);
      }
    }
    first.set(b, lo);
    last.set(b, hi);
  }
  return { first, last };
}

/** A key equal for buffers of the same element count whatever their axis names. */
function sizeKey(axes: readonly Axis[]): string {
  let fixed = 1;
  const symbols: string[] = [];
  for (const a of axes) {
    if (typeof a.size === 'number') fixed *= a.size;
    else symbols.push(a.size);
  }
  return `${fixed}*${symbols.sort().join('*')}`;
}

export function planMemory(program: FusedProgram): FusedProgram {
  const buffers = program.buffers.map((b) => ({ ...b }) as { -readonly [K in keyof BufferDecl]: BufferDecl[K] });
  const steps: HostStep[] = [...program.steps];

  // Outputs: claim kernel-written temporaries; copy otherwise.
  const kernelWritten = new Set(steps.flatMap((s) => (s.kind === 'kernel' ? kernelOutputs(s.kernel).map((o) => o.buffer) : [])));
  const claimed = new Set<number>();
  const outputs = program.outputs.map((o) => {
    const b = buffers[o.buffer]!;
    if (b.role === 'temp' && kernelWritten.has(o.buffer) && !claimed.has(o.buffer)) {
      claimed.add(o.buffer);
      b.role = 'output';
      b.label = `output '${o.name}'`;
      return o;
    }
    const id = buffers.length;
    buffers.push({ id, dtype: o.dtype, axes: o.axes, role: 'output', label: `output '${o.name}'` });
    steps.push({ kind: 'copy', src: o.buffer, dst: id, label: `output '${o.name}'` });
    return { ...o, buffer: id };
  });

  const { first, last } = liveness(steps);
  const alias = new Map<number, number>();
  const free = new Map<string, { buffer: number; until: number }[]>();
  const order = [...first.keys()].filter((b) => buffers[b]!.role === 'temp').sort((a, b) => first.get(a)! - first.get(b)! || a - b);
  for (const b of order) {
    const decl = buffers[b]!;
    const key = decl.elements !== undefined ? `x${JSON.stringify(decl.elements)}` : sizeKey(decl.axes);
    const pool = free.get(key) ?? [];
    const slot = pool.findIndex((p) => p.until < first.get(b)!);
    if (slot >= 0) {
      const target = pool[slot]!;
      alias.set(b, target.buffer);
      target.until = last.get(b)!;
    } else {
      alias.set(b, b);
      pool.push({ buffer: b, until: last.get(b)! });
      free.set(key, pool);
    }
  }

  // Renumber the buffers that remain.
  const used = new Set<number>();
  for (const s of steps) touched(s, used);
  for (const i of program.inputs) used.add(i.buffer);
  const kept = buffers.filter((b) => b.role !== 'temp' ? used.has(b.id) || b.role === 'input' : alias.get(b.id) === b.id);
  const renumber = new Map(kept.map((b, i) => [b.id, i]));
  const f = (b: number) => renumber.get(alias.get(b) ?? b)!;
  return {
    ...program,
    buffers: kept.map((b) => ({ ...b, id: renumber.get(b.id)! })),
    steps: mapSteps(steps, f),
    inputs: program.inputs.map((i) => ({ ...i, buffer: f(i.buffer) })),
    outputs: outputs.map((o) => ({ ...o, buffer: f(o.buffer) })),
  };
}
