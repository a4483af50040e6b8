/**
 * An in-memory store: the reference implementation of the storage contract, used by tests of
 * the modules that read or write samples (PromQL, rules, scrape) and as the oracle the TSDB's
 * contract suite is compared with. Not for production data: no compression, no WAL, no index
 * beyond a linear scan of series.
 */
import { compareLabels, matchesAll, type Labels, type Matcher } from '../model/index.ts';
import { StorageError } from './errors.ts';
import type { Appender, LabelHints, Querier, SelectHints, SeriesRef, SeriesSet, Storage } from './interfaces.ts';
import { ArraySeries, EMPTY_SERIES_SET } from './series.ts';

interface MemSeries {
  ref: SeriesRef;
  labels: Labels;
  ts: Float64Array;
  vs: Float64Array;
  n: number;
}

export class MemoryStorage implements Storage {
  private readonly byKey = new Map<string, MemSeries>();
  private readonly byRef: MemSeries[] = [];
  private closed = false;

  appender(): Appender {
    return new MemoryAppender(this);
  }

  querier(mint: number, maxt: number): Querier {
    return new MemoryQuerier(this, mint, maxt);
  }

  startTime(): number {
    let min = Infinity;
    for (const s of this.byRef) if (s.n > 0 && s.ts[0]! < min) min = s.ts[0]!;
    return min;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Drops every series (the conformance scripts' `clear`). */
  clear(): void {
    this.byKey.clear();
    this.byRef.length = 0;
  }

  /** @internal */
  allSeries(): readonly MemSeries[] {
    if (this.closed) throw new StorageError('closed');
    return this.byRef;
  }

  /** @internal */
  lookup(ref: SeriesRef, labels: Labels): MemSeries | undefined {
    if (ref > 0) {
      const s = this.byRef[ref - 1];
      if (s) return s;
    }
    return this.byKey.get(labels.key());
  }

  /** @internal Validates one sample against committed and pending state (same rules as TSDB). */
  check(s: MemSeries | undefined, lastPendingT: number | undefined, lastPendingV: number | undefined, t: number, v: number): 'ok' | 'dup' {
    let lastT = -Infinity;
    let lastV = NaN;
    if (lastPendingT !== undefined) {
      lastT = lastPendingT;
      lastV = lastPendingV!;
    } else if (s && s.n > 0) {
      lastT = s.ts[s.n - 1]!;
      lastV = s.vs[s.n - 1]!;
    }
    if (t < lastT) throw new StorageError('out_of_order_sample');
    if (t === lastT) {
      if (sameBits(v, lastV)) return 'dup';
      throw new StorageError('duplicate_sample_for_timestamp');
    }
    return 'ok';
  }

  /** @internal */
  commitBatch(refs: Labels[], ts: number[], vs: Float64Array): void {
    if (this.closed) throw new StorageError('closed');
    for (let i = 0; i < refs.length; i++) {
      const labels = refs[i]!;
      let s = this.byKey.get(labels.key());
      if (!s) {
        s = { ref: this.byRef.length + 1, labels, ts: new Float64Array(8), vs: new Float64Array(8), n: 0 };
        this.byKey.set(labels.key(), s);
        this.byRef.push(s);
      }
      const t = ts[i]!;
      if (s.n > 0 && t <= s.ts[s.n - 1]!) continue; // re-validated duplicate
      if (s.n === s.ts.length) {
        const nt = new Float64Array(s.n * 2);
        nt.set(s.ts);
        const nv = new Float64Array(s.n * 2);
        nv.set(s.vs);
        s.ts = nt;
        s.vs = nv;
      }
      s.ts[s.n] = t;
      s.vs[s.n] = vs[i]!;
      s.n++;
    }
  }

  /** @internal */
  refFor(labels: Labels): SeriesRef {
    return this.byKey.get(labels.key())?.ref ?? 0;
  }
}

const cmpBuf = new Float64Array(2);
const cmpBits = new BigUint64Array(cmpBuf.buffer);
function sameBits(a: number, b: number): boolean {
  cmpBuf[0] = a;
  cmpBuf[1] = b;
  return cmpBits[0] === cmpBits[1];
}

class MemoryAppender implements Appender {
  private labels: Labels[] = [];
  private ts: number[] = [];
  private vs = new Float64Array(64);
  private readonly pendingLast = new Map<string, number>(); // key -> index into pending arrays
  private done = false;

  constructor(private readonly store: MemoryStorage) {}

  append(ref: SeriesRef, labels: Labels, t: number, v: number): SeriesRef {
    if (this.done) throw new StorageError('appender_closed');
    const s = this.store.lookup(ref, labels);
    const lbls = s ? s.labels : labels;
    const key = lbls.key();
    const pi = this.pendingLast.get(key);
    const verdict = this.store.check(s, pi === undefined ? undefined : this.ts[pi], pi === undefined ? undefined : this.vs[pi], t, v);
    if (verdict === 'dup') return s?.ref ?? 0;
    if (this.ts.length === this.vs.length) {
      const g = new Float64Array(this.vs.length * 2);
      g.set(this.vs);
      this.vs = g;
    }
    this.pendingLast.set(key, this.ts.length);
    this.vs[this.ts.length] = v;
    this.labels.push(lbls);
    this.ts.push(t);
    return s?.ref ?? 0;
  }

  async commit(): Promise<void> {
    if (this.done) throw new StorageError('appender_closed');
    this.done = true;
    this.store.commitBatch(this.labels, this.ts, this.vs);
  }

  rollback(): void {
    if (this.done) throw new StorageError('appender_closed');
    this.done = true;
  }
}

class MemoryQuerier implements Querier {
  constructor(private readonly store: MemoryStorage, private readonly mint: number, private readonly maxt: number) {}

  private matching(matchers: readonly Matcher[] | undefined): MemSeries[] {
    const out: MemSeries[] = [];
    for (const s of this.store.allSeries()) {
      if (s.n === 0) continue;
      if (matchers && !matchesAll(matchers, (n) => s.labels.get(n))) continue;
      out.push(s);
    }
    return out;
  }

  async select(matchers: readonly Matcher[], hints?: SelectHints): Promise<SeriesSet> {
    const mint = Math.max(this.mint, hints?.start ?? -Infinity);
    const maxt = Math.min(this.maxt, hints?.end ?? Infinity);
    const series: ArraySeries[] = [];
    for (const s of this.matching(matchers)) {
      let lo = 0;
      while (lo < s.n && s.ts[lo]! < mint) lo++;
      let hi = lo;
      while (hi < s.n && s.ts[hi]! <= maxt) hi++;
      if (hi === lo) continue;
      series.push(new ArraySeries(s.labels, s.ts.subarray(lo, hi), s.vs.subarray(lo, hi)));
    }
    if (series.length === 0) return EMPTY_SERIES_SET;
    series.sort((a, b) => compareLabels(a.labels, b.labels));
    const limit = hints?.limit ?? 0;
    return { series: limit > 0 ? series.slice(0, limit) : series, warnings: [] };
  }

  async labelNames(matchers?: readonly Matcher[], hints?: LabelHints): Promise<string[]> {
    const names = new Set<string>();
    for (const s of this.inRange(this.matching(matchers))) s.labels.forEach((n) => names.add(n));
    return limitSorted([...names], hints);
  }

  async labelValues(name: string, matchers?: readonly Matcher[], hints?: LabelHints): Promise<string[]> {
    const values = new Set<string>();
    for (const s of this.inRange(this.matching(matchers))) {
      const v = s.labels.get(name);
      if (v !== '') values.add(v);
    }
    return limitSorted([...values], hints);
  }

  private inRange(xs: MemSeries[]): MemSeries[] {
    return xs.filter((s) => s.ts[s.n - 1]! >= this.mint && s.ts[0]! <= this.maxt);
  }

  close(): void {}
}

function limitSorted(xs: string[], hints?: LabelHints): string[] {
  xs.sort();
  const limit = hints?.limit ?? 0;
  return limit > 0 ? xs.slice(0, limit) : xs;
}
