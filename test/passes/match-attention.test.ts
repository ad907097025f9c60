/**
 * match-attention: printed Tensor IR in, printed Tensor IR out. The pass finds
 * `contract(softmax(S, m), V)` summing exactly `m`, where S is an elementwise tree (score
 * modifiers, `where(mask, s, -Infinity)` masks) over one `contract(Q, K)`, and replaces it (and a
 * `logsumexp(S, m)` beside it) by `flash` nodes whose body is the matched region: captures for the
 * leaves in id order, the region's nodes copied in id order, and outputs o and lse (a logsumexp is
 * added to the body when the graph had none); and the same over a softmax jointly over (j, l) with one
 * value and one key per axis (2-simplicial attention). Each expectation was read and checked by hand.
 */
import { describe, expect, it } from 'vitest';
import { ir } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { printGraph } from '../../dsl/print.ts';
import { matchAttention } from '../../compiler/passes/match-attention.ts';

const run = (text: string) => printGraph(matchAttention(parseGraph(text)));

describe('match-attention', () => {
  it('turns plain softmax attention into a flash o node whose body adds the lse', () => {
    const input = ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = contract(%0, %1) : f32[n:n, m:m]
      %4 = softmax(%3) over m : f32[n:n, m:m]
      %5 = contract(%4, %2) : f32[n:n, e:2]
      outputs o=%5
    `;
    // Leaves q, k, v become captures 0..2; the body's lse is logsumexp of the scores over m.
    expect(run(input)).toBe(ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = contract(%0, %1) : f32[n:n, m:m]
        %4 = softmax(%3) over m : f32[n:n, m:m]
        %5 = contract(%4, %2) : f32[n:n, e:2]
        %6 = reduce logsumexp(%3) over [m] : f32[n:n]
        outputs o=%5, lse=%6
      }
      outputs o=%3
    `);
  });

  it('takes a causal mask where(ge(q, kv), s, -Infinity), a scale parameter and the lse output into two sibling flash nodes', () => {
    const input = ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = param "scale" : f32[]
      %4 = contract(%0, %1) : f32[n:n, m:m]
      %5 = map mul(%4, %3) : f32[n:n, m:m]
      %6 = iota : i32[n:n]
      %7 = iota : i32[m:m]
      %8 = map ge(%6, %7) : bool[n:n, m:m]
      %9 = const -Infinity : f32[]
      %10 = map where(%8, %5, %9) : f32[n:n, m:m]
      %11 = softmax(%10) over m : f32[n:n, m:m]
      %12 = contract(%11, %2) : f32[n:n, e:2]
      %13 = reduce logsumexp(%10) over [m] : f32[n:n]
      outputs o=%12, lse=%13
    `;
    // The o and lse flash nodes have the same args and body (the fuser makes them one kernel); the
    // body reads the parameter directly (params are the same everywhere), and the outer param
    // stays (params are never dropped).
    expect(run(input)).toBe(ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = param "scale" : f32[]
      %4 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = param "scale" : f32[]
        %4 = contract(%0, %1) : f32[n:n, m:m]
        %5 = map mul(%4, %3) : f32[n:n, m:m]
        %6 = iota : i32[n:n]
        %7 = iota : i32[m:m]
        %8 = map ge(%6, %7) : bool[n:n, m:m]
        %9 = const -Infinity : f32[]
        %10 = map where(%8, %5, %9) : f32[n:n, m:m]
        %11 = softmax(%10) over m : f32[n:n, m:m]
        %12 = contract(%11, %2) : f32[n:n, e:2]
        %13 = reduce logsumexp(%10) over [m] : f32[n:n]
        outputs o=%12, lse=%13
      }
      %5 = flash lse over m args(%0, %1, %2) : f32[n:n] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = param "scale" : f32[]
        %4 = contract(%0, %1) : f32[n:n, m:m]
        %5 = map mul(%4, %3) : f32[n:n, m:m]
        %6 = iota : i32[n:n]
        %7 = iota : i32[m:m]
        %8 = map ge(%6, %7) : bool[n:n, m:m]
        %9 = const -Infinity : f32[]
        %10 = map where(%8, %5, %9) : f32[n:n, m:m]
        %11 = softmax(%10) over m : f32[n:n, m:m]
        %12 = contract(%11, %2) : f32[n:n, e:2]
        %13 = reduce logsumexp(%10) over [m] : f32[n:n]
        outputs o=%12, lse=%13
      }
      outputs o=%4, lse=%5
    `);
  });

  it('takes a sliding-window mask (causal and q − kv < 3) into the body', () => {
    const input = ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = contract(%0, %1) : f32[n:n, m:m]
      %4 = iota : i32[n:n]
      %5 = iota : i32[m:m]
      %6 = map sub(%4, %5) : i32[n:n, m:m]
      %7 = const 3 : i32[]
      %8 = map lt(%6, %7) : bool[n:n, m:m]
      %9 = map ge(%4, %5) : bool[n:n, m:m]
      %10 = map and(%9, %8) : bool[n:n, m:m]
      %11 = const -Infinity : f32[]
      %12 = map where(%10, %3, %11) : f32[n:n, m:m]
      %13 = softmax(%12) over m : f32[n:n, m:m]
      %14 = contract(%13, %2) : f32[n:n, e:2]
      outputs o=%14
    `;
    // The whole mask tree (iotas, sub, both comparisons, and) is elementwise, so it all moves.
    expect(run(input)).toBe(ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = contract(%0, %1) : f32[n:n, m:m]
        %4 = iota : i32[n:n]
        %5 = iota : i32[m:m]
        %6 = map sub(%4, %5) : i32[n:n, m:m]
        %7 = const 3 : i32[]
        %8 = map lt(%6, %7) : bool[n:n, m:m]
        %9 = map ge(%4, %5) : bool[n:n, m:m]
        %10 = map and(%9, %8) : bool[n:n, m:m]
        %11 = const -Infinity : f32[]
        %12 = map where(%10, %3, %11) : f32[n:n, m:m]
        %13 = softmax(%12) over m : f32[n:n, m:m]
        %14 = contract(%13, %2) : f32[n:n, e:2]
        %15 = reduce logsumexp(%12) over [m] : f32[n:n]
        outputs o=%14, lse=%15
      }
      outputs o=%3
    `);
  });

  it('captures the tensor a document mask reads (doc[q] == doc[kv]) as a flash argument', () => {
    const input = ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:n, d:4]
      %2 = input "v" : f32[m:n, e:2]
      %3 = input "doc" : i32[n:n]
      %4 = contract(%0, %1) : f32[n:n, m:n]
      %5 = relabel(%3) as [m] : i32[m:n]
      %6 = map eq(%3, %5) : bool[n:n, m:n]
      %7 = const -Infinity : f32[]
      %8 = map where(%6, %4, %7) : f32[n:n, m:n]
      %9 = softmax(%8) over m : f32[n:n, m:n]
      %10 = contract(%9, %2) : f32[n:n, e:2]
      outputs o=%10
    `;
    // doc is a leaf of the score tree (read twice: directly and relabelled to the kv axis), so it
    // is one capture, the fourth argument; the relabel moves into the body.
    expect(run(input)).toBe(ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:n, d:4]
      %2 = input "v" : f32[m:n, e:2]
      %3 = input "doc" : i32[n:n]
      %4 = flash o over m args(%0, %1, %2, %3) : f32[n:n, e:2] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:n, d:4]
        %2 = capture 2 : f32[m:n, e:2]
        %3 = capture 3 : i32[n:n]
        %4 = contract(%0, %1) : f32[n:n, m:n]
        %5 = relabel(%3) as [m] : i32[m:n]
        %6 = map eq(%3, %5) : bool[n:n, m:n]
        %7 = const -Infinity : f32[]
        %8 = map where(%6, %4, %7) : f32[n:n, m:n]
        %9 = softmax(%8) over m : f32[n:n, m:n]
        %10 = contract(%9, %2) : f32[n:n, e:2]
        %11 = reduce logsumexp(%8) over [m] : f32[n:n]
        outputs o=%10, lse=%11
      }
      outputs o=%4
    `);
  });

  it('brings the elementwise prologues of Q and V and an offset causal mask along, and keeps scores that are also an output', () => {
    // q·scale and exp(v) are prologues; the mask is kv <= q + (M − N) (causal aligned to the end).
    // The raw scores %6 are an output too, so they (and the q prologue) also stay outside.
    const input = ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = param "scale" : f32[]
      %4 = map mul(%0, %3) : f32[n:n, d:4]
      %5 = map exp(%2) : f32[m:m, e:2]
      %6 = contract(%4, %1) : f32[n:n, m:m]
      %7 = iota : i32[n:n]
      %8 = iota : i32[m:m]
      %9 = size m:m : i32[]
      %10 = size n:n : i32[]
      %11 = map sub(%9, %10) : i32[]
      %12 = map add(%7, %11) : i32[n:n]
      %13 = map le(%8, %12) : bool[m:m, n:n]
      %14 = const -Infinity : f32[]
      %15 = map where(%13, %6, %14) : f32[n:n, m:m]
      %16 = softmax(%15) over m : f32[n:n, m:m]
      %17 = contract(%16, %5) : f32[n:n, e:2]
      %18 = reduce logsumexp(%15) over [m] : f32[n:n]
      outputs lse=%18, o=%17, s=%6
    `;
    expect(run(input)).toBe(ir`
      %0 = input "q" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = input "v" : f32[m:m, e:2]
      %3 = param "scale" : f32[]
      %4 = map mul(%0, %3) : f32[n:n, d:4]
      %5 = contract(%4, %1) : f32[n:n, m:m]
      %6 = flash o over m args(%0, %1, %2) : f32[n:n, e:2] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = param "scale" : f32[]
        %4 = map mul(%0, %3) : f32[n:n, d:4]
        %5 = map exp(%2) : f32[m:m, e:2]
        %6 = contract(%4, %1) : f32[n:n, m:m]
        %7 = iota : i32[n:n]
        %8 = iota : i32[m:m]
        %9 = size m:m : i32[]
        %10 = size n:n : i32[]
        %11 = map sub(%9, %10) : i32[]
        %12 = map add(%7, %11) : i32[n:n]
        %13 = map le(%8, %12) : bool[m:m, n:n]
        %14 = const -Infinity : f32[]
        %15 = map where(%13, %6, %14) : f32[n:n, m:m]
        %16 = softmax(%15) over m : f32[n:n, m:m]
        %17 = contract(%16, %5) : f32[n:n, e:2]
        %18 = reduce logsumexp(%15) over [m] : f32[n:n]
        outputs o=%17, lse=%18
      }
      %7 = flash lse over m args(%0, %1, %2) : f32[n:n] {
        %0 = capture 0 : f32[n:n, d:4]
        %1 = capture 1 : f32[m:m, d:4]
        %2 = capture 2 : f32[m:m, e:2]
        %3 = param "scale" : f32[]
        %4 = map mul(%0, %3) : f32[n:n, d:4]
        %5 = map exp(%2) : f32[m:m, e:2]
        %6 = contract(%4, %1) : f32[n:n, m:m]
        %7 = iota : i32[n:n]
        %8 = iota : i32[m:m]
        %9 = size m:m : i32[]
        %10 = size n:n : i32[]
        %11 = map sub(%9, %10) : i32[]
        %12 = map add(%7, %11) : i32[n:n]
        %13 = map le(%8, %12) : bool[m:m, n:n]
        %14 = const -Infinity : f32[]
        %15 = map where(%13, %6, %14) : f32[n:n, m:m]
        %16 = softmax(%15) over m : f32[n:n, m:m]
        %17 = contract(%16, %5) : f32[n:n, e:2]
        %18 = reduce logsumexp(%15) over [m] : f32[n:n]
        outputs o=%17, lse=%18
      }
      outputs lse=%7, o=%6, s=%5
    `);
  });

  it('matches inside a loop body (a Hopfield update, V = K)', () => {
    const input = ir`
      %0 = input "xi" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = loop 2 init(%0) captures(%1) : f32[n:n, d:4] {
        %0 = carry 0 : f32[n:n, d:4]
        %1 = capture 0 : f32[m:m, d:4]
        %2 = contract(%0, %1) : f32[n:n, m:m]
        %3 = softmax(%2) over m : f32[n:n, m:m]
        %4 = contract(%3, %1) : f32[n:n, d:4]
        outputs 0=%4
      }
      %3 = loop_result %2[0] : f32[n:n, d:4]
      outputs xi=%3
    `;
    // K serves as K and V: one capture. The carry and the loop capture are the flash's args.
    expect(run(input)).toBe(ir`
      %0 = input "xi" : f32[n:n, d:4]
      %1 = input "k" : f32[m:m, d:4]
      %2 = loop 2 init(%0) captures(%1) : f32[n:n, d:4] {
        %0 = carry 0 : f32[n:n, d:4]
        %1 = capture 0 : f32[m:m, d:4]
        %2 = flash o over m args(%0, %1) : f32[n:n, d:4] {
          %0 = capture 0 : f32[n:n, d:4]
          %1 = capture 1 : f32[m:m, d:4]
          %2 = contract(%0, %1) : f32[n:n, m:m]
          %3 = softmax(%2) over m : f32[n:n, m:m]
          %4 = contract(%3, %1) : f32[n:n, d:4]
          %5 = reduce logsumexp(%2) over [m] : f32[n:n]
          outputs o=%4, lse=%5
        }
        outputs 0=%2
      }
      %3 = loop_result %2[0] : f32[n:n, d:4]
      outputs xi=%3
    `);
  });

  describe('leaves non-attention patterns unchanged', () => {
    const cases: [string, string][] = [
      [
        'softmax over the query axis, not the contracted kv axis',
        ir`
          %0 = input "q" : f32[n:n, d:4]
          %1 = input "k" : f32[m:m, d:4]
          %2 = input "v" : f32[m:m, e:2]
          %3 = contract(%0, %1) : f32[n:n, m:m]
          %4 = softmax(%3) over n : f32[n:n, m:m]
          %5 = contract(%4, %2) : f32[n:n, e:2]
          outputs o=%5
        `,
      ],
      [
        'V contracted over the query axis instead of the softmax axis',
        ir`
          %0 = input "q" : f32[n:n, d:4]
          %1 = input "k" : f32[m:m, d:4]
          %2 = input "v" : f32[n:n, e:2]
          %3 = contract(%0, %1) : f32[n:n, m:m]
          %4 = softmax(%3) over m : f32[n:n, m:m]
          %5 = contract(%4, %2) : f32[m:m, e:2]
          outputs o=%5
        `,
      ],
      [
        'symbolic head dims (no static K/V tile)',
        ir`
          %0 = input "q" : f32[n:n, d:d]
          %1 = input "k" : f32[m:m, d:d]
          %2 = input "v" : f32[m:m, e:2]
          %3 = contract(%0, %1) : f32[n:n, m:m]
          %4 = softmax(%3) over m : f32[n:n, m:m]
          %5 = contract(%4, %2) : f32[n:n, e:2]
          outputs o=%5
        `,
      ],
      [
        'head dims over the workgroup-memory limit (1020 + 8 > 1024)',
        ir`
          %0 = input "q" : f32[n:n, d:1020]
          %1 = input "k" : f32[m:m, d:1020]
          %2 = input "v" : f32[m:m, e:8]
          %3 = contract(%0, %1) : f32[n:n, m:m]
          %4 = softmax(%3) over m : f32[n:n, m:m]
          %5 = contract(%4, %2) : f32[n:n, e:8]
          outputs o=%5
        `,
      ],
      [
        'scores that are not a Q·K contraction (a softmax of an input)',
        ir`
          %0 = input "s" : f32[n:n, m:m]
          %1 = input "v" : f32[m:m, e:2]
          %2 = softmax(%0) over m : f32[n:n, m:m]
          %3 = contract(%2, %1) : f32[n:n, e:2]
          outputs o=%3
        `,
      ],
    ];
    for (const [name, input] of cases) {
      it(name, () => expect(run(input)).toBe(input));
    }
  });

  it('turns 2-simplicial attention (a softmax over the pair j, l and one value per key) into a flash node over [j, l]', () => {
    const input = ir`
      %0 = input "q" : f32[i:n, d:4]
      %1 = input "k1" : f32[j:n, d:4]
      %2 = input "k2" : f32[l:n, d:4]
      %3 = input "v1" : f32[j:n, e:2]
      %4 = input "v2" : f32[l:n, e:2]
      %5 = contract(%0, %1, %2) : f32[i:n, j:n, l:n]
      %6 = softmax(%5) over [j, l] : f32[i:n, j:n, l:n]
      %7 = contract(%6, %3, %4) : f32[i:n, e:2]
      outputs o=%7
    `;
    // The body's lse is logsumexp of the logits over both axes.
    expect(run(input)).toBe(ir`
      %0 = input "q" : f32[i:n, d:4]
      %1 = input "k1" : f32[j:n, d:4]
      %2 = input "k2" : f32[l:n, d:4]
      %3 = input "v1" : f32[j:n, e:2]
      %4 = input "v2" : f32[l:n, e:2]
      %5 = flash o over [j, l] args(%0, %1, %2, %3, %4) : f32[i:n, e:2] {
        %0 = capture 0 : f32[i:n, d:4]
        %1 = capture 1 : f32[j:n, d:4]
        %2 = capture 2 : f32[l:n, d:4]
        %3 = capture 3 : f32[j:n, e:2]
        %4 = capture 4 : f32[l:n, e:2]
        %5 = contract(%0, %1, %2) : f32[i:n, j:n, l:n]
        %6 = softmax(%5) over [j, l] : f32[i:n, j:n, l:n]
        %7 = contract(%6, %3, %4) : f32[i:n, e:2]
        %8 = reduce logsumexp(%5) over [j, l] : f32[i:n]
        outputs o=%7, lse=%8
      }
      outputs o=%5
    `);
  });

  describe('leaves a joint softmax unfused when it is not 2-simplicial attention', () => {
    const cases: [string, string][] = [
      [
        'one value reads both softmax axes',
        ir`
          %0 = input "q" : f32[i:n, d:4]
          %1 = input "k1" : f32[j:n, d:4]
          %2 = input "k2" : f32[l:n, d:4]
          %3 = input "v" : f32[j:n, l:n, e:2]
          %4 = contract(%0, %1, %2) : f32[i:n, j:n, l:n]
          %5 = softmax(%4) over [j, l] : f32[i:n, j:n, l:n]
          %6 = contract(%5, %3) : f32[i:n, e:2]
          outputs o=%6
        `,
      ],
      [
        'a key that reads both softmax axes',
        ir`
          %0 = input "q" : f32[i:n, d:4]
          %1 = input "k1" : f32[j:n, l:n, d:4]
          %2 = input "k2" : f32[l:n, d:4]
          %3 = input "v1" : f32[j:n, e:2]
          %4 = input "v2" : f32[l:n, e:2]
          %5 = contract(%0, %1, %2) : f32[i:n, j:n, l:n]
          %6 = softmax(%5) over [j, l] : f32[i:n, j:n, l:n]
          %7 = contract(%6, %3, %4) : f32[i:n, e:2]
          outputs o=%7
        `,
      ],
      [
        'values with different value heads',
        ir`
          %0 = input "q" : f32[i:n, d:4]
          %1 = input "k1" : f32[j:n, d:4]
          %2 = input "k2" : f32[l:n, d:4]
          %3 = input "v1" : f32[j:n, e:2]
          %4 = input "v2" : f32[l:n, c:2]
          %5 = contract(%0, %1, %2) : f32[i:n, j:n, l:n]
          %6 = softmax(%5) over [j, l] : f32[i:n, j:n, l:n]
          %7 = contract(%6, %3, %4) : f32[i:n, e:2, c:2]
          outputs o=%7
        `,
      ],
    ];
    for (const [name, input] of cases) {
      it(name, () => expect(run(input)).toBe(input));
    }
  });

  describe('graph attention over a CSR adjacency', () => {
    const graph = (value: string, softmaxBy: string) => TEMPLATE.replaceAll('VALUE', value).replace('BY', softmaxBy);
    const TEMPLATE = ir`
      %0 = input "q" : f32[h:h, i:i, d:4]
      %1 = input "k" : f32[h:h, j:j, d:4]
      %2 = input "v" : f32[h:h, j:j, c:VALUE]
      %3 = input "rowptr" : i32[r:r]
      %4 = input "col" : i32[e:e]
      %5 = csr(%3, %4) rows i:i cols j : i32[e:e]
      %6 = segment_ids(%5) : i32[e:e]
      %7 = gather(%0) along i at %6 : f32[h:h, d:4, e:e]
      %8 = gather(%1) along j at %5 : f32[h:h, d:4, e:e]
      %9 = contract(%7, %8) : f32[h:h, e:e]
      %10 = csr(%3, %4) rows i:i cols j : i32[e:e]
      %11 = segment_softmax(%9) over e by BY : f32[h:h, e:e]
      %12 = gather(%2) along j at %5 : f32[h:h, c:VALUE, e:e]
      %13 = map mul(%11, %12) : f32[h:h, e:e, c:VALUE]
      %14 = segment_reduce sum(%13) over e by %5 : f32[h:h, i:i, c:VALUE]
      outputs o=%14
    `;

    it('turns segment_sum(segment_softmax(q·k) · v) into a flash node over the edges that carries the adjacency', () => {
      // The CSR node and the edges' rows come into the body (rowptr and col are captured), with a
      // segment logsumexp as lse; the unused second CSR node is dropped.
      expect(run(graph('2', '%5'))).toBe(ir`
        %0 = input "q" : f32[h:h, i:i, d:4]
        %1 = input "k" : f32[h:h, j:j, d:4]
        %2 = input "v" : f32[h:h, j:j, c:2]
        %3 = input "rowptr" : i32[r:r]
        %4 = input "col" : i32[e:e]
        %5 = flash o over e args(%0, %1, %2, %3, %4) : f32[h:h, i:i, c:2] {
          %0 = capture 0 : f32[h:h, i:i, d:4]
          %1 = capture 1 : f32[h:h, j:j, d:4]
          %2 = capture 2 : f32[h:h, j:j, c:2]
          %3 = capture 3 : i32[r:r]
          %4 = capture 4 : i32[e:e]
          %5 = csr(%3, %4) rows i:i cols j : i32[e:e]
          %6 = segment_ids(%5) : i32[e:e]
          %7 = gather(%0) along i at %6 : f32[h:h, d:4, e:e]
          %8 = gather(%1) along j at %5 : f32[h:h, d:4, e:e]
          %9 = contract(%7, %8) : f32[h:h, e:e]
          %10 = segment_softmax(%9) over e by %5 : f32[h:h, e:e]
          %11 = gather(%2) along j at %5 : f32[h:h, c:2, e:e]
          %12 = map mul(%10, %11) : f32[h:h, e:e, c:2]
          %13 = segment_reduce sum(%12) over e by %5 : f32[h:h, i:i, c:2]
          %14 = segment_reduce logsumexp(%9) over e by %5 : f32[h:h, i:i]
          outputs o=%13, lse=%14
        }
        outputs o=%5
      `);
    });

    it('leaves a symbolic value axis unfused (its threads own static value components)', () => {
      const input = graph('c', '%5');
      expect(run(input)).toBe(printGraph(parseGraph(input)));
    });

    it('leaves a softmax over another adjacency than the aggregation unfused', () => {
      const input = graph('2', '%10');
      expect(run(input)).toBe(printGraph(parseGraph(input)));
    });
  });
});
