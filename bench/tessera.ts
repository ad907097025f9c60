/**
 * tessera's side of the bench: its compiler and WebGPU runtime on the shared device.
 *
 * The compiler and runtime are loaded with a dynamic import of their `index.ts`, not a static
 * one, for two reasons: while they are being built (or when one of them is broken) the peers must
 * still be measured, with the tessera rows carrying the import error; and the bench must still
 * type-check before those modules exist. The interfaces below are the contract the bench codes
 * against; `loadTessera` checks at run time that the modules provide it.
 */
import type { Graph } from '../dsl/index.ts';
import type { SharedDevice } from './device.ts';

/** `DeviceLimits` from runtime/program.ts, as far as the bench passes it through. */
export type TesseraLimits = Readonly<Record<string, number>>;

/** A compiled Program: plain data the bench only passes from `compile` to `run`. */
export type TesseraProgram = { readonly format: 'tessera-program'; readonly name: string };

export interface TesseraTensor {
  /** Float32Array for f32 tensors (other dtypes read back as other typed arrays). */
  read(): Promise<ArrayLike<number>>;
  destroy(): void;
}

export interface TesseraBackend {
  readonly limits: TesseraLimits;
  readonly deviceDescription: string;
  readonly memory: { readonly peakBytes: number; resetPeak(): void };
  upload(tensor: { readonly shape: readonly number[]; readonly data: Float32Array }): TesseraTensor;
  run(program: TesseraProgram, inputs: Readonly<Record<string, TesseraTensor>>): Promise<Record<string, TesseraTensor>>;
}

export interface Tessera {
  readonly backend: TesseraBackend;
  compile(graph: Graph, options: { readonly name?: string; readonly limits?: TesseraLimits }): TesseraProgram;
}

/** How tessera's `peak_bytes` is measured, for the rows. */
export const TESSERA_PEAK_SOURCE = 'backend.memory.peakBytes (tessera runtime allocation record), reset before the case';

let loaded: Promise<Tessera> | undefined;

/** Loads tessera's compiler and runtime once per process; the backend wraps the shared device. */
export function loadTessera(shared: SharedDevice): Promise<Tessera> {
  loaded ??= load(shared);
  return loaded;
}

async function load(shared: SharedDevice): Promise<Tessera> {
  const compilerModule = await importModule('../compiler/index.ts', 'compiler');
  const runtimeModule = await importModule('../runtime/index.ts', 'runtime');
  const compile = compilerModule['compile'];
  const createWebGPUBackend = runtimeModule['createWebGPUBackend'];
  if (typeof compile !== 'function') throw new Error('compiler/index.ts does not export compile()');
  if (typeof createWebGPUBackend !== 'function') throw new Error('runtime/index.ts does not export createWebGPUBackend()');
  const backend = (await (createWebGPUBackend as (o: { device: GPUDevice }) => Promise<TesseraBackend>)({ device: shared.device })) as TesseraBackend;
  for (const member of ['upload', 'run'] as const) {
    if (typeof backend[member] !== 'function') throw new Error(`tessera WebGPU backend has no ${member}()`);
  }
  if (typeof backend.memory?.resetPeak !== 'function') throw new Error('tessera WebGPU backend has no memory.resetPeak()');
  // Same-device comparisons are the point of the bench; refuse a backend that made its own.
  const own = (backend as { device?: unknown }).device;
  if (own !== undefined && own !== shared.device) throw new Error('tessera WebGPU backend is not on the shared device');
  return { backend, compile: compile as Tessera['compile'] };
}

/**
 * Imports a tessera module by a path computed at run time, so TypeScript does not require it to
 * exist, and names the missing piece in the error when it does not.
 */
async function importModule(relative: string, what: string): Promise<Record<string, unknown>> {
  const url = new URL(relative, import.meta.url).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new Error(`tessera ${what} not available (${relative}): ${reason}`);
  }
}
