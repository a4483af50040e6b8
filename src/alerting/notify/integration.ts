/**
 * A receiver's integration (one entry of `webhook_configs`, `slack_configs`, ...): sends one
 * notification for a group's alerts. `notify` throws NotifyError (`retry` = whether trying again
 * may help) and never retries by itself: the retry stage does.
 */
import type { Labels } from '../../model/index.ts';
import type { NotificationTemplates } from '../../template/index.ts';
import { buildNotificationData, type NotificationData } from '../../template/index.ts';
import type { Alert } from '../alert.ts';
import { NotifyError } from '../errors.ts';
import type { HttpResponse } from './http.ts';

/** What the pipeline knows about the notification being sent. */
export interface NotifyContext {
  /** When the group was flushed (ms). */
  now: number;
  groupKey: string;
  groupLabels: Labels;
  /** Receiver name. */
  receiver: string;
  repeatInterval: number;
  muteTimeIntervals: readonly string[];
  activeTimeIntervals: readonly string[];
  /** Aborted at the flush deadline (max(group_interval, 10s)). */
  signal: AbortSignal;
  /** Set by the dedup stage: hashes of the firing / resolved alerts. */
  firing?: string[];
  resolved?: string[];
}

export interface Integration {
  /** `webhook`, `slack`, `pagerduty`, `email`. */
  readonly name: string;
  /** Position among the receiver's integrations of this kind. */
  readonly index: number;
  readonly receiver: string;
  readonly sendResolved: boolean;
  notify(ctx: NotifyContext, alerts: readonly Alert[]): Promise<void>;
}

/** The environment integrations share: templates and the external URL. */
export interface IntegrationEnv {
  templates: NotificationTemplates;
  externalUrl: string;
}

/** Alertmanager's template data for a notification. */
export function templateData(env: IntegrationEnv, ctx: NotifyContext, alerts: readonly Alert[]): NotificationData {
  return buildNotificationData({
    receiver: ctx.receiver,
    groupLabels: ctx.groupLabels.toRecord(),
    externalURL: env.externalUrl,
    nowMs: Date.now(),
    alerts: alerts.map((a) => ({ labels: a.labels.toRecord(), annotations: a.annotations.toRecord(), startsAt: a.startsAt, endsAt: a.endsAt, generatorURL: a.generatorURL, fingerprint: a.fingerprint })),
  });
}

/**
 * Alertmanager's Retrier: 2xx is success; 5xx and the extra codes are retried; anything else
 * fails for good. The error carries the response body.
 */
export function checkResponse(r: HttpResponse, retryCodes: readonly number[] = []): void {
  if (r.status >= 200 && r.status < 300) return;
  const retry = (r.status >= 500 && r.status < 600) || retryCodes.includes(r.status);
  const body = r.body.trim();
  throw new NotifyError(`unexpected status code ${r.status}${body ? `: ${body}` : ''}`, retry);
}

/** Runs a template text; a template error is a permanent failure (no retry), as in Alertmanager. */
export function renderer(env: IntegrationEnv, data: NotificationData): (text: string) => string {
  return (text: string) => {
    try {
      return env.templates.executeText(text, data);
    } catch (e) {
      throw new NotifyError((e as Error).message, false, { cause: e });
    }
  };
}

/** Go's notify.Truncate: at most n runes, the last one replaced by `…` when cut. */
export function truncateRunes(s: string, n: number): { text: string; truncated: boolean } {
  const runes = [...s];
  if (runes.length <= n) return { text: s, truncated: false };
  if (n <= 3) return { text: runes.slice(0, n).join(''), truncated: true };
  return { text: runes.slice(0, n - 1).join('') + '…', truncated: true };
}
