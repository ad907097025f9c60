/** Loop builders shared by the kernel emitters (the WGSL AST's `for` with the usual shapes). */
import type { Stmt } from '../wgsl/ast.ts';

/** A u32 count or step: numbers print as literals, strings are WGSL expressions already. */
function u32(n: number | string): string {
  return typeof n === 'number' ? `${n}u` : n;
}

/** `for (var v = 0u; v < count; v += step)`. */
export function forRange(v: string, count: number | string, body: Stmt[], step: number | string = 1): Stmt {
  return { s: 'for', init: `var ${v} = 0u`, cond: `${v} < ${u32(count)}`, update: `${v} += ${u32(step)}`, body };
}

/** `for (var v = lid; v < count; v += threads)`: the workgroup's threads share the iterations. */
export function strided(v: string, count: number | string, threads: number, body: Stmt[]): Stmt {
  return { s: 'for', init: `var ${v} = lid`, cond: `${v} < ${u32(count)}`, update: `${v} += ${threads}u`, body };
}

/**
 * A register-blocked product's loop (`kk`) over `count`: whole, its tiles already staged
 * (`chunk` null, `v` set to 0), or `chunk` at a time (`v` the chunk start), staging each chunk's
 * tiles between barriers.
 */
export function blocked(v: string, count: string, chunk: string | null, stages: (base: string) => Stmt[], inner: Stmt[]): Stmt[] {
  if (chunk === null) return [{ s: 'let', name: v, value: '0u' }, forRange('kk', count, inner)];
  return [forRange(v, count, [...stages(`${v} + `), { s: 'barrier' }, forRange('kk', chunk, inner), { s: 'barrier' }], chunk)];
}
