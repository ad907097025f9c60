/**
 * The kernel library, written in the DSL itself: kernels and the helpers that shape their inputs,
 * nothing that compiles or runs (that is `run` and `attention` in `tessera`), so importing this
 * module loads the DSL and not the compiler or the runtime.
 */
export { einsumKernel, einsumAxisName } from './einsum.ts';
export {
  attentionKernel,
  splitHeads,
  mergeHeads,
  SCORE_AXES,
  type AttentionConfig,
  type AttentionIndices,
  type Scores,
} from './attention.ts';
export { hopfieldKernel } from './hopfield.ts';
export { linearAttentionKernel, type LinearAttentionConfig, type LinearAttentionRule } from './linear-attention.ts';
export { titansMemoryKernel, type TitansMemoryConfig } from './titans.ts';
export { simplicialAttentionKernel, type SimplicialAttentionConfig } from './simplicial.ts';
export { graphAttentionKernel, type GraphAttentionConfig, type EdgeScores, type EdgeIndices } from './graph-attention.ts';
export {
  efficientVectorRoutingKernel,
  efficientVectorRoutingFunctions,
  definableVectorRoutingKernel,
  generativeMatrixRoutingKernel,
  batchAxisNames,
  VECTOR_ROUTING_OUTPUTS,
  MATRIX_ROUTING_OUTPUTS,
  type EfficientVectorRoutingConfig,
  type EfficientVectorRoutingParams,
  type DefinableVectorRoutingConfig,
  type GenerativeMatrixRoutingConfig,
  type VectorRoutingFunctions,
  type VectorRoutingOutput,
  type MatrixRoutingOutput,
  type RoutingContext,
  type Vec,
} from './routing.ts';
