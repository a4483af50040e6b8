/**
 * Test helpers for the scrape module (used by its tests; not part of the runtime): local HTTP
 * targets on 127.0.0.1:0, YAML → resolved jobs through the real config schema, waiting.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { globalSection, parseConfig } from '../config/index.ts';
import { collectSamples, type MemoryStorage } from '../storage/index.ts';
import { Matcher, type Labels } from '../model/index.ts';
import { scrapeConfigsSection } from './config.ts';
import { scrapeJobsFromConfig } from './wiring.ts';
import type { ResolvedJob } from './config.ts';

export const silentLogger = pino({ level: 'silent' });

export interface TestServer {
  url: string;
  port: number;
  hostPort: string;
  requests: http.IncomingMessage[];
  close(): Promise<void>;
}

/** Starts an HTTP(S) server on 127.0.0.1:0 with `handler`; `close()` ends it and its connections. */
export async function startTestServer(handler: http.RequestListener, tls?: { key: Buffer; cert: Buffer }): Promise<TestServer> {
  const requests: http.IncomingMessage[] = [];
  const wrapped: http.RequestListener = (req, res) => {
    requests.push(req);
    handler(req, res);
  };
  const server = tls ? https.createServer(tls, wrapped) : http.createServer(wrapped);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    hostPort: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Parses `scrape_configs` (and optional `global`) YAML through the real schema. */
export function jobsFromYaml(yaml: string, file?: string): ResolvedJob[] {
  return scrapeJobsFromConfig(parseConfig(yaml, file, [globalSection, scrapeConfigsSection]));
}

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** All stored samples (values in a Float64Array, so stale markers keep their bits) of series whose labels match `name` and the given label values. */
export async function storedSamples(store: MemoryStorage, name: string, labels: Record<string, string> = {}): Promise<Array<{ labels: Labels; t: number[]; v: Float64Array }>> {
  const ms = [new Matcher('=', '__name__', name), ...Object.entries(labels).map(([k, v]) => new Matcher('=', k, v))];
  const q = store.querier(-Infinity, Infinity);
  const set = await q.select(ms);
  q.close();
  return set.series.map((s) => {
    const { ts, vs } = collectSamples(s.iterator());
    return { labels: s.labels, t: ts, v: vs };
  });
}
