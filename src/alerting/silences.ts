/**
 * Silences with Alertmanager's semantics (create, update in place when allowed, otherwise
 * expire and replace; expire; states pending/active/expired; garbage collection after the
 * retention), persisted in the state store before a change is acknowledged, plus Vigil's
 * extension: a silence with `expireWhenResolved` expires once the alerts it silenced have all
 * resolved (Alertmanager issues #1057, #5459).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage, isLegacyLabelName, isWellFormedUtf16, type Labels, type Matcher } from '../model/index.ts';
import type { SilenceMatcherRecord, SilenceRecord, StateStore } from '../state/index.ts';
import { resolvedAt, type Alert } from './alert.ts';
import { AlertingError } from './errors.ts';
import type { Marker } from './marker.ts';
import { amMatcher } from './matchers.ts';

export type SilenceState = 'expired' | 'active' | 'pending';

/** A silence as given to `set` (the API's postable silence). */
export interface SilenceInput {
  id?: string;
  matchers: SilenceMatcherRecord[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  expireWhenResolved?: boolean;
}

interface Entry {
  record: SilenceRecord;
  matchers: Matcher[];
  /** For `expireWhenResolved`: it has matched a firing alert since this process started. */
  matchedFiring: boolean;
}

/** Alertmanager's silence state at `now`. */
export function silenceState(s: { startsAt: number; endsAt: number }, now: number): SilenceState {
  if (now < s.startsAt) return 'pending';
  if (now > s.endsAt) return 'expired';
  return 'active';
}

function validateMatcher(m: SilenceMatcherRecord, i: number): string | undefined {
  if (!isLegacyLabelName(m.name)) return `invalid label matcher ${i}: invalid label name "${m.name}"`;
  if (m.type === '=' || m.type === '!=') {
    if (!isWellFormedUtf16(m.value)) return `invalid label matcher ${i}: invalid label value "${m.value}"`;
  } else if (m.type === '=~' || m.type === '!~') {
    try {
      amMatcher(m.type, m.name, m.value);
    } catch (e) {
      return `invalid label matcher ${i}: invalid regular expression "${m.value}": ${errorMessage(e)}`;
    }
  } else return `invalid label matcher ${i}: unknown matcher type "${String(m.type)}"`;
  return undefined;
}

/** Alertmanager's validateSilence; returns the message or undefined. */
export function validateSilence(s: SilenceRecord): string | undefined {
  if (!s.id) return 'ID missing';
  if (s.matchers.length === 0) return 'at least one matcher required';
  let allMatchEmpty = true;
  for (let i = 0; i < s.matchers.length; i++) {
    const m = s.matchers[i]!;
    const err = validateMatcher(m, i);
    if (err) return err;
    allMatchEmpty &&= amMatcher(m.type, m.name, m.value).matches('');
  }
  if (allMatchEmpty) return 'at least one matcher must not match the empty string';
  if (!s.startsAt) return 'invalid zero start timestamp';
  if (!s.endsAt) return 'invalid zero end timestamp';
  if (s.endsAt < s.startsAt) return 'end time must not be before start time';
  if (!s.updatedAt) return 'invalid zero update timestamp';
  return undefined;
}

function sameMatchers(a: SilenceMatcherRecord[], b: SilenceMatcherRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.type !== y.type || x.value !== y.value) return false;
  }
  return true;
}

/** Alertmanager's canUpdate: may `next` replace `prev` in place at `now`? */
function canUpdate(prev: SilenceRecord, next: SilenceInput, now: number): boolean {
  if (!sameMatchers(prev.matchers, next.matchers)) return false;
  switch (silenceState(prev, now)) {
    case 'active':
      return next.startsAt === prev.startsAt && next.endsAt >= now;
    case 'pending':
      return next.startsAt >= now;
    default:
      return false;
  }
}

export interface SilencesOptions {
  store?: StateStore;
  logger: Logger;
  now: () => number;
  /** Expired silences are deleted this long after they ended (ms). */
  retention: number;
  /** Called after every change (for metrics and caches). */
  onChange?: () => void;
}

export class Silences {
  private readonly entries = new Map<string, Entry>();
  private chain: Promise<unknown> = Promise.resolve();
  private newestUpdate = 0;
  /** Increases on every change; callers cache matching results per version. */
  version = 0;

  constructor(private readonly opts: SilencesOptions) {}

  /** Loads the persisted silences (start-up, and followers catching up). */
  async load(): Promise<number> {
    if (!this.opts.store) return 0;
    const records = this.newestUpdate === 0 ? await this.opts.store.silences.list() : await this.opts.store.silences.listUpdatedSince(this.newestUpdate);
    let n = 0;
    for (const r of records) {
      const cur = this.entries.get(r.id);
      if (cur && cur.record.updatedAt >= r.updatedAt) continue;
      this.put(r, cur?.matchedFiring ?? false);
      n++;
    }
    if (n) this.changed();
    return n;
  }

  private put(r: SilenceRecord, matchedFiring = false): void {
    this.entries.set(r.id, { record: r, matchers: r.matchers.map((m) => amMatcher(m.type, m.name, m.value)), matchedFiring });
    if (r.updatedAt > this.newestUpdate) this.newestUpdate = r.updatedAt;
  }

  private changed(): void {
    this.version++;
    this.opts.onChange?.();
  }

  /** Serialises changes so that persistence happens in the order they were made. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async persist(r: SilenceRecord): Promise<void> {
    const err = validateSilence(r);
    if (err) throw new AlertingError('silence_invalid', `silence invalid: ${err}`);
    if (this.opts.store) await this.opts.store.silences.upsert(r);
    this.put(r, this.entries.get(r.id)?.matchedFiring ?? false);
    this.changed();
  }

  /**
   * Creates or updates a silence as Alertmanager does: an existing one is updated in place when
   * its matchers are unchanged and the times allow it; otherwise it is expired (unless already)
   * and a new silence with a new id replaces it. Resolves with the id once durable.
   * Throws AlertingError (`silence_not_found`, `silence_invalid`).
   */
  set(input: SilenceInput): Promise<string> {
    return this.exclusive(async () => {
      const now = this.opts.now();
      const prev = input.id ? this.entries.get(input.id)?.record : undefined;
      if (input.id && !prev) throw new AlertingError('silence_not_found', 'silence not found');
      const base = { matchers: input.matchers, startsAt: input.startsAt, endsAt: input.endsAt, createdBy: input.createdBy, comment: input.comment, expireWhenResolved: input.expireWhenResolved ?? false };
      if (prev) {
        if (canUpdate(prev, input, now)) {
          await this.persist({ ...base, id: prev.id, updatedAt: now });
          return prev.id;
        }
        if (silenceState(prev, now) !== 'expired') await this.persist(expiredCopy(prev, now));
      }
      const rec: SilenceRecord = { ...base, id: randomUUID(), updatedAt: now };
      if (rec.startsAt < now) rec.startsAt = now;
      await this.persist(rec);
      return rec.id;
    });
  }

  /**
   * Expires a silence now; an already expired silence stays as it is (Alertmanager 0.25 answers
   * such a DELETE with 200 too). Throws AlertingError `silence_not_found`.
   */
  expire(id: string): Promise<void> {
    return this.exclusive(async () => {
      const e = this.entries.get(id);
      if (!e) throw new AlertingError('silence_not_found', 'silence not found');
      const now = this.opts.now();
      if (silenceState(e.record, now) === 'expired') return;
      await this.persist(expiredCopy(e.record, now));
    });
  }

  get(id: string): SilenceRecord | undefined {
    return this.entries.get(id)?.record;
  }

  list(): SilenceRecord[] {
    return [...this.entries.values()].map((e) => e.record);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Ids of the active silences that match the labels, sorted. */
  activeMatching(labels: Labels, now: number): string[] {
    const out: string[] = [];
    const get = (n: string) => labels.get(n);
    for (const e of this.entries.values()) {
      const r = e.record;
      if (now < r.startsAt || now > r.endsAt) continue;
      let ok = true;
      for (const m of e.matchers) {
        if (!m.matches(get(m.name))) {
          ok = false;
          break;
        }
      }
      if (ok) out.push(r.id);
    }
    return out.sort();
  }

  /** Whether the alert is silenced at `now`; records the silences in the marker. */
  mutes(labels: Labels, fp: string, now: number, marker: Marker): boolean {
    const ids = this.activeMatching(labels, now);
    marker.setSilenced(fp, ids);
    return ids.length > 0;
  }

  /**
   * Vigil's extension: marks `expireWhenResolved` silences that match a firing alert, and
   * expires those that matched one before and now match none. Returns the expired ids.
   */
  async expireResolved(alerts: Iterable<Alert>, now: number): Promise<string[]> {
    const candidates = [...this.entries.values()].filter((e) => e.record.expireWhenResolved && silenceState(e.record, now) === 'active');
    if (candidates.length === 0) return [];
    const firing = [...alerts].filter((a) => !resolvedAt(a, now));
    const expired: string[] = [];
    for (const e of candidates) {
      const matchesFiring = firing.some((a) => e.matchers.every((m) => m.matches(a.labels.get(m.name))));
      if (matchesFiring) {
        e.matchedFiring = true;
        continue;
      }
      if (!e.matchedFiring) continue;
      try {
        await this.expire(e.record.id);
        expired.push(e.record.id);
        this.opts.logger.info({ silence: e.record.id }, 'silence expired: every alert it silenced has resolved (expireWhenResolved)');
      } catch (err) {
        this.opts.logger.warn({ silence: e.record.id, err: errorMessage(err) }, 'could not expire a resolved silence');
      }
    }
    return expired;
  }

  /** Deletes silences that expired more than the retention ago (memory and store). */
  async gc(now: number): Promise<number> {
    const cutoff = now - this.opts.retention;
    let n = 0;
    for (const [id, e] of this.entries) {
      if (e.record.endsAt < cutoff) {
        this.entries.delete(id);
        n++;
      }
    }
    if (this.opts.store) await this.opts.store.silences.deleteEndedBefore(cutoff);
    if (n) this.changed();
    return n;
  }

  /** Counts by state (for `vigil_silences`). */
  countByState(now: number): Record<SilenceState, number> {
    const out: Record<SilenceState, number> = { active: 0, pending: 0, expired: 0 };
    for (const e of this.entries.values()) out[silenceState(e.record, now)]++;
    return out;
  }
}

function expiredCopy(r: SilenceRecord, now: number): SilenceRecord {
  const state = silenceState(r, now);
  // Active: end now. Pending: start and end now, so it moves to expired.
  return state === 'pending' ? { ...r, startsAt: now, endsAt: now, updatedAt: now } : { ...r, endsAt: now, updatedAt: now };
}
