/**
 * Size expressions: sizes computed at run time from the bound symbols. Programs carry them for
 * buffer sizes, workgroup counts and uniform words, so the compiler writes them and the runtime
 * evaluates them.
 */
/**
 * A size computed at run time from the bound symbols: a number, a symbol name, or an operation
 * over sizes. `ceildiv` is ⌈a / b⌉.
 */
export type SizeExpr = number | string | { readonly op: 'mul' | 'add' | 'ceildiv' | 'max' | 'min'; readonly args: readonly SizeExpr[] };

/** A range of a size: `atLeast <= size < below`, each bound optional. */
export interface SizeRange {
  readonly size: SizeExpr;
  readonly atLeast?: number;
  readonly below?: number;
}

/**
 * A step's guard: one size range, or several that must all hold (a kernel variant for ranges of
 * two sizes, say a narrow product's rows and columns).
 */
export type SizeGuard = SizeRange | readonly SizeRange[];

/** A guard's ranges, all of which must hold. */
export function guardRanges(guard: SizeGuard): readonly SizeRange[] {
  return Array.isArray(guard) ? guard : [guard as SizeRange];
}

/** Whether a size range holds for the bound symbols. */
export function inRange(range: SizeRange, symbols: Readonly<Record<string, number>>): boolean {
  const v = evalSize(range.size, symbols);
  return (range.atLeast === undefined || v >= range.atLeast) && (range.below === undefined || v < range.below);
}

/** Whether every range of a guard holds for the bound symbols. */
export function guardHolds(guard: SizeGuard, symbols: Readonly<Record<string, number>>): boolean {
  return guardRanges(guard).every((r) => inRange(r, symbols));
}

/** Evaluates a size expression with bound symbols. */
export function evalSize(expr: SizeExpr, symbols: Readonly<Record<string, number>>): number {
  if (typeof expr === 'number') return expr;
  if (typeof expr === 'string') {
    const v = symbols[expr];
    if (v === undefined) throw new Error(`size symbol '${expr}' is not bound`);
    return v;
  }
  const args = expr.args.map((a) => evalSize(a, symbols));
  switch (expr.op) {
    case 'mul':
      return args.reduce((a, b) => a * b, 1);
    case 'add':
      return args.reduce((a, b) => a + b, 0);
    case 'ceildiv':
      return Math.ceil(args[0]! / args[1]!);
    case 'max':
      return Math.max(...args);
    case 'min':
      return Math.min(...args);
  }
}


/** The product of sizes (static numbers and symbols) as a size expression. */
export function sizeProduct(sizes: readonly (number | string)[]): SizeExpr {
  const fixed = sizes.filter((s): s is number => typeof s === 'number').reduce((a, b) => a * b, 1);
  const symbols = sizes.filter((s): s is string => typeof s === 'string');
  if (symbols.length === 0) return fixed;
  const args: SizeExpr[] = fixed === 1 ? symbols : [fixed, ...symbols];
  return args.length === 1 ? args[0]! : { op: 'mul', args };
}
