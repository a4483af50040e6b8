/**
 * Durable records (silences, notification log, alert and notification history; later
 * incidents and acknowledgements) behind one interface, in the embedded PGlite store (the
 * default) or a PostgreSQL server, with leader election for several instances.
 */
export type {
  StateStore, SilenceRecord, SilenceMatcherRecord, NflogRecord, AlertHistoryRecord, NotificationHistoryRecord, AlertHistoryQuery,
  NotificationHistoryQuery, SilenceRepository, NflogRepository, HistoryRepository, Migration, SqlClient, LeaderElection,
} from './types.ts';
export { StateError } from './errors.ts';
export { stateSection } from './config.ts';
export type { StateConfig } from './config.ts';
export { openStateStore } from './open.ts';
export type { OpenStateOptions } from './open.ts';
export { PGliteStateStore, createPGliteTemplate, pgliteStoreExists } from './pglite.ts';
export { DeferredStateStore } from './deferred.ts';
export type { DeferredStateOptions } from './deferred.ts';
export type { PGliteOpenOptions } from './pglite.ts';
export { PostgresStateStore, redactUrl } from './postgres.ts';
export type { PostgresOpenOptions } from './postgres.ts';
export { STATE_MIGRATIONS } from './migrations.ts';
