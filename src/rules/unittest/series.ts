/**
 * The series notation of Prometheus' test language as `promtool test rules` reads
 * `input_series` and `exp_samples`:
 *
 *   metric{label="value", ...}  values
 *
 * Values use the expanding notation: `a+bxn` (a, then n further values each b more: computed by
 * repeated addition, as Prometheus does), `a-bxn`, `axn` (n+1 times a), `_` (no sample), `_xn`
 * (n missing samples), `stale` (a staleness marker), decimal numbers (`1e3`, `Inf`, `-Inf`,
 * `NaN`; no hexadecimal: `0x10` is 0 repeated 11 times, as in Prometheus). Errors read as Prometheus' (`1:9: parse error: ...`, the column
 * counted in `series values` joined by one space).
 */
import { Labels, LabelsBuilder, METRIC_NAME, STALE_NAN, VigilError, isLegacyLabelName } from '../../model/index.ts';

export class SeriesParseError extends VigilError {
  constructor(column: number, detail: string) {
    super('rules_bad_series', `1:${column}: parse error: ${detail}`);
  }
}

/** Parsed values: `present[i] === 0` means no sample at step i; values keep the stale marker's bits. */
export interface SeriesValues {
  values: Float64Array;
  present: Uint8Array;
}

const METRIC_START = /[a-zA-Z_:]/;
const METRIC_CHAR = /[a-zA-Z0-9_:]/;

/** Parses `name{l="v"}` (or `{__name__="x", ...}`, or a bare name) at `s[pos..]`. */
function parseMetricAt(s: string, pos: number): { labels: Labels; end: number } {
  const b = new LabelsBuilder();
  let i = pos;
  while (i < s.length && s[i] === ' ') i++;
  if (i < s.length && METRIC_START.test(s[i]!)) {
    const st = i;
    while (i < s.length && METRIC_CHAR.test(s[i]!)) i++;
    b.set(METRIC_NAME, s.slice(st, i));
  }
  if (s[i] === '{') {
    i++;
    for (;;) {
      while (s[i] === ' ' || s[i] === '\t') i++;
      if (i >= s.length) throw new SeriesParseError(i + 1, 'unexpected end of input inside braces');
      if (s[i] === '}') {
        i++;
        break;
      }
      let name: string;
      if (s[i] === '"' || s[i] === "'" || s[i] === '`') {
        const q = readQuoted(s, i);
        name = q.value;
        i = q.end;
      } else {
        const st = i;
        while (i < s.length && /[a-zA-Z0-9_]/.test(s[i]!)) i++;
        if (i === st) throw new SeriesParseError(i + 1, `unexpected character inside braces: '${s[i]}'`);
        name = s.slice(st, i);
        if (!isLegacyLabelName(name)) throw new SeriesParseError(st + 1, `unexpected character inside braces: '${name[0]}'`);
      }
      while (s[i] === ' ') i++;
      if (s[i] !== '=') {
        if (i >= s.length) throw new SeriesParseError(i + 1, 'unexpected end of input inside braces');
        if (s[i] === '!' || s[i] === '~') throw new SeriesParseError(i + 1, `unexpected "${s[i] === '!' ? (s[i + 1] === '~' ? '!~' : '!=') : '=~'}" in label set, expected "="`);
        throw new SeriesParseError(i + 1, `unexpected character inside braces: '${s[i]}'`);
      }
      i++;
      if (s[i] === '~') throw new SeriesParseError(i, 'unexpected "=~" in label set, expected "="');
      while (s[i] === ' ') i++;
      if (s[i] !== '"' && s[i] !== "'" && s[i] !== '`') {
        if (i >= s.length) throw new SeriesParseError(i + 1, 'unexpected end of input inside braces');
        throw new SeriesParseError(i + 1, `unexpected character inside braces: '${s[i]}'`);
      }
      const v = readQuoted(s, i);
      i = v.end;
      b.set(name, v.value);
      while (s[i] === ' ') i++;
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === '}') {
        i++;
        break;
      }
      if (i >= s.length) throw new SeriesParseError(i + 1, 'unexpected end of input inside braces');
      throw new SeriesParseError(i + 1, `unexpected character inside braces: '${s[i]}'`);
    }
  } else if (!b.has(METRIC_NAME)) {
    if (i >= s.length) throw new SeriesParseError(i + 1, 'unexpected end of input');
    throw new SeriesParseError(i + 1, `unexpected character: '${s[i]}'`);
  }
  return { labels: b.build(), end: i };
}

function readQuoted(s: string, i: number): { value: string; end: number } {
  const q = s[i]!;
  let j = i + 1;
  let out = '';
  while (j < s.length && s[j] !== q) {
    if (s[j] === '\\' && q !== '`') {
      const c = s[j + 1];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
      if (c !== undefined && simple[c] !== undefined) {
        out += simple[c];
        j += 2;
        continue;
      }
      const m = /^(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3})/.exec(s.slice(j + 1));
      if (!m) throw new SeriesParseError(j + 1, 'unknown escape sequence U+' + (c ?? '').charCodeAt(0).toString(16).toUpperCase().padStart(4, '0'));
      const t = m[1]!;
      out += t[0] === 'x' || /^[0-7]/.test(t) ? String.fromCharCode(t[0] === 'x' ? parseInt(t.slice(1), 16) : parseInt(t, 8)) : String.fromCodePoint(parseInt(t.slice(1), 16));
      j += 1 + t.length;
      continue;
    }
    if (s[j] === '\n') break;
    out += s[j];
    j++;
  }
  if (j >= s.length || s[j] !== q) throw new SeriesParseError(i + 1, 'unterminated quoted string');
  return { value: out, end: j + 1 };
}

/** PromQL number literal (decimal float, hex integer, Inf, NaN), unsigned; undefined when `t` is none. */
export function parsePromNumber(t: string): number | undefined {
  const l = t.toLowerCase();
  if (l === 'inf') return Infinity;
  if (l === 'nan') return NaN;
  if (/^0x[0-9a-f]+$/.test(l)) return parseInt(l.slice(2), 16);
  if (/^([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?$/.test(l)) return Number(l);
  return undefined;
}

/** Parses a metric in series notation (`parser.ParseMetric`): `name{l="v"}` or `{...}`. */
export function parseMetric(s: string): Labels {
  const { labels, end } = parseMetricAt(s, 0);
  let i = end;
  while (s[i] === ' ') i++;
  if (i < s.length) throw new SeriesParseError(i + 1, `unexpected character: '${s[i]}'`);
  return labels;
}

interface Item {
  text: string;
  start: number;
}

// No hexadecimal here: `0x10` is 0 repeated (Prometheus' lexer refuses hex in series descriptions).
const NUM = String.raw`(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[iI][nN][fF]|[nN][aA][nN])`;
const VALUE_RE = new RegExp(`^([+-]?${NUM})(?:([+-])(${NUM}))?(?:x([0-9]+))?$`);

/**
 * Parses one `input_series` entry: the series and its values. Times are assigned by the caller
 * (step i at i × interval).
 */
export function parseSeriesDesc(series: string, values: string): { labels: Labels; data: SeriesValues } {
  const line = `${series} ${values}`.trim();
  const { labels, end } = parseMetricAt(line, 0);
  const items: Item[] = [];
  let i = end;
  while (i < line.length) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= line.length) break;
    const st = i;
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') i++;
    items.push({ text: line.slice(st, i), start: st });
  }
  const vals: number[] = [];
  const pres: number[] = [];
  const stale: boolean[] = [];
  for (const it of items) parseItem(it, vals, pres, stale);
  const values2 = new Float64Array(vals.length);
  const present = new Uint8Array(vals.length);
  for (let k = 0; k < vals.length; k++) {
    values2[k] = stale[k] ? STALE_NAN : vals[k]!;
    present[k] = pres[k]!;
  }
  return { labels, data: { values: values2, present } };
}

function parseItem(it: Item, vals: number[], pres: number[], stale: boolean[]): void {
  const t = it.text;
  const col = it.start + 1;
  const push = (v: number, p: number, s = false) => {
    vals.push(v);
    pres.push(p);
    stale.push(s);
  };
  if (t === '_') return push(0, 0);
  const blank = /^_x(\d*)$/.exec(t);
  if (blank) {
    if (blank[1] === '') throw new SeriesParseError(col + t.length, 'unexpected end of input in series values');
    const n = Number(blank[1]);
    for (let k = 0; k < n; k++) push(0, 0);
    return;
  }
  if (t === 'stale') return push(0, 1, true);
  const m = VALUE_RE.exec(t);
  if (!m) {
    if (/^[a-zA-Z_]/.test(t) && parsePromNumber(t.replace(/^[+-]/, '')) === undefined) {
      const ident = /^[a-zA-Z_][a-zA-Z0-9_:]*/.exec(t)![0];
      throw new SeriesParseError(col, `unexpected identifier ${JSON.stringify(ident)} in series values, expected number or "stale"`);
    }
    if (/x$/.test(t)) throw new SeriesParseError(col + t.length, 'unexpected end of input in series values');
    const xi = t.indexOf('x');
    if (xi >= 0 && /^[+-]?[0-9.]*[+-]x/.test(t)) throw new SeriesParseError(col + xi, 'unexpected "x" in series values');
    if (xi >= 0 && t.indexOf('x', xi + 1) > 0) throw new SeriesParseError(col + t.indexOf('x', xi + 1), 'unexpected "x"');
    throw new SeriesParseError(col, `bad number syntax: ${JSON.stringify(t)}`);
  }
  const sign = m[1]!.startsWith('-') ? -1 : 1;
  let a = sign * parsePromNumber(m[1]!.replace(/^[+-]/, ''))!;
  const times = m[4] === undefined ? undefined : Number(m[4]);
  if (m[2] !== undefined) {
    if (times === undefined) throw new SeriesParseError(col + t.length, 'unexpected end of input in series values');
    const b = (m[2] === '-' ? -1 : 1) * parsePromNumber(m[3]!)!;
    push(a, 1);
    for (let k = 1; k <= times; k++) {
      a += b;
      push(a, 1);
    }
    return;
  }
  if (times === undefined) return push(a, 1);
  for (let k = 0; k <= times; k++) push(a, 1);
}
