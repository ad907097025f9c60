/**
 * Structural checks of a Program before it runs: every id it uses exists, every dispatch matches
 * its kernel's declaration, and no dispatch binds one buffer twice with a write. A Program is data
 * that may come from a file or another version of the compiler, so the runtime checks it once and
 * explains a bad one in the compiler's terms instead of leaving WebGPU to fail on it later.
 */
import { TesseraError } from '../dsl/types.ts';
import type { Program, ProgramBuffer, Step } from '../program/index.ts';

const checked = new WeakSet<Program>();

/** Throws a TesseraError `program '<name>' is malformed: ...` for the first problem found. */
export function validateProgram(program: Program): void {
  if (checked.has(program)) return;
  const name = typeof program?.name === 'string' ? program.name : '?';
  const fail = (why: string): never => {
    throw new TesseraError(`program '${name}' is malformed: ${why}`);
  };
  if (program?.format !== 'tessera-program') fail(`format is '${String(program?.format)}', not 'tessera-program'`);
  if (program.version !== 1) fail(`version ${String(program.version)} is not supported (this runtime reads version 1)`);

  const buffers = new Map<number, ProgramBuffer>();
  for (const b of program.buffers) {
    if (!Number.isInteger(b.id)) fail(`buffer '${b.label}' has id ${String(b.id)}`);
    if (buffers.has(b.id)) fail(`buffer id ${b.id} is declared twice`);
    buffers.set(b.id, b);
  }
  const buffer = (id: number, where: string): ProgramBuffer => buffers.get(id) ?? fail(`${where} uses buffer ${id}, which is not declared`);

  const boundary = (list: Program['inputs'], role: 'input' | 'output'): void => {
    const used = new Set<number>();
    for (const t of list) {
      const b = buffer(t.buffer, `${role} '${t.name}'`);
      if (b.role !== role) fail(`${role} '${t.name}' lives in buffer ${b.id} ('${b.label}'), whose role is '${b.role}'`);
      if (used.has(b.id)) fail(`${role}s share buffer ${b.id} ('${b.label}')`);
      if (t.axes.length !== t.shape.length) fail(`${role} '${t.name}' has ${t.axes.length} axes but ${t.shape.length} sizes`);
      used.add(b.id);
    }
  };
  boundary(program.inputs, 'input');
  boundary(program.outputs, 'output');
  const paramNames = new Set(program.params.map((p) => p.name));

  program.kernels.forEach((k, i) => {
    if (!Number.isInteger(k.uniformWords) || k.uniformWords < 0) fail(`kernel ${i} ('${k.name}') has uniformWords ${String(k.uniformWords)}`);
    for (const access of k.bindings) {
      if (access !== 'read' && access !== 'read_write') fail(`kernel '${k.name}' has binding access '${String(access)}'`);
    }
  });

  const steps = (list: readonly Step[]): void => {
    for (const step of list) {
      if (step.kind === 'loop') {
        if (!Number.isInteger(step.count) || step.count < 0) fail(`loop '${step.label}' has count ${String(step.count)}`);
        steps(step.body);
      } else if (step.kind === 'copy') {
        const src = buffer(step.src, `copy '${step.label}'`);
        const dst = buffer(step.dst, `copy '${step.label}'`);
        if (src.id === dst.id) fail(`copy '${step.label}' copies buffer ${src.id} onto itself`);
        if (dst.role === 'input') fail(`copy '${step.label}' writes into input buffer '${dst.label}'`);
      } else if (step.kind === 'dispatch') {
        const k = program.kernels[step.kernel];
        if (!k) fail(`step '${step.label}' runs kernel ${step.kernel}, but there are ${program.kernels.length} kernels`);
        const where = `step '${step.label}' (kernel '${k!.name}')`;
        if (step.buffers.length !== k!.bindings.length) {
          fail(`${where} binds ${step.buffers.length} buffers but the kernel declares ${k!.bindings.length} storage bindings`);
        }
        if (step.uniforms.length !== k!.uniformWords) fail(`${where} passes ${step.uniforms.length} uniform words but the kernel reads ${k!.uniformWords}`);
        step.buffers.forEach((id, i) => {
          const b = buffer(id, where);
          const access = k!.bindings[i]!;
          if (access === 'read_write' && b.role === 'input') fail(`${where} binds input buffer '${b.label}' as read_write at binding ${i}`);
          if (step.cached && b.role !== 'cache') {
            fail(`${where} is cached but binds ${b.role} buffer '${b.label}' (cached steps use cache buffers only)`);
          }
          const again = step.buffers.indexOf(id, i + 1);
          if (again >= 0 && (access === 'read_write' || k!.bindings[again] === 'read_write')) {
            fail(`${where} binds buffer '${b.label}' at bindings ${i} and ${again} and writes it (WebGPU forbids a written buffer aliasing another binding)`);
          }
        });
        for (const u of step.uniforms) {
          if ('param' in u && !paramNames.has(u.param)) fail(`${where} reads parameter '${u.param}', which the program does not declare`);
        }
        for (const bound of ['atLeast', 'below'] as const) {
          const v = step.when?.[bound];
          if (v !== undefined && !Number.isFinite(v)) fail(`${where} has when.${bound} = ${String(v)}; it must be a finite number`);
        }
      } else {
        fail(`unknown step kind '${String((step as { kind: unknown }).kind)}'`);
      }
    }
  };
  steps(program.steps);
  checked.add(program);
}
