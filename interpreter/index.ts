/**
 * The CPU interpreter: the executable definition of the Tensor IR and the reference every GPU
 * result is tested against. It reads graphs only; it never loads the tracer or the compiler.
 */
export { interpret, interpretKernel, type InterpretOptions, type InterpretedData, type InterpretedTensor, type Precision, type Traceable } from './interpret.ts';
