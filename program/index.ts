/**
 * The neutral contract between the compiler and the runtime: the Program format, size
 * expressions and device limits. Both sides import this module; neither imports the other.
 */
export type { BindingAccess, ChunkedDispatch, ChunkSlice, Program, ProgramBuffer, ProgramKernel, ProgramTensor, Step, UniformWord } from './program.ts';
export { evalSize, guardHolds, guardRanges, inRange, sizeProduct, type SizeExpr, type SizeGuard, type SizeRange } from './size.ts';
export { DEFAULT_LIMITS, formatBytes, type DeviceLimits } from './limits.ts';
export { validateProgram } from './validate.ts';
export { exactKey, parseProgram, serializeProgram } from './json.ts';
export { checkCsr, csrFromCoo, csrFromDense, csrInputs, csrProblem, permuteEdges, type CsrGraph, type CsrInputs } from './csr.ts';
