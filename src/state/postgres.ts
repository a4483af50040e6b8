/**
 * A PostgreSQL server as the store (pg@8): several Vigil instances share one database (and
 * schema); one of them is the leader, elected with a session-level `pg_try_advisory_lock`
 * held on a dedicated connection. When that connection breaks, leadership is lost at once
 * (the server releases the lock) and another instance takes it at its next attempt.
 *
 * The `pg` package is loaded when a store is opened (configurations without it never load it).
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { errorMessage, fnv1a32 } from '../model/index.ts';
import { StateError } from './errors.ts';
import { SqlStateStore } from './store.ts';
import type { LeaderElection, SqlClient } from './types.ts';

export interface PostgresOpenOptions {
  /** `postgres://user:pass@host:port/db?...` */
  url: string;
  /** Schema holding Vigil's tables (created if missing). */
  schema: string;
  /** Pool size. */
  maxConnections?: number;
  /** How often a follower tries to become the leader and the leader checks its connection (ms). */
  leaderCheckIntervalMs?: number;
  /** Connect timeout (ms). */
  connectTimeoutMs?: number;
  logger?: Logger;
}

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** The URL without its password, for messages and `location`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '<secret>';
    return u.toString().replace('%3Csecret%3E', '<secret>');
  } catch {
    return '<invalid url>';
  }
}

class PoolClient implements SqlClient {
  constructor(private readonly q: pg.Pool | pg.PoolClient, private readonly pool: pg.Pool, private readonly where: string) {}

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
    try {
      const r = await this.q.query(text, params ? [...params] : undefined);
      return r.rows as R[];
    } catch (e) {
      throw wrap(e, this.where);
    }
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw wrap(e, this.where);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const out = await fn(new PoolClient(client, this.pool, this.where));
      await client.query('COMMIT');
      return out;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw e instanceof StateError ? e : wrap(e, this.where);
    } finally {
      client.release(broken);
    }
  }
}

function wrap(e: unknown, where: string): StateError {
  if (e instanceof StateError) return e;
  const code = (e as { code?: string }).code;
  const connection = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'ECONNRESET' || code === '57P01' || code === '57P03' || /Connection terminated|timeout/i.test(errorMessage(e));
  return new StateError(connection ? 'state_unavailable' : 'state_query', `state store (${where}): ${errorMessage(e)}`, { cause: e });
}

class AdvisoryLockLeader implements LeaderElection {
  private leader = false;
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private stopped = false;
  private busy = false;

  constructor(private readonly pgm: typeof pg, private readonly cfg: pg.ClientConfig, private readonly key: number, private readonly intervalMs: number, private readonly logger?: Logger) {}

  isLeader(): boolean {
    return this.leader;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.logger?.info({ leader }, leader ? 'became the leader: this instance sends notifications' : 'lost leadership: another instance sends notifications');
    for (const l of this.listeners) {
      try {
        l(leader);
      } catch (e) {
        this.logger?.error({ err: errorMessage(e) }, 'leadership listener failed');
      }
    }
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** One attempt: connect if needed, then take the lock (follower) or check the connection (leader). */
  async tick(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    try {
      if (!this.client) {
        const c = new this.pgm.Client(this.cfg);
        c.on('error', () => {
          // The session is gone, and with it the lock.
          if (this.client === c) this.client = undefined;
          this.set(false);
        });
        await c.connect();
        if (this.stopped) {
          await c.end().catch(() => undefined);
          return;
        }
        this.client = c;
      }
      if (this.leader) {
        await this.client.query('SELECT 1');
      } else {
        const r = await this.client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [this.key]);
        this.set(Boolean(r.rows[0]?.locked));
      }
    } catch (e) {
      this.logger?.warn({ err: errorMessage(e) }, 'leader election: the lock connection failed; retrying');
      const c = this.client;
      this.client = undefined;
      this.set(false);
      if (c) await c.end().catch(() => undefined);
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const c = this.client;
    this.client = undefined;
    if (c) {
      if (this.leader) await c.query('SELECT pg_advisory_unlock($1)', [this.key]).catch(() => undefined);
      await c.end().catch(() => undefined);
    }
    this.set(false);
  }
}

export class PostgresStateStore extends SqlStateStore {
  readonly kind = 'postgres' as const;
  readonly leader: AdvisoryLockLeader;

  private constructor(private readonly pool: pg.Pool, readonly location: string, leader: AdvisoryLockLeader, schema: string) {
    super(new PoolClient(pool, pool, location), `postgres:${schema}`);
    this.leader = leader;
  }

  /** Connects, creates the schema, applies migrations and starts the leader election. Throws StateError. */
  static async open(opts: PostgresOpenOptions): Promise<PostgresStateStore> {
    const where = `${redactUrl(opts.url)} schema ${opts.schema}`;
    const pgm = (await import('pg')).default;
    const base: pg.ClientConfig = {
      connectionString: opts.url,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      options: `-c search_path=${quoteIdent(opts.schema)}`,
      application_name: 'vigil',
    };
    // The schema must exist before connections that use it as their search_path do anything.
    const setup = new pgm.Client({ ...base, options: undefined });
    try {
      await setup.connect();
      try {
        await setup.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`);
      } catch (e) {
        // Two instances creating it at once: one wins, the other sees a unique violation.
        if ((e as { code?: string }).code !== '23505') throw e;
      }
    } catch (e) {
      throw new StateError('state_unavailable', `cannot connect to the state database ${where}: ${errorMessage(e)}`, { cause: e });
    } finally {
      await setup.end().catch(() => undefined);
    }
    const pool = new pgm.Pool({ ...base, max: opts.maxConnections ?? 5, idleTimeoutMillis: 30_000 });
    pool.on('error', (e) => opts.logger?.warn({ err: errorMessage(e) }, 'state database: an idle connection failed'));
    const key = fnv1a32(`vigil-leader:${opts.schema}`) | 0;
    const leader = new AdvisoryLockLeader(pgm, base, key, opts.leaderCheckIntervalMs ?? 5000, opts.logger);
    const store = new PostgresStateStore(pool, where, leader, opts.schema);
    try {
      await store.init();
      await leader.start();
    } catch (e) {
      await leader.stop();
      await pool.end().catch(() => undefined);
      throw e;
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.leader.stop();
    await this.pool.end();
  }
}
