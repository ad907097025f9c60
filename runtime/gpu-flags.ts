/**
 * WebGPU's numeric flag values, fixed by the specification. The runtime uses these instead of the
 * `GPUBufferUsage`/`GPUShaderStage`/`GPUMapMode` globals because a caller may hand us a device in
 * Node without ever installing those globals (they are only there in browsers, or after
 * `Object.assign(globalThis, globals)` from the `webgpu` package).
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  QUERY_RESOLVE: 0x0200,
} as const;

export const ShaderStage = { COMPUTE: 0x4 } as const;

export const MapMode = { READ: 0x0001 } as const;

/** Usage of every tensor buffer: bound as storage, and copied to and from (upload, copy steps, readback). */
export const TENSOR_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
