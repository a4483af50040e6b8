/**
 * The redis probe against the real Redis at 127.0.0.1:6379 (keys under a prefix of this test,
 * removed afterwards) and side by side with prometheus-redis-exporter.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { RedisProber, parseInfo } from './redis.ts';
import { probesFromYaml, runProber, startExporter, valueIn } from './testutil.ts';

const ADDR = '127.0.0.1:6379';
const PREFIX = `vigil-probes-test:${process.pid}:`;
let unavailable: string | undefined;
let redis: Redis;

before(async () => {
  redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    unavailable = `Redis at ${ADDR} is not reachable: ${(e as Error).message}`;
  }
});

after(async () => {
  if (!unavailable) {
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
});

function prober(entry = `{address: "${ADDR}"}`): RedisProber {
  return new RedisProber(probesFromYaml(`  redis:\n    - ${entry}\n`).redis[0]!);
}

test('redis_exporter metrics: up, memory, clients, ping, keyspace, instance info', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { out, outcome } = await runProber(prober());
  assert.deepEqual(outcome, { success: true });
  assert.equal(out.get('redis_up'), 1);
  assert.ok(out.get('redis_memory_used_bytes')! > 0);
  assert.ok(out.get('redis_memory_max_bytes')! >= 0);
  assert.ok(out.get('redis_connected_clients')! >= 2, 'this test and the probe are connected');
  assert.ok(out.get('redis_exporter_last_scrape_ping_time_seconds')! > 0);
  assert.ok(out.get('redis_exporter_last_scrape_connect_time_seconds')! > 0);
  assert.equal(out.get('redis_db_keys', { db: 'db15' }) !== undefined, true, 'every configured database is reported');
  const info = parseInfo(await redis.info('server'));
  assert.equal(out.get('redis_instance_info', { redis_version: info.get('redis_version')!, role: 'master', tcp_port: '6379' }), 1);
  const uptime = Number(info.get('uptime_in_seconds'));
  assert.ok(Math.abs(out.get('redis_start_time_seconds')! - (Date.now() / 1000 - uptime)) < 5);
  for (const name of ['redis_keyspace_hits_total', 'redis_keyspace_misses_total', 'redis_evicted_keys_total', 'redis_commands_processed_total', 'redis_instantaneous_ops_per_sec', 'redis_pubsub_channels', 'redis_pubsub_patterns', 'redis_blocked_clients']) {
    assert.ok(out.get(name) !== undefined, name);
  }
  assert.ok(out.get('redis_commands_total', { cmd: 'ping' })! >= 1);
});

test('the figures move: hits, misses, pub/sub channels and patterns, blocked clients', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const p = prober();
  const before = (await runProber(p)).out;
  await redis.set(`${PREFIX}a`, '1');
  for (let i = 0; i < 5; i++) await redis.get(`${PREFIX}a`);
  for (let i = 0; i < 7; i++) await redis.get(`${PREFIX}missing`);
  const sub = new Redis({ host: '127.0.0.1', port: 6379 });
  const blocker = new Redis({ host: '127.0.0.1', port: 6379 });
  try {
    await sub.subscribe(`${PREFIX}ws-fanout-1`, `${PREFIX}ws-fanout-2`);
    await sub.psubscribe(`${PREFIX}room:*`);
    const blocked = blocker.blpop(`${PREFIX}queue`, 5);
    await new Promise((r) => setTimeout(r, 50));
    const afterRun = (await runProber(p)).out;
    assert.ok(afterRun.get('redis_keyspace_hits_total')! - before.get('redis_keyspace_hits_total')! >= 5);
    assert.ok(afterRun.get('redis_keyspace_misses_total')! - before.get('redis_keyspace_misses_total')! >= 7);
    assert.ok(afterRun.get('redis_pubsub_channels')! >= 2);
    assert.ok(afterRun.get('redis_pubsub_patterns')! >= 1);
    assert.ok(afterRun.get('redis_blocked_clients')! >= 1);
    assert.ok(afterRun.get('redis_commands_processed_total')! > before.get('redis_commands_processed_total')!);
    assert.ok(afterRun.get('redis_db_keys', { db: 'db0' })! >= 1);
    await redis.rpush(`${PREFIX}queue`, 'x');
    await blocked;
  } finally {
    sub.disconnect();
    blocker.disconnect();
  }
});

test('bad input: wrong password, unreachable, garbage, a silent server: redis_up 0 with the reason, no crash', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const wrong = await runProber(prober(`{address: "${ADDR}", password: not-the-password}`));
  assert.equal(wrong.out.get('redis_up'), 0);
  assert.match(wrong.outcome.error!, /^redis 127\.0\.0\.1:6379: .*(AUTH|WRONGPASS|password)/i);
  assert.ok(!wrong.outcome.error!.includes('not-the-password'));

  const refused = await runProber(prober('{address: "127.0.0.1:1"}'));
  assert.equal(refused.out.get('redis_up'), 0);
  assert.match(refused.outcome.error!, /ECONNREFUSED/);

  const garbage = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => s.write('this is no RESP\r\n!!!\r\n'));
  });
  const silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const g = await runProber(prober(`{address: "127.0.0.1:${(garbage.address() as AddressInfo).port}"}`), 2000);
    assert.equal(g.out.get('redis_up'), 0);
    assert.ok(g.outcome.error);
    const s = await runProber(prober(`{address: "127.0.0.1:${(silent.address() as AddressInfo).port}"}`), 300);
    assert.equal(s.out.get('redis_up'), 0);
    assert.match(s.outcome.error!, /timed out after 0\.3s|timeout/i);
  } finally {
    garbage.close();
    silent.close();
  }
});

test('side by side with prometheus-redis-exporter: memory within 5%, clients, keys, names and types', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const exporter = await startExporter('/usr/bin/prometheus-redis-exporter', (port) => ['-web.listen-address', `127.0.0.1:${port}`, '-redis.addr', `redis://${ADDR}`, '-ping-on-connect']);
  if (!exporter) return t.skip('prometheus-redis-exporter is not installed (/usr/bin/prometheus-redis-exporter)');
  try {
    await redis.set(`${PREFIX}side`, 'x'.repeat(1000));
    const theirs = await exporter.scrape();
    const { out } = await runProber(prober());
    const mem = valueIn(theirs, 'redis_memory_used_bytes')!;
    assert.ok(Math.abs(out.get('redis_memory_used_bytes')! - mem) / mem < 0.05, `memory: ${out.get('redis_memory_used_bytes')} vs ${mem}`);
    assert.equal(out.get('redis_memory_max_bytes'), valueIn(theirs, 'redis_memory_max_bytes'));
    assert.ok(Math.abs(out.get('redis_connected_clients')! - valueIn(theirs, 'redis_connected_clients')!) <= 2, 'connected clients (each side sees its own connection)');
    assert.equal(out.get('redis_blocked_clients'), valueIn(theirs, 'redis_blocked_clients'));
    // now − uptime, both truncated to seconds, a moment apart: equal within a second.
    assert.ok(Math.abs(out.get('redis_start_time_seconds')! - valueIn(theirs, 'redis_start_time_seconds')!) <= 1);
    assert.ok(Math.abs(out.get('redis_uptime_in_seconds')! - valueIn(theirs, 'redis_uptime_in_seconds')!) <= 2);
    assert.ok(Math.abs(out.get('redis_db_keys', { db: 'db0' })! - valueIn(theirs, 'redis_db_keys', { db: 'db0' })!) <= 5);
    assert.ok(out.get('redis_exporter_last_scrape_ping_time_seconds')! > 0 && valueIn(theirs, 'redis_exporter_last_scrape_ping_time_seconds')! > 0);
    // Every INFO-derived family the exporter writes and Vigil maps has the same name and type.
    let shared = 0;
    for (const [name, meta] of theirs.metadata) {
      if (!out.names.includes(name)) continue;
      shared++;
      const { REDIS_METADATA } = await import('./redis.ts');
      const ours = REDIS_METADATA[name];
      if (ours) assert.equal(ours[0], meta.type === 'unknown' ? 'untyped' : meta.type, `type of ${name}`);
      if (ours && !ours[1].startsWith('Vigil')) assert.equal(ours[1], meta.help, `help of ${name}`);
    }
    assert.ok(shared >= 60, `${shared} families in common`);
    for (const name of ['redis_up', 'redis_memory_used_bytes', 'redis_connected_clients', 'redis_keyspace_hits_total', 'redis_keyspace_misses_total', 'redis_evicted_keys_total', 'redis_pubsub_channels', 'redis_pubsub_patterns', 'redis_commands_total', 'redis_db_keys']) {
      assert.ok(theirs.metadata.has(name) && out.names.includes(name), name);
    }
  } finally {
    await exporter.stop();
  }
});
