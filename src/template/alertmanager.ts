/**
 * Alertmanager's notification templates: the data model (`.Status`, `.Alerts` with `.Firing`
 * and `.Resolved`, `.GroupLabels`, `.CommonLabels`, `.CommonAnnotations`, `.ExternalURL`,
 * `.Receiver`, KV with `.SortedPairs`, `.Names`, `.Values`, `.Remove`), its function set, and
 * Vigil's default templates under the names Alertmanager users reference.
 */
import { TemplateParseError } from './errors.ts';
import { P, defineFunc, type FuncContext, type FuncMap } from './funcs.ts';
import { GoDuration, GoTime, ZERO_TIME_UNIX, loadLocation } from './gotime.ts';
import { humanizeDuration as promHumanizeDuration, convertToFloat } from './prometheus.ts';
import { casesTitle, queryUnescape, regexpMatch, regexpReplaceAll } from './strings.ts';
import { TemplateSet, type ExecuteOptions } from './template.ts';
import { GO_TYPE, TypedString, goSlice, type GoTypeInfo } from './values.ts';
import { DEFAULT_NOTIFICATION_TEMPLATES } from './defaults.ts';

// ---- data model -------------------------------------------------------------------------------

/** A name/value pair (`.Name`, `.Value`). */
export class Pair {
  constructor(readonly Name: string, readonly Value: string) {}
}
Object.defineProperty(Pair.prototype, GO_TYPE, { value: { kind: 'struct', name: 'template.Pair' } satisfies GoTypeInfo });

/** A list of pairs with `.Names` and `.Values`. */
export class Pairs extends Array<Pair> {
  static override get [Symbol.species]() {
    return Array;
  }
  Names(): string[] {
    return goSlice(this.map((p) => p.Name), 'string');
  }
  Values(): string[] {
    return goSlice(this.map((p) => p.Value), 'string');
  }
}
Object.defineProperty(Pairs.prototype, GO_TYPE, { value: { kind: 'slice', name: 'template.Pairs', elem: 'template.Pair' } satisfies GoTypeInfo });

/**
 * Alertmanager's KV (`map[string]string` with methods): own enumerable properties are the
 * entries; a missing key reads as `''`.
 */
export class KV {
  constructor(entries: Readonly<Record<string, string>> = {}) {
    for (const k of Object.keys(entries)) (this as unknown as Record<string, string>)[k] = entries[k]!;
  }
  /** Pairs sorted by name, `alertname` first. */
  SortedPairs(): Pairs {
    const keys = Object.keys(this);
    const rest = keys.filter((k) => k !== 'alertname').sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const ordered = keys.includes('alertname') ? ['alertname', ...rest] : rest;
    const out = new Pairs();
    for (const k of ordered) out.push(new Pair(k, (this as unknown as Record<string, string>)[k]!));
    return out;
  }
  /** A copy without the given keys. */
  Remove(keys: unknown): KV {
    const drop = new Set(Array.isArray(keys) ? keys.map(String) : []);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this)) if (!drop.has(k)) out[k] = v as string;
    return new KV(out);
  }
  Names(): string[] {
    return this.SortedPairs().Names();
  }
  Values(): string[] {
    return this.SortedPairs().Values();
  }
}
Object.defineProperty(KV.prototype, GO_TYPE, { value: { kind: 'map', name: 'template.KV', elemZero: '' } satisfies GoTypeInfo });

/** One alert of a notification. */
export class Alert {
  readonly Status: string;
  readonly Labels: KV;
  readonly Annotations: KV;
  readonly StartsAt: GoTime;
  readonly EndsAt: GoTime;
  readonly GeneratorURL: string;
  readonly Fingerprint: string;
  constructor(a: { status: string; labels: KV; annotations: KV; startsAt: GoTime; endsAt: GoTime; generatorURL: string; fingerprint: string }) {
    this.Status = a.status;
    this.Labels = a.labels;
    this.Annotations = a.annotations;
    this.StartsAt = a.startsAt;
    this.EndsAt = a.endsAt;
    this.GeneratorURL = a.generatorURL;
    this.Fingerprint = a.fingerprint;
  }
}
Object.defineProperty(Alert.prototype, GO_TYPE, { value: { kind: 'struct', name: 'template.Alert' } satisfies GoTypeInfo });

/** The alerts of a notification with `.Firing` and `.Resolved`. */
export class Alerts extends Array<Alert> {
  static override get [Symbol.species]() {
    return Array;
  }
  Firing(): Alert[] {
    return goSlice(this.filter((a) => a.Status === 'firing'), 'template.Alert');
  }
  Resolved(): Alert[] {
    return goSlice(this.filter((a) => a.Status === 'resolved'), 'template.Alert');
  }
}
Object.defineProperty(Alerts.prototype, GO_TYPE, { value: { kind: 'slice', name: 'template.Alerts', elem: 'template.Alert' } satisfies GoTypeInfo });

/** The data of one notification (Alertmanager's template.Data). */
export class NotificationData {
  readonly Receiver: string;
  readonly Status: string;
  readonly Alerts: Alerts;
  readonly GroupLabels: KV;
  readonly CommonLabels: KV;
  readonly CommonAnnotations: KV;
  readonly ExternalURL: string;
  constructor(d: { receiver: string; status: string; alerts: Alerts; groupLabels: KV; commonLabels: KV; commonAnnotations: KV; externalURL: string }) {
    this.Receiver = d.receiver;
    this.Status = d.status;
    this.Alerts = d.alerts;
    this.GroupLabels = d.groupLabels;
    this.CommonLabels = d.commonLabels;
    this.CommonAnnotations = d.commonAnnotations;
    this.ExternalURL = d.externalURL;
  }
  /** The webhook payload's JSON shape (Alertmanager's `json` tags). */
  toJSON(): object {
    const kv = (k: KV) => ({ ...k });
    const time = (t: GoTime) => t.Format('2006-01-02T15:04:05.999999999Z07:00');
    return {
      receiver: this.Receiver,
      status: this.Status,
      alerts: this.Alerts.map((a) => ({
        status: a.Status, labels: kv(a.Labels), annotations: kv(a.Annotations), startsAt: time(a.StartsAt),
        endsAt: time(a.EndsAt), generatorURL: a.GeneratorURL, fingerprint: a.Fingerprint,
      })),
      groupLabels: kv(this.GroupLabels),
      commonLabels: kv(this.CommonLabels),
      commonAnnotations: kv(this.CommonAnnotations),
      externalURL: this.ExternalURL,
    };
  }
}
Object.defineProperty(NotificationData.prototype, GO_TYPE, { value: { kind: 'struct', name: 'template.Data' } satisfies GoTypeInfo });

/** An alert as the alerting module hands it to notification templates. */
export interface NotificationAlertInput {
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  /** ms since the epoch, or a GoTime (nanosecond precision). */
  startsAt: number | GoTime;
  /** ms since the epoch, GoTime, or undefined/0 for "not set" (Go's zero time). */
  endsAt?: number | GoTime;
  generatorURL?: string;
  fingerprint: string;
  /** `firing` or `resolved`; computed from `endsAt` and `nowMs` when absent. */
  status?: 'firing' | 'resolved';
}

export interface NotificationInput {
  receiver: string;
  groupLabels: Readonly<Record<string, string>>;
  alerts: readonly NotificationAlertInput[];
  externalURL: string;
  /** The time that decides whether an alert without `status` is resolved. Default now. */
  nowMs?: number;
}

function toGoTime(t: number | GoTime | undefined): GoTime {
  if (t instanceof GoTime) return t;
  if (t === undefined || t === 0) return new GoTime(ZERO_TIME_UNIX, 0);
  return GoTime.fromUnixMs(t);
}

/** Go's regexp.QuoteMeta (Alertmanager quotes the receiver name this way). */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/**
 * Builds the data of one notification as Alertmanager does: the receiver name regexp-quoted,
 * `firing` when any alert fires, common labels and annotations shared by all alerts.
 */
export function buildNotificationData(input: NotificationInput): NotificationData {
  const now = input.nowMs ?? Date.now();
  const alerts = new Alerts();
  for (const a of input.alerts) {
    const endsAt = toGoTime(a.endsAt);
    const status = a.status ?? (!endsAt.isZero() && endsAt.unixMs() <= now ? 'resolved' : 'firing');
    alerts.push(new Alert({
      status, labels: new KV(a.labels), annotations: new KV(a.annotations), startsAt: toGoTime(a.startsAt), endsAt,
      generatorURL: a.generatorURL ?? '', fingerprint: a.fingerprint,
    }));
  }
  let commonLabels: Record<string, string> = {};
  let commonAnnotations: Record<string, string> = {};
  const first = input.alerts[0];
  if (first) {
    commonLabels = { ...first.labels };
    commonAnnotations = { ...first.annotations };
    for (const a of input.alerts.slice(1)) {
      for (const k of Object.keys(commonLabels)) if (a.labels[k] !== commonLabels[k]) delete commonLabels[k];
      for (const k of Object.keys(commonAnnotations)) if (a.annotations[k] !== commonAnnotations[k]) delete commonAnnotations[k];
    }
  }
  return new NotificationData({
    receiver: quoteMeta(input.receiver),
    status: alerts.some((a) => a.Status === 'firing') ? 'firing' : 'resolved',
    alerts,
    groupLabels: new KV(input.groupLabels),
    commonLabels: new KV(commonLabels),
    commonAnnotations: new KV(commonAnnotations),
    externalURL: input.externalURL,
  });
}

/** Parses Alertmanager's webhook/`amtool --template.data` JSON into NotificationData. */
export function notificationDataFromJSON(j: {
  receiver?: string; status?: string; externalURL?: string;
  groupLabels?: Record<string, string>; commonLabels?: Record<string, string>; commonAnnotations?: Record<string, string>;
  alerts?: { status?: string; labels?: Record<string, string>; annotations?: Record<string, string>; startsAt?: string; endsAt?: string; generatorURL?: string; fingerprint?: string }[];
}): NotificationData {
  const time = (s: string | undefined) => (s ? GoTime.parseRfc3339(s) : undefined) ?? new GoTime(ZERO_TIME_UNIX, 0);
  const alerts = new Alerts();
  for (const a of j.alerts ?? []) {
    alerts.push(new Alert({
      status: a.status ?? '', labels: new KV(a.labels), annotations: new KV(a.annotations), startsAt: time(a.startsAt),
      endsAt: time(a.endsAt), generatorURL: a.generatorURL ?? '', fingerprint: a.fingerprint ?? '',
    }));
  }
  return new NotificationData({
    receiver: j.receiver ?? '', status: j.status ?? '', alerts, groupLabels: new KV(j.groupLabels),
    commonLabels: new KV(j.commonLabels), commonAnnotations: new KV(j.commonAnnotations), externalURL: j.externalURL ?? '',
  });
}

// ---- functions --------------------------------------------------------------------------------

/** The environment of a notification template execution. */
export interface NotificationTemplateContext {
  /** "Now" for `since` (ms since the epoch). Default: the clock. */
  nowMs?: number;
}

function nowOf(self: FuncContext): number {
  const c = self.context as NotificationTemplateContext | undefined;
  return c && typeof c.nowMs === 'number' ? c.nowMs : Date.now();
}

/**
 * Alertmanager's template functions: those of 0.25 (toUpper, toLower, title, join, match,
 * safeHtml, reReplaceAll, stringSlice) and of later releases (trimSpace, safeUrl, urlUnescape,
 * date, tz, since, humanizeDuration).
 */
export const alertmanagerFuncs: FuncMap = {
  toUpper: defineFunc([P.string], (s: string) => s.toUpperCase()),
  toLower: defineFunc([P.string], (s: string) => s.toLowerCase()),
  title: defineFunc([P.string], casesTitle),
  trimSpace: defineFunc([P.string], (s: string) => s.replace(/^[\s\u0085]+|[\s\u0085]+$/gu, '')),
  join: defineFunc([P.string, P.stringSlice], (sep: string, s: string[]) => s.join(sep)),
  match: defineFunc([P.string, P.string], regexpMatch),
  safeHtml: defineFunc([P.string], (s: string) => new TypedString(s, 'template.HTML')),
  safeUrl: defineFunc([P.string], (s: string) => new TypedString(s, 'template.URL')),
  urlUnescape: defineFunc([P.string], queryUnescape),
  reReplaceAll: defineFunc([P.string, P.string, P.string], regexpReplaceAll),
  stringSlice: defineFunc([], (...s: string[]) => goSlice(s, 'string'), { variadic: P.string }),
  date: defineFunc([P.string, P.time], (layout: string, t: GoTime) => t.Format(layout)),
  tz: defineFunc([P.string, P.time], (name: string, t: GoTime) => t.In(loadLocation(name))),
  since: defineFunc([P.time], function (this: FuncContext, t: GoTime) {
    return new GoDuration(BigInt(nowOf(this)) * 1_000_000n - t.unixNano());
  }),
  humanizeDuration: defineFunc([P.any], (i: unknown) => promHumanizeDuration(convertToFloat(i))),
};

// ---- templates --------------------------------------------------------------------------------

/**
 * The notification templates of one configuration: Vigil's defaults, then the user's
 * `templates:` files (a later `define` of a name replaces the default), executed with
 * Alertmanager's options (`missingkey=zero`). Receiver fields (`title: '{{ template "x" . }}'`)
 * are parsed once and cached.
 */
export class NotificationTemplates {
  private readonly base: TemplateSet;
  private readonly textCache = new Map<string, TemplateSet>();

  constructor(opts: { extraFuncs?: FuncMap; includeDefaults?: boolean } = {}) {
    this.base = new TemplateSet({ ...alertmanagerFuncs, ...opts.extraFuncs }, { missingKey: 'zero' });
    if (opts.includeDefaults !== false) this.base.parse('vigil-default.tmpl', DEFAULT_NOTIFICATION_TEMPLATES);
  }

  /** Adds a template file's definitions. Throws TemplateParseError (`template: FILE:LINE: ...`). */
  addFile(fileName: string, text: string): this {
    this.base.parse(fileName, text);
    this.textCache.clear();
    return this;
  }

  /** Names of the defined templates. */
  names(): string[] {
    return this.base.names();
  }

  /** Executes a defined template (`slack.default.title`) with the data. */
  executeTemplate(name: string, data: NotificationData, opts: ExecuteOptions & { context?: NotificationTemplateContext } = {}): string {
    return this.base.execute(name, data, opts);
  }

  private compile(text: string): TemplateSet {
    let set = this.textCache.get(text);
    if (!set) {
      set = this.base.clone();
      set.parse('', text);
      if (this.textCache.size > 500) this.textCache.clear();
      this.textCache.set(text, set);
    }
    return set;
  }

  /**
   * Alertmanager's ExecuteTextString: renders a receiver field's template text (`''` for `''`).
   * Throws TemplateParseError or TemplateExecError with Go's messages.
   */
  executeText(text: string, data: NotificationData, opts: ExecuteOptions & { context?: NotificationTemplateContext } = {}): string {
    if (text === '') return '';
    return this.compile(text).execute('', data, opts);
  }

  /** Checks that a receiver field's text parses; returns Go's message or undefined. */
  check(text: string): string | undefined {
    try {
      this.compile(text);
      return undefined;
    } catch (e) {
      if (e instanceof TemplateParseError) return e.message;
      throw e;
    }
  }
}
