/**
 * Loading a configuration: YAML (with positions) → the composed schema of all registered
 * sections → a typed `VigilConfig`, or a `ConfigError` listing every problem as
 * `file:line:col: key.path: message`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { errorMessage } from '../model/index.ts';
import { ConfigError, type ConfigProblem } from './errors.ts';
import { contextFor, withLoadContext } from './context.ts';
import { issueMessage } from './schema.ts';
import { Secret, SECRET_PLACEHOLDER } from './secret.ts';

/**
 * A top-level section of `vigil.yml`, owned by the module that uses it. The schema must accept
 * `undefined` (the section omitted): give it `.default(...)` or `.optional()`.
 */
export interface ConfigSection<S extends z.ZodType = z.ZodType> {
  readonly key: string;
  readonly schema: S;
}

export function defineSection<S extends z.ZodType>(key: string, schema: S): ConfigSection<S> {
  return { key, schema };
}

type Path = Array<string | number>;

/** A validated configuration. Immutable; a reload produces a new instance. */
export class VigilConfig {
  /** sha256 of the source text (hex), to tell whether a reload changed anything. */
  readonly hash: string;

  constructor(
    /** Absolute path of the file, or undefined for the built-in defaults. */
    readonly file: string | undefined,
    /** The YAML text as loaded. */
    readonly source: string,
    private readonly values: Readonly<Record<string, unknown>>,
    private readonly doc: Document,
  ) {
    this.hash = createHash('sha256').update(source).digest('hex');
  }

  /** The validated value of a section (defaults applied). */
  get<S extends z.ZodType>(section: ConfigSection<S>): z.output<S> {
    return this.values[section.key] as z.output<S>;
  }

  /** The YAML as loaded, with every secret's value replaced by `<secret>`. */
  redactedYaml(): string {
    const copy = this.doc.clone();
    for (const p of secretPaths(this.values)) {
      if (copy.hasIn(p)) copy.setIn(p, SECRET_PLACEHOLDER);
    }
    return copy.toString();
  }
}

function secretPaths(v: unknown, path: Path = [], out: Path[] = []): Path[] {
  if (v instanceof Secret) out.push(path);
  else if (Array.isArray(v)) v.forEach((x, i) => secretPaths(x, [...path, i], out));
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) secretPaths(x, [...path, k], out);
  }
  return out;
}

/** `scrape_configs[0].scrape_interval` */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const k of path) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += s === '' ? String(k) : `.${String(k)}`;
  }
  return s;
}

/** YAML `key:` with no value reads as null; treat it as absent so defaults apply. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
    return out;
  }
  return v;
}

function composeSchema(sections: readonly ConfigSection[]) {
  const shape: Record<string, z.ZodType> = {};
  for (const s of sections) {
    if (shape[s.key]) throw new Error(`configuration section ${s.key} registered twice`);
    shape[s.key] = s.schema;
  }
  return z.strictObject(shape);
}

/** Unwraps optional/default/pipe wrappers to find the object shape at a path (for suggestions). */
function shapeAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let cur: unknown = schema;
  const unwrap = () => {
    for (let guard = 0; guard < 20; guard++) {
      const def = (cur as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      if (!def) return;
      if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault' || def.type === 'readonly') && def.innerType) cur = def.innerType;
      else if (def.type === 'pipe' && def.in) cur = def.in;
      else return;
    }
  };
  unwrap();
  for (const k of path) {
    const def = (cur as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return undefined;
    if (typeof k === 'number' && def.type === 'array') cur = def.element;
    else if (typeof k === 'string' && def.type === 'object') cur = (def.shape as Record<string, unknown>)[k];
    else if (typeof k === 'string' && def.type === 'record') cur = def.valueType;
    else return undefined;
    unwrap();
  }
  const def = (cur as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape as object) : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function suggestion(key: string, allowed: string[] | undefined): string {
  if (!allowed || allowed.length === 0) return '';
  let best = '';
  let bestD = Infinity;
  for (const a of allowed) {
    const d = editDistance(key, a);
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  if (bestD <= Math.max(2, Math.floor(key.length / 4))) return ` (did you mean "${best}"?)`;
  return ` (allowed: ${allowed.join(', ')})`;
}

class Locator {
  constructor(private readonly doc: Document, private readonly lc: LineCounter) {}

  private pos(offset: number): { line: number; column: number } {
    const p = this.lc.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /** The node at `path`, or the deepest existing ancestor and how deep it is. */
  private nodeAt(path: readonly PropertyKey[]): { node: YamlNode | undefined; depth: number } {
    let node: unknown = this.doc.contents;
    let depth = 0;
    for (const k of path) {
      let next: unknown;
      if (isMap(node)) next = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(k))?.value;
      else if (isSeq(node) && typeof k === 'number') next = node.items[k];
      if (next === undefined || next === null) break;
      node = next;
      depth++;
    }
    return { node: node as YamlNode | undefined, depth };
  }

  value(path: readonly PropertyKey[]): { line: number; column: number; exact: boolean } {
    const { node, depth } = this.nodeAt(path);
    const off = node?.range?.[0];
    if (off === undefined) return { line: 0, column: 0, exact: false };
    return { ...this.pos(off), exact: depth === path.length };
  }

  key(path: readonly PropertyKey[], key: string): { line: number; column: number } {
    const { node, depth } = this.nodeAt(path);
    if (depth === path.length && isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === key);
      const off = (pair?.key as YamlNode | undefined)?.range?.[0];
      if (off !== undefined) return this.pos(off);
    }
    const v = this.value(path);
    return { line: v.line, column: v.column };
  }
}

/** Validates YAML text against the sections. Throws ConfigError. */
export function parseConfig(text: string, file: string | undefined, sections: readonly ConfigSection[]): VigilConfig {
  const { value, doc } = validateYamlDocument(text, file, composeSchema(sections));
  return new VigilConfig(file, text, value as Record<string, unknown>, doc);
}

/**
 * Validates a whole YAML document against `schema` (its root), with the same error reporting
 * as `parseConfig` (every problem as file:line:col: key.path: message; relative paths resolve
 * against the file's directory). For documents in another program's format that a section
 * refers to, e.g. `alerting: { config_file: alertmanager.yml }`. Throws ConfigError.
 */
export function validateYaml<S extends z.ZodType>(text: string, file: string | undefined, schema: S): z.output<S> {
  return validateYamlDocument(text, file, schema).value as z.output<S>;
}

function validateYamlDocument(text: string, file: string | undefined, schema: z.ZodType): { value: unknown; doc: Document } {
  const displayName = file ?? '<defaults>';
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
  const problems: ConfigProblem[] = [];
  for (const e of doc.errors) {
    const lp = lc.linePos(e.pos[0]);
    problems.push({ file: displayName, line: lp.line, column: lp.col, path: '', message: e.message.split('\n')[0]! });
  }
  if (problems.length) throw new ConfigError(problems);

  let data: unknown = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError([{ file: displayName, line: 1, column: 1, path: '', message: 'the configuration must be a map of sections' }]);
  }
  data = dropNulls(data);
  const result = withLoadContext(contextFor(file), () => schema.safeParse(data, { error: (iss) => issueMessage(iss as never) }));
  if (result.success) return { value: result.data, doc };

  const loc = new Locator(doc, lc);
  for (const iss of result.error.issues) {
    if (iss.code === 'unrecognized_keys') {
      const allowed = shapeAt(schema, iss.path);
      for (const k of iss.keys) {
        const p = loc.key(iss.path, k);
        problems.push({ file: displayName, ...p, path: formatPath([...iss.path, k]), message: `unknown key "${k}"${suggestion(k, allowed)}` });
      }
      continue;
    }
    const p = loc.value(iss.path);
    let message = iss.message;
    if (!p.exact && iss.code === 'invalid_type' && (iss as { input?: unknown }).input === undefined) message = 'is required';
    problems.push({ file: displayName, line: p.line, column: p.column, path: formatPath(iss.path), message });
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  throw new ConfigError(problems);
}

/** Reads and validates a configuration file. Throws ConfigError (also for an unreadable file). */
export async function loadConfigFile(file: string, sections: readonly ConfigSection[]): Promise<VigilConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ file, line: 0, column: 0, path: '', message: `cannot read configuration file: ${errorMessage(e)}` }]);
  }
  return parseConfig(text, file, sections);
}
