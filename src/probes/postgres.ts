/**
 * The postgres probe: postgres_exporter's metric names (0.11, the Debian peer) for
 * connections by state, the longest open transaction, settings, database sizes, locks,
 * pg_stat_database, replication lag, plus the slowest statements of pg_stat_statements by
 * mean execution time as a bounded top-N series set.
 *
 * One connection is kept between runs (as the exporter keeps its pool) and reopened after a
 * failure. The password is read from the Secret at connect time and never logged: error
 * texts come from the server or the socket, which do not contain it.
 */
import type pg from 'pg';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { errorMessage } from '../model/index.ts';
import { postgresTarget, type PostgresProbeConfig, type PostgresTarget } from './config.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable, ProbeContext, ProbeOutcome, Prober } from './types.ts';

const ACTIVITY_STATES = ['active', 'disabled', 'fastpath function call', 'idle', 'idle in transaction', 'idle in transaction (aborted)'];
const LOCK_MODES = ['AccessExclusiveLock', 'AccessShareLock', 'ExclusiveLock', 'RowExclusiveLock', 'RowShareLock', 'ShareLock', 'ShareRowExclusiveLock', 'ShareUpdateExclusiveLock', 'SIReadLock'];

const STAT_DATABASE: ReadonlyArray<readonly [string, 'gauge' | 'counter', string]> = [
  ['numbackends', 'gauge', 'Number of backends currently connected to this database. This is the only column in this view that returns a value reflecting current state; all other columns return the accumulated values since the last reset.'],
  ['xact_commit', 'counter', 'Number of transactions in this database that have been committed'],
  ['xact_rollback', 'counter', 'Number of transactions in this database that have been rolled back'],
  ['blks_read', 'counter', 'Number of disk blocks read in this database'],
  ['blks_hit', 'counter', "Number of times disk blocks were found already in the buffer cache, so that a read was not necessary (this only includes hits in the PostgreSQL buffer cache, not the operating system's file system cache)"],
  ['tup_returned', 'counter', 'Number of rows returned by queries in this database'],
  ['tup_fetched', 'counter', 'Number of rows fetched by queries in this database'],
  ['tup_inserted', 'counter', 'Number of rows inserted by queries in this database'],
  ['tup_updated', 'counter', 'Number of rows updated by queries in this database'],
  ['tup_deleted', 'counter', 'Number of rows deleted by queries in this database'],
  ['conflicts', 'counter', 'Number of queries canceled due to conflicts with recovery in this database. (Conflicts occur only on standby servers; see pg_stat_database_conflicts for details.)'],
  ['temp_files', 'counter', 'Number of temporary files created by queries in this database. All temporary files are counted, regardless of why the temporary file was created (e.g., sorting or hashing), and regardless of the log_temp_files setting.'],
  ['temp_bytes', 'counter', 'Total amount of data written to temporary files by queries in this database. All temporary files are counted, regardless of why the temporary file was created, and regardless of the log_temp_files setting.'],
  ['deadlocks', 'counter', 'Number of deadlocks detected in this database'],
  ['blk_read_time', 'counter', 'Time spent reading data file blocks by backends in this database, in milliseconds'],
  ['blk_write_time', 'counter', 'Time spent writing data file blocks by backends in this database, in milliseconds'],
];

export const POSTGRES_METADATA: MetadataTable = {
  pg_up: ['gauge', 'Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).'],
  pg_exporter_last_scrape_duration_seconds: ['gauge', 'Duration of the last scrape of metrics from PostgreSQL.'],
  pg_exporter_last_scrape_error: ['gauge', 'Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).'],
  pg_static: ['untyped', 'Version string as reported by postgres'],
  pg_stat_activity_count: ['gauge', 'number of connections in this state'],
  pg_stat_activity_max_tx_duration: ['gauge', 'max duration in seconds any active transaction has been running'],
  pg_database_size_bytes: ['gauge', 'Disk space used by the database'],
  pg_locks_count: ['gauge', 'Number of locks'],
  pg_replication_lag_seconds: ['gauge', 'Replication lag behind master in seconds'],
  pg_replication_is_replica: ['gauge', 'Indicates if the server is a replica'],
  pg_stat_replication_pg_wal_lsn_diff: ['gauge', 'Lag in bytes between master and slave'],
  pg_stat_statements_calls_total: ['counter', 'Number of times executed'],
  pg_stat_statements_seconds_total: ['counter', 'Total time spent in the statement, in seconds'],
  pg_stat_statements_rows_total: ['counter', 'Total number of rows retrieved or affected by the statement'],
  pg_stat_statements_mean_time_seconds: ['gauge', 'Mean time spent in the statement, in seconds (Vigil: the top-N ranking key)'],
  pg_stat_statements_max_time_seconds: ['gauge', 'Maximum time spent in the statement, in seconds'],
  ...Object.fromEntries(STAT_DATABASE.map(([c, type, help]) => [`pg_stat_database_${c}`, [type, help] as const])),
};

/** SQLSTATE classes that mean the connection itself is unusable. */
function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  if (code === undefined) return true;
  return code.startsWith('08') || code.startsWith('57P') || /^E[A-Z]+$/.test(code);
}

interface Collector {
  name: string;
  run(c: pg.Client, out: SampleBuffer, info: string[]): Promise<void>;
}

export class PostgresProber implements Prober {
  private client: pg.Client | undefined;
  private readonly target: PostgresTarget;
  private readonly server: string;
  private serverVersionNum = 0;

  constructor(private readonly cfg: PostgresProbeConfig) {
    this.target = postgresTarget(cfg);
    this.server = `${this.target.host}:${this.target.port}`;
  }

  /** `user@host:port/database`: how logs and errors name the target (never with a password). */
  get description(): string {
    return `${this.target.user}@${this.target.host}:${this.target.port}/${this.target.database}`;
  }

  async run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome> {
    const t0 = performance.now();
    const onAbort = () => this.drop();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      let client: pg.Client;
      try {
        client = await this.connect(ctx);
      } catch (e) {
        out.add('pg_up', 0);
        out.add('pg_exporter_last_scrape_error', 1);
        out.add('pg_exporter_last_scrape_duration_seconds', (performance.now() - t0) / 1000);
        return { success: false, error: ctx.signal.aborted ? `connecting to postgres ${this.description} timed out after ${ctx.timeoutMs / 1000}s` : `cannot connect to postgres ${this.description}: ${errorMessage(e)}` };
      }
      const info: string[] = [];
      const failures: string[] = [];
      let lost = false;
      for (const col of this.collectors()) {
        if (ctx.signal.aborted) {
          failures.push(`timed out after ${ctx.timeoutMs / 1000}s before ${col.name}`);
          lost = true;
          break;
        }
        try {
          await col.run(client, out, info);
        } catch (e) {
          if (isConnectionError(e) || ctx.signal.aborted) {
            lost = true;
            failures.push(ctx.signal.aborted ? `timed out after ${ctx.timeoutMs / 1000}s during ${col.name}` : `connection lost during ${col.name}: ${errorMessage(e)}`);
            this.drop();
            break;
          }
          failures.push(`${col.name}: ${errorMessage(e)}`);
        }
      }
      out.add('pg_up', lost ? 0 : 1);
      out.add('pg_exporter_last_scrape_error', failures.length ? 1 : 0);
      out.add('pg_exporter_last_scrape_duration_seconds', (performance.now() - t0) / 1000);
      const outcome: ProbeOutcome = failures.length ? { success: false, error: failures.join('; ') } : { success: true };
      if (info.length) outcome.info = info;
      return outcome;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  private async connect(ctx: ProbeContext): Promise<pg.Client> {
    if (this.client) return this.client;
    const t = this.target;
    const secret = this.cfg.password ?? this.cfg.password_file;
    const base: pg.ClientConfig = {
      host: t.host,
      port: t.port,
      user: t.user,
      database: t.database,
      connectionTimeoutMillis: ctx.timeoutMs,
      // Client-side only: a server-side statement_timeout would show up in pg_settings_statement_timeout_seconds.
      query_timeout: ctx.timeoutMs,
      application_name: 'vigil-probe',
    };
    if (secret) base.password = () => secret.reveal();
    // pg is loaded by the first PostgreSQL probe, not at start-up (it costs ~40 ms and a few MB).
    const { Client } = (await import('pg')).default;
    const attempt = async (ssl: pg.ClientConfig['ssl']) => {
      const c = new Client({ ...base, ssl });
      // A server-side disconnect between runs must not become an unhandled 'error' event.
      c.on('error', () => {
        if (this.client === c) this.client = undefined;
      });
      try {
        await c.connect();
      } catch (e) {
        c.end().catch(() => {});
        throw e;
      }
      return c;
    };
    let client: pg.Client;
    if (t.sslmode === 'prefer') {
      try {
        client = await attempt(this.sslOptions());
      } catch (e) {
        if (!/does not support SSL/i.test(errorMessage(e))) throw e;
        client = await attempt(false);
      }
    } else {
      client = await attempt(t.sslmode === 'disable' ? false : this.sslOptions());
    }
    this.client = client;
    const v = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    this.serverVersionNum = Number(v.rows[0]?.server_version_num ?? 0);
    return client;
  }

  private sslOptions(): ConnectionOptions {
    const tlsCfg = this.cfg.tls_config;
    const o: ConnectionOptions = { rejectUnauthorized: this.target.sslmode === 'verify-ca' || this.target.sslmode === 'verify-full' };
    if (tlsCfg?.insecure_skip_verify) o.rejectUnauthorized = false;
    if (tlsCfg?.ca_file) o.ca = readFileSync(tlsCfg.ca_file);
    if (tlsCfg?.cert_file) o.cert = readFileSync(tlsCfg.cert_file);
    if (tlsCfg?.key_file) o.key = readFileSync(tlsCfg.key_file);
    if (this.target.sslmode === 'verify-ca') o.checkServerIdentity = () => undefined;
    else o.servername = tlsCfg?.server_name ?? this.target.host;
    return o;
  }

  private drop(): void {
    const c = this.client;
    this.client = undefined;
    c?.end().catch(() => {});
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => {});
  }

  private collectors(): Collector[] {
    const server = this.server;
    const list: Collector[] = [
      {
        name: 'version',
        run: async (c, out) => {
          const r = await c.query<{ version: string }>('SELECT version()');
          out.add('pg_static', 1, ['server', server, 'short_version', shortVersion(this.serverVersionNum), 'version', r.rows[0]?.version ?? '']);
        },
      },
      {
        name: 'pg_stat_activity',
        run: async (c, out) => {
          const r = await c.query<{ datname: string; state: string; n: number; max_tx: number }>(
            `SELECT d.datname, s.state,
                    count(a.pid)::float8 AS n,
                    coalesce(max(extract(epoch FROM now() - a.xact_start)), 0)::float8 AS max_tx
               FROM pg_database d
               CROSS JOIN unnest($1::text[]) AS s(state)
               LEFT JOIN pg_stat_activity a ON a.datname = d.datname AND a.state = s.state
              GROUP BY d.datname, s.state`,
            [ACTIVITY_STATES],
          );
          for (const row of r.rows) {
            const labels = ['datname', row.datname, 'server', server, 'state', row.state];
            out.add('pg_stat_activity_count', Number(row.n), labels);
            out.add('pg_stat_activity_max_tx_duration', Number(row.max_tx), labels);
          }
        },
      },
      {
        name: 'pg_settings',
        run: async (c, out) => {
          const r = await c.query<{ name: string; setting: string; unit: string | null; vartype: string }>(
            `SELECT name, setting, unit, vartype FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real')`,
          );
          for (const row of r.rows) {
            const m = settingMetric(row.name, row.setting, row.unit, row.vartype);
            if (m) out.add(m.name, m.value, ['server', server]);
          }
        },
      },
      {
        name: 'pg_database_size',
        run: async (c, out) => {
          const r = await c.query<{ datname: string; size: number | null }>(
            `SELECT datname, CASE WHEN has_database_privilege(datname, 'CONNECT') THEN pg_database_size(datname)::float8 END AS size FROM pg_database`,
          );
          for (const row of r.rows) if (row.size !== null) out.add('pg_database_size_bytes', Number(row.size), ['datname', row.datname, 'server', server]);
        },
      },
      {
        name: 'pg_locks',
        run: async (c, out) => {
          const r = await c.query<{ datname: string; mode: string; n: number }>(
            `SELECT d.datname, m.mode, count(l.pid)::float8 AS n
               FROM pg_database d
               CROSS JOIN unnest($1::text[]) AS m(mode)
               LEFT JOIN pg_locks l ON l.database = d.oid AND l.mode = m.mode
              GROUP BY d.datname, m.mode`,
            [LOCK_MODES],
          );
          for (const row of r.rows) out.add('pg_locks_count', Number(row.n), ['datname', row.datname, 'mode', row.mode.toLowerCase(), 'server', server]);
        },
      },
      {
        name: 'pg_stat_database',
        run: async (c, out) => {
          const cols = STAT_DATABASE.map(([col]) => `${col}::float8 AS ${col}`).join(', ');
          const r = await c.query<Record<string, unknown>>(`SELECT datid::text AS datid, coalesce(datname, '') AS datname, ${cols} FROM pg_stat_database`);
          for (const row of r.rows) {
            const labels = ['datid', String(row.datid), 'datname', String(row.datname), 'server', server];
            for (const [col] of STAT_DATABASE) {
              const v = row[col];
              if (v !== null && v !== undefined) out.add(`pg_stat_database_${col}`, Number(v), labels);
            }
          }
        },
      },
      {
        name: 'replication',
        run: async (c, out) => {
          const rec = await c.query<{ replica: boolean }>('SELECT pg_is_in_recovery() AS replica');
          const replica = rec.rows[0]?.replica === true;
          out.add('pg_replication_is_replica', replica ? 1 : 0, ['server', server]);
          if (replica) {
            const lsnFns = this.serverVersionNum >= 100000 ? ['pg_last_wal_receive_lsn()', 'pg_last_wal_replay_lsn()'] : ['pg_last_xlog_receive_location()', 'pg_last_xlog_replay_location()'];
            const lag = await c.query<{ lag: number }>(
              `SELECT CASE WHEN ${lsnFns[0]} = ${lsnFns[1]} THEN 0
                           ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END::float8 AS lag`,
            );
            out.add('pg_replication_lag_seconds', Number(lag.rows[0]?.lag ?? 0), ['server', server]);
          } else {
            out.add('pg_replication_lag_seconds', 0, ['server', server]);
            if (this.serverVersionNum >= 100000) {
              const r = await c.query<{ application_name: string; client_addr: string | null; state: string; sync_state: string; diff: number | null }>(
                `SELECT application_name, client_addr::text AS client_addr, state, sync_state,
                        pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS diff
                   FROM pg_stat_replication`,
              );
              for (const row of r.rows) {
                if (row.diff === null) continue;
                out.add('pg_stat_replication_pg_wal_lsn_diff', Number(row.diff), [
                  'application_name', row.application_name ?? '', 'client_addr', row.client_addr ?? '', 'server', server, 'state', row.state ?? '', 'sync_state', row.sync_state ?? '',
                ]);
              }
            }
          }
        },
      },
    ];
    if (this.cfg.statements.enabled) list.push({ name: 'pg_stat_statements', run: (c, out, info) => this.statements(c, out, info) });
    return list;
  }

  /** Top-N statements by mean execution time; a clear info line when the extension is missing. */
  private async statements(c: pg.Client, out: SampleBuffer, info: string[]): Promise<void> {
    const ext = await c.query<{ schema: string }>(`SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'`);
    const schema = ext.rows[0]?.schema;
    if (schema === undefined) {
      info.push(
        `pg_stat_statements is not installed in database ${JSON.stringify(this.target.database)}: the slowest statements are not reported ` +
          `(add pg_stat_statements to shared_preload_libraries, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements)`,
      );
      return;
    }
    const v13 = this.serverVersionNum >= 130000;
    const total = v13 ? 'total_exec_time' : 'total_time';
    const max = v13 ? 'max_exec_time' : 'max_time';
    const { limit, min_calls: minCalls, query_length: qlen } = this.cfg.statements;
    const view = `${quoteIdent(schema)}.pg_stat_statements`;
    let r: pg.QueryResult<{ queryid: string; datname: string; rolname: string; query: string; calls: number; total: number; max: number; rows: number }>;
    try {
      r = await c.query(
        `SELECT s.queryid::text AS queryid, d.datname, r.rolname,
                left(regexp_replace(min(s.query), '\\s+', ' ', 'g'), $3) AS query,
                sum(s.calls)::float8 AS calls, (sum(s.${total}) / 1000)::float8 AS total,
                (max(s.${max}) / 1000)::float8 AS max, sum(s.rows)::float8 AS rows
           FROM ${view} s
           JOIN pg_database d ON d.oid = s.dbid
           JOIN pg_roles r ON r.oid = s.userid
          WHERE s.queryid IS NOT NULL
          GROUP BY s.queryid, d.datname, r.rolname
         HAVING sum(s.calls) >= $2
          ORDER BY sum(s.${total}) / sum(s.calls) DESC, s.queryid
          LIMIT $1`,
        [limit, minCalls, Math.max(qlen, 1)],
      );
    } catch (e) {
      const msg = errorMessage(e);
      if (/shared_preload_libraries/.test(msg)) {
        info.push(`pg_stat_statements is installed but not loaded (${msg}): add it to shared_preload_libraries and restart PostgreSQL to get the slowest statements`);
        return;
      }
      throw e;
    }
    for (const row of r.rows) {
      const calls = Number(row.calls);
      const totalS = Number(row.total);
      const labels = ['datname', row.datname, 'queryid', row.queryid, 'user', row.rolname];
      if (qlen > 0) labels.push('query', row.query);
      out.add('pg_stat_statements_calls_total', calls, labels);
      out.add('pg_stat_statements_seconds_total', totalS, labels);
      out.add('pg_stat_statements_rows_total', Number(row.rows), labels);
      out.add('pg_stat_statements_mean_time_seconds', calls > 0 ? totalS / calls : 0, labels);
      out.add('pg_stat_statements_max_time_seconds', Number(row.max), labels);
    }
  }
}

function quoteIdent(s: string): string {
  return '"' + s.replace(/"/g, '""') + '"';
}

/** `150020` → `15.20.0`, `90624` → `9.6.24` (postgres_exporter's short_version). */
export function shortVersion(num: number): string {
  if (num >= 100000) return `${Math.floor(num / 10000)}.${num % 10000}.0`;
  return `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}.${num % 100}`;
}

/** Unit multipliers to base units, with postgres_exporter's suffix and HELP note. */
const UNITS: Record<string, { factor: number; suffix: '_bytes' | '_seconds' }> = {
  B: { factor: 1, suffix: '_bytes' },
  kB: { factor: 1024, suffix: '_bytes' },
  '8kB': { factor: 8192, suffix: '_bytes' },
  MB: { factor: 1024 * 1024, suffix: '_bytes' },
  '16MB': { factor: 16 * 1024 * 1024, suffix: '_bytes' },
  GB: { factor: 1024 * 1024 * 1024, suffix: '_bytes' },
  ms: { factor: 0.001, suffix: '_seconds' },
  s: { factor: 1, suffix: '_seconds' },
  min: { factor: 60, suffix: '_seconds' },
  h: { factor: 3600, suffix: '_seconds' },
  d: { factor: 86400, suffix: '_seconds' },
};

/**
 * One pg_settings row as postgres_exporter exports it: `pg_settings_<name>` with dots turned
 * into underscores, units converted to bytes or seconds (suffix added), booleans as 0/1, and
 * -1 ("disabled") left as is.
 */
export function settingMetric(name: string, setting: string, unit: string | null, vartype: string): { name: string; value: number; helpSuffix: string } | undefined {
  const metric = 'pg_settings_' + name.replace(/\./g, '_');
  if (vartype === 'bool') return { name: metric, value: setting === 'on' ? 1 : 0, helpSuffix: '' };
  let value = Number(setting);
  if (!Number.isFinite(value)) return undefined;
  const u = unit ? UNITS[unit] : undefined;
  if (unit && !u) return { name: metric, value, helpSuffix: '' };
  if (!u) return { name: metric, value, helpSuffix: '' };
  if (value !== -1) value *= u.factor;
  return { name: metric + u.suffix, value, helpSuffix: ` [Units converted to ${u.suffix.slice(1)}.]` };
}
