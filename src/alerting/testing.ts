/**
 * Helpers for alerting's tests and benchmark: an alerting-only Vigil (state store, alerting
 * service and the HTTP API) listening on 127.0.0.1, capture servers that record what receivers
 * get, and a runner for Debian's Alertmanager 0.25 on free ports. Everything is stopped by its
 * own handle (processes by PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { ConfigManager, parseConfig, CORE_SECTIONS } from '../config/index.ts';
import { buildHttpApp, HealthRegistry, listen, type ApiDeps, type RunningHttpServer } from '../api/index.ts';
import type { StateStore } from '../state/index.ts';
import { alertingSection } from './config.ts';
import { AlertingService, type ServiceIntervals } from './service.ts';
import { freePort } from '../../test/helpers/free-port.ts';

export const AM_BIN = '/usr/bin/prometheus-alertmanager';
export const AMTOOL_BIN = '/usr/bin/amtool';

export function haveAlertmanager(): string | undefined {
  return existsSync(AM_BIN) ? undefined : `${AM_BIN} is not installed (Debian package prometheus-alertmanager)`;
}

export function haveAmtool(): string | undefined {
  return existsSync(AMTOOL_BIN) ? undefined : `${AMTOOL_BIN} is not installed (Debian package prometheus-alertmanager)`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 25 ms until it holds or `timeoutMs` passed; returns whether it held. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(25);
  }
  return cond();
}

export interface Captured {
  /** Arrival time (ms). */
  t: number;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface CaptureServer {
  url: string;
  port: number;
  received: Captured[];
  /** Status code answered next (default 200); a function decides per request. */
  respond: number | ((c: Captured) => number);
  /** Delay before answering (ms). */
  delayMs: number;
  close(): Promise<void>;
}

/** An HTTP server that records every request and answers `respond`. */
export async function startCapture(): Promise<CaptureServer> {
  const received: Captured[] = [];
  const cap: CaptureServer = {
    url: '',
    port: 0,
    received,
    respond: 200,
    delayMs: 0,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  const server: Server = createServer((req, res) => {
    const t = Date.now();
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const c: Captured = { t, path: req.url ?? '', headers: req.headers, body, json };
      received.push(c);
      const status = typeof cap.respond === 'function' ? cap.respond(c) : cap.respond;
      const answer = () => {
        res.statusCode = status;
        res.end(status >= 400 ? 'failure injected by the test' : 'ok');
      };
      if (cap.delayMs > 0) setTimeout(answer, cap.delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cap.port = (server.address() as AddressInfo).port;
  cap.url = `http://127.0.0.1:${cap.port}`;
  return cap;
}

export interface AlertingServer {
  url: string;
  service: AlertingService;
  registry: Registry;
  http: RunningHttpServer;
  /** Applies a new `alerting:` YAML (the section body) as a reload would. */
  reload(alertingYaml: string): void;
  stop(): Promise<void>;
}

const silentLogger = (): Logger => pino({ level: process.env.VIGIL_TEST_LOG ?? 'silent' });

/** Wraps the body of an `alerting:` section (indented by the caller or not) into vigil.yml text. */
export function alertingYaml(body: string): string {
  return 'alerting:\n' + body.split('\n').map((l) => (l ? '  ' + l : l)).join('\n') + '\n';
}

/**
 * An alerting-only Vigil: the alerting service with the given `alerting:` section body, the
 * state store (optional) and the HTTP API on 127.0.0.1 (port 0 unless `listen` says otherwise).
 */
export async function startAlertingServer(opts: {
  alerting: string;
  store?: StateStore;
  listen?: string;
  externalUrl?: string;
  intervals?: Partial<ServiceIntervals>;
  logger?: Logger;
  /** File name used for config errors and relative paths. */
  configFile?: string;
}): Promise<AlertingServer> {
  const logger = opts.logger ?? silentLogger();
  const registry = new Registry();
  const file = opts.configFile ?? join(tmpdir(), 'vigil-alerting-test.yml');
  const text = alertingYaml(opts.alerting);
  const cfg = parseConfig(text, file, [...CORE_SECTIONS, alertingSection]);
  const service = await AlertingService.create({
    config: cfg.get(alertingSection), store: opts.store, logger, registry, externalUrl: opts.externalUrl ?? 'http://vigil.test', intervals: opts.intervals,
  });
  const config = new ConfigManager({ file: undefined, sections: [...CORE_SECTIONS, alertingSection], logger, registry: new Registry(), defaultsYaml: text });
  await config.load();
  const health = new HealthRegistry({ version: '0.0.0-test', releaseId: 'test', serviceId: 'vigil@test', description: 'test' });
  health.register(service.healthCheck());
  if (opts.store) health.register(opts.store.healthCheck());
  const deps: ApiDeps = {
    logger, registry, health, config, dataDir: tmpdir(),
    buildInfo: { version: '0.1.0', revision: 'test', branch: 'main', buildUser: 'test', buildDate: '20260101-00:00:00', goVersion: process.version },
    startTime: Date.now(), isReady: () => true, reload: () => config.reload(), flags: {}, alerting: service,
  };
  const http = await listen(buildHttpApp(deps), opts.listen ?? '127.0.0.1:0');
  return {
    url: `http://127.0.0.1:${http.address.port}`,
    service,
    registry,
    http,
    reload: (body: string) => service.applyConfig(parseConfig(alertingYaml(body), file, [...CORE_SECTIONS, alertingSection]).get(alertingSection)),
    stop: async () => {
      await http.close(2000);
      await service.stop();
    },
  };
}

export interface AlertmanagerProcess {
  url: string;
  child: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}


/** Starts Debian's Alertmanager 0.25 with this configuration text, cluster off, a temp storage dir. */
export async function startAlertmanager(configYaml: string, extraArgs: string[] = []): Promise<AlertmanagerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-am-'));
  const cfg = join(dir, 'alertmanager.yml');
  writeFileSync(cfg, configYaml);
  const port = await freePort();
  const child = spawn(AM_BIN, [`--config.file=${cfg}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ready = await waitFor(async () => {
    try {
      return (await fetch(`${url}/-/ready`)).status === 200;
    } catch {
      return false;
    }
  }, 15_000);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  if (!ready) {
    await stop();
    throw new Error(`alertmanager did not become ready:\n${out}`);
  }
  return { url, child, logs: () => out, stop };
}

/** POSTs alerts (Alertmanager API v2 JSON) and returns the status and body. */
export async function postAlerts(baseUrl: string, alerts: unknown[]): Promise<{ status: number; body: string }> {
  const r = await fetch(`${baseUrl}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
  return { status: r.status, body: await r.text() };
}
