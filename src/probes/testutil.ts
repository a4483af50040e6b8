/**
 * Helpers for the probes' tests (not part of the public API): config parsing through the real
 * schema, a log capture, reading back what a probe wrote, starting the real exporters on free
 * ports (stopped by PID), and free ports.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { parseConfig } from '../config/index.ts';
import { parseExposition, type ParsedExposition } from '../exposition/index.ts';
import { isStaleNaN, Labels, Matcher, type Clock } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { probesSection, type ProbesConfig } from './config.ts';
import { ProbeManager } from './manager.ts';
import { SampleBuffer } from './samples.ts';
import type { ProbeOutcome, Prober } from './types.ts';
import { freePort } from '../../test/helpers/free-port.ts';

/** Parses a `probes:` section given as YAML (indented under `probes:`). */
export function probesFromYaml(yaml: string, file = 'test.yml'): ProbesConfig {
  return parseConfig(`probes:\n${yaml}`, file, [probesSection]).get(probesSection);
}

/** A pino logger whose lines are kept in `lines` (JSON text). */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export const silentLogger = (): Logger => pino({ level: 'silent' });

/** A manager over a fresh MemoryStorage. */
export function managerWithStorage(opts: { clock?: Clock; logger?: Logger } = {}): { manager: ProbeManager; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  const manager = new ProbeManager({ appendable: storage, logger: opts.logger ?? silentLogger(), clock: opts.clock });
  return { manager, storage };
}

export interface StoredSample {
  labels: Labels;
  t: number;
  v: number;
}

/** Every sample of every series matching `name` and label equalities, in time order per series. */
export async function samplesOf(storage: MemoryStorage, name: string, match: Record<string, string> = {}): Promise<Array<{ labels: Labels; points: Array<{ t: number; v: number }> }>> {
  const matchers = [new Matcher('=', '__name__', name), ...Object.entries(match).map(([k, v]) => new Matcher('=', k, v))];
  const q = storage.querier(-Infinity, Infinity);
  const set = await q.select(matchers);
  q.close();
  return set.series.map((s) => {
    const it = s.iterator();
    const points: Array<{ t: number; v: number }> = [];
    while (it.next() !== 0) points.push({ t: it.atT(), v: it.at() });
    return { labels: s.labels, points };
  });
}

/** The latest non-stale value of the single series matching, or undefined. */
export async function latest(storage: MemoryStorage, name: string, match: Record<string, string> = {}): Promise<number | undefined> {
  const series = await samplesOf(storage, name, match);
  if (series.length > 1) throw new Error(`${series.length} series match ${name}${JSON.stringify(match)}: ${series.map((s) => s.labels.toString()).join(' ')}`);
  const pts = series[0]?.points ?? [];
  for (let i = pts.length - 1; i >= 0; i--) if (!isStaleNaN(pts[i]!.v)) return pts[i]!.v;
  return undefined;
}

/** Whether the last sample of every series matching is a stale marker. */
export async function allStale(storage: MemoryStorage, name: string, match: Record<string, string> = {}): Promise<boolean> {
  const series = await samplesOf(storage, name, match);
  return series.length > 0 && series.every((s) => isStaleNaN(s.points[s.points.length - 1]!.v));
}


export interface RunningExporter {
  url: string;
  pid: number;
  scrape(): Promise<ParsedExposition>;
  stop(): Promise<void>;
}

/**
 * Starts a Debian exporter on a free port and waits until /metrics answers (≤ 10 s). Returns
 * undefined when the binary is not installed. Stopped by PID with SIGTERM (SIGKILL after 3 s).
 */
export async function startExporter(bin: string, args: (port: number) => string[], env: Record<string, string> = {}): Promise<RunningExporter | undefined> {
  if (!existsSync(bin)) return undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(bin, args(port), { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}/metrics`;
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.ok) {
          up = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const stop = async () => {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    };
    if (!up) {
      await stop();
      if (attempt === 2) throw new Error(`${bin} did not start: ${stderr}`);
      continue;
    }
    return {
      url,
      pid: child.pid!,
      scrape: async () => {
        const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        return parseExposition(await r.text(), 'prometheus');
      },
      stop,
    };
  }
  return undefined;
}

/** The value of the one sample named `name` with the given labels in a parsed exposition. */
export function valueIn(exp: ParsedExposition, name: string, match: Record<string, string> = {}): number | undefined {
  for (const s of exp.samples) {
    if (s.labels.get('__name__') !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels.get(k) === v)) return s.value;
  }
  return undefined;
}

/** A manual clock for tests that check timestamps. */
export class ManualClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

/** Runs a prober once outside any manager; the buffer is sealed afterwards. */
export async function runProber(prober: Prober, timeoutMs = 5000, now: () => number = () => Date.now()): Promise<{ out: SampleBuffer; outcome: ProbeOutcome }> {
  const out = new SampleBuffer();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const outcome = await prober.run(out, { signal: ac.signal, timeoutMs, now, logger: silentLogger() });
    out.seal();
    return { out, outcome };
  } finally {
    clearTimeout(timer);
  }
}

/** A self-signed certificate for 127.0.0.1/localhost made with openssl, or undefined when openssl is missing. */
export function selfSignedCert(dir: string, days = 30): { key: string; cert: string; notAfter: number } | undefined {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const x = new X509Certificate(readFileSync(cert));
  return { key, cert, notAfter: Date.parse(x.validTo) / 1000 };
}

export interface PrivatePostgres {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts a throw-away PostgreSQL cluster on a free port with `shared_preload_libraries`
 * (initdb + postgres from /usr/lib/postgresql/<v>/bin; as root the server runs as the
 * `postgres` user). Returns a reason string when that is not possible here. Stopped by the
 * postmaster's PID (fast shutdown); its directory is removed.
 */
export async function startPrivatePostgres(preload: string[], opts: { standbyOf?: number } = {}): Promise<PrivatePostgres | string> {
  const { readdirSync, mkdtempSync, chownSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const root = '/usr/lib/postgresql';
  let bin: string | undefined;
  try {
    const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) {
      bin = join(root, v, 'bin');
      break;
    }
  } catch {
    // no server packages
  }
  if (!bin) return `no PostgreSQL server binaries under ${root}`;
  const asRoot = process.getuid?.() === 0;
  let uid: number | undefined;
  if (asRoot) {
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    } catch {
      return 'running as root and there is no postgres user to run a private server';
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'vigil-probes-pg-'));
  if (uid !== undefined) chownSync(dir, uid, uid);
  const wrap = (cmd: string, args: string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const [c, a] =
      opts.standbyOf !== undefined
        ? wrap(join(bin, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(opts.standbyOf), '-U', 'postgres', '-D', join(dir, 'data'), '-R', '-X', 'stream', '--no-sync'])
        : wrap(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    execFileSync(c, a, { stdio: 'ignore', timeout: 30_000 });
  } catch (e) {
    cleanup();
    return `${opts.standbyOf !== undefined ? 'pg_basebackup' : 'initdb'} failed: ${(e as Error).message}`;
  }
  const port = await freePort();
  const [c, a] = wrap(join(bin, 'postgres'), [
    '-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', `shared_preload_libraries=${preload.join(',')}`, '-c', 'fsync=off', '-c', 'max_connections=30',
  ]);
  const child = spawn(c, a, { stdio: 'ignore', detached: false });
  const pidFile = join(dir, 'data', 'postmaster.pid');
  const pg = (await import('pg')).default;
  const deadline = Date.now() + 15_000;
  let ready = false;
  while (Date.now() < deadline && child.exitCode === null) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.end();
      ready = true;
      break;
    } catch {
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const stop = async () => {
    let pid: number | undefined;
    try {
      pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    } catch {
      pid = undefined;
    }
    if (pid) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // already gone
      }
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    cleanup();
  };
  if (!ready) {
    await stop();
    return 'the private PostgreSQL server did not start';
  }
  return { port, stop };
}
