/**
 * The `probes:` section of vigil.yml: Vigil's built-in collectors, one list per kind.
 *
 * Every probe entry shares `job`, `instance`, `interval`, `timeout`, `labels` and `critical`.
 * `job` defaults to the kind's usual job name and `instance` to the target (URL, host:port,
 * or this machine's hostname for host/container/log probes). The pair (job, instance) must be
 * unique across all probes: it is what distinguishes their series.
 *
 * Durations are milliseconds after parsing; secrets are `Secret` values (`password` or
 * `password_file`, never both); relative paths resolve against the configuration file.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  byteSize, defineSection, exclusiveSecret, filePath, hostPort, httpUrl, labelSet, positiveDuration, regex, secret, secretFile, z,
} from '../config/index.ts';
import { Labels } from '../model/index.ts';

/** Kinds of probe, as they appear as keys of the `probes:` section. */
export const PROBE_TYPES = ['http', 'tcp', 'postgres', 'redis', 'host', 'container', 'log'] as const;
export type ProbeType = (typeof PROBE_TYPES)[number];

/** Default `job` label per kind (what the equivalent exporter's job is usually called). */
export const DEFAULT_JOBS: Record<ProbeType, string> = {
  http: 'blackbox',
  tcp: 'blackbox',
  postgres: 'postgres',
  redis: 'redis',
  host: 'node',
  container: 'cadvisor',
  log: 'log',
};

export const DEFAULT_INTERVAL_MS = 15_000;
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Debian's node_exporter 1.5 defaults for the filesystem collector. */
export const DEFAULT_MOUNT_POINTS_EXCLUDE = '^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)';
export const DEFAULT_FS_TYPES_EXCLUDE =
  '^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$';

const RESERVED_LABELS = new Set(['job', 'instance', '__name__']);

function existingFile() {
  return filePath().superRefine((p, ctx) => {
    if (!existsSync(p)) ctx.addIssue({ code: 'custom', message: `file ${JSON.stringify(p)} does not exist` });
  });
}

/** Prometheus' `tls_config` (the subset a client needs). */
const tlsConfig = z.strictObject({
  ca_file: existingFile().optional(),
  cert_file: existingFile().optional(),
  key_file: existingFile().optional(),
  server_name: z.string().min(1).optional(),
  insecure_skip_verify: z.boolean().default(false),
  min_version: z.enum(['TLS10', 'TLS11', 'TLS12', 'TLS13']).optional(),
}).superRefine((t, ctx) => {
  if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'cert_file and key_file must be set together', path: [t.cert_file === undefined ? 'cert_file' : 'key_file'] });
  }
});
export type TlsConfig = z.output<typeof tlsConfig>;

const ipProtocol = z.enum(['ip4', 'ip6']);

/** Static labels; `job`, `instance` and `__name__` have keys of their own. */
function probeLabels() {
  return labelSet().superRefine((labels, ctx) => {
    for (const name of labels.names()) {
      if (RESERVED_LABELS.has(name)) {
        ctx.addIssue({ code: 'custom', message: `label ${JSON.stringify(name)} is reserved: ${name === '__name__' ? 'it is the metric name' : `use the ${name} key instead`}`, path: [name] });
      }
    }
  });
}

/** Keys every probe entry accepts. */
const common = {
  /** The `job` label (default per kind, see DEFAULT_JOBS). */
  job: z.string().min(1).optional(),
  /** The `instance` label (default: the target). */
  instance: z.string().min(1).optional(),
  /** How often the probe runs (default: probes.interval). */
  interval: positiveDuration().optional(),
  /** Upper bound on one run (default: the smaller of probes.timeout and the interval). */
  timeout: positiveDuration().optional(),
  /** Extra labels on every sample of this probe. */
  labels: probeLabels().optional(),
  /** A failing critical probe makes `/health/detailed` fail (otherwise it warns). */
  critical: z.boolean().default(false),
};

const headerMatch = z.strictObject({
  header: z.string().min(1),
  regexp: regex(),
  allow_missing: z.boolean().default(false),
});

const jsonMatch = z
  .strictObject({
    /** Dotted path into the JSON body: `status`, `checks.database.status`, `items[0].name`. */
    path: z.string().min(1),
    /** The field must equal this value (compared as JSON scalars). */
    equals: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    /** The field, as text, must match this RE2 regular expression (unanchored). */
    matches: regex().optional(),
  })
  .superRefine((m, ctx) => {
    if (m.equals !== undefined && m.matches !== undefined) ctx.addIssue({ code: 'custom', message: 'at most one of equals and matches may be set', path: ['matches'] });
    try {
      parseJsonPath(m.path);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message, path: ['path'] });
    }
  });

const basicAuth = z
  .strictObject({ username: z.string().min(1), password: secret().optional(), password_file: secretFile().optional() })
  .superRefine((o, ctx) => exclusiveSecret(o, 'password', ctx));

const httpProbe = z
  .strictObject({
    ...common,
    url: httpUrl(),
    method: z.string().regex(/^[A-Za-z]+$/, 'must be an HTTP method such as GET').transform((m) => m.toUpperCase()).default('GET'),
    headers: z.record(z.string().min(1), z.string()).default({}),
    body: z.string().optional(),
    body_file: existingFile().optional(),
    /** Accepted status codes; empty means 2xx (blackbox_exporter's default). */
    valid_status_codes: z.array(z.number().int().min(100).max(599)).default([]),
    /** Accepted versions such as `HTTP/1.1`; empty accepts any. */
    valid_http_versions: z.array(z.string().regex(/^HTTP\/\d(\.\d)?$/, 'must look like HTTP/1.1')).default([]),
    follow_redirects: z.boolean().default(true),
    max_redirects: z.number().int().min(0).max(100).default(10),
    fail_if_ssl: z.boolean().default(false),
    fail_if_not_ssl: z.boolean().default(false),
    fail_if_body_matches_regexp: z.array(regex()).default([]),
    fail_if_body_not_matches_regexp: z.array(regex()).default([]),
    fail_if_header_matches: z.array(headerMatch).default([]),
    fail_if_header_not_matches: z.array(headerMatch).default([]),
    /** Vigil's JSON check: every listed field must exist (and equal / match when given). */
    fail_if_body_json_not_matches: z.array(jsonMatch).default([]),
    basic_auth: basicAuth.optional(),
    bearer_token: secret().optional(),
    bearer_token_file: secretFile().optional(),
    tls_config: tlsConfig.optional(),
    /** Largest body read (bytes, uncompressed); a larger body fails the probe. 0 = no limit. */
    body_size_limit: byteSize().default(0),
    preferred_ip_protocol: ipProtocol.default('ip4'),
    ip_protocol_fallback: z.boolean().default(true),
  })
  .superRefine((o, ctx) => {
    exclusiveSecret(o, 'bearer_token', ctx);
    try {
      const u = new URL(o.url);
      if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'credentials in the url would show in labels and logs: use basic_auth with password_file', path: ['url'] });
    } catch {
      // httpUrl() reported it
    }
    if (o.body !== undefined && o.body_file !== undefined) ctx.addIssue({ code: 'custom', message: 'at most one of body and body_file may be set', path: ['body_file'] });
    if (o.basic_auth && (o.bearer_token || o.bearer_token_file)) ctx.addIssue({ code: 'custom', message: 'at most one of basic_auth and bearer_token may be set', path: ['bearer_token'] });
    if (o.fail_if_ssl && o.fail_if_not_ssl) ctx.addIssue({ code: 'custom', message: 'fail_if_ssl and fail_if_not_ssl cannot both be true', path: ['fail_if_not_ssl'] });
  });
export type HttpProbeConfig = z.output<typeof httpProbe>;

const tcpProbe = z.strictObject({
  ...common,
  address: hostPort(),
  tls: z.boolean().default(false),
  tls_config: tlsConfig.optional(),
  preferred_ip_protocol: ipProtocol.default('ip4'),
  ip_protocol_fallback: z.boolean().default(true),
  /** blackbox_exporter's query_response: wait for a line matching `expect`, write `send` + "\n". */
  query_response: z
    .array(z.strictObject({ expect: regex().optional(), send: z.string().optional() }).refine((s) => s.expect !== undefined || s.send !== undefined, { message: 'each step needs expect or send' }))
    .default([]),
});
export type TcpProbeConfig = z.output<typeof tcpProbe>;

const sslModes = z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']);

const postgresProbe = z
  .strictObject({
    ...common,
    /** `postgresql://user@host:port/database?sslmode=disable` (no password: use password or password_file). */
    dsn: z.string().optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    database: z.string().min(1).optional(),
    password: secret().optional(),
    password_file: secretFile().optional(),
    sslmode: sslModes.optional(),
    tls_config: tlsConfig.optional(),
    /** Top-N statements of pg_stat_statements by mean execution time. */
    statements: z
      .strictObject({
        enabled: z.boolean().default(true),
        limit: z.number().int().min(1).max(100).default(10),
        /** Statements called fewer times are ignored (one-off maintenance queries). */
        min_calls: z.number().int().min(1).default(1),
        /** Characters of normalised query text kept in the `query` label; 0 drops the label. */
        query_length: z.number().int().min(0).max(1000).default(120),
      })
      .prefault({}),
  })
  .superRefine((o, ctx) => {
    exclusiveSecret(o, 'password', ctx);
    if (o.dsn !== undefined) {
      for (const k of ['host', 'port', 'user', 'database', 'sslmode'] as const) {
        if (o[k] !== undefined) ctx.addIssue({ code: 'custom', message: `${k} cannot be combined with dsn (put it in the dsn)`, path: [k] });
      }
      try {
        const d = parsePostgresDsn(o.dsn);
        if (d.hasPassword) ctx.addIssue({ code: 'custom', message: 'the dsn must not contain a password: use password or password_file', path: ['dsn'] });
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message, path: ['dsn'] });
      }
    }
  });
export type PostgresProbeConfig = z.output<typeof postgresProbe>;

const redisProbe = z
  .strictObject({
    ...common,
    address: hostPort().default('127.0.0.1:6379'),
    username: z.string().min(1).optional(),
    password: secret().optional(),
    password_file: secretFile().optional(),
    db: z.number().int().min(0).default(0),
    tls: z.boolean().default(false),
    tls_config: tlsConfig.optional(),
  })
  .superRefine((o, ctx) => exclusiveSecret(o, 'password', ctx));
export type RedisProbeConfig = z.output<typeof redisProbe>;

const hostProbe = z.strictObject({
  ...common,
  /** Where procfs is mounted (node_exporter's --path.procfs). */
  procfs: z.string().min(1).default('/proc'),
  /** Prefix stripped from mount points (node_exporter's --path.rootfs). */
  rootfs: z.string().min(1).default('/'),
  /** Mount points / filesystem types to leave out (RE2, unanchored, as node_exporter matches them). */
  mount_points_exclude: regex().default(DEFAULT_MOUNT_POINTS_EXCLUDE),
  fs_types_exclude: regex().default(DEFAULT_FS_TYPES_EXCLUDE),
  /** Network devices to leave out (RE2, unanchored like node_exporter's); unset keeps all. */
  network_devices_exclude: regex().optional(),
});
export type HostProbeConfig = z.output<typeof hostProbe>;

const containerProbe = z.strictObject({
  ...common,
  /** The Docker Engine API's unix socket. */
  socket: z.string().min(1).default('/var/run/docker.sock'),
  /** Engine API version prefix (e.g. `1.41`); unset uses the engine's own version. */
  api_version: z.string().regex(/^\d+\.\d+$/, 'must look like 1.41').optional(),
  /** Container names (without the leading /) to keep / leave out (RE2, anchored). */
  include: regex().default('.+'),
  exclude: regex().optional(),
  /** Also report stopped containers (their state, restarts, health). */
  all: z.boolean().default(true),
  /** Read CPU, memory and network figures of running containers (one stats call each). */
  stats: z.boolean().default(true),
  /** Docker labels copied into `container_label_<name>` labels, as cAdvisor does. */
  container_labels: z.array(z.string().min(1)).default([]),
  /** Fail the probe when a kept container is not running or is unhealthy. */
  require_running: z.boolean().default(false),
});
export type ContainerProbeConfig = z.output<typeof containerProbe>;

const logProbe = z.strictObject({
  ...common,
  /** Paths; `*`, `?` and `[...]` may appear in any path element (no `**`). */
  files: z.array(filePath()).min(1),
  /** Pattern name (the `pattern` label) → RE2 regular expression, unanchored. */
  patterns: z.record(z.string().min(1), regex()).refine((r) => Object.keys(r).length > 0, { message: 'must have at least one pattern' }),
  /** Where to start in a file that exists when the probe starts. */
  start_at: z.enum(['end', 'beginning']).default('end'),
  /** Upper bound on bytes read per file per run (the rest is read on the next runs). */
  max_read_bytes: byteSize().default(64 * 1024 * 1024),
});
export type LogProbeConfig = z.output<typeof logProbe>;

const sectionSchema = z
  .strictObject({
    /** Default interval of every probe. */
    interval: positiveDuration().default(DEFAULT_INTERVAL_MS),
    /** Default timeout of every probe (capped by the probe's interval). */
    timeout: positiveDuration().default(DEFAULT_TIMEOUT_MS),
    /** Labels added to the samples of every probe. */
    labels: probeLabels().default(Labels.EMPTY),
    http: z.array(httpProbe).default([]),
    tcp: z.array(tcpProbe).default([]),
    postgres: z.array(postgresProbe).default([]),
    redis: z.array(redisProbe).default([]),
    host: z.array(hostProbe).default([]),
    container: z.array(containerProbe).default([]),
    log: z.array(logProbe).default([]),
  })
  .superRefine((s, ctx) => {
    const seen = new Map<string, string>();
    for (const type of PROBE_TYPES) {
      const list = s[type] as ReadonlyArray<ProbeEntry & Record<string, unknown>>;
      list.forEach((entry, i) => {
        const interval = entry.interval ?? s.interval;
        if (entry.timeout !== undefined && entry.timeout > interval) {
          ctx.addIssue({ code: 'custom', message: `timeout (${entry.timeout / 1000}s) is greater than the interval (${interval / 1000}s)`, path: [type, i, 'timeout'] });
        }
        const { job, instance } = probeIdentity(type, entry);
        const key = `${job}\xff${instance}`;
        const prev = seen.get(key);
        if (prev) {
          ctx.addIssue({ code: 'custom', message: `duplicate probe: job ${JSON.stringify(job)} and instance ${JSON.stringify(instance)} are already used by ${prev} (set instance or job to tell them apart)`, path: [type, i] });
        } else seen.set(key, `${type}[${i}]`);
      });
    }
  })
  .prefault({});

/** The `probes:` section. Register it in app.ts's `configSections()`. */
export const probesSection = defineSection('probes', sectionSchema);
export type ProbesConfig = z.output<typeof sectionSchema>;

/** The keys every entry has (after parsing). */
export interface ProbeEntry {
  job?: string;
  instance?: string;
  interval?: number;
  timeout?: number;
  labels?: Labels;
  critical: boolean;
}

export type ProbeConfigOf<T extends ProbeType> = ProbesConfig[T][number];

/** The `job` and `instance` labels of an entry, defaults applied. */
export function probeIdentity(type: ProbeType, entry: ProbeEntry & Record<string, unknown>): { job: string; instance: string } {
  return { job: entry.job ?? DEFAULT_JOBS[type], instance: entry.instance ?? defaultInstance(type, entry) };
}

function defaultInstance(type: ProbeType, entry: Record<string, unknown>): string {
  switch (type) {
    case 'http':
      return String(entry.url);
    case 'tcp':
      return String(entry.address);
    case 'redis':
      return String(entry.address);
    case 'postgres': {
      const c = postgresTarget(entry as PostgresProbeConfig);
      return `${c.host}:${c.port}/${c.database}`;
    }
    default:
      return hostname();
  }
}

/** Connection parameters of a postgres probe (dsn or discrete keys), without the password. */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  sslmode: z.output<typeof sslModes>;
}

export function postgresTarget(c: Pick<PostgresProbeConfig, 'dsn' | 'host' | 'port' | 'user' | 'database' | 'sslmode'>): PostgresTarget {
  const fromDsn = c.dsn !== undefined ? parsePostgresDsn(c.dsn) : undefined;
  const user = fromDsn?.user ?? c.user ?? 'postgres';
  return {
    host: fromDsn?.host ?? c.host ?? '127.0.0.1',
    port: fromDsn?.port ?? c.port ?? 5432,
    user,
    database: fromDsn?.database ?? c.database ?? 'postgres',
    sslmode: fromDsn?.sslmode ?? c.sslmode ?? 'prefer',
  };
}

/** Parses `postgres[ql]://[user[:password]@]host[:port][/database][?sslmode=...]`. */
export function parsePostgresDsn(dsn: string): { host?: string; port?: number; user?: string; database?: string; sslmode?: z.output<typeof sslModes>; hasPassword: boolean } {
  let u: URL;
  try {
    u = new URL(dsn);
  } catch {
    throw new Error('the dsn must be a URL such as postgresql://user@host:5432/database');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`the dsn must start with postgresql:// (got ${JSON.stringify(u.protocol)})`);
  const out: ReturnType<typeof parsePostgresDsn> = { hasPassword: u.password !== '' };
  if (u.hostname) out.host = decodeURIComponent(u.hostname.replace(/^\[|\]$/g, ''));
  if (u.port) out.port = Number(u.port);
  if (u.username) out.user = decodeURIComponent(u.username);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (db) out.database = db;
  for (const [k, v] of u.searchParams) {
    if (k === 'sslmode') {
      const r = sslModes.safeParse(v);
      if (!r.success) throw new Error(`sslmode must be one of ${sslModes.options.join(', ')} (got ${JSON.stringify(v)})`);
      out.sslmode = r.data;
    } else throw new Error(`unsupported dsn parameter ${JSON.stringify(k)} (supported: sslmode)`);
  }
  return out;
}

/** One step of a JSON path: an object key or an array index. */
export type JsonPathStep = string | number;

/** Parses `a.b[0].c` (keys may be quoted: `["a.b"]`). Throws with a message naming the problem. */
export function parseJsonPath(path: string): JsonPathStep[] {
  const steps: JsonPathStep[] = [];
  let i = 0;
  const bad = (why: string) => new Error(`invalid JSON path ${JSON.stringify(path)}: ${why} at offset ${i}`);
  while (i < path.length) {
    const c = path[i]!;
    if (c === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) throw bad('missing ]');
      const inner = path.slice(i + 1, close);
      if (/^\d+$/.test(inner)) steps.push(Number(inner));
      else if (/^"(?:[^"\\]|\\.)*"$/.test(inner)) steps.push(JSON.parse(inner) as string);
      else throw bad('expected an index or a quoted key inside [ ]');
      i = close + 1;
      if (path[i] === '.') {
        i++;
        if (i >= path.length) throw bad('trailing .');
      }
      continue;
    }
    if (c === '.') throw bad('empty key');
    let j = i;
    while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
    steps.push(path.slice(i, j));
    i = j;
    if (path[i] === '.') {
      i++;
      if (i >= path.length) throw bad('trailing .');
    }
  }
  if (steps.length === 0) throw bad('empty path');
  return steps;
}

