/**
 * What is known about each alert's suppression (Alertmanager's marker): the silences and
 * inhibiting alerts that mute it. An alert without an entry is `unprocessed`.
 */

export type AlertState = 'unprocessed' | 'active' | 'suppressed';

export interface AlertStatus {
  state: AlertState;
  /** Ids of active silences that mute it, sorted. */
  silencedBy: string[];
  /** Fingerprints of the alerts that inhibit it. */
  inhibitedBy: string[];
}

export class Marker {
  private readonly entries = new Map<string, { silencedBy: string[]; inhibitedBy: string[] }>();

  status(fp: string): AlertStatus {
    const e = this.entries.get(fp);
    if (!e) return { state: 'unprocessed', silencedBy: [], inhibitedBy: [] };
    return { state: e.silencedBy.length || e.inhibitedBy.length ? 'suppressed' : 'active', silencedBy: e.silencedBy, inhibitedBy: e.inhibitedBy };
  }

  setSilenced(fp: string, ids: string[]): void {
    const e = this.entries.get(fp);
    if (e) e.silencedBy = ids;
    else this.entries.set(fp, { silencedBy: ids, inhibitedBy: [] });
  }

  setInhibited(fp: string, by: string[]): void {
    const e = this.entries.get(fp);
    if (e) e.inhibitedBy = by;
    else this.entries.set(fp, { silencedBy: [], inhibitedBy: by });
  }

  delete(fp: string): void {
    this.entries.delete(fp);
  }

  /** Counts by state over the given fingerprints (for the `vigil_alerts` gauge). */
  count(fps: Iterable<string>): { active: number; suppressed: number; unprocessed: number } {
    const out = { active: 0, suppressed: 0, unprocessed: 0 };
    for (const fp of fps) out[this.status(fp).state]++;
    return out;
  }
}
