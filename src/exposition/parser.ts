/**
 * A pull parser for the Prometheus text format 0.0.4 and OpenMetrics 1.0 text format.
 *
 * `next()` advances to the next entry (a series sample, HELP, TYPE, UNIT or comment) and the
 * accessors read the current entry. Nothing is allocated per sample on the hot path: the
 * current series is held as offsets into the input (`seriesStart`/`seriesEnd` delimit its raw
 * text, `seriesHash()` hashes it, `seriesEquals()` compares it) and the value/timestamp are
 * plain fields. Strings (`metricName()`, `labels()`, `helpText()`) are built only on request,
 * which a caller with a cache keyed by the raw series text does once per new series.
 *
 * Grammar and error behaviour follow Prometheus' own parsers (model/textparse): the same inputs
 * are accepted and rejected, including their quirks (a missing comma between labels is accepted
 * in the text format; a NUL at the start of a line ends a text-format input). Any syntax error
 * throws ExpositionParseError with line and column; the caller discards the whole parse.
 *
 * A parser instance is reusable (`reset()`), and is not safe to share between concurrent users.
 */
import { Labels, METRIC_NAME, NORMAL_NAN } from '../model/index.ts';
import { validateExpositionUtf8 } from './decode.ts';
import { ExpositionParseError } from './errors.ts';
import { floatError, formatOpenMetricsFloat, parseDecimalInt, parseGoFloat, parseGoFloatBytes } from './floats.ts';

/** What `next()` found. */
export const Entry = { End: 0, Series: 1, Help: 2, Type: 3, Unit: 4, Comment: 5 } as const;
export type EntryKind = (typeof Entry)[keyof typeof Entry];

/** `prometheus`: text format 0.0.4; `openmetrics`: OpenMetrics 1.0 text. */
export type ExpositionFormat = 'prometheus' | 'openmetrics';

/** Metric types as Prometheus names them (the text format's `untyped` reads as `unknown`). */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset' | 'unknown';

export interface ResetOptions {
  /**
   * Whether this input is the end of the exposition (default true). With false, running out
   * of input returns `Entry.End` even in OpenMetrics without `# EOF`, so that a long input can
   * be fed in chunks that end at line boundaries.
   */
  final?: boolean;
  /** Keep the metadata state and line count of the previous input (the next chunk of one stream). */
  continuation?: boolean;
}

const STRIDE = 6; // nameStart, nameEnd, nameEscaped, valueStart, valueEnd, valueEscaped

const TEXT_TYPES: Record<string, MetricType> = {
  counter: 'counter',
  gauge: 'gauge',
  histogram: 'histogram',
  summary: 'summary',
  untyped: 'unknown',
};

const OM_TYPES: Record<string, MetricType> = {
  counter: 'counter',
  gauge: 'gauge',
  histogram: 'histogram',
  gaugehistogram: 'gaugehistogram',
  summary: 'summary',
  info: 'info',
  stateset: 'stateset',
  unknown: 'unknown',
};

/** Byte classes (one table load per character on the hot paths). */
const C_METRIC_START = 1;
const C_METRIC = 2;
const C_LABEL_START = 4;
const C_LABEL = 8;
const C_QUOTE_SPECIAL = 16; // '"', '\\', '\n', NUL: where a quoted-string scan must look closer
const C_VALUE_END = 32; // ' ', '\t', '\n', '{': where a text-format value ends
const CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alpha = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
  const digit = c >= 48 && c <= 57;
  let k = 0;
  if (alpha || c === 58) k |= C_METRIC_START | C_METRIC;
  if (digit) k |= C_METRIC | C_LABEL;
  if (alpha) k |= C_LABEL_START | C_LABEL;
  if (c === 34 || c === 92 || c === 10 || c === 0) k |= C_QUOTE_SPECIAL;
  if (c === 32 || c === 9 || c === 10 || c === 123) k |= C_VALUE_END;
  CLASS[c] = k;
}

function isMetricNameStart(c: number): boolean {
  return (CLASS[c]! & C_METRIC_START) !== 0;
}

function isMetricNameChar(c: number): boolean {
  return (CLASS[c]! & C_METRIC) !== 0;
}

function isLabelNameStart(c: number): boolean {
  return (CLASS[c]! & C_LABEL_START) !== 0;
}

function isLabelNameChar(c: number): boolean {
  return (CLASS[c]! & C_LABEL) !== 0;
}

/** Undoes the escapes of label values and quoted names: `\"`, `\\`, `\n`; others stay as written. */
export function unescapeLabelValue(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) !== 92) continue;
    const n = s.charCodeAt(i + 1);
    let rep: string | undefined;
    if (n === 34) rep = '"';
    else if (n === 92) rep = '\\';
    else if (n === 110) rep = '\n';
    if (rep === undefined) continue;
    out += s.slice(last, i) + rep;
    i++;
    last = i + 1;
  }
  return out + s.slice(last);
}

/** Undoes the HELP escapes of the text format: only `\\` and `\n`. */
function unescapeTextHelp(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) !== 92) continue;
    const n = s.charCodeAt(i + 1);
    let rep: string | undefined;
    if (n === 92) rep = '\\';
    else if (n === 110) rep = '\n';
    if (rep === undefined) continue;
    out += s.slice(last, i) + rep;
    i++;
    last = i + 1;
  }
  return out + s.slice(last);
}

function describeChar(b: Buffer, i: number, end: number): string {
  if (i >= end) return 'end of input';
  const c = b[i]!;
  if (c === 10) return 'end of line';
  if (c < 0x80) return JSON.stringify(String.fromCharCode(c));
  let n = i + 1;
  while (n < end && (b[n]! & 0xc0) === 0x80) n++;
  return JSON.stringify(b.toString('utf8', i, n));
}

function asBuffer(input: string | Uint8Array): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/** Whether b[p..] starts with the ASCII word. */
function startsWithAscii(b: Buffer, p: number, end: number, word: string): boolean {
  if (p + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if (b[p + i] !== word.charCodeAt(i)) return false;
  return true;
}

const EMPTY = Buffer.alloc(0);

export class ExpositionParser {
  readonly format: ExpositionFormat;
  /**
   * Rewrite `le`/`quantile` values of histograms/summaries in canonical float form (`1` →
   * `1.0`), as Prometheus 3 does when scraping. Importers that must keep label values byte for
   * byte (as promtool 2.42's create-blocks-from does) set it to false.
   */
  normalizeBucketLabels = true;
  private buf: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  private final = true;
  private eofSeen = false;
  private lineNo = 1;
  private lineStart = 0;

  // Current series.
  /** Byte offset in the input where the current series' raw text (name and labels) starts. */
  seriesStart = 0;
  /** Byte offset just past the current series' raw text. */
  seriesEnd = 0;
  /** The current sample's value (ordinary NaN normalised to Prometheus' NORMAL_NAN). */
  value = 0.5;
  /** Whether the current sample carried a timestamp. */
  hasTimestamp = false;
  /** The current sample's timestamp in ms (valid when `hasTimestamp`). */
  timestamp = 0.5;
  /**
   * True when the current series was taken by `nextExpecting`'s fast path: only `value`,
   * `timestamp`, `hasTimestamp`, `seriesStart`/`seriesEnd` are valid then (not `labels()`).
   */
  matchedKey = false;
  private seriesLine = 1;
  private seriesLineStart = 0;
  private nameStart = -1;
  private nameEnd = -1;
  private nameEscaped = 0;
  private lbl = new Int32Array(16 * STRIDE);
  private nLabels = 0;

  // Exemplar of the current sample (OpenMetrics).
  /** Whether the current sample has an exemplar. */
  hasExemplar = false;
  exemplarValue = 0.5;
  exemplarHasTimestamp = false;
  /** Exemplar timestamp in ms. */
  exemplarTimestamp = 0.5;
  private exLbl = new Int32Array(4 * STRIDE);
  private exN = 0;

  // Current metadata entry or comment.
  /** Byte range of the current HELP/TYPE/UNIT/comment line (without its line break). */
  lineStartOffset = 0;
  lineEndOffset = 0;
  private metaStart = 0;
  private metaEnd = 0;
  private metaEscaped = 0;
  private textStart = 0;
  private textEnd = 0;
  private entryType: MetricType = 'unknown';
  /** The type of the last TYPE line: it governs `le`/`quantile` normalisation, as upstream. */
  private curType: MetricType = 'unknown';
  private lastEscaped = 0;
  private lastValue = 0.5;
  /** OpenMetrics: where the lines after the last TYPE start (for `createdTimestamp`). */
  private familyStart = -1;
  private familyStartLine = 1;

  constructor(format: ExpositionFormat, input: string | Uint8Array = EMPTY, opts?: ResetOptions) {
    this.format = format;
    this.reset(input, opts);
  }

  /**
   * Starts over on a new input (or the next chunk of one, see ResetOptions). Bytes must be
   * UTF-8: invalid sequences outside text-format comments throw ExpositionParseError here.
   * The parser reads `input` in place until the next reset; the caller must not modify it.
   */
  reset(input: string | Uint8Array, opts?: ResetOptions): void {
    const b = asBuffer(input);
    if (!opts?.continuation) {
      this.lineNo = 1;
      this.curType = 'unknown';
      this.eofSeen = false;
    }
    this.familyStart = -1;
    if (typeof input !== 'string') validateExpositionUtf8(b, this.format, this.lineNo);
    this.buf = b;
    this.pos = 0;
    this.end = b.length;
    this.final = opts?.final ?? true;
    this.lineStart = 0;
    this.nLabels = 0;
    this.exN = 0;
    this.hasExemplar = false;
  }

  /** The input being parsed (read-only by contract). */
  get input(): Buffer {
    return this.buf;
  }

  /** 1-based number of the line the parser is on. */
  get line(): number {
    return this.lineNo;
  }

  /** Advances to the next entry. Throws ExpositionParseError on invalid input. */
  next(): EntryKind {
    this.matchedKey = false;
    return this.format === 'openmetrics' ? this.nextOpenMetrics() : this.nextText();
  }

  /**
   * As `next()`, with a guess: when the next line is a series whose raw text (name and label
   * set) is byte for byte `key[off, off + len)` — a series the caller parsed before — the scan
   * of its name and labels is skipped and `matchedKey` is set. Only for keys without line
   * breaks. Anything else (another series, metadata, errors) behaves exactly as `next()`.
   */
  nextExpecting(key: Uint8Array, off: number, len: number): EntryKind {
    const b = this.buf;
    const end = this.end;
    const om = this.format === 'openmetrics';
    const p = om || this.eofSeen ? this.pos : this.skipWs(this.pos);
    if (len > 0 && p + len < end && b[p] === key[off] && b[p + len - 1] === key[off + len - 1] && (b[p] === 123 || isMetricNameStart(b[p]!))) {
      let i = 1;
      while (i < len && b[p + i] === key[off + i]) i++;
      if (i === len) {
        let q = p + len;
        const last = key[off + len - 1]!;
        let ok = true;
        if (last !== 125) {
          const c = b[q]!;
          if (isMetricNameChar(c)) ok = false;
          else if (!om) {
            const w = this.skipWs(q);
            if (b[w] === 123) ok = false;
          } else if (c === 123) ok = false;
        }
        if (ok && !this.eofSeen) {
          this.beginSeries(p);
          this.seriesEnd = q;
          this.matchedKey = true;
          if (om) return this.omAfterSeries(q);
          return this.textAfterSeries(q);
        }
      }
    }
    this.matchedKey = false;
    return om ? this.nextOpenMetrics() : this.nextText();
  }

  // ---------------------------------------------------------------- accessors

  private str(a: number, b: number): string {
    return this.buf.toString('utf8', a, b);
  }

  /** Recovers the name/label offsets of a series taken by the fast path (rare: on request). */
  private rescanSeries(): void {
    const saved = { pos: this.pos, lineNo: this.lineNo, lineStart: this.lineStart, value: this.value, ts: this.timestamp, hasTs: this.hasTimestamp };
    const ex = { has: this.hasExemplar, v: this.exemplarValue, ts: this.exemplarTimestamp, hasTs: this.exemplarHasTimestamp, n: this.exN };
    this.pos = this.seriesStart;
    this.lineNo = this.seriesLine;
    this.lineStart = this.seriesLineStart;
    this.matchedKey = false;
    if (this.format === 'openmetrics') this.omSeries(this.seriesStart);
    else this.textSeries(this.seriesStart);
    this.pos = saved.pos;
    this.lineNo = saved.lineNo;
    this.lineStart = saved.lineStart;
    this.value = saved.value;
    this.timestamp = saved.ts;
    this.hasTimestamp = saved.hasTs;
    this.hasExemplar = ex.has;
    this.exemplarValue = ex.v;
    this.exemplarTimestamp = ex.ts;
    this.exemplarHasTimestamp = ex.hasTs;
    this.exN = ex.n;
  }

  /** The current series' metric name (unescaped). */
  metricName(): string {
    if (this.matchedKey) this.rescanSeries();
    const n = this.str(this.nameStart, this.nameEnd);
    return this.nameEscaped ? unescapeLabelValue(n) : n;
  }

  /** Raw text of the current series (name and label set as written). Allocates. */
  seriesText(): string {
    return this.str(this.seriesStart, this.seriesEnd);
  }

  /** 32-bit FNV-1a over the raw series bytes (no allocation). */
  seriesHash(): number {
    const b = this.buf;
    let h = 0x811c9dc5;
    for (let i = this.seriesStart, e = this.seriesEnd; i < e; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    return h >>> 0;
  }

  /** Whether the raw series bytes equal `other[start, start + length)` (no allocation). */
  seriesEquals(other: Uint8Array, start: number, length: number): boolean {
    return this.bytesEqual(this.seriesStart, this.seriesEnd, other, start, length);
  }

  /** Whether the current metadata/comment line's bytes equal `other[start, start + length)`. */
  lineEquals(other: Uint8Array, start: number, length: number): boolean {
    return this.bytesEqual(this.lineStartOffset, this.lineEndOffset, other, start, length);
  }

  private bytesEqual(s0: number, e0: number, other: Uint8Array, start: number, length: number): boolean {
    if (e0 - s0 !== length) return false;
    const b = this.buf;
    for (let i = 0; i < length; i++) if (b[s0 + i] !== other[start + i]) return false;
    return true;
  }

  /** Number of labels written inside the braces (the metric name not counted). */
  get labelCount(): number {
    return this.nLabels;
  }

  /**
   * The current series' label set, `__name__` included, sorted, with `le` (histograms) and
   * `quantile` (summaries) values in canonical float form as Prometheus does. Labels with an
   * empty value are absent. Throws ExpositionParseError for a repeated label name or an empty
   * (quoted) label name.
   */
  labels(): Labels {
    return Labels.fromSortedPairs(this.labelPairs());
  }

  /** As `labels()` but as a flat sorted `[name, value, ...]` array the caller owns. */
  labelPairs(): string[] {
    if (this.matchedKey) this.rescanSeries();
    const pairs: string[] = [METRIC_NAME, this.metricName()];
    const a = this.lbl;
    const norm = this.normalizeBucketLabels;
    const normLe = norm && (this.curType === 'histogram' || this.curType === 'gaugehistogram');
    const normQ = norm && this.curType === 'summary';
    for (let i = 0; i < this.nLabels; i++) {
      const o = i * STRIDE;
      let name = this.str(a[o]!, a[o + 1]!);
      if (a[o + 2]) name = unescapeLabelValue(name);
      let value = this.str(a[o + 3]!, a[o + 4]!);
      if (a[o + 5]) value = unescapeLabelValue(value);
      if (name === '') throw this.seriesError('empty label name');
      if ((normLe && name === 'le') || (normQ && name === 'quantile')) value = normalizeFloatText(value);
      pairs.push(name, value);
    }
    return this.sortCheckAndCompact(pairs);
  }

  private sortCheckAndCompact(pairs: string[]): string[] {
    // Insertion sort of pairs by name: label sets are small.
    for (let i = 2; i < pairs.length; i += 2) {
      const n = pairs[i]!;
      const v = pairs[i + 1]!;
      let j = i - 2;
      while (j >= 0 && pairs[j]! > n) {
        pairs[j + 2] = pairs[j]!;
        pairs[j + 3] = pairs[j + 1]!;
        j -= 2;
      }
      pairs[j + 2] = n;
      pairs[j + 3] = v;
    }
    let w = 0;
    for (let i = 0; i < pairs.length; i += 2) {
      if (i > 0 && pairs[i] === pairs[i - 2]) throw this.seriesError(`label name ${JSON.stringify(pairs[i])} is not unique`);
      if (pairs[i + 1] === '') continue;
      pairs[w] = pairs[i]!;
      pairs[w + 1] = pairs[i + 1]!;
      w += 2;
    }
    pairs.length = w;
    return pairs;
  }

  /** The exemplar's label set (valid when `hasExemplar`). */
  exemplarLabels(): Labels {
    const a = this.exLbl;
    const pairs: string[] = [];
    for (let i = 0; i < this.exN; i++) {
      const o = i * STRIDE;
      let name = this.str(a[o]!, a[o + 1]!);
      if (a[o + 2]) name = unescapeLabelValue(name);
      let value = this.str(a[o + 3]!, a[o + 4]!);
      if (a[o + 5]) value = unescapeLabelValue(value);
      pairs.push(name, value);
    }
    return Labels.fromSortedPairs(this.sortCheckAndCompact(pairs));
  }

  /** Metric family name of the current HELP/TYPE/UNIT entry (unescaped). */
  metaName(): string {
    const n = this.str(this.metaStart, this.metaEnd);
    return this.metaEscaped ? unescapeLabelValue(n) : n;
  }

  /** HELP text of the current HELP entry, unescaped (text format: `\\`, `\n`; OpenMetrics: also `\"`). */
  helpText(): string {
    const t = this.str(this.textStart, this.textEnd);
    return this.format === 'openmetrics' ? unescapeLabelValue(t) : unescapeTextHelp(t);
  }

  /** Type of the current TYPE entry. */
  metricType(): MetricType {
    return this.entryType;
  }

  /** Unit of the current UNIT entry (OpenMetrics). */
  unitText(): string {
    return this.str(this.textStart, this.textEnd);
  }

  /** The whole comment line of the current Comment entry (text format). */
  commentText(): string {
    return this.str(this.textStart, this.textEnd);
  }

  /** Type of the most recent TYPE line (the family the current sample is read under). */
  currentType(): MetricType {
    return this.curType;
  }

  /**
   * OpenMetrics: the start time (ms) given by the `<family>_created` sample with the same labels
   * (`le`/`quantile` aside) anywhere in the current sample's family (before or after it), or
   * undefined. Looks around without moving the parser; O(family size) per call, meant for
   * importers, not for the scrape hot path.
   */
  createdTimestamp(): number | undefined {
    if (this.format !== 'openmetrics' || this.familyStart < 0) return undefined;
    const t = this.curType;
    if (t !== 'counter' && t !== 'histogram' && t !== 'summary' && t !== 'gaugehistogram') return undefined;
    const name = this.metricName();
    const family = familyOf(name, t);
    if (name === family + '_created') return undefined;
    const mine = withoutBucketLabels(this.labelPairs());
    const peek = new ExpositionParser('openmetrics');
    peek.buf = this.buf;
    peek.pos = this.familyStart;
    peek.end = this.end;
    peek.final = false;
    peek.curType = this.curType;
    peek.lineNo = this.familyStartLine;
    peek.lineStart = this.familyStart;
    try {
      for (;;) {
        const e = peek.next();
        if (e === Entry.Help || e === Entry.Unit) continue;
        if (e !== Entry.Series) return undefined;
        const n = peek.metricName();
        if (familyOf(n, t) !== family) return undefined;
        if (n !== family + '_created') continue;
        const other = withoutBucketLabels(peek.labelPairs());
        if (other.length !== mine.length) continue;
        let same = true;
        for (let i = 2; i < mine.length; i++) if (mine[i] !== other[i]) same = false;
        if (same) return Math.round(peek.value * 1000);
      }
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- errors

  private excerpt(lineStart: number): string {
    let e = this.buf.indexOf(10, lineStart);
    if (e < 0 || e > this.end) e = this.end;
    return this.str(lineStart, Math.min(e, lineStart + 160));
  }

  private column(lineStart: number, at: number): number {
    if (at <= lineStart) return 1;
    return this.str(lineStart, Math.min(at, this.end)).length + 1;
  }

  private errAt(at: number, message: string): ExpositionParseError {
    const ex = this.excerpt(this.lineStart);
    return new ExpositionParseError(message + (ex.length > 0 ? ` in ${JSON.stringify(ex)}` : ''), this.lineNo, this.column(this.lineStart, at));
  }

  private seriesError(message: string): ExpositionParseError {
    return new ExpositionParseError(`${message} in ${JSON.stringify(this.excerpt(this.seriesLineStart))}`, this.seriesLine, this.column(this.seriesLineStart, this.seriesStart));
  }

  private newLine(at: number): void {
    this.lineNo++;
    this.lineStart = at;
  }

  // ---------------------------------------------------------------- shared scanning

  /** Scans a double-quoted string starting at `q` (which holds `"`); returns the offset after it. */
  private scanQuoted(q: number, allowNewline: boolean, allowNul: boolean): number {
    const b = this.buf;
    const end = this.end;
    let r = q + 1;
    let esc = 0;
    for (;;) {
      while (r < end && (CLASS[b[r]!]! & C_QUOTE_SPECIAL) === 0) r++;
      if (r >= end) throw this.errAt(q, 'unterminated quoted string');
      const c = b[r]!;
      if (c === 34) {
        this.lastEscaped = esc;
        return r + 1;
      }
      if (c === 92) {
        if (r + 1 >= end) throw this.errAt(q, 'unterminated quoted string');
        if (b[r + 1] === 10) throw this.errAt(r, 'backslash before a line break in a quoted string');
        esc = 1;
        r += 2;
        continue;
      }
      if (c === 10) {
        if (!allowNewline) throw this.errAt(r, 'line break inside a quoted string');
        this.newLine(r + 1);
      } else if (c === 0 && !allowNul) {
        throw this.errAt(r, 'NUL character inside a quoted string');
      }
      r++;
    }
  }

  private pushLabel(ns: number, ne: number, nesc: number, vs: number, ve: number, vesc: number): void {
    const o = this.nLabels * STRIDE;
    let a = this.lbl;
    if (o + STRIDE > a.length) {
      const g = new Int32Array(a.length * 2);
      g.set(a);
      this.lbl = a = g;
    }
    a[o] = ns;
    a[o + 1] = ne;
    a[o + 2] = nesc;
    a[o + 3] = vs;
    a[o + 4] = ve;
    a[o + 5] = vesc;
    this.nLabels++;
  }

  private pushExemplarLabel(ns: number, ne: number, nesc: number, vs: number, ve: number, vesc: number): void {
    const o = this.exN * STRIDE;
    let a = this.exLbl;
    if (o + STRIDE > a.length) {
      const g = new Int32Array(a.length * 2);
      g.set(a);
      this.exLbl = a = g;
    }
    a[o] = ns;
    a[o + 1] = ne;
    a[o + 2] = nesc;
    a[o + 3] = vs;
    a[o + 4] = ve;
    a[o + 5] = vesc;
    this.exN++;
  }

  private parseValue(start: number, end: number, what: string): number {
    const v = parseGoFloatBytes(this.buf, start, end);
    if (v !== v) {
      if (floatError.message !== '') {
        throw this.errAt(start, `${floatError.message}: cannot parse ${JSON.stringify(this.str(start, end))} as the ${what}`);
      }
      return NORMAL_NAN;
    }
    return v;
  }

  // ---------------------------------------------------------------- text format 0.0.4

  private skipWs(p: number): number {
    const b = this.buf;
    const end = this.end;
    while (p < end) {
      const c = b[p]!;
      if (c !== 32 && c !== 9) break;
      p++;
    }
    return p;
  }

  private nextText(): EntryKind {
    const b = this.buf;
    const end = this.end;
    for (;;) {
      const p = this.skipWs(this.pos);
      if (p >= end) {
        this.pos = p;
        return Entry.End;
      }
      const c = b[p]!;
      if (c === 10) {
        this.pos = p + 1;
        this.newLine(p + 1);
        continue;
      }
      if (c === 0) {
        // As upstream's lexer: a NUL where a line starts ends the input.
        this.pos = end;
        return Entry.End;
      }
      if (c === 35 /* # */) return this.textHashLine(p);
      if (c === 123 /* { */ || isMetricNameStart(c)) return this.textSeries(p);
      throw this.errAt(p, `expected a metric name, "{" or "#" at the start of a line, got ${describeChar(b, p, end)}`);
    }
  }

  private lineEndFrom(p: number): number {
    const e = this.buf.indexOf(10, p);
    return e < 0 || e > this.end ? this.end : e;
  }

  private finishLine(eol: number): void {
    if (eol < this.end) {
      this.pos = eol + 1;
      this.newLine(eol + 1);
    } else this.pos = this.end;
  }

  private textHashLine(p: number): EntryKind {
    const b = this.buf;
    const end = this.end;
    let q = p + 1;
    const c = b[q];
    if (q < end && (c === 32 || c === 9)) {
      q = this.skipWs(q);
      let kind: EntryKind = Entry.Comment;
      if (startsWithAscii(b, q, end, 'HELP')) kind = Entry.Help;
      else if (startsWithAscii(b, q, end, 'TYPE')) kind = Entry.Type;
      const after = b[q + 4];
      if (kind !== Entry.Comment && q + 4 < end && (after === 32 || after === 9)) {
        const word = kind === Entry.Help ? 'HELP' : 'TYPE';
        q = this.skipWs(q + 4);
        const n = b[q]!;
        let nameEnd: number;
        this.metaEscaped = 0;
        if (q < end && n === 34) {
          nameEnd = this.scanQuoted(q, true, false);
          this.metaStart = q + 1;
          this.metaEnd = nameEnd - 1;
          this.metaEscaped = this.lastEscaped;
        } else if (q < end && isMetricNameStart(n)) {
          nameEnd = q + 1;
          while (nameEnd < end && isMetricNameChar(b[nameEnd]!)) nameEnd++;
          this.metaStart = q;
          this.metaEnd = nameEnd;
        } else {
          throw this.errAt(q, `expected metric name after ${word}, got ${describeChar(b, q, end)}`);
        }
        const eol = this.lineEndFrom(nameEnd);
        // The text is the rest of the line minus its first character, or empty when the rest is blank.
        let blank = true;
        for (let i = nameEnd; i < eol; i++) {
          const x = b[i]!;
          if (x !== 32 && x !== 9) {
            blank = false;
            break;
          }
        }
        this.textStart = blank ? eol : nameEnd + 1;
        this.textEnd = eol;
        if (kind === Entry.Type) {
          const w = this.str(this.textStart, this.textEnd);
          const t = Object.hasOwn(TEXT_TYPES, w) ? TEXT_TYPES[w] : undefined;
          if (t === undefined) throw this.errAt(this.textStart, `invalid metric type ${JSON.stringify(w)} (valid: counter, gauge, histogram, summary, untyped)`);
          this.entryType = t;
          this.curType = t;
        }
        this.lineStartOffset = p;
        this.lineEndOffset = eol;
        this.finishLine(eol);
        return kind;
      }
    }
    const eol = this.lineEndFrom(p);
    this.textStart = p;
    this.textEnd = eol;
    this.lineStartOffset = p;
    this.lineEndOffset = eol;
    this.finishLine(eol);
    return Entry.Comment;
  }

  private beginSeries(p: number): void {
    this.seriesStart = p;
    this.seriesLine = this.lineNo;
    this.seriesLineStart = this.lineStart;
    this.nameStart = -1;
    this.nameEnd = -1;
    this.nameEscaped = 0;
    this.nLabels = 0;
    this.hasExemplar = false;
    this.exN = 0;
  }

  private textSeries(p: number): EntryKind {
    const b = this.buf;
    const end = this.end;
    this.beginSeries(p);
    let q = p;
    if (b[p] !== 123) {
      q = p + 1;
      while (q < end && isMetricNameChar(b[q]!)) q++;
      this.nameStart = p;
      this.nameEnd = q;
      this.seriesEnd = q;
      const o = this.skipWs(q);
      if (o < end && b[o] === 123) {
        q = this.parseLabels(o + 1, false);
        this.seriesEnd = q;
      }
    } else {
      q = this.parseLabels(p + 1, false);
      this.seriesEnd = q;
      if (this.nameStart < 0) throw this.errAt(p, 'metric name not set: a series needs a metric name before "{" or as a quoted string inside it');
    }
    return this.textAfterSeries(q);
  }

  /** Text format: the value, optional timestamp and end of line after the series text at q. */
  private textAfterSeries(q: number): EntryKind {
    const b = this.buf;
    const end = this.end;
    q = this.skipWs(q);
    let r = q;
    while (r < end && (CLASS[b[r]!]! & C_VALUE_END) === 0) r++;
    if (r === q) throw this.errAt(q, `expected value after metric, got ${describeChar(b, q, end)}`);
    this.value = this.parseValue(q, r, 'sample value');
    q = this.skipWs(r);
    this.hasTimestamp = false;
    if (q < end && b[q] !== 10) {
      const c = b[q]!;
      if (!(c >= 48 && c <= 57)) throw this.errAt(q, `expected timestamp (integer milliseconds) or end of line after the value, got ${describeChar(b, q, end)}`);
      r = q + 1;
      while (r < end) {
        const d = b[r]!;
        if (d < 48 || d > 57) break;
        r++;
      }
      const ts = parseDecimalInt(b, q, r);
      if (ts !== ts) throw this.errAt(q, `${floatError.message}: cannot parse timestamp ${JSON.stringify(this.str(q, r))}`);
      this.timestamp = ts;
      this.hasTimestamp = true;
      q = this.skipWs(r);
      if (q < end && b[q] !== 10) throw this.errAt(q, `expected end of line after timestamp, got ${describeChar(b, q, end)}`);
    }
    this.finishLine(q);
    return Entry.Series;
  }

  /** Parses a label set after its `{`; returns the offset after `}`. Text format and OpenMetrics. */
  private parseLabels(q: number, exemplar: boolean): number {
    const b = this.buf;
    const end = this.end;
    const om = this.format === 'openmetrics';
    for (;;) {
      if (!om) q = this.skipWs(q);
      if (q >= end) throw this.errAt(q, 'unterminated label set: expected label name or "}"');
      let c = b[q]!;
      if (c === 125 /* } */) return q + 1;
      const ns = q;
      let ne: number;
      let quoted = false;
      let nesc = 0;
      if (isLabelNameStart(c)) {
        ne = q + 1;
        while (ne < end && isLabelNameChar(b[ne]!)) ne++;
        q = ne;
      } else if (c === 34) {
        q = this.scanQuoted(q, !om, false);
        nesc = this.lastEscaped;
        ne = q;
        quoted = true;
      } else {
        throw this.errAt(q, `expected label name${exemplar ? '' : ' or "}"'}, got ${describeChar(b, q, end)}`);
      }
      if (!om) q = this.skipWs(q);
      c = b[q]!;
      if (quoted && !exemplar && q < end && (c === 44 || c === 125)) {
        // A quoted string without "=" is the metric name (UTF-8 names).
        if (this.nameStart >= 0) throw this.errAt(ns, 'metric name already set: a series has one metric name');
        this.nameStart = ns + 1;
        this.nameEnd = ne - 1;
        this.nameEscaped = nesc;
        if (this.nameEnd === this.nameStart) throw this.errAt(ns, 'empty metric name');
        if (c === 125) return q + 1;
        q++;
        continue;
      }
      if (q >= end || c !== 61 /* = */) throw this.errAt(q, `expected "=" after label name, got ${describeChar(b, q, end)}`);
      q++;
      if (!om) q = this.skipWs(q);
      if (q >= end || b[q] !== 34) throw this.errAt(q, `expected label value (a double-quoted string), got ${describeChar(b, q, end)}`);
      const vq = q;
      q = this.scanQuoted(q, !om, !exemplar);
      if (exemplar) this.pushExemplarLabel(quoted ? ns + 1 : ns, quoted ? ne - 1 : ne, nesc, vq + 1, q - 1, this.lastEscaped);
      else this.pushLabel(quoted ? ns + 1 : ns, quoted ? ne - 1 : ne, nesc, vq + 1, q - 1, this.lastEscaped);
      if (!om) {
        q = this.skipWs(q);
        if (b[q] === 44) q++;
      } else {
        c = b[q]!;
        if (c === 44) q++;
        else if (c !== 125) throw this.errAt(q, `expected "," or "}" after label value, got ${describeChar(b, q, end)}`);
      }
    }
  }

  // ---------------------------------------------------------------- OpenMetrics 1.0

  private nextOpenMetrics(): EntryKind {
    const b = this.buf;
    const end = this.end;
    const p = this.pos;
    if (this.eofSeen) {
      if (p < end) throw this.errAt(p, 'unexpected data after # EOF');
      return Entry.End;
    }
    if (p >= end) {
      if (!this.final) return Entry.End;
      throw this.errAt(p, 'data does not end with # EOF');
    }
    const c = b[p]!;
    if (c === 35) {
      if (b[p + 1] !== 32) throw this.errAt(p, 'expected "# HELP", "# TYPE", "# UNIT" or "# EOF" (exactly one space after "#")');
      const q = p + 2;
      if (startsWithAscii(b, q, end, 'HELP ')) return this.omMeta(p, q + 5, Entry.Help, 'HELP');
      if (startsWithAscii(b, q, end, 'TYPE ')) return this.omMeta(p, q + 5, Entry.Type, 'TYPE');
      if (startsWithAscii(b, q, end, 'UNIT ')) return this.omMeta(p, q + 5, Entry.Unit, 'UNIT');
      if (startsWithAscii(b, q, end, 'EOF')) {
        let r = q + 3;
        if (r < end && b[r] === 10) r++;
        if (r < end) throw this.errAt(r, 'unexpected data after # EOF');
        this.eofSeen = true;
        this.pos = end;
        return Entry.End;
      }
      throw this.errAt(q, 'expected "# HELP", "# TYPE", "# UNIT" or "# EOF" (OpenMetrics has no other comments)');
    }
    if (c === 123 || isMetricNameStart(c)) return this.omSeries(p);
    if (c === 10) throw this.errAt(p, 'blank lines are not allowed in OpenMetrics');
    throw this.errAt(p, `expected a metric name, "{" or "#" at the start of a line, got ${describeChar(b, p, end)}`);
  }

  /** A `# HELP|TYPE|UNIT` line starting at `lineStart`, its name at `q`. */
  private omMeta(lineStart: number, q: number, kind: EntryKind, word: string): EntryKind {
    const b = this.buf;
    const end = this.end;
    const n = b[q]!;
    let nameEnd: number;
    this.metaEscaped = 0;
    if (q < end && n === 34) {
      nameEnd = this.scanQuoted(q, false, false);
      this.metaStart = q + 1;
      this.metaEnd = nameEnd - 1;
      this.metaEscaped = this.lastEscaped;
    } else if (q < end && isMetricNameStart(n)) {
      nameEnd = q + 1;
      while (nameEnd < end && isMetricNameChar(b[nameEnd]!)) nameEnd++;
      this.metaStart = q;
      this.metaEnd = nameEnd;
    } else {
      throw this.errAt(q, `expected metric name after ${word}, got ${describeChar(b, q, end)}`);
    }
    if (nameEnd >= end || b[nameEnd] !== 32) throw this.errAt(nameEnd, `expected a space and text after the metric name in ${word}, got ${describeChar(b, nameEnd, end)}`);
    const eol = this.lineEndFrom(nameEnd);
    if (eol >= end) throw this.errAt(eol, `expected end of line after ${word} text, got end of input`);
    this.textStart = nameEnd + 1;
    this.textEnd = eol;
    if (kind === Entry.Type) {
      const w = this.str(this.textStart, this.textEnd);
      const t = Object.hasOwn(OM_TYPES, w) ? OM_TYPES[w] : undefined;
      if (t === undefined) throw this.errAt(this.textStart, `invalid metric type ${JSON.stringify(w)} (valid: counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown)`);
      this.entryType = t;
      this.curType = t;
      this.familyStart = eol + 1;
      this.familyStartLine = this.lineNo + 1;
    } else if (kind === Entry.Unit && this.textEnd > this.textStart) {
      const m = this.metaName();
      const u = this.unitText();
      if (!(m.length > u.length && m.endsWith(u) && m.charCodeAt(m.length - u.length - 1) === 95)) {
        throw this.errAt(this.textStart, `unit ${JSON.stringify(u)} not a suffix of metric ${JSON.stringify(m)}`);
      }
    }
    this.lineStartOffset = lineStart;
    this.lineEndOffset = eol;
    this.finishLine(eol);
    return kind;
  }

  private omSeries(p: number): EntryKind {
    const b = this.buf;
    const end = this.end;
    this.beginSeries(p);
    let q: number;
    if (b[p] !== 123) {
      q = p + 1;
      while (q < end && isMetricNameChar(b[q]!)) q++;
      this.nameStart = p;
      this.nameEnd = q;
      if (q < end && b[q] === 123) q = this.parseLabels(q + 1, false);
    } else {
      q = this.parseLabels(p + 1, false);
      if (this.nameStart < 0) throw this.errAt(p, 'metric name not set: a series needs a metric name before "{" or as a quoted string inside it');
    }
    this.seriesEnd = q;
    return this.omAfterSeries(q);
  }

  /** OpenMetrics: the value, optional timestamp, exemplar and end of line after the series text at q. */
  private omAfterSeries(q: number): EntryKind {
    const b = this.buf;
    const end = this.end;
    q = this.omValue(q, 'sample value');
    this.value = this.lastValue;
    this.hasTimestamp = false;
    if (q >= end) throw this.errAt(q, 'data does not end with # EOF');
    let c = b[q]!;
    if (c === 32) {
      if (this.atExemplar(q)) {
        q = this.omExemplar(q + 4);
      } else {
        const t0 = q + 1;
        const d = b[t0];
        if (t0 >= end || d === 99 /* c */ || d === 32 || d === 10) throw this.errAt(t0, `expected timestamp or exemplar after the value, got ${describeChar(b, t0, end)}`);
        let r = t0;
        while (r < end) {
          const x = b[r]!;
          if (x === 32 || x === 10) break;
          r++;
        }
        const ts = parseGoFloatBytes(b, t0, r);
        if (ts !== ts || ts === Infinity || ts === -Infinity) {
          throw this.errAt(t0, `invalid timestamp ${JSON.stringify(this.str(t0, r))}${floatError.message ? ` (${floatError.message})` : ''}`);
        }
        this.timestamp = Math.trunc(ts * 1000);
        this.hasTimestamp = true;
        q = r;
        if (q >= end) throw this.errAt(q, 'data does not end with # EOF');
        c = b[q]!;
        if (c === 32) {
          if (!this.atExemplar(q)) throw this.errAt(q, 'expected end of line or " # {" (an exemplar) after the timestamp');
          q = this.omExemplar(q + 4);
        }
      }
    }
    if (q >= end) throw this.errAt(q, 'data does not end with # EOF');
    if (b[q] !== 10) throw this.errAt(q, `expected end of line, got ${describeChar(b, q, end)}`);
    this.finishLine(q);
    return Entry.Series;
  }

  private atExemplar(q: number): boolean {
    const b = this.buf;
    return q + 3 < this.end && b[q + 1] === 35 && b[q + 2] === 32 && b[q + 3] === 123;
  }

  /** Reads ` value` at q (one space, then non-space characters); returns the offset after it. */
  private omValue(q: number, what: string): number {
    const b = this.buf;
    const end = this.end;
    if (q >= end || b[q] !== 32) throw this.errAt(q, `expected a space and the ${what}, got ${describeChar(b, q, end)}`);
    let r = q + 1;
    while (r < end) {
      const c = b[r]!;
      if (c === 32 || c === 10) break;
      r++;
    }
    if (r === q + 1) throw this.errAt(r, `expected the ${what}, got ${describeChar(b, r, end)}`);
    this.lastValue = this.parseValue(q + 1, r, what);
    return r;
  }

  private omExemplar(q: number): number {
    const b = this.buf;
    const end = this.end;
    this.exN = 0;
    q = this.parseLabels(q, true);
    q = this.omValue(q, 'exemplar value');
    this.exemplarValue = this.lastValue;
    this.exemplarHasTimestamp = false;
    if (q < end && b[q] === 32) {
      const t0 = q + 1;
      let r = t0;
      while (r < end) {
        const x = b[r]!;
        if (x === 32 || x === 10) break;
        r++;
      }
      if (r === t0) throw this.errAt(t0, 'expected exemplar timestamp');
      const ts = parseGoFloatBytes(b, t0, r);
      if (ts !== ts || ts === Infinity || ts === -Infinity) {
        throw this.errAt(t0, `invalid exemplar timestamp ${JSON.stringify(this.str(t0, r))}${floatError.message ? ` (${floatError.message})` : ''}`);
      }
      this.exemplarTimestamp = Math.trunc(ts * 1000);
      this.exemplarHasTimestamp = true;
      q = r;
    }
    this.hasExemplar = true;
    return q;
  }
}

/** Canonical float text for `le`/`quantile` values that parse as floats; others unchanged. */
function normalizeFloatText(v: string): string {
  const f = parseGoFloat(v, 0, v.length);
  if (f !== f && floatError.message !== '') return v;
  return formatOpenMetricsFloat(f);
}

const FAMILY_SUFFIXES: Record<string, readonly string[]> = {
  counter: ['_total', '_created'],
  histogram: ['_bucket', '_count', '_sum', '_created'],
  gaugehistogram: ['_bucket', '_gcount', '_gsum', '_created'],
  summary: ['_count', '_sum', '_created'],
};

/** The family name of a sample name for a family type (`foo_bucket` → `foo` for histograms). */
export function familyOf(sampleName: string, type: MetricType): string {
  const suffixes = FAMILY_SUFFIXES[type];
  if (suffixes) for (const suf of suffixes) if (sampleName.length > suf.length && sampleName.endsWith(suf)) return sampleName.slice(0, -suf.length);
  return sampleName;
}

function withoutBucketLabels(pairs: string[]): string[] {
  const out: string[] = [];
  for (let i = 2; i < pairs.length; i += 2) if (pairs[i] !== 'le' && pairs[i] !== 'quantile') out.push(pairs[i]!, pairs[i + 1]!);
  return ['', '', ...out];
}
