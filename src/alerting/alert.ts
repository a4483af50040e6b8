/**
 * The alert as alert handling keeps it (Alertmanager's `types.Alert`): labels, annotations,
 * start/end, when it was last updated, whether `endsAt` came from `resolve_timeout`, and its
 * fingerprint. Once in the store, an instance changes only through the store: a re-send with
 * the same labels, annotations, start and generator URL updates `endsAt`, `updatedAt` and
 * `timeout` in place (senders re-send constantly; this keeps the heap still). Anyone who must
 * compare versions over time (an aggregation group's flush) copies.
 */
import { Labels, compareStrings, type PostableAlert } from '../model/index.ts';
import { AlertingError } from './errors.ts';
import { fingerprintPairs } from './fingerprint.ts';

export interface Alert {
  readonly labels: Labels;
  readonly annotations: Labels;
  /** ms. */
  readonly startsAt: number;
  /** ms; 0 = not set (only in notifications, where firing alerts carry Go's zero time). Updated in place by the store. */
  endsAt: number;
  /** When Vigil last received it (ms). Updated in place by the store. */
  updatedAt: number;
  /** `endsAt` was set from `resolve_timeout` (the sender gave none). Updated in place by the store. */
  timeout: boolean;
  readonly generatorURL: string;
  /** 16 hex digits; see fingerprint.ts. */
  readonly fingerprint: string;
}

/** Resolved at `now`: `endsAt` set and not after `now` (Go's `!EndsAt.After(now)`). */
export function resolvedAt(a: Alert, now: number): boolean {
  return a.endsAt !== 0 && a.endsAt <= now;
}

/**
 * Alertmanager's merge of two versions of one alert (same fingerprint, overlapping activity):
 * the younger (by `updatedAt`) wins, with the earliest `startsAt`, and an `endsAt` that never
 * moves back because of a timeout or an older explicit resolve.
 */
export function mergeAlerts(a: Alert, o: Alert, now: number): Alert {
  if (o.updatedAt < a.updatedAt) return mergeAlerts(o, a, now);
  let startsAt = o.startsAt;
  let endsAt = o.endsAt;
  if (a.startsAt < o.startsAt) startsAt = a.startsAt;
  if (resolvedAt(o, now)) {
    if (resolvedAt(a, now) && a.endsAt > o.endsAt) endsAt = a.endsAt;
  } else if (a.endsAt > o.endsAt && !a.timeout) endsAt = a.endsAt;
  if (startsAt === o.startsAt && endsAt === o.endsAt) return o;
  return { ...o, startsAt, endsAt };
}

/** Alertmanager's order of alerts in a notification: by `job`, then `instance`, then labels. */
export function compareAlertsForNotification(x: Alert, y: Alert): number {
  for (const key of ['job', 'instance']) {
    const xv = x.labels.get(key);
    const yv = y.labels.get(key);
    if (xv === '' && yv === '') continue;
    if (xv === '') return 1;
    if (yv === '') return -1;
    if (xv !== yv) return xv < yv ? -1 : 1;
  }
  return compareLabelSets(x.labels, y.labels);
}

/** Prometheus' `LabelSet.Before`: fewer labels first, then pairwise by name and value. */
export function compareLabelSets(a: Labels, b: Labels): number {
  if (a.size !== b.size) return a.size - b.size;
  const x = a.pairs;
  const y = b.pairs;
  for (let i = 0; i < x.length; i += 2) {
    if (x[i] !== y[i]) return compareStrings(x[i]!, y[i]!);
  }
  for (let i = 0; i < x.length; i += 2) {
    if (x[i + 1] !== y[i + 1]) return compareStrings(x[i + 1]!, y[i + 1]!);
  }
  return 0;
}

/**
 * Turns received alerts into stored alerts as Alertmanager's API does: `updatedAt = now`; a
 * missing `startsAt` becomes `endsAt` (or now); a missing `endsAt` becomes
 * `now + resolveTimeout` with `timeout` set. Returns the valid alerts and a message per invalid
 * one (Alertmanager's texts).
 */
export function acceptAlerts(input: readonly PostableAlert[], now: number, resolveTimeoutMs: number): { alerts: Alert[]; errors: string[] } {
  const alerts: Alert[] = [];
  const errors: string[] = [];
  for (const p of input) {
    let startsAt = p.startsAt;
    let endsAt = p.endsAt;
    let timeout = false;
    if (!startsAt) startsAt = endsAt ? endsAt : now;
    if (!endsAt) {
      timeout = true;
      endsAt = now + resolveTimeoutMs;
    }
    const err = validateAlert(p.labels, startsAt, endsAt);
    if (err) {
      errors.push(err);
      continue;
    }
    alerts.push({ labels: p.labels, annotations: p.annotations, startsAt, endsAt, updatedAt: now, timeout, generatorURL: p.generatorURL, fingerprint: fingerprintPairs(p.labels.pairs) });
  }
  return { alerts, errors };
}

/** Alertmanager's `Alert.Validate` for what the JSON decoding did not already check. */
export function validateAlert(labels: Labels, startsAt: number, endsAt: number): string | undefined {
  if (!startsAt) return 'start time missing';
  if (endsAt && endsAt < startsAt) return 'start time must be before end time';
  if (labels.size === 0) return 'at least one label pair required';
  return undefined;
}

/** A stored alert from one whose fields are already known good (tests, replay). */
export function makeAlert(a: Omit<Alert, 'fingerprint' | 'updatedAt' | 'timeout'> & { updatedAt?: number; timeout?: boolean }): Alert {
  return { ...a, updatedAt: a.updatedAt ?? a.startsAt, timeout: a.timeout ?? false, fingerprint: fingerprintPairs(a.labels.pairs) };
}
