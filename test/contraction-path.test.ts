/**
 * Contraction paths (`compiler/contraction-path.ts`), cross-checked: known orders where the order
 * matters, exhaustive search and dynamic programming agreeing on random problems, the optimum never
 * costlier than greedy or the written order, the memory limit respected, and the explain table
 * pinned. Random problems come from fast-check with a fixed seed and a bounded count.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { choosePath, defaultPathName, explainPath, PATH_FUNCTIONS, pathOf, type PathProblem } from '../compiler/contraction-path.ts';
import { checkCase, einsumCases } from './einsum-arbitrary.ts';
import { describeGPU } from './gpu.ts';

/** `ab,bc,cd,de->ae` with a tiny middle dimension: contracting through it first is far cheaper. */
const chain: PathProblem = { operands: [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e']], output: ['a', 'e'], sizes: { a: 64, b: 64, c: 2, d: 64, e: 64 } };

describe('contraction paths', () => {
  it('contracts a chain through its small middle dimension first; the written order costs more', () => {
    const best = choosePath(chain)!;
    // (ab,bc)->ac and (cd,de)->ce are both cheap; their [64 × 2] results meet last.
    expect(best.steps.map((s) => [s.a, s.b, s.result.join('')])).toEqual([
      [0, 1, 'ac'],
      [0, 1, 'ce'],
      [0, 1, 'ae'],
    ]);
    expect(best.flops).toBe(2 * (64 * 64 * 2) * 2 + 2 * 64 * 2 * 64);
    const written = PATH_FUNCTIONS['left-to-right'](chain)!;
    expect(written.cost).toBeGreaterThan(best.cost);
    expect(PATH_FUNCTIONS.dp(chain)!.cost).toBe(best.cost);
  });

  it('picks exhaustive search up to 4 operands, dynamic programming up to 12, greedy beyond', () => {
    expect([1, 4, 5, 12, 13].map(defaultPathName)).toEqual(['optimal', 'optimal', 'dp', 'dp', 'greedy']);
  });

  it('keeps every intermediate within the memory limit, or finds no path', () => {
    // Outer product first ([a, e] = 4096) is over a limit of 200 elements; the chain's [64 × 2] steps fit.
    const limited = { ...chain, memoryLimit: 200 };
    for (const name of ['optimal', 'dp', 'greedy'] as const) {
      const path = PATH_FUNCTIONS[name](limited)!;
      expect(path.peak, name).toBeLessThanOrEqual(200);
    }
    expect(PATH_FUNCTIONS.optimal({ ...chain, memoryLimit: 100 })).toBeNull();
    expect(pathOf({ ...chain, memoryLimit: 100 }, [[0, 1], [0, 1], [0, 1]])).toBeNull();
  });

  it('explains a path step by step', () => {
    expect(explainPath(chain, choosePath(chain)!, 'optimal')).toBe(
      [
        '  operands: ab,bc,cd,de -> ae',
        '  sizes: a=64 b=64 c=2 d=64 e=64',
        '  path (optimal): (0, 1) (0, 1) (0, 1)',
        '  flops: 49,152   bytes moved: 52,224   largest intermediate: 128 elements',
        '  step  contraction                flops        result elements',
        '     1  ab,bc->ac                       16,384              128',
        '     2  cd,de->ce                       16,384              128',
        '     3  ac,ce->ae                       16,384            4,096',
      ].join('\n'),
    );
  });

  /** Random problems: 2–6 operands of 1–3 axes from a 6-letter alphabet, sizes 1–9, an output subset. */
  const problems = fc
    .record({
      operands: fc.array(fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 6 }),
      sizes: fc.record({ a: fc.integer({ min: 1, max: 9 }), b: fc.integer({ min: 1, max: 9 }), c: fc.integer({ min: 1, max: 9 }), d: fc.integer({ min: 1, max: 9 }), e: fc.integer({ min: 1, max: 9 }), f: fc.integer({ min: 1, max: 9 }) }),
      keep: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    })
    .map(({ operands, sizes, keep }): PathProblem => {
      const used = [...new Set(operands.flat())];
      return { operands, sizes, output: used.filter((_, i) => keep[i % keep.length]) };
    });

  it('exhaustive search and dynamic programming find the same cost; neither is beaten by greedy or the written order', () => {
    fc.assert(
      fc.property(problems, (p) => {
        const opt = PATH_FUNCTIONS.optimal(p)!;
        const dp = PATH_FUNCTIONS.dp(p)!;
        expect(dp.cost).toBe(opt.cost);
        expect(opt.cost).toBeLessThanOrEqual(PATH_FUNCTIONS.greedy(p)!.cost);
        expect(opt.cost).toBeLessThanOrEqual(PATH_FUNCTIONS['left-to-right'](p)!.cost);
        // Every path ends in the output and has one step fewer than operands.
        for (const path of [opt, dp]) {
          expect(path.steps).toHaveLength(p.operands.length - 1);
          expect(new Set(path.steps.at(-1)!.result)).toEqual(new Set(p.output));
        }
      }),
      { seed: 20261202, numRuns: 150 },
    );
  });
});

describe('explain', () => {
  it('explains an einsum over given shapes, and refuses what it cannot', async () => {
    const { explainEinsum } = await import('../compiler/contraction-path.ts');
    const text = explainEinsum('ab,bc,cd,de->ae', [[64, 64], [64, 2], [2, 64], [64, 64]]);
    expect(text.split('\n').slice(0, 3)).toEqual(['  operands: ab,bc,cd,de -> ae', '  sizes: a=64 b=64 c=2 d=64 e=64', '  path (optimal): (0, 1) (0, 1) (0, 1)']);
    expect(text.split('\n').at(-1)).toBe('  written order (left to right) would cost 3.46x as much');
    expect(() => explainEinsum('ab,bc->ac', [[2, 3]])).toThrow("explain: 'ab,bc->ac': 2 operands but 1 shapes");
    expect(() => explainEinsum('ab,bc->ac', [[2, 3], [4, 5]])).toThrow("explain: 'ab,bc->ac': axis 'b' is 3 in one operand and 4 in another");
    expect(() => explainEinsum('...a,ab->b', [[2, 3], [3, 4]])).toThrow("explain: '...a,ab->b': '...' is not supported here; name every axis");
    expect(explainEinsum('ab,bc,cd->ad', [[64, 64], [64, 64], [64, 64]], { memoryLimit: 100 })).toBe('  no path keeps every intermediate within 100 elements');
  });

  it('is a command: tessera explain (npm run explain)', async () => {
    const { main } = await import('../cli/index.ts');
    const lines: string[] = [];
    const log = console.log;
    console.log = (text: string) => void lines.push(text);
    try {
      expect(await main(['explain', 'ij,jk->ik', '2x3', '3x4', '--path', 'greedy'])).toBe(0);
      expect(await main(['explain', 'ij,jk->ik', '2x3'])).toBe(1);
    } finally {
      console.log = log;
    }
    expect(lines[0]!.split('\n')[2]).toBe('  path (greedy): (0, 1)');
  });
});

describeGPU('every path computes the same numbers on WebGPU', (gpu) => {
  it('optimal, dp, greedy, left-to-right and fused give the interpreter’s result on random numpy einsums', async () => {
    // Diagonals, '...' blocks, size-1 axes, scalar outputs (`test/einsum-arbitrary.ts`); `npm run
    // fuzz -- --count N` runs the same check longer.
    const cases = fc.sample(einsumCases, { seed: 7, numRuns: 8 });
    const failures: string[] = [];
    for (let i = 0; i < cases.length; i++) failures.push(...(await checkCase(gpu, cases[i]!, i)));
    expect(failures).toEqual([]);
  });
});
