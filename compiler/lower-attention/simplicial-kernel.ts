/**
 * A flash node over several softmax axes (2-simplicial attention) as a simplicial kernel: Q, the
 * keys and values (one per axis), the score tree and its validity found; analytic bounds on each
 * kv axis derived against the tiled query axis.
 */
import type { Graph, Node } from '../../dsl/ir.ts';
import type { SimplicialKernel } from '../kernel-ir.ts';
import { flashFrame } from './flash-kernel.ts';

export function simplicialKernel(
  body: Graph,
  axes: readonly string[],
  args: readonly { readonly buffer: number; readonly type: Node['type'] }[],
  oBuffer: number,
  lseBuffer: number | null,
  name: string,
): SimplicialKernel {
  return { kind: 'simplicial', name, ...flashFrame(body, axes, args, oBuffer, lseBuffer, name) };
}
