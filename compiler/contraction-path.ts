/**
 * Contraction paths: in which order an n-ary contraction (an einsum of several operands) is done
 * as binary ones. Path functions live in a registry, as pure functions of a `PathProblem` (operand
 * axes, the output's axes, axis sizes, an optional memory limit), and are cross-checked by the
 * tests: `optimal` (exhaustive, for a few operands), `dp` (dynamic programming over subsets,
 * optimal too, up to about a dozen), `greedy` (smallest intermediate first) and `left-to-right`
 * (the order written). `choosePath` picks by operand count; `explainPath` prints the chosen path
 * step by step, like opt_einsum's `contract_path`.
 *
 * Cost of one binary step over operands A and B giving R (the axes of A ∪ B that the output or a
 * later operand still needs): `flops` = 2 · Π(sizes of A ∪ B) (a multiply and an add per term),
 * `bytes` = 4 · (|A| + |B| + |R|) moved, and `cost` = flops + BYTE_COST · bytes. A path's cost is
 * the sum over its steps; a path whose intermediate exceeds the memory limit is infeasible.
 */

/** Flops one byte moved is worth: a GPU does several multiply-adds in the time it moves a float. */
export const BYTE_COST = 4;

export interface PathProblem {
  /** Each operand's axis names. */
  readonly operands: readonly (readonly string[])[];
  /** The output's axis names. */
  readonly output: readonly string[];
  /** Every axis's size. */
  readonly sizes: Readonly<Record<string, number>>;
  /** The most elements an intermediate may have (absent: no limit). */
  readonly memoryLimit?: number;
}

/** One binary step: operands `a` and `b` of the current list (see `Path`) into `result`. */
export interface PathStep {
  readonly a: number;
  readonly b: number;
  readonly result: readonly string[];
  readonly flops: number;
  readonly bytes: number;
  /** The result's element count. */
  readonly elements: number;
}

/**
 * A path: steps in order. Each step removes its two operands from the current list and appends
 * the result (opt_einsum's convention), so indices refer to the list as it is at that step.
 */
export interface Path {
  readonly steps: readonly PathStep[];
  readonly flops: number;
  readonly bytes: number;
  readonly cost: number;
  /** The largest intermediate's element count (0 for one operand). */
  readonly peak: number;
}

export type PathName = 'optimal' | 'dp' | 'greedy' | 'left-to-right';

/** A path function: the path it finds, or null when no path fits the memory limit. */
export type PathFunction = (problem: PathProblem) => Path | null;

function elements(axes: Iterable<string>, sizes: Readonly<Record<string, number>>): number {
  let n = 1;
  for (const a of axes) n *= sizes[a] ?? 1;
  return n;
}

/** The step contracting `a` and `b` when `needed` are the axes anything after it still reads. */
function step(a: readonly string[], b: readonly string[], needed: ReadonlySet<string>, sizes: Readonly<Record<string, number>>): Omit<PathStep, 'a' | 'b'> {
  const union = [...new Set([...a, ...b])];
  const result = union.filter((x) => needed.has(x));
  const count = elements(result, sizes);
  return { result, flops: 2 * elements(union, sizes), bytes: 4 * (elements(a, sizes) + elements(b, sizes) + count), elements: count };
}

/** Axes the output or any operand other than those at `skip` carries. */
function neededBy(operands: readonly (readonly string[])[], output: readonly string[], skip: readonly number[]): Set<string> {
  const out = new Set(output);
  operands.forEach((axes, k) => {
    if (!skip.includes(k)) for (const x of axes) out.add(x);
  });
  return out;
}

/** A path from a sequence of pairs, or null when an intermediate exceeds the limit. */
export function pathOf(problem: PathProblem, pairs: readonly (readonly [number, number])[]): Path | null {
  let list = problem.operands.map((o) => [...o]);
  const steps: PathStep[] = [];
  for (const [a, b] of pairs) {
    const s = step(list[a]!, list[b]!, neededBy(list, problem.output, [a, b]), problem.sizes);
    if (problem.memoryLimit !== undefined && s.elements > problem.memoryLimit && list.length > 2) return null;
    steps.push({ a, b, ...s });
    list = [...list.filter((_, k) => k !== a && k !== b), [...s.result]];
  }
  const flops = steps.reduce((t, s) => t + s.flops, 0);
  const bytes = steps.reduce((t, s) => t + s.bytes, 0);
  return { steps, flops, bytes, cost: flops + BYTE_COST * bytes, peak: Math.max(0, ...steps.slice(0, -1).map((s) => s.elements)) };
}

/** Every way to contract `n` operands pairwise (exponential: for a few operands). */
function* allPairings(n: number): Generator<[number, number][]> {
  if (n <= 1) {
    yield [];
    return;
  }
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      for (const rest of allPairings(n - 1)) yield [[a, b], ...rest];
    }
  }
}

/** Exhaustive search: the cheapest feasible path over every pairing (up to `OPTIMAL_MAX` operands). */
const optimal: PathFunction = (p) => {
  let best: Path | null = null;
  for (const pairs of allPairings(p.operands.length)) {
    const path = pathOf(p, pairs);
    if (path && (!best || path.cost < best.cost)) best = path;
  }
  return best;
};

/**
 * Dynamic programming over subsets: the cheapest way to contract each subset of the operands
 * into one tensor (whose axes are the subset's axes still needed outside it), built from the
 * cheapest ways of its two parts; then the pairs in order. Optimal, in 3ⁿ steps.
 */
const dp: PathFunction = (p) => {
  const n = p.operands.length;
  if (n === 1) return pathOf(p, []);
  const full = (1 << n) - 1;
  const axesOf = new Map<number, string[]>();
  const subsetAxes = (s: number): string[] => {
    let got = axesOf.get(s);
    if (got) return got;
    const inside: number[] = [];
    const outside: number[] = [];
    for (let k = 0; k < n; k++) (s & (1 << k) ? inside : outside).push(k);
    const needed = neededBy(p.operands, p.output, inside);
    got = [...new Set(inside.flatMap((k) => p.operands[k]!))].filter((x) => needed.has(x));
    axesOf.set(s, got);
    return got;
  };
  const best = new Map<number, { cost: number; left: number; right: number }>();
  for (let k = 0; k < n; k++) {
    best.set(1 << k, { cost: 0, left: 0, right: 0 });
    axesOf.set(1 << k, [...p.operands[k]!]);
  }
  const subsets = Array.from({ length: full }, (_, i) => i + 1).sort((a, b) => popcount(a) - popcount(b));
  for (const s of subsets) {
    if (popcount(s) < 2) continue;
    let choice: { cost: number; left: number; right: number } | null = null;
    // Each split once: the part holding the lowest operand is `left`.
    const low = s & -s;
    for (let left = (s - 1) & s; left > 0; left = (left - 1) & s) {
      if (!(left & low)) continue;
      const right = s ^ left;
      const l = best.get(left);
      const r = best.get(right);
      if (!l || !r) continue;
      const resultAxes = s === full ? [...p.output] : subsetAxes(s);
      const la = subsetAxes(left);
      const ra = subsetAxes(right);
      const union = [...new Set([...la, ...ra])];
      const count = elements(resultAxes, p.sizes);
      if (p.memoryLimit !== undefined && s !== full && count > p.memoryLimit) continue;
      const cost = l.cost + r.cost + 2 * elements(union, p.sizes) + BYTE_COST * 4 * (elements(la, p.sizes) + elements(ra, p.sizes) + count);
      if (!choice || cost < choice.cost) choice = { cost, left, right };
    }
    if (choice) best.set(s, choice);
  }
  if (!best.has(full)) return null;
  // Replay the tree as pairs on opt_einsum's shrinking list.
  let list: number[] = Array.from({ length: n }, (_, k) => 1 << k);
  const pairs: [number, number][] = [];
  const emit = (s: number): void => {
    if (popcount(s) < 2) return;
    const { left, right } = best.get(s)!;
    emit(left);
    emit(right);
    const a = list.indexOf(left);
    const b = list.indexOf(right);
    pairs.push([Math.min(a, b), Math.max(a, b)]);
    list = [...list.filter((x) => x !== left && x !== right), s];
  };
  emit(full);
  return pathOf(p, pairs);
};

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/**
 * Greedy: repeatedly contract the pair whose result is smallest relative to its operands (result
 * size minus both operands' sizes, opt_einsum's measure), ties to the cheaper step, then the
 * first pair; a step over the memory limit is skipped while another fits.
 */
const greedy: PathFunction = (p) => {
  let list = p.operands.map((o) => [...o]);
  const pairs: [number, number][] = [];
  while (list.length > 1) {
    let choice: { a: number; b: number; score: number; cost: number } | null = null;
    for (let a = 0; a < list.length; a++) {
      for (let b = a + 1; b < list.length; b++) {
        const s = step(list[a]!, list[b]!, neededBy(list, p.output, [a, b]), p.sizes);
        if (p.memoryLimit !== undefined && list.length > 2 && s.elements > p.memoryLimit) continue;
        const score = s.elements - elements(list[a]!, p.sizes) - elements(list[b]!, p.sizes);
        const cost = s.flops + BYTE_COST * s.bytes;
        if (!choice || score < choice.score || (score === choice.score && cost < choice.cost)) choice = { a, b, score, cost };
      }
    }
    if (!choice) return null;
    const s = step(list[choice.a]!, list[choice.b]!, neededBy(list, p.output, [choice.a, choice.b]), p.sizes);
    pairs.push([choice.a, choice.b]);
    list = [...list.filter((_, k) => k !== choice!.a && k !== choice!.b), [...s.result]];
  }
  return pathOf(p, pairs);
};

/** The order written: the first two operands, then the result with the next, and so on. */
const leftToRight: PathFunction = (p) =>
  pathOf(
    p,
    Array.from({ length: Math.max(0, p.operands.length - 1) }, (_, k): [number, number] => (k === 0 ? [0, 1] : [0, p.operands.length - k - 1])),
  );

/** The path functions, by name. */
export const PATH_FUNCTIONS: Readonly<Record<PathName, PathFunction>> = { optimal, dp, greedy, 'left-to-right': leftToRight };

/**
 * The cost of contracting every operand at once — one kernel, each output element summing the
 * product of all operands over the contracted axes — which stores no intermediate: (n − 1)
 * multiplies and an add per term of the whole index space, and every operand and the output
 * moved once.
 */
export function fusedCost(problem: PathProblem): { flops: number; bytes: number; cost: number } {
  const all = new Set(problem.operands.flat());
  const flops = problem.operands.length * elements(all, problem.sizes);
  const bytes = 4 * (problem.operands.reduce((t, o) => t + elements(o, problem.sizes), 0) + elements(problem.output, problem.sizes));
  return { flops, bytes, cost: flops + BYTE_COST * bytes };
}

/**
 * A path's cost as the fuser runs it: a step that sums nothing (a broadcast product, such as the
 * q ⊙ k1 of a trilinear einsum) is not stored but inlined into the step that reads it, so its
 * result is neither written nor read back. Used to weigh a path against `fusedCost`.
 */
export function inlinedCost(problem: PathProblem, path: Path): number {
  let list = problem.operands.map((o) => [...o]);
  let saved = 0;
  path.steps.forEach((s, i) => {
    const union = new Set([...list[s.a]!, ...list[s.b]!]);
    if (i < path.steps.length - 1 && s.result.length === union.size) saved += BYTE_COST * 4 * 2 * s.elements;
    list = [...list.filter((_, k) => k !== s.a && k !== s.b), [...s.result]];
  });
  return path.cost - saved;
}

/** Operand counts up to which `choosePath` searches exhaustively, and by dynamic programming. */
export const OPTIMAL_MAX = 4;
export const DP_MAX = 12;

/** The path function `choosePath` uses for `n` operands. */
export function defaultPathName(n: number): PathName {
  return n <= OPTIMAL_MAX ? 'optimal' : n <= DP_MAX ? 'dp' : 'greedy';
}

/** The path for a problem: by `name`, or the default for its operand count; null if none fits the limit. */
export function choosePath(problem: PathProblem, name: PathName = defaultPathName(problem.operands.length)): Path | null {
  return PATH_FUNCTIONS[name](problem);
}

/** A path as a table: each step's einsum, its flops and its result's size (like `contract_path`). */
export function explainPath(problem: PathProblem, path: Path, name: string): string {
  let list = problem.operands.map((o) => o.join(''));
  const fmt = (n: number) => n.toLocaleString('en-US');
  const lines = [
    `  operands: ${problem.operands.map((o) => o.join('')).join(',')} -> ${problem.output.join('')}`,
    `  sizes: ${Object.entries(problem.sizes).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `  path (${name}): ${path.steps.map((s) => `(${s.a}, ${s.b})`).join(' ')}`,
    `  flops: ${fmt(path.flops)}   bytes moved: ${fmt(path.bytes)}   largest intermediate: ${fmt(path.peak)} elements`,
    '  step  contraction                flops        result elements',
  ];
  path.steps.forEach((s, i) => {
    const text = `${list[s.a]},${list[s.b]}->${s.result.join('')}`;
    lines.push(`  ${String(i + 1).padStart(4)}  ${text.padEnd(25)}  ${fmt(s.flops).padStart(11)}  ${fmt(s.elements).padStart(15)}`);
    list = [...list.filter((_, k) => k !== s.a && k !== s.b), s.result.join('')];
  });
  return lines.join('\n');
}

/**
 * The path tessera would choose for an einsum over operands of these shapes, explained (the
 * `explain` command): `spec` numpy-style with explicit letters (no `...`, no repeated letter in
 * one operand), one shape per operand. `name` forces a path function; `memoryLimit` in elements.
 */
export function explainEinsum(spec: string, shapes: readonly (readonly number[])[], options: { name?: PathName; memoryLimit?: number } = {}): string {
  const text = spec.replace(/\s+/g, '');
  const [lhs, rhs] = text.split('->') as [string, string | undefined];
  const operands = lhs.split(',').map((t) => [...t]);
  const fail = (why: string): never => {
    throw new Error(`explain: '${spec}': ${why}`);
  };
  if (text.includes('.')) fail("'...' is not supported here; name every axis");
  if (operands.length !== shapes.length) fail(`${operands.length} operands but ${shapes.length} shapes`);
  const sizes: Record<string, number> = {};
  operands.forEach((letters, k) => {
    if (new Set(letters).size !== letters.length) fail(`operand ${k} repeats a letter (a diagonal)`);
    if (letters.length !== shapes[k]!.length) fail(`operand ${k} '${letters.join('')}' has ${letters.length} axes but shape ${shapes[k]!.join('x')}`);
    letters.forEach((l, i) => {
      const n = shapes[k]![i]!;
      if (sizes[l] !== undefined && sizes[l] !== n) fail(`axis '${l}' is ${sizes[l]} in one operand and ${n} in another`);
      sizes[l] = n;
    });
  });
  const counts = new Map<string, number>();
  for (const l of operands.flat()) counts.set(l, (counts.get(l) ?? 0) + 1);
  const output = rhs !== undefined ? [...rhs] : [...counts.keys()].filter((l) => counts.get(l) === 1).sort();
  for (const l of output) if (sizes[l] === undefined) fail(`output letter '${l}' is in no operand`);
  const problem: PathProblem = { operands, output, sizes, ...(options.memoryLimit !== undefined ? { memoryLimit: options.memoryLimit } : {}) };
  const name = options.name ?? defaultPathName(operands.length);
  const path = choosePath(problem, name);
  if (!path) return `  no path keeps every intermediate within ${options.memoryLimit} elements`;
  const written = PATH_FUNCTIONS['left-to-right']({ ...problem, memoryLimit: undefined })!;
  return `${explainPath(problem, path, name)}\n  written order (left to right) would cost ${(written.cost / path.cost).toFixed(2)}x as much`;
}
