/**
 * A store that is created by its first write. Until then it holds nothing, so reads answer
 * empty (no silences, no notification log, no history) without creating it; the first write
 * of any kind (a silence, a notification-log entry, alert or notification history, or SQL of
 * another module) creates the store and then goes through it, acknowledged only once committed
 * as with any store. Concurrent first writes share one creation; a failed creation is retried
 * by the next write, and `state:store` fails meanwhile.
 *
 * Modules' migrations given before the store exists are applied when it is created, after the
 * state module's own; `migrate` then resolves at once (there is no older schema to refuse).
 */
import { errorMessage, type HealthCheck, type HealthResult } from '../model/index.ts';
import { StateError } from './errors.ts';
import { AlwaysLeader } from './store.ts';
import type {
  AlertHistoryQuery, AlertHistoryRecord, HistoryRepository, LeaderElection, Migration, NflogRecord, NflogRepository, NotificationHistoryQuery,
  NotificationHistoryRecord, SilenceRecord, SilenceRepository, SqlClient, StateStore,
} from './types.ts';

export interface DeferredStateOptions {
  kind: StateStore['kind'];
  location: string;
  /** Creates and opens the store (migrations of the state module applied). Throws StateError. */
  create: () => Promise<StateStore>;
  /** Called by `close()` when the store was never created (e.g. to release a directory lock). */
  release?: () => void;
  /** Called once the first write created the store, with how long that took (ms). */
  onCreated?: (ms: number) => void;
}

export class DeferredStateStore implements StateStore {
  readonly kind: StateStore['kind'];
  readonly location: string;
  readonly silences: SilenceRepository;
  readonly nflog: NflogRepository;
  readonly history: HistoryRepository;
  readonly sql: SqlClient;
  private store: StateStore | undefined;
  private creating: Promise<StateStore> | undefined;
  private creationError: unknown;
  private closed = false;
  private readonly pendingMigrations = new Map<string, readonly Migration[]>();
  private readonly alwaysLeader = new AlwaysLeader();

  constructor(private readonly opts: DeferredStateOptions) {
    this.kind = opts.kind;
    this.location = opts.location;
    const read = <T>(fn: (s: StateStore) => Promise<T>, empty: T) => this.read(fn, empty);
    const write = <T>(fn: (s: StateStore) => Promise<T>) => this.write(fn);
    this.silences = {
      upsert: (r: SilenceRecord) => write((s) => s.silences.upsert(r)),
      get: (id: string) => read((s) => s.silences.get(id), undefined),
      list: () => read((s) => s.silences.list(), []),
      listUpdatedSince: (t: number) => read((s) => s.silences.listUpdatedSince(t), []),
      deleteEndedBefore: (t: number) => read((s) => s.silences.deleteEndedBefore(t), 0),
    };
    this.nflog = {
      upsert: (entries: readonly NflogRecord[]) => (entries.length === 0 ? read(async () => undefined, undefined) : write((s) => s.nflog.upsert(entries))),
      list: () => read((s) => s.nflog.list(), []),
      deleteExpired: (t: number) => read((s) => s.nflog.deleteExpired(t), 0),
    };
    this.history = {
      upsertAlerts: (r: readonly AlertHistoryRecord[]) => (r.length === 0 ? read(async () => undefined, undefined) : write((s) => s.history.upsertAlerts(r))),
      insertNotifications: (r: readonly NotificationHistoryRecord[]) => (r.length === 0 ? read(async () => undefined, undefined) : write((s) => s.history.insertNotifications(r))),
      queryAlerts: (q: AlertHistoryQuery) => read((s) => s.history.queryAlerts(q), []),
      queryNotifications: (q: NotificationHistoryQuery) => read((s) => s.history.queryNotifications(q), []),
      prune: (t: number) => read((s) => s.history.prune(t), { alerts: 0, notifications: 0 }),
    };
    this.sql = {
      query: <R = Record<string, unknown>>(text: string, params?: readonly unknown[]) => write((s) => s.sql.query<R>(text, params)),
      transaction: <T>(fn: (tx: SqlClient) => Promise<T>) => write((s) => s.sql.transaction(fn)),
    };
  }

  /** A store that exists already, behind the same interface (its health says `created`). */
  static of(store: StateStore): DeferredStateStore {
    const d = new DeferredStateStore({ kind: store.kind, location: store.location, create: () => Promise.resolve(store) });
    d.store = store;
    return d;
  }

  /** Whether the store exists (opened at start-up or created by a write). */
  get created(): boolean {
    return this.store !== undefined;
  }

  get leader(): LeaderElection {
    return this.store?.leader ?? this.alwaysLeader;
  }

  private checkOpen(): void {
    if (this.closed) throw new StateError('state_closed', 'the state store is closed');
  }

  /** The store, created by the first caller; concurrent callers share that creation. */
  private materialize(): Promise<StateStore> {
    if (this.store) return Promise.resolve(this.store);
    this.creating ??= (async () => {
      const t0 = performance.now();
      try {
        const s = await this.opts.create();
        try {
          for (const [module, migrations] of this.pendingMigrations) await s.migrate(module, migrations);
        } catch (e) {
          await s.close().catch(() => undefined);
          throw e;
        }
        this.pendingMigrations.clear();
        this.creationError = undefined;
        if (this.closed) {
          // Closed while it was being created: leave nothing open.
          await s.close();
          throw new StateError('state_closed', 'the state store is closed');
        }
        this.store = s;
        this.opts.onCreated?.(Math.round(performance.now() - t0));
        return s;
      } catch (e) {
        this.creationError = e;
        throw e;
      } finally {
        this.creating = undefined;
      }
    })();
    return this.creating;
  }

  private async write<T>(fn: (s: StateStore) => Promise<T>): Promise<T> {
    this.checkOpen();
    return fn(await this.materialize());
  }

  /** Reads go to the store once it exists (or is being created); before that, nothing is stored. */
  private async read<T>(fn: (s: StateStore) => Promise<T>, empty: T): Promise<T> {
    this.checkOpen();
    let s = this.store;
    if (!s && this.creating) s = await this.creating.catch(() => undefined);
    return s ? fn(s) : empty;
  }

  async migrate(module: string, migrations: readonly Migration[]): Promise<void> {
    this.checkOpen();
    if (this.creating) await this.creating.catch(() => undefined);
    if (this.store) return this.store.migrate(module, migrations);
    this.pendingMigrations.set(module, migrations);
  }

  healthCheck(): HealthCheck {
    return {
      name: 'state:store',
      timeoutMs: 3000,
      run: async (): Promise<HealthResult | HealthResult[]> => {
        if (this.store) {
          const r = await this.store.healthCheck().run();
          return Array.isArray(r) ? r.map((x) => ({ ...x, created: true })) : { ...r, created: true };
        }
        const base = { componentId: this.location, componentType: 'datastore', kind: this.kind, created: false, leader: true };
        if (this.closed) return { ...base, status: 'fail', output: 'the state store is closed' };
        if (this.creating) return { ...base, status: 'pass', output: 'being created (first write)' };
        if (this.creationError !== undefined) {
          return { ...base, status: 'fail', output: `the state store could not be created; the next write retries: ${errorMessage(this.creationError)}` };
        }
        return { ...base, status: 'pass', output: 'not created yet: created by the first write (an alert received, a silence created, a notification logged)' };
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.creating) await this.creating.catch(() => undefined);
    if (this.store) await this.store.close();
    else this.opts.release?.();
  }
}
