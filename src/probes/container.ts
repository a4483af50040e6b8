/**
 * The container probe: the Docker Engine API over its unix socket, reported with cAdvisor's
 * metric names and labels (`id="/docker/<id>"`, `name`, `image`, `container_label_*`) for
 * CPU, memory, network and start time, plus container state, restarts and health status.
 *
 * Per run: `GET /containers/json?all=1`, then per kept container `GET /containers/{id}/json`
 * and, for running ones, `GET /containers/{id}/stats?stream=false&one-shot=true` (at most
 * four requests at a time). A container that disappears has its series marked stale.
 */
import http from 'node:http';
import { compileAnchoredRe2, errorMessage } from '../model/index.ts';
import type { ContainerProbeConfig } from './config.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable, ProbeContext, ProbeOutcome, Prober } from './types.ts';

/** The `State.Status` values of the Engine API. */
export const CONTAINER_STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'] as const;
/** `State.Health.Status` values, plus `none` for a container without a health check. */
export const HEALTH_STATES = ['starting', 'healthy', 'unhealthy', 'none'] as const;

const NET_FIELDS: ReadonlyArray<readonly [string, string, string]> = [
  ['rx_bytes', 'container_network_receive_bytes_total', 'Cumulative count of bytes received'],
  ['rx_packets', 'container_network_receive_packets_total', 'Cumulative count of packets received'],
  ['rx_errors', 'container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving'],
  ['rx_dropped', 'container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving'],
  ['tx_bytes', 'container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted'],
  ['tx_packets', 'container_network_transmit_packets_total', 'Cumulative count of packets transmitted'],
  ['tx_errors', 'container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting'],
  ['tx_dropped', 'container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting'],
];

export const CONTAINER_METADATA: MetadataTable = {
  container_last_seen: ['gauge', 'Last time a container was seen by the exporter'],
  container_start_time_seconds: ['gauge', 'Start time of the container since unix epoch'],
  container_cpu_usage_seconds_total: ['counter', 'Cumulative cpu time consumed'],
  container_cpu_user_seconds_total: ['counter', 'Cumulative user cpu time consumed'],
  container_cpu_system_seconds_total: ['counter', 'Cumulative system cpu time consumed'],
  container_memory_usage_bytes: ['gauge', 'Current memory usage, including all memory regardless of when it was accessed'],
  container_memory_working_set_bytes: ['gauge', 'Current working set'],
  container_memory_rss: ['gauge', 'Size of RSS'],
  container_memory_cache: ['gauge', 'Total page cache memory'],
  container_spec_memory_limit_bytes: ['gauge', 'Memory limit for the container'],
  container_processes: ['gauge', 'Number of processes running inside the container'],
  container_state: ['gauge', 'Vigil: 1 for the container state the Docker engine reports (State.Status), 0 for the others'],
  container_health_status: ['gauge', 'Vigil: 1 for the health status the Docker engine reports (State.Health.Status, none without a health check), 0 for the others'],
  container_restarts_total: ['counter', 'Vigil: number of restarts by the Docker engine (RestartCount)'],
  container_exit_code: ['gauge', 'Vigil: exit code of the last run of the container (State.ExitCode)'],
  container_oom_killed: ['gauge', 'Vigil: 1 when the last run of the container was killed for running out of memory (State.OOMKilled)'],
  ...Object.fromEntries(NET_FIELDS.map(([, name, help]) => [name, ['counter', help] as const])),
};

/** GET /containers/json item (the fields used). */
interface ContainerSummary {
  Id: string;
  Names?: string[];
  Image?: string;
  State?: string;
  Labels?: Record<string, string> | null;
}

/** GET /containers/{id}/json (the fields used). */
interface ContainerInspect {
  Id: string;
  Name?: string;
  RestartCount?: number;
  Config?: { Image?: string; Labels?: Record<string, string> | null };
  HostConfig?: { Memory?: number };
  State?: {
    Status?: string;
    Running?: boolean;
    ExitCode?: number;
    OOMKilled?: boolean;
    StartedAt?: string;
    Health?: { Status?: string; FailingStreak?: number } | null;
  };
}

/** GET /containers/{id}/stats?stream=false (the fields used; cgroup v1 and v2 shapes). */
interface ContainerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number; usage_in_usermode?: number; usage_in_kernelmode?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, Record<string, number>>;
  pids_stats?: { current?: number };
}

/** Thrown for a non-2xx answer or an unusable body; the message names the request. */
class EngineError extends Error {}

const CONCURRENCY = 4;

export class ContainerProber implements Prober {
  private readonly include: RegExp;
  private readonly exclude: RegExp | undefined;

  constructor(private readonly cfg: ContainerProbeConfig) {
    this.include = compileAnchoredRe2(cfg.include);
    this.exclude = cfg.exclude !== undefined ? compileAnchoredRe2(cfg.exclude) : undefined;
  }

  async run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome> {
    let list: ContainerSummary[];
    try {
      list = await this.get<ContainerSummary[]>(`/containers/json?all=${this.cfg.all ? 1 : 0}`, ctx.signal);
      if (!Array.isArray(list)) throw new EngineError('GET /containers/json did not return a list');
    } catch (e) {
      return { success: false, error: this.explain(e, ctx) };
    }
    const kept = list.filter((c) => {
      const name = containerName(c.Names?.[0]);
      return typeof c.Id === 'string' && this.include.test(name) && !(this.exclude?.test(name) ?? false);
    });
    const problems: string[] = [];
    const errors: string[] = [];
    const nowS = ctx.now() / 1000;
    let next = 0;
    const worker = async () => {
      while (next < kept.length) {
        const c = kept[next++]!;
        try {
          await this.one(c, out, nowS, ctx.signal, problems);
        } catch (e) {
          // A container removed between the list and the inspect is not an error.
          if (e instanceof EngineError && /\b404\b/.test(e.message)) continue;
          errors.push(`${containerName(c.Names?.[0])}: ${this.explain(e, ctx)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, kept.length) }, worker));
    if (errors.length) return { success: false, error: errors.sort().join('; ') };
    if (this.cfg.require_running && problems.length) return { success: false, error: problems.sort().join('; ') };
    return problems.length ? { success: true, info: problems.sort() } : { success: true };
  }

  private async one(c: ContainerSummary, out: SampleBuffer, nowS: number, signal: AbortSignal, problems: string[]): Promise<void> {
    const inspect = await this.get<ContainerInspect>(`/containers/${encodeURIComponent(c.Id)}/json`, signal);
    const name = containerName(inspect.Name ?? c.Names?.[0]);
    const labels = ['id', `/docker/${c.Id}`, 'image', inspect.Config?.Image ?? c.Image ?? '', 'name', name];
    const dockerLabels = inspect.Config?.Labels ?? c.Labels ?? {};
    for (const l of this.cfg.container_labels) labels.push(`container_label_${sanitizeLabelName(l)}`, dockerLabels[l] ?? '');

    const state = inspect.State?.Status ?? c.State ?? '';
    for (const s of CONTAINER_STATES) out.add('container_state', s === state ? 1 : 0, [...labels, 'state', s]);
    const health = inspect.State?.Health?.Status || 'none';
    for (const h of HEALTH_STATES) out.add('container_health_status', h === health ? 1 : 0, [...labels, 'health', h]);
    out.add('container_restarts_total', inspect.RestartCount ?? 0, labels);
    out.add('container_exit_code', inspect.State?.ExitCode ?? 0, labels);
    out.add('container_oom_killed', inspect.State?.OOMKilled ? 1 : 0, labels);
    out.add('container_last_seen', nowS, labels);
    out.add('container_spec_memory_limit_bytes', inspect.HostConfig?.Memory ?? 0, labels);
    const started = inspect.State?.StartedAt ? Date.parse(inspect.State.StartedAt) : NaN;
    if (Number.isFinite(started) && started > 0) out.add('container_start_time_seconds', started / 1000, labels);

    if (state !== 'running') problems.push(`container ${name} is ${state || 'in an unknown state'}`);
    else if (health === 'unhealthy') problems.push(`container ${name} is unhealthy (failing streak ${inspect.State?.Health?.FailingStreak ?? '?'})`);

    if (!this.cfg.stats || state !== 'running') return;
    const st = await this.get<ContainerStats>(`/containers/${encodeURIComponent(c.Id)}/stats?stream=false&one-shot=true`, signal);
    const cpu = st.cpu_stats?.cpu_usage;
    if (cpu?.total_usage !== undefined) out.add('container_cpu_usage_seconds_total', cpu.total_usage / 1e9, [...labels, 'cpu', 'total']);
    if (cpu?.usage_in_usermode !== undefined) out.add('container_cpu_user_seconds_total', cpu.usage_in_usermode / 1e9, labels);
    if (cpu?.usage_in_kernelmode !== undefined) out.add('container_cpu_system_seconds_total', cpu.usage_in_kernelmode / 1e9, labels);
    const mem = st.memory_stats;
    if (mem?.usage !== undefined) {
      const s = mem.stats ?? {};
      // cgroup v1 reports total_inactive_file/cache/rss, cgroup v2 inactive_file/file/anon.
      const inactive = s.total_inactive_file ?? s.inactive_file ?? 0;
      out.add('container_memory_usage_bytes', mem.usage, labels);
      out.add('container_memory_working_set_bytes', inactive < mem.usage ? mem.usage - inactive : 0, labels);
      const rss = s.total_rss ?? s.rss ?? s.anon;
      if (rss !== undefined) out.add('container_memory_rss', rss, labels);
      const cache = s.total_cache ?? s.cache ?? s.file;
      if (cache !== undefined) out.add('container_memory_cache', cache, labels);
    }
    if (st.pids_stats?.current !== undefined) out.add('container_processes', st.pids_stats.current, labels);
    for (const [iface, n] of Object.entries(st.networks ?? {})) {
      for (const [field, metric] of NET_FIELDS) {
        const v = n[field];
        if (typeof v === 'number') out.add(metric, v, [...labels, 'interface', iface]);
      }
    }
  }

  private explain(e: unknown, ctx: ProbeContext): string {
    if (ctx.signal.aborted) return `Docker engine at ${this.cfg.socket} did not answer within ${ctx.timeoutMs / 1000}s`;
    if (e instanceof EngineError) return e.message;
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') return `no Docker engine socket at ${this.cfg.socket} (is Docker running, and is the socket mounted?)`;
    if (code === 'EACCES') return `permission denied on ${this.cfg.socket} (add Vigil's user to the docker group)`;
    if (code === 'ECONNREFUSED') return `the Docker engine refused the connection on ${this.cfg.socket}`;
    return `Docker engine at ${this.cfg.socket}: ${errorMessage(e)}`;
  }

  /** GET a JSON document from the engine. */
  private get<T>(path: string, signal: AbortSignal): Promise<T> {
    const full = (this.cfg.api_version ? `/v${this.cfg.api_version}` : '') + path;
    return new Promise<T>((resolve, reject) => {
      const req = http.request({ socketPath: this.cfg.socket, path: full, method: 'GET', headers: { Host: 'docker', Accept: 'application/json' }, signal, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 32 * 1024 * 1024) {
            res.destroy();
            reject(new EngineError(`GET ${full}: the answer is larger than 32 MiB`));
            return;
          }
          chunks.push(c);
        });
        res.once('error', reject);
        res.once('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) {
            let msg = body.trim();
            try {
              msg = (JSON.parse(body) as { message?: string }).message ?? msg;
            } catch {
              // not JSON
            }
            reject(new EngineError(`GET ${full} answered ${status}${msg ? `: ${msg.slice(0, 200)}` : ''}`));
            return;
          }
          try {
            resolve(JSON.parse(body) as T);
          } catch (e) {
            reject(new EngineError(`GET ${full}: the answer is not valid JSON (${errorMessage(e)})`));
          }
        });
      });
      req.once('error', reject);
      req.end();
    });
  }

  close(): void {}
}

function containerName(raw: string | undefined): string {
  return (raw ?? '').replace(/^\//, '');
}

/** Docker label keys (`com.docker.compose.service`) as Prometheus label names, as cAdvisor does. */
export function sanitizeLabelName(s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, '_');
}
