/**
 * Alert handling's self-metrics, named after Alertmanager's with the `vigil_` prefix:
 * notifications and their attempts per integration, latency, alerts received and invalid,
 * alerts and silences by state, aggregation groups, notification-log and history writes.
 * Counters on hot paths are plain numbers read at scrape time.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const INTEGRATIONS = ['webhook', 'slack', 'pagerduty', 'email'] as const;

export interface AlertingGauges {
  alertsByState(): { active: number; suppressed: number; unprocessed: number };
  silencesByState(): { active: number; pending: number; expired: number };
  aggregationGroups(): number;
  nflogEntries(): number;
}

export class AlertingMetrics {
  readonly notifications: Counter<'integration'>;
  readonly notificationsFailed: Counter<'integration'>;
  readonly requests: Counter<'integration'>;
  readonly requestsFailed: Counter<'integration'>;
  readonly latency: Histogram<'integration'>;
  /** Hot counters. */
  firingReceived = 0;
  resolvedReceived = 0;
  invalidReceived = 0;
  historyWriteFailures = 0;
  private gauges: AlertingGauges | undefined;

  constructor(registry?: Registry) {
    const registers = registry ? [registry] : [];
    this.notifications = new Counter({ name: 'vigil_notifications_total', help: 'The total number of attempted notifications (after retries), by integration.', labelNames: ['integration'], registers });
    this.notificationsFailed = new Counter({ name: 'vigil_notifications_failed_total', help: 'The total number of notifications that failed for good (retries exhausted or unrecoverable), by integration.', labelNames: ['integration'], registers });
    this.requests = new Counter({ name: 'vigil_notification_requests_total', help: 'The total number of notification requests (each retry counts), by integration.', labelNames: ['integration'], registers });
    this.requestsFailed = new Counter({ name: 'vigil_notification_requests_failed_total', help: 'The total number of failed notification requests, by integration.', labelNames: ['integration'], registers });
    this.latency = new Histogram({ name: 'vigil_notification_latency_seconds', help: 'The latency of notification requests, by integration.', labelNames: ['integration'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20], registers });
    for (const i of INTEGRATIONS) {
      this.notifications.inc({ integration: i }, 0);
      this.notificationsFailed.inc({ integration: i }, 0);
      this.requests.inc({ integration: i }, 0);
      this.requestsFailed.inc({ integration: i }, 0);
    }
    const self = this;
    new Counter({
      name: 'vigil_alerts_received_total', help: 'The total number of received alerts, by status.', labelNames: ['status'], registers,
      collect() {
        this.reset();
        this.inc({ status: 'firing' }, self.firingReceived);
        this.inc({ status: 'resolved' }, self.resolvedReceived);
      },
    });
    new Counter({
      name: 'vigil_alerts_invalid_total', help: 'The total number of received alerts that were invalid.', registers,
      collect() {
        this.reset();
        this.inc(self.invalidReceived);
      },
    });
    new Gauge({
      name: 'vigil_alerts', help: 'How many alerts Vigil holds, by state.', labelNames: ['state'], registers,
      collect() {
        const c = self.gauges?.alertsByState() ?? { active: 0, suppressed: 0, unprocessed: 0 };
        for (const [k, v] of Object.entries(c)) this.set({ state: k }, v);
      },
    });
    new Gauge({
      name: 'vigil_silences', help: 'How many silences Vigil holds, by state.', labelNames: ['state'], registers,
      collect() {
        const c = self.gauges?.silencesByState() ?? { active: 0, pending: 0, expired: 0 };
        for (const [k, v] of Object.entries(c)) this.set({ state: k }, v);
      },
    });
    new Gauge({
      name: 'vigil_dispatcher_aggregation_groups', help: 'Number of active aggregation groups.', registers,
      collect() {
        this.set(self.gauges?.aggregationGroups() ?? 0);
      },
    });
    new Gauge({
      name: 'vigil_nflog_entries', help: 'Entries in the notification log.', registers,
      collect() {
        this.set(self.gauges?.nflogEntries() ?? 0);
      },
    });
    new Counter({
      name: 'vigil_alert_history_write_failures_total', help: 'Failed writes of alert or notification history to the state store.', registers,
      collect() {
        this.reset();
        this.inc(self.historyWriteFailures);
      },
    });
  }

  setGauges(g: AlertingGauges): void {
    this.gauges = g;
  }
}
