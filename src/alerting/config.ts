/**
 * Alertmanager's configuration format (0.25), validated with Vigil's config machinery: under
 * `alerting:` in vigil.yml, or in a separate file named by `alerting.config_file` (then in
 * Alertmanager's own layout, with its own `global:`). Every problem is reported as
 * `file:line:col: key.path: message`, with Alertmanager's message where it has one.
 *
 * The result (`AlertmanagerConfig`) has every default applied (route options inherited at
 * dispatch, receiver fields from `global`), secrets as `Secret`, matchers compiled, time
 * intervals parsed. `alertmanagerYaml()` prints it back in Alertmanager's format with secrets
 * shown as `<secret>` (what `/api/v2/status` serves and amtool reads).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { Matcher } from '../model/index.ts';
import { errorMessage, formatDuration, isLegacyLabelName } from '../model/index.ts';
import {
  ConfigError, Secret, SECRET_PLACEHOLDER, defineSection, duration, filePath, formatProblem, resolveConfigPath, secret, secretFile, validateYaml, z,
} from '../config/index.ts';
import { NotificationTemplates, TemplateParseError } from '../template/index.ts';
import { amMatcher, compareMatchers, matcherString, parseMatchers } from './matchers.ts';
import {
  TimeIntervalError, parseDayOfMonthRange, parseLocation, parseMonthRange, parseTimeRange, parseWeekdayRange, parseYearRange, type TimeInterval,
} from './timeinterval.ts';

// ---- compiled types ---------------------------------------------------------------------------

export interface TlsConfig {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  serverName?: string;
  insecureSkipVerify: boolean;
  minVersion?: string;
}

/** Prometheus' HTTP client configuration (the parts Vigil supports). */
export interface HttpClientConfig {
  basicAuth?: { username: string; password?: Secret };
  authorization?: { type: string; credentials?: Secret };
  proxyUrl?: string;
  tls: TlsConfig;
  followRedirects: boolean;
  enableHttp2: boolean;
}

export interface GlobalConfig {
  /** ms. */
  resolveTimeout: number;
  httpConfig: HttpClientConfig;
  smtpFrom?: string;
  smtpHello: string;
  smtpSmarthost?: string;
  smtpAuthUsername?: string;
  smtpAuthPassword?: Secret;
  smtpAuthSecret?: Secret;
  smtpAuthIdentity?: string;
  smtpRequireTls: boolean;
  slackApiUrl?: Secret;
  pagerdutyUrl: string;
}

export interface RouteConfig {
  receiver?: string;
  /** undefined = inherit; `['...']` = group by all labels. */
  groupBy?: string[];
  continue: boolean;
  match: Record<string, string>;
  matchRe: Record<string, string>;
  /** From `matchers:` (new syntax). */
  matchers: Matcher[];
  groupWait?: number;
  groupInterval?: number;
  repeatInterval?: number;
  muteTimeIntervals: string[];
  activeTimeIntervals: string[];
  routes: RouteConfig[];
}

export interface InhibitRuleConfig {
  sourceMatch: Record<string, string>;
  sourceMatchRe: Record<string, string>;
  sourceMatchers: Matcher[];
  targetMatch: Record<string, string>;
  targetMatchRe: Record<string, string>;
  targetMatchers: Matcher[];
  equal: string[];
}

export interface WebhookConfig {
  sendResolved: boolean;
  httpConfig: HttpClientConfig;
  url: Secret;
  maxAlerts: number;
}

export interface SlackField {
  title: string;
  value: string;
  short?: boolean;
}

export interface SlackAction {
  type: string;
  text: string;
  url: string;
  style: string;
  name: string;
  value: string;
}

export interface SlackConfig {
  sendResolved: boolean;
  httpConfig: HttpClientConfig;
  apiUrl: Secret;
  channel: string;
  username: string;
  color: string;
  title: string;
  titleLink: string;
  pretext: string;
  text: string;
  fields: SlackField[];
  shortFields: boolean;
  footer: string;
  fallback: string;
  callbackId: string;
  iconEmoji: string;
  iconUrl: string;
  imageUrl: string;
  thumbUrl: string;
  linkNames: boolean;
  mrkdwnIn: string[];
  actions: SlackAction[];
}

export interface PagerdutyConfig {
  sendResolved: boolean;
  httpConfig: HttpClientConfig;
  routingKey?: Secret;
  serviceKey?: Secret;
  url: string;
  client: string;
  clientUrl: string;
  description: string;
  details: Record<string, string>;
  images: Array<{ src: string; alt: string; href: string }>;
  links: Array<{ href: string; text: string }>;
  source: string;
  severity: string;
  class: string;
  component: string;
  group: string;
}

export interface EmailConfig {
  sendResolved: boolean;
  to: string;
  from: string;
  hello: string;
  smarthost: { host: string; port: number };
  authUsername?: string;
  authPassword?: Secret;
  authSecret?: Secret;
  authIdentity?: string;
  /** Canonical MIME header names → template text (Subject, To, From always present). */
  headers: Record<string, string>;
  html: string;
  text: string;
  requireTls: boolean;
  tls: TlsConfig;
}

export interface ReceiverConfig {
  name: string;
  webhookConfigs: WebhookConfig[];
  slackConfigs: SlackConfig[];
  pagerdutyConfigs: PagerdutyConfig[];
  emailConfigs: EmailConfig[];
}

export interface AlertmanagerConfig {
  global: GlobalConfig;
  route: RouteConfig;
  inhibitRules: InhibitRuleConfig[];
  receivers: ReceiverConfig[];
  /** Template files (globs expanded, absolute paths). */
  templateFiles: string[];
  /** The template globs as written. */
  templates: string[];
  /** `time_intervals` and `mute_time_intervals` by name. */
  timeIntervals: Map<string, TimeInterval[]>;
  /** The intervals as written, for printing the configuration back. */
  timeIntervalsRaw: Array<{ name: string; time_intervals: unknown[] }>;
  /** Where it came from: the vigil.yml section or the referenced file. */
  source: string;
  /** Vigil's default templates plus the `templates:` files. */
  notificationTemplates: NotificationTemplates;
}

// ---- defaults (Alertmanager 0.25) -------------------------------------------------------------

export const DEFAULT_RESOLVE_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_GROUP_WAIT_MS = 30_000;
export const DEFAULT_GROUP_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_REPEAT_INTERVAL_MS = 4 * 3_600_000;
export const DEFAULT_PAGERDUTY_URL = 'https://events.pagerduty.com/v2/enqueue';
export const PAGERDUTY_V1_URL = 'https://events.pagerduty.com/generic/2010-04-15/create_event.json';

const SLACK_DEFAULTS = {
  color: '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}',
  username: '{{ template "slack.default.username" . }}',
  title: '{{ template "slack.default.title" . }}',
  titleLink: '{{ template "slack.default.titlelink" . }}',
  iconEmoji: '{{ template "slack.default.iconemoji" . }}',
  iconUrl: '{{ template "slack.default.iconurl" . }}',
  pretext: '{{ template "slack.default.pretext" . }}',
  text: '{{ template "slack.default.text" . }}',
  fallback: '{{ template "slack.default.fallback" . }}',
  callbackId: '{{ template "slack.default.callbackid" . }}',
  footer: '{{ template "slack.default.footer" . }}',
};

const PAGERDUTY_DEFAULTS = {
  description: '{{ template "pagerduty.default.description" .}}',
  client: '{{ template "pagerduty.default.client" . }}',
  clientUrl: '{{ template "pagerduty.default.clientURL" . }}',
  details: {
    firing: '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
    resolved: '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
    num_firing: '{{ .Alerts.Firing | len }}',
    num_resolved: '{{ .Alerts.Resolved | len }}',
  } as Record<string, string>,
};

const EMAIL_DEFAULT_SUBJECT = '{{ template "email.default.subject" . }}';
const EMAIL_DEFAULT_HTML = '{{ template "email.default.html" . }}';

// ---- schema pieces ----------------------------------------------------------------------------

const str = () => z.string();
const bool = () => z.boolean();

/** A URL with an http(s) scheme; Alertmanager's message otherwise. */
function amUrl() {
  return z.string().superRefine((s, ctx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: `invalid URL ${JSON.stringify(s)}` });
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `unsupported scheme "${u.protocol.replace(/:$/, '')}" for URL` });
    else if (!u.hostname) ctx.addIssue({ code: 'custom', message: 'host is missing in URL' });
  });
}

/** A URL that is a secret. `<secret>` is accepted as Alertmanager accepts it (a configuration printed back by an API). */
function secretUrl() {
  return z.union([z.literal(SECRET_PLACEHOLDER), amUrl()]).transform((v) => Secret.inline(v));
}

const tlsSchema = z
  .strictObject({
    ca_file: filePath().optional(),
    cert_file: filePath().optional(),
    key_file: filePath().optional(),
    server_name: str().optional(),
    insecure_skip_verify: bool().default(false),
    min_version: z.enum(['TLS10', 'TLS11', 'TLS12', 'TLS13']).optional(),
  })
  .superRefine((t, ctx) => {
    if (Boolean(t.cert_file) !== Boolean(t.key_file)) ctx.addIssue({ code: 'custom', message: 'exactly one of key or key_file must be configured when a client certificate is configured', path: [] });
  })
  .transform((t): TlsConfig => ({ caFile: t.ca_file, certFile: t.cert_file, keyFile: t.key_file, serverName: t.server_name, insecureSkipVerify: t.insecure_skip_verify, minVersion: t.min_version }));

const DEFAULT_TLS: TlsConfig = { insecureSkipVerify: false };

const httpConfigSchema = z
  .strictObject({
    basic_auth: z
      .strictObject({ username: str().default(''), password: secret().optional(), password_file: secretFile().optional() })
      .superRefine((b, ctx) => {
        if (b.password && b.password_file) ctx.addIssue({ code: 'custom', message: 'at most one of basic_auth password & password_file must be configured', path: ['password_file'] });
      })
      .optional(),
    authorization: z
      .strictObject({ type: str().default('Bearer'), credentials: secret().optional(), credentials_file: secretFile().optional() })
      .superRefine((a, ctx) => {
        if (a.credentials && a.credentials_file) ctx.addIssue({ code: 'custom', message: 'at most one of authorization credentials & credentials_file must be configured', path: ['credentials_file'] });
        if (a.type.toLowerCase() === 'basic') ctx.addIssue({ code: 'custom', message: `authorization type cannot be set to "basic", use "basic_auth" instead`, path: ['type'] });
      })
      .optional(),
    bearer_token: secret().optional(),
    bearer_token_file: secretFile().optional(),
    oauth2: z.unknown().optional(),
    proxy_url: amUrl().optional(),
    tls_config: tlsSchema.optional(),
    follow_redirects: bool().default(true),
    enable_http2: bool().default(true),
  })
  .superRefine((h, ctx) => {
    if (h.oauth2 !== undefined) ctx.addIssue({ code: 'custom', message: 'oauth2 is not supported by Vigil; use authorization or basic_auth', path: ['oauth2'] });
    const auths = [h.basic_auth, h.authorization, h.bearer_token ?? h.bearer_token_file].filter((x) => x !== undefined).length;
    if (auths > 1) ctx.addIssue({ code: 'custom', message: 'at most one of basic_auth, authorization and bearer_token(_file) must be configured', path: [] });
    if (h.bearer_token && h.bearer_token_file) ctx.addIssue({ code: 'custom', message: 'at most one of bearer_token & bearer_token_file must be configured', path: ['bearer_token_file'] });
  })
;

export const DEFAULT_HTTP_CONFIG: HttpClientConfig = { tls: DEFAULT_TLS, followRedirects: true, enableHttp2: true };

type RawHttpConfig = z.output<typeof httpConfigSchema>;

/**
 * The validated `http_config` as the client uses it. (The schemas keep the YAML's shape, so
 * that the configuration's secrets sit at their YAML paths for `/api/v1/status/config`.)
 */
function compileHttpConfig(h: RawHttpConfig | undefined, fallback: HttpClientConfig): HttpClientConfig {
  if (!h) return fallback;
  const out: HttpClientConfig = { tls: h.tls_config ?? DEFAULT_TLS, followRedirects: h.follow_redirects, enableHttp2: h.enable_http2 };
  if (h.basic_auth) out.basicAuth = { username: h.basic_auth.username, password: h.basic_auth.password ?? h.basic_auth.password_file };
  if (h.authorization) out.authorization = { type: h.authorization.type, credentials: h.authorization.credentials ?? h.authorization.credentials_file };
  const bearer = h.bearer_token ?? h.bearer_token_file;
  if (bearer) out.authorization = { type: 'Bearer', credentials: bearer };
  if (h.proxy_url) out.proxyUrl = h.proxy_url;
  return out;
}

function hostPortIssue(s: string): string | undefined {
  const i = s.lastIndexOf(':');
  if (i < 0) return `address ${s}: missing port in address`;
  const port = s.slice(i + 1);
  if (!/^\d+$/.test(port) && port !== '') return `address ${s}: invalid port`;
  return undefined;
}

function smarthost() {
  return z.string().superRefine((s, ctx) => {
    const e = hostPortIssue(s);
    if (e) ctx.addIssue({ code: 'custom', message: e });
  });
}

function splitSmarthost(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  let host = s.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(s.slice(i + 1)) || 25 };
}

const globalSchema = z
  .strictObject({
    resolve_timeout: duration().default(DEFAULT_RESOLVE_TIMEOUT_MS),
    http_config: httpConfigSchema.optional(),
    smtp_from: str().optional(),
    smtp_hello: str().default('localhost'),
    smtp_smarthost: smarthost().optional(),
    smtp_auth_username: str().optional(),
    smtp_auth_password: secret().optional(),
    smtp_auth_password_file: secretFile().optional(),
    smtp_auth_secret: secret().optional(),
    smtp_auth_identity: str().optional(),
    smtp_require_tls: bool().default(true),
    slack_api_url: secretUrl().optional(),
    slack_api_url_file: secretFile().optional(),
    pagerduty_url: amUrl().default(DEFAULT_PAGERDUTY_URL),
    opsgenie_api_url: str().optional(),
    opsgenie_api_key: str().optional(),
    opsgenie_api_key_file: str().optional(),
    wechat_api_url: str().optional(),
    wechat_api_secret: str().optional(),
    wechat_api_corp_id: str().optional(),
    victorops_api_url: str().optional(),
    victorops_api_key: str().optional(),
    victorops_api_key_file: str().optional(),
    telegram_api_url: str().optional(),
    webex_api_url: str().optional(),
  })
  .superRefine((g, ctx) => {
    if (g.slack_api_url && g.slack_api_url_file) ctx.addIssue({ code: 'custom', message: 'at most one of slack_api_url & slack_api_url_file must be configured', path: ['slack_api_url_file'] });
    if (g.smtp_auth_password && g.smtp_auth_password_file) ctx.addIssue({ code: 'custom', message: 'at most one of smtp_auth_password & smtp_auth_password_file must be configured', path: ['smtp_auth_password_file'] });
  })
;

type RawGlobal = z.output<typeof globalSchema>;

function compileGlobal(g: RawGlobal | undefined): GlobalConfig {
  if (!g) return { resolveTimeout: DEFAULT_RESOLVE_TIMEOUT_MS, httpConfig: DEFAULT_HTTP_CONFIG, smtpHello: 'localhost', smtpRequireTls: true, pagerdutyUrl: DEFAULT_PAGERDUTY_URL };
  return {
    resolveTimeout: g.resolve_timeout,
    httpConfig: compileHttpConfig(g.http_config, DEFAULT_HTTP_CONFIG),
    smtpFrom: g.smtp_from,
    smtpHello: g.smtp_hello,
    smtpSmarthost: g.smtp_smarthost,
    smtpAuthUsername: g.smtp_auth_username,
    smtpAuthPassword: g.smtp_auth_password ?? g.smtp_auth_password_file,
    smtpAuthSecret: g.smtp_auth_secret,
    smtpAuthIdentity: g.smtp_auth_identity,
    smtpRequireTls: g.smtp_require_tls,
    slackApiUrl: g.slack_api_url ?? g.slack_api_url_file,
    pagerdutyUrl: g.pagerduty_url,
  };
}

/** A label map for `match:` (values as strings). */
const matchMap = () => z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

/** `match_re:` values: RE2, anchored and without dot-all as Alertmanager compiles them. */
const matchReMap = () =>
  z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).superRefine((rec, ctx) => {
    for (const [k, v] of Object.entries(rec)) {
      try {
        amMatcher('=~', k, `^(?:${v})$`);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: errorMessage(e), path: [k] });
      }
    }
  });

/** `matchers:` — each string is a list in Alertmanager's matcher syntax. */
const matcherList = () =>
  z.array(z.string()).transform((list, ctx) => {
    const out: Matcher[] = [];
    list.forEach((s, i) => {
      try {
        out.push(...parseMatchers(s));
      } catch (e) {
        ctx.issues.push({ code: 'custom', message: errorMessage(e), input: s, path: [i] });
      }
    });
    return out;
  });

interface RawRoute {
  receiver?: string;
  group_by?: string[];
  continue: boolean;
  match?: Record<string, string>;
  match_re?: Record<string, string>;
  matchers?: Matcher[];
  group_wait?: number;
  group_interval?: number;
  repeat_interval?: number;
  mute_time_intervals?: string[];
  active_time_intervals?: string[];
  routes?: RawRoute[];
}

const routeSchema: z.ZodType<RawRoute> = z.lazy(() =>
  z
    .strictObject({
      receiver: str().optional(),
      group_by: z.array(z.string()).optional(),
      continue: bool().default(false),
      match: matchMap().optional(),
      match_re: matchReMap().optional(),
      matchers: matcherList().optional(),
      group_wait: duration().optional(),
      group_interval: duration().optional(),
      repeat_interval: duration().optional(),
      mute_time_intervals: z.array(z.string()).optional(),
      active_time_intervals: z.array(z.string()).optional(),
      routes: z.array(routeSchema).optional(),
    })
    .superRefine((r, ctx) => {
      if (r.group_by) {
        const seen = new Set<string>();
        r.group_by.forEach((l, i) => {
          if (l === '...') {
            if (r.group_by!.length > 1) ctx.addIssue({ code: 'custom', message: 'cannot have wildcard group_by (`...`) and other other labels at the same time', path: ['group_by', i] });
            return;
          }
          if (!isLegacyLabelName(l)) ctx.addIssue({ code: 'custom', message: `invalid label name "${l}" in group_by list`, path: ['group_by', i] });
          else if (seen.has(l)) ctx.addIssue({ code: 'custom', message: `duplicated label "${l}" in group_by`, path: ['group_by', i] });
          seen.add(l);
        });
      }
      if (r.group_interval === 0) ctx.addIssue({ code: 'custom', message: 'group_interval cannot be zero', path: ['group_interval'] });
      if (r.repeat_interval === 0) ctx.addIssue({ code: 'custom', message: 'repeat_interval cannot be zero', path: ['repeat_interval'] });
    }),
) as z.ZodType<RawRoute>;

function compileRoute(r: RawRoute): RouteConfig {
  return {
    receiver: r.receiver,
    groupBy: r.group_by,
    continue: r.continue,
    match: r.match ?? {},
    matchRe: r.match_re ?? {},
    matchers: r.matchers ?? [],
    groupWait: r.group_wait,
    groupInterval: r.group_interval,
    repeatInterval: r.repeat_interval,
    muteTimeIntervals: r.mute_time_intervals ?? [],
    activeTimeIntervals: r.active_time_intervals ?? [],
    routes: (r.routes ?? []).map(compileRoute),
  };
}

const labelNameList = () =>
  z.array(z.string()).superRefine((list, ctx) => {
    list.forEach((l, i) => {
      if (!isLegacyLabelName(l)) ctx.addIssue({ code: 'custom', message: `"${l}" is not a valid label name`, path: [i] });
    });
  });

const inhibitRuleSchema = z
  .strictObject({
    source_match: matchMap().optional(),
    source_match_re: matchReMap().optional(),
    source_matchers: matcherList().optional(),
    target_match: matchMap().optional(),
    target_match_re: matchReMap().optional(),
    target_matchers: matcherList().optional(),
    equal: labelNameList().optional(),
  })
  .transform((r): InhibitRuleConfig => ({
    sourceMatch: r.source_match ?? {},
    sourceMatchRe: r.source_match_re ?? {},
    sourceMatchers: r.source_matchers ?? [],
    targetMatch: r.target_match ?? {},
    targetMatchRe: r.target_match_re ?? {},
    targetMatchers: r.target_matchers ?? [],
    equal: r.equal ?? [],
  }));

function parsedList<T>(parse: (s: string) => T) {
  return z.array(z.union([z.string(), z.number()]).transform(String)).transform((list, ctx) => {
    const out: T[] = [];
    list.forEach((s, i) => {
      try {
        out.push(parse(s));
      } catch (e) {
        ctx.issues.push({ code: 'custom', message: e instanceof TimeIntervalError ? e.message : errorMessage(e), input: s, path: [i] });
      }
    });
    return out;
  });
}

const timeIntervalSchema = z
  .strictObject({
    times: z
      .array(z.strictObject({ start_time: str().optional(), end_time: str().optional() }))
      .transform((list, ctx) => {
        const out: ReturnType<typeof parseTimeRange>[] = [];
        list.forEach((r, i) => {
          try {
            out.push(parseTimeRange(r));
          } catch (e) {
            ctx.issues.push({ code: 'custom', message: errorMessage(e), input: r, path: [i] });
          }
        });
        return out;
      })
      .optional(),
    weekdays: parsedList(parseWeekdayRange).optional(),
    days_of_month: parsedList(parseDayOfMonthRange).optional(),
    months: parsedList(parseMonthRange).optional(),
    years: parsedList(parseYearRange).optional(),
    location: z
      .string()
      .transform((s, ctx) => {
        try {
          return parseLocation(s);
        } catch (e) {
          ctx.issues.push({ code: 'custom', message: errorMessage(e), input: s });
          return z.NEVER;
        }
      })
      .optional(),
  })
  .transform((t): TimeInterval => ({
    times: t.times ?? [],
    weekdays: t.weekdays ?? [],
    daysOfMonth: t.days_of_month ?? [],
    months: t.months ?? [],
    years: t.years ?? [],
    location: t.location === 'UTC' ? undefined : t.location,
  }));

const namedIntervalsSchema = z.array(z.strictObject({ name: z.string(), time_intervals: z.array(timeIntervalSchema).default([]) }));

/** Keeps the raw text of template fields for validation against the defined templates. */
const tmpl = () => z.string();

const webhookSchema = z
  .strictObject({
    send_resolved: bool().default(true),
    http_config: httpConfigSchema.optional(),
    url: secretUrl().optional(),
    url_file: secretFile().optional(),
    max_alerts: z.number().int().nonnegative().default(0),
  })
  .superRefine((w, ctx) => {
    if (!w.url && !w.url_file) ctx.addIssue({ code: 'custom', message: 'missing URL in webhook config', path: [] });
    if (w.url && w.url_file) ctx.addIssue({ code: 'custom', message: 'at most one of url & url_file must be configured', path: ['url_file'] });
  });

const slackFieldSchema = z.strictObject({ title: tmpl(), value: tmpl(), short: bool().optional() }).superRefine((f, ctx) => {
  if (f.title === '') ctx.addIssue({ code: 'custom', message: 'missing title in Slack field configuration', path: ['title'] });
  if (f.value === '') ctx.addIssue({ code: 'custom', message: 'missing value in Slack field configuration', path: ['value'] });
});

const slackActionSchema = z
  .strictObject({
    type: str(),
    text: str(),
    url: str().default(''),
    style: str().default(''),
    name: str().default(''),
    value: str().default(''),
    confirm: z.unknown().optional(),
  })
  .superRefine((a, ctx) => {
    if (a.url === '' && a.name === '') ctx.addIssue({ code: 'custom', message: 'missing name or url in Slack action configuration', path: [] });
  });

const slackSchema = z
  .strictObject({
    send_resolved: bool().default(false),
    http_config: httpConfigSchema.optional(),
    api_url: secretUrl().optional(),
    api_url_file: secretFile().optional(),
    channel: tmpl().default(''),
    username: tmpl().default(SLACK_DEFAULTS.username),
    color: tmpl().default(SLACK_DEFAULTS.color),
    title: tmpl().default(SLACK_DEFAULTS.title),
    title_link: tmpl().default(SLACK_DEFAULTS.titleLink),
    pretext: tmpl().default(SLACK_DEFAULTS.pretext),
    text: tmpl().default(SLACK_DEFAULTS.text),
    fields: z.array(slackFieldSchema).default([]),
    short_fields: bool().default(false),
    footer: tmpl().default(SLACK_DEFAULTS.footer),
    fallback: tmpl().default(SLACK_DEFAULTS.fallback),
    callback_id: tmpl().default(SLACK_DEFAULTS.callbackId),
    icon_emoji: tmpl().default(SLACK_DEFAULTS.iconEmoji),
    icon_url: tmpl().default(SLACK_DEFAULTS.iconUrl),
    image_url: tmpl().default(''),
    thumb_url: tmpl().default(''),
    link_names: bool().default(false),
    mrkdwn_in: z.array(z.string()).default([]),
    actions: z.array(slackActionSchema).default([]),
  })
  .superRefine((s, ctx) => {
    if (s.api_url && s.api_url_file) ctx.addIssue({ code: 'custom', message: 'at most one of api_url & api_url_file must be configured', path: ['api_url_file'] });
  });

const pagerdutySchema = z
  .strictObject({
    send_resolved: bool().default(true),
    http_config: httpConfigSchema.optional(),
    routing_key: secret().optional(),
    routing_key_file: secretFile().optional(),
    service_key: secret().optional(),
    service_key_file: secretFile().optional(),
    url: amUrl().optional(),
    client: tmpl().default(PAGERDUTY_DEFAULTS.client),
    client_url: tmpl().default(PAGERDUTY_DEFAULTS.clientUrl),
    description: tmpl().default(PAGERDUTY_DEFAULTS.description),
    details: z.record(z.string(), z.string()).optional(),
    images: z.array(z.strictObject({ src: tmpl().default(''), alt: tmpl().default(''), href: tmpl().default('') })).default([]),
    links: z.array(z.strictObject({ href: tmpl().default(''), text: tmpl().default('') })).default([]),
    source: tmpl().optional(),
    severity: tmpl().default('error'),
    class: tmpl().default(''),
    component: tmpl().default(''),
    group: tmpl().default(''),
  })
  .superRefine((p, ctx) => {
    if (!p.routing_key && !p.routing_key_file && !p.service_key && !p.service_key_file) ctx.addIssue({ code: 'custom', message: 'missing service or routing key in PagerDuty config', path: [] });
    if (p.routing_key && p.routing_key_file) ctx.addIssue({ code: 'custom', message: 'at most one of routing_key & routing_key_file must be configured', path: ['routing_key_file'] });
    if (p.service_key && p.service_key_file) ctx.addIssue({ code: 'custom', message: 'at most one of service_key & service_key_file must be configured', path: ['service_key_file'] });
  });

/** Go's textproto.CanonicalMIMEHeaderKey: `content-type` → `Content-Type`. */
export function canonicalHeader(k: string): string {
  return k.replace(/[A-Za-z0-9]+/g, (w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase());
}

const emailSchema = z
  .strictObject({
    send_resolved: bool().default(false),
    to: str().optional(),
    from: str().optional(),
    hello: str().optional(),
    smarthost: smarthost().optional(),
    auth_username: str().optional(),
    auth_password: secret().optional(),
    auth_password_file: secretFile().optional(),
    auth_secret: secret().optional(),
    auth_identity: str().optional(),
    headers: z.record(z.string(), z.string()).default({}),
    html: tmpl().optional(),
    text: tmpl().optional(),
    require_tls: bool().optional(),
    tls_config: tlsSchema.optional(),
  })
  .superRefine((e, ctx) => {
    if (!e.to) ctx.addIssue({ code: 'custom', message: 'missing to address in email config', path: [] });
    const seen = new Set<string>();
    for (const k of Object.keys(e.headers)) {
      const c = canonicalHeader(k);
      if (seen.has(c)) ctx.addIssue({ code: 'custom', message: `duplicate header "${c}" in email config`, path: ['headers', k] });
      seen.add(c);
    }
    if (e.auth_password && e.auth_password_file) ctx.addIssue({ code: 'custom', message: 'at most one of auth_password & auth_password_file must be configured', path: ['auth_password_file'] });
  });

const UNSUPPORTED_RECEIVERS = ['opsgenie_configs', 'wechat_configs', 'pushover_configs', 'victorops_configs', 'sns_configs', 'telegram_configs', 'webex_configs', 'discord_configs', 'msteams_configs'] as const;

const receiverSchema = z
  .strictObject({
    name: z.string(),
    webhook_configs: z.array(webhookSchema).default([]),
    slack_configs: z.array(slackSchema).default([]),
    pagerduty_configs: z.array(pagerdutySchema).default([]),
    email_configs: z.array(emailSchema).default([]),
    ...Object.fromEntries(UNSUPPORTED_RECEIVERS.map((k) => [k, z.array(z.unknown()).optional()])),
  })
  .superRefine((r, ctx) => {
    if (r.name === '') ctx.addIssue({ code: 'custom', message: 'missing name in receiver', path: ['name'] });
    for (const k of UNSUPPORTED_RECEIVERS) {
      if ((r as Record<string, unknown>)[k] !== undefined) {
        ctx.addIssue({ code: 'custom', message: `${k} are not supported by Vigil (supported: webhook_configs, slack_configs, pagerduty_configs, email_configs); forward them with a webhook_config`, path: [k] });
      }
    }
  });

type RawReceiver = z.output<typeof receiverSchema>;

/** The keys of an Alertmanager configuration document. */
const amShape = {
  global: globalSchema.optional(),
  route: routeSchema.optional(),
  inhibit_rules: z.array(inhibitRuleSchema).default([]),
  receivers: z.array(receiverSchema).default([]),
  templates: z.array(z.string()).default([]),
  time_intervals: namedIntervalsSchema.default([]),
  mute_time_intervals: namedIntervalsSchema.default([]),
};

const AM_KEYS = Object.keys(amShape);

type RawAm = {
  global?: RawGlobal;
  route?: RawRoute;
  inhibit_rules: InhibitRuleConfig[];
  receivers: RawReceiver[];
  templates: string[];
  time_intervals: Array<{ name: string; time_intervals: TimeInterval[] }>;
  mute_time_intervals: Array<{ name: string; time_intervals: TimeInterval[] }>;
};

// ---- cross-references and defaults ------------------------------------------------------------

type Path = Array<string | number>;
type Issue = { message: string; path: Path };

function checkRoutes(r: RawRoute, path: Path, receivers: Set<string>, intervals: Set<string>, issues: Issue[]): void {
  if (r.receiver !== undefined && !receivers.has(r.receiver)) issues.push({ message: `undefined receiver "${r.receiver}" used in route`, path: [...path, 'receiver'] });
  (r.mute_time_intervals ?? []).forEach((n, i) => {
    if (!intervals.has(n)) issues.push({ message: `undefined time interval "${n}" used in route`, path: [...path, 'mute_time_intervals', i] });
  });
  (r.active_time_intervals ?? []).forEach((n, i) => {
    if (!intervals.has(n)) issues.push({ message: `undefined time interval "${n}" used in route`, path: [...path, 'active_time_intervals', i] });
  });
  (r.routes ?? []).forEach((c, i) => checkRoutes(c, [...path, 'routes', i], receivers, intervals, issues));
}

/** Raw template texts of a receiver with their paths (for parse checks against the template set). */
function receiverTemplates(r: RawReceiver, base: Path): Array<{ text: string; path: Path }> {
  const out: Array<{ text: string; path: Path }> = [];
  const add = (text: string | undefined, path: Path) => {
    if (text) out.push({ text, path });
  };
  r.slack_configs.forEach((s, i) => {
    const p = [...base, 'slack_configs', i];
    for (const k of ['channel', 'username', 'color', 'title', 'title_link', 'pretext', 'text', 'footer', 'fallback', 'callback_id', 'icon_emoji', 'icon_url', 'image_url', 'thumb_url'] as const) add(s[k], [...p, k]);
    s.fields.forEach((f, j) => {
      add(f.title, [...p, 'fields', j, 'title']);
      add(f.value, [...p, 'fields', j, 'value']);
    });
  });
  r.pagerduty_configs.forEach((s, i) => {
    const p = [...base, 'pagerduty_configs', i];
    for (const k of ['client', 'client_url', 'description', 'source', 'severity', 'class', 'component', 'group'] as const) add(s[k], [...p, k]);
    for (const [k, v] of Object.entries(s.details ?? {})) add(v, [...p, 'details', k]);
  });
  r.email_configs.forEach((s, i) => {
    const p = [...base, 'email_configs', i];
    add(s.html, [...p, 'html']);
    add(s.text, [...p, 'text']);
    for (const [k, v] of Object.entries(s.headers)) add(v, [...p, 'headers', k]);
  });
  return out;
}

/** Go's filepath.Glob for the last path element (`*`, `?`, `[...]`); other elements literal. */
export function expandGlob(pattern: string): string[] {
  const dir = dirname(pattern);
  const base = basename(pattern);
  if (!/[*?[]/.test(base)) {
    try {
      return statSync(pattern).isFile() ? [pattern] : [];
    } catch {
      return [];
    }
  }
  let re = '^';
  for (let i = 0; i < base.length; i++) {
    const c = base[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = base.indexOf(']', i + 1);
      if (end < 0) throw new Error(`syntax error in pattern ${pattern}`);
      let cls = base.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/\\/g, '\\\\');
      re += `[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  const rx = new RegExp(re + '$');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => rx.test(n))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

/** Validates cross references, applies global defaults, parses templates. Adds issues for problems. */
function finish(am: RawAm, ctx: z.RefinementCtx, source: string): AlertmanagerConfig | typeof z.NEVER {
  const issues: Issue[] = [];
  const global = compileGlobal(am.global);
  if (!am.route) issues.push({ message: 'no routes provided', path: [] });
  const names = new Set<string>();
  am.receivers.forEach((r, i) => {
    if (names.has(r.name)) issues.push({ message: `notification config name "${r.name}" is not unique`, path: ['receivers', i, 'name'] });
    names.add(r.name);
  });
  const intervals = new Map<string, TimeInterval[]>();
  const rawIntervals: Array<{ name: string; time_intervals: unknown[] }> = [];
  for (const [key, list] of [['mute_time_intervals', am.mute_time_intervals], ['time_intervals', am.time_intervals]] as const) {
    list.forEach((ti, i) => {
      if (ti.name === '') issues.push({ message: 'missing name in time interval', path: [key, i, 'name'] });
      if (intervals.has(ti.name)) issues.push({ message: `time interval "${ti.name}" is not unique`, path: [key, i, 'name'] });
      intervals.set(ti.name, ti.time_intervals);
    });
  }
  if (am.route) {
    const r = am.route;
    if (!r.receiver) issues.push({ message: 'root route must specify a default receiver', path: ['route'] });
    if (Object.keys(r.match ?? {}).length || Object.keys(r.match_re ?? {}).length || (r.matchers ?? []).length) issues.push({ message: 'root route must not have any matchers', path: ['route'] });
    if (r.continue) issues.push({ message: 'cannot have continue in root route', path: ['route', 'continue'] });
    if ((r.mute_time_intervals ?? []).length) issues.push({ message: 'root route must not have any mute time intervals', path: ['route', 'mute_time_intervals'] });
    if ((r.active_time_intervals ?? []).length) issues.push({ message: 'root route must not have any active time intervals', path: ['route', 'active_time_intervals'] });
    checkRoutes(r, ['route'], names, new Set(intervals.keys()), issues);
  }

  // Templates: Vigil's defaults plus the user's files; receiver fields must parse against them.
  const templates = new NotificationTemplates();
  const templateFiles: string[] = [];
  am.templates.forEach((g, i) => {
    const pattern = resolveConfigPath(g);
    let files: string[];
    try {
      files = expandGlob(pattern);
    } catch (e) {
      issues.push({ message: errorMessage(e), path: ['templates', i] });
      return;
    }
    for (const f of files) {
      try {
        templates.addFile(basename(f), readFileSync(f, 'utf8'));
        templateFiles.push(f);
      } catch (e) {
        issues.push({ message: e instanceof TemplateParseError ? `failed to parse templates: ${e.message}` : `cannot read template file ${f}: ${errorMessage(e)}`, path: ['templates', i] });
      }
    }
  });

  const receivers: ReceiverConfig[] = am.receivers.map((r, i) => {
    for (const t of receiverTemplates(r, ['receivers', i])) {
      const err = templates.check(t.text);
      if (err) issues.push({ message: err, path: t.path });
    }
    return {
      name: r.name,
      webhookConfigs: r.webhook_configs.map((w) => ({ sendResolved: w.send_resolved, httpConfig: compileHttpConfig(w.http_config, global.httpConfig), url: (w.url ?? w.url_file)!, maxAlerts: w.max_alerts })),
      slackConfigs: r.slack_configs.map((s, j) => {
        const apiUrl = s.api_url ?? s.api_url_file ?? global.slackApiUrl;
        if (!apiUrl) issues.push({ message: 'no global Slack API URL set either inline or in a file', path: ['receivers', i, 'slack_configs', j] });
        return {
          sendResolved: s.send_resolved, httpConfig: compileHttpConfig(s.http_config, global.httpConfig), apiUrl: apiUrl ?? Secret.inline(''),
          channel: s.channel, username: s.username, color: s.color, title: s.title, titleLink: s.title_link, pretext: s.pretext, text: s.text,
          fields: s.fields, shortFields: s.short_fields, footer: s.footer, fallback: s.fallback, callbackId: s.callback_id, iconEmoji: s.icon_emoji,
          iconUrl: s.icon_url, imageUrl: s.image_url, thumbUrl: s.thumb_url, linkNames: s.link_names, mrkdwnIn: s.mrkdwn_in,
          actions: s.actions.map((a) => ({ type: a.type, text: a.text, url: a.url, style: a.style, name: a.name, value: a.value })),
        };
      }),
      pagerdutyConfigs: r.pagerduty_configs.map((p) => {
        const routingKey = p.routing_key ?? p.routing_key_file;
        const serviceKey = p.service_key ?? p.service_key_file;
        return {
          sendResolved: p.send_resolved, httpConfig: compileHttpConfig(p.http_config, global.httpConfig), routingKey, serviceKey,
          url: p.url ?? (routingKey ? global.pagerdutyUrl : PAGERDUTY_V1_URL),
          client: p.client, clientUrl: p.client_url, description: p.description, details: p.details ?? { ...PAGERDUTY_DEFAULTS.details },
          images: p.images, links: p.links, source: p.source ?? p.client, severity: p.severity, class: p.class, component: p.component, group: p.group,
        };
      }),
      emailConfigs: r.email_configs.map((e, j) => {
        const p: Path = ['receivers', i, 'email_configs', j];
        const smart = e.smarthost ?? global.smtpSmarthost;
        const from = e.from ?? global.smtpFrom;
        if (!smart) issues.push({ message: 'no global SMTP smarthost set', path: p });
        if (!from) issues.push({ message: 'no global mail from address set', path: p });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(e.headers)) headers[canonicalHeader(k)] = v;
        headers.Subject ??= EMAIL_DEFAULT_SUBJECT;
        headers.To ??= e.to ?? '';
        headers.From ??= from ?? '';
        const authUsername = e.auth_username ?? global.smtpAuthUsername;
        return {
          sendResolved: e.send_resolved, to: e.to ?? '', from: from ?? '', hello: e.hello ?? global.smtpHello,
          smarthost: smart ? splitSmarthost(smart) : { host: '', port: 0 },
          authUsername, authPassword: e.auth_password ?? e.auth_password_file ?? global.smtpAuthPassword,
          authSecret: e.auth_secret ?? global.smtpAuthSecret, authIdentity: e.auth_identity ?? global.smtpAuthIdentity,
          headers, html: e.html ?? EMAIL_DEFAULT_HTML, text: e.text ?? '', requireTls: e.require_tls ?? global.smtpRequireTls, tls: e.tls_config ?? DEFAULT_TLS,
        };
      }),
    };
  });
  for (const [key, list] of [['mute_time_intervals', am.mute_time_intervals], ['time_intervals', am.time_intervals]] as const) {
    for (const ti of list) rawIntervals.push({ name: ti.name, time_intervals: ti.time_intervals.map(rawInterval) });
    void key;
  }
  if (issues.length) {
    for (const iss of issues) ctx.addIssue({ code: 'custom', message: iss.message, path: iss.path });
    return z.NEVER;
  }
  return {
    global,
    route: compileRoute(am.route!),
    inhibitRules: am.inhibit_rules,
    receivers,
    templateFiles,
    templates: am.templates,
    timeIntervals: intervals,
    timeIntervalsRaw: rawIntervals,
    source,
    notificationTemplates: templates,
  };
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function rawInterval(t: TimeInterval): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const range = (r: { begin: number; end: number }, name?: (n: number) => string) => {
    const f = name ?? String;
    return r.begin === r.end ? f(r.begin) : `${f(r.begin)}:${f(r.end)}`;
  };
  const WD = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
  if (t.times.length) out.times = t.times.map((r) => ({ start_time: `${pad2(Math.floor(r.startMinute / 60))}:${pad2(r.startMinute % 60)}`, end_time: `${pad2(Math.floor(r.endMinute / 60))}:${pad2(r.endMinute % 60)}` }));
  if (t.weekdays.length) out.weekdays = t.weekdays.map((r) => range(r, (n) => WD[n]!));
  if (t.daysOfMonth.length) out.days_of_month = t.daysOfMonth.map((r) => range(r));
  if (t.months.length) out.months = t.months.map((r) => range(r));
  if (t.years.length) out.years = t.years.map((r) => range(r));
  if (t.location) out.location = t.location;
  return out;
}

/** The schema of a whole Alertmanager configuration document (`alertmanager.yml`). */
export function alertmanagerDocumentSchema(source: string) {
  return z.strictObject(amShape).transform((am, ctx) => finish(am as RawAm, ctx, source));
}

// ---- the `alerting` section of vigil.yml ------------------------------------------------------

/** What the `alerting` section holds once validated. */
export interface AlertingSectionConfig {
  /** Undefined when the section has no routing (alert handling then only stores and shows alerts). */
  alertmanager: AlertmanagerConfig | undefined;
  /** Prometheus' `alerting.alertmanagers` and `alert_relabel_configs` (the rules module reads them). */
  prometheus: Record<string, unknown>;
  /** Vigil's own options. */
  options: AlertingOptions;
}

/** Vigil's additions under `alerting:` (not in Alertmanager's format). */
export interface AlertingOptions {
  /** How long alert and notification history is kept (ms). */
  historyRetention: number;
  /** How long the notification log and expired silences are kept (ms; Alertmanager's --data.retention). */
  dataRetention: number;
}

const DEFAULT_OPTIONS: AlertingOptions = { historyRetention: 30 * 86_400_000, dataRetention: 120 * 3_600_000 };

/**
 * Builds the `alerting` section. `prometheusKeys` are the schemas of Prometheus' keys under
 * `alerting:` (e.g. the rules module's `ALERTING_RULES_KEYS`: `alertmanagers`), used as given;
 * their values appear at the top level of the section's value (and in `prometheus`). Without
 * them `alertmanagers` and `alert_relabel_configs` are accepted as lists and passed through.
 */
export function defineAlertingSection<K extends Record<string, z.ZodType> = Record<never, z.ZodType>>(prometheusKeys?: K) {
  const promShape: Record<string, z.ZodType> = prometheusKeys ?? {
    alertmanagers: z.array(z.unknown()).optional(),
    alert_relabel_configs: z.array(z.unknown()).optional(),
  };
  type Out = AlertingSectionConfig & { [P in keyof K]: z.output<K[P]> };
  const schema = z
    .strictObject({
      ...amShape,
      config_file: filePath().optional(),
      history_retention: duration().default(DEFAULT_OPTIONS.historyRetention),
      data_retention: duration().default(DEFAULT_OPTIONS.dataRetention),
      ...promShape,
    })
    .transform((v, ctx): Out => {
      const raw = v as Record<string, unknown>;
      const prometheus: Record<string, unknown> = {};
      for (const k of Object.keys(promShape)) if (raw[k] !== undefined) prometheus[k] = raw[k];
      const options: AlertingOptions = { historyRetention: raw.history_retention as number, dataRetention: raw.data_retention as number };
      // The raw keys stay in the value (secrets at their YAML paths: /api/v1/status/config redacts by path).
      const out = (alertmanager: AlertmanagerConfig | undefined) => ({ ...raw, ...prometheus, alertmanager, prometheus, options }) as Out;
      const file = raw.config_file as string | undefined;
      if (file !== undefined) {
        for (const k of AM_KEYS) {
          const given = raw[k];
          const isDefault = given === undefined || (Array.isArray(given) && given.length === 0);
          if (!isDefault) ctx.issues.push({ code: 'custom', message: `cannot be set together with config_file (the routing configuration is read from ${file})`, input: given, path: [k] });
        }
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          ctx.issues.push({ code: 'custom', message: `cannot read ${file}: ${errorMessage(e)}`, input: file, path: ['config_file'] });
          return z.NEVER;
        }
        try {
          return out(validateYaml(text, file, alertmanagerDocumentSchema(file)));
        } catch (e) {
          if (e instanceof ConfigError) {
            for (const p of e.problems) ctx.issues.push({ code: 'custom', message: formatProblem(p), input: file, path: ['config_file'] });
          } else ctx.issues.push({ code: 'custom', message: errorMessage(e), input: file, path: ['config_file'] });
          return z.NEVER;
        }
      }
      const hasRouting = raw.route !== undefined || (raw.receivers as unknown[]).length > 0;
      if (!hasRouting) return out(undefined);
      const am = finish(raw as unknown as RawAm, ctx, 'alerting');
      if (am === z.NEVER) return z.NEVER;
      return out(am as AlertmanagerConfig);
    });
  // Absent section: validate `{}` so that every default (also the Prometheus keys') applies.
  return defineSection('alerting', z.preprocess((v) => v ?? {}, schema));
}

/** The `alerting` section with Prometheus' keys passed through (see `defineAlertingSection`). */
export const alertingSection = defineAlertingSection();

/** Parses an Alertmanager configuration text (alertmanager.yml). Throws ConfigError. */
export function parseAlertmanagerConfig(text: string, file: string): AlertmanagerConfig {
  return validateYaml(text, file, alertmanagerDocumentSchema(file));
}

// ---- printing back (Alertmanager's format, secrets hidden) ------------------------------------

function hideUrl(s: Secret): string {
  // A URL that still parses (amtool reads the configuration back), with everything that may
  // carry a token replaced.
  try {
    const u = new URL(s.reveal());
    return `${u.protocol}//${u.host}/${SECRET_PLACEHOLDER}`;
  } catch {
    return SECRET_PLACEHOLDER;
  }
}

function httpOut(h: HttpClientConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (h.basicAuth) out.basic_auth = { username: h.basicAuth.username, ...(h.basicAuth.password ? { password: SECRET_PLACEHOLDER } : {}) };
  if (h.authorization) out.authorization = { type: h.authorization.type, ...(h.authorization.credentials ? { credentials: SECRET_PLACEHOLDER } : {}) };
  if (h.proxyUrl) out.proxy_url = h.proxyUrl;
  const t = h.tls;
  if (t.caFile || t.certFile || t.keyFile || t.serverName || t.insecureSkipVerify || t.minVersion) {
    out.tls_config = {
      ...(t.caFile ? { ca_file: t.caFile } : {}), ...(t.certFile ? { cert_file: t.certFile } : {}), ...(t.keyFile ? { key_file: t.keyFile } : {}),
      ...(t.serverName ? { server_name: t.serverName } : {}), insecure_skip_verify: t.insecureSkipVerify, ...(t.minVersion ? { min_version: t.minVersion } : {}),
    };
  }
  out.follow_redirects = h.followRedirects;
  out.enable_http2 = h.enableHttp2;
  return out;
}

function routeOut(r: RouteConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.receiver) out.receiver = r.receiver;
  if (r.groupBy) out.group_by = r.groupBy;
  if (Object.keys(r.match).length) out.match = r.match;
  if (Object.keys(r.matchRe).length) out.match_re = r.matchRe;
  if (r.matchers.length) out.matchers = [...r.matchers].sort(compareMatchers).map(matcherString);
  if (r.muteTimeIntervals.length) out.mute_time_intervals = r.muteTimeIntervals;
  if (r.activeTimeIntervals.length) out.active_time_intervals = r.activeTimeIntervals;
  out.continue = r.continue;
  if (r.routes.length) out.routes = r.routes.map(routeOut);
  if (r.groupWait !== undefined) out.group_wait = formatDuration(r.groupWait);
  if (r.groupInterval !== undefined) out.group_interval = formatDuration(r.groupInterval);
  if (r.repeatInterval !== undefined) out.repeat_interval = formatDuration(r.repeatInterval);
  return out;
}

/**
 * The configuration in Alertmanager's YAML layout with defaults applied and every secret shown
 * as `<secret>` (URLs keep scheme and host so that the file still parses): what
 * `/api/v2/status` returns as `config.original`, readable by amtool.
 */
export function alertmanagerYaml(c: AlertmanagerConfig): string {
  const g = c.global;
  const global: Record<string, unknown> = {
    resolve_timeout: formatDuration(g.resolveTimeout),
    http_config: httpOut(g.httpConfig),
    ...(g.smtpFrom ? { smtp_from: g.smtpFrom } : {}),
    smtp_hello: g.smtpHello,
    ...(g.smtpSmarthost ? { smtp_smarthost: g.smtpSmarthost } : {}),
    ...(g.smtpAuthUsername ? { smtp_auth_username: g.smtpAuthUsername } : {}),
    ...(g.smtpAuthPassword ? { smtp_auth_password: SECRET_PLACEHOLDER } : {}),
    ...(g.smtpAuthSecret ? { smtp_auth_secret: SECRET_PLACEHOLDER } : {}),
    ...(g.smtpAuthIdentity ? { smtp_auth_identity: g.smtpAuthIdentity } : {}),
    smtp_require_tls: g.smtpRequireTls,
    ...(g.slackApiUrl ? { slack_api_url: SECRET_PLACEHOLDER } : {}),
    pagerduty_url: g.pagerdutyUrl,
  };
  const doc: Record<string, unknown> = {
    global,
    route: routeOut(c.route),
  };
  if (c.inhibitRules.length) {
    doc.inhibit_rules = c.inhibitRules.map((r) => ({
      ...(Object.keys(r.sourceMatch).length ? { source_match: r.sourceMatch } : {}),
      ...(Object.keys(r.sourceMatchRe).length ? { source_match_re: r.sourceMatchRe } : {}),
      ...(r.sourceMatchers.length ? { source_matchers: r.sourceMatchers.map(matcherString) } : {}),
      ...(Object.keys(r.targetMatch).length ? { target_match: r.targetMatch } : {}),
      ...(Object.keys(r.targetMatchRe).length ? { target_match_re: r.targetMatchRe } : {}),
      ...(r.targetMatchers.length ? { target_matchers: r.targetMatchers.map(matcherString) } : {}),
      ...(r.equal.length ? { equal: r.equal } : {}),
    }));
  }
  doc.receivers = c.receivers.map((r) => {
    const out: Record<string, unknown> = { name: r.name };
    if (r.emailConfigs.length) {
      out.email_configs = r.emailConfigs.map((e) => ({
        send_resolved: e.sendResolved, to: e.to, from: e.from, hello: e.hello, smarthost: `${e.smarthost.host}:${e.smarthost.port}`,
        ...(e.authUsername ? { auth_username: e.authUsername } : {}), ...(e.authPassword ? { auth_password: SECRET_PLACEHOLDER } : {}),
        ...(e.authSecret ? { auth_secret: SECRET_PLACEHOLDER } : {}), ...(e.authIdentity ? { auth_identity: e.authIdentity } : {}),
        headers: e.headers, ...(e.html ? { html: e.html } : {}), ...(e.text ? { text: e.text } : {}), require_tls: e.requireTls,
      }));
    }
    if (r.pagerdutyConfigs.length) {
      out.pagerduty_configs = r.pagerdutyConfigs.map((p) => ({
        send_resolved: p.sendResolved, http_config: httpOut(p.httpConfig),
        ...(p.routingKey ? { routing_key: SECRET_PLACEHOLDER } : {}), ...(p.serviceKey ? { service_key: SECRET_PLACEHOLDER } : {}),
        url: p.url, client: p.client, client_url: p.clientUrl, description: p.description, details: p.details,
        ...(p.images.length ? { images: p.images } : {}), ...(p.links.length ? { links: p.links } : {}),
        source: p.source, severity: p.severity, ...(p.class ? { class: p.class } : {}), ...(p.component ? { component: p.component } : {}), ...(p.group ? { group: p.group } : {}),
      }));
    }
    if (r.slackConfigs.length) {
      out.slack_configs = r.slackConfigs.map((s) => ({
        send_resolved: s.sendResolved, http_config: httpOut(s.httpConfig), api_url: SECRET_PLACEHOLDER, channel: s.channel, username: s.username,
        color: s.color, title: s.title, title_link: s.titleLink, pretext: s.pretext, text: s.text, ...(s.fields.length ? { fields: s.fields } : {}),
        short_fields: s.shortFields, footer: s.footer, fallback: s.fallback, callback_id: s.callbackId, icon_emoji: s.iconEmoji, icon_url: s.iconUrl,
        image_url: s.imageUrl, thumb_url: s.thumbUrl, link_names: s.linkNames, ...(s.mrkdwnIn.length ? { mrkdwn_in: s.mrkdwnIn } : {}),
        ...(s.actions.length ? { actions: s.actions } : {}),
      }));
    }
    if (r.webhookConfigs.length) {
      out.webhook_configs = r.webhookConfigs.map((w) => ({ send_resolved: w.sendResolved, http_config: httpOut(w.httpConfig), url: hideUrl(w.url), max_alerts: w.maxAlerts }));
    }
    return out;
  });
  doc.templates = c.templates;
  if (c.timeIntervalsRaw.length) doc.time_intervals = c.timeIntervalsRaw;
  return stringify(doc, { lineWidth: 0, indentSeq: false });
}
