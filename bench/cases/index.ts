/**
 * The case registry: every benchmark case, in run order. A later case (attention, routing, ...)
 * plugs in by adding its module's cases here; the harness, CLI, filter and JSON need no change.
 */
import type { Case } from '../harness.ts';
import { attentionCase, type AttentionVariant } from './attention.ts';
import { matmulCase } from './matmul.ts';

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
 * Run counts are sized for lavapipe on 2 CPU cores, where a 512³ matmul takes ~0.1 s and a 1024³
 * one ~1 s per run for the peers (measured): the default bench takes a few minutes, and the
 * `--max-seconds` cap keeps even a slow implementation from pushing it past ten.
 */
export const cases: readonly RegisteredCase[] = [
  register(matmulCase(512, 512, 512, { warmup: 3, runs: 20 })),
  register(matmulCase(1024, 1024, 1024, { warmup: 2, runs: 10 })),
  ...ATTENTION_SIZES.flatMap(([n, counts]) => ATTENTION_VARIANTS.map((variant) => register(attentionCase(n, variant, counts)))),
];
