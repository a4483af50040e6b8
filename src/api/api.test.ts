import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { CORE_SECTIONS, ConfigManager } from '../config/index.ts';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (res: Response): Promise<any> => res.json();
import { buildHttpApp, createSelfMetricsRegistry, HealthRegistry, processHealthChecks, type ApiDeps } from './index.ts';

async function makeApp(opts: { ready?: boolean } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-api-'));
  const registry = createSelfMetricsRegistry('0.0.0-test');
  const logger = pino({ level: 'silent' });
  const config = new ConfigManager({ file: undefined, sections: CORE_SECTIONS, logger, registry, defaultsYaml: 'global:\n  scrape_interval: 15s\n' });
  await config.load();
  const health = new HealthRegistry({ version: '0.0.0-test', releaseId: '0.0.0-test+abc', serviceId: 'vigil@test', description: 'test' });
  const proc = processHealthChecks({ dataDir });
  proc.checks.forEach((c) => health.register(c));
  health.register(config.healthCheck());
  let ready = opts.ready ?? true;
  const deps: ApiDeps = {
    logger, registry, health, config, dataDir,
    buildInfo: { version: '0.0.0-test', revision: 'abc', branch: 'main', buildUser: 'u@h', buildDate: '20260101-00:00:00', goVersion: 'node20' },
    startTime: Date.now(),
    isReady: () => ready,
    reload: () => config.reload(),
    flags: { 'log.level': 'info' },
  };
  const app = buildHttpApp(deps);
  return {
    app, health, dataDir, registry,
    setReady: (r: boolean) => (ready = r),
    cleanup: () => {
      proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

test('/health is liveness in application/health+json', async () => {
  const t = await makeApp();
  try {
    const res = await t.app.request('/health');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/health+json');
    const body = await json(res);
    assert.deepEqual(Object.keys(body).sort(), ['description', 'releaseId', 'serviceId', 'status', 'version']);
    assert.equal(body.status, 'pass');
  } finally {
    t.cleanup();
  }
});

test('/health/detailed reports every check in the draft format', async () => {
  const t = await makeApp();
  try {
    const res = await t.app.request('/health/detailed');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/health+json');
    const body = await json(res);
    assert.equal(body.status, 'pass');
    assert.deepEqual(Object.keys(body.checks).sort(), ['config:reload', 'datadir:writable', 'disk:freeSpace', 'eventloop:lag', 'memory:heapUsed', 'uptime']);
    for (const [name, results] of Object.entries(body.checks as Record<string, Array<Record<string, unknown>>>)) {
      assert.ok(Array.isArray(results) && results.length > 0, name);
      for (const r of results) {
        assert.ok(['pass', 'warn', 'fail'].includes(r.status as string), name);
        assert.ok(!Number.isNaN(Date.parse(r.time as string)), `${name} has an RFC 3339 time`);
      }
    }
    assert.equal(body.checks['disk:freeSpace'][0].observedUnit, 'percent');
    assert.equal(body.checks['uptime'][0].observedUnit, 's');
  } finally {
    t.cleanup();
  }
});

test('a failing check turns the answer into 503 fail; a warning stays 200', async () => {
  const t = await makeApp();
  try {
    t.health.register({ name: 'queue:depth', run: () => ({ status: 'warn', observedValue: 900, output: 'queue nearly full' }) });
    let res = await t.app.request('/health/detailed');
    assert.equal(res.status, 200);
    let body = await json(res);
    assert.equal(body.status, 'warn');
    assert.match(body.output, /queue:depth: queue nearly full/);

    t.health.register({ name: 'state:connection', run: () => { throw new Error('connection refused'); } });
    t.health.register({ name: 'slow:check', timeoutMs: 50, run: () => new Promise(() => {}) });
    res = await t.app.request('/health/detailed');
    assert.equal(res.status, 503);
    body = await json(res);
    assert.equal(body.status, 'fail');
    assert.equal(body.checks['state:connection'][0].output, 'connection refused');
    assert.match(body.checks['slow:check'][0].output, /timed out after 50 ms/);

    t.health.unregister('state:connection');
    t.health.unregister('slow:check');
    assert.equal((await t.app.request('/health/detailed')).status, 200);
  } finally {
    t.cleanup();
  }
});

test('a data directory that cannot be written fails the health check', async () => {
  const t = await makeApp();
  try {
    rmSync(t.dataDir, { recursive: true, force: true });
    const res = await t.app.request('/health/detailed');
    assert.equal(res.status, 503);
    const body = await json(res);
    assert.equal(body.checks['datadir:writable'][0].status, 'fail');
    assert.match(body.checks['datadir:writable'][0].output, /data directory not writable/);
  } finally {
    t.cleanup();
  }
});

test('/-/ready is 503 until start-up finished; /-/healthy always 200', async () => {
  const t = await makeApp({ ready: false });
  try {
    assert.equal((await t.app.request('/-/ready')).status, 503);
    assert.equal((await t.app.request('/-/healthy')).status, 200);
    t.setReady(true);
    assert.equal((await t.app.request('/-/ready')).status, 200);
  } finally {
    t.cleanup();
  }
});

test('unknown API routes answer with the Prometheus error envelope', async () => {
  const t = await makeApp();
  try {
    const res = await t.app.request('/api/v1/does-not-exist');
    assert.equal(res.status, 404);
    assert.deepEqual(await json(res), { status: 'error', errorType: 'not_found', error: 'no route for GET /api/v1/does-not-exist' });
  } finally {
    t.cleanup();
  }
});

test('/metrics counts requests by route and passes promtool check metrics', async (ctx) => {
  const t = await makeApp();
  try {
    await t.app.request('/health');
    await t.app.request('/health');
    await t.app.request('/api/v1/nothing');
    const res = await t.app.request('/metrics');
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^http_requests_total\{method="GET",route="\/health",code="200"\} 2$/m);
    assert.match(text, /^http_requests_total\{method="GET",route="unmatched",code="404"\} 1$/m);
    assert.match(text, /^http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/health",code="200"\} \d+$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.match(text, /^vigil_config_last_reload_successful 1$/m);
    const which = spawnSync('promtool', ['--version']);
    if (which.error) {
      ctx.skip('promtool is not installed (apt-get install prometheus); .ci/run installs it');
      return;
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text });
    assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  } finally {
    t.cleanup();
  }
});

test('status endpoints: buildinfo, flags, config', async () => {
  const t = await makeApp();
  try {
    const bi = await json(await t.app.request('/api/v1/status/buildinfo'));
    assert.equal(bi.status, 'success');
    assert.equal(bi.data.version, '0.0.0-test');
    const flags = await json(await t.app.request('/api/v1/status/flags'));
    assert.equal(flags.data['log.level'], 'info');
    const cfg = await json(await t.app.request('/api/v1/status/config'));
    assert.match(cfg.data.yaml, /scrape_interval: 15s/);
  } finally {
    t.cleanup();
  }
});
