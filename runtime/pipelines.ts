/**
 * Compute pipelines, created asynchronously and cached by WGSL text, entry point and binding
 * layout, so programs that share a kernel (or a re-run of the same program) compile it once.
 * Layouts are explicit rather than 'auto': an auto layout drops bindings the shader never touches,
 * and then the Program's fixed binding order would no longer match.
 */
import { WebGPUError, popScopes, pushScopes } from './errors.ts';
import { formatWgslListing, type WgslMessage } from './format.ts';
import { ShaderStage } from './gpu-flags.ts';
import type { ProgramKernel } from '../program/index.ts';

export interface CompiledKernel {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroupLayout: GPUBindGroupLayout;
  /** Identifies the layout, for keys of bind groups built on it. */
  readonly layoutKey: string;
}

/** Where a kernel is used, for error messages. */
export interface KernelContext {
  readonly program: string;
  readonly step: string | null;
}

/** Storage bindings 0..n-1 in order, then the uniform buffer at n when the kernel reads uniforms. */
export function layoutKey(kernel: ProgramKernel): string {
  return `${kernel.bindings.join(',')}|${kernel.uniformWords > 0 ? 'uniform' : ''}`;
}

export class PipelineCache {
  readonly #layouts = new Map<string, { bindGroupLayout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout }>();
  readonly #pipelines = new Map<string, Promise<CompiledKernel>>();
  /**
   * The last lookup per kernel object, with the fields its key was made of: a program re-run
   * finds its pipelines without building (and hashing) a key that holds the whole WGSL text, which
   * took ~0.13 ms of the JavaScript thread per run of the einsum chain's three kernels (lavapipe,
   * a CPU profile of 400 runs). A kernel changed since is looked up by its key again.
   */
  readonly #byKernel = new WeakMap<ProgramKernel, { wgsl: string; entryPoint: string; layout: string; pending: Promise<CompiledKernel> }>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.#pipelines.size;
  }

  #layout(kernel: ProgramKernel): { bindGroupLayout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout } {
    const key = layoutKey(kernel);
    let layout = this.#layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = kernel.bindings.map((access, binding) => ({
        binding,
        visibility: ShaderStage.COMPUTE,
        buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
      }));
      if (kernel.uniformWords > 0) entries.push({ binding: kernel.bindings.length, visibility: ShaderStage.COMPUTE, buffer: { type: 'uniform' } });
      const bindGroupLayout = this.device.createBindGroupLayout({ label: `layout ${key}`, entries });
      const pipelineLayout = this.device.createPipelineLayout({ label: `layout ${key}`, bindGroupLayouts: [bindGroupLayout] });
      layout = { bindGroupLayout, pipelineLayout };
      this.#layouts.set(key, layout);
    }
    return layout;
  }

  /** The kernel's pipeline; throws a WebGPUError with the WGSL listing when it does not compile. */
  get(kernel: ProgramKernel, where: KernelContext): Promise<CompiledKernel> {
    const layout = layoutKey(kernel);
    const last = this.#byKernel.get(kernel);
    if (last && last.wgsl === kernel.wgsl && last.entryPoint === kernel.entryPoint && last.layout === layout) return last.pending;
    const key = `${layout}\n${kernel.entryPoint}\n${kernel.wgsl}`;
    let pending = this.#pipelines.get(key);
    if (!pending) {
      pending = this.#create(kernel, where);
      this.#pipelines.set(key, pending);
      // A failure is not cached: the caller may fix the device state or the next program differ.
      pending.catch(() => {
        this.#pipelines.delete(key);
        if (this.#byKernel.get(kernel)?.pending === pending) this.#byKernel.delete(kernel);
      });
    }
    this.#byKernel.set(kernel, { wgsl: kernel.wgsl, entryPoint: kernel.entryPoint, layout, pending });
    return pending;
  }

  async #create(kernel: ProgramKernel, where: KernelContext): Promise<CompiledKernel> {
    const label = `${where.program}/${kernel.name}`;
    const subject = `kernel '${kernel.name}' (program '${where.program}'${where.step !== null ? `, step '${where.step}'` : ''})`;
    pushScopes(this.device);
    const { bindGroupLayout, pipelineLayout } = this.#layout(kernel);
    const module = this.device.createShaderModule({ label, code: kernel.wgsl });
    const scoped = popScopes(this.device);
    const info = await module.getCompilationInfo();
    const scopeError = await scoped;
    const errors: WgslMessage[] = info.messages
      .filter((m) => m.type === 'error')
      .map((m) => ({ type: m.type, message: m.message, lineNum: m.lineNum, linePos: m.linePos, length: m.length }));
    if (errors.length > 0) {
      const first = errors[0]!;
      throw new WebGPUError(
        `${subject} failed to compile: ${first.lineNum}:${first.linePos}: ${first.message.split('\n')[0]}` +
          `${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}\n${formatWgslListing(kernel.wgsl, errors)}`,
      );
    }
    if (scopeError !== null) throw new WebGPUError(`${subject}: creating its layout or shader module failed: ${scopeError.message}`);
    try {
      const pipeline = await this.device.createComputePipelineAsync({ label, layout: pipelineLayout, compute: { module, entryPoint: kernel.entryPoint } });
      return { pipeline, bindGroupLayout, layoutKey: layoutKey(kernel) };
    } catch (e) {
      throw new WebGPUError(`${subject}: creating its compute pipeline failed: ${(e as Error).message}`);
    }
  }
}
