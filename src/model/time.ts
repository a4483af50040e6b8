/**
 * Time as Vigil uses it: integer milliseconds since the Unix epoch in a `number`.
 * Parsing and formatting follow the Prometheus HTTP API (RFC 3339 or Unix seconds with a
 * fraction; timestamps written as seconds with up to three decimals).
 */
import { VigilError } from './errors.ts';
import { parseDuration, isDuration } from './duration.ts';

/** The smallest and largest times the Prometheus API accepts (its min/max time strings). */
export const MIN_TIME_MS = -9223372036854; // math.MinInt64 / 1e6, rounded toward zero
export const MAX_TIME_MS = 9223372036854;

export class TimeParseError extends VigilError {
  constructor(message: string) {
    super('bad_time', message);
  }
}

const MIN_TIME_STRINGS = new Set(['0001-01-01T00:00:00Z', '-292273086-05-16T16:47:06Z']);
const MAX_TIME_STRINGS = new Set(['9999-12-31T23:59:59Z', '292277025-08-18T07:12:54.999999999Z']);

/**
 * Parses an API time: Unix seconds (`1435781451.781`) or RFC 3339 (`2015-07-01T20:10:51.781Z`).
 * Returns milliseconds. Throws TimeParseError naming the input.
 */
export function parseApiTime(s: string): number {
  const t = s.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
    const secs = Number(t);
    if (!Number.isFinite(secs)) throw new TimeParseError(`cannot parse ${JSON.stringify(s)} to a valid timestamp`);
    const whole = Math.trunc(secs);
    const frac = Math.round((secs - whole) * 1000);
    return whole * 1000 + frac;
  }
  if (MIN_TIME_STRINGS.has(t)) return MIN_TIME_MS;
  if (MAX_TIME_STRINGS.has(t)) return MAX_TIME_MS;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new TimeParseError(`cannot parse ${JSON.stringify(s)} to a valid timestamp`);
}

/**
 * Parses an API duration: a Prometheus duration (`15s`) or seconds as a float (`15`, `0.5`).
 * Returns milliseconds.
 */
export function parseApiDuration(s: string): number {
  const t = s.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) {
    const secs = Number(t);
    const ms = secs * 1000;
    if (!Number.isFinite(ms) || Math.abs(ms) > Number.MAX_SAFE_INTEGER) {
      throw new TimeParseError(`cannot parse ${JSON.stringify(s)} to a valid duration. It overflows int64`);
    }
    return Math.round(ms);
  }
  if (isDuration(t)) return parseDuration(t);
  throw new TimeParseError(`cannot parse ${JSON.stringify(s)} to a valid duration`);
}

/** Milliseconds as the JSON number Prometheus writes for a timestamp (seconds, ≤ 3 decimals). */
export function formatApiTimestamp(ms: number): number {
  return ms / 1000;
}

/** Milliseconds as RFC 3339 with milliseconds, UTC (`2015-07-01T20:10:51.781Z`). */
export function formatRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Milliseconds as Go's time.Time marshals to JSON (RFC 3339, UTC, fraction without trailing
 * zeros: `2023-11-14T22:13:20.12Z`); 0 is Go's zero time, `0001-01-01T00:00:00Z`.
 */
export function formatGoTime(ms: number): string {
  if (ms === 0) return '0001-01-01T00:00:00Z';
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

/** The current time in milliseconds (the one clock function Vigil code calls; tests may swap it). */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
