/**
 * Email receiver over SMTP (nodemailer): `smarthost` host:port, implicit TLS on port 465,
 * otherwise STARTTLS (required unless `require_tls: false`, then plain), AUTH with
 * `auth_username`/`auth_password` (PLAIN, LOGIN or CRAM-MD5 as the server offers), `hello` as
 * the EHLO name. Headers (Subject, To, From and any others) are templates; the body has a text
 * and/or an HTML part. Failures are retried. nodemailer is loaded by the first email sent.
 */
import { readFileSync } from 'node:fs';
import type { Alert } from '../alert.ts';
import type { EmailConfig } from '../config.ts';
import { NotifyError } from '../errors.ts';
import { USER_AGENT } from './http.ts';
import { renderer, templateData, type Integration, type IntegrationEnv, type NotifyContext } from './integration.ts';

export interface RenderedEmail {
  from: string;
  to: string;
  subject: string;
  headers: Record<string, string>;
  text?: string;
  html?: string;
}

export class EmailIntegration implements Integration {
  readonly name = 'email';
  readonly sendResolved: boolean;

  constructor(private readonly conf: EmailConfig, readonly receiver: string, readonly index: number, private readonly env: IntegrationEnv) {
    this.sendResolved = conf.sendResolved;
  }

  /** The message (exposed for tests). Throws NotifyError on template errors. */
  render(ctx: NotifyContext, alerts: readonly Alert[]): RenderedEmail {
    const t = renderer(this.env, templateData(this.env, ctx, alerts));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.conf.headers)) headers[k] = t(v);
    const { Subject: subject = '', To: to = '', From: from = '', ...rest } = headers;
    const out: RenderedEmail = { from, to, subject, headers: rest };
    if (this.conf.text) out.text = t(this.conf.text);
    if (this.conf.html) out.html = t(this.conf.html);
    return out;
  }

  async notify(ctx: NotifyContext, alerts: readonly Alert[]): Promise<void> {
    const msg = this.render(ctx, alerts);
    const c = this.conf;
    const tlsOpts: Record<string, unknown> = { rejectUnauthorized: !c.tls.insecureSkipVerify, servername: c.tls.serverName ?? c.smarthost.host };
    try {
      if (c.tls.caFile) tlsOpts.ca = readFileSync(c.tls.caFile);
      if (c.tls.certFile) tlsOpts.cert = readFileSync(c.tls.certFile);
      if (c.tls.keyFile) tlsOpts.key = readFileSync(c.tls.keyFile);
    } catch (e) {
      throw new NotifyError(`reading the TLS files: ${(e as Error).message}`, false);
    }
    const implicitTls = c.smarthost.port === 465;
    const nodemailer = (await import('nodemailer')).default;
    const transport = nodemailer.createTransport({
      host: c.smarthost.host,
      port: c.smarthost.port,
      secure: implicitTls,
      requireTLS: !implicitTls && c.requireTls,
      ignoreTLS: !implicitTls && !c.requireTls,
      name: c.hello,
      auth: c.authUsername ? { user: c.authUsername, pass: c.authPassword?.reveal() ?? c.authSecret?.reveal() ?? '' } : undefined,
      tls: tlsOpts,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    const onAbort = () => transport.close();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await transport.sendMail({
        from: msg.from,
        to: msg.to,
        subject: msg.subject,
        text: msg.text,
        html: msg.html,
        headers: { ...msg.headers, 'X-Mailer': USER_AGENT },
      });
    } catch (e) {
      const err = e as Error & { responseCode?: number };
      // 5xx SMTP replies (bad recipient, authentication refused) do not get better by retrying.
      const permanent = typeof err.responseCode === 'number' && err.responseCode >= 500 && err.responseCode < 600 && err.responseCode !== 554;
      throw new NotifyError(`sending mail via ${c.smarthost.host}:${c.smarthost.port}: ${err.message}`, !permanent, { cause: e });
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      transport.close();
    }
  }
}
