/**
 * Webhook receiver: POSTs Alertmanager's webhook payload (version 4) as JSON:
 * `{receiver, status, alerts, groupLabels, commonLabels, commonAnnotations, externalURL,
 * version: "4", groupKey, truncatedAlerts}`; `max_alerts` > 0 keeps the first N alerts (the
 * payload then describes only those) and counts the rest in `truncatedAlerts`.
 */
import { quoteMeta } from '../../template/index.ts';
import { formatGoTime, type Labels } from '../../model/index.ts';
import { resolvedAt, type Alert } from '../alert.ts';
import type { WebhookConfig } from '../config.ts';
import { NotifyError } from '../errors.ts';
import { httpRequest } from './http.ts';
import { checkResponse, type Integration, type IntegrationEnv, type NotifyContext } from './integration.ts';

/** Labels every alert shares with the same value (Alertmanager's CommonLabels / CommonAnnotations). */
function common(sets: readonly Labels[]): Record<string, string> {
  const first = sets[0];
  if (!first) return {};
  const out = first.toRecord();
  for (let i = 1; i < sets.length; i++) {
    const s = sets[i]!;
    for (const k of Object.keys(out)) if (s.get(k) !== out[k]) delete out[k];
  }
  return out;
}

export class WebhookIntegration implements Integration {
  readonly name = 'webhook';
  readonly sendResolved: boolean;

  constructor(private readonly conf: WebhookConfig, readonly receiver: string, readonly index: number, private readonly env: IntegrationEnv) {
    this.sendResolved = conf.sendResolved;
  }

  /** The payload as sent (exposed for tests). */
  payload(ctx: NotifyContext, alerts: readonly Alert[]): Record<string, unknown> {
    // Truncated first: common labels and status describe the alerts actually sent.
    let truncated = 0;
    let sent = alerts;
    if (this.conf.maxAlerts > 0 && alerts.length > this.conf.maxAlerts) {
      truncated = alerts.length - this.conf.maxAlerts;
      sent = alerts.slice(0, this.conf.maxAlerts);
    }
    // Built directly (not through the template data): the same JSON as Alertmanager's, cheaper
    // when a thousand groups flush at once.
    const now = Date.now();
    let firing = false;
    const list = sent.map((a) => {
      const status = resolvedAt(a, now) ? 'resolved' : 'firing';
      if (status === 'firing') firing = true;
      return {
        status, labels: a.labels.toRecord(), annotations: a.annotations.toRecord(), startsAt: formatGoTime(a.startsAt), endsAt: formatGoTime(a.endsAt),
        generatorURL: a.generatorURL, fingerprint: a.fingerprint,
      };
    });
    return {
      receiver: quoteMeta(ctx.receiver),
      status: firing ? 'firing' : 'resolved',
      alerts: list,
      groupLabels: ctx.groupLabels.toRecord(),
      commonLabels: common(sent.map((a) => a.labels)),
      commonAnnotations: common(sent.map((a) => a.annotations)),
      externalURL: this.env.externalUrl,
      version: '4',
      groupKey: ctx.groupKey,
      truncatedAlerts: truncated,
    };
  }

  async notify(ctx: NotifyContext, alerts: readonly Alert[]): Promise<void> {
    const body = JSON.stringify(this.payload(ctx, alerts)) + '\n';
    let r;
    try {
      r = await httpRequest('POST', this.conf.url.reveal(), body, this.conf.httpConfig, ctx.signal);
    } catch (e) {
      throw new NotifyError((e as Error).message, true, { cause: e });
    }
    checkResponse(r);
  }
}
