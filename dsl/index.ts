/** The DSL: typed tensors, ops, einsum, loops and kernels; plus the Tensor IR tools. */
export * from './types.ts';
export * from './ops.ts';
export { einsum, parseEinsum, type EinsumOperands, type EinsumResult } from './einsum.ts';
export { csr, segmentSum, segmentMean, segmentMax, segmentMin, segmentLogsumexp, segmentSoftmax, type Csr, type NodeAxis, type ReplaceAxis } from './csr.ts';
export { scan, type ScanOptions, type ScanResult, type TensorRecord } from './scan.ts';
export { kernel, f32, i32, u32, bool, param, type Kernel, type TensorSpec, type ParamSpec, type Specs, type TensorsOf, type TraceOptions } from './kernel.ts';
export { Tensor, type Axes, type AnyTensor, type NumericDType } from './tensor.ts';
export type { Graph, Node } from './ir.ts';
export { printGraph } from './print.ts';
export { verifyGraph } from './verify.ts';
