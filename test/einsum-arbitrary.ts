/**
 * Random einsum equations with numpy's semantics, for property tests and `npm run fuzz`: 1–5
 * operands over letters a–e, repeated letters in an operand (diagonals), a leading `...` block
 * in some operands, size-1 axes, sizes that are not tile multiples, and explicit
 * outputs including the empty one (a scalar). Each case carries the operand shapes; `checkCase`
 * runs one under every path function, fused, and with every size pinned on a backend against the
 * interpreter.
 */
import fc from 'fast-check';
import { interpretKernel, run, type Backend } from '../index.ts';
import { bindSymbols, boundaryOf } from '../dsl/bind.ts';
import { graphInputs } from '../dsl/ir.ts';
import { einsumKernel } from '../kernels/index.ts';
import { PATH_FUNCTIONS, type PathName } from '../compiler/contraction-path.ts';
import { randomF32, seededRandom } from '../bench/random.ts';

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

/** Runs one case under every path; the failures, as text. */
export async function checkCase(backend: Backend, c: EinsumCase, index: number): Promise<string[]> {
  const k = einsumKernel(c.spec, c.shapes.map((s) => s.length));
  const rand = seededRandom(1000 + index);
  const inputs = Object.fromEntries(c.shapes.map((s, j) => [`x${j}`, { shape: [...s], data: randomF32(s.reduce((a, b) => a * b, 1), rand) }]));
  const want = interpretKernel(k, inputs, { precision: 'f64' })['out']!;
  // Every size pinned as well (the default path): static shapes, so a fused operand may be
  // staged as its factors (`compiler/gemm-factors.ts`).
  const pinned = bindSymbols(graphInputs(k.trace()).map((node) => boundaryOf(node.name, node.type)), inputs);
  const failures: string[] = [];
  for (const contractionPath of [...(Object.keys(PATH_FUNCTIONS) as PathName[]), 'fused' as const, 'pinned' as const]) {
    const options = contractionPath === 'pinned' ? { sizes: pinned } : { compile: { contractionPath } };
    const got = (await run(k, inputs, backend, options))['out']!;
    const shapeOk = JSON.stringify(got.shape) === JSON.stringify(want.shape);
    const bad = shapeOk ? want.data.findIndex((w, i) => !(Math.abs(got.data[i]! - w) <= 1e-4 + 1e-4 * Math.abs(w))) : 0;
    if (!shapeOk || bad >= 0) failures.push(`${c.spec} [${c.shapes.map((s) => s.join('x')).join(', ')}] (${contractionPath}): ${shapeOk ? `at ${bad}: ${got.data[bad]} vs ${want.data[bad]}` : `shape ${got.shape} vs ${want.shape}`}`);
  }
  return failures;
}
