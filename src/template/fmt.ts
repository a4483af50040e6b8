/**
 * Go's fmt as templates use it: Sprint, Sprintln, Sprintf with the verbs %v %+v %s %q %d %b %o
 * %O %x %X %c %U %e %E %f %F %g %G %t %T %%, flags `+ - # 0 space`, width, precision, `*`
 * and `[n]` argument indexes, and Go's error forms (`%!d(string=x)`, `%!d(MISSING)`,
 * `%!(EXTRA int=2)`, `%!(NOVERB)`, `%!(BADWIDTH)`, `%!(BADPREC)`, `%!v(BADINDEX)`).
 *
 * Floats are formatted from their exact binary value with round-half-even, as strconv does.
 */
import { formatFloatG, quoteGo } from '../model/index.ts';
import { GoDuration, GoTime } from './gotime.ts';
import { TypedString, kindOf, methodOf, sortedEntries, typeName } from './values.ts';

// ---- exact decimal digits of a float64 --------------------------------------------------

interface Digits {
  /** Decimal digits without leading zeros ('' for zero). */
  d: string;
  /** Decimal point position: value = 0.d × 10^dp. */
  dp: number;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function exactDigits(abs: number): Digits {
  if (abs === 0) return { d: '', dp: 0 };
  f64[0] = abs;
  const hi = u32[1]!;
  const lo = u32[0]!;
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (bexp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = bexp - 1075;
  }
  let s: string;
  let dp: number;
  if (e >= 0) {
    s = (mant << BigInt(e)).toString();
    dp = s.length;
  } else {
    s = (mant * 5n ** BigInt(-e)).toString();
    dp = s.length + e;
  }
  s = s.replace(/0+$/, '');
  return { d: s, dp };
}

/** Shortest digits that round-trip (what strconv does with precision -1). */
function shortestDigits(abs: number): Digits {
  if (abs === 0) return { d: '', dp: 0 };
  const e = abs.toExponential();
  const i = e.indexOf('e');
  const d = e.slice(0, i).replace('.', '').replace(/0+$/, '');
  return { d, dp: Number(e.slice(i + 1)) + 1 };
}

/** Rounds to `nd` digits (round half to even on exact halves); trailing zeros trimmed. */
function roundDigits(x: Digits, nd: number): Digits {
  if (nd < 0) return { d: '', dp: 0 };
  if (nd >= x.d.length) return x;
  const next = x.d.charCodeAt(nd) - 48;
  let up: boolean;
  if (next > 5) up = true;
  else if (next < 5) up = false;
  else if (nd + 1 < x.d.length) up = true; // more non-zero digits follow (d is trimmed)
  else up = nd > 0 && (x.d.charCodeAt(nd - 1) - 48) % 2 === 1;
  let d = x.d.slice(0, nd);
  let dp = x.dp;
  if (up) {
    let i = nd - 1;
    while (i >= 0 && d[i] === '9') i--;
    if (i < 0) {
      d = '1';
      dp++;
    } else {
      d = d.slice(0, i) + String.fromCharCode(d.charCodeAt(i) + 1);
    }
  }
  return { d: d.replace(/0+$/, ''), dp };
}

function digitAt(x: Digits, i: number): string {
  return i >= 0 && i < x.d.length ? x.d[i]! : '0';
}

function fmtE(x: Digits, prec: number, e: 'e' | 'E'): string {
  let s = x.d.length === 0 ? '0' : x.d[0]!;
  if (prec > 0) {
    s += '.';
    for (let i = 1; i <= prec; i++) s += digitAt(x, i);
  }
  const exp = x.d.length === 0 ? 0 : x.dp - 1;
  const ae = Math.abs(exp);
  return s + e + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' : '') + ae;
}

function fmtF(x: Digits, prec: number): string {
  let s = '';
  if (x.dp > 0) {
    for (let i = 0; i < x.dp; i++) s += digitAt(x, i);
  } else s = '0';
  if (prec > 0) {
    s += '.';
    for (let i = 0; i < prec; i++) s += digitAt(x, x.dp + i);
  }
  return s;
}

/** strconv.FormatFloat(abs, verb, prec, 64) for a finite non-negative value, without sign. */
function formatAbsFloat(abs: number, verb: string, prec: number): string {
  const shortest = prec < 0;
  let digs: Digits;
  if (shortest) {
    digs = shortestDigits(abs);
    switch (verb) {
      case 'e': case 'E': prec = Math.max(digs.d.length - 1, 0); break;
      case 'f': prec = Math.max(digs.d.length - digs.dp, 0); break;
      default: prec = digs.d.length;
    }
  } else {
    const exact = exactDigits(abs);
    switch (verb) {
      case 'e': case 'E': digs = roundDigits(exact, prec + 1); break;
      case 'f': digs = roundDigits(exact, exact.dp + prec); break;
      default:
        if (prec === 0) prec = 1;
        digs = roundDigits(exact, prec);
    }
    if (digs.d.length === 0 && verb !== 'f') digs = { d: '', dp: 0 };
  }
  switch (verb) {
    case 'e': case 'E': return fmtE(digs, prec, verb);
    case 'f': return fmtF(digs, prec);
    default: {
      let eprec = prec;
      if (eprec > digs.d.length && digs.d.length >= digs.dp) eprec = digs.d.length;
      if (shortest) eprec = 6;
      const exp = digs.dp - 1;
      const nd = digs.d.length;
      if (nd > 0 && (exp < -4 || exp >= eprec)) {
        if (prec > nd) prec = nd;
        return fmtE(digs, prec - 1, verb === 'G' ? 'E' : 'e');
      }
      if (prec > digs.dp) prec = nd;
      return fmtF(digs, Math.max(prec - digs.dp, 0));
    }
  }
}

/** strconv.FormatFloat(v, verb, prec, 64) with sign; verb one of e E f g G. */
export function formatFloat(v: number, verb: string, prec: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  const neg = v < 0 || Object.is(v, -0);
  return (neg ? '-' : '') + formatAbsFloat(Math.abs(v), verb === 'F' ? 'f' : verb, prec);
}

// ---- %v -----------------------------------------------------------------------------------

/** The Stringer/error text of a value, if it has one. */
function methodText(v: unknown): string | undefined {
  if (v instanceof GoTime || v instanceof GoDuration) return v.String();
  if (typeof v === 'object' && v !== null && !(v instanceof TypedString)) {
    const err = methodOf(v, 'Error');
    if (err && err.length === 0) return String(err.call(v));
    const str = methodOf(v, 'String');
    if (str && str.length === 0) return String(str.call(v));
  }
  return undefined;
}

/** Go's %v (`plus` for %+v) of any value. `undefined` and `null` print `<nil>`. */
export function formatValue(v: unknown, plus = false, depth = 0): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return formatFloatG(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
      return '<nil>';
    case 'function':
      return '0x1';
  }
  if (v === null) return '<nil>';
  if (v instanceof TypedString) return v.value;
  const mt = methodText(v);
  if (mt !== undefined) return mt;
  if (depth > 32) return '...';
  const k = kindOf(v);
  if (k === 'slice') {
    const arr = v as unknown[];
    let s = '[';
    for (let i = 0; i < arr.length; i++) {
      if (i > 0) s += ' ';
      s += formatValue(arr[i], plus, depth + 1);
    }
    return s + ']';
  }
  if (k === 'map') {
    let s = 'map[';
    let first = true;
    for (const [key, val] of sortedEntries(v as object)) {
      if (!first) s += ' ';
      first = false;
      s += key + ':' + formatValue(val, plus, depth + 1);
    }
    return s + ']';
  }
  // struct
  let s = '{';
  let first = true;
  for (const [key, val] of Object.entries(v as object)) {
    if (!first) s += ' ';
    first = false;
    s += (plus ? key + ':' : '') + formatValue(val, plus, depth + 1);
  }
  return s + '}';
}

// ---- Sprint / Sprintln ----------------------------------------------------------------------

function isStringArg(v: unknown): boolean {
  return typeof v === 'string' || v instanceof TypedString;
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function sprint(args: readonly unknown[]): string {
  let out = '';
  let prevString = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const isStr = isStringArg(a);
    if (i > 0 && !isStr && !prevString) out += ' ';
    out += formatValue(a);
    prevString = isStr;
  }
  return out;
}

/** fmt.Sprintln: spaces between all operands and a trailing newline. */
export function sprintln(args: readonly unknown[]): string {
  let out = '';
  for (let i = 0; i < args.length; i++) {
    if (i > 0) out += ' ';
    out += formatValue(args[i]);
  }
  return out + '\n';
}

// ---- Sprintf --------------------------------------------------------------------------------

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  wid: number;
  widPresent: boolean;
  prec: number;
  precPresent: boolean;
  plusV: boolean;
}

function runeLen(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

function pad(f: Flags, s: string): string {
  if (!f.widPresent || f.wid === 0) return s;
  const n = f.wid - runeLen(s);
  if (n <= 0) return s;
  if (f.minus) return s + ' '.repeat(n);
  return (f.zero ? '0' : ' ').repeat(n) + s;
}

/**
 * Go's bad-verb form `%!f(string=x)`. As Go's badVerb does, the value is printed with %v under
 * the directive's own flags, width and precision (`%.1f` of "950m" gives `%!f(string=9)`), and
 * without String()/Error() methods (Go's `erroring` state: a time.Duration shows its
 * nanoseconds). A nil operand prints `<nil>`, unpadded.
 */
function badVerb(f: Flags, verb: string, arg: unknown): string {
  if (arg === undefined || arg === null) return '%!' + verb + '(<nil>)';
  return '%!' + verb + '(' + typeName(arg) + '=' + printArg({ ...f }, arg, 'v', true) + ')';
}

/** The bad-verb form of a value of Go type `type` that prints as `text` under %v. */
function badVerbText(verb: string, type: string, text: string): string {
  return '%!' + verb + '(' + type + '=' + text + ')';
}

/** An unsigned/signed integer struct field (`type` names it in bad-verb forms). */
function intField(f: Flags, v: bigint, type: string, verb: string): string {
  return fmtInteger({ ...f }, v, verb) ?? badVerbText(verb, type, fmtInteger({ ...f }, v, 'v')!);
}

/** Seconds from Go's zero time (0001-01-01 UTC) to the Unix epoch: time.Time's `ext` offset. */
const UNIX_TO_INTERNAL = 62135596800n;

/**
 * A time.Time under a verb it has no String() for (`%d`, `%f`, ...): Go prints its fields
 * `{wall ext loc}`. Times here carry no monotonic reading, so `wall` holds the nanoseconds and
 * `ext` the seconds since year 1; `loc` is a nil pointer for UTC. Another location's pointer
 * prints as 0x1 (Go prints its address, which differs from run to run).
 */
function goTimeFields(f: Flags, t: GoTime, verb: string): string {
  const wall = intField(f, BigInt(t.nsec), 'uint64', verb);
  const ext = intField(f, BigInt(t.unixSec) + UNIX_TO_INTERNAL, 'int64', verb);
  const addr = t.loc.name === 'UTC' ? 0n : 1n;
  let loc: string;
  if (verb === 'v') loc = addr === 0n ? pad(f, '<nil>') : pad(f, '0x1');
  else if ('bodxX'.includes(verb)) loc = fmtInteger({ ...f }, addr, verb)!;
  else loc = badVerbText(verb, '*time.Location', pad(f, addr === 0n ? '<nil>' : '0x1'));
  return '{' + wall + ' ' + ext + ' ' + loc + '}';
}

function fmtInteger(f: Flags, v: bigint, verb: string): string | undefined {
  let base = 10;
  let digitsUpper = false;
  switch (verb) {
    case 'v': case 'd': break;
    case 'b': base = 2; break;
    case 'o': case 'O': base = 8; break;
    case 'x': base = 16; break;
    case 'X': base = 16; digitsUpper = true; break;
    case 'c': return pad(f, String.fromCodePoint(Number(v)));
    case 'q': return pad(f, quoteRune(Number(v)));
    case 'U': {
      let s = 'U+' + (v < 0n ? (-v).toString(16) : v.toString(16)).toUpperCase().padStart(4, '0');
      if (f.sharp && v >= 0n && v <= 0x10ffffn) s += " '" + String.fromCodePoint(Number(v)) + "'";
      return pad(f, s);
    }
    default: return undefined;
  }
  const neg = v < 0n;
  let s = (neg ? -v : v).toString(base);
  if (digitsUpper) s = s.toUpperCase();
  if (f.precPresent) {
    if (f.prec === 0 && v === 0n) s = '';
    else if (s.length < f.prec) s = '0'.repeat(f.prec - s.length) + s;
  } else if (f.zero && f.widPresent && !f.minus) {
    let w = f.wid;
    if (neg || f.plus || f.space) w--;
    if (f.sharp && (base === 16 || base === 2)) w -= 2;
    if (f.sharp && base === 8 && s[0] !== '0') w -= 1;
    if (verb === 'O') w -= 2;
    if (s.length < w) s = '0'.repeat(w - s.length) + s;
  }
  if (f.sharp) {
    if (base === 2) s = '0b' + s;
    else if (base === 8 && s[0] !== '0') s = '0' + s;
    else if (base === 16) s = (digitsUpper ? '0X' : '0x') + s;
  }
  if (verb === 'O') s = '0o' + s;
  if (neg) s = '-' + s;
  else if (f.plus) s = '+' + s;
  else if (f.space) s = ' ' + s;
  const saveZero = f.zero;
  f.zero = false; // already zero padded where it applies
  const out = pad(f, s);
  f.zero = saveZero;
  return out;
}

function quoteRune(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return "'\"'";
  const q = quoteGo(String.fromCodePoint(c));
  return "'" + q.slice(1, -1) + "'";
}

function fmtFloatVerb(f: Flags, v: number, verb: string): string {
  let prec: number;
  let conv = verb;
  switch (verb) {
    case 'v': conv = 'g'; prec = -1; break;
    case 'g': case 'G': prec = -1; break;
    case 'e': case 'E': case 'f': case 'F': prec = 6; break;
    case 'b': case 'x': case 'X': prec = -1; break;
    default: return '';
  }
  if (f.precPresent) prec = f.prec;
  let num: string;
  if (conv === 'b' || conv === 'x' || conv === 'X') num = hexFloat(v, conv, prec);
  else num = formatFloat(v, conv, prec);
  if (num[0] !== '-' && num[0] !== '+') num = '+' + num;
  if (f.space && num[0] === '+' && !f.plus) num = ' ' + num.slice(1);
  if (num[1] === 'I' || num[1] === 'N') {
    const oldZero = f.zero;
    f.zero = false;
    if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1);
    const out = pad(f, num);
    f.zero = oldZero;
    return out;
  }
  if (f.sharp && conv !== 'b') num = sharpFloat(num, conv, prec);
  if (f.plus || num[0] !== '+') {
    if (f.zero && f.widPresent && f.wid > num.length && !f.minus) {
      return num[0] + '0'.repeat(f.wid - num.length) + num.slice(1);
    }
    return pad(f, num);
  }
  return pad(f, num.slice(1));
}

/**
 * The `#` flag on a formatted float (`num` starts with its sign): always a decimal point, and
 * for %g/%G/%x (and %v) trailing zeros up to the precision's significant digits (6 when none
 * was given), as Go's fmt does: `%#g` of 3.5 is 3.50000, `%#.0f` of 3 is `3.`.
 */
function sharpFloat(num: string, conv: string, prec: number): string {
  let digits = 0;
  if (conv === 'g' || conv === 'G' || conv === 'x') digits = prec === -1 ? 6 : prec;
  let body = num;
  let tail = '';
  let hasPoint = false;
  let sawNonzero = false;
  for (let i = 1; i < body.length; i++) {
    const c = body[i]!;
    if (c === '.') hasPoint = true;
    else if (c === 'p' || c === 'P' || ((c === 'e' || c === 'E') && conv !== 'x' && conv !== 'X')) {
      tail = body.slice(i);
      body = body.slice(0, i);
      break;
    } else {
      if (c !== '0') sawNonzero = true;
      if (sawNonzero) digits--;
    }
  }
  if (!hasPoint) {
    // A lone leading zero counts once.
    if (body.length === 2 && body[1] === '0') digits--;
    body += '.';
  }
  if (digits > 0) body += '0'.repeat(digits);
  return body + tail;
}

function hexFloat(v: number, verb: string, prec: number): string {
  if (!Number.isFinite(v)) return formatFloat(v, 'g', -1);
  if (verb === 'b') {
    f64[0] = v;
    const hi = u32[1]!;
    const bexp = (hi >>> 20) & 0x7ff;
    let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(u32[0]!);
    let e = bexp - 1075;
    if (bexp === 0) e = -1074;
    else mant |= 1n << 52n;
    return (v < 0 ? '-' : '') + mant.toString() + 'p' + (e >= 0 ? '+' : '') + e;
  }
  const neg = v < 0 || Object.is(v, -0);
  let a = Math.abs(v);
  let exp = 0;
  if (a !== 0) {
    exp = Math.floor(Math.log2(a));
    a = a / 2 ** exp;
    while (a >= 2) { a /= 2; exp++; }
    while (a < 1) { a *= 2; exp--; }
  }
  let frac = a === 0 ? '0' : (a - 1).toString(16).slice(2) || '';
  frac = frac.replace(/0+$/, '');
  if (prec >= 0) frac = frac.slice(0, prec).padEnd(prec, '0');
  let s = (a === 0 ? '0' : '1') + (frac ? '.' + frac : '') + 'p' + (exp >= 0 ? '+' : '-') + String(Math.abs(exp)).padStart(2, '0');
  s = '0x' + s;
  if (verb === 'X') s = s.toUpperCase();
  return (neg ? '-' : '') + s;
}

function fmtStringVerb(f: Flags, s: string, verb: string): string | undefined {
  switch (verb) {
    case 'v': case 's': {
      if (f.precPresent) s = [...s].slice(0, f.prec).join('');
      return pad(f, s);
    }
    case 'q': {
      if (f.precPresent) s = [...s].slice(0, f.prec).join('');
      if (f.sharp && !/[`\x00-\x08\x0a-\x1f\x7f\ufeff]/.test(s)) return pad(f, '`' + s + '`');
      let q = quoteGo(s);
      if (f.plus) q = q.replace(/[^\x00-\x7f]/gu, (c) => {
        const cp = c.codePointAt(0)!;
        return cp > 0xffff ? '\\U' + cp.toString(16).padStart(8, '0') : '\\u' + cp.toString(16).padStart(4, '0');
      });
      return pad(f, q);
    }
    case 'x': case 'X': {
      const bytes = Buffer.from(f.precPresent ? [...s].slice(0, f.prec).join('') : s, 'utf8');
      let out = '';
      for (let i = 0; i < bytes.length; i++) {
        if (f.space && i > 0) out += ' ';
        if (f.sharp && (f.space || i === 0)) out += verb === 'x' ? '0x' : '0X';
        let h = bytes[i]!.toString(16).padStart(2, '0');
        if (verb === 'X') h = h.toUpperCase();
        out += h;
      }
      return pad(f, out);
    }
    default:
      return undefined;
  }
}

/**
 * printArg: one operand under one verb. `erroring`: printing the value of a bad-verb form, where
 * Go does not call String()/Error() methods.
 */
function printArg(f: Flags, arg: unknown, verb: string, erroring = false): string {
  if (arg === undefined || arg === null) {
    if (verb === 'T' || verb === 'v') return pad(f, '<nil>');
    return badVerb(f, verb, arg);
  }
  if (verb === 'T') return pad(f, typeName(arg));
  if (verb === 'p') return badVerb(f, verb, arg);
  switch (typeof arg) {
    case 'boolean':
      if (verb === 't' || verb === 'v') return pad(f, arg ? 'true' : 'false');
      return badVerb(f, verb, arg);
    case 'number': {
      const s = fmtFloatVerb(f, arg, verb);
      return s === '' ? badVerb(f, verb, arg) : s;
    }
    case 'bigint':
      return fmtInteger(f, arg, verb) ?? badVerb(f, verb, arg);
    case 'string':
      return fmtStringVerb(f, arg, verb) ?? badVerb(f, verb, arg);
  }
  if (arg instanceof TypedString) return fmtStringVerb(f, arg.value, verb) ?? badVerb(f, verb, arg);
  const stringerVerb = !erroring && (verb === 'v' || verb === 's' || verb === 'q' || verb === 'x' || verb === 'X');
  if (arg instanceof GoDuration && !stringerVerb) return fmtInteger(f, arg.ns, verb) ?? badVerb(f, verb, arg);
  // Stringer / error for %v %s %q %x %X.
  if (stringerVerb) {
    const mt = methodText(arg);
    if (mt !== undefined) return fmtStringVerb(f, mt, verb) ?? badVerb(f, verb, arg);
  }
  if (arg instanceof GoTime) return goTimeFields(f, arg, verb);
  // %v without width, precision or space flag: the whole value at once. Otherwise Go applies
  // the verb with its flags to each element (`%.1v` of [ab cd] is [a c]).
  const plainV = verb === 'v' && !f.widPresent && !f.precPresent && !f.space;
  const k = kindOf(arg);
  if (k === 'slice' || k === 'map') {
    if (plainV) return formatValue(arg, f.plusV);
    // Go applies the verb to each element.
    if (k === 'slice') {
      const arr = arg as unknown[];
      return '[' + arr.map((x) => printArg({ ...f }, x, verb)).join(' ') + ']';
    }
    return 'map[' + sortedEntries(arg as object).map(([key, x]) => printArg({ ...f }, key, verb) + ':' + printArg({ ...f }, x, verb)).join(' ') + ']';
  }
  if (k === 'func') return verb === 'v' ? pad(f, '0x1') : badVerb(f, verb, arg);
  if (plainV) return formatValue(arg, f.plusV);
  // Struct: Go applies the verb to each field (%+v names them).
  const names = verb === 'v' && f.plusV;
  return '{' + Object.entries(arg as object).map(([name, x]) => (names ? name + ':' : '') + printArg({ ...f }, x, verb)).join(' ') + '}';
}

function parseNum(s: string, i: number): [number, boolean, number] {
  let n = 0;
  let present = false;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) {
    if (n > 1e6) return [0, false, s.length];
    n = n * 10 + (s.charCodeAt(i) - 48);
    present = true;
    i++;
  }
  return [n, present, i];
}

/** fmt.Sprintf with Go's verbs and error forms. Integers are `bigint`, floats `number`. */
export function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argNum = 0;
  let reordered = false;
  let goodArgNum = true;
  const end = format.length;
  let i = 0;

  const argNumber = (pos: number): [number, number, boolean] => {
    // [n] index: returns argNum, new i, found
    if (pos >= end || format[pos] !== '[') return [argNum, pos, false];
    reordered = true;
    const close = format.indexOf(']', pos + 1);
    if (close < 0) {
      goodArgNum = false;
      return [argNum, pos + 1, false];
    }
    const [n, ok, next] = parseNum(format, pos + 1);
    if (!ok || next !== close || n < 1 || n > args.length) {
      goodArgNum = false;
      return [argNum, close + 1, true];
    }
    return [n - 1, close + 1, true];
  };

  const intFromArg = (): [number, boolean] => {
    if (argNum >= args.length) return [0, false];
    const a = args[argNum++];
    if (typeof a === 'bigint') {
      const n = Number(a);
      if (n > 1e6 || n < -1e6) return [0, false];
      return [n, true];
    }
    return [0, false];
  };

  while (i < end) {
    const lasti = i;
    while (i < end && format[i] !== '%') i++;
    if (i > lasti) out += format.slice(lasti, i);
    if (i >= end) break;
    i++;
    const f: Flags = { plus: false, minus: false, sharp: false, space: false, zero: false, wid: 0, widPresent: false, prec: 0, precPresent: false, plusV: false };
    flags: for (; i < end; i++) {
      switch (format[i]) {
        case '#': f.sharp = true; break;
        case '0': f.zero = !f.minus; break;
        case '+': f.plus = true; break;
        case '-': f.minus = true; f.zero = false; break;
        case ' ': f.space = true; break;
        default: break flags;
      }
    }
    let afterIndex: boolean;
    [argNum, i, afterIndex] = argNumber(i);
    if (i < end && format[i] === '*') {
      i++;
      [f.wid, f.widPresent] = intFromArg();
      if (!f.widPresent) out += '%!(BADWIDTH)';
      if (f.wid < 0) {
        f.wid = -f.wid;
        f.minus = true;
        f.zero = false;
      }
      afterIndex = false;
    } else {
      [f.wid, f.widPresent, i] = parseNum(format, i);
      if (afterIndex && f.widPresent) goodArgNum = false;
    }
    if (i + 1 <= end && format[i] === '.') {
      i++;
      if (afterIndex) goodArgNum = false;
      [argNum, i, afterIndex] = argNumber(i);
      if (i < end && format[i] === '*') {
        i++;
        [f.prec, f.precPresent] = intFromArg();
        if (f.prec < 0) {
          f.prec = 0;
          f.precPresent = false;
        }
        if (!f.precPresent) out += '%!(BADPREC)';
        afterIndex = false;
      } else {
        [f.prec, f.precPresent, i] = parseNum(format, i);
        if (!f.precPresent) {
          f.prec = 0;
          f.precPresent = true;
        }
      }
    }
    if (!afterIndex) [argNum, i, afterIndex] = argNumber(i);
    if (i >= end) {
      out += '%!(NOVERB)';
      break;
    }
    const cp = format.codePointAt(i)!;
    const verb = String.fromCodePoint(cp);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (!goodArgNum) {
      out += '%!' + verb + '(BADINDEX)';
      goodArgNum = true;
      continue;
    }
    if (argNum >= args.length) {
      out += '%!' + verb + '(MISSING)';
      continue;
    }
    if (verb === 'v') {
      f.plusV = f.plus;
      f.plus = false;
      f.sharp = false;
    }
    out += printArg(f, args[argNum], verb);
    argNum++;
  }
  if (!reordered && argNum < args.length) {
    out += '%!(EXTRA ';
    for (let j = argNum; j < args.length; j++) {
      if (j > argNum) out += ', ';
      const a = args[j];
      if (a === undefined || a === null) out += '<nil>';
      else out += typeName(a) + '=' + formatValue(a);
    }
    out += ')';
  }
  return out;
}
