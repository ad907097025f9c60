/**
 * `npm run size`: what an app that ships precompiled kernels pays in download — the runtime plus
 * one compiled attention Program, bundled by esbuild for the browser, minified and gzipped. Two
 * apps are measured: one that runs on WebGPU only (`createWebGPUBackend`), and one that falls back
 * to the CPU interpreter where there is no adapter (`createBackend`). The target is the first at
 * most 30 KB (`SIZE_TARGET_BYTES`). `--json FILE` writes the rows.
 *
 * The Program is causal attention over q, k, v with head dims pinned to 64 (so it is the fused
 * flash kernel with its long- and short-query variants), compiled here and written as the JSON
 * text `serializeProgram` gives, which the app parses with `parseProgram`.
 */
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { compile } from '../compiler/index.ts';
import { attentionKernel } from '../kernels/index.ts';
import { serializeProgram } from '../program/index.ts';

/** The budget for the runtime plus one attention Program, minified and gzipped. */
export const SIZE_TARGET_BYTES = 30 * 1024;

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface SizeRow {
  readonly app: string;
  readonly minified_bytes: number;
  readonly gzip_bytes: number;
  /** Of the gzipped bytes, what the Program's JSON alone compresses to. */
  readonly program_gzip_bytes: number;
  /** Whether the bundle holds any compiler or tracer module (it must not). */
  readonly compiler_inside: boolean;
}

/** The attention Program an app would ship: causal, head dims 64, as `serializeProgram` writes it. */
export function attentionProgramText(): string {
  const k = attentionKernel({ causal: true });
  return serializeProgram(compile(k.trace({ sizes: { d: 64, e: 64 } }), { name: 'attention' }));
}

/** Bundles an app whose entry imports `runtime/index.ts` and the Program text; measures it. */
export async function measureApp(app: string, backendCall: string, programText: string): Promise<SizeRow> {
  const source = [
    `import { ${backendCall.split('(')[0]}, parseProgram } from './runtime/index.ts';`,
    `const program = parseProgram(${JSON.stringify(programText)});`,
    'export async function attend(q, k, v) {',
    `  const backend = await ${backendCall};`,
    '  const out = await backend.run(program, { q, k, v });',
    "  return out['o'].read();",
    '}',
  ].join('\n');
  const result = await build({
    stdin: { contents: source, resolveDir: ROOT, sourcefile: 'app.ts', loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Dawn is what Node uses for WebGPU; a browser has navigator.gpu and never loads it.
    external: ['webgpu'],
  });
  const code = result.outputFiles[0]!.contents;
  const inputs = Object.keys(result.metafile.inputs);
  return {
    app,
    minified_bytes: code.length,
    gzip_bytes: gzipSync(code, { level: 9 }).length,
    program_gzip_bytes: gzipSync(JSON.stringify(programText), { level: 9 }).length,
    compiler_inside: inputs.some((f) => f.startsWith('compiler/') || ['dsl/trace.ts', 'dsl/ops.ts', 'dsl/kernel.ts'].includes(f)),
  };
}

export async function measureSizes(): Promise<SizeRow[]> {
  const text = attentionProgramText();
  return [await measureApp('runtime (WebGPU) + attention Program', 'createWebGPUBackend()', text), await measureApp('runtime (WebGPU, CPU fallback) + attention Program', 'createBackend()', text)];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await measureSizes();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  for (const r of rows) {
    console.log(`${r.app}: ${kb(r.minified_bytes)} minified, ${kb(r.gzip_bytes)} gzipped (the Program ${kb(r.program_gzip_bytes)} of it)${r.compiler_inside ? ' — COMPILER INSIDE' : ''}`);
  }
  const first = rows[0]!;
  console.log(`target: ${kb(SIZE_TARGET_BYTES)} gzipped for the first; ${first.gzip_bytes <= SIZE_TARGET_BYTES ? 'met' : 'MISSED'}`);
  const at = process.argv.indexOf('--json');
  if (at > 0 && process.argv[at + 1]) writeFileSync(process.argv[at + 1]!, `${JSON.stringify(rows, null, 2)}\n`);
}
