/**
 * Parser for Prometheus' PromQL test-script language (`*.test` files of
 * promql/promqltest): `load`, `load_with_nhcb`, `clear` and `eval` commands with their blocks,
 * series descriptions (`name{l="v"} 1+2x3 _ stale {{schema:0 sum:1}}`) and expectations.
 * The language is specified in the corpus' FORMAT.md; this module only parses, it runs nothing.
 */
import { Labels, LabelsBuilder, METRIC_NAME, STALE_NAN, parseDuration } from '../../model/index.ts';
import { lex, unquoteString } from '../lexer.ts';

export interface SeriesValues {
  /** Values by position; NaN-boxed: use `kinds` to tell floats, histograms and omitted. */
  values: Float64Array;
  /** 0 = omitted, 1 = float, 2 = native histogram (value not represented here). */
  kinds: Uint8Array;
}

export interface SeriesLine {
  labels: Labels;
  data: SeriesValues;
  /** The line contains histogram literals. */
  hasHistograms: boolean;
  /** For `@st` lines: the line is a start-timestamp line. */
  startTimestamps: boolean;
  line: number;
}

export interface LoadCommand {
  kind: 'load';
  line: number;
  intervalMs: number;
  withNhcb: boolean;
  series: SeriesLine[];
}

export interface ClearCommand {
  kind: 'clear';
  line: number;
}

export interface Expectation {
  type: 'fail' | 'warn' | 'info' | 'no_warn' | 'no_info' | 'ordered';
  msg?: string;
  regex?: RegExp;
}

export interface EvalCommand {
  kind: 'eval';
  line: number;
  expr: string;
  instant: boolean;
  /** Instant time, or range start (ms). */
  start: number;
  end: number;
  stepMs: number;
  expectations: Expectation[];
  /** Expected result series (vector or matrix). */
  series: SeriesLine[];
  /** Expected scalar, if the block had a scalar line. */
  scalar?: number;
  /** `expect string`. */
  string?: string;
  /** `expect range vector from .. to .. step ..`. */
  rangeVector?: { start: number; end: number; step: number };
  /** The expected output contains native-histogram literals. */
  expectsHistograms: boolean;
}

export type Command = LoadCommand | ClearCommand | EvalCommand;

export class ScriptError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

const INSTANT_RE = /^eval(?:_(fail|warn|info|ordered))?\s+instant\s+(?:at\s+(\S+)\s+)?(.+)$/;
const RANGE_RE = /^eval(?:_(fail|warn|info))?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$/;
const LOAD_RE = /^load(_with_nhcb)?\s+(\S+)$/;
const EXPECT_RE = /^expect\s+(fail|warn|info|no_warn|no_info|ordered)(?:\s+(msg|regex):(.*))?$/;
const RANGE_VECTOR_RE = /^expect\s+range\s+vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$/;
const STRING_RE = /^expect\s+string\s+(.+)$/;

function duration(file: string, line: number, s: string): number {
  try {
    return parseDuration(s);
  } catch (e) {
    throw new ScriptError(file, line, (e as Error).message);
  }
}

/** Parses a whole test file. Throws ScriptError with file:line. */
export function parseScript(file: string, text: string): Command[] {
  const lines = text.split('\n').map((l) => l.trim());
  const cmds: Command[] = [];
  let i = 0;
  const isBlank = (l: string): boolean => l === '' || l.startsWith('#');
  while (i < lines.length) {
    const l = lines[i]!;
    if (isBlank(l)) {
      i++;
      continue;
    }
    const lineNo = i + 1;
    const word = l.split(/\s+/)[0]!.toLowerCase();
    if (word === 'clear') {
      cmds.push({ kind: 'clear', line: lineNo });
      i++;
      continue;
    }
    // Block: this line plus the non-blank lines that follow.
    const block: Array<{ text: string; line: number }> = [];
    let j = i + 1;
    while (j < lines.length && !isBlank(lines[j]!)) {
      block.push({ text: lines[j]!, line: j + 1 });
      j++;
    }
    if (word.startsWith('load')) {
      const m = LOAD_RE.exec(l);
      if (!m) throw new ScriptError(file, lineNo, `invalid load command: ${l}`);
      const series = parseLoadBlock(file, block);
      cmds.push({ kind: 'load', line: lineNo, intervalMs: duration(file, lineNo, m[2]!), withNhcb: !!m[1], series });
      i = j;
      continue;
    }
    if (word.startsWith('eval')) {
      const { cmd, consumed } = parseEval(file, lineNo, l, block);
      cmds.push(cmd);
      i = i + 1 + consumed;
      continue;
    }
    throw new ScriptError(file, lineNo, `invalid command: ${l}`);
  }
  return cmds;
}

function parseLoadBlock(file: string, block: Array<{ text: string; line: number }>): SeriesLine[] {
  const out: SeriesLine[] = [];
  for (const { text, line } of block) {
    const first = text.split(/\s+/)[0]!;
    if (first.endsWith('@st')) {
      const rest = text.slice(first.length);
      const labels = parseLabelsOnly(file, line, first.slice(0, -3));
      out.push({ labels, data: { values: new Float64Array(0), kinds: new Uint8Array(0) }, hasHistograms: false, startTimestamps: true, line });
      void rest;
      continue;
    }
    out.push(parseSeriesLine(file, line, text));
  }
  return out;
}

function parseEval(file: string, lineNo: number, l: string, block: Array<{ text: string; line: number }>): { cmd: EvalCommand; consumed: number } {
  let suffix: string | undefined;
  let instant: boolean;
  let start: number;
  let end: number;
  let stepMs = 0;
  let expr: string;
  const im = INSTANT_RE.exec(l);
  if (im) {
    instant = true;
    suffix = im[1];
    if (im[2] === undefined) throw new ScriptError(file, lineNo, 'instant eval without "at <time>"');
    start = end = duration(file, lineNo, im[2]);
    expr = im[3]!;
  } else {
    const rm = RANGE_RE.exec(l);
    if (!rm) throw new ScriptError(file, lineNo, `invalid eval command: ${l}`);
    instant = false;
    suffix = rm[1];
    start = duration(file, lineNo, rm[2]!);
    end = duration(file, lineNo, rm[3]!);
    stepMs = duration(file, lineNo, rm[4]!);
    expr = rm[5]!;
    if (end < start) throw new ScriptError(file, lineNo, 'invalid test definition, end timestamp is before start timestamp');
  }
  const cmd: EvalCommand = { kind: 'eval', line: lineNo, expr, instant, start, end, stepMs, expectations: [], series: [], expectsHistograms: false };
  if (suffix === 'fail') cmd.expectations.push({ type: 'fail' });
  if (suffix === 'warn') cmd.expectations.push({ type: 'warn' });
  if (suffix === 'info') cmd.expectations.push({ type: 'info' });
  if (suffix === 'ordered') cmd.expectations.push({ type: 'ordered' });
  let consumed = 0;
  for (const { text, line } of block) {
    consumed++;
    let m = RANGE_VECTOR_RE.exec(text);
    if (m) {
      cmd.rangeVector = { start: duration(file, line, m[1]!), end: duration(file, line, m[2]!), step: duration(file, line, m[3]!) };
      continue;
    }
    m = STRING_RE.exec(text);
    if (m) {
      cmd.string = unquoteGoString(file, line, m[1]!.trim());
      continue;
    }
    if (text.split(/\s+/)[0] === 'expect') {
      m = EXPECT_RE.exec(text);
      if (!m) throw new ScriptError(file, line, `invalid expect statement: ${text}`);
      const e: Expectation = { type: m[1] as Expectation['type'] };
      const body = (m[3] ?? '').trim();
      if (m[2] === 'msg') e.msg = body;
      if (m[2] === 'regex') e.regex = new RegExp(body.replace(/\(\?i\)/g, ''), /\(\?i\)/.test(body) ? 'i' : '');
      cmd.expectations.push(e);
      continue;
    }
    if (text.startsWith('expected_fail_message ')) {
      cmd.expectations.push({ type: 'fail', msg: text.slice('expected_fail_message '.length).trim() });
      break;
    }
    if (text.startsWith('expected_fail_regexp ')) {
      cmd.expectations.push({ type: 'fail', regex: new RegExp(text.slice('expected_fail_regexp '.length).trim()) });
      break;
    }
    const scalar = parseGoScalarLine(text);
    if (scalar !== undefined) {
      cmd.scalar = scalar;
      break;
    }
    const s = parseSeriesLine(file, line, text);
    if (s.hasHistograms) cmd.expectsHistograms = true;
    cmd.series.push(s);
  }
  const nFail = cmd.expectations.filter((e) => e.type === 'fail').length;
  if (nFail > 1) throw new ScriptError(file, lineNo, 'multiple fail expectations');
  return { cmd, consumed };
}

/** A scalar result line: Go ParseInt(s, 0, 64), else ParseFloat. */
function parseGoScalarLine(s: string): number | undefined {
  if (/^[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.test(s)) {
    const neg = s.startsWith('-');
    const body = s.replace(/^[+-]/, '').replace(/_/g, '');
    let v: number;
    if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
    else if (/^0[oO]/.test(body)) v = parseInt(body.slice(2), 8);
    else if (/^0[bB]/.test(body)) v = parseInt(body.slice(2), 2);
    else if (body.length > 1 && body.startsWith('0')) v = parseInt(body, 8);
    else v = Number(body);
    return neg ? -v : v;
  }
  const low = s.toLowerCase();
  if (['inf', '+inf', 'infinity', '+infinity'].includes(low)) return Infinity;
  if (['-inf', '-infinity'].includes(low)) return -Infinity;
  if (['nan', '+nan', '-nan'].includes(low)) return NaN;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s);
  return undefined;
}

function unquoteGoString(file: string, line: number, s: string): string {
  if (s.length >= 2 && ((s[0] === '"' && s.endsWith('"')) || (s[0] === '`' && s.endsWith('`')))) return unquoteString(s);
  throw new ScriptError(file, line, `invalid quoted string: ${s}`);
}

/** Parses `name{a="b"}` (or `{...}`) at the start of `text`; returns labels and the rest. */
function parseLabelPrefix(file: string, line: number, text: string): { labels: Labels; rest: string } {
  let i = 0;
  while (i < text.length && /[A-Za-z0-9_:]/.test(text[i]!)) i++;
  const name = text.slice(0, i);
  const b = new LabelsBuilder();
  if (name !== '') b.set(METRIC_NAME, name);
  if (text[i] === '{') {
    // Find the closing brace outside strings.
    let j = i + 1;
    let quote = '';
    for (; j < text.length; j++) {
      const c = text[j]!;
      if (quote) {
        if (c === '\\' && quote !== '`') j++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === "'" || c === '`') quote = c;
      else if (c === '}') break;
    }
    if (j >= text.length) throw new ScriptError(file, line, `unclosed label set in ${JSON.stringify(text)}`);
    const toks = lex(text.slice(i, j + 1));
    let k = 1; // after {
    while (k < toks.length) {
      const t = toks[k]!;
      if (t.type === 'RIGHT_BRACE') break;
      if (t.type === 'COMMA') {
        k++;
        continue;
      }
      if (t.type === 'ERROR') throw new ScriptError(file, line, t.val);
      let lname: string;
      if (t.type === 'STRING') lname = unquoteString(t.val);
      else if (t.type === 'IDENTIFIER' || t.type === 'METRIC_IDENTIFIER') lname = t.val;
      else throw new ScriptError(file, line, `unexpected ${t.val} in label set`);
      const eq = toks[k + 1];
      if (t.type === 'STRING' && (!eq || eq.type !== 'EQL')) {
        b.set(METRIC_NAME, lname);
        k++;
        continue;
      }
      const v = toks[k + 2];
      if (!eq || eq.type !== 'EQL' || !v || v.type !== 'STRING') throw new ScriptError(file, line, `invalid label set ${JSON.stringify(text.slice(i, j + 1))}`);
      b.set(lname, unquoteString(v.val));
      k += 3;
    }
    i = j + 1;
  }
  if (name === '' && text[0] !== '{') throw new ScriptError(file, line, `invalid series description: ${text}`);
  return { labels: b.build(), rest: text.slice(i) };
}

function parseLabelsOnly(file: string, line: number, text: string): Labels {
  const { labels, rest } = parseLabelPrefix(file, line, text);
  if (rest.trim() !== '') throw new ScriptError(file, line, `unexpected ${rest}`);
  return labels;
}

const NUM = '(?:[0-9]*\\.?[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+\\.|[Ii][Nn][Ff]|[Nn][Aa][Nn])';
const ITEM_RE = new RegExp(`^([+-]?${NUM}|stale)(?:([+-])(${NUM}))?(?:x([0-9]+))?$`);

function parseNum(s: string): number {
  const low = s.toLowerCase().replace(/^\+/, '');
  if (low === 'inf') return Infinity;
  if (low === '-inf') return -Infinity;
  if (low === 'nan' || low === '-nan') return NaN;
  return Number(s);
}

/** Parses one series line (labels and value sequence). */
export function parseSeriesLine(file: string, line: number, text: string): SeriesLine {
  const { labels, rest } = parseLabelPrefix(file, line, text);
  const values: number[] = [];
  const kinds: number[] = [];
  let hasHistograms = false;
  let i = 0;
  const s = rest;
  const staleIdx: number[] = [];
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (i >= s.length) break;
    if (s.startsWith('{{', i)) {
      // Histogram literal(s): {{...}}, {{...}}xN, {{...}}+{{...}}xN, {{...}}-{{...}}xN.
      hasHistograms = true;
      const readHist = (): void => {
        const end = s.indexOf('}}', i);
        if (end < 0) throw new ScriptError(file, line, 'unterminated histogram literal');
        i = end + 2;
      };
      readHist();
      let count = 1;
      if (s[i] === '+' || s[i] === '-') {
        i++;
        if (!s.startsWith('{{', i)) throw new ScriptError(file, line, 'expected histogram after +/-');
        readHist();
      }
      if (s[i] === 'x') {
        i++;
        let j = i;
        while (j < s.length && /[0-9]/.test(s[j]!)) j++;
        count = Number(s.slice(i, j)) + 1;
        i = j;
      }
      for (let k = 0; k < count; k++) {
        values.push(0);
        kinds.push(2);
      }
      continue;
    }
    let j = i;
    while (j < s.length && !/\s/.test(s[j]!)) j++;
    const tok = s.slice(i, j);
    i = j;
    if (tok === '_') {
      values.push(0);
      kinds.push(0);
      continue;
    }
    const om = /^_x([0-9]+)$/.exec(tok);
    if (om) {
      for (let k = 0; k < Number(om[1]); k++) {
        values.push(0);
        kinds.push(0);
      }
      continue;
    }
    const m = ITEM_RE.exec(tok);
    if (!m) throw new ScriptError(file, line, `invalid series value ${JSON.stringify(tok)}`);
    if (m[1] === 'stale') {
      if (m[2] || m[4]) throw new ScriptError(file, line, `invalid series value ${JSON.stringify(tok)}`);
      staleIdx.push(values.length);
      values.push(0);
      kinds.push(1);
      continue;
    }
    let v = parseNum(m[1]!);
    if (m[4] === undefined) {
      if (m[2]) throw new ScriptError(file, line, `invalid series value ${JSON.stringify(tok)}`);
      values.push(v);
      kinds.push(1);
      continue;
    }
    const times = Number(m[4]);
    const step = m[2] ? (m[2] === '-' ? -parseNum(m[3]!) : parseNum(m[3]!)) : 0;
    for (let k = 0; k <= times; k++) {
      values.push(v);
      kinds.push(1);
      v += step;
    }
  }
  const arr = new Float64Array(values.length);
  for (let k = 0; k < values.length; k++) arr[k] = values[k]!;
  // Element-by-element assignment keeps the stale marker's bits (see CONTRIBUTING).
  for (const k of staleIdx) arr[k] = STALE_NAN;
  return { labels, data: { values: arr, kinds: Uint8Array.from(kinds) }, hasHistograms, startTimestamps: false, line };
}
