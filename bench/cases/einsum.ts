/**
 * n-ary einsums where the order (or fusion) of the contraction decides the cost:
 *
 * - `einsum chain`: `ab,bc,cd,de->ae` with a = b = d = e = 256 and a small middle c = 8. The
 *   cheapest order contracts through c first (3 steps of 2·256·8·256 flops); the written order
 *   ends in a 256 × 256 × 256 product, 32× more work. Flop count: the optimal path's,
 *   3 · 2·256·256·8 = 3.1 MFLOP.
 * - `einsum trilinear`: `bhik,bhjk,bhlk->bhijl` (B = 1, H = 4, N = 32, K = 64), 2-simplicial
 *   attention's logits. Flop count: 2·B·H·N³·K = 16.8 MFLOP (a multiply-add per term of the
 *   trilinear product, whatever the order).
 *
 * Implementations: tessera's `einsumKernel` with the default cost-based plan (symbolic sizes, and
 * pinned), and with the written (left-to-right) order forced, for the price of ignoring the order; TF.js composed from binary
 * `tf.einsum` calls in the written order (its einsum takes at most two operands); jax-js `np.einsum`
 * under `jit`. The float64 reference contracts pairwise in the optimal order with plain loops.
 */
import { einsumKernel } from '../../kernels/index.ts';
import { hashSeed, randomF32, seededRandom, type Case, type Impl, type Prepared } from '../harness.ts';
import { JAXJS_PEAK_SOURCE, loadJaxjs } from '../peers/jaxjs.ts';
import { TFJS_PEAK_SOURCE, loadTfjs, tfjsPrepared } from '../peers/tfjs.ts';
import { TESSERA_PEAK_SOURCE, loadTessera, runAndRead, startPeakWindow } from '../tessera.ts';

export interface EinsumInputs {
  readonly spec: string;
  readonly shapes: readonly (readonly number[])[];
  readonly data: readonly Float32Array[];
}

/** Sizes of each letter from the operand terms and shapes. */
function letterSizes(spec: string, shapes: readonly (readonly number[])[]): Map<string, number> {
  const terms = spec.split('->')[0]!.split(',');
  const sizes = new Map<string, number>();
  terms.forEach((t, k) => [...t].forEach((l, i) => sizes.set(l, shapes[k]![i]!)));
  return sizes;
}

/** A · B over letter terms (no repeated letter within a term), keeping `out`'s letters, in float64. */
function pairwise(a: { term: string; data: Float64Array }, b: { term: string; data: Float64Array }, out: string, sizes: Map<string, number>): Float64Array {
  const letters = [...new Set([...a.term, ...b.term])];
  const extent = letters.map((l) => sizes.get(l)!);
  const strides = (term: string) => letters.map((l) => {
    const at = term.indexOf(l);
    if (at < 0) return 0;
    let s = 1;
    for (const r of term.slice(at + 1)) s *= sizes.get(r)!;
    return s;
  });
  const [sa, sb, so] = [strides(a.term), strides(b.term), strides(out)];
  const result = new Float64Array([...out].reduce((n, l) => n * sizes.get(l)!, 1));
  const idx = new Array<number>(letters.length).fill(0);
  const total = extent.reduce((x, y) => x * y, 1);
  for (let flat = 0; flat < total; flat++) {
    let ia = 0;
    let ib = 0;
    let io = 0;
    for (let d = 0; d < letters.length; d++) {
      ia += idx[d]! * sa[d]!;
      ib += idx[d]! * sb[d]!;
      io += idx[d]! * so[d]!;
    }
    result[io]! += a.data[ia]! * b.data[ib]!;
    for (let d = letters.length - 1; d >= 0; d--) {
      if (++idx[d]! < extent[d]!) break;
      idx[d] = 0;
    }
  }
  return result;
}

/** Float64 reference by a given pairwise order: `steps` as [term, term, result term] triples. */
function referenceBy(steps: readonly (readonly [string, string, string])[]) {
  return ({ spec, shapes, data }: EinsumInputs): Float64Array => {
    const sizes = letterSizes(spec, shapes);
    const terms = spec.split('->')[0]!.split(',');
    const held = new Map<string, Float64Array>(terms.map((t, k) => [t, Float64Array.from(data[k]!)]));
    let last: Float64Array = new Float64Array();
    for (const [x, y, r] of steps) {
      last = pairwise({ term: x, data: held.get(x)! }, { term: y, data: held.get(y)! }, r, sizes);
      held.set(r, last);
    }
    return last;
  };
}

/** One einsum case: spec, shapes, the case's flop count, the reference order and tolerance. */
export function einsumCase(name: string, spec: string, shapes: readonly (readonly number[])[], flops: number, referenceSteps: readonly (readonly [string, string, string])[], tolerance: number, counts: { warmup: number; runs: number }): Case<EinsumInputs> {
  return {
    name,
    flops,
    tolerance,
    makeInputs: () => {
      const rand = seededRandom(hashSeed(name));
      return { spec, shapes, data: shapes.map((s) => randomF32(s.reduce((a, b) => a * b, 1), rand)) };
    },
    reference: referenceBy(referenceSteps),
    impls: [tesseraImpl('tessera', null), tesseraImpl('tessera-pinned', null, true), tesseraImpl('tessera-left-to-right', 'left-to-right'), tfjsImpl, jaxImpl],
    ...counts,
  };
}

/** The chain and the trilinear logits (see the file comment). */
export function einsumCases(): Case<EinsumInputs>[] {
  const n = 256;
  const c = 8;
  return [
    einsumCase('einsum chain ab,bc,cd,de->ae 256/8', 'ab,bc,cd,de->ae', [[n, n], [n, c], [c, n], [n, n]], 3 * 2 * n * n * c, [['ab', 'bc', 'ac'], ['cd', 'de', 'ce'], ['ac', 'ce', 'ae']], n * 2 ** -23 * 64 * 8, { warmup: 2, runs: 10 }),
    einsumCase('einsum trilinear bhik,bhjk,bhlk->bhijl 1x4x32x64', 'bhik,bhjk,bhlk->bhijl', [[1, 4, 32, 64], [1, 4, 32, 64], [1, 4, 32, 64]], 2 * 4 * 32 ** 3 * 64, [['bhik', 'bhjk', 'bhijk'], ['bhijk', 'bhlk', 'bhijl']], 64 * 2 ** -23 * 16, { warmup: 2, runs: 10 }),
  ];
}

/**
 * `tessera`: one Program with symbolic sizes (the default a user gets); `tessera-pinned`: the
 * letters' sizes pinned, so the planner knows them (it may then fuse a contraction whose sums are
 * short); `tessera-left-to-right`: the written order forced.
 */
const tesseraImpl = (name: string, path: 'left-to-right' | null, pinned = false): Impl<EinsumInputs> => ({
  name,
  peakBytesSource: TESSERA_PEAK_SOURCE,
  async prepare({ spec, shapes, data }, { shared }): Promise<Prepared> {
    const { backend, compile } = await loadTessera(shared);
    startPeakWindow(backend);
    const k = einsumKernel(spec, shapes.map((s) => s.length));
    const graph = k.trace(pinned ? { sizes: Object.fromEntries(letterSizes(spec, shapes)) } : {});
    const program = compile(graph, { name: 'einsum', limits: backend.limits, ...(path ? { contractionPath: path } : {}) });
    const tensors = Object.fromEntries(shapes.map((s, j) => [`x${j}`, backend.upload({ shape: [...s], data: data[j]! })]));
    return {
      run: () => runAndRead(backend, program, tensors, 'out'),
      peakBytes: () => backend.memory.peakBytes,
      dispose() {
        for (const t of Object.values(tensors)) t.destroy();
      },
    };
  },
});

/** TF.js: binary `tf.einsum` calls in the written order (it takes at most two operands). */
const tfjsImpl: Impl<EinsumInputs> = {
  name: 'tfjs',
  peakBytesSource: TFJS_PEAK_SOURCE,
  async prepare({ spec, shapes, data }, { shared }): Promise<Prepared> {
    const peer = await loadTfjs(shared);
    const { tf } = peer;
    peer.resetPeak();
    const [lhs, out] = spec.split('->') as [string, string];
    const terms = lhs.split(',');
    const ts = shapes.map((s, k) => tf.tensor(data[k]!, [...s], 'float32'));
    // Each step keeps the letters the output or a later operand needs.
    const plan = terms.slice(1).map((t, k) => ({ t, later: new Set([...out, ...terms.slice(k + 2).join('')]) }));
    return tfjsPrepared(
      peer,
      () => {
        let acc = ts[0]!;
        let accTerm = terms[0]!;
        plan.forEach(({ t, later }, k) => {
          const keep = [...new Set([...accTerm, ...t])].filter((l) => later.has(l)).join('');
          acc = tf.einsum(`${accTerm},${t}->${keep}`, acc, ts[k + 1]!);
          accTerm = keep;
        });
        return accTerm === out ? acc : tf.einsum(`${accTerm}->${out}`, acc);
      },
      ts,
    );
  },
};

/** jax-js: `np.einsum` of every operand at once under `jit`. */
const jaxImpl: Impl<EinsumInputs> = {
  name: 'jaxjs-jit',
  peakBytesSource: JAXJS_PEAK_SOURCE,
  async prepare({ spec, shapes, data }, { shared }): Promise<Prepared> {
    const { jax } = await loadJaxjs(shared);
    const np = jax.numpy;
    type JArray = InstanceType<typeof jax.Array>;
    const fn = jax.jit((...xs: JArray[]) => np.einsum(spec, ...xs));
    const xs = shapes.map((s, k) => np.array(data[k]!, { shape: [...s], dtype: np.float32, device: 'webgpu' }));
    return {
      async run() {
        const out = fn(...xs.map((x) => x.ref));
        return (await out.data()) as Float32Array;
      },
      peakBytes: () => null,
      dispose() {
        for (const x of xs) x.dispose();
        fn.dispose();
      },
    };
  },
};
