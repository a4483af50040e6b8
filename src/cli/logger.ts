/**
 * Vigil's logger: pino, writing to stderr either as JSON lines or as logfmt
 * (`ts=... level=info component=tsdb msg="..." key=value`), the two formats Prometheus offers.
 */
import pino, { type Logger } from 'pino';
import { VigilError } from '../model/index.ts';

export type LogFormat = 'logfmt' | 'json';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function logfmtValue(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (v === null || v === undefined) s = String(v);
  else if (typeof v === 'object') s = JSON.stringify(v);
  else s = String(v);
  if (s === '' || /[\s"=\\]/.test(s) || /[\x00-\x1f]/.test(s)) return JSON.stringify(s);
  return s;
}

/** Converts one pino JSON line into a logfmt line (ts, level, component, msg first). */
export function jsonLineToLogfmt(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const parts: string[] = [];
  const { time, level, component, msg, pid: _pid, hostname: _host, ...rest } = rec;
  if (time !== undefined) parts.push(`ts=${logfmtValue(time)}`);
  if (level !== undefined) parts.push(`level=${logfmtValue(level)}`);
  if (component !== undefined) parts.push(`component=${logfmtValue(component)}`);
  if (msg !== undefined) parts.push(`msg=${logfmtValue(msg)}`);
  for (const [k, v] of Object.entries(rest)) {
    if (k === 'err' && v && typeof v === 'object' && 'message' in v) parts.push(`err=${logfmtValue((v as { message: unknown }).message)}`);
    else parts.push(`${k}=${logfmtValue(v)}`);
  }
  return parts.join(' ') + '\n';
}

export interface LoggerOptions {
  level: string;
  format: string;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
}

/** Creates the root logger. Throws VigilError for an unknown level or format. */
export function createLogger(opts: LoggerOptions): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(opts.level)) {
    throw new VigilError('bad_flag', `--log.level: unknown level ${JSON.stringify(opts.level)} (one of ${LOG_LEVELS.join(', ')})`);
  }
  if (opts.format !== 'logfmt' && opts.format !== 'json') {
    throw new VigilError('bad_flag', `--log.format: unknown format ${JSON.stringify(opts.format)} (logfmt or json)`);
  }
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const dest = { write: opts.format === 'json' ? write : (line: string) => write(jsonLineToLogfmt(line)) };
  return pino(
    {
      level: opts.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: (e: unknown) => (e instanceof Error ? { message: e.message, ...(e instanceof VigilError ? { code: e.code } : {}) } : e) },
    },
    dest,
  );
}
