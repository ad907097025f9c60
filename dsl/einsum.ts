/**
 * numpy-exact einsum over positional axes: repeated letters in one operand take the diagonal,
 * `...` broadcasts (size-1 dimensions included), an empty output sums everything, an implicit
 * output (no `->`) lists the letters used once, in character-code order, after the ellipsis, and an
 * empty term is a rank-0 operand (`einsum('->', x)`, `einsum(',', a, b)`, `einsum('i,->i', v, s)`).
 *
 * It lowers to named-axis IR: each operand is relabelled to its letters (ellipsis dimensions become
 * `_0`, `_1`, ...), size-1 ellipsis dimensions that broadcast are summed away, and one n-ary
 * `contract` produces the result, whose axes are named by the output letters.
 */
import { inferContract } from './infer.ts';
import { currentBuilder } from './trace.ts';
import { Tensor, nodeIn, type Axes } from './tensor.ts';
import { relabel, reduceOp } from './ops.ts';
import { TesseraError, formatSize, type DType, type Size } from './types.ts';

// ---- static typing of specs -------------------------------------------------------------------

type Chars<S extends string> = S extends `${infer C}${infer R}` ? [C, ...Chars<R>] : [];
type Split<S extends string, D extends string> = S extends `${infer H}${D}${infer T}` ? [H, ...Split<T, D>] : [S];
type Lhs<S extends string> = S extends `${infer L}->${string}` ? L : S;
type Untyped<S extends string> = S extends `${string}...${string}` ? true : S extends `${string} ${string}` ? true : false;
type Stringify<T extends readonly unknown[]> = T extends readonly [unknown, ...infer R] ? readonly [string, ...Stringify<R>] : readonly [];
type OperandFor<P extends string> = Untyped<P> extends true ? Tensor : Tensor<Stringify<Chars<P>>>;
type OperandsFor<Parts extends readonly string[]> = Parts extends readonly [infer H extends string, ...infer R extends readonly string[]] ? readonly [OperandFor<H>, ...OperandsFor<R>] : readonly [];

/** The operand tuple a spec asks for: one tensor per comma-separated term, of that term's rank. */
export type EinsumOperands<S extends string> = Untyped<S> extends true ? readonly Tensor[] : OperandsFor<Split<Lhs<S>, ','>>;

/** The result axes: the output letters of an explicit spec, else untyped. */
export type EinsumResult<S extends string> = S extends `${string}->${infer R}` ? (Untyped<R> extends true ? Axes : Readonly<Chars<R>>) : Axes;

type DTypeOf<T> = T extends readonly [Tensor<Axes, infer D>, ...unknown[]] ? D : T extends readonly Tensor<Axes, infer D>[] ? D : DType;

// ---- parsing ------------------------------------------------------------------------------------

const ELLIPSIS = '...';

/** One operand term or the output: letters and at most one ellipsis position. */
interface Term {
  letters: string[];
  /** Index in `letters` before which the ellipsis dimensions stand, or -1. */
  ellipsisAt: number;
}

export interface ParsedEinsum {
  inputs: Term[];
  /** null when the output is implicit. */
  output: Term | null;
}

function parseTerm(spec: string, text: string): Term {
  const letters: string[] = [];
  let ellipsisAt = -1;
  for (let i = 0; i < text.length; ) {
    if (text.startsWith(ELLIPSIS, i)) {
      if (ellipsisAt >= 0) throw new TesseraError(`einsum: cannot parse '${spec}': '${text}' has more than one '...'`);
      ellipsisAt = letters.length;
      i += 3;
      continue;
    }
    const c = text[i]!;
    if (!/[a-zA-Z]/.test(c)) {
      throw new TesseraError(`einsum: cannot parse '${spec}': unexpected '${c}' (use letters a-z, A-Z, ',', '->' and '...')`);
    }
    letters.push(c);
    i += 1;
  }
  return { letters, ellipsisAt };
}

/** Parses a numpy einsum spec (whitespace ignored) or throws `einsum: cannot parse ...`. */
export function parseEinsum(spec: string): ParsedEinsum {
  const text = spec.replace(/\s+/g, '');
  const arrows = text.split('->');
  if (arrows.length > 2) throw new TesseraError(`einsum: cannot parse '${spec}': more than one '->'`);
  const [lhs, rhs] = arrows as [string, string | undefined];
  // An empty term is a rank-0 operand, as in numpy: '->' and '' take one scalar, ',' two. Only an
  // output letter with nothing before the arrow is an error (no operand could supply it).
  if (lhs === '' && rhs !== undefined && rhs !== '') throw new TesseraError(`einsum: cannot parse '${spec}': no operand terms before '->'`);
  const inputs = lhs.split(',').map((part) => parseTerm(spec, part));
  const output = rhs === undefined ? null : parseTerm(spec, rhs);
  if (output) {
    const seen = new Set<string>();
    for (const l of output.letters) {
      if (seen.has(l)) throw new TesseraError(`einsum: cannot parse '${spec}': output letter '${l}' appears twice`);
      seen.add(l);
      if (!inputs.some((t) => t.letters.includes(l))) throw new TesseraError(`einsum: cannot parse '${spec}': output letter '${l}' is in no operand`);
    }
  }
  return { inputs, output };
}

/** Axis name used for ellipsis dimension k (counted from the left of the broadcast block). */
export function ellipsisAxisName(k: number): string {
  return `_${k}`;
}

// ---- tracing ------------------------------------------------------------------------------------

/**
 * numpy's einsum on DSL tensors. `einsum('ij,jk->ik', a, b)`; the result's axes are named by the
 * output letters (and `_0`, `_1`, ... for ellipsis dimensions).
 */
export function einsum<const S extends string, const T extends EinsumOperands<S>>(spec: S, ...operands: T): Tensor<EinsumResult<S>, DTypeOf<T>> {
  const parsed = parseEinsum(spec);
  const tensors = operands as unknown as readonly Tensor[];
  if (tensors.length !== parsed.inputs.length) {
    throw new TesseraError(`einsum: '${spec}' names ${parsed.inputs.length} operand(s) but ${tensors.length} were given`);
  }
  tensors.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TesseraError(`einsum: operand ${i} is not a tensor`);
  });
  const builder = currentBuilder('einsum');

  // Ellipsis dimensions: how many each operand has, and their broadcast sizes (right-aligned).
  const ellipsisRanks = parsed.inputs.map((term, i) => {
    const rank = tensors[i]!.rank;
    const named = term.letters.length;
    if (term.ellipsisAt < 0 && rank !== named) {
      throw new TesseraError(`einsum: operand ${i} has rank ${rank} but '${term.letters.join('')}' names ${named} axes`);
    }
    if (rank < named) throw new TesseraError(`einsum: operand ${i} has rank ${rank}, fewer than the ${named} letters of its term`);
    return term.ellipsisAt < 0 ? 0 : rank - named;
  });
  const broadcastRank = Math.max(0, ...ellipsisRanks);
  const broadcastSizes: Size[] = new Array<Size>(broadcastRank).fill(1);
  parsed.inputs.forEach((term, i) => {
    if (term.ellipsisAt < 0) return;
    const t = tensors[i]!;
    const offset = broadcastRank - ellipsisRanks[i]!;
    for (let k = 0; k < ellipsisRanks[i]!; k++) {
      const size = t.type.axes[term.ellipsisAt + k]!.size;
      const slot = offset + k;
      const have = broadcastSizes[slot]!;
      if (size === 1 || size === have) continue;
      if (have === 1) broadcastSizes[slot] = size;
      else {
        throw new TesseraError(`einsum: '...' dimensions do not broadcast: size ${formatSize(have)} against ${formatSize(size)} in operand ${i}`);
      }
    }
  });

  // Letter sizes must agree everywhere, diagonals included.
  const letterSizes = new Map<string, { size: Size; operand: number }>();
  parsed.inputs.forEach((term, i) => {
    term.letters.forEach((letter, j) => {
      const axisIndex = term.ellipsisAt >= 0 && j >= term.ellipsisAt ? j + ellipsisRanks[i]! : j;
      const size = tensors[i]!.type.axes[axisIndex]!.size;
      const seen = letterSizes.get(letter);
      if (!seen) letterSizes.set(letter, { size, operand: i });
      else if (seen.size !== size) {
        throw new TesseraError(`einsum: letter '${letter}' has size ${formatSize(seen.size)} in operand ${seen.operand} and ${formatSize(size)} in operand ${i}`);
      }
    });
  });

  // Output names.
  const anyEllipsis = parsed.inputs.some((t) => t.ellipsisAt >= 0);
  const ellipsisNames = Array.from({ length: broadcastRank }, (_, k) => ellipsisAxisName(k));
  let outNames: string[];
  if (parsed.output) {
    const out = parsed.output;
    if (out.ellipsisAt < 0 && broadcastRank > 0) {
      throw new TesseraError(`einsum: '${spec}' has ${broadcastRank} '...' dimension(s) but its output has no '...' to hold them`);
    }
    outNames = [...out.letters];
    if (out.ellipsisAt >= 0) outNames.splice(out.ellipsisAt, 0, ...ellipsisNames);
  } else {
    const counts = new Map<string, number>();
    for (const term of parsed.inputs) for (const l of term.letters) counts.set(l, (counts.get(l) ?? 0) + 1);
    const once = [...counts.entries()].filter(([, n]) => n === 1).map(([l]) => l);
    once.sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
    outNames = [...(anyEllipsis ? ellipsisNames : []), ...once];
  }

  // Relabel each operand to letter names, summing away size-1 ellipsis dims that broadcast.
  const prepared = tensors.map((t, i) => {
    const term = parsed.inputs[i]!;
    const names: string[] = [];
    const squeeze: string[] = [];
    const offset = broadcastRank - ellipsisRanks[i]!;
    term.letters.forEach((letter, j) => {
      if (j === term.ellipsisAt) pushEllipsis();
      names.push(letter);
    });
    if (term.ellipsisAt === term.letters.length) pushEllipsis();
    function pushEllipsis(): void {
      for (let k = 0; k < ellipsisRanks[i]!; k++) {
        const axisIndex = term.ellipsisAt + k;
        const slot = offset + k;
        if (t.type.axes[axisIndex]!.size === 1 && broadcastSizes[slot] !== 1) {
          const temp = `_squeeze${k}`;
          names.push(temp);
          squeeze.push(temp);
        } else {
          names.push(ellipsisAxisName(slot));
        }
      }
    }
    const needsRelabel = names.some((n, k) => n !== t.type.axes[k]!.name);
    let prepared: Tensor = needsRelabel ? relabel(t, names) : t;
    if (squeeze.length > 0) prepared = reduceOp('sum', prepared, squeeze);
    return prepared;
  });

  const args = prepared.map((t) => nodeIn(builder, t));
  const type = inferContract(args.map((id) => builder.type(id)), outNames);
  return new Tensor(builder, builder.add({ op: 'contract', args, type })) as never;
}
