/**
 * Real scrape targets: Debian's node, redis and postgres exporters, started on free ports on
 * 127.0.0.1 (stopped by PID afterwards) and scraped by Vigil. Redis (127.0.0.1:6379) and
 * PostgreSQL (127.0.0.1:5432, database test, trust auth) must be running, as on CI.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MemoryStorage } from '../storage/index.ts';
import { ScrapeManager } from './index.ts';
import { jobsFromYaml, silentLogger, storedSamples, waitFor } from './testing.ts';
import { freePort } from '../../test/helpers/free-port.ts';

const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
});


async function startExporter(bin: string, args: (port: number) => string[], env: Record<string, string> = {}): Promise<string> {
  const port = await freePort();
  const c = spawn(bin, args(port), { stdio: 'ignore', env: { ...process.env, ...env } });
  children.push(c);
  await waitFor(`${bin} listening on ${port}`, async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/metrics`)).ok;
    } catch {
      return false;
    }
  }, 15000);
  return `127.0.0.1:${port}`;
}

const EXPORTERS = {
  node: '/usr/bin/prometheus-node-exporter',
  redis: '/usr/bin/prometheus-redis-exporter',
  postgres: '/usr/bin/prometheus-postgres-exporter',
};

describe('scraping the real exporters', () => {
  test('node, redis and postgres exporters: up, their series, their metadata', async (t) => {
    const missing = Object.values(EXPORTERS).filter((b) => !existsSync(b));
    if (missing.length) {
      t.skip(`not installed: ${missing.join(', ')} (Debian prometheus-*-exporter packages; .ci/run installs them)`);
      return;
    }
    const node = await startExporter(EXPORTERS.node, (p) => [`--web.listen-address=127.0.0.1:${p}`, '--collector.disable-defaults', '--collector.cpu', '--collector.meminfo', '--collector.loadavg', '--collector.filesystem']);
    const redis = await startExporter(EXPORTERS.redis, (p) => [`--web.listen-address=127.0.0.1:${p}`, '--redis.addr=redis://127.0.0.1:6379']);
    const pg = await startExporter(EXPORTERS.postgres, (p) => [`--web.listen-address=127.0.0.1:${p}`], {
      DATA_SOURCE_NAME: 'postgresql://postgres@127.0.0.1:5432/test?sslmode=disable',
    });
    const store = new MemoryStorage();
    const m = new ScrapeManager({ appendable: store, logger: silentLogger });
    try {
      await m.applyConfig(
        jobsFromYaml(
          `scrape_configs:\n` +
            `  - job_name: node\n    scrape_interval: 2s\n    static_configs: [{targets: ['${node}']}]\n` +
            `  - job_name: redis\n    scrape_interval: 2s\n    static_configs: [{targets: ['${redis}']}]\n` +
            `  - job_name: postgres\n    scrape_interval: 2s\n    static_configs: [{targets: ['${pg}']}]\n`,
        ),
      );
      // A slow scrape on a loaded machine may time out once; every exporter must come up.
      await waitFor('every exporter up', () => m.loops().every((l) => l.health === 'up'), 20000).catch((e: Error) => {
        throw new Error(`${e.message}: ${m.loops().map((l) => `${l.job.name} ${l.health} ${l.lastError}`).join('; ')}`);
      });
      for (const job of ['node', 'redis', 'postgres']) assert.ok((await storedSamples(store, 'up', { job }))[0]!.v.includes(1), job);

      const cpu = await storedSamples(store, 'node_cpu_seconds_total', { job: 'node', mode: 'idle' });
      assert.ok(cpu.length >= 1 && cpu[0]!.v[0]! > 0);
      const memTotal = (await storedSamples(store, 'node_memory_MemTotal_bytes'))[0]!.v[0]!;
      const { totalmem } = await import('node:os');
      assert.ok(Math.abs(memTotal - totalmem()) / totalmem() < 0.05, `MemTotal ${memTotal} vs os.totalmem ${totalmem()}`);
      assert.equal((await storedSamples(store, 'redis_up'))[0]!.v[0], 1);
      assert.ok((await storedSamples(store, 'redis_connected_clients'))[0]!.v[0]! >= 1);
      assert.ok((await storedSamples(store, 'redis_memory_used_bytes'))[0]!.v[0]! > 0);
      assert.equal((await storedSamples(store, 'pg_up'))[0]!.v[0], 1);
      assert.ok((await storedSamples(store, 'pg_settings_max_connections'))[0]!.v[0]! > 0);

      const meta = m.targetMetadata([], 'node_cpu_seconds_total');
      assert.equal(meta[0]?.type, 'counter');
      assert.equal(meta[0]?.help, 'Seconds the CPUs spent in each mode.');
      const scraped = (await storedSamples(store, 'scrape_samples_scraped', { job: 'redis' }))[0]!.v[0]!;
      assert.ok(scraped > 50, `redis exporter exposes many samples (${scraped})`);
    } finally {
      await m.stop();
    }
  });
});
