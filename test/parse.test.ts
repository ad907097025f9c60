/**
 * `parseGraph` is the exact inverse of `printGraph`: every printed graph parses back to the same
 * structure and prints to the same text, and malformed text is rejected with an error naming its
 * line. Pass tests (`test/passes/`) rely on it to start from IR text.
 */
import { describe, expect, it } from 'vitest';
import { add, constant, exp, f32, i32, kernel, layerNorm, logSoftmax, loop, mul, relabel, sizeOf, sub, sum, toF32, where, gt, gather, iota, mod, ne } from '../dsl/index.ts';
import type { Graph } from '../dsl/ir.ts';
import { parseGraph } from '../dsl/parse.ts';
import { printGraph } from '../dsl/print.ts';
import { attentionKernel, einsumKernel, hopfieldKernel } from '../kernels/index.ts';
import { canonicalize } from '../compiler/passes/canonicalize.ts';
import { decompose } from '../compiler/passes/decompose.ts';
import { matchAttention } from '../compiler/passes/match-attention.ts';
import { planContractions } from '../compiler/passes/plan-contractions.ts';

/** The Tensor IR passes in `optimizeGraph`'s order (flash nodes, decomposed composites). */
const optimize = (g: Graph): Graph => canonicalize(decompose(planContractions(matchAttention(canonicalize(g)))));

/** Prints, parses, and checks both the text and the structure come back unchanged. */
function roundTrip(graph: Graph): string {
  const text = printGraph(graph);
  const parsed = parseGraph(text);
  expect(printGraph(parsed)).toBe(text);
  expect(parsed).toEqual(graph);
  return text;
}

const head = { d: 4, e: 4 };

describe('parseGraph round trips', () => {
  const einsums: [string, number[]][] = [
    ['ij,jk->ik', [2, 2]],
    ['ii->i', [2]],
    ['ij->', [2]],
    ['...ij,...jk->...ik', [3, 3]],
    ['ij,jk,kl,lm,mi->', [2, 2, 2, 2, 2]],
    ['bij,bjk->bik', [3, 3]],
  ];
  for (const [spec, ranks] of einsums) {
    it(`einsumKernel('${spec}') traced and optimized`, () => {
      const g = einsumKernel(spec, ranks).trace();
      roundTrip(g);
      roundTrip(optimize(g));
    });
  }

  const attentions: [string, Parameters<typeof attentionKernel>[0]][] = [
    ['plain', {}],
    ['causal', { causal: true }],
    ['causal window', { causal: true, window: 16 }],
    ['document mask', { documentMask: true }],
    ['prefix-LM', { prefix: 4 }],
    ['softcap + alibi', { softcap: 30, alibi: true }],
    ['maskMod', { maskMod: ({ q, kv }) => ne(mod(sub(q, kv), 4), 3) }],
    [
      'relative bias gather',
      {
        causal: true,
        extraInputs: { relBias: f32('hkv', 'g', 'r') },
        scoreMod: (s, { q, kv }, { relBias }) => add(s, gather(relBias, 'r', add(sub(q, kv), sub(sizeOf(s, 'm'), 1)))),
      },
    ],
  ];
  for (const [name, config] of attentions) {
    it(`attentionKernel ${name}: traced, and optimized into flash nodes`, () => {
      const g = attentionKernel(config).trace({ sizes: head });
      roundTrip(g);
      const text = roundTrip(optimize(g));
      expect(text).toContain('flash o over m');
    });
  }

  for (const steps of [0, 1, 3]) {
    it(`hopfieldKernel(${steps}): loop bodies (with flash bodies nested after optimisation)`, () => {
      const g = hopfieldKernel(steps).trace({ sizes: head });
      expect(roundTrip(g)).toContain(`loop ${steps} init(%0)`);
      roundTrip(optimize(g));
    });
  }

  it('composites with eps, static size nodes, nested loops and loop results', () => {
    const k = kernel('mix', { x: f32('i', 'j').pin({ j: 8 }), y: i32('i') }, ({ x, y }) => {
      const ln = layerNorm(x, 'j'); // default eps 1e-5 prints as 0.00001
      const ln2 = layerNorm(x, 'j', 0.25);
      const ls = logSoftmax(mul(ln, ln2), 'j');
      const [a, b] = loop(2, [ls, x], (s, t) => {
        const [inner] = loop(3, [s], (u) => [add(u, mul(t, toF32(sizeOf(x, 'j'))))] as const);
        return [exp(inner), relabel(sub(t, 1), ['i', 'j']) as typeof t] as const;
      });
      return { a, b, c: sum(where(gt(y, 0), a, constant(-Infinity)), 'j'), d: gather(x, 'j', y) };
    });
    const text = roundTrip(k.trace());
    expect(text).toContain('layer_norm(%0) over j eps=0.00001 : f32[i:i, j:8]');
    expect(text).toContain('= size j:8 : i32[]');
    roundTrip(optimize(k.trace()));
  });

  it('hand-written text with every node kind and constant spelling', () => {
    const text = [
      '%0 = input "x y" : f32[n:n, d:4]',
      '%1 = input "ids" : i32[k:k]',
      '%2 = param "scale" : f32[]',
      '%3 = const -Infinity : f32[]',
      '%4 = const Infinity : f32[]',
      '%5 = const NaN : f32[]',
      '%6 = const 0.00001 : f32[]',
      '%7 = const 1e-7 : f32[]',
      '%8 = const 1e+21 : f32[]',
      '%9 = const -3 : i32[]',
      '%10 = size n:n : i32[]',
      '%11 = size d:4 : i32[]',
      '%12 = iota : i32[n:n]',
      '%13 = map add(%12, %10) : i32[n:n]',
      '%14 = map id(%2) : f32[n:n, d:4]',
      '%15 = reduce max(%0) over [d] : f32[n:n]',
      '%16 = reduce sum(%0) over [] : f32[n:n, d:4]',
      '%17 = relabel(%0) as [m, e] : f32[m:n, e:4]',
      '%18 = contract(%0, %17) : f32[n:n, m:n]',
      '%19 = gather(%0) along n at %1 : f32[d:4, k:k]',
      '%20 = softmax(%18) over m : f32[n:n, m:n]',
      '%21 = layer_norm(%0) over d eps=0.001 : f32[n:n, d:4]',
      '%22 = loop 0 init(%0, %15) captures() : f32[n:n, d:4] {',
      '  %0 = carry 0 : f32[n:n, d:4]',
      '  %1 = carry 1 : f32[n:n]',
      '  outputs 0=%0, 1=%1',
      '}',
      '%23 = loop_result %22[1] : f32[n:n]',
      'outputs a=%23, b=%20, c=%21, d=%19, e=%16, f=%14, g=%13, h=%3, i=%4, j=%5, k=%6, l=%7, m=%8, n=%9, o=%11',
    ].join('\n');
    const g = parseGraph(text);
    expect(printGraph(g)).toBe(text);
    expect(g.nodes[0]).toEqual({ op: 'input', name: 'x y', type: { dtype: 'f32', axes: [{ name: 'n', size: 'n' }, { name: 'd', size: 4 }] }, id: 0 });
    expect(g.nodes.slice(3, 10).map((n) => (n.op === 'const' ? n.value : null))).toEqual([-Infinity, Infinity, NaN, 0.00001, 1e-7, 1e21, -3]);
    expect(g.nodes[11]).toMatchObject({ op: 'size', axis: { name: 'd', size: 4 } });
    expect(g.nodes[22]).toMatchObject({ op: 'loop', count: 0, init: [0, 15], captures: [] });
  });

  it('keeps the sign of a -0 constant', () => {
    const text = '%0 = const -0 : f32[]\noutputs z=%0';
    const g = parseGraph(text);
    expect(Object.is(g.nodes[0]!.op === 'const' && g.nodes[0]!.value, -0)).toBe(true);
    expect(printGraph(g)).toBe(text);
    const traced = kernel('negzero', { x: f32('i') }, ({ x }) => add(x, constant(-0))).trace();
    expect(roundTrip(traced)).toContain('%1 = const -0 : f32[]');
  });

  it('a graph with no outputs', () => {
    const text = '%0 = input "x" : f32[]\noutputs ';
    expect(printGraph(parseGraph(text))).toBe(text);
  });
});

describe('parseGraph errors name the line', () => {
  const bad = (lines: string[]) => () => parseGraph(lines.join('\n'));

  it('rejects ids out of sequence', () => {
    expect(bad(['%0 = input "x" : f32[i:i]', '%2 = map exp(%0) : f32[i:i]', 'outputs out=%2'])).toThrow('parseGraph: line 2: expected node %1 next, got %2');
  });

  it('rejects an unknown node kind', () => {
    expect(bad(['%0 = input "x" : f32[i:i]', '%1 = frobnicate(%0) : f32[i:i]', 'outputs out=%1'])).toThrow("parseGraph: line 2: cannot read node 'frobnicate(%0)'");
  });

  it('rejects an unknown dtype and a malformed type', () => {
    expect(bad(['%0 = input "x" : f16[i:i]', 'outputs out=%0'])).toThrow('parseGraph: line 1: unknown dtype \'f16\' (expected one of f32, i32, u32, bool)');
    expect(bad(['%0 = input "x" : f32[i]', 'outputs out=%0'])).toThrow("parseGraph: line 1: expected an axis like n:n or d:64, got 'i'");
  });

  it('rejects a malformed constant', () => {
    expect(bad(['%0 = const 1.5.2 : f32[]', 'outputs out=%0'])).toThrow("parseGraph: line 1: expected a number for a constant, got '1.5.2'");
  });

  it('reports a type the verifier rejects at the node’s line', () => {
    expect(bad(['%0 = input "x" : f32[i:i]', '%1 = map exp(%0) : i32[i:i]', 'outputs out=%1'])).toThrow(
      'parseGraph: line 2: verify: %1 (map) has type i32[i:i] but its rule gives f32[i:i]',
    );
    expect(bad(['%0 = input "x" : f32[i:i]', '%1 = map frob(%0) : f32[i:i]', 'outputs out=%1'])).toThrow("parseGraph: line 2: unknown scalar op 'frob'");
    expect(bad(['%0 = input "x" : f32[i:i]', '%1 = map exp(%2) : f32[i:i]', '%2 = map exp(%0) : f32[i:i]', 'outputs out=%1'])).toThrow(
      'parseGraph: line 2: verify: %1 reads %2, which is not defined before it',
    );
  });

  it('reports an error inside a loop body at the body’s line, and a loop-level error at the loop', () => {
    const body = (result: string) => [
      '%0 = input "x" : f32[i:i]',
      '%1 = loop 2 init(%0) captures() : f32[i:i] {',
      '  %0 = carry 0 : f32[i:i]',
      `  %1 = ${result}`,
      '  outputs 0=%1',
      '}',
      'outputs out=%1',
    ];
    expect(bad(body('map exp(%0) : i32[i:i]'))).toThrow('parseGraph: line 4: verify: %1 (map) has type i32[i:i] but its rule gives f32[i:i]');
    expect(bad(body('reduce sum(%0) over [i] : f32[]'))).toThrow('parseGraph: line 2: verify: loop %1 carried value 0 changes type from f32[i:i] to f32[]');
  });

  it('rejects an output listed twice', () => {
    expect(bad(['%0 = input "x" : f32[i:i]', 'outputs a=%0, a=%0'])).toThrow("parseGraph: line 2: output 'a' is listed twice");
  });

  it('reports an output that names a missing node at the outputs line', () => {
    expect(bad(['%0 = input "x" : f32[i:i]', 'outputs out=%7'])).toThrow("parseGraph: line 2: verify: output 'out' refers to missing node %7");
  });

  it('rejects missing outputs, unclosed bodies and text after the end', () => {
    expect(bad(['%0 = input "x" : f32[i:i]'])).toThrow("parseGraph: line 1: missing 'outputs' line");
    expect(bad(['%0 = input "x" : f32[i:i]', '%1 = loop 2 init(%0) captures() : f32[i:i] {', '  %0 = carry 0 : f32[i:i]', '  outputs 0=%0', 'outputs out=%1'])).toThrow(
      "parseGraph: line 5: expected '}' closing the body of %1, got 'outputs out=%1'",
    );
    expect(bad(['%0 = input "x" : f32[i:i]', '%1 = loop 2 init(%0) captures() : f32[i:i]', 'outputs out=%1'])).toThrow("parseGraph: line 2: a loop node needs a body: end the line with ' {'");
    expect(bad(['%0 = input "x" : f32[i:i]', 'outputs out=%0', '%1 = map exp(%0) : f32[i:i]'])).toThrow(
      "parseGraph: line 3: unexpected text after the top-level 'outputs' line: '%1 = map exp(%0) : f32[i:i]'",
    );
    expect(bad(['%0 = input "x" : f32[i:i]', '  outputs out=%0'])).toThrow('parseGraph: line 2: expected indentation of 0 spaces, got 2');
  });
});

describe('names that need quoting', () => {
  it('prints input and parameter names as JSON strings and reads them back', () => {
    const text = ['%0 = input "a \\"quoted\\"\\nname" : f32[i:i]', '%1 = param "p\\\\q" : f32[]', '%2 = map mul(%0, %1) : f32[i:i]', 'outputs out=%2'].join('\n');
    const graph = parseGraph(text);
    expect(graph.nodes.map((n) => (n.op === 'input' || n.op === 'param' ? n.name : null))).toEqual(['a "quoted"\nname', 'p\\q', null]);
    expect(printGraph(graph)).toBe(text);
  });
});
