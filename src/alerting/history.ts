/**
 * Alert and notification history (what Alertmanager does not keep, its issue #172): one record
 * per alert episode (fingerprint + start) from first firing to resolution, and one per
 * notification (after its retries). Writes are buffered and flushed to the state store every
 * second in batches; records older than the retention are pruned hourly. Queries flush first,
 * so a caller sees everything recorded before it asked.
 */
import type { Logger } from 'pino';
import { errorMessage, type Matcher } from '../model/index.ts';
import type { AlertHistoryRecord, NotificationHistoryRecord, StateStore } from '../state/index.ts';
import { resolvedAt, type Alert } from './alert.ts';
import type { AlertStore } from './alerts.ts';
import { matchesFilter } from './matchers.ts';
import type { AlertingMetrics } from './metrics.ts';

interface OpenEpisode {
  startsAt: number;
  annotations: string;
  lastEndsAt: number;
  /** Loaded from the store at start-up and not seen since. */
  restored: boolean;
}

export interface HistoryQuery {
  start?: number;
  end?: number;
  state?: 'firing' | 'resolved';
  matchers?: Matcher[];
  /** Only episodes with a notification to this receiver (exact name). */
  receiver?: string;
  fingerprint?: string;
  limit?: number;
}

export interface HistoryEntry extends AlertHistoryRecord {
  notifications: NotificationHistoryRecord[];
}

export interface HistoryOptions {
  store?: StateStore;
  logger: Logger;
  metrics: AlertingMetrics;
  now: () => number;
  retention: number;
  /** Episodes restored at start-up and not seen again are closed after this long (ms). */
  restoreGrace: number;
}

const FLUSH_EVERY_MS = 1000;
const FLUSH_AT = 2000;
/**
 * Records per write. The embedded store runs SQL on this thread (about 60–120 µs per alert
 * record), so a burst of new alerts is written in chunks with a turn of the event loop between
 * them: requests and notifications go on meanwhile instead of waiting for the whole batch.
 */
const WRITE_CHUNK = 250;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class HistoryRecorder {
  private readonly open = new Map<string, OpenEpisode>();
  private pendingAlerts = new Map<string, AlertHistoryRecord>();
  private pendingNotifications: NotificationHistoryRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private startedAt = 0;

  constructor(private readonly opts: HistoryOptions) {}

  get enabled(): boolean {
    return this.opts.store !== undefined;
  }

  /** Loads the episodes still open in the store, then starts the periodic flush. */
  async start(): Promise<void> {
    this.startedAt = this.opts.now();
    if (!this.opts.store) return;
    const open = await this.opts.store.history.queryAlerts({ state: 'firing', limit: 100_000 });
    for (const r of open) {
      if (!this.open.has(r.fingerprint)) this.open.set(r.fingerprint, { startsAt: r.startsAt, annotations: '', lastEndsAt: 0, restored: true });
    }
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  private queue(a: Alert, startsAt: number, endsAt: number | undefined, now: number): void {
    if (!this.opts.store) return;
    const k = `${a.fingerprint}/${startsAt}`;
    const prev = this.pendingAlerts.get(k);
    this.pendingAlerts.set(k, {
      fingerprint: a.fingerprint,
      startsAt,
      endsAt: endsAt ?? prev?.endsAt,
      labels: a.labels.toRecord(),
      annotations: a.annotations.toRecord(),
      generatorURL: a.generatorURL,
      firstSeen: prev?.firstSeen ?? now,
      lastSeen: now,
    });
    if (this.pendingAlerts.size >= FLUSH_AT) void this.flush();
  }

  /** Sees every alert the store takes (subscribe it to the AlertStore). */
  observe(a: Alert, now: number): void {
    if (!this.opts.store) return;
    const ep = this.open.get(a.fingerprint);
    if (resolvedAt(a, now)) {
      if (ep) {
        this.open.delete(a.fingerprint);
        this.queue(a, ep.startsAt, a.endsAt, now);
      } else this.queue(a, a.startsAt, a.endsAt, now);
      return;
    }
    if (!ep) {
      this.open.set(a.fingerprint, { startsAt: a.startsAt, annotations: a.annotations.key(), lastEndsAt: a.endsAt, restored: false });
      this.queue(a, a.startsAt, undefined, now);
      return;
    }
    ep.lastEndsAt = a.endsAt;
    if (ep.restored) {
      ep.restored = false;
      ep.annotations = a.annotations.key();
      this.queue(a, ep.startsAt, undefined, now);
    } else if (ep.annotations !== a.annotations.key()) {
      ep.annotations = a.annotations.key();
      this.queue(a, ep.startsAt, undefined, now);
    }
  }

  /** Closes episodes whose alert timed out (no update before its endsAt) or disappeared. */
  sweep(alerts: AlertStore, now: number): void {
    if (!this.opts.store) return;
    for (const [fp, ep] of this.open) {
      const a = alerts.get(fp);
      if (a) {
        if (resolvedAt(a, now)) {
          this.open.delete(fp);
          this.queue(a, ep.startsAt, a.endsAt, now);
        }
      } else if (!ep.restored) {
        this.open.delete(fp);
        void this.closeUnknown(fp, ep, ep.lastEndsAt || now);
      } else if (now - this.startedAt > this.opts.restoreGrace) {
        // Open before a restart and never received again: it resolved while Vigil was down.
        this.open.delete(fp);
        void this.closeUnknown(fp, ep, now);
      }
    }
  }

  private async closeUnknown(fp: string, ep: OpenEpisode, endsAt: number): Promise<void> {
    try {
      const rows = await this.opts.store!.history.queryAlerts({ fingerprints: [fp], state: 'firing', limit: 5 });
      const row = rows.find((r) => r.startsAt === ep.startsAt);
      if (row) this.pendingAlerts.set(`${fp}/${ep.startsAt}`, { ...row, endsAt, lastSeen: this.opts.now() });
    } catch (e) {
      this.opts.logger.warn({ err: errorMessage(e) }, 'alert history: closing an episode failed');
    }
  }

  recordNotification(r: NotificationHistoryRecord): void {
    if (!this.opts.store) return;
    this.pendingNotifications.push(r);
    if (this.pendingNotifications.length >= FLUSH_AT) void this.flush();
  }

  /** Writes everything buffered. Never throws (failures are logged and counted; records are kept for the next try). */
  flush(): Promise<void> {
    if (this.writing) return this.writing.then(() => this.flush());
    if (!this.opts.store || (this.pendingAlerts.size === 0 && this.pendingNotifications.length === 0)) return Promise.resolve();
    const alerts = this.pendingAlerts;
    const notes = this.pendingNotifications;
    this.pendingAlerts = new Map();
    this.pendingNotifications = [];
    const store = this.opts.store;
    this.writing = (async () => {
      const keys = [...alerts.keys()];
      const records = [...alerts.values()];
      for (let off = 0; off < records.length; off += WRITE_CHUNK) {
        if (off > 0) await nextTurn();
        try {
          await store.history.upsertAlerts(records.slice(off, off + WRITE_CHUNK));
        } catch (e) {
          this.opts.metrics.historyWriteFailures++;
          this.opts.logger.error({ err: errorMessage(e), records: records.length - off }, 'writing alert history failed; will retry');
          // This chunk and the rest; newer versions queued meanwhile win.
          for (let i = off; i < records.length; i++) if (!this.pendingAlerts.has(keys[i]!)) this.pendingAlerts.set(keys[i]!, records[i]!);
          break;
        }
      }
      for (let off = 0; off < notes.length; off += WRITE_CHUNK) {
        if (off > 0 || records.length > 0) await nextTurn();
        const chunk = notes.slice(off, off + WRITE_CHUNK);
        try {
          await store.history.insertNotifications(chunk);
        } catch (e) {
          this.opts.metrics.historyWriteFailures++;
          this.opts.logger.error({ err: errorMessage(e), records: notes.length - off }, 'writing notification history failed; will retry');
          this.pendingNotifications.unshift(...notes.slice(off));
          break;
        }
      }
    })().finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** Deletes history older than the retention. */
  async prune(now: number): Promise<{ alerts: number; notifications: number }> {
    if (!this.opts.store) return { alerts: 0, notifications: 0 };
    return this.opts.store.history.prune(now - this.opts.retention);
  }

  /** Episodes matching the query, newest first, each with the notifications that carried it. */
  async query(q: HistoryQuery): Promise<HistoryEntry[]> {
    if (!this.opts.store) return [];
    await this.flush();
    const limit = Math.max(1, Math.min(q.limit ?? 100, 10_000));
    const labelsEqual: Record<string, string> = {};
    for (const m of q.matchers ?? []) if (m.type === '=' && m.value !== '') labelsEqual[m.name] = m.value;
    const needsJsFilter = (q.matchers ?? []).some((m) => !(m.type === '=' && m.value !== '')) || q.receiver !== undefined;
    const rows = await this.opts.store.history.queryAlerts({
      start: q.start, end: q.end, state: q.state, labelsEqual, fingerprints: q.fingerprint ? [q.fingerprint] : undefined,
      limit: needsJsFilter ? Math.min(limit * 20, 100_000) : limit,
    });
    const filtered = rows.filter((r) => matchesFilter(q.matchers ?? [], (n) => r.labels[n]));
    const fps = [...new Set(filtered.map((r) => r.fingerprint))];
    const notes = fps.length
      ? await this.opts.store.history.queryNotifications({ fingerprints: fps, start: filtered.reduce((m, r) => Math.min(m, r.startsAt), Infinity), limit: 100_000 })
      : [];
    // Each notification belongs, per fingerprint it carried, to the latest episode started before it.
    const byFp = new Map<string, HistoryEntry[]>();
    const out: HistoryEntry[] = filtered.map((r) => ({ ...r, notifications: [] }));
    for (const e of out) {
      const l = byFp.get(e.fingerprint);
      if (l) l.push(e);
      else byFp.set(e.fingerprint, [e]);
    }
    for (const n of notes) {
      for (const fp of n.fingerprints) {
        const eps = byFp.get(fp);
        if (!eps) continue;
        let best: HistoryEntry | undefined;
        for (const e of eps) if (e.startsAt <= n.time && (!best || e.startsAt > best.startsAt)) best = e;
        best?.notifications.push(n);
      }
    }
    for (const e of out) e.notifications.sort((a, b) => a.time - b.time);
    const result = q.receiver !== undefined ? out.filter((e) => e.notifications.some((n) => n.receiver === q.receiver)) : out;
    return result.slice(0, limit);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
