/**
 * Structural checks of a Program before it runs. A Program is data that may come from a file,
 * another version of the compiler or a hand-edited JSON, so every field is checked once — its
 * type, every id it uses, every dispatch against its kernel's declaration, no dispatch binding one
 * buffer twice with a write, and the traced graph the CPU backend interprets (node ids in order,
 * operands defined before use, every constant a number) — and a bad one is explained in the
 * compiler's terms instead of failing later in WebGPU or computing wrong numbers.
 */
import { TesseraError, DTYPES, type DType } from '../dsl/types.ts';
import type { Program, ProgramBuffer, Step } from './program.ts';

const checked = new WeakSet<object>();

const NODE_OPS = new Set([
  'csr',
  'segment_reduce',
  'segment_softmax',
  'segment_ids',
  'input',
  'param',
  'const',
  'iota',
  'size',
  'map',
  'reduce',
  'contract',
  'relabel',
  'gather',
  'composite',
  'loop',
  'scan',
  'chunk',
  'flash',
  'loop_result',
  'carry',
  'capture',
]);
const SIZE_OPS = new Set(['mul', 'add', 'ceildiv', 'max', 'min']);
const ROLES = ['input', 'output', 'temp', 'cache'] as const;

type Fields = Record<string, unknown>;

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIndex = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isSize = (v: unknown): boolean => (typeof v === 'number' && Number.isInteger(v) && v >= 1) || (typeof v === 'string' && v !== '');
const isDType = (v: unknown): v is DType => (DTYPES as readonly unknown[]).includes(v);

/** A value as messages show it: strings quoted, objects as JSON. */
function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'object' && v !== null) {
    try {
      return JSON.stringify(v);
    } catch {
      return Array.isArray(v) ? 'an array' : 'an object';
    }
  }
  return String(v);
}

/** Whether `v` is a size expression: a number, a symbol, or an operation over size expressions. */
function isSizeExpr(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v === 'string') return v !== '';
  return isObject(v) && SIZE_OPS.has(v['op'] as string) && Array.isArray(v['args']) && (v['args'] as unknown[]).every(isSizeExpr);
}

/**
 * Why a number field holds something else, with the usual cause spelled out: plain
 * `JSON.stringify` writes Infinity, -Infinity and NaN as null, and serializeProgram's tagged
 * numbers mean the text was read without parseProgram.
 */
function notANumber(v: unknown): string {
  if (v === null) {
    return 'null, not a number (plain JSON.stringify writes Infinity, -Infinity and NaN as null: save a Program with serializeProgram and load it with parseProgram)';
  }
  if (isObject(v) && Object.keys(v).length === 1 && '$number' in v) {
    return `${show(v)}, not a number (serializeProgram's encoding of a special number: load the text with parseProgram)`;
  }
  return `${show(v)}, not a number`;
}

/** Throws a TesseraError `program '<name>' is malformed: ...` for the first problem found. */
export function validateProgram(program: Program): void {
  if (typeof program === 'object' && program !== null && checked.has(program)) return;
  const p = program as unknown as Fields;
  const name = isObject(p) && typeof p['name'] === 'string' ? p['name'] : '?';
  const fail: (why: string) => never = (why) => {
    throw new TesseraError(`program '${name}' is malformed: ${why}`);
  };
  if (!isObject(p)) fail('it is not an object with the fields of a Program');
  if (p['format'] !== 'tessera-program') fail(`format is ${show(p['format'])}, not 'tessera-program'`);
  if (p['version'] !== 1) fail(`version ${show(p['version'])} is not supported (this runtime reads version 1)`);
  if (typeof p['name'] !== 'string') fail(`name is ${show(p['name'])}, not a string`);
  for (const field of ['inputs', 'params', 'outputs', 'buffers', 'kernels', 'steps']) {
    if (!Array.isArray(p[field])) fail(`${field} is not an array`);
    (p[field] as unknown[]).forEach((entry, i) => {
      if (!isObject(entry)) fail(`${field}[${i}] is ${show(entry)}, not an object`);
    });
  }
  const graph = p['graph'];
  if (!isObject(graph) || !Array.isArray(graph['nodes']) || !isObject(graph['outputs'])) fail('graph is not an object with nodes and outputs');

  // ---- buffers ----
  const buffers = new Map<number, ProgramBuffer>();
  for (const b of program.buffers) {
    if (typeof b.label !== 'string') fail(`buffer ${show(b.id)} has label ${show(b.label)}, not a string`);
    if (!isIndex(b.id)) fail(`buffer '${b.label}' has id ${show(b.id)}`);
    if (buffers.has(b.id)) fail(`buffer id ${b.id} is declared twice`);
    if (!(ROLES as readonly unknown[]).includes(b.role)) fail(`buffer ${b.id} has role ${show(b.role)}; the roles are ${ROLES.join(', ')}`);
    if (!isSizeExpr(b.bytes)) fail(`buffer ${b.id} has bytes ${show(b.bytes)}, which is not a size expression`);
    buffers.set(b.id, b);
  }
  const buffer = (id: number, where: string): ProgramBuffer => buffers.get(id) ?? fail(`${where} uses buffer ${show(id)}, which is not declared`);

  // ---- boundary tensors and parameters ----
  const checkName = (what: string, i: number, entry: { name: unknown }, seen: Set<string>): string => {
    if (typeof entry.name !== 'string' || entry.name === '') fail(`${what} ${i} has name ${show(entry.name)}, not a non-empty string`);
    const n = entry.name as string;
    if (seen.has(n)) fail(`${what} name '${n}' is declared twice`);
    seen.add(n);
    return n;
  };
  const boundary = (list: Program['inputs'], role: 'input' | 'output'): void => {
    const used = new Set<number>();
    const names = new Set<string>();
    list.forEach((t, i) => {
      const n = checkName(role, i, t, names);
      if (!isDType(t.dtype)) fail(`${role} '${n}' has dtype ${show(t.dtype)}; the dtypes are ${DTYPES.join(', ')}`);
      if (!Array.isArray(t.axes) || !t.axes.every((a) => typeof a === 'string')) fail(`${role} '${n}' has axes ${show(t.axes)}, not a list of names`);
      if (!Array.isArray(t.shape)) fail(`${role} '${n}' has shape ${show(t.shape)}, not a list of sizes`);
      t.shape.forEach((s, at) => {
        if (!isSize(s)) fail(`${role} '${n}' has size ${show(s)} at position ${at}; a size is a whole number >= 1 or a symbol name`);
      });
      if (t.axes.length !== t.shape.length) fail(`${role} '${n}' has ${t.axes.length} axes but ${t.shape.length} sizes`);
      const b = buffer(t.buffer, `${role} '${n}'`);
      if (b.role !== role) fail(`${role} '${n}' lives in buffer ${b.id} ('${b.label}'), whose role is '${b.role}'`);
      if (used.has(b.id)) fail(`${role}s share buffer ${b.id} ('${b.label}')`);
      used.add(b.id);
    });
  };
  boundary(program.inputs, 'input');
  boundary(program.outputs, 'output');
  const paramNames = new Set<string>();
  program.params.forEach((param, i) => {
    const n = checkName('parameter', i, param, paramNames);
    if (!isDType(param.dtype)) fail(`parameter '${n}' has dtype ${show(param.dtype)}; the dtypes are ${DTYPES.join(', ')}`);
  });

  // ---- kernels ----
  program.kernels.forEach((k, i) => {
    if (typeof k.name !== 'string') fail(`kernel ${i} has name ${show(k.name)}, not a string`);
    const where = `kernel ${i} ('${k.name}')`;
    if (typeof k.wgsl !== 'string') fail(`${where} has no WGSL text`);
    if (typeof k.entryPoint !== 'string' || k.entryPoint === '') fail(`${where} has entry point ${show(k.entryPoint)}, not a function name`);
    if (!Array.isArray(k.workgroupSize) || k.workgroupSize.length !== 3 || !k.workgroupSize.every((s) => Number.isInteger(s) && s >= 1)) {
      fail(`${where} has workgroup size ${show(k.workgroupSize)}; it must be three whole numbers >= 1`);
    }
    if (!Number.isInteger(k.uniformWords) || k.uniformWords < 0) fail(`${where} has uniformWords ${show(k.uniformWords)}`);
    if (!Array.isArray(k.bindings)) fail(`${where} has bindings ${show(k.bindings)}, not a list`);
    for (const access of k.bindings) {
      if (access !== 'read' && access !== 'read_write') fail(`kernel '${k.name}' has binding access ${show(access)}`);
    }
  });

  // ---- steps ----
  const uniformWord = (u: unknown, where: string, i: number): void => {
    const at = `${where} uniform word ${i}`;
    if (!isObject(u)) fail(`${at} is ${show(u)}, not an object`);
    const keys = Object.keys(u);
    if (keys.length !== 1 || !['size', 'param', 'f32', 'u32'].includes(keys[0]!)) fail(`${at} is ${show(u)}; a word is one of {size}, {param}, {f32}, {u32}`);
    const key = keys[0]!;
    const v = u[key];
    if (key === 'size' && !isSizeExpr(v)) fail(`${at} has size ${show(v)}, which is not a size expression`);
    if (key === 'param' && (typeof v !== 'string' || !paramNames.has(v))) fail(`${where} reads parameter ${show(v)}, which the program does not declare`);
    if (key === 'f32' && typeof v !== 'number') fail(`${at} is ${notANumber(v)}`);
    if (key === 'u32' && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff)) fail(`${at} is ${show(v)}, not a u32`);
  };
  const steps = (list: readonly Step[]): void => {
    for (const step of list) {
      const kind = (step as { kind: unknown }).kind;
      if (kind !== 'dispatch' && kind !== 'copy' && kind !== 'loop') fail(`unknown step kind ${show(kind)}`);
      if (typeof step.label !== 'string') fail(`a ${kind} step has label ${show(step.label)}, not a string`);
      if (step.kind === 'loop') {
        if (!Number.isInteger(step.count) || step.count < 0) fail(`loop '${step.label}' has count ${show(step.count)}`);
        if (!Array.isArray(step.body)) fail(`loop '${step.label}' has no body of steps`);
        step.body.forEach((s, i) => {
          if (!isObject(s)) fail(`loop '${step.label}' step ${i} is ${show(s)}, not an object`);
        });
        steps(step.body);
      } else if (step.kind === 'copy') {
        const src = buffer(step.src, `copy '${step.label}'`);
        const dst = buffer(step.dst, `copy '${step.label}'`);
        if (!isSizeExpr(step.bytes)) fail(`copy '${step.label}' has bytes ${show(step.bytes)}, which is not a size expression`);
        if (src.id === dst.id) fail(`copy '${step.label}' copies buffer ${src.id} onto itself`);
        if (dst.role === 'input') fail(`copy '${step.label}' writes into input buffer '${dst.label}'`);
      } else {
        const k = isIndex(step.kernel) ? program.kernels[step.kernel] : undefined;
        if (!k) fail(`step '${step.label}' runs kernel ${show(step.kernel)}, but there are ${program.kernels.length} kernels`);
        const where = `step '${step.label}' (kernel '${k!.name}')`;
        if (!Array.isArray(step.buffers)) fail(`${where} has buffers ${show(step.buffers)}, not a list of buffer ids`);
        if (!Array.isArray(step.uniforms)) fail(`${where} has uniforms ${show(step.uniforms)}, not a list of words`);
        if (!isSizeExpr(step.workgroups)) fail(`${where} has workgroups ${show(step.workgroups)}, which is not a size expression`);
        if (step.cached !== undefined && typeof step.cached !== 'boolean') fail(`${where} has cached ${show(step.cached)}, not true or false`);
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
        step.uniforms.forEach((u, i) => uniformWord(u, where, i));
        if (step.chunks !== undefined) {
          const c = step.chunks;
          if (!isObject(c) || !isSizeExpr(c.count) || !Array.isArray(c.slices)) fail(`${where} has chunks ${show(c)}, which is not { count, word, slices }`);
          if (!isIndex(c.word) || c.word >= step.uniforms.length) fail(`${where} passes the chunk index in uniform word ${show(c.word)}, but it has ${step.uniforms.length} words`);
          c.slices.forEach((slice, i) => {
            if (!isObject(slice) || !isIndex(slice.binding) || slice.binding >= step.buffers.length || !isSizeExpr(slice.stride) || !isSizeExpr(slice.bytes)) {
              fail(`${where} has chunk slice ${i} ${show(slice)}, which is not { binding, stride, bytes } over its ${step.buffers.length} bindings`);
            }
          });
        }
        if (step.when !== undefined) {
          // One range, or a non-empty list of ranges that must all hold.
          const list = Array.isArray(step.when);
          const ranges: unknown[] = list ? step.when : [step.when];
          if (ranges.length === 0) fail(`${where} has when [], which is not a size range or a list of them`);
          ranges.forEach((range, i) => {
            const name = list ? `when[${i}]` : 'when';
            if (!isObject(range) || !isSizeExpr(range.size)) fail(`${where} has ${name} ${show(range)}, which is not a size range`);
            for (const bound of ['atLeast', 'below'] as const) {
              const v = (range as Record<string, unknown>)[bound];
              if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v))) fail(`${where} has ${name}.${bound} = ${String(v)}; it must be a finite number`);
            }
          });
        }
      }
    }
  };
  steps(program.steps);
  if (program.finiteSteps !== undefined) {
    if (!Array.isArray(program.finiteSteps)) fail(`finiteSteps is ${show(program.finiteSteps)}, not a list of steps`);
    steps(program.finiteSteps);
  }

  validateGraph(graph as Fields, '', fail);
  checked.add(program);
}

/**
 * The traced graph's structure: nodes in order with their ids, each op's fields of the right
 * types, operands defined before use, outputs naming existing nodes. Loop and flash bodies are
 * checked the same way. Types are the interpreter's business (it re-verifies the graph).
 */
function validateGraph(graph: Fields, within: string, fail: (why: string) => never): void {
  const nodes = graph['nodes'] as unknown[];
  const outputs = graph['outputs'] as Fields;
  nodes.forEach((node, index) => {
    if (!isObject(node)) fail(`graph node at index ${index}${within} is ${show(node)}, not an object`);
    if (node['id'] !== index) fail(`graph node at index ${index}${within} has id ${show(node['id'])}`);
    const op = node['op'];
    if (typeof op !== 'string' || !NODE_OPS.has(op)) fail(`graph node %${index}${within} has op ${show(op)}, which this runtime does not know`);
    const at = `graph node %${index} (${op as string})${within}`;
    const type = node['type'];
    const typeOk =
      isObject(type) &&
      isDType(type['dtype']) &&
      Array.isArray(type['axes']) &&
      (type['axes'] as unknown[]).every((a) => isObject(a) && typeof a['name'] === 'string' && isSize(a['size']));
    if (!typeOk) fail(`${at} has type ${show(type)}, which is not a tensor type`);
    const string = (field: string): void => {
      if (typeof node[field] !== 'string') fail(`${at} has ${field} ${show(node[field])}, not a string`);
    };
    const index_ = (field: string): void => {
      if (!isIndex(node[field])) fail(`${at} has ${field} ${show(node[field])}, not a whole number >= 0`);
    };
    const ids = (field: string): void => {
      if (!Array.isArray(node[field]) || !(node[field] as unknown[]).every(isIndex)) fail(`${at} has ${field} ${show(node[field])}, not a list of node ids`);
    };
    const names = (field: string): void => {
      if (!Array.isArray(node[field]) || !(node[field] as unknown[]).every((n) => typeof n === 'string')) fail(`${at} has ${field} ${show(node[field])}, not a list of names`);
    };
    const body = (): void => {
      const b = node['body'];
      if (!isObject(b) || !Array.isArray(b['nodes']) || !isObject(b['outputs'])) fail(`${at} has a body that is not a graph with nodes and outputs`);
    };
    let reads: number[] = [];
    switch (op) {
      case 'input':
      case 'param':
        string('name');
        break;
      case 'const':
        if (typeof node['value'] !== 'number') fail(`${at} has value ${notANumber(node['value'])}`);
        break;
      case 'size': {
        const axis = node['axis'];
        if (!isObject(axis) || typeof axis['name'] !== 'string' || !isSize(axis['size'])) fail(`${at} has axis ${show(axis)}, which is not an axis`);
        break;
      }
      case 'map':
      case 'contract':
        if (op === 'map') string('fn');
        ids('args');
        reads = node['args'] as number[];
        break;
      case 'gather':
        ids('args');
        string('axis');
        if ((node['args'] as number[]).length !== 2) fail(`${at} has ${(node['args'] as number[]).length} operands; a gather reads a table and an index`);
        reads = node['args'] as number[];
        break;
      case 'csr': {
        ids('args');
        const rows = node['rows'];
        if (!isObject(rows) || typeof rows['name'] !== 'string' || !isSize(rows['size'])) fail(`${at} has rows ${show(rows)}, which is not an axis`);
        if (!isSize(node['cols'])) fail(`${at} has cols ${show(node['cols'])}, which is not a size`);
        if ((node['args'] as number[]).length !== 2) fail(`${at} has ${(node['args'] as number[]).length} operands; a CSR adjacency reads rowptr and col`);
        reads = node['args'] as number[];
        break;
      }
      case 'segment_reduce':
      case 'segment_softmax':
      case 'segment_ids':
        if (op === 'segment_reduce') string('fn');
        if (op !== 'segment_ids') string('axis');
        ids('args');
        if ((node['args'] as number[]).length !== (op === 'segment_ids' ? 1 : 2)) fail(`${at} has ${(node['args'] as number[]).length} operands`);
        reads = node['args'] as number[];
        break;
      case 'reduce':
        string('fn');
        index_('arg');
        names('axes');
        reads = [node['arg'] as number];
        break;
      case 'relabel':
        index_('arg');
        names('names');
        reads = [node['arg'] as number];
        break;
      case 'composite':
        string('fn');
        index_('arg');
        names('axes');
        if (node['eps'] !== undefined && typeof node['eps'] !== 'number') fail(`${at} has eps ${notANumber(node['eps'])}`);
        reads = [node['arg'] as number];
        break;
      case 'loop':
        index_('count');
        ids('init');
        ids('captures');
        body();
        reads = [...(node['init'] as number[]), ...(node['captures'] as number[])];
        break;
      case 'scan':
        string('axis');
        if (!(isIndex(node['chunk']) && (node['chunk'] as number) >= 1)) fail(`${at} has chunk ${show(node['chunk'])}, not a whole number >= 1`);
        string('size');
        ids('xs');
        ids('init');
        ids('captures');
        body();
        reads = [...(node['xs'] as number[]), ...(node['init'] as number[]), ...(node['captures'] as number[])];
        break;
      case 'flash':
        if (node['output'] !== 'o' && node['output'] !== 'lse') fail(`${at} has output ${show(node['output'])}; it is 'o' or 'lse'`);
        ids('args');
        names('axes');
        body();
        reads = node['args'] as number[];
        break;
      case 'loop_result':
        index_('loop');
        index_('index');
        reads = [node['loop'] as number];
        break;
      case 'carry':
      case 'capture':
      case 'chunk':
        index_('index');
        break;
    }
    for (const operand of reads) {
      if (operand >= index) fail(`${at} reads %${operand}, which is not defined before it`);
    }
    if (op === 'loop' || op === 'scan' || op === 'flash') validateGraph(node['body'] as Fields, ` in the body of %${index} (${op})${within}`, fail);
  });
  for (const [output, id] of Object.entries(outputs)) {
    if (!(isIndex(id) && id < nodes.length)) fail(`graph output '${output}'${within} is node ${show(id)}, which does not exist`);
  }
}
