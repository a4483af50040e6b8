/**
 * The redis probe: redis_exporter's metric names (1.45, the Debian peer). Each run connects,
 * times the connection and a PING (`redis_exporter_last_scrape_*_time_seconds`), reads
 * `INFO ALL` and `CONFIG GET databases`, and disconnects, as the exporter does per scrape.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../model/index.ts';
import type { RedisProbeConfig } from './config.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable, MetricType, ProbeContext, ProbeOutcome, Prober } from './types.ts';

/** INFO field → [metric name without the `redis_` prefix, type, factor]. */
const INFO_FIELDS: Record<string, readonly [string, MetricType, number?]> = {
  // Server
  uptime_in_seconds: ['uptime_in_seconds', 'gauge'],
  process_id: ['process_id', 'gauge'],
  io_threads_active: ['io_threads_active', 'gauge'],
  // Clients
  connected_clients: ['connected_clients', 'gauge'],
  blocked_clients: ['blocked_clients', 'gauge'],
  tracking_clients: ['tracking_clients', 'gauge'],
  clients_in_timeout_table: ['clients_in_timeout_table', 'gauge'],
  client_recent_max_input_buffer: ['client_recent_max_input_buffer_bytes', 'gauge'],
  client_recent_max_output_buffer: ['client_recent_max_output_buffer_bytes', 'gauge'],
  // Memory
  used_memory: ['memory_used_bytes', 'gauge'],
  used_memory_rss: ['memory_used_rss_bytes', 'gauge'],
  used_memory_peak: ['memory_used_peak_bytes', 'gauge'],
  used_memory_lua: ['memory_used_lua_bytes', 'gauge'],
  used_memory_overhead: ['memory_used_overhead_bytes', 'gauge'],
  used_memory_startup: ['memory_used_startup_bytes', 'gauge'],
  used_memory_dataset: ['memory_used_dataset_bytes', 'gauge'],
  used_memory_scripts: ['memory_used_scripts_bytes', 'gauge'],
  maxmemory: ['memory_max_bytes', 'gauge'],
  mem_fragmentation_ratio: ['mem_fragmentation_ratio', 'gauge'],
  mem_fragmentation_bytes: ['mem_fragmentation_bytes', 'gauge'],
  mem_clients_normal: ['mem_clients_normal', 'gauge'],
  mem_clients_slaves: ['mem_clients_slaves', 'gauge'],
  mem_not_counted_for_evict: ['mem_not_counted_for_eviction_bytes', 'gauge'],
  lazyfree_pending_objects: ['lazyfree_pending_objects', 'gauge'],
  active_defrag_running: ['active_defrag_running', 'gauge'],
  // Persistence
  loading: ['loading_dump_file', 'gauge'],
  rdb_changes_since_last_save: ['rdb_changes_since_last_save', 'gauge'],
  rdb_bgsave_in_progress: ['rdb_bgsave_in_progress', 'gauge'],
  rdb_last_save_time: ['rdb_last_save_timestamp_seconds', 'gauge'],
  rdb_last_bgsave_status: ['rdb_last_bgsave_status', 'gauge'],
  rdb_last_bgsave_time_sec: ['rdb_last_bgsave_duration_sec', 'gauge'],
  rdb_current_bgsave_time_sec: ['rdb_current_bgsave_duration_sec', 'gauge'],
  aof_enabled: ['aof_enabled', 'gauge'],
  aof_rewrite_in_progress: ['aof_rewrite_in_progress', 'gauge'],
  aof_rewrite_scheduled: ['aof_rewrite_scheduled', 'gauge'],
  aof_last_rewrite_time_sec: ['aof_last_rewrite_duration_sec', 'gauge'],
  aof_current_rewrite_time_sec: ['aof_current_rewrite_duration_sec', 'gauge'],
  aof_last_bgrewrite_status: ['aof_last_bgrewrite_status', 'gauge'],
  aof_last_write_status: ['aof_last_write_status', 'gauge'],
  // Stats
  total_connections_received: ['connections_received_total', 'counter'],
  total_commands_processed: ['commands_processed_total', 'counter'],
  total_net_input_bytes: ['net_input_bytes_total', 'counter'],
  total_net_output_bytes: ['net_output_bytes_total', 'counter'],
  rejected_connections: ['rejected_connections_total', 'counter'],
  expired_keys: ['expired_keys_total', 'counter'],
  evicted_keys: ['evicted_keys_total', 'counter'],
  keyspace_hits: ['keyspace_hits_total', 'counter'],
  keyspace_misses: ['keyspace_misses_total', 'counter'],
  pubsub_channels: ['pubsub_channels', 'gauge'],
  pubsub_patterns: ['pubsub_patterns', 'gauge'],
  latest_fork_usec: ['latest_fork_seconds', 'gauge', 1e-6],
  expired_stale_perc: ['expired_stale_percentage', 'gauge'],
  expired_time_cap_reached_count: ['expired_time_cap_reached_total', 'gauge'],
  total_error_replies: ['total_error_replies', 'counter'],
  unexpected_error_replies: ['unexpected_error_replies', 'counter'],
  total_reads_processed: ['total_reads_processed', 'counter'],
  total_writes_processed: ['total_writes_processed', 'counter'],
  // Ops per second as Redis computes it (not in redis_exporter 1.45: use rate(redis_commands_processed_total) there).
  instantaneous_ops_per_sec: ['instantaneous_ops_per_sec', 'gauge'],
  // Replication
  connected_slaves: ['connected_slaves', 'gauge'],
  master_repl_offset: ['master_repl_offset', 'gauge'],
  repl_backlog_active: ['repl_backlog_is_active', 'gauge'],
  repl_backlog_size: ['replication_backlog_bytes', 'gauge'],
  master_last_io_seconds_ago: ['master_last_io_seconds_ago', 'gauge'],
  master_link_down_since_seconds: ['master_link_down_since_seconds', 'gauge'],
  // CPU
  used_cpu_sys: ['cpu_sys_seconds_total', 'counter'],
  used_cpu_user: ['cpu_user_seconds_total', 'counter'],
  used_cpu_sys_children: ['cpu_sys_children_seconds_total', 'counter'],
  used_cpu_user_children: ['cpu_user_children_seconds_total', 'counter'],
  used_cpu_sys_main_thread: ['cpu_sys_main_thread_seconds_total', 'counter'],
  used_cpu_user_main_thread: ['cpu_user_main_thread_seconds_total', 'counter'],
  // Cluster
  cluster_enabled: ['cluster_enabled', 'gauge'],
};

const INSTANCE_INFO_FIELDS = ['role', 'redis_version', 'redis_build_id', 'redis_mode', 'os', 'maxmemory_policy', 'tcp_port', 'run_id', 'process_id'];

export const REDIS_METADATA: MetadataTable = {
  redis_up: ['gauge', 'Information about the Redis instance'],
  redis_instance_info: ['gauge', 'Information about the Redis instance'],
  redis_start_time_seconds: ['gauge', 'Start time of the Redis instance since unix epoch in seconds.'],
  redis_exporter_last_scrape_connect_time_seconds: ['gauge', 'exporter_last_scrape_connect_time_seconds metric'],
  redis_exporter_last_scrape_ping_time_seconds: ['gauge', 'exporter_last_scrape_ping_time_seconds metric'],
  redis_exporter_last_scrape_duration_seconds: ['gauge', 'exporter_last_scrape_duration_seconds metric'],
  redis_db_keys: ['gauge', 'Total number of keys by DB'],
  redis_db_keys_expiring: ['gauge', 'Total number of expiring keys by DB'],
  redis_db_avg_ttl_seconds: ['gauge', 'Avg TTL in seconds'],
  redis_commands_total: ['counter', 'Total number of calls per command'],
  redis_commands_duration_seconds_total: ['counter', 'Total amount of time in seconds spent per command'],
  redis_commands_rejected_calls_total: ['counter', 'Total number of errors within command execution per command'],
  redis_commands_failed_calls_total: ['counter', 'Total number of errors prior command execution per command'],
  ...Object.fromEntries(Object.values(INFO_FIELDS).map(([name, type]) => [`redis_${name}`, [type, `${name} metric`] as const])),
};

/** Parses INFO output into sections of field → value. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** `keys=1,expires=0,avg_ttl=0` → {keys: 1, ...} */
function parseKv(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export class RedisProber implements Prober {
  private readonly host: string;
  private readonly port: number;

  constructor(private readonly cfg: RedisProbeConfig) {
    const i = cfg.address.lastIndexOf(':');
    this.host = cfg.address.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
    this.port = Number(cfg.address.slice(i + 1));
  }

  async run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome> {
    const t0 = performance.now();
    const cfg = this.cfg;
    const secret = cfg.password ?? cfg.password_file;
    const opts: RedisOptions = {
      host: this.host,
      port: this.port,
      lazyConnect: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      reconnectOnError: () => false,
      enableReadyCheck: false,
      connectTimeout: ctx.timeoutMs,
      commandTimeout: ctx.timeoutMs,
      connectionName: 'vigil-probe',
      showFriendlyErrorStack: false,
    };
    if (cfg.tls) {
      const t = cfg.tls_config;
      opts.tls = {
        rejectUnauthorized: !(t?.insecure_skip_verify ?? false),
        ...(t?.ca_file ? { ca: readFileSync(t.ca_file) } : {}),
        ...(t?.cert_file ? { cert: readFileSync(t.cert_file) } : {}),
        ...(t?.key_file ? { key: readFileSync(t.key_file) } : {}),
        ...(t?.server_name ? { servername: t.server_name } : {}),
      };
    }
    // ioredis is loaded by the first Redis probe, not at start-up (it costs ~45 ms and a few MB).
    const { Redis: RedisClient } = await import('ioredis');
    let client: Redis | undefined;
    const onAbort = () => client?.disconnect();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let lastError: string | undefined;
    try {
      client = new RedisClient(opts);
      client.on('error', (e: Error) => {
        lastError = errorMessage(e);
      });
      const tConnect = performance.now();
      await client.connect();
      // AUTH and SELECT by hand: ioredis only warns when a password is given to a server
      // without one, where redis_exporter (and any careful client) fails.
      if (secret) {
        const pw = secret.reveal();
        await client.call('AUTH', ...(cfg.username ? [cfg.username, pw] : [pw]));
      } else if (cfg.username) {
        throw new Error('username is set without a password');
      }
      if (cfg.db !== 0) await client.select(cfg.db);
      out.add('redis_exporter_last_scrape_connect_time_seconds', (performance.now() - tConnect) / 1000);
      const tPing = performance.now();
      await client.ping();
      out.add('redis_exporter_last_scrape_ping_time_seconds', (performance.now() - tPing) / 1000);
      const infoText = await client.info('all');
      let databases = 16;
      try {
        const cfgDb = (await client.config('GET', 'databases')) as string[];
        if (cfgDb[1] !== undefined) databases = Number(cfgDb[1]) || databases;
      } catch {
        // CONFIG may be renamed or forbidden by ACLs: report the databases INFO lists.
        databases = 0;
      }
      this.emitInfo(out, parseInfo(infoText), databases, ctx.now());
      out.add('redis_up', 1);
      out.add('redis_exporter_last_scrape_duration_seconds', (performance.now() - t0) / 1000);
      return { success: true };
    } catch (e) {
      out.add('redis_up', 0);
      out.add('redis_exporter_last_scrape_duration_seconds', (performance.now() - t0) / 1000);
      const msg = ctx.signal.aborted ? `timed out after ${ctx.timeoutMs / 1000}s` : redisError(e, lastError);
      return { success: false, error: `redis ${cfg.address}: ${msg}` };
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      client?.disconnect();
    }
  }

  private emitInfo(out: SampleBuffer, info: Map<string, string>, databases: number, nowMs: number): void {
    for (const [field, raw] of info) {
      const m = INFO_FIELDS[field];
      if (m) {
        const v = infoValue(field, raw);
        if (v !== undefined) out.add(`redis_${m[0]}`, m[2] !== undefined ? v * m[2] : v);
        continue;
      }
      if (field.startsWith('cmdstat_')) {
        const cmd = field.slice(8);
        const kv = parseKv(raw);
        const labels = ['cmd', cmd];
        if (kv.calls !== undefined) out.add('redis_commands_total', Number(kv.calls), labels);
        if (kv.usec !== undefined) out.add('redis_commands_duration_seconds_total', Number(kv.usec) / 1e6, labels);
        if (kv.rejected_calls !== undefined) out.add('redis_commands_rejected_calls_total', Number(kv.rejected_calls), labels);
        if (kv.failed_calls !== undefined) out.add('redis_commands_failed_calls_total', Number(kv.failed_calls), labels);
      }
    }
    // Keyspace: every configured database, zero when INFO does not list it (as the exporter does).
    const seen = new Set<number>();
    for (const [field, raw] of info) {
      const m = /^db(\d+)$/.exec(field);
      if (!m) continue;
      const n = Number(m[1]);
      seen.add(n);
      const kv = parseKv(raw);
      const labels = ['db', `db${n}`];
      out.add('redis_db_keys', Number(kv.keys ?? 0), labels);
      out.add('redis_db_keys_expiring', Number(kv.expires ?? 0), labels);
      if (kv.avg_ttl !== undefined) out.add('redis_db_avg_ttl_seconds', Number(kv.avg_ttl) / 1000, labels);
    }
    for (let n = 0; n < databases; n++) {
      if (seen.has(n)) continue;
      out.add('redis_db_keys', 0, ['db', `db${n}`]);
      out.add('redis_db_keys_expiring', 0, ['db', `db${n}`]);
    }
    const uptime = Number(info.get('uptime_in_seconds'));
    if (Number.isFinite(uptime)) out.add('redis_start_time_seconds', Math.floor(nowMs / 1000) - uptime);
    const labels: string[] = [];
    for (const f of INSTANCE_INFO_FIELDS) labels.push(f, info.get(f) ?? '');
    out.add('redis_instance_info', 1, labels);
  }

  close(): void {}
}

/** Numeric value of an INFO field; `ok`/`err` statuses become 1/0 as in the exporter. */
function infoValue(field: string, raw: string): number | undefined {
  if (field.endsWith('_status')) return raw === 'ok' ? 1 : 0;
  const v = Number(raw);
  return Number.isFinite(v) ? v : undefined;
}

function redisError(e: unknown, lastEventError: string | undefined): string {
  const msg = errorMessage(e);
  // ioredis reports a refused connection as "Connection is closed." and the cause on 'error'.
  if (lastEventError && /Connection is closed|Stream isn't writeable/i.test(msg)) return lastEventError;
  return msg;
}
