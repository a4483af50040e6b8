/**
 * RE2 (Go regexp/syntax) patterns translated to JavaScript RegExp.
 *
 * Prometheus and Alertmanager take regular expressions in Go's RE2 syntax. JavaScript's
 * engine differs: no inline flag groups such as `(?i)` or `(?s:...)` on Node 20, no `\z`, `\A`,
 * `\Q...\E`, `(?P<name>...)`, POSIX classes `[[:alpha:]]`, script names without `Script=`,
 * and it accepts constructs RE2 refuses (backreferences, lookaround). `translateRe2` walks the
 * pattern once and emits an equivalent JavaScript source for the `u` flag, or throws
 * `RegexSyntaxError` with an RE2-style message.
 *
 * Flags are tracked per group, so `a(?i:b)c` and `(?s).` work. Case-insensitivity that covers
 * the whole pattern is mapped to the JavaScript `i` flag; a scoped one expands letters to
 * `[xX]` classes.
 */
import { VigilError } from './errors.ts';

export class RegexSyntaxError extends VigilError {
  constructor(message: string) {
    super('regex_syntax', message);
  }
}

interface Flags {
  i: boolean;
  s: boolean;
  m: boolean;
  U: boolean;
}

export interface TranslatedRegex {
  /** JavaScript source (for the `u` flag), not anchored. */
  source: string;
  /** JavaScript flags to use with `source`. */
  flags: string;
}

const MAX_REPEAT = 1000;

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`\\{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const PERL_CLASSES: Record<string, string> = {
  d: '0-9',
  w: '0-9A-Za-z_',
  s: '\\t\\n\\f\\r ',
};

const GENERAL_CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn',
  'N', 'Nd', 'Nl', 'No', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'S', 'Sc', 'Sk',
  'Sm', 'So', 'Z', 'Zl', 'Zp', 'Zs',
]);

const JS_SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);

/** Escapes one code point for use outside a character class (u flag). */
function escapeLiteral(ch: string): string {
  if (JS_SYNTAX.has(ch)) return '\\' + ch;
  const c = ch.codePointAt(0)!;
  if (c < 0x20 || c === 0x7f) return '\\x' + c.toString(16).padStart(2, '0');
  return ch;
}

/** Escapes one code point for use inside a character class (u flag). */
function escapeClassChar(ch: string): string {
  if (ch === '\\' || ch === ']' || ch === '[' || ch === '^' || ch === '-') return '\\' + ch;
  const c = ch.codePointAt(0)!;
  if (c < 0x20 || c === 0x7f) return '\\x' + c.toString(16).padStart(2, '0');
  return ch;
}

function caseVariants(ch: string): string[] {
  const lo = ch.toLowerCase();
  const up = ch.toUpperCase();
  const out = [ch];
  if (lo !== ch && [...lo].length === 1) out.push(lo);
  if (up !== ch && [...up].length === 1) out.push(up);
  return out;
}

class Translator {
  private pos = 0;
  private readonly chars: string[];
  private out = '';
  private readonly globalI: boolean;

  constructor(private readonly pattern: string, private readonly initial: Flags) {
    this.chars = [...pattern];
    // Case-insensitivity over the whole pattern maps onto the JS `i` flag.
    this.globalI = initial.i || /^\(\?[a-zA-Z]*i[a-zA-Z]*\)/.test(pattern) && !/\(\?[a-zA-Z]*-[a-zA-Z]*i/.test(pattern);
  }

  private fail(msg: string, what: string): never {
    throw new RegexSyntaxError(`error parsing regexp: ${msg}: \`${what}\``);
  }

  translate(): TranslatedRegex {
    const flags = { ...this.initial };
    let depth = 0;
    const stack: Flags[] = [];
    let canRepeat = false; // whether the previous item is an atom that a quantifier may follow
    let lastWasRepeat = false;
    while (this.pos < this.chars.length) {
      const ch = this.chars[this.pos]!;
      switch (ch) {
        case '(': {
          const rest = this.chars.slice(this.pos, this.pos + 4).join('');
          if (rest.startsWith('(?')) {
            const next = this.chars[this.pos + 2];
            if (next === 'P' && this.chars[this.pos + 3] === '<') {
              this.pos += 4;
              this.out += '(?<' + this.readGroupName() + '>';
            } else if (next === '<' && this.chars[this.pos + 3] !== '=' && this.chars[this.pos + 3] !== '!') {
              this.pos += 3;
              this.out += '(?<' + this.readGroupName() + '>';
            } else if (next === ':') {
              this.pos += 3;
              this.out += '(?:';
            } else {
              // Flag group: (?flags) or (?flags:...)
              let j = this.pos + 2;
              let neg = false;
              const nf = { ...flags };
              let sawFlag = false;
              for (; j < this.chars.length; j++) {
                const c = this.chars[j]!;
                if (c === '-') {
                  if (neg) this.fail('invalid or unsupported Perl syntax', this.chars.slice(this.pos, j + 1).join(''));
                  neg = true;
                  continue;
                }
                if (c === 'i' || c === 's' || c === 'm' || c === 'U') {
                  nf[c] = !neg;
                  sawFlag = true;
                  continue;
                }
                break;
              }
              const term = this.chars[j];
              if (!sawFlag || (term !== ')' && term !== ':')) {
                this.fail('invalid or unsupported Perl syntax', this.chars.slice(this.pos, Math.min(j + 1, this.chars.length)).join(''));
              }
              if (term === ')') {
                Object.assign(flags, nf);
                this.pos = j + 1;
                canRepeat = false;
                lastWasRepeat = false;
                continue;
              }
              stack.push({ ...flags });
              Object.assign(flags, nf);
              depth++;
              this.out += '(?:';
              this.pos = j + 1;
              canRepeat = false;
              lastWasRepeat = false;
              continue;
            }
          } else {
            this.pos++;
            this.out += '(';
          }
          stack.push({ ...flags });
          depth++;
          canRepeat = false;
          lastWasRepeat = false;
          continue;
        }
        case ')': {
          if (depth === 0) this.fail('unexpected )', this.pattern);
          depth--;
          Object.assign(flags, stack.pop()!);
          this.out += ')';
          this.pos++;
          canRepeat = true;
          lastWasRepeat = false;
          continue;
        }
        case '|':
          this.out += '|';
          this.pos++;
          canRepeat = false;
          lastWasRepeat = false;
          continue;
        case '*':
        case '+':
        case '?': {
          if (!canRepeat) {
            if (lastWasRepeat) this.fail('invalid nested repetition operator', this.chars.slice(this.pos - 1, this.pos + 1).join(''));
            this.fail('missing argument to repetition operator', ch);
          }
          this.pos++;
          let lazy = false;
          if (this.chars[this.pos] === '?') {
            lazy = true;
            this.pos++;
          }
          if (flags.U) lazy = !lazy;
          this.out += ch + (lazy ? '?' : '');
          canRepeat = false;
          lastWasRepeat = true;
          continue;
        }
        case '{': {
          const m = /^\{(\d+)(,(\d*))?\}/.exec(this.chars.slice(this.pos, this.pos + 16).join(''));
          if (!m) {
            this.out += '\\{';
            this.pos++;
            canRepeat = true;
            lastWasRepeat = false;
            continue;
          }
          if (!canRepeat) {
            if (lastWasRepeat) this.fail('invalid nested repetition operator', m[0]);
            this.fail('missing argument to repetition operator', m[0]);
          }
          const min = Number(m[1]);
          const max = m[3] !== undefined && m[3] !== '' ? Number(m[3]) : m[2] ? -1 : min;
          if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && max < min)) this.fail('invalid repeat count', m[0]);
          this.pos += m[0].length;
          let lazy = false;
          if (this.chars[this.pos] === '?') {
            lazy = true;
            this.pos++;
          }
          if (flags.U) lazy = !lazy;
          this.out += m[0] + (lazy ? '?' : '');
          canRepeat = false;
          lastWasRepeat = true;
          continue;
        }
        case '[':
          this.out += this.readClass(flags);
          canRepeat = true;
          lastWasRepeat = false;
          continue;
        case '.':
          this.out += flags.s ? '[\\s\\S]' : '[^\\n]';
          this.pos++;
          canRepeat = true;
          lastWasRepeat = false;
          continue;
        case '^':
          this.out += flags.m ? '(?:^|(?<=\\n))' : '^';
          this.pos++;
          canRepeat = false;
          lastWasRepeat = false;
          continue;
        case '$':
          this.out += flags.m ? '(?:$|(?=\\n))' : '$';
          this.pos++;
          canRepeat = false;
          lastWasRepeat = false;
          continue;
        case '\\': {
          const r = this.readEscape(flags, false);
          this.out += r.text;
          canRepeat = r.atom;
          lastWasRepeat = false;
          continue;
        }
        default:
          this.out += this.literal(ch, flags);
          this.pos++;
          canRepeat = true;
          lastWasRepeat = false;
      }
    }
    if (depth > 0) this.fail('missing closing )', this.pattern);
    return { source: this.out, flags: 'u' + (this.globalI ? 'i' : '') };
  }

  private literal(ch: string, flags: Flags): string {
    if (flags.i && !this.globalI) {
      const vs = caseVariants(ch);
      if (vs.length > 1) return '[' + vs.map(escapeClassChar).join('') + ']';
    }
    return escapeLiteral(ch);
  }

  private readGroupName(): string {
    let name = '';
    while (this.pos < this.chars.length && this.chars[this.pos] !== '>') name += this.chars[this.pos++];
    if (this.chars[this.pos] !== '>' || !/^[A-Za-z0-9_]+$/.test(name)) this.fail('invalid named capture', name);
    this.pos++;
    return name;
  }

  /**
   * Reads an escape at `pos` (which holds the backslash). Returns JS text and whether it is
   * an atom (can be repeated). Inside a class, returns text usable inside `[...]`.
   */
  private readEscape(flags: Flags, inClass: boolean): { text: string; atom: boolean; single?: string } {
    const c = this.chars[this.pos + 1];
    if (c === undefined) this.fail('trailing backslash at end of expression', '');
    this.pos += 2;
    switch (c) {
      case 'd': case 'w': case 's':
        return { text: inClass ? PERL_CLASSES[c]! : '[' + PERL_CLASSES[c]! + ']', atom: true };
      case 'D': case 'W': case 'S':
        if (inClass) return { text: '\\' + c, atom: true };
        return { text: '[^' + PERL_CLASSES[c.toLowerCase()]! + ']', atom: true };
      case 'b': case 'B':
        if (inClass) this.fail('invalid escape sequence', '\\' + c);
        return { text: '\\' + c, atom: false };
      case 'A':
        if (inClass) this.fail('invalid escape sequence', '\\A');
        return { text: '^', atom: false };
      case 'z':
        if (inClass) this.fail('invalid escape sequence', '\\z');
        return { text: '$', atom: false };
      case 'Q': {
        let lit = '';
        while (this.pos < this.chars.length) {
          if (this.chars[this.pos] === '\\' && this.chars[this.pos + 1] === 'E') {
            this.pos += 2;
            break;
          }
          lit += this.chars[this.pos++];
        }
        if (inClass) return { text: [...lit].map(escapeClassChar).join(''), atom: true };
        return { text: lit === '' ? '(?:)' : '(?:' + [...lit].map((ch) => this.literal(ch, flags)).join('') + ')', atom: lit !== '' };
      }
      case 'p': case 'P': {
        let name: string;
        if (this.chars[this.pos] === '{') {
          const end = this.chars.indexOf('}', this.pos);
          if (end < 0) this.fail('invalid character class range', '\\' + c + '{');
          name = this.chars.slice(this.pos + 1, end).join('');
          this.pos = end + 1;
        } else {
          name = this.chars[this.pos] ?? '';
          this.pos++;
        }
        let negate = c === 'P';
        if (name.startsWith('^')) {
          negate = !negate;
          name = name.slice(1);
        }
        let prop: string;
        if (name === 'Any') prop = negate ? '[^\\s\\S]' : '[\\s\\S]';
        else if (GENERAL_CATEGORIES.has(name)) prop = (negate ? '\\P{' : '\\p{') + name + '}';
        else if (/^[A-Z][A-Za-z_]*$/.test(name)) prop = (negate ? '\\P{Script=' : '\\p{Script=') + name + '}';
        else this.fail('invalid character class range', '\\' + c + '{' + name + '}');
        if (name === 'Any' && inClass) return { text: negate ? '' : '\\s\\S', atom: true };
        return { text: prop, atom: true };
      }
      case 'x': {
        let hex: string;
        if (this.chars[this.pos] === '{') {
          const end = this.chars.indexOf('}', this.pos);
          if (end < 0) this.fail('invalid escape sequence', '\\x{');
          hex = this.chars.slice(this.pos + 1, end).join('');
          this.pos = end + 1;
        } else {
          hex = this.chars.slice(this.pos, this.pos + 2).join('');
          this.pos += 2;
          if (hex.length !== 2) this.fail('invalid escape sequence', '\\x' + hex);
        }
        if (!/^[0-9A-Fa-f]{1,8}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) this.fail('invalid escape sequence', '\\x' + hex);
        const ch = String.fromCodePoint(parseInt(hex, 16));
        return { text: inClass ? escapeClassChar(ch) : this.literal(ch, flags), atom: true, single: ch };
      }
      case 'a': return this.single('\x07', flags, inClass);
      case 'f': return this.single('\f', flags, inClass);
      case 't': return this.single('\t', flags, inClass);
      case 'n': return this.single('\n', flags, inClass);
      case 'r': return this.single('\r', flags, inClass);
      case 'v': return this.single('\v', flags, inClass);
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        // Octal: \0, \0NN, or \NNN with at least two digits (a lone \1..\7 is a backreference).
        let digits = c;
        while (digits.length < 3 && /[0-7]/.test(this.chars[this.pos] ?? '')) digits += this.chars[this.pos++];
        if (c !== '0' && digits.length === 1) this.fail('invalid escape sequence', '\\' + c);
        return this.single(String.fromCharCode(parseInt(digits, 8)), flags, inClass);
      }
      default:
        if (/^[!-\/:-@\[-`{-~]$/.test(c)) return this.single(c, flags, inClass);
        this.fail('invalid escape sequence', '\\' + c);
    }
  }

  private single(ch: string, flags: Flags, inClass: boolean): { text: string; atom: boolean; single: string } {
    return { text: inClass ? escapeClassChar(ch) : this.literal(ch, flags), atom: true, single: ch };
  }

  private readClass(flags: Flags): string {
    const start = this.pos;
    this.pos++; // [
    let negate = false;
    if (this.chars[this.pos] === '^') {
      negate = true;
      this.pos++;
    }
    const items: string[] = [];
    let first = true;
    const scopedI = flags.i && !this.globalI;
    for (;;) {
      if (this.pos >= this.chars.length) this.fail('missing closing ]', this.chars.slice(start).join(''));
      const ch = this.chars[this.pos]!;
      if (ch === ']' && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (ch === '[' && this.chars[this.pos + 1] === ':') {
        const end = this.chars.indexOf(']', this.pos + 2);
        const body = end > 0 ? this.chars.slice(this.pos + 2, end).join('') : '';
        const m = /^(\^?)([a-z]+):$/.exec(body);
        if (m && POSIX_CLASSES[m[2]!]) {
          if (m[1]) {
            // Negated POSIX class inside a class: not expressible directly; use lookahead-free
            // complement only when it is the sole item.
            items.push('\u0000NEG' + POSIX_CLASSES[m[2]!]!);
          } else items.push(POSIX_CLASSES[m[2]!]!);
          this.pos = end + 1;
          continue;
        }
        if (m) this.fail('invalid character class range', '[:' + body + ']');
      }
      // One element, possibly the start of a range.
      let lo: string | undefined;
      let loText: string;
      if (ch === '\\') {
        const r = this.readEscape(flags, true);
        lo = r.single;
        loText = r.text;
      } else {
        lo = ch;
        loText = escapeClassChar(ch);
        this.pos++;
      }
      if (lo !== undefined && this.chars[this.pos] === '-' && this.chars[this.pos + 1] !== ']' && this.pos + 1 < this.chars.length) {
        this.pos++;
        let hi: string | undefined;
        let hiText: string;
        if (this.chars[this.pos] === '\\') {
          const r = this.readEscape(flags, true);
          hi = r.single;
          hiText = r.text;
        } else {
          hi = this.chars[this.pos]!;
          hiText = escapeClassChar(hi);
          this.pos++;
        }
        if (hi === undefined || hi.codePointAt(0)! < lo.codePointAt(0)!) this.fail('invalid character class range', lo + '-' + (hi ?? ''));
        items.push(loText + '-' + hiText);
        if (scopedI) items.push(...caseRange(lo, hi));
        continue;
      }
      items.push(loText);
      if (scopedI && lo !== undefined) for (const v of caseVariants(lo).slice(1)) items.push(escapeClassChar(v));
    }
    const neg = items.filter((s) => s.startsWith('\u0000NEG'));
    if (neg.length > 0) {
      const pos = items.filter((s) => !s.startsWith('\u0000NEG'));
      const alts = neg.map((s) => '[^' + s.slice(4) + ']');
      if (pos.length > 0) alts.push('[' + pos.join('') + ']');
      const union = '(?:' + alts.join('|') + ')';
      return negate ? '(?:(?!' + union + ')[\\s\\S])' : union;
    }
    if (items.length === 0) return negate ? '[\\s\\S]' : '[^\\s\\S]';
    return '[' + (negate ? '^' : '') + items.join('') + ']';
  }
}

/** Adds the other-case counterparts of the ASCII letters in [lo, hi]. */
function caseRange(lo: string, hi: string): string[] {
  const a = lo.codePointAt(0)!;
  const b = hi.codePointAt(0)!;
  const out: string[] = [];
  const lowA = Math.max(a, 0x61);
  const lowB = Math.min(b, 0x7a);
  if (lowA <= lowB) out.push(String.fromCharCode(lowA - 32) + '-' + String.fromCharCode(lowB - 32));
  const upA = Math.max(a, 0x41);
  const upB = Math.min(b, 0x5a);
  if (upA <= upB) out.push(String.fromCharCode(upA + 32) + '-' + String.fromCharCode(upB + 32));
  return out;
}

export interface Re2Options {
  /** Start with the `s` flag set (Prometheus matchers: `.` matches `\n`). Default false. */
  dotAll?: boolean;
}

/** Translates an RE2 pattern to JavaScript; throws RegexSyntaxError. */
export function translateRe2(pattern: string, opts: Re2Options = {}): TranslatedRegex {
  return new Translator(pattern, { i: false, s: opts.dotAll ?? false, m: false, U: false }).translate();
}

/**
 * Compiles an RE2 pattern into a JavaScript RegExp anchored at both ends (`^(?:re)$`), as
 * Prometheus and Alertmanager match label values. Throws RegexSyntaxError.
 */
export function compileAnchoredRe2(pattern: string, opts: Re2Options = {}): RegExp {
  const t = translateRe2(pattern, opts);
  try {
    return new RegExp('^(?:' + t.source + ')$', t.flags);
  } catch (e) {
    throw new RegexSyntaxError(`error parsing regexp: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}

/** Compiles an unanchored RE2 pattern (for `reReplaceAll`, `match`, log patterns). */
export function compileRe2(pattern: string, opts: Re2Options & { global?: boolean } = {}): RegExp {
  const t = translateRe2(pattern, opts);
  try {
    return new RegExp(t.source, t.flags + (opts.global ? 'g' : ''));
  } catch (e) {
    throw new RegexSyntaxError(`error parsing regexp: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}
