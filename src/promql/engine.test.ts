import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { Labels, STALE_NAN, type Matcher } from '../model/index.ts';
import { MemoryStorage, type Querier, type Queryable, type SeriesSet } from '../storage/index.ts';
import { Engine, BadQueryError } from './engine.ts';
import { QueryCanceledError, QueryError, QueryStorageError, QueryTimeoutError, TooManySamplesError } from './errors.ts';
import { queryFunction } from './index.ts';
import type { QueryValue } from './value.ts';

const L = (r: Record<string, string>) => Labels.fromRecord(r);

async function store(series: Array<[Record<string, string>, Array<[number, number]>]>): Promise<MemoryStorage> {
  const s = new MemoryStorage();
  const app = s.appender();
  for (const [labels, points] of series) for (const [t, v] of points) app.append(0, L(labels), t, v);
  await app.commit();
  return s;
}

function vec(v: QueryValue): Array<[string, number]> {
  assert.equal(v.type, 'vector');
  return v.type === 'vector' ? v.samples.map((s) => [s.metric.toString(), s.v]) : [];
}

/** A counter sampled every 15 s: 0, 10, 20, ... */
function counter(n: number, step = 15_000, inc = 10): Array<[number, number]> {
  return Array.from({ length: n }, (_, i) => [i * step, i * inc]);
}

describe('engine: selection', () => {
  it('instant selectors look back 5 minutes (configurable) and stop at stale markers', async () => {
    const s = await store([[{ __name__: 'm' }, [[0, 1], [60_000, 2]]]]);
    const e = new Engine();
    assert.deepEqual(vec((await e.instantQuery(s, 'm', 60_000 + 299_999)).value), [['{__name__="m"}', 2]]);
    assert.deepEqual(vec((await e.instantQuery(s, 'm', 60_000 + 300_000)).value), []);
    const short = new Engine({ lookbackDeltaMs: 30_000 });
    assert.deepEqual(vec((await short.instantQuery(s, 'm', 100_000)).value), []);
    assert.deepEqual(vec((await e.instantQuery(s, 'm', 100_000, { lookbackDeltaMs: 30_000 })).value), []);
    const app = s.appender();
    app.append(0, L({ __name__: 'm' }), 90_000, STALE_NAN);
    await app.commit();
    assert.deepEqual(vec((await e.instantQuery(s, 'm', 100_000)).value), []);
  });

  it('range queries evaluate every step and return series sorted by labels', async () => {
    const s = await store([
      [{ __name__: 'x', b: '2' }, counter(41)],
      [{ __name__: 'x', b: '1' }, counter(41)],
    ]);
    const r = await new Engine().rangeQuery(s, 'x', 60_000, 180_000, 60_000);
    assert.equal(r.value.type, 'matrix');
    if (r.value.type !== 'matrix') return;
    assert.deepEqual(r.value.series.map((x) => x.metric.toString()), ['{__name__="x", b="1"}', '{__name__="x", b="2"}']);
    assert.deepEqual([...r.value.series[0]!.ts], [60_000, 120_000, 180_000]);
    assert.deepEqual([...r.value.series[0]!.vs], [40, 80, 120]);
  });
});

describe('engine: functions', () => {
  let s: MemoryStorage;
  before(async () => {
    const reset = counter(41).map(([t, v]) => [t, t >= 300_000 ? v - 200 : v] as [number, number]);
    s = await store([
      [{ __name__: 'req_total', job: 'a' }, counter(41)],
      [{ __name__: 'req_total', job: 'b' }, reset],
      [{ __name__: 'gauge', job: 'a' }, counter(41).map(([t], i) => [t, i % 3])],
    ]);
  });

  it('rate and increase extrapolate and handle counter resets', async () => {
    const e = new Engine();
    // 10 per 15 s everywhere: 2/3 per second; the reset at 300 s is corrected.
    const r = vec((await e.instantQuery(s, 'rate(req_total[5m])', 600_000)).value);
    assert.equal(r.length, 2);
    for (const [, v] of r) assert.ok(Math.abs(v - 2 / 3) < 1e-9, String(v));
    // Samples 180, 190, 0 (reset), 10 at 270..315 s: 20 counted over 45 s, extrapolated by
    // 10 s to the window start and 5 s to its end.
    const inc = vec((await e.instantQuery(s, 'increase(req_total{job="b"}[1m])', 320_000)).value);
    assert.ok(Math.abs(inc[0]![1] - 80 / 3) < 1e-9, String(inc[0]![1]));
  });

  it('names are dropped by functions and arithmetic, kept by last_over_time and comparisons', async () => {
    const e = new Engine();
    assert.deepEqual(vec((await e.instantQuery(s, 'last_over_time(gauge[1m])', 600_000)).value), [['{__name__="gauge", job="a"}', 1]]);
    assert.deepEqual(vec((await e.instantQuery(s, 'max_over_time(gauge[1m])', 600_000)).value), [['{job="a"}', 2]]);
    assert.deepEqual(vec((await e.instantQuery(s, 'gauge > 0', 600_000)).value), [['{__name__="gauge", job="a"}', 1]]);
    assert.deepEqual(vec((await e.instantQuery(s, 'gauge > bool 0', 600_000)).value), [['{job="a"}', 1]]);
    assert.deepEqual(vec((await e.instantQuery(s, 'gauge * 2', 600_000)).value), [['{job="a"}', 2]]);
  });

  it('duplicate label sets after dropping names are an error', async () => {
    await assert.rejects(new Engine().instantQuery(s, 'abs({__name__=~"req_total|gauge", job="a"})', 600_000), (e: unknown) => e instanceof QueryError && e.message === 'vector cannot contain metrics with the same labelset');
  });

  it('vector matching errors', async () => {
    const e = new Engine();
    await assert.rejects(e.instantQuery(s, 'gauge + on() req_total', 600_000), /^QueryError: found duplicate series for the match group \{\} on the right hand-side of the operation: \[\{__name__="req_total", job="a"\}, \{__name__="req_total", job="b"\}\];many-to-many matching not allowed: matching labels must be unique on one side$/);
    await assert.rejects(e.instantQuery(s, 'req_total + on() vector(1)', 600_000), /^QueryError: multiple matches for labels: many-to-one matching must be explicit \(group_left\/group_right\)/);
  });

  it('sort, sort_desc and topk order instant results', async () => {
    const e = new Engine();
    assert.deepEqual(vec((await e.instantQuery(s, 'sort_desc(req_total)', 600_000)).value).map((x) => x[0]), ['{__name__="req_total", job="a"}', '{__name__="req_total", job="b"}']);
    assert.deepEqual(vec((await e.instantQuery(s, 'sort(req_total)', 600_000)).value).map((x) => x[0]), ['{__name__="req_total", job="b"}', '{__name__="req_total", job="a"}']);
    assert.deepEqual(vec((await e.instantQuery(s, 'topk(1, req_total)', 600_000)).value), [['{__name__="req_total", job="a"}', 400]]);
  });

  it('label_replace expands $1 and ${1} as Go does ($1x names a group "1x")', async () => {
    const e = new Engine();
    const r = vec((await e.instantQuery(s, 'label_replace(gauge, "dst", "[$1x][${1}x][$$]", "job", "(.*)")', 600_000)).value);
    assert.deepEqual(r, [['{__name__="gauge", dst="[][ax][$]", job="a"}', 1]]);
  });

  it('histogram_quantile over classic buckets fixes monotonicity with an info', async () => {
    const h = await store([
      [{ __name__: 'h_bucket', le: '0.1' }, [[0, 10]]],
      [{ __name__: 'h_bucket', le: '1' }, [[0, 8]]],
      [{ __name__: 'h_bucket', le: '+Inf' }, [[0, 20]]],
    ]);
    const r = await new Engine().instantQuery(h, 'histogram_quantile(0.5, h_bucket)', 0);
    assert.deepEqual(vec(r.value), [['{}', 0.1]]);
    assert.equal(r.infos.length, 1);
    assert.match(r.infos[0]!, /^PromQL info: input to histogram_quantile needed to be fixed for monotonicity .* \(1:25\)$/);
  });

  it('annotations: invalid quantile warning, counter info, sort in range queries', async () => {
    const e = new Engine();
    let r = await e.instantQuery(s, 'quantile(2, gauge)', 600_000);
    assert.deepEqual(r.warnings, ['PromQL warning: quantile value should be between 0 and 1, got 2 (1:10)']);
    r = await e.instantQuery(s, 'rate(gauge[5m])', 600_000);
    assert.deepEqual(r.infos, ['PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "gauge" (1:6)']);
    r = await e.rangeQuery(s, 'sort(gauge)', 0, 60_000, 30_000);
    assert.deepEqual(r.warnings, ['PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:1)']);
  });

  it('queryFunction returns samples for rules and templates', async () => {
    const f = queryFunction(new Engine(), s);
    assert.deepEqual((await f('sum(gauge)', 600_000)).map((x) => x.v), [1]);
    assert.deepEqual((await f('1 + 1', 600_000)).map((x) => [x.metric.toString(), x.v]), [['{}', 2]]);
  });
});

/** A store whose selects wait until released, to hold queries in flight. */
class GatedQueryable implements Queryable {
  private gates: Array<() => void> = [];
  selects = 0;
  constructor(private readonly inner: Queryable) {}
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
  querier(mint: number, maxt: number): Querier {
    const q = this.inner.querier(mint, maxt);
    return {
      select: async (ms: readonly Matcher[], hints) => {
        this.selects++;
        await new Promise<void>((r) => this.gates.push(r));
        return q.select(ms, hints);
      },
      labelNames: (m, h) => q.labelNames(m, h),
      labelValues: (n, m, h) => q.labelValues(n, m, h),
      close: () => q.close(),
    };
  }
}

describe('engine: limits', () => {
  let s: MemoryStorage;
  before(async () => {
    s = await store(Array.from({ length: 20 }, (_, i) => [{ __name__: 'm', i: String(i) }, counter(100)] as [Record<string, string>, Array<[number, number]>]));
  });

  it('max samples is a clean error', async () => {
    await assert.rejects(new Engine({ maxSamples: 100 }).rangeQuery(s, 'm', 0, 1_000_000, 15_000), TooManySamplesError);
    const r = await new Engine({ maxSamples: 100_000 }).rangeQuery(s, 'm', 0, 1_000_000, 15_000);
    assert.equal(r.value.type, 'matrix');
  });

  it('timeouts and cancellation are clean errors', async () => {
    await assert.rejects(new Engine({ timeoutMs: -1 }).instantQuery(s, 'sum(m)', 0), QueryTimeoutError);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(new Engine().instantQuery(s, 'sum(m)', 0, { signal: ac.signal }), QueryCanceledError);
  });

  it('too many points per series and bad range parameters are refused', async () => {
    const e = new Engine();
    await assert.rejects(e.rangeQuery(s, 'm', 0, 11_001_000, 1000), (err: unknown) => err instanceof BadQueryError && /11,000 points/.test(err.message));
    await assert.rejects(e.rangeQuery(s, 'm', 0, 1000, 0), BadQueryError);
    await assert.rejects(e.rangeQuery(s, 'm[5m]', 0, 1000, 10), /invalid expression type "range vector" for range query/);
  });

  it('max concurrency queues queries beyond the limit and admits them in order', async () => {
    const gated = new GatedQueryable(s);
    const e = new Engine({ maxConcurrency: 1 });
    const a = e.instantQuery(gated, 'count(m)', 1_000_000);
    const b = e.instantQuery(gated, 'count(m)', 1_000_000);
    while (gated.selects < 1) await new Promise((r) => setImmediate(r));
    assert.equal(e.activeQueries, 1);
    assert.equal(e.queuedQueries, 1);
    assert.equal(gated.selects, 1);
    gated.release();
    while (gated.selects < 2) await new Promise((r) => setImmediate(r));
    gated.release();
    assert.deepEqual(vec((await a).value), [['{}', 20]]);
    assert.deepEqual(vec((await b).value), [['{}', 20]]);
    assert.equal(e.activeQueries, 0);
  });

  it('a query waiting for a slot past its timeout fails with a timeout', async () => {
    const gated = new GatedQueryable(s);
    const e = new Engine({ maxConcurrency: 1 });
    const a = e.instantQuery(gated, 'count(m)', 0);
    while (gated.selects < 1) await new Promise((r) => setImmediate(r));
    await assert.rejects(e.instantQuery(gated, 'count(m)', 0, { timeoutMs: 20 }), (err: unknown) => err instanceof QueryTimeoutError && err.message === 'query timed out in query queue');
    gated.release();
    await a;
  });

  it('self-metrics count queries, samples and failures', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const e = new Engine({ registry, maxSamples: 50 });
    await e.instantQuery(s, 'sum(m)', 1_000_000);
    await assert.rejects(e.rangeQuery(s, 'm', 0, 1_000_000, 15_000), TooManySamplesError);
    const text = await registry.metrics();
    assert.match(text, /^vigil_engine_queries_total 2$/m);
    assert.match(text, /^vigil_engine_query_failures_total\{reason="too_many_samples"\} 1$/m);
    assert.match(text, /^vigil_engine_queries_concurrent_max 20$/m);
    assert.match(text, /^vigil_engine_query_samples_total [1-9]\d*$/m);
    assert.match(text, /^vigil_engine_query_duration_seconds_count 1$/m);
  });

  it('storage failures and warnings reach the caller', async () => {
    const failing: Queryable = {
      querier: () => ({
        select: async (): Promise<SeriesSet> => {
          throw new Error('disk on fire');
        },
        labelNames: async () => [],
        labelValues: async () => [],
        close: () => {},
      }),
    };
    await assert.rejects(new Engine().instantQuery(failing, 'up', 0), (err: unknown) => err instanceof QueryStorageError && err.message === 'expanding series: disk on fire');
    const warning: Queryable = {
      querier: () => ({
        select: async (): Promise<SeriesSet> => ({ series: [], warnings: ['remote read partially failed'] }),
        labelNames: async () => [],
        labelValues: async () => [],
        close: () => {},
      }),
    };
    assert.deepEqual((await new Engine().instantQuery(warning, 'up', 0)).warnings, ['remote read partially failed']);
  });
});
