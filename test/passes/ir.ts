/** Shared by the pass tests: printed IR written as indented template literals. */

/**
 * IR text from an indented template literal: the common indentation and the outer newlines
 * removed, so expected and input IR can sit indented in the test source.
 */
export function ir(strings: TemplateStringsArray): string {
  const lines = strings[0]!.replace(/^\n/, '').replace(/\n\s*$/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n');
}
