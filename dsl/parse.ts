/**
 * Parses printed Tensor IR (the text `printGraph` writes) back into a graph, so that pass tests can
 * start from IR text instead of DSL code. It is the exact inverse of `printGraph`:
 * `printGraph(parseGraph(text)) === text` for every printed graph. The parsed graph is verified;
 * every error names the line it comes from (`parseGraph: line 3: ...`).
 */
import { operands, type CompositeFn, type Graph, type Node, type ReduceFn, type SegmentFn } from './ir.ts';
import { DTYPES, TesseraError, type Axis, type DType, type Size, type TensorType } from './types.ts';
import { verifyGraph } from './verify.ts';
import { inferScanChunk } from './infer.ts';

const SEGMENT_FNS: ReadonlySet<string> = new Set<SegmentFn>(['sum', 'mean', 'max', 'min', 'logsumexp']);
const COMPOSITES: ReadonlySet<string> = new Set<CompositeFn>(['softmax', 'log_softmax', 'layer_norm']);

/** What printGraph writes for a number (`String(value)`): integers, decimals, exponents, ±Infinity, NaN. */
const NUMBER = /^(?:NaN|-?Infinity|-?\d+(?:\.\d+)?(?:e[+-]\d+)?)$/;
/** An axis, op or output name: anything without the printer's separators. */
const NAME = /^[^\s:,=[\]()%"{}]+$/;

interface Line {
  /** 1-based line number in the text. */
  readonly number: number;
  readonly indent: number;
  readonly text: string;
}

/** A parsed graph with the line of every node (and of its outputs line), for error messages. */
interface Located {
  readonly graph: Graph;
  readonly lines: readonly number[];
  readonly outputsLine: number;
  readonly bodies: ReadonlyMap<number, Located>;
}

function fail(line: number, message: string): never {
  throw new TesseraError(`parseGraph: line ${line}: ${message}`);
}

function parseNumber(text: string, line: number, what: string): number {
  if (!NUMBER.test(text)) fail(line, `expected a number for ${what}, got '${text}'`);
  return Number(text);
}

function parseCount(text: string, line: number, what: string): number {
  if (!/^\d+$/.test(text)) fail(line, `expected a whole number for ${what}, got '${text}'`);
  return Number(text);
}

function parseName(text: string, line: number, what: string): string {
  if (!NAME.test(text)) fail(line, `expected ${what}, got '${text}'`);
  return text;
}

/** `%12` → 12. */
function parseRef(text: string, line: number): number {
  const m = /^%(\d+)$/.exec(text);
  if (!m) fail(line, `expected a node reference like %3, got '${text}'`);
  return Number(m[1]);
}

/** A comma-separated list (`a, b`), empty for the empty string. */
function splitList(text: string): string[] {
  return text === '' ? [] : text.split(', ');
}

function parseRefs(text: string, line: number): number[] {
  return splitList(text).map((t) => parseRef(t, line));
}

function parseNames(text: string, line: number, what: string): string[] {
  return splitList(text).map((t) => parseName(t, line, what));
}

/** What a composite or flash node runs over: `j`, or jointly `[j, l]`. */
function parseOver(text: string, line: number): string[] {
  return text.startsWith('[') ? parseNames(text.slice(1, -1), line, 'an axis name') : [parseName(text, line, 'an axis name')];
}

/** `name:size`: a size of digits is static, anything else a symbol. */
function parseAxis(text: string, line: number): Axis {
  const cut = text.indexOf(':');
  if (cut < 0) fail(line, `expected an axis like n:n or d:64, got '${text}'`);
  const name = parseName(text.slice(0, cut), line, 'an axis name');
  const sizeText = text.slice(cut + 1);
  const size: Size = /^\d+$/.test(sizeText) ? Number(sizeText) : parseName(sizeText, line, `a size for axis '${name}'`);
  return { name, size };
}

/** `f32[i:i, j:4]`. */
function parseType(text: string, line: number): TensorType {
  const m = /^([a-z0-9]+)\[(.*)\]$/.exec(text);
  if (!m) fail(line, `expected a type like f32[i:i, j:4], got '${text}'`);
  const dtype = m[1]!;
  if (!(DTYPES as readonly string[]).includes(dtype)) fail(line, `unknown dtype '${dtype}' (expected one of ${DTYPES.join(', ')})`);
  return { dtype: dtype as DType, axes: splitList(m[2]!).map((a) => parseAxis(a, line)) };
}

/** One node's description (the text between `%id = ` and ` : type`), without its id and type. */
function parseDescription(text: string, line: number): Record<string, unknown> & { op: Node['op'] } {
  let m: RegExpExecArray | null;
  if ((m = /^input ("(?:[^"\\]|\\.)*")$/.exec(text))) return { op: 'input', name: JSON.parse(m[1]!) as string };
  if ((m = /^param ("(?:[^"\\]|\\.)*")$/.exec(text))) return { op: 'param', name: JSON.parse(m[1]!) as string };
  if ((m = /^const (\S+)$/.exec(text))) return { op: 'const', value: parseNumber(m[1]!, line, 'a constant') };
  if (text === 'iota') return { op: 'iota' };
  if ((m = /^size (\S+)$/.exec(text))) return { op: 'size', axis: parseAxis(m[1]!, line) };
  if ((m = /^map ([^(\s]+)\((.*)\)$/.exec(text))) return { op: 'map', fn: parseName(m[1]!, line, 'a scalar op name'), args: parseRefs(m[2]!, line) };
  if ((m = /^reduce ([^(\s]+)\((%\d+)\) over \[(.*)\]$/.exec(text))) {
    return { op: 'reduce', fn: parseName(m[1]!, line, 'a reduction name') as ReduceFn, arg: parseRef(m[2]!, line), axes: parseNames(m[3]!, line, 'an axis name') };
  }
  if ((m = /^contract\((.*)\)$/.exec(text))) return { op: 'contract', args: parseRefs(m[1]!, line) };
  if ((m = /^relabel\((%\d+)\) as \[(.*)\]$/.exec(text))) return { op: 'relabel', arg: parseRef(m[1]!, line), names: parseNames(m[2]!, line, 'an axis name') };
  if ((m = /^gather\((%\d+)\) along (\S+) at (%\d+)$/.exec(text))) {
    return { op: 'gather', args: [parseRef(m[1]!, line), parseRef(m[3]!, line)], axis: parseName(m[2]!, line, 'an axis name') };
  }
  if ((m = /^csr\((%\d+), (%\d+)\) rows (\S+) cols (\S+)$/.exec(text))) {
    const cols = /^\d+$/.test(m[4]!) ? Number(m[4]) : parseName(m[4]!, line, 'a size');
    return { op: 'csr', args: [parseRef(m[1]!, line), parseRef(m[2]!, line)], rows: parseAxis(m[3]!, line), cols };
  }
  if ((m = /^segment_reduce (\w+)\((%\d+)\) over (\S+) by (%\d+)$/.exec(text))) {
    if (!SEGMENT_FNS.has(m[1]!)) fail(line, `unknown segment reduction '${m[1]}'`);
    return { op: 'segment_reduce', fn: m[1]! as SegmentFn, args: [parseRef(m[2]!, line), parseRef(m[4]!, line)], axis: parseName(m[3]!, line, 'an axis name') };
  }
  if ((m = /^segment_softmax\((%\d+)\) over (\S+) by (%\d+)$/.exec(text))) {
    return { op: 'segment_softmax', args: [parseRef(m[1]!, line), parseRef(m[3]!, line)], axis: parseName(m[2]!, line, 'an axis name') };
  }
  if ((m = /^segment_ids\((%\d+)\)$/.exec(text))) return { op: 'segment_ids', args: [parseRef(m[1]!, line)] };
  if ((m = /^(\w+)\((%\d+)\) over (\[[^\]]*\]|\S+)(?: eps=(\S+))?$/.exec(text)) && COMPOSITES.has(m[1]!)) {
    const node = { op: 'composite' as const, fn: m[1]! as CompositeFn, arg: parseRef(m[2]!, line), axes: parseOver(m[3]!, line) };
    return m[4] === undefined ? node : { ...node, eps: parseNumber(m[4], line, 'eps') };
  }
  if ((m = /^loop (\S+) init\((.*)\) captures\((.*)\)$/.exec(text))) {
    return { op: 'loop', count: parseCount(m[1]!, line, 'a loop count'), init: parseRefs(m[2]!, line), captures: parseRefs(m[3]!, line) };
  }
  if ((m = /^flash (\S+) over (\[[^\]]*\]|\S+) args\((.*)\)$/.exec(text))) {
    const output = m[1]!;
    if (output !== 'o' && output !== 'lse') fail(line, `a flash node's output is o or lse, got '${output}'`);
    return { op: 'flash', output, args: parseRefs(m[3]!, line), axes: parseOver(m[2]!, line) };
  }
  if ((m = /^scan (\S+) chunk (\S+) size (\S+) xs\((.*)\) init\((.*)\) captures\((.*)\)$/.exec(text))) {
    return {
      op: 'scan',
      axis: parseName(m[1]!, line, 'an axis name'),
      chunk: parseCount(m[2]!, line, 'a chunk length'),
      size: parseName(m[3]!, line, 'a size symbol'),
      xs: parseRefs(m[4]!, line),
      init: parseRefs(m[5]!, line),
      captures: parseRefs(m[6]!, line),
    };
  }
  if ((m = /^chunk (\d+)$/.exec(text))) return { op: 'chunk', index: Number(m[1]) };
  if ((m = /^loop_result (%\d+)\[(\d+)\]$/.exec(text))) return { op: 'loop_result', loop: parseRef(m[1]!, line), index: Number(m[2]) };
  if ((m = /^carry (\S+)$/.exec(text))) return { op: 'carry', index: parseCount(m[1]!, line, 'a carry index') };
  if ((m = /^capture (\S+)$/.exec(text))) return { op: 'capture', index: parseCount(m[1]!, line, 'a capture index') };
  fail(line, `cannot read node '${text}'`);
}

/** `outputs a=%3, b=%5`. */
function parseOutputs(text: string, line: number): Record<string, number> {
  const outputs: Record<string, number> = {};
  for (const item of splitList(text)) {
    const m = /^(.+)=(%\d+)$/.exec(item);
    if (!m) fail(line, `expected an output like name=%3, got '${item}'`);
    const name = parseName(m[1]!, line, 'an output name');
    if (Object.hasOwn(outputs, name)) fail(line, `output '${name}' is listed twice`);
    // Defined, not assigned: an output may be named like an Object.prototype member (`__proto__`).
    Object.defineProperty(outputs, name, { value: parseRef(m[2]!, line), enumerable: true, writable: true, configurable: true });
  }
  return outputs;
}

/** Reads one graph at `indent` from `lines[at]` on; returns it and the index after its outputs line. */
function parseBlock(lines: readonly Line[], at: number, indent: number, endLine: number): { located: Located; next: number } {
  const nodes: Node[] = [];
  const nodeLines: number[] = [];
  const bodies = new Map<number, Located>();
  let i = at;
  for (;;) {
    const line = lines[i];
    if (!line) fail(endLine, `missing 'outputs' line${indent > 0 ? ' closing a loop or flash body' : ''}`);
    if (line.indent !== indent) fail(line.number, `expected indentation of ${indent} spaces, got ${line.indent}`);
    if (line.text.startsWith('outputs ')) {
      const outputs = parseOutputs(line.text.slice('outputs '.length), line.number);
      return { located: { graph: { nodes, outputs }, lines: nodeLines, outputsLine: line.number, bodies }, next: i + 1 };
    }
    const m = /^%(\d+) = (.*) : (.*?)( \{)?$/.exec(line.text);
    if (!m) fail(line.number, `expected '%<id> = <node> : <type>' or 'outputs ...', got '${line.text}'`);
    const id = Number(m[1]);
    if (id !== nodes.length) fail(line.number, `expected node %${nodes.length} next, got %${id}`);
    const type = parseType(m[3]!, line.number);
    const data = parseDescription(m[2]!, line.number);
    const opens = m[4] !== undefined;
    const hasBody = data.op === 'loop' || data.op === 'scan' || data.op === 'flash';
    if (hasBody && !opens) fail(line.number, `a ${data.op} node needs a body: end the line with ' {'`);
    if (!hasBody && opens) fail(line.number, `a ${data.op} node has no body, but the line opens one`);
    let node: Node;
    if (hasBody) {
      const body = parseBlock(lines, i + 1, indent + 2, line.number);
      const close = lines[body.next];
      if (!close) fail(line.number, `the body of %${id} is not closed with '}'`);
      if (close.indent !== indent || close.text !== '}') fail(close.number, `expected '}' closing the body of %${id}, got '${close.text}'`);
      bodies.set(id, body.located);
      node = { ...data, body: body.located.graph, type, id } as Node;
      i = body.next + 1;
    } else {
      node = { ...data, type, id } as Node;
      i += 1;
    }
    nodes.push(node);
    nodeLines.push(line.number);
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs the verifier and rethrows its first complaint at the line of the node it concerns. */
function verifyLocated(located: Located, captures: readonly TensorType[] | null, carried: readonly TensorType[] | null, chunks: readonly TensorType[] | null = null): void {
  try {
    verifyGraph(located.graph, captures, carried, chunks);
    return;
  } catch (e) {
    if (!(e instanceof TesseraError)) throw e;
  }
  const { nodes } = located.graph;
  for (let i = 0; i < nodes.length; i++) {
    try {
      verifyGraph({ nodes: nodes.slice(0, i + 1), outputs: {} }, captures, carried, chunks);
    } catch (e) {
      if (!(e instanceof TesseraError)) throw e;
      const node = nodes[i]!;
      const body = located.bodies.get(i);
      const defined = operands(node).every((o) => o >= 0 && o < i);
      if (body && defined && (node.op === 'loop' || node.op === 'scan' || node.op === 'flash')) {
        const t = (ids: readonly number[]) => ids.map((x) => nodes[x]!.type);
        // A complaint inside the body names the body's line; else it is about the node itself.
        if (node.op === 'loop') verifyLocated(body, t(node.captures), t(node.init));
        else if (node.op === 'scan') verifyLocated(body, t(node.captures), t(node.init), node.xs.map((x) => inferScanChunk(nodes[x]!.type, node.axis, node.size)));
        else verifyLocated(body, t(node.args), []);
      }
      fail(located.lines[i]!, message(e));
    }
  }
  try {
    verifyGraph(located.graph, captures, carried, chunks);
  } catch (e) {
    fail(located.outputsLine, message(e));
  }
}

/**
 * Parses printed Tensor IR. Throws a TesseraError `parseGraph: line N: ...` for text that is not
 * what `printGraph` writes, or whose graph does not verify.
 */
export function parseGraph(text: string): Graph {
  const lines: Line[] = [];
  text.split('\n').forEach((raw, index) => {
    const number = index + 1;
    if (raw.trim() === '') fail(number, 'empty line');
    if (raw !== raw.trimEnd() && !/^ *outputs $/.test(raw)) fail(number, 'trailing whitespace');
    const indent = raw.length - raw.trimStart().length;
    if (raw.slice(0, indent) !== ' '.repeat(indent)) fail(number, 'indent with spaces only');
    lines.push({ number, indent, text: raw.slice(indent) });
  });
  const { located, next } = parseBlock(lines, 0, 0, lines.length);
  if (next < lines.length) fail(lines[next]!.number, `unexpected text after the top-level 'outputs' line: '${lines[next]!.text}'`);
  verifyLocated(located, null, null);
  return located.graph;
}
