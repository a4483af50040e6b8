/**
 * Prometheus' template functions (rule annotations and labels, consoles) and the alert
 * template helper that renders an annotation as Prometheus does.
 *
 * Functions that need the environment read it from the execution's `context`
 * (PrometheusTemplateContext): the query function, the evaluation time, the external URL.
 */
import { DurationError, parseDuration as parseModelDuration } from '../model/index.ts';
import { TemplateExecError, TemplateFuncError, TemplateLimitError, TemplateParseError } from './errors.ts';
import { sprintf } from './fmt.ts';
import { P, defineFunc, type FuncContext, type FuncMap } from './funcs.ts';
import { GoDuration, GoTime } from './gotime.ts';
import {
  casesTitle, goStringsTitle, isIP, joinHostPort, parseGoFloat, regexpMatch, regexpReplaceAll, splitHostPort,
} from './strings.ts';
import { TemplateSet, type ExecuteOptions } from './template.ts';
import { TypedString, goMap, goSlice, goStruct, typeInfo, typeName } from './values.ts';

/** One sample of a query result as the query function returns it. */
export interface QuerySample {
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** Runs an instant PromQL query at `timestampMs`; may be asynchronous. Throws on query errors. */
export type TemplateQueryFn = (expr: string, timestampMs: number) => readonly QuerySample[] | Promise<readonly QuerySample[]>;

/** The environment of one Prometheus template expansion. */
export interface PrometheusTemplateContext {
  /** Needed by `query`; absent means `query` reports an error. */
  query?: TemplateQueryFn;
  /** Evaluation time (ms since the epoch): the time of `query` and `now`. */
  timestampMs: number;
  /** The external URL (`--web.external-url`), for `externalURL` and `pathPrefix`. */
  externalURL: string;
}

/** Prometheus' `sample`: Labels and Value, as query results appear in templates. */
export class Sample {
  readonly Labels: Record<string, string>;
  readonly Value: number;
  constructor(labels: Readonly<Record<string, string>>, value: number) {
    this.Labels = goMap({ ...labels }, 'map[string]string', '');
    this.Value = value;
  }
}
Object.defineProperty(Sample.prototype, Symbol.for('vigil.template.goType'), { value: { kind: 'struct', name: '*template.sample' } });

const QUERY_RESULT = 'template.queryResult';
const isQueryResult = (v: unknown) => Array.isArray(v) && typeInfo(v)?.name === QUERY_RESULT;
const queryResultParam = P.named(QUERY_RESULT, isQueryResult, { value: goSlice([], '*template.sample', QUERY_RESULT) });
const sampleParam = P.named('*template.sample', (v) => v instanceof Sample, { value: null });

function ctxOf(self: FuncContext): PrometheusTemplateContext {
  const c = self.context as PrometheusTemplateContext | undefined;
  if (!c || typeof c !== 'object') throw new TemplateFuncError('no template context (query function, time, external URL) was given');
  return c;
}

/** Prometheus' convertToFloat: float64, string, int (and time.Duration as seconds). */
export function convertToFloat(i: unknown): number {
  if (typeof i === 'number') return i;
  if (typeof i === 'string') return parseGoFloat(i);
  if (typeof i === 'bigint') return Number(i);
  if (i instanceof GoDuration) return i.Seconds();
  throw new TemplateFuncError(`can't convert ${i === null || i === undefined ? '<nil>' : typeName(i)} to float`);
}

const g4 = (v: number) => sprintf('%.4g', [v]);

export function humanize(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return g4(v);
  if (Math.abs(v) >= 1) {
    let prefix = '';
    for (const p of ['k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y']) {
      if (Math.abs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
    return g4(v) + prefix;
  }
  let prefix = '';
  for (const p of ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y']) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return g4(v) + prefix;
}

export function humanize1024(v: number): string {
  if (Math.abs(v) <= 1 || !Number.isFinite(v)) return g4(v);
  let prefix = '';
  for (const p of ['ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi']) {
    if (Math.abs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return g4(v) + prefix;
}

export function humanizeDuration(v: number): string {
  if (!Number.isFinite(v)) return g4(v);
  if (v === 0) return g4(v) + 's';
  if (Math.abs(v) >= 1) {
    let sign = '';
    if (v < 0) {
      sign = '-';
      v = -v;
    }
    const d = Math.trunc(v);
    const seconds = d % 60;
    const minutes = Math.trunc(d / 60) % 60;
    const hours = Math.trunc(d / 3600) % 24;
    const days = Math.trunc(d / 86400);
    if (days !== 0) return `${sign}${days}d ${hours}h ${minutes}m ${seconds}s`;
    if (hours !== 0) return `${sign}${hours}h ${minutes}m ${seconds}s`;
    if (minutes !== 0) return `${sign}${minutes}m ${seconds}s`;
    return sign + g4(v) + 's';
  }
  let prefix = '';
  for (const p of ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y']) {
    if (Math.abs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return g4(v) + prefix + 's';
}

export function humanizePercentage(v: number): string {
  return sprintf('%.4g%%', [v * 100]);
}

/** Float seconds to a UTC time with millisecond resolution (Prometheus goes through model.Time). */
function floatToTime(v: number): GoTime {
  if (!Number.isFinite(v)) throw new TemplateFuncError('value is NaN or Inf');
  const ns = v * 1e9;
  if (ns > 9223372036854775807 || ns < -9223372036854775808) {
    throw new TemplateFuncError(`${sprintf('%v', [v])} cannot be represented as a nanoseconds timestamp since it overflows int64`);
  }
  const ms = BigInt(Math.trunc(ns)) / 1_000_000n;
  return GoTime.fromUnixNano(ms * 1_000_000n);
}

export function humanizeTimestamp(v: number): string {
  if (!Number.isFinite(v)) return g4(v);
  return floatToTime(v).String();
}

function urlParts(externalURL: string): { path: string; full: string } {
  if (externalURL === '') return { path: '', full: '' };
  try {
    const u = new URL(externalURL);
    const path = decodeURIComponent(u.pathname === '/' && !/^[a-z]+:\/\/[^/]+\//i.test(externalURL) ? '' : u.pathname);
    return { path, full: externalURL };
  } catch {
    return { path: '', full: externalURL };
  }
}

function queryEscapeGo(s: string): string {
  return sprintf('%s', [s]).replace(/[^A-Za-z0-9\-_.~ ]/gu, (c) => [...Buffer.from(c, 'utf8')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('')).replace(/ /g, '+');
}

const any1 = [P.any];

function toQueryResult(res: readonly QuerySample[]): Sample[] {
  return goSlice(res.map((s) => new Sample(s.labels, s.value)), '*template.sample', QUERY_RESULT);
}

/**
 * Prometheus' template functions. `query` may be asynchronous (use executeAsync); all other
 * functions are synchronous.
 */
export const prometheusFuncs: FuncMap = {
  query: defineFunc([P.string], function (this: FuncContext, q: string) {
    const c = ctxOf(this);
    if (!c.query) throw new TemplateFuncError('no query function is available here');
    const res = c.query(q, c.timestampMs);
    if (res instanceof Promise) return res;
    return toQueryResult(res);
  }, { mayBeAsync: true, fromAwaited: (v) => toQueryResult(v as readonly QuerySample[]) }),
  first: defineFunc([queryResultParam], (v: Sample[]) => {
    if (v.length > 0) return v[0];
    throw new TemplateFuncError('first() called on vector with no elements');
  }),
  label: defineFunc([P.string, sampleParam], (label: string, s: Sample | null) => {
    if (!s) throw new TemplateFuncError('runtime error: invalid memory address or nil pointer dereference');
    return s.Labels[label] ?? '';
  }),
  value: defineFunc([sampleParam], (s: Sample | null) => {
    if (!s) throw new TemplateFuncError('runtime error: invalid memory address or nil pointer dereference');
    return s.Value;
  }),
  strvalue: defineFunc([sampleParam], (s: Sample | null) => {
    if (!s) throw new TemplateFuncError('runtime error: invalid memory address or nil pointer dereference');
    return s.Labels['__value__'] ?? '';
  }),
  args: defineFunc([], (...args: unknown[]) => {
    const out: Record<string, unknown> = {};
    args.forEach((a, i) => (out['arg' + i] = a));
    return out;
  }, { variadic: P.any }),
  reReplaceAll: defineFunc([P.string, P.string, P.string], regexpReplaceAll),
  safeHtml: defineFunc([P.string], (s: string) => new TypedString(s, 'template.HTML')),
  match: defineFunc([P.string, P.string], regexpMatch),
  title: defineFunc([P.string], goStringsTitle),
  toUpper: defineFunc([P.string], (s: string) => s.toUpperCase()),
  toLower: defineFunc([P.string], (s: string) => s.toLowerCase()),
  graphLink: defineFunc([P.string], (expr: string) => `/graph?g0.expr=${queryEscapeGo(expr)}&g0.tab=0`),
  tableLink: defineFunc([P.string], (expr: string) => `/graph?g0.expr=${queryEscapeGo(expr)}&g0.tab=1`),
  sortByLabel: defineFunc([P.string, queryResultParam], (label: string, v: Sample[]) => {
    const sorted = v.map((s, i) => [s, i] as const).sort((a, b) => {
      const x = a[0].Labels[label] ?? '';
      const y = b[0].Labels[label] ?? '';
      return x < y ? -1 : x > y ? 1 : a[1] - b[1];
    });
    for (let i = 0; i < sorted.length; i++) v[i] = sorted[i]![0];
    return v;
  }),
  stripPort: defineFunc([P.string], (hostPort: string) => splitHostPort(hostPort)?.[0] ?? hostPort),
  stripDomain: defineFunc([P.string], (hostPort: string) => {
    const hp = splitHostPort(hostPort);
    const host = hp ? hp[0] : hostPort;
    if (isIP(host)) return hostPort;
    const short = host.split('.')[0]!;
    return hp && hp[1] !== '' ? joinHostPort(short, hp[1]) : hp ? joinHostPort(short, hp[1]) : short;
  }),
  humanize: defineFunc(any1, (i: unknown) => humanize(convertToFloat(i))),
  humanize1024: defineFunc(any1, (i: unknown) => humanize1024(convertToFloat(i))),
  humanizeDuration: defineFunc(any1, (i: unknown) => humanizeDuration(convertToFloat(i))),
  humanizePercentage: defineFunc(any1, (i: unknown) => humanizePercentage(convertToFloat(i))),
  humanizeTimestamp: defineFunc(any1, (i: unknown) => humanizeTimestamp(convertToFloat(i))),
  toTime: defineFunc(any1, (i: unknown) => floatToTime(convertToFloat(i))),
  toDuration: defineFunc(any1, (i: unknown) => {
    const v = convertToFloat(i);
    if (!Number.isFinite(v)) throw new TemplateFuncError('value is NaN or Inf');
    return GoDuration.fromSeconds(v);
  }),
  now: defineFunc([], function (this: FuncContext) {
    return ctxOf(this).timestampMs / 1000;
  }),
  pathPrefix: defineFunc([], function (this: FuncContext) {
    return urlParts(ctxOf(this).externalURL).path;
  }),
  externalURL: defineFunc([], function (this: FuncContext) {
    return urlParts(ctxOf(this).externalURL).full;
  }),
  parseDuration: defineFunc([P.string], (d: string) => {
    try {
      return parseModelDuration(d) / 1000;
    } catch (e) {
      if (e instanceof DurationError) throw new TemplateFuncError(e.message);
      throw e;
    }
  }),
};

/** Alertmanager's `title` differs (x/text cases); exported for callers that want that behaviour. */
export { casesTitle };

// ---- alert templates ------------------------------------------------------------------------

/** The variables Prometheus defines before every annotation and label template. */
export const ALERT_TEMPLATE_DEFS =
  '{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}';

const ALERT_DATA_TYPE = 'struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }';

/** The data an alert template sees. */
export interface AlertTemplateInput {
  labels: Readonly<Record<string, string>>;
  externalLabels: Readonly<Record<string, string>>;
  externalURL: string;
  value: number;
}

/** Prometheus' AlertTemplateData: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`. */
export function alertTemplateData(d: AlertTemplateInput): object {
  return goStruct(new AlertData(d), ALERT_DATA_TYPE);
}

class AlertData {
  readonly Labels: Record<string, string>;
  readonly ExternalLabels: Record<string, string>;
  readonly ExternalURL: string;
  readonly Value: number;
  constructor(d: AlertTemplateInput) {
    this.Labels = goMap({ ...d.labels }, 'map[string]string', '');
    this.ExternalLabels = goMap({ ...d.externalLabels }, 'map[string]string', '');
    this.ExternalURL = d.externalURL;
    this.Value = d.value;
  }
}

/** The outcome of expanding one alert template. */
export interface ExpandResult {
  /** The text Prometheus would put in the annotation (an error text on failure). */
  text: string;
  /** The error, for logging, when expansion failed. */
  error?: Error;
}

/**
 * One annotation or label template of an alerting rule, parsed once and expanded for every
 * alert at every evaluation, exactly as Prometheus expands it: the `$labels`, `$value`,
 * `$externalLabels` and `$externalURL` definitions prepended on the same line, template name
 * `__alert_<rule name>`, `missingkey=zero`, and a failure rendered as
 * `<error expanding template: ...>` instead of the text.
 */
export class AlertTemplate {
  readonly name: string;
  /** Go's parse error text (`template: __alert_X:1: ...`), when the template does not parse. */
  readonly parseError: TemplateParseError | undefined;
  private readonly set: TemplateSet | undefined;
  private readonly plain: string | undefined;

  constructor(ruleName: string, text: string, extraFuncs: FuncMap = {}) {
    this.name = '__alert_' + ruleName;
    // Prometheus skips expansion for text without an action.
    if (!text.includes('{{')) {
      this.plain = text;
      return;
    }
    const set = new TemplateSet({ ...prometheusFuncs, ...extraFuncs }, { missingKey: 'zero' });
    try {
      set.parse(this.name, ALERT_TEMPLATE_DEFS + text);
      this.set = set;
    } catch (e) {
      if (!(e instanceof TemplateParseError)) throw e;
      this.parseError = e;
    }
  }

  private fail(e: unknown): ExpandResult {
    if (e instanceof TemplateExecError || e instanceof TemplateLimitError) {
      const err = new Error(`error executing template ${this.name}: ${e.message}`, { cause: e });
      return { text: `<error expanding template: ${err.message}>`, error: err };
    }
    throw e;
  }

  private parseFailure(): ExpandResult {
    const err = new Error(`error parsing template ${this.name}: ${this.parseError!.message}`, { cause: this.parseError });
    return { text: `<error expanding template: ${err.message}>`, error: err };
  }

  /** Expands with a synchronous (or no) query function. */
  expand(data: AlertTemplateInput, ctx: PrometheusTemplateContext, opts: Omit<ExecuteOptions, 'context'> = {}): ExpandResult {
    if (this.plain !== undefined) return { text: this.plain };
    if (!this.set) return this.parseFailure();
    try {
      return { text: this.set.execute(this.name, alertTemplateData(data), { ...opts, context: ctx }) };
    } catch (e) {
      return this.fail(e);
    }
  }

  /** Expands, awaiting an asynchronous query function. */
  async expandAsync(data: AlertTemplateInput, ctx: PrometheusTemplateContext, opts: Omit<ExecuteOptions, 'context'> = {}): Promise<ExpandResult> {
    if (this.plain !== undefined) return { text: this.plain };
    if (!this.set) return this.parseFailure();
    try {
      return { text: await this.set.executeAsync(this.name, alertTemplateData(data), { ...opts, context: ctx }) };
    } catch (e) {
      return this.fail(e);
    }
  }
}

/**
 * Checks that an alert template parses as `promtool check rules` does; returns Go's message
 * (`template: __alert_X:1: ...`) or undefined.
 */
export function checkAlertTemplate(ruleName: string, text: string): string | undefined {
  return new AlertTemplate(ruleName, text).parseError?.message;
}

/** A template set with Prometheus' functions, for consoles and other uses. */
export function newPrometheusTemplateSet(extraFuncs: FuncMap = {}): TemplateSet {
  return new TemplateSet({ ...prometheusFuncs, ...extraFuncs }, { missingKey: 'zero' });
}
