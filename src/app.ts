/**
 * The one place that builds Vigil's object graph: configuration, self-metrics, health, the
 * modules, and the HTTP server, started in dependency order and stopped in reverse.
 * The CLI (`vigil server`) owns the process (flags, signals, exit codes) and calls
 * `startServer`; tests call it directly.
 */
import { mkdir, writeFile, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { CORE_SECTIONS, ConfigManager, globalSection, serverSection, storageSection, type ConfigSection, type ReloadResult, type VigilConfig } from './config/index.ts';
import { buildHttpApp, createSelfMetricsRegistry, HealthRegistry, listen, processHealthChecks, type ApiDeps, type BuildInfo } from './api/index.ts';
import { errorMessage, formatDuration, VigilError } from './model/index.ts';
import { openTsdb } from './tsdb/index.ts';
import { Engine } from './promql/index.ts';
import { scrapeConfigsSection, startScraping } from './scrape/index.ts';
import { ProbeManager, probesSection } from './probes/index.ts';
// ---- state + alerting (src/state, src/alerting) ----
import { openStateStore, stateSection } from './state/index.ts';
import { AlertingService, defineAlertingSection } from './alerting/index.ts';
import { ALERTING_RULES_KEYS, AlertDispatcher, RuleManager, engineQueryFunc, ruleFilesSection } from './rules/index.ts';

/** `alerting:` holds Alertmanager's routing configuration and Prometheus' `alertmanagers` (owned by rules). */
export const alertingSection = defineAlertingSection(ALERTING_RULES_KEYS);
// ---- end state + alerting ----

/** Every configuration section Vigil understands (modules append theirs here). */
export function configSections(): ConfigSection[] {
  return [...CORE_SECTIONS, scrapeConfigsSection, probesSection, ruleFilesSection, stateSection, alertingSection];
}

/**
 * The configuration Vigil runs on when no file is given: Prometheus' defaults with a 15 s
 * scrape and evaluation interval.
 */
export function embeddedDefaultsYaml(listenAddress: string): string {
  return [
    '# Vigil embedded defaults (used when no --config.file is given and ./vigil.yml does not exist).',
    'global:',
    '  scrape_interval: 15s',
    '  evaluation_interval: 15s',
    'server:',
    `  listen_address: ${JSON.stringify(listenAddress)}`,
    'scrape_configs:',
    '  # Vigil monitors itself.',
    '  - job_name: vigil',
    '    static_configs:',
    `      - targets: [${JSON.stringify(listenAddress)}]`,
    'probes:',
    '  # The host Vigil runs on (node_exporter metric names).',
    '  host:',
    '    - {}',
    '',
  ].join('\n');
}

export interface ServerOptions {
  /** Configuration file; undefined runs on `embeddedDefaultsYaml`. */
  configFile: string | undefined;
  /** Values given as flags; they win over the configuration file. */
  overrides: {
    listenAddress?: string;
    externalUrl?: string;
    dataDir?: string;
    retentionTimeMs?: number;
    retentionSizeBytes?: number;
    /** WAL fsync policy (`--storage.tsdb.wal-fsync`). */
    walFsync?: 'interval' | 'always';
  };
  lifecycleEnabled: boolean;
  adminApiEnabled: boolean;
  query: { lookbackDeltaMs: number; maxSamples: number; timeoutMs: number; maxConcurrency: number };
  /** `--rules.alert.*` and `--alertmanager.notification-queue-capacity` (Prometheus' defaults when absent). */
  rules?: { forOutageToleranceMs?: number; forGracePeriodMs?: number; resendDelayMs?: number; notificationQueueCapacity?: number };
  logger: Logger;
  /** Every flag with its effective value, for `/api/v1/status/flags`. */
  flags: Record<string, string>;
  buildInfo: BuildInfo;
  /** Called when something inside asks the process to stop (`/-/quit`). */
  onShutdownRequest?: () => void;
}

export interface RunningServer {
  address: { host: string; port: number };
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:9090`. */
  url: string;
  dataDir: string;
  reload(): Promise<ReloadResult>;
  /** Graceful stop, bounded by `server.shutdown_timeout`. Idempotent. */
  stop(): Promise<void>;
}

/** Scraped metadata first; probe metadata for the names no target exposes. */
type Metadata = { type: string; help: string; unit: string };
function mergeMetadata(scraped: Map<string, Metadata[]>, probes: Map<string, Metadata>): Map<string, Metadata[]> {
  const out = new Map(scraped);
  for (const [name, m] of probes) if (!out.has(name)) out.set(name, [m]);
  return out;
}

interface Closer {
  name: string;
  close(): Promise<void> | void;
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = join(dir, `.vigil-write-test-${process.pid}`);
    await writeFile(probe, '');
    await unlink(probe);
  } catch (e) {
    throw new VigilError('datadir_unwritable', `data directory ${dir} is not writable: ${errorMessage(e)}`);
  }
}

/**
 * Starts Vigil. Throws ConfigError for an invalid configuration and VigilError for other
 * start-up failures (data directory not writable, port taken); nothing is left running then.
 */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.logger;
  const startTime = Date.now();
  const closers: Closer[] = [];
  const closeAll = async (deadline: number) => {
    for (const c of closers.reverse()) {
      const t0 = Date.now();
      try {
        await Promise.race([Promise.resolve(c.close()), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
        log.info({ component: c.name, durationMs: Date.now() - t0 }, 'stopped');
      } catch (e) {
        log.error({ component: c.name, err: errorMessage(e) }, 'error while stopping');
      }
    }
    closers.length = 0;
  };

  try {
    const registry = createSelfMetricsRegistry(opts.buildInfo.version);
    const config = new ConfigManager({
      file: opts.configFile,
      sections: configSections(),
      logger: log.child({ component: 'config' }),
      registry,
      defaultsYaml: embeddedDefaultsYaml(opts.overrides.listenAddress ?? '127.0.0.1:9090'),
    });
    const cfg = await config.load();
    const serverCfg = cfg.get(serverSection);
    const storageCfg = cfg.get(storageSection);
    const listenAddress = opts.overrides.listenAddress ?? serverCfg.listen_address;
    const dataDir = resolve(opts.overrides.dataDir ?? storageCfg.path);
    const retentionTimeMs = opts.overrides.retentionTimeMs ?? storageCfg.retention.time;
    const retentionSizeBytes = opts.overrides.retentionSizeBytes ?? storageCfg.retention.size;
    const externalUrl = opts.overrides.externalUrl ?? serverCfg.external_url ?? `http://${listenAddress.replace(/^0\.0\.0\.0:/, 'localhost:')}/`;

    log.info(
      { version: opts.buildInfo.version, revision: opts.buildInfo.revision, node: process.version, configFile: opts.configFile ?? '<embedded defaults>', dataDir, listenAddress, retention: formatDuration(retentionTimeMs), retentionSize: retentionSizeBytes },
      'Starting Vigil',
    );
    await ensureWritableDir(dataDir);

    const health = new HealthRegistry({
      version: opts.buildInfo.version,
      releaseId: `${opts.buildInfo.version}+${opts.buildInfo.revision.slice(0, 12)}`,
      serviceId: `vigil@${listenAddress}`,
      description: 'Vigil: monitoring, alerting and incident response',
    });
    const proc = processHealthChecks({ dataDir });
    proc.checks.forEach((c) => health.register(c));
    closers.push({ name: 'health', close: () => proc.stop() });
    health.register(config.healthCheck());

    // Storage: WAL replay happens here, before anything reads or writes.
    const tsdb = await openTsdb({
      dir: dataDir,
      retentionTime: retentionTimeMs,
      retentionSize: retentionSizeBytes,
      wal: { fsync: opts.overrides.walFsync ?? 'interval' },
      logger: log.child({ component: 'tsdb' }),
      registry,
    });
    closers.push({ name: 'tsdb', close: () => tsdb.close() });
    tsdb.healthChecks().forEach((c) => health.register(c));

    const engine = new Engine({ ...opts.query, registry });

    // Collection: scrape loops and probes write through the storage appender.
    const scrape = await startScraping({ config, appendable: tsdb, logger: log.child({ component: 'scrape' }), registry, health, userAgent: `Vigil/${opts.buildInfo.version}` });
    closers.push({ name: 'scrape', close: () => scrape.stop() });
    const probes = new ProbeManager({ appendable: tsdb, logger: log.child({ component: 'probes' }), registry, health });
    await probes.applyConfig(cfg.get(probesSection));
    config.subscribe('probes', (next) => probes.applyConfig(next.get(probesSection)));
    probes.start();
    closers.push({ name: 'probes', close: () => probes.stop() });

    // ---- state + alerting (src/state, src/alerting) ----
    const state = await openStateStore({ config: cfg.get(stateSection), dataDir, logger: log.child({ component: 'state' }) });
    closers.push({ name: 'state', close: () => state.close() });
    health.register(state.healthCheck());
    const alerting = await AlertingService.create({ config: cfg.get(alertingSection), store: state, logger: log.child({ component: 'alerting' }), registry, externalUrl });
    closers.push({ name: 'alerting', close: () => alerting.stop() });
    health.register(alerting.healthCheck());
    config.subscribe('alerting', (next) => alerting.applyConfig(next.get(alertingSection)));
    // ---- end state + alerting ----

    // Rules: evaluated by the engine over the store; alerts go to Vigil's alert handling and to
    // any external Alertmanagers listed under alerting.alertmanagers.
    const dispatcher = new AlertDispatcher({ logger: log.child({ component: 'notifier' }), registry, queueCapacity: opts.rules?.notificationQueueCapacity, sinks: [alerting] });
    const rules = new RuleManager({
      query: engineQueryFunc(engine, tsdb),
      appendable: tsdb,
      queryable: tsdb,
      notify: (alerts) => dispatcher.send(alerts),
      logger: log.child({ component: 'rules' }),
      registry,
      outageToleranceMs: opts.rules?.forOutageToleranceMs,
      forGracePeriodMs: opts.rules?.forGracePeriodMs,
      resendDelayMs: opts.rules?.resendDelayMs,
    });
    const applyRules = async (next: VigilConfig) => {
      const g = next.get(globalSection);
      const a = next.get(alertingSection);
      dispatcher.applyConfig(g.external_labels, a.alertmanagers, a.alert_relabel_configs);
      const report = await rules.update({ files: next.get(ruleFilesSection), evaluationIntervalMs: g.evaluation_interval, externalLabels: g.external_labels, externalURL: externalUrl });
      if (report.problems.length) {
        throw new VigilError('rules_invalid', `rule files skipped: ${report.problems.map((p) => (p.line > 0 ? `${p.file}:${p.line}:${p.column}: ${p.text}` : `${p.file}: ${p.text}`)).join('; ')}`);
      }
    };
    try {
      await applyRules(cfg);
    } catch (e) {
      // At start-up a broken rule file is reported and skipped; the other files are loaded.
      log.error({ err: errorMessage(e) }, 'loading rule files');
    }
    config.subscribe('rules', applyRules);
    health.register(rules.healthCheck());
    rules.start();
    closers.push({ name: 'rules', close: () => rules.stop() });
    closers.push({ name: 'notifier', close: () => dispatcher.stop() });

    let ready = false;
    const deps: ApiDeps = {
      logger: log.child({ component: 'web' }),
      registry,
      health,
      buildInfo: opts.buildInfo,
      startTime,
      isReady: () => ready,
      reload: () => config.reload(),
      config,
      flags: opts.flags,
      dataDir,
      lifecycleEnabled: opts.lifecycleEnabled,
      requestShutdown: opts.onShutdownRequest,
      adminApiEnabled: opts.adminApiEnabled,
      tsdb,
      promql: { engine, queryable: tsdb, metadata: () => mergeMetadata(scrape.metadataMap(), probes.metadata()) },
      scrape,
      alerting,
      rules,
      alertDispatcher: dispatcher,
    };

    const app = buildHttpApp(deps);
    const http = await listen(app, listenAddress);
    // The HTTP server stops first (reverse order): no new requests while modules flush.
    closers.push({ name: 'web', close: () => http.close(Math.max(1000, serverCfg.shutdown_timeout / 2)) });
    ready = true;
    proc.resetLag();
    log.info({ address: `${http.address.host}:${http.address.port}`, startupMs: Date.now() - startTime }, 'Server is ready to receive web requests.');

    let stopping: Promise<void> | undefined;
    return {
      address: http.address,
      url: `http://${http.address.host.includes(':') ? `[${http.address.host}]` : http.address.host}:${http.address.port}`,
      dataDir,
      reload: () => config.reload(),
      stop: () => {
        if (!stopping) {
          stopping = (async () => {
            ready = false;
            const t0 = Date.now();
            log.info('Stopping Vigil: no new requests, flushing modules');
            await closeAll(t0 + config.current.get(serverSection).shutdown_timeout);
            log.info({ durationMs: Date.now() - t0 }, 'Vigil stopped');
          })();
        }
        return stopping;
      },
    };
  } catch (e) {
    await closeAll(Date.now() + 5000);
    throw e;
  }
}
