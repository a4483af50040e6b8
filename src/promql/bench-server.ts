/**
 * The Vigil side of `npm run bench:promql`: serves the query API over a TSDB directory in its
 * own process (so that the benchmark's HTTP client does not share an event loop with the
 * server). Usage: `node --import tsx src/promql/bench-server.ts <tsdb-dir>`; prints
 * `listening <port>` once ready, stops on SIGTERM.
 */
import { Hono } from 'hono';
import { listen } from '../api/listen.ts';
import { registerPromqlRoutes } from '../api/promql-routes.ts';
import type { ApiDeps } from '../api/deps.ts';
import type { Queryable } from '../storage/index.ts';
import { Engine } from './engine.ts';

interface TsdbLike extends Queryable {
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: bench-server.ts <tsdb-dir>');
  const path = '../tsdb/index.ts';
  const mod = (await import(path)) as { openTsdb: (o: { dir: string; compactionIntervalMs?: number; retentionTime?: number }) => Promise<TsdbLike> };
  const db = await mod.openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0 });
  const engine = new Engine();
  const app = new Hono();
  registerPromqlRoutes(app, { promql: { engine, queryable: db } } as unknown as ApiDeps);
  const server = await listen(app, '127.0.0.1:0');
  process.stdout.write(`listening ${server.address.port}\n`);
  const stop = async (): Promise<void> => {
    await server.close(1000);
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
