/**
 * Prints Tensor IR as text, one node per line, so that tracing and every pass can be tested by
 * comparing printed IR. The format is stable: tests pin it.
 */
import type { Graph, Node } from './ir.ts';
import { formatType } from './types.ts';

/** A number as `String` writes it, except that -0 keeps its sign (so the text parses back to it). */
function formatNumber(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/** The axes a composite or flash node runs over: `j`, or jointly `[j, l]`. */
function overAxes(axes: readonly string[]): string {
  return axes.length === 1 ? axes[0]! : `[${axes.join(', ')}]`;
}

function describe(node: Node): string {
  const ref = (id: number) => `%${id}`;
  switch (node.op) {
    case 'input':
      // Names are quoted as JSON strings, so any name (quotes, newlines) reads back exactly.
      return `input ${JSON.stringify(node.name)}`;
    case 'param':
      return `param ${JSON.stringify(node.name)}`;
    case 'const':
      return `const ${formatNumber(node.value)}`;
    case 'iota':
      return `iota`;
    case 'size':
      return `size ${node.axis.name}:${node.axis.size}`;
    case 'map':
      return `map ${node.fn}(${node.args.map(ref).join(', ')})`;
    case 'reduce':
      return `reduce ${node.fn}(${ref(node.arg)}) over [${node.axes.join(', ')}]`;
    case 'contract':
      return `contract(${node.args.map(ref).join(', ')})`;
    case 'relabel':
      return `relabel(${ref(node.arg)}) as [${node.names.join(', ')}]`;
    case 'gather':
      return `gather(${ref(node.args[0]!)}) along ${node.axis} at ${ref(node.args[1]!)}`;
    case 'csr':
      return `csr(${node.args.map(ref).join(', ')}) rows ${node.rows.name}:${node.rows.size} cols ${node.cols}`;
    case 'segment_reduce':
      return `segment_reduce ${node.fn}(${ref(node.args[0]!)}) over ${node.axis} by ${ref(node.args[1]!)}`;
    case 'segment_softmax':
      return `segment_softmax(${ref(node.args[0]!)}) over ${node.axis} by ${ref(node.args[1]!)}`;
    case 'segment_ids':
      return `segment_ids(${ref(node.args[0]!)})`;
    case 'composite':
      return `${node.fn}(${ref(node.arg)}) over ${overAxes(node.axes)}${node.eps !== undefined ? ` eps=${formatNumber(node.eps)}` : ''}`;
    case 'loop':
      return `loop ${node.count} init(${node.init.map(ref).join(', ')}) captures(${node.captures.map(ref).join(', ')})`;
    case 'flash':
      return `flash ${node.output} over ${overAxes(node.axes)} args(${node.args.map(ref).join(', ')})`;
    case 'scan':
      return `scan ${node.axis} chunk ${node.chunk} size ${node.size} xs(${node.xs.map(ref).join(', ')}) init(${node.init.map(ref).join(', ')}) captures(${node.captures.map(ref).join(', ')})`;
    case 'chunk':
      return `chunk ${node.index}`;
    case 'loop_result':
      return `loop_result ${ref(node.loop)}[${node.index}]`;
    case 'carry':
      return `carry ${node.index}`;
    case 'capture':
      return `capture ${node.index}`;
  }
}

function printLines(graph: Graph, indent: string, lines: string[]): void {
  for (const node of graph.nodes) {
    const head = `${indent}%${node.id} = ${describe(node)} : ${formatType(node.type)}`;
    if (node.op === 'loop' || node.op === 'scan' || node.op === 'flash') {
      lines.push(`${head} {`);
      printLines(node.body, `${indent}  `, lines);
      lines.push(`${indent}}`);
    } else {
      lines.push(head);
    }
  }
  const outs = Object.entries(graph.outputs).map(([name, id]) => `${name}=%${id}`);
  lines.push(`${indent}outputs ${outs.join(', ')}`);
}

/** The whole graph as text (nested loop bodies indented). */
export function printGraph(graph: Graph): string {
  const lines: string[] = [];
  printLines(graph, '', lines);
  return lines.join('\n');
}
