/**
 * Network helpers shared by the http and tcp probes: name resolution with blackbox_exporter's
 * protocol preference, the IP address hash, TLS client options from a `tls_config`, and the
 * TLS metrics (`probe_ssl_*`, `probe_tls_version_info`).
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { errorMessage } from '../model/index.ts';
import type { TlsConfig } from './config.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable } from './types.ts';

export interface Resolved {
  address: string;
  /** 4 or 6 */
  family: number;
  seconds: number;
}

/** Thrown when a name does not resolve; the message is the reason shown to people. */
export class ResolveError extends Error {}

/**
 * Resolves `host` preferring `preferred` (ip4/ip6); with `fallback` the other family is used
 * when the preferred one has no address (blackbox_exporter's preferred_ip_protocol and
 * ip_protocol_fallback). An IP literal resolves to itself.
 */
export async function resolveTarget(host: string, preferred: 'ip4' | 'ip6', fallback: boolean, signal: AbortSignal): Promise<Resolved> {
  const bare = host.replace(/^\[|\]$/g, '');
  const t0 = performance.now();
  const literal = isIP(bare);
  if (literal) return { address: bare, family: literal, seconds: (performance.now() - t0) / 1000 };
  const want = preferred === 'ip6' ? 6 : 4;
  const lookupOnce = (family: number) =>
    Promise.race([
      lookup(bare, { family, verbatim: true }),
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(new ResolveError(`resolving ${bare} timed out`));
        signal.addEventListener('abort', () => reject(new ResolveError(`resolving ${bare} timed out`)), { once: true });
      }),
    ]);
  try {
    const r = await lookupOnce(want);
    return { address: r.address, family: r.family, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    if (e instanceof ResolveError || !fallback) throw asResolveError(bare, e);
    try {
      const r = await lookupOnce(want === 6 ? 4 : 6);
      return { address: r.address, family: r.family, seconds: (performance.now() - t0) / 1000 };
    } catch (e2) {
      throw asResolveError(bare, e2);
    }
  }
}

function asResolveError(host: string, e: unknown): ResolveError {
  if (e instanceof ResolveError) return e;
  const code = (e as { code?: string }).code;
  return new ResolveError(`cannot resolve ${host}: ${code === 'ENOTFOUND' ? 'no such host' : errorMessage(e)}`);
}

/** FNV-1a (32 bit) over the address bytes (4 for IPv4, 16 for IPv6): blackbox's probe_ip_addr_hash. */
export function ipAddrHash(address: string): number {
  const bytes = ipBytes(address);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function ipBytes(address: string): Uint8Array {
  if (isIP(address) === 4) return Uint8Array.from(address.split('.').map(Number));
  const out = new Uint8Array(16);
  let s = address;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    s = s.slice(0, v4.index) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16) || 0;
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

const TLS_VERSIONS: Record<string, 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };

/**
 * Node TLS options for a `tls_config`. Files are read on every call, so rotated certificates
 * take effect on the next run. `serverName` is the SNI / verification name (the URL's host
 * unless tls_config.server_name overrides it).
 */
export function tlsOptions(cfg: TlsConfig | undefined, serverName: string): ConnectionOptions {
  const o: ConnectionOptions = { rejectUnauthorized: !(cfg?.insecure_skip_verify ?? false) };
  const name = cfg?.server_name ?? serverName;
  if (name && !isIP(name)) o.servername = name;
  if (name) {
    // Verify against the configured name even when connecting to an IP address.
    o.checkServerIdentity = (_host, cert) => tlsCheckIdentity(name, cert);
  }
  if (cfg?.ca_file) o.ca = readFileSync(cfg.ca_file);
  if (cfg?.cert_file) o.cert = readFileSync(cfg.cert_file);
  if (cfg?.key_file) o.key = readFileSync(cfg.key_file);
  if (cfg?.min_version) o.minVersion = TLS_VERSIONS[cfg.min_version];
  return o;
}

function tlsCheckIdentity(name: string, cert: PeerCertificate): Error | undefined {
  return checkServerIdentity(name, cert);
}

/** Explains a TLS or socket error in a sentence (code included when Node gives one). */
export function describeNetError(e: unknown, what: string): string {
  const err = e as { code?: string; message?: string; name?: string };
  const msg = errorMessage(e);
  if (err.code && TLS_ERROR_CODES.has(err.code)) return `TLS handshake with ${what} failed: ${msg} (${err.code})`;
  if (err.code && msg.includes(err.code)) return `${what}: ${msg}`;
  if (err.code) return `${what}: ${msg} (${err.code})`;
  return `${what}: ${msg}`;
}

const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH', 'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_UNSUPPORTED_PROTOCOL', 'EPROTO',
]);

/** Go's zero time as Unix seconds: what blackbox reports when there is no verified chain. */
const GO_ZERO_TIME_SECONDS = -62135596800;

/** Metrics every TLS connection adds (blackbox_exporter's names). */
export const TLS_METADATA: MetadataTable = {
  probe_ssl_earliest_cert_expiry: ['gauge', 'Returns last SSL chain expiry in unixtime'],
  probe_ssl_last_chain_expiry_timestamp_seconds: ['gauge', 'Returns last SSL chain expiry in timestamp'],
  probe_ssl_last_chain_info: ['gauge', 'Contains SSL leaf certificate information'],
  probe_tls_version_info: ['gauge', 'Returns the TLS version used or NaN when unknown'],
};

/** Adds the TLS metrics of an established connection. */
export function addTlsMetrics(out: SampleBuffer, socket: TLSSocket): void {
  const leaf = socket.getPeerCertificate(true);
  if (!leaf || !leaf.raw) return;
  // The presented chain, leaf first (Node links the issuers it could find; stop at a self-issued one).
  const chain: PeerCertificate[] = [];
  const seen = new Set<string>();
  for (let c: PeerCertificate | undefined = leaf; c && c.raw && !seen.has(c.fingerprint256); c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate) {
    seen.add(c.fingerprint256);
    chain.push(c);
  }
  let earliest = Infinity;
  for (const c of chain) earliest = Math.min(earliest, Date.parse(c.valid_to) / 1000);
  out.add('probe_ssl_earliest_cert_expiry', earliest);
  out.add('probe_ssl_last_chain_expiry_timestamp_seconds', socket.authorized ? earliest : GO_ZERO_TIME_SECONDS);
  out.add('probe_ssl_last_chain_info', 1, [
    'fingerprint_sha256', leaf.fingerprint256.replace(/:/g, '').toLowerCase(),
    'subject', formatDn(leaf.subject),
    'issuer', formatDn(leaf.issuer),
    'subjectalternative', (leaf.subjectaltname ?? '').split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)).join(','),
  ]);
  const proto = socket.getProtocol();
  if (proto) out.add('probe_tls_version_info', 1, ['version', proto.replace(/^TLSv/, 'TLS ').replace(/^TLS 1$/, 'TLS 1.0')]);
}

/** A distinguished name as Go's pkix.Name.String() prints it (most specific first, comma-separated). */
function formatDn(cert: object | undefined): string {
  if (!cert) return '';
  const dn = cert as Record<string, string | string[]>;
  const order = ['CN', 'OU', 'O', 'POSTALCODE', 'STREET', 'L', 'ST', 'C', 'SERIALNUMBER'];
  const parts: string[] = [];
  const keys = Object.keys(dn).sort((a, b) => rank(a) - rank(b));
  function rank(k: string): number {
    const i = order.indexOf(k.toUpperCase());
    return i < 0 ? order.length : i;
  }
  for (const k of keys) {
    const v = dn[k]!;
    for (const x of Array.isArray(v) ? v : [v]) parts.push(`${k}=${x}`);
  }
  return parts.join(',');
}
