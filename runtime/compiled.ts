/**
 * Kernels compiled ahead of time (`tessera build`, the esbuild plugin): a Program with the names
 * and dtypes of its inputs, parameters and outputs carried in its type, so that an app running
 * the precompiled kernel is checked against the kernel's source signature without the compiler.
 */
import type { DType, HostTensor } from '../dsl/types.ts';
import { parseProgram, type Program } from '../program/index.ts';
import type { Backend, RuntimeTensor, TensorData } from './backend.ts';

/**
 * A precompiled kernel: `I` its tensor inputs, `P` its parameters, `O` its outputs, each a record
 * of names to dtypes (the types exist for the checker only).
 */
export interface CompiledKernel<I extends Record<string, DType> = Record<string, DType>, O extends Record<string, DType> = Record<string, DType>, P extends Record<string, DType> = Record<string, DType>> {
  readonly kernelName: string;
  readonly program: Program;
  /** Never set: carries the signature for the checker. */
  readonly signature?: { readonly inputs: I; readonly outputs: O; readonly params: P };
}

/** A compiled kernel from the Program text `serializeProgram` wrote (validated as it is parsed). */
export function compiledKernel<I extends Record<string, DType>, O extends Record<string, DType>, P extends Record<string, DType>>(kernelName: string, programText: string): CompiledKernel<I, O, P> {
  return { kernelName, program: parseProgram(programText) };
}

/** One output read back: shape, dtype and data. */
export interface CompiledResult<D extends DType = DType> {
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly data: TensorData;
}

/**
 * Runs a precompiled kernel and reads every output back (the precompiled counterpart of `run`):
 * inputs and parameters by the names the kernel declared.
 */
export async function runCompiled<I extends Record<string, DType>, O extends Record<string, DType>, P extends Record<string, DType>>(
  backend: Backend,
  kernel: CompiledKernel<I, O, P>,
  inputs: { readonly [K in keyof I]: HostTensor | RuntimeTensor },
  params?: { readonly [K in keyof P]: number },
): Promise<{ [K in keyof O]: CompiledResult<O[K]> }> {
  const outputs = await backend.run(kernel.program, inputs as Readonly<Record<string, HostTensor | RuntimeTensor>>, (params ?? {}) as Readonly<Record<string, number>>);
  const results: Record<string, CompiledResult> = Object.create(null);
  for (const [name, t] of Object.entries(outputs)) {
    results[name] = { shape: t.shape, dtype: t.dtype, data: await t.read() };
    t.destroy();
  }
  return results as { [K in keyof O]: CompiledResult<O[K]> };
}
