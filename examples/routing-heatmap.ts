/**
 * `npm run example:routing [-- OUT.png]`: routes a short made-up sentence (24 tokens, embedded as
 * seeded vectors) into 6 output vectors with tessera's EfficientVectorRouting, and draws the credit
 * assignments phi (inputs × outputs) as a PNG heatmap, the way Heinsen's paper shows them: one row
 * per input token, one column per output, a diverging colour map centred at 0 (phi is negative
 * where an input counts against an output), labelled axes, a title and a colour-scale legend.
 *
 * Runs on WebGPU when an adapter exists (Dawn in Node, over lavapipe on machines without a GPU),
 * else on the CPU interpreter, and says which. Text is drawn with the 5×7 bitmap font in
 * `bitmap-font.ts` (no system fonts); the PNG is encoded with `fast-png`. Default output:
 * `examples/out/routing-phi.png`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encode } from 'fast-png';
import { seededRandom } from '../bench/harness.ts';
import { createBackend, run, type Backend } from '../index.ts';
import { efficientVectorRoutingKernel } from '../kernels/index.ts';
import { createImage, drawText, fillRect, strokeRect, textHeight, textWidth, type Rgb, type RgbImage } from './bitmap-font.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_OUT = resolve(HERE, 'out', 'routing-phi.png');

/** The made-up sentence: 24 tokens. Repeated words share an embedding (they differ by position). */
export const TOKENS = 'the quick brown fox jumps over the lazy dog while a small bird sings softly in the old oak tree near the river .'.split(' ');
export const N_OUT = 6;
export const D_INP = 16;
export const D_OUT = 8;
export const N_ITERS = 3;

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

interface Host {
  readonly shape: number[];
  readonly data: Float32Array;
}

/**
 * x_inp `[24, 16]`: a seeded vector per distinct word (uniform in ±1) plus a small sinusoidal
 * position code, as a sequence model's input embeddings would be.
 */
export function embed(tokens: readonly string[], d: number): Host {
  const data = new Float32Array(tokens.length * d);
  tokens.forEach((token, i) => {
    const rand = seededRandom(hash(`word:${token}`));
    for (let k = 0; k < d; k++) {
      const angle = i / 10000 ** ((2 * Math.floor(k / 2)) / d);
      data[i * d + k] = rand() * 2 - 1 + 0.3 * (k % 2 === 0 ? Math.sin(angle) : Math.cos(angle));
    }
  });
  return { shape: [tokens.length, d], data };
}

/** Seeded weights of EfficientVectorRouting with nInp = -1 (reference names and shapes). */
export function routingWeights(m: number, d: number, h: number): Record<string, Host> {
  const rand = seededRandom(hash('routing-heatmap weights'));
  const t = (shape: number[], scale: number): Host => ({
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale),
  });
  const sd = 1 / Math.sqrt(d);
  return {
    W_A: t([1, d], sd),
    B_A: t([1], 1),
    W_S: t([1, m], 1),
    B_S: t([1, m], 1),
    W_F1: t([m, d], 1),
    W_F2: t([d, h], sd),
    B_F2: t([m, h], 1),
    W_G1: t([h, d], 1 / Math.sqrt(h)),
    W_G2: t([m, d], 1),
    B_G2: t([m, d], 1),
    W_beta_use: t([m, d], sd),
    B_beta_use: t([m], 0.5),
    W_beta_ign: t([m, d], sd),
    B_beta_ign: t([m], 0.5),
  };
}

// ---- colours -------------------------------------------------------------------------------------

/**
 * ColorBrewer's 11-class RdBu, from strong blue (−1) through near-white (0) to strong red (+1):
 * a diverging map centred at 0, readable by the common forms of colour blindness.
 */
const RDBU: readonly Rgb[] = [
  [5, 48, 97],
  [33, 102, 172],
  [67, 147, 195],
  [146, 197, 222],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [244, 165, 130],
  [214, 96, 77],
  [178, 24, 43],
  [103, 0, 31],
];

/** The colour of `t` in [-1, 1] (clamped): linear interpolation between the RdBu stops. */
export function divergingColor(t: number): Rgb {
  const u = ((Math.max(-1, Math.min(1, t)) + 1) / 2) * (RDBU.length - 1);
  const k = Math.min(RDBU.length - 2, Math.floor(u));
  const f = u - k;
  const a = RDBU[k]!;
  const b = RDBU[k + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as unknown as Rgb;
}

const WHITE: Rgb = [255, 255, 255];
const INK: Rgb = [25, 25, 25];
const GREY: Rgb = [110, 110, 110];
const GRID: Rgb = [200, 200, 200];

// ---- layout and drawing ----------------------------------------------------------------------------

/** Where everything sits in the image, in pixels (returned so tests can find cells and labels). */
export interface HeatmapLayout {
  readonly width: number;
  readonly height: number;
  /** Top-left corner of the cell grid and one cell's size (cells include a 1-px grid line). */
  readonly gridX: number;
  readonly gridY: number;
  readonly cellW: number;
  readonly cellH: number;
  readonly rows: number;
  readonly cols: number;
  /** The colour bar: its box and the value at its top (+max) and bottom (−max). */
  readonly barX: number;
  readonly barY: number;
  readonly barW: number;
  readonly barH: number;
  readonly maxAbs: number;
  /** Boxes holding text: title, axis labels, row and column labels, bar ticks. */
  readonly labels: readonly { readonly text: string; readonly x: number; readonly y: number; readonly w: number; readonly h: number }[];
}

const SCALE = 2; // every label: 10×14-pixel glyphs
const PAD = 20;

/** Compact tick labels: 3 significant digits, a real minus sign. */
function formatTick(v: number): string {
  const s = Math.abs(v) < 1e-12 ? '0' : v.toPrecision(3).replace(/\.?0+$/, '');
  return s.replace('-', '−');
}

/**
 * Draws the heatmap of `phi [rows, cols]` (row-major) with the row indices and `rowLabels` down the left side and
 * output indices along the top, a title, a subtitle and a colour-scale legend at the right.
 */
export function drawHeatmap(phi: ArrayLike<number>, rows: number, cols: number, rowLabels: readonly string[], title: string, subtitle: string): { image: RgbImage; layout: HeatmapLayout } {
  let maxAbs = 0;
  for (let k = 0; k < rows * cols; k++) maxAbs = Math.max(maxAbs, Math.abs(phi[k]!));
  if (!(maxAbs > 0)) maxAbs = 1;
  const lh = textHeight(SCALE);
  const cellW = 56;
  const cellH = 24;
  const indexW = textWidth(String(rows - 1), SCALE);
  const rowLabelW = indexW + textWidth(' ', SCALE) + SCALE + Math.max(...rowLabels.map((l) => textWidth(l, SCALE)));
  const ticks = [maxAbs, maxAbs / 2, 0, -maxAbs / 2, -maxAbs];
  const tickW = Math.max(...ticks.map((v) => textWidth(formatTick(v), SCALE)));

  // Horizontal: pad, vertical axis label, gap, row labels, gap, grid, gap, bar, tick, tick labels, pad.
  const axisLabelX = PAD;
  const rowLabelX = axisLabelX + lh + 14;
  const gridX = rowLabelX + rowLabelW + 10;
  const gridW = cols * cellW + 1;
  const barX = gridX + gridW + 28;
  const barW = 22;
  const tickLabelX = barX + barW + 10;
  const contentW = tickLabelX + tickW + PAD;
  // Vertical: pad, title, subtitle, gap, "output j", column indices, grid, pad.
  const titleY = PAD;
  const subtitleY = titleY + lh + 10;
  const outputLabelY = subtitleY + lh + 22;
  const colLabelY = outputLabelY + lh + 8;
  const gridY = colLabelY + lh + 8;
  const gridH = rows * cellH + 1;
  const width = Math.max(contentW, PAD + textWidth(title, SCALE) + PAD, PAD + textWidth(subtitle, SCALE) + PAD);
  const height = gridY + gridH + PAD;

  const image = createImage(width, height, WHITE);
  const labels: { text: string; x: number; y: number; w: number; h: number }[] = [];
  const text = (s: string, x: number, y: number, color: Rgb = INK): void => {
    drawText(image, s, x, y, color, { scale: SCALE });
    labels.push({ text: s, x, y, w: textWidth(s, SCALE), h: lh });
  };

  text(title, PAD, titleY);
  text(subtitle, PAD, subtitleY, GREY);

  // Cells, with a light grid between them.
  fillRect(image, gridX, gridY, gridW, gridH, GRID);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      fillRect(image, gridX + c * cellW + 1, gridY + r * cellH + 1, cellW - 1, cellH - 1, divergingColor(phi[r * cols + c]! / maxAbs));
    }
  }
  strokeRect(image, gridX, gridY, gridW, gridH, INK);

  // Output indices over the columns, "output j" centred above them.
  for (let c = 0; c < cols; c++) {
    const s = String(c);
    text(s, gridX + c * cellW + Math.round((cellW - textWidth(s, SCALE)) / 2), colLabelY);
  }
  const outLabel = 'output j';
  text(outLabel, gridX + Math.round((gridW - textWidth(outLabel, SCALE)) / 2), outputLabelY);

  // Row labels: the index (grey, right-aligned in its column), then the token.
  rowLabels.forEach((s, r) => {
    const y = gridY + r * cellH + Math.round((cellH - lh) / 2) + 1;
    const index = String(r);
    text(index, rowLabelX + indexW - textWidth(index, SCALE), y, GREY);
    text(s, rowLabelX + indexW + textWidth(' ', SCALE) + SCALE, y);
  });
  const inLabel = 'input token i';
  const inLabelLen = textWidth(inLabel, SCALE);
  const inLabelY = gridY + Math.round((gridH - inLabelLen) / 2);
  drawText(image, inLabel, axisLabelX, inLabelY, INK, { scale: SCALE, vertical: true });
  labels.push({ text: inLabel, x: axisLabelX, y: inLabelY, w: lh, h: inLabelLen });

  // Colour bar: +max at the top, −max at the bottom, ticks at ±max, ±max/2 and 0.
  const barY = gridY;
  const barH = gridH;
  for (let y = 0; y < barH; y++) fillRect(image, barX, barY + y, barW, 1, divergingColor(1 - (2 * y) / (barH - 1)));
  strokeRect(image, barX - 1, barY - 1, barW + 2, barH + 2, INK);
  ticks.forEach((v) => {
    const y = barY + Math.round(((maxAbs - v) / (2 * maxAbs)) * (barH - 1));
    fillRect(image, barX + barW + 1, y, 5, 1, INK);
    text(formatTick(v), tickLabelX, Math.max(barY - lh / 2, Math.min(barY + barH - lh / 2, y - Math.floor(lh / 2))));
  });
  const barTitle = 'φ';
  text(barTitle, barX + Math.round((barW - textWidth(barTitle, SCALE)) / 2), colLabelY);

  return { image, layout: { width, height, gridX, gridY, cellW, cellH, rows, cols, barX, barY, barW, barH, maxAbs, labels } };
}

// ---- main ------------------------------------------------------------------------------------------

export interface RoutingHeatmapOptions {
  /** Where to write the PNG (default `examples/out/routing-phi.png`); folders are created. */
  readonly out?: string;
  /** The backend to route on; default `createBackend()` (WebGPU if available, else the CPU). */
  readonly backend?: Backend;
  /** Print what was done (default true). */
  readonly log?: boolean;
}

export interface RoutingHeatmapResult {
  readonly path: string;
  /** phi `[24, 6]`, row-major, as routed. */
  readonly phi: Float32Array | Float64Array;
  /** 'webgpu' or 'cpu', and the device in words. */
  readonly backendKind: string;
  readonly backendDescription: string;
  readonly layout: HeatmapLayout;
  readonly bytes: number;
}

export async function main(options: RoutingHeatmapOptions = {}): Promise<RoutingHeatmapResult> {
  const say = options.log === false ? () => {} : (line: string) => console.log(line);
  const backend = options.backend ?? (await createBackend());
  try {
    say(`backend: ${backend.kind} — ${backend.deviceDescription}`);
    if (backend.fallbackReason) say(`(using the CPU interpreter because ${backend.fallbackReason})`);
    const routing = efficientVectorRoutingKernel({ nInp: -1, nOut: N_OUT, dInp: D_INP, dOut: D_OUT, nIters: N_ITERS, outputs: ['phi'] });
    const x_inp = embed(TOKENS, D_INP);
    const { phi } = await run(routing, { x_inp, ...routingWeights(N_OUT, D_INP, D_OUT) }, backend);
    if (!phi || phi.shape.join() !== `${TOKENS.length},${N_OUT}`) throw new Error(`routing returned phi of shape [${phi?.shape.join(', ')}]`);
    const data = phi.data as Float32Array | Float64Array;

    const rowLabels = TOKENS;
    const title = `Credit assignments φ[i, j] of EfficientVectorRouting`;
    const subtitle = `${TOKENS.length} input tokens -> ${N_OUT} outputs, ${N_ITERS} iterations, d_inp ${D_INP}, d_out ${D_OUT}, on ${backend.kind}`;
    const { image, layout } = drawHeatmap(data, TOKENS.length, N_OUT, rowLabels, title, subtitle);
    const png = encode({ width: image.width, height: image.height, data: image.data, channels: 3, depth: 8 });
    const path = resolve(options.out ?? DEFAULT_OUT);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, png);
    say(`wrote ${path} (${image.width}×${image.height}, ${png.length} bytes); phi in [${formatTick(Math.min(...data))}, ${formatTick(Math.max(...data))}]`);
    return { path, phi: data, backendKind: backend.kind, backendDescription: backend.deviceDescription, layout, bytes: png.length };
  } finally {
    if (!options.backend) backend.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main({ ...(process.argv[2] ? { out: process.argv[2] } : {}) }).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exit(1);
    },
  );
}
