/**
 * The storage contract every producer and consumer of samples talks to (after Prometheus'
 * `storage` package): scrapes, probes, rules and remote_write write through an `Appender`;
 * PromQL, the API and remote read read through a `Querier`. Implementations: the embedded
 * TSDB (head, blocks, their merge), the in-memory reference store, remote sources.
 *
 * Time is integer milliseconds since the epoch; values are float64. Iteration is over
 * (t, v) pairs read through accessor methods: no object per sample.
 */
import type { Labels, Matcher } from '../model/index.ts';

/**
 * Identifies a series inside one appendable for the lifetime of the process (or until the
 * series is garbage-collected from the head). 0 means "unknown: look it up by labels".
 */
export type SeriesRef = number;

/** What an iterator is positioned on. */
export const ValueType = { None: 0, Float: 1, Histogram: 2, FloatHistogram: 3 } as const;
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

/**
 * Iterates the samples of one series in increasing timestamp order.
 * `next()` advances and returns what it now points at (`ValueType.None` at the end).
 * `seek(t)` advances to the first sample with timestamp ≥ t; it never moves backwards, and
 * when the current sample already satisfies the condition it stays there.
 * `atT()` / `at()` read the current sample; valid only after next/seek returned non-None.
 */
export interface SampleIterator {
  next(): ValueType;
  seek(t: number): ValueType;
  atT(): number;
  at(): number;
  /** The error that ended iteration early, if any (e.g. a corrupt chunk). */
  err(): Error | null;
}

/**
 * Caller-owned arrays a bulk read appends samples to: `ts[i]`, `vs[i]` for i < n are valid. A
 * bulk read writes from index `n` on, advances `n`, and replaces `ts`/`vs` with larger arrays
 * (keeping the first `n` entries) when they are too small. Values are raw float64s: NaN payloads
 * such as the stale marker are kept.
 */
export interface SampleBuffer {
  ts: Float64Array;
  vs: Float64Array;
  n: number;
}

/** One series: its labels and a fresh iterator per call. */
export interface Series {
  readonly labels: Labels;
  iterator(): SampleIterator;
  /**
   * Optional bulk read: appends to `buf` the samples a fresh `iterator()` yields with
   * mint ≤ t ≤ maxt, in the same order, without per-sample calls. Returns the error that ended
   * reading early (e.g. a corrupt chunk; the samples before it are appended) or null. Callers
   * use `readSeriesRange`, which falls back to the iterator when a series lacks it.
   */
  readRange?(mint: number, maxt: number, buf: SampleBuffer): Error | null;
}

/** Series sorted by labels (compareLabels), plus warnings (e.g. a remote source failed). */
export interface SeriesSet {
  readonly series: readonly Series[];
  readonly warnings: readonly string[];
}

/** What the caller will do with selected data; implementations may use it to read less. */
export interface SelectHints {
  /** Earliest timestamp needed (ms, inclusive). */
  start: number;
  /** Latest timestamp needed (ms, inclusive). */
  end: number;
  step?: number;
  /** The PromQL function applied ('series' for metadata-only selects). */
  func?: string;
  /** Range of a range vector selector, ms. */
  range?: number;
  grouping?: readonly string[];
  by?: boolean;
  /** Upper bound on the number of series wanted (0 or absent: no limit). */
  limit?: number;
}

export interface LabelHints {
  limit?: number;
}

/** A read view of [mint, maxt]; `close()` releases what the view pins (e.g. blocks). */
export interface Querier {
  select(matchers: readonly Matcher[], hints?: SelectHints): Promise<SeriesSet>;
  /** Sorted label names of series matching all matchers (all series when none). */
  labelNames(matchers?: readonly Matcher[], hints?: LabelHints): Promise<string[]>;
  /** Sorted values of `name` among series matching all matchers. */
  labelValues(name: string, matchers?: readonly Matcher[], hints?: LabelHints): Promise<string[]>;
  close(): void;
}

export interface Queryable {
  /** A querier over samples with mint ≤ t ≤ maxt. */
  querier(mint: number, maxt: number): Querier;
}

/**
 * Collects samples and makes them visible atomically on `commit()`. An appender is used by one
 * caller, committed or rolled back exactly once, and never reused.
 *
 * `append` returns the series' ref; passing it back on the next append of the same series
 * skips the label lookup. It throws a `StorageError` for a rejected sample (out of order,
 * too old, duplicate timestamp with another value); the appender stays usable for other
 * samples. Appending the same timestamp and the same value again is a no-op.
 */
export interface Appender {
  append(ref: SeriesRef, labels: Labels, t: number, v: number): SeriesRef;
  /** Durable (per the implementation's documented WAL policy) and visible once it resolves. */
  commit(): Promise<void>;
  rollback(): void;
}

export interface Appendable {
  appender(): Appender;
}

/** A store both written and read. */
export interface Storage extends Appendable, Queryable {
  /** Oldest timestamp the store holds (ms), or +Infinity when empty. */
  startTime(): number;
  close(): Promise<void>;
}
