/**
 * The WebGPU backend the GPU tests share. Without an adapter the GPU suites are skipped with the
 * reason logged, except where `TESSERA_REQUIRE_WEBGPU=1` (CI), where a missing adapter is an error:
 * GPU tests must never silently skip on the machines that are supposed to run them.
 */
import { describe, it } from 'vitest';
import { probeGPU } from '../runtime/device.ts';
import type { WebGPUBackend } from '../runtime/index.ts';
import { backendOnAdapter } from '../runtime/webgpu.ts';

const REQUIRED_MESSAGE =
  "no WebGPU adapter found, and TESSERA_REQUIRE_WEBGPU=1 requires one (install Mesa's lavapipe: libvulkan1 + mesa-vulkan-drivers)";

let shared: Promise<WebGPUBackend | null> | undefined;
let missingReason = 'no WebGPU adapter found';

/** The shared backend, or null when this machine has no WebGPU adapter (and none is required). */
export function gpuBackendForTests(): Promise<WebGPUBackend | null> {
  shared ??= (async () => {
    const probe = await probeGPU();
    if (!probe.ok) {
      if (process.env.TESSERA_REQUIRE_WEBGPU === '1') throw new Error(REQUIRED_MESSAGE);
      missingReason = probe.reason;
      return null;
    }
    return backendOnAdapter(probe.gpu);
  })();
  return shared;
}

const available = await gpuBackendForTests();

/** Why GPU suites are skipped here, or null when they run. */
export const gpuSkipReason: string | null = available ? null : missingReason;

/**
 * `describe` for suites that need the GPU: runs `fn` with the shared backend, or registers one
 * skipped test whose name carries the reason (and logs it) when there is no adapter.
 */
export function describeGPU(name: string, fn: (gpu: WebGPUBackend) => void): void {
  if (available) {
    describe(name, () => fn(available));
    return;
  }
  console.warn(`[tessera] skipping GPU suite '${name}': ${missingReason} (set TESSERA_REQUIRE_WEBGPU=1 to make this an error)`);
  describe(name, () => {
    it.skip(`needs a WebGPU adapter: ${missingReason}`, () => {
      throw new Error(missingReason);
    });
  });
}
