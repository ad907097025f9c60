/**
 * A small WGSL AST: module-level declarations and statements are structured (so emitters compose
 * them and the printer owns layout); expressions are WGSL text built by the scalar-op registry.
 */

export type Stmt =
  | { readonly s: 'let'; readonly name: string; readonly value: string }
  | { readonly s: 'var'; readonly name: string; readonly type: string; readonly value?: string }
  | { readonly s: 'assign'; readonly target: string; readonly value: string; readonly op?: '+' | '*' | '-' }
  | { readonly s: 'if'; readonly cond: string; readonly then: readonly Stmt[]; readonly else?: readonly Stmt[] }
  | { readonly s: 'for'; readonly init: string; readonly cond: string; readonly update: string; readonly body: readonly Stmt[] }
  /** A workgroup barrier; `storage`: one that also orders storage-buffer accesses within the workgroup. */
  | { readonly s: 'barrier'; readonly storage?: boolean }
  /** A nested scope, so names declared in it may be declared again elsewhere. */
  | { readonly s: 'block'; readonly body: readonly Stmt[] }
  | { readonly s: 'break' }
  | { readonly s: 'return' };

export interface Binding {
  readonly binding: number;
  readonly name: string;
  readonly space: 'storage-read' | 'storage-read_write' | 'uniform';
  readonly type: string;
}

export interface WgslModule {
  readonly structs: readonly string[];
  readonly bindings: readonly Binding[];
  readonly workgroupVars: readonly { readonly name: string; readonly type: string }[];
  /** Helper functions, printed in order (deduplicated by the emitter). */
  readonly helpers: readonly string[];
  readonly entry: {
    readonly name: string;
    readonly workgroupSize: readonly [number, number, number];
    readonly body: readonly Stmt[];
  };
}
