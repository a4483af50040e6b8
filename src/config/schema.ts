/**
 * Building blocks for module-owned configuration schemas (zod 4). Every module describes its
 * own section with these; `config` composes the sections and turns validation issues into
 * `file:line:col: key.path: message` problems.
 *
 * Conventions: objects are strict (unknown keys are errors, as in Prometheus); durations are
 * Prometheus duration strings parsed to milliseconds; byte sizes to bytes; relative file paths
 * resolve against the configuration file's directory; secrets become `Secret` values.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseDuration, parseByteSize, isValidLabelName, compileAnchoredRe2, Labels, errorMessage } from '../model/index.ts';
import { Secret } from './secret.ts';
import { resolveConfigPath } from './context.ts';

export { z };

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/** A Prometheus duration (`15s`, `1h30m`, `1d`) → milliseconds. */
export function duration() {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const s = String(v);
    try {
      return parseDuration(s);
    } catch {
      ctx.issues.push({ code: 'custom', message: `${JSON.stringify(s)} is not a duration (use e.g. 15s, 1m30s, 2h, 1d)`, input: v });
      return z.NEVER;
    }
  });
}

/** A positive duration (> 0). */
export function positiveDuration() {
  return duration().refine((ms) => ms > 0, { message: 'must be greater than 0' });
}

/** A byte size (`512MB`, `1GB`, `1024`) → bytes; units are powers of 1024. */
export function byteSize() {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return typeof v === 'number' ? v : parseByteSize(v);
    } catch {
      ctx.issues.push({ code: 'custom', message: `${JSON.stringify(v)} is not a byte size (use e.g. 512MB, 10GB)`, input: v });
      return z.NEVER;
    }
  });
}

/** A secret written inline. Pair it with `secretFile()` under the same key plus `_file`. */
export function secret() {
  return z.string().transform((v) => Secret.inline(v));
}

/** A `*_file` secret: the path must exist when the configuration is loaded; read on use. */
export function secretFile() {
  return z.string().transform((p, ctx) => {
    const abs = resolveConfigPath(p);
    if (!existsSync(abs)) {
      ctx.issues.push({ code: 'custom', message: `secret file ${JSON.stringify(p)} does not exist (resolved to ${abs})`, input: p });
      return z.NEVER;
    }
    return Secret.fromFile(abs);
  });
}

/**
 * The secret given by `obj[name]` or `obj[name + '_file']`. Use in a section's `.superRefine`
 * via `exclusiveSecret` to reject both being set.
 */
export function pickSecret(inline: Secret | undefined, file: Secret | undefined): Secret | undefined {
  return inline ?? file;
}

/** Adds an issue when both `name` and `name_file` are set. */
export function exclusiveSecret(obj: Record<string, unknown>, name: string, ctx: z.RefinementCtx): void {
  if (obj[name] !== undefined && obj[`${name}_file`] !== undefined) {
    ctx.addIssue({ code: 'custom', message: `at most one of ${name} and ${name}_file may be set`, path: [`${name}_file`] });
  }
}

/** A path relative to the configuration file → absolute path. */
export function filePath() {
  return z.string().min(1).transform((p) => resolveConfigPath(p));
}

/** A label name (non-empty UTF-8, Prometheus 3 rules). */
export function labelName() {
  return z.string().refine((s) => isValidLabelName(s), { error: (iss) => `${JSON.stringify(iss.input)} is not a valid label name` });
}

/** A map of label names to values → `Labels`. */
export function labelSet() {
  return z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).transform((rec, ctx) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(rec)) {
      if (!isValidLabelName(k)) {
        ctx.issues.push({ code: 'custom', message: `${JSON.stringify(k)} is not a valid label name`, input: k, path: [k] });
        continue;
      }
      out[k] = String(v);
    }
    return Labels.fromRecord(out);
  });
}

/** An RE2 regular expression (validated; kept as its source string). */
export function regex() {
  return z.string().superRefine((s, ctx) => {
    try {
      compileAnchoredRe2(s);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `invalid regular expression ${JSON.stringify(s)}: ${errorMessage(e)}` });
    }
  });
}

/** An absolute http(s) URL. */
export function httpUrl() {
  return z.string().refine(
    (s) => {
      try {
        const u = new URL(s);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    },
    { error: (iss) => `${JSON.stringify(iss.input)} is not an http(s) URL` },
  );
}

/** `host:port` (host may be empty or a bracketed IPv6 address). */
export function hostPort() {
  return z.string().refine((s) => /^(\[[0-9a-fA-F:.]+\]|[^:\s\/]*):\d{1,5}$/.test(s) && Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, {
    error: (iss) => `${JSON.stringify(iss.input)} is not a host:port address`,
  });
}

/** An issue-message map that turns zod's defaults into messages a person can act on. */
export function issueMessage(iss: { code?: string; input?: unknown; expected?: unknown; values?: unknown; minimum?: unknown; maximum?: unknown; origin?: unknown }): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `expected ${expectedName(String(iss.expected))}, got ${describe(iss.input)}`;
    case 'invalid_value':
      if (Array.isArray(iss.values)) return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}; got ${describe(iss.input)}`;
      return undefined;
    case 'invalid_union':
      return `${describe(iss.input)} is not valid here`;
    case 'too_small':
      if (iss.origin === 'string') return iss.minimum === 1 ? 'must not be empty' : `must be at least ${String(iss.minimum)} characters`;
      if (iss.origin === 'array') return `must have at least ${String(iss.minimum)} item(s)`;
      return `must be at least ${String(iss.minimum)}`;
    case 'too_big':
      return `must be at most ${String(iss.maximum)}`;
    default:
      return undefined;
  }
}

function expectedName(t: string): string {
  switch (t) {
    case 'object':
    case 'record':
      return 'a map';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return t;
  }
}
