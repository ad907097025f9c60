/**
 * The compiler: Tensor IR in, a plain-data Program out. The pipeline is a list of named passes,
 * each in its own file; `log` receives the printed IR after every pass, and the Tensor IR is
 * re-verified after every Tensor-IR pass.
 */
import type { Graph } from '../dsl/ir.ts';
import { printGraph } from '../dsl/print.ts';
import { verifyGraph } from '../dsl/verify.ts';
import { DEFAULT_LIMITS, type DeviceLimits, type Program } from '../program/index.ts';
import type { FusedProgram } from './kernel-ir.ts';
import { printFused } from './kernel-ir-print.ts';
import { canonicalize } from './passes/canonicalize.ts';
import { chunkBindings, printChunked } from './passes/chunk-bindings.ts';
import { decompose } from './passes/decompose.ts';
import { inlineCaptures } from './passes/inline-captures.ts';
import { emitWgsl } from './passes/emit-wgsl.ts';
import { fuse } from './passes/fuse.ts';
import { fuseRowBlocks } from './passes/fuse-row-blocks.ts';
import { matchAttention } from './passes/match-attention.ts';
import { lowerToTiles } from './passes/lower-to-tiles.ts';
import { planContractions } from './passes/plan-contractions.ts';
import { planMemory } from './passes/plan-memory.ts';
import { splitReductions } from './passes/split-reductions.ts';
import type { ScheduleOverrides } from './schedule.ts';
import type { PathName } from './contraction-path.ts';

export interface CompileOptions {
  /** Program name, used in labels and error messages. */
  readonly name?: string;
  /** Device limits to plan against (a backend's `limits`); WebGPU's minimums by default. */
  readonly limits?: Partial<DeviceLimits>;
  /** Force schedules (tile sizes, workgroup sizes) instead of the defaults. */
  readonly schedules?: ScheduleOverrides;
  /** Receives each pass's name and its printed output. */
  readonly log?: (pass: string, text: string) => void;
  /**
   * The path function ordering n-ary contractions (default: by cost, `contraction-path.ts`), or
   * `'fused'`: each contraction one product summed over its contracted axes, storing nothing.
   */
  readonly contractionPath?: PathName | 'fused';
  /**
   * Expected values of size symbols (`{ i: 4096 }`), used only to choose contraction orders: the
   * program still serves every size. A symbol without a hint counts as 64.
   */
  readonly sizeHints?: Readonly<Record<string, number>>;
  /**
   * `false`: attention regions (softmax attention, 2-simplicial attention) run as written —
   * contractions, a materialised softmax — instead of as fused flash kernels. For comparisons
   * (the bench's composed rows) and for debugging a fused kernel against the composed path.
   */
  readonly fuseAttention?: boolean;
}

/** The Tensor IR passes, in order. */
export const TENSOR_PASSES: readonly { readonly name: string; readonly run: (g: Graph, options: CompileOptions) => Graph }[] = [
  { name: 'canonicalize', run: canonicalize },
  { name: 'match-attention', run: (g, o) => (o.fuseAttention === false ? g : matchAttention(g)) },
  {
    name: 'plan-contractions',
    // An intermediate must fit one buffer.
    run: (g, o) =>
      planContractions(g, {
        ...(o.contractionPath ? { path: o.contractionPath } : {}),
        ...(o.sizeHints ? { sizeHints: o.sizeHints } : {}),
        memoryLimit: Math.floor({ ...DEFAULT_LIMITS, ...o.limits }.maxBufferSize / 4),
      }),
  },
  { name: 'decompose', run: decompose },
  { name: 'inline-captures', run: inlineCaptures },
  { name: 'canonicalize', run: canonicalize },
];

/** Runs the Tensor IR passes (verifying after each). */
export function optimizeGraph(graph: Graph, log?: CompileOptions['log'], options: CompileOptions = {}): Graph {
  verifyGraph(graph);
  let g = graph;
  for (const pass of TENSOR_PASSES) {
    g = pass.run(g, options);
    verifyGraph(g);
    log?.(pass.name, printGraph(g));
  }
  return g;
}

/**
 * Tensor IR through fusion, splitting long reductions and memory planning: the kernels and host
 * steps, before scheduling.
 */
export function fuseGraph(graph: Graph, options: CompileOptions = {}): FusedProgram {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const optimized = optimizeGraph(graph, options.log, options);
  const fused = fuse(optimized, { name: options.name ?? 'program', maxStorageBuffers: limits.maxStorageBuffersPerShaderStage, limits });
  options.log?.('fuse', printFused(fused));
  const rowBlocks = fuseRowBlocks(fused, limits);
  options.log?.('fuse-row-blocks', printFused(rowBlocks));
  const split = splitReductions(rowBlocks, limits, options.schedules);
  options.log?.('split-reductions', printFused(split));
  const planned = planMemory(split);
  options.log?.('plan-memory', printFused(planned));
  return planned;
}

/** Compiles a traced graph into a Program for the runtime. */
export function compile(graph: Graph, options: CompileOptions = {}): Program {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const planned = fuseGraph(graph, options);
  const tiled = lowerToTiles(planned, limits, options.schedules);
  const chunked = chunkBindings(tiled, limits);
  options.log?.('chunk-bindings', printChunked(chunked));
  const program = emitWgsl(chunked, graph);
  options.log?.('emit-wgsl', program.kernels.map((k) => `// ${k.name}\n${k.wgsl}`).join('\n'));
  return program;
}

export type { ScheduleOverrides } from './schedule.ts';
export { printFused } from './kernel-ir-print.ts';
