/**
 * The state contract suite: the same behavioural tests against every StateStore
 * implementation (embedded PGlite, a PostgreSQL server), plus helpers that open throwaway
 * stores for other modules' tests: PGlite from a per-process template (initdb runs once), and
 * PostgreSQL in a schema of its own that is dropped afterwards.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { StateError } from './errors.ts';
import { createPGliteTemplate, PGliteStateStore } from './pglite.ts';
import { PostgresStateStore } from './postgres.ts';
import type { AlertHistoryRecord, NflogRecord, NotificationHistoryRecord, SilenceRecord, StateStore } from './types.ts';

/** The PostgreSQL server the tests use (trust auth, database `test`). */
export const TEST_POSTGRES_URL = process.env.VIGIL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let templatePromise: Promise<string> | undefined;
const tempDirs: string[] = [];
process.once('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A temporary directory removed when the process exits. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** An initialised PGlite data directory, created once per process (initdb takes seconds). */
export function pgliteTemplate(): Promise<string> {
  templatePromise ??= (async () => {
    const dir = tempDir('vigil-pglite-template-');
    const pgdata = join(dir, 'pgdata');
    await createPGliteTemplate(pgdata);
    return pgdata;
  })();
  return templatePromise;
}

export interface TestStore {
  store: StateStore;
  /** Where the data lives: a directory (PGlite) or the schema name (PostgreSQL). */
  where: string;
  /** Closes the store and removes its data. */
  cleanup(): Promise<void>;
}

/** A fresh embedded store in its own temporary directory (reopenable with `openPGliteAt`). */
export async function openTestPGlite(dir?: string): Promise<TestStore> {
  const d = dir ?? tempDir('vigil-state-');
  const store = await PGliteStateStore.open({ dir: d, templatePgdata: await pgliteTemplate() });
  return {
    store,
    where: d,
    cleanup: async () => {
      await store.close();
      if (!dir) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Whether the test PostgreSQL server answers; the reason when it does not. */
export async function postgresAvailable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return `PostgreSQL at ${TEST_POSTGRES_URL} is not reachable (${(e as Error).message})`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A unique schema name for one test run. */
export function testSchemaName(): string {
  return `vigil_test_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

/** A fresh PostgreSQL store in a schema of its own, dropped by `cleanup`. */
export async function openTestPostgres(schema = testSchemaName(), leaderCheckIntervalMs = 200): Promise<TestStore> {
  const store = await PostgresStateStore.open({ url: TEST_POSTGRES_URL, schema, leaderCheckIntervalMs, maxConnections: 3 });
  return {
    store,
    where: schema,
    cleanup: async () => {
      await store.close();
      await dropSchema(schema);
    },
  };
}

function silence(over: Partial<SilenceRecord> = {}): SilenceRecord {
  return {
    id: randomUUID(),
    matchers: [{ name: 'alertname', type: '=', value: 'HighLatency' }, { name: 'service', type: '=~', value: 'api|web\n"quoted" ünïcode' }],
    startsAt: 1_700_000_000_000,
    endsAt: 1_700_003_600_000,
    updatedAt: 1_700_000_000_123,
    createdBy: 'alice',
    comment: 'maintenance',
    expireWhenResolved: false,
    ...over,
  };
}

function episode(fp: string, startsAt: number, over: Partial<AlertHistoryRecord> = {}): AlertHistoryRecord {
  return {
    fingerprint: fp,
    startsAt,
    endsAt: undefined,
    labels: { alertname: 'HighLatency', service: 'api', severity: 'warning' },
    annotations: { summary: 'p99 above 2s' },
    generatorURL: 'http://prometheus/graph',
    firstSeen: startsAt + 10,
    lastSeen: startsAt + 10,
    ...over,
  };
}

function notification(over: Partial<NotificationHistoryRecord> = {}): NotificationHistoryRecord {
  return {
    time: 1_700_000_100_000,
    receiver: 'slack',
    integration: 'slack',
    integrationIndex: 0,
    groupKey: '{}:{alertname="HighLatency"}',
    status: 'firing',
    fingerprints: ['0000000000000001'],
    success: true,
    error: '',
    attempts: 1,
    durationMs: 12.5,
    ...over,
  };
}

/** Runs the contract against stores made by `open`. */
export function describeStateContract(name: string, open: () => Promise<TestStore>, opts: { skip?: () => Promise<string | undefined> } = {}): void {
  describe(`state contract: ${name}`, () => {
    async function withStore(t: { skip(msg: string): void }, fn: (s: StateStore) => Promise<void>): Promise<void> {
      const reason = opts.skip ? await opts.skip() : undefined;
      if (reason) {
        t.skip(reason);
        return;
      }
      const h = await open();
      try {
        await fn(h.store);
      } finally {
        await h.cleanup();
      }
    }

    it('silences: upsert, get, list, update in place, changes since, delete ended', (t) =>
      withStore(t, async (s) => {
        const a = silence();
        const b = silence({ startsAt: 1_700_000_500_000, endsAt: 1_700_000_600_000, updatedAt: 1_700_000_500_000, expireWhenResolved: true });
        await s.silences.upsert(a);
        await s.silences.upsert(b);
        assert.deepEqual(await s.silences.get(a.id), a);
        assert.deepEqual(await s.silences.get(b.id), b);
        assert.equal(await s.silences.get(randomUUID()), undefined);
        assert.deepEqual((await s.silences.list()).map((x) => x.id), [a.id, b.id]);
        const a2 = { ...a, endsAt: 1_700_000_700_000, updatedAt: 1_700_000_700_000, comment: 'shortened' };
        await s.silences.upsert(a2);
        assert.deepEqual(await s.silences.get(a.id), a2);
        assert.deepEqual((await s.silences.listUpdatedSince(1_700_000_500_000)).map((x) => x.id), [a.id]);
        assert.deepEqual((await s.silences.listUpdatedSince(1_600_000_000_000)).map((x) => x.id), [b.id, a.id]);
        assert.equal(await s.silences.deleteEndedBefore(1_700_000_650_000), 1);
        assert.deepEqual((await s.silences.list()).map((x) => x.id), [a.id]);
      }));

    it('notification log: batch upsert (last entry per key wins), list, delete expired', (t) =>
      withStore(t, async (s) => {
        const e = (receiver: string, groupKey: string, timestamp: number, firing: string[]): NflogRecord => ({ receiver, groupKey, timestamp, firing, resolved: [], expiresAt: timestamp + 1000 });
        await s.nflog.upsert([e('slack/slack/0', '{}:{a="1"}', 1000, ['aa']), e('slack/slack/0', '{}:{a="1"}', 2000, ['aa', 'bb']), e('pd/pagerduty/0', '{}:{a="1"}', 1500, [])]);
        const list = await s.nflog.list();
        assert.equal(list.length, 2);
        assert.deepEqual(list.find((x) => x.receiver === 'slack/slack/0'), { receiver: 'slack/slack/0', groupKey: '{}:{a="1"}', timestamp: 2000, firing: ['aa', 'bb'], resolved: [], expiresAt: 3000 });
        await s.nflog.upsert([{ ...e('slack/slack/0', '{}:{a="1"}', 5000, []), resolved: ['aa', 'bb'] }]);
        assert.deepEqual((await s.nflog.list()).find((x) => x.receiver === 'slack/slack/0')?.resolved, ['aa', 'bb']);
        // More rows than one statement carries.
        await s.nflog.upsert(Array.from({ length: 1234 }, (_, i) => e('w/webhook/0', `{}:{i="${i}"}`, 10_000 + i, [i.toString(16)])));
        assert.equal((await s.nflog.list()).length, 1236);
        assert.equal(await s.nflog.deleteExpired(2600), 1);
        assert.equal((await s.nflog.list()).length, 1235);
      }));

    it('alert history: episodes inserted, resolved, filtered by time overlap, state, labels, fingerprints; pruned', (t) =>
      withStore(t, async (s) => {
        const T = 1_700_000_000_000;
        await s.history.upsertAlerts([episode('00000000000000a1', T), episode('00000000000000b2', T + 60_000, { labels: { alertname: 'Disk', service: 'db' } })]);
        // A re-send: later lastSeen, new annotations; then the resolve.
        await s.history.upsertAlerts([episode('00000000000000a1', T, { firstSeen: T + 50, lastSeen: T + 30_000, annotations: { summary: 'p99 above 3s' } })]);
        await s.history.upsertAlerts([episode('00000000000000a1', T, { endsAt: T + 120_000, lastSeen: T + 120_000 })]);
        // A second episode of the same alert.
        await s.history.upsertAlerts([episode('00000000000000a1', T + 600_000)]);
        const all = await s.history.queryAlerts({});
        assert.deepEqual(all.map((r) => [r.fingerprint, r.startsAt - T]), [['00000000000000a1', 600_000], ['00000000000000b2', 60_000], ['00000000000000a1', 0]]);
        const first = all[2]!;
        assert.equal(first.endsAt, T + 120_000);
        assert.equal(first.firstSeen, T + 10);
        assert.equal(first.lastSeen, T + 120_000);
        assert.deepEqual(first.annotations, { summary: 'p99 above 2s' });
        assert.deepEqual((await s.history.queryAlerts({ state: 'firing' })).map((r) => r.startsAt - T), [600_000, 60_000]);
        assert.deepEqual((await s.history.queryAlerts({ state: 'resolved' })).map((r) => r.startsAt - T), [0]);
        // [T+200s, T+300s]: only b2 (still firing) overlaps; a1's first episode ended at T+120s.
        assert.deepEqual((await s.history.queryAlerts({ start: T + 200_000, end: T + 300_000 })).map((r) => r.fingerprint), ['00000000000000b2']);
        assert.deepEqual((await s.history.queryAlerts({ labelsEqual: { service: 'db' } })).map((r) => r.fingerprint), ['00000000000000b2']);
        assert.deepEqual((await s.history.queryAlerts({ fingerprints: ['00000000000000a1'], limit: 1 })).map((r) => r.startsAt - T), [600_000]);
        const pruned = await s.history.prune(T + 500_000);
        assert.deepEqual(pruned, { alerts: 1, notifications: 0 });
        assert.equal((await s.history.queryAlerts({})).length, 2);
      }));

    it('notification history: insert, filter by time, receiver, fingerprint, success; prune', (t) =>
      withStore(t, async (s) => {
        await s.history.insertNotifications([
          notification(),
          notification({ time: 1_700_000_200_000, receiver: 'pager-duty', integration: 'pagerduty', fingerprints: ['0000000000000002', '0000000000000001'] }),
          notification({ time: 1_700_000_300_000, success: false, error: 'unexpected status code 500', attempts: 4, status: 'resolved', fingerprints: ['0000000000000003'] }),
        ]);
        const all = await s.history.queryNotifications({});
        assert.deepEqual(all.map((n) => n.time), [1_700_000_300_000, 1_700_000_200_000, 1_700_000_100_000]);
        assert.equal(all[0]!.error, 'unexpected status code 500');
        assert.equal(all[0]!.attempts, 4);
        assert.equal(all[0]!.status, 'resolved');
        assert.equal(all[2]!.durationMs, 12.5);
        assert.deepEqual((await s.history.queryNotifications({ receiver: 'pager-duty' })).map((n) => n.integration), ['pagerduty']);
        assert.deepEqual((await s.history.queryNotifications({ fingerprints: ['0000000000000001'] })).map((n) => n.time), [1_700_000_200_000, 1_700_000_100_000]);
        assert.deepEqual((await s.history.queryNotifications({ success: false })).length, 1);
        assert.deepEqual((await s.history.queryNotifications({ start: 1_700_000_150_000, end: 1_700_000_250_000 })).map((n) => n.receiver), ['pager-duty']);
        assert.deepEqual(await s.history.prune(1_700_000_250_000), { alerts: 0, notifications: 2 });
      }));

    it('migrations: applied once, another module gets its own, a newer database is refused', (t) =>
      withStore(t, async (s) => {
        const m = [{ version: 1, description: 'incidents', sql: 'CREATE TABLE test_incidents (id text PRIMARY KEY, title text NOT NULL);\nCREATE INDEX test_incidents_title ON test_incidents (title);' }];
        await s.migrate('test-oncall', m);
        await s.migrate('test-oncall', m);
        await s.sql.query('INSERT INTO test_incidents (id, title) VALUES ($1, $2)', ['i1', 'db down']);
        assert.deepEqual(await s.sql.query('SELECT id, title FROM test_incidents'), [{ id: 'i1', title: 'db down' }]);
        await assert.rejects(s.migrate('test-oncall', []), (e: unknown) => e instanceof StateError && e.code === 'state_migration' && /newer than this Vigil knows/.test(e.message));
        // A failing step rolls back entirely and is reported.
        await assert.rejects(
          s.migrate('test-broken', [{ version: 1, description: 'broken', sql: 'CREATE TABLE test_broken (id text);\nCREATE TABLE test_broken (id text);' }]),
          (e: unknown) => e instanceof StateError && e.code === 'state_migration',
        );
        assert.deepEqual(await s.sql.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'test_broken'`), [{ n: 0 }]);
      }));

    it('transactions commit or roll back as a whole', (t) =>
      withStore(t, async (s) => {
        await s.migrate('test-tx', [{ version: 1, description: 't', sql: 'CREATE TABLE test_tx (k text PRIMARY KEY)' }]);
        await s.sql.transaction(async (tx) => {
          await tx.query('INSERT INTO test_tx VALUES ($1)', ['a']);
          await tx.query('INSERT INTO test_tx VALUES ($1)', ['b']);
        });
        await assert.rejects(
          s.sql.transaction(async (tx) => {
            await tx.query('INSERT INTO test_tx VALUES ($1)', ['c']);
            await tx.query('INSERT INTO test_tx VALUES ($1)', ['a']);
          }),
          (e: unknown) => e instanceof StateError && e.code === 'state_query',
        );
        assert.deepEqual((await s.sql.query<{ k: string }>('SELECT k FROM test_tx ORDER BY k')).map((r) => r.k), ['a', 'b']);
      }));

    it('health check passes with the round-trip latency; the store leads or follows', (t) =>
      withStore(t, async (s) => {
        // Once it holds a record (a store created by its first write has no round trip before).
        await s.silences.upsert(silence());
        const r = await s.healthCheck().run();
        const one = Array.isArray(r) ? r[0]! : r;
        assert.equal(one.status, 'pass');
        assert.equal(one.observedUnit, 'ms');
        assert.equal(typeof one.observedValue, 'number');
        assert.equal(one.kind, s.kind);
        assert.equal(s.leader.isLeader(), true, 'a single instance leads');
      }));
  });
}
