/**
 * The embedded store's routes, as Prometheus serves them:
 *   GET  /api/v1/status/tsdb                  head statistics and top cardinalities (`limit`, default 10)
 *   POST /api/v1/admin/tsdb/delete_series     `match[]` (repeatable), `start`, `end` → 204
 *   POST /api/v1/admin/tsdb/clean_tombstones  → 204
 * The admin routes (also PUT) answer `{status:"error", errorType:"unavailable", error:"admin
 * APIs disabled"}` with status 500 unless `--web.enable-admin-api` is set, like Prometheus 2.42.
 */
import type { Context, Hono } from 'hono';
import { MAX_TIME_MS, MIN_TIME_MS, errorMessage, parseApiTime, type Matcher } from '../model/index.ts';
import { parseMetricSelector } from '../promql/index.ts';
import type { TsdbStatus } from '../tsdb/index.ts';
import type { ApiDeps } from './deps.ts';
import { errorResponse } from './errors.ts';

/** What the routes need from the store (`ApiDeps.tsdb`). */
export interface TsdbApi {
  status(limit?: number): TsdbStatus;
  deleteSeries(matchers: readonly Matcher[], start: number, end: number): Promise<void>;
  cleanTombstones(): Promise<void>;
}

/** Query and form parameters (form body first, as Go's FormValue does). */
async function formParams(c: Context): Promise<Map<string, string[]>> {
  const values = new Map<string, string[]>();
  const add = (k: string, v: string): void => {
    const a = values.get(k);
    if (a) a.push(v);
    else values.set(k, [v]);
  };
  if (c.req.method === 'POST' || c.req.method === 'PUT') {
    const ct = c.req.header('content-type') ?? '';
    if (ct.startsWith('application/x-www-form-urlencoded')) for (const [k, v] of new URLSearchParams(await c.req.text())) add(k, v);
  }
  for (const [k, v] of new URL(c.req.url).searchParams) add(k, v);
  return values;
}

/** Empty head: Prometheus reports math.MaxInt64 / math.MinInt64, which JSON numbers in JS cannot hold exactly. */
const EMPTY_MIN = '9223372036854775807';
const EMPTY_MAX = '-9223372036854775808';

export function registerTsdbRoutes(app: Hono, deps: ApiDeps): void {
  const tsdb = deps.tsdb;
  if (!tsdb) return;

  app.get('/api/v1/status/tsdb', (c) => {
    const limitText = c.req.query('limit') ?? '';
    let limit = 10;
    if (limitText !== '') {
      if (!/^\d+$/.test(limitText) || Number(limitText) < 1) return errorResponse(c, 'bad_data', `limit must be a positive number`);
      limit = Number(limitText);
    }
    const st = tsdb.status(limit);
    const empty = st.headStats.numSeries === 0;
    const headStats = `{"numSeries":${st.headStats.numSeries},"numLabelPairs":${st.headStats.numLabelPairs},"chunkCount":${st.headStats.chunkCount},"minTime":${empty ? EMPTY_MIN : st.headStats.minTime},"maxTime":${empty ? EMPTY_MAX : st.headStats.maxTime}}`;
    const rest = JSON.stringify({
      seriesCountByMetricName: st.seriesCountByMetricName,
      labelValueCountByLabelName: st.labelValueCountByLabelName,
      memoryInBytesByLabelName: st.memoryInBytesByLabelName,
      seriesCountByLabelValuePair: st.seriesCountByLabelValuePair,
    });
    return c.body(`{"status":"success","data":{"headStats":${headStats},${rest.slice(1)}}`, 200, { 'Content-Type': 'application/json' });
  });

  // Prometheus 2.42 answers this one with 500 (not the 503 `unavailable` usually maps to).
  const disabled = (c: Context): Response => c.json({ status: 'error', errorType: 'unavailable', error: 'admin APIs disabled' }, 500);

  const deleteSeries = async (c: Context): Promise<Response> => {
    if (!deps.adminApiEnabled) return disabled(c);
    const p = await formParams(c);
    const matches = p.get('match[]') ?? [];
    if (matches.length === 0) return errorResponse(c, 'bad_data', 'no match[] parameter provided');
    const time = (name: string, def: number): number | Response => {
      const v = p.get(name)?.[0] ?? '';
      if (v === '') return def;
      try {
        return parseApiTime(v);
      } catch (e) {
        return errorResponse(c, 'bad_data', `invalid parameter "${name}": Invalid time value for '${name}': ${errorMessage(e)}`);
      }
    };
    const start = time('start', MIN_TIME_MS);
    if (typeof start !== 'number') return start;
    const end = time('end', MAX_TIME_MS);
    if (typeof end !== 'number') return end;
    const sets: Matcher[][] = [];
    for (const m of matches) {
      try {
        sets.push(parseMetricSelector(m));
      } catch (e) {
        return errorResponse(c, 'bad_data', `invalid parameter "match[]": ${errorMessage(e)}`);
      }
    }
    try {
      for (const ms of sets) await tsdb.deleteSeries(ms, start, end);
    } catch (e) {
      return errorResponse(c, 'internal', errorMessage(e));
    }
    return c.body(null, 204);
  };

  const cleanTombstones = async (c: Context): Promise<Response> => {
    if (!deps.adminApiEnabled) return disabled(c);
    try {
      await tsdb.cleanTombstones();
    } catch (e) {
      return errorResponse(c, 'internal', errorMessage(e));
    }
    return c.body(null, 204);
  };

  app.post('/api/v1/admin/tsdb/delete_series', deleteSeries);
  app.put('/api/v1/admin/tsdb/delete_series', deleteSeries);
  app.post('/api/v1/admin/tsdb/clean_tombstones', cleanTombstones);
  app.put('/api/v1/admin/tsdb/clean_tombstones', cleanTombstones);
}
