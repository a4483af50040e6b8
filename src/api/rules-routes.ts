/**
 * Prometheus' rule and alert endpoints: `GET /api/v1/rules` (filters `type`, `rule_name[]`,
 * `rule_group[]`, `file[]`, `match[]`, `exclude_alerts`), `GET /api/v1/alerts` and
 * `GET /api/v1/alertmanagers`, in Prometheus' JSON shapes. Registered when `deps.rules` is set.
 */
import type { Context, Hono } from 'hono';
import { formatGoTime, matchesAll, type Labels, type Matcher } from '../model/index.ts';
import { parseMetricSelector, formatFloatE } from '../promql/index.ts';
import { AlertingRule, RecordingRule, type Alert, type Group } from '../rules/index.ts';
import type { ApiDeps } from './deps.ts';
import { ApiError, successResponse } from './errors.ts';

function labelsJson(l: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  l.forEach((n, v) => (out[n] = v));
  return out;
}

function alertJson(a: Alert): Record<string, unknown> {
  const o: Record<string, unknown> = { labels: labelsJson(a.labels), annotations: labelsJson(a.annotations), state: a.state, activeAt: formatGoTime(a.activeAt) };
  if (a.keepFiringSince !== 0) o.keepFiringSince = formatGoTime(a.keepFiringSince);
  o.value = formatFloatE(a.value);
  return o;
}

/** Reads a repeated parameter from the query string (and a POSTed form, as Prometheus' r.Form). */
async function params(c: Context, name: string): Promise<string[]> {
  const q = c.req.queries(name) ?? [];
  if (c.req.method === 'POST' && (c.req.header('content-type') ?? '').includes('application/x-www-form-urlencoded')) {
    const body = await c.req.parseBody({ all: true });
    const v = body[name];
    if (Array.isArray(v)) q.push(...v.map(String));
    else if (v !== undefined) q.push(String(v));
  }
  return q;
}

function parseBool(name: string, v: string | undefined): boolean {
  if (v === undefined || v === '') return false;
  const t = ['1', 't', 'T', 'TRUE', 'true', 'True'];
  const f = ['0', 'f', 'F', 'FALSE', 'false', 'False'];
  if (t.includes(v)) return true;
  if (f.includes(v)) return false;
  throw new ApiError('bad_data', `invalid parameter ${JSON.stringify(name)}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

export function registerRulesRoutes(app: Hono, deps: ApiDeps): void {
  const rules = deps.rules;
  if (!rules) return;

  const rulesHandler = async (c: Context) => {
    const typ = ((await params(c, 'type'))[0] ?? '').toLowerCase();
    if (typ !== '' && typ !== 'alert' && typ !== 'record') throw new ApiError('bad_data', `invalid parameter "type": not supported value ${JSON.stringify(typ)}`);
    const returnAlerts = typ === '' || typ === 'alert';
    const returnRecording = typ === '' || typ === 'record';
    const excludeAlerts = parseBool('exclude_alerts', (await params(c, 'exclude_alerts'))[0]);
    const rnSet = new Set(await params(c, 'rule_name[]'));
    const rgSet = new Set(await params(c, 'rule_group[]'));
    const fSet = new Set(await params(c, 'file[]'));
    const matcherSets: Matcher[][] = [];
    for (const m of await params(c, 'match[]')) {
      try {
        matcherSets.push(parseMetricSelector(m));
      } catch (e) {
        throw new ApiError('bad_data', `invalid parameter "match[]": ${(e as Error).message}`);
      }
    }
    const newFilters = rnSet.size > 0 || rgSet.size > 0 || fSet.size > 0 || matcherSets.length > 0;
    const groups: unknown[] = [];
    for (const g of rules.groups()) {
      if (rgSet.size > 0 && !rgSet.has(g.name)) continue;
      if (fSet.size > 0 && !fSet.has(g.file)) continue;
      const out = groupJson(g);
      for (const r of g.rules) {
        if (rnSet.size > 0 && !rnSet.has(r.name)) continue;
        if (matcherSets.length > 0 && !matcherSets.some((ms) => matchesAll(ms, (n) => r.labels.get(n)))) continue;
        const common = {
          health: r.health,
          ...(r.lastError ? { lastError: r.lastError.message } : {}),
          evaluationTime: r.evaluationMs / 1000,
          lastEvaluation: formatGoTime(r.lastEvaluation),
        };
        if (r instanceof AlertingRule) {
          if (!returnAlerts) continue;
          out.rules.push({
            state: r.state(),
            name: r.name,
            query: r.query,
            duration: r.holdDurationMs / 1000,
            keepFiringFor: r.keepFiringForMs / 1000,
            labels: labelsJson(r.labels),
            annotations: labelsJson(r.def.annotations),
            ...(excludeAlerts ? {} : { alerts: r.activeAlerts().map(alertJson) }),
            ...common,
            type: 'alerting',
          });
        } else if (r instanceof RecordingRule) {
          if (!returnRecording) continue;
          out.rules.push({
            name: r.name,
            query: r.query,
            ...(r.labels.isEmpty() ? {} : { labels: labelsJson(r.labels) }),
            ...common,
            type: 'recording',
          });
        }
      }
      // With the filters Prometheus added after 2.42 (rule_name[], rule_group[], file[], match[]),
      // a group whose rules were all filtered out is left out, as documented; with `type` alone,
      // Prometheus 2.42 keeps it with `rules: []`.
      if (newFilters && out.rules.length === 0) continue;
      groups.push(out);
    }
    return successResponse(c, { groups });
  };
  app.get('/api/v1/rules', rulesHandler);

  app.get('/api/v1/alerts', (c) => {
    const alerts: unknown[] = [];
    for (const r of rules.alertingRules()) for (const a of r.activeAlerts()) alerts.push(alertJson(a));
    return successResponse(c, { alerts });
  });

  app.get('/api/v1/alertmanagers', (c) => {
    const active = deps.alertDispatcher?.alertmanagers() ?? [];
    return successResponse(c, { activeAlertmanagers: active.map((a) => ({ url: a.url })), droppedAlertmanagers: [] });
  });
}

function groupJson(g: Group): { name: string; file: string; rules: unknown[]; interval: number; limit: number; evaluationTime: number; lastEvaluation: string } {
  return { name: g.name, file: g.file, rules: [], interval: g.intervalMs / 1000, limit: g.limit, evaluationTime: g.evaluationMs / 1000, lastEvaluation: formatGoTime(g.lastEvaluation) };
}
