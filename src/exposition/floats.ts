/**
 * Number syntax of the exposition formats: floats as Go's strconv.ParseFloat reads them, minus
 * the post-Go-1.13 forms Prometheus refuses (hex floats, `_` digit separators), and the
 * canonical float text of OpenMetrics. Parsing works on a range of a string without slicing it.
 */
import { formatFloatG } from '../model/index.ts';

const POW10 = new Float64Array(23);
for (let i = 0, p = 1; i < 23; i++, p *= 10) POW10[i] = p;

/** Result slot of `parseGoFloat`: set to a message when the text is not a float. */
export const floatError = { message: '' };

const MAX_EXACT = 9007199254740991;

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Case-insensitive comparison of b[start, end) with a lower-case ASCII word. */
function equalsWordCI(b: Uint8Array, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (lower(b[start + i]!) !== word.charCodeAt(i)) return false;
  return true;
}

/** `parseGoFloatBytes` on a whole string. */
export function parseGoFloat(s: string, start = 0, end = s.length): number {
  return parseGoFloatBytes(Buffer.from(s.slice(start, end), 'latin1'), 0, end - start);
}

/**
 * Parses b[start, end) (ASCII bytes) as a float64 with Go's syntax: `[+-]digits[.digits][e[+-]digits]`,
 * `[+-]inf`, `[+-]infinity`, `nan` (letters in any case). Returns the value, or NaN with
 * `floatError.message` set when the text is not a valid float (check the message: a valid
 * `NaN` input also returns NaN, with an empty message). Out-of-range magnitudes are an error,
 * as in Go. No allocation on the common paths.
 */
export function parseGoFloatBytes(s: Uint8Array, start: number, end: number): number {
  floatError.message = '';
  if (start >= end) return fail('empty value');
  let i = start;
  let neg = false;
  let c = s[i]!;
  if (c === 43 /* + */ || c === 45 /* - */) {
    neg = c === 45;
    i++;
    if (i >= end) return fail('invalid syntax');
    c = s[i]!;
  }
  if (c === 105 || c === 73 /* i I */) {
    if (equalsWordCI(s, i, end, 'inf') || equalsWordCI(s, i, end, 'infinity')) return neg ? -Infinity : Infinity;
    return fail('invalid syntax');
  }
  if (c === 110 || c === 78 /* n N */) {
    if (i === start && equalsWordCI(s, i, end, 'nan')) return NaN;
    return fail('invalid syntax');
  }
  let mant = 0;
  let exact = true;
  let sawDigit = false;
  let sawDot = false;
  let scale = 0;
  for (; i < end; i++) {
    c = s[i]!;
    if (c >= 48 && c <= 57) {
      sawDigit = true;
      if (exact) {
        mant = mant * 10 + (c - 48);
        if (mant > MAX_EXACT) exact = false;
        else if (sawDot) scale++;
      }
    } else if (c === 46 /* . */ && !sawDot) {
      sawDot = true;
    } else break;
  }
  if (!sawDigit) return fail('invalid syntax');
  let exp = 0;
  if (i < end) {
    if (c !== 101 && c !== 69 /* e E */) return fail('invalid syntax');
    i++;
    let eneg = false;
    if (i < end) {
      const d = s[i]!;
      if (d === 43 || d === 45) {
        eneg = d === 45;
        i++;
      }
    }
    if (i >= end) return fail('invalid syntax');
    for (; i < end; i++) {
      const d = s[i]!;
      if (d < 48 || d > 57) return fail('invalid syntax');
      if (exp < 100000) exp = exp * 10 + (d - 48);
    }
    if (eneg) exp = -exp;
  }
  if (exact) {
    const e10 = exp - scale;
    let v: number | undefined;
    if (e10 === 0) v = mant;
    else if (e10 < 0 && e10 >= -22) v = mant / POW10[-e10]!;
    else if (e10 > 0 && e10 <= 22) v = mant * POW10[e10]!;
    if (v !== undefined) return neg ? -v : v;
  }
  // Rare shapes (many digits, large exponents): the syntax is validated, Number() rounds correctly.
  const v = Number(Buffer.from(s.buffer, s.byteOffset + start, end - start).toString('latin1'));
  if (v === Infinity || v === -Infinity) return fail('value out of range');
  return v;
}

function fail(message: string): number {
  floatError.message = message;
  return NaN;
}

/**
 * Parses s[start, end) as a non-negative decimal integer (Go's ParseInt(s, 10, 64) on digits
 * only). Returns NaN with `floatError.message` set when it is not one or overflows int64.
 */
export function parseDecimalInt(s: Uint8Array, start: number, end: number, allowSign = false): number {
  floatError.message = '';
  let i = start;
  let neg = false;
  if (allowSign && i < end) {
    const c = s[i]!;
    if (c === 43 || c === 45) {
      neg = c === 45;
      i++;
    }
  }
  if (i >= end) return fail('invalid syntax');
  let v = 0;
  for (; i < end; i++) {
    const c = s[i]!;
    if (c < 48 || c > 57) return fail('invalid syntax');
    v = v * 10 + (c - 48);
  }
  if (v > 9223372036854775807) return fail('value out of range');
  return neg ? -v : v;
}

/**
 * The canonical float text of OpenMetrics (client_golang's writer): `1.0`, `0.0`, `-1.0`,
 * `NaN`, `+Inf`, `-Inf`, otherwise Go's 'g' shortest form with `.0` appended when it has
 * neither a point nor an exponent. Also Prometheus' normalisation of `le`/`quantile` values.
 */
export function formatOpenMetricsFloat(v: number): string {
  if (v === 1) return '1.0';
  if (v === 0) return '0.0'; // -0 too, as Go compares -0 == 0
  if (v === -1) return '-1.0';
  const g = formatFloatG(v);
  if (v !== v || v === Infinity || v === -Infinity) return g;
  for (let i = 0; i < g.length; i++) {
    const c = g.charCodeAt(i);
    if (c === 46 || c === 101) return g;
  }
  return g + '.0';
}
