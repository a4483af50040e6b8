/**
 * String helpers with Go's semantics, shared by the Prometheus and Alertmanager function sets:
 * strings.Title, x/text cases.Title, net.SplitHostPort, strconv.ParseFloat, regexp expansion
 * (`$1`, `${name}`), url.QueryUnescape.
 */
import { compileRe2, RegexSyntaxError } from '../model/index.ts';
import { TemplateFuncError } from './errors.ts';

/** Go's strings.Title: upper-cases letters that start words; keeps the rest. */
export function goStringsTitle(s: string): string {
  let prev = ' ';
  let out = '';
  for (const ch of s) {
    out += isSeparator(prev) ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function isSeparator(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  if (c <= 0x7f) {
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f) return false;
    return true;
  }
  if (/[\p{L}\p{Nd}]/u.test(ch)) return false;
  return /\s/u.test(ch);
}

const segmenter = new Intl.Segmenter('en-US', { granularity: 'word' });

/** x/text cases.Title(language.AmericanEnglish): each word's first letter upper, the rest lower. */
export function casesTitle(s: string): string {
  let out = '';
  for (const seg of segmenter.segment(s)) {
    if (!seg.isWordLike) {
      out += seg.segment;
      continue;
    }
    const chars = [...seg.segment];
    let i = 0;
    let word = '';
    // Title-case the first cased letter; lower-case the rest.
    while (i < chars.length && !/\p{L}/u.test(chars[i]!)) word += chars[i++];
    if (i < chars.length) word += chars[i++]!.toUpperCase();
    for (; i < chars.length; i++) word += chars[i]!.toLowerCase();
    out += word;
  }
  return out;
}

/** Go's net.SplitHostPort; returns undefined where Go returns an error. */
export function splitHostPort(hostport: string): [string, string] | undefined {
  const i = hostport.lastIndexOf(':');
  if (i < 0) return undefined;
  if (hostport[0] === '[') {
    const end = hostport.indexOf(']');
    if (end < 0) return undefined;
    if (end + 1 === hostport.length) return undefined; // missing port
    if (end + 1 !== i) return undefined;
    const host = hostport.slice(1, end);
    if (host.includes('[') || host.includes(']')) return undefined;
    return [host, hostport.slice(i + 1)];
  }
  const host = hostport.slice(0, i);
  if (host.includes(':')) return undefined; // too many colons
  if (host.includes('[') || host.includes(']')) return undefined;
  const port = hostport.slice(i + 1);
  if (port.includes('[') || port.includes(']')) return undefined;
  return [host, port];
}

/** Go's net.JoinHostPort. */
export function joinHostPort(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Whether `s` is an IPv4 or IPv6 address as net.ParseIP accepts it. */
export function isIP(s: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s)) {
    return s.split('.').every((p) => Number(p) <= 255 && !(p.length > 1 && p[0] === '0'));
  }
  if (!s.includes(':') || s.includes('%')) return false;
  try {
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}

/** Go's strconv.ParseFloat(s, 64); throws Go's message on error. */
export function parseGoFloat(s: string): number {
  const bad = (): never => {
    throw new TemplateFuncError(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: invalid syntax`);
  };
  let t = s;
  let sign = 1;
  if (t[0] === '+' || t[0] === '-') {
    if (t[0] === '-') sign = -1;
    t = t.slice(1);
  }
  const lower = t.toLowerCase();
  if (lower === 'inf' || lower === 'infinity') return sign * Infinity;
  if (lower === 'nan') return NaN;
  if (/^0x/i.test(t)) {
    const m = /^0x(_?[0-9a-f]+(?:_[0-9a-f]+)*)?(?:\.([0-9a-f_]*))?p([+-]?\d+)$/i.exec(t);
    if (!m || (m[1] === undefined && !m[2])) return bad();
    const intPart = (m[1] ?? '').replace(/_/g, '');
    const frac = (m[2] ?? '').replace(/_/g, '');
    const mant = parseInt((intPart || '0') + frac, 16) / 16 ** frac.length;
    return sign * mant * 2 ** Number(m[3]);
  }
  if (!/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return bad();
  const v = Number(t);
  if (!Number.isFinite(v)) {
    throw new TemplateFuncError(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: value out of range`);
  }
  return sign * v;
}

/** Go's url.QueryUnescape; throws `invalid URL escape "%zz"`. */
export function queryUnescape(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        throw new TemplateFuncError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === '+') bytes.push(0x20);
    else bytes.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function goQuoteRegexp(expr: string): string {
  return /^[^`\x00-\x08\x0a-\x1f\x7f]*$/.test(expr) ? '`' + expr + '`' : JSON.stringify(expr);
}

const reCache = new Map<string, RegExp>();

/** Compiles an RE2 pattern (cached). `must` gives regexp.MustCompile's panic text on error. */
export function compileGoRegexp(pattern: string, must: boolean): RegExp {
  let re = reCache.get(pattern);
  if (re) return re;
  try {
    re = compileRe2(pattern, { global: true });
  } catch (e) {
    const msg = e instanceof RegexSyntaxError ? e.message : String((e as Error).message);
    throw new TemplateFuncError(must ? `regexp: Compile(${goQuoteRegexp(pattern)}): ${msg}` : msg);
  }
  if (reCache.size > 1000) reCache.clear();
  reCache.set(pattern, re);
  return re;
}

/** regexp.MatchString: unanchored match. */
export function regexpMatch(pattern: string, s: string): boolean {
  const re = compileGoRegexp(pattern, false);
  re.lastIndex = 0;
  const ok = re.test(s);
  re.lastIndex = 0;
  return ok;
}

/**
 * Regexp.ReplaceAllString: `$1`, `${1}`, `$name`, `${name}` expand to submatches (a name is the
 * longest run of letters, digits and `_`; unknown or unmatched groups expand to ''); `$$` is `$`.
 */
export function regexpReplaceAll(pattern: string, repl: string, text: string): string {
  const re = compileGoRegexp(pattern, true);
  re.lastIndex = 0;
  return text.replace(re, (...m: unknown[]) => {
    const hasGroups = typeof m[m.length - 1] === 'object';
    const groups = (hasGroups ? m[m.length - 1] : undefined) as Record<string, string | undefined> | undefined;
    const subs = m.slice(0, hasGroups ? -3 : -2) as (string | undefined)[];
    return expandTemplate(repl, subs, groups);
  });
}

function expandTemplate(tpl: string, subs: (string | undefined)[], groups: Record<string, string | undefined> | undefined): string {
  let out = '';
  for (let i = 0; i < tpl.length; i++) {
    const c = tpl[i]!;
    if (c !== '$') {
      out += c;
      continue;
    }
    if (tpl[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string;
    let end: number;
    if (tpl[i + 1] === '{') {
      const close = tpl.indexOf('}', i + 2);
      name = close < 0 ? '' : tpl.slice(i + 2, close);
      if (close < 0 || !/^[\p{L}\p{Nd}_]+$/u.test(name)) {
        out += '$';
        continue;
      }
      end = close;
    } else {
      const m = /^[\p{L}\p{Nd}_]+/u.exec(tpl.slice(i + 1));
      if (!m) {
        out += '$';
        continue;
      }
      name = m[0];
      end = i + name.length;
    }
    if (/^\d+$/.test(name)) {
      const n = Number(name);
      out += subs[n] ?? '';
    } else {
      out += groups?.[name] ?? '';
    }
    i = end;
  }
  return out;
}
