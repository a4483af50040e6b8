import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseConfig } from '../config/index.ts';
import { describeStateContract, dropSchema, openTestPGlite, openTestPostgres, pgliteTemplate, postgresAvailable, tempDir, testSchemaName, TEST_POSTGRES_URL } from './testing.ts';
import { PGliteStateStore, pgliteStoreExists } from './pglite.ts';
import { DeferredStateStore } from './deferred.ts';
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

/** The embedded store as `vigil server` opens it: created by the first write. */
function deferredAt(dir: string, template: string): Promise<StateStore> {
  return PGliteStateStore.deferred({ dir, templatePgdata: template });
}

async function health(store: StateStore): Promise<Record<string, unknown>> {
  const r = await store.healthCheck().run();
  return (Array.isArray(r) ? r[0]! : r) as Record<string, unknown>;
}

function silenceAt(now: number, id: string) {
  return { id, matchers: [{ name: 'a', type: '=' as const, value: 'b' }], startsAt: now, endsAt: now + 60_000, updatedAt: now, createdBy: 'x', comment: '', expireWhenResolved: false };
}

describe('state: the embedded store is created by its first write', () => {
  test('before the first write: reads are empty, nothing is created, the directory is locked, state:store passes and says so', async () => {
    const dir = tempDir('vigil-deferred-');
    const store = await deferredAt(dir, await pgliteTemplate());
    try {
      assert.equal((store as DeferredStateStore).created, false);
      assert.deepEqual(await store.silences.list(), []);
      assert.equal(await store.silences.get('nope'), undefined);
      assert.deepEqual(await store.nflog.list(), []);
      assert.deepEqual(await store.history.queryAlerts({ state: 'firing' }), []);
      assert.deepEqual(await store.history.queryNotifications({}), []);
      assert.equal(await store.silences.deleteEndedBefore(Date.now()), 0);
      assert.equal(await store.nflog.deleteExpired(Date.now()), 0);
      assert.deepEqual(await store.history.prune(Date.now()), { alerts: 0, notifications: 0 });
      await store.nflog.upsert([]);
      await store.history.upsertAlerts([]);
      assert.equal(existsSync(join(dir, 'pgdata')), false, 'reads and empty writes create nothing');
      assert.equal(readFileSync(join(dir, 'LOCK'), 'utf8').trim(), String(process.pid));
      const h = await health(store);
      assert.equal(h.status, 'pass');
      assert.equal(h.created, false);
      assert.equal(h.kind, 'pglite');
      assert.match(String(h.output), /not created yet/);
      assert.equal(store.leader.isLeader(), true);
      // Another Vigil on the same directory is refused before anything was written.
      await assert.rejects(
        (async () => {
          writeFileSync(join(dir, 'LOCK'), `${process.ppid}\n`);
          await deferredAt(dir, await pgliteTemplate());
        })(),
        (e: unknown) => e instanceof StateError && e.code === 'state_unavailable' && e.message.includes(`in use by process ${process.ppid}`),
      );
      writeFileSync(join(dir, 'LOCK'), `${process.pid}\n`);
    } finally {
      await store.close();
    }
    assert.equal(existsSync(join(dir, 'LOCK')), false, 'close releases the lock');
  });

  test('the first writes create it once (concurrent ones share the creation), with migrations given before; a restart opens it at once and finds everything', async () => {
    const dir = tempDir('vigil-deferred-');
    const store = await deferredAt(dir, await pgliteTemplate());
    const now = Date.now();
    try {
      // Another module's schema, registered while there is no database yet.
      await store.migrate('test-oncall', [{ version: 1, description: 'incidents', sql: 'CREATE TABLE test_incidents (id text PRIMARY KEY)' }]);
      assert.equal(existsSync(join(dir, 'pgdata')), false);
      await Promise.all([
        store.silences.upsert(silenceAt(now, 'c0ffee00-0000-4000-8000-000000000001')),
        store.nflog.upsert([{ receiver: 'r/webhook/0', groupKey: '{}:{a="b"}', timestamp: now, firing: ['aa'], resolved: [], expiresAt: now + 60_000 }]),
        store.history.upsertAlerts([{ fingerprint: '00000000000000a1', startsAt: now, endsAt: undefined, labels: { alertname: 'A' }, annotations: {}, generatorURL: '', firstSeen: now, lastSeen: now }]),
        store.history.insertNotifications([{ time: now, receiver: 'r', integration: 'webhook', integrationIndex: 0, groupKey: '{}:{a="b"}', status: 'firing', fingerprints: ['00000000000000a1'], success: true, error: '', attempts: 1, durationMs: 1 }]),
      ]);
      assert.equal((store as DeferredStateStore).created, true);
      assert.equal(pgliteStoreExists(dir), true);
      assert.deepEqual(readdirNames(dir), ['LOCK', 'pgdata'], 'no temporary copy left behind');
      await store.sql.query('INSERT INTO test_incidents (id) VALUES ($1)', ['i1']);
      const h = await health(store);
      assert.equal(h.status, 'pass');
      assert.equal(h.created, true);
      assert.equal(typeof h.observedValue, 'number');
      assert.equal((await store.silences.list()).length, 1);
    } finally {
      await store.close();
    }
    // A restart: the database exists, so it is opened (and restored) at start-up.
    const again = await openStateStore({ config: { path: dir }, dataDir: tempDir('vigil-unused-'), logger: pino({ level: 'silent' }) });
    try {
      assert.equal((again as DeferredStateStore).created, true);
      assert.equal((await health(again)).created, true);
      assert.equal((await again.silences.get('c0ffee00-0000-4000-8000-000000000001'))?.createdBy, 'x');
      assert.equal((await again.nflog.list()).length, 1);
      assert.equal((await again.history.queryAlerts({ state: 'firing' })).length, 1);
      assert.equal((await again.history.queryNotifications({})).length, 1);
      assert.deepEqual(await again.sql.query('SELECT id FROM test_incidents'), [{ id: 'i1' }]);
    } finally {
      await again.close();
    }
  });

  test('a creation that fails is reported by the write and by state:store, and the next write retries it', async () => {
    const dir = tempDir('vigil-deferred-');
    const broken = join(tempDir('vigil-broken-template-'), 'missing');
    const store = await PGliteStateStore.deferred({ dir, templatePgdata: broken });
    try {
      await assert.rejects(store.silences.upsert(silenceAt(Date.now(), 'c0ffee00-0000-4000-8000-000000000002')), (e: unknown) => e instanceof StateError && e.code === 'state_unavailable');
      const h = await health(store);
      assert.equal(h.status, 'fail');
      assert.match(String(h.output), /could not be created; the next write retries/);
      assert.equal(pgliteStoreExists(dir), false);
      // The template appears (e.g. the disk was fixed): the next write creates the store.
      mkdirSync(join(broken, '..'), { recursive: true });
      cpSync(await pgliteTemplate(), broken, { recursive: true });
      await store.silences.upsert(silenceAt(Date.now(), 'c0ffee00-0000-4000-8000-000000000002'));
      assert.equal((await health(store)).status, 'pass');
      assert.equal((await store.silences.list()).length, 1);
    } finally {
      await store.close();
    }
  });

  test('an interrupted creation leaves no store behind: the next start sees none and the leftover copy is removed', async () => {
    const dir = tempDir('vigil-deferred-');
    mkdirSync(dir, { recursive: true });
    // What a kill -9 during the copy leaves: a partial data directory under a temporary name.
    cpSync(await pgliteTemplate(), join(dir, 'pgdata.tmp-99999'), { recursive: true });
    assert.equal(pgliteStoreExists(dir), false);
    const store = await deferredAt(dir, await pgliteTemplate());
    try {
      assert.equal((store as DeferredStateStore).created, false);
      await store.silences.upsert(silenceAt(Date.now(), 'c0ffee00-0000-4000-8000-000000000003'));
      assert.deepEqual(readdirNames(dir), ['LOCK', 'pgdata']);
    } finally {
      await store.close();
    }
  });

  test('the per-machine template: built once, and copies left by an interrupted build of a dead process are removed', async () => {
    const cache = tempDir('vigil-template-cache-');
    const prev = process.env.VIGIL_CACHE_DIR;
    process.env.VIGIL_CACHE_DIR = cache;
    try {
      mkdirSync(cache, { recursive: true });
      // What a kill during the first build leaves (pid 2^22 + 1 is above Linux's pid_max).
      mkdirSync(join(cache, 'pglite-0.0.0-initdb.tmp-4194305-1'));
      const progress: string[] = [];
      const store = await PGliteStateStore.open({ dir: tempDir('vigil-template-user-'), onProgress: (m) => progress.push(m) });
      await store.close();
      const entries = readdirNames(cache);
      assert.equal(entries.length, 1, entries.join(', '));
      assert.match(entries[0]!, /^pglite-.+-initdb$/);
      assert.ok(existsSync(join(cache, entries[0]!, 'VIGIL_COMPLETE')));
      assert.ok(progress.some((m) => m.includes('template ready')), progress.join('\n'));
    } finally {
      if (prev === undefined) delete process.env.VIGIL_CACHE_DIR;
      else process.env.VIGIL_CACHE_DIR = prev;
    }
  });

  test('created by the first write, every acknowledged write survives kill -9', async () => {
    const dir = tempDir('vigil-crash-deferred-');
    const acked = await writeThenKill(['pglite-deferred', dir, await pgliteTemplate()], 30);
    const store = await PGliteStateStore.open({ dir });
    try {
      await assertAllAcknowledged(store, acked);
    } finally {
      await store.close();
    }
  });

  test('a closed store rejects use', async () => {
    const store = await deferredAt(tempDir('vigil-deferred-'), await pgliteTemplate());
    await store.close();
    await assert.rejects(store.silences.list(), (e: unknown) => e instanceof StateError && e.code === 'state_closed');
    await assert.rejects(store.silences.upsert(silenceAt(Date.now(), 'c0ffee00-0000-4000-8000-000000000004')), (e: unknown) => e instanceof StateError && e.code === 'state_closed');
    assert.equal((await health(store)).status, 'fail');
  });
});

describeStateContract('pglite created by the first write', async () => {
  const dir = tempDir('vigil-state-deferred-');
  const store = await deferredAt(dir, await pgliteTemplate());
  return { store, where: dir, cleanup: () => store.close() };
});

function readdirNames(dir: string): string[] {
  return readdirSync(dir).sort();
}
