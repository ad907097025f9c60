/** The kernel library, written in the DSL itself. */
export { einsumKernel, einsumAxisName } from './einsum.ts';
export {
  attention,
  attentionKernel,
  splitHeads,
  mergeHeads,
  SCORE_AXES,
  type AttentionConfig,
  type AttentionIndices,
  type AttentionInputs,
  type AttentionOptions,
  type Scores,
} from './attention.ts';
export { hopfieldKernel } from './hopfield.ts';
