/**
 * Alert handling as one service: receives alerts (in-process as an `AlertSink`, or from the
 * API), keeps them, routes them into aggregation groups, mutes them by inhibition, silences and
 * time intervals, notifies receivers with retries, logs what was sent, records history, and
 * persists silences, the notification log and history in the state store.
 *
 * Lifecycle: `AlertingService.create()` loads the persisted state and starts the timers;
 * `applyConfig()` on reload; `stop()` flushes and stops (idempotent).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage, type AlertSink, type HealthCheck, type Labels, type Matcher, type PostableAlert } from '../model/index.ts';
import type { StateStore } from '../state/index.ts';
import { acceptAlerts, resolvedAt, type Alert } from './alert.ts';
import { AlertStore } from './alerts.ts';
import { AlertDecoder } from './decode.ts';
import { parseAlertmanagerConfig, type AlertingSectionConfig, type AlertmanagerConfig, type AlertingOptions, type ReceiverConfig } from './config.ts';
import { Dispatcher, type GroupView, type NotifyFn } from './dispatch.ts';
import { HistoryRecorder } from './history.ts';
import { Inhibitor } from './inhibit.ts';
import { Marker, type AlertStatus } from './marker.ts';
import { matchesFilter } from './matchers.ts';
import { AlertingMetrics } from './metrics.ts';
import { NotificationLog } from './nflog.ts';
import { EmailIntegration } from './notify/email.ts';
import type { Integration, IntegrationEnv, NotifyContext } from './notify/integration.ts';
import { PagerdutyIntegration } from './notify/pagerduty.ts';
import {
  dedupStage, fanoutStage, leaderStage, multiStage, muteStage, retryStage, setNotifiesStage, timeActiveStage, timeMuteStage, type Stage,
} from './notify/pipeline.ts';
import { SlackIntegration } from './notify/slack.ts';
import { WebhookIntegration } from './notify/webhook.ts';
import { Route } from './route.ts';
import { Silences } from './silences.ts';

export interface AlertingServiceOptions {
  config: AlertingSectionConfig;
  /** Durable state; without it nothing survives a restart (tests). */
  store?: StateStore;
  logger: Logger;
  registry?: Registry;
  /** Base URL of Vigil for links in notifications (`.ExternalURL`). */
  externalUrl: string;
  /** Clock (ms); tests may replace it. */
  now?: () => number;
  /** Periodic work intervals (ms); tests shorten them. */
  intervals?: Partial<ServiceIntervals>;
}

export interface ServiceIntervals {
  /** History sweep, expire-when-resolved silences, silence sync from PostgreSQL. */
  sweep: number;
  /** Silence and notification-log garbage collection, inhibitor cache cleanup. */
  maintenance: number;
  /** Resolved alerts dropped from memory (Alertmanager's --alerts.gc-interval). */
  alertsGc: number;
  /** History retention pass. */
  prune: number;
}

const DEFAULT_INTERVALS: ServiceIntervals = { sweep: 5_000, maintenance: 15 * 60_000, alertsGc: 30 * 60_000, prune: 3_600_000 };

/** The routing Alertmanager would need but Vigil does without: every alert goes to a receiver without integrations. */
const NULL_CONFIG_YAML = 'route:\n  receiver: default\nreceivers:\n  - name: default\n';

/** An alert as the API lists it. */
export interface AlertView {
  alert: Alert;
  status: AlertStatus;
  receivers: string[];
}

export interface AlertQuery {
  matchers?: Matcher[];
  silenced?: boolean;
  inhibited?: boolean;
  active?: boolean;
  unprocessed?: boolean;
  /** Anchored regex over receiver names. */
  receiver?: RegExp;
}

export class AlertingService implements AlertSink {
  readonly alerts = new AlertStore();
  /** Decodes posted alerts (API v2), interning label sets across requests. */
  readonly decoder = new AlertDecoder(this.alerts);
  readonly marker = new Marker();
  readonly metrics: AlertingMetrics;
  readonly silences: Silences;
  readonly nflog: NotificationLog;
  readonly history: HistoryRecorder;
  private amConfig!: AlertmanagerConfig;
  private options!: AlertingOptions;
  private inhibitor!: Inhibitor;
  private dispatcher!: Dispatcher;
  private pipeline!: NotifyFn;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly intervals: ServiceIntervals;
  private leaderReady = true;
  private stopped = false;
  private readonly lastResults = new Map<string, { success: boolean; error: string; time: number }>();
  private readonly startTime: number;

  private constructor(private readonly opts: AlertingServiceOptions) {
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.startTime = this.now();
    this.intervals = { ...DEFAULT_INTERVALS, ...opts.intervals };
    this.metrics = new AlertingMetrics(opts.registry);
    const options = opts.config.options;
    this.silences = new Silences({ store: opts.store, logger: opts.logger.child({ component: 'silences' }), now: this.now, retention: options.dataRetention });
    this.nflog = new NotificationLog({ store: opts.store, logger: opts.logger.child({ component: 'nflog' }), retention: options.dataRetention });
    this.history = new HistoryRecorder({
      store: opts.store, logger: opts.logger.child({ component: 'history' }), metrics: this.metrics, now: this.now, retention: options.historyRetention,
      restoreGrace: 10 * 60_000,
    });
  }

  /** Builds the service, loads silences, the notification log and open history episodes, starts the timers. */
  static async create(opts: AlertingServiceOptions): Promise<AlertingService> {
    const s = new AlertingService(opts);
    await s.init();
    return s;
  }

  private async init(): Promise<void> {
    const silences = await this.silences.load();
    const nflog = await this.nflog.load();
    await this.history.start();
    this.apply(this.opts.config, true);
    this.alerts.subscribe((a) => {
      const now = this.now();
      this.inhibitor.observe(a);
      this.dispatcher.process(a);
      this.history.observe(a, now);
    });
    this.metrics.setGauges({
      alertsByState: () => {
        const now = this.now();
        const out = { active: 0, suppressed: 0, unprocessed: 0 };
        for (const a of this.alerts.list()) if (!resolvedAt(a, now)) out[this.marker.status(a.fingerprint).state]++;
        return out;
      },
      silencesByState: () => this.silences.countByState(this.now()),
      aggregationGroups: () => this.dispatcher.groupCount,
      nflogEntries: () => this.nflog.size,
    });
    const store = this.opts.store;
    if (store) {
      store.leader.onChange((leader) => {
        if (!leader) return;
        // A new leader continues from what the previous one logged.
        this.leaderReady = false;
        void this.nflog
          .load()
          .catch((e) => this.logger.error({ err: errorMessage(e) }, 'reloading the notification log failed'))
          .finally(() => (this.leaderReady = true));
      });
    }
    const every = (ms: number, fn: () => unknown) => {
      const t = setInterval(() => {
        try {
          const r = fn();
          if (r instanceof Promise) r.catch((e) => this.logger.error({ err: errorMessage(e) }, 'alerting maintenance failed'));
        } catch (e) {
          this.logger.error({ err: errorMessage(e) }, 'alerting maintenance failed');
        }
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.intervals.sweep, async () => {
      const now = this.now();
      this.history.sweep(this.alerts, now);
      if (store?.kind === 'postgres') await this.silences.load();
      await this.silences.expireResolved(this.alerts.list(), now);
    });
    every(this.intervals.maintenance, async () => {
      const now = this.now();
      this.inhibitor.gc(now);
      await this.silences.gc(now);
      await this.nflog.gc(now);
    });
    every(this.intervals.alertsGc, () => {
      for (const a of this.alerts.gc(this.now())) this.marker.delete(a.fingerprint);
    });
    every(this.intervals.prune, async () => {
      const r = await this.history.prune(this.now());
      if (r.alerts || r.notifications) this.logger.info(r, 'alert history pruned');
    });
    this.logger.info({ silences, nflogEntries: nflog, receivers: this.amConfig.receivers.length, state: store?.kind ?? 'memory' }, 'alerting started');
  }

  /** The Alertmanager configuration in effect (the null configuration when none is given). */
  get config(): AlertmanagerConfig {
    return this.amConfig;
  }

  get route(): Route {
    return this.dispatcher.root;
  }

  get resolveTimeout(): number {
    return this.amConfig.global.resolveTimeout;
  }

  get uptimeStart(): number {
    return this.startTime;
  }

  private apply(cfg: AlertingSectionConfig, first: boolean): void {
    const am = cfg.alertmanager ?? parseAlertmanagerConfig(NULL_CONFIG_YAML, '<default>');
    const route = new Route(am.route, undefined);
    const inhibitor = new Inhibitor(am.inhibitRules, this.marker);
    for (const a of this.alerts.list()) inhibitor.observe(a);
    this.amConfig = am;
    this.options = cfg.options;
    this.inhibitor = inhibitor;
    this.pipeline = this.buildPipeline(am);
    if (first) {
      this.dispatcher = new Dispatcher(route, { now: this.now, logger: this.logger.child({ component: 'dispatcher' }), notify: () => this.pipeline });
    } else {
      const r = this.dispatcher.reload(route, this.alerts.list());
      this.logger.info(r, 'alerting configuration applied: aggregation groups of unchanged routes kept');
    }
  }

  /** Applies a reloaded configuration (ConfigManager subscriber). */
  applyConfig(cfg: AlertingSectionConfig): void {
    if (this.stopped) return;
    this.apply(cfg, false);
  }

  private integrations(r: ReceiverConfig, env: IntegrationEnv): Integration[] {
    return [
      ...r.webhookConfigs.map((c, i) => new WebhookIntegration(c, r.name, i, env)),
      ...r.slackConfigs.map((c, i) => new SlackIntegration(c, r.name, i, env)),
      ...r.pagerdutyConfigs.map((c, i) => new PagerdutyIntegration(c, r.name, i, env)),
      ...r.emailConfigs.map((c, i) => new EmailIntegration(c, r.name, i, env)),
    ];
  }

  private buildPipeline(am: AlertmanagerConfig): NotifyFn {
    const env: IntegrationEnv = { templates: am.notificationTemplates, externalUrl: this.opts.externalUrl.replace(/\/$/, '') };
    const intervals = () => this.amConfig.timeIntervals;
    const store = this.opts.store;
    const isLeader = () => (store ? store.leader.isLeader() && this.leaderReady : true);
    const inhibitMute = (a: Alert, now: number) => this.inhibitor.mutes(a.labels, a.fingerprint, now);
    const silenceMute = (a: Alert, now: number) => this.silences.mutes(a.labels, a.fingerprint, now, this.marker);
    const record = (r: Parameters<NonNullable<Parameters<typeof retryStage>[1]['record']>>[0]) => {
      this.lastResults.set(`${r.receiver}/${r.integration}[${r.integrationIndex}]`, { success: r.success, error: r.error, time: r.time });
      this.history.recordNotification(r);
    };
    const stages = new Map<string, Stage>();
    for (const r of am.receivers) {
      const perIntegration = this.integrations(r, env).map((i) =>
        multiStage(
          dedupStage(this.nflog, i, this.now),
          retryStage(i, { metrics: this.metrics, logger: this.logger.child({ component: 'notify' }), now: this.now, record }),
          setNotifiesStage(this.nflog, i, this.now),
        ),
      );
      stages.set(
        r.name,
        multiStage(leaderStage(isLeader), muteStage(inhibitMute), timeActiveStage(intervals), timeMuteStage(intervals), muteStage(silenceMute), fanoutStage(perIntegration)),
      );
    }
    return async (ctx: NotifyContext, alerts: Alert[]) => {
      const stage = stages.get(ctx.receiver);
      if (!stage) {
        this.logger.error({ receiver: ctx.receiver }, 'no pipeline for receiver');
        return false;
      }
      try {
        await stage(ctx, alerts);
        return true;
      } catch (e) {
        this.logger.error({ aggrGroup: ctx.groupKey, err: errorMessage(e) }, 'Notify for alerts failed');
        return false;
      }
    };
  }

  /**
   * Takes alerts as Alertmanager's API does (missing times filled in, invalid ones reported).
   * Returns the messages of the invalid alerts; the valid ones are stored either way.
   */
  receive(input: readonly PostableAlert[]): { errors: string[]; accepted: number } {
    const now = this.now();
    const { alerts, errors } = acceptAlerts(input, now, this.amConfig.global.resolveTimeout);
    for (const a of alerts) {
      if (a.endsAt > now) this.metrics.firingReceived++;
      else this.metrics.resolvedReceived++;
    }
    this.metrics.invalidReceived += errors.length;
    if (alerts.length) this.alerts.put(alerts, now);
    return { errors, accepted: alerts.length };
  }

  /** AlertSink: in-process delivery from the rules module. Invalid alerts are logged and dropped. */
  send(alerts: readonly PostableAlert[]): void {
    if (this.stopped) return;
    const { errors } = this.receive(alerts);
    if (errors.length) this.logger.warn({ errors }, 'dropped invalid alerts from rules');
  }

  /** Stores already-validated alerts (the API, which validates and fills in times itself). */
  putAlerts(alerts: readonly Alert[]): void {
    const now = this.now();
    for (const a of alerts) {
      if (a.endsAt > now) this.metrics.firingReceived++;
      else this.metrics.resolvedReceived++;
    }
    if (alerts.length) this.alerts.put(alerts, now);
  }

  /** Recomputes an alert's silenced/inhibited status now (the API does this before showing it). */
  refreshStatus(a: Alert, now = this.now()): AlertStatus {
    this.silences.mutes(a.labels, a.fingerprint, now, this.marker);
    this.inhibitor.mutes(a.labels, a.fingerprint, now);
    return this.marker.status(a.fingerprint);
  }

  private passes(a: Alert, q: AlertQuery, now: number): AlertStatus | undefined {
    if (a.endsAt !== 0 && a.endsAt < now) return undefined;
    const st = this.refreshStatus(a, now);
    if (q.active === false && st.state === 'active') return undefined;
    if (q.unprocessed === false && st.state === 'unprocessed') return undefined;
    if (q.silenced === false && st.silencedBy.length) return undefined;
    if (q.inhibited === false && st.inhibitedBy.length) return undefined;
    if (q.matchers && !matchesFilter(q.matchers, (n) => (a.labels.has(n) ? a.labels.get(n) : undefined))) return undefined;
    return st;
  }

  /** Current (unresolved) alerts matching the query, sorted by fingerprint (GET /api/v2/alerts). */
  listAlerts(q: AlertQuery = {}): AlertView[] {
    const now = this.now();
    const out: AlertView[] = [];
    for (const a of this.alerts.list()) {
      const receivers = this.dispatcher.receiversFor(a);
      if (q.receiver && !receivers.some((r) => q.receiver!.test(r))) continue;
      const st = this.passes(a, q, now);
      if (!st) continue;
      out.push({ alert: a, status: st, receivers });
    }
    out.sort((x, y) => (x.alert.fingerprint < y.alert.fingerprint ? -1 : x.alert.fingerprint > y.alert.fingerprint ? 1 : 0));
    return out;
  }

  /** Aggregation groups with their current alerts (GET /api/v2/alerts/groups). */
  listGroups(q: AlertQuery = {}): { groups: GroupView[]; receivers: Map<string, string[]>; statuses: Map<string, AlertStatus> } {
    const now = this.now();
    const statuses = new Map<string, AlertStatus>();
    const view = this.dispatcher.groupsView(
      (r) => !q.receiver || q.receiver.test(r.opts.receiver),
      (a) => {
        const st = this.passes(a, q, now);
        if (st) statuses.set(a.fingerprint, st);
        return st !== undefined;
      },
    );
    return { ...view, statuses };
  }

  /** Receivers an alert with these labels is routed to (`routes test`). */
  receiversForLabels(labels: Labels): string[] {
    return this.dispatcher.root.match(labels).map((r) => r.opts.receiver);
  }

  /** `alerting:receivers`: warns while an integration's most recent notification failed. */
  healthCheck(): HealthCheck {
    return {
      name: 'alerting:receivers',
      run: () => {
        const failing = [...this.lastResults.entries()].filter(([, r]) => !r.success);
        return {
          componentType: 'component',
          observedValue: failing.length,
          observedUnit: 'failing integrations',
          status: failing.length ? 'warn' : 'pass',
          output: failing.length ? failing.map(([k, r]) => `${k}: ${r.error}`).join('; ') : undefined,
        };
      },
    };
  }

  /** Stops timers and groups, writes pending history and notification-log entries. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.dispatcher.stop();
    await this.nflog.flush();
    await this.history.stop();
  }
}
