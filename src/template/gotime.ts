/**
 * Go's time.Time and time.Duration as template values: `String()` and `Format(layout)` as Go
 * prints them, and time zones by IANA name (`tz "Europe/Berlin"`).
 *
 * Offsets come from the JavaScript runtime's time-zone database (Intl); abbreviations (`CET`,
 * `EST`) from the system's zoneinfo files as Go reads them, falling back to Go's numeric form
 * (`+01`) where no file names one.
 */
import { readFileSync } from 'node:fs';

const NS_PER_SEC = 1_000_000_000n;
const MAX_DURATION_NS = (1n << 63n) - 1n;
const MIN_DURATION_NS = -(1n << 63n);

/** A time zone: a name and the offset/abbreviation in force at an instant. */
export interface GoLocation {
  readonly name: string;
  /** Offset east of UTC in seconds and the zone abbreviation at `unixSec`. */
  lookup(unixSec: number): { offset: number; abbrev: string };
}

export const UTC: GoLocation = { name: 'UTC', lookup: () => ({ offset: 0, abbrev: 'UTC' }) };

/** A time.Time: whole seconds since the epoch, nanoseconds within the second, a location. */
export class GoTime {
  constructor(readonly unixSec: number, readonly nsec: number, readonly loc: GoLocation = UTC) {}

  static fromUnixMs(ms: number, loc: GoLocation = UTC): GoTime {
    const sec = Math.floor(ms / 1000);
    return new GoTime(sec, Math.round((ms - sec * 1000) * 1e6), loc);
  }

  /** From integer nanoseconds since the epoch. */
  static fromUnixNano(ns: bigint, loc: GoLocation = UTC): GoTime {
    let sec = ns / NS_PER_SEC;
    let rem = ns % NS_PER_SEC;
    if (rem < 0n) {
      rem += NS_PER_SEC;
      sec -= 1n;
    }
    return new GoTime(Number(sec), Number(rem), loc);
  }

  /** Parses RFC 3339 with up to nanosecond fractions (`2024-01-02T03:04:05.123456789Z`). */
  static parseRfc3339(s: string): GoTime | undefined {
    const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/.exec(s);
    if (!m) return undefined;
    const d = new Date(Date.UTC(2000, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
    d.setUTCFullYear(+m[1]!);
    const base = d.getTime();
    if (Number.isNaN(base)) return undefined;
    let sec = base / 1000;
    if (m[8]) sec -= (m[8] === '-' ? -1 : 1) * (+m[9]! * 3600 + +m[10]! * 60);
    const nsec = m[7] ? Number(m[7].padEnd(9, '0')) : 0;
    return new GoTime(sec, nsec, UTC);
  }

  unixMs(): number {
    return this.unixSec * 1000 + Math.floor(this.nsec / 1e6);
  }

  unixNano(): bigint {
    return BigInt(this.unixSec) * NS_PER_SEC + BigInt(this.nsec);
  }

  isZero(): boolean {
    return this.unixSec === ZERO_TIME_UNIX && this.nsec === 0;
  }

  In(loc: GoLocation): GoTime {
    return new GoTime(this.unixSec, this.nsec, loc);
  }

  UTC(): GoTime {
    return new GoTime(this.unixSec, this.nsec, UTC);
  }

  Unix(): bigint {
    return BigInt(this.unixSec);
  }

  UnixMilli(): bigint {
    return BigInt(this.unixMs());
  }

  Format(layout: string): string {
    return formatTime(this, layout);
  }

  /** Go's Time.String: `2006-01-02 15:04:05.999999999 -0700 MST`. */
  String(): string {
    return formatTime(this, '2006-01-02 15:04:05.999999999 -0700 MST');
  }

  toString(): string {
    return this.String();
  }

  /** Go's Time.Sub: saturates at the int64 bounds of time.Duration (about ±292 years). */
  Sub(other: GoTime): GoDuration {
    const d = this.unixNano() - other.unixNano();
    return new GoDuration(d > MAX_DURATION_NS ? MAX_DURATION_NS : d < MIN_DURATION_NS ? MIN_DURATION_NS : d);
  }
}

/** Unix seconds of Go's zero time, 0001-01-01 00:00:00 UTC. */
export const ZERO_TIME_UNIX = -62135596800;

/** A time.Duration: integer nanoseconds. */
export class GoDuration {
  constructor(readonly ns: bigint) {}

  static fromSeconds(s: number): GoDuration {
    return new GoDuration(BigInt(Math.trunc(s * 1e9)));
  }

  Seconds(): number {
    return Number(this.ns) / 1e9;
  }

  Minutes(): number {
    return Number(this.ns) / 6e10;
  }

  Hours(): number {
    return Number(this.ns) / 3.6e12;
  }

  Milliseconds(): bigint {
    return this.ns / 1_000_000n;
  }

  /** Go's Duration.String: `72h3m0.5s`, `1.5ms`, `0s`. */
  String(): string {
    return formatGoDuration(this.ns);
  }

  toString(): string {
    return this.String();
  }
}

function fmtFrac(v: bigint, prec: number): [string, bigint] {
  // Drops trailing zeros of the `prec` low digits; returns ".ddd" (or "") and v / 10^prec.
  let s = '';
  let print = false;
  for (let i = 0; i < prec; i++) {
    const digit = v % 10n;
    print = print || digit !== 0n;
    if (print) s = digit.toString() + s;
    v /= 10n;
  }
  return [print ? '.' + s : '', v];
}

export function formatGoDuration(d: bigint): string {
  if (d === 0n) return '0s';
  const neg = d < 0n;
  let u = neg ? -d : d;
  let out: string;
  if (u < NS_PER_SEC) {
    let prec: number;
    let unit: string;
    if (u < 1000n) {
      return (neg ? '-' : '') + u.toString() + 'ns';
    } else if (u < 1_000_000n) {
      prec = 3;
      unit = 'µs';
    } else {
      prec = 6;
      unit = 'ms';
    }
    const [frac, whole] = fmtFrac(u, prec);
    out = whole.toString() + frac + unit;
  } else {
    const [frac, secsTotal] = fmtFrac(u, 9);
    u = secsTotal;
    const secs = u % 60n;
    u /= 60n;
    out = secs.toString() + frac + 's';
    if (u > 0n) {
      const mins = u % 60n;
      u /= 60n;
      out = mins.toString() + 'm' + out;
      if (u > 0n) out = u.toString() + 'h' + out;
    }
  }
  return (neg ? '-' : '') + out;
}

const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LONG_MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function pad(n: number, w: number): string {
  const s = String(Math.abs(n));
  return (n < 0 ? '-' : '') + (s.length >= w ? s : '0'.repeat(w - s.length) + s);
}

interface Civil {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  min: number;
  sec: number;
  wday: number;
  yday: number; // 1-366
  offset: number;
  abbrev: string;
}

function civil(t: GoTime): Civil {
  const { offset, abbrev } = t.loc.lookup(t.unixSec);
  const local = t.unixSec + offset;
  const days = Math.floor(local / 86400);
  const secOfDay = local - days * 86400;
  const d = new Date(days * 86400000);
  const year = d.getUTCFullYear();
  const startOfYear = Date.UTC(year, 0, 1) / 86400000;
  // Date.UTC maps years 0..99 to 1900+; rebuild for those.
  const soy = year >= 0 && year < 100 ? new Date(Date.UTC(2000, 0, 1)).setUTCFullYear(year) / 86400000 : startOfYear;
  return {
    year,
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: Math.floor(secOfDay / 3600),
    min: Math.floor((secOfDay % 3600) / 60),
    sec: secOfDay % 60,
    wday: d.getUTCDay(),
    yday: days - soy + 1,
    offset,
    abbrev,
  };
}

type Chunk =
  | { kind: 'lit'; text: string }
  | { kind: 'std'; std: string; digits?: number; sep?: string };

const STD_PREFIXES: [string, string][] = [
  ['January', 'January'], ['Jan', 'Jan'], ['Monday', 'Monday'], ['Mon', 'Mon'], ['MST', 'MST'],
  ['2006', '2006'], ['002', '002'], ['__2', '__2'], ['_2', '_2'],
  ['01', '01'], ['02', '02'], ['03', '03'], ['04', '04'], ['05', '05'], ['06', '06'],
  ['15', '15'], ['1', '1'], ['2', '2'], ['3', '3'], ['4', '4'], ['5', '5'],
  ['PM', 'PM'], ['pm', 'pm'],
  ['-07:00:00', '-07:00:00'], ['-070000', '-070000'], ['-07:00', '-07:00'], ['-0700', '-0700'], ['-07', '-07'],
  ['Z07:00:00', 'Z07:00:00'], ['Z070000', 'Z070000'], ['Z07:00', 'Z07:00'], ['Z0700', 'Z0700'], ['Z07', 'Z07'],
];

const layoutCache = new Map<string, Chunk[]>();

function parseLayout(layout: string): Chunk[] {
  const cached = layoutCache.get(layout);
  if (cached) return cached;
  const out: Chunk[] = [];
  let lit = '';
  let i = 0;
  outer: while (i < layout.length) {
    const c = layout[i]!;
    if ((c === '.' || c === ',') && i + 1 < layout.length && (layout[i + 1] === '0' || layout[i + 1] === '9')) {
      const ch = layout[i + 1]!;
      let j = i + 1;
      while (j < layout.length && layout[j] === ch) j++;
      if (!(j < layout.length && layout[j]! >= '0' && layout[j]! <= '9')) {
        if (lit) out.push({ kind: 'lit', text: lit });
        lit = '';
        out.push({ kind: 'std', std: ch === '0' ? 'frac0' : 'frac9', digits: j - i - 1, sep: c });
        i = j;
        continue;
      }
    }
    for (const [prefix, std] of STD_PREFIXES) {
      if (layout.startsWith(prefix, i)) {
        // "_2006" is a literal underscore followed by a year.
        if (prefix === '_2' && layout.startsWith('_2006', i)) break;
        if (lit) out.push({ kind: 'lit', text: lit });
        lit = '';
        out.push({ kind: 'std', std });
        i += prefix.length;
        continue outer;
      }
    }
    lit += c;
    i++;
  }
  if (lit) out.push({ kind: 'lit', text: lit });
  if (layoutCache.size < 256) layoutCache.set(layout, out);
  return out;
}

function formatOffset(offset: number, std: string): string {
  if (offset === 0 && std.startsWith('Z')) return 'Z';
  const sign = offset < 0 ? '-' : '+';
  const a = Math.abs(offset);
  const h = pad(Math.floor(a / 3600), 2);
  const m = pad(Math.floor((a % 3600) / 60), 2);
  const s = pad(a % 60, 2);
  const base = std.replace(/^Z/, '-');
  switch (base) {
    case '-07': return sign + h;
    case '-0700': return sign + h + m;
    case '-07:00': return sign + h + ':' + m;
    case '-070000': return sign + h + m + s;
    case '-07:00:00': return sign + h + ':' + m + ':' + s;
  }
  return '';
}

/** Go's Time.Format with the reference layout `Mon Jan 2 15:04:05 MST 2006`. */
export function formatTime(t: GoTime, layout: string): string {
  const c = civil(t);
  let out = '';
  for (const ch of parseLayout(layout)) {
    if (ch.kind === 'lit') {
      out += ch.text;
      continue;
    }
    switch (ch.std) {
      case 'January': out += LONG_MONTHS[c.month - 1]; break;
      case 'Jan': out += LONG_MONTHS[c.month - 1]!.slice(0, 3); break;
      case 'Monday': out += LONG_DAYS[c.wday]; break;
      case 'Mon': out += LONG_DAYS[c.wday]!.slice(0, 3); break;
      case 'MST': out += c.abbrev !== '' ? c.abbrev : formatOffset(c.offset, '-0700'); break;
      case '2006': out += c.year < 0 ? '-' + pad(-c.year, 4) : pad(c.year, 4); break;
      case '06': out += pad(((c.year % 100) + 100) % 100, 2); break;
      case '01': out += pad(c.month, 2); break;
      case '1': out += String(c.month); break;
      case '02': out += pad(c.day, 2); break;
      case '2': out += String(c.day); break;
      case '_2': out += c.day < 10 ? ' ' + c.day : String(c.day); break;
      case '002': out += pad(c.yday, 3); break;
      case '__2': out += String(c.yday).padStart(3, ' '); break;
      case '15': out += pad(c.hour, 2); break;
      case '03': out += pad(c.hour % 12 === 0 ? 12 : c.hour % 12, 2); break;
      case '3': out += String(c.hour % 12 === 0 ? 12 : c.hour % 12); break;
      case '04': out += pad(c.min, 2); break;
      case '4': out += String(c.min); break;
      case '05': out += pad(c.sec, 2); break;
      case '5': out += String(c.sec); break;
      case 'PM': out += c.hour >= 12 ? 'PM' : 'AM'; break;
      case 'pm': out += c.hour >= 12 ? 'pm' : 'am'; break;
      case 'frac0': out += ch.sep + String(t.nsec).padStart(9, '0').slice(0, ch.digits); break;
      case 'frac9': {
        const digits = String(t.nsec).padStart(9, '0').slice(0, ch.digits).replace(/0+$/, '');
        if (digits !== '') out += ch.sep + digits;
        break;
      }
      default: out += formatOffset(c.offset, ch.std);
    }
  }
  return out;
}

// ---- time zones ---------------------------------------------------------------------------

const zoneCache = new Map<string, GoLocation>();

/** Abbreviations by offset from a zoneinfo (TZif) file: the latest one used for each offset. */
function zoneAbbrevs(name: string): Map<number, string> {
  const out = new Map<number, string>();
  let buf: Buffer;
  try {
    if (name.includes('..')) return out;
    buf = readFileSync('/usr/share/zoneinfo/' + name);
  } catch {
    return out;
  }
  if (buf.length < 44 || buf.toString('latin1', 0, 4) !== 'TZif') return out;
  const readHeader = (o: number) => ({
    isutcnt: buf.readUInt32BE(o + 20), isstdcnt: buf.readUInt32BE(o + 24), leapcnt: buf.readUInt32BE(o + 28),
    timecnt: buf.readUInt32BE(o + 32), typecnt: buf.readUInt32BE(o + 36), charcnt: buf.readUInt32BE(o + 40),
  });
  let h = readHeader(0);
  let o = 44;
  let timeSize = 4;
  const version = buf[4]!;
  if (version >= 0x32) {
    // Skip the v1 body to the v2 header and use 64-bit data.
    o += h.timecnt * 5 + h.typecnt * 6 + h.charcnt + h.leapcnt * 8 + h.isstdcnt + h.isutcnt;
    h = readHeader(o);
    o += 44;
    timeSize = 8;
  }
  const idxStart = o + h.timecnt * timeSize;
  const typesStart = idxStart + h.timecnt;
  const charsStart = typesStart + h.typecnt * 6;
  const abbrevAt = (i: number): [number, string] => {
    const off = buf.readInt32BE(typesStart + i * 6);
    const ai = buf[typesStart + i * 6 + 5]!;
    let end = charsStart + ai;
    while (end < buf.length && buf[end] !== 0) end++;
    return [off, buf.toString('latin1', charsStart + ai, end)];
  };
  // Types in transition order so that later uses win.
  for (let i = 0; i < h.typecnt; i++) {
    const [off, ab] = abbrevAt(i);
    if (!out.has(off)) out.set(off, ab);
  }
  for (let i = 0; i < h.timecnt; i++) {
    const [off, ab] = abbrevAt(buf[idxStart + i]!);
    out.set(off, ab);
  }
  // The POSIX TZ footer names the zone's current abbreviations.
  const footerStart = charsStart + h.charcnt + h.leapcnt * (timeSize + 4) + h.isstdcnt + h.isutcnt;
  if (timeSize === 8 && buf[footerStart] === 0x0a) {
    const end = buf.indexOf(0x0a, footerStart + 1);
    const tz = buf.toString('latin1', footerStart + 1, end > 0 ? end : buf.length);
    const m = /^(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{2}){0,2})(?:(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{2}){0,2})?)?/.exec(tz);
    if (m) {
      const toSec = (s: string) => {
        const neg = s.startsWith('-');
        const parts = s.replace(/^[+-]/, '').split(':').map(Number);
        const v = (parts[0] ?? 0) * 3600 + (parts[1] ?? 0) * 60 + (parts[2] ?? 0);
        return neg ? v : -v; // POSIX offsets are west-positive
      };
      const strip = (s: string) => s.replace(/^<|>$/g, '');
      const stdOff = toSec(m[2]!);
      out.set(stdOff, strip(m[1]!));
      if (m[3]) out.set(m[4] ? toSec(m[4]) : stdOff + 3600, strip(m[3]));
    }
  }
  return out;
}

function numericAbbrev(offset: number): string {
  const sign = offset < 0 ? '-' : '+';
  const a = Math.abs(offset);
  const h = pad(Math.floor(a / 3600), 2);
  const m = Math.floor((a % 3600) / 60);
  return sign + h + (m !== 0 ? pad(m, 2) : '');
}

/**
 * Go's time.LoadLocation: `UTC` (or ``), `Local`, or an IANA name. Throws an Error with Go's
 * message (`unknown time zone X`) for an unknown name.
 */
export function loadLocation(name: string): GoLocation {
  if (name === '' || name === 'UTC') return UTC;
  const cached = zoneCache.get(name);
  if (cached) return cached;
  let ianaName = name;
  if (name === 'Local') ianaName = process.env.TZ || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  let dtf: Intl.DateTimeFormat;
  try {
    dtf = new Intl.DateTimeFormat('en-US', {
      timeZone: ianaName, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short',
    });
  } catch {
    throw new Error(`unknown time zone ${name}`);
  }
  const abbrevs = zoneAbbrevs(ianaName);
  const loc: GoLocation = {
    name,
    lookup(unixSec: number) {
      const parts = dtf.formatToParts(new Date(unixSec * 1000));
      const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
      let year = get('year');
      if (parts.find((p) => p.type === 'era')?.value === 'B') year = 1 - year;
      const wall = Date.UTC(2000, get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
      const wallDate = new Date(wall);
      wallDate.setUTCFullYear(year);
      const offset = Math.round((wallDate.getTime() - unixSec * 1000) / 1000);
      return { offset, abbrev: abbrevs.get(offset) ?? numericAbbrev(offset) };
    },
  };
  if (zoneCache.size < 512) zoneCache.set(name, loc);
  return loc;
}
