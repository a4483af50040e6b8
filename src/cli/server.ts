/**
 * `vigil server`: runs Vigil until SIGTERM/SIGINT. SIGHUP reloads the configuration. A
 * start-up failure exits 1 with one clear line (and the configuration problems, if any).
 */
import { existsSync } from 'node:fs';
import { startServer } from '../app.ts';
import { ConfigError, formatProblem } from '../config/index.ts';
import { errorMessage, parseApiDuration, parseByteSize, parseDuration, VigilError } from '../model/index.ts';
import type { Command, ParsedCommand } from './command.ts';
import { UsageError } from './command.ts';
import { createLogger } from './logger.ts';
import { buildInfo } from './version.ts';

export const SERVER_FLAGS = {
  'config.file': { type: 'string', default: 'vigil.yml', placeholder: 'FILE', help: 'Configuration file. Without it (and without ./vigil.yml) Vigil runs on its embedded defaults.' },
  'web.listen-address': { type: 'string', placeholder: 'HOST:PORT', help: 'Address to listen on (default: server.listen_address, 127.0.0.1:9090).' },
  'web.external-url': { type: 'string', placeholder: 'URL', help: 'The URL under which Vigil is reached (links in alerts and notifications).' },
  'web.enable-lifecycle': { type: 'boolean', default: false, help: 'Enable shutdown via POST /-/quit (reload via /-/reload is always on).' },
  'web.enable-admin-api': { type: 'boolean', default: false, help: 'Enable the admin API (delete series, clean tombstones).' },
  'storage.tsdb.path': { type: 'string', placeholder: 'DIR', help: 'Data directory (default: storage.path, ./data).' },
  'storage.tsdb.retention.time': { type: 'string', placeholder: 'DURATION', help: 'How long to keep samples (default: storage.retention.time, 15d).' },
  'storage.tsdb.retention.size': { type: 'string', placeholder: 'BYTES', help: 'Maximum bytes of blocks to keep, e.g. 512MB; 0 disables (default: storage.retention.size).' },
  'storage.tsdb.wal-fsync': { type: 'string', default: 'interval', placeholder: 'MODE', help: 'interval: fdatasync the WAL every second (a power loss can lose the last second); always: before every commit is acknowledged.' },
  'query.lookback-delta': { type: 'string', default: '5m', placeholder: 'DURATION', help: 'How far back an instant selector looks for a sample.' },
  'query.max-samples': { type: 'string', default: '50000000', placeholder: 'N', help: 'Maximum number of samples a query may hold in memory.' },
  'query.timeout': { type: 'string', default: '2m', placeholder: 'DURATION', help: 'Maximum time a query may take.' },
  'query.max-concurrency': { type: 'string', default: '20', placeholder: 'N', help: 'Maximum number of queries executed concurrently.' },
  'rules.alert.for-outage-tolerance': { type: 'string', default: '1h', placeholder: 'DURATION', help: 'Max time to tolerate an outage for restoring "for" state of alerts.' },
  'rules.alert.for-grace-period': { type: 'string', default: '10m', placeholder: 'DURATION', help: 'Minimum duration between alert and restored "for" state (kept only for alerts with a longer "for").' },
  'rules.alert.resend-delay': { type: 'string', default: '1m', placeholder: 'DURATION', help: 'Minimum amount of time to wait before resending an alert to Alertmanager.' },
  'alertmanager.notification-queue-capacity': { type: 'string', default: '10000', placeholder: 'N', help: 'The capacity of the queue for pending alert notifications to external Alertmanagers.' },
  'log.level': { type: 'string', default: 'info', placeholder: 'LEVEL', help: 'Only log messages at or above this level: debug, info, warn, error.' },
  'log.format': { type: 'string', default: 'logfmt', placeholder: 'FORMAT', help: 'Log format: logfmt or json.' },
} as const satisfies Command['flags'];

function str(p: ParsedCommand, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

function durationFlag(p: ParsedCommand, name: string): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  try {
    return parseDuration(v);
  } catch {
    try {
      return parseApiDuration(v);
    } catch {
      throw new UsageError(`--${name}: ${JSON.stringify(v)} is not a duration (e.g. 15d, 2h, 30s)`);
    }
  }
}

function intFlag(p: ParsedCommand, name: string): number {
  const v = str(p, name) ?? '';
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name}: ${JSON.stringify(v)} is not a non-negative integer`);
  return Number(v);
}

function walFsyncFlag(p: ParsedCommand): 'interval' | 'always' {
  const v = str(p, 'storage.tsdb.wal-fsync');
  if (v !== 'interval' && v !== 'always') throw new UsageError(`--storage.tsdb.wal-fsync: ${JSON.stringify(v)} is not a WAL fsync mode (interval or always)`);
  return v;
}

export const serverCommand: Command = {
  path: ['server'],
  summary: 'Run Vigil: collection, storage, queries, rules, alerting and the web API.',
  flags: SERVER_FLAGS,
  async run(parsed, io) {
    const logger = createLogger({ level: str(parsed, 'log.level')!, format: str(parsed, 'log.format')! });
    let configFile = str(parsed, 'config.file');
    if (!parsed.given.has('config.file') && configFile && !existsSync(configFile)) configFile = undefined;

    let retentionSizeBytes: number | undefined;
    const rs = str(parsed, 'storage.tsdb.retention.size');
    if (rs !== undefined) {
      try {
        retentionSizeBytes = parseByteSize(rs);
      } catch {
        throw new UsageError(`--storage.tsdb.retention.size: ${JSON.stringify(rs)} is not a byte size (e.g. 512MB, 10GB)`);
      }
    }
    const flags: Record<string, string> = {};
    for (const [name, spec] of Object.entries(SERVER_FLAGS)) {
      const v = parsed.flags[name];
      flags[name] = v === undefined ? String((spec as { default?: unknown }).default ?? '') : String(v);
    }

    let shutdownRequested: () => void = () => {};
    const shutdown = new Promise<string>((resolve) => {
      shutdownRequested = () => resolve('quit requested over HTTP');
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });

    // Flags are parsed before anything starts, so that a wrong one is a usage error (exit 2).
    const walFsync = walFsyncFlag(parsed);
    const retentionTimeMs = durationFlag(parsed, 'storage.tsdb.retention.time');
    const query = {
      lookbackDeltaMs: durationFlag(parsed, 'query.lookback-delta')!,
      maxSamples: intFlag(parsed, 'query.max-samples'),
      timeoutMs: durationFlag(parsed, 'query.timeout')!,
      maxConcurrency: intFlag(parsed, 'query.max-concurrency'),
    };
    const rules = {
      forOutageToleranceMs: durationFlag(parsed, 'rules.alert.for-outage-tolerance'),
      forGracePeriodMs: durationFlag(parsed, 'rules.alert.for-grace-period'),
      resendDelayMs: durationFlag(parsed, 'rules.alert.resend-delay'),
      notificationQueueCapacity: intFlag(parsed, 'alertmanager.notification-queue-capacity'),
    };

    let server;
    try {
      server = await startServer({
        configFile,
        overrides: {
          listenAddress: str(parsed, 'web.listen-address'),
          externalUrl: str(parsed, 'web.external-url'),
          dataDir: str(parsed, 'storage.tsdb.path'),
          retentionTimeMs,
          retentionSizeBytes,
          walFsync,
        },
        lifecycleEnabled: parsed.flags['web.enable-lifecycle'] === true,
        adminApiEnabled: parsed.flags['web.enable-admin-api'] === true,
        query,
        rules,
        logger,
        flags,
        buildInfo: buildInfo(),
        onShutdownRequest: () => shutdownRequested(),
      });
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err(`vigil: error: invalid configuration${configFile ? ` in ${configFile}` : ''}:\n`);
        for (const p of e.problems) io.err(`  ${formatProblem(p)}\n`);
      } else if (e instanceof VigilError) io.err(`vigil: error: ${e.message}\n`);
      else io.err(`vigil: error: start-up failed: ${errorMessage(e)}\n`);
      return 1;
    }

    const onHup = () => {
      void server.reload();
    };
    process.on('SIGHUP', onHup);
    const reason = await shutdown;
    process.off('SIGHUP', onHup);
    logger.info({ reason }, 'Received shutdown request');
    // A second signal while stopping forces an immediate exit.
    const force = (sig: string) => {
      logger.warn({ signal: sig }, 'Second signal received, exiting immediately');
      process.exit(1);
    };
    process.once('SIGTERM', () => force('SIGTERM'));
    process.once('SIGINT', () => force('SIGINT'));
    await server.stop();
    return 0;
  },
};
