/**
 * Human-readable text for error messages: byte counts and WGSL listings. Kept apart so the exact
 * wording that tests pin lives in one place.
 */

export { formatBytes } from '../program/limits.ts';

/** One diagnostic from `GPUShaderModule.getCompilationInfo()`, reduced to what the listing needs. */
export interface WgslMessage {
  readonly type: 'error' | 'warning' | 'info';
  readonly message: string;
  /** 1-based; 0 when the compiler gave no position. */
  readonly lineNum: number;
  readonly linePos: number;
  readonly length: number;
}

/**
 * The WGSL text with right-aligned line numbers; every line that has a diagnostic is marked with
 * `>` and followed by a caret line under the offending columns and the message's first line, so the
 * reader sees the problem in context without counting lines; longer messages follow the listing.
 */
export function formatWgslListing(wgsl: string, messages: readonly WgslMessage[]): string {
  const lines = wgsl.split('\n');
  const firstLine = (m: WgslMessage): string => m.message.split('\n')[0]!;
  const width = String(lines.length).length;
  const out: string[] = [];
  lines.forEach((text, i) => {
    const lineNum = i + 1;
    const here = messages.filter((m) => m.lineNum === lineNum);
    out.push(`${here.length > 0 ? '>' : ' '} ${String(lineNum).padStart(width)} | ${text}`);
    for (const m of here) {
      const pad = ' '.repeat(Math.max(0, m.linePos - 1));
      const carets = '^'.repeat(Math.max(1, m.length));
      out.push(`  ${' '.repeat(width)} | ${pad}${carets} ${m.type}: ${firstLine(m)}`);
    }
  });
  // Multi-line diagnostics (e.g. the overload candidates) would break up the listing: put them after it.
  for (const m of messages) {
    if (m.message.includes('\n')) out.push('', `${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message.trimEnd()}`);
  }
  return out.join('\n');
}
