/**
 * Random einsum equations with numpy's semantics, for property tests and `npm run fuzz`: 1–5
 * operands over letters a–e, repeated letters in an operand (diagonals), a leading `...` block
 * in some operands, size-1 axes, sizes that are not tile multiples, and explicit
 * outputs including the empty one (a scalar). Each case carries the operand shapes.
 */
import fc from 'fast-check';

export interface EinsumCase {
  readonly spec: string;
  readonly shapes: readonly (readonly number[])[];
}

export const einsumCases: fc.Arbitrary<EinsumCase> = fc
  .record({
    operands: fc.array(fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 0, maxLength: 3 }), { minLength: 1, maxLength: 5 }),
    sizes: fc.array(fc.constantFrom(1, 2, 3, 5, 7), { minLength: 5, maxLength: 5 }),
    ellipsis: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    batch: fc.array(fc.constantFrom(1, 2, 3), { minLength: 0, maxLength: 2 }),
    keep: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    keepBatch: fc.boolean(),
  })
  .map(({ operands, sizes, ellipsis, batch, keep, keepBatch }): EinsumCase => {
    const size = (l: string) => sizes['abcde'.indexOf(l)]!;
    const used = [...new Set(operands.flat())].sort();
    const anyEllipsis = batch.length > 0 && operands.some((_, k) => ellipsis[k]);
    const terms = operands.map((o, k) => (batch.length > 0 && ellipsis[k] ? `...${o.join('')}` : o.join('')));
    // An operand with `...` carries the batch dims (all the same: einsumKernel binds each '...'
    // dimension to one size symbol, so a size-1 dimension broadcasting against a longer one is
    // refused there; see the issue note).
    const shapes = operands.map((o, k) => [...(batch.length > 0 && ellipsis[k] ? batch : []), ...o.map(size)]);
    // numpy requires '...' in an explicit output when operands broadcast; where it leads or trails
    // varies.
    const kept = used.filter((l) => keep['abcde'.indexOf(l)]).join('');
    const output = anyEllipsis ? (keepBatch ? `...${kept}` : `${kept}...`) : kept;
    return { spec: `${terms.join(',')}->${output}`, shapes };
  });
