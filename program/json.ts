/**
 * A Program's JSON form, lossless. Plain `JSON.stringify` writes `Infinity`, `-Infinity` and `NaN`
 * as `null` and `-0` as `0`, and a masked attention Program holds `-Infinity` in its graph (the
 * `where` mask's constant), so a build step that ships Programs must write them with
 * `serializeProgram` and an app must read them with `parseProgram`. Every such number, wherever it
 * sits in the Program, is written as the tagged object `{"$number": "-Infinity"}` (also
 * `"Infinity"`, `"NaN"`, `"-0"`); every other number is written as JSON writes it, which reads back
 * exactly. `parseProgram` decodes the tags and validates the result, so a Program that does not
 * validate — one written with plain `JSON.stringify`, say — is refused with a message saying why.
 */
import { TesseraError } from '../dsl/types.ts';
import type { Program } from './program.ts';
import { validateProgram } from './validate.ts';

const TAG = '$number';
const SPECIAL: Readonly<Record<string, number>> = { Infinity: Infinity, '-Infinity': -Infinity, NaN: NaN, '-0': -0 };

function encode(_key: string, value: unknown): unknown {
  if (typeof value !== 'number') return value;
  if (Object.is(value, -0)) return { [TAG]: '-0' };
  return Number.isFinite(value) ? value : { [TAG]: String(value) };
}

function decode(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== TAG) return value;
  const text = (value as Record<string, unknown>)[TAG];
  return typeof text === 'string' && Object.hasOwn(SPECIAL, text) ? SPECIAL[text] : value;
}

/** The Program as JSON text that `parseProgram` reads back exactly; throws for a malformed Program. */
export function serializeProgram(program: Program): string {
  validateProgram(program);
  return JSON.stringify(program, encode);
}

/** Reads `serializeProgram`'s text back into a validated Program; throws a TesseraError otherwise. */
export function parseProgram(text: string): Program {
  if (typeof text !== 'string') throw new TesseraError(`parseProgram: expected the JSON text of a Program, got ${text === null ? 'null' : typeof text}`);
  let value: unknown;
  try {
    value = JSON.parse(text, decode);
  } catch (e) {
    throw new TesseraError(`parseProgram: the text is not JSON: ${(e as Error).message}`);
  }
  validateProgram(value as Program);
  return value as Program;
}

/**
 * JSON text that tells every number apart (±∞, NaN and −0 included, which plain JSON writes as
 * `null` and `0`): the key for caches and common-subexpression sharing over plain data.
 */
export function exactKey(value: unknown): string {
  return JSON.stringify(value, encode);
}
