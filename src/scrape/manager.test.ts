import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { CORE_SECTIONS, ConfigManager } from '../config/index.ts';
import type { HealthCheck, HealthResult } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { scrapeConfigsSection, startScraping, ScrapeManager } from './index.ts';
import { jobsFromYaml, silentLogger, startTestServer, storedSamples, waitFor, type TestServer } from './testing.ts';

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

class Sink {
  checks = new Map<string, HealthCheck>();
  register(c: HealthCheck): void {
    this.checks.set(c.name, c);
  }
  unregister(name: string): void {
    this.checks.delete(name);
  }
  async run(name: string): Promise<HealthResult[]> {
    const r = await this.checks.get(name)!.run();
    return Array.isArray(r) ? r : [r];
  }
}

describe('scrape service', () => {
  test('wired to the config manager: reloads keep unchanged loops; health per job; self-metrics', async () => {
    const good = await startTestServer((_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('g 1\n');
    });
    servers.push(good);
    const dir = mkdtempSync(join(tmpdir(), 'vigil-scrape-svc-'));
    const file = join(dir, 'vigil.yml');
    const yaml = (extraJob: string) =>
      `global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n` +
      `  - job_name: backend\n    critical: true\n    static_configs: [{targets: ['${good.hostPort}', '127.0.0.1:1']}]\n` +
      `  - job_name: frontend\n    static_configs: [{targets: ['127.0.0.1:2']}]\n` +
      extraJob;
    writeFileSync(file, yaml(''));
    const registry = new Registry();
    const config = new ConfigManager({ file, sections: [...CORE_SECTIONS, scrapeConfigsSection], logger: silentLogger });
    await config.load();
    const store = new MemoryStorage();
    const sink = new Sink();
    const m = await startScraping({ config, appendable: store, logger: silentLogger, registry, health: sink, userAgent: 'Vigil/test' });
    try {
      await waitFor('all targets scraped', () => m.loops().every((l) => l.health !== 'unknown'));
      assert.deepEqual([...sink.checks.keys()].sort(), ['scrape:backend', 'scrape:frontend']);
      const backend = await sink.run('scrape:backend');
      assert.deepEqual(backend.map((r) => r.status).sort(), ['fail', 'pass']);
      const down = backend.find((r) => r.status === 'fail')!;
      assert.match(String(down.output), /connection refused/);
      assert.equal(down.componentId, 'backend/127.0.0.1:1');
      assert.deepEqual((await sink.run('scrape:frontend')).map((r) => r.status), ['warn']);
      assert.equal(m.overallHealth(), 'fail');
      assert.equal(good.requests[0]!.headers['user-agent'], 'Vigil/test');

      const before = m.loops();
      writeFileSync(file, yaml(`  - job_name: extra\n    static_configs: [{targets: ['${good.hostPort}']}]\n`));
      const r = await config.reload();
      assert.equal(r.success, true, r.error);
      assert.deepEqual([...sink.checks.keys()].sort(), ['scrape:backend', 'scrape:extra', 'scrape:frontend']);
      for (const l of before) assert.ok(m.loops().includes(l), `${l.job.name} ${l.target.url} kept its loop`);
      await waitFor('the new job', async () => (await storedSamples(store, 'g', { job: 'extra' })).length > 0);

      const text = await registry.metrics();
      assert.match(text, /vigil_target_scrapes_total \d+/);
      assert.match(text, /vigil_target_scrape_pool_targets\{scrape_job="backend"\} 2/);
      assert.match(text, /vigil_scrape_samples_appended_total [1-9]/);
    } finally {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('target_limit: every target of the job fails with the reason', async () => {
    const s = await startTestServer((_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('x 1\n');
    });
    servers.push(s);
    const store = new MemoryStorage();
    const m = new ScrapeManager({ appendable: store, logger: silentLogger });
    try {
      await m.applyConfig(jobsFromYaml(`scrape_configs:\n  - job_name: lim\n    scrape_interval: 200ms\n    target_limit: 1\n    static_configs: [{targets: ['${s.hostPort}']}, {targets: ['${s.hostPort}'], labels: {b: '1'}}]\n`));
      await waitFor('scrapes', () => m.loops().every((l) => l.health !== 'unknown'));
      for (const l of m.loops()) assert.equal(l.lastError, 'target_limit exceeded (number of targets: 2, limit: 1)');
      assert.equal((await storedSamples(store, 'x')).length, 0);
      assert.equal(s.requests.length, 0, 'no request is made while over the limit');
    } finally {
      await m.stop();
    }
  });
});

describe('a failing store', () => {
  test('append and commit errors mark the target down and the loop keeps going', async () => {
    const s = await startTestServer((_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('x 1\n');
    });
    servers.push(s);
    let broken = true;
    const store = new MemoryStorage();
    const flaky = {
      appender: () => {
        if (broken) throw new Error('disk full');
        return store.appender();
      },
    };
    const m = new ScrapeManager({ appendable: flaky, logger: silentLogger });
    try {
      await m.applyConfig(jobsFromYaml(`scrape_configs:\n  - job_name: s\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    static_configs: [{targets: ['${s.hostPort}']}]\n`));
      const loop = m.loops()[0]!;
      await waitFor('a failed store', () => loop.health === 'down');
      assert.equal(loop.lastError, 'storing the scrape failed: disk full');
      broken = false;
      await waitFor('recovery', () => loop.health === 'up');
      await waitFor('samples', async () => (await storedSamples(store, 'x')).length === 1);
    } finally {
      await m.stop();
    }
  });
});
