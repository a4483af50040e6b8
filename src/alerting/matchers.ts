/**
 * Alertmanager's label matchers: the syntax of `matchers:` in routes and inhibit rules, of
 * `filter=` in API v2 and of amtool (`name=value`, `name!="v"`, `name=~"re"`, `name!~re`,
 * comma-separated lists optionally in braces), with Alertmanager's semantics: regexes are
 * anchored `^(?:re)$` and `.` does not match a newline; an absent label reads as ''.
 */
import { Matcher, compareStrings, type MatchType } from '../model/index.ts';
import { AlertingError } from './errors.ts';

const MATCHER_RE = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*([\s\S]*?)\s*$/;

/** Builds an Alertmanager matcher (regexes without dot-all). Throws AlertingError `matcher_invalid`. */
export function amMatcher(type: MatchType, name: string, value: string): Matcher {
  try {
    return new Matcher(type, name, value, { dotAll: false });
  } catch (e) {
    throw new AlertingError('matcher_invalid', (e as Error).message);
  }
}

/** Parses one matcher (`severity="critical"`). Throws AlertingError `matcher_invalid` with Alertmanager's messages. */
export function parseMatcher(s: string): Matcher {
  const m = MATCHER_RE.exec(s);
  if (!m) throw new AlertingError('matcher_invalid', `bad matcher format: ${s}`);
  const raw = m[3]!;
  let rawValue = raw;
  let expectTrailingQuote = false;
  if (rawValue.startsWith('"')) {
    rawValue = rawValue.slice(1);
    expectTrailingQuote = true;
  }
  let value = '';
  let escaped = false;
  const chars = [...rawValue];
  for (let i = 0; i < chars.length; i++) {
    const r = chars[i]!;
    if (escaped) {
      escaped = false;
      if (r === 'n') value += '\n';
      else if (r === '"' || r === '\\') value += r;
      else value += '\\' + r;
      continue;
    }
    if (r === '\\') {
      if (i < chars.length - 1) {
        escaped = true;
        continue;
      }
      value += '\\';
    } else if (r === '"') {
      if (!expectTrailingQuote || i < chars.length - 1) throw new AlertingError('matcher_invalid', `matcher value contains unescaped double quote: ${raw}`);
      expectTrailingQuote = false;
    } else value += r;
  }
  if (expectTrailingQuote) throw new AlertingError('matcher_invalid', `matcher value contains unescaped double quote: ${raw}`);
  return amMatcher(m[2] as MatchType, m[1]!, value);
}

/**
 * Parses a comma-separated list (`{a="1", b=~"x|y"}`; braces optional; commas inside quotes do
 * not separate). Throws AlertingError `matcher_invalid`.
 */
export function parseMatchers(input: string): Matcher[] {
  let s = input;
  if (s.startsWith('{')) s = s.slice(1);
  if (s.endsWith('}')) s = s.slice(0, -1);
  const tokens: string[] = [];
  let token = '';
  let inside = false;
  let escaped = false;
  for (const r of s) {
    if (r === ',' && !inside) {
      tokens.push(token);
      token = '';
      continue;
    }
    if (r === '"') {
      if (!escaped) inside = !inside;
      else escaped = false;
    } else if (r === '\\') escaped = !escaped;
    else escaped = false;
    token += r;
  }
  if (token.trim() !== '') tokens.push(token.trim());
  return tokens.map(parseMatcher);
}

/** OpenMetrics escaping of a matcher value: `\` → `\\`, newline → `\n`, `"` → `\"`. */
export function openMetricsEscape(s: string): string {
  return s.replace(/[\\\n"]/g, (c) => (c === '\n' ? '\\n' : '\\' + c));
}

/** `name="value"` as Alertmanager prints a matcher (route keys, config, amtool). */
export function matcherString(m: Matcher): string {
  return `${m.name}${m.type}"${openMetricsEscape(m.value)}"`;
}

/** `{a="1",b=~"x"}` as Alertmanager prints a matcher list. */
export function matchersString(ms: readonly Matcher[]): string {
  return `{${ms.map(matcherString).join(',')}}`;
}

const TYPE_ORDER: Record<MatchType, number> = { '=': 0, '!=': 1, '=~': 2, '!~': 3 };

/** Alertmanager's matcher order: by name, then value, then type (=, !=, =~, !~). */
export function compareMatchers(a: Matcher, b: Matcher): number {
  return compareStrings(a.name, b.name) || compareStrings(a.value, b.value) || TYPE_ORDER[a.type] - TYPE_ORDER[b.type];
}

/** True when every matcher accepts the labels (absent labels read as ''). */
export function matchesLabels(ms: readonly Matcher[], get: (name: string) => string): boolean {
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    if (!m.matches(get(m.name))) return false;
  }
  return true;
}

/**
 * The API's filter semantics (`GET /api/v2/alerts?filter=`): a matcher with an empty value does
 * not require the label's absence or presence in the trivial direction (`a=""` accepts alerts
 * without `a`, `a!=""` accepts alerts with any `a`).
 */
export function matchesFilter(ms: readonly Matcher[], get: (name: string) => string | undefined): boolean {
  for (const m of ms) {
    const v = get(m.name);
    if (m.type === '!=' || m.type === '!~') {
      if (m.value === '' && v !== undefined) continue;
    } else if (m.value === '' && v === undefined) continue;
    if (!m.matches(v ?? '')) return false;
  }
  return true;
}
