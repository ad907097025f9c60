import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // At least two test files at a time, even on two cores (vitest's default there is one): the
    // WebGPU suites on lavapipe spend most of their time in LLVM compiling shaders, one thread
    // each, so a second worker nearly halves the run (958 s to 538 s on the two-core machine).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
