/**
 * File globs as Prometheus expands `rule_files` (Go's filepath.Glob): `*` matches any run of
 * characters except the separator, `?` one such character, `[...]` a class (`[^...]` negated,
 * ranges `a-z`), `\` escapes. Every path component may hold a pattern; there is no `**`.
 * Results are sorted per directory level as Go returns them.
 */
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { VigilError } from '../model/index.ts';

export class GlobError extends VigilError {
  constructor(message: string) {
    super('rules_bad_glob', message);
  }
}

const MAGIC = /[*?[\\]/;

/** Whether `s` contains glob characters. */
export function hasMeta(s: string): boolean {
  return MAGIC.test(s);
}

/** Compiles one path component's pattern to an anchored RegExp. Throws GlobError (Go's ErrBadPattern). */
export function compileComponent(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      i++;
      if (i >= pattern.length) throw new GlobError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      re += escapeRe(pattern[i]!);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '[';
      if (pattern[j] === '^') {
        cls += '^';
        j++;
      }
      let first = true;
      for (; j < pattern.length && (pattern[j] !== ']' || first); j++) {
        first = false;
        let ch = pattern[j]!;
        if (ch === '\\') {
          j++;
          if (j >= pattern.length) throw new GlobError(`syntax error in pattern ${JSON.stringify(pattern)}`);
          ch = pattern[j]!;
        }
        cls += ch === '-' && pattern[j + 1] !== ']' && cls.length > 1 ? '-' : escapeClass(ch);
      }
      if (j >= pattern.length) throw new GlobError(`syntax error in pattern ${JSON.stringify(pattern)}`);
      re += cls + ']';
      i = j;
    } else re += escapeRe(c);
  }
  try {
    return new RegExp(re + '$', 'u');
  } catch {
    throw new GlobError(`syntax error in pattern ${JSON.stringify(pattern)}`);
  }
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? '\\' + c : c;
}

function escapeClass(c: string): string {
  return /[\]\\^\-[]/.test(c) ? '\\' + c : c;
}

/**
 * Expands `pattern` (absolute, or relative to `baseDir`) to the existing paths it matches.
 * A pattern without glob characters is returned as is when the file exists, and not at all
 * otherwise (as Go's Glob). Throws GlobError for a malformed pattern.
 */
export function glob(pattern: string, baseDir = process.cwd()): string[] {
  const abs = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern);
  if (!hasMeta(abs)) {
    try {
      statSync(abs);
      return [abs];
    } catch {
      return [];
    }
  }
  const parts = abs.split(sep);
  let bases = [parts[0] === '' ? sep : parts[0]!];
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k]!;
    if (part === '') continue;
    const next: string[] = [];
    if (!hasMeta(part)) {
      for (const b of bases) next.push(join(b, part));
    } else {
      const re = compileComponent(part);
      for (const b of bases) {
        let names: string[];
        try {
          names = readdirSync(b);
        } catch {
          continue;
        }
        names.sort();
        for (const n of names) if (re.test(n)) next.push(join(b, n));
      }
    }
    bases = next;
    if (bases.length === 0) return [];
  }
  return bases.filter((p) => {
    try {
      statSync(p);
      return true;
    } catch {
      return false;
    }
  });
}
