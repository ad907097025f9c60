/**
 * Modern Hopfield retrieval (Ramsauer et al., "Hopfield Networks is All You Need"): the state
 * `xi [b, h, n, d]` is updated `steps` times by `xi ← softmax_m(β_h · xi·kᵀ) · k` towards the
 * stored patterns `k [b, h, m, d]`, then read out with values `v [b, h, m, e]` as
 * `o = softmax_m(β_h · xi·kᵀ) · v`. Golden kind `hopfield` (`test/golden/README.md`).
 *
 * Each update is attention with the values aliased to the keys, and the read-out is attention, so
 * both are written in the attention shape of `attention.ts` — contract, elementwise score
 * modifier, softmax over `m`, contract — which the compiler's fusion pass turns into flash kernels
 * (once for the loop body, once for the read-out). The inverse temperature β is a per-head tensor
 * captured by the loop body and multiplied into the scores in place of a scalar scale.
 */
import { contract, loop, mul, softmax } from '../dsl/ops.ts';
import { f32, kernel, type Kernel } from '../dsl/kernel.ts';
import type { Axes, Tensor } from '../dsl/tensor.ts';
import { TesseraError } from '../dsl/types.ts';

type State = Tensor<readonly ['b', 'h', 'n', 'd'], 'f32'>;

/**
 * `softmax_m(β_h · state·kᵀ) · values` over named axes, with the result axes `out`: one attention
 * step in the shape the fuser recognises.
 */
function retrieve<const O extends Axes>(
  state: State,
  k: Tensor<readonly ['b', 'h', 'm', 'd'], 'f32'>,
  beta: Tensor<readonly ['h'], 'f32'>,
  values: Tensor<readonly ['b', 'h', 'm', string], 'f32'>,
  out: O,
): Tensor<O, 'f32'> {
  const scores = mul(contract([state, k], ['b', 'h', 'n', 'm'] as const), beta);
  return contract([softmax(scores, 'm'), values], out);
}

/**
 * The Hopfield kernel for a fixed number of update steps (0 reads out the initial state).
 * Inputs `xi: f32[b, h, n, d]`, `k: f32[b, h, m, d]`, `v: f32[b, h, m, e]`, `beta: f32[h]`;
 * outputs `xi_final: f32[b, h, n, d]` and `o: f32[b, h, n, e]`.
 */
export function hopfieldKernel(steps: number): Kernel {
  if (!(Number.isInteger(steps) && steps >= 0)) throw new TesseraError(`hopfield: steps must be a whole number >= 0, got ${steps}`);
  return kernel(
    `hopfield(steps=${steps})`,
    { xi: f32('b', 'h', 'n', 'd'), k: f32('b', 'h', 'm', 'd'), v: f32('b', 'h', 'm', 'e'), beta: f32('h') },
    ({ xi, k, v, beta }) => {
      const [xiFinal] = loop(steps, [xi], (state) => [retrieve(state, k, beta, k, ['b', 'h', 'n', 'd'] as const)] as const);
      return { xi_final: xiFinal, o: retrieve(xiFinal, k, beta, v, ['b', 'h', 'n', 'e'] as const) };
    },
  );
}
