/**
 * Kernel IR: what the fuser produces. Each kernel computes one materialised tensor from
 * buffers, over named iteration axes; scalar work is an expression tree whose leaves load from
 * buffers at kernel axis indices. Host steps order kernels, copies and loops. A schedule (tile
 * sizes, workgroup size) is attached by `lower-to-tiles`; the printer shows everything so each
 * pass can be tested on text.
 */
import type { ReduceFn } from '../dsl/ir.ts';
import { formatSize, type Axis, type DType, type Size } from '../dsl/types.ts';

/** An iteration axis of a kernel: a local id (`a0`, `a1`, ...) for a Tensor IR axis. */
export interface KAxis {
  readonly id: string;
  readonly name: string;
  readonly size: Size;
}

export type KExpr =
  | { readonly k: 'load'; readonly buffer: number; readonly dtype: DType; readonly axes: readonly { readonly size: Size; readonly index: string }[] }
  | { readonly k: 'const'; readonly value: number; readonly dtype: DType }
  | { readonly k: 'param'; readonly name: string; readonly dtype: DType }
  | { readonly k: 'index'; readonly axis: string }
  | { readonly k: 'size'; readonly size: Size }
  | { readonly k: 'op'; readonly fn: string; readonly args: readonly KExpr[]; readonly dtype: DType };

export interface KOutput {
  readonly buffer: number;
  readonly dtype: DType;
  /** The output tensor's axes in storage order, as kernel axes. */
  readonly axes: readonly KAxis[];
}

export type KernelIR =
  | { readonly kind: 'elementwise'; readonly name: string; readonly out: KOutput; readonly value: KExpr }
  | {
      readonly kind: 'reduce';
      readonly name: string;
      readonly fn: Exclude<ReduceFn, 'logsumexp'>;
      readonly out: KOutput;
      readonly reduced: readonly KAxis[];
      readonly value: KExpr;
    }
  | {
      readonly kind: 'gemm';
      readonly name: string;
      readonly out: KOutput;
      readonly batch: readonly KAxis[];
      readonly m: readonly KAxis[];
      readonly n: readonly KAxis[];
      readonly k: readonly KAxis[];
      readonly a: KExpr;
      readonly b: KExpr;
    };

export interface BufferDecl {
  readonly id: number;
  readonly dtype: DType;
  readonly axes: readonly Axis[];
  readonly role: 'input' | 'output' | 'temp';
  readonly label: string;
}

export type HostStep =
  | { readonly kind: 'kernel'; readonly kernel: KernelIR }
  | { readonly kind: 'copy'; readonly src: number; readonly dst: number; readonly label: string }
  | { readonly kind: 'loop'; readonly count: number; readonly label: string; readonly body: readonly HostStep[] };

export interface BoundaryDecl {
  readonly name: string;
  readonly dtype: DType;
  readonly axes: readonly Axis[];
  readonly buffer: number;
}

/** The fused program: buffers, host steps and the boundary. */
export interface FusedProgram {
  readonly name: string;
  readonly buffers: readonly BufferDecl[];
  readonly steps: readonly HostStep[];
  readonly inputs: readonly BoundaryDecl[];
  readonly outputs: readonly BoundaryDecl[];
  readonly params: readonly { readonly name: string; readonly dtype: DType }[];
}

export function printExpr(e: KExpr): string {
  switch (e.k) {
    case 'load':
      return `b${e.buffer}[${e.axes.map((a) => a.index).join(',')}]`;
    case 'const':
      return `${e.value}:${e.dtype}`;
    case 'param':
      return `$${e.name}`;
    case 'index':
      return `#${e.axis}`;
    case 'size':
      return `|${formatSize(e.size)}|`;
    case 'op':
      return `${e.fn}(${e.args.map(printExpr).join(', ')})`;
  }
}

function axesText(axes: readonly KAxis[]): string {
  return `[${axes.map((a) => `${a.id}=${a.name}:${formatSize(a.size)}`).join(', ')}]`;
}

export function printKernel(k: KernelIR): string {
  const head = `${k.kind} ${k.name} -> b${k.out.buffer} ${k.out.dtype}${axesText(k.out.axes)}`;
  switch (k.kind) {
    case 'elementwise':
      return `${head} = ${printExpr(k.value)}`;
    case 'reduce':
      return `${head} = ${k.fn} over ${axesText(k.reduced)} of ${printExpr(k.value)}`;
    case 'gemm':
      return `${head} batch${axesText(k.batch)} m${axesText(k.m)} n${axesText(k.n)} k${axesText(k.k)} a=${printExpr(k.a)} b=${printExpr(k.b)}`;
  }
}

function printSteps(steps: readonly HostStep[], indent: string, lines: string[]): void {
  for (const s of steps) {
    if (s.kind === 'kernel') lines.push(`${indent}${printKernel(s.kernel)}`);
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
  const lines = p.buffers.map((b) => `b${b.id} ${b.role} ${b.dtype}[${b.axes.map((a) => `${a.name}:${formatSize(a.size)}`).join(', ')}] "${b.label}"`);
  printSteps(p.steps, '', lines);
  lines.push(`outputs ${p.outputs.map((o) => `${o.name}=b${o.buffer}`).join(', ')}`);
  return lines.join('\n');
}

/** Distinct buffers an expression loads. */
export function loadedBuffers(e: KExpr, into: Set<number> = new Set()): Set<number> {
  if (e.k === 'load') into.add(e.buffer);
  else if (e.k === 'op') for (const a of e.args) loadedBuffers(a, into);
  return into;
}

/** Buffers a kernel reads. */
export function kernelInputs(k: KernelIR): number[] {
  const set = new Set<number>();
  if (k.kind === 'gemm') {
    loadedBuffers(k.a, set);
    loadedBuffers(k.b, set);
  } else loadedBuffers(k.value, set);
  return [...set];
}
