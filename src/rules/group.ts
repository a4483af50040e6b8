/**
 * A rule group: its rules evaluated in order on the group's interval, with Prometheus'
 * scheduling (rules/group.go): evaluation timestamps aligned to the interval and offset by a
 * hash of the group's file and name, missed iterations counted (never queued), each rule's
 * output committed before the next rule runs (so a recording rule's output is visible to the
 * rules after it), stale markers for series a rule stops producing, and `for` state restored
 * from `ALERTS_FOR_STATE` after a restart.
 */
import type { Logger } from 'pino';
import { Labels, Matcher, STALE_NAN, errorMessage, isStaleNaN } from '../model/index.ts';
import { ValueType, isSampleRejection, type Appendable, type Appender, type Queryable } from '../storage/index.ts';
import type { RuleGroupDef } from './rulefile.ts';
import { AlertingRule, RecordingRule, type Rule } from './rule.ts';
import { QueryCanceledError } from './promql.ts';
import type { NotifyFunc, OutputSample, QueryFunc } from './types.ts';
import { prometheusLabelsHash } from './xxhash.ts';

/** Time and sleeping, replaceable in tests (virtual time). */
export interface Scheduler {
  now(): number;
  /** Resolves after `ms` or when `signal` aborts (never rejects). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realScheduler: Scheduler = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      signal.addEventListener('abort', done);
    }),
};

/** What a group needs from its manager. */
export interface GroupOptions {
  query: QueryFunc;
  appendable: Appendable;
  /** Reads ALERTS_FOR_STATE to restore `for` state; restore is skipped without it. */
  queryable?: Queryable;
  notify: NotifyFunc;
  logger: Logger;
  scheduler: Scheduler;
  externalURL: string;
  externalLabels: Labels;
  outageToleranceMs: number;
  forGracePeriodMs: number;
  resendDelayMs: number;
  /** Observed after every rule evaluation (seconds); for the manager's summary metric. */
  onRuleEvaluated?: (seconds: number, failed: boolean) => void;
}

/** Counters and gauges of one group, read by the manager's metrics. */
export interface GroupStats {
  iterationsTotal: number;
  iterationsMissed: number;
  evaluationsTotal: number;
  evaluationFailures: number;
  /** Samples produced by the last evaluation. */
  lastSamples: number;
  /** Durations of recent iterations (s), for the group-duration summary; drained by the reader. */
  recentDurations: number[];
}

/** Prometheus' group key: `file;name`. */
export function groupKey(file: string, name: string): string {
  return `${file};${name}`;
}

export class Group {
  readonly name: string;
  readonly file: string;
  readonly intervalMs: number;
  readonly queryOffsetMs: number;
  readonly limit: number;
  readonly rules: Rule[];
  readonly def: RuleGroupDef;
  /** Per rule: the series (by key) it wrote at its last successful evaluation. */
  private seriesInPreviousEval: Array<Map<string, Labels>>;
  /** Series of removed rules awaiting a stale marker at the next evaluation. */
  private staleSeries: Labels[] = [];
  /** Duration of the last iteration (ms). */
  evaluationMs = 0;
  /** Wall-clock start of the last iteration (ms); 0 when never evaluated. */
  lastEvaluation = 0;
  /** The aligned timestamp of the last iteration (ms). */
  lastEvalTimestamp = 0;
  shouldRestore: boolean;
  /** Set when the group is removed by a reload: its series get stale markers after two intervals. */
  markStale = false;
  readonly stats: GroupStats = { iterationsTotal: 0, iterationsMissed: 0, evaluationsTotal: 0, evaluationFailures: 0, lastSamples: 0, recentDurations: [] };
  private readonly offsetMs: number;
  /** Identifies the environment the rules were built for (external URL and labels). */
  readonly envKey: string;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private stopped = false;
  private managerDone = false;

  constructor(def: RuleGroupDef, globalIntervalMs: number, private readonly opts: GroupOptions, opt: { restored: boolean; queryOffsetMs?: number }) {
    this.def = def;
    this.name = def.name;
    this.file = def.file;
    this.intervalMs = def.intervalMs > 0 ? def.intervalMs : globalIntervalMs;
    this.queryOffsetMs = def.queryOffsetMs ?? opt.queryOffsetMs ?? 0;
    this.limit = def.limit;
    this.rules = def.rules.map((r) => (r.type === 'alerting' ? new AlertingRule(r, opt.restored) : new RecordingRule(r)));
    this.seriesInPreviousEval = this.rules.map(() => new Map());
    this.shouldRestore = !opt.restored;
    this.offsetMs = evalOffsetMs(def.file, def.name, this.intervalMs);
    this.envKey = opts.externalURL + '\n' + opts.externalLabels.key();
  }

  get key(): string {
    return groupKey(this.file, this.name);
  }

  alertingRules(): AlertingRule[] {
    return this.rules.filter((r): r is AlertingRule => r instanceof AlertingRule);
  }

  /**
   * Same definition (name, file, interval, limit, query offset, rules): a reload keeps such a
   * group running untouched.
   */
  equals(o: Group): boolean {
    if (this.name !== o.name || this.file !== o.file || this.intervalMs !== o.intervalMs || this.limit !== o.limit || this.queryOffsetMs !== o.queryOffsetMs) return false;
    if (!this.def.labels.equals(o.def.labels) || this.rules.length !== o.rules.length) return false;
    for (let i = 0; i < this.rules.length; i++) if (this.rules[i]!.canonical() !== o.rules[i]!.canonical()) return false;
    return true;
  }

  /**
   * The evaluation timestamp of the interval containing `nowMs`: `base + offset` where the
   * offset is xxhash(labels{file, name}) mod interval (in nanoseconds, as Prometheus computes it).
   */
  evalTimestamp(nowMs: number): number {
    const adj = nowMs - this.offsetMs;
    return adj - mod(adj, this.intervalMs) + this.offsetMs;
  }

  /** The group's start offset within its interval (ms). */
  get evaluationOffsetMs(): number {
    return this.offsetMs;
  }

  /**
   * Takes over alert state and series bookkeeping from the group this one replaces: rules are
   * matched by name and labels (the first with the first); series of unmatched old rules are
   * marked stale at the next evaluation.
   */
  copyState(from: Group): void {
    this.evaluationMs = from.evaluationMs;
    this.lastEvaluation = from.lastEvaluation;
    const ruleMap = new Map<string, number[]>();
    from.rules.forEach((r, i) => {
      const k = r.nameAndLabels();
      const l = ruleMap.get(k);
      if (l) l.push(i);
      else ruleMap.set(k, [i]);
    });
    this.rules.forEach((r, i) => {
      const indexes = ruleMap.get(r.nameAndLabels());
      if (!indexes || indexes.length === 0) return;
      const fi = indexes.shift()!;
      this.seriesInPreviousEval[i] = from.seriesInPreviousEval[fi]!;
      const old = from.rules[fi]!;
      if (r instanceof AlertingRule && old instanceof AlertingRule) {
        for (const [k, a] of old.active) r.active.set(k, a);
        r.restored = old.restored || r.restored;
      }
    });
    this.staleSeries = [...from.staleSeries];
    from.rules.forEach((r, fi) => {
      const l = ruleMap.get(r.nameAndLabels());
      if (l && l.length > 0 && l.includes(fi)) for (const s of from.seriesInPreviousEval[fi]!.values()) this.staleSeries.push(s);
    });
    this.stats.iterationsTotal = from.stats.iterationsTotal;
    this.stats.iterationsMissed = from.stats.iterationsMissed;
    this.stats.evaluationsTotal = from.stats.evaluationsTotal;
    this.stats.evaluationFailures = from.stats.evaluationFailures;
  }

  /** Evaluates every rule once at `ts` (ms), in order. Never throws. */
  async eval(ts: number): Promise<void> {
    const { logger } = this.opts;
    let samplesTotal = 0;
    for (let i = 0; i < this.rules.length; i++) {
      if (this.stopped) return;
      const rule = this.rules[i]!;
      const t0 = performance.now();
      const wall = this.opts.scheduler.now();
      this.stats.evaluationsTotal++;
      let failed = false;
      try {
        let vector: OutputSample[];
        try {
          vector = await rule.eval({
            ts, queryOffsetMs: this.queryOffsetMs, query: this.opts.query, limit: this.limit,
            externalURL: this.opts.externalURL, externalLabels: this.opts.externalLabels, logger,
          });
        } catch (e) {
          failed = true;
          const err = e instanceof Error ? e : new Error(String(e));
          rule.setError(err);
          this.stats.evaluationFailures++;
          if (!(e instanceof QueryCanceledError)) logger.warn({ group: this.name, file: this.file, rule: rule.name, index: i, err: errorMessage(e) }, 'Evaluating rule failed');
          continue;
        }
        samplesTotal += vector.length;
        if (rule instanceof AlertingRule) rule.sendAlerts(ts, this.opts.resendDelayMs, this.intervalMs, this.opts.notify);
        failed = !(await this.appendResults(i, rule, vector, ts));
      } finally {
        const secs = (performance.now() - t0) / 1000;
        rule.evaluationMs = secs * 1000;
        rule.lastEvaluation = wall;
        this.opts.onRuleEvaluated?.(secs, failed);
      }
    }
    this.stats.lastSamples = samplesTotal;
    await this.cleanupStaleSeries(ts);
  }

  /** Appends a rule's output and stale markers for series it no longer produces; false when the commit failed. */
  private async appendResults(i: number, rule: Rule, vector: OutputSample[], ts: number): Promise<boolean> {
    const { logger } = this.opts;
    let app: Appender;
    try {
      app = this.opts.appendable.appender();
    } catch (e) {
      // The store refuses writes (closed, failing): reported on the rule like a failed commit.
      this.appendFailed(rule, e);
      return false;
    }
    const returned = new Map<string, Labels>();
    let outOfOrder = 0;
    let tooOld = 0;
    let duplicates = 0;
    for (const s of vector) {
      const key = s.metric.key();
      try {
        // Like Prometheus, no series ref is kept between evaluations: a ref may outlive its series.
        app.append(0, s.metric, s.t, s.v);
        returned.set(key, s.metric);
      } catch (e) {
        rule.setError(e instanceof Error ? e : new Error(String(e)));
        if (isSampleRejection(e) && e.code === 'out_of_order_sample') outOfOrder++;
        else if (isSampleRejection(e) && (e.code === 'too_old_sample' || e.code === 'out_of_bounds')) tooOld++;
        else if (isSampleRejection(e) && e.code === 'duplicate_sample_for_timestamp') duplicates++;
        else logger.warn({ group: this.name, rule: rule.name, err: errorMessage(e), sample: s.metric.toString() }, 'Rule evaluation result discarded');
      }
    }
    if (outOfOrder > 0) logger.warn({ group: this.name, rule: rule.name, numDropped: outOfOrder }, 'Error on ingesting out-of-order result from rule evaluation');
    if (tooOld > 0) logger.warn({ group: this.name, rule: rule.name, numDropped: tooOld }, 'Error on ingesting too old result from rule evaluation');
    if (duplicates > 0) logger.warn({ group: this.name, rule: rule.name, numDropped: duplicates }, 'Error on ingesting results from rule evaluation with different value but same timestamp');
    const staleT = ts - this.queryOffsetMs;
    for (const [key, lset] of this.seriesInPreviousEval[i]!) {
      if (returned.has(key)) continue;
      appendStale(app, lset, staleT, logger);
    }
    try {
      await app.commit();
    } catch (e) {
      this.appendFailed(rule, e);
      return false;
    }
    this.seriesInPreviousEval[i] = returned;
    return true;
  }

  private appendFailed(rule: Rule, e: unknown): void {
    rule.setError(e instanceof Error ? e : new Error(String(e)));
    this.stats.evaluationFailures++;
    this.opts.logger.warn({ group: this.name, rule: rule.name, err: errorMessage(e) }, 'Rule sample appending failed');
  }

  private async cleanupStaleSeries(ts: number): Promise<void> {
    if (this.staleSeries.length === 0) return;
    try {
      const app = this.opts.appendable.appender();
      for (const s of this.staleSeries) appendStale(app, s, ts - this.queryOffsetMs, this.opts.logger);
      await app.commit();
      this.staleSeries = [];
    } catch (e) {
      this.opts.logger.warn({ group: this.name, err: errorMessage(e) }, 'Stale sample appending for previous configuration failed');
    }
  }

  /**
   * Restores the `for` state of active alerts from ALERTS_FOR_STATE (Prometheus'
   * RestoreForState): an alert that was pending when Vigil went down continues counting its
   * `for` from where it was, shifted by the downtime, but fires no sooner than the grace period
   * after start; nothing is restored from before `ts - outageTolerance`.
   */
  async restoreForState(ts: number): Promise<void> {
    const { queryable, outageToleranceMs, forGracePeriodMs, logger } = this.opts;
    for (const rule of this.alertingRules()) {
      if (!queryable) {
        rule.restored = true;
        continue;
      }
      if (rule.holdDurationMs < forGracePeriodMs) {
        rule.restored = true;
        continue;
      }
      const q = queryable.querier(ts - outageToleranceMs, ts);
      try {
        for (const a of rule.active.values()) {
          const lset = rule.forStateLabels(a);
          const matchers = lset.pairs.length === 0 ? [] : Array.from({ length: lset.size }, (_, k) => new Matcher('=', lset.name(k), lset.value(k)));
          let set;
          try {
            set = await q.select(matchers, { start: ts - outageToleranceMs, end: ts });
          } catch (e) {
            logger.error({ alertname: rule.name, stage: 'Select', err: errorMessage(e) }, "Failed to restore 'for' state");
            continue;
          }
          const series = set.series.find((s) => s.labels.size === lset.size);
          if (!series) continue;
          const it = series.iterator();
          let t = NaN;
          let v = NaN;
          let vt = it.next();
          while (vt !== ValueType.None) {
            if (vt === ValueType.Float) {
              t = it.atT();
              v = it.at();
            }
            vt = it.next();
          }
          if (it.err()) {
            logger.error({ alertname: rule.name, stage: 'Iterator', err: errorMessage(it.err()) }, "Failed to restore 'for' state");
            continue;
          }
          if (Number.isNaN(t) || isStaleNaN(v) || Number.isNaN(v)) continue;
          const downAt = Math.trunc(t / 1000) * 1000;
          let restoredActiveAt = Math.trunc(v) * 1000;
          const timeSpentPending = downAt - restoredActiveAt;
          const timeRemainingPending = rule.holdDurationMs - timeSpentPending;
          if (timeRemainingPending <= 0) {
            // It was firing when Vigil stopped: the next evaluation fires it again if it still holds.
          } else if (timeRemainingPending < forGracePeriodMs) {
            restoredActiveAt = ts + forGracePeriodMs - rule.holdDurationMs;
          } else {
            restoredActiveAt = restoredActiveAt + (ts - downAt);
          }
          a.activeAt = restoredActiveAt;
          logger.debug({ alertname: rule.name, restoredTime: new Date(restoredActiveAt).toISOString(), labels: a.labels.toString() }, "'for' state restored");
        }
      } finally {
        q.close();
      }
      rule.restored = true;
    }
  }

  /** Starts the evaluation loop (once). */
  start(onIteration?: (g: Group) => void): void {
    if (this.loop || this.stopped) return;
    this.loop = this.run(onIteration).catch((e) => this.opts.logger.error({ group: this.name, err: errorMessage(e) }, 'rule group loop failed'));
  }

  private async run(onIteration?: (g: Group) => void): Promise<void> {
    const { scheduler } = this.opts;
    const signal = this.abort.signal;
    const interval = this.intervalMs;
    let evalTs = this.evalTimestamp(scheduler.now()) + interval;
    await scheduler.sleep(evalTs - scheduler.now(), signal);
    if (this.stopped) return;
    // Ticks come at tickBase + k·interval; one that passes during an iteration is delivered at
    // once afterwards, the others are dropped (Go's ticker), and counted as missed.
    const tickBase = scheduler.now();
    let lastTick = tickBase;
    const iter = async () => {
      this.stats.iterationsTotal++;
      const wall = scheduler.now();
      const t0 = performance.now();
      try {
        await this.eval(evalTs);
      } catch (e) {
        // eval reports rule and storage errors on the rules themselves; this only keeps an
        // unexpected failure from stopping the group's loop.
        this.opts.logger.error({ group: this.name, err: errorMessage(e) }, 'rule group evaluation failed');
      }
      const ms = performance.now() - t0;
      this.evaluationMs = ms;
      this.lastEvaluation = wall;
      this.lastEvalTimestamp = evalTs;
      this.stats.recentDurations.push(ms / 1000);
      if (this.stats.recentDurations.length > 1000) this.stats.recentDurations.splice(0, 500);
      onIteration?.(this);
    };
    const nextTick = async (): Promise<boolean> => {
      const now = scheduler.now();
      let t = lastTick + interval;
      if (t < now) t = lastTick + Math.floor((now - lastTick) / interval) * interval;
      if (t > now) await scheduler.sleep(t - now, signal);
      if (this.stopped) return false;
      lastTick = t;
      const missed = Math.floor((scheduler.now() - evalTs) / interval) - 1;
      if (missed > 0) {
        this.stats.iterationsMissed += missed;
        this.stats.iterationsTotal += missed;
      }
      evalTs += (Math.max(0, missed) + 1) * interval;
      return true;
    };
    await iter();
    if (this.shouldRestore) {
      // Wait for a second evaluation so that recording rules the alerts depend on have fresh values.
      if (!(await nextTick())) return;
      await iter();
      await this.restoreForState(scheduler.now());
      this.shouldRestore = false;
    }
    while (!this.stopped) {
      if (!(await nextTick())) return;
      await iter();
    }
  }

  /**
   * Stops the loop and waits for the running iteration. A group removed by a reload
   * (`markStale`) writes stale markers for its series two intervals later, unless the
   * manager stops first.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
    if (this.markStale && !this.managerDone) {
      const now = this.opts.scheduler.now();
      const series: Labels[] = [...this.staleSeries];
      for (const m of this.seriesInPreviousEval) for (const s of m.values()) series.push(s);
      this.seriesInPreviousEval = this.rules.map(() => new Map());
      if (series.length === 0) return;
      const wait = new AbortController();
      this.staleWaiter = wait;
      void this.opts.scheduler.sleep(2 * this.intervalMs, wait.signal).then(async () => {
        if (this.managerDone) return;
        this.staleSeries = series;
        await this.cleanupStaleSeries(now);
      });
    }
  }

  private staleWaiter: AbortController | undefined;

  /** The manager is stopping: pending stale markers of removed groups are not written. */
  managerStopped(): void {
    this.managerDone = true;
    this.staleWaiter?.abort();
  }

  /** Whether the loop has been stopped. */
  get isStopped(): boolean {
    return this.stopped;
  }
}

function appendStale(app: Appender, lset: Labels, t: number, logger: Logger): void {
  try {
    app.append(0, lset, t, STALE_NAN);
  } catch (e) {
    if (isSampleRejection(e) && (e.code === 'out_of_order_sample' || e.code === 'duplicate_sample_for_timestamp')) return;
    logger.warn({ sample: lset.toString(), err: errorMessage(e) }, 'Adding stale sample failed');
  }
}

function mod(a: number, n: number): number {
  // Go's % truncates toward zero; times here are positive, but keep it exact for negatives too.
  return a % n;
}

/**
 * Prometheus' group offset: xxhash64 of the label set {file=FILE, name=NAME} modulo the interval
 * in nanoseconds, in whole ms (the sample timestamps Prometheus writes are the evaluation time
 * truncated to ms, and the interval is a whole number of ms, so this gives the same timestamps).
 */
export function evalOffsetMs(file: string, name: string, intervalMs: number): number {
  if (intervalMs <= 0) return 0;
  const h = prometheusLabelsHash(['file', file, 'name', name]);
  const ns = h % (BigInt(Math.round(intervalMs)) * 1_000_000n);
  return Number(ns / 1_000_000n);
}
