/**
 * `npm run example:browser [-- --serve]`: bundles the browser example (`app.ts` with tessera,
 * compiler included, since the page compiles its kernels) into `examples/out/browser/` beside its
 * `index.html`; with `--serve`, serves that folder on http://127.0.0.1:8080/ (any port with
 * `--port N`) for a browser with WebGPU to open.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Bundles the page into `outDir` (default `examples/out/browser`); returns the folder. */
export async function buildBrowserExample(outDir = join(HERE, '..', 'out', 'browser')): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(HERE, 'app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile: join(outDir, 'app.js'),
    // Dawn is Node's WebGPU; the page has navigator.gpu.
    external: ['webgpu'],
    logLevel: 'silent',
  });
  copyFileSync(join(HERE, 'index.html'), join(outDir, 'index.html'));
  return outDir;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.png': 'image/png' };

/** A static server for `dir` on `port` (0: any free port). */
export function serve(dir: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path.endsWith('/') ? 'index.html' : path);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  return new Promise((done) => server.listen(port, '127.0.0.1', () => done(server)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = await buildBrowserExample();
  console.log(`built ${dir}`);
  if (process.argv.includes('--serve')) {
    const at = process.argv.indexOf('--port');
    const server = await serve(dir, at > 0 ? Number(process.argv[at + 1]) : 8080);
    const address = server.address();
    console.log(`serving on http://127.0.0.1:${typeof address === 'object' && address ? address.port : '?'}/ (Ctrl-C to stop)`);
  }
}
