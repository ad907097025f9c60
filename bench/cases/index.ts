/**
 * The case registry: every benchmark case, in run order. A later case (attention, routing, ...)
 * plugs in by adding its module's cases here; the harness, CLI, filter and JSON need no change.
 */
import type { Case } from '../harness.ts';
import { attentionCase, type AttentionVariant } from './attention.ts';
import { einsumCases } from './einsum.ts';
import { graphCase, type GraphKind } from './graph.ts';
import { matmulCase } from './matmul.ts';
import { flashCausalCase, recurrentCase } from './recurrent.ts';
import { routingCase } from './routing.ts';
import { simplicialCase } from './simplicial.ts';

/**
 * A case with its input type hidden, so cases with different inputs share one list. `Case<I>` is
 * invariant in `I` (inputs flow in and out), hence the wrapper rather than a union.
 */
export interface RegisteredCase {
  readonly name: string;
  use<R>(body: <I>(c: Case<I>) => R): R;
}

function register<I>(c: Case<I>): RegisteredCase {
  return { name: c.name, use: (body) => body(c) };
}

/**
 * Attention at N = M = 256, 512, 1024, each in the three variants (size-major, so a shape's rows
 * sit together in the table). On lavapipe with 2 cores a 1024 run takes ~0.3–2 s per
 * implementation on a quiet machine (the unfused peers and the non-causal flash kernel being the
 * slow ones), so the big shapes get fewer runs and the whole attention set stays within a few
 * minutes; `--runs` / `--warmup` still override.
 */
const ATTENTION_SIZES: readonly (readonly [number, { warmup: number; runs: number }])[] = [
  [256, { warmup: 2, runs: 15 }],
  [512, { warmup: 2, runs: 10 }],
  [1024, { warmup: 1, runs: 7 }],
];
const ATTENTION_VARIANTS: readonly AttentionVariant[] = ['full', 'causal', 'window64'];

/**
 * EfficientVectorRouting (n_out = 16, d_inp = d_out = 64, 2 iterations) at n_inp = 4096 and
 * 65,536 with the peers, and at 1,048,576 (256 MiB of input) for tessera alone. Measured on
 * lavapipe with 2 busy cores: a 4096 run takes 30–150 ms, a 65,536 run 0.5–2.3 s depending on the
 * implementation and the load, and the 1M row's float64 reference ~18 s (its runs, once tessera
 * can bind the input, an estimated ~20 s each), so the large rows get few runs; `--max-seconds`
 * still caps a slow implementation.
 */
const ROUTING_CASES = [
  routingCase(4096, { warmup: 2, runs: 10 }),
  routingCase(65536, { warmup: 1, runs: 5 }),
  routingCase(1048576, { warmup: 1, runs: 3, tesseraOnly: true }),
];

/**
 * Recurrent attention (`--filter recurrent`), gla and gated_delta at T = 1024 and 8192, each
 * followed by tessera's causal flash attention at the same T (its own case: another function,
 * another reference). On lavapipe (2 cores) the slowest run of a T = 8192 case is a peer's: ~2.5 s
 * (TF.js) and ~4 s (jax-js) for gated_delta, ~7 s for flash (whose float64 reference alone takes
 * ~40 s), so T = 8192 gets 3 runs; the whole family took about 2½ minutes (17:14 UTC, 2 Dec)
 * with 5 runs at T = 1024. T = 1024 now gets 15: its runs are short (30–300 ms for gla) and the
 * shared 2-core machine has bursts of load that, in a median of 5, once moved tessera's gla row
 * from ~62 to 87 ms; a median of 15 rounds (each round times every implementation once, so a
 * burst lands on all of them) is steadier, for ~40 s more.
 */
const RECURRENT_CASES: readonly RegisteredCase[] = [1024, 8192].flatMap((t) => {
  const counts = t <= 1024 ? { warmup: 2, runs: 15 } : { warmup: 1, runs: 3 };
  return [register(recurrentCase('gla', t, counts)), register(recurrentCase('gated_delta', t, counts)), register(flashCausalCase(t, counts))];
});

/**
 * CSR graph attention (`--filter graph`), N = M = 16,384 nodes, H = 4, D = Dv = 64, E = 16·N edges,
 * on a uniform and a power-law graph, and E = 64·N on a uniform one. On lavapipe (2 cores) a CSR
 * kernel run takes 1–4 s, a TF.js run (gathers and atomic segment sums, head by head) 11–22 s,
 * so the cases get warm-up 1 and 3 runs; the dense masked flash run (all 16,384² scores per head,
 * 30–80 s) caps itself at 1 warm-up and 2 timed runs (`maxWarmup` / `maxRuns` in
 * `cases/graph.ts`). The family takes 11–15 minutes.
 */
const GRAPH_KINDS: readonly GraphKind[] = ['uniform', 'power-law'];
const GRAPH_CASES: readonly RegisteredCase[] = [
  ...GRAPH_KINDS.map((kind) => register(graphCase(kind, 16384, { warmup: 1, runs: 3 }))),
  // Average degree 64: the CSR kernel against dense masked attention only (the bound).
  register(graphCase('uniform', 16384, { warmup: 1, runs: 3 }, 64, false)),
];

/**
 * Run counts are sized for lavapipe on 2 CPU cores, where a 512³ matmul takes ~0.1 s and a 1024³
 * one ~1 s per run for the peers (measured): the default bench takes a few minutes, and the
 * `--max-seconds` cap keeps even a slow implementation from pushing it past ten.
 */
export const cases: readonly RegisteredCase[] = [
  register(matmulCase(512, 512, 512, { warmup: 3, runs: 20 })),
  register(matmulCase(1024, 1024, 1024, { warmup: 2, runs: 10 })),
  ...ATTENTION_SIZES.flatMap(([n, counts]) => ATTENTION_VARIANTS.map((variant) => register(attentionCase(n, variant, counts)))),
  ...ROUTING_CASES.map(register),
  ...einsumCases().map(register),
  // 2-simplicial attention, D = 64: fused at N = 512 with three windows (peak memory independent of
  // them), composed beside it at w = 32 (N = 512: its 512 MiB of logits cannot be bound; N = 256).
  register(simplicialCase(256, 64, 32, true, { warmup: 1, runs: 3 })),
  register(simplicialCase(512, 64, 8, false, { warmup: 1, runs: 5 })),
  register(simplicialCase(512, 64, 32, true, { warmup: 1, runs: 5 })),
  register(simplicialCase(512, 64, 128, false, { warmup: 1, runs: 3 })),
  ...RECURRENT_CASES,
  ...GRAPH_CASES,
];
