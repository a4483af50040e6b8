/**
 * Vigil's alert handling started with Alertmanager's command line (`--config.file`,
 * `--storage.path`, `--web.listen-address`, `--cluster.*` ignored, `--log.level`, `--version`),
 * so that tools written for Alertmanager (the peers' am-bench.mjs) can run it in Alertmanager's
 * place: the state store (embedded PGlite under --storage.path, or PostgreSQL when
 * VIGIL_STATE_POSTGRES_URL is set), the alerting service and the HTTP API. Stops on SIGTERM.
 */
import { join, resolve } from 'node:path';
import pino from 'pino';
import { getHeapSpaceStatistics } from 'node:v8';
import { openStateStore, type StateStore } from '../state/index.ts';
import { startAlertingServer } from './testing.ts';

function flag(name: string, def: string): string {
  const prefix = `--${name}=`;
  const a = process.argv.find((x) => x.startsWith(prefix));
  return a ? a.slice(prefix.length) : def;
}

if (process.argv.includes('--version')) {
  process.stdout.write('vigil alerting (Alertmanager-compatible command line), version 0.1.0\n');
  process.exit(0);
}

const configFile = resolve(flag('config.file', 'alertmanager.yml'));
const storage = resolve(flag('storage.path', 'data/'));
const listen = flag('web.listen-address', '127.0.0.1:9093');
const level = flag('log.level', 'info');
const logger = pino({ level });

let store: StateStore;
const pgUrl = process.env.VIGIL_STATE_POSTGRES_URL;
if (pgUrl) {
  const { PostgresStateStore } = await import('../state/index.ts');
  store = await PostgresStateStore.open({ url: pgUrl, schema: process.env.VIGIL_STATE_POSTGRES_SCHEMA ?? 'vigil_bench', logger });
} else {
  store = await openStateStore({ config: { path: join(storage, 'state') }, dataDir: storage, logger });
}
const server = await startAlertingServer({ alerting: `config_file: ${JSON.stringify(configFile)}\n`, store, listen, logger, configFile: join(storage, 'vigil.yml') });
logger.info({ url: server.url }, 'ready');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.stop();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

// Diagnostics for memory work: SIGUSR2 prints memory use before and after a full GC (with --expose-gc).
process.on('SIGUSR2', () => {
  const before = process.memoryUsage();
  (globalThis as { gc?: () => void }).gc?.();
  const after = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  process.stderr.write(`memory before GC: rss ${mb(before.rss)} heap ${mb(before.heapUsed)}/${mb(before.heapTotal)} external ${mb(before.external)}; after: rss ${mb(after.rss)} heap ${mb(after.heapUsed)}/${mb(after.heapTotal)} external ${mb(after.external)} MB\n`);
  for (const sp of getHeapSpaceStatistics()) process.stderr.write(`  ${sp.space_name}: size ${mb(sp.space_size)} used ${mb(sp.space_used_size)} MB\n`);
});
