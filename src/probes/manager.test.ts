import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { floatBits, isStaleNaN, type HealthCheck, type HealthResult } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { ProbeManager } from './manager.ts';
import { allStale, captureLogger, latest, ManualClock, probesFromYaml, samplesOf, silentLogger } from './testutil.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'vigil-probes-mgr-'));
}

async function withServer(handler: http.RequestListener, fn: (base: string) => Promise<void>): Promise<void> {
  const srv = http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
  } finally {
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
}

test('samples carry job, instance and static labels; a colliding probe label becomes exported_<name>', async () => {
  const dir = tmp();
  try {
    const f = join(dir, 'app.log');
    writeFileSync(f, '');
    const storage = new MemoryStorage();
    const m = new ProbeManager({ appendable: storage, logger: silentLogger() });
    await m.applyConfig(probesFromYaml(`  labels: {env: prod, file: shadowed}\n  log:\n    - job: app-logs\n      instance: web-1\n      files: [${f}]\n      patterns: {error: "(?i)error"}\n`));
    const [st] = m.status();
    await m.runNow(st!.id);
    const series = await samplesOf(storage, 'vigil_log_lines_total');
    assert.equal(series.length, 1);
    assert.deepEqual(series[0]!.labels.toRecord(), {
      __name__: 'vigil_log_lines_total', env: 'prod', exported_file: f, file: 'shadowed', instance: 'web-1', job: 'app-logs', pattern: 'error',
    });
    assert.equal(await latest(storage, 'vigil_probe_success', { job: 'app-logs' }), 1);
    await m.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a series a run no longer produces gets a stale marker (bits 0x7ff0000000000002) at that run', async () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'a.log'), '');
    writeFileSync(join(dir, 'b.log'), '');
    const clock = new ManualClock(1_000_000);
    const storage = new MemoryStorage();
    const m = new ProbeManager({ appendable: storage, logger: silentLogger(), clock });
    await m.applyConfig(probesFromYaml(`  log:\n    - files: [${join(dir, '*.log')}]\n      patterns: {error: error}\n`));
    const id = m.status()[0]!.id;
    await m.runNow(id);
    assert.equal((await samplesOf(storage, 'vigil_log_lines_total')).length, 2);
    unlinkSync(join(dir, 'b.log'));
    clock.t = 1_015_000;
    await m.runNow(id);
    const [b] = await samplesOf(storage, 'vigil_log_lines_total', { file: join(dir, 'b.log') });
    const last = b!.points.at(-1)!;
    assert.equal(last.t, 1_015_000);
    assert.ok(isStaleNaN(last.v));
    assert.deepEqual(floatBits(last.v), [0x7ff00000, 0x00000002]);
    assert.equal(await latest(storage, 'vigil_log_lines_total', { file: join(dir, 'a.log') }), 0);
    assert.ok(!(await allStale(storage, 'vigil_log_lines_total', { file: join(dir, 'a.log') })));
    // A third run writes nothing more for b.
    clock.t = 1_030_000;
    await m.runNow(id);
    const [b2] = await samplesOf(storage, 'vigil_log_lines_total', { file: join(dir, 'b.log') });
    assert.equal(b2!.points.length, 2);
    await m.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reload: unchanged probes keep running, changed ones keep their series, removed ones go stale', async () => {
  const dir = tmp();
  try {
    const keep = join(dir, 'keep.log');
    const change = join(dir, 'change.log');
    const gone = join(dir, 'gone.log');
    for (const f of [keep, change, gone]) writeFileSync(f, '');
    const clock = new ManualClock(2_000_000);
    const storage = new MemoryStorage();
    const m = new ProbeManager({ appendable: storage, logger: silentLogger(), clock });
    const section = (changePatterns: string, withGone: boolean) =>
      probesFromYaml(
        [
          '  log:',
          `    - {job: keep, files: [${keep}], patterns: {error: error}}`,
          `    - {job: change, files: [${change}], patterns: ${changePatterns}}`,
          ...(withGone ? [`    - {job: gone, files: [${gone}], patterns: {error: error}}`] : []),
          '',
        ].join('\n'),
      );
    await m.applyConfig(section('{error: error, warn: warn}', true));
    await m.runAll();
    appendFileSync(keep, 'an error\nanother error\n');
    clock.t += 1000;
    await m.runAll();
    assert.equal(await latest(storage, 'vigil_log_lines_total', { job: 'keep' }), 2);
    const sinceBefore = m.status().find((s) => s.job === 'keep')!.since;

    clock.t += 1000;
    await m.applyConfig(section('{error: error}', false));
    assert.deepEqual(m.status().map((s) => s.job), ['change', 'keep']);
    assert.equal(m.status().find((s) => s.job === 'keep')!.since, sinceBefore, 'the unchanged probe was not restarted');
    assert.ok(await allStale(storage, 'vigil_log_lines_total', { job: 'gone' }), 'removed probe: stale at once');
    assert.ok(await allStale(storage, 'vigil_probe_success', { job: 'gone' }));
    assert.ok(!(await allStale(storage, 'vigil_log_lines_total', { job: 'change', pattern: 'error' })), 'changed probe: its series continue');

    appendFileSync(keep, 'a third error\n');
    clock.t += 1000;
    await m.runAll();
    assert.equal(await latest(storage, 'vigil_log_lines_total', { job: 'keep' }), 3, 'the unchanged probe kept its counters and file position');
    assert.ok(await allStale(storage, 'vigil_log_lines_total', { job: 'change', pattern: 'warn' }), 'a series the new configuration no longer produces goes stale');
    assert.ok(!(await allStale(storage, 'vigil_log_lines_total', { job: 'change', pattern: 'error' })));
    await m.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stop() writes stale markers for every series and closes; start() after stop works again', async () => {
  const dir = tmp();
  try {
    const f = join(dir, 'x.log');
    writeFileSync(f, '');
    const storage = new MemoryStorage();
    const m = new ProbeManager({ appendable: storage, logger: silentLogger() });
    await m.applyConfig(probesFromYaml(`  log: [{files: [${f}], patterns: {e: e}}]\n`));
    await m.runAll();
    await m.stop();
    for (const name of ['vigil_log_lines_total', 'vigil_log_bytes_read_total', 'vigil_probe_success', 'vigil_probe_duration_seconds']) {
      assert.ok(await allStale(storage, name), `${name} is stale after stop()`);
    }
    assert.equal(m.status()[0]!.series, 0);
    await m.runAll();
    assert.equal(await latest(storage, 'vigil_probe_success'), 1, 'series come back after a new run');
    await m.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('start() runs every probe on its own interval until stop()', async () => {
  let hits = 0;
  await withServer(
    (_req, res) => {
      hits++;
      res.end('ok');
    },
    async (base) => {
      const storage = new MemoryStorage();
      const registry = new Registry();
      const m = new ProbeManager({ appendable: storage, logger: silentLogger(), registry });
      await m.applyConfig(probesFromYaml(`  http:\n    - url: ${base}/\n      interval: 50ms\n`));
      m.start();
      const deadline = Date.now() + 10_000;
      while (hits < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await m.stop();
      const after = hits;
      assert.ok(after >= 3, `the probe ran repeatedly (${after} requests)`);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(hits, after, 'no run after stop()');
      const series = await samplesOf(storage, 'probe_success');
      assert.ok(series[0]!.points.filter((p) => p.v === 1).length >= 3);
      const text = await registry.metrics();
      assert.match(text, /vigil_probe_runs_total\{type="http"\} [3-9]|vigil_probe_runs_total\{type="http"\} \d\d/);
      assert.match(text, /vigil_probes\{type="http"\} 1/);
      assert.match(text, /vigil_probe_samples_appended_total \d+/);
    },
  );
});

test('health checks: one per job and type, fail for a critical probe, warn otherwise, registered on the sink', async () => {
  const registered = new Map<string, HealthCheck>();
  const sink = { register: (c: HealthCheck) => registered.set(c.name, c), unregister: (n: string) => registered.delete(n) };
  const storage = new MemoryStorage();
  const { logger, lines } = captureLogger();
  const m = new ProbeManager({ appendable: storage, logger, health: sink });
  await m.applyConfig(
    probesFromYaml(
      [
        '  tcp:',
        '    - {job: db, address: "127.0.0.1:1", critical: true}',
        '    - {job: cache, address: "127.0.0.1:2"}',
        '    - {job: cache, address: "127.0.0.1:3"}',
        '',
      ].join('\n'),
    ),
  );
  assert.deepEqual([...registered.keys()].sort(), ['cache:tcp', 'db:tcp']);
  assert.deepEqual(m.healthChecks().map((c) => c.name), ['cache:tcp', 'db:tcp']);
  const before = (await registered.get('db:tcp')!.run()) as HealthResult[];
  assert.equal(before[0]!.status, 'pass');
  assert.equal(before[0]!.output, 'waiting for the first run');
  await m.runAll();
  const db = (await registered.get('db:tcp')!.run()) as HealthResult[];
  assert.equal(db.length, 1);
  assert.equal(db[0]!.status, 'fail');
  assert.equal(db[0]!.componentId, '127.0.0.1:1');
  assert.match(String(db[0]!.output), /ECONNREFUSED/);
  const cache = (await registered.get('cache:tcp')!.run()) as HealthResult[];
  assert.deepEqual(cache.map((r) => [r.componentId, r.status]), [['127.0.0.1:2', 'warn'], ['127.0.0.1:3', 'warn']]);
  const st = m.status().find((s) => s.job === 'db')!;
  assert.equal(st.health, 'down');
  assert.match(st.lastError, /127\.0\.0\.1:1: connect ECONNREFUSED/);
  assert.ok(lines.some((l) => /"msg":"probe failed"/.test(l) && /ECONNREFUSED/.test(l)), 'a failure is logged with its reason');
  await m.applyConfig(probesFromYaml('  tcp: [{job: db, address: "127.0.0.1:1"}]\n'));
  assert.deepEqual([...registered.keys()], ['db:tcp'], 'checks of removed probes are unregistered');
  await m.stop();
});

test('a probe that hangs is cut at its timeout and reported down with the reason', async () => {
  await withServer(
    () => {
      /* never answers */
    },
    async (base) => {
      const storage = new MemoryStorage();
      const m = new ProbeManager({ appendable: storage, logger: silentLogger() });
      await m.applyConfig(probesFromYaml(`  http:\n    - url: ${base}/slow\n      timeout: 200ms\n`));
      const st = await m.runNow(m.status()[0]!.id);
      assert.equal(st.health, 'down');
      assert.equal(st.lastError, 'probe timed out after 0.2s');
      assert.equal(await latest(storage, 'probe_success'), 0);
      await m.stop();
    },
  );
});

test('a storage that rejects samples does not stop the probe', async () => {
  const dir = tmp();
  try {
    const f = join(dir, 'x.log');
    writeFileSync(f, '');
    const clock = new ManualClock(5_000_000);
    const storage = new MemoryStorage();
    // Another writer already wrote a later sample for one of the probe's series.
    const app = storage.appender();
    const { Labels } = await import('../model/index.ts');
    app.append(0, Labels.fromRecord({ __name__: 'vigil_probe_success', job: 'log', instance: 'i' }), 9_000_000, 1);
    await app.commit();
    const { logger, lines } = captureLogger();
    const m = new ProbeManager({ appendable: storage, logger, clock });
    await m.applyConfig(probesFromYaml(`  log: [{instance: i, files: [${f}], patterns: {e: e}}]\n`));
    await m.runAll();
    assert.equal(await latest(storage, 'vigil_log_lines_total'), 0, 'the other samples were written');
    assert.ok(lines.some((l) => /storage rejected probe samples/.test(l) && /out of order sample/.test(l)));
    await m.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
