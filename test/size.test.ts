/**
 * `npm run size` (`bench/size.ts`): an app shipping one precompiled attention Program bundles the
 * runtime without the compiler or the tracer, and the WebGPU-only app fits the 30 KB (minified,
 * gzipped) budget — the CPU-fallback app too, as measured today.
 */
import { describe, expect, it } from 'vitest';
import { SIZE_TARGET_BYTES, measureSizes } from '../bench/size.ts';

describe('runtime bundle size', () => {
  it('runtime plus one attention Program: no compiler inside, at most 30 KB gzipped', async () => {
    const [webgpu, fallback] = await measureSizes();
    for (const row of [webgpu!, fallback!]) {
      expect(row.compiler_inside, row.app).toBe(false);
      expect(row.gzip_bytes, row.app).toBeLessThanOrEqual(SIZE_TARGET_BYTES);
      // The bundle does hold the runtime and the Program (a broken build would be tiny).
      expect(row.gzip_bytes, row.app).toBeGreaterThan(row.program_gzip_bytes + 5 * 1024);
    }
  });
});
