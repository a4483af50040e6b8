/**
 * Slack receiver (incoming webhooks): one message with one attachment, every text field
 * rendered from its template (Alertmanager's defaults: `slack.default.*`), `mrkdwn_in`
 * defaulting to fallback/pretext/text. Only 5xx answers are retried, as in Alertmanager.
 */
import type { Alert } from '../alert.ts';
import type { SlackConfig } from '../config.ts';
import { NotifyError } from '../errors.ts';
import { httpRequest } from './http.ts';
import { checkResponse, renderer, templateData, type Integration, type IntegrationEnv, type NotifyContext } from './integration.ts';

/** Alertmanager's attachment fields without `omitempty`: always present, even when empty. */
const ALWAYS = new Set(['text', 'fallback', 'callback_id', 'footer']);

function omitEmpty(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (!ALWAYS.has(k) && (v === '' || v === undefined || v === false || (Array.isArray(v) && v.length === 0))) continue;
    out[k] = v;
  }
  return out;
}

export class SlackIntegration implements Integration {
  readonly name = 'slack';
  readonly sendResolved: boolean;

  constructor(private readonly conf: SlackConfig, readonly receiver: string, readonly index: number, private readonly env: IntegrationEnv) {
    this.sendResolved = conf.sendResolved;
  }

  /** The request body (exposed for tests). Throws NotifyError on template errors. */
  payload(ctx: NotifyContext, alerts: readonly Alert[]): Record<string, unknown> {
    const c = this.conf;
    const t = renderer(this.env, templateData(this.env, ctx, alerts));
    const attachment: Record<string, unknown> = omitEmpty({
      title: t(c.title),
      title_link: t(c.titleLink),
      pretext: t(c.pretext),
      text: t(c.text),
      fallback: t(c.fallback),
      callback_id: t(c.callbackId),
      fields: c.fields.map((f) => ({ title: t(f.title), value: t(f.value), short: f.short ?? c.shortFields })),
      actions: c.actions.map((a) => omitEmpty({ type: t(a.type), text: t(a.text), url: t(a.url), style: t(a.style), name: t(a.name), value: t(a.value) })),
      image_url: t(c.imageUrl),
      thumb_url: t(c.thumbUrl),
      footer: t(c.footer),
      color: t(c.color),
    });
    attachment.mrkdwn_in = c.mrkdwnIn.length ? c.mrkdwnIn : ['fallback', 'pretext', 'text'];
    return {
      ...omitEmpty({ channel: t(c.channel), username: t(c.username), icon_emoji: t(c.iconEmoji), icon_url: t(c.iconUrl), link_names: c.linkNames }),
      attachments: [attachment],
    };
  }

  async notify(ctx: NotifyContext, alerts: readonly Alert[]): Promise<void> {
    const payload = this.payload(ctx, alerts);
    let r;
    try {
      r = await httpRequest('POST', this.conf.apiUrl.reveal(), JSON.stringify(payload) + '\n', this.conf.httpConfig, ctx.signal);
    } catch (e) {
      throw new NotifyError((e as Error).message, true, { cause: e });
    }
    try {
      checkResponse(r);
    } catch (e) {
      throw new NotifyError(`channel ${JSON.stringify(payload.channel ?? '')}: ${(e as Error).message}`, (e as NotifyError).retry);
    }
  }
}
