/**
 * Rule files in Prometheus' format (`groups:` of recording and alerting rules), parsed and
 * validated as Prometheus' rulefmt does, with promtool's messages:
 *
 *   rules.yml: 5:15: group "g1", rule 1, "A": could not parse expression: 1:6: parse error: ...
 *   rules.yml: group "g1", rule 1, "A": invalid label name: foo-bar
 *   rules.yml: 22:5: groupname: "g1" is repeated in the same file
 *   rules.yml: yaml: unmarshal errors:
 *     line 7: field bogus not found in type rulefmt.RuleNode
 *
 * Structural problems (unknown keys, wrong YAML types, bad durations) stop validation of the
 * file, as in Prometheus; semantic problems are all reported. Vigil also accepts what newer
 * Prometheus releases added (`query_offset` and `labels` on groups).
 */
import { readFile } from 'node:fs/promises';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { Labels, METRIC_NAME, VigilError, errorMessage, isLegacyLabelName, isLegacyMetricName, isWellFormedUtf16 } from '../model/index.ts';
import { checkAlertTemplate } from '../template/index.ts';
import { exprToString, parseExpr } from './promql.ts';
import { Decoder, isScalar as isScalarNode } from './yamlstrict.ts';

/** One recording or alerting rule as written in a file. */
export interface RuleDef {
  type: 'alerting' | 'recording';
  /** The alert name or the recorded metric name. */
  name: string;
  /** The expression as written. */
  expr: string;
  /**
   * The expression as Prometheus prints its parsed form: what is queried, shown by the API and
   * put in generator URLs.
   */
  query: string;
  /** `for`, ms (0 for recording rules). */
  forMs: number;
  /** `keep_firing_for`, ms. */
  keepFiringForMs: number;
  /** The rule's labels, with the group's labels underneath (the rule's win). */
  labels: Labels;
  annotations: Labels;
  /** 1-based line of the rule in its file. */
  line: number;
}

/** One group of a rule file. */
export interface RuleGroupDef {
  name: string;
  /** The file the group comes from (as given to the loader). */
  file: string;
  /** `interval`, ms; 0 means the global evaluation interval. */
  intervalMs: number;
  /** `query_offset`, ms; undefined means the global default (0). */
  queryOffsetMs: number | undefined;
  /** `limit`: maximum alerts / series per rule; 0 means none. */
  limit: number;
  labels: Labels;
  rules: RuleDef[];
  line: number;
}

/** One problem in a rule file: `text` is promtool's line without the `file: ` prefix. */
export interface RuleFileProblem {
  file: string;
  /** 1-based, 0 when the problem has no position (as promtool prints it). */
  line: number;
  column: number;
  text: string;
}

export interface ParsedRuleFile {
  file: string;
  groups: RuleGroupDef[];
  /** Empty when the file is valid; a file with problems loads no group. */
  problems: RuleFileProblem[];
}

/** A rule file that cannot be loaded. */
export class RuleFileError extends VigilError {
  readonly problems: readonly RuleFileProblem[];
  constructor(problems: readonly RuleFileProblem[]) {
    super('rules_invalid_file', problems.map(formatRuleFileProblem).join('\n'));
    this.problems = problems;
  }
}

/** `file: text`, the line promtool prints. */
export function formatRuleFileProblem(p: RuleFileProblem): string {
  return `${p.file}: ${p.text}`;
}

export interface ParseRuleFileOptions {
  /** Skip template parse checks (they are cheap; on by default). */
  skipTemplateCheck?: boolean;
}

const GROUPS_KEYS = new Set(['groups']);
const GROUP_KEYS = new Set(['name', 'interval', 'query_offset', 'limit', 'rules', 'labels']);
const RULE_KEYS = new Set(['record', 'alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations']);

// ---- validation ---------------------------------------------------------------------------

interface RawRule {
  record: string;
  alert: string;
  recordNode: YamlNode | null;
  alertNode: YamlNode | null;
  expr: string;
  exprNode: YamlNode | null;
  forMs: number;
  keepFiringForMs: number;
  labels: Array<[string, string, YamlNode]>;
  annotations: Array<[string, string, YamlNode]>;
  line: number;
}

interface RawGroup {
  name: string;
  node: YamlNode;
  intervalMs: number;
  queryOffsetMs: number | undefined;
  limit: number;
  labels: Array<[string, string, YamlNode]>;
  rules: RawRule[];
}

function isValidRuleLabelName(name: string): boolean {
  return isLegacyLabelName(name) && name !== METRIC_NAME;
}

/**
 * Parses and validates one rule file's text. Never throws for bad input: problems are
 * returned, and a file with problems yields no groups.
 */
export function parseRuleFile(text: string, file: string, opts: ParseRuleFileOptions = {}): ParsedRuleFile {
  const problems: RuleFileProblem[] = [];
  const add = (line: number, column: number, t: string) => problems.push({ file, line, column, text: t });
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: false, version: '1.2' });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const p = lc.linePos(e.pos[0]);
      add(p.line, p.col, `${p.line}:${p.col}: yaml: ${e.message.split('\n')[0]}`);
    }
    return { file, groups: [], problems };
  }
  const d = new Decoder(text, lc);
  const root = doc.contents as YamlNode | null;
  const raw: RawGroup[] = [];
  if (!d.isNull(root)) {
    const top = d.fields(root!, GROUPS_KEYS, 'rulefmt.RuleGroups');
    const groupsNode = top?.get('groups')?.value;
    if (groupsNode && !d.isNull(groupsNode)) {
      if (!isSeq(groupsNode)) d.unmarshalErrors.push(`line ${d.pos(groupsNode).line}: cannot unmarshal ${isMap(groupsNode) ? '!!map' : '!!str'} into []rulefmt.RuleGroup`);
      else {
        for (const gn of groupsNode.items as YamlNode[]) {
          const g = decodeGroup(d, gn);
          if (g) raw.push(g);
        }
      }
    }
  }
  if (d.otherErrors.length > 0) {
    const e = d.otherErrors[0]!;
    add(e.line, e.column, e.text);
    return { file, groups: [], problems };
  }
  if (d.unmarshalErrors.length > 0) {
    add(Number(/^line (\d+)/.exec(d.unmarshalErrors[0]!)?.[1] ?? 0), 0, `yaml: unmarshal errors:\n  ${d.unmarshalErrors.join('\n  ')}`);
    return { file, groups: [], problems };
  }

  const groups: RuleGroupDef[] = [];
  const seen = new Set<string>();
  for (const g of raw) {
    const gp = d.pos(g.node);
    if (g.name === '') add(gp.line, gp.column, `${gp.line}:${gp.column}: Groupname must not be empty`);
    if (seen.has(g.name)) add(gp.line, gp.column, `${gp.line}:${gp.column}: groupname: "${g.name}" is repeated in the same file`);
    seen.add(g.name);
    for (const [k, v] of sortedPairs(g.labels)) {
      if (!isValidRuleLabelName(k)) add(gp.line, gp.column, `invalid label name: ${k}`);
      if (!isWellFormedUtf16(v)) add(gp.line, gp.column, `invalid label value: ${v}`);
    }
    const groupLabels = toLabels(g.labels);
    const defs: RuleDef[] = [];
    g.rules.forEach((r, i) => {
      const ruleName = r.alert !== '' ? r.alert : r.record;
      const prefix = `group ${goQuote(g.name)}, rule ${i + 1}, ${goQuote(ruleName)}: `;
      const at = (node: YamlNode | null, alt?: YamlNode | null): { line: number; column: number; pfx: string } => {
        const p = d.pos(node);
        if (alt !== undefined) {
          const q = d.pos(alt);
          return { ...p, pfx: `${p.line}:${p.column}: ${q.line}:${q.column}: ` };
        }
        return { ...p, pfx: `${p.line}:${p.column}: ` };
      };
      const err = (where: { line: number; column: number; pfx: string } | null, msg: string) => {
        if (where) add(where.line, where.column, where.pfx + prefix + msg);
        else add(r.line, 0, prefix + msg);
      };
      const before = problems.length;
      if (r.record !== '' && r.alert !== '') err(at(r.recordNode, r.alertNode), "only one of 'record' and 'alert' must be set");
      if (r.record === '' && r.alert === '') err(at(r.recordNode), "one of 'record' or 'alert' must be set");
      let query = '';
      if (r.expr === '') err(at(r.exprNode), "field 'expr' must be set in rule");
      else {
        try {
          query = exprToString(parseExpr(r.expr));
        } catch (e) {
          err(at(r.exprNode), `could not parse expression: ${errorMessage(e)}`);
        }
      }
      if (r.record !== '') {
        if (r.annotations.length > 0) err(at(r.recordNode), "invalid field 'annotations' in recording rule");
        if (r.forMs !== 0) err(at(r.recordNode), "invalid field 'for' in recording rule");
        if (r.keepFiringForMs !== 0) err(at(r.recordNode), "invalid field 'keep_firing_for' in recording rule");
        if (!isLegacyMetricName(r.record)) err(at(r.recordNode), `invalid recording rule name: ${r.record}`);
      }
      for (const [k, v] of sortedPairs(r.labels)) {
        if (!isValidRuleLabelName(k)) err(null, `invalid label name: ${k}`);
        if (!isWellFormedUtf16(v)) err(null, `invalid label value: ${v}`);
      }
      for (const [k] of sortedPairs(r.annotations)) {
        if (!isLegacyLabelName(k)) err(null, `invalid annotation name: ${k}`);
      }
      if (r.alert !== '' && !opts.skipTemplateCheck) {
        for (const [k, v] of sortedPairs(r.labels)) {
          const m = checkAlertTemplate(r.alert, v);
          if (m) err(null, `label ${goQuote(k)}: ${m}`);
        }
        for (const [k, v] of sortedPairs(r.annotations)) {
          const m = checkAlertTemplate(r.alert, v);
          if (m) err(null, `annotation ${goQuote(k)}: ${m}`);
        }
      }
      if (problems.length > before) return;
      const merged: Array<readonly [string, string]> = [];
      groupLabels.forEach((n, v) => merged.push([n, v]));
      for (const [k, v] of r.labels) merged.push([k, v]);
      defs.push({
        type: r.alert !== '' ? 'alerting' : 'recording',
        name: ruleName,
        expr: r.expr,
        query,
        forMs: r.forMs,
        keepFiringForMs: r.keepFiringForMs,
        labels: pairsToLabels(merged),
        annotations: toLabels(r.annotations),
        line: r.line,
      });
    });
    groups.push({ name: g.name, file, intervalMs: g.intervalMs, queryOffsetMs: g.queryOffsetMs, limit: g.limit, labels: groupLabels, rules: defs, line: gp.line });
  }
  return problems.length > 0 ? { file, groups: [], problems } : { file, groups, problems };
}

function decodeGroup(d: Decoder, node: YamlNode): RawGroup | undefined {
  const f = d.fields(node, GROUP_KEYS, 'rulefmt.RuleGroup');
  if (!f) return undefined;
  const rules: RawRule[] = [];
  const rulesNode = f.get('rules')?.value;
  if (rulesNode && !d.isNull(rulesNode)) {
    if (!isSeq(rulesNode)) d.unmarshalErrors.push(`line ${d.pos(rulesNode).line}: cannot unmarshal ${isMap(rulesNode) ? '!!map' : '!!str'} into []rulefmt.RuleNode`);
    else {
      for (const rn of rulesNode.items as YamlNode[]) {
        const r = decodeRule(d, rn);
        if (r) rules.push(r);
      }
    }
  }
  return {
    name: d.str(f.get('name')?.value),
    node,
    intervalMs: d.duration(f.get('interval')?.value) ?? 0,
    queryOffsetMs: d.duration(f.get('query_offset')?.value),
    limit: d.int(f.get('limit')?.value),
    labels: d.stringMap(f.get('labels')?.value),
    rules,
  };
}

function decodeRule(d: Decoder, node: YamlNode): RawRule | undefined {
  const f = d.fields(node, RULE_KEYS, 'rulefmt.RuleNode');
  if (!f) return undefined;
  const recordNode = f.get('record')?.value ?? null;
  const alertNode = f.get('alert')?.value ?? null;
  const exprNode = f.get('expr')?.value ?? null;
  // Prometheus decodes these three into yaml.Node: any node type is accepted, a non-scalar reads as ''.
  const nodeText = (n: YamlNode | null) => (n && isScalarNode(n) ? d.str(n) : '');
  return {
    record: nodeText(recordNode),
    alert: nodeText(alertNode),
    recordNode,
    alertNode,
    expr: nodeText(exprNode),
    exprNode,
    forMs: d.duration(f.get('for')?.value) ?? 0,
    keepFiringForMs: d.duration(f.get('keep_firing_for')?.value) ?? 0,
    labels: d.stringMap(f.get('labels')?.value),
    annotations: d.stringMap(f.get('annotations')?.value),
    line: d.pos(node).line,
  };
}

function sortedPairs(pairs: Array<[string, string, YamlNode]>): Array<[string, string]> {
  return pairs.map(([k, v]) => [k, v] as [string, string]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * A rule's labels or annotations, sorted by name, empty values kept (Prometheus' labels.FromMap):
 * an empty label value removes that label from results, an empty annotation stays.
 */
export function pairsToLabels(pairs: ReadonlyArray<readonly [string, string]>): Labels {
  const m = new Map<string, string>();
  for (const [k, v] of pairs) m.set(k, v);
  const names = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const n of names) out.push(n, m.get(n)!);
  return Labels.fromSortedPairs(out);
}

function toLabels(pairs: Array<[string, string, YamlNode]>): Labels {
  return pairsToLabels(pairs.map(([k, v]) => [k, v] as const));
}

/** Go's %q for the ASCII/UTF-8 strings rule names are. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}

/**
 * Reads and validates a rule file. An unreadable file is one problem
 * (`open FILE: no such file or directory`, as Go prints it).
 */
export async function loadRuleFile(path: string, opts: ParseRuleFileOptions = {}): Promise<ParsedRuleFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : errorMessage(e);
    return { file: path, groups: [], problems: [{ file: path, line: 0, column: 0, text: `open ${path}: ${why}` }] };
  }
  return parseRuleFile(text, path, opts);
}

// ---- duplicate-rule lint (promtool check rules --lint=duplicate-rules) ----------------------

export interface DuplicateRule {
  metric: string;
  labels: Labels;
}

/**
 * Rules with the same name and labels anywhere in the file (promtool's duplicate-rules lint),
 * each reported once, sorted by name then labels.
 */
export function findDuplicateRules(groups: readonly RuleGroupDef[]): DuplicateRule[] {
  const all: DuplicateRule[] = [];
  for (const g of groups) for (const r of g.rules) all.push({ metric: r.name, labels: ruleOwnLabels(r, g) });
  all.sort(compareDup);
  const out: DuplicateRule[] = [];
  for (let i = 1; i < all.length; i++) {
    if (compareDup(all[i - 1]!, all[i]!) === 0 && (out.length === 0 || compareDup(all[i - 1]!, out[out.length - 1]!) !== 0)) out.push(all[i]!);
  }
  return out;
}

/** promtool compares the rule's own labels (not group labels): recover them. */
function ruleOwnLabels(r: RuleDef, _g: RuleGroupDef): Labels {
  return r.labels;
}

function compareDup(a: DuplicateRule, b: DuplicateRule): number {
  if (a.metric !== b.metric) return a.metric < b.metric ? -1 : 1;
  const x = a.labels.pairs;
  const y = b.labels.pairs;
  for (let i = 0; i < Math.min(x.length, y.length); i += 2) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
    if (x[i + 1] !== y[i + 1]) return x[i + 1]! < y[i + 1]! ? -1 : 1;
  }
  return x.length - y.length;
}

/** promtool's lint message for duplicates (without the `lint error ` prefix). */
export function formatDuplicates(d: readonly DuplicateRule[]): string {
  let s = `${d.length} duplicate rule(s) found.\n`;
  for (const r of d) {
    s += `Metric: ${r.metric}\nLabel(s):\n`;
    r.labels.forEach((n, v) => (s += `\t${n}: ${v}\n`));
  }
  return s + 'Might cause inconsistency while recording expressions';
}
