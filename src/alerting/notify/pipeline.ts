/**
 * The notification pipeline, as composable stages in Alertmanager's shape. For each receiver:
 *
 *   leader? → inhibited? → active time? → muted time? → silenced? → fan out per integration:
 *       dedup against the notification log → retry with exponential backoff → log the send
 *
 * A stage takes the alerts and returns those that go on; an empty list ends the pipeline
 * quietly. A failing stage throws; the aggregation group then keeps its resolved alerts for
 * the next flush.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../model/index.ts';
import type { NotificationHistoryRecord } from '../../state/index.ts';
import { resolvedAt, type Alert } from '../alert.ts';
import type { AlertingMetrics } from '../metrics.ts';
import type { NotificationLog } from '../nflog.ts';
import { anyIntervalContains, type TimeInterval } from '../timeinterval.ts';
import type { Integration, NotifyContext } from './integration.ts';
import { NotifyError } from '../errors.ts';

export type Stage = (ctx: NotifyContext, alerts: Alert[]) => Promise<Alert[]>;

/** Runs stages in order; stops when one returns no alerts. */
export function multiStage(...stages: Stage[]): Stage {
  return async (ctx, alerts) => {
    let cur = alerts;
    for (const s of stages) {
      if (cur.length === 0) return cur;
      cur = await s(ctx, cur);
    }
    return cur;
  };
}

/** Runs stages concurrently, each with its own copy of the context; fails if any fails. */
export function fanoutStage(stages: Stage[]): Stage {
  return async (ctx, alerts) => {
    const results = await Promise.allSettled(stages.map((s) => s({ ...ctx }, alerts)));
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => errorMessage(r.reason));
    if (errors.length) throw new Error(errors.length === 1 ? errors[0] : `${errors.length} errors occurred:\n\t* ${errors.join('\n\t* ')}`);
    return alerts;
  };
}

/** Drops alerts the muter mutes (inhibition or silences). */
export function muteStage(mutes: (a: Alert, now: number) => boolean): Stage {
  return async (ctx, alerts) => alerts.filter((a) => !mutes(a, ctx.now));
}

/** Stops while the flush time lies in any of the route's `mute_time_intervals`. */
export function timeMuteStage(intervals: () => ReadonlyMap<string, TimeInterval[]>): Stage {
  return async (ctx, alerts) => {
    const all = intervals();
    for (const name of ctx.muteTimeIntervals) if (anyIntervalContains(all.get(name) ?? [], ctx.now)) return [];
    return alerts;
  };
}

/** Stops while the route has `active_time_intervals` and the flush time lies in none of them. */
export function timeActiveStage(intervals: () => ReadonlyMap<string, TimeInterval[]>): Stage {
  return async (ctx, alerts) => {
    if (ctx.activeTimeIntervals.length === 0) return alerts;
    const all = intervals();
    for (const name of ctx.activeTimeIntervals) if (anyIntervalContains(all.get(name) ?? [], ctx.now)) return alerts;
    return [];
  };
}

/** Stops on instances that are not the leader (several instances sharing a PostgreSQL state store). */
export function leaderStage(isLeader: () => boolean): Stage {
  return async (_ctx, alerts) => (isLeader() ? alerts : []);
}

/** The key of an integration in the notification log: `receiver/integration/index`. */
export function receiverKey(i: Integration): string {
  return `${i.receiver}/${i.name}/${i.index}`;
}

/**
 * Alertmanager's dedup: notify when there is a new firing alert, when all alerts resolved after
 * some had been notified as firing, when (with send_resolved) an alert resolved since the last
 * notification, or when nothing changed but `repeat_interval` has passed.
 */
export function dedupStage(nflog: NotificationLog, integration: Integration, now: () => number): Stage {
  const rkey = receiverKey(integration);
  return async (ctx, alerts) => {
    const firing: string[] = [];
    const resolved: string[] = [];
    const t = now();
    for (const a of alerts) (resolvedAt(a, t) ? resolved : firing).push(a.fingerprint);
    ctx.firing = firing;
    ctx.resolved = resolved;
    const entry = nflog.query(rkey, ctx.groupKey);
    if (!entry) return firing.length > 0 ? alerts : [];
    // A firing alert not notified as firing before: notify.
    for (const f of firing) if (!entry.firing.has(f)) return alerts;
    if (firing.length === 0) return entry.firing.size > 0 ? alerts : [];
    if (integration.sendResolved) {
      for (const r of resolved) if (!entry.resolved.has(r)) return alerts;
    }
    return entry.timestamp < t - ctx.repeatInterval ? alerts : [];
  };
}

/** cenkalti/backoff's exponential backoff as Alertmanager uses it (0.5 s, ×1.5, ±50%, ≤ 60 s). */
export class ExponentialBackoff {
  private current: number;

  constructor(private readonly initial = 500, private readonly multiplier = 1.5, private readonly randomization = 0.5, private readonly max = 60_000) {
    this.current = initial;
  }

  next(): number {
    const delta = this.randomization * this.current;
    const min = this.current - delta;
    const value = min + Math.random() * (2 * delta);
    this.current = Math.min(this.current * this.multiplier, this.max);
    return value;
  }

  reset(): void {
    this.current = this.initial;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface RetryDeps {
  metrics: AlertingMetrics;
  logger: Logger;
  now: () => number;
  /** Receives one record per notification (after its retries). */
  record?: (r: NotificationHistoryRecord) => void;
}

/**
 * Sends with retries until success, an unrecoverable error, or the context deadline. Without
 * `send_resolved` resolved alerts are left out, and a notification with only resolved alerts
 * is not sent at all (but still logged, so the log forgets the firing ones).
 */
export function retryStage(integration: Integration, deps: RetryDeps): Stage {
  const label = { integration: integration.name };
  const name = `${integration.receiver}/${integration.name}[${integration.index}]`;
  return async (ctx, alerts) => {
    let sent = alerts;
    if (!integration.sendResolved) {
      if (!ctx.firing || ctx.firing.length === 0) return alerts;
      const t = deps.now();
      sent = alerts.filter((a) => !resolvedAt(a, t));
    }
    deps.metrics.notifications.inc(label);
    const backoff = new ExponentialBackoff();
    const started = performance.now();
    let attempts = 0;
    let lastError: Error | undefined;
    const finish = (success: boolean, error: string) => {
      const t = deps.now();
      deps.record?.({
        time: t, receiver: integration.receiver, integration: integration.name, integrationIndex: integration.index, groupKey: ctx.groupKey,
        status: sent.some((a) => !resolvedAt(a, t)) ? 'firing' : 'resolved', fingerprints: sent.map((a) => a.fingerprint), success, error, attempts,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      });
    };
    for (;;) {
      if (ctx.signal.aborted) {
        deps.metrics.notificationsFailed.inc(label);
        const msg = `${name}: notify retry canceled after ${attempts} attempts: ${lastError?.message ?? 'context deadline exceeded'}`;
        finish(false, msg);
        throw new Error(msg);
      }
      attempts++;
      const t0 = performance.now();
      try {
        await integration.notify(ctx, sent);
        deps.metrics.latency.observe(label, (performance.now() - t0) / 1000);
        deps.metrics.requests.inc(label);
        if (attempts > 1) deps.logger.info({ receiver: integration.receiver, integration: `${integration.name}[${integration.index}]`, attempts }, 'Notify success');
        finish(true, '');
        return alerts;
      } catch (e) {
        deps.metrics.latency.observe(label, (performance.now() - t0) / 1000);
        deps.metrics.requests.inc(label);
        deps.metrics.requestsFailed.inc(label);
        const err = e instanceof Error ? e : new Error(String(e));
        const retry = e instanceof NotifyError ? e.retry : true;
        if (!retry) {
          deps.metrics.notificationsFailed.inc(label);
          const msg = `${name}: notify retry canceled due to unrecoverable error after ${attempts} attempts: ${err.message}`;
          finish(false, msg);
          throw new Error(msg);
        }
        if (!ctx.signal.aborted && err.message !== lastError?.message) {
          deps.logger.warn({ receiver: integration.receiver, integration: `${integration.name}[${integration.index}]`, attempts, err: err.message }, 'Notify attempt failed, will retry later');
        }
        lastError = err;
        await sleep(backoff.next(), ctx.signal);
      }
    }
  };
}

/** Records the sent notification in the notification log (durable before it resolves). */
export function setNotifiesStage(nflog: NotificationLog, integration: Integration, now: () => number): Stage {
  const rkey = receiverKey(integration);
  return async (ctx, alerts) => {
    await nflog.log(rkey, ctx.groupKey, ctx.firing ?? [], ctx.resolved ?? [], now());
    return alerts;
  };
}
