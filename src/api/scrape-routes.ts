/**
 * Scrape targets and their metadata, as Prometheus serves them: `GET /api/v1/targets`
 * (`state=active|dropped|any`, `scrapePool=<job>`) and `GET /api/v1/targets/metadata`
 * (`match_target`, `metric`, `limit`). `/api/v1/metadata` is served by the query routes from
 * `ScrapeManager.metadataMap()`.
 */
import { hostname } from 'node:os';
import type { Context, Hono } from 'hono';
import { errorMessage, formatDuration, type Labels } from '../model/index.ts';
import { parseMetricSelector } from '../promql/index.ts';
import type { ScrapeManager } from '../scrape/index.ts';
import type { ApiDeps } from './deps.ts';
import { errorResponse, successResponse } from './errors.ts';

/** What the target routes need (`ApiDeps.scrape`). */
export type ScrapeApi = Pick<ScrapeManager, 'activeTargets' | 'droppedTargets' | 'targetMetadata'>;

const GO_ZERO_TIME = '0001-01-01T00:00:00Z';
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '0.0.0.0', '[::]']);

/** Prometheus' globalUrl: the scrape URL with a loopback host replaced by this machine's name. */
function globalUrl(scrapeUrl: string): string {
  try {
    const u = new URL(scrapeUrl);
    if (LOCAL_HOSTS.has(u.hostname)) u.hostname = hostname();
    return u.href;
  } catch {
    return scrapeUrl;
  }
}

function labelsJson(l: Labels): Record<string, string> {
  return l.toRecord();
}

export function registerScrapeRoutes(app: Hono, deps: ApiDeps): void {
  const scrape = deps.scrape;
  if (!scrape) return;

  app.get('/api/v1/targets', (c: Context) => {
    const state = (c.req.query('state') ?? '').toLowerCase();
    const pool = c.req.query('scrapePool') || undefined;
    const showActive = state === '' || state === 'any' || state === 'active';
    const showDropped = state === '' || state === 'any' || state === 'dropped';
    const active = showActive
      ? scrape
          .activeTargets(pool)
          .sort((a, b) => (a.scrapePool < b.scrapePool ? -1 : a.scrapePool > b.scrapePool ? 1 : a.scrapeUrl < b.scrapeUrl ? -1 : a.scrapeUrl > b.scrapeUrl ? 1 : 0))
          .map((t) => ({
            discoveredLabels: labelsJson(t.discoveredLabels),
            labels: labelsJson(t.labels),
            scrapePool: t.scrapePool,
            scrapeUrl: t.scrapeUrl,
            globalUrl: globalUrl(t.scrapeUrl),
            lastError: t.lastError,
            lastScrape: t.lastScrape ? new Date(t.lastScrape).toISOString() : GO_ZERO_TIME,
            lastScrapeDuration: t.lastScrapeDurationMs / 1000,
            health: t.health,
            scrapeInterval: formatDuration(t.scrapeIntervalMs),
            scrapeTimeout: formatDuration(t.scrapeTimeoutMs),
          }))
      : [];
    const dropped = showDropped ? scrape.droppedTargets(pool).map((d) => ({ discoveredLabels: labelsJson(d.discoveredLabels), scrapePool: d.scrapePool })) : [];
    // Both lists are always present (empty when not asked for), as Prometheus answers.
    return successResponse(c, { activeTargets: active, droppedTargets: dropped });
  });

  app.get('/api/v1/targets/metadata', (c: Context) => {
    const limitText = c.req.query('limit') ?? '';
    let limit = -1;
    if (limitText !== '') {
      limit = Number(limitText);
      if (!Number.isInteger(limit)) return errorResponse(c, 'bad_data', `limit must be a number`);
    }
    const matchTarget = c.req.query('match_target') ?? '';
    let matchers: ReturnType<typeof parseMetricSelector> = [];
    if (matchTarget !== '') {
      try {
        matchers = parseMetricSelector(matchTarget);
      } catch (e) {
        return errorResponse(c, 'bad_data', `invalid parameter "match_target": ${errorMessage(e)}`);
      }
    }
    const metric = c.req.query('metric') || undefined;
    const entries = scrape.targetMetadata(matchers, metric, limit);
    if (entries.length === 0 && limit !== 0) return errorResponse(c, 'not_found', 'specified metadata not found');
    return successResponse(
      c,
      entries.map((e) => (metric !== undefined ? { target: labelsJson(e.target), type: e.type, help: e.help, unit: e.unit } : { target: labelsJson(e.target), metric: e.metric, type: e.type, help: e.help, unit: e.unit })),
    );
  });
}
