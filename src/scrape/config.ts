/**
 * The `scrape_configs:` section of vigil.yml, in Prometheus' format (a Prometheus file's
 * `scrape_configs` can be pasted as is, within the supported keys). Validation messages follow
 * Prometheus' wording where it has one.
 *
 * Durations are milliseconds after parsing; secrets are `Secret` values; relative paths
 * resolve against the configuration file. Settings left out here (interval, timeout, limits)
 * inherit from `global` when the scrape manager applies the configuration (`resolveJob`).
 */
import { existsSync } from 'node:fs';
import {
  byteSize, defineSection, exclusiveSecret, filePath, labelName, labelSet, positiveDuration, regex, secret, secretFile, z,
  type GlobalConfig, type Secret,
} from '../config/index.ts';
import { Labels } from '../model/index.ts';
import { SCRAPE_PROTOCOLS, type ScrapeProtocol } from '../exposition/index.ts';

export const RELABEL_ACTIONS = ['replace', 'keep', 'drop', 'keepequal', 'dropequal', 'hashmod', 'labelmap', 'labeldrop', 'labelkeep', 'lowercase', 'uppercase'] as const;
export type RelabelAction = (typeof RELABEL_ACTIONS)[number];

export const RELABEL_DEFAULTS = { separator: ';', regex: '(.*)', replacement: '$1', action: 'replace' } as const;

/** Prometheus' pattern for a target_label / labelmap replacement that may use `$1`/`${name}`. */
const RELABEL_TARGET = /^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$/;

/** One relabel config (Prometheus' relabel_config); also used for `alerting.alert_relabel_configs`. */
export const relabelConfig = z
  .strictObject({
    source_labels: z.array(labelName()).optional(),
    separator: z.string().default(RELABEL_DEFAULTS.separator),
    regex: z.union([z.string(), z.number()]).transform(String).pipe(regex()).default(RELABEL_DEFAULTS.regex),
    modulus: z.number().int().nonnegative().default(0),
    target_label: z.string().default(''),
    replacement: z.string().default(RELABEL_DEFAULTS.replacement),
    action: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(RELABEL_ACTIONS, { error: (iss) => `unknown relabel action ${JSON.stringify(iss.input)} (one of ${RELABEL_ACTIONS.join(', ')})` }))
      .default('replace'),
  })
  .superRefine((c, ctx) => {
    const a = c.action;
    const fail = (message: string, path: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (a === 'hashmod' && c.modulus === 0) fail('relabel configuration for hashmod requires non-zero modulus', 'modulus');
    if ((a === 'replace' || a === 'hashmod' || a === 'lowercase' || a === 'uppercase' || a === 'keepequal' || a === 'dropequal') && c.target_label === '') {
      fail(`relabel configuration for ${a} action requires 'target_label' value`, 'target_label');
    }
    if ((a === 'replace' || a === 'lowercase' || a === 'uppercase') && c.target_label !== '' && !RELABEL_TARGET.test(c.target_label)) {
      fail(`${JSON.stringify(c.target_label)} is invalid 'target_label' for ${a} action`, 'target_label');
    }
    if ((a === 'lowercase' || a === 'uppercase') && c.replacement !== RELABEL_DEFAULTS.replacement) fail(`'replacement' can not be set for ${a} action`, 'replacement');
    if (a === 'labelmap' && !RELABEL_TARGET.test(c.replacement)) fail(`${JSON.stringify(c.replacement)} is invalid 'replacement' for ${a} action`, 'replacement');
    if (a === 'hashmod' && !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(c.target_label) && c.target_label !== '') fail(`${JSON.stringify(c.target_label)} is invalid 'target_label' for ${a} action`, 'target_label');
    if ((a === 'keepequal' || a === 'dropequal') && (c.regex !== RELABEL_DEFAULTS.regex || c.modulus !== 0 || c.separator !== ';' || c.replacement !== '$1')) {
      fail(`${a} action requires only 'source_labels' and 'target_label', and no other fields`, 'action');
    }
    if ((a === 'labeldrop' || a === 'labelkeep') && (c.source_labels !== undefined || c.target_label !== '' || c.modulus !== 0 || c.separator !== ';' || c.replacement !== '$1')) {
      fail(`${a} action requires only 'regex', and no other fields`, 'action');
    }
  });
export type RelabelConfig = z.output<typeof relabelConfig>;

function existingFile() {
  return filePath().superRefine((p, ctx) => {
    if (!existsSync(p)) ctx.addIssue({ code: 'custom', message: `file ${JSON.stringify(p)} does not exist` });
  });
}

const tlsConfig = z
  .strictObject({
    ca_file: existingFile().optional(),
    cert_file: existingFile().optional(),
    key_file: existingFile().optional(),
    /** PEM text inline (instead of the *_file keys). */
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: secret().optional(),
    server_name: z.string().min(1).optional(),
    insecure_skip_verify: z.boolean().default(false),
    min_version: z.enum(['TLS10', 'TLS11', 'TLS12', 'TLS13']).optional(),
    max_version: z.enum(['TLS10', 'TLS11', 'TLS12', 'TLS13']).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.ca !== undefined && t.ca_file !== undefined) ctx.addIssue({ code: 'custom', message: 'at most one of ca and ca_file must be configured', path: ['ca'] });
    if (t.cert !== undefined && t.cert_file !== undefined) ctx.addIssue({ code: 'custom', message: 'at most one of cert and cert_file must be configured', path: ['cert'] });
    if (t.key !== undefined && t.key_file !== undefined) ctx.addIssue({ code: 'custom', message: 'at most one of key and key_file must be configured', path: ['key'] });
    const hasCert = t.cert !== undefined || t.cert_file !== undefined;
    const hasKey = t.key !== undefined || t.key_file !== undefined;
    if (hasCert !== hasKey) ctx.addIssue({ code: 'custom', message: 'exactly one of key or key_file must be configured when a client certificate is configured', path: [hasCert ? 'key_file' : 'cert_file'] });
  });
export type TlsConfig = z.output<typeof tlsConfig>;

const basicAuth = z
  .strictObject({
    username: z.string().default(''),
    username_file: secretFile().optional(),
    password: secret().optional(),
    password_file: secretFile().optional(),
  })
  .superRefine((b, ctx) => {
    exclusiveSecret(b, 'password', ctx);
    if (b.username !== '' && b.username_file !== undefined) ctx.addIssue({ code: 'custom', message: 'at most one of basic_auth username & username_file must be configured', path: ['username_file'] });
  });

const authorization = z
  .strictObject({
    type: z.string().default('Bearer'),
    credentials: secret().optional(),
    credentials_file: secretFile().optional(),
  })
  .superRefine((a, ctx) => {
    exclusiveSecret(a, 'credentials', ctx);
    if (a.type.toLowerCase() === 'basic') ctx.addIssue({ code: 'custom', message: 'authorization type cannot be set to "basic", use "basic_auth" instead', path: ['type'] });
  });

const staticConfig = z.strictObject({
  targets: z.array(z.string()).default([]),
  labels: labelSet().default(Labels.EMPTY),
});

/** Prometheus' accepted file_sd patterns: a glob only in the last path element, JSON or YAML. */
const FILE_SD_NAME = /^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$/;

const fileSdConfig = z.strictObject({
  files: z
    .array(
      z.string().superRefine((f, ctx) => {
        if (!FILE_SD_NAME.test(f)) ctx.addIssue({ code: 'custom', message: `path name ${JSON.stringify(f)} is not valid for file discovery (a .json, .yml or .yaml file; a * only in the last path element)` });
      }).pipe(filePath()),
    )
    .min(1),
  refresh_interval: positiveDuration().default(5 * 60_000),
});

const scrapeConfig = z
  .strictObject({
    job_name: z.string().min(1),
    honor_labels: z.boolean().default(false),
    honor_timestamps: z.boolean().default(true),
    params: z.record(z.string(), z.array(z.string())).default({}),
    scrape_interval: positiveDuration().optional(),
    scrape_timeout: positiveDuration().optional(),
    scrape_protocols: z.array(z.enum(SCRAPE_PROTOCOLS)).min(1).optional(),
    /** Used when a target sends no, a malformed or an unsupported Content-Type (Vigil default: PrometheusText0.0.4). */
    fallback_scrape_protocol: z.enum(SCRAPE_PROTOCOLS).optional(),
    metrics_path: z.string().default('/metrics'),
    scheme: z.enum(['http', 'https']).default('http'),
    body_size_limit: byteSize().optional(),
    sample_limit: z.number().int().nonnegative().optional(),
    target_limit: z.number().int().nonnegative().optional(),
    label_limit: z.number().int().nonnegative().optional(),
    label_name_length_limit: z.number().int().nonnegative().optional(),
    label_value_length_limit: z.number().int().nonnegative().optional(),
    static_configs: z.array(staticConfig).default([]),
    file_sd_configs: z.array(fileSdConfig).default([]),
    relabel_configs: z.array(relabelConfig).default([]),
    metric_relabel_configs: z.array(relabelConfig).default([]),
    basic_auth: basicAuth.optional(),
    authorization: authorization.optional(),
    bearer_token: secret().optional(),
    bearer_token_file: secretFile().optional(),
    tls_config: tlsConfig.optional(),
    follow_redirects: z.boolean().default(true),
    enable_http2: z.boolean().default(true),
    /** Vigil: a down target of this job makes `/health/detailed` fail (otherwise it warns). */
    critical: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (c.scrape_interval !== undefined && c.scrape_timeout !== undefined && c.scrape_timeout > c.scrape_interval) {
      ctx.addIssue({ code: 'custom', message: `scrape timeout greater than scrape interval for scrape config with job name ${JSON.stringify(c.job_name)}`, path: ['scrape_timeout'] });
    }
    const auths = [c.basic_auth, c.authorization, c.bearer_token ?? c.bearer_token_file].filter((x) => x !== undefined).length;
    if (auths > 1) ctx.addIssue({ code: 'custom', message: 'at most one of basic_auth, authorization, bearer_token & bearer_token_file must be configured', path: ['authorization'] });
    exclusiveSecret(c, 'bearer_token', ctx);
    if (!c.metrics_path.startsWith('/')) ctx.addIssue({ code: 'custom', message: `metrics_path must start with "/", got ${JSON.stringify(c.metrics_path)}`, path: ['metrics_path'] });
    if (c.scrape_protocols) {
      const seen = new Set<string>();
      for (const p of c.scrape_protocols) {
        if (seen.has(p)) ctx.addIssue({ code: 'custom', message: `duplicated protocol in scrape_protocols, got ${JSON.stringify(c.scrape_protocols)}`, path: ['scrape_protocols'] });
        seen.add(p);
      }
      if (c.scrape_protocols.includes('PrometheusProto')) ctx.addIssue({ code: 'custom', message: 'PrometheusProto (protobuf exposition) is not supported by Vigil', path: ['scrape_protocols'] });
    }
    if (c.fallback_scrape_protocol === 'PrometheusProto') ctx.addIssue({ code: 'custom', message: 'PrometheusProto (protobuf exposition) is not supported by Vigil', path: ['fallback_scrape_protocol'] });
  });

export type ScrapeConfig = z.output<typeof scrapeConfig>;

const sectionSchema = z
  .array(scrapeConfig)
  .default([])
  .superRefine((jobs, ctx) => {
    const seen = new Map<string, number>();
    jobs.forEach((j, i) => {
      if (seen.has(j.job_name)) ctx.addIssue({ code: 'custom', message: `found multiple scrape configs with job name ${JSON.stringify(j.job_name)}`, path: [i, 'job_name'] });
      seen.set(j.job_name, i);
    });
  });

/** The `scrape_configs:` section. Register it in app.ts's `configSections()`. */
export const scrapeConfigsSection = defineSection('scrape_configs', sectionSchema);

/** A job's settings with `global` applied: what the scrape manager runs. */
export interface ResolvedJob {
  config: ScrapeConfig;
  name: string;
  intervalMs: number;
  timeoutMs: number;
  bodySizeLimit: number;
  sampleLimit: number;
  targetLimit: number;
  labelLimit: number;
  labelNameLengthLimit: number;
  labelValueLengthLimit: number;
  /** Ordered protocols for the Accept header; undefined: Prometheus 2.42's header. */
  scrapeProtocols: readonly ScrapeProtocol[] | undefined;
  fallbackProtocol: ScrapeProtocol;
}

/** Applies `global` defaults as Prometheus does (a timeout never exceeds the job's interval). */
export function resolveJob(c: ScrapeConfig, g: Pick<GlobalConfig, 'scrape_interval' | 'scrape_timeout' | 'body_size_limit' | 'sample_limit' | 'target_limit' | 'label_limit' | 'label_name_length_limit' | 'label_value_length_limit'>): ResolvedJob {
  const intervalMs = c.scrape_interval ?? g.scrape_interval;
  const timeoutMs = c.scrape_timeout ?? (g.scrape_timeout > intervalMs ? intervalMs : g.scrape_timeout);
  return {
    config: c,
    name: c.job_name,
    intervalMs,
    timeoutMs,
    bodySizeLimit: c.body_size_limit ?? g.body_size_limit,
    sampleLimit: c.sample_limit ?? g.sample_limit,
    targetLimit: c.target_limit ?? g.target_limit,
    labelLimit: c.label_limit ?? g.label_limit,
    labelNameLengthLimit: c.label_name_length_limit ?? g.label_name_length_limit,
    labelValueLengthLimit: c.label_value_length_limit ?? g.label_value_length_limit,
    scrapeProtocols: c.scrape_protocols,
    fallbackProtocol: c.fallback_scrape_protocol ?? 'PrometheusText0.0.4',
  };
}

/**
 * A stable text of a job's scrape settings, discovery excluded (secrets by identity of their
 * source), to tell whether a reload changed how its targets are scraped.
 */
export function jobFingerprint(j: ResolvedJob): string {
  return stableJson({ ...j, config: { ...j.config, static_configs: undefined, file_sd_configs: undefined } });
}

/** A stable text of a job's discovery settings (static_configs, file_sd_configs). */
export function discoveryFingerprint(j: ResolvedJob): string {
  return stableJson({ s: j.config.static_configs, f: j.config.file_sd_configs });
}

function stableJson(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => {
    if (v instanceof Labels) return v.key();
    if (v && typeof v === 'object' && (v as { reveal?: unknown }).reveal !== undefined) {
      const s = v as Secret;
      return s.file !== undefined ? `file:${s.file}` : `inline:${s.reveal()}`;
    }
    return v;
  });
}

