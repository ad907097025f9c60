/**
 * The interpreter against the independent oracle: every einsum golden case (numpy, float64) is
 * reproduced by interpreting the library's einsum kernel, exactly in f64 mode up to summation
 * order, and within float32 rounding in f32 mode; every routing golden case (the reference PyTorch
 * implementation, float64) within float32 rounding in f32 mode (`routing.test.ts` holds them to
 * float64 accuracy in f64 mode, and runs them on WebGPU). The einsum cases run on WebGPU here too,
 * so with the kinds' own suites (attention, hopfield, simplicial, graph, scan, routing) every
 * golden file is checked on WebGPU by `npm test`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interpretKernel, type Precision } from '../interpreter/interpret.ts';
import { einsumKernel } from '../kernels/einsum.ts';
import { prepareGolden } from './golden/cases.ts';
import { compareToGolden, loadGolden, type Tolerance } from './golden/load.ts';
import { GOLDEN_DIR, goldenFilesMatching, expectGoldenFile } from './golden/expect.ts';
import { describeGPU } from './gpu.ts';

const einsumFiles = goldenFilesMatching(/^einsum_/);

const TOLERANCE: Record<Precision, Tolerance> = {
  f64: { rtol: 1e-9, atol: 1e-12 },
  f32: { rtol: 1e-4, atol: 1e-5 },
};

describe('einsum golden cases', () => {
  it('finds the copied golden files', () => {
    expect(einsumFiles.length).toBe(14);
  });

  for (const file of einsumFiles) {
    for (const precision of ['f64', 'f32'] as const) {
      it(`${file} (${precision})`, () => {
        const golden = loadGolden(join(GOLDEN_DIR, file));
        expect(golden.kind).toBe('einsum');
        const spec = golden.config['spec'];
        expect(typeof spec).toBe('string');
        const names = Object.keys(golden.inputs);
        expect(names).toEqual(names.map((_, i) => `x${i}`));
        const k = einsumKernel(spec as string, names.map((name) => golden.inputs[name]!.shape.length));

        const result = interpretKernel(k, golden.inputs, { precision });

        expect(Object.keys(result)).toEqual(['out']);
        const out = result['out']!;
        expect(out.data).toBeInstanceOf(precision === 'f64' ? Float64Array : Float32Array);
        const comparison = compareToGolden(out, golden.outputs['out']!, TOLERANCE[precision]);
        expect(comparison.detail).toBe(`within rtol ${TOLERANCE[precision].rtol}, atol ${TOLERANCE[precision].atol}`);
        expect(comparison.ok).toBe(true);
      });
    }
  }
});

const routingFiles = goldenFilesMatching(/^(efficient_vector|generative_matrix)_routing_\d+\.json$/);

describe('routing golden cases in f32 mode', () => {
  it('finds the copied golden files', () => {
    expect(routingFiles.length).toBe(7);
  });

  for (const file of routingFiles) {
    it(file, () => {
      const golden = loadGolden(join(GOLDEN_DIR, file));
      expect(['EfficientVectorRouting', 'GenerativeMatrixRouting']).toContain(golden.kind);
      const prepared = prepareGolden(golden)!;
      const result = interpretKernel(prepared.kernel, prepared.inputs, { precision: 'f32' });
      for (const [name, expected] of Object.entries(golden.outputs)) {
        const out = result[prepared.outputs[name]!]!;
        expect(out.data, name).toBeInstanceOf(Float32Array);
        expect(compareToGolden(out, expected, TOLERANCE.f32).detail, name).toBe(`within rtol ${TOLERANCE.f32.rtol}, atol ${TOLERANCE.f32.atol}`);
      }
    });
  }
});

describe('compareToGolden', () => {
  const expected = { shape: [3], data: new Float64Array([1, -2, 0]) };
  const tolerance = { rtol: 1e-3, atol: 1e-6 };

  it('accepts values within atol + rtol * |expected| and reports the largest errors', () => {
    const c = compareToGolden({ shape: [3], data: [1.0005, -2.001, 5e-7] }, expected, tolerance);
    expect(c.ok).toBe(true);
    expect(c.maxAbs).toBeCloseTo(0.001, 12);
    expect(c.maxRel).toBeCloseTo(0.0005, 12);
  });

  it('rejects the worst element beyond tolerance and names it', () => {
    const c = compareToGolden({ shape: [3], data: [1, -2.01, 0] }, expected, tolerance);
    expect(c.ok).toBe(false);
    expect(c.detail).toBe('element 1: got -2.01, expected -2 (rtol 0.001, atol 0.000001)');
  });

  it('rejects a shape mismatch, NaN against a number, and a finite value against an infinity', () => {
    expect(compareToGolden({ shape: [1, 3], data: [1, -2, 0] }, expected, tolerance)).toEqual({
      maxAbs: Infinity,
      maxRel: Infinity,
      ok: false,
      detail: 'shape [1, 3] (3 values) but expected [3] (3 values)',
    });
    expect(compareToGolden({ shape: [3], data: [NaN, -2, 0] }, expected, tolerance).ok).toBe(false);
    const infinite = { shape: [1], data: [-Infinity] };
    expect(compareToGolden({ shape: [1], data: [-1e300] }, infinite, tolerance).ok).toBe(false);
    expect(compareToGolden({ shape: [1], data: [-Infinity] }, infinite, tolerance).ok).toBe(true);
  });
});

describe('loadGolden', () => {
  it('decodes i32 tensors as Int32Array and boolean masks as Uint8Array', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-golden-'));
    const path = join(dir, 'case.json');
    writeFileSync(
      path,
      JSON.stringify({
        kind: 'test',
        config: { n: 2 },
        params: { w: { shape: [2], data: [0.5, -1] } },
        inputs: { doc: { shape: [2], data: [3, -4], dtype: 'i32' }, mask: { shape: [1, 2], data: [true, false] } },
        outputs: { o: { shape: [2], data: [1.5, 2] } },
      }),
    );
    const golden = loadGolden(path);
    rmSync(dir, { recursive: true });
    expect(golden.kind).toBe('test');
    expect(golden.config).toEqual({ n: 2 });
    expect(golden.params['w']!.data).toEqual(new Float64Array([0.5, -1]));
    expect(golden.inputs['doc']).toEqual({ shape: [2], data: new Int32Array([3, -4]), dtype: 'i32' });
    expect(golden.inputs['mask']).toEqual({ shape: [1, 2], data: new Uint8Array([1, 0]), dtype: 'bool' });
    expect(golden.outputs['o']).toEqual({ shape: [2], data: new Float64Array([1.5, 2]) });
  });

  it('decodes floats as Float64Array and keeps shapes, including scalars', () => {
    const golden = loadGolden(join(GOLDEN_DIR, 'einsum_trace.json'));
    expect(golden.config).toEqual({ spec: 'ii->' });
    expect(golden.params).toEqual({});
    expect(golden.inputs['x0']!.shape).toEqual([9, 9]);
    expect(golden.inputs['x0']!.data).toBeInstanceOf(Float64Array);
    expect(golden.inputs['x0']!.dtype).toBeUndefined();
    expect(golden.outputs['out']!.shape).toEqual([]);
    expect(golden.outputs['out']!.data.length).toBe(1);
  });
});

describeGPU('einsum golden cases on WebGPU', (gpu) => {
  for (const file of einsumFiles) it(file, () => expectGoldenFile(file, gpu, { rtol: 2e-4, atol: 2e-5 }, 'einsum'));
});
