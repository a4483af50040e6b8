/**
 * What both implementations share: the repositories over one `SqlClient`, migrations, and the
 * health check. Subclasses provide the client, the leader election and how to close.
 */
import { errorMessage, type HealthCheck } from '../model/index.ts';
import { StateError } from './errors.ts';
import { applyMigrations, STATE_MIGRATIONS } from './migrations.ts';
import { SqlHistoryRepository, SqlNflogRepository, SqlSilenceRepository } from './repositories.ts';
import type { HistoryRepository, LeaderElection, Migration, NflogRepository, SilenceRepository, SqlClient, StateStore } from './types.ts';

export abstract class SqlStateStore implements StateStore {
  abstract readonly kind: 'pglite' | 'postgres';
  abstract readonly location: string;
  abstract readonly leader: LeaderElection;
  readonly silences: SilenceRepository;
  readonly nflog: NflogRepository;
  readonly history: HistoryRepository;
  protected closed = false;

  constructor(readonly sql: SqlClient, private readonly lockSpace: string) {
    this.silences = new SqlSilenceRepository(sql);
    this.nflog = new SqlNflogRepository(sql);
    this.history = new SqlHistoryRepository(sql);
  }

  /** Applies the state module's own schema. Called once by the opener. */
  async init(): Promise<void> {
    await this.migrate('state', STATE_MIGRATIONS);
  }

  async migrate(module: string, migrations: readonly Migration[]): Promise<void> {
    if (this.closed) throw new StateError('state_closed', 'the state store is closed');
    await applyMigrations(this.sql, this.lockSpace, module, migrations);
  }

  healthCheck(): HealthCheck {
    return {
      name: 'state:store',
      timeoutMs: 3000,
      run: async () => {
        const t0 = performance.now();
        try {
          await this.sql.query('SELECT 1 AS ok');
          const latency = Math.round((performance.now() - t0) * 100) / 100;
          return {
            componentId: this.location,
            componentType: 'datastore',
            observedValue: latency,
            observedUnit: 'ms',
            status: 'pass',
            kind: this.kind,
            leader: this.leader.isLeader(),
          };
        } catch (e) {
          return { componentId: this.location, componentType: 'datastore', status: 'fail', kind: this.kind, output: `state store unreachable: ${errorMessage(e)}` };
        }
      },
    };
  }

  abstract close(): Promise<void>;
}

/** A leader election that always leads (one embedded store per process). */
export class AlwaysLeader implements LeaderElection {
  isLeader(): boolean {
    return true;
  }

  onChange(): () => void {
    return () => {};
  }
}
