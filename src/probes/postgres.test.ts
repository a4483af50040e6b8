/**
 * The postgres probe against the real PostgreSQL at 127.0.0.1:5432 (trust auth), side by side
 * with prometheus-postgres-exporter, and against a private cluster started with
 * pg_stat_statements preloaded for the top-N statements.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { MemoryStorage } from '../storage/index.ts';
import { ProbeManager } from './manager.ts';
import { PostgresProber, settingMetric, shortVersion } from './postgres.ts';
import { allStale, captureLogger, latest, probesFromYaml, runProber, samplesOf, silentLogger, startExporter, startPrivatePostgres, valueIn } from './testutil.ts';

const HOST = '127.0.0.1';
const PORT = 5432;
/** A database only this test file uses, so that its connection counts are ours alone. */
const DB = `vigil_probes_${process.pid}`;
let unavailable: string | undefined;
const holders: pg.Client[] = [];

function client(database: string, port = PORT): pg.Client {
  return new pg.Client({ host: HOST, port, user: 'postgres', database, connectionTimeoutMillis: 3000 });
}

before(async () => {
  const admin = client('test');
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DB}`);
  } catch (e) {
    unavailable = `PostgreSQL at ${HOST}:${PORT} (database test, user postgres) is not usable: ${(e as Error).message}`;
  } finally {
    await admin.end().catch(() => {});
  }
});

after(async () => {
  for (const h of holders) await h.end().catch(() => {});
  if (unavailable) return;
  const admin = client('test');
  try {
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => {});
  }
});

function prober(entry: string): PostgresProber {
  return new PostgresProber(probesFromYaml(`  postgres:\n    - ${entry}\n`).postgres[0]!);
}

/** Opens `n` connections to DB and leaves them idle. */
async function holdIdle(n: number): Promise<pg.Client[]> {
  const out: pg.Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = client(DB);
    await c.connect();
    await c.query('SELECT 1');
    holders.push(c);
    out.push(c);
  }
  return out;
}

test('connections by state, the longest transaction, locks, sizes and settings move with real activity', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const p = prober(`{host: ${HOST}, port: ${PORT}, user: postgres, database: test, statements: {enabled: false}}`);
  try {
    const first = await runProber(p);
    assert.deepEqual(first.outcome, { success: true });
    assert.equal(first.out.get('pg_up'), 1);
    const server = `${HOST}:${PORT}`;
    const idle0 = first.out.get('pg_stat_activity_count', { datname: DB, state: 'idle', server })!;
    assert.equal(idle0, 0);
    const [a, b] = await holdIdle(3);
    await a!.query('BEGIN');
    await a!.query('SELECT txid_current()');
    await b!.query('CREATE TABLE IF NOT EXISTS locked (x int)');
    await b!.query('BEGIN');
    await b!.query('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
    await new Promise((r) => setTimeout(r, 50));
    const second = await runProber(p);
    assert.equal(second.out.get('pg_stat_activity_count', { datname: DB, state: 'idle' }), 1);
    assert.equal(second.out.get('pg_stat_activity_count', { datname: DB, state: 'idle in transaction' }), 2);
    assert.ok(second.out.get('pg_stat_activity_max_tx_duration', { datname: DB, state: 'idle in transaction' })! > 0, 'an open transaction has a duration');
    assert.equal(second.out.get('pg_stat_activity_max_tx_duration', { datname: DB, state: 'idle' }), 0);
    assert.ok(second.out.get('pg_locks_count', { datname: DB, mode: 'accessexclusivelock' })! >= 1, 'the table lock is counted');
    assert.equal(second.out.get('pg_stat_database_numbackends', { datname: DB }), 3);
    const admin = client('test');
    await admin.connect();
    try {
      const max = Number((await admin.query('SHOW max_connections')).rows[0].max_connections);
      assert.equal(second.out.get('pg_settings_max_connections', { server }), max);
      const size = Number((await admin.query(`SELECT pg_database_size('${DB}') AS s`)).rows[0].s);
      assert.equal(second.out.get('pg_database_size_bytes', { datname: DB }), size);
      const num = Number((await admin.query('SHOW server_version_num')).rows[0].server_version_num);
      assert.equal(second.out.get('pg_static', { short_version: shortVersion(num) }), 1);
    } finally {
      await admin.end();
    }
    assert.equal(second.out.get('pg_replication_is_replica'), 0);
    assert.equal(second.out.get('pg_replication_lag_seconds'), 0);
    await a!.query('ROLLBACK');
    await b!.query('ROLLBACK');
  } finally {
    await p.close();
  }
});

test('wrong credentials, missing database, unreachable server: pg_up 0 with the reason, never the password', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const { logger, lines } = captureLogger();
  const storage = new MemoryStorage();
  const m = new ProbeManager({ appendable: storage, logger });
  await m.applyConfig(
    probesFromYaml(
      [
        '  postgres:',
        `    - {job: role, host: ${HOST}, user: vigil_no_such_role, password: s3cr3t-do-not-log, database: test}`,
        `    - {job: db, host: ${HOST}, user: postgres, database: vigil_no_such_db}`,
        `    - {job: down, host: ${HOST}, port: 1, user: postgres, database: test}`,
        '',
      ].join('\n'),
    ),
  );
  const status = await m.runAll();
  const byJob = Object.fromEntries(status.map((s) => [s.job, s]));
  assert.match(byJob.role!.lastError, /^cannot connect to postgres vigil_no_such_role@127\.0\.0\.1:5432\/test: (role "vigil_no_such_role" does not exist|password authentication failed)/);
  assert.match(byJob.db!.lastError, /database "vigil_no_such_db" does not exist/);
  assert.match(byJob.down!.lastError, /ECONNREFUSED 127\.0\.0\.1:1/);
  for (const job of ['role', 'db', 'down']) assert.equal(await latest(storage, 'pg_up', { job }), 0);
  assert.ok(lines.length > 0);
  const everything = lines.join('\n') + JSON.stringify(m.status());
  assert.ok(!everything.includes('s3cr3t-do-not-log'), 'the password appears in no log line and no status');
  await m.stop();
});

test('pg_stat_statements absent, or installed without being preloaded: a clear info line, the rest still reported', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const p = prober(`{host: ${HOST}, user: postgres, database: ${DB}}`);
  try {
    const r = await runProber(p);
    assert.equal(r.outcome.success, true);
    assert.equal(r.out.get('pg_up'), 1);
    assert.match(r.outcome.info![0]!, new RegExp(`^pg_stat_statements is not installed in database "${DB}": the slowest statements are not reported`));
    const admin = client(DB);
    await admin.connect();
    let created = false;
    try {
      await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      created = true;
      const preloaded = /pg_stat_statements/.test((await admin.query('SHOW shared_preload_libraries')).rows[0].shared_preload_libraries);
      const r2 = await runProber(p);
      if (!preloaded) {
        assert.equal(r2.outcome.success, true);
        assert.match(r2.outcome.info![0]!, /^pg_stat_statements is installed but not loaded \(.*shared_preload_libraries.*\): add it to shared_preload_libraries/);
      } else {
        assert.equal(r2.outcome.info, undefined);
      }
    } catch (e) {
      if (!created) return t.skip(`cannot create pg_stat_statements here: ${(e as Error).message}`);
      throw e;
    } finally {
      await admin.end();
    }
  } finally {
    await p.close();
  }
});

test('side by side with prometheus-postgres-exporter: settings, connection counts, locks, sizes', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const exporter = await startExporter('/usr/bin/prometheus-postgres-exporter', (port) => [`--web.listen-address=127.0.0.1:${port}`], {
    DATA_SOURCE_NAME: `postgresql://postgres@${HOST}:${PORT}/test?sslmode=disable`,
  });
  if (!exporter) return t.skip('prometheus-postgres-exporter is not installed (/usr/bin/prometheus-postgres-exporter)');
  const p = prober(`{host: ${HOST}, user: postgres, database: test, statements: {enabled: false}}`);
  try {
    await holdIdle(2);
    const theirs = await exporter.scrape();
    const { out } = await runProber(p);
    assert.equal(valueIn(theirs, 'pg_up'), 1);
    assert.equal(out.get('pg_up'), 1);
    // The widest label set of a family (rows like datid=0 have an empty datname, i.e. no label).
    const labelsOf = (name: string) =>
      theirs.samples.filter((s) => s.labels.get('__name__') === name).map((s) => s.labels.names().sort()).sort((a, b) => b.length - a.length)[0];
    const oursOf = (name: string) =>
      out.names
        .map((n, i) => (n === name ? ['__name__', ...(out.labels[i] ?? []).filter((_, j, a) => j % 2 === 0 && a[j + 1] !== '')].sort() : undefined))
        .filter((x): x is string[] => x !== undefined)
        .sort((a, b) => b.length - a.length)[0];
    let settings = 0;
    for (const s of theirs.samples) {
      const name = s.labels.get('__name__');
      // Session settings each client driver sets for itself (Go's lib/pq asks for 2 float digits).
      if (!name.startsWith('pg_settings_') || name === 'pg_settings_extra_float_digits') continue;
      settings++;
      assert.equal(out.get(name, { server: `${HOST}:${PORT}` }), s.value, name);
    }
    assert.ok(settings > 100, `the exporter reported ${settings} settings`);
    for (const state of ['active', 'idle', 'idle in transaction']) {
      assert.equal(out.get('pg_stat_activity_count', { datname: DB, state }), valueIn(theirs, 'pg_stat_activity_count', { datname: DB, state }), `connections ${state}`);
    }
    assert.ok(out.get('pg_stat_activity_count', { datname: DB, state: 'idle' })! >= 2, 'the held connections are counted');
    for (const mode of ['accesssharelock', 'accessexclusivelock', 'rowexclusivelock']) {
      assert.equal(out.get('pg_locks_count', { datname: DB, mode }), valueIn(theirs, 'pg_locks_count', { datname: DB, mode }), `locks ${mode}`);
    }
    assert.equal(out.get('pg_database_size_bytes', { datname: DB }), valueIn(theirs, 'pg_database_size_bytes', { datname: DB }));
    assert.equal(out.get('pg_stat_database_numbackends', { datname: DB }), valueIn(theirs, 'pg_stat_database_numbackends', { datname: DB }));
    assert.equal(out.get('pg_static', { version: theirs.samples.find((s) => s.labels.get('__name__') === 'pg_static')!.labels.get('version') }), 1);
    // Same label names on the shared families, so dashboards' selectors work unchanged.
    for (const name of ['pg_stat_activity_count', 'pg_stat_activity_max_tx_duration', 'pg_locks_count', 'pg_database_size_bytes', 'pg_stat_database_xact_commit', 'pg_static', 'pg_settings_max_connections']) {
      assert.ok(out.names.includes(name), `Vigil writes ${name}`);
      assert.deepEqual(oursOf(name), labelsOf(name), `label names of ${name}`);
    }
  } finally {
    await p.close();
    await exporter.stop();
  }
});

test('top-N slowest statements from pg_stat_statements (private cluster with the library preloaded); leaving the top N means stale', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const cluster = await startPrivatePostgres(['pg_stat_statements']);
  if (typeof cluster === 'string') return t.skip(`pg_stat_statements needs shared_preload_libraries, which the shared server lacks, and ${cluster}`);
  const storage = new MemoryStorage();
  const m = new ProbeManager({ appendable: storage, logger: silentLogger() });
  const c = client('postgres', cluster.port);
  try {
    await c.connect();
    await c.query('CREATE EXTENSION pg_stat_statements');
    await c.query('SELECT pg_stat_statements_reset()');
    for (let i = 0; i < 3; i++) await c.query('SELECT pg_sleep(0.03)');
    for (let i = 0; i < 20; i++) await c.query('SELECT 1 + $1::int', [i]);
    await m.applyConfig(probesFromYaml(`  postgres:\n    - {host: ${HOST}, port: ${cluster.port}, user: postgres, database: postgres, statements: {limit: 1, query_length: 40}}\n`));
    const id = m.status()[0]!.id;
    let st = await m.runNow(id);
    assert.equal(st.health, 'up', st.lastError);
    assert.deepEqual(st.info, []);
    const top = await samplesOf(storage, 'pg_stat_statements_mean_time_seconds');
    assert.equal(top.length, 1, 'limit 1: one statement');
    assert.equal(top[0]!.labels.get('query'), 'SELECT pg_sleep($1)');
    assert.equal(top[0]!.labels.get('datname'), 'postgres');
    assert.equal(top[0]!.labels.get('user'), 'postgres');
    assert.match(top[0]!.labels.get('queryid'), /^-?\d+$/);
    assert.ok(top[0]!.points[0]!.v >= 0.03, 'the mean time reflects pg_sleep(0.03)');
    assert.equal(await latest(storage, 'pg_stat_statements_calls_total', { query: 'SELECT pg_sleep($1)' }), 3);
    const totalBefore = (await latest(storage, 'pg_stat_statements_seconds_total', { query: 'SELECT pg_sleep($1)' }))!;
    assert.ok(totalBefore >= 0.09);

    // A slower statement takes the top place: the old one leaves the bounded set and goes stale.
    await c.query('SELECT pg_sleep(0.2), 1 AS slower');
    st = await m.runNow(id);
    assert.equal(st.health, 'up', st.lastError);
    assert.ok(await allStale(storage, 'pg_stat_statements_mean_time_seconds', { query: 'SELECT pg_sleep($1)' }));
    assert.ok(await allStale(storage, 'pg_stat_statements_calls_total', { query: 'SELECT pg_sleep($1)' }));
    assert.equal(await latest(storage, 'pg_stat_statements_calls_total', { query: 'SELECT pg_sleep($1), $2 AS slower' }), 1);
    assert.equal((await samplesOf(storage, 'pg_stat_statements_mean_time_seconds')).filter((s) => !Number.isNaN(s.points.at(-1)!.v)).length, 1);
  } finally {
    await c.end().catch(() => {});
    await m.stop();
    await cluster.stop();
  }
});

test('replication: a streaming standby reports itself a replica with its lag; the primary reports the standby', async (t) => {
  if (unavailable) return t.skip(unavailable);
  const primary = await startPrivatePostgres([]);
  if (typeof primary === 'string') return t.skip(`no private primary: ${primary}`);
  let standby: Awaited<ReturnType<typeof startPrivatePostgres>> | undefined;
  const pp = prober(`{host: ${HOST}, port: ${primary.port}, user: postgres, database: postgres, statements: {enabled: false}}`);
  try {
    standby = await startPrivatePostgres([], { standbyOf: primary.port });
    if (typeof standby === 'string') return t.skip(`no private standby: ${standby}`);
    const sp = prober(`{host: ${HOST}, port: ${standby.port}, user: postgres, database: postgres, statements: {enabled: false}}`);
    try {
      const c = client('postgres', primary.port);
      await c.connect();
      try {
        await c.query('CREATE TABLE t AS SELECT generate_series(1, 1000) AS x');
      } finally {
        await c.end();
      }
      let s = await runProber(sp);
      for (let i = 0; i < 50 && s.out.get('pg_replication_lag_seconds') === undefined; i++) s = await runProber(sp);
      assert.equal(s.outcome.success, true, s.outcome.error);
      assert.equal(s.out.get('pg_replication_is_replica'), 1);
      assert.ok(s.out.get('pg_replication_lag_seconds')! >= 0);
      let p = await runProber(pp);
      for (let i = 0; i < 50 && p.out.get('pg_stat_replication_pg_wal_lsn_diff') === undefined; i++) {
        await new Promise((r) => setTimeout(r, 100));
        p = await runProber(pp);
      }
      assert.equal(p.out.get('pg_replication_is_replica'), 0);
      assert.equal(p.out.get('pg_replication_lag_seconds'), 0);
      const lag = p.out.get('pg_stat_replication_pg_wal_lsn_diff', { state: 'streaming', sync_state: 'async', client_addr: '127.0.0.1/32' });
      assert.ok(lag !== undefined && lag >= 0, 'the primary lists the streaming standby with its byte lag');
    } finally {
      await sp.close();
    }
  } finally {
    await pp.close();
    if (standby && typeof standby !== 'string') await standby.stop();
    await primary.stop();
  }
});

test('pg_settings conversion follows postgres_exporter (units to bytes/seconds, -1 kept, booleans)', () => {
  assert.deepEqual(settingMetric('shared_buffers', '16384', '8kB', 'integer'), { name: 'pg_settings_shared_buffers_bytes', value: 134217728, helpSuffix: ' [Units converted to bytes.]' });
  assert.deepEqual(settingMetric('statement_timeout', '1500', 'ms', 'integer'), { name: 'pg_settings_statement_timeout_seconds', value: 1.5, helpSuffix: ' [Units converted to seconds.]' });
  assert.equal(settingMetric('autovacuum_work_mem', '-1', 'kB', 'integer')!.value, -1);
  assert.deepEqual(settingMetric('enable_seqscan', 'on', null, 'bool'), { name: 'pg_settings_enable_seqscan', value: 1, helpSuffix: '' });
  assert.equal(settingMetric('pg_stat_statements.max', '5000', null, 'integer')!.name, 'pg_settings_pg_stat_statements_max');
  assert.equal(shortVersion(150020), '15.20.0');
  assert.equal(shortVersion(90624), '9.6.24');
});
