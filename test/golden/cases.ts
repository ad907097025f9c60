/**
 * How each golden kind runs: which library kernel, with which inputs and parameters, and which
 * kernel output answers which golden output. Shared by the golden tests and `npm run golden`.
 */
import type { Kernel } from '../../dsl/kernel.ts';
import type { HostTensor } from '../../dsl/types.ts';
import { einsumKernel } from '../../kernels/einsum.ts';
import type { GoldenCase } from './load.ts';

export interface GoldenRun {
  readonly kernel: Kernel;
  readonly inputs: Readonly<Record<string, HostTensor>>;
  readonly params: Readonly<Record<string, number>>;
  /** Golden output name → kernel output name. */
  readonly outputs: Readonly<Record<string, string>>;
}

type Preparer = (c: GoldenCase) => GoldenRun;

const PREPARERS: Readonly<Record<string, Preparer>> = {
  einsum(c) {
    const spec = c.config['spec'];
    if (typeof spec !== 'string') throw new Error('einsum case has no config.spec');
    const names = Object.keys(c.inputs).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    const kernel = einsumKernel(spec, names.map((n) => c.inputs[n]!.shape.length));
    return { kernel, inputs: c.inputs, params: {}, outputs: { out: 'out' } };
  },
};

/** The kinds this project can run. */
export const SUPPORTED_KINDS: readonly string[] = Object.keys(PREPARERS);

/** Prepares a golden case, or returns null when its kind is not supported yet. */
export function prepareGolden(c: GoldenCase): GoldenRun | null {
  const prepare = PREPARERS[c.kind];
  return prepare ? prepare(c) : null;
}
