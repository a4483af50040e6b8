import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseConfig } from '../config/index.ts';
import { describeStateContract, dropSchema, openTestPGlite, openTestPostgres, pgliteTemplate, postgresAvailable, tempDir, testSchemaName, TEST_POSTGRES_URL } from './testing.ts';
import { PGliteStateStore } from './pglite.ts';
import { PostgresStateStore } from './postgres.ts';
import { StateError } from './errors.ts';
import { stateSection } from './config.ts';
import { openStateStore } from './open.ts';
import type { StateStore } from './types.ts';

describeStateContract('pglite', () => openTestPGlite());
describeStateContract('postgres', () => openTestPostgres(), { skip: postgresAvailable });

const CRASH_WRITER = fileURLToPath(new URL('./testdata/crash-writer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the crash writer until it acknowledged `n` writes, kills it with SIGKILL, returns the acknowledged ids. */
async function writeThenKill(args: string[], n: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CRASH_WRITER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const acked: string[] = [];
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`crash writer did not acknowledge ${n} writes in time: ${err}`));
    }, 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) if (l.startsWith('ack ')) acked.push(l.slice(4));
      if (acked.length >= n) {
        clearTimeout(timer);
        // Killed while it is in the middle of further writes.
        child.kill('SIGKILL');
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      if (acked.length < n) reject(new Error(`crash writer exited early: ${err}`));
    });
  });
  assert.equal(await exited, 'SIGKILL');
  return acked;
}

async function assertAllAcknowledged(store: StateStore, acked: string[]): Promise<void> {
  const silences = new Set((await store.silences.list()).map((s) => s.id));
  const nflog = new Set((await store.nflog.list()).map((e) => e.groupKey));
  const lostSilences = acked.filter((id) => !silences.has(id));
  const lostNflog = acked.filter((id) => !nflog.has(id));
  assert.deepEqual(lostSilences, [], 'acknowledged silences lost');
  assert.deepEqual(lostNflog, [], 'acknowledged notification-log entries lost');
}

describe('state: durability and failures', () => {
  test('pglite: every acknowledged write survives kill -9 of the writing process', async () => {
    const dir = tempDir('vigil-crash-');
    const acked = await writeThenKill(['pglite', dir, await pgliteTemplate()], 40);
    // The dead writer's LOCK names a dead PID: the store is taken over and recovers.
    const store = await PGliteStateStore.open({ dir });
    try {
      await assertAllAcknowledged(store, acked);
    } finally {
      await store.close();
    }
  });

  test('postgres: every acknowledged write survives kill -9 of the writing process', async (t) => {
    const reason = await postgresAvailable();
    if (reason) return t.skip(reason);
    const schema = testSchemaName();
    try {
      const acked = await writeThenKill(['postgres', TEST_POSTGRES_URL, schema], 40);
      const store = await PostgresStateStore.open({ url: TEST_POSTGRES_URL, schema });
      try {
        await assertAllAcknowledged(store, acked);
      } finally {
        await store.close();
      }
    } finally {
      await dropSchema(schema);
    }
  });

  test('pglite: data persists across close and reopen; a directory used by a live process is refused', async () => {
    const dir = tempDir('vigil-reopen-');
    const h = await openTestPGlite(dir);
    const now = Date.now();
    await h.store.silences.upsert({ id: 'a3f1c4e2-0000-4000-8000-000000000001', matchers: [{ name: 'a', type: '=', value: 'b' }], startsAt: now, endsAt: now + 1000, updatedAt: now, createdBy: 'x', comment: 'y', expireWhenResolved: true });
    await h.store.close();
    // Another (live) process holds the directory.
    writeFileSync(join(dir, 'LOCK'), `${process.ppid}\n`);
    await assert.rejects(PGliteStateStore.open({ dir }), (e: unknown) => e instanceof StateError && e.code === 'state_unavailable' && e.message.includes(`in use by process ${process.ppid}`));
    writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`);
    const again = await PGliteStateStore.open({ dir });
    try {
      const s = await again.silences.get('a3f1c4e2-0000-4000-8000-000000000001');
      assert.equal(s?.expireWhenResolved, true);
    } finally {
      await again.close();
    }
  });

  test('a closed store rejects use and its health check fails', async () => {
    const h = await openTestPGlite();
    await h.cleanup();
    await assert.rejects(h.store.silences.list(), (e: unknown) => e instanceof StateError);
    const r = await h.store.healthCheck().run();
    assert.equal((Array.isArray(r) ? r[0]! : r).status, 'fail');
  });

  test('postgres: an unreachable server is a clear start-up error', async () => {
    await assert.rejects(
      PostgresStateStore.open({ url: 'postgres://vigil:hunter2@127.0.0.1:1/test', schema: 'vigil', connectTimeoutMs: 1000 }),
      (e: unknown) => e instanceof StateError && e.code === 'state_unavailable' && e.message.includes('cannot connect to the state database') && !e.message.includes('hunter2'),
    );
  });

  test('postgres: one leader among instances sharing a schema; leadership moves when the leader stops', async (t) => {
    const reason = await postgresAvailable();
    if (reason) return t.skip(reason);
    const schema = testSchemaName();
    const a = await PostgresStateStore.open({ url: TEST_POSTGRES_URL, schema, leaderCheckIntervalMs: 100 });
    const b = await PostgresStateStore.open({ url: TEST_POSTGRES_URL, schema, leaderCheckIntervalMs: 100 });
    try {
      assert.equal(a.leader.isLeader(), true);
      assert.equal(b.leader.isLeader(), false);
      const changes: boolean[] = [];
      b.leader.onChange((l) => changes.push(l));
      // Both see the same records.
      const now = Date.now();
      await a.silences.upsert({ id: '5b0f2c1e-0000-4000-8000-000000000002', matchers: [{ name: 'a', type: '=', value: 'b' }], startsAt: now, endsAt: now + 1000, updatedAt: now, createdBy: 'x', comment: '', expireWhenResolved: false });
      assert.equal((await b.silences.list()).length, 1);
      await a.close();
      for (let i = 0; i < 100 && !b.leader.isLeader(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(b.leader.isLeader(), true);
      assert.deepEqual(changes, [true]);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });

  test('state section: embedded by default, postgres with url or url_file, errors name the key', async () => {
    const dir = tempDir('vigil-statecfg-');
    writeFileSync(join(dir, 'db-url'), `${TEST_POSTGRES_URL}\n`);
    const file = join(dir, 'vigil.yml');
    assert.deepEqual(parseConfig('', file, [stateSection]).get(stateSection), {});
    const c = parseConfig('state:\n  postgres:\n    url_file: db-url\n    schema: vigil_x\n', file, [stateSection]).get(stateSection);
    assert.equal(c.postgres?.url.reveal(), TEST_POSTGRES_URL);
    assert.equal(c.postgres?.schema, 'vigil_x');
    assert.equal(JSON.stringify(c), '{"postgres":{"url":"<secret>","schema":"vigil_x","maxConnections":5,"leaderCheckIntervalMs":5000}}');
    assert.throws(() => parseConfig('state:\n  postgres:\n    url: postgres://a\n    url_file: db-url\n', file, [stateSection]), /vigil\.yml:4:15: state\.postgres\.url_file: at most one of url and url_file may be set/);
    assert.throws(() => parseConfig('state:\n  postgres:\n    schema: "bad-name"\n', file, [stateSection]), /state\.postgres: one of url and url_file is required[\s\S]*state\.postgres\.schema: must be a PostgreSQL identifier/);
    assert.throws(() => parseConfig('state:\n  postgress: {}\n', file, [stateSection]), /vigil\.yml:2:3: state\.postgress: unknown key "postgress" \(did you mean "postgres"\?\)/);
  });

  test('openStateStore: the embedded store lives under <data dir>/state by default', async () => {
    const dataDir = tempDir('vigil-open-');
    // Seed the directory from the template so the test does not run initdb again.
    const { cpSync } = await import('node:fs');
    cpSync(await pgliteTemplate(), join(dataDir, 'state', 'pgdata'), { recursive: true });
    const store = await openStateStore({ config: {}, dataDir, logger: pino({ level: 'silent' }) });
    try {
      assert.equal(store.kind, 'pglite');
      assert.equal(store.location, join(dataDir, 'state'));
    } finally {
      await store.close();
    }
  });
});
