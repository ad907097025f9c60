/** Shared test helpers: seeded inputs, facts about compiled programs, exact error checks. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { TesseraError } from '../dsl/types.ts';
import type { HostTensor, Program, Step } from '../index.ts';
import { guardRanges } from '../program/index.ts';

/** Deterministic pseudo-random numbers in [lo, hi) (xorshift32), so failures reproduce. */
export function random(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return out;
}

export const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A seeded f32 host tensor. */
export function randomTensor(shape: number[], seed: number, lo = -1, hi = 1): HostTensor {
  return { shape, data: random(count(shape), seed, lo, hi) };
}

/**
 * Dispatch steps labelled `flash…` (the kernels the attention fusion emits), at top level and
 * inside loop bodies: a positive count proves a program was fused.
 */
export function flashDispatches(program: Program): { top: number; inLoops: number } {
  const counts = { top: 0, inLoops: 0 };
  const visit = (steps: readonly Step[], inLoop: boolean): void => {
    for (const step of steps) {
      if (step.kind === 'loop') visit(step.body, true);
      // Size variants of one kernel (steps with a `when` range) count once: only one of them runs.
      else if (step.kind === 'dispatch' && step.label.startsWith('flash') && (step.when === undefined || guardRanges(step.when).every((r) => r.below === undefined))) counts[inLoop ? 'inLoops' : 'top']++;
    }
  };
  visit(program.steps, false);
  return counts;
}

/**
 * The kernels a list of steps dispatches (by default the program's `steps`), each once, in order
 * of first use: a program also holds the kernels of its `finiteSteps`.
 */
export function stepKernels(program: Program, steps: readonly Step[] = program.steps): Program['kernels'][number][] {
  const used: number[] = [];
  const visit = (list: readonly Step[]): void => {
    for (const step of list) {
      if (step.kind === 'loop') visit(step.body);
      else if (step.kind === 'dispatch' && !used.includes(step.kernel)) used.push(step.kernel);
    }
  };
  visit(steps);
  return used.map((i) => program.kernels[i]!);
}

/** The call throws a TesseraError whose message is exactly `message`. */
export function expectError(call: () => unknown, message: string): void {
  let thrown: unknown;
  try {
    call();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a TesseraError').toBeInstanceOf(TesseraError);
  expect((thrown as Error).message).toBe(message);
}

/**
 * The code a test file holds between its `// README:begin` and `// README:end` lines, unindented,
 * and the check that README.md shows exactly that code: a README snippet that is run as written.
 */
export function expectReadmeShows(testFile: string): string {
  const source = readFileSync(fileURLToPath(testFile), 'utf8');
  const begin = /^( *)\/\/ README:begin\n/m.exec(source);
  const end = source.indexOf('// README:end');
  if (!begin || end < 0) throw new Error(`${testFile} has no README:begin / README:end lines`);
  const indent = new RegExp(`^ {${begin[1]!.length}}`);
  const code = source
    .slice(begin.index + begin[0].length, source.lastIndexOf('\n', end) + 1)
    .split('\n')
    .map((line) => line.replace(indent, ''))
    .join('\n');
  expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain(code);
  return code;
}
