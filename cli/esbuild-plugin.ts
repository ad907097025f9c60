/**
 * `tessera/esbuild`: an esbuild plugin that precompiles kernel modules as an app is bundled.
 * Importing a kernel module (by default a file named `*.kernel.ts` or `*.kernels.ts`, any JS or
 * TS extension) from app code bundles the module `tessera build` would write for it — each kernel
 * a `CompiledKernel` whose Program was compiled at bundle time — so the app ships the runtime and
 * the shaders, never the compiler or the tracer. Errors in a kernel are esbuild errors at the
 * kernel's `file:line:col`.
 */
import { dirname, relative } from 'node:path';
import type { Plugin } from 'esbuild';
import { bundleModule, compileBundle } from './build.ts';

export interface TesseraPluginOptions {
  /** Which modules are kernel modules (default: `*.kernel.ts`, `*.kernels.ts`, any JS/TS extension). */
  readonly filter?: RegExp;
}

export function tesseraPlugin(options: TesseraPluginOptions = {}): Plugin {
  const filter = options.filter ?? /\.kernels?\.[cm]?[jt]sx?$/;
  return {
    name: 'tessera',
    setup(build) {
      build.onLoad({ filter }, async (args) => {
        const shown = relative(build.initialOptions.absWorkingDir ?? process.cwd(), args.path);
        const compiled = await compileBundle(args.path, await bundleModule(args.path), shown);
        if (compiled.errors.length > 0) {
          return { errors: compiled.errors.map((e) => ({ text: e.message, location: { file: e.file, line: e.line, column: e.column - 1 } })) };
        }
        return { contents: compiled.js, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}
