/**
 * The library's einsum kernel: numpy's einsum over any number of f32 operands of given ranks, with
 * every axis size symbolic so one traced kernel serves every shape. It is how the golden einsum
 * cases, the benchmarks and the demo name "an n-ary contraction" without writing a kernel per spec.
 */
import { einsum, ellipsisAxisName, parseEinsum } from '../dsl/einsum.ts';
import { f32, kernel, type Kernel, type TensorSpec } from '../dsl/kernel.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { TesseraError, type Size } from '../dsl/types.ts';

/** The axis name of position `position` of operand `operand`: `x{operand}_{position}`. */
export function einsumAxisName(operand: number, position: number): string {
  return `x${operand}_${position}`;
}

/**
 * The size symbol of every axis of every operand. einsum requires a letter to have one size
 * everywhere, which symbolic sizes can only show by sharing a symbol, so each axis is sized by its
 * letter (`i`), and each `...` dimension by its right-aligned broadcast slot (`_0`, `_1`, ...), the
 * same names einsum gives those dimensions. Operands whose rank does not fit their term keep the
 * default symbols, and einsum reports the mismatch at trace time.
 */
function symbolsFor(spec: string, ranks: readonly number[]): (Record<string, Size> | null)[] {
  const terms = parseEinsum(spec).inputs;
  const ellipsisRanks = ranks.map((rank, i) => {
    const term = terms[i];
    return term && term.ellipsisAt >= 0 ? rank - term.letters.length : 0;
  });
  const broadcastRank = Math.max(0, ...ellipsisRanks);
  return ranks.map((rank, i) => {
    const term = terms[i];
    const ellipsisRank = ellipsisRanks[i]!;
    if (!term || ellipsisRank < 0 || (term.ellipsisAt < 0 && rank !== term.letters.length)) return null;
    const sizes: Record<string, Size> = {};
    for (let position = 0; position < rank; position++) {
      const inEllipsis = term.ellipsisAt >= 0 && position >= term.ellipsisAt && position < term.ellipsisAt + ellipsisRank;
      sizes[einsumAxisName(i, position)] = inEllipsis
        ? ellipsisAxisName(broadcastRank - ellipsisRank + position - term.ellipsisAt)
        : term.letters[position < term.ellipsisAt || term.ellipsisAt < 0 ? position : position - ellipsisRank]!;
    }
    return sizes;
  });
}

/**
 * A kernel computing `einsum(spec, x0, ..., x{n-1})` as output `out`. Operand `i` is an f32 input
 * `x{i}` of rank `ranks[i]` with axes `x{i}_0, x{i}_1, ...`, sized by symbols named after the spec's
 * letters (see `symbolsFor`), which the tensors passed at run time bind; pin them with
 * `trace({ sizes: { i: 64 } })`. `...` dimensions must match across operands exactly: size-1
 * broadcasting inside `...` needs static sizes, which this shape-generic kernel does not have.
 * Spec errors surface when the kernel is traced.
 */
export function einsumKernel(spec: string, ranks: readonly number[], dtype: 'f32' = 'f32'): Kernel {
  if (dtype !== 'f32') throw new TesseraError(`einsumKernel: only f32 operands are supported, got ${String(dtype)}`);
  ranks.forEach((rank, i) => {
    if (!(Number.isInteger(rank) && rank >= 0)) throw new TesseraError(`einsumKernel: rank of operand ${i} must be a whole number >= 0, got ${rank}`);
  });
  const symbols = symbolsFor(spec, ranks);
  const specs: Record<string, TensorSpec> = {};
  ranks.forEach((rank, i) => {
    const declared = f32(...Array.from({ length: rank }, (_, j) => einsumAxisName(i, j)));
    const sizes = symbols[i];
    specs[`x${i}`] = sizes ? declared.pin(sizes) : declared;
  });
  // The spec is only known at run time, so einsum's statically typed signature cannot apply.
  const untypedEinsum = einsum as unknown as (spec: string, ...operands: readonly Tensor[]) => Tensor;
  return kernel(`einsum(${spec})`, specs, (inputs) => {
    const operands = ranks.map((_, i) => inputs[`x${i}`] as Tensor);
    return { out: untypedEinsum(spec, ...operands) };
  });
}
