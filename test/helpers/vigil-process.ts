/**
 * Runs `vigil server` as a child process for end-to-end tests: waits for the "ready" log line
 * (which carries the bound address, so port 0 works), collects the logs, and stops the
 * process by its PID. Bounded: start-up and stop each time out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export const VIGIL_BIN = new URL('../../bin/vigil.mjs', import.meta.url).pathname;

export interface VigilProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  logs(): string;
  /** SIGTERM and wait for exit; returns the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Removes the data directory if this helper created it. */
  cleanup(): void;
}

export async function startVigil(args: string[] = [], opts: { dataDir?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<VigilProcess> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
  const child = spawn(process.execPath, [VIGIL_BIN, 'server', '--web.listen-address=127.0.0.1:0', `--storage.tsdb.path=${dataDir}`, '--log.format=json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`vigil did not become ready in time; logs:\n${out}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = () => {
      const m = /"address":"([^"]+)"[^\n]*"msg":"Server is ready|"msg":"Server is ready[^\n]*"address":"([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1] ?? m[2]}`);
      }
    };
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`vigil exited with ${code} before becoming ready; logs:\n${out}`));
    });
  });
  return {
    child,
    url,
    dataDir,
    logs: () => out,
    stop: async (signal = 'SIGTERM', timeoutMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    cleanup: () => {
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `vigil ARGS...` to completion (bounded) and returns its exit code and output. */
export function runVigil(args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [VIGIL_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
