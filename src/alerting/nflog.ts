/**
 * The notification log (Alertmanager's nflog): for each (receiver integration, group key) what
 * was last sent and when, which the dedup stage reads to decide whether to notify. Kept in
 * memory and written to the state store after each send, so a restart neither repeats nor
 * loses notifications. Writes are coalesced: concurrent sends share one transaction.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../model/index.ts';
import type { NflogRecord, StateStore } from '../state/index.ts';

export interface NflogEntry {
  timestamp: number;
  firing: ReadonlySet<string>;
  resolved: ReadonlySet<string>;
  expiresAt: number;
}

export interface NflogOptions {
  store?: StateStore;
  logger: Logger;
  /** Entries expire this long after they were written (ms). */
  retention: number;
}

function key(receiver: string, groupKey: string): string {
  return receiver + '\u0000' + groupKey;
}

export class NotificationLog {
  private readonly entries = new Map<string, NflogEntry>();
  private pending = new Map<string, NflogRecord>();
  private waiters: Array<{ resolve: () => void }> = [];
  private writing: Promise<void> | undefined;
  /** Persistence failures (the entry stays pending and is retried). */
  writeFailures = 0;

  constructor(private readonly opts: NflogOptions) {}

  /** Replaces the memory with what the store holds (start-up, or taking over as leader). */
  async load(): Promise<number> {
    if (!this.opts.store) return 0;
    const records = await this.opts.store.nflog.list();
    this.entries.clear();
    for (const r of records) this.entries.set(key(r.receiver, r.groupKey), { timestamp: r.timestamp, firing: new Set(r.firing), resolved: new Set(r.resolved), expiresAt: r.expiresAt });
    return records.length;
  }

  query(receiver: string, groupKey: string): NflogEntry | undefined {
    return this.entries.get(key(receiver, groupKey));
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records a sent notification; resolves once it is durable (or immediately without a store). */
  log(receiver: string, groupKey: string, firing: readonly string[], resolved: readonly string[], now: number): Promise<void> {
    const expiresAt = now + this.opts.retention;
    this.entries.set(key(receiver, groupKey), { timestamp: now, firing: new Set(firing), resolved: new Set(resolved), expiresAt });
    if (!this.opts.store) return Promise.resolve();
    this.pending.set(key(receiver, groupKey), { receiver, groupKey, timestamp: now, firing: [...firing], resolved: [...resolved], expiresAt });
    const done = new Promise<void>((resolve) => this.waiters.push({ resolve }));
    this.kick();
    return done;
  }

  private kick(): void {
    if (this.writing || this.pending.size === 0) return;
    this.writing = this.writeLoop().finally(() => {
      this.writing = undefined;
      if (this.pending.size) setTimeout(() => this.kick(), this.writeFailures ? 1000 : 0).unref();
    });
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.size) {
      const batch = this.pending;
      const waiters = this.waiters;
      this.pending = new Map();
      this.waiters = [];
      try {
        await this.opts.store!.nflog.upsert([...batch.values()]);
        for (const w of waiters) w.resolve();
      } catch (e) {
        this.writeFailures++;
        this.opts.logger.error({ err: errorMessage(e), entries: batch.size }, 'writing the notification log failed; retrying');
        // Keep newer entries written meanwhile; put the failed ones back under them.
        for (const [k, r] of batch) if (!this.pending.has(k)) this.pending.set(k, r);
        // Sends must not wait for the store to come back: their entries are in memory.
        for (const w of waiters) w.resolve();
        return;
      }
    }
  }

  /** Waits until every logged entry is written (or failed once). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Drops expired entries from memory and the store. */
  async gc(now: number): Promise<number> {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (e.expiresAt < now) {
        this.entries.delete(k);
        n++;
      }
    }
    if (this.opts.store) await this.opts.store.nflog.deleteExpired(now);
    return n;
  }
}
