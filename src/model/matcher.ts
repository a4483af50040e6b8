/**
 * Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus semantics: regexes are RE2, fully
 * anchored, and `.` matches a newline (Prometheus compiles `^(?s:re)$`; Alertmanager's
 * matchers use `^(?:re)$`, select with `dotAll: false`). A matcher that matches the empty
 * string also matches series that lack the label.
 *
 * Common regex shapes take fast paths without running a RegExp: `.*`, `.+`, literals, literal
 * alternations (`a|b|c`, also under `(?i)` for ASCII), literal prefixes, suffixes and
 * infixes (`foo.*`, `.*foo`, `.*foo.*`).
 */
import { compileAnchoredRe2 } from './re2.ts';
import { quoteGo, isLegacyLabelName } from './labels.ts';

export type MatchType = '=' | '!=' | '=~' | '!~';

export const MATCH_TYPES: readonly MatchType[] = ['=', '!=', '=~', '!~'];

type StringTest = (s: string) => boolean;

export interface MatcherOptions {
  /** Whether `.` matches `\n` (Prometheus: true, Alertmanager: false). Default true. */
  dotAll?: boolean;
}

export class Matcher {
  readonly type: MatchType;
  readonly name: string;
  readonly value: string;
  /** For regex matchers: the literal values when the pattern is a plain alternation (`a|b`). */
  readonly setMatches: readonly string[] | undefined;
  /** For regex matchers: a literal prefix every match starts with ('' when none is known). */
  readonly prefix: string;
  private readonly test: StringTest;
  /** Whether the matcher accepts the empty value (and therefore series without the label). */
  readonly matchesEmpty: boolean;

  /** Throws RegexSyntaxError for an invalid regex. */
  constructor(type: MatchType, name: string, value: string, opts: MatcherOptions = {}) {
    this.type = type;
    this.name = name;
    this.value = value;
    let setMatches: string[] | undefined;
    let prefix = '';
    switch (type) {
      case '=':
        this.test = (s) => s === value;
        break;
      case '!=':
        this.test = (s) => s !== value;
        break;
      case '=~':
      case '!~': {
        const fast = analyzeRegex(value, opts.dotAll ?? true);
        setMatches = fast.set;
        prefix = fast.prefix;
        const positive = fast.test;
        this.test = type === '=~' ? positive : (s) => !positive(s);
        break;
      }
      default:
        throw new Error(`unknown match type ${String(type)}`);
    }
    this.setMatches = type === '=~' ? setMatches : undefined;
    this.prefix = prefix;
    this.matchesEmpty = this.test('');
  }

  matches(s: string): boolean {
    return this.test(s);
  }

  /** `name="value"` in PromQL syntax (Go quoting; non-legacy names quoted). */
  toString(): string {
    const n = isLegacyLabelName(this.name) ? this.name : quoteGo(this.name);
    return `${n}${this.type}${quoteGo(this.value)}`;
  }
}

export interface RegexAnalysis {
  test: StringTest;
  set: string[] | undefined;
  prefix: string;
}

const META = /[\\^$.|?*+()[\]{}]/;

/** Splits `a|b|c` at top level, or returns undefined when any part is not a plain literal. */
function literalAlternatives(re: string): string[] | undefined {
  let body = re;
  if (body.startsWith('(') && body.endsWith(')') && !body.startsWith('(?')) {
    const inner = body.slice(1, -1);
    if (!/[()]/.test(inner)) body = inner;
  } else if (body.startsWith('(?:') && body.endsWith(')')) {
    const inner = body.slice(3, -1);
    if (!/[()]/.test(inner)) body = inner;
  }
  const parts = body.split('|');
  const out: string[] = [];
  for (const p of parts) {
    const lit = unescapeLiteral(p);
    if (lit === undefined) return undefined;
    out.push(lit);
  }
  return out;
}

/** A regex fragment without metacharacters (escaped punctuation allowed) as its literal text. */
function unescapeLiteral(p: string): string | undefined {
  if (!META.test(p)) return p;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined || !/[!-\/:-@\[-`{-~]/.test(n)) return undefined;
      out += n;
      i++;
    } else if (META.test(c)) return undefined;
    else out += c;
  }
  return out;
}

export function analyzeRegex(re: string, dotAll: boolean): RegexAnalysis {
  // Always compile: invalid patterns must be rejected even when a fast path would apply.
  const compiled = compileAnchoredRe2(re, { dotAll });
  const slow: StringTest = (s) => compiled.test(s);
  const anyChar = dotAll ? (s: string) => true : (s: string) => !s.includes('\n');
  if (re === '.*') return { test: anyChar, set: undefined, prefix: '' };
  if (re === '.+') return { test: (s) => s.length > 0 && anyChar(s), set: undefined, prefix: '' };
  const alts = literalAlternatives(re);
  if (alts) {
    if (alts.length === 1) {
      const v = alts[0]!;
      return { test: (s) => s === v, set: alts, prefix: v };
    }
    const set = new Set(alts);
    return { test: (s) => set.has(s), set: alts, prefix: commonPrefix(alts) };
  }
  if (re.startsWith('(?i)')) {
    const ialts = literalAlternatives(re.slice(4));
    if (ialts && ialts.every((a) => /^[\x00-\x7f]*$/.test(a))) {
      const lowered = new Set(ialts.map((a) => a.toLowerCase()));
      return { test: (s) => s.length <= 256 && lowered.has(s.toLowerCase()) && slow(s), set: undefined, prefix: '' };
    }
  }
  if (dotAll) {
    if (re.endsWith('.*') && !re.endsWith('\\.*')) {
      const head = re.slice(0, -2);
      if (head.startsWith('.*')) {
        const mid = unescapeLiteral(head.slice(2));
        if (mid !== undefined) return { test: (s) => s.includes(mid), set: undefined, prefix: '' };
      }
      const p = unescapeLiteral(head);
      if (p !== undefined) return { test: (s) => s.startsWith(p), set: undefined, prefix: p };
    }
    if (re.startsWith('.*')) {
      const sfx = unescapeLiteral(re.slice(2));
      if (sfx !== undefined) return { test: (s) => s.endsWith(sfx), set: undefined, prefix: '' };
    }
  }
  const lp = literalPrefix(re);
  return { test: slow, set: undefined, prefix: lp };
}

/** The literal characters a pattern starts with, when no alternation makes them optional. */
function literalPrefix(re: string): string {
  if (re.includes('|') || re.startsWith('(?')) return '';
  let out = '';
  for (let i = 0; i < re.length; i++) {
    const c = re[i]!;
    if (c === '\\') {
      const n = re[i + 1];
      if (n !== undefined && /[!-\/:-@\[-`{-~]/.test(n)) {
        if (/[?*{]/.test(re[i + 2] ?? '')) return out;
        out += n;
        i++;
        continue;
      }
      return out;
    }
    if (META.test(c)) return c === '?' || c === '*' || c === '{' ? out.slice(0, -1) : out;
    if (/[?*{]/.test(re[i + 1] ?? '')) return out;
    out += c;
  }
  return out;
}

function commonPrefix(xs: readonly string[]): string {
  if (xs.length === 0) return '';
  let p = xs[0]!;
  for (const x of xs) {
    let i = 0;
    while (i < p.length && i < x.length && p[i] === x[i]) i++;
    p = p.slice(0, i);
  }
  return p;
}

/** True when every matcher accepts the given labels' values (absent labels read as ''). */
export function matchesAll(matchers: readonly Matcher[], get: (name: string) => string): boolean {
  for (const m of matchers) if (!m.matches(get(m.name))) return false;
  return true;
}
