/**
 * The Prometheus query API: shapes, parameters (GET and form POST), error envelopes and status
 * codes; and the real `promtool query` (Debian's prometheus package) as a client.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Hono } from 'hono';
import { Labels, STALE_NAN } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { Engine } from '../promql/index.ts';
import type { ApiDeps } from './deps.ts';
import { listen, type RunningHttpServer } from './listen.ts';
import { registerPromqlRoutes } from './promql-routes.ts';

const T0 = 1_700_000_000_000;

async function loadedStorage(): Promise<MemoryStorage> {
  const s = new MemoryStorage();
  const app = s.appender();
  for (let i = 0; i <= 40; i++) {
    const t = T0 + i * 15_000;
    app.append(0, Labels.fromRecord({ __name__: 'http_requests_total', job: 'api', code: '200' }), t, i * 10);
    app.append(0, Labels.fromRecord({ __name__: 'http_requests_total', job: 'api', code: '500' }), t, i);
    app.append(0, Labels.fromRecord({ __name__: 'up', job: 'api', instance: 'a:1' }), t, 1);
    app.append(0, Labels.fromRecord({ __name__: 'up', job: 'db', instance: 'b:1' }), t, i < 20 ? 1 : 0);
    app.append(0, Labels.fromRecord({ __name__: 'tiny', job: 'x' }), t, 1e-7);
    app.append(0, Labels.fromRecord({ __name__: 'weird', 'label.with.dots': 'v' }), t, i);
  }
  app.append(0, Labels.fromRecord({ __name__: 'gone', job: 'x' }), T0, 5);
  app.append(0, Labels.fromRecord({ __name__: 'gone', job: 'x' }), T0 + 15_000, STALE_NAN);
  await app.commit();
  return s;
}

function makeApp(storage: MemoryStorage, engine = new Engine()): Hono {
  const app = new Hono();
  const deps = {
    promql: {
      engine,
      queryable: storage,
      now: () => T0 + 600_000,
      metadata: () => new Map([['http_requests_total', [{ type: 'counter', help: 'Requests.', unit: '' }]]]),
    },
  } as unknown as ApiDeps;
  registerPromqlRoutes(app, deps);
  return app;
}

async function get(app: Hono, path: string): Promise<{ status: number; body: any }> {
  const res = await app.request(path);
  return { status: res.status, body: await res.json() };
}

async function post(app: Hono, path: string, form: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await app.request(path, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  return { status: res.status, body: await res.json() };
}

const q = (s: string): string => encodeURIComponent(s);

describe('query API', () => {
  let app: Hono;
  before(async () => {
    app = makeApp(await loadedStorage());
  });

  it('instant query returns a vector with string values and float-second timestamps', async () => {
    const r = await get(app, `/api/v1/query?query=${q('sum by (code) (rate(http_requests_total[5m]))')}&time=${(T0 + 600_000) / 1000}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'success');
    assert.equal(r.body.data.resultType, 'vector');
    const byCode = Object.fromEntries(r.body.data.result.map((s: any) => [s.metric.code, s.value]));
    assert.deepEqual(Object.keys(byCode).sort(), ['200', '500']);
    assert.equal(byCode['200'][0], (T0 + 600_000) / 1000);
    assert.equal(typeof byCode['200'][1], 'string');
    assert.ok(Math.abs(Number(byCode['200'][1]) - 10 / 15) < 1e-9);
  });

  it('formats values as Prometheus does (exponent for tiny values, NaN, +Inf; scalars in plain decimal)', async () => {
    let r = await get(app, `/api/v1/query?query=tiny&time=${(T0 + 600_000) / 1000}`);
    assert.equal(r.body.data.result[0].value[1], '1e-07');
    r = await get(app, `/api/v1/query?query=${q('1e-7')}&time=100.5`);
    assert.deepEqual(r.body.data, { resultType: 'scalar', result: [100.5, '0.0000001'] });
    r = await get(app, `/api/v1/query?query=${q('vector(1/0) or vector(0/0)')}&time=100`);
    assert.deepEqual(r.body.data.result[0].value, [100, '+Inf']);
    r = await get(app, `/api/v1/query?query=${q('"a\\"b"')}&time=100`);
    assert.deepEqual(r.body.data, { resultType: 'string', result: [100, 'a"b'] });
  });

  it('time accepts RFC 3339 and defaults to now', async () => {
    const rfc = new Date(T0 + 600_000).toISOString();
    const a = await get(app, `/api/v1/query?query=up&time=${rfc}`);
    const b = await get(app, `/api/v1/query?query=up`);
    assert.deepEqual(a.body, b.body);
    assert.equal(a.body.data.result.length, 2);
  });

  it('range query over GET and form POST; step as duration or seconds', async () => {
    const start = (T0 + 240_000) / 1000;
    const end = (T0 + 540_000) / 1000;
    const a = await get(app, `/api/v1/query_range?query=up&start=${start}&end=${end}&step=60s`);
    const b = await post(app, '/api/v1/query_range', { query: 'up', start: String(start), end: String(end), step: '60' });
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, b.body);
    assert.equal(a.body.data.resultType, 'matrix');
    const db = a.body.data.result.find((s: any) => s.metric.job === 'db');
    assert.deepEqual(db.values.map((p: any) => p[1]), ['1', '0', '0', '0', '0', '0']);
    assert.deepEqual(db.values.map((p: any) => p[0]), [start, start + 60, start + 120, start + 180, start + 240, start + 300]);
  });

  it('rejects bad parameters with bad_data 400 and Prometheus texts', async () => {
    let r = await get(app, `/api/v1/query?query=${q('rate(foo)')}`);
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:6: parse error: expected type range vector in call to function "rate", got instant vector' });
    r = await get(app, `/api/v1/query?query=up&time=yesterday`);
    assert.equal(r.body.error, 'invalid parameter "time": Invalid time value for \'time\': cannot parse "yesterday" to a valid timestamp');
    r = await get(app, `/api/v1/query_range?query=up&start=10&end=5&step=1`);
    assert.equal(r.body.error, 'invalid parameter "end": end timestamp must not be before start time');
    r = await get(app, `/api/v1/query_range?query=up&start=0&end=100&step=0`);
    assert.equal(r.body.error, 'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer');
    r = await get(app, `/api/v1/query_range?query=up&start=0&end=100000&step=1`);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
    r = await get(app, `/api/v1/query_range?query=${q('up[5m]')}&start=0&end=100&step=10`);
    // Prometheus 2.x reports range-query parse and type errors without the parameter prefix.
    assert.equal(r.body.error, 'invalid expression type "range vector" for range query, must be Scalar or instant Vector');
    r = await get(app, `/api/v1/query_range?query=${q('up(')}&start=0&end=100&step=10`);
    assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: '1:4: parse error: unclosed left parenthesis' });
    r = await get(app, `/api/v1/query_range?query=up&end=100&step=10`);
    assert.equal(r.body.error, 'invalid parameter "start": cannot parse "" to a valid timestamp');
    r = await get(app, `/api/v1/query?query=up&limit=-1`);
    assert.equal(r.body.error, 'invalid parameter "limit": limit must be non-negative');
    r = await get(app, `/api/v1/query?query=${q('foo{a=~"("}')}`);
    assert.equal(r.status, 400);
    assert.match(r.body.error, /^invalid parameter "query": 1:5: parse error: error parsing regexp: missing closing \)/);
  });

  it('evaluation errors are execution 422', async () => {
    const r = await get(app, `/api/v1/query?query=${q('up + on() http_requests_total')}&time=${(T0 + 600_000) / 1000}`);
    assert.equal(r.status, 422);
    assert.equal(r.body.errorType, 'execution');
    assert.match(r.body.error, /^found duplicate series for the match group \{\} on the right hand-side of the operation/);
  });

  it('timeouts are timeout 503 and too many samples is execution 422', async () => {
    const storage = await loadedStorage();
    const slow = makeApp(storage, new Engine({ timeoutMs: -1 }));
    let r = await get(slow, `/api/v1/query?query=up`);
    assert.equal(r.status, 503);
    assert.deepEqual(r.body, { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' });
    const small = makeApp(storage, new Engine({ maxSamples: 10 }));
    r = await get(small, `/api/v1/query_range?query=up&start=${T0 / 1000}&end=${(T0 + 600_000) / 1000}&step=15`);
    assert.equal(r.status, 422);
    assert.equal(r.body.error, 'query processing would load too many samples into memory in query execution');
  });

  it('returns warnings and infos beside the data', async () => {
    const r = await get(app, `/api/v1/query?query=${q('rate(up[5m])')}&time=${(T0 + 600_000) / 1000}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.infos, ['PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "up" (1:6)']);
  });

  it('range queries give positions in the query text as sent (several lines)', async () => {
    const text = 'sum(\n  rate(up[5m])\n)';
    const r = await get(app, `/api/v1/query_range?query=${q(text)}&start=${T0 / 1000}&end=${(T0 + 600_000) / 1000}&step=60`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.infos, ['PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "up" (2:8)']);
  });

  it('limit truncates series with a warning', async () => {
    const r = await get(app, `/api/v1/query?query=up&limit=1`);
    assert.equal(r.body.data.result.length, 1);
    assert.deepEqual(r.body.warnings, ['results truncated due to limit']);
  });

  it('series, labels and label values with match[], time bounds and limit', async () => {
    let r = await get(app, `/api/v1/series?match[]=up&match[]=${q('{__name__="gone"}')}`);
    assert.deepEqual(r.body.data, [
      { __name__: 'gone', job: 'x' },
      { __name__: 'up', instance: 'a:1', job: 'api' },
      { __name__: 'up', instance: 'b:1', job: 'db' },
    ]);
    r = await get(app, `/api/v1/series?match[]=up&limit=1`);
    assert.equal(r.body.data.length, 1);
    assert.deepEqual(r.body.warnings, ['results truncated due to limit']);
    r = await get(app, `/api/v1/series?match[]=gone&start=${(T0 + 60_000) / 1000}`);
    assert.deepEqual(r.body.data, []);
    r = await get(app, '/api/v1/series');
    assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: 'no match[] parameter provided' });
    r = await get(app, `/api/v1/series?match[]=${q('{job=~".*"}')}`);
    assert.equal(r.body.error, 'invalid parameter "match[]": match[] must contain at least one non-empty matcher');
    r = await get(app, `/api/v1/series?match[]=${q('up{')}`);
    assert.equal(r.body.error, 'invalid parameter "match[]": 1:4: parse error: unexpected end of input inside braces');
    r = await get(app, `/api/v1/labels?match[]=${q('up{')}`);
    assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: '1:4: parse error: unexpected end of input inside braces' });
    r = await get(app, `/api/v1/label/job/values?match[]=${q('{job=""}')}`);
    assert.equal(r.body.error, 'match[] must contain at least one non-empty matcher');
    r = await get(app, '/api/v1/labels');
    assert.deepEqual(r.body.data, ['__name__', 'code', 'instance', 'job', 'label.with.dots']);
    r = await get(app, `/api/v1/labels?match[]=up`);
    assert.deepEqual(r.body.data, ['__name__', 'instance', 'job']);
    r = await get(app, '/api/v1/label/job/values');
    assert.deepEqual(r.body.data, ['api', 'db', 'x']);
    r = await get(app, `/api/v1/label/__name__/values?match[]=${q('{job="x"}')}`);
    assert.deepEqual(r.body.data, ['gone', 'tiny']);
    r = await get(app, '/api/v1/label/U__label_2e_with_2e_dots/values');
    assert.deepEqual(r.body.data, ['v']);
    r = await post(app, '/api/v1/labels', { 'match[]': 'http_requests_total' });
    assert.deepEqual(r.body.data, ['__name__', 'code', 'job']);
  });

  it('metadata, exemplars, format_query and parse_query', async () => {
    let r = await get(app, '/api/v1/metadata');
    assert.deepEqual(r.body, { status: 'success', data: { http_requests_total: [{ type: 'counter', help: 'Requests.', unit: '' }] } });
    r = await get(app, '/api/v1/metadata?limit=0');
    assert.deepEqual(r.body, { status: 'success', data: {} });
    r = await get(app, '/api/v1/metadata?limit=abc');
    assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: 'limit must be a number' });
    r = await get(app, '/api/v1/metadata?metric=nope');
    assert.deepEqual(r.body, { status: 'success', data: {} });
    r = await get(app, `/api/v1/query_exemplars?query=up&start=0&end=1`);
    assert.deepEqual(r.body, { status: 'success', data: [] });
    r = await get(app, `/api/v1/query_exemplars?query=${q('up(')}`);
    assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: '1:4: parse error: unclosed left parenthesis' });
    r = await get(app, `/api/v1/query_exemplars?query=up&start=abc`);
    assert.deepEqual(r.body, {
      status: 'error',
      errorType: 'bad_data',
      error: `invalid parameter "start": Invalid time value for 'start': cannot parse "abc" to a valid timestamp`,
    });
    r = await get(app, `/api/v1/format_query?query=${q('sum(rate(foo{a="b"}[5m]))by(job)')}`);
    assert.deepEqual(r.body, { status: 'success', data: 'sum by (job) (rate(foo{a="b"}[5m]))' });
    r = await get(app, `/api/v1/format_query?query=${q('foo +')}`);
    assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:6: parse error: unexpected end of input' });
    r = await get(app, `/api/v1/parse_query?query=${q('up == 0')}`);
    assert.equal(r.body.data.type, 'binaryExpr');
    assert.equal(r.body.data.lhs.type, 'vectorSelector');
  });
});

const PROMTOOL = '/usr/bin/promtool';

function haveProm(): boolean {
  return spawnSync(PROMTOOL, ['--version'], { timeout: 10_000 }).status === 0;
}

/** Runs promtool without blocking the event loop (the server under test runs in this process). */
function promtool(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(PROMTOOL, args, { timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('promtool query against the API', { skip: haveProm() ? false : `${PROMTOOL} not installed (Debian package prometheus)` }, () => {
  let server: RunningHttpServer;
  let url: string;
  before(async () => {
    server = await listen(makeApp(await loadedStorage()), '127.0.0.1:0');
    url = `http://127.0.0.1:${server.address.port}`;
  });
  after(async () => {
    await server.close(1000);
  });

  it('query instant prints the vector', async () => {
    const r = await promtool(['query', 'instant', '--time', String((T0 + 600_000) / 1000), url, 'up']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), [
      `up{instance="a:1", job="api"} => 1 @[${(T0 + 600_000) / 1000}]`,
      `up{instance="b:1", job="db"} => 0 @[${(T0 + 600_000) / 1000}]`,
    ]);
  });

  it('query instant reports errors', async () => {
    const r = await promtool(['query', 'instant', url, 'up{']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad_data: invalid parameter "query": 1:4: parse error: unexpected end of input inside braces/);
  });

  it('query range prints the matrix', async () => {
    const r = await promtool(['query', 'range', '--start', String((T0 + 480_000) / 1000), '--end', String((T0 + 600_000) / 1000), '--step', '60s', url, 'up{job="db"}']);
    assert.equal(r.status, 0, r.stderr);
    const s = (T0 + 480_000) / 1000;
    assert.equal(r.stdout.trim(), `up{instance="b:1", job="db"} =>\n0 @[${s}]\n0 @[${s + 60}]\n0 @[${s + 120}]`);
  });

  it('query series and labels', async () => {
    const bounds = ['--start', new Date(T0).toISOString(), '--end', new Date(T0 + 600_000).toISOString()];
    let r = await promtool(['query', 'series', '--match', 'up', ...bounds, url]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['{__name__="up", instance="a:1", job="api"}', '{__name__="up", instance="b:1", job="db"}']);
    r = await promtool(['query', 'labels', ...bounds, url, 'job']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['api', 'db', 'x']);
    r = await promtool(['query', 'instant', '-o', 'json', '--time', String((T0 + 600_000) / 1000), url, 'sum(up)']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [{ metric: {}, value: [(T0 + 600_000) / 1000, '1'] }]);
  });
});
