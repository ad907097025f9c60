/**
 * Device limits: what the compiler plans against and what the runtime checks a run against,
 * under WebGPU's names.
 */
/** The device limits the compiler plans against (WebGPU names). */
export interface DeviceLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerShaderStage: number;
  /** Storage bindings of a buffer slice start at a multiple of this many bytes. */
  readonly minStorageBufferOffsetAlignment: number;
}

/** WebGPU's guaranteed minimum limits: what the compiler assumes when told nothing. */
export const DEFAULT_LIMITS: DeviceLimits = {
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
  minStorageBufferOffsetAlignment: 256,
};

/**
 * Bytes as `B`, `KiB`, `MiB` or `GiB` with one decimal (e.g. `200.0 MiB`): how limit errors
 * state sizes, in the compiler and the runtime alike.
 */
export function formatBytes(bytes: number): string {
  const units: ReadonlyArray<[number, string]> = [
    [1024 ** 3, 'GiB'],
    [1024 ** 2, 'MiB'],
    [1024, 'KiB'],
  ];
  for (const [scale, unit] of units) {
    if (bytes >= scale) return `${(bytes / scale).toFixed(1)} ${unit}`;
  }
  return `${bytes} B`;
}
