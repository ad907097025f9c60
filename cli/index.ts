#!/usr/bin/env node
/**
 * The `tessera` command. `tessera build <files or globs> --out DIR` precompiles every kernel the
 * modules export (see `build.ts`): WGSL per kernel and a typed module an app imports instead of
 * the compiler. Exit status 1 when a kernel has an error (each printed as `file:line:col: ...`),
 * 2 for bad usage. `tessera explain <spec> <shapes>...` prints the contraction path tessera would
 * choose for an einsum, step by step (`compiler/contraction-path.ts`).
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { explainEinsum, PATH_FUNCTIONS, type PathName } from '../compiler/contraction-path.ts';
import { buildKernels, formatBuildError } from './build.ts';

const USAGE = 'usage: tessera build <files or globs>... --out DIR\n       tessera explain <einsum spec> <shape, e.g. 64x2>... [--path optimal|dp|greedy|left-to-right]';

/** Files matching a glob (`*` within a path segment, `**` across segments), sorted; a plain path as it is. */
export function expandGlob(pattern: string, cwd: string): string[] {
  if (!/[*?]/.test(pattern)) return [pattern];
  const parts = pattern.split(/[\\/]/);
  const fixed: string[] = [];
  while (parts.length > 0 && !/[*?]/.test(parts[0]!)) fixed.push(parts.shift()!);
  const base = resolve(cwd, fixed.join('/') || '.');
  const source = parts.map((p) => (p === '**' ? '(?:.*/)?' : `${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}/`)).join('');
  const re = new RegExp(`^${source.replace(/\/$/, '')}$`);
  const out: string[] = [];
  if (!existsSync(base)) return out;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (re.test(relative(base, path).split(sep).join('/'))) out.push(relative(cwd, path));
    }
  };
  walk(base);
  return out.sort();
}

export async function main(argv: readonly string[], cwd = process.cwd()): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'explain') return explain(rest);
  if (command !== 'build') {
    console.error(USAGE);
    return 2;
  }
  const at = rest.indexOf('--out');
  const outDir = at >= 0 ? rest[at + 1] : undefined;
  const patterns = rest.filter((_, i) => at < 0 || (i !== at && i !== at + 1));
  if (!outDir || patterns.length === 0 || patterns.some((p) => p.startsWith('--'))) {
    console.error(USAGE);
    return 2;
  }
  const files = patterns.flatMap((p) => expandGlob(p, cwd));
  if (files.length === 0) {
    console.error(`tessera build: no files match ${patterns.join(' ')}`);
    return 2;
  }
  const result = await buildKernels({ files, outDir, cwd });
  for (const e of result.errors) console.error(formatBuildError(e));
  console.log(`tessera build: ${result.compiled.length} kernel(s) compiled, ${result.unchanged.length} unchanged${result.errors.length > 0 ? `, ${result.errors.length} error(s)` : ''} -> ${outDir}`);
  return result.errors.length > 0 ? 1 : 0;
}

/** `tessera explain 'ab,bc->ac' 2x3 3x4 [--path NAME]`: the contraction path tessera would choose. */
function explain(args: readonly string[]): number {
  const at = args.indexOf('--path');
  const name = at >= 0 ? args[at + 1] : undefined;
  const [spec, ...shapes] = args.filter((_, i) => at < 0 || (i !== at && i !== at + 1));
  if (!spec || shapes.some((s) => !/^\d+(x\d+)*$/.test(s)) || (name !== undefined && !(name in PATH_FUNCTIONS))) {
    console.error(USAGE);
    return 2;
  }
  try {
    console.log(explainEinsum(spec, shapes.map((s) => s.split('x').map(Number)), name ? { name: name as PathName } : {}));
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

const invoked = process.argv[1] ? realpathSync(resolve(process.argv[1])) : '';
if (invoked && /[\\/]cli[\\/]index\.(ts|js)$/.test(invoked)) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
