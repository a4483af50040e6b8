/**
 * Alertmanager's time intervals (`time_intervals:` / `mute_time_intervals:`): the runbook's
 * maintenance windows. An interval contains a time when every given field matches (times of
 * day, weekdays, days of the month, months, years; a missing field matches everything), in the
 * interval's `location` (IANA name; UTC by default). Ranges are inclusive except times of day,
 * whose end is exclusive; negative days of the month count from the month's end (-1 = last).
 */

export interface TimeRange {
  /** Minutes since midnight, [start, end). */
  startMinute: number;
  endMinute: number;
}

export interface InclusiveRange {
  begin: number;
  end: number;
}

export interface TimeInterval {
  times: TimeRange[];
  /** 0 = Sunday … 6 = Saturday. */
  weekdays: InclusiveRange[];
  /** 1..31 or -31..-1. */
  daysOfMonth: InclusiveRange[];
  /** 1..12. */
  months: InclusiveRange[];
  years: InclusiveRange[];
  /** IANA time zone name; undefined = UTC. */
  location: string | undefined;
}

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];

/** Thrown by the parsers with Alertmanager's message. */
export class TimeIntervalError extends Error {}

function splitRange(s: string): [string, string] {
  const parts = s.split(':');
  if (parts.length === 1) return [parts[0]!, parts[0]!];
  if (parts.length === 2) return [parts[0]!, parts[1]!];
  throw new TimeIntervalError(`couldn't parse range ${s}, invalid format`);
}

/** `09:00`-style times → minutes. */
function parseClock(s: string): number {
  if (!/^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/.test(s)) throw new TimeIntervalError(`couldn't parse timestamp ${s}, invalid format`);
  return Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
}

export function parseTimeRange(r: { start_time?: string; end_time?: string }): TimeRange {
  if (r.start_time === undefined || r.end_time === undefined) throw new TimeIntervalError('both start and end times must be provided');
  const startMinute = parseClock(r.start_time);
  const endMinute = parseClock(r.end_time);
  if (startMinute >= endMinute) throw new TimeIntervalError('start time cannot be equal or greater than end time');
  return { startMinute, endMinute };
}

export function parseWeekdayRange(s: string): InclusiveRange {
  const [a, b] = splitRange(s.toLowerCase());
  const begin = WEEKDAYS.indexOf(a);
  const end = WEEKDAYS.indexOf(b);
  if (begin < 0) throw new TimeIntervalError(`${a} is not a valid weekday`);
  if (end < 0) throw new TimeIntervalError(`${b} is not a valid weekday`);
  if (begin > end) throw new TimeIntervalError('start day cannot be before end day');
  return { begin, end };
}

function parseIntStrict(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw new TimeIntervalError(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  return Number(s);
}

export function parseDayOfMonthRange(s: string): InclusiveRange {
  const [a, b] = splitRange(s);
  const begin = parseIntStrict(a);
  const end = parseIntStrict(b);
  for (const d of [begin, end]) {
    if (d === 0 || d < -31 || d > 31) throw new TimeIntervalError(`${d} is not a valid day of the month: out of range`);
  }
  // A positive start with a negative end (1:-1, first to last day) is allowed.
  if (begin < 0 && end > 0) throw new TimeIntervalError('end day must be negative if start day is negative');
  if (Math.sign(begin) === Math.sign(end) && begin > end) throw new TimeIntervalError(`end day ${end} is always before start day ${begin}`);
  return { begin, end };
}

export function parseMonthRange(s: string): InclusiveRange {
  const [a, b] = splitRange(s.toLowerCase());
  const month = (x: string): number => {
    const byName = MONTHS.indexOf(x);
    if (byName >= 0) return byName + 1;
    if (/^\d+$/.test(x)) {
      const n = Number(x);
      if (n >= 1 && n <= 12) return n;
    }
    throw new TimeIntervalError(`${x} is not a valid month`);
  };
  const begin = month(a);
  const end = month(b);
  if (begin > end) throw new TimeIntervalError(`end month ${b} is before start month ${a}`);
  return { begin, end };
}

export function parseYearRange(s: string): InclusiveRange {
  const [a, b] = splitRange(s);
  const begin = parseIntStrict(a);
  const end = parseIntStrict(b);
  if (begin > end) throw new TimeIntervalError(`end year ${end} is before start year ${begin}`);
  return { begin, end };
}

/** Checks an IANA zone name (`Local` is the process' zone). */
export function parseLocation(name: string): string {
  if (name === 'Local') return Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (name === 'UTC' || name === '') return 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return name;
  } catch {
    throw new TimeIntervalError(`unknown time zone ${name}`);
  }
}

interface CivilTime {
  year: number;
  month: number;
  day: number;
  weekday: number;
  minute: number;
  daysInMonth: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function civil(ms: number, zone: string | undefined): CivilTime {
  if (zone === undefined || zone === 'UTC') {
    const d = new Date(ms);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    return { year, month, day: d.getUTCDate(), weekday: d.getUTCDay(), minute: d.getUTCHours() * 60 + d.getUTCMinutes(), daysInMonth: new Date(Date.UTC(year, month, 0)).getUTCDate() };
  }
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' });
    formatters.set(zone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(ms))) parts[p.type] = p.value;
  const year = Number(parts.year);
  const month = Number(parts.month);
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday ?? '');
  return { year, month, day: Number(parts.day), weekday, minute: Number(parts.hour) * 60 + Number(parts.minute), daysInMonth: new Date(Date.UTC(year, month, 0)).getUTCDate() };
}

/** Whether `ms` lies in the interval (Alertmanager's `ContainsTime`). */
export function intervalContains(ti: TimeInterval, ms: number): boolean {
  const t = civil(ms, ti.location);
  if (ti.times.length) {
    if (!ti.times.some((r) => t.minute >= r.startMinute && t.minute < r.endMinute)) return false;
  }
  if (ti.daysOfMonth.length) {
    const ok = ti.daysOfMonth.some((r) => {
      let begin = r.begin;
      let end = r.end;
      if (begin < 0) begin = t.daysInMonth + begin + 1;
      if (end < 0) end = t.daysInMonth + end + 1;
      begin = Math.max(begin, 1);
      end = Math.min(end, t.daysInMonth);
      return t.day >= begin && t.day <= end;
    });
    if (!ok) return false;
  }
  if (ti.months.length && !ti.months.some((r) => t.month >= r.begin && t.month <= r.end)) return false;
  if (ti.weekdays.length && !ti.weekdays.some((r) => t.weekday >= r.begin && t.weekday <= r.end)) return false;
  if (ti.years.length && !ti.years.some((r) => t.year >= r.begin && t.year <= r.end)) return false;
  return true;
}

/** Whether any interval of the list contains `ms`. */
export function anyIntervalContains(list: readonly TimeInterval[], ms: number): boolean {
  for (const ti of list) if (intervalContains(ti, ms)) return true;
  return false;
}
