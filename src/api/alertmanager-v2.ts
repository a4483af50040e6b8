/**
 * Alertmanager's API v2 (its OpenAPI shapes, so amtool, Prometheus and Grafana work): alerts,
 * alert groups, silences, status, receivers. Errors are what Alertmanager answers: the status
 * code with the message as a JSON string. Times are RFC 3339 with milliseconds (UTC).
 * Registered only when the alerting service is present.
 */
import type { Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { compileAnchoredRe2, errorMessage, type Matcher } from '../model/index.ts';
import {
  AlertingError, ZERO_TIME_MS, alertmanagerYaml, parseAlertTime, parseMatcher, silenceState,
  type Alert, type AlertingService, type AlertStatus, type AlertQuery,
} from '../alerting/index.ts';
import type { SilenceMatcherRecord, SilenceRecord } from '../state/index.ts';
import type { ApiDeps } from './deps.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Alertmanager's error answer: the message as a JSON string. */
function amError(c: Context, status: ContentfulStatusCode, message: string): Response {
  c.header('Cache-Control', 'no-store');
  return c.json(message, status);
}

function ok(c: Context, body: unknown): Response {
  c.header('Cache-Control', 'no-store');
  return c.json(body, 200);
}

/** strfmt.DateTime: RFC 3339 with milliseconds, UTC. */
function fmtTime(ms: number): string {
  return new Date(ms === 0 ? ZERO_TIME_MS : ms).toISOString();
}

function boolParam(c: Context, name: string): boolean | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === '') return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new AlertingError('matcher_invalid', `${name} in query must be of type boolean: "${v}"`);
}

function parseFilters(c: Context): Matcher[] {
  return (c.req.queries('filter') ?? []).map((f) => parseMatcher(f));
}

function receiverParam(c: Context): RegExp | undefined {
  const r = c.req.query('receiver');
  if (r === undefined) return undefined;
  try {
    return compileAnchoredRe2(r, { dotAll: false });
  } catch (e) {
    throw new AlertingError('matcher_invalid', `failed to parse receiver param: ${errorMessage(e)}`);
  }
}

function query(c: Context): AlertQuery {
  return {
    matchers: parseFilters(c),
    active: boolParam(c, 'active'),
    silenced: boolParam(c, 'silenced'),
    inhibited: boolParam(c, 'inhibited'),
    unprocessed: boolParam(c, 'unprocessed'),
    receiver: receiverParam(c),
  };
}

function gettableAlert(a: Alert, status: AlertStatus, receivers: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {
    annotations: a.annotations.toRecord(),
    endsAt: fmtTime(a.endsAt),
    fingerprint: a.fingerprint,
    receivers: receivers.map((name) => ({ name })),
    startsAt: fmtTime(a.startsAt),
    status: { inhibitedBy: status.inhibitedBy, silencedBy: status.silencedBy, state: status.state },
    updatedAt: fmtTime(a.updatedAt),
  };
  if (a.generatorURL) out.generatorURL = a.generatorURL;
  out.labels = a.labels.toRecord();
  return out;
}

function gettableSilence(s: SilenceRecord, now: number): Record<string, unknown> {
  return {
    id: s.id,
    status: { state: silenceState(s, now) },
    updatedAt: fmtTime(s.updatedAt),
    comment: s.comment,
    createdBy: s.createdBy,
    endsAt: fmtTime(s.endsAt),
    matchers: s.matchers.map((m) => ({ isEqual: m.type === '=' || m.type === '=~', isRegex: m.type === '=~' || m.type === '!~', name: m.name, value: m.value })),
    startsAt: fmtTime(s.startsAt),
    expireWhenResolved: s.expireWhenResolved,
  };
}

const STATE_ORDER = { active: 1, pending: 2, expired: 3 } as const;

/** Alertmanager's order: active (next to end first), pending (next to start first), expired (most recent first). */
function sortSilences(list: SilenceRecord[], now: number): SilenceRecord[] {
  return list.sort((a, b) => {
    const sa = silenceState(a, now);
    const sb = silenceState(b, now);
    if (sa !== sb) return STATE_ORDER[sa] - STATE_ORDER[sb];
    if (sa === 'active') return a.endsAt - b.endsAt;
    if (sa === 'pending') return a.startsAt - b.startsAt;
    return b.endsAt - a.endsAt;
  });
}

/** A silence passes a filter when, for every filter matcher, it has a matcher with the same name, operator and value. */
function silenceMatchesFilter(s: SilenceRecord, filters: readonly Matcher[]): boolean {
  return filters.every((f) => s.matchers.some((m) => m.name === f.name && m.type === f.type && m.value === f.value));
}

/** The request body, read straight from Node's request when the adapter provides it (the ingest hot path). */
async function bodyText(c: Context): Promise<string> {
  const incoming = (c.env as { incoming?: AsyncIterable<Buffer> & { readableEnded?: boolean } } | undefined)?.incoming;
  if (!incoming || incoming.readableEnded) return c.req.text();
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
}

async function jsonBody(c: Context): Promise<unknown> {
  const text = await bodyText(c);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AlertingError('alert_invalid', `parsing request body failed: ${errorMessage(e)}`);
  }
}

function decodeSilence(raw: unknown): { id?: string; matchers: SilenceMatcherRecord[]; startsAt: number; endsAt: number; createdBy: string; comment: string; expireWhenResolved: boolean } {
  const fail = (m: string): never => {
    throw new AlertingError('silence_invalid', m);
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('silence in body must be an object');
  const o = raw as Record<string, unknown>;
  for (const k of ['matchers', 'startsAt', 'endsAt', 'createdBy', 'comment']) if (o[k] === undefined) fail(`${k} in body is required`);
  if (!Array.isArray(o.matchers)) fail('matchers in body must be of type array');
  const list = o.matchers as unknown[];
  if (list.length < 1) fail('matchers in body should have at least 1 items');
  const matchers = list.map((m, i): SilenceMatcherRecord => {
    if (m === null || typeof m !== 'object') fail(`matchers.${i} in body must be an object`);
    const x = m as Record<string, unknown>;
    if (typeof x.name !== 'string') fail(`matchers.${i}.name in body is required`);
    if (typeof x.value !== 'string') fail(`matchers.${i}.value in body is required`);
    if (typeof x.isRegex !== 'boolean') fail(`matchers.${i}.isRegex in body is required`);
    const isEqual = x.isEqual === undefined ? true : x.isEqual;
    if (typeof isEqual !== 'boolean') fail(`matchers.${i}.isEqual in body must be of type boolean`);
    const type = x.isRegex ? (isEqual ? '=~' : '!~') : isEqual ? '=' : '!=';
    return { name: x.name as string, type, value: x.value as string };
  });
  const startsAt = parseAlertTime(o.startsAt);
  const endsAt = parseAlertTime(o.endsAt);
  if (startsAt === undefined || startsAt === 0) fail(`startsAt in body must be of type date-time: ${JSON.stringify(o.startsAt)}`);
  if (endsAt === undefined || endsAt === 0) fail(`endsAt in body must be of type date-time: ${JSON.stringify(o.endsAt)}`);
  if (typeof o.createdBy !== 'string') fail('createdBy in body must be of type string');
  if (typeof o.comment !== 'string') fail('comment in body must be of type string');
  if (o.id !== undefined && o.id !== '' && typeof o.id !== 'string') fail('id in body must be of type string');
  if (o.expireWhenResolved !== undefined && typeof o.expireWhenResolved !== 'boolean') fail('expireWhenResolved in body must be of type boolean');
  return {
    id: typeof o.id === 'string' && o.id !== '' ? o.id : undefined,
    matchers, startsAt: startsAt!, endsAt: endsAt!, createdBy: o.createdBy as string, comment: o.comment as string,
    expireWhenResolved: (o.expireWhenResolved as boolean | undefined) ?? false,
  };
}

function handle(fn: (c: Context, s: AlertingService) => Promise<Response> | Response, svc: AlertingService) {
  return async (c: Context) => {
    try {
      return await fn(c, svc);
    } catch (e) {
      if (e instanceof AlertingError) {
        if (e.code === 'silence_not_found') return amError(c, 404, e.message);
        return amError(c, 400, e.message);
      }
      return amError(c, 500, errorMessage(e));
    }
  };
}

export function registerAlertmanagerV2Routes(app: Hono, deps: ApiDeps): void {
  const svc = deps.alerting;
  if (!svc) return;

  app.get('/api/v2/status', handle((c, s) => ok(c, {
    cluster: { peers: [], status: 'disabled' },
    config: { original: alertmanagerYaml(s.config) },
    uptime: new Date(s.uptimeStart).toISOString(),
    versionInfo: {
      branch: deps.buildInfo.branch, buildDate: deps.buildInfo.buildDate, buildUser: deps.buildInfo.buildUser,
      goVersion: deps.buildInfo.goVersion, revision: deps.buildInfo.revision, version: deps.buildInfo.version,
    },
  }), svc));

  app.get('/api/v2/receivers', handle((c, s) => ok(c, s.config.receivers.map((r) => ({ name: r.name }))), svc));

  app.get('/api/v2/alerts', handle((c, s) => ok(c, s.listAlerts(query(c)).map((v) => gettableAlert(v.alert, v.status, v.receivers))), svc));

  app.post('/api/v2/alerts', handle(async (c, s) => {
    const body = await jsonBody(c);
    if (!Array.isArray(body)) return amError(c, 400, 'alerts in body must be of type array');
    const now = Date.now();
    const valid: Alert[] = [];
    const errors: string[] = [];
    const resolveTimeout = s.resolveTimeout;
    for (let i = 0; i < body.length; i++) {
      const r = s.decoder.decode(body[i], i, now, resolveTimeout);
      if (typeof r === 'string') errors.push(r);
      else valid.push(r);
    }
    s.metrics.invalidReceived += errors.length;
    s.putAlerts(valid);
    // Alertmanager counts received alerts before validation.
    for (let i = valid.length; i < body.length; i++) s.metrics.firingReceived++;
    if (errors.length) return amError(c, 400, errors.join('; '));
    c.header('Cache-Control', 'no-store');
    return c.body(null, 200);
  }, svc));

  app.get('/api/v2/alerts/groups', handle((c, s) => {
    const { groups, receivers, statuses } = s.listGroups(query(c));
    return ok(c, groups.map((g) => ({
      alerts: g.alerts.map((a) => gettableAlert(a, statuses.get(a.fingerprint)!, receivers.get(a.fingerprint) ?? [])),
      labels: g.labels.toRecord(),
      receiver: { name: g.receiver },
    })));
  }, svc));

  app.get('/api/v2/silences', handle((c, s) => {
    const filters = parseFilters(c);
    const now = Date.now();
    const list = sortSilences(s.silences.list().filter((x) => silenceMatchesFilter(x, filters)), now);
    return ok(c, list.map((x) => gettableSilence(x, now)));
  }, svc));

  app.post('/api/v2/silences', handle(async (c, s) => {
    const input = decodeSilence(await jsonBody(c));
    if (input.startsAt >= input.endsAt) return amError(c, 400, 'Failed to create silence: start time must be before end time');
    if (input.endsAt < Date.now()) return amError(c, 400, "Failed to create silence: end time can't be in the past");
    const id = await s.silences.set(input);
    return ok(c, { silenceID: id });
  }, svc));

  app.get('/api/v2/silence/:id', handle((c, s) => {
    const id = c.req.param('id') ?? '';
    if (!UUID.test(id)) return amError(c, 400, `silenceID in path must be of type uuid: "${id}"`);
    const sil = s.silences.get(id);
    if (!sil) return amError(c, 404, 'silence not found');
    return ok(c, gettableSilence(sil, Date.now()));
  }, svc));

  app.delete('/api/v2/silence/:id', handle(async (c, s) => {
    const id = c.req.param('id') ?? '';
    if (!UUID.test(id)) return amError(c, 400, `silenceID in path must be of type uuid: "${id}"`);
    try {
      await s.silences.expire(id);
    } catch (e) {
      // Alertmanager 0.25 answers an unknown id here with 500 (its spec has no 404 for DELETE).
      if (e instanceof AlertingError && e.code === 'silence_not_found') return amError(c, 500, e.message);
      throw e;
    }
    c.header('Cache-Control', 'no-store');
    return c.body(null, 200);
  }, svc));
}
