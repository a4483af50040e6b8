/**
 * The HTTP client receivers use, configured by Prometheus' `http_config`: basic auth or an
 * Authorization header, TLS (CA, client certificate, server name, skip verify, minimum
 * version), an HTTP proxy (CONNECT for https targets), redirects followed when allowed. One
 * keep-alive agent per configuration. Requests are bounded by the caller's AbortSignal.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../../model/index.ts';
import type { HttpClientConfig, TlsConfig } from '../config.ts';

export interface HttpResponse {
  status: number;
  /** At most 64 KiB of the body, as text. */
  body: string;
}

const MAX_BODY = 64 * 1024;
const MAX_REDIRECTS = 10;

export const USER_AGENT = 'Vigil/0.1';

const agents = new WeakMap<HttpClientConfig, { http: http.Agent; https: https.Agent }>();

function tlsOptions(t: TlsConfig): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { rejectUnauthorized: !t.insecureSkipVerify };
  if (t.caFile) o.ca = readFileSync(t.caFile);
  if (t.certFile) o.cert = readFileSync(t.certFile);
  if (t.keyFile) o.key = readFileSync(t.keyFile);
  if (t.serverName) o.servername = t.serverName;
  if (t.minVersion) o.minVersion = (`TLSv1${t.minVersion === 'TLS10' ? '' : '.' + t.minVersion.slice(4)}`) as tls.SecureVersion;
  return o;
}

function agentsFor(cfg: HttpClientConfig): { http: http.Agent; https: https.Agent } {
  let a = agents.get(cfg);
  if (!a) {
    a = { http: new http.Agent({ keepAlive: true, maxSockets: 256 }), https: new https.Agent({ keepAlive: true, maxSockets: 256 }) };
    agents.set(cfg, a);
  }
  return a;
}

function authHeader(cfg: HttpClientConfig): string | undefined {
  if (cfg.basicAuth) {
    const pw = cfg.basicAuth.password?.reveal() ?? '';
    return 'Basic ' + Buffer.from(`${cfg.basicAuth.username}:${pw}`).toString('base64');
  }
  if (cfg.authorization) {
    const cred = cfg.authorization.credentials?.reveal() ?? '';
    return `${cfg.authorization.type} ${cred}`.trim();
  }
  return undefined;
}

/** A URL safe for logs and errors: scheme, host and path, no credentials or query. */
export function redactUrl(u: string): string {
  try {
    const x = new URL(u);
    return `${x.protocol}//${x.host}${x.pathname.length > 1 ? '/<redacted>' : '/'}`;
  } catch {
    return '<invalid url>';
  }
}

function connectViaProxy(proxy: URL, target: URL, t: TlsConfig, signal: AbortSignal): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const port = target.port || '443';
    const req = http.request({ host: proxy.hostname, port: proxy.port || 80, method: 'CONNECT', path: `${target.hostname}:${port}`, signal, headers: proxy.username ? { 'Proxy-Authorization': 'Basic ' + Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64') } : {} });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxy CONNECT answered ${res.statusCode}`));
        return;
      }
      const s = tls.connect({ socket, servername: t.serverName ?? target.hostname, ...tlsOptions(t) });
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

async function once(method: string, url: URL, body: Buffer | undefined, headers: Record<string, string>, cfg: HttpClientConfig, signal: AbortSignal): Promise<{ status: number; body: string; location?: string }> {
  const isHttps = url.protocol === 'https:';
  const proxy = cfg.proxyUrl ? new URL(cfg.proxyUrl) : undefined;
  const options: https.RequestOptions = { method, headers: { ...headers, Host: url.host }, signal };
  if (body) (options.headers as Record<string, string | number>)['Content-Length'] = body.length;
  if (proxy && !isHttps) {
    options.host = proxy.hostname;
    options.port = proxy.port || 80;
    options.path = url.toString();
    if (proxy.username) (options.headers as Record<string, string>)['Proxy-Authorization'] = 'Basic ' + Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64');
    options.agent = agentsFor(cfg).http;
  } else {
    options.host = url.hostname.replace(/^\[|\]$/g, '');
    options.port = url.port || (isHttps ? 443 : 80);
    options.path = url.pathname + url.search;
    if (isHttps) {
      Object.assign(options, tlsOptions(cfg.tls));
      if (!cfg.tls.serverName) options.servername = url.hostname;
      if (proxy) {
        const socket = await connectViaProxy(proxy, url, cfg.tls, signal);
        options.createConnection = () => socket;
        options.agent = false;
      } else options.agent = agentsFor(cfg).https;
    } else options.agent = agentsFor(cfg).http;
  }
  return new Promise((resolve, reject) => {
    const req = (isHttps ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_BODY) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8'), location: res.headers.location }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends `body` with `method` to `url`. Resolves with the final response (any status); rejects
 * on network errors, with a message naming the redacted URL (Go's `Post "URL": error`).
 */
export async function httpRequest(method: 'POST' | 'GET', url: string, body: string | Buffer | undefined, cfg: HttpClientConfig, signal: AbortSignal, contentType = 'application/json'): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const auth = authHeader(cfg);
  if (auth) headers.Authorization = auth;
  let current = new URL(url);
  let m: string = method;
  let b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  for (let hop = 0; ; hop++) {
    let r: { status: number; body: string; location?: string };
    try {
      r = await once(m, current, b, headers, cfg, signal);
    } catch (e) {
      const reason = signal.aborted ? 'context deadline exceeded' : errorMessage(e);
      throw new Error(`${m === 'POST' ? 'Post' : 'Get'} "${redactUrl(current.toString())}": ${reason}`);
    }
    if (cfg.followRedirects && r.location && [301, 302, 303, 307, 308].includes(r.status)) {
      if (hop >= MAX_REDIRECTS) throw new Error(`${m === 'POST' ? 'Post' : 'Get'} "${redactUrl(current.toString())}": stopped after ${MAX_REDIRECTS} redirects`);
      current = new URL(r.location, current);
      if (r.status !== 307 && r.status !== 308) {
        m = 'GET';
        b = undefined;
        delete headers['Content-Type'];
      }
      continue;
    }
    return { status: r.status, body: r.body };
  }
}
