/**
 * The compiled Program: plain data that the compiler writes and the runtime executes, written to
 * and read from JSON losslessly by `serializeProgram` / `parseProgram` (`json.ts`). It is the only
 * thing the two share, so an app can ship programs built ahead of time and never load the
 * compiler. Neither `compiler/` nor `runtime/` owns it: both import it from here.
 */
import type { Graph } from '../dsl/ir.ts';
import type { DType, Size } from '../dsl/types.ts';
import type { SizeExpr, SizeGuard } from './size.ts';

/** A tensor the program reads or writes at its boundary. */
export interface ProgramTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly axes: readonly string[];
  /** Static sizes or symbols; input shapes bind the symbols. */
  readonly shape: readonly Size[];
  /** The buffer holding it during a run. */
  readonly buffer: number;
}

export interface ProgramBuffer {
  readonly id: number;
  readonly bytes: SizeExpr;
  /**
   * input: bound to the caller's tensor; output: handed back; temp: from the pool for one run;
   * cache: written only by `cached` steps and kept by the runtime across runs of the same program
   * with the same symbol and parameter values.
   */
  readonly role: 'input' | 'output' | 'temp' | 'cache';
  /** What it holds, for errors and the allocation record. */
  readonly label: string;
}

/** Storage bindings in order; a uniform buffer (if any uniforms) follows at the next binding. */
export type BindingAccess = 'read' | 'read_write';

export interface ProgramKernel {
  readonly name: string;
  readonly wgsl: string;
  readonly entryPoint: string;
  readonly workgroupSize: readonly [number, number, number];
  readonly bindings: readonly BindingAccess[];
  /** Number of 32-bit uniform words the kernel reads (0: no uniform binding). */
  readonly uniformWords: number;
}

/** One 32-bit uniform word: a size, a run-time parameter (its bits), or a literal. */
export type UniformWord = { readonly size: SizeExpr } | { readonly param: string } | { readonly f32: number } | { readonly u32: number };

export type Step =
  | {
      readonly kind: 'dispatch';
      readonly kernel: number;
      readonly label: string;
      /** Buffer ids bound to the kernel's storage bindings, in order. */
      readonly buffers: readonly number[];
      readonly uniforms: readonly UniformWord[];
      /**
       * Total workgroups. The runtime dispatches them as (x, y) with x ≤ 65535; shaders compute
       * the linear id `wg.x + wg.y * num_workgroups.x` and return when it is past the total, which
       * the compiler passes among the uniforms.
       */
      readonly workgroups: SizeExpr;
      /**
       * The step writes only `cache` buffers and reads nothing but cache buffers, sizes and
       * parameters, so its result depends on symbols and parameters alone: the runtime runs it
       * once per (program, symbols, parameters) and reuses the cache buffers afterwards.
       */
      readonly cached?: boolean;
      /**
       * Run the step only when `size` is at least `atLeast` and below `below` (each bound
       * optional); given a list of such ranges, only when every one holds. A program carries
       * kernel variants specialised for ranges of symbolic sizes this way; the runtime compiles
       * only the variants a run dispatches.
       */
      readonly when?: SizeGuard;
      /**
       * Run the kernel once per chunk of a long axis, so a tensor larger than one storage binding
       * (`maxStorageBufferBindingSize`) is read or written a slice at a time: `count` dispatches;
       * in dispatch c, uniform word `word` holds c and each listed binding is bound to `bytes`
       * bytes of its buffer from byte c·`stride` (fewer at the buffer's end). The step's
       * workgroups and other uniform words are those of every chunk.
       */
      readonly chunks?: ChunkedDispatch;
    }
  | { readonly kind: 'copy'; readonly label: string; readonly src: number; readonly dst: number; readonly bytes: SizeExpr }
  | { readonly kind: 'loop'; readonly label: string; readonly count: number; readonly body: readonly Step[] };

/** See the dispatch step's `chunks`. */
export interface ChunkedDispatch {
  readonly count: SizeExpr;
  readonly word: number;
  readonly slices: readonly ChunkSlice[];
}

/** One binding of a chunked dispatch bound to a slice of its buffer. */
export interface ChunkSlice {
  /** The index into the step's `buffers` (the binding number). */
  readonly binding: number;
  /** Bytes from one chunk's slice to the next (a multiple of `minStorageBufferOffsetAlignment`). */
  readonly stride: SizeExpr;
  /** Bytes bound per chunk (at most `maxStorageBufferBindingSize`). */
  readonly bytes: SizeExpr;
}

export interface Program {
  readonly format: 'tessera-program';
  readonly version: 1;
  readonly name: string;
  readonly inputs: readonly ProgramTensor[];
  readonly params: readonly { readonly name: string; readonly dtype: DType }[];
  readonly outputs: readonly ProgramTensor[];
  readonly buffers: readonly ProgramBuffer[];
  readonly kernels: readonly ProgramKernel[];
  readonly steps: readonly Step[];
  /**
   * The steps a run takes instead when every f32 input it is given is known to hold only finite
   * values (see the runtime's `Backend.run`): the same computation, with the arithmetic over the
   * inputs plain where `steps` carries possible infinities and NaN exactly (`compiler/nonfinite.ts`).
   * Both write the same buffers in the same format. Absent where they would equal `steps`.
   */
  readonly finiteSteps?: readonly Step[];
  /** The traced Tensor IR (sizes pinned as compiled), which the CPU backend interprets. */
  readonly graph: Graph;
}

