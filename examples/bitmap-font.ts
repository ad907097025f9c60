/**
 * A tiny 5×7 bitmap font and the few raster helpers the routing heatmap needs, so labels render
 * without system fonts or a canvas. Glyphs cover printable ASCII (space to `~`) plus `φ` and the
 * minus sign `−`; anything else draws as `?`.
 *
 * Each glyph is 7 rows of 5 pixels above the baseline, written as space-separated strings of `#`
 * (ink) and `.`; the letters that descend (g j p q y, the comma and φ) add 2 rows below it, so a
 * line of text is 9 pixels tall (`GLYPH_HEIGHT`) with the baseline under row 7. Text is
 * drawn at an integer `scale` (each font pixel becomes scale × scale image pixels), one glyph per
 * 6 font pixels of advance (5 + 1 of spacing), optionally rotated 90° counter-clockwise for a
 * vertical axis label.
 */

export const GLYPH_WIDTH = 5;
/** Rows above the baseline (capitals and digits fill them). */
export const GLYPH_ASCENT = 7;
/** Rows of one line: the ascent and 2 rows of descender. */
export const GLYPH_HEIGHT = 9;
/** Horizontal advance of one character, in font pixels (the glyph plus one column of space). */
export const ADVANCE = GLYPH_WIDTH + 1;

const GLYPH_SOURCE: Readonly<Record<string, string>> = {
  ' ': '..... ..... ..... ..... ..... ..... .....',
  '!': '..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..',
  '"': '.#.#. .#.#. .#.#. ..... ..... ..... .....',
  '#': '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.',
  $: '..#.. .#### #.#.. .###. ..#.# ####. ..#..',
  '%': '##... ##..# ...#. ..#.. .#... #..## ...##',
  '&': '.##.. #..#. #.#.. .#... #.#.# #..#. .##.#',
  "'": '..#.. ..#.. .#... ..... ..... ..... .....',
  '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  '*': '..... ..#.. #.#.# .###. #.#.# ..#.. .....',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  ',': '..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...',
  '-': '..... ..... ..... ##### ..... ..... .....',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  '/': '..... ....# ...#. ..#.. .#... #.... .....',
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '##### ...#. ..#.. ...#. ....# #...# .###.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  ':': '..... .##.. .##.. ..... .##.. .##.. .....',
  ';': '..... .##.. .##.. ..... .##.. ..#.. .#...',
  '<': '...#. ..#.. .#... #.... .#... ..#.. ...#.',
  '=': '..... ..... ##### ..... ##### ..... .....',
  '>': '.#... ..#.. ...#. ....# ...#. ..#.. .#...',
  '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
  '@': '.###. #...# ....# .##.# #.#.# #.#.# .###.',
  A: '.###. #...# #...# #...# ##### #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '###.. #..#. #...# #...# #...# #..#. ###..',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
  '[': '.###. .#... .#... .#... .#... .#... .###.',
  '\\': '..... #.... .#... ..#.. ...#. ....# .....',
  ']': '.###. ...#. ...#. ...#. ...#. ...#. .###.',
  '^': '..#.. .#.#. #...# ..... ..... ..... .....',
  _: '..... ..... ..... ..... ..... ..... #####',
  '`': '.#... ..#.. ...#. ..... ..... ..... .....',
  a: '..... ..... .###. ....# .#### #...# .####',
  b: '#.... #.... #.##. ##..# #...# #...# ####.',
  c: '..... ..... .###. #.... #.... #...# .###.',
  d: '....# ....# .##.# #..## #...# #...# .####',
  e: '..... ..... .###. #...# ##### #.... .###.',
  f: '..##. .#..# .#... ###.. .#... .#... .#...',
  g: '..... ..... .#### #...# #...# #...# .#### ....# .###.',
  h: '#.... #.... #.##. ##..# #...# #...# #...#',
  i: '..#.. ..... .##.. ..#.. ..#.. ..#.. .###.',
  j: '...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..',
  k: '#.... #.... #..#. #.#.. ##... #.#.. #..#.',
  l: '.##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  m: '..... ..... ##.#. #.#.# #.#.# #...# #...#',
  n: '..... ..... #.##. ##..# #...# #...# #...#',
  o: '..... ..... .###. #...# #...# #...# .###.',
  p: '..... ..... ####. #...# #...# #...# ####. #.... #....',
  q: '..... ..... .#### #...# #...# #...# .#### ....# ....#',
  r: '..... ..... #.##. ##..# #.... #.... #....',
  s: '..... ..... .###. #.... .###. ....# ####.',
  t: '.#... .#... ###.. .#... .#... .#..# ..##.',
  u: '..... ..... #...# #...# #...# #..## .##.#',
  v: '..... ..... #...# #...# #...# .#.#. ..#..',
  w: '..... ..... #...# #...# #.#.# #.#.# .#.#.',
  x: '..... ..... #...# .#.#. ..#.. .#.#. #...#',
  y: '..... ..... #...# #...# #...# #...# .#### ....# .###.',
  z: '..... ..... ##### ...#. ..#.. .#... #####',
  '{': '...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.',
  '|': '..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  '}': '.#... ..#.. ..#.. ...#. ..#.. ..#.. .#...',
  '~': '..... ..... .#... #.#.# ...#. ..... .....',
  'φ': '..... ..#.. .###. #.#.# #.#.# #.#.# .###. ..#.. ..#..',
  '−': '..... ..... ..... ##### ..... ..... .....',
};

/** A glyph as 9 rows (the ascent, then the descender) of 5 booleans (true = ink). */
export type Glyph = readonly (readonly boolean[])[];

function parseGlyph(char: string, source: string): Glyph {
  const rows = source.split(' ');
  if ((rows.length !== GLYPH_ASCENT && rows.length !== GLYPH_HEIGHT) || rows.some((r) => r.length !== GLYPH_WIDTH || /[^#.]/.test(r))) {
    throw new Error(`bitmap font: glyph '${char}' must be ${GLYPH_ASCENT} or ${GLYPH_HEIGHT} rows of ${GLYPH_WIDTH} '#'/'.'`);
  }
  while (rows.length < GLYPH_HEIGHT) rows.push('.'.repeat(GLYPH_WIDTH));
  return rows.map((r) => [...r].map((c) => c === '#'));
}

const GLYPHS: ReadonlyMap<string, Glyph> = new Map(Object.entries(GLYPH_SOURCE).map(([c, s]) => [c, parseGlyph(c, s)]));

/** The glyph for `char`; characters outside the font draw as `?`. */
export function glyph(char: string): Glyph {
  return GLYPHS.get(char) ?? GLYPHS.get('?')!;
}

/** Whether the font has a glyph of its own for `char`. */
export function hasGlyph(char: string): boolean {
  return GLYPHS.has(char);
}

/** Width in image pixels of `text` drawn at `scale` (no trailing spacing column). */
export function textWidth(text: string, scale: number): number {
  const n = [...text].length;
  return n === 0 ? 0 : (n * ADVANCE - 1) * scale;
}

/** Height in image pixels of one line of text at `scale`. */
export function textHeight(scale: number): number {
  return GLYPH_HEIGHT * scale;
}

/** An RGB image, row-major, 3 bytes per pixel. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export type Rgb = readonly [number, number, number];

export function createImage(width: number, height: number, background: Rgb): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(background, p * 3);
  return { width, height, data };
}

/** Sets one pixel; pixels outside the image are ignored. */
export function setPixel(img: RgbImage, x: number, y: number, color: Rgb): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  img.data.set(color, (y * img.width + x) * 3);
}

export function getPixel(img: RgbImage, x: number, y: number): Rgb {
  const k = (y * img.width + x) * 3;
  return [img.data[k]!, img.data[k + 1]!, img.data[k + 2]!];
}

/** Fills the rectangle [x, x + w) × [y, y + h). */
export function fillRect(img: RgbImage, x: number, y: number, w: number, h: number, color: Rgb): void {
  for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) setPixel(img, xx, yy, color);
}

/** A one-pixel outline of the rectangle [x, x + w) × [y, y + h). */
export function strokeRect(img: RgbImage, x: number, y: number, w: number, h: number, color: Rgb): void {
  fillRect(img, x, y, w, 1, color);
  fillRect(img, x, y + h - 1, w, 1, color);
  fillRect(img, x, y, 1, h, color);
  fillRect(img, x + w - 1, y, 1, h, color);
}

export interface TextOptions {
  readonly scale?: number;
  /**
   * Rotate 90° counter-clockwise (reads bottom to top). (x, y) is then the top-left corner of the
   * rotated text's box, which is `textHeight` wide and `textWidth` tall.
   */
  readonly vertical?: boolean;
}

/** Draws `text` with its box's top-left corner at (x, y). */
export function drawText(img: RgbImage, text: string, x: number, y: number, color: Rgb, options: TextOptions = {}): void {
  const scale = options.scale ?? 1;
  const length = textWidth(text, scale);
  [...text].forEach((char, k) => {
    const g = glyph(char);
    for (let row = 0; row < GLYPH_HEIGHT; row++) {
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        if (!g[row]![col]) continue;
        // Position along the text and across it, in image pixels, before rotation.
        const along = k * ADVANCE * scale + col * scale;
        const across = row * scale;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            if (options.vertical) setPixel(img, x + across + dy, y + length - 1 - (along + dx), color);
            else setPixel(img, x + along + dx, y + across + dy, color);
          }
        }
      }
    }
  });
}
