/**
 * Bytes → string for the parser. Exposition text must be UTF-8: invalid sequences are an error
 * on every line that carries data (names, label values, HELP). The text format's free-form
 * comment lines may hold any bytes, as in Prometheus.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { ExpositionParseError } from './errors.ts';
import type { ExpositionFormat } from './parser.ts';

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Decodes an exposition body to a string. Throws ExpositionParseError naming the first line
 * with invalid UTF-8 outside a text-format comment.
 */
export function decodeExposition(body: Uint8Array, format: ExpositionFormat): string {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (isAscii(buf)) return buf.toString('latin1');
  validateExpositionUtf8(buf, format);
  return utf8.decode(buf);
}

/**
 * Checks that an exposition body is UTF-8 where it must be (everywhere but the text format's
 * plain comment lines). Throws ExpositionParseError naming the line (counted from
 * `firstLine`) and column. Fast (native) when the body is valid.
 */
export function validateExpositionUtf8(body: Uint8Array, format: ExpositionFormat, firstLine = 1): void {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (isUtf8(buf)) return;
  let line = firstLine;
  let start = 0;
  while (start <= buf.length) {
    let eol = buf.indexOf(10, start);
    if (eol < 0) eol = buf.length;
    const lineBytes = buf.subarray(start, eol);
    if (!isUtf8(lineBytes) && !(format === 'prometheus' && isPlainComment(lineBytes))) {
      const col = firstInvalidUtf8(lineBytes) + 1;
      throw new ExpositionParseError('invalid UTF-8: names, label values and HELP text must be UTF-8', line, col);
    }
    start = eol + 1;
    line++;
  }
}

/** A text-format line that is a comment but not `# HELP`/`# TYPE` (leading blanks allowed). */
function isPlainComment(line: Uint8Array): boolean {
  let i = 0;
  while (i < line.length && (line[i] === 32 || line[i] === 9)) i++;
  if (line[i] !== 35) return false;
  i++;
  if (!(line[i] === 32 || line[i] === 9)) return true;
  while (i < line.length && (line[i] === 32 || line[i] === 9)) i++;
  const word = String.fromCharCode(...line.subarray(i, i + 4));
  const after = line[i + 4];
  return !((word === 'HELP' || word === 'TYPE') && (after === 32 || after === 9));
}

/** Byte offset of the first invalid UTF-8 sequence (length when none). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n = 0;
    let min = 0;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else return i;
    if (i + n >= b.length) return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}
