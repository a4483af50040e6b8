/**
 * Decoding posted alerts (Alertmanager API v2 JSON) into stored alerts, with Alertmanager's
 * defaults and validation messages. This is the ingest hot path: senders re-send the same
 * alerts over and over (Prometheus every minute, load tests many times a second), so label
 * sets are interned by content (the same `Labels` object and fingerprint for the same labels),
 * annotations equal to the stored alert's are reused, and repeated timestamps are parsed once.
 */
import { Labels, compareStrings, isLegacyLabelName, isWellFormedUtf16 } from '../model/index.ts';
import type { Alert } from './alert.ts';
import type { AlertStore } from './alerts.ts';
import { fingerprintPairs } from './fingerprint.ts';

/** Go's zero time.Time, which Alertmanager's API uses for "not set". */
export const ZERO_TIME_MS = Date.parse('0001-01-01T00:00:00Z');
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const SEP = '\xff';
const MAX_INTERNED = 200_000;

interface Interned {
  labels: Labels;
  fingerprint: string;
}

/** Parses an API v2 time (RFC 3339); 0 for absent or Go's zero time; undefined when malformed. */
export function parseAlertTime(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v !== 'string' || !RFC3339.test(v)) return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) return undefined;
  return ms <= ZERO_TIME_MS ? 0 : ms;
}

export class AlertDecoder {
  private readonly interned = new Map<string, Interned>();
  private readonly validNames = new Set<string>();
  private lastTimeText = '';
  private lastTimeMs = 0;
  private lastTimeText2 = '';
  private lastTimeMs2 = 0;

  constructor(private readonly store?: AlertStore) {}

  /** parseAlertTime, remembering the last two texts (senders repeat the same times). */
  parseTime(v: unknown): number | undefined {
    if (typeof v === 'string' && v !== '') {
      if (v === this.lastTimeText) return this.lastTimeMs;
      if (v === this.lastTimeText2) return this.lastTimeMs2;
    }
    const out = parseAlertTime(v);
    if (out === undefined || typeof v !== 'string' || v === '') return out;
    this.lastTimeText2 = this.lastTimeText;
    this.lastTimeMs2 = this.lastTimeMs;
    this.lastTimeText = v;
    this.lastTimeMs = out;
    return out;
  }

  private validName(k: string): boolean {
    if (this.validNames.has(k)) return true;
    if (!isLegacyLabelName(k)) return false;
    if (this.validNames.size < 10_000) this.validNames.add(k);
    return true;
  }

  /**
   * A label set from a JSON object: empty values dropped (Alertmanager's removeEmptyLabels),
   * sorted by name; the error message otherwise. `reuse`, when equal, is returned as is.
   */
  labels(obj: unknown, what: 'labels' | 'annotations', reuse?: Labels): Labels | string {
    const keys = this.checkedKeys(obj, what);
    if (typeof keys === 'string') return keys;
    const rec = obj as Record<string, string>;
    if (reuse) {
      const rp = reuse.pairs;
      let j = 0;
      let same = true;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = rec[k]!;
        if (v === '') continue;
        if (rp[j] !== k || rp[j + 1] !== v) {
          same = false;
          break;
        }
        j += 2;
      }
      if (same && j === rp.length) return reuse;
    }
    return Labels.fromSortedPairs(this.pairs(keys, rec));
  }

  /** Sorted keys after validating names and values; the error message otherwise. */
  private checkedKeys(obj: unknown, what: 'labels' | 'annotations'): string[] | string {
    if (obj === undefined || obj === null) return [];
    if (typeof obj !== 'object' || Array.isArray(obj)) return `${what} must be an object of strings`;
    const rec = obj as Record<string, unknown>;
    const keys = Object.keys(rec);
    let sorted = true;
    for (let i = 1; i < keys.length; i++) {
      if (keys[i - 1]! > keys[i]!) {
        sorted = false;
        break;
      }
    }
    if (!sorted) keys.sort(compareStrings);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = rec[k];
      if (typeof v !== 'string') return `${what}: value of ${JSON.stringify(k)} must be a string`;
      if (v === '') continue;
      if (!this.validName(k)) return `invalid name "${k}"`;
      if (!isWellFormedUtf16(v)) return `invalid value "${v}"`;
    }
    return keys;
  }

  private pairs(keys: string[], rec: Record<string, string>): string[] {
    const pairs: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const v = rec[keys[i]!]!;
      if (v !== '') pairs.push(keys[i]!, v);
    }
    return pairs;
  }

  /** The interned label set and fingerprint for a validated labels object; undefined when empty. */
  private internLabels(keys: string[], rec: Record<string, string>): Interned | undefined {
    let key = '';
    let n = 0;
    for (let i = 0; i < keys.length; i++) {
      const v = rec[keys[i]!]!;
      if (v === '') continue;
      key += n++ === 0 ? keys[i]! + SEP + v : SEP + keys[i]! + SEP + v;
    }
    if (n === 0) return undefined;
    let e = this.interned.get(key);
    if (!e) {
      const labels = Labels.fromSortedPairs(this.pairs(keys, rec));
      e = { labels, fingerprint: fingerprintPairs(labels.pairs) };
      if (this.interned.size >= MAX_INTERNED) this.interned.clear();
      this.interned.set(key, e);
    }
    return e;
  }

  /**
   * One posted alert → a stored alert (Alertmanager's API: `updatedAt = now`; a missing
   * `startsAt` becomes `endsAt` or now; a missing `endsAt` becomes now + resolve_timeout with
   * `timeout` set), or Alertmanager's validation message. `i` is the index for messages.
   */
  decode(raw: unknown, i: number, now: number, resolveTimeout: number): Alert | string {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return `alerts[${i}]: must be an object`;
    const o = raw as Record<string, unknown>;
    if (o.labels === undefined || o.labels === null) return `${i}.labels in body is required`;
    let startsAt = this.parseTime(o.startsAt);
    if (startsAt === undefined) return `alerts[${i}].startsAt in body must be of type date-time: ${JSON.stringify(o.startsAt)}`;
    let endsAt = this.parseTime(o.endsAt);
    if (endsAt === undefined) return `alerts[${i}].endsAt in body must be of type date-time: ${JSON.stringify(o.endsAt)}`;
    const generatorURL = o.generatorURL;
    if (generatorURL !== undefined && typeof generatorURL !== 'string') return `alerts[${i}].generatorURL in body must be of type string`;
    if (!startsAt) startsAt = endsAt ? endsAt : now;
    let timeout = false;
    if (!endsAt) {
      timeout = true;
      endsAt = now + resolveTimeout;
    }
    if (endsAt < startsAt) return 'start time must be before end time';
    const keys = this.checkedKeys(o.labels, 'labels');
    if (typeof keys === 'string') return `invalid label set: ${keys}`;
    const entry = this.internLabels(keys, o.labels as Record<string, string>);
    if (!entry) return 'at least one label pair required';
    const { labels: interned, fingerprint } = entry;
    const previous = this.store?.get(fingerprint);
    const annotations = this.labels(o.annotations, 'annotations', previous?.annotations);
    if (typeof annotations === 'string') return `invalid annotations: ${annotations}`;
    return { labels: interned, annotations, startsAt, endsAt, updatedAt: now, timeout, generatorURL: (generatorURL as string | undefined) ?? '', fingerprint };
  }
}
