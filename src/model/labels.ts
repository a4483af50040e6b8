/**
 * Label sets: the identity of a series and of an alert.
 *
 * A `Labels` value is immutable and holds its pairs sorted by name, without duplicates and
 * without empty values (an empty value means "label absent", as in Prometheus). Instances are
 * shared freely: nobody may mutate the arrays they expose. Build new sets with `LabelsBuilder`.
 */

export const METRIC_NAME = '__name__';

const SEP = '\xff';

export class Labels {
  /** Flat array `[name0, value0, name1, value1, ...]` sorted by name. Read-only by contract. */
  readonly pairs: readonly string[];
  private cachedKey: string | undefined;
  private cachedHash: number | undefined;

  private constructor(sortedPairs: readonly string[]) {
    this.pairs = sortedPairs;
  }

  static readonly EMPTY = new Labels([]);

  /** From a flat array whose pairs are already sorted by name and unique (no check beyond debug). */
  static fromSortedPairs(pairs: readonly string[]): Labels {
    return pairs.length === 0 ? Labels.EMPTY : new Labels(pairs);
  }

  /** From name/value pairs in any order; empty values are dropped, a later duplicate name wins. */
  static fromPairs(pairs: readonly string[]): Labels {
    const b = new LabelsBuilder();
    for (let i = 0; i + 1 < pairs.length; i += 2) b.set(pairs[i]!, pairs[i + 1]!);
    return b.build();
  }

  static fromRecord(rec: Readonly<Record<string, string>>): Labels {
    const b = new LabelsBuilder();
    for (const name of Object.keys(rec)) b.set(name, rec[name]!);
    return b.build();
  }

  static fromMap(map: ReadonlyMap<string, string>): Labels {
    const b = new LabelsBuilder();
    for (const [name, value] of map) b.set(name, value);
    return b.build();
  }

  /** Number of labels. */
  get size(): number {
    return this.pairs.length >> 1;
  }

  isEmpty(): boolean {
    return this.pairs.length === 0;
  }

  name(i: number): string {
    return this.pairs[2 * i]!;
  }

  value(i: number): string {
    return this.pairs[2 * i + 1]!;
  }

  /** The value of `name`, or '' when absent. */
  get(name: string): string {
    const p = this.pairs;
    // Label sets are small; a linear scan beats binary search below ~16 labels.
    for (let i = 0; i < p.length; i += 2) {
      const n = p[i]!;
      if (n === name) return p[i + 1]!;
      if (n > name) return '';
    }
    return '';
  }

  has(name: string): boolean {
    return this.get(name) !== '';
  }

  metricName(): string {
    return this.get(METRIC_NAME);
  }

  /**
   * A string that identifies this label set exactly (usable as a Map key). Stable across
   * processes; cached.
   */
  key(): string {
    if (this.cachedKey === undefined) this.cachedKey = this.pairs.join(SEP);
    return this.cachedKey;
  }

  /** 32-bit FNV-1a over the canonical key; cached. Not a fingerprint: collisions are possible. */
  hash(): number {
    if (this.cachedHash === undefined) this.cachedHash = fnv1a32(this.key());
    return this.cachedHash;
  }

  equals(other: Labels): boolean {
    if (this === other) return true;
    const a = this.pairs;
    const b = other.pairs;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  forEach(fn: (name: string, value: string) => void): void {
    const p = this.pairs;
    for (let i = 0; i < p.length; i += 2) fn(p[i]!, p[i + 1]!);
  }

  names(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.pairs.length; i += 2) out.push(this.pairs[i]!);
    return out;
  }

  toRecord(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.pairs.length; i += 2) out[this.pairs[i]!] = this.pairs[i + 1]!;
    return out;
  }

  /** A copy without the metric name. */
  withoutMetricName(): Labels {
    if (!this.has(METRIC_NAME)) return this;
    return this.without([METRIC_NAME]);
  }

  /** A copy keeping only `names`. */
  keep(names: readonly string[]): Labels {
    const out: string[] = [];
    for (let i = 0; i < this.pairs.length; i += 2) {
      if (names.includes(this.pairs[i]!)) out.push(this.pairs[i]!, this.pairs[i + 1]!);
    }
    return Labels.fromSortedPairs(out);
  }

  /** A copy without `names`. */
  without(names: readonly string[]): Labels {
    const out: string[] = [];
    for (let i = 0; i < this.pairs.length; i += 2) {
      if (!names.includes(this.pairs[i]!)) out.push(this.pairs[i]!, this.pairs[i + 1]!);
    }
    return out.length === this.pairs.length ? this : Labels.fromSortedPairs(out);
  }

  /** A copy with `name` set to `value` (removed when `value` is ''). */
  with(name: string, value: string): Labels {
    return new LabelsBuilder(this).set(name, value).build();
  }

  /**
   * Prometheus' text form: `{__name__="up", job="x"}` (every label inside the braces, values
   * escaped as Go's %q does). Used in error messages and annotations.
   */
  toString(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.pairs.length; i += 2) {
      parts.push(`${formatLabelName(this.pairs[i]!)}=${quoteGo(this.pairs[i + 1]!)}`);
    }
    return `{${parts.join(', ')}}`;
  }

  /** PromQL selector form: `up{job="x"}` with the name outside the braces when it is a legacy name. */
  toSelectorString(): string {
    const name = this.metricName();
    const rest: string[] = [];
    for (let i = 0; i < this.pairs.length; i += 2) {
      const n = this.pairs[i]!;
      if (n === METRIC_NAME && isLegacyMetricName(name)) continue;
      rest.push(`${formatLabelName(n)}=${quoteGo(this.pairs[i + 1]!)}`);
    }
    if (name !== '' && isLegacyMetricName(name)) return rest.length ? `${name}{${rest.join(', ')}}` : name;
    return `{${rest.join(', ')}}`;
  }

  toJSON(): Record<string, string> {
    return this.toRecord();
  }
}

/** Orders label sets as Prometheus does (pairwise by name, then value; shorter first). */
export function compareLabels(a: Labels, b: Labels): number {
  const x = a.pairs;
  const y = b.pairs;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i += 2) {
    const xn = x[i]!;
    const yn = y[i]!;
    if (xn !== yn) return xn < yn ? -1 : 1;
    const xv = x[i + 1]!;
    const yv = y[i + 1]!;
    if (xv !== yv) return xv < yv ? -1 : 1;
  }
  return x.length - y.length;
}

/** Mutable builder; `build()` sorts and drops empty values. */
export class LabelsBuilder {
  private readonly map = new Map<string, string>();

  constructor(base?: Labels) {
    if (base) base.forEach((n, v) => this.map.set(n, v));
  }

  set(name: string, value: string): this {
    if (value === '') this.map.delete(name);
    else this.map.set(name, value);
    return this;
  }

  del(...names: string[]): this {
    for (const n of names) this.map.delete(n);
    return this;
  }

  get(name: string): string {
    return this.map.get(name) ?? '';
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  /** Keep only the given names. */
  keep(names: readonly string[]): this {
    for (const n of [...this.map.keys()]) if (!names.includes(n)) this.map.delete(n);
    return this;
  }

  forEach(fn: (name: string, value: string) => void): void {
    this.map.forEach((v, n) => fn(n, v));
  }

  build(): Labels {
    if (this.map.size === 0) return Labels.EMPTY;
    const names = [...this.map.keys()].sort(compareStrings);
    const pairs: string[] = new Array(names.length * 2);
    for (let i = 0; i < names.length; i++) {
      pairs[2 * i] = names[i]!;
      pairs[2 * i + 1] = this.map.get(names[i]!)!;
    }
    return Labels.fromSortedPairs(pairs);
  }
}

/** Byte-wise (UTF-16 code unit) comparison, the order used everywhere for names and values. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const LEGACY_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LEGACY_METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export function isLegacyLabelName(name: string): boolean {
  return LEGACY_LABEL_NAME.test(name);
}

export function isLegacyMetricName(name: string): boolean {
  return LEGACY_METRIC_NAME.test(name);
}

/** A label name is valid when it is non-empty UTF-8 (Prometheus 3 semantics). */
export function isValidLabelName(name: string): boolean {
  return name.length > 0 && isWellFormedUtf16(name);
}

/** ES2024's String.prototype.isWellFormed (native in Node 20; the TypeScript lib here is ES2023). */
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** Whether `s` has no lone surrogate (so it encodes as UTF-8). */
export function isWellFormedUtf16(s: string): boolean {
  if (nativeIsWellFormed !== undefined) return nativeIsWellFormed.call(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

function formatLabelName(name: string): string {
  return isLegacyLabelName(name) ? name : quoteGo(name);
}

/** Quotes a string as Go's strconv.Quote does (printable UTF-8 kept, others escaped). */
export function quoteGo(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c === 0xfffd && ch !== '\ufffd') out += '\\ufffd';
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else out += ch;
  }
  return out + '"';
}

/** 32-bit FNV-1a over UTF-16 code units. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
