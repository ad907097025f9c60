/**
 * A compiled Program through its JSON form, the way a build step ships it: `serializeProgram` and
 * `parseProgram` round-trip every library kernel's Program exactly (the −∞ of a `where` mask, NaN
 * and −0 constants included), the parsed Program runs on the CPU backend and on WebGPU like the
 * interpreter on the original, and a Program written with plain `JSON.stringify` (its −∞ turned
 * into `null`) or otherwise malformed is refused with an exact message instead of computing wrong
 * numbers.
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../compiler/index.ts';
import { add, f32, gt, kernel, mul, where } from '../dsl/index.ts';
import type { Graph } from '../dsl/ir.ts';
import { TesseraError, type HostTensor } from '../dsl/types.ts';
import { interpret } from '../interpreter/index.ts';
import { attentionKernel, einsumKernel, hopfieldKernel } from '../kernels/index.ts';
import * as programModule from '../program/index.ts';
import { createCpuBackend, parseProgram, serializeProgram, validateProgram, type Backend, type Program } from '../runtime/index.ts';
import { describeGPU } from './gpu.ts';
import { count, random } from './helpers.ts';

const F32 = { rtol: 2e-4, atol: 2e-5 };

interface Case {
  readonly name: string;
  readonly program: () => Program;
  /** Values of the size symbols the inputs bind. */
  readonly symbols: Readonly<Record<string, number>>;
  readonly params?: Readonly<Record<string, number>>;
}

const attentionCase = (name: string, config: Parameters<typeof attentionKernel>[0], nm: { n: number; m: number }): Case => ({
  name,
  program: () => compile(attentionKernel(config).trace({ sizes: { d: 8, e: 4 } }), { name }),
  symbols: { b: 2, hkv: 2, g: 2, n: nm.n, m: nm.m },
  params: { scale: 0.35 },
});

const CASES: readonly Case[] = [
  { name: 'einsum matmul', program: () => compile(einsumKernel('ij,jk->ik', [2, 2]).trace(), { name: 'einsum matmul' }), symbols: { i: 5, j: 7, k: 3 } },
  { name: 'einsum diagonal', program: () => compile(einsumKernel('ii->i', [2]).trace(), { name: 'einsum diagonal' }), symbols: { i: 6 } },
  { name: 'einsum batched', program: () => compile(einsumKernel('bij,bjk->bik', [3, 3]).trace(), { name: 'einsum batched' }), symbols: { b: 2, i: 3, j: 5, k: 4 } },
  { name: 'einsum three operands', program: () => compile(einsumKernel('ij,jk,kl->il', [2, 2, 2]).trace(), { name: 'einsum three' }), symbols: { i: 3, j: 4, k: 5, l: 2 } },
  attentionCase('attention plain', {}, { n: 7, m: 9 }),
  attentionCase('attention causal', { causal: true }, { n: 7, m: 7 }),
  attentionCase('attention sliding window', { causal: true, window: 3 }, { n: 9, m: 9 }),
  attentionCase('attention document mask', { documentMask: true }, { n: 11, m: 11 }),
  attentionCase('attention softcap alibi prefix', { softcap: 20, alibi: true, prefix: 2 }, { n: 6, m: 6 }),
  {
    name: 'hopfield',
    program: () => compile(hopfieldKernel(2).trace({ sizes: { d: 8, e: 3 } }), { name: 'hopfield' }),
    symbols: { b: 1, h: 2, n: 5, m: 9 },
  },
];

/** Seeded inputs for a program's declared inputs (i32 document ids in 0..2: blocks of 4, and repeats). */
function inputsFor(program: Program, symbols: Readonly<Record<string, number>>, seed: number): Record<string, HostTensor> {
  const inputs: Record<string, HostTensor> = {};
  program.inputs.forEach((t, i) => {
    const shape = t.shape.map((s) => (typeof s === 'number' ? s : symbols[s]!));
    const n = count(shape);
    inputs[t.name] =
      t.dtype === 'i32'
        ? { shape, dtype: 'i32', data: Int32Array.from({ length: n }, (_, j) => Math.floor((j % shape[shape.length - 1]!) / 4)) }
        : { shape, data: random(n, seed + i) };
  });
  return inputs;
}

/** Every output of a run read back, by name. */
async function runOn(backend: Backend, program: Program, inputs: Record<string, HostTensor>, params: Readonly<Record<string, number>> = {}) {
  const outputs = await backend.run(program, inputs, params);
  const results: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> = {};
  for (const [name, t] of Object.entries(outputs)) {
    results[name] = { shape: t.shape, data: await t.read() };
    t.destroy();
  }
  return results;
}

/** Elementwise comparison; equal values (equal infinities included) always match. */
function expectClose(label: string, got: { shape: readonly number[]; data: ArrayLike<number> }, want: { shape: readonly number[]; data: ArrayLike<number> }, tol: { rtol: number; atol: number }): void {
  expect(got.shape, `${label} shape`).toEqual(want.shape);
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!;
    const w = want.data[i]!;
    if (Object.is(g, w) || (g === w && tol.atol > 0)) continue;
    if (!(Math.abs(g - w) <= tol.atol + tol.rtol * Math.abs(w))) expect.fail(`${label} at flat index ${i}: got ${g}, expected ${w}`);
  }
}

/** Checks a parsed program against the interpreter on the original program's graph. */
async function expectRunsLikeOriginal(backend: Backend, c: Case, original: Program, parsed: Program, tol: { rtol: number; atol: number }): Promise<void> {
  const inputs = inputsFor(original, c.symbols, 17);
  const want = interpret(original.graph, inputs, { params: c.params ?? {} });
  const got = await runOn(backend, parsed, inputs, c.params);
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    // The CPU backend hands f32 results back as Float32Array; compare with the f64 reference rounded.
    const rounded = { shape: w.shape, data: w.dtype === 'f32' ? Float32Array.from(w.data) : w.data };
    expectClose(`${c.name} ${name}`, got[name]!, rounded, tol);
  }
}

/** The id (and enclosing loop, if any) of the first const node holding `value`, by Object.is. */
function findConst(graph: Graph, value: number): number {
  return graph.nodes.findIndex((n) => n.op === 'const' && Object.is(n.value, value));
}

describe('Program JSON', () => {
  it('is exported from program/ and runtime/', () => {
    expect(programModule.serializeProgram).toBe(serializeProgram);
    expect(programModule.parseProgram).toBe(parseProgram);
  });

  for (const c of CASES) {
    it(`${c.name}: round-trips exactly and runs on the CPU backend like the interpreter`, async () => {
      const original = c.program();
      const text = serializeProgram(original);
      const parsed = parseProgram(text);
      expect(parsed).toEqual(original);
      expect(serializeProgram(parsed)).toBe(text);
      await expectRunsLikeOriginal(createCpuBackend(), c, original, parsed, { rtol: 0, atol: 0 });
    });
  }

  it('keeps the -Infinity of a where mask, and NaN, Infinity and -0 constants', () => {
    const k = kernel('specials', { x: f32('n') }, ({ x }) => ({
      masked: where(gt(x, 0), x, -Infinity),
      big: mul(x, Infinity),
      negZero: add(x, -0),
      nan: add(x, 1),
    }));
    const compiled = compile(k.trace(), { name: 'specials' });
    // The DSL refuses NaN operands, but a Program is data: a NaN const must survive as well.
    const one = findConst(compiled.graph, 1);
    const nodes = compiled.graph.nodes.map((n) => (n.id === one ? { ...n, value: NaN } : n));
    const original: Program = { ...compiled, graph: { ...compiled.graph, nodes } };
    for (const value of [-Infinity, NaN, Infinity, -0]) expect(findConst(original.graph, value), `a const ${value}`).toBeGreaterThanOrEqual(0);
    const parsed = parseProgram(serializeProgram(original));
    for (const value of [-Infinity, NaN, Infinity, -0]) {
      const id = findConst(original.graph, value);
      const node = parsed.graph.nodes[id]!;
      expect(node.op).toBe('const');
      expect(Object.is((node as { value: number }).value, value), `const %${id} is ${String(value)}`).toBe(true);
    }
    expect(parsed).toEqual(original);
  });

  it('refuses a Program written with plain JSON.stringify (-Infinity became null), on both paths', async () => {
    const original = compile(attentionKernel({ causal: true }).trace({ sizes: { d: 8, e: 4 } }), { name: 'causal' });
    const id = findConst(original.graph, -Infinity);
    expect(id).toBeGreaterThanOrEqual(0);
    const message =
      `program 'causal' is malformed: graph node %${id} (const) has value null, not a number ` +
      '(plain JSON.stringify writes Infinity, -Infinity and NaN as null: save a Program with serializeProgram and load it with parseProgram)';
    const plain = JSON.stringify(original);
    const shipped = JSON.parse(plain) as Program;
    expect(() => validateProgram(shipped)).toThrow(new TesseraError(message));
    const c = CASES.find((x) => x.name === 'attention causal')!;
    await expect(createCpuBackend().run(shipped, inputsFor(original, c.symbols, 1), c.params)).rejects.toThrow(new TesseraError(message));
    expect(() => parseProgram(plain)).toThrow(new TesseraError(message));
  });

  it('refuses text that is not JSON, and JSON that is not a Program', () => {
    expect(() => parseProgram('{"format": ')).toThrow(/^parseProgram: the text is not JSON: /);
    expect(() => parseProgram('[1, 2]')).toThrow(new TesseraError("program '?' is malformed: it is not an object with the fields of a Program"));
    expect(() => parseProgram('{"format": "onnx"}')).toThrow(new TesseraError("program '?' is malformed: format is 'onnx', not 'tessera-program'"));
    expect(() => parseProgram('{"format": "tessera-program", "version": 2, "name": "p"}')).toThrow(
      new TesseraError("program 'p' is malformed: version 2 is not supported (this runtime reads version 1)"),
    );
  });

  describe('validation of every field', () => {
    const base = compile(einsumKernel('ij,jk->ik', [2, 2]).trace(), { name: 'mm' });
    const broken = (edit: (p: Record<string, unknown>) => void): Program => {
      const p = JSON.parse(serializeProgram(base)) as Record<string, unknown>;
      edit(p);
      return p as unknown as Program;
    };
    const nodes = (p: Record<string, unknown>) => (p['graph'] as { nodes: Record<string, unknown>[] }).nodes;
    const cases: [string, (p: Record<string, unknown>) => void, string][] = [
      ['a name that is not a string', (p) => (p['name'] = 3), "program '?' is malformed: name is 3, not a string"],
      ['inputs that are not a list', (p) => (p['inputs'] = {}), "program 'mm' is malformed: inputs is not an array"],
      ['a missing graph', (p) => delete p['graph'], "program 'mm' is malformed: graph is not an object with nodes and outputs"],
      ['an input with a bad dtype', (p) => ((p['inputs'] as Record<string, unknown>[])[0]!['dtype'] = 'f64'), "program 'mm' is malformed: input 'x0' has dtype 'f64'; the dtypes are f32, i32, u32, bool"],
      ['an input with a bad shape', (p) => ((p['inputs'] as Record<string, unknown>[])[0]!['shape'] = [null, 'j']), "program 'mm' is malformed: input 'x0' has size null at position 0; a size is a whole number >= 1 or a symbol name"],
      ['a buffer with bad bytes', (p) => ((p['buffers'] as Record<string, unknown>[])[0]!['bytes'] = { op: 'pow', args: [2] }), "program 'mm' is malformed: buffer 0 has bytes {\"op\":\"pow\",\"args\":[2]}, which is not a size expression"],
      ['a buffer with a bad role', (p) => ((p['buffers'] as Record<string, unknown>[])[0]!['role'] = 'scratch'), "program 'mm' is malformed: buffer 0 has role 'scratch'; the roles are input, output, temp, cache"],
      ['a kernel without WGSL', (p) => delete (p['kernels'] as Record<string, unknown>[])[0]!['wgsl'], `program 'mm' is malformed: kernel 0 ('${base.kernels[0]!.name}') has no WGSL text`],
      ['a step of unknown kind', (p) => ((p['steps'] as Record<string, unknown>[])[0]!['kind'] = 'barrier'), "program 'mm' is malformed: unknown step kind 'barrier'"],
      ['finite steps that are not a list', (p) => (p['finiteSteps'] = 3), "program 'mm' is malformed: finiteSteps is 3, not a list of steps"],
      ['a finite step of unknown kind', (p) => (p['finiteSteps'] = [{ kind: 'barrier', label: 'b' }]), "program 'mm' is malformed: unknown step kind 'barrier'"],
      ['a node out of order', (p) => (nodes(p)[1]!['id'] = 5), "program 'mm' is malformed: graph node at index 1 has id 5"],
      ['an operand defined later', (p) => (nodes(p)[4]!['args'] = [2, 4]), "program 'mm' is malformed: graph node %4 (contract) reads %4, which is not defined before it"],
      ['a relabel without names', (p) => delete nodes(p)[3]!['names'], "program 'mm' is malformed: graph node %3 (relabel) has names undefined, not a list of names"],
      ['an unknown op', (p) => (nodes(p)[0]!['op'] = 'conv'), "program 'mm' is malformed: graph node %0 has op 'conv', which this runtime does not know"],
      ['an output of a missing node', (p) => ((p['graph'] as { outputs: Record<string, unknown> }).outputs['out'] = 9), "program 'mm' is malformed: graph output 'out' is node 9, which does not exist"],
    ];
    for (const [what, edit, message] of cases) {
      it(`refuses ${what}`, () => {
        expect(() => validateProgram(broken(edit))).toThrow(new TesseraError(message));
      });
    }
  });
});

describeGPU('Program JSON on WebGPU', (gpu) => {
  for (const c of CASES) {
    it(`${c.name}: the parsed program matches the interpreter on the original`, async () => {
      const original = c.program();
      await expectRunsLikeOriginal(gpu, c, original, parseProgram(serializeProgram(original)), F32);
    });
  }

  it('refuses a Program written with plain JSON.stringify before touching the device', async () => {
    const c = CASES.find((x) => x.name === 'attention causal')!;
    const original = c.program();
    const id = findConst(original.graph, -Infinity);
    const shipped = JSON.parse(JSON.stringify(original)) as Program;
    await expect(gpu.run(shipped, inputsFor(original, c.symbols, 1), c.params)).rejects.toThrow(
      new TesseraError(
        `program '${original.name}' is malformed: graph node %${id} (const) has value null, not a number ` +
          '(plain JSON.stringify writes Infinity, -Infinity and NaN as null: save a Program with serializeProgram and load it with parseProgram)',
      ),
    );
  });
});
