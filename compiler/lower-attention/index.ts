/**
 * Attention lowering, called by the fuser for every flash node: the flash kernel built from the
 * node's body (`flash-kernel.ts`), preceded by block-mask kernels when the mask escapes the
 * analytic kv bounds (`block-mask.ts`), and split along kv with a combine kernel for decode
 * shapes (`split-kv.ts`); a flash node over several softmax axes (2-simplicial attention) becomes
 * one simplicial kernel (`simplicial-kernel.ts`); one over a CSR edge axis (graph attention), the
 * edge-balanced graph kernel and its merge pass (`graph-kernel.ts`).
 */
import { exactKey } from '../../program/index.ts';
import type { FlashNode, Graph } from '../../dsl/ir.ts';
import type { DeviceLimits } from '../../program/index.ts';
import type { HostStep, NewBuffer } from '../kernel-ir.ts';
import { blockMask, needsBlockMask } from './block-mask.ts';
import { flashKernel } from './flash-kernel.ts';
import { graphAttention, graphParts } from './graph-kernel.ts';
import { simplicialKernel } from './simplicial-kernel.ts';
import { isDecodeShape, splitKv } from './split-kv.ts';

/**
 * The host steps computing a flash node and its sibling of the other output (same args and body)
 * with one flash kernel; records the output buffers of both in `bufferOf`.
 */
export function lowerFlash(graph: Graph, node: FlashNode, bufferOf: Map<number, number>, label: string, newBuffer: NewBuffer, limits: DeviceLimits): HostStep[] {
  const key = exactKey([node.args, node.axes, node.body]);
  const siblings = graph.nodes.filter((n): n is FlashNode => n.op === 'flash' && exactKey([n.args, n.axes, n.body]) === key);
  const body = node.body;
  const bufferFor = (output: 'o' | 'lse'): number => {
    const owner = siblings.find((n) => n.output === output);
    const type = body.nodes[body.outputs[output]!]!.type;
    const buffer = newBuffer(type.dtype, type.axes, 'temp', `${label} ${output}`);
    if (owner) bufferOf.set(owner.id, buffer);
    return buffer;
  };
  const wantsLse = siblings.some((n) => n.output === 'lse');
  const oBuffer = bufferFor('o');
  const lseBuffer = wantsLse ? bufferFor('lse') : null;
  const args = node.args.map((a) => ({ buffer: bufferOf.get(a)!, type: graph.nodes[a]!.type }));
  if (graphParts(body)) return graphAttention(body, args, oBuffer, lseBuffer, label, newBuffer);
  if (node.axes.length > 1) return [{ kind: 'kernel', kernel: simplicialKernel(body, node.axes, args, oBuffer, lseBuffer, label) }];
  let kernel = flashKernel(body, node.axes[0]!, args, oBuffer, lseBuffer, label);
  const steps: HostStep[] = [];
  if (needsBlockMask(kernel)) {
    const masked = blockMask(kernel, label, newBuffer, limits);
    steps.push(...masked.steps);
    kernel = masked.kernel;
  }
  if (!isDecodeShape(kernel)) return [...steps, { kind: 'kernel', kernel }];
  return [...steps, ...splitKv(kernel, label, newBuffer)];
}
