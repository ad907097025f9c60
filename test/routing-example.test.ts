/**
 * `npm run example:routing` (examples/routing-heatmap.ts): its main function, run on the CPU
 * interpreter into a temporary folder, writes a PNG that decodes (with the same library that
 * encoded it) to the size its layout says, whose heatmap cells carry the diverging colour map's
 * colour for each routed phi value, and whose labels and legend are drawn.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackend, interpretKernel } from '../index.ts';
import { efficientVectorRoutingKernel } from '../kernels/index.ts';
import { ADVANCE, GLYPH_HEIGHT, glyph, hasGlyph, textWidth } from '../examples/bitmap-font.ts';
import { D_INP, D_OUT, N_ITERS, N_OUT, TOKENS, divergingColor, embed, main, routingWeights, type RoutingHeatmapResult } from '../examples/routing-heatmap.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-routing-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Rgb = readonly [number, number, number];
const distance = (a: Rgb, b: Rgb): number => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

describe('routing heatmap example', async () => {
  const backend = await createBackend({ prefer: 'cpu' });
  const out = join(dir, 'nested', 'phi.png');
  const result: RoutingHeatmapResult = await main({ out, backend, log: false });
  const png = decode(readFileSync(out));
  const pixel = (x: number, y: number): Rgb => {
    const k = (y * png.width + x) * png.channels;
    return [png.data[k]!, png.data[k + 1]!, png.data[k + 2]!];
  };
  const { layout, phi } = result;

  it('ran on the CPU interpreter and routed the example sentence', () => {
    expect(result.backendKind).toBe('cpu');
    expect(result.path).toBe(out);
    expect(phi.length).toBe(TOKENS.length * N_OUT);
    // phi is the routing's: the float64 interpreter on the same inputs gives the same numbers
    // (to the f32 rounding of the returned tensor).
    const kernel = efficientVectorRoutingKernel({ nInp: -1, nOut: N_OUT, dInp: D_INP, dOut: D_OUT, nIters: N_ITERS, outputs: ['phi'] });
    const want = interpretKernel(kernel, { x_inp: embed(TOKENS, D_INP), ...routingWeights(N_OUT, D_INP, D_OUT) }, { precision: 'f64' }).phi!;
    for (let k = 0; k < phi.length; k++) expect(Math.abs(phi[k]! - want.data[k]!)).toBeLessThan(1e-6);
    // Both signs occur, so the diverging map's two halves are both exercised.
    expect(Math.min(...phi)).toBeLessThan(0);
    expect(Math.max(...phi)).toBeGreaterThan(0);
  });

  it('decodes to the expected width × height, 8-bit RGB', () => {
    expect([png.width, png.height, png.channels, png.depth]).toEqual([layout.width, layout.height, 3, 8]);
    expect(layout.rows).toBe(TOKENS.length);
    expect(layout.cols).toBe(N_OUT);
    // The grid, the bar and every label lie inside the image.
    expect(layout.gridX + layout.cols * layout.cellW).toBeLessThan(layout.barX);
    expect(layout.barX + layout.barW).toBeLessThan(png.width);
    expect(layout.gridY + layout.rows * layout.cellH).toBeLessThan(png.height);
    for (const l of layout.labels) {
      expect(l.x >= 0 && l.y >= 0 && l.x + l.w <= png.width && l.y + l.h <= png.height, l.text).toBe(true);
    }
  });

  it('colours every cell by the diverging map at phi / max|phi|, centred at 0', () => {
    const maxAbs = Math.max(...Array.from(phi, Math.abs));
    expect(layout.maxAbs).toBeCloseTo(maxAbs, 12);
    const cellColour = (r: number, c: number): Rgb => pixel(layout.gridX + c * layout.cellW + (layout.cellW >> 1), layout.gridY + r * layout.cellH + (layout.cellH >> 1));
    let strongest = { r: 0, c: 0 };
    for (let r = 0; r < layout.rows; r++) {
      for (let c = 0; c < layout.cols; c++) {
        expect(cellColour(r, c), `cell ${r},${c}`).toEqual(divergingColor(phi[r * layout.cols + c]! / maxAbs));
        if (Math.abs(phi[r * layout.cols + c]!) > Math.abs(phi[strongest.r * layout.cols + strongest.c]!)) strongest = { r, c };
      }
    }
    // The largest |phi| gets the map's end colour (dark red if positive, dark blue if negative),
    // and it is the cell farthest from the colour of 0: the most saturated of all.
    const sign = Math.sign(phi[strongest.r * layout.cols + strongest.c]!);
    const end = cellColour(strongest.r, strongest.c);
    expect(end).toEqual(divergingColor(sign));
    const zero = divergingColor(0);
    for (let r = 0; r < layout.rows; r++) {
      for (let c = 0; c < layout.cols; c++) expect(distance(cellColour(r, c), zero)).toBeLessThanOrEqual(distance(end, zero));
    }
    // Red is positive, blue negative, near-white zero.
    expect(divergingColor(1)[0]).toBeGreaterThan(divergingColor(1)[2]);
    expect(divergingColor(-1)[2]).toBeGreaterThan(divergingColor(-1)[0]);
    expect(Math.min(...zero)).toBeGreaterThan(240);
  });

  it('draws the colour-scale legend from +max (top) to −max (bottom)', () => {
    const mid = layout.barX + (layout.barW >> 1);
    expect(pixel(mid, layout.barY)).toEqual(divergingColor(1));
    expect(pixel(mid, layout.barY + layout.barH - 1)).toEqual(divergingColor(-1));
    expect(pixel(mid, layout.barY + ((layout.barH - 1) >> 1))).toEqual(divergingColor(1 - (2 * ((layout.barH - 1) >> 1)) / (layout.barH - 1)));
    const ticks = layout.labels.filter((l) => l.x > layout.barX + layout.barW).map((l) => l.text);
    expect(ticks).toContain('0');
    expect(ticks).toContain(layout.maxAbs.toPrecision(3).replace(/\.?0+$/, ''));
    expect(ticks).toContain(`−${layout.maxAbs.toPrecision(3).replace(/\.?0+$/, '')}`);
  });

  it('draws the title, axis labels, token labels and output indices in ink', () => {
    const texts = layout.labels.map((l) => l.text);
    for (const want of ['output j', 'input token i', ...TOKENS, ...Array.from({ length: N_OUT }, (_, j) => String(j))]) expect(texts).toContain(want);
    expect(texts.some((t) => t.startsWith('Credit assignments φ'))).toBe(true);
    expect(texts.some((t) => t.includes('on cpu'))).toBe(true);
    const white: Rgb = [255, 255, 255];
    for (const l of layout.labels) {
      let ink = 0;
      for (let y = l.y; y < l.y + l.h; y++) for (let x = l.x; x < l.x + l.w; x++) if (distance(pixel(x, y), white) > 100) ink++;
      // A label of visible characters has ink; "." (the last token) has the fewest pixels.
      if (l.text.trim() !== '') expect(ink, `label '${l.text}'`).toBeGreaterThan(0);
    }
    // The margins are background.
    expect(pixel(0, 0)).toEqual(white);
    expect(pixel(png.width - 1, png.height - 1)).toEqual(white);
  });
});

describe('bitmap font', () => {
  it('has a glyph for every label character and measures text by its advance', () => {
    const used = new Set([...TOKENS.join(''), ...'Credit assignments φ[i, j] of EfficientVectorRouting', ...'0123456789.−-> output j input token i,_']);
    for (const c of used) expect(hasGlyph(c), `glyph '${c}'`).toBe(true);
    expect(glyph('\u2603')).toBe(glyph('?'));
    expect(textWidth('ab', 2)).toBe((2 * ADVANCE - 1) * 2);
    expect(glyph('g').length).toBe(GLYPH_HEIGHT);
    // Descenders reach below the baseline; capitals do not.
    expect(glyph('g').slice(7).some((row) => row.some(Boolean))).toBe(true);
    expect(glyph('E').slice(7).some((row) => row.some(Boolean))).toBe(false);
  });
});
