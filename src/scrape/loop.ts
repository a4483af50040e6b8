/**
 * One target's scrape loop: scrape on a fixed phase of the interval, parse, label, append
 * through one `storage.Appender` per scrape, write the five synthetic series, mark vanished
 * series stale. A scrape that fails anywhere (HTTP, parse, limits) stores none of its samples:
 * the appender is rolled back and a second one writes only stale markers and the report
 * (`up` 0), as Prometheus does.
 */
import type { Logger } from 'pino';
import { Labels, LabelsBuilder, METRIC_NAME, STALE_NAN, errorMessage, type Clock } from '../model/index.ts';
import { isSampleRejection, type Appendable, type Appender } from '../storage/index.ts';
import { Entry, ExpositionParser, formatForContentType, type ExpositionFormat, type MetricType } from '../exposition/index.ts';
import type { ResolvedJob } from './config.ts';
import { FLAG_DROPPED, FLAG_TRACK_STALE, SeriesCache, appendBytes } from './cache.ts';
import type { ScrapeHttpClient } from './http.ts';
import { relabel, type CompiledRelabel } from './relabel.ts';
import type { Target } from './target.ts';
import { VigilError } from '../model/index.ts';

/** Per-family metadata from the last successful scrape (for the metadata APIs). */
export interface MetricMetadata {
  type: MetricType;
  help: string;
  unit: string;
}

/** Counters shared by the loops of a manager (read by its self-metrics). Plain numbers. */
export class ScrapeStats {
  scrapes = 0;
  failedScrapes = 0;
  samplesAppended = 0;
  sampleLimitExceeded = 0;
  outOfOrder = 0;
  duplicate = 0;
  outOfBounds = 0;
}

export type TargetHealth = 'up' | 'down' | 'unknown';

interface FamilyMeta extends MetricMetadata {
  /** Scrape attempt that last saw the family's metadata. */
  seen: number;
}

/**
 * The metadata lines of the last successful scrape, in order: a HELP/TYPE/UNIT line that
 * repeats the expected one costs one byte comparison instead of new strings.
 */
class MetadataMemo {
  private arena = new Uint8Array(4096);
  private off: number[] = [];
  private fam: FamilyMeta[] = [];
  private nextArena = new Uint8Array(4096);
  private nextLen = 0;
  private nextOff: number[] = [];
  private nextFam: FamilyMeta[] = [];
  private i = 0;

  begin(): void {
    this.i = 0;
    this.nextLen = 0;
    this.nextOff.length = 0;
    this.nextFam.length = 0;
  }

  match(p: ExpositionParser): FamilyMeta | undefined {
    const i = this.i;
    if (i >= this.fam.length) return undefined;
    const o = this.off[i]!;
    if (!p.lineEquals(this.arena, o, this.off[i + 1]! - o)) return undefined;
    this.i++;
    return this.fam[i];
  }

  record(p: ExpositionParser, f: FamilyMeta): void {
    const len = p.lineEndOffset - p.lineStartOffset;
    this.nextArena = appendBytes(this.nextArena, this.nextLen, p.input, p.lineStartOffset, p.lineEndOffset);
    this.nextOff.push(this.nextLen);
    this.nextLen += len;
    this.nextFam.push(f);
  }

  commit(): void {
    this.nextOff.push(this.nextLen);
    [this.arena, this.nextArena] = [this.nextArena, this.arena];
    [this.off, this.nextOff] = [this.nextOff, this.off];
    [this.fam, this.nextFam] = [this.nextFam, this.fam];
  }
}

/** A failure of the samples of one scrape (the scrape stores nothing of its body). */
export class ScrapeAppendError extends VigilError {}

const REPORT_NAMES = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added'] as const;

const NAMES = new Map<string, string>();
const MAX_NAMES = 100_000;

/** A process-wide shared copy of a label name (names are few; the table stops growing at 100k). */
function internName(n: string): string {
  const x = NAMES.get(n);
  if (x !== undefined) return x;
  if (NAMES.size < MAX_NAMES) NAMES.set(n, n);
  return n;
}

/** Samples more than this far in the future are out of bounds (Prometheus: 10 minutes). */
const MAX_FUTURE_MS = 10 * 60_000;

export interface ScrapeLoopOptions {
  target: Target;
  job: ResolvedJob;
  client: ScrapeHttpClient;
  appendable: Appendable;
  metricRelabel: readonly CompiledRelabel[];
  logger: Logger;
  clock: Clock;
  /** Mixed into the phase of the scrape schedule (Prometheus: external labels + hostname). */
  offsetSeed: number;
  stats: ScrapeStats;
}

export class ScrapeLoop {
  readonly target: Target;
  readonly job: ResolvedJob;
  health: TargetHealth = 'unknown';
  lastError = '';
  /** Start of the last scrape (ms), 0 before the first. */
  lastScrape = 0;
  lastScrapeDurationMs = 0;
  /** Samples of the last scrape (what `scrape_samples_scraped` reported). */
  lastSamples = 0;
  /** Set by the manager when the pool is over target_limit: every scrape fails with it. */
  forcedError: string | undefined;
  readonly metadata = new Map<string, FamilyMeta>();
  private readonly metaMemo = new MetadataMemo();
  readonly cache = new SeriesCache();

  private readonly opts: ScrapeLoopOptions;
  private readonly reportLabels: Labels[];
  private readonly reportRefs = new Float64Array(REPORT_NAMES.length);
  private readonly staleValue = new Float64Array(1);
  /** Interned label values of this target. */
  private readonly values = new Map<string, string>();
  private parsers: Partial<Record<ExpositionFormat, ExpositionParser>> = {};
  /** Last committed scrape iteration (0 before the first). */
  private iter = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private stopped = false;
  private nextAt = 0;

  constructor(opts: ScrapeLoopOptions) {
    this.opts = opts;
    this.target = opts.target;
    this.job = opts.job;
    this.reportLabels = REPORT_NAMES.map((n) => new LabelsBuilder(opts.target.labels).set(METRIC_NAME, n).build());
  }

  /** Starts scraping on the target's phase of the interval. */
  start(): void {
    const now = this.opts.clock.now();
    this.nextAt = now + this.target.offsetMs(now, this.opts.offsetSeed);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = Math.max(0, this.nextAt - this.opts.clock.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.scrapeOnce().finally(() => {
        this.running = undefined;
        const iv = this.target.intervalMs;
        this.nextAt += iv;
        const now = this.opts.clock.now();
        // Missed slots (a slow scrape, a paused process) are skipped, keeping the phase.
        if (this.nextAt <= now) this.nextAt += Math.ceil((now - this.nextAt) / iv) * iv;
        this.schedule();
      });
    }, delay);
    this.timer.unref?.();
  }

  /**
   * Stops the loop: no further scrapes; an in-flight scrape is aborted and awaited.
   * Returns the time of the next scrape that would have happened (for end-of-run staleness).
   */
  async stop(): Promise<number> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    await this.running;
    return this.nextAt;
  }

  /**
   * Writes stale markers at `t` for every series of the last scrape and for the report series
   * (the target went away). Errors (e.g. out of order because the target came back) are ignored.
   */
  async writeEndOfRunStaleness(t: number): Promise<void> {
    if (this.iter === 0) return;
    const app = this.opts.appendable.appender();
    const cur = this.iter + 1;
    this.cache.finishIteration(this.iter, cur, (labels, e) => this.appendStale(app, labels, e, t));
    for (let i = 0; i < this.reportLabels.length; i++) {
      this.staleValue[0] = STALE_NAN;
      try {
        this.reportRefs[i] = app.append(this.reportRefs[i]!, this.reportLabels[i]!, t, this.staleValue[0]);
      } catch {
        /* out of order: the target was recreated */
      }
    }
    this.iter = cur;
    await app.commit();
  }

  private parser(format: ExpositionFormat): ExpositionParser {
    return (this.parsers[format] ??= new ExpositionParser(format));
  }

  /** One scrape, start to commit. Never throws; the outcome is in health/lastError. */
  async scrapeOnce(): Promise<void> {
    try {
      await this.scrapeAndAppend();
    } catch (e) {
      // The store failed (closed, disk error): the target's state says so; the loop goes on.
      this.opts.stats.failedScrapes++;
      this.health = 'down';
      this.lastError = `storing the scrape failed: ${errorMessage(e)}`;
      this.opts.logger.warn({ target: this.target.url, job: this.job.name, err: errorMessage(e) }, 'storing a scrape failed');
    }
  }

  private async scrapeAndAppend(): Promise<void> {
    const { clock, stats, logger } = this.opts;
    const start = clock.now();
    stats.scrapes++;
    let scrapeErr: string | undefined = this.forcedError;
    let body: Buffer | undefined;
    let contentType = '';
    let release: (() => void) | undefined;
    if (scrapeErr === undefined) {
      this.abort = new AbortController();
      try {
        const r = await this.opts.client.scrape(this.target.url, this.abort.signal);
        body = r.body;
        contentType = r.contentType;
        release = r.release;
      } catch (e) {
        scrapeErr = errorMessage(e);
      } finally {
        this.abort = undefined;
      }
    }
    if (this.stopped && scrapeErr !== undefined && body === undefined) return;
    if (this.stopped && body !== undefined) {
      release?.();
      return;
    }
    let app: Appender;
    try {
      app = this.opts.appendable.appender();
    } catch (e) {
      // The store is closed or broken: give the pooled response buffer and connection back.
      release?.();
      throw e;
    }
    const counts = { total: 0, added: 0, seriesAdded: 0 };
    let cur = this.iter + 1;
    if (scrapeErr === undefined && body !== undefined) {
      try {
        this.appendBody(app, body, contentType, start, cur, counts);
        release?.();
      } catch (e) {
        release?.();
        scrapeErr = errorMessage(e);
        app.rollback();
        this.cache.forgetNewRefs(cur);
        app = this.opts.appendable.appender();
        // An attempt that saw nothing: every series of the last good scrape goes stale.
        cur++;
        this.cache.finishIteration(this.iter, cur, (labels, e) => this.appendStale(app, labels, e, start));
      }
    } else {
      this.cache.finishIteration(this.iter, cur, (labels, e) => this.appendStale(app, labels, e, start));
    }
    this.iter = cur;
    const durationMs = clock.now() - start;
    this.report(app, start, durationMs, counts, scrapeErr === undefined);
    try {
      await app.commit();
    } catch (e) {
      if (scrapeErr === undefined) scrapeErr = `commit failed: ${errorMessage(e)}`;
      logger.warn({ target: this.target.url, err: errorMessage(e) }, 'committing scrape failed');
    }
    if (scrapeErr === undefined) {
      this.health = 'up';
      this.lastError = '';
      this.cache.compact(cur);
    } else {
      stats.failedScrapes++;
      this.health = 'down';
      this.lastError = scrapeErr;
      logger.debug({ target: this.target.url, job: this.job.name, err: scrapeErr }, 'Scrape failed');
    }
    this.lastScrape = start;
    this.lastScrapeDurationMs = durationMs;
    this.lastSamples = counts.total;
  }

  private appendStale(app: Appender, labels: Labels, e: number, t: number): void {
    this.staleValue[0] = STALE_NAN;
    try {
      this.cache.refs[e] = app.append(this.cache.refs[e]!, labels, t, this.staleValue[0]);
    } catch (err) {
      if (!isSampleRejection(err)) throw err;
    }
  }

  private report(app: Appender, t: number, durationMs: number, c: { total: number; added: number; seriesAdded: number }, up: boolean): void {
    const v = [up ? 1 : 0, durationMs / 1000, c.total, c.added, c.seriesAdded];
    for (let i = 0; i < v.length; i++) {
      try {
        this.reportRefs[i] = app.append(this.reportRefs[i]!, this.reportLabels[i]!, t, v[i]!);
      } catch (err) {
        if (!isSampleRejection(err)) throw err;
      }
    }
  }

  /**
   * Parses the body and appends its samples with timestamp `t` (unless honored timestamps
   * say otherwise). Throws on anything that voids the scrape (parse error, limits, an invalid
   * series); sample rejections by the storage (out of order, duplicates) are counted and skipped.
   */
  private appendBody(app: Appender, body: Buffer, contentType: string, t: number, cur: number, counts: { total: number; added: number; seriesAdded: number }): void {
    const job = this.job;
    const stats = this.opts.stats;
    const choice = formatForContentType(contentType, job.fallbackProtocol);
    if (choice.warning) this.opts.logger.debug({ target: this.target.url, warning: choice.warning }, 'Content-Type fallback');
    const p = this.parser(choice.format);
    p.reset(body);
    const cache = this.cache;
    const honorTs = job.config.honor_timestamps;
    const sampleLimit = job.sampleLimit;
    const maxT = t + MAX_FUTURE_MS;
    const meta = this.metadata;
    const memo = this.metaMemo;
    memo.begin();
    let sampleLimitExceeded = false;
    let total = 0;
    let added = 0;
    let seriesAdded = 0;
    cache.beginOrder();
    let pred = cache.predict(-1, true);
    try {
      for (;;) {
        const kind = pred >= 0 ? p.nextExpecting(cache.arena, cache.keyOff[pred]!, cache.keyLen[pred]!) : p.next();
        if (kind === Entry.End) break;
        if (kind !== Entry.Series) {
          if (kind === Entry.Comment) continue;
          let m = memo.match(p);
          if (m === undefined) {
            const name = p.metaName();
            m = meta.get(name);
            if (!m) {
              m = { type: 'unknown', help: '', unit: '', seen: 0 };
              meta.set(name, m);
            }
            if (kind === Entry.Type) m.type = p.metricType();
            else if (kind === Entry.Help) m.help = p.helpText();
            else if (kind === Entry.Unit) m.unit = p.unitText();
          }
          m.seen = cur;
          memo.record(p, m);
          continue;
        }
        total++;
        let e: number;
        let isNew = false;
        if (p.matchedKey) e = pred;
        else {
          const hash = p.seriesHash();
          e = cache.find(p, hash);
          if (e < 0) {
            const lset = this.sampleLabels(p.labels());
            e = cache.add(p, hash, lset, lset === null ? FLAG_DROPPED : 0);
            isNew = true;
          }
        }
        pred = cache.predict(e, false);
        cache.noteOrder(e);
        cache.seenNow[e] = cur;
        const lset = cache.labels[e];
        if (lset === null || lset === undefined) continue;
        let ts = t;
        if (p.hasTimestamp && honorTs) {
          ts = p.timestamp;
          cache.flags[e] = cache.flags[e]! & ~FLAG_TRACK_STALE;
        } else cache.flags[e] = cache.flags[e]! | FLAG_TRACK_STALE;
        if (ts > maxT) {
          stats.outOfBounds++;
          continue;
        }
        if (sampleLimit > 0 && added >= sampleLimit) {
          // Keep parsing to count the samples (and find syntax errors), but store nothing.
          sampleLimitExceeded = true;
          continue;
        }
        try {
          cache.refs[e] = app.append(cache.refs[e]!, lset, ts, p.value);
        } catch (err) {
          if (!isSampleRejection(err)) throw err;
          if (err.code === 'out_of_order_sample') stats.outOfOrder++;
          else if (err.code === 'duplicate_sample_for_timestamp') stats.duplicate++;
          else stats.outOfBounds++;
          continue;
        }
        added++;
        if (isNew) seriesAdded++;
      }
    } finally {
      counts.total = total;
      counts.added = added;
      counts.seriesAdded = seriesAdded;
    }
    if (sampleLimitExceeded) {
      stats.sampleLimitExceeded++;
      throw new ScrapeAppendError('sample_limit', `sample limit exceeded: ${total} samples scraped, more than sample_limit ${sampleLimit} after metric relabeling`);
    }
    this.cache.finishIteration(this.iter, cur, (labels, idx) => this.appendStale(app, labels, idx, t));
    this.cache.commitOrder();
    for (const [name, m] of meta) if (m.seen !== cur) meta.delete(name);
    memo.commit();
    stats.samplesAppended += added;
  }

  /**
   * The stored label set of an exposed series: target labels applied (honor_labels, or the
   * `exported_` renaming of conflicts), metric_relabel_configs, then the validity checks and
   * label limits. Null when relabeling dropped it. Throws ScrapeAppendError otherwise.
   */
  sampleLabels(exposed: Labels): Labels | null {
    const job = this.job;
    const targetLabels = this.target.labels;
    const b = new LabelsBuilder(exposed);
    if (job.config.honor_labels) {
      targetLabels.forEach((n, v) => {
        if (!exposed.has(n)) b.set(n, v);
      });
    } else {
      const conflicts: Array<[string, string]> = [];
      targetLabels.forEach((n, v) => {
        const ev = exposed.get(n);
        if (ev !== '') conflicts.push([n, ev]);
        b.set(n, v);
      });
      if (conflicts.length > 0) {
        conflicts.sort((a, c) => a[0].length - c[0].length);
        const taken = (name: string, upto: number) => exposed.has(name) || targetLabels.has(name) || conflicts.slice(0, upto).some((x) => x[0] === name);
        for (let i = 0; i < conflicts.length; i++) {
          let name = conflicts[i]![0];
          do name = 'exported_' + name;
          while (taken(name, i));
          conflicts[i]![0] = name;
        }
        for (const [n, v] of conflicts) b.set(n, v);
      }
    }
    let lset: Labels | null = b.build();
    if (this.opts.metricRelabel.length > 0) lset = relabel(lset, this.opts.metricRelabel);
    if (lset === null || lset.isEmpty()) return null;
    const name = lset.get(METRIC_NAME);
    if (name === '') throw new ScrapeAppendError('scrape_invalid_series', `missing metric name (__name__ label) in ${lset.toString()}`);
    this.checkLimits(lset, name);
    return this.intern(lset);
  }

  /**
   * The same label set with its strings shared: names through a process-wide table (few),
   * values through this target's table (bounded by its series; reset when it grows past
   * twice the cache). Thousands of series repeat the same few strings; sharing them is most
   * of a series' label memory (here and in the store, which keeps the same objects).
   */
  private intern(lset: Labels): Labels {
    const p = lset.pairs;
    const out: string[] = new Array(p.length);
    if (this.values.size > 2 * this.cache.size + 1024) this.values.clear();
    for (let i = 0; i < p.length; i += 2) {
      out[i] = internName(p[i]!);
      const v = p[i + 1]!;
      let iv = this.values.get(v);
      if (iv === undefined) {
        this.values.set(v, v);
        iv = v;
      }
      out[i + 1] = iv;
    }
    return Labels.fromSortedPairs(out);
  }

  private checkLimits(lset: Labels, metric: string): void {
    const j = this.job;
    const met = metric.slice(0, 50);
    if (j.labelLimit > 0 && lset.size > j.labelLimit) {
      throw new ScrapeAppendError('label_limit', `label_limit exceeded (metric: ${met}, number of labels: ${lset.size}, limit: ${j.labelLimit})`);
    }
    if (j.labelNameLengthLimit === 0 && j.labelValueLengthLimit === 0) return;
    lset.forEach((n, v) => {
      const nl = Buffer.byteLength(n);
      if (j.labelNameLengthLimit > 0 && nl > j.labelNameLengthLimit) {
        throw new ScrapeAppendError('label_name_length_limit', `label_name_length_limit exceeded (metric: ${met}, label name: ${n.slice(0, 50)}, length: ${nl}, limit: ${j.labelNameLengthLimit})`);
      }
      const vl = Buffer.byteLength(v);
      if (j.labelValueLengthLimit > 0 && vl > j.labelValueLengthLimit) {
        throw new ScrapeAppendError(
          'label_value_length_limit',
          `label_value_length_limit exceeded (metric: ${met}, label name: ${n.slice(0, 50)}, value: ${JSON.stringify(v.slice(0, 50))}, length: ${vl}, limit: ${j.labelValueLengthLimit})`,
        );
      }
    });
  }
}
