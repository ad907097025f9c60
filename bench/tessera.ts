/**
 * tessera's side of the bench: its compiler and runtime, the WebGPU backend on the shared device
 * and the CPU interpreter backend.
 *
 * The types come from the real modules (type-only imports, erased at run time, so the bench
 * type-checks against the actual API and notices when it drifts). The modules themselves are
 * loaded with a dynamic import: if the compiler or runtime fails to load, the peers are still
 * measured and the tessera rows carry the load error instead of the whole bench crashing.
 */
import type { compile as compileFn } from '../compiler/index.ts';
import type { Backend, Program, ReadbackWait, RuntimeTensor, WebGPUBackend, createCpuBackend as createCpuBackendFn, createWebGPUBackend as createWebGPUBackendFn } from '../runtime/index.ts';
import type { SharedDevice } from './device.ts';
import type { HostTensor } from '../dsl/types.ts';
import type { Prepared } from './harness.ts';

export interface Tessera<B extends Backend = WebGPUBackend> {
  readonly backend: B;
  readonly compile: typeof compileFn;
}

/** How tessera's `peak_bytes` is measured, for the rows. */
export const TESSERA_PEAK_SOURCE =
  "backend.memory.peakBytes: tessera runtime's allocation record (every GPU buffer it holds, pool and readback staging included), reset before the inputs are uploaded";
export const TESSERA_CPU_PEAK_SOURCE = 'backend.memory.peakBytes of the CPU interpreter backend: host bytes, not GPU';

let gpuLoaded: Promise<Tessera> | undefined;
let cpuLoaded: Promise<Tessera<Backend>> | undefined;
let readbackWait: ReadbackWait | undefined;
let finiteSteps: boolean | undefined;

/**
 * The readback wait of the tessera backend the bench creates (`--tessera-wait`); unset, the
 * runtime's default. Only before the backend is loaded.
 */
export function setTesseraReadbackWait(wait: ReadbackWait): void {
  if (gpuLoaded) throw new Error('setTesseraReadbackWait: the tessera backend is already loaded');
  readbackWait = wait;
}

/**
 * Whether the tessera backend the bench creates takes Programs' finite-input steps
 * (`--tessera-finite-steps`); unset, the runtime's default (on). Only before the backend is loaded.
 */
export function setTesseraFiniteSteps(on: boolean): void {
  if (gpuLoaded) throw new Error('setTesseraFiniteSteps: the tessera backend is already loaded');
  finiteSteps = on;
}

/** Loads the compiler and runtime once per process; the WebGPU backend wraps the shared device. */
export function loadTessera(shared: SharedDevice): Promise<Tessera> {
  gpuLoaded ??= (async () => {
    const compile = await loadCompile();
    const { createWebGPUBackend } = (await importModule('../runtime/index.ts', 'runtime')) as { createWebGPUBackend: typeof createWebGPUBackendFn };
    const backend = await createWebGPUBackend({ device: shared.device, ...(readbackWait ? { readbackWait } : {}), ...(finiteSteps !== undefined ? { finiteSteps } : {}) });
    // Same-device comparisons are the point of the bench.
    if (backend.device !== shared.device) throw new Error('tessera WebGPU backend is not on the shared device');
    console.log(`tessera backend: ${backend.deviceDescription}; readbacks wait by '${backend.readbackWait}'; finite-input steps ${backend.finiteSteps ? 'on' : 'off'}`);
    return { backend, compile };
  })();
  return gpuLoaded;
}

/**
 * The CPU interpreter backend in f32 mode: the project's own reference, shown beside the GPU rows
 * (DESIGN.md asks for it) as what running without a GPU costs. f32 mode matches the GPU's storage
 * and accumulation precision, so its error column is comparable.
 */
export function loadTesseraCpu(): Promise<Tessera<Backend>> {
  cpuLoaded ??= (async () => {
    const compile = await loadCompile();
    const { createCpuBackend } = (await importModule('../runtime/index.ts', 'runtime')) as { createCpuBackend: typeof createCpuBackendFn };
    return { backend: createCpuBackend({ precision: 'f32', fallbackReason: null }), compile };
  })();
  return cpuLoaded;
}

async function loadCompile(): Promise<typeof compileFn> {
  const { compile } = (await importModule('../compiler/index.ts', 'compiler')) as { compile?: typeof compileFn };
  if (typeof compile !== 'function') throw new Error('compiler/index.ts does not export compile()');
  return compile;
}

/**
 * Imports a tessera module by a URL computed at run time and names the missing piece in the error
 * when it cannot be loaded.
 */
async function importModule(relative: string, what: string): Promise<Record<string, unknown>> {
  const url = new URL(relative, import.meta.url).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new Error(`tessera ${what} failed to load (${relative}): ${reason}`);
  }
}

/**
 * One timed tessera run: runs the program on device-resident inputs, reads `output` back to the
 * host (every timed run ends in a readback) and frees the outputs.
 */
export async function runAndRead(backend: Backend, program: Program, inputs: Readonly<Record<string, RuntimeTensor>>, output: string, params: Readonly<Record<string, number>> = {}): Promise<Float32Array> {
  const outs = await backend.run(program, inputs, params);
  try {
    const out = outs[output];
    if (!out) throw new Error(`tessera run returned no '${output}' (outputs: ${Object.keys(outs).join(', ')})`);
    const data = await out.read();
    if (!(data instanceof Float32Array)) throw new Error(`tessera read back ${data.constructor.name}, expected Float32Array`);
    return data;
  } finally {
    for (const t of Object.values(outs)) t.destroy();
  }
}

/**
 * Starts an implementation's memory window on a backend that implementations share: the buffers
 * earlier ones left pooled (temporaries, readback staging) are freed, then the peak is reset, so
 * `peakBytes` counts this implementation's own buffers. The CPU backend pools nothing.
 */
export function startPeakWindow(backend: Backend): void {
  if (backend.kind === 'webgpu') (backend as WebGPUBackend).trimPool();
  backend.memory.resetPeak();
}

/**
 * A tessera implementation ready to time: the host tensors uploaded once (the peak window started
 * just before, `startPeakWindow`), each run `runAndRead` of `output`; on dispose the tensors are
 * freed and the buffer pool trimmed.
 */
export function uploadedRun(backend: WebGPUBackend, program: Program, host: Readonly<Record<string, HostTensor>>, output: string, params: Readonly<Record<string, number>> = {}): Prepared {
  startPeakWindow(backend);
  const tensors = Object.fromEntries(Object.entries(host).map(([name, t]) => [name, backend.upload(t)]));
  return {
    run: () => runAndRead(backend, program, tensors, output, params),
    peakBytes: () => backend.memory.peakBytes,
    dispose() {
      for (const t of Object.values(tensors)) t.destroy();
      backend.trimPool();
    },
  };
}

/** Every dispatch label of a program's steps, loops included. */
function dispatchLabels(steps: Program['steps']): string[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? dispatchLabels(s.body) : s.kind === 'dispatch' ? [s.label] : []));
}

/**
 * Throws unless the program dispatches a fused attention kernel (a `flash…` step, nested ones
 * included): an attention row that silently ran unfused would time something else.
 */
export function expectFlash(program: Program): void {
  const labels = dispatchLabels(program.steps);
  if (!labels.some((l) => l.startsWith('flash'))) {
    throw new Error(`attention was not fused: the compiled program has no 'flash' dispatch (dispatches: ${labels.join('; ') || 'none'})`);
  }
}
