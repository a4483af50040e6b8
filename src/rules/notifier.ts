/**
 * Delivery of the alerts rules produce: external labels added (only where the alert lacks the
 * label, as Prometheus' notifier does) and `alert_relabel_configs` applied (an alert relabelled
 * to nothing is not sent), then handed to in-process sinks (Vigil's own alert
 * handling; a log sink; a test sink) and queued for external Alertmanagers
 * (`alerting.alertmanagers`), which receive `POST <scheme>://<target><path_prefix>/api/v2/alerts`
 * in batches of at most 64, concurrently, with the configured timeout. As in Prometheus there is
 * no retry: firing alerts are re-sent every resend delay anyway; a full queue drops its oldest
 * alerts; a batch that no Alertmanager accepted is counted as dropped.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, Summary, type Registry } from 'prom-client';
import { Labels, LabelsBuilder, errorMessage, formatRfc3339, type AlertSink, type PostableAlert } from '../model/index.ts';
import { compileRelabelConfigs, relabel, type CompiledRelabel, type RelabelConfig } from '../scrape/index.ts';
import type { AlertmanagerConfig } from './config.ts';

export const DEFAULT_QUEUE_CAPACITY = 10_000;
export const MAX_BATCH_SIZE = 64;

/** Alertmanager API v2's `postableAlert` JSON for one alert (times as RFC 3339 with ms). */
export function alertToV2Json(a: PostableAlert): Record<string, unknown> {
  const o: Record<string, unknown> = { labels: a.labels.toRecord(), annotations: a.annotations.toRecord() };
  o.startsAt = a.startsAt > 0 ? formatRfc3339(a.startsAt) : '0001-01-01T00:00:00.000Z';
  o.endsAt = a.endsAt > 0 ? formatRfc3339(a.endsAt) : '0001-01-01T00:00:00.000Z';
  o.generatorURL = a.generatorURL;
  return o;
}

export interface AlertDispatcherOptions {
  logger: Logger;
  registry?: Registry;
  /** `--alertmanager.notification-queue-capacity` (default 10,000). */
  queueCapacity?: number;
  /** In-process receivers (Vigil's alert handling). */
  sinks?: AlertSink[];
}

interface AmTarget {
  url: string;
  cfg: AlertmanagerConfig;
}

/** One external Alertmanager as `/api/v1/alertmanagers` lists it. */
export interface AlertmanagerInfo {
  url: string;
}

export class AlertDispatcher {
  private queue: PostableAlert[] = [];
  private readonly capacity: number;
  private externalLabels = Labels.EMPTY;
  private relabelRules: CompiledRelabel[] = [];
  private targets: AmTarget[] = [];
  private sinks: AlertSink[];
  private sending = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  /** Counters (read by collect callbacks and tests). */
  readonly stats = { dropped: 0, sent: new Map<string, number>(), errors: new Map<string, number>() };
  private readonly latency: Summary | undefined;

  constructor(private readonly opts: AlertDispatcherOptions) {
    this.capacity = opts.queueCapacity ?? DEFAULT_QUEUE_CAPACITY;
    this.sinks = [...(opts.sinks ?? [])];
    if (opts.registry) {
      const self = this;
      const r = [opts.registry];
      new Counter({ name: 'vigil_notifier_alerts_dropped_total', help: 'Alerts dropped because of a full queue or because no Alertmanager accepted them.', registers: r, collect() { this.reset(); this.inc(self.stats.dropped); } });
      new Counter({ name: 'vigil_notifier_alerts_sent_total', help: 'Alerts sent to each Alertmanager.', labelNames: ['alertmanager'], registers: r, collect() { this.reset(); for (const [k, v] of self.stats.sent) this.inc({ alertmanager: k }, v); } });
      new Counter({ name: 'vigil_notifier_errors_total', help: 'Errors sending alerts to each Alertmanager.', labelNames: ['alertmanager'], registers: r, collect() { this.reset(); for (const [k, v] of self.stats.errors) this.inc({ alertmanager: k }, v); } });
      new Gauge({ name: 'vigil_notifier_queue_length', help: 'Alerts waiting to be sent to Alertmanagers.', registers: r, collect() { this.set(self.queue.length); } });
      new Gauge({ name: 'vigil_notifier_queue_capacity', help: 'Capacity of the Alertmanager queue.', registers: r, collect() { this.set(self.capacity); } });
      new Gauge({ name: 'vigil_notifier_alertmanagers_discovered', help: 'Alertmanagers alerts are sent to.', registers: r, collect() { this.set(self.targets.length); } });
      this.latency = new Summary({ name: 'vigil_notifier_latency_seconds', help: 'Latency of sending alerts to an Alertmanager.', labelNames: ['alertmanager'], percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5, registers: r });
    }
  }

  /** Applies `global.external_labels`, `alerting.alertmanagers` and `alerting.alert_relabel_configs`. */
  applyConfig(externalLabels: Labels, alertmanagers: readonly AlertmanagerConfig[], alertRelabelConfigs: readonly RelabelConfig[] = []): void {
    this.externalLabels = externalLabels;
    this.relabelRules = compileRelabelConfigs(alertRelabelConfigs);
    const targets: AmTarget[] = [];
    for (const cfg of alertmanagers) {
      for (const sc of cfg.static_configs) {
        for (const t of sc.targets) targets.push({ url: `${cfg.scheme}://${t}${posix.join('/', cfg.path_prefix, '/api/v2/alerts')}`, cfg });
      }
    }
    this.targets = targets;
  }

  /** Adds an in-process receiver (e.g. Vigil's alerting module once it is built). */
  addSink(sink: AlertSink): void {
    this.sinks.push(sink);
  }

  alertmanagers(): AlertmanagerInfo[] {
    return this.targets.map((t) => ({ url: t.url }));
  }

  /**
   * Hands alerts on: external labels added, in-process sinks called, and (when Alertmanagers
   * are configured) queued for them. Never throws.
   */
  send(alerts: readonly PostableAlert[]): void {
    if (this.stopped || alerts.length === 0) return;
    let out = this.externalLabels.isEmpty() ? alerts.slice() : alerts.map((a) => ({ ...a, labels: withExternal(a.labels, this.externalLabels) }));
    if (this.relabelRules.length > 0) {
      const kept: PostableAlert[] = [];
      for (const a of out) {
        const l = relabel(a.labels, this.relabelRules);
        if (l && !l.isEmpty()) kept.push(l === a.labels ? a : { ...a, labels: l });
      }
      out = kept;
      if (out.length === 0) return;
    }
    for (const sink of this.sinks) {
      try {
        const r = sink.send(out);
        if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch((e) => this.opts.logger.error({ err: errorMessage(e) }, 'in-process alert sink failed'));
      } catch (e) {
        this.opts.logger.error({ err: errorMessage(e) }, 'in-process alert sink failed');
      }
    }
    if (this.targets.length === 0) return;
    let batch = out;
    if (batch.length > this.capacity) {
      const d = batch.length - this.capacity;
      batch = batch.slice(d);
      this.stats.dropped += d;
      this.opts.logger.warn({ count: d }, 'Alert batch larger than queue capacity, dropping alerts');
    }
    const over = this.queue.length + batch.length - this.capacity;
    if (over > 0) {
      this.queue.splice(0, over);
      this.stats.dropped += over;
      this.opts.logger.warn({ count: over }, 'Alert notification queue full, dropping alerts');
    }
    this.queue.push(...batch);
    this.kick();
  }

  private kick(): void {
    if (this.sending || this.queue.length === 0) return;
    this.sending = true;
    void this.drain().finally(() => {
      this.sending = false;
      if (this.queue.length > 0 && !this.stopped) this.kick();
      else for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH_SIZE);
      if (!(await this.sendAll(batch))) this.stats.dropped += batch.length;
      if (this.stopped) return;
    }
  }

  private async sendAll(alerts: PostableAlert[]): Promise<boolean> {
    const targets = this.targets;
    if (targets.length === 0) return false;
    const payload = JSON.stringify(alerts.map(alertToV2Json));
    let ok = 0;
    await Promise.all(targets.map(async (t) => {
      const t0 = performance.now();
      try {
        await postJson(t.url, payload, t.cfg);
        ok++;
      } catch (e) {
        this.opts.logger.error({ alertmanager: t.url, count: alerts.length, err: errorMessage(e) }, 'Error sending alerts');
        this.stats.errors.set(t.url, (this.stats.errors.get(t.url) ?? 0) + 1);
      }
      this.latency?.observe({ alertmanager: t.url }, (performance.now() - t0) / 1000);
      this.stats.sent.set(t.url, (this.stats.sent.get(t.url) ?? 0) + alerts.length);
    }));
    return ok > 0;
  }

  /** Resolves when the Alertmanager queue is empty (tests, shutdown). */
  idle(): Promise<void> {
    if (!this.sending && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Tries to flush the queue within `timeoutMs`, then stops accepting alerts. */
  async stop(timeoutMs = 5_000): Promise<void> {
    await Promise.race([this.idle(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.stopped = true;
    this.queue = [];
  }
}

function withExternal(labels: Labels, ext: Labels): Labels {
  let b: LabelsBuilder | undefined;
  ext.forEach((n, v) => {
    if (labels.get(n) !== '') return;
    b ??= new LabelsBuilder(labels);
    b.set(n, v);
  });
  return b ? b.build() : labels;
}

/** POSTs JSON; resolves on a 2xx answer, rejects otherwise (`bad response status 500 Internal Server Error`). */
function postJson(url: string, body: string, cfg: AlertmanagerConfig, redirects = 0, retried = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'Vigil', 'Content-Length': String(Buffer.byteLength(body)) };
    try {
      if (cfg.basic_auth) {
        const user = cfg.basic_auth.username_file ? cfg.basic_auth.username_file.reveal() : cfg.basic_auth.username;
        const pass = (cfg.basic_auth.password ?? cfg.basic_auth.password_file)?.reveal() ?? '';
        headers.Authorization = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
      } else if (cfg.authorization) {
        const cred = (cfg.authorization.credentials ?? cfg.authorization.credentials_file)?.reveal();
        if (cred !== undefined) headers.Authorization = `${cfg.authorization.type} ${cred}`;
      }
    } catch (e) {
      reject(e);
      return;
    }
    const tls = cfg.tls_config;
    const options = {
      method: 'POST',
      headers,
      timeout: cfg.timeout,
      ...(u.protocol === 'https:' && tls
        ? {
            ca: tls.ca_file ? readFileSync(tls.ca_file) : undefined,
            cert: tls.cert_file ? readFileSync(tls.cert_file) : undefined,
            key: tls.key_file ? readFileSync(tls.key_file) : undefined,
            servername: tls.server_name,
            rejectUnauthorized: !tls.insecure_skip_verify,
          }
        : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, options, (res: IncomingMessage) => {
      res.resume();
      const code = res.statusCode ?? 0;
      if (code >= 300 && code < 400 && res.headers.location && cfg.follow_redirects && redirects < 10) {
        postJson(new URL(res.headers.location, u).toString(), body, cfg, redirects + 1).then(resolve, reject);
        return;
      }
      if (code >= 200 && code < 300) resolve();
      else reject(new Error(`bad response status ${code} ${res.statusMessage ?? ''}`.trim()));
    });
    const timer = setTimeout(() => req.destroy(new Error(`context deadline exceeded (timeout ${cfg.timeout} ms)`)), cfg.timeout);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (timeout ${cfg.timeout} ms)`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // A kept-alive connection the server closed just as it was reused: send once more on a new one.
      if (req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE') && !retried) postJson(url, body, cfg, redirects, true).then(resolve, reject);
      else reject(e);
    });
    req.end(body);
  });
}

/** Logs every alert handed on (until Vigil's alert handling receives them in-process). */
export class LogAlertSink implements AlertSink {
  constructor(private readonly logger: Logger, private readonly now: () => number = Date.now) {}

  send(alerts: readonly PostableAlert[]): void {
    const t = this.now();
    for (const a of alerts) {
      this.logger.info(
        { alertname: a.labels.get('alertname'), status: a.endsAt > 0 && a.endsAt <= t ? 'resolved' : 'firing', labels: a.labels.toRecord(), annotations: a.annotations.toRecord(), startsAt: formatRfc3339(a.startsAt), endsAt: a.endsAt > 0 ? formatRfc3339(a.endsAt) : '' },
        'alert',
      );
    }
  }
}

/** Keeps every alert handed on, for tests. */
export class CollectingAlertSink implements AlertSink {
  readonly alerts: PostableAlert[] = [];
  private waiters: Array<{ pred: (a: readonly PostableAlert[]) => boolean; resolve: () => void }> = [];

  send(alerts: readonly PostableAlert[]): void {
    this.alerts.push(...alerts);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(this.alerts)) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `pred` holds for the alerts received so far; rejects after `timeoutMs`. */
  waitFor(pred: (a: readonly PostableAlert[]) => boolean, timeoutMs: number): Promise<void> {
    if (pred(this.alerts)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: () => { clearTimeout(t); resolve(); } };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no matching alert within ${timeoutMs} ms (received ${this.alerts.length})`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}
