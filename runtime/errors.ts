/**
 * Errors that WebGPU reports (validation, out of memory, internal, shader compilation, a lost
 * device). They are a separate class from `TesseraError` (bad user input) because they usually
 * mean a bug in a compiled Program or a device problem, not a mistake the caller can fix.
 */
export class WebGPUError extends Error {
  override name = 'WebGPUError';
}

/** The scopes every group of device calls is wrapped in, innermost last. */
const SCOPES: readonly GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];

/** Pushes `SCOPES` onto the device's error-scope stack. */
export function pushScopes(device: GPUDevice): void {
  for (const filter of SCOPES) device.pushErrorScope(filter);
}

/**
 * Pops what `pushScopes` pushed (call it synchronously after the device calls, so no other code
 * can push in between) and resolves to the first error any of them caught, with its kind.
 */
export function popScopes(device: GPUDevice): Promise<{ kind: GPUErrorFilter; message: string } | null> {
  const popped = [...SCOPES].reverse().map((kind) => device.popErrorScope().then((e) => (e ? { kind, message: e.message } : null), () => null));
  return Promise.all(popped).then((errors) => errors.reverse().find((e) => e !== null) ?? null);
}

/** How a scope's kind reads in a message. */
export function describeKind(kind: GPUErrorFilter): string {
  return kind === 'out-of-memory' ? 'out of memory' : kind === 'internal' ? 'WebGPU internal error' : 'WebGPU validation error';
}
