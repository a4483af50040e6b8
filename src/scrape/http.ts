/**
 * The HTTP side of a scrape: one GET with Prometheus' headers, keep-alive connections per job,
 * gzip, redirects, basic/bearer authorization, TLS, a deadline (`scrape_timeout`) and
 * `body_size_limit` (applied to the decompressed body, as Prometheus does). Failures are
 * ScrapeError with Go/Prometheus-like wording (`Get "URL": context deadline exceeded`,
 * `server returned HTTP status 401 Unauthorized`), which becomes the target's lastError.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { gunzip } from 'node:zlib';
import type { SecureVersion } from 'node:tls';
import { VigilError, formatDuration } from '../model/index.ts';
import { RawHttpPool } from './rawhttp.ts';
import type { ScrapeConfig } from './config.ts';

export class ScrapeError extends VigilError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface ScrapeResponse {
  /**
   * The (decompressed) body. It may be a view into a pooled connection buffer: read it before
   * calling `release()`, and do not keep it afterwards.
   */
  body: Buffer;
  contentType: string;
  /** Gives pooled resources back; call once the body has been read. */
  release(): void;
}

export interface HttpClientOptions {
  config: ScrapeConfig;
  timeoutMs: number;
  bodySizeLimit: number;
  accept: string;
  userAgent: string;
  /** Use the lean plain-HTTP client (default true); false forces Node's http client. */
  rawHttp?: boolean;
}

const MAX_REDIRECTS = 10;
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

/** Maps Node's TLS verification codes to Go's x509 wording (what Prometheus shows). */
function tlsMessage(e: NodeJS.ErrnoException): string | undefined {
  switch (e.code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return `tls: failed to verify certificate: x509: certificate signed by unknown authority (${e.message})`;
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return `tls: failed to verify certificate: x509: certificate has expired or is not yet valid (${e.message})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `tls: failed to verify certificate: x509: ${e.message}`;
    default:
      return undefined;
  }
}

function networkMessage(e: NodeJS.ErrnoException, u: URL): string {
  const tls = tlsMessage(e);
  if (tls) return tls;
  const hostPort = `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `dial tcp ${hostPort}: connect: connection refused`;
    case 'ENOTFOUND':
      return `dial tcp: lookup ${u.hostname}: no such host`;
    case 'ECONNRESET':
      return `read tcp ${hostPort}: connection reset by peer`;
    case 'EPROTO':
      return `tls: ${e.message}`;
    default:
      return e.message;
  }
}

/** One job's HTTP client (its connection pool, TLS material and credentials). */
export class ScrapeHttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly tls: https.RequestOptions;
  private readonly raw: RawHttpPool | undefined;

  constructor(private readonly opts: HttpClientOptions) {
    this.raw = opts.rawHttp === false ? undefined : new RawHttpPool();
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64, scheduling: 'lifo' });
    const t = opts.config.tls_config;
    const tls: https.RequestOptions = {};
    if (t) {
      if (t.ca_file) tls.ca = readFileSync(t.ca_file);
      if (t.ca) tls.ca = t.ca;
      if (t.cert_file) tls.cert = readFileSync(t.cert_file);
      if (t.cert) tls.cert = t.cert;
      if (t.key_file) tls.key = readFileSync(t.key_file);
      if (t.key) tls.key = t.key.reveal();
      if (t.server_name) tls.servername = t.server_name;
      tls.rejectUnauthorized = !t.insecure_skip_verify;
      if (t.min_version) tls.minVersion = t.min_version.replace('TLS1', 'TLSv1.') as SecureVersion;
      if (t.max_version) tls.maxVersion = t.max_version.replace('TLS1', 'TLSv1.') as SecureVersion;
    }
    this.tls = tls;
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64, scheduling: "lifo", ...(tls as https.AgentOptions) });
  }

  /** Closes idle connections. */
  close(): void {
    this.raw?.close();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private authorizationHeader(): string | undefined {
    const c = this.opts.config;
    if (c.basic_auth) {
      const user = c.basic_auth.username_file ? c.basic_auth.username_file.reveal() : c.basic_auth.username;
      const pass = (c.basic_auth.password ?? c.basic_auth.password_file)?.reveal() ?? '';
      return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
    }
    if (c.authorization) {
      const cred = (c.authorization.credentials ?? c.authorization.credentials_file)?.reveal() ?? '';
      return `${c.authorization.type} ${cred}`;
    }
    const bearer = (c.bearer_token ?? c.bearer_token_file)?.reveal();
    if (bearer !== undefined) return `Bearer ${bearer}`;
    return undefined;
  }

  /**
   * GETs `url` within `timeoutMs`. Resolves with the body, or rejects with ScrapeError.
   * `signal` aborts early (the loop is stopping).
   */
  scrape(url: string, signal?: AbortSignal): Promise<ScrapeResponse> {
    const headers: Record<string, string> = {
      Accept: this.opts.accept,
      'Accept-Encoding': 'gzip',
      'User-Agent': this.opts.userAgent,
      'X-Prometheus-Scrape-Timeout-Seconds': String(this.opts.timeoutMs / 1000),
    };
    let auth: string | undefined;
    try {
      auth = this.authorizationHeader();
    } catch (e) {
      return Promise.reject(new ScrapeError('scrape_auth', (e as Error).message));
    }
    if (auth !== undefined) headers.Authorization = auth;
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, this.opts.timeoutMs);
    const onAbort = () => ctl.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const original = url;
    const get = (target: string, redirectsLeft: number): Promise<ScrapeResponse> =>
      new Promise<ScrapeResponse>((resolve, reject) => {
        let u: URL;
        try {
          u = new URL(target);
        } catch {
          reject(new ScrapeError('scrape_url', `invalid scrape URL ${JSON.stringify(target)}`));
          return;
        }
        const isHttps = u.protocol === 'https:';
        const fail = (code: string, msg: string, cause?: unknown) => {
          if (timedOut) reject(new ScrapeError('scrape_timeout', `Get ${JSON.stringify(original)}: context deadline exceeded (scrape_timeout ${formatDuration(this.opts.timeoutMs)})`));
          else if (signal?.aborted) reject(new ScrapeError('scrape_canceled', `Get ${JSON.stringify(original)}: context canceled`));
          else reject(new ScrapeError(code, msg, { cause }));
        };
        const req = (isHttps ? https : http).request(
          {
            protocol: u.protocol,
            hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
            port: u.port || (isHttps ? 443 : 80),
            path: u.pathname + u.search,
            method: 'GET',
            headers,
            agent: isHttps ? this.httpsAgent : this.httpAgent,
            signal: ctl.signal,
            ...(isHttps ? this.tls : {}),
          },
          (res) => {
            const status = res.statusCode ?? 0;
            if (REDIRECT_CODES.has(status) && res.headers.location !== undefined && this.opts.config.follow_redirects) {
              res.resume();
              if (redirectsLeft === 0) {
                fail('scrape_redirects', `Get ${JSON.stringify(u.href)}: stopped after ${MAX_REDIRECTS} redirects`);
                return;
              }
              let next: string;
              try {
                next = new URL(res.headers.location, u).href;
              } catch {
                fail('scrape_redirects', `Get ${JSON.stringify(u.href)}: invalid redirect location ${JSON.stringify(res.headers.location)}`);
                return;
              }
              get(next, redirectsLeft - 1).then(resolve, reject);
              return;
            }
            if (status !== 200) {
              res.resume();
              fail('scrape_http_status', `server returned HTTP status ${status} ${http.STATUS_CODES[status] ?? ''}`.trimEnd());
              return;
            }
            const gzip = (res.headers['content-encoding'] ?? '').toLowerCase() === 'gzip';
            const limit = this.opts.bodySizeLimit;
            const chunks: Buffer[] = [];
            let len = 0;
            let failed = false;
            res.on('data', (chunk: Buffer) => {
              if (failed) return;
              chunks.push(chunk);
              len += chunk.length;
              if (!gzip && limit > 0 && len > limit) {
                failed = true;
                req.destroy();
                reject(new ScrapeError('scrape_body_size_limit', `body size limit exceeded: the response is larger than body_size_limit (${limit} bytes)`));
              }
            });
            res.on('aborted', () => {
              if (failed) return;
              failed = true;
              fail('scrape_truncated', `unexpected EOF: the response body from ${u.href} ended early (after ${len} bytes${res.headers['content-length'] ? ` of ${res.headers['content-length']}` : ''})`);
            });
            res.on('error', (e) => {
              if (failed) return;
              failed = true;
              fail('scrape_truncated', `unexpected EOF: reading the response body from ${u.href} failed: ${e.message}`, e);
            });
            res.on('end', () => {
              if (failed) return;
              if (!res.complete) {
                failed = true;
                fail('scrape_truncated', `unexpected EOF: the response body from ${u.href} ended early (after ${len} bytes)`);
                return;
              }
              const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, len);
              const contentType = String(res.headers['content-type'] ?? '');
              if (!gzip) {
                resolve({ body, contentType, release: noop });
                return;
              }
              gunzip(body, limit > 0 ? { maxOutputLength: limit } : {}, (err, out) => {
                if (err) {
                  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
                    reject(new ScrapeError('scrape_body_size_limit', `body size limit exceeded: the decompressed response is larger than body_size_limit (${limit} bytes)`));
                  } else reject(new ScrapeError('scrape_gzip', `gzip: invalid compressed body from ${u.href}: ${err.message}`));
                  return;
                }
                resolve({ body: out, contentType, release: noop });
              });
            });
          },
        );
        req.on('error', (e: NodeJS.ErrnoException) => fail('scrape_network', `Get ${JSON.stringify(u.href)}: ${networkMessage(e, u)}`, e));
        req.end();
      });
    const first = this.raw && url.startsWith('http://') ? this.rawGet(url, headers, ctl.signal, () => timedOut, original, signal, get) : get(url, MAX_REDIRECTS);
    return first.finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  }

  /** The lean client's GET (plain HTTP); redirects continue on Node's client. */
  private async rawGet(
    url: string,
    headers: Record<string, string>,
    abort: AbortSignal,
    timedOut: () => boolean,
    original: string,
    outer: AbortSignal | undefined,
    slowGet: (target: string, redirectsLeft: number) => Promise<ScrapeResponse>,
  ): Promise<ScrapeResponse> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ScrapeError('scrape_url', `invalid scrape URL ${JSON.stringify(url)}`);
    }
    let lines = '';
    for (const [k, v] of Object.entries(headers)) lines += `${k}: ${v}\r\n`;
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const port = Number(u.port || 80);
    const limit = this.opts.bodySizeLimit;
    let r;
    try {
      r = await this.raw!.get(host, port, u.pathname + u.search, lines, limit, abort);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { received?: number };
      if (timedOut()) throw new ScrapeError('scrape_timeout', `Get ${JSON.stringify(original)}: context deadline exceeded (scrape_timeout ${formatDuration(this.opts.timeoutMs)})`);
      if (outer?.aborted) throw new ScrapeError('scrape_canceled', `Get ${JSON.stringify(original)}: context canceled`);
      if (err.code === 'BODY_LIMIT') throw new ScrapeError('scrape_body_size_limit', `body size limit exceeded: the response is larger than body_size_limit (${limit} bytes)`);
      if (err.code === 'UNEXPECTED_EOF') throw new ScrapeError('scrape_truncated', `unexpected EOF: the response body from ${u.href} ended early (after ${err.received ?? 0} bytes${(err as { expected?: number }).expected !== undefined ? ` of ${(err as { expected?: number }).expected}` : ''})`);
      throw new ScrapeError('scrape_network', `Get ${JSON.stringify(u.href)}: ${networkMessage(err, u)}`, { cause: e });
    }
    const status = r.status;
    if (REDIRECT_CODES.has(status) && r.headers.has('location') && this.opts.config.follow_redirects) {
      const loc = r.headers.get('location')!;
      r.release();
      let next: string;
      try {
        next = new URL(loc, u).href;
      } catch {
        throw new ScrapeError('scrape_redirects', `Get ${JSON.stringify(u.href)}: invalid redirect location ${JSON.stringify(loc)}`);
      }
      return slowGet(next, MAX_REDIRECTS - 1);
    }
    if (status !== 200) {
      r.release();
      throw new ScrapeError('scrape_http_status', `server returned HTTP status ${status} ${http.STATUS_CODES[status] ?? r.statusText}`.trimEnd());
    }
    const contentType = r.headers.get('content-type') ?? '';
    if ((r.headers.get('content-encoding') ?? '').toLowerCase() !== 'gzip') return { body: r.body, contentType, release: r.release };
    const compressed = Buffer.from(r.body);
    r.release();
    return new Promise<ScrapeResponse>((resolve, reject) => {
      gunzip(compressed, limit > 0 ? { maxOutputLength: limit } : {}, (err, out) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
            reject(new ScrapeError('scrape_body_size_limit', `body size limit exceeded: the decompressed response is larger than body_size_limit (${limit} bytes)`));
          } else reject(new ScrapeError('scrape_gzip', `gzip: invalid compressed body from ${u.href}: ${err.message}`));
          return;
        }
        resolve({ body: out, contentType, release: noop });
      });
    });
  }
}

function noop(): void {}
