import { join } from 'node:path';
import type { Logger } from 'pino';
import type { StateConfig } from './config.ts';
import { PGliteStateStore } from './pglite.ts';
import { PostgresStateStore } from './postgres.ts';
import type { StateStore } from './types.ts';

export interface OpenStateOptions {
  config: StateConfig;
  /** Vigil's data directory (absolute); the embedded store defaults to `<dataDir>/state`. */
  dataDir: string;
  logger: Logger;
}

/**
 * Opens the store the configuration asks for: a PostgreSQL server when `state.postgres` is
 * set, the embedded PGlite store otherwise. Migrations are applied before it returns.
 *
 * The embedded store is opened now only when its database exists (so that silences, the
 * notification log and history are restored before anything is sent); otherwise it is created
 * by the first write, and until then costs neither memory nor start-up time (see
 * `DeferredStateStore`). Its directory is locked now either way.
 * Throws StateError (`state_unavailable`, `state_migration`).
 */
export async function openStateStore(opts: OpenStateOptions): Promise<StateStore> {
  const pgc = opts.config.postgres;
  if (pgc) {
    const store = await PostgresStateStore.open({
      url: pgc.url.reveal(),
      schema: pgc.schema,
      maxConnections: pgc.maxConnections,
      leaderCheckIntervalMs: pgc.leaderCheckIntervalMs,
      logger: opts.logger,
    });
    opts.logger.info({ location: store.location }, 'state store: PostgreSQL server');
    return store;
  }
  const dir = opts.config.path ?? join(opts.dataDir, 'state');
  const store = await PGliteStateStore.deferred({ dir, onProgress: (m) => opts.logger.info(m) });
  if (store.created) opts.logger.info({ location: store.location }, 'state store: embedded PGlite, opened');
  else opts.logger.info({ location: store.location }, 'state store: embedded PGlite, created by the first write (nothing stored yet)');
  return store;
}
