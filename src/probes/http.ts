/**
 * The http probe: blackbox_exporter's http prober (metric names and semantics), plus a JSON
 * field check. One run resolves the target, sends the request on a fresh connection, follows
 * redirects (summing the per-phase durations over them), reads the body up to the size limit
 * and applies the checks in blackbox's order: status code, HTTP version, headers, body
 * regular expressions, JSON fields, SSL.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { compileRe2, errorMessage } from '../model/index.ts';
import { parseJsonPath, type HttpProbeConfig, type JsonPathStep } from './config.ts';
import { addTlsMetrics, describeNetError, ipAddrHash, resolveTarget, ResolveError, TLS_METADATA, tlsOptions, type Resolved } from './net.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable, ProbeContext, ProbeOutcome, Prober } from './types.ts';

export const BLACKBOX_COMMON_METADATA: MetadataTable = {
  probe_success: ['gauge', 'Displays whether or not the probe was a success'],
  probe_duration_seconds: ['gauge', 'Returns how long the probe took to complete in seconds'],
  probe_dns_lookup_time_seconds: ['gauge', 'Returns the time taken for probe dns lookup in seconds'],
  probe_ip_protocol: ['gauge', 'Specifies whether probe ip protocol is IP4 or IP6'],
  probe_ip_addr_hash: ['gauge', "Specifies the hash of IP address. It's useful to detect if the IP address changes."],
  probe_failed_due_to_regex: ['gauge', 'Indicates if probe failed due to regex'],
};

export const HTTP_METADATA: MetadataTable = {
  ...BLACKBOX_COMMON_METADATA,
  probe_http_content_length: ['gauge', 'Length of http content response'],
  probe_http_uncompressed_body_length: ['gauge', 'Length of uncompressed response body'],
  probe_http_duration_seconds: ['gauge', 'Duration of http request by phase, summed over all redirects'],
  probe_http_redirects: ['gauge', 'The number of redirects'],
  probe_http_ssl: ['gauge', 'Indicates if SSL was used for the final redirect'],
  probe_http_status_code: ['gauge', 'Response HTTP status code'],
  probe_http_version: ['gauge', 'Returns the version of HTTP of the probe response'],
  probe_http_last_modified_timestamp_seconds: ['gauge', 'Returns the Last-Modified HTTP response header in unixtime'],
  ...TLS_METADATA,
};

/** Read at most this much when body_size_limit is 0, so one probe cannot exhaust memory. */
export const HTTP_HARD_BODY_LIMIT = 100 * 1024 * 1024;

const PHASES = ['connect', 'processing', 'resolve', 'tls', 'transfer'] as const;
type Phase = (typeof PHASES)[number];

interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  httpVersion: string;
  /** Raw (possibly compressed) body; empty for redirects that are followed. */
  body: Buffer;
  tooLarge: boolean;
  tls: TLSSocket | undefined;
}

const USER_AGENT = 'Vigil-Probe/1.0';

export class HttpProber implements Prober {
  private readonly bodyMatches: RegExp[];
  private readonly bodyNotMatches: RegExp[];
  private readonly headerMatches: Array<{ header: string; re: RegExp; allowMissing: boolean }>;
  private readonly headerNotMatches: Array<{ header: string; re: RegExp; allowMissing: boolean }>;
  private readonly jsonChecks: Array<{ path: string; steps: JsonPathStep[]; equals?: unknown; hasEquals: boolean; re?: RegExp }>;

  constructor(private readonly cfg: HttpProbeConfig) {
    this.bodyMatches = cfg.fail_if_body_matches_regexp.map((r) => compileRe2(r));
    this.bodyNotMatches = cfg.fail_if_body_not_matches_regexp.map((r) => compileRe2(r));
    this.headerMatches = cfg.fail_if_header_matches.map((h) => ({ header: h.header.toLowerCase(), re: compileRe2(h.regexp), allowMissing: h.allow_missing }));
    this.headerNotMatches = cfg.fail_if_header_not_matches.map((h) => ({ header: h.header.toLowerCase(), re: compileRe2(h.regexp), allowMissing: h.allow_missing }));
    this.jsonChecks = cfg.fail_if_body_json_not_matches.map((j) => ({
      path: j.path,
      steps: parseJsonPath(j.path),
      equals: j.equals,
      hasEquals: j.equals !== undefined,
      re: j.matches !== undefined ? compileRe2(j.matches) : undefined,
    }));
  }

  async run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome> {
    const cfg = this.cfg;
    const t0 = performance.now();
    const phases: Record<Phase, number> = { connect: 0, processing: 0, resolve: 0, tls: 0, transfer: 0 };
    let status = 0;
    let contentLength = 0;
    let uncompressedLength = 0;
    let redirects = 0;
    let ssl = 0;
    let version = 0;
    let failedDueToRegex = 0;
    let lastModified: number | undefined;
    let finalTls: TLSSocket | undefined;
    let error: string | undefined;

    try {
      let url = new URL(cfg.url);
      const origin = url.host;
      let method = cfg.method;
      let body: Buffer | undefined = cfg.body !== undefined ? Buffer.from(cfg.body) : cfg.body_file !== undefined ? readFileSync(cfg.body_file) : undefined;
      let resolved = await resolveTarget(url.hostname, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, ctx.signal);
      phases.resolve += resolved.seconds;
      out.add('probe_dns_lookup_time_seconds', resolved.seconds);
      out.add('probe_ip_protocol', resolved.family);
      out.add('probe_ip_addr_hash', ipAddrHash(resolved.address));

      for (;;) {
        // Credentials go to the configured host only, not to another host a redirect names.
        const ex = await this.exchange(url, resolved, method, body, ctx, phases, url.host === origin);
        status = ex.status;
        const location = ex.headers.location;
        if (cfg.follow_redirects && isRedirect(ex.status) && location) {
          if (redirects >= cfg.max_redirects) {
            error = `stopped after ${cfg.max_redirects} redirects (last: ${ex.status} to ${location})`;
            break;
          }
          let next: URL;
          try {
            next = new URL(location, url);
          } catch {
            error = `redirect to an invalid location ${JSON.stringify(location)}`;
            break;
          }
          if (next.protocol !== 'http:' && next.protocol !== 'https:') {
            error = `redirect to unsupported scheme ${next.protocol}`;
            break;
          }
          redirects++;
          // Go's client: 301/302/303 turn into GET without a body (HEAD stays HEAD); 307/308 keep both.
          if (ex.status === 303 || ((ex.status === 301 || ex.status === 302) && method === 'POST')) {
            if (method !== 'HEAD') method = 'GET';
            body = undefined;
          }
          if (next.hostname !== url.hostname) {
            resolved = await resolveTarget(next.hostname, cfg.preferred_ip_protocol, cfg.ip_protocol_fallback, ctx.signal);
            phases.resolve += resolved.seconds;
          }
          url = next;
          continue;
        }

        finalTls = ex.tls;
        ssl = ex.tls ? 1 : 0;
        version = Number(ex.httpVersion) || 0;
        const cl = ex.headers['content-length'];
        contentLength = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : -1;
        const lm = ex.headers['last-modified'];
        if (lm) {
          const ms = Date.parse(lm);
          if (!Number.isNaN(ms)) lastModified = ms / 1000;
        }
        const limit = cfg.body_size_limit > 0 ? cfg.body_size_limit : HTTP_HARD_BODY_LIMIT;
        if (ex.tooLarge) {
          error = `response body is larger than the body_size_limit of ${limit} bytes`;
          break;
        }
        let text: Buffer;
        try {
          text = decodeBody(ex.body, ex.headers['content-encoding'], limit);
        } catch (e) {
          error = /exceed|buffer/i.test(errorMessage(e))
            ? `uncompressed response body is larger than the body_size_limit of ${limit} bytes`
            : `cannot decompress the response body (${ex.headers['content-encoding']}): ${errorMessage(e)}`;
          break;
        }
        uncompressedLength = text.length;
        error = this.check(ex, text);
        if (error?.startsWith('body ')) failedDueToRegex = 1;
        break;
      }
    } catch (e) {
      if (ctx.signal.aborted) error = `probe timed out after ${ctx.timeoutMs / 1000}s`;
      else if (e instanceof ResolveError) error = e.message;
      else error = describeNetError(e, this.cfg.url);
    }

    out.add('probe_http_status_code', status);
    out.add('probe_http_content_length', contentLength);
    out.add('probe_http_uncompressed_body_length', uncompressedLength);
    out.add('probe_http_redirects', redirects);
    out.add('probe_http_ssl', ssl);
    out.add('probe_http_version', version);
    out.add('probe_failed_due_to_regex', failedDueToRegex);
    for (const p of PHASES) out.add('probe_http_duration_seconds', phases[p], ['phase', p]);
    if (lastModified !== undefined) out.add('probe_http_last_modified_timestamp_seconds', lastModified);
    if (finalTls) addTlsMetrics(out, finalTls);
    const success = error === undefined;
    out.add('probe_success', success ? 1 : 0);
    out.add('probe_duration_seconds', (performance.now() - t0) / 1000);
    return success ? { success } : { success, error: error! };
  }

  /** The checks on the final response; returns the first failure's reason. */
  private check(ex: Exchange, body: Buffer): string | undefined {
    const cfg = this.cfg;
    if (cfg.valid_status_codes.length > 0) {
      if (!cfg.valid_status_codes.includes(ex.status)) return `status code ${ex.status} is not one of the valid_status_codes ${cfg.valid_status_codes.join(', ')}`;
    } else if (ex.status < 200 || ex.status > 299) {
      return `status code ${ex.status} is not 2xx`;
    }
    if (cfg.valid_http_versions.length > 0 && !cfg.valid_http_versions.includes(`HTTP/${ex.httpVersion}`)) {
      return `HTTP version HTTP/${ex.httpVersion} is not one of the valid_http_versions ${cfg.valid_http_versions.join(', ')}`;
    }
    for (const h of this.headerMatches) {
      const values = headerValues(ex.headers, h.header);
      if (values.length === 0) {
        if (!h.allowMissing) return `header ${h.header} is missing`;
        continue;
      }
      if (values.some((v) => h.re.test(v))) return `header ${h.header} matched fail_if_header_matches ${JSON.stringify(h.re.source)}`;
    }
    for (const h of this.headerNotMatches) {
      const values = headerValues(ex.headers, h.header);
      if (values.length === 0) {
        if (!h.allowMissing) return `header ${h.header} is missing`;
        continue;
      }
      if (!values.some((v) => h.re.test(v))) return `header ${h.header} did not match fail_if_header_not_matches ${JSON.stringify(h.re.source)}`;
    }
    if (this.bodyMatches.length || this.bodyNotMatches.length || this.jsonChecks.length) {
      const text = body.toString('utf8');
      for (let i = 0; i < this.bodyMatches.length; i++) {
        if (this.bodyMatches[i]!.test(text)) return `body matched fail_if_body_matches_regexp ${JSON.stringify(cfg.fail_if_body_matches_regexp[i])}`;
      }
      for (let i = 0; i < this.bodyNotMatches.length; i++) {
        if (!this.bodyNotMatches[i]!.test(text)) return `body did not match fail_if_body_not_matches_regexp ${JSON.stringify(cfg.fail_if_body_not_matches_regexp[i])}`;
      }
      if (this.jsonChecks.length) {
        let doc: unknown;
        try {
          doc = JSON.parse(text);
        } catch (e) {
          return `response body is not valid JSON: ${errorMessage(e)}`;
        }
        for (const c of this.jsonChecks) {
          const found = lookupJson(doc, c.steps);
          if (!found.ok) return `JSON field ${c.path} is missing`;
          const v = found.value;
          if (c.hasEquals && !(v === c.equals)) return `JSON field ${c.path} is ${JSON.stringify(v)}, expected ${JSON.stringify(c.equals)}`;
          if (c.re) {
            const s = typeof v === 'string' ? v : JSON.stringify(v);
            if (!c.re.test(s)) return `JSON field ${c.path} is ${JSON.stringify(v)}, which does not match ${JSON.stringify(c.re.source)}`;
          }
        }
      }
    }
    if (ex.tls && cfg.fail_if_ssl) return 'the final request was made over SSL and fail_if_ssl is set';
    if (!ex.tls && cfg.fail_if_not_ssl) return 'the final request was not made over SSL and fail_if_not_ssl is set';
    return undefined;
  }

  /** One request/response on a fresh connection to the resolved address. */
  private exchange(url: URL, resolved: Resolved, method: string, body: Buffer | undefined, ctx: ProbeContext, phases: Record<Phase, number>, withAuth: boolean): Promise<Exchange> {
    const cfg = this.cfg;
    const secure = url.protocol === 'https:';
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
    for (const [k, v] of Object.entries(cfg.headers)) headers[k] = v;
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) headers.Host = url.host;
    if (cfg.basic_auth && withAuth) {
      const pw = (cfg.basic_auth.password ?? cfg.basic_auth.password_file)?.reveal() ?? '';
      headers.Authorization = 'Basic ' + Buffer.from(`${cfg.basic_auth.username}:${pw}`).toString('base64');
    }
    const token = cfg.bearer_token ?? cfg.bearer_token_file;
    if (token && withAuth) headers.Authorization = `Bearer ${token.reveal()}`;
    if (body !== undefined) headers['Content-Length'] = String(body.length);
    const limit = cfg.body_size_limit > 0 ? cfg.body_size_limit : HTTP_HARD_BODY_LIMIT;
    const following = cfg.follow_redirects;

    return new Promise<Exchange>((resolve, reject) => {
      const port = url.port ? Number(url.port) : secure ? 443 : 80;
      const common: http.RequestOptions = {
        host: resolved.address,
        family: resolved.family,
        port,
        method,
        path: url.pathname + url.search,
        headers,
        agent: false,
        signal: ctx.signal,
        setHost: false,
      };
      let tConnStart = performance.now();
      let tReady = tConnStart;
      let tlsSocket: TLSSocket | undefined;
      const req = secure ? https.request({ ...common, ...tlsOptions(cfg.tls_config, url.hostname.replace(/^\[|\]$/g, '')) }) : http.request(common);
      req.once('socket', (sock) => {
        tConnStart = performance.now();
        sock.once('connect', () => {
          const now = performance.now();
          phases.connect += (now - tConnStart) / 1000;
          tReady = now;
        });
        if (secure) {
          tlsSocket = sock as TLSSocket;
          sock.once('secureConnect', () => {
            const now = performance.now();
            phases.tls += (now - tReady) / 1000;
            tReady = now;
          });
        }
      });
      req.once('response', (res) => {
        const tFirst = performance.now();
        phases.processing += (tFirst - tReady) / 1000;
        const redirect = following && isRedirect(res.statusCode ?? 0) && res.headers.location !== undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        let tooLarge = false;
        res.on('data', (c: Buffer) => {
          if (redirect || tooLarge) return;
          size += c.length;
          if (size > limit) {
            tooLarge = true;
            chunks.length = 0;
            res.destroy();
            finish();
            return;
          }
          chunks.push(c);
        });
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          phases.transfer += (performance.now() - tFirst) / 1000;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, httpVersion: res.httpVersion, body: Buffer.concat(chunks), tooLarge, tls: tlsSocket });
        };
        res.once('end', finish);
        res.once('error', (e) => (tooLarge ? finish() : reject(e)));
        res.once('aborted', () => {
          if (!done && !tooLarge) reject(new Error('the server closed the connection before the body was complete'));
        });
      });
      req.once('error', reject);
      req.end(body);
    });
  }

  close(): void {}
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function headerValues(headers: http.IncomingHttpHeaders, name: string): string[] {
  const v = headers[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function decodeBody(raw: Buffer, encoding: string | undefined, limit: number): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(raw, { maxOutputLength: limit });
    case 'deflate':
      return inflateSync(raw, { maxOutputLength: limit });
    case 'br':
      return brotliDecompressSync(raw, { maxOutputLength: limit });
    default:
      return raw;
  }
}

function lookupJson(doc: unknown, steps: readonly JsonPathStep[]): { ok: boolean; value?: unknown } {
  let cur: unknown = doc;
  for (const s of steps) {
    if (typeof s === 'number') {
      if (!Array.isArray(cur) || s >= cur.length) return { ok: false };
      cur = cur[s];
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, s)) return { ok: false };
      cur = (cur as Record<string, unknown>)[s];
    }
  }
  return { ok: true, value: cur };
}
