/**
 * The probe manager: turns the `probes:` section into running probes, each on its own
 * interval (start spread over the interval by a hash of the probe, as Prometheus spreads
 * scrapes), each run bounded by its timeout, its samples written through one Appender per
 * run with Prometheus staleness markers for series that disappeared.
 *
 * Reloads keep unchanged probes running untouched; a changed probe is replaced and inherits
 * its predecessor's series (so only series the new configuration no longer produces go
 * stale); a removed probe's series are marked stale at once. `stop()` marks every series
 * stale and releases connections and files.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorMessage, fnv1a32, formatRfc3339, Labels, LabelsBuilder, systemClock, type Clock, type HealthCheck, type HealthCheckSink, type HealthResult, type HealthStatus } from '../model/index.ts';
import type { Appendable } from '../storage/index.ts';
import { Secret } from '../config/index.ts';
import { PROBE_TYPES, postgresTarget, probeIdentity, type ProbeEntry, type ProbesConfig, type ProbeType } from './config.ts';
import { CONTAINER_METADATA, ContainerProber } from './container.ts';
import { HOST_METADATA, HostProber } from './host.ts';
import { HTTP_METADATA, HttpProber } from './http.ts';
import { LOG_METADATA, LogProber } from './log.ts';
import { POSTGRES_METADATA, PostgresProber } from './postgres.ts';
import { REDIS_METADATA, RedisProber } from './redis.ts';
import { SampleBuffer, SeriesTracker } from './samples.ts';
import { TCP_METADATA, TcpProber } from './tcp.ts';
import type { MetadataTable, MetricMetadata, ProbeOutcome, Prober } from './types.ts';

/** Extra time a probe gets past its timeout to wind down before its run is abandoned. */
const ABANDON_GRACE_MS = 1000;

export interface ProbeManagerOptions {
  /** Where samples go (the fan-out storage in production, MemoryStorage in tests). */
  appendable: Appendable;
  logger: Logger;
  /** Self-metrics (`vigil_probe_*`); omit in tests that do not look at them. */
  registry?: Registry;
  clock?: Clock;
  /** When given, the manager registers and unregisters its health checks itself on every applyConfig. */
  health?: HealthCheckSink;
}

/** One probe as the API lists it. Times are RFC 3339, durations seconds. */
export interface ProbeStatus {
  /** `<type>/<job>/<instance>`; stable across reloads while job and instance stay. */
  id: string;
  type: ProbeType;
  job: string;
  instance: string;
  /** Every label added to the probe's samples (job, instance and static labels). */
  labels: Record<string, string>;
  /** What is probed, without credentials. */
  target: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  critical: boolean;
  /** `unknown` until the first run finished. */
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  lastRun: string | null;
  lastRunDurationSeconds: number;
  /** Series the probe currently has in storage. */
  series: number;
  /** Notes of the last run that are not failures (e.g. an extension that is missing). */
  info: string[];
  /** When this probe (with this configuration) started. */
  since: string;
}

interface ProbeSpec {
  id: string;
  type: ProbeType;
  job: string;
  instance: string;
  intervalMs: number;
  timeoutMs: number;
  critical: boolean;
  target: Labels;
  description: string;
  fingerprint: string;
  entry: ProbeEntry & Record<string, unknown>;
}

interface ProbeState {
  spec: ProbeSpec;
  prober: Prober;
  tracker: SeriesTracker;
  createdAt: number;
  timer: NodeJS.Timeout | undefined;
  inflight: Promise<void> | undefined;
  abort: AbortController | undefined;
  halted: boolean;
  lastOutcome: ProbeOutcome | undefined;
  lastRun: number | undefined;
  lastDuration: number;
  lastInfoKey: string;
}

type Counts = Record<ProbeType, number>;
const zeroCounts = (): Counts => Object.fromEntries(PROBE_TYPES.map((t) => [t, 0])) as Counts;

export class ProbeManager {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly probes = new Map<string, ProbeState>();
  private readonly healthNames = new Set<string>();
  private running = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly runs = zeroCounts();
  private readonly failures = zeroCounts();
  private appended = 0;
  private rejected = 0;
  private writeErrors = 0;

  constructor(private readonly opts: ProbeManagerOptions) {
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock;
    if (opts.registry) this.registerSelfMetrics(opts.registry);
  }

  /**
   * Applies a `probes:` section (initial load and every reload). Unchanged probes keep
   * running; changed ones are replaced; removed ones write stale markers and close.
   * Resolves when the change is in effect. Never rejects for a probe's target being down.
   */
  applyConfig(section: ProbesConfig): Promise<void> {
    return this.serial(async () => {
      const specs = buildSpecs(section);
      for (const [id, p] of [...this.probes]) {
        if (specs.has(id)) continue;
        this.probes.delete(id);
        await this.halt(p);
        await this.writeStale(p.tracker, p.spec);
        await closeQuietly(p, this.log);
        this.log.info({ probe: id }, 'probe removed');
      }
      for (const [id, spec] of specs) {
        const old = this.probes.get(id);
        if (old && old.spec.fingerprint === spec.fingerprint) continue;
        let tracker: SeriesTracker;
        if (old) {
          await this.halt(old);
          await closeQuietly(old, this.log);
          if (old.tracker.targetLabels.equals(spec.target)) tracker = old.tracker;
          else {
            await this.writeStale(old.tracker, old.spec);
            tracker = new SeriesTracker(spec.target);
          }
          this.log.info({ probe: id }, 'probe configuration changed');
        } else {
          tracker = new SeriesTracker(spec.target);
        }
        const state: ProbeState = {
          spec,
          prober: createProber(spec),
          tracker,
          createdAt: this.clock.now(),
          timer: undefined,
          inflight: undefined,
          abort: undefined,
          halted: false,
          lastOutcome: undefined,
          lastRun: undefined,
          lastDuration: 0,
          lastInfoKey: '',
        };
        this.probes.set(id, state);
        if (this.running) this.schedule(state);
      }
      this.syncHealth();
    });
  }

  /** Starts the schedules. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const p of this.probes.values()) this.schedule(p);
    this.log.info({ probes: this.probes.size }, 'probes started');
  }

  /**
   * Stops every probe: waits for running probes (aborting them), writes stale markers for
   * all their series, closes connections and files. Idempotent; `start()` may follow, with
   * probes that start afresh.
   */
  stop(): Promise<void> {
    return this.serial(async () => {
      this.running = false;
      const all = [...this.probes.values()];
      await Promise.all(all.map((p) => this.halt(p)));
      for (const p of all) {
        await this.writeStale(p.tracker, p.spec);
        await closeQuietly(p, this.log);
      }
      // Fresh probers for a later start(); their trackers are empty now.
      for (const p of all) {
        p.prober = createProber(p.spec);
        p.halted = false;
      }
      if (all.length) this.log.info({ probes: all.length }, 'probes stopped');
    });
  }

  /**
   * Runs one probe now (outside its schedule, waiting for a run in progress first) and
   * returns its status. For tests, runbooks and "probe now" buttons. Throws for an unknown id.
   */
  async runNow(id: string): Promise<ProbeStatus> {
    const p = this.probes.get(id);
    if (!p) throw new Error(`no probe ${JSON.stringify(id)} (known: ${[...this.probes.keys()].join(', ') || 'none'})`);
    while (p.inflight) await p.inflight;
    if (p.halted) return this.statusOf(p);
    await this.track(p, this.runOnce(p));
    return this.statusOf(p);
  }

  /** Runs every probe once, concurrently (tests, `vigil check probes`). */
  async runAll(): Promise<ProbeStatus[]> {
    await Promise.all([...this.probes.keys()].map((id) => this.runNow(id)));
    return this.status();
  }

  /** Every configured probe, sorted by type, job, instance. */
  status(): ProbeStatus[] {
    return [...this.probes.values()].map((p) => this.statusOf(p)).sort((a, b) => (a.type + a.job + a.instance < b.type + b.job + b.instance ? -1 : 1));
  }

  /**
   * One check per (job, probe type), named `<job>:<type>` with a result per instance: `pass`
   * when the last run succeeded (or none ran yet), `fail` when it failed and the probe is
   * critical, `warn` when it failed otherwise. The checks read the probes' current state.
   */
  healthChecks(): HealthCheck[] {
    const names = new Set<string>();
    for (const p of this.probes.values()) names.add(healthName(p.spec));
    return [...names].sort().map((name) => this.healthCheck(name));
  }

  /** HELP/TYPE of every metric the probes write (for /api/v1/metadata). */
  metadata(): Map<string, MetricMetadata> {
    const out = new Map<string, MetricMetadata>();
    const tables: MetadataTable[] = [VIGIL_METADATA, HTTP_METADATA, TCP_METADATA, POSTGRES_METADATA, REDIS_METADATA, HOST_METADATA, CONTAINER_METADATA, LOG_METADATA];
    for (const t of tables) for (const [name, [type, help]] of Object.entries(t)) out.set(name, { type, help, unit: '' });
    return out;
  }

  private healthCheck(name: string): HealthCheck {
    return {
      name,
      run: () => {
        const results: HealthResult[] = [];
        for (const p of this.probes.values()) {
          if (healthName(p.spec) !== name) continue;
          const o = p.lastOutcome;
          let status: HealthStatus = 'pass';
          if (o && !o.success) status = p.spec.critical ? 'fail' : 'warn';
          const r: HealthResult = {
            componentId: p.spec.instance,
            componentType: p.spec.type,
            observedValue: p.lastRun === undefined ? null : round3(p.lastDuration),
            observedUnit: 's',
            status,
          };
          if (p.lastRun !== undefined) r.time = formatRfc3339(p.lastRun);
          if (!o) r.output = 'waiting for the first run';
          else if (!o.success) r.output = o.error ?? 'failed';
          else if (o.info?.length) r.output = o.info.join('; ');
          results.push(r);
        }
        if (results.length === 0) return { status: 'pass', output: 'probe removed' };
        return results;
      },
    };
  }

  private syncHealth(): void {
    const sink = this.opts.health;
    if (!sink) return;
    const wanted = new Set<string>();
    for (const p of this.probes.values()) wanted.add(healthName(p.spec));
    for (const n of this.healthNames) {
      if (!wanted.has(n)) {
        sink.unregister(n);
        this.healthNames.delete(n);
      }
    }
    for (const n of wanted) {
      if (this.healthNames.has(n)) continue;
      sink.register(this.healthCheck(n));
      this.healthNames.add(n);
    }
  }

  private statusOf(p: ProbeState): ProbeStatus {
    const o = p.lastOutcome;
    return {
      id: p.spec.id,
      type: p.spec.type,
      job: p.spec.job,
      instance: p.spec.instance,
      labels: p.spec.target.toRecord(),
      target: p.spec.description,
      intervalSeconds: p.spec.intervalMs / 1000,
      timeoutSeconds: p.spec.timeoutMs / 1000,
      critical: p.spec.critical,
      health: o === undefined ? 'unknown' : o.success ? 'up' : 'down',
      lastError: o && !o.success ? (o.error ?? 'failed') : '',
      lastRun: p.lastRun === undefined ? null : formatRfc3339(p.lastRun),
      lastRunDurationSeconds: round3(p.lastDuration),
      series: p.tracker.size,
      info: o?.info ?? [],
      since: formatRfc3339(p.createdAt),
    };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private schedule(p: ProbeState): void {
    if (!this.running || p.halted) return;
    const interval = p.spec.intervalMs;
    const offset = fnv1a32(p.spec.id) % interval;
    const now = this.clock.now();
    let next = now - (now % interval) + offset;
    while (next <= now) next += interval;
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (p.halted || !this.running) return;
      if (p.inflight) {
        this.schedule(p); // a manual run is in progress: skip this tick
        return;
      }
      void this.track(p, this.runOnce(p)).then(() => this.schedule(p));
    }, next - now);
    p.timer.unref();
  }

  private track(p: ProbeState, run: Promise<void>): Promise<void> {
    const tracked = run.finally(() => {
      if (p.inflight === tracked) p.inflight = undefined;
    });
    p.inflight = tracked;
    return tracked;
  }

  private async halt(p: ProbeState): Promise<void> {
    p.halted = true;
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
    p.abort?.abort();
    while (p.inflight) await p.inflight;
  }

  /** One run: probe, then write its samples (and stale markers) in one append. Never throws. */
  private async runOnce(p: ProbeState): Promise<void> {
    const spec = p.spec;
    const ac = new AbortController();
    p.abort = ac;
    const timer = setTimeout(() => ac.abort(), spec.timeoutMs);
    const buf = new SampleBuffer();
    const started = this.clock.now();
    const t0 = performance.now();
    let outcome: ProbeOutcome;
    let abandon: NodeJS.Timeout | undefined;
    try {
      outcome = await Promise.race([
        p.prober.run(buf, { signal: ac.signal, timeoutMs: spec.timeoutMs, now: () => this.clock.now(), logger: this.log }),
        new Promise<ProbeOutcome>((resolve) => {
          abandon = setTimeout(() => resolve({ success: false, error: `probe did not finish within its timeout of ${spec.timeoutMs / 1000}s` }), spec.timeoutMs + ABANDON_GRACE_MS);
        }),
      ]);
    } catch (e) {
      outcome = { success: false, error: errorMessage(e) };
    } finally {
      clearTimeout(timer);
      if (abandon) clearTimeout(abandon);
      p.abort = undefined;
    }
    const duration = (performance.now() - t0) / 1000;
    buf.add('vigil_probe_success', outcome.success ? 1 : 0);
    buf.add('vigil_probe_duration_seconds', duration);
    buf.seal();

    this.runs[spec.type]++;
    if (!outcome.success) this.failures[spec.type]++;
    this.logOutcome(p, outcome);
    p.lastOutcome = outcome;
    p.lastRun = started;
    p.lastDuration = duration;
    await this.write(p, buf, started);
  }

  private async write(p: ProbeState, buf: SampleBuffer, started: number): Promise<void> {
    const t = p.tracker.timestampFor(started);
    const app = this.opts.appendable.appender();
    try {
      const res = p.tracker.write(app, buf, t);
      await app.commit();
      p.tracker.committed();
      this.appended += res.appended;
      this.rejected += res.rejected;
      if (res.rejected) this.log.warn({ probe: p.spec.id, rejected: res.rejected, example: res.firstRejection }, 'storage rejected probe samples');
    } catch (e) {
      this.writeErrors++;
      try {
        app.rollback();
      } catch {
        // already committed or rolled back
      }
      this.log.error({ probe: p.spec.id, err: errorMessage(e) }, 'cannot write probe samples');
    }
  }

  private async writeStale(tracker: SeriesTracker, spec: ProbeSpec): Promise<void> {
    if (tracker.size === 0) return;
    const t = tracker.timestampFor(this.clock.now());
    const app = this.opts.appendable.appender();
    try {
      const res = tracker.writeAllStale(app, t);
      await app.commit();
      tracker.committed();
      this.appended += res.appended;
    } catch (e) {
      this.writeErrors++;
      try {
        app.rollback();
      } catch {
        // already committed or rolled back
      }
      this.log.error({ probe: spec.id, err: errorMessage(e) }, 'cannot write stale markers');
    }
  }

  private logOutcome(p: ProbeState, o: ProbeOutcome): void {
    const prev = p.lastOutcome;
    const ctx = { probe: p.spec.id, type: p.spec.type, job: p.spec.job, instance: p.spec.instance };
    if (!o.success) {
      if (!prev || prev.success || prev.error !== o.error) this.log.warn({ ...ctx, err: o.error }, 'probe failed');
      else this.log.debug({ ...ctx, err: o.error }, 'probe still failing');
    } else if (prev && !prev.success) {
      this.log.info(ctx, 'probe recovered');
    }
    const infoKey = (o.info ?? []).join('\n');
    if (infoKey !== p.lastInfoKey) {
      for (const line of o.info ?? []) this.log.info(ctx, line);
      p.lastInfoKey = infoKey;
    }
  }

  private registerSelfMetrics(registry: Registry): void {
    const self = this;
    new Gauge({
      name: 'vigil_probes',
      help: 'Configured probes by type.',
      labelNames: ['type'],
      registers: [registry],
      collect() {
        this.reset();
        const counts = zeroCounts();
        for (const p of self.probes.values()) counts[p.spec.type]++;
        for (const t of PROBE_TYPES) this.set({ type: t }, counts[t]);
      },
    });
    const perType = (name: string, help: string, source: Counts) =>
      new Counter({
        name,
        help,
        labelNames: ['type'],
        registers: [registry],
        collect() {
          this.reset();
          for (const t of PROBE_TYPES) this.inc({ type: t }, source[t]);
        },
      });
    perType('vigil_probe_runs_total', 'Probe runs by type.', this.runs);
    perType('vigil_probe_failures_total', 'Probe runs that failed, by type.', this.failures);
    const total = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    total('vigil_probe_samples_appended_total', 'Samples (stale markers included) the probes appended to storage.', () => this.appended);
    total('vigil_probe_samples_rejected_total', 'Probe samples storage rejected (out of order, duplicate timestamp).', () => this.rejected);
    total('vigil_probe_write_errors_total', 'Probe runs whose samples could not be written.', () => this.writeErrors);
  }
}

export const VIGIL_METADATA: MetadataTable = {
  vigil_probe_success: ['gauge', "Vigil: whether the probe's last run succeeded (1) or failed (0)."],
  vigil_probe_duration_seconds: ['gauge', "Vigil: how long the probe's last run took, in seconds."],
};

function healthName(spec: ProbeSpec): string {
  return `${spec.job}:${spec.type}`;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function closeQuietly(p: ProbeState, log: Logger): Promise<void> {
  try {
    await p.prober.close();
  } catch (e) {
    log.warn({ probe: p.spec.id, err: errorMessage(e) }, 'error while closing probe');
  }
}

function createProber(spec: ProbeSpec): Prober {
  const e = spec.entry as never;
  switch (spec.type) {
    case 'http':
      return new HttpProber(e);
    case 'tcp':
      return new TcpProber(e);
    case 'postgres':
      return new PostgresProber(e);
    case 'redis':
      return new RedisProber(e);
    case 'host':
      return new HostProber(e);
    case 'container':
      return new ContainerProber(e);
    case 'log':
      return new LogProber(e);
  }
}

/** The probes a section describes, by id, with defaults applied. */
function buildSpecs(section: ProbesConfig): Map<string, ProbeSpec> {
  const out = new Map<string, ProbeSpec>();
  for (const type of PROBE_TYPES) {
    for (const raw of section[type] as ReadonlyArray<ProbeEntry & Record<string, unknown>>) {
      const { job, instance } = probeIdentity(type, raw);
      const intervalMs = raw.interval ?? section.interval;
      const timeoutMs = raw.timeout ?? Math.min(section.timeout, intervalMs);
      const b = new LabelsBuilder(section.labels);
      raw.labels?.forEach((n, v) => b.set(n, v));
      b.set('job', job).set('instance', instance);
      const target = b.build();
      const id = `${type}/${job}/${instance}`;
      out.set(id, {
        id,
        type,
        job,
        instance,
        intervalMs,
        timeoutMs,
        critical: raw.critical,
        target,
        description: describeTarget(type, raw),
        fingerprint: fingerprint({ type, entry: raw, intervalMs, timeoutMs, target: target.key() }),
        entry: raw,
      });
    }
  }
  return out;
}

function describeTarget(type: ProbeType, e: Record<string, unknown>): string {
  switch (type) {
    case 'http': {
      try {
        const u = new URL(String(e.url));
        if (u.password) u.password = '<secret>';
        return u.toString();
      } catch {
        return String(e.url);
      }
    }
    case 'tcp':
    case 'redis':
      return String(e.address);
    case 'postgres': {
      const t = postgresTarget(e as never);
      return `postgresql://${t.user}@${t.host}:${t.port}/${t.database}`;
    }
    case 'host':
      return `procfs ${String(e.procfs)}`;
    case 'container':
      return `docker ${String(e.socket)}`;
    case 'log':
      return (e.files as string[]).join(', ');
  }
}

/**
 * A digest of a probe's configuration that changes whenever anything the probe uses changes,
 * secrets included (inline secrets by hash, file secrets by path: the file is re-read on use).
 */
function fingerprint(v: unknown): string {
  return createHash('sha256').update(canonical(v)).digest('hex');
}

function canonical(v: unknown): string {
  if (v instanceof Secret) return v.file !== undefined ? `secret-file:${JSON.stringify(v.file)}` : `secret:${createHash('sha256').update(v.reveal()).digest('hex')}`;
  if (v instanceof Labels) return `labels:${JSON.stringify(v.key())}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}
