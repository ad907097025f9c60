/**
 * The kv-bound analysis of the attention lowering (`compiler/lower-attention/kv-bounds.ts`) on its
 * own: a score expression written as printed Tensor IR (outputs `score`, over query axis n and kv
 * axis m), built into a kernel expression the way the flash lowering builds it (n is the tiled
 * axis a0, m the kv axis a1, inputs are loads of b0, b1, ... in order), then `peelValidity` splits
 * the `where(…, -Infinity)` masks from the score and `kvBounds` derives `kv >= …` / `kv <= …`
 * bounds (t is the tiled query index), leaving in `rest` the conjuncts no bound captures (those
 * need a block mask). `fuse.test.ts` checks the same analysis through whole flash kernels. Each
 * expectation was worked out by hand from the mask.
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { buildExpr, loadOf } from '../../compiler/lower-expr.ts';
import { kvBounds, peelValidity } from '../../compiler/lower-attention/kv-bounds.ts';
import { printExpr, printKvBound } from '../../compiler/kernel-ir-print.ts';


/** The score built from the text, peeled and bounded, printed as four lines. */
function analyse(text: string, tiled: string | null = 'a0'): string {
  const graph = parseGraph(text);
  const buffers = new Map(graph.nodes.filter((n) => n.op === 'input').map((n, i) => [n.id, i]));
  const names = new Map([
    ['n', 'a0'],
    ['m', 'a1'],
  ]);
  const expr = buildExpr(graph, graph.outputs['score']!, names, (id, env) => (buffers.has(id) ? loadOf(graph, id, buffers, env) : null));
  const { score, valid } = peelValidity(expr);
  const { lower, upper, rest } = kvBounds(valid, tiled, 'a1');
  return [
    `score=${printExpr(score)}`,
    `valid=${valid ? printExpr(valid) : 'all'}`,
    `kv>=[${lower.map(printKvBound).join(', ')}] kv<=[${upper.map(printKvBound).join(', ')}]`,
    `rest=[${rest.map(printExpr).join(', ')}]`,
  ].join('\n');
}

describe('peelValidity', () => {
  it('splits where(mask, s, -Infinity) into the mask and s', () => {
    expect(
      analyse(ir`
        %0 = input "s" : f32[n:n, m:m]
        %1 = iota : i32[n:n]
        %2 = iota : i32[m:m]
        %3 = map ge(%1, %2) : bool[n:n, m:m]
        %4 = const -Infinity : f32[]
        %5 = map where(%3, %0, %4) : f32[n:n, m:m]
        outputs score=%5
      `),
    ).toBe(ir`
      score=b0[a0,a1]
      valid=ge(#a0, #a1)
      kv>=[] kv<=[t+0:i32]
      rest=[]
    `);
  });

  it('joins nested masks with and, outermost last, and negates a mask whose then-branch is -Infinity', () => {
    // where(kv > 5, -inf, where(q >= kv, s, -inf)): the outer mask is peeled first, as not(kv > 5);
    // the inner q >= kv is and-ed after it. not(kv > 5) is kv <= 5, a bound like q >= kv: both
    // become upper bounds and nothing is left for the per-element test.
    expect(
      analyse(ir`
        %0 = input "s" : f32[n:n, m:m]
        %1 = iota : i32[n:n]
        %2 = iota : i32[m:m]
        %3 = map ge(%1, %2) : bool[n:n, m:m]
        %4 = const -Infinity : f32[]
        %5 = map where(%3, %0, %4) : f32[n:n, m:m]
        %6 = const 5 : i32[]
        %7 = map gt(%2, %6) : bool[m:m]
        %8 = map where(%7, %4, %5) : f32[n:n, m:m]
        outputs score=%8
      `),
    ).toBe(ir`
      score=b0[a0,a1]
      valid=and(not(gt(#a1, 5:i32)), ge(#a0, #a1))
      kv>=[] kv<=[add(0:i32, 5:i32), t+0:i32]
      rest=[]
    `);
  });

  it('leaves a where with a finite fallback in the score', () => {
    expect(
      analyse(ir`
        %0 = input "s" : f32[n:n, m:m]
        %1 = iota : i32[n:n]
        %2 = iota : i32[m:m]
        %3 = map ge(%1, %2) : bool[n:n, m:m]
        %4 = const -1000 : f32[]
        %5 = map where(%3, %0, %4) : f32[n:n, m:m]
        outputs score=%5
      `),
    ).toBe(ir`
      score=where(ge(#a0, #a1), b0[a0,a1], -1000:f32)
      valid=all
      kv>=[] kv<=[]
      rest=[]
    `);
  });
});

describe('kvBounds', () => {
  /** A graph masking input s with the bool node the lines define (the last one). */
  const masked = (lines: string) => {
    const body = lines.trim().split('\n').map((l) => l.trim());
    const last = body.length + 2;
    return [
      '%0 = input "s" : f32[n:n, m:m]',
      '%1 = iota : i32[n:n]',
      '%2 = iota : i32[m:m]',
      ...body,
      `%${last + 1} = const -Infinity : f32[]`,
      `%${last + 2} = map where(%${last}, %0, %${last + 1}) : f32[n:n, m:m]`,
      `outputs score=%${last + 2}`,
    ].join('\n');
  };
  /** The bound lines only (score and valid are checked above). */
  const bounds = (lines: string, tiled: string | null = 'a0') => analyse(masked(lines), tiled).split('\n').slice(2).join('\n');

  it('causal q >= kv, written either way round: kv <= t + 0', () => {
    expect(bounds('%3 = map ge(%1, %2) : bool[n:n, m:m]')).toBe('kv>=[] kv<=[t+0:i32]\nrest=[]');
    expect(bounds('%3 = map le(%2, %1) : bool[m:m, n:n]')).toBe('kv>=[] kv<=[t+0:i32]\nrest=[]');
  });

  it('strictly causal kv < q: kv <= t − 1 (0 − 1 for the strict comparison)', () => {
    expect(bounds('%3 = map lt(%2, %1) : bool[m:m, n:n]')).toBe('kv>=[] kv<=[t+-1:i32]\nrest=[]');
  });

  it('a sliding window q − kv < 3 bounds below: kv >= t + 1 − 3', () => {
    expect(
      bounds(`
        %3 = map sub(%1, %2) : i32[n:n, m:m]
        %4 = const 3 : i32[]
        %5 = map lt(%3, %4) : bool[n:n, m:m]
      `),
    ).toBe('kv>=[t+sub(1:i32, 3:i32)] kv<=[]\nrest=[]');
  });

  it('a window with causal: one bound each side, in conjunct order', () => {
    expect(
      bounds(`
        %3 = map ge(%1, %2) : bool[n:n, m:m]
        %4 = map sub(%1, %2) : i32[n:n, m:m]
        %5 = const 3 : i32[]
        %6 = map lt(%4, %5) : bool[n:n, m:m]
        %7 = map and(%3, %6) : bool[n:n, m:m]
      `),
    ).toBe('kv>=[t+sub(1:i32, 3:i32)] kv<=[t+0:i32]\nrest=[]');
  });

  it('causal aligned to the end, kv <= q + (M − N): the sizes enter the uniform part', () => {
    expect(
      bounds(`
        %3 = size m:m : i32[]
        %4 = size n:n : i32[]
        %5 = map sub(%3, %4) : i32[]
        %6 = map add(%1, %5) : i32[n:n]
        %7 = map le(%2, %6) : bool[m:m, n:n]
      `),
    ).toBe('kv>=[] kv<=[t+sub(add(0:i32, |m|), |n|)]\nrest=[]');
  });

  it('a window read from an i32 parameter: kv > q − w gives kv >= t + 1 − w', () => {
    // kv > q − w: diff = kv − q + w > 0 flips to −kv + q − w <= −1, so kv >= q − w + 1.
    expect(
      bounds(`
        %3 = param "w" : i32[]
        %4 = map sub(%1, %3) : i32[n:n]
        %5 = map gt(%2, %4) : bool[m:m, n:n]
      `),
    ).toBe('kv>=[t+sub(1:i32, $w)] kv<=[]\nrest=[]');
  });

  it('an anti-diagonal kv >= 5 − q gives a lower bound with t coefficient −1', () => {
    expect(
      bounds(`
        %3 = const 5 : i32[]
        %4 = map sub(%3, %1) : i32[n:n]
        %5 = map ge(%2, %4) : bool[m:m, n:n]
      `),
    ).toBe('kv>=[-t+add(0:i32, 5:i32)] kv<=[]\nrest=[]');
  });

  it('a bound without the query index (a prefix kv < 4) and with no tiled axis at all', () => {
    expect(
      bounds(`
        %3 = const 4 : i32[]
        %4 = map lt(%2, %3) : bool[m:m]
      `),
    ).toBe('kv>=[] kv<=[add(-1:i32, 4:i32)]\nrest=[]');
    // With no tiled axis, a comparison with the query index is not linear in what is known.
    expect(bounds('%3 = map ge(%1, %2) : bool[n:n, m:m]', null)).toBe('kv>=[] kv<=[]\nrest=[ge(#a0, #a1)]');
  });

  describe('refuses what it cannot bound, leaving it in rest', () => {
    it('a stride mask ne(mod(q − kv, 4), 3)', () => {
      expect(
        bounds(`
          %3 = map sub(%1, %2) : i32[n:n, m:m]
          %4 = const 4 : i32[]
          %5 = map mod(%3, %4) : i32[n:n, m:m]
          %6 = const 3 : i32[]
          %7 = map ne(%5, %6) : bool[n:n, m:m]
        `),
      ).toBe('kv>=[] kv<=[]\nrest=[ne(mod(sub(#a0, #a1), 4:i32), 3:i32)]');
    });

    it('a document mask doc[q] == doc[kv] read from a tensor', () => {
      expect(
        analyse(ir`
          %0 = input "s" : f32[n:n, m:n]
          %1 = input "doc" : i32[n:n]
          %2 = relabel(%1) as [m] : i32[m:n]
          %3 = map eq(%1, %2) : bool[n:n, m:n]
          %4 = const -Infinity : f32[]
          %5 = map where(%3, %0, %4) : f32[n:n, m:n]
          outputs score=%5
        `),
      ).toBe(ir`
        score=b0[a0,a1]
        valid=eq(b1[a0], b1[a1])
        kv>=[] kv<=[]
        rest=[eq(b1[a0], b1[a1])]
      `);
    });

    it('prefix-LM (kv < 4 or kv <= q): a disjunction is not a conjunct', () => {
      expect(
        bounds(`
          %3 = const 4 : i32[]
          %4 = map lt(%2, %3) : bool[m:m]
          %5 = map le(%2, %1) : bool[m:m, n:n]
          %6 = map or(%4, %5) : bool[m:m, n:n]
        `),
      ).toBe('kv>=[] kv<=[]\nrest=[or(lt(#a1, 4:i32), le(#a1, #a0))]');
    });

    it('a query coefficient of 2 (kv <= 2q), and keeps the bounds of the other conjuncts', () => {
      expect(
        bounds(`
          %3 = map add(%1, %1) : i32[n:n]
          %4 = map le(%2, %3) : bool[m:m, n:n]
          %5 = const 1 : i32[]
          %6 = map ge(%2, %5) : bool[m:m]
          %7 = map and(%4, %6) : bool[m:m, n:n]
        `),
      ).toBe('kv>=[add(0:i32, 1:i32)] kv<=[]\nrest=[le(#a1, add(#a0, #a0))]');
    });

    it('a comparison of f32 positions', () => {
      expect(
        bounds(`
          %3 = map to_f32(%1) : f32[n:n]
          %4 = map to_f32(%2) : f32[m:m]
          %5 = map ge(%3, %4) : bool[n:n, m:m]
        `),
      ).toBe('kv>=[] kv<=[]\nrest=[ge(to_f32(#a0), to_f32(#a1))]');
    });
  });

  // peelValidity writes `where(gt(kv, q), -Infinity, s)` — causal with the masked value first —
  // as not(gt(kv, q)); its complement le(kv, q) is the causal bound kv <= t + 0, and a negated
  // or() splits into negated conjuncts (De Morgan): not(or(lt(kv, q − 4), gt(kv, q))) is a window.
  it('bounds a negated comparison: not(gt(kv, q)) is kv <= q', () => {
    expect(
      analyse(ir`
        %0 = input "s" : f32[n:n, m:m]
        %1 = iota : i32[n:n]
        %2 = iota : i32[m:m]
        %3 = map gt(%2, %1) : bool[m:m, n:n]
        %4 = const -Infinity : f32[]
        %5 = map where(%3, %4, %0) : f32[n:n, m:m]
        outputs score=%5
      `),
    ).toBe(ir`
      score=b0[a0,a1]
      valid=not(gt(#a1, #a0))
      kv>=[] kv<=[t+0:i32]
      rest=[]
    `);
  });

  it('splits a negated or() into negated comparisons (a sliding window written as its complement)', () => {
    expect(
      analyse(ir`
        %0 = input "s" : f32[n:n, m:m]
        %1 = iota : i32[n:n]
        %2 = iota : i32[m:m]
        %3 = const 4 : i32[]
        %4 = map sub(%1, %3) : i32[n:n]
        %5 = map lt(%2, %4) : bool[m:m, n:n]
        %6 = map gt(%2, %1) : bool[m:m, n:n]
        %7 = map or(%5, %6) : bool[m:m, n:n]
        %8 = const -Infinity : f32[]
        %9 = map where(%7, %8, %0) : f32[n:n, m:m]
        outputs score=%9
      `),
    ).toBe(ir`
      score=b0[a0,a1]
      valid=not(or(lt(#a1, sub(#a0, 4:i32)), gt(#a1, #a0)))
      kv>=[t+sub(0:i32, 4:i32)] kv<=[t+0:i32]
      rest=[]
    `);
  });
});
