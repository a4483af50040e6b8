/**
 * The scrape manager: one pool per job (its discovery, HTTP client and target loops), applied
 * from configuration and re-applied on reload. A reload keeps a job whose resolved settings did
 * not change exactly as it runs (same loops, caches, schedules); a changed job gets new loops
 * (the old ones stop and write end-of-run stale markers unless the target is scraped again);
 * a removed job's targets go stale. Targets that vanish from discovery go stale the same way.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  errorMessage, fnv1a32, Labels, matchesAll, systemClock, worstStatus,
  type Clock, type HealthCheck, type HealthCheckSink, type HealthResult, type HealthStatus, type Matcher,
} from '../model/index.ts';
import type { Appendable } from '../storage/index.ts';
import { acceptHeader, DEFAULT_ACCEPT_HEADER } from '../exposition/index.ts';
import { discoveryFingerprint, jobFingerprint, type ResolvedJob } from './config.ts';
import { FileDiscovery, StaticDiscovery, type DiscoveryProvider } from './discovery.ts';
import { ScrapeHttpClient } from './http.ts';
import { ScrapeLoop, ScrapeStats, type MetricMetadata, type TargetHealth } from './loop.ts';
import { compileRelabelConfigs, type CompiledRelabel } from './relabel.ts';
import { populateTargetLabels, Target, type TargetGroup } from './target.ts';

export interface ScrapeManagerOptions {
  appendable: Appendable;
  logger: Logger;
  clock?: Clock;
  /** Where per-job health checks are registered (`scrape:<job>`). */
  health?: HealthCheckSink;
  /** Self-metrics registry (`vigil_scrape_*`, `vigil_target_*`). */
  registry?: Registry;
  /** User-Agent of scrapes (default `Vigil/<version>`). */
  userAgent?: string;
  /** Mixed into every target's scrape phase (Prometheus: external labels + hostname). */
  offsetSeed?: number;
}

/** A target as `/api/v1/targets` lists it (times in ms; the API formats them). */
export interface ActiveTargetInfo {
  discoveredLabels: Labels;
  labels: Labels;
  scrapePool: string;
  scrapeUrl: string;
  health: TargetHealth;
  lastError: string;
  /** ms since the epoch, 0 before the first scrape. */
  lastScrape: number;
  lastScrapeDurationMs: number;
  scrapeIntervalMs: number;
  scrapeTimeoutMs: number;
}

export interface DroppedTargetInfo {
  discoveredLabels: Labels;
  scrapePool: string;
}

export interface TargetMetadataEntry {
  target: Labels;
  metric: string;
  type: string;
  help: string;
  unit: string;
}

class ScrapePool {
  readonly loops = new Map<string, ScrapeLoop>();
  dropped: DroppedTargetInfo[] = [];
  private readonly groups = new Map<number, TargetGroup[]>();
  private providers: DiscoveryProvider[] = [];
  discoveryFingerprint: string;
  private discoveryGeneration = 0;
  readonly relabel: CompiledRelabel[];
  readonly metricRelabel: CompiledRelabel[];
  readonly client: ScrapeHttpClient;
  private started = false;
  private stopped = false;

  constructor(
    readonly job: ResolvedJob,
    readonly fingerprint: string,
    private readonly mgr: ScrapeManager,
    private readonly deps: { appendable: Appendable; logger: Logger; clock: Clock; offsetSeed: number; stats: ScrapeStats; userAgent: string },
  ) {
    this.relabel = compileRelabelConfigs(job.config.relabel_configs);
    this.metricRelabel = compileRelabelConfigs(job.config.metric_relabel_configs);
    this.client = new ScrapeHttpClient({
      config: job.config,
      timeoutMs: job.timeoutMs,
      bodySizeLimit: job.bodySizeLimit,
      accept: job.scrapeProtocols ? acceptHeader(job.scrapeProtocols) : DEFAULT_ACCEPT_HEADER,
      userAgent: deps.userAgent,
    });
    this.discoveryFingerprint = discoveryFingerprint(job);
    this.providers = this.makeProviders(job);
  }

  private makeProviders(job: ResolvedJob): DiscoveryProvider[] {
    const out: DiscoveryProvider[] = [];
    if (job.config.static_configs.length > 0) out.push(new StaticDiscovery(job.config.static_configs));
    for (const f of job.config.file_sd_configs) out.push(new FileDiscovery(f.files, f.refresh_interval, this.deps.logger.child({ job: job.name })));
    return out;
  }

  start(): void {
    this.started = true;
    this.startProviders();
    this.sync();
  }

  private startProviders(): void {
    const gen = ++this.discoveryGeneration;
    this.providers.forEach((p, i) =>
      p.start((groups) => {
        if (gen !== this.discoveryGeneration) return;
        this.groups.set(i, groups);
        if (this.started && !this.stopped) this.sync();
      }),
    );
  }

  /** New discovery settings for an otherwise unchanged job: targets that stay keep their loops. */
  replaceDiscovery(job: ResolvedJob): void {
    for (const p of this.providers) p.stop();
    this.groups.clear();
    this.discoveryFingerprint = discoveryFingerprint(job);
    this.providers = this.makeProviders(job);
    this.startProviders();
    this.sync();
  }

  /** Recomputes targets from the discovered groups: new targets start, vanished ones stop. */
  sync(): void {
    if (this.stopped) return;
    const log = this.deps.logger;
    const wanted = new Map<string, Target>();
    const dropped: DroppedTargetInfo[] = [];
    for (const groups of this.groups.values()) {
      for (const g of groups) {
        for (const t of g.targets) {
          const discovered = g.labels.isEmpty() ? t : mergeLabels(g.labels, t);
          let r;
          try {
            r = populateTargetLabels(discovered, this.job, this.relabel);
          } catch (e) {
            log.error({ job: this.job.name, source: g.source, err: errorMessage(e) }, 'Creating target failed');
            continue;
          }
          if (r.error) {
            log.error({ job: this.job.name, source: g.source, target: discovered.toString(), err: r.error }, 'Creating target failed');
            continue;
          }
          if (r.labels === null) {
            dropped.push({ discoveredLabels: r.discovered, scrapePool: this.job.name });
            continue;
          }
          const target = new Target(r.labels, r.discovered, this.job.config.params);
          if (!wanted.has(target.key)) wanted.set(target.key, target);
        }
      }
    }
    this.dropped = dropped;
    for (const [key, loop] of this.loops) {
      if (!wanted.has(key)) {
        this.loops.delete(key);
        this.mgr.retire(loop);
      }
    }
    for (const [key, target] of wanted) {
      if (this.loops.has(key)) continue;
      const loop = new ScrapeLoop({
        target,
        job: this.job,
        client: this.client,
        appendable: this.deps.appendable,
        metricRelabel: this.metricRelabel,
        logger: log,
        clock: this.deps.clock,
        offsetSeed: this.deps.offsetSeed,
        stats: this.deps.stats,
      });
      this.loops.set(key, loop);
      loop.start();
    }
    const limit = this.job.targetLimit;
    const forced = limit > 0 && this.loops.size > limit ? `target_limit exceeded (number of targets: ${this.loops.size}, limit: ${limit})` : undefined;
    for (const loop of this.loops.values()) loop.forcedError = forced;
  }

  /** Stops discovery and hands every loop to `retire` (end-of-run staleness) or stops them outright. */
  stop(retire: boolean): Promise<void> {
    this.stopped = true;
    for (const p of this.providers) p.stop();
    const loops = [...this.loops.values()];
    this.loops.clear();
    if (retire) {
      for (const l of loops) this.mgr.retire(l);
      this.client.close();
      return Promise.resolve();
    }
    return Promise.all(loops.map((l) => l.stop())).then(() => this.client.close());
  }
}

function mergeLabels(group: Labels, target: Labels): Labels {
  const pairs: string[] = [];
  group.forEach((n, v) => {
    if (!target.has(n)) pairs.push(n, v);
  });
  target.forEach((n, v) => pairs.push(n, v));
  return Labels.fromPairs(pairs);
}

/** Formats the per-job health of targets for /health/detailed. */
function jobHealth(pool: ScrapePool, critical: boolean): HealthResult[] {
  const loops = [...pool.loops.values()];
  if (loops.length === 0) return [{ componentId: pool.job.name, componentType: 'scrape-job', status: 'pass', observedValue: 0, observedUnit: 'targets up', output: 'no targets' }];
  return loops.map((l) => {
    let status: HealthStatus = 'pass';
    if (l.health === 'down') status = critical ? 'fail' : 'warn';
    const r: HealthResult = {
      componentId: `${pool.job.name}/${l.target.labels.get('instance') || l.target.url}`,
      componentType: 'scrape-target',
      status,
      observedValue: l.health === 'up' ? 1 : l.health === 'down' ? 0 : null,
      observedUnit: 'up',
      scrapeUrl: l.target.url,
    };
    if (l.lastScrape) r.time = new Date(l.lastScrape).toISOString();
    if (l.health === 'down') r.output = l.lastError;
    else if (l.health === 'unknown') r.output = 'not scraped yet';
    return r;
  });
}

export class ScrapeManager {
  private pools = new Map<string, ScrapePool>();
  private readonly retiring = new Set<NodeJS.Timeout>();
  private readonly clock: Clock;
  private readonly stats = new ScrapeStats();
  private readonly offsetSeed: number;
  private stopped = false;
  private readonly healthNames = new Set<string>();

  constructor(private readonly opts: ScrapeManagerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.offsetSeed = opts.offsetSeed ?? fnv1a32(hostname());
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  /**
   * Applies a configuration (start-up and every reload). Jobs whose resolved settings are
   * unchanged keep running untouched. Throws (and changes nothing) when a job's regexes
   * cannot be compiled.
   */
  async applyConfig(jobs: readonly ResolvedJob[]): Promise<void> {
    if (this.stopped) return;
    const next = new Map<string, ScrapePool>();
    const created: ScrapePool[] = [];
    try {
      for (const job of jobs) {
        const fp = jobFingerprint(job);
        const old = this.pools.get(job.name);
        if (old && old.fingerprint === fp) {
          next.set(job.name, old);
          if (old.discoveryFingerprint !== discoveryFingerprint(job)) old.replaceDiscovery(job);
          continue;
        }
        const pool = new ScrapePool(job, fp, this, {
          appendable: this.opts.appendable,
          logger: this.opts.logger.child({ component: 'scrape', job: job.name }),
          clock: this.clock,
          offsetSeed: this.offsetSeed,
          stats: this.stats,
          userAgent: this.opts.userAgent ?? 'Vigil',
        });
        created.push(pool);
        next.set(job.name, pool);
      }
    } catch (e) {
      for (const p of created) p.client.close();
      throw e;
    }
    for (const [name, old] of this.pools) if (next.get(name) !== old) await old.stop(true);
    this.pools = next;
    for (const p of created) p.start();
    this.syncHealthChecks();
    this.opts.logger.info({ component: 'scrape', jobs: jobs.length, started: created.length }, 'Scrape configuration applied');
  }

  /** @internal A loop whose target went away: stop it, then write stale markers after two intervals (as Prometheus). */
  retire(loop: ScrapeLoop): void {
    void loop.stop().then((nextAt) => {
      if (this.stopped) return;
      const iv = loop.target.intervalMs;
      const staleAt = Math.max(nextAt, this.clock.now());
      const wait = Math.max(0, staleAt - this.clock.now()) + iv + Math.floor(iv / 10);
      const timer = setTimeout(() => {
        this.retiring.delete(timer);
        if (this.stopped) return;
        loop.writeEndOfRunStaleness(staleAt).catch((e) => this.opts.logger.warn({ component: 'scrape', target: loop.target.url, err: errorMessage(e) }, 'writing end-of-run stale markers failed'));
      }, wait);
      timer.unref();
      this.retiring.add(timer);
    });
  }

  /** Stops every loop (no stale markers: on restart, scraping resumes where it was). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.retiring) clearTimeout(t);
    this.retiring.clear();
    await Promise.all([...this.pools.values()].map((p) => p.stop(false)));
    this.pools.clear();
    for (const n of this.healthNames) this.opts.health?.unregister(n);
    this.healthNames.clear();
  }

  /** Loops of every job (tests, API). */
  loops(): ScrapeLoop[] {
    const out: ScrapeLoop[] = [];
    for (const p of this.pools.values()) out.push(...p.loops.values());
    return out;
  }

  activeTargets(scrapePool?: string): ActiveTargetInfo[] {
    const out: ActiveTargetInfo[] = [];
    for (const p of this.pools.values()) {
      if (scrapePool !== undefined && p.job.name !== scrapePool) continue;
      for (const l of p.loops.values()) {
        out.push({
          discoveredLabels: l.target.discoveredLabels,
          labels: l.target.labels,
          scrapePool: p.job.name,
          scrapeUrl: l.target.url,
          health: l.health,
          lastError: l.lastError,
          lastScrape: l.lastScrape,
          lastScrapeDurationMs: l.lastScrapeDurationMs,
          scrapeIntervalMs: l.target.intervalMs,
          scrapeTimeoutMs: l.target.timeoutMs,
        });
      }
    }
    return out;
  }

  droppedTargets(scrapePool?: string): DroppedTargetInfo[] {
    const out: DroppedTargetInfo[] = [];
    for (const p of this.pools.values()) if (scrapePool === undefined || p.job.name === scrapePool) out.push(...p.dropped);
    return out;
  }

  /** Job names in configuration order. */
  scrapePools(): string[] {
    return [...this.pools.keys()];
  }

  /**
   * Metadata per target (`/api/v1/targets/metadata`): targets whose labels match all of
   * `matchTarget`, families named `metric` (all when undefined), at most `limit` entries.
   */
  targetMetadata(matchTarget: readonly Matcher[], metric?: string, limit = -1): TargetMetadataEntry[] {
    const out: TargetMetadataEntry[] = [];
    for (const l of this.loops()) {
      if (!matchesAll(matchTarget, (n) => l.target.labels.get(n))) continue;
      const add = (name: string, m: MetricMetadata) => out.push({ target: l.target.labels, metric: name, type: m.type, help: m.help, unit: m.unit });
      if (metric !== undefined) {
        const m = l.metadata.get(metric);
        if (m) add(metric, m);
      } else for (const [name, m] of l.metadata) add(name, m);
      if (limit >= 0 && out.length >= limit) return out.slice(0, limit);
    }
    return out;
  }

  /**
   * Metadata by metric name across all targets (`/api/v1/metadata`), distinct entries per
   * name; `limit` bounds the names, `limitPerMetric` the entries per name (negative: none).
   */
  metadata(metric?: string, limit = -1, limitPerMetric = -1): Record<string, MetricMetadata[]> {
    const out: Record<string, MetricMetadata[]> = {};
    const seen = new Map<string, Set<string>>();
    let names = 0;
    for (const l of this.loops()) {
      for (const [name, m] of l.metadata) {
        if (metric !== undefined && metric !== '' && name !== metric) continue;
        let s = seen.get(name);
        if (!s) {
          if (limit >= 0 && names >= limit) continue;
          s = new Set();
          seen.set(name, s);
          out[name] = [];
          names++;
        }
        const key = `${m.type}\xff${m.help}\xff${m.unit}`;
        if (s.has(key)) continue;
        if (limitPerMetric >= 0 && out[name]!.length >= limitPerMetric) continue;
        s.add(key);
        out[name]!.push({ type: m.type, help: m.help, unit: m.unit });
      }
    }
    return out;
  }

  /** `/api/v1/metadata`'s source: metric name → distinct entries, names sorted. */
  metadataMap(): Map<string, MetricMetadata[]> {
    const rec = this.metadata();
    return new Map(Object.keys(rec).sort().map((k) => [k, rec[k]!]));
  }

  /** The health checks of the current jobs (also registered with `health` when given). */
  healthChecks(): HealthCheck[] {
    return [...this.pools.values()].map((p) => ({
      name: `scrape:${p.job.name}`,
      run: () => jobHealth(p, p.job.config.critical),
    }));
  }

  /** Summary over all targets: fail when a critical job has a down target, warn when any other is down. */
  overallHealth(): HealthStatus {
    let s: HealthStatus = 'pass';
    for (const p of this.pools.values()) for (const r of jobHealth(p, p.job.config.critical)) s = worstStatus(s, r.status);
    return s;
  }

  private syncHealthChecks(): void {
    const sink = this.opts.health;
    if (!sink) return;
    for (const n of this.healthNames) sink.unregister(n);
    this.healthNames.clear();
    for (const c of this.healthChecks()) {
      sink.register(c);
      this.healthNames.add(c.name);
    }
  }

  private registerMetrics(registry: Registry): void {
    const s = this.stats;
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    counter('vigil_target_scrapes_total', 'Scrapes attempted.', () => s.scrapes);
    counter('vigil_target_scrapes_failed_total', 'Scrapes that failed (target down).', () => s.failedScrapes);
    counter('vigil_scrape_samples_appended_total', 'Samples appended by scrapes (after metric relabeling).', () => s.samplesAppended);
    counter('vigil_target_scrapes_exceeded_sample_limit_total', 'Scrapes that hit sample_limit and were rejected.', () => s.sampleLimitExceeded);
    counter('vigil_target_scrapes_sample_out_of_order_total', 'Scraped samples rejected as out of order.', () => s.outOfOrder);
    counter('vigil_target_scrapes_sample_duplicate_timestamp_total', 'Scraped samples rejected for a duplicate timestamp with another value.', () => s.duplicate);
    counter('vigil_target_scrapes_sample_out_of_bounds_total', 'Scraped samples rejected as out of bounds (too old or too far in the future).', () => s.outOfBounds);
    const pools = () => this.pools;
    new Gauge({
      name: 'vigil_target_scrape_pool_targets',
      help: 'Active targets per scrape job.',
      labelNames: ['scrape_job'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of pools().values()) this.set({ scrape_job: p.job.name }, p.loops.size);
      },
    });
  }
}
