/**
 * Schema migrations: each module owns an ordered list; `schema_migrations` records what was
 * applied. Applying takes a transaction-scoped advisory lock so that several instances
 * starting together on one PostgreSQL database apply each step exactly once.
 */
import { StateError } from './errors.ts';
import type { Migration, SqlClient } from './types.ts';
import { errorMessage, fnv1a32 } from '../model/index.ts';

/** The state module's own schema: silences, notification log, alert and notification history. */
export const STATE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'silences, notification log, alert and notification history',
    sql: `
CREATE TABLE silences (
  id text PRIMARY KEY,
  matchers jsonb NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  created_by text NOT NULL,
  comment text NOT NULL,
  expire_when_resolved boolean NOT NULL DEFAULT false
);
CREATE INDEX silences_updated_at ON silences (updated_at);
CREATE INDEX silences_ends_at ON silences (ends_at);

CREATE TABLE notification_log (
  receiver text NOT NULL,
  group_key text NOT NULL,
  sent_at timestamptz NOT NULL,
  firing text[] NOT NULL,
  resolved text[] NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (receiver, group_key)
);
CREATE INDEX notification_log_expires_at ON notification_log (expires_at);

CREATE TABLE alert_history (
  fingerprint text NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz,
  labels jsonb NOT NULL,
  annotations jsonb NOT NULL,
  generator_url text NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  PRIMARY KEY (fingerprint, starts_at)
);
CREATE INDEX alert_history_starts_at ON alert_history (starts_at);
CREATE INDEX alert_history_ends_at ON alert_history (ends_at);
CREATE INDEX alert_history_labels ON alert_history USING gin (labels jsonb_path_ops);

CREATE TABLE notification_history (
  id bigserial PRIMARY KEY,
  sent_at timestamptz NOT NULL,
  receiver text NOT NULL,
  integration text NOT NULL,
  integration_index integer NOT NULL,
  group_key text NOT NULL,
  status text NOT NULL,
  fingerprints text[] NOT NULL,
  success boolean NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL,
  duration_ms double precision NOT NULL
);
CREATE INDEX notification_history_sent_at ON notification_history (sent_at);
CREATE INDEX notification_history_fingerprints ON notification_history USING gin (fingerprints);
`,
  },
];

const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS schema_migrations (
  module text NOT NULL,
  version integer NOT NULL,
  description text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (module, version)
)`;

/** Checks a module's list: versions 1..n in order, no gaps. Throws on a programming error. */
function checkList(module: string, migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations of ${module}: expected version ${i + 1} at position ${i}, got ${m.version}`);
  });
}

/**
 * Applies the migrations of `module` that are not recorded yet, each in its own transaction
 * under an advisory lock keyed by `lockSpace` (the schema name) so that concurrent starts do
 * not race. A database ahead of this binary (unknown versions recorded) is refused.
 */
export async function applyMigrations(sql: SqlClient, lockSpace: string, module: string, migrations: readonly Migration[]): Promise<number> {
  checkList(module, migrations);
  const lockKey = fnv1a32(`vigil-migrate:${lockSpace}`) | 0;
  let applied = 0;
  try {
    await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
      await tx.query(BOOKKEEPING);
    });
    await sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
      const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations WHERE module = $1 ORDER BY version', [module]);
      const done = new Set(rows.map((r) => Number(r.version)));
      const newest = rows.length ? Number(rows[rows.length - 1]!.version) : 0;
      if (newest > migrations.length) {
        throw new StateError('state_migration', `the state database has schema version ${newest} for ${module}, newer than this Vigil knows (${migrations.length}); upgrade Vigil or use another database`);
      }
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        for (const stmt of splitStatements(m.sql)) await tx.query(stmt);
        await tx.query('INSERT INTO schema_migrations (module, version, description) VALUES ($1, $2, $3)', [module, m.version, m.description]);
        applied++;
      }
    });
  } catch (e) {
    if (e instanceof StateError && e.code === 'state_migration') throw e;
    throw new StateError('state_migration', `migrating the state schema of ${module} failed: ${errorMessage(e)}`, { cause: e });
  }
  return applied;
}

/** Splits a migration script at top-level semicolons (no dollar quoting or semicolons in literals). */
export function splitStatements(script: string): string[] {
  return script
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
