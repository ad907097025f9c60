/**
 * The browser example's kernels and inputs, shared with its test (`test/browser.test.ts`), which
 * runs the same kernels on the interpreter: attention that also returns its weights (the map the
 * page draws), and EfficientVectorRouting returning its credit assignments.
 */
import { einsum, f32, kernel, mul, softmax } from '../../index.ts';
import { efficientVectorRoutingKernel } from '../../kernels/index.ts';
import type { HostTensor } from '../../index.ts';
import { seededRandom as seeded } from '../../bench/random.ts';

export const N = 12;
export const M = 16;
export const D = 8;

/** softmax(q kᵀ / √d) v, and the weights themselves. */
export const attentionWithMap = kernel('attention', { q: f32('n', 'd'), k: f32('m', 'd'), v: f32('m', 'e') }, ({ q, k, v }) => {
  const w = softmax(mul(einsum('nd,md->nm', q, k), 1 / Math.sqrt(D)), 'm');
  return { o: einsum('nm,me->ne', w, v), w };
});

/** 20 inputs routed to 4 outputs of size 8, 2 iterations; phi [20, 4] comes back too. */
export const routing = efficientVectorRoutingKernel({ nInp: -1, nOut: 4, dInp: 8, dOut: 8, nIters: 2, outputs: ['phi'] });

function tensor(shape: number[], rand: () => number, scale = 1): HostTensor {
  return { shape, data: Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => (rand() * 2 - 1) * scale) };
}

export function attentionInputs(): Record<string, HostTensor> {
  const rand = seeded(7);
  return { q: tensor([N, D], rand, 2), k: tensor([M, D], rand, 2), v: tensor([M, D], rand) };
}

export function routingInputs(): Record<string, HostTensor> {
  const rand = seeded(11);
  const w = (shape: number[]) => tensor(shape, rand, 0.5);
  return {
    x_inp: tensor([20, 8], rand),
    W_A: w([1, 8]), B_A: w([1]), W_S: w([1, 4]), B_S: w([1, 4]),
    W_F1: w([4, 8]), W_F2: w([8, 8]), B_F2: w([4, 8]),
    W_G1: w([8, 8]), W_G2: w([4, 8]), B_G2: w([4, 8]),
    W_beta_use: w([4, 8]), B_beta_use: w([4]), W_beta_ign: w([4, 8]), B_beta_ign: w([4]),
  };
}
