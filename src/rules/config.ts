/**
 * The configuration rules own: `rule_files` (globs, relative to the configuration file) and,
 * inside Prometheus' `alerting:` section, `alertmanagers` (where alerts are sent besides Vigil's
 * own alert handling).
 *
 * `alert_relabel_configs` are Prometheus' relabel_configs applied to every alert sent.
 *
 * `alerting:` is shared with the alerting module (Alertmanager's routing configuration lives
 * there too). `ALERTING_RULES_KEYS` is the part rules owns, to be merged into that section's
 * object schema by whoever defines it (app.ts); `rulesAlertingSection` is a stand-alone
 * `alerting` section with only these keys, for a build without the alerting module.
 */
import { defineSection, duration, exclusiveSecret, filePath, hostPort, labelSet, secret, secretFile, z } from '../config/index.ts';
import { Labels } from '../model/index.ts';
import { relabelConfig } from '../scrape/index.ts';

/** `rule_files: [glob, ...]`, each resolved against the configuration file's directory. */
export const ruleFilesSection = defineSection('rule_files', z.array(filePath()).default(() => []));

export type RuleFilesConfig = z.output<typeof ruleFilesSection.schema>;

const staticConfig = z.strictObject({
  targets: z.array(hostPort()).default(() => []),
  labels: labelSet().default(Labels.EMPTY),
});

const basicAuth = z
  .strictObject({
    username: z.string().default(''),
    username_file: secretFile().optional(),
    password: secret().optional(),
    password_file: secretFile().optional(),
  })
  .superRefine((v, ctx) => {
    exclusiveSecret(v, 'password', ctx);
    if (v.username !== '' && v.username_file !== undefined) ctx.addIssue({ code: 'custom', message: 'at most one of username and username_file may be set', path: ['username_file'] });
  });

const authorization = z
  .strictObject({
    type: z.string().default('Bearer'),
    credentials: secret().optional(),
    credentials_file: secretFile().optional(),
  })
  .superRefine((v, ctx) => {
    exclusiveSecret(v, 'credentials', ctx);
    if (v.type.toLowerCase() === 'basic') ctx.addIssue({ code: 'custom', message: 'authorization type cannot be set to "basic", use "basic_auth" instead', path: ['type'] });
  });

const tlsConfig = z.strictObject({
  ca_file: filePath().optional(),
  cert_file: filePath().optional(),
  key_file: filePath().optional(),
  server_name: z.string().optional(),
  insecure_skip_verify: z.boolean().default(false),
  min_version: z.enum(['TLS10', 'TLS11', 'TLS12', 'TLS13']).optional(),
});

/** One entry of `alerting.alertmanagers` (Prometheus' alertmanager_config, static targets). */
export const alertmanagerConfigSchema = z
  .strictObject({
    static_configs: z.array(staticConfig).default(() => []),
    scheme: z.enum(['http', 'https']).default('http'),
    path_prefix: z.string().default('/'),
    timeout: duration().default(10_000),
    api_version: z.enum(['v1', 'v2']).default('v2'),
    basic_auth: basicAuth.optional(),
    authorization: authorization.optional(),
    tls_config: tlsConfig.optional(),
    follow_redirects: z.boolean().default(true),
    enable_http2: z.boolean().default(true),
  })
  .superRefine((v, ctx) => {
    if (v.api_version === 'v1') ctx.addIssue({ code: 'custom', message: 'Alertmanager API v1 is not supported (Alertmanager removed it in 0.27); use api_version: v2', path: ['api_version'] });
    if (v.basic_auth && v.authorization) ctx.addIssue({ code: 'custom', message: 'at most one of basic_auth and authorization must be configured', path: ['authorization'] });
    if (!(v.timeout > 0)) ctx.addIssue({ code: 'custom', message: 'must be greater than 0', path: ['timeout'] });
  });

export type AlertmanagerConfig = z.output<typeof alertmanagerConfigSchema>;

/** The keys of `alerting:` that rules own; merge them into the section's object schema. */
export const ALERTING_RULES_KEYS = {
  alertmanagers: z.array(alertmanagerConfigSchema).default(() => []),
  /** Applied to every alert before it is handed on (after external labels), as Prometheus does. */
  alert_relabel_configs: z.array(relabelConfig).default(() => []),
};

/** A stand-alone `alerting` section with only the rules' keys (when the alerting module defines none). */
export const rulesAlertingSection = defineSection('alerting', z.strictObject(ALERTING_RULES_KEYS).default(() => ({ alertmanagers: [], alert_relabel_configs: [] })));

export type RulesAlertingConfig = z.output<typeof rulesAlertingSection.schema>;
