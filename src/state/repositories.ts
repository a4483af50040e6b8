/**
 * The record repositories, written once in SQL that PGlite and PostgreSQL both run.
 * Timestamps are `timestamptz`, passed in as ISO strings and read back as `Date`.
 */
import type {
  AlertHistoryQuery, AlertHistoryRecord, HistoryRepository, NflogRecord, NflogRepository, NotificationHistoryQuery,
  NotificationHistoryRecord, SilenceMatcherRecord, SilenceRecord, SilenceRepository, SqlClient,
} from './types.ts';

/** ms → the ISO string both drivers accept for `timestamptz`. */
export function ts(ms: number): string {
  return new Date(ms).toISOString();
}

/** A `timestamptz` as either driver returns it → ms. */
export function ms(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'string') return Date.parse(v);
  if (typeof v === 'number') return v;
  throw new TypeError(`not a timestamp: ${String(v)}`);
}

function json<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

function textArray(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') {
    // `{a,b}` when a driver does not parse arrays.
    const inner = v.replace(/^\{|\}$/g, '');
    return inner === '' ? [] : inner.split(',').map((s) => s.replace(/^"|"$/g, ''));
  }
  return [];
}

interface SilenceRow {
  id: string;
  matchers: unknown;
  starts_at: unknown;
  ends_at: unknown;
  updated_at: unknown;
  created_by: string;
  comment: string;
  expire_when_resolved: boolean;
}

function silenceFromRow(r: SilenceRow): SilenceRecord {
  return {
    id: r.id,
    matchers: json<SilenceMatcherRecord[]>(r.matchers),
    startsAt: ms(r.starts_at),
    endsAt: ms(r.ends_at),
    updatedAt: ms(r.updated_at),
    createdBy: r.created_by,
    comment: r.comment,
    expireWhenResolved: Boolean(r.expire_when_resolved),
  };
}

export class SqlSilenceRepository implements SilenceRepository {
  constructor(private readonly sql: SqlClient) {}

  async upsert(s: SilenceRecord): Promise<void> {
    await this.sql.query(
      `INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at, created_by, comment, expire_when_resolved)
       VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET matchers = EXCLUDED.matchers, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
         updated_at = EXCLUDED.updated_at, created_by = EXCLUDED.created_by, comment = EXCLUDED.comment,
         expire_when_resolved = EXCLUDED.expire_when_resolved`,
      [s.id, JSON.stringify(s.matchers), ts(s.startsAt), ts(s.endsAt), ts(s.updatedAt), s.createdBy, s.comment, s.expireWhenResolved],
    );
  }

  async get(id: string): Promise<SilenceRecord | undefined> {
    const rows = await this.sql.query<SilenceRow>('SELECT * FROM silences WHERE id = $1', [id]);
    return rows[0] ? silenceFromRow(rows[0]) : undefined;
  }

  async list(): Promise<SilenceRecord[]> {
    return (await this.sql.query<SilenceRow>('SELECT * FROM silences ORDER BY updated_at, id')).map(silenceFromRow);
  }

  async listUpdatedSince(sinceMs: number): Promise<SilenceRecord[]> {
    return (await this.sql.query<SilenceRow>('SELECT * FROM silences WHERE updated_at > $1 ORDER BY updated_at, id', [ts(sinceMs)])).map(silenceFromRow);
  }

  async deleteEndedBefore(beforeMs: number): Promise<number> {
    const rows = await this.sql.query('DELETE FROM silences WHERE ends_at < $1 RETURNING id', [ts(beforeMs)]);
    return rows.length;
  }
}

interface NflogRow {
  receiver: string;
  group_key: string;
  sent_at: unknown;
  firing: unknown;
  resolved: unknown;
  expires_at: unknown;
}

/** Rows per multi-row INSERT (keeps the parameter count far below PostgreSQL's 65535). */
const BATCH = 500;

export class SqlNflogRepository implements NflogRepository {
  constructor(private readonly sql: SqlClient) {}

  async upsert(entries: readonly NflogRecord[]): Promise<void> {
    if (entries.length === 0) return;
    // The last entry for a key wins; one statement may not touch a row twice.
    const byKey = new Map<string, NflogRecord>();
    for (const e of entries) byKey.set(`${e.receiver}\u0000${e.groupKey}`, e);
    const list = [...byKey.values()];
    await this.sql.transaction(async (tx) => {
      for (let off = 0; off < list.length; off += BATCH) {
        const chunk = list.slice(off, off + BATCH);
        const params: unknown[] = [];
        const values: string[] = [];
        for (const e of chunk) {
          const b = params.length;
          values.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}::text[], $${b + 5}::text[], $${b + 6})`);
          params.push(e.receiver, e.groupKey, ts(e.timestamp), e.firing, e.resolved, ts(e.expiresAt));
        }
        await tx.query(
          `INSERT INTO notification_log (receiver, group_key, sent_at, firing, resolved, expires_at) VALUES ${values.join(', ')}
           ON CONFLICT (receiver, group_key) DO UPDATE SET sent_at = EXCLUDED.sent_at, firing = EXCLUDED.firing,
             resolved = EXCLUDED.resolved, expires_at = EXCLUDED.expires_at`,
          params,
        );
      }
    });
  }

  async list(): Promise<NflogRecord[]> {
    const rows = await this.sql.query<NflogRow>('SELECT * FROM notification_log ORDER BY receiver, group_key');
    return rows.map((r) => ({
      receiver: r.receiver,
      groupKey: r.group_key,
      timestamp: ms(r.sent_at),
      firing: textArray(r.firing),
      resolved: textArray(r.resolved),
      expiresAt: ms(r.expires_at),
    }));
  }

  async deleteExpired(nowMs: number): Promise<number> {
    return (await this.sql.query('DELETE FROM notification_log WHERE expires_at < $1 RETURNING receiver', [ts(nowMs)])).length;
  }
}

interface AlertRow {
  fingerprint: string;
  starts_at: unknown;
  ends_at: unknown;
  labels: unknown;
  annotations: unknown;
  generator_url: string;
  first_seen: unknown;
  last_seen: unknown;
}

interface NotificationRow {
  id: unknown;
  sent_at: unknown;
  receiver: string;
  integration: string;
  integration_index: number;
  group_key: string;
  status: string;
  fingerprints: unknown;
  success: boolean;
  error: string;
  attempts: number;
  duration_ms: number;
}

export class SqlHistoryRepository implements HistoryRepository {
  constructor(private readonly sql: SqlClient) {}

  async upsertAlerts(records: readonly AlertHistoryRecord[]): Promise<void> {
    if (records.length === 0) return;
    const byKey = new Map<string, AlertHistoryRecord>();
    for (const r of records) {
      const k = `${r.fingerprint}\u0000${r.startsAt}`;
      const prev = byKey.get(k);
      // Coalesce updates to one episode: keep the earliest firstSeen, the latest of the rest.
      byKey.set(k, prev ? { ...r, firstSeen: Math.min(prev.firstSeen, r.firstSeen), endsAt: r.endsAt ?? prev.endsAt } : r);
    }
    const list = [...byKey.values()];
    await this.sql.transaction(async (tx) => {
      for (let off = 0; off < list.length; off += BATCH) {
        const chunk = list.slice(off, off + BATCH);
        const params: unknown[] = [];
        const values: string[] = [];
        for (const r of chunk) {
          const b = params.length;
          values.push(`($${b + 1}, $${b + 2}, $${b + 3}::timestamptz, $${b + 4}::jsonb, $${b + 5}::jsonb, $${b + 6}, $${b + 7}, $${b + 8})`);
          params.push(r.fingerprint, ts(r.startsAt), r.endsAt === undefined ? null : ts(r.endsAt), JSON.stringify(r.labels), JSON.stringify(r.annotations), r.generatorURL, ts(r.firstSeen), ts(r.lastSeen));
        }
        await tx.query(
          `INSERT INTO alert_history (fingerprint, starts_at, ends_at, labels, annotations, generator_url, first_seen, last_seen)
           VALUES ${values.join(', ')}
           ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
             ends_at = COALESCE(EXCLUDED.ends_at, alert_history.ends_at),
             annotations = EXCLUDED.annotations, generator_url = EXCLUDED.generator_url,
             first_seen = LEAST(alert_history.first_seen, EXCLUDED.first_seen),
             last_seen = GREATEST(alert_history.last_seen, EXCLUDED.last_seen)`,
          params,
        );
      }
    });
  }

  async insertNotifications(records: readonly NotificationHistoryRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.sql.transaction(async (tx) => {
      for (let off = 0; off < records.length; off += BATCH) {
        const chunk = records.slice(off, off + BATCH);
        const params: unknown[] = [];
        const values: string[] = [];
        for (const r of chunk) {
          const b = params.length;
          values.push(`(${Array.from({ length: 11 }, (_, i) => `$${b + i + 1}${i === 6 ? '::text[]' : ''}`).join(', ')})`);
          params.push(ts(r.time), r.receiver, r.integration, r.integrationIndex, r.groupKey, r.status, r.fingerprints, r.success, r.error, r.attempts, r.durationMs);
        }
        await tx.query(
          `INSERT INTO notification_history (sent_at, receiver, integration, integration_index, group_key, status, fingerprints, success, error, attempts, duration_ms)
           VALUES ${values.join(', ')}`,
          params,
        );
      }
    });
  }

  async queryAlerts(q: AlertHistoryQuery): Promise<AlertHistoryRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    // Overlap with [start, end]: started before end, and not ended before start.
    if (q.end !== undefined) where.push(`starts_at <= ${p(ts(q.end))}`);
    if (q.start !== undefined) where.push(`(ends_at IS NULL OR ends_at >= ${p(ts(q.start))})`);
    if (q.fingerprints) where.push(`fingerprint = ANY(${p(q.fingerprints)}::text[])`);
    if (q.state === 'firing') where.push('ends_at IS NULL');
    if (q.state === 'resolved') where.push('ends_at IS NOT NULL');
    if (q.labelsEqual && Object.keys(q.labelsEqual).length) where.push(`labels @> ${p(JSON.stringify(q.labelsEqual))}::jsonb`);
    const limit = Math.max(1, Math.min(q.limit ?? 1000, 100_000));
    const rows = await this.sql.query<AlertRow>(
      `SELECT * FROM alert_history ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY starts_at DESC, fingerprint LIMIT ${limit}`,
      params,
    );
    return rows.map((r) => ({
      fingerprint: r.fingerprint,
      startsAt: ms(r.starts_at),
      endsAt: r.ends_at === null || r.ends_at === undefined ? undefined : ms(r.ends_at),
      labels: json<Record<string, string>>(r.labels),
      annotations: json<Record<string, string>>(r.annotations),
      generatorURL: r.generator_url,
      firstSeen: ms(r.first_seen),
      lastSeen: ms(r.last_seen),
    }));
  }

  async queryNotifications(q: NotificationHistoryQuery): Promise<NotificationHistoryRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (q.start !== undefined) where.push(`sent_at >= ${p(ts(q.start))}`);
    if (q.end !== undefined) where.push(`sent_at <= ${p(ts(q.end))}`);
    if (q.receiver !== undefined) where.push(`receiver = ${p(q.receiver)}`);
    if (q.groupKey !== undefined) where.push(`group_key = ${p(q.groupKey)}`);
    if (q.success !== undefined) where.push(`success = ${p(q.success)}`);
    if (q.fingerprints) where.push(`fingerprints && ${p(q.fingerprints)}::text[]`);
    const limit = Math.max(1, Math.min(q.limit ?? 1000, 100_000));
    const rows = await this.sql.query<NotificationRow>(
      `SELECT * FROM notification_history ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY sent_at DESC, id DESC LIMIT ${limit}`,
      params,
    );
    return rows.map((r) => ({
      id: Number(r.id),
      time: ms(r.sent_at),
      receiver: r.receiver,
      integration: r.integration,
      integrationIndex: Number(r.integration_index),
      groupKey: r.group_key,
      status: r.status === 'resolved' ? 'resolved' : 'firing',
      fingerprints: textArray(r.fingerprints),
      success: Boolean(r.success),
      error: r.error,
      attempts: Number(r.attempts),
      durationMs: Number(r.duration_ms),
    }));
  }

  async prune(beforeMs: number): Promise<{ alerts: number; notifications: number }> {
    return this.sql.transaction(async (tx) => {
      const a = await tx.query('DELETE FROM alert_history WHERE ends_at IS NOT NULL AND ends_at < $1 RETURNING fingerprint', [ts(beforeMs)]);
      const n = await tx.query('DELETE FROM notification_history WHERE sent_at < $1 RETURNING id', [ts(beforeMs)]);
      return { alerts: a.length, notifications: n.length };
    });
  }
}
