/**
 * The tcp probe: blackbox_exporter's tcp prober. Connects (optionally with TLS), runs the
 * optional query_response dialogue (wait for a line matching `expect`, write `send` plus a
 * newline) and closes.
 */
import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { compileRe2 } from '../model/index.ts';
import type { TcpProbeConfig } from './config.ts';
import { BLACKBOX_COMMON_METADATA } from './http.ts';
import { addTlsMetrics, describeNetError, ipAddrHash, resolveTarget, ResolveError, TLS_METADATA, tlsOptions } from './net.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable, ProbeContext, ProbeOutcome, Prober } from './types.ts';

export const TCP_METADATA: MetadataTable = { ...BLACKBOX_COMMON_METADATA, ...TLS_METADATA };

/** Longest line kept while waiting for an `expect` match. */
const MAX_LINE = 64 * 1024;

export class TcpProber implements Prober {
  private readonly steps: Array<{ expect?: RegExp; expectSource?: string; send?: string }>;
  private readonly host: string;
  private readonly port: number;

  constructor(private readonly cfg: TcpProbeConfig) {
    this.steps = cfg.query_response.map((s) => ({ expect: s.expect !== undefined ? compileRe2(s.expect) : undefined, expectSource: s.expect, send: s.send }));
    const i = cfg.address.lastIndexOf(':');
    this.host = cfg.address.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
    this.port = Number(cfg.address.slice(i + 1));
  }

  async run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome> {
    const t0 = performance.now();
    let error: string | undefined;
    let failedDueToRegex = 0;
    let socket: net.Socket | undefined;
    try {
      const r = await resolveTarget(this.host, this.cfg.preferred_ip_protocol, this.cfg.ip_protocol_fallback, ctx.signal);
      out.add('probe_dns_lookup_time_seconds', r.seconds);
      out.add('probe_ip_protocol', r.family);
      out.add('probe_ip_addr_hash', ipAddrHash(r.address));
      socket = await this.connect(r.address, ctx.signal);
      if (this.cfg.tls) addTlsMetrics(out, socket as TLSSocket);
      const res = await this.dialogue(socket, ctx.signal);
      if (res) {
        error = res.error;
        if (res.regex) failedDueToRegex = 1;
      }
    } catch (e) {
      if (ctx.signal.aborted) error = `probe timed out after ${ctx.timeoutMs / 1000}s`;
      else if (e instanceof ResolveError) error = e.message;
      else error = describeNetError(e, this.cfg.address);
    } finally {
      socket?.destroy();
    }
    out.add('probe_failed_due_to_regex', failedDueToRegex);
    const success = error === undefined;
    out.add('probe_success', success ? 1 : 0);
    out.add('probe_duration_seconds', (performance.now() - t0) / 1000);
    return success ? { success } : { success, error: error! };
  }

  private connect(address: string, signal: AbortSignal): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        sock.destroy();
        reject(new Error('aborted'));
      };
      const sock: net.Socket = this.cfg.tls
        ? tls.connect({ host: address, port: this.port, ...tlsOptions(this.cfg.tls_config, this.host) }, () => done())
        : net.connect({ host: address, port: this.port }, () => done());
      const done = () => {
        signal.removeEventListener('abort', onAbort);
        sock.off('error', fail);
        resolve(sock);
      };
      const fail = (e: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      };
      sock.once('error', fail);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs query_response; returns the failure, if any. */
  private async dialogue(sock: net.Socket, signal: AbortSignal): Promise<{ error: string; regex: boolean } | undefined> {
    if (this.steps.length === 0) return undefined;
    let buffered = '';
    const lines: string[] = [];
    let ended = false;
    let wake: (() => void) | undefined;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        lines.push(buffered.slice(0, nl).replace(/\r$/, ''));
        buffered = buffered.slice(nl + 1);
      }
      if (buffered.length > MAX_LINE) {
        lines.push(buffered);
        buffered = '';
      }
      wake?.();
    });
    sock.on('end', () => {
      ended = true;
      if (buffered) lines.push(buffered);
      buffered = '';
      wake?.();
    });
    sock.on('error', () => {
      ended = true;
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (const step of this.steps) {
        if (step.expect) {
          let matched = false;
          while (!matched) {
            while (lines.length && !matched) matched = step.expect.test(lines.shift()!);
            if (matched) break;
            if (ended) return { error: `connection closed before a line matched expect ${JSON.stringify(step.expectSource)}`, regex: true };
            if (signal.aborted) return { error: `no line matched expect ${JSON.stringify(step.expectSource)} before the timeout`, regex: true };
            await new Promise<void>((r) => (wake = r));
            wake = undefined;
          }
        }
        if (step.send !== undefined) {
          await new Promise<void>((resolve, reject) => sock.write(step.send + '\n', (e) => (e ? reject(e) : resolve())));
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return undefined;
  }

  close(): void {}
}
