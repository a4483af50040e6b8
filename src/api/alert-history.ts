/**
 * `GET /api/v1/alerts/history`: alert episodes (Alertmanager keeps none) with the notifications
 * that carried them, newest first, in Prometheus' envelope.
 *
 * Parameters: `filter` (repeatable, Alertmanager matcher syntax, e.g. `severity="critical"`),
 * `start`/`end` (RFC 3339 or Unix seconds: episodes active at some point in the range),
 * `state` (`firing` | `resolved`), `receiver` (only episodes notified to it), `fingerprint`,
 * `limit` (default 100, at most 10000).
 */
import type { Context, Hono } from 'hono';
import { errorMessage, parseApiTime } from '../model/index.ts';
import { parseMatcher, type HistoryQuery } from '../alerting/index.ts';
import type { ApiDeps } from './deps.ts';
import { errorResponse, successResponse } from './errors.ts';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function registerAlertHistoryRoutes(app: Hono, deps: ApiDeps): void {
  const svc = deps.alerting;
  if (!svc) return;
  app.get('/api/v1/alerts/history', async (c: Context) => {
    const q: HistoryQuery = {};
    try {
      q.matchers = (c.req.queries('filter') ?? []).map((f) => parseMatcher(f));
      const start = c.req.query('start');
      const end = c.req.query('end');
      if (start) q.start = parseApiTime(start);
      if (end) q.end = parseApiTime(end);
      const state = c.req.query('state');
      if (state !== undefined) {
        if (state !== 'firing' && state !== 'resolved') throw new Error(`invalid state ${JSON.stringify(state)}: use firing or resolved`);
        q.state = state;
      }
      const receiver = c.req.query('receiver');
      if (receiver) q.receiver = receiver;
      const fp = c.req.query('fingerprint');
      if (fp) {
        if (!/^[0-9a-f]{16}$/.test(fp)) throw new Error(`invalid fingerprint ${JSON.stringify(fp)}: 16 hex digits expected`);
        q.fingerprint = fp;
      }
      const limit = c.req.query('limit');
      if (limit !== undefined) {
        if (!/^\d+$/.test(limit) || Number(limit) < 1) throw new Error(`invalid limit ${JSON.stringify(limit)}: a positive integer expected`);
        q.limit = Math.min(Number(limit), 10_000);
      }
      if (q.start !== undefined && q.end !== undefined && q.end < q.start) throw new Error('end timestamp must not be before start time');
    } catch (e) {
      return errorResponse(c, 'bad_data', errorMessage(e));
    }
    if (!svc.history.enabled) return errorResponse(c, 'unavailable', 'alert history needs the state store, which is not configured');
    let entries;
    try {
      entries = await svc.history.query(q);
    } catch (e) {
      return errorResponse(c, 'unavailable', `reading alert history failed: ${errorMessage(e)}`);
    }
    return successResponse(c, entries.map((e) => ({
      fingerprint: e.fingerprint,
      labels: e.labels,
      annotations: e.annotations,
      generatorURL: e.generatorURL,
      state: e.endsAt === undefined ? 'firing' : 'resolved',
      startsAt: iso(e.startsAt),
      endsAt: iso(e.endsAt),
      firstSeen: iso(e.firstSeen),
      lastSeen: iso(e.lastSeen),
      notifications: e.notifications.map((n) => ({
        time: iso(n.time), receiver: n.receiver, integration: n.integration, integrationIndex: n.integrationIndex, status: n.status,
        success: n.success, error: n.error, attempts: n.attempts, durationMs: n.durationMs, groupKey: n.groupKey,
      })),
    })));
  });
}
