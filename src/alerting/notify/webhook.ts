/**
 * Webhook receiver: POSTs Alertmanager's webhook payload (version 4) as JSON:
 * `{receiver, status, alerts, groupLabels, commonLabels, commonAnnotations, externalURL,
 * version: "4", groupKey, truncatedAlerts}`; `max_alerts` > 0 keeps the first N alerts (the
 * payload then describes only those) and counts the rest in `truncatedAlerts`.
 */
import type { Alert } from '../alert.ts';
import type { WebhookConfig } from '../config.ts';
import { NotifyError } from '../errors.ts';
import { httpRequest } from './http.ts';
import { checkResponse, templateData, type Integration, type IntegrationEnv, type NotifyContext } from './integration.ts';

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
    const data = templateData(this.env, ctx, sent).toJSON() as Record<string, unknown>;
    return { ...data, version: '4', groupKey: ctx.groupKey, truncatedAlerts: truncated };
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
