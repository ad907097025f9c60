/**
 * The README's authoring example: a small attention kernel written in the DSL. Imported by
 * `test/readme-example.test.ts`, so the example in the README always runs.
 */
import { einsum, f32, kernel, param, mul, softmax } from '../index.ts';

/** softmax(scale · q kᵀ) v over named axes: q [n, d], k [m, d], v [m, e]. */
export const attention = kernel(
  'attention',
  { q: f32('n', 'd'), k: f32('m', 'd'), v: f32('m', 'e'), scale: param() },
  ({ q, k, v, scale }) => {
    const scores = mul(einsum('nd,md->nm', q, k), scale); // Tensor<['n', 'm'], 'f32'>
    const weights = softmax(scores, 'm'); // normalise over keys
    return { o: einsum('nm,me->ne', weights, v) };
  },
);
