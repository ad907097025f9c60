/**
 * Linear attention written with `scan`, one chunk of 64 tokens at a time (the README's example;
 * `kernels/linear-attention.ts` is the full version, with gates and the delta rule): the state
 * `S [e, d]` is carried between chunks; inside a chunk the output is the state's contribution
 * plus the causal part of the chunk itself. `test/scan.test.ts` runs it against the token-by-token
 * definition.
 */
import { add, contract, f32, iota, kernel, le, mul, param, rename, scan, where } from '../index.ts';

export const linearAttention = kernel(
  'linear_attention',
  { q: f32('t', 'd'), k: f32('t', 'd'), v: f32('t', 'e'), s0: f32('e', 'd'), scale: param() },
  ({ q, k, v, s0, scale }) => {
    const { carry, ys } = scan({ axis: 't', chunk: 64, xs: { q, k, v }, init: { S: s0 } }, (c, { S }) => {
      const ks = rename(c.k, { t: 's' });
      const causal = where(le(iota(ks, 's'), iota(c.q, 't')), contract([c.q, ks], ['t', 's']), 0);
      const o = mul(add(contract([c.q, S], ['t', 'e']), contract([causal, rename(c.v, { t: 's' })], ['t', 'e'])), scale);
      return { carry: { S: add(S, contract([c.v, c.k], ['e', 'd'])) }, ys: { o } };
    });
    return { o: ys.o, s: carry.S };
  },
);
