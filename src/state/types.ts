/**
 * The durable records Vigil keeps and the one interface both implementations (embedded
 * PGlite, a PostgreSQL server) provide. Times are integer milliseconds since the epoch.
 * Records are plain data: the store copies nothing it is given and callers own what it returns.
 */
import type { HealthCheck } from '../model/index.ts';

/** One silence matcher as stored (Alertmanager's matcher: name, operator, value). */
export interface SilenceMatcherRecord {
  name: string;
  type: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** A silence as Alertmanager defines it, plus Vigil's `expireWhenResolved` extension. */
export interface SilenceRecord {
  /** UUID (v4). */
  id: string;
  matchers: SilenceMatcherRecord[];
  startsAt: number;
  endsAt: number;
  updatedAt: number;
  createdBy: string;
  comment: string;
  /**
   * Vigil's extension (Alertmanager issues #1057, #5459): the silence expires once every alert
   * it silenced has resolved (and it silenced at least one).
   */
  expireWhenResolved: boolean;
}

/**
 * One notification-log entry: what was last sent for an aggregation group to one integration
 * of a receiver (Alertmanager's nflog). `firing`/`resolved` hold the alerts' hashes (hex).
 */
export interface NflogRecord {
  /** `receiverName/integrationName/index`, e.g. `slack/slack/0`. */
  receiver: string;
  groupKey: string;
  /** When the notification was sent. */
  timestamp: number;
  firing: string[];
  resolved: string[];
  /** After this time the entry is garbage. */
  expiresAt: number;
}

/**
 * One alert episode: an alert (fingerprint) from its `startsAt` until it resolved. Created when
 * alerting first sees it firing; `endsAt` set once it resolved (undefined while firing).
 */
export interface AlertHistoryRecord {
  /** Alertmanager fingerprint, 16 hex digits. */
  fingerprint: string;
  startsAt: number;
  /** Set when the episode resolved. */
  endsAt: number | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  generatorURL: string;
  /** When Vigil first and last received the alert in this episode. */
  firstSeen: number;
  lastSeen: number;
}

/** One notification attempt series (all retries) to one integration. */
export interface NotificationHistoryRecord {
  /** Assigned by the store; ignored on insert. */
  id?: number;
  /** When the last attempt finished. */
  time: number;
  receiver: string;
  /** `webhook`, `slack`, `pagerduty`, `email`. */
  integration: string;
  integrationIndex: number;
  groupKey: string;
  /** `firing` when any alert in it fired, else `resolved`. */
  status: 'firing' | 'resolved';
  /** Fingerprints (16 hex digits) of the alerts it carried. */
  fingerprints: string[];
  success: boolean;
  /** The last error when it failed. */
  error: string;
  attempts: number;
  durationMs: number;
}

export interface AlertHistoryQuery {
  /** Episodes active at some point in [start, end] (ms); default: all. */
  start?: number;
  end?: number;
  /** Only these fingerprints (applied in SQL). */
  fingerprints?: string[];
  /** Only firing (endsAt unset) or only resolved episodes. */
  state?: 'firing' | 'resolved';
  /** Label equality filters applied in SQL (`labels @> {...}`); regex filters are the caller's. */
  labelsEqual?: Record<string, string>;
  /** Newest first; default 1000. */
  limit?: number;
}

export interface NotificationHistoryQuery {
  start?: number;
  end?: number;
  receiver?: string;
  /** Notifications that carried any of these fingerprints. */
  fingerprints?: string[];
  groupKey?: string;
  success?: boolean;
  /** Newest first; default 1000. */
  limit?: number;
}

export interface SilenceRepository {
  /** Inserts or replaces the silence with this id. Acknowledged = durable. */
  upsert(s: SilenceRecord): Promise<void>;
  get(id: string): Promise<SilenceRecord | undefined>;
  list(): Promise<SilenceRecord[]>;
  /** Silences whose `updatedAt` is after `sinceMs` (for followers to catch up). */
  listUpdatedSince(sinceMs: number): Promise<SilenceRecord[]>;
  /** Deletes silences that ended before `beforeMs`; returns how many. */
  deleteEndedBefore(beforeMs: number): Promise<number>;
}

export interface NflogRepository {
  /** Inserts or replaces entries by (receiver, groupKey) in one transaction. */
  upsert(entries: readonly NflogRecord[]): Promise<void>;
  list(): Promise<NflogRecord[]>;
  /** Deletes entries with `expiresAt` before `nowMs`; returns how many. */
  deleteExpired(nowMs: number): Promise<number>;
}

export interface HistoryRepository {
  /**
   * Records episodes: a new (fingerprint, startsAt) is inserted; an existing one gets the
   * given `endsAt` (when set), `lastSeen`, `annotations` and `generatorURL`.
   */
  upsertAlerts(records: readonly AlertHistoryRecord[]): Promise<void>;
  insertNotifications(records: readonly NotificationHistoryRecord[]): Promise<void>;
  queryAlerts(q: AlertHistoryQuery): Promise<AlertHistoryRecord[]>;
  queryNotifications(q: NotificationHistoryQuery): Promise<NotificationHistoryRecord[]>;
  /** Deletes resolved episodes that ended, and notifications sent, before `beforeMs`. */
  prune(beforeMs: number): Promise<{ alerts: number; notifications: number }>;
}

/** One step of a module's schema: applied once, in order, inside a transaction. */
export interface Migration {
  /** 1, 2, 3, ... per module. */
  version: number;
  description: string;
  sql: string;
}

/** SQL for modules that keep their own tables (oncall, runbooks, checklists). */
export interface SqlClient {
  /** Runs one statement with `$1..$n` parameters; returns the rows. */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
}

/**
 * Which instance sends notifications when several share one PostgreSQL database. The embedded
 * store is always the leader. `onChange` listeners run after the state changed.
 */
export interface LeaderElection {
  isLeader(): boolean;
  onChange(listener: (leader: boolean) => void): () => void;
}

export interface StateStore {
  readonly kind: 'pglite' | 'postgres';
  /** Where the data lives (a directory, or the server URL with the password hidden and the schema). */
  readonly location: string;
  readonly silences: SilenceRepository;
  readonly nflog: NflogRepository;
  readonly history: HistoryRepository;
  readonly leader: LeaderElection;
  readonly sql: SqlClient;
  /** Applies a module's migrations not applied yet (serialised across instances). */
  migrate(module: string, migrations: readonly Migration[]): Promise<void>;
  /** `state:store` health check: a round trip to the store, with its latency. */
  healthCheck(): HealthCheck;
  /** Releases leadership and connections; idempotent. */
  close(): Promise<void>;
}
