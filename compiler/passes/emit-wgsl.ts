/**
 * emit-wgsl: assemble the runtime's plain-data Program from the tiled program — every kernel
 * emitted by its kind's emitter (`emit/registry.ts`) and printed, identical shaders shared, the
 * buffers with byte sizes as size expressions, and dispatch/copy/loop steps with their bindings
 * and uniform words (workgroup count, size symbols, parameters, opaque literals, and the chunk
 * index of a kernel run a chunk at a time, whose step gets `chunks`).
 */
import type { Graph } from '../../dsl/ir.ts';
import { boundaryOf } from '../../dsl/bind.ts';
import { sizeProduct, type ChunkedDispatch, type Program, type ProgramKernel, type SizeExpr, type Step, type UniformWord } from '../../program/index.ts';
import { emitModule } from '../emit/registry.ts';
import { floatFacts, type FloatFacts } from '../nonfinite.ts';
import { kernelOutputs, type BoundaryDecl, type Chunking, type KernelIR } from '../kernel-ir.ts';
import type { Schedule } from '../schedule.ts';
import { printWgsl } from '../wgsl/print.ts';
import type { TiledProgram, TiledStep } from './lower-to-tiles.ts';

/**
 * One kernel's WGSL text, the buffers it binds in binding order, its uniform words and grid, and
 * for a kernel run a chunk at a time its dispatch's `chunks`: one dispatch per chunk, the chunk
 * index in the last uniform word, each sliced buffer bound `rows · factor` rows at a time.
 */
function emitKernel(
  kernel: KernelIR,
  schedule: Schedule,
  facts: FloatFacts,
  chunk: Chunking | null,
  products: ReadonlySet<number>,
): { wgsl: string; workgroups: SizeExpr; uniforms: UniformWord[]; buffers: number[]; workgroupSize: number; chunks: ChunkedDispatch | null } {
  const { em, module, workgroups } = emitModule(kernel, schedule, facts, chunk, products);
  const uniforms: UniformWord[] = [
    { size: workgroups },
    ...em.symbols.map((s) => ({ size: s })),
    ...em.params.map((p) => ({ param: p.name })),
    ...em.literals.map((value) => ({ u32: value })),
    ...(chunk ? [{ u32: 0 }] : []),
  ];
  const buffers = [...em.bindingOf.entries()].sort((a, b) => a[1] - b[1]).map(([b]) => b);
  const chunks: ChunkedDispatch | null = chunk && {
    count: Math.ceil(chunk.extent / chunk.rows),
    word: uniforms.length - 1,
    slices: chunk.slices
      .map((s) => ({ binding: em.bindingOf.get(s.buffer)!, stride: 4 * chunk.rows * s.factor * s.rowElements, bytes: 4 * chunk.rows * s.factor * s.rowElements }))
      .sort((a, b) => a.binding - b.binding),
  };
  return { wgsl: printWgsl(module), workgroups, uniforms, buffers, workgroupSize: module.entry.workgroupSize[0], chunks };
}

/** Assembles the runtime Program from the tiled program. */
export function emitWgsl(program: TiledProgram, graph: Graph): Program {
  const kernels: ProgramKernel[] = [];
  const inputs = program.inputs.filter((t) => t.dtype === 'f32').map((t) => t.buffer);
  const facts = floatFacts(program.steps, inputs);
  // A GEMM's multiply-adds run on the device's IEEE arithmetic, and so do its operand prologues
  // over the caller's tensors: no compiler folding applies to values read from memory, and carrying
  // them as xf through every tile load cost the routing bench's split-K partials 2x on lavapipe.
  // Infinities the program writes itself (mask constants, singular ops) stay exact there too. Every
  // contraction — GEMM kernels, sums of products, a row block's GEMM stages and finals — emits under
  // this set (`Emitter.products`).
  const gemmNonFinite = new Set([...facts.nonFinite].filter((b) => !inputs.includes(b)));
  const byText = new Map<string, number>();
  const steps = (list: readonly TiledStep[], known: FloatFacts, products: ReadonlySet<number>): Step[] =>
    list.map((s): Step => {
      if (s.kind === 'copy') {
        const b = program.buffers[s.src]!;
        return { kind: 'copy', label: s.label, src: s.src, dst: s.dst, bytes: { op: 'mul', args: [4, sizeProduct(b.axes.map((a) => a.size))] } };
      }
      if (s.kind === 'loop') return { kind: 'loop', label: s.label, count: s.count, body: steps(s.body, known, products) };
      const e = emitKernel(s.kernel, s.schedule, known, s.chunk ?? null, products);
      let index = byText.get(e.wgsl);
      if (index === undefined) {
        index = kernels.length;
        byText.set(e.wgsl, index);
        kernels.push({
          name: `${program.name}:${s.kernel.kind}`,
          wgsl: e.wgsl,
          entryPoint: 'main',
          workgroupSize: [e.workgroupSize, 1, 1],
          bindings: e.buffers.map((b) => (kernelOutputs(s.kernel).some((o) => o.buffer === b) ? 'read_write' : 'read')),
          uniformWords: e.uniforms.length,
        });
      }
      const cached = kernelOutputs(s.kernel).every((o) => program.buffers[o.buffer]!.role === 'cache');
      return {
        kind: 'dispatch',
        kernel: index,
        label: `${s.kernel.kind} ${s.kernel.name}`,
        buffers: e.buffers,
        uniforms: e.uniforms,
        workgroups: e.workgroups,
        ...(cached ? { cached } : {}),
        ...(s.when ? { when: s.when } : {}),
        ...(e.chunks ? { chunks: e.chunks } : {}),
      };
    });
  const programSteps = steps(program.steps, facts, gemmNonFinite);
  // With finite inputs only what the program computes itself can be ±∞ or NaN: where that leaves
  // fewer values to carry as xf, a second list of steps for runs whose inputs are known finite.
  const finite = floatFacts(program.steps, []);
  const fewer = finite.nonFinite.size < facts.nonFinite.size;
  const finiteSteps = fewer ? steps(program.steps, finite, finite.nonFinite) : programSteps;
  const differ = fewer && JSON.stringify(finiteSteps) !== JSON.stringify(programSteps);
  const boundary = (t: BoundaryDecl) => ({ ...boundaryOf(t.name, t), buffer: t.buffer });
  return {
    format: 'tessera-program',
    version: 1,
    name: program.name,
    inputs: program.inputs.map(boundary),
    params: program.params,
    outputs: program.outputs.map(boundary),
    buffers: program.buffers.map((b) => ({ id: b.id, bytes: { op: 'mul', args: [4, b.elements ?? sizeProduct(b.axes.map((a) => a.size))] }, role: b.role, label: b.label })),
    kernels,
    steps: programSteps,
    ...(differ ? { finiteSteps } : {}),
    graph,
  };
}
