/**
 * emit-wgsl: printed Tensor IR in, compiled through every pass; the WGSL text is the pipeline
 * cache key, so it must be deterministic, and sizes are uniforms unless pinned. (The WGSL of each
 * kernel kind is pinned by the emitter tests; these check the properties of the pass's output.)
 */
import { describe, expect, it } from 'vitest';
import { ir, SYMBOLIC_PRODUCT } from './ir.ts';
import { parseGraph } from '../../dsl/parse.ts';
import { compile } from '../../compiler/index.ts';
import { stepKernels } from '../helpers.ts';

describe('emit-wgsl', () => {
  it('prints the same WGSL for the same kernel, and one shader serves every size', () => {
    const text = SYMBOLIC_PRODUCT;
    const p1 = compile(parseGraph(text), { name: 'mm' });
    const p2 = compile(parseGraph(text), { name: 'mm' });
    expect(p1.kernels.map((x) => x.wgsl)).toEqual(p2.kernels.map((x) => x.wgsl));
    // The whole GEMM and its split-K partial for long k, each in five variants for ranges of the
    // symbolic rows and columns (narrow or wide), and the combine (guarded by the sizes).
    expect(stepKernels(p1)).toHaveLength(11);
    // The whole GEMM's guards: the split's complement (a range of k), then the variant's ranges.
    const whole = p1.steps.filter((s) => s.kind === 'dispatch' && s.label.endsWith('contract')).map((s) => (s.kind === 'dispatch' && Array.isArray(s.when) ? s.when : []));
    expect(whole.map((when) => when[0]!.below)).toEqual([16384, 16384, 16384, 16384, 16384]);
    expect(whole.map((when) => when.slice(1))).toEqual([
      [{ size: 'n', below: 9 }],
      [{ size: 'm', below: 9 }, { size: 'n', atLeast: 9 }],
      [{ size: 'm', atLeast: 9 }, { size: 'n', atLeast: 9, below: 33 }],
      [{ size: 'm', atLeast: 9, below: 33 }, { size: 'n', atLeast: 33 }],
      [{ size: 'm', atLeast: 33 }, { size: 'n', atLeast: 33 }],
    ]);
    // Sizes are uniforms: the shader names no size literal of its own.
    expect(p1.kernels[0]!.wgsl).toContain('let n0 = u.w[0].y;');
    expect(JSON.parse(JSON.stringify(p1))).toEqual(p1);
  });

  it('specialises pinned sizes into the shader', () => {
    const p = compile(
      parseGraph(ir`
        %0 = input "a" : f32[m:m, k:24]
        %1 = input "b" : f32[k:24, n:n]
        %2 = contract(%0, %1) : f32[m:m, n:n]
        outputs out=%2
      `),
      { name: 'mm' },
    );
    expect(p.kernels[0]!.wgsl).toContain('k0 < 24u');
  });
});
