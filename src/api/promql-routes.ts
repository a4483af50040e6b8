/**
 * The Prometheus query API (v1): `/api/v1/query`, `/query_range`, `/series`, `/labels`,
 * `/label/<name>/values`, `/metadata`, `/query_exemplars`, `/format_query`, `/parse_query`.
 * Parameters come from the URL and, for POST, from an `application/x-www-form-urlencoded`
 * body (body first, as Go's FormValue does). Shapes, status codes and error types are
 * Prometheus': `bad_data` 400, `execution` 422, `timeout` 503, `canceled` 499, `internal` 500.
 */
import type { Context, Hono } from 'hono';
import { MAX_TIME_MS, MIN_TIME_MS, errorMessage, isValidLabelName, parseApiDuration, parseApiTime, type Matcher } from '../model/index.ts';
import type { Queryable, SeriesSet } from '../storage/index.ts';
import { mergeSeriesSets } from '../storage/index.ts';
import {
  BadQueryError, ParseError, QueryCanceledError, QueryError, QueryStorageError, QueryTimeoutError, TooManySamplesError, astToJson, formatQuery, labelsJson, parseMetricSelector,
  queryDataJson, seriesCount, type Engine, type QueryResult,
} from '../promql/index.ts';
import type { ApiDeps } from './deps.ts';
import { errorResponse, type ApiErrorType } from './errors.ts';

/** Metric metadata (`/api/v1/metadata`): metric name → distinct (type, help, unit) entries. */
export type MetadataSource = () => Map<string, Array<{ type: string; help: string; unit: string }>>;

/** What the query API needs; `ApiDeps.promql`. */
export interface PromqlApiDeps {
  engine: Engine;
  queryable: Queryable;
  metadata?: MetadataSource;
  /** Current time (ms); defaults to Date.now. */
  now?: () => number;
}

class ParamError extends Error {
  constructor(readonly errorType: ApiErrorType, message: string) {
    super(message);
  }
}

function invalidParam(name: string, err: unknown): ParamError {
  return new ParamError('bad_data', `invalid parameter "${name}": ${errorMessage(err)}`);
}

interface Params {
  get(name: string): string;
  all(name: string): string[];
  has(name: string): boolean;
}

async function params(c: Context): Promise<Params> {
  const url = new URL(c.req.url);
  const values = new Map<string, string[]>();
  const add = (k: string, v: string): void => {
    const a = values.get(k);
    if (a) a.push(v);
    else values.set(k, [v]);
  };
  if (c.req.method === 'POST' || c.req.method === 'PUT') {
    const ct = c.req.header('content-type') ?? '';
    if (ct.startsWith('application/x-www-form-urlencoded')) {
      const body = await c.req.text();
      for (const [k, v] of new URLSearchParams(body)) add(k, v);
    }
  }
  for (const [k, v] of url.searchParams) add(k, v);
  return {
    get: (name) => values.get(name)?.[0] ?? '',
    all: (name) => values.get(name) ?? [],
    has: (name) => values.has(name),
  };
}

function json(c: Context, data: string, r?: { warnings?: readonly string[]; infos?: readonly string[] }): Response {
  let body = `{"status":"success","data":${data}`;
  if (r?.warnings?.length) body += `,"warnings":${JSON.stringify(r.warnings)}`;
  if (r?.infos?.length) body += `,"infos":${JSON.stringify(r.infos)}`;
  body += '}';
  return c.body(body, 200, { 'Content-Type': 'application/json' });
}

/** Maps engine errors to Prometheus' API error types. */
function engineError(c: Context, e: unknown): Response {
  if (e instanceof ParamError) return errorResponse(c, e.errorType, e.message);
  if (e instanceof ParseError || e instanceof BadQueryError) return errorResponse(c, 'bad_data', `invalid parameter "query": ${e.message}`);
  if (e instanceof QueryTimeoutError) return errorResponse(c, 'timeout', e.message);
  if (e instanceof QueryCanceledError) return errorResponse(c, 'canceled', e.message);
  if (e instanceof QueryStorageError) return errorResponse(c, 'internal', e.message);
  if (e instanceof QueryError || e instanceof TooManySamplesError) return errorResponse(c, 'execution', e.message);
  return errorResponse(c, 'internal', errorMessage(e));
}

function parseTimeParam(p: Params, name: string, def: number): number {
  const v = p.get(name);
  if (v === '') return def;
  try {
    return parseApiTime(v);
  } catch (e) {
    throw invalidParam(name, `Invalid time value for '${name}': ${errorMessage(e)}`);
  }
}

function parseLimit(p: Params, name = 'limit'): number {
  const s = p.get(name);
  if (s === '') return 0;
  if (!/^[+-]?\d+$/.test(s)) throw invalidParam(name, `strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (n < 0) throw invalidParam(name, 'limit must be non-negative');
  return n;
}

/** Metadata limits: absent means no limit (-1); 0 yields an empty result, like Prometheus. */
function parseMetadataLimit(p: Params, name: string): number {
  const s = p.get(name);
  if (s === '') return -1;
  if (!/^[+-]?\d+$/.test(s)) throw new ParamError('bad_data', `${name} must be a number`);
  return Number(s);
}

function parseTimeout(p: Params): number | undefined {
  const s = p.get('timeout');
  if (s === '') return undefined;
  try {
    return parseApiDuration(s);
  } catch (e) {
    throw invalidParam('timeout', e);
  }
}

function parseLookback(p: Params): number | undefined {
  const s = p.get('lookback_delta');
  if (s === '') return undefined;
  try {
    return parseApiDuration(s);
  } catch (e) {
    throw new ParamError('bad_data', `error parsing lookback delta duration: ${errorMessage(e)}`);
  }
}

/**
 * Parses `match[]` values; each set needs one matcher that does not match the empty string.
 * `/api/v1/series` prefixes errors with the parameter name (`wrap`), labels and label values do
 * not (as in Prometheus).
 */
function parseMatchers(values: readonly string[], wrap: boolean): Matcher[][] {
  const fail = (e: unknown): ParamError => (wrap ? invalidParam('match[]', e) : new ParamError('bad_data', errorMessage(e)));
  const sets: Matcher[][] = [];
  for (const v of values) {
    try {
      sets.push(parseMetricSelector(v));
    } catch (e) {
      throw fail(e);
    }
  }
  for (const ms of sets) {
    if (!ms.some((m) => !m.matchesEmpty)) throw fail('match[] must contain at least one non-empty matcher');
  }
  return sets;
}

function queryResponse(c: Context, r: QueryResult, limit: number): Response {
  const warnings = [...r.warnings];
  if (limit > 0 && seriesCount(r.value) > limit) warnings.push('results truncated due to limit');
  return json(c, queryDataJson(r.value, limit), { warnings, infos: r.infos });
}

export function registerPromqlRoutes(app: Hono, deps: ApiDeps): void {
  const q = deps.promql;
  if (!q) return;
  const now = q.now ?? (() => Date.now());

  const instant = async (c: Context): Promise<Response> => {
    try {
      const p = await params(c);
      const limit = parseLimit(p);
      const t = parseTimeParam(p, 'time', now());
      const timeoutMs = parseTimeout(p);
      const lookbackDeltaMs = parseLookback(p);
      const r = await q.engine.instantQuery(q.queryable, p.get('query'), t, { timeoutMs, lookbackDeltaMs, signal: c.req.raw.signal });
      return queryResponse(c, r, limit);
    } catch (e) {
      return engineError(c, e);
    }
  };
  app.get('/api/v1/query', instant);
  app.post('/api/v1/query', instant);

  const range = async (c: Context): Promise<Response> => {
    try {
      const p = await params(c);
      const limit = parseLimit(p);
      let start: number;
      let end: number;
      let step: number;
      try {
        start = parseApiTime(p.get('start'));
      } catch (e) {
        throw invalidParam('start', e);
      }
      try {
        end = parseApiTime(p.get('end'));
      } catch (e) {
        throw invalidParam('end', e);
      }
      if (end < start) throw invalidParam('end', 'end timestamp must not be before start time');
      try {
        step = parseApiDuration(p.get('step'));
      } catch (e) {
        throw invalidParam('step', e);
      }
      if (step <= 0) throw invalidParam('step', 'zero or negative query resolution step widths are not accepted. Try a positive integer');
      if ((end - start) / step > 11_000) {
        throw new ParamError('bad_data', 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
      }
      const timeoutMs = parseTimeout(p);
      const lookbackDeltaMs = parseLookback(p);
      // The query text goes to the engine as sent, so that warning positions refer to it.
      // Prometheus 2.x reports range-query parse errors without the parameter prefix.
      const r = await q.engine.rangeQuery(q.queryable, p.get('query'), start, end, step, { timeoutMs, lookbackDeltaMs, signal: c.req.raw.signal }).catch((e: unknown) => {
        throw e instanceof BadQueryError || e instanceof ParseError ? new ParamError('bad_data', e.message) : e;
      });
      return queryResponse(c, r, limit);
    } catch (e) {
      return engineError(c, e);
    }
  };
  app.get('/api/v1/query_range', range);
  app.post('/api/v1/query_range', range);

  const series = async (c: Context): Promise<Response> => {
    try {
      const p = await params(c);
      if (p.all('match[]').length === 0) throw new ParamError('bad_data', 'no match[] parameter provided');
      const limit = parseLimit(p);
      const start = parseTimeParam(p, 'start', MIN_TIME_MS);
      const end = parseTimeParam(p, 'end', MAX_TIME_MS);
      const sets = parseMatchers(p.all('match[]'), true);
      const querier = q.queryable.querier(start, end);
      try {
        const results: SeriesSet[] = [];
        for (const ms of sets) results.push(await querier.select(ms, { start, end, func: 'series', limit: limit > 0 ? limit + 1 : undefined }));
        const merged = sets.length > 1 ? mergeSeriesSets(results) : results[0]!;
        const warnings = [...merged.warnings];
        let list = merged.series.map((s) => s.labels);
        if (limit > 0 && list.length > limit) {
          list = list.slice(0, limit);
          warnings.push('results truncated due to limit');
        }
        return json(c, `[${list.map(labelsJson).join(',')}]`, { warnings });
      } finally {
        querier.close();
      }
    } catch (e) {
      return engineError(c, e instanceof ParamError ? e : new QueryStorageError(errorMessage(e), e));
    }
  };
  app.get('/api/v1/series', series);
  app.post('/api/v1/series', series);

  const labelNames = async (c: Context): Promise<Response> => {
    try {
      const p = await params(c);
      const limit = parseLimit(p);
      const start = parseTimeParam(p, 'start', MIN_TIME_MS);
      const end = parseTimeParam(p, 'end', MAX_TIME_MS);
      const sets = parseMatchers(p.all('match[]'), false);
      const querier = q.queryable.querier(start, end);
      try {
        const names = new Set<string>();
        if (sets.length === 0) for (const n of await querier.labelNames(undefined, { limit: limit > 0 ? limit + 1 : undefined })) names.add(n);
        for (const ms of sets) for (const n of await querier.labelNames(ms, { limit: limit > 0 ? limit + 1 : undefined })) names.add(n);
        return valuesResponse(c, [...names].sort(), limit);
      } finally {
        querier.close();
      }
    } catch (e) {
      return engineError(c, e instanceof ParamError ? e : new QueryStorageError(errorMessage(e), e));
    }
  };
  app.get('/api/v1/labels', labelNames);
  app.post('/api/v1/labels', labelNames);

  app.get('/api/v1/label/:name/values', async (c) => {
    try {
      let name = c.req.param('name');
      if (name.startsWith('U__')) name = unescapeLabelName(name);
      if (!isValidLabelName(name)) throw new ParamError('bad_data', `invalid label name: ${JSON.stringify(name)}`);
      const p = await params(c);
      const limit = parseLimit(p);
      const start = parseTimeParam(p, 'start', MIN_TIME_MS);
      const end = parseTimeParam(p, 'end', MAX_TIME_MS);
      const sets = parseMatchers(p.all('match[]'), false);
      const querier = q.queryable.querier(start, end);
      try {
        const values = new Set<string>();
        if (sets.length === 0) for (const v of await querier.labelValues(name, undefined, { limit: limit > 0 ? limit + 1 : undefined })) values.add(v);
        for (const ms of sets) for (const v of await querier.labelValues(name, ms, { limit: limit > 0 ? limit + 1 : undefined })) values.add(v);
        return valuesResponse(c, [...values].sort(), limit);
      } finally {
        querier.close();
      }
    } catch (e) {
      return engineError(c, e instanceof ParamError ? e : new QueryStorageError(errorMessage(e), e));
    }
  });

  app.get('/api/v1/metadata', async (c) => {
    try {
      const p = await params(c);
      const limit = parseMetadataLimit(p, 'limit');
      const perMetric = parseMetadataLimit(p, 'limit_per_metric');
      const metric = p.get('metric');
      const all = q.metadata?.() ?? new Map();
      const out: Record<string, unknown> = {};
      let n = 0;
      for (const name of [...all.keys()].sort()) {
        if (metric !== '' && name !== metric) continue;
        if (limit >= 0 && n >= limit) break;
        const entries = all.get(name)!;
        out[name] = perMetric >= 0 ? entries.slice(0, perMetric) : entries;
        n++;
      }
      return json(c, JSON.stringify(out));
    } catch (e) {
      return engineError(c, e);
    }
  });

  const exemplars = async (c: Context): Promise<Response> => {
    try {
      const p = await params(c);
      parseTimeParam(p, 'start', MIN_TIME_MS);
      parseTimeParam(p, 'end', MAX_TIME_MS);
      // Prometheus reports exemplar query parse errors without the parameter prefix.
      try {
        q.engine.parse(p.get('query'));
      } catch (e) {
        throw new ParamError('bad_data', errorMessage(e));
      }
      // Vigil does not store exemplars yet: the result is always empty.
      return json(c, '[]');
    } catch (e) {
      return engineError(c, e);
    }
  };
  app.get('/api/v1/query_exemplars', exemplars);
  app.post('/api/v1/query_exemplars', exemplars);

  const format = async (c: Context): Promise<Response> => {
    try {
      const p = await params(c);
      let text: string;
      try {
        text = formatQuery(p.get('query'), q.engine.opts.parseOptions);
      } catch (e) {
        throw invalidParam('query', e);
      }
      return json(c, JSON.stringify(text));
    } catch (e) {
      return engineError(c, e);
    }
  };
  app.get('/api/v1/format_query', format);
  app.post('/api/v1/format_query', format);

  const parse = async (c: Context): Promise<Response> => {
    try {
      const p = await params(c);
      let ast: unknown;
      try {
        ast = astToJson(q.engine.parse(p.get('query')));
      } catch (e) {
        throw invalidParam('query', e);
      }
      return json(c, JSON.stringify(ast));
    } catch (e) {
      return engineError(c, e);
    }
  };
  app.get('/api/v1/parse_query', parse);
  app.post('/api/v1/parse_query', parse);
}

function valuesResponse(c: Context, values: string[], limit: number): Response {
  if (limit > 0 && values.length > limit) return json(c, JSON.stringify(values.slice(0, limit)), { warnings: ['results truncated due to limit'] });
  return json(c, JSON.stringify(values));
}

/** Prometheus' `U__` label-name escaping in URLs: `_` is `__`, `_<hex>_` is a code point. */
function unescapeLabelName(s: string): string {
  let out = '';
  const body = s.slice(3);
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '_') {
      out += ch;
      continue;
    }
    if (body[i + 1] === '_') {
      out += '_';
      i++;
      continue;
    }
    const end = body.indexOf('_', i + 1);
    if (end < 0) return s;
    const cp = Number.parseInt(body.slice(i + 1, end), 16);
    if (!Number.isFinite(cp)) return s;
    out += String.fromCodePoint(cp);
    i = end;
  }
  return out;
}
