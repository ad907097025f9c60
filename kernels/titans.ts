/**
 * Titans' test-time-trained memory (Behrouz et al. 2025) as a chunked scan: per (batch, head) a
 * memory `M` — linear `M(x) = W x`, or an MLP `M(x) = W2 silu(W1 x)` — is fitted while the
 * sequence streams by to the loss `l_t(M) = ‖M(k_t) − v_t‖²`, by gradient descent with momentum
 * and forgetting, and read as `o_t = M_t(q_t)` (golden kind `titans_memory`):
 *
 * ```
 * S_t = η_t S_{t−1} − θ_t ∇_W l_t(weights at the start of t's chunk)     (for each weight W)
 * W_t = (1 − α_t) W_{t−1} + S_t
 * ```
 *
 * Every gradient inside a chunk is taken at the weights the chunk started with, so the chunk's
 * gradients are computed at once (matrix products over the chunk's tokens); the momentum and
 * weight updates then run token by token (a nested scan) from those gradients' factors, never
 * storing a per-token gradient matrix. `chunk = 1` is the plain token-by-token form.
 *
 * The gradients are written in the DSL from their closed forms. Another memory is written the same
 * way: its forward pass over the chunk at the chunk-start weights, its loss's gradient factors per
 * token (for a weight used as `W x`, the gradient is an outer product `δ xᵀ`: keep δ and x), and
 * the updates in the inner scan, as `titansMemoryKernel` does below.
 */
import { add, contract, expand, mul, sigmoid, sub, sum, transpose } from '../dsl/ops.ts';
import { scan } from '../dsl/scan.ts';
import { f32, kernel, type Kernel, type Spec } from '../dsl/kernel.ts';
import type { Axes, Tensor } from '../dsl/tensor.ts';
import { TesseraError } from '../dsl/types.ts';

export interface TitansMemoryConfig {
  readonly memory: 'linear' | 'mlp';
  /** Tokens per chunk: every gradient in a chunk is taken at the chunk's starting weights. */
  readonly chunk: number;
}

/** An f32 tensor whose axes the code tracks by name only. */
type F = Tensor<Axes, 'f32'>;

/** silu(z) = z·σ(z). */
const silu = (z: F): F => mul(z, sigmoid(z));

/** silu'(z) = σ(z)·(1 + z·(1 − σ(z))). */
const siluGrad = (z: F): F => {
  const s = sigmoid(z);
  return mul(s, add(mul(z, sub(1, s)), 1));
};

/** A per-head weight `[h, ...]` broadcast over the batch and laid out `[b, h, ...]`. */
function perBatch(w: F, like: F, rest: readonly string[]): F {
  const b = like.type.axes.find((a) => a.name === 'b')!;
  return transpose(expand(w, [{ name: 'b', size: b.size }]), ['b', 'h', ...rest]) as F;
}

/** One momentum-and-forgetting step of weight `w` with momentum `s` and gradient `grad`. */
function step(w: F, s: F, grad: F, eta: F, theta: F, alpha: F, order: readonly string[]): { w: F; s: F } {
  const sNext = transpose(sub(mul(s, eta), mul(grad, theta)), order) as F;
  return { s: sNext, w: transpose(add(mul(w, sub(1, alpha)), sNext), order) as F };
}

/**
 * Inputs `q, k [b, h, t, d]`, `v [b, h, t, e]`, `theta, eta, alpha [b, h, t]` and the initial
 * weights per head — `w0 [h, e, d]` (linear), or `w1 [h, f, d]`, `w2 [h, e, f]` (mlp, f hidden
 * units); outputs `o [b, h, t, e]` and the final weights `w_final [b, h, e, d]` (or `w1_final`,
 * `w2_final`).
 */
export function titansMemoryKernel(config: TitansMemoryConfig): Kernel {
  if (config.memory !== 'linear' && config.memory !== 'mlp') throw new TesseraError(`titansMemory: memory must be 'linear' or 'mlp', got '${String(config.memory)}'`);
  if (!Number.isInteger(config.chunk) || config.chunk < 1) throw new TesseraError(`titansMemory: chunk must be a whole number >= 1, got ${config.chunk}`);
  const mlp = config.memory === 'mlp';
  const specs: Record<string, Spec> = {
    q: f32('b', 'h', 't', 'd'),
    k: f32('b', 'h', 't', 'd'),
    v: f32('b', 'h', 't', 'e'),
    theta: f32('b', 'h', 't'),
    eta: f32('b', 'h', 't'),
    alpha: f32('b', 'h', 't'),
    ...(mlp ? { w1: f32('h', 'f', 'd'), w2: f32('h', 'e', 'f') } : { w0: f32('h', 'e', 'd') }),
  };
  return kernel(`titans_memory_${config.memory}`, specs, (inputs): Record<string, F> => {
    const [q, k, v] = [inputs['q'] as F, inputs['k'] as F, inputs['v'] as F];
    const xs = { q, k, v, theta: inputs['theta'] as F, eta: inputs['eta'] as F, alpha: inputs['alpha'] as F };
    const gates = (c: Record<string, F>) => ({ theta: c['theta']!, eta: c['eta']!, alpha: c['alpha']!, q: c['q']! });
    /** A one-token chunk's gate as a value per (b, h). */
    const one = (x: Record<string, F>, name: string): F => sum(x[name]!, 't');
    if (!mlp) {
      const w0 = perBatch(inputs['w0'] as F, q, ['e', 'd']);
      const order = ['b', 'h', 'e', 'd'];
      const { carry, ys } = scan({ axis: 't', chunk: config.chunk, xs, init: { W: w0, S: mul(w0, 0) } }, (c, { W, S }) => {
        // ∇_W l_t = 2 (W k_t − v_t) k_tᵀ at the chunk's starting W: keep the factor r_t = 2 (W k_t − v_t).
        const r = mul(sub(contract([W!, c['k']!], ['b', 'h', 't', 'e']), c['v']!), 2);
        const inner = scan({ axis: 't', xs: { r, k: c['k']!, ...gates(c) }, init: { W: W!, S: S! } }, (x, m) => {
          const grad = contract([x['r']!, x['k']!], ['b', 'h', 'e', 'd']);
          const next = step(m['W']!, m['S']!, grad, one(x, 'eta'), one(x, 'theta'), one(x, 'alpha'), order);
          return { carry: { W: next.w, S: next.s }, ys: { o: contract([next.w, x['q']!], ['b', 'h', 't', 'e']) } };
        });
        return { carry: inner.carry, ys: { o: inner.ys['o']! } };
      });
      return { o: ys['o']!, w_final: carry['W']! };
    }
    const w1 = perBatch(inputs['w1'] as F, q, ['f', 'd']);
    const w2 = perBatch(inputs['w2'] as F, q, ['e', 'f']);
    const [order1, order2] = [['b', 'h', 'f', 'd'], ['b', 'h', 'e', 'f']];
    const { carry, ys } = scan({ axis: 't', chunk: config.chunk, xs, init: { W1: w1, W2: w2, S1: mul(w1, 0), S2: mul(w2, 0) } }, (c, m0) => {
      // Forward pass at the chunk's starting weights, then the gradient factors per token:
      // ∇W2 = r hᵀ with r = 2 (y − v); ∇W1 = δ kᵀ with δ = (W2ᵀ r) ⊙ silu'(z).
      const z = contract([m0['W1']!, c['k']!], ['b', 'h', 't', 'f']);
      const h = silu(z);
      const r = mul(sub(contract([m0['W2']!, h], ['b', 'h', 't', 'e']), c['v']!), 2);
      const delta = mul(contract([m0['W2']!, r], ['b', 'h', 't', 'f']), siluGrad(z));
      const inner = scan({ axis: 't', xs: { r, h, delta, k: c['k']!, ...gates(c) }, init: m0 }, (x, m) => {
        const second = step(m['W2']!, m['S2']!, contract([x['r']!, x['h']!], ['b', 'h', 'e', 'f']), one(x, 'eta'), one(x, 'theta'), one(x, 'alpha'), order2);
        const first = step(m['W1']!, m['S1']!, contract([x['delta']!, x['k']!], ['b', 'h', 'f', 'd']), one(x, 'eta'), one(x, 'theta'), one(x, 'alpha'), order1);
        const read = contract([second.w, silu(contract([first.w, x['q']!], ['b', 'h', 't', 'f']))], ['b', 'h', 't', 'e']);
        return { carry: { W1: first.w, W2: second.w, S1: first.s, S2: second.s }, ys: { o: read } };
      });
      return { carry: inner.carry, ys: { o: inner.ys['o']! } };
    });
    return { o: ys['o']!, w1_final: carry['W1']!, w2_final: carry['W2']! };
  });
}
