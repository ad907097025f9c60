/**
 * Caches of uniform buffers (by their words) and bind groups (by layout and the exact buffers and
 * sizes bound), so re-running a program on resident tensors creates no GPU objects at all. Both
 * are bounded; an evicted uniform buffer is destroyed only after the run being encoded has been
 * submitted, since that run may still reference it.
 */
import type { DeviceContext, TrackedBuffer } from './context.ts';
import { BufferUsage } from './gpu-flags.ts';
import { LruMap } from './lru.ts';
import type { CompiledKernel } from './pipelines.ts';

export interface BoundBuffer {
  readonly buffer: GPUBuffer;
  /** The first byte bound: 0, or where a chunk's slice starts. */
  readonly offset: number;
  /** Bytes bound: the size the program asked for, which may be less than a pooled buffer's. */
  readonly size: number;
}

export class BindingCache {
  readonly #ids = new WeakMap<GPUBuffer, number>();
  #nextId = 1;
  readonly #uniforms: LruMap<string, TrackedBuffer>;
  readonly #groups = new LruMap<string, GPUBindGroup>(2048);

  constructor(private readonly ctx: DeviceContext) {
    this.#uniforms = new LruMap(1024, (b) => ctx.deferDestroy(b));
  }

  /** A number per buffer object for cache keys (a destroyed buffer's number is never reused). */
  #id(buffer: GPUBuffer): number {
    let id = this.#ids.get(buffer);
    if (id === undefined) {
      id = this.#nextId++;
      this.#ids.set(buffer, id);
    }
    return id;
  }

  /** A uniform buffer holding `words` (already padded to 16 bytes). */
  uniformBuffer(words: Uint32Array): TrackedBuffer {
    const key = Array.from(words, (w) => w.toString(16)).join(',');
    let tracked = this.#uniforms.get(key);
    if (!tracked) {
      tracked = this.ctx.createBuffer(`uniforms [${key}]`, words.byteLength, BufferUsage.UNIFORM, true);
      new Uint32Array(tracked.buffer.getMappedRange()).set(words);
      tracked.buffer.unmap();
      this.#uniforms.set(key, tracked);
    }
    return tracked;
  }

  /** The bind group for a kernel's layout: storage buffers at 0..n-1, then the uniforms (if any). */
  bindGroup(kernel: CompiledKernel, storage: readonly BoundBuffer[], uniform: GPUBuffer | null, label: string, cached = true): GPUBindGroup {
    const key = `${kernel.layoutKey}#${storage.map((b) => `${this.#id(b.buffer)}:${b.offset}:${b.size}`).join(',')}#${uniform ? this.#id(uniform) : ''}`;
    const hit = cached ? this.#groups.get(key) : undefined;
    if (hit) return hit;
    const entries: GPUBindGroupEntry[] = storage.map((b, binding) => ({ binding, resource: { buffer: b.buffer, offset: b.offset, size: b.size } }));
    if (uniform) entries.push({ binding: storage.length, resource: { buffer: uniform } });
    const group = this.ctx.device.createBindGroup({ label, layout: kernel.bindGroupLayout, entries });
    if (cached) this.#groups.set(key, group);
    return group;
  }

  clear(): void {
    this.#groups.clear();
    this.#uniforms.clear();
    this.ctx.flushDeferred();
  }
}
