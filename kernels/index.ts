/** The kernel library, written in the DSL itself. */
export { einsumKernel, einsumAxisName } from './einsum.ts';
