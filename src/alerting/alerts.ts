/**
 * The alerts Vigil currently knows (Alertmanager's in-memory provider): one per fingerprint,
 * merged with the previous version when their activity overlaps, handed to every subscriber
 * (dispatcher, inhibitor, history) in arrival order. Resolved alerts are dropped by `gc()`.
 */
import { mergeAlerts, resolvedAt, type Alert } from './alert.ts';

export type AlertListener = (alert: Alert) => void;

export class AlertStore {
  private readonly alerts = new Map<string, Alert>();
  private readonly listeners: AlertListener[] = [];

  get size(): number {
    return this.alerts.size;
  }

  get(fingerprint: string): Alert | undefined {
    return this.alerts.get(fingerprint);
  }

  /** Every stored alert (the caller must not mutate them). */
  list(): IterableIterator<Alert> {
    return this.alerts.values();
  }

  subscribe(listener: AlertListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Stores the alerts (merging with stored versions as Alertmanager does) and notifies
   * subscribers. A version that differs from the stored one only in `endsAt`, `updatedAt` and
   * `timeout` updates the stored object in place; listeners get the stored object either way.
   */
  put(alerts: readonly Alert[], now: number): void {
    const listeners = this.listeners;
    for (let i = 0; i < alerts.length; i++) {
      let a = alerts[i]!;
      const old = this.alerts.get(a.fingerprint);
      if (old) {
        // Merge when the activity ranges overlap.
        if ((a.endsAt > old.startsAt && a.endsAt < old.endsAt) || (a.startsAt > old.startsAt && a.startsAt < old.endsAt)) a = mergeAlerts(old, a, now);
        if (a !== old && a.startsAt === old.startsAt && a.labels === old.labels && a.annotations === old.annotations && a.generatorURL === old.generatorURL) {
          old.endsAt = a.endsAt;
          old.updatedAt = a.updatedAt;
          old.timeout = a.timeout;
          for (let j = 0; j < listeners.length; j++) listeners[j]!(old);
          continue;
        }
      }
      this.alerts.set(a.fingerprint, a);
      for (let j = 0; j < listeners.length; j++) listeners[j]!(a);
    }
  }

  /** Removes alerts resolved at `now`; returns them. */
  gc(now: number): Alert[] {
    const out: Alert[] = [];
    for (const [fp, a] of this.alerts) {
      if (resolvedAt(a, now)) {
        this.alerts.delete(fp);
        out.push(a);
      }
    }
    return out;
  }
}
