/**
 * Prometheus durations (`1h30m`, `15s`, `500ms`, `1d`, `1w`, `1y`, `0`) and byte sizes
 * (`512MB`). Durations are integer milliseconds.
 */
import { VigilError } from './errors.ts';

export class DurationError extends VigilError {
  constructor(message: string) {
    super('bad_duration', message);
  }
}

const UNITS: ReadonlyArray<[string, number]> = [
  ['y', 365 * 24 * 3600 * 1000],
  ['w', 7 * 24 * 3600 * 1000],
  ['d', 24 * 3600 * 1000],
  ['h', 3600 * 1000],
  ['m', 60 * 1000],
  ['s', 1000],
  ['ms', 1],
];

const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** Parses a Prometheus duration into milliseconds. Throws DurationError. */
export function parseDuration(s: string): number {
  if (s === '') throw new DurationError('empty duration string');
  if (s === '0') return 0;
  const m = DURATION_RE.exec(s);
  if (!m) throw new DurationError(`not a valid duration string: ${JSON.stringify(s)}`);
  let ms = 0;
  for (let i = 0; i < UNITS.length; i++) {
    const g = m[i + 1];
    if (g !== undefined) ms += Number(g) * UNITS[i]![1];
  }
  if (!Number.isSafeInteger(ms)) throw new DurationError(`duration out of range: ${JSON.stringify(s)}`);
  return ms;
}

/** True when `s` is a valid Prometheus duration. */
export function isDuration(s: string): boolean {
  return s === '0' || (s !== '' && DURATION_RE.test(s));
}

/** Formats milliseconds as Prometheus does (`1h30m`, `90d`, `0s`); years and weeks only when exact. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let sign = '';
  if (ms < 0) {
    sign = '-';
    ms = -ms;
  }
  let r = '';
  for (const [unit, mult] of UNITS) {
    if ((unit === 'y' || unit === 'w') && ms % mult !== 0) continue;
    const v = Math.floor(ms / mult);
    if (v > 0) {
      r += `${v}${unit}`;
      ms -= v * mult;
    }
  }
  return sign + r;
}

const BYTE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1024, KIB: 1024, K: 1024,
  MB: 1024 ** 2, MIB: 1024 ** 2, M: 1024 ** 2,
  GB: 1024 ** 3, GIB: 1024 ** 3, G: 1024 ** 3,
  TB: 1024 ** 4, TIB: 1024 ** 4, T: 1024 ** 4,
  PB: 1024 ** 5, PIB: 1024 ** 5, P: 1024 ** 5,
  EB: 1024 ** 6, EIB: 1024 ** 6, E: 1024 ** 6,
};

/**
 * Parses a byte size as Prometheus' flags do (`512MB`, `1GB`, `10GiB`, `1024`): the units are
 * powers of 1024. Throws VigilError with code `bad_size`.
 */
export function parseByteSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(s.trim());
  if (!m) throw new VigilError('bad_size', `not a valid byte size: ${JSON.stringify(s)}`);
  const unit = (m[2] ?? '').toUpperCase() || 'B';
  const mult = BYTE_UNITS[unit];
  if (mult === undefined) throw new VigilError('bad_size', `not a valid byte size: ${JSON.stringify(s)} (units: B, KB, MB, GB, TB, PB, EB)`);
  return Math.round(Number(m[1]) * mult);
}

/** Formats bytes with the largest exact-enough 1024-based unit (`512MB`). */
export function formatByteSize(n: number): string {
  const units: Array<[string, number]> = [['EB', 1024 ** 6], ['PB', 1024 ** 5], ['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]];
  for (const [u, m] of units) if (n >= m && n % m === 0) return `${n / m}${u}`;
  return `${n}B`;
}
