/**
 * Names are data: axes, inputs, outputs and parameters called like `Object.prototype` members
 * (`constructor`, `toString`, `valueOf`, `hasOwnProperty`, `__proto__`) trace, compile and run on
 * the CPU backend and on WebGPU like any other name, matching the interpreter; the outputs come
 * back under their names (an output `__proto__` included, returned with a computed key), and a
 * missing input or parameter is reported by its name rather than read from the prototype.
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../compiler/index.ts';
import { add, contract, f32, ge, iota, kernel, logsumexp, loop, mul, param, relabel, rename, softmax, sum, where, type Kernel } from '../dsl/index.ts';
import type { Spec } from '../dsl/kernel.ts';
import { TesseraError, type HostTensor } from '../dsl/types.ts';
import { interpret } from '../interpreter/index.ts';
import { createCpuBackend, type Backend } from '../runtime/index.ts';
import { compileFor, run } from '../index.ts';
import { parseGraph } from '../dsl/parse.ts';
import { printGraph } from '../dsl/print.ts';
import { describeGPU } from './gpu.ts';

const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'] as const;
type Role = 'input' | 'axis' | 'output' | 'param';
const ROLES: readonly Role[] = ['input', 'axis', 'output', 'param'];

interface Case {
  readonly label: string;
  readonly kernel: Kernel;
  readonly inputs: Record<string, HostTensor>;
  readonly params: Record<string, number>;
  readonly outputs: readonly string[];
}

/** A record with own entries only (defined, not assigned, so `__proto__` is an entry, not the prototype). */
function own<T>(entries: [string, T][]): Record<string, T> {
  const record: Record<string, T> = {};
  for (const [key, value] of entries) Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  return record;
}

const X: HostTensor = { shape: [3, 2], data: new Float32Array([1, -2, 3.5, 4, -5, 6]) };

/** `out = sum over the first axis of (x · p)`, with one of its names replaced by `name`. */
function roleCase(role: Role, name: string): Case {
  const input = role === 'input' ? name : 'x';
  const axis = role === 'axis' ? name : 'a';
  const output = role === 'output' ? name : 'y';
  const scale = role === 'param' ? name : 'p';
  const specs = own<Spec>([
    [input, f32(axis, 'b')],
    [scale, param()],
  ]);
  const k = kernel(`${role} ${name}`, specs, (inputs) => {
    const ins = inputs as unknown as Record<string, Parameters<typeof mul>[0]>;
    return { [output]: sum(mul(ins[input]! as never, ins[scale]! as never), axis as never) } as never;
  });
  return { label: `${role} named '${name}'`, kernel: k, inputs: own([[input, X]]), params: own([[scale, 0.5]]), outputs: [output] };
}

/** Every special name at once, in different roles, with two outputs. */
const mixed: Case = {
  label: 'every special name at once',
  kernel: kernel(
    'mixed',
    own<Spec>([
      ['constructor', f32('toString', 'valueOf')],
      ['hasOwnProperty', param()],
    ]),
    (inputs) => {
      const ins = inputs as unknown as Record<string, never>;
      const x = ins['constructor']!;
      const s = ins['hasOwnProperty']!;
      return { ['__proto__']: sum(mul(x, s), 'toString' as never), ['valueOf']: add(x, 1) } as never;
    },
  ),
  inputs: own([['constructor', X]]),
  params: own([['hasOwnProperty', 2]]),
  outputs: ['__proto__', 'valueOf'],
};

const seeded = (shape: number[], seed: number): HostTensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 7.3 + i * 1.7)) });

/** softmax(q kᵀ) v with a causal mask, every axis and tensor named like a prototype member: the fused flash path. */
const attentionLike: Case = {
  label: 'a masked attention over axes named like prototype members',
  kernel: kernel(
    'attention-names',
    own<Spec>([
      ['constructor', f32('toString', 'valueOf').pin({ valueOf: 8 } as never)],
      ['toString', f32('hasOwnProperty', 'valueOf').pin({ valueOf: 8 } as never)],
      ['valueOf', f32('hasOwnProperty', '__proto__').pin(own([['__proto__', 4]]) as never)],
    ]),
    (inputs) => {
      const ins = inputs as unknown as Record<string, never>;
      const s = contract([ins['constructor']!, ins['toString']!], ['toString', 'hasOwnProperty'] as never) as never;
      const masked = where(ge(iota(s, 'toString' as never), iota(s, 'hasOwnProperty' as never)), s, -Infinity) as never;
      const o = contract([softmax(masked, 'hasOwnProperty' as never), ins['valueOf']!], ['toString', '__proto__'] as never);
      return own([
        ['__proto__', o],
        ['constructor', logsumexp(masked, 'hasOwnProperty' as never)],
      ]) as never;
    },
  ),
  inputs: own([
    ['constructor', seeded([5, 8], 1)],
    ['toString', seeded([7, 8], 2)],
    ['valueOf', seeded([7, 4], 3)],
  ]),
  params: {},
  outputs: ['__proto__', 'constructor'],
};

/** A matrix product summing over `valueOf`, iterated in a loop: the gemm and loop paths. */
const productLoop: Case = {
  label: 'a contraction in a loop over axes named like prototype members',
  kernel: kernel(
    'product-names',
    own<Spec>([
      ['__proto__', f32('constructor', 'valueOf')],
      ['hasOwnProperty', f32('valueOf', 'valueOf2' as never).pin({ valueOf2: 'valueOf' } as never)],
    ]),
    (inputs) => {
      const ins = inputs as unknown as Record<string, never>;
      const [out] = loop(2, [ins['__proto__']!] as never, (x: never) => [
        mul(relabel(contract([x, ins['hasOwnProperty']!], ['constructor', 'valueOf2'] as never), ['constructor', 'valueOf']) as never, 0.5),
      ] as never) as never[];
      return own([['toString', out!]]) as never;
    },
  ),
  inputs: own([
    ['__proto__', seeded([3, 6], 4)],
    ['hasOwnProperty', seeded([6, 6], 5)],
  ]),
  params: {},
  outputs: ['toString'],
};

const CASES: readonly Case[] = [...ROLES.flatMap((role) => NAMES.map((name) => roleCase(role, name))), mixed, attentionLike, productLoop];

async function expectMatchesInterpreter(backend: Backend, c: Case): Promise<void> {
  const graph = c.kernel.trace();
  const want = interpret(graph, c.inputs, { params: c.params });
  expect(Object.keys(want).sort()).toEqual([...c.outputs].sort());
  const outputs = await backend.run(compile(graph, { name: c.kernel.kernelName }), c.inputs, c.params);
  expect(Object.keys(outputs).sort(), 'output names').toEqual([...c.outputs].sort());
  for (const name of c.outputs) {
    expect(Object.hasOwn(outputs, name), `output '${name}' is an own entry`).toBe(true);
    const got = outputs[name]!;
    const w = want[name]!;
    expect(got.shape, `${name} shape`).toEqual(w.shape);
    const data = await got.read();
    got.destroy();
    const close = Array.from(w.data).every((v, i) => Math.abs(data[i]! - v) <= 1e-5 + 1e-5 * Math.abs(v));
    expect(close, `${name}: got [${Array.from(data).join(', ')}], expected [${Array.from(w.data).join(', ')}]`).toBe(true);
  }
}

describe('names that are Object.prototype members', () => {
  for (const name of NAMES) {
    it(`an axis named '${name}' is a symbol of its own (not Object.prototype's member)`, () => {
      const graph = roleCase('axis', name).kernel.trace();
      expect(graph.nodes[0]!.type.axes).toEqual([
        { name, size: name },
        { name: 'b', size: 'b' },
      ]);
      const pinned = roleCase('axis', name).kernel.trace({ sizes: own([[name, 3]]) });
      expect(pinned.nodes[0]!.type.axes[0]).toEqual({ name, size: 3 });
    });
  }

  it("an output '__proto__' returned with a computed key is a graph output", () => {
    const graph = mixed.kernel.trace();
    expect(Object.keys(graph.outputs).sort()).toEqual(['__proto__', 'valueOf']);
    expect(Object.hasOwn(graph.outputs, '__proto__')).toBe(true);
    expect(Object.keys(interpret(graph, mixed.inputs, { params: mixed.params })).sort()).toEqual(['__proto__', 'valueOf']);
  });

  for (const c of CASES) {
    it(`${c.label}: the CPU backend matches the interpreter`, () => expectMatchesInterpreter(createCpuBackend(), c));
  }

  for (const name of NAMES) {
    it(`a missing input or parameter named '${name}' is reported by name`, async () => {
      const input = roleCase('input', name);
      const program = compile(input.kernel.trace(), { name: 'p' });
      expect(() => interpret(input.kernel.trace(), {}, { params: { p: 1 } })).toThrow(new TesseraError(`input '${name}' is missing`));
      await expect(createCpuBackend().run(program, {}, { p: 1 })).rejects.toThrow(new TesseraError(`input '${name}' is missing`));
      const scaled = roleCase('param', name);
      expect(() => interpret(scaled.kernel.trace(), { x: X }, {})).toThrow(new TesseraError(`parameter '${name}' is missing`));
      await expect(createCpuBackend().run(compile(scaled.kernel.trace(), { name: 'p' }), { x: X }, {})).rejects.toThrow(new TesseraError(`parameter '${name}' is missing`));
    });
  }
});

/**
 * The same, through the entry points outside dsl/bind.ts, runtime/ and the interpreter: `run` and
 * `compileFor` (run.ts), `rename` (dsl/ops.ts) and `parseGraph` (dsl/parse.ts).
 */
describe('names that are Object.prototype members: run, compileFor, rename, parseGraph', () => {
  it("rename keeps an axis named 'constructor' that the mapping does not mention", () => {
    const k = kernel('rename', own<Spec>([['x', f32('constructor', 'b')]]), (inputs) => rename((inputs as unknown as Record<string, never>)['x']!, { b: 'c' } as never));
    const graph = k.trace();
    expect(graph.nodes[graph.outputs['out']!]!.type.axes.map((a) => a.name)).toEqual(['constructor', 'c']);
  });

  it("run() hands back an output named '__proto__' under its name", async () => {
    const got = await run(mixed.kernel, mixed.inputs, createCpuBackend(), { params: mixed.params });
    expect(Object.keys(got).sort()).toEqual(['__proto__', 'valueOf']);
    expect(Object.hasOwn(got, '__proto__')).toBe(true);
  });

  it("compileFor pins an attention head dim whose symbol is '__proto__' to the size the inputs bind", () => {
    const k = kernel('head-dims', { q: f32('n', 'valueOf'), k: f32('m', 'valueOf'), v: f32('m', '__proto__') }, ({ q, k, v }) => {
      const s = contract([q, k], ['n', 'm'] as const);
      return contract([softmax(s, 'm'), v], ['n', '__proto__'] as const);
    });
    const inputs = { q: seeded([5, 8], 1), k: seeded([6, 8], 2), v: seeded([6, 4], 3) };
    const program = compileFor(k, createCpuBackend(), {}, inputs);
    expect(program.inputs.map((t) => t.shape)).toEqual([
      ['n', 8],
      ['m', 8],
      ['m', 4],
    ]);
  });

  it("printed IR with outputs named 'constructor' and '__proto__' parses back", () => {
    const k = kernel('outs', { x: f32('n') }, ({ x }) => own([['constructor', add(x, 1)], ['__proto__', mul(x, 2)]]) as never);
    const text = printGraph(k.trace());
    const parsed = parseGraph(text);
    expect(Object.keys(parsed.outputs).sort()).toEqual(['__proto__', 'constructor']);
    expect(printGraph(parsed)).toBe(text);
  });
});

describeGPU('names that are Object.prototype members on WebGPU', (gpu) => {
  for (const c of CASES) {
    it(`${c.label}: WebGPU matches the interpreter`, () => expectMatchesInterpreter(gpu, c));
  }

  it('a missing input or parameter is reported by name', async () => {
    for (const name of NAMES) {
      await expect(gpu.run(compile(roleCase('input', name).kernel.trace(), { name: 'p' }), {}, { p: 1 })).rejects.toThrow(new TesseraError(`input '${name}' is missing`));
      await expect(gpu.run(compile(roleCase('param', name).kernel.trace(), { name: 'p' }), { x: X }, {})).rejects.toThrow(new TesseraError(`parameter '${name}' is missing`));
    }
  });
});
