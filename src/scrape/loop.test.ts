import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { isStaleNaN, Labels } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { ScrapeManager } from './index.ts';
import { jobsFromYaml, silentLogger, startTestServer, storedSamples, waitFor, type TestServer } from './testing.ts';

const servers: TestServer[] = [];
const managers: ScrapeManager[] = [];
after(async () => {
  await Promise.all(managers.map((m) => m.stop()));
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(body: () => string | Buffer, headers: Record<string, string> = { 'Content-Type': 'text/plain; version=0.0.4' }): Promise<TestServer> {
  const s = await startTestServer((_req, res) => {
    res.writeHead(200, headers);
    res.end(body());
  });
  servers.push(s);
  return s;
}

function manager(store: MemoryStorage): ScrapeManager {
  const m = new ScrapeManager({ appendable: store, logger: silentLogger });
  managers.push(m);
  return m;
}

function oneJob(hostPort: string, extra = '', interval = '200ms'): string {
  return `scrape_configs:\n  - job_name: test\n    scrape_interval: ${interval}\n    scrape_timeout: ${interval}\n${extra}    static_configs:\n      - targets: ['${hostPort}']\n        labels: {env: prod}\n`;
}

describe('scrape loop', () => {
  test('samples, target labels, the five synthetic series, metadata', async () => {
    const s = await serve(() => '# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\nhttp_requests_total{code="200"} 7\nhttp_requests_total{code="500"} 2\n# TYPE temp gauge\ntemp 21.5\n');
    const store = new MemoryStorage();
    const m = manager(store);
    await m.applyConfig(jobsFromYaml(oneJob(s.hostPort)));
    const [loop] = m.loops();
    void loop;
    // The machine is shared: a scrape may time out under load, so look at successful scrapes only.
    const okScrapes = async () => {
      const up = (await storedSamples(store, 'up'))[0];
      return up ? Array.from(up.v.keys()).filter((i) => up.v[i] === 1) : [];
    };
    await waitFor('two successful scrapes', async () => (await okScrapes()).length >= 2);
    const [first, second] = await okScrapes();
    const up = (await storedSamples(store, 'up'))[0]!;
    const reqs = await storedSamples(store, 'http_requests_total');
    assert.equal(reqs.length, 2);
    assert.deepEqual(reqs[0]!.labels.toRecord(), { __name__: 'http_requests_total', code: '200', env: 'prod', instance: s.hostPort, job: 'test' });
    assert.equal(reqs[0]!.v[0], 7);
    assert.deepEqual(up.labels.toRecord(), { __name__: 'up', env: 'prod', instance: s.hostPort, job: 'test' });
    assert.equal((await storedSamples(store, 'scrape_samples_scraped'))[0]!.v[first!], 3);
    assert.equal((await storedSamples(store, 'scrape_samples_post_metric_relabeling'))[0]!.v[first!], 3);
    const added = (await storedSamples(store, 'scrape_series_added'))[0]!.v;
    assert.equal(added[first!], 3);
    assert.equal(added[second!], 0, 'a later scrape adds no series');
    assert.ok((await storedSamples(store, 'scrape_duration_seconds'))[0]!.v[first!]! >= 0);
    // Every sample of one scrape carries the scrape's start time.
    assert.equal(reqs[0]!.t[0], up.t[first!]);
    assert.deepEqual(m.targetMetadata([], 'http_requests_total').map((e) => [e.metric, e.type, e.help]), [['http_requests_total', 'counter', 'Requests.']]);
    assert.deepEqual(m.metadata('temp'), { temp: [{ type: 'gauge', help: '', unit: '' }] });
    // Prometheus' request headers.
    const req = s.requests[0]!;
    assert.match(String(req.headers.accept), /^application\/openmetrics-text;version=1.0.0,/);
    assert.equal(req.headers['x-prometheus-scrape-timeout-seconds'], '0.2');
    assert.equal(req.headers['accept-encoding'], 'gzip');
  });

  test('stale markers when a series disappears, and the steady state reuses cached label sets', async () => {
    let gone = false;
    const s = await serve(() => (gone ? 'a 1\n' : 'a 1\nb{x="y"} 2\n'));
    const store = new MemoryStorage();
    const m = manager(store);
    await m.applyConfig(jobsFromYaml(oneJob(s.hostPort)));
    const loop = m.loops()[0]!;
    await waitFor('scrapes', async () => (await storedSamples(store, 'b'))[0]?.t.length! >= 2);
    const cached = loop.cache.labels[1];
    await waitFor('another scrape', async () => (await storedSamples(store, 'b'))[0]?.t.length! >= 3);
    assert.equal(loop.cache.labels[1], cached, 'the cached label set object is reused');
    gone = true;
    await waitFor('stale marker', async () => {
      const b = (await storedSamples(store, 'b'))[0]!;
      return isStaleNaN(b.v[b.v.length - 1]!);
    });
    const staleCount = (v: Float64Array) => {
      let n = 0;
      for (let i = 0; i < v.length; i++) if (isStaleNaN(v[i]!)) n++;
      return n;
    };
    assert.equal(staleCount((await storedSamples(store, 'a'))[0]!.v), 0);
    assert.equal(staleCount((await storedSamples(store, 'b'))[0]!.v), 1, 'exactly one stale marker');
  });

  test('honor_labels false renames conflicts to exported_*, true keeps the exposed value', async () => {
    const body = () => 'm{job="exposed",instance="i1",exported_job="x"} 1\n';
    const s = await serve(body);
    for (const honor of [false, true]) {
      const store = new MemoryStorage();
      const m = manager(store);
      await m.applyConfig(jobsFromYaml(oneJob(s.hostPort, `    honor_labels: ${honor}\n`)));
      await waitFor('scrape', async () => (await storedSamples(store, 'm')).length > 0);
      const l = (await storedSamples(store, 'm'))[0]!.labels.toRecord();
      // Conflicts are renamed shortest name first; exported_job is taken by the exposition, so job's value moves one level further.
      if (!honor) assert.deepEqual(l, { __name__: 'm', env: 'prod', exported_exported_job: 'exposed', exported_instance: 'i1', exported_job: 'x', instance: s.hostPort, job: 'test' });
      else assert.deepEqual(l, { __name__: 'm', env: 'prod', exported_job: 'x', instance: 'i1', job: 'exposed' });
      await m.stop();
    }
  });

  test('honor_timestamps, metric_relabel_configs, OpenMetrics with gzip', async () => {
    const om = '# TYPE c counter\n# HELP c Count.\nc_total 5 1500000000.5 # {trace_id="abc"} 1 1500000000.1\nc_created 1400000000\n# TYPE drop_me gauge\ndrop_me 1\n# EOF\n';
    const s = await serve(() => gzipSync(om), { 'Content-Type': 'application/openmetrics-text; version=1.0.0', 'Content-Encoding': 'gzip' });
    for (const honor of [true, false]) {
      const store = new MemoryStorage();
      const m = manager(store);
      const extra = `    honor_timestamps: ${honor}\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_.*\n        action: drop\n`;
      await m.applyConfig(jobsFromYaml(oneJob(s.hostPort, extra)));
      await waitFor('scrape', async () => (await storedSamples(store, 'up')).length > 0);
      const c = (await storedSamples(store, 'c_total'))[0]!;
      if (honor) assert.equal(c.t[0], 1500000000500);
      else assert.ok(c.t[0]! > 1700000000000);
      assert.equal((await storedSamples(store, 'c_created'))[0]!.v[0], 1400000000);
      assert.equal((await storedSamples(store, 'drop_me')).length, 0);
      assert.equal((await storedSamples(store, 'scrape_samples_scraped'))[0]!.v[0], 3);
      assert.equal((await storedSamples(store, 'scrape_samples_post_metric_relabeling'))[0]!.v[0], 2);
      await m.stop();
    }
  });

  test('reload keeps unchanged loops; a removed target goes stale; a changed job restarts', async () => {
    const s1 = await serve(() => 'one 1\n');
    const s2 = await serve(() => 'two 2\n');
    const store = new MemoryStorage();
    const m = manager(store);
    const both = `scrape_configs:\n  - job_name: a\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    static_configs:\n      - targets: ['${s1.hostPort}', '${s2.hostPort}']\n  - job_name: b\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    static_configs:\n      - targets: ['${s1.hostPort}']\n`;
    await m.applyConfig(jobsFromYaml(both));
    await waitFor('scrapes', () => m.loops().every((l) => l.health === 'up'));
    const before = new Map(m.loops().map((l) => [l.target.key + l.job.name, l]));
    await m.applyConfig(jobsFromYaml(both));
    for (const l of m.loops()) assert.equal(before.get(l.target.key + l.job.name), l, 'same loop object after an identical reload');
    // Drop s2 from job a; change job b's interval.
    const changed = both.replace(`, '${s2.hostPort}'`, '').replace(/(job_name: b\n {4}scrape_interval: )100ms/, '$1200ms');
    await m.applyConfig(jobsFromYaml(changed));
    const loops = m.loops();
    assert.equal(loops.length, 2);
    const a = loops.find((l) => l.job.name === 'a')!;
    const b = loops.find((l) => l.job.name === 'b')!;
    assert.equal(before.get(a.target.key + 'a'), a, 'job a target 1 untouched');
    assert.notEqual(before.get(b.target.key + 'b'), b, 'job b restarted');
    assert.equal(b.target.intervalMs, 200);
    await waitFor('end-of-run stale markers for the removed target', async () => {
      const two = (await storedSamples(store, 'two'))[0]!;
      const up = (await storedSamples(store, 'up', { instance: s2.hostPort }))[0]!;
      return isStaleNaN(two.v[two.v.length - 1]!) && isStaleNaN(up.v[up.v.length - 1]!);
    });
  });

  test('scrape start is spread by target hash and keeps its phase', async () => {
    const s = await serve(() => 'x 1\n');
    const store = new MemoryStorage();
    const m = manager(store);
    const targets = Array.from({ length: 20 }, (_, i) => `'${s.hostPort}'`).join(', ');
    void targets;
    const yaml = `scrape_configs:\n  - job_name: spread\n    scrape_interval: 1s\n    static_configs:\n${Array.from({ length: 20 }, (_, i) => `      - targets: ['${s.hostPort}']\n        labels: {i: "${i}"}\n`).join('')}`;
    await m.applyConfig(jobsFromYaml(yaml));
    const offsets = m.loops().map((l) => ((l.target.hash ^ (m as unknown as { offsetSeed: number }).offsetSeed) >>> 0) % 1000);
    assert.ok(new Set(offsets).size >= 15, `phases should differ: ${offsets.join(',')}`);
    const l0 = m.loops()[0]!;
    const now = 1_700_000_000_123;
    const seed = (m as unknown as { offsetSeed: number }).offsetSeed;
    const o = l0.target.offsetMs(now, seed);
    assert.ok(o > 0 && o <= 1000);
    assert.equal((now + o) % 1000, ((l0.target.hash ^ seed) >>> 0) % 1000 || 1000 % 1000);
  });

  test('dropped targets and relabel_configs on targets', async () => {
    const store = new MemoryStorage();
    const m = manager(store);
    const yaml = `scrape_configs:\n  - job_name: r\n    scrape_interval: 1h\n    static_configs:\n      - targets: ['a:9100', 'b:9100', 'c']\n        labels: {team: x}\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: 'b:.*'\n        action: drop\n      - source_labels: [team, __address__]\n        separator: '/'\n        target_label: key\n`;
    await m.applyConfig(jobsFromYaml(yaml));
    const active = m.activeTargets();
    assert.deepEqual(active.map((t) => t.labels.toRecord()), [
      { instance: 'a:9100', job: 'r', key: 'x/a:9100', team: 'x' },
      { instance: 'c:80', job: 'r', key: 'x/c', team: 'x' },
    ]);
    assert.equal(active[1]!.scrapeUrl, 'http://c:80/metrics');
    const dropped = m.droppedTargets();
    assert.equal(dropped.length, 1);
    assert.deepEqual(dropped[0]!.discoveredLabels.toRecord(), {
      __address__: 'b:9100', __metrics_path__: '/metrics', __scheme__: 'http', __scrape_interval__: '1h', __scrape_timeout__: '10s', job: 'r', team: 'x',
    });
    void Labels;
  });
});

describe('metadata cache', () => {
  test('changed HELP/TYPE lines are picked up; a vanished family is forgotten', async () => {
    let body = '# HELP a First.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b counter\nb_total 1\n';
    const s = await serve(() => body);
    const store = new MemoryStorage();
    const m = manager(store);
    await m.applyConfig(jobsFromYaml(oneJob(s.hostPort, '', '100ms')));
    await waitFor('metadata', () => m.metadata('a').a?.[0]?.help === 'First.');
    assert.deepEqual(m.metadata('b'), { b: [{ type: 'counter', help: 'B.', unit: '' }] });
    body = '# HELP a Second.\n# TYPE a counter\na_total 1\n';
    await waitFor('changed metadata', () => m.metadata('a').a?.[0]?.help === 'Second.' && m.metadata('a').a?.[0]?.type === 'counter');
    await waitFor('b forgotten', () => m.metadata('b').b === undefined);
  });
});
