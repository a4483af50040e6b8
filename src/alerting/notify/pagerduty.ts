/**
 * PagerDuty receiver: Events API v2 (`routing_key`): `event_action` trigger while any alert
 * fires, resolve once all resolved; `dedup_key` = SHA-256 (hex) of the group key, so one
 * incident per group; summary (≤ 1024 characters) from `description`; `custom_details` from
 * `details`. Events API v1 when only `service_key` is set. 5xx and 429 are retried.
 */
import { createHash } from 'node:crypto';
import type { Alert } from '../alert.ts';
import type { PagerdutyConfig } from '../config.ts';
import { NotifyError } from '../errors.ts';
import { httpRequest } from './http.ts';
import { checkResponse, renderer, templateData, truncateRunes, type Integration, type IntegrationEnv, type NotifyContext } from './integration.ts';

const MAX_SUMMARY_RUNES = 1024;
const MAX_V1_DESCRIPTION_RUNES = 1024;

/** Alertmanager's `notify.Key.Hash()`: hex SHA-256 of the group key. */
export function groupKeyHash(groupKey: string): string {
  return createHash('sha256').update(groupKey).digest('hex');
}

export class PagerdutyIntegration implements Integration {
  readonly name = 'pagerduty';
  readonly sendResolved: boolean;

  constructor(private readonly conf: PagerdutyConfig, readonly receiver: string, readonly index: number, private readonly env: IntegrationEnv) {
    this.sendResolved = conf.sendResolved;
  }

  /** The event body (exposed for tests). Throws NotifyError on template errors. */
  payload(ctx: NotifyContext, alerts: readonly Alert[]): Record<string, unknown> {
    const c = this.conf;
    const data = templateData(this.env, ctx, alerts);
    const t = renderer(this.env, data);
    const resolved = data.Status === 'resolved';
    const details: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.details)) {
      try {
        details[k] = this.env.templates.executeText(v, data);
      } catch (e) {
        throw new NotifyError(`"${k}": failed to template "${v}": ${(e as Error).message}`, false);
      }
    }
    const dedup = groupKeyHash(ctx.groupKey);
    if (!c.routingKey && c.serviceKey) {
      const description = truncateRunes(t(c.description), MAX_V1_DESCRIPTION_RUNES).text;
      const msg: Record<string, unknown> = { service_key: c.serviceKey.reveal(), incident_key: dedup, event_type: resolved ? 'resolve' : 'trigger', description };
      if (!resolved) {
        const client = t(c.client);
        const clientUrl = t(c.clientUrl);
        if (client) msg.client = client;
        if (clientUrl) msg.client_url = clientUrl;
        msg.details = details;
      }
      return msg;
    }
    const payload: Record<string, unknown> = {
      summary: truncateRunes(t(c.description), MAX_SUMMARY_RUNES).text,
      source: t(c.source),
      severity: t(c.severity),
    };
    const klass = t(c.class);
    const component = t(c.component);
    const group = t(c.group);
    if (klass) payload.class = klass;
    if (component) payload.component = component;
    if (group) payload.group = group;
    if (Object.keys(details).length) payload.custom_details = details;
    const msg: Record<string, unknown> = {
      routing_key: t(c.routingKey!.reveal()),
      dedup_key: dedup,
      event_action: resolved ? 'resolve' : 'trigger',
      payload,
    };
    const client = t(c.client);
    const clientUrl = t(c.clientUrl);
    if (client) msg.client = client;
    if (clientUrl) msg.client_url = clientUrl;
    const images = c.images.map((i) => ({ src: t(i.src), alt: t(i.alt), href: t(i.href) })).filter((i) => i.src !== '');
    const links = c.links.map((l) => ({ href: t(l.href), text: t(l.text) })).filter((l) => l.href !== '');
    if (images.length) msg.images = images;
    if (links.length) msg.links = links;
    return msg;
  }

  async notify(ctx: NotifyContext, alerts: readonly Alert[]): Promise<void> {
    const body = JSON.stringify(this.payload(ctx, alerts)) + '\n';
    let r;
    try {
      r = await httpRequest('POST', this.conf.url, body, this.conf.httpConfig, ctx.signal);
    } catch (e) {
      throw new NotifyError((e as Error).message, true, { cause: e });
    }
    checkResponse(r, [429]);
  }
}
