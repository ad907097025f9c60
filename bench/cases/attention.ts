/**
 * Scaled dot-product attention, `o = softmax(q·kᵀ·scale + mask)·v`, at B = 1, H = 4, D = Dv = 64,
 * N = M ∈ {256, 512, 1024}, in three variants: `full` (no mask), `causal` (kv <= q) and
 * `window64` (causal sliding window: kv <= q and q − kv < 64).
 *
 * This is the case the attention issue is judged by: tessera's library kernel
 * (`kernels/attention.ts`), which the compiler fuses into one flash kernel (online softmax, no
 * N×M buffer, masked tiles skipped analytically), beside what a JS developer writes today with
 * TF.js or jax-js — the composed attention `matMul → scale → mask → softmax → matMul`, which
 * materialises the N×M scores. The composed peers do the full N×M work whatever the mask; the
 * flop counts (below) credit everyone only with the pairs the mask allows, so a kernel that skips
 * masked tiles shows it as a higher GFLOP/s and the peers' wasted work as a lower one.
 */
import type { AttentionConfig } from '../../kernels/attention.ts';
import type { Kernel } from '../../dsl/kernel.ts';
import type { Program } from '../../program/index.ts';
import { hashSeed, randomF32, seededRandom, type Case, type Impl, type Prepared } from '../harness.ts';
import { JAXJS_PEAK_SOURCE, loadJaxjs } from '../peers/jaxjs.ts';
import { TFJS_PEAK_SOURCE, loadTfjs, tfjsPrepared } from '../peers/tfjs.ts';
import { TESSERA_PEAK_SOURCE, loadTessera, runAndRead, expectFlash, startPeakWindow } from '../tessera.ts';

/** Which pairs (query q, key kv) may attend. */
export type AttentionVariant = 'full' | 'causal' | 'window64';

/** The sliding window of the `window64` variant: kv allowed iff kv <= q and q − kv < WINDOW. */
export const WINDOW = 64;

export interface AttentionBenchInputs {
  readonly b: number;
  readonly h: number;
  readonly n: number;
  readonly m: number;
  readonly d: number;
  /** Value head dim (Dv). */
  readonly e: number;
  readonly variant: AttentionVariant;
  /** The usual `1 / sqrt(D)`. */
  readonly scale: number;
  /** Row-major [B, H, N, D]. */
  readonly q: Float32Array;
  /** Row-major [B, H, M, D]. */
  readonly k: Float32Array;
  /** Row-major [B, H, M, Dv]. */
  readonly v: Float32Array;
}

/** Whether query `q` may attend to key `kv` under `variant`: the one definition every part uses. */
export function allowed(variant: AttentionVariant, q: number, kv: number): boolean {
  switch (variant) {
    case 'full':
      return true;
    case 'causal':
      return kv <= q;
    case 'window64':
      return kv <= q && q - kv < WINDOW;
  }
}

/** Number of allowed (q, kv) pairs of one head, counted by the definition rather than a formula. */
export function allowedPairs(variant: AttentionVariant, n: number, m: number): number {
  if (variant === 'full') return n * m;
  let count = 0;
  for (let q = 0; q < n; q++) for (let kv = 0; kv < m; kv++) if (allowed(variant, q, kv)) count++;
  return count;
}

/**
 * The flop count a row's GFLOP/s is based on. Non-causal: the standard 4·B·H·N·M·D (two
 * contractions of 2·N·M·D each per head). Causal: exactly half of it, the convention everyone
 * quotes (FlashAttention's papers, PyTorch's benchmarks), although the diagonal makes the allowed
 * pairs slightly more than half. Sliding window: 4·B·H·D·(allowed pairs), since a "half" has no
 * meaning there; at N = 1024 that is 64·1024 − 2016 pairs per head, about 6% of N·M.
 */
export function attentionFlops(variant: AttentionVariant, b: number, h: number, n: number, m: number, d: number): number {
  const full = 4 * b * h * n * m * d;
  if (variant === 'full') return full;
  if (variant === 'causal') return full / 2;
  return 4 * b * h * d * allowedPairs(variant, n, m);
}

/** Shape constants of the bench: the B = 1, H = 4, D = Dv = 64. */
const B = 1;
const H = 4;
const D = 64;

/** Builds the attention case for one sequence length and variant. */
export function attentionCase(n: number, variant: AttentionVariant, counts: { warmup: number; runs: number }): Case<AttentionBenchInputs> {
  const m = n;
  const name = `attention ${B}x${H}x${n}x${m}x${D} ${variant}`;
  return {
    name,
    flops: attentionFlops(variant, B, H, n, m, D),
    // Every output is a convex combination of v values in [-1, 1), so it is O(1) and f32
    // rounding in the scores, exp and the weighted sum keeps it within ~1e-6 of the float64
    // result (measured: a few 1e-7 for all three implementations). 2e-5 leaves headroom for any
    // summation order, while a dropped or extra key — a wrong tile edge or mask boundary — moves
    // an output by about |v|/(allowed keys), at least 3e-4 even at M = 1024 non-causal.
    tolerance: 2e-5,
    makeInputs: () => {
      // Seeded by the shape, not the variant, so the three variants of a shape see the same data.
      const rand = seededRandom(hashSeed(`attention ${B}x${H}x${n}x${m}x${D}`));
      return {
        b: B,
        h: H,
        n,
        m,
        d: D,
        e: D,
        variant,
        scale: 1 / Math.sqrt(D),
        q: randomF32(B * H * n * D, rand),
        k: randomF32(B * H * m * D, rand),
        v: randomF32(B * H * m * D, rand),
      };
    },
    reference: referenceAttention,
    impls: [tesseraImpl, tfjsImpl, jaxImpl],
    ...counts,
  };
}

/**
 * Float64 reference: per query row, the allowed scores, a max-subtracted softmax and the weighted
 * sum of v rows. Disallowed pairs are skipped outright (not given a large negative score), so the
 * reference does not share the peers' additive-mask formulation.
 */
export function referenceAttention({ b, h, n, m, d, e, variant, scale, q, k, v }: AttentionBenchInputs): Float64Array {
  const o = new Float64Array(b * h * n * e);
  const s = new Float64Array(m);
  const acc = new Float64Array(e);
  for (let bh = 0; bh < b * h; bh++) {
    const qBase = bh * n * d;
    const kBase = bh * m * d;
    const vBase = bh * m * e;
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let j = 0; j < m; j++) {
        if (!allowed(variant, i, j)) continue;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[qBase + i * d + c]! * k[kBase + j * d + c]!;
        s[j] = dot * scale;
        if (s[j]! > max) max = s[j]!;
      }
      acc.fill(0);
      let sum = 0;
      for (let j = 0; j < m; j++) {
        if (!allowed(variant, i, j)) continue;
        const p = Math.exp(s[j]! - max);
        sum += p;
        for (let c = 0; c < e; c++) acc[c]! += p * v[vBase + j * e + c]!;
      }
      const out = (bh * n + i) * e;
      // Every row here has at least its diagonal key allowed, so sum > 0.
      for (let c = 0; c < e; c++) o[out + c] = acc[c]! / sum;
    }
  }
  return o;
}

/** The library kernel's configuration for a variant (window 64 is the causal sliding window). */
function tesseraConfig(variant: AttentionVariant): AttentionConfig {
  switch (variant) {
    case 'full':
      return {};
    case 'causal':
      return { causal: true };
    case 'window64':
      return { causal: true, window: WINDOW };
  }
}

/**
 * One kernel per variant for the whole process, so the second `prepare` of a case (the harness
 * prepares once for the checked warm-up and again for the timed rounds) and the other sequence
 * lengths reuse it; N and M stay symbolic, only the head dims are pinned.
 */
const kernels = new Map<AttentionVariant, Kernel>();

/**
 * `tessera`: `attentionKernel(config)` from `kernels/attention.ts`, traced with the head dims
 * pinned (`d = e = 64`, which the flash kernel sizes its register blocks and tiles by; N and M stay
 * symbolic, so the program's long-axis flash variant runs from N = 256) and compiled for the backend's limits, run with `backend.run` on tensors uploaded
 * once. q is uploaded as `[B, Hkv, G, N, D]` with Hkv = H and G = 1 (`splitHeads`), which is the
 * same memory as `[B, H, N, D]`; `o` comes back as `[B, H, 1, N, Dv]`, likewise the usual layout.
 * Each run reads back `o` only (what the peers return); `lse` is computed by the same dispatch
 * and destroyed unread.
 *
 * The compiler is expected to fuse the whole kernel into one flash dispatch. If the compiled
 * program has none, `prepare` throws, so the row becomes an error instead of quietly measuring
 * an unfused fallback that materialises the N×M scores.
 *
 * `kernels/attention.ts` is imported dynamically for the same reason `tessera.ts` loads the
 * compiler dynamically: if it fails to load, the peers are still measured and the tessera rows
 * carry the error.
 */
const tesseraImpl: Impl<AttentionBenchInputs> = {
  name: 'tessera',
  peakBytesSource: TESSERA_PEAK_SOURCE,
  async prepare({ b, h, n, m, d, e, variant, scale, q, k, v }, { shared }): Promise<Prepared> {
    const { backend, compile } = await loadTessera(shared);
    const lib = (await import('../../kernels/attention.ts')) as typeof import('../../kernels/attention.ts');
    let kernel = kernels.get(variant);
    if (kernel === undefined) kernels.set(variant, (kernel = lib.attentionKernel(tesseraConfig(variant))));
    const program: Program = compile(kernel.trace({ sizes: { d, e } }), { name: kernel.kernelName, limits: backend.limits });
    expectFlash(program);
    startPeakWindow(backend);
    const tq = backend.upload(lib.splitHeads({ shape: [b, h, n, d], data: q }, h));
    const tk = backend.upload({ shape: [b, h, m, d], data: k });
    const tv = backend.upload({ shape: [b, h, m, e], data: v });
    const params = { scale };
    return {
      run: () => runAndRead(backend, program, { q: tq, k: tk, v: tv }, 'o', params),
      peakBytes: () => backend.memory.peakBytes,
      dispose() {
        tq.destroy();
        tk.destroy();
        tv.destroy();
      },
    };
  },
};

/**
 * The additive mask `[N, M]` the peers add to the scores: 0 where allowed, −1e9 elsewhere (finite,
 * as users write it, so a fully masked row could not produce NaN), or null for `full`. Built once
 * per prepare, outside the timed runs, like a user who caches the mask for a sequence length.
 */
function additiveMask(variant: AttentionVariant, n: number, m: number): Float32Array | null {
  if (variant === 'full') return null;
  const mask = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) if (!allowed(variant, i, j)) mask[i * m + j] = -1e9;
  return mask;
}

/**
 * `tfjs`: the composed attention a TF.js user writes, `softmax(matMul(q, k, false, true) · scale
 * + mask) · v` with rank-4 batched matMuls, inside `tf.tidy` so the intermediates (the N×M scores
 * among them) are freed every run.
 */
const tfjsImpl: Impl<AttentionBenchInputs> = {
  name: 'tfjs',
  peakBytesSource: TFJS_PEAK_SOURCE,
  async prepare({ b, h, n, m, d, e, variant, scale, q, k, v }, { shared }): Promise<Prepared> {
    const peer = await loadTfjs(shared);
    const { tf } = peer;
    peer.resetPeak();
    const tq = tf.tensor4d(q, [b, h, n, d], 'float32');
    const tk = tf.tensor4d(k, [b, h, m, d], 'float32');
    const tv = tf.tensor4d(v, [b, h, m, e], 'float32');
    const tScale = tf.scalar(scale, 'float32');
    const maskData = additiveMask(variant, n, m);
    const tMask = maskData === null ? null : tf.tensor2d(maskData, [n, m], 'float32');
    return tfjsPrepared(
      peer,
      () => {
        let s = tf.mul(tf.matMul(tq, tk, false, true), tScale);
        if (tMask !== null) s = tf.add(s, tMask);
        return tf.matMul(tf.softmax(s), tv);
      },
      [tq, tk, tv, tScale, tMask],
    );
  },
};

/**
 * `jaxjs-jit`: the same composition under `jax.jit`: `np.matmul(q, np.matrixTranspose(k))`, times
 * the scale, plus the mask, `nn.softmax` over the last axis, `np.matmul` with v. jax-js arrays are
 * reference-counted and every op consumes its arguments, so each run passes `.ref` of the resident
 * inputs; `data()` consumes the result.
 */
const jaxImpl: Impl<AttentionBenchInputs> = {
  name: 'jaxjs-jit',
  peakBytesSource: JAXJS_PEAK_SOURCE,
  async prepare({ b, h, n, m, d, e, variant, scale, q, k, v }, { shared }): Promise<Prepared> {
    const { jax } = await loadJaxjs(shared);
    const np = jax.numpy;
    type JArray = InstanceType<typeof jax.Array>;
    const scores = (jq: JArray, jk: JArray): JArray => np.multiply(np.matmul(jq, np.matrixTranspose(jk)), scale);
    const onDevice = (data: Float32Array, shape: number[]): JArray => np.array(data, { shape, dtype: np.float32, device: 'webgpu' });
    const jq = onDevice(q, [b, h, n, d]);
    const jk = onDevice(k, [b, h, m, d]);
    const jv = onDevice(v, [b, h, m, e]);
    const maskData = additiveMask(variant, n, m);
    const jmask = maskData === null ? null : onDevice(maskData, [n, m]);
    let run: () => JArray;
    let jitted: { dispose(): void };
    if (jmask === null) {
      const f = jax.jit((x: JArray, y: JArray, z: JArray): JArray => np.matmul(jax.nn.softmax(scores(x, y), -1), z));
      jitted = f;
      run = () => f(jq.ref, jk.ref, jv.ref);
    } else {
      const f = jax.jit((x: JArray, y: JArray, z: JArray, mask: JArray): JArray => np.matmul(jax.nn.softmax(np.add(scores(x, y), mask), -1), z));
      jitted = f;
      run = () => f(jq.ref, jk.ref, jv.ref, jmask.ref);
    }
    return {
      async run() {
        return (await run().data()) as Float32Array;
      },
      peakBytes: () => null,
      dispose() {
        for (const a of [jq, jk, jv, jmask]) a?.dispose();
        jitted.dispose();
      },
    };
  },
};
