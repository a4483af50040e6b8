import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { MemoryStorage } from '../storage/index.ts';
import { ScrapeManager } from '../scrape/index.ts';
import { jobsFromYaml, silentLogger, startTestServer, waitFor, type TestServer } from '../scrape/testing.ts';
import type { ApiDeps } from './deps.ts';
import { registerScrapeRoutes } from './scrape-routes.ts';

const servers: TestServer[] = [];
const managers: ScrapeManager[] = [];
after(async () => {
  await Promise.all(managers.map((m) => m.stop()));
  await Promise.all(servers.map((s) => s.close()));
});

async function setup() {
  const s = await startTestServer((_q, r) => {
    r.writeHead(200, { 'Content-Type': 'text/plain' });
    r.end('# HELP reqs_total Requests.\n# TYPE reqs_total counter\nreqs_total 3\n# TYPE temp gauge\ntemp 1\n');
  });
  servers.push(s);
  const m = new ScrapeManager({ appendable: new MemoryStorage(), logger: silentLogger });
  managers.push(m);
  await m.applyConfig(
    jobsFromYaml(
      `scrape_configs:\n  - job_name: app\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    static_configs: [{targets: ['${s.hostPort}', '127.0.0.1:1'], labels: {env: prod}}]\n` +
        `    relabel_configs:\n      - source_labels: [__address__]\n        regex: '.*:9'\n        action: drop\n` +
        `  - job_name: other\n    scrape_interval: 1h\n    static_configs: [{targets: ['127.0.0.1:9']}]\n    relabel_configs:\n      - source_labels: [__address__]\n        regex: '.*:9'\n        action: drop\n`,
    ),
  );
  await waitFor('both app targets scraped', () => m.loops().filter((l) => l.job.name === 'app').every((l) => l.health !== 'unknown'));
  const app = new Hono();
  registerScrapeRoutes(app, { scrape: m } as unknown as ApiDeps);
  return { app, s, m };
}

describe('GET /api/v1/targets and /api/v1/targets/metadata', () => {
  test('active and dropped targets in Prometheus shape', async () => {
    const { app, s } = await setup();
    const res = await app.request('/api/v1/targets');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; data: { activeTargets: Array<Record<string, unknown>>; droppedTargets: Array<Record<string, unknown>> } };
    assert.equal(body.status, 'success');
    const active = body.data.activeTargets;
    assert.equal(active.length, 2);
    const up = active.find((t) => t.health === 'up')!;
    assert.deepEqual(up.labels, { env: 'prod', instance: s.hostPort, job: 'app' });
    assert.equal(up.scrapePool, 'app');
    assert.equal(up.scrapeUrl, `http://${s.hostPort}/metrics`);
    assert.equal(up.lastError, '');
    assert.equal(up.scrapeInterval, '100ms');
    assert.equal(up.scrapeTimeout, '100ms');
    assert.match(String(up.lastScrape), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(typeof up.lastScrapeDuration, 'number');
    assert.deepEqual((up.discoveredLabels as Record<string, string>).__address__, s.hostPort);
    const down = active.find((t) => t.health === 'down')!;
    assert.match(String(down.lastError), /connection refused/);
    assert.equal(body.data.droppedTargets.length, 1);
    assert.equal((body.data.droppedTargets[0]!.discoveredLabels as Record<string, string>).job, 'other');

    const onlyDropped = (await (await app.request('/api/v1/targets?state=dropped')).json()) as { data: { activeTargets: unknown[]; droppedTargets: unknown[] } };
    assert.deepEqual(onlyDropped.data.activeTargets, []);
    assert.equal(onlyDropped.data.droppedTargets.length, 1);
    const pool = (await (await app.request('/api/v1/targets?scrapePool=other')).json()) as { data: { activeTargets: unknown[]; droppedTargets: unknown[] } };
    assert.equal(pool.data.activeTargets.length, 0);
    assert.equal(pool.data.droppedTargets.length, 1);
  });

  test('targets/metadata: match_target, metric, limit, errors', async () => {
    const { app, s } = await setup();
    const all = (await (await app.request(`/api/v1/targets/metadata?match_target=${encodeURIComponent(`{instance="${s.hostPort}"}`)}`)).json()) as { data: Array<Record<string, unknown>> };
    assert.deepEqual(
      all.data.map((e) => [e.metric, e.type, e.help]).sort(),
      [['reqs_total', 'counter', 'Requests.'], ['temp', 'gauge', '']],
    );
    assert.deepEqual(all.data[0]!.target, { env: 'prod', instance: s.hostPort, job: 'app' });
    const one = (await (await app.request('/api/v1/targets/metadata?metric=temp')).json()) as { data: Array<Record<string, unknown>> };
    assert.deepEqual(one.data, [{ target: { env: 'prod', instance: s.hostPort, job: 'app' }, type: 'gauge', help: '', unit: '' }]);
    const limited = (await (await app.request('/api/v1/targets/metadata?limit=1')).json()) as { data: unknown[] };
    assert.equal(limited.data.length, 1);
    const bad = await app.request('/api/v1/targets/metadata?match_target=' + encodeURIComponent('{job=~"("}'));
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys((await bad.json()) as object).sort(), ['error', 'errorType', 'status']);
    const none = await app.request('/api/v1/targets/metadata?metric=nope');
    assert.equal(none.status, 404);
    assert.equal(((await none.json()) as { error: string }).error, 'specified metadata not found');
  });
});
