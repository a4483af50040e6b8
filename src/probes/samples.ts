/**
 * What a probe run produces and how it reaches storage.
 *
 * A `SampleBuffer` collects one run's samples (metric name, probe-side label pairs, value;
 * values in a Float64Array so NaN bit patterns survive). A `SeriesTracker` belongs to one
 * probe for its whole life (and is handed over when a reload replaces the probe): it turns
 * buffered samples into full label sets (target labels + probe labels), remembers each
 * series' storage ref, and writes Prometheus staleness markers for series that a run no
 * longer produced, or for every series when the probe goes away.
 */
import { Labels, LabelsBuilder, METRIC_NAME, STALE_NAN } from '../model/index.ts';
import { isSampleRejection, type Appender, type SeriesRef } from '../storage/index.ts';

const SEP = '\xff';

/**
 * One run's samples. Probes call `add`; the manager seals the buffer when the run ends (a
 * late write from a run that overran its timeout is then ignored).
 */
export class SampleBuffer {
  names: string[] = [];
  /** Flat `[name0, value0, ...]` label pairs per sample (probe-side labels only), or undefined. */
  labels: Array<readonly string[] | undefined> = [];
  values = new Float64Array(64);
  length = 0;
  private sealed = false;

  /**
   * Adds a sample. `labels` is a flat array of name/value pairs owned by the buffer from now
   * on (do not mutate it afterwards); empty values mean "label absent", as in Prometheus.
   */
  add(name: string, value: number, labels?: readonly string[]): void {
    if (this.sealed) return;
    if (this.length === this.values.length) {
      const g = new Float64Array(this.values.length * 2);
      g.set(this.values);
      this.values = g;
    }
    this.values[this.length] = value;
    this.names.push(name);
    this.labels.push(labels);
    this.length++;
  }

  /** The value of the first sample named `name` whose labels include all `match` pairs (tests, health output). */
  get(name: string, match?: Record<string, string>): number | undefined {
    for (let i = 0; i < this.length; i++) {
      if (this.names[i] !== name) continue;
      if (match && !pairsMatch(this.labels[i], match)) continue;
      return this.values[i];
    }
    return undefined;
  }

  seal(): void {
    this.sealed = true;
  }
}

function pairsMatch(pairs: readonly string[] | undefined, match: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(match)) {
    let found = '';
    if (pairs) for (let i = 0; i + 1 < pairs.length; i += 2) if (pairs[i] === k) found = pairs[i + 1]!;
    if (found !== v) return false;
  }
  return true;
}

interface TrackedSeries {
  labels: Labels;
  ref: SeriesRef;
  /** Generation of the last run that produced this series. */
  gen: number;
}

export interface WriteResult {
  appended: number;
  /** Samples storage refused (out of order, duplicate timestamp...). */
  rejected: number;
  /** Stale markers written for series that disappeared. */
  staled: number;
  /** The first rejection's message, if any. */
  firstRejection?: string;
}

/**
 * The series one probe has written. Not safe for concurrent writes: the manager runs a
 * probe's writes one after another.
 */
export class SeriesTracker {
  private readonly series = new Map<string, TrackedSeries>();
  private gen = 0;
  /** Timestamp (ms) of the last write; later writes are forced strictly after it. */
  lastTimestamp = -Infinity;

  constructor(private target: Labels) {}

  /** The labels added to every sample (job, instance, static labels). A change re-keys nothing: use a new tracker. */
  get targetLabels(): Labels {
    return this.target;
  }

  get size(): number {
    return this.series.size;
  }

  /** Next usable timestamp ≥ t (strictly after the last write). */
  timestampFor(t: number): number {
    return t > this.lastTimestamp ? t : this.lastTimestamp + 1;
  }

  /**
   * Appends the buffer's samples at `t`, then a stale marker for every series the previous
   * runs produced and this one did not. Rejected samples are counted, not thrown; other
   * storage errors propagate (the caller rolls back). Call `committed()` after a successful
   * commit so the disappeared series are forgotten.
   */
  write(app: Appender, buf: SampleBuffer, t: number): WriteResult {
    const gen = ++this.gen;
    const res: WriteResult = { appended: 0, rejected: 0, staled: 0 };
    for (let i = 0; i < buf.length; i++) {
      const name = buf.names[i]!;
      const pairs = buf.labels[i];
      const key = pairs && pairs.length ? name + SEP + pairs.join(SEP) : name;
      let s = this.series.get(key);
      if (s === undefined) {
        s = { labels: this.buildLabels(name, pairs), ref: 0, gen };
        this.series.set(key, s);
      } else if (s.gen === gen) {
        continue; // the same series twice in one run: keep the first value
      }
      s.gen = gen;
      this.appendOne(app, s, t, buf.values[i]!, res);
    }
    for (const s of this.series.values()) {
      if (s.gen === gen) continue;
      this.appendOne(app, s, t, STALE_NAN, res);
      res.staled++;
    }
    this.pendingGen = gen;
    this.lastTimestamp = t;
    return res;
  }

  private pendingGen = 0;

  /** Forgets the series the last `write` marked stale. */
  committed(): void {
    for (const [k, s] of this.series) if (s.gen !== this.pendingGen) this.series.delete(k);
  }

  /** Writes a stale marker for every tracked series at `t` and forgets them all (after commit). */
  writeAllStale(app: Appender, t: number): WriteResult {
    const res: WriteResult = { appended: 0, rejected: 0, staled: 0 };
    for (const s of this.series.values()) {
      this.appendOne(app, s, t, STALE_NAN, res);
      res.staled++;
    }
    this.pendingGen = -1;
    this.lastTimestamp = t;
    return res;
  }

  private appendOne(app: Appender, s: TrackedSeries, t: number, v: number, res: WriteResult): void {
    try {
      s.ref = app.append(s.ref, s.labels, t, v);
      res.appended++;
    } catch (e) {
      if (!isSampleRejection(e)) throw e;
      res.rejected++;
      res.firstRejection ??= `${s.labels.toSelectorString()}: ${e.message}`;
    }
  }

  /**
   * Target labels win over the probe's own; a probe label that collides with a target label
   * is kept as `exported_<name>` (Prometheus' honor_labels: false).
   */
  private buildLabels(name: string, pairs: readonly string[] | undefined): Labels {
    const b = new LabelsBuilder(this.target);
    if (pairs) {
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        const n = pairs[i]!;
        const v = pairs[i + 1]!;
        if (v === '') continue;
        if (this.target.has(n)) b.set(`exported_${n}`, v);
        else b.set(n, v);
      }
    }
    b.set(METRIC_NAME, name);
    return b.build();
  }
}
