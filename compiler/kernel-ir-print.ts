/**
 * The Kernel IR as text: kernels, host steps and buffers, so each pass from `fuse` on can be tested
 * on its printed output (and `compile({ log })` can show it).
 */
import { formatSize } from '../dsl/types.ts';
import { guardRanges, sizeProduct, type SizeExpr, type SizeRange } from '../program/index.ts';
import { axisExtent, isLocal, type FusedProgram, type HostStep, type KAxis, type KExpr, type KernelIR, type KvBound, type ReduceSplit, type ScanLevel, type GemmMask, RELATION_SYMBOL } from './kernel-ir.ts';

/** A size expression as printed: `n`, `ceil(n/4096)`, `min(a, b)`, `a*b`, `a+b`. */
export function formatSizeExpr(e: SizeExpr): string {
  if (typeof e !== 'object') return String(e);
  const args = e.args.map(formatSizeExpr);
  switch (e.op) {
    case 'mul':
      return args.join('*');
    case 'add':
      return `(${args.join('+')})`;
    case 'ceildiv':
      return `ceil(${args[0]}/${args[1]})`;
    default:
      return `${e.op}(${args.join(', ')})`;
  }
}

/** A kv bound as printed: `t+c`, `-t+c` or `c` (t the tiled query index). */
export function printKvBound(b: KvBound): string {
  return `${b.t === 0 ? '' : b.t > 0 ? 't+' : '-t+'}${printExpr(b.c)}`;
}

export function printExpr(e: KExpr): string {
  switch (e.k) {
    case 'load':
      return `${bufferName(e.buffer)}[${e.axes.map((a) => ('at' in a ? `clamp(${printExpr(a.at)})` : a.index)).join(',')}]`;
    case 'const':
      return `${e.value}:${e.dtype}`;
    case 'param':
      return `$${e.name}`;
    case 'index':
      return `#${e.axis}`;
    case 'size':
      return `|${formatSize(e.size)}|`;
    case 'acc':
      return 'q·k';
    case 'op':
      return `${e.fn}(${e.args.map(printExpr).join(', ')})`;
  }
}

/** A buffer as printed: `b3`, or `l1` for a row block's first on-chip local. */
function bufferName(b: number): string {
  return isLocal(b) ? `l${-b}` : `b${b}`;
}

function axesText(axes: readonly KAxis[]): string {
  return `[${axes.map((a) => `${a.id}=${a.name}:${formatSizeExpr(axisExtent(a))}`).join(', ')}]`;
}

/** A size range as printed: `n >= 8192`, `n < 8192`, `64 <= n < 8192`. */
export function formatSizeRange(r: SizeRange): string {
  const size = formatSizeExpr(r.size);
  if (r.atLeast !== undefined && r.below !== undefined) return `${r.atLeast} <= ${size} < ${r.below}`;
  if (r.atLeast !== undefined) return `${size} >= ${r.atLeast}`;
  return r.below !== undefined ? `${size} < ${r.below}` : 'always';
}

function splitText(split: ReduceSplit | undefined): string {
  if (!split) return '';
  return split.stage === 'partial' ? ' (partial)' : ` (combine, count ${formatSizeExpr(sizeProduct(split.count))})`;
}

function printKernel(k: KernelIR): string {
  const head = `${k.kind} ${k.name} -> ${bufferName(k.out.buffer)} ${k.out.dtype}${axesText(k.out.axes)}`;
  switch (k.kind) {
    case 'row-block':
      return [
        `row-block ${k.name} rows${axesText([k.row])}${k.outer.length > 0 ? ` outer${axesText(k.outer)}` : ''} parts${axesText([k.parts])} of ${k.chunk} rows, blocks of ${k.rows}`,
        ...k.invariants.map((s) => `  invariant ${printKernel(s)}`),
        ...k.stages.map((s) => `  stage ${printKernel(s)}${k.stores.filter((x) => x.local === s.out.buffer).map((x) => `\n    stored -> b${x.out.buffer}`).join('')}`),
        ...k.finals.map((f) => `  final ${printKernel(f.kernel)}\n    partial -> b${f.out.buffer} ${f.out.dtype}${axesText(f.out.axes)}`),
      ].join('\n');
    case 'mask-classify':
      return `${head} = classify blocks of ${printExpr(k.valid)} (${k.rows}x${k.kvTile})`;
    case 'mask-compact':
      return `${head} counts b${k.counts.buffer} = compact ${printExpr(k.blocks)}`;
    case 'graph-attention':
      return [
        `${head}${k.lse ? ` lse b${k.lse.buffer}${axesText(k.lse.axes)}` : ''} pieces b${k.pieces.buffer}`,
        `  outer${axesText(k.outer)} edge${axesText([k.edge])} row${axesText([k.row])} value${axesText(k.value)} d${axesText(k.d)} parts of ${k.edgesPerGroup} edges`,
        `  rowptr=${printExpr(k.rowptr)}${k.a && k.b ? ` a=${printExpr(k.a)} b=${printExpr(k.b)}` : ''}`,
        `  score=${printExpr(k.score)} valid=${k.valid ? printExpr(k.valid) : 'all'}`,
        `  message=${printExpr(k.message)}`,
      ].join('\n');
    case 'segment':
      return `${head} = segment ${k.fn}${k.value ? `(${printExpr(k.value)})` : ''} over ${k.edge.id} by ${printExpr(k.rowptr)}`;
    case 'graph-merge':
      return `${head}${k.lse ? ` lse b${k.lse.buffer}` : ''} = merge ${printExpr(k.pieces)} by ${printExpr(k.rowptr)} row${axesText([k.row])} parts of ${k.edgesPerGroup} edges`;
    case 'flash-combine':
      return `${head} = combine ${k.parts} parts of ${printExpr(k.partial)}${k.lse ? ` lse b${k.lse.buffer}` : ''}`;
    case 'flash': {
      return [
        `${head}${k.lse ? ` lse b${k.lse.buffer}${axesText(k.lse.axes)}` : ''}`,
        `  outer${axesText(k.outer)} batch${axesText(k.batch)} tiled${k.tiled ? axesText([k.tiled]) : '[]'} kv${axesText([k.kv])} d${axesText(k.d)} e${axesText(k.e)}`,
        `  q=${printExpr(k.q)} k=${printExpr(k.k)} v=${printExpr(k.v)}`,
        `  score=${printExpr(k.score)} valid=${k.valid ? printExpr(k.valid) : 'all'} kv>=[${k.lower.map(printKvBound).join(', ')}] kv<=[${k.upper.map(printKvBound).join(', ')}]`,
        ...(k.split ? [`  split ${k.split.parts} -> b${k.split.partial.buffer}`] : []),
        ...(k.blockMask ? [`  blocks ${k.blockMask.rows}x${k.blockMask.kvTile} counts b${k.blockMask.counts.buffer} list b${k.blockMask.list.buffer}`] : []),
      ].join('\n');
    }
    case 'scan':
      return [
        `${head} parallel${axesText(k.parallel)} scratch b${k.scratch.buffer} x${JSON.stringify(k.perWorkgroup)}${k.results.length > 0 ? ` results ${k.results.map((r) => `b${r.buffer}`).join(', ')}` : ''}`,
        ...k.locals.map((l) => `  ${bufferName(l.id)} ${l.dtype}${axesText(l.axes)}${l.workgroup ? ' workgroup' : ''}`),
        ...printScanLevel(k.root, '  '),
        ...k.finals.map((x) => `  final ${bufferName(x.local)} -> b${x.out.buffer}`),
      ].join('\n');
    case 'simplicial':
      return [
        `${head}${k.lse ? ` lse b${k.lse.buffer}${axesText(k.lse.axes)}` : ''}`,
        `  outer${axesText(k.outer)} batch${axesText(k.batch)} tiled${k.tiled ? axesText([k.tiled]) : '[]'} kv${axesText(k.kv)} d${axesText(k.d)} e${axesText(k.e)}`,
        `  q=${printExpr(k.q)} k=[${k.k.map(printExpr).join(', ')}] v=[${k.v.map(printExpr).join(', ')}]`,
        `  score=${printExpr(k.score)} valid=${k.valid ? printExpr(k.valid) : 'all'}`,
        ...k.kv.map((a, t) => `  ${a.id}>=[${k.bounds[t]!.lower.map(printKvBound).join(', ')}] ${a.id}<=[${k.bounds[t]!.upper.map(printKvBound).join(', ')}]`),
      ].join('\n');
    case 'elementwise':
      return `${head} = ${printExpr(k.value)}`;
    case 'reduce':
      return `${head} = ${k.fn} over ${axesText(k.reduced)} of ${printExpr(k.value)}${splitText(k.split)}`;
    case 'gemm':
      return `${head} batch${axesText(k.batch)} m${axesText(k.m)} n${axesText(k.n)} k${axesText(k.k)} a=${printExpr(k.a)} b=${printExpr(k.b)}`;
  }
}

/** A scan product's mask: ` terms k<=m` (the terms it needs), ` outputs n<=m` (those it computes). */
function maskText(mask: GemmMask | undefined): string {
  if (!mask) return '';
  const terms = mask.terms ? ` terms k${RELATION_SYMBOL[mask.terms.op]}${mask.terms.side}` : '';
  return `${terms}${mask.outputs ? ` outputs n${RELATION_SYMBOL[mask.outputs]}m` : ''}`;
}

/** A scan level as indented lines: its loop, state, steps, outputs and next state. */
function printScanLevel(level: ScanLevel, indent: string): string[] {
  const lines = [`${indent}scan ${formatSize(level.length)} by ${level.chunk} (${level.size}) {`];
  const inner = `${indent}  `;
  for (const c of level.carries) lines.push(`${inner}state ${bufferName(c.local)} = ${printExpr(c.init)}`);
  for (const s of level.steps) {
    if (s.kind === 'scan') lines.push(...printScanLevel(s.level, inner));
    else if (s.kind === 'compute') lines.push(`${inner}${bufferName(s.local)} = ${printExpr(s.value)}`);
    else if (s.kind === 'gemm') lines.push(`${inner}${bufferName(s.local)} = gemm batch${axesText(s.batch)} m${axesText(s.m)} n${axesText(s.n)} k${axesText(s.k)} a=${printExpr(s.a)} b=${printExpr(s.b)}${maskText(s.mask)}`);
    else lines.push(`${inner}${bufferName(s.local)} = ${s.fn} over ${axesText(s.reduced)} of ${printExpr(s.value)}`);
  }
  for (const y of level.ys) lines.push(`${inner}${bufferName(y.target)}${axesText(y.axes)} at ${y.axis} += chunk: ${printExpr(y.value)}`);
  for (const n of level.next) lines.push(`${inner}next ${bufferName(n.local)}${n.next === null ? ' in place' : ` via ${bufferName(n.next)}`} = ${printExpr(n.value)}`);
  lines.push(`${indent}}`);
  return lines;
}

function printSteps(steps: readonly HostStep[], indent: string, lines: string[]): void {
  for (const s of steps) {
    // A kernel may print on several lines (flash): each is indented with the step.
    if (s.kind === 'kernel') {
      const when = s.when ? `when ${guardRanges(s.when).map(formatSizeRange).join(' and ')}: ` : '';
      lines.push(...printKernel(s.kernel).split('\n').map((line, i) => `${indent}${i === 0 ? when : ''}${line}`));
    }
    else if (s.kind === 'copy') lines.push(`${indent}copy b${s.src} -> b${s.dst} (${s.label})`);
    else {
      lines.push(`${indent}loop ${s.count} (${s.label}) {`);
      printSteps(s.body, `${indent}  `, lines);
      lines.push(`${indent}}`);
    }
  }
}

/** The fused program as text: buffers, then steps. */
export function printFused(p: FusedProgram): string {
  const lines = p.buffers.map(
    (b) => `b${b.id} ${b.role} ${b.dtype}[${b.axes.map((a) => `${a.name}:${formatSize(a.size)}`).join(', ')}]${b.elements !== undefined ? ` x${JSON.stringify(b.elements)}` : ''} "${b.label}"`,
  );
  printSteps(p.steps, '', lines);
  lines.push(`outputs ${p.outputs.map((o) => `${o.name}=b${o.buffer}`).join(', ')}`);
  return lines.join('\n');
}
