/**
 * The contracts of the rules module: the query function it evaluates rules with, the samples
 * it receives and writes, rule health and alert state.
 */
import type { Labels } from '../model/index.ts';

/** One element of an instant vector as the query function returns it (shape of promql's InstantSample). */
export interface RuleSample {
  readonly metric: Labels;
  readonly v: number;
}

/**
 * Runs an instant query at `timeMs` (ms since the epoch) and returns the resulting vector; a
 * scalar result is one sample with empty labels; any other result type must be rejected with
 * `rule result is not a vector or scalar`. Errors (parse, evaluation, timeout) are thrown and
 * become the rule's `lastError`. The returned array is only read.
 */
export type QueryFunc = (query: string, timeMs: number) => Promise<readonly RuleSample[]>;

/** A sample a rule produces, to be appended at `t` (ms). */
export interface OutputSample {
  metric: Labels;
  t: number;
  v: number;
}

/** Prometheus' rule health as the API shows it. */
export type RuleHealth = 'unknown' | 'ok' | 'err';

/** Prometheus' alert states; `inactive` alerts are resolved ones kept to be sent as resolved. */
export type AlertState = 'inactive' | 'pending' | 'firing';

/**
 * One instance of an alerting rule (Prometheus' rules.Alert). Times are ms since the epoch; 0
 * means "not set" (Go's zero time).
 */
export interface Alert {
  state: AlertState;
  /** Identifying labels: the sample's labels without `__name__`, the rule's labels, `alertname`. */
  labels: Labels;
  annotations: Labels;
  /** The value of the sample at the last evaluation. */
  value: number;
  /** Start of the current pending/firing period (evaluation time). */
  activeAt: number;
  firedAt: number;
  resolvedAt: number;
  /** When the alert was last handed on; -Infinity when never. */
  lastSentAt: number;
  /** When a receiver may consider the alert resolved if not re-sent (endsAt while firing). */
  validUntil: number;
  /** Set while the alert is held by `keep_firing_for` after its condition cleared. */
  keepFiringSince: number;
}

/**
 * Receives the alerts of one alerting rule that need sending at one evaluation (firing ones,
 * every resend delay; resolved ones). `expr` is the rule's query text, for generator URLs.
 * The alerts are copies the receiver may keep.
 */
export type NotifyFunc = (expr: string, alerts: readonly Alert[]) => void;
