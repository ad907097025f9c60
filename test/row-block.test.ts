/**
 * Row blocks (`fuse-row-blocks`) on a real WebGPU device against the float64 interpreter: a
 * softmax over a short axis feeding a contraction and a sum over a long one, with a bias of −∞
 * (one output nobody routes to) and lengths that leave the last part and the last block of rows
 * partly empty; and a user's own routing variant, whose [inputs × outputs] tensors exist only on
 * chip. Each test first proves from the compiled Program that the row blocks run and that no
 * [i × j] buffer is allocated.
 */
import { expect, it } from 'vitest';
import * as T from '../index.ts';
import type { HostTensor, Program, Step } from '../index.ts';
import { evalSize } from '../program/index.ts';
import { definableVectorRoutingKernel, efficientVectorRoutingKernel } from '../kernels/index.ts';
import { graphInputs } from '../dsl/ir.ts';
import { describeGPU } from './gpu.ts';
import { expectMatchesInterpreter as expectMatches } from './interpreter-check.ts';
import { randomTensor } from './helpers.ts';

/** Routing's shape of attention: the softmax runs over the outputs j, the sums over the inputs i. */
const softRoute = T.kernel('soft_route', { x: T.f32('i', 'd'), w: T.f32('j', 'd'), bias: T.f32('j') }, ({ x, w, bias }) => {
  const p = T.softmax(T.add(T.einsum('id,jd->ij', x, w), bias), 'j');
  return { y: T.einsum('ij,id->jd', p, x), total: T.sum(p, 'i') };
});

/** The labels of the dispatches in a program (loop bodies included). */
function labels(program: Program): string[] {
  const visit = (steps: readonly Step[]): string[] => steps.flatMap((s) => (s.kind === 'loop' ? visit(s.body) : s.kind === 'dispatch' ? [s.label] : []));
  return visit(program.steps);
}

/** The largest buffer of the program at these sizes, in bytes. */
function largestBuffer(program: Program, sizes: Record<string, number>): number {
  return Math.max(...program.buffers.filter((b) => b.role !== 'input').map((b) => evalSize(b.bytes, sizes)));
}

describeGPU('row blocks on WebGPU', (gpu) => {
  it('a softmax over outputs feeding sums over 2,500 inputs: one row block, partials per 1024 rows, matching the interpreter', async () => {
    // The outputs j and the features d are fixed, the inputs i are not (a row block needs small
    // static axes beside the long one).
    const sizes = { j: 4, d: 8 };
    const program = T.compileFor(softRoute, gpu, { sizes });
    expect(labels(program)).toEqual(['row-block %15 contract + %16 reduce', 'reduce %15 contract combine', 'reduce %16 reduce combine']);
    // Nothing of [i × j] exists: the largest buffer at i = 2500 is the partials, 3 parts × 4 × 8.
    expect(largestBuffer(program, { i: 2500 })).toBe(4 * 3 * 4 * 8);
    for (const n of [2500, 70]) {
      const bias = randomTensor([4], 3);
      (bias.data as Float32Array)[1] = -Infinity;
      await expectMatches(gpu, softRoute, { x: randomTensor([n, 8], n), w: randomTensor([4, 8], 2), bias }, sizes, 1e-4, 1e-5);
    }
  });

  it("a user's routing variant keeps its [inputs × outputs] tensors on chip", async () => {
    const D = 12;
    const variant = definableVectorRoutingKernel({
      nOut: 5,
      dInp: D,
      dOut: 7,
      nIters: 3,
      params: { w_a: T.f32('d'), W_F: T.f32('j', 'd', 'h'), W_G: T.f32('h', 'd'), W_beta: T.f32('j', 'd') },
      A: ({ xScaled, params, batch }) => T.contract([xScaled, params.w_a], [...batch, 'i']),
      F: (phi, { xScaled, params, batch }) => T.contract([T.contract([phi, xScaled], [...batch, 'j', 'd']), params.W_F], [...batch, 'j', 'h']),
      G: (xOut, { params, batch }) => T.contract([T.layerNorm(xOut, 'h'), params.W_G], [...batch, 'j', 'd']),
      S: (xPred, { x, batch }) => T.mul(T.contract([x, xPred], [...batch, 'i', 'j']), 1 / Math.sqrt(D)),
      betas: ({ x, params, batch }) => {
        const b = T.sigmoid(T.contract([x, params.W_beta], [...batch, 'i', 'j']));
        return { use: b, ign: T.sub(1, b) };
      },
    });
    const n = 1500;
    const inputs = {
      x_inp: randomTensor([n, D], 21, -2, 2),
      w_a: randomTensor([D], 22),
      W_F: randomTensor([5, D, 7], 23),
      W_G: randomTensor([7, D], 24),
      W_beta: randomTensor([5, D], 25),
    };
    const program = T.compileFor(variant, gpu);
    // The first iteration before the loop and the loop body each fold the inputs in one row block.
    expect(labels(program).filter((l) => l.startsWith('row-block'))).toHaveLength(2);
    // The one [n × 5] tensor allocated is the betas' x·W_beta, computed before the loop and stored
    // by the first row block for the loop's (4 MiB for 65,536 inputs is cheaper to read than to
    // redo); the scores, routing weights, D_use, D_ign and phi exist only on chip.
    const long = program.buffers.filter((b) => b.role === 'temp' && evalSize(b.bytes, { i: n }) >= 4 * n * 5);
    expect(long.map((b) => b.label)).toEqual(['%9 contract']);
    await expectMatches(gpu, variant, inputs, {}, 2e-4, 2e-5);
  });

  it('routes a batch of sequences (a leading batch axis) with row blocks that hold the batch index fixed', async () => {
    const routing = efficientVectorRoutingKernel({ nInp: -1, nOut: 4, dInp: 8, dOut: 8, nIters: 2, batchAxes: 1 });
    const n = 1100; // two parts of 1024 rows, the second nearly empty
    const inputs: Record<string, HostTensor> = {};
    graphInputs(routing.trace({ sizes: { i: n, b0: 3 } })).forEach((node, seed) => {
      inputs[node.name] = randomTensor(node.type.axes.map((a) => a.size as number), 300 + seed);
    });
    const program = T.compileFor(routing, gpu);
    expect(labels(program).filter((l) => l.startsWith('row-block'))).toHaveLength(2);
    // Every workgroup is one (batch index, part): 3 × 2 of them.
    const block = (program.steps as Step[]).find((st) => st.kind === 'dispatch' && st.label.startsWith('row-block'));
    expect(block && block.kind === 'dispatch' ? evalSize(block.workgroups, { i: n, b0: 3 }) : null).toBe(6);
    await expectMatches(gpu, routing, inputs, {}, 2e-4, 2e-5);
  });
});
