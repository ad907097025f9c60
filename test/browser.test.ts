/**
 * The browser example (`examples/browser`) in Debian's Chromium, headless, with WebGPU enabled,
 * driven by puppeteer-core (no downloaded browser): the page is bundled, served from a local static
 * server and opened; what it computed on `navigator.gpu` is checked against the float64
 * interpreter, and a screenshot is saved (`examples/out/browser.png`). Without Chromium or without
 * a WebGPU adapter in the page the test is skipped with the reason, except where
 * `TESSERA_REQUIRE_WEBGPU=1` (CI), where it fails.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { decode } from 'fast-png';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interpretKernel, type HostTensor, type Kernel } from '../index.ts';
import { buildBrowserExample, serve } from '../examples/browser/build.ts';
import { attentionInputs, attentionWithMap, M, N, routing, routingInputs } from '../examples/browser/kernels.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REQUIRED = process.env['TESSERA_REQUIRE_WEBGPU'] === '1';
/** Debian's Chromium, or the browser `CHROMIUM` names. */
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

interface PageResults {
  readonly error?: string;
  readonly device: string;
  readonly attention: { outputs: Record<string, { shape: number[]; data: number[] }>; ms: number; timing: string };
  readonly routing: { outputs: Record<string, { shape: number[]; data: number[] }>; ms: number; timing: string };
}

let browser: Browser | null = null;
let server: Server | null = null;
let results: PageResults | null = null;
let screenshot = '';
let skipReason = '';
let work = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    skipReason = `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium)`;
    if (REQUIRED) throw new Error(`${skipReason}, and TESSERA_REQUIRE_WEBGPU=1 requires the browser test to run`);
    return;
  }
  work = mkdtempSync(join(tmpdir(), 'tessera-browser-'));
  const dir = await buildBrowserExample(join(work, 'page'));
  server = await serve(dir, 0);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 900, height: 760 });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => (document.getElementById('results')?.textContent ?? '') !== '', { timeout: 120_000 });
  results = JSON.parse(await page.$eval('#results', (e) => e.textContent ?? '')) as PageResults;
  mkdirSync(join(ROOT, 'examples', 'out'), { recursive: true });
  screenshot = join(ROOT, 'examples', 'out', 'browser.png');
  await page.screenshot({ path: screenshot as `${string}.png` });
  if (results.error) {
    skipReason = `the page got no WebGPU device: ${results.error}`;
    if (REQUIRED) throw new Error(`${skipReason}, and TESSERA_REQUIRE_WEBGPU=1 requires one`);
  }
}, 240_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every output of the page against the f64 interpreter on the same inputs. */
function expectMatches(k: Kernel, inputs: Record<string, HostTensor>, got: Record<string, { shape: number[]; data: number[] }>, rtol: number, atol: number): void {
  const want = interpretKernel(k, inputs, { precision: 'f64' });
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    expect(got[name]!.shape, name).toEqual(w.shape);
    w.data.forEach((v, i) => {
      const g = got[name]!.data[i]!;
      if (!(Math.abs(g - v) <= atol + rtol * Math.abs(v))) expect.fail(`${k.kernelName} '${name}' at ${i}: page ${g} vs interpreter ${v}`);
    });
  }
}

describe('the browser example in headless Chromium', () => {
  it('runs attention and routing on navigator.gpu, matching the interpreter, and shows their times', (ctx) => {
    if (!results || results.error) return ctx.skip(skipReason);
    expect(results.device).not.toBe('');
    expectMatches(attentionWithMap, attentionInputs(), results.attention.outputs, 1e-4, 1e-5);
    expectMatches(routing, routingInputs(), results.routing.outputs, 2e-4, 2e-5);
    expect(results.attention.outputs['w']!.shape).toEqual([N, M]);
    for (const r of [results.attention, results.routing]) {
      expect(['GPU time (timestamp queries)', 'wall time']).toContain(r.timing);
      expect(r.ms).toBeGreaterThan(0);
    }
  });

  it('saves a screenshot of the page with its attention map', (ctx) => {
    if (!results || results.error) return ctx.skip(skipReason);
    const png = decode(readFileSync(screenshot));
    expect([png.width, png.height]).toEqual([900, 760]);
    // The heatmap's 12 × 16 cells (23 × 23 pixels each) are shades of blue: full blue, less red
    // than green. Most cells are tinted at least that much.
    let blue = 0;
    for (let i = 0; i < png.data.length; i += png.channels) if (png.data[i + 2]! === 255 && png.data[i]! < png.data[i + 1]!) blue++;
    expect(blue).toBeGreaterThan(N * M * 23 * 23 * 0.5);
  });
});
