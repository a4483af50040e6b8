import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { HttpProber } from './http.ts';
import { ipAddrHash } from './net.ts';
import { TcpProber } from './tcp.ts';
import { probesFromYaml, runProber, selfSignedCert, startExporter, valueIn } from './testutil.ts';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const seen: Seen[] = [];
let base = '';
let tlsBase = '';
let server: http.Server;
let tlsServer: https.Server | undefined;
let dir = '';
let cert: ReturnType<typeof selfSignedCert>;

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const u = new URL(req.url ?? '/', 'http://x');
    switch (u.pathname) {
      case '/ok':
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 8, 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT', 'X-Build': 'v1.2.3' });
        res.end('all good');
        return;
      case '/health':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: 'healthy', checks: { database: { status: 'up', latency_ms: 3 } }, items: [{ name: 'redis' }] }));
        return;
      case '/degraded':
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: 'degraded' }));
        return;
      case '/notjson':
        res.end('<html>hello</html>');
        return;
      case '/redirect':
        res.writeHead(302, { Location: '/ok' });
        res.end();
        return;
      case '/see-other':
        res.writeHead(303, { Location: '/echo' });
        res.end();
        return;
      case '/loop':
        res.writeHead(302, { Location: '/loop' });
        res.end();
        return;
      case '/to-other':
        res.writeHead(302, { Location: u.searchParams.get('where') ?? '/' });
        res.end();
        return;
      case '/echo':
        res.end(`${req.method} ${body}`);
        return;
      case '/auth':
        if (req.headers.authorization === 'Basic ' + Buffer.from('alice:s3cret').toString('base64')) res.end('welcome');
        else {
          res.writeHead(401);
          res.end('no');
        }
        return;
      case '/gzip': {
        const z = gzipSync(Buffer.from('x'.repeat(10_000)));
        res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': z.length });
        res.end(z);
        return;
      }
      case '/big':
        res.writeHead(200);
        res.end('y'.repeat(200_000));
        return;
      case '/truncated':
        res.writeHead(200, { 'Content-Length': '1000' });
        res.write('only a part');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      case '/garbage':
        res.socket?.end('this is not HTTP at all\r\n\r\n');
        return;
      default:
        res.writeHead(404);
        res.end('not found');
    }
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-probes-http-'));
  server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cert = selfSignedCert(dir);
  if (cert) {
    tlsServer = https.createServer({ key: readFileSync(cert.key), cert: readFileSync(cert.cert) }, handler);
    await new Promise<void>((r) => tlsServer!.listen(0, '127.0.0.1', r));
    tlsBase = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
  }
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  if (tlsServer) {
    tlsServer.closeAllConnections();
    await new Promise((r) => tlsServer!.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

function prober(yamlEntry: string): HttpProber {
  return new HttpProber(probesFromYaml(`  http:\n    - ${yamlEntry.split('\n').join('\n      ')}\n`).http[0]!);
}

test('a 200 answer: blackbox metrics with the phases, sizes, version and address hash', async () => {
  const { out, outcome } = await runProber(prober(`url: ${base}/ok`));
  assert.deepEqual(outcome, { success: true });
  assert.equal(out.get('probe_success'), 1);
  assert.equal(out.get('probe_http_status_code'), 200);
  assert.equal(out.get('probe_http_content_length'), 8);
  assert.equal(out.get('probe_http_uncompressed_body_length'), 8);
  assert.equal(out.get('probe_http_version'), 1.1);
  assert.equal(out.get('probe_http_ssl'), 0);
  assert.equal(out.get('probe_http_redirects'), 0);
  assert.equal(out.get('probe_failed_due_to_regex'), 0);
  assert.equal(out.get('probe_ip_protocol'), 4);
  assert.equal(out.get('probe_ip_addr_hash'), 3668918509, 'FNV-1a of the 4 address bytes, as blackbox reports for 127.0.0.1');
  assert.equal(out.get('probe_http_last_modified_timestamp_seconds'), 1445412480);
  for (const phase of ['resolve', 'connect', 'tls', 'processing', 'transfer']) {
    const v = out.get('probe_http_duration_seconds', { phase });
    assert.ok(v !== undefined && v >= 0, `phase ${phase}`);
  }
  assert.equal(out.get('probe_http_duration_seconds', { phase: 'tls' }), 0);
  assert.ok(out.get('probe_duration_seconds')! > 0);
  assert.equal(out.get('probe_ssl_earliest_cert_expiry'), undefined);
  assert.equal(seen.at(-1)!.headers['user-agent'], 'Vigil-Probe/1.0');
});

test('status codes: 2xx by default, valid_status_codes otherwise', async () => {
  let r = await runProber(prober(`url: ${base}/degraded`));
  assert.equal(r.out.get('probe_success'), 0);
  assert.equal(r.out.get('probe_http_status_code'), 503);
  assert.equal(r.outcome.error, 'status code 503 is not 2xx');
  r = await runProber(prober(`url: ${base}/degraded\nvalid_status_codes: [503]`));
  assert.equal(r.out.get('probe_success'), 1);
  r = await runProber(prober(`url: ${base}/ok\nvalid_status_codes: [204]`));
  assert.equal(r.outcome.error, 'status code 200 is not one of the valid_status_codes 204');
});

test('redirects are followed and counted; a loop stops after max_redirects; no_follow reports the 3xx', async () => {
  let r = await runProber(prober(`url: ${base}/redirect`));
  assert.equal(r.out.get('probe_success'), 1);
  assert.equal(r.out.get('probe_http_redirects'), 1);
  assert.equal(r.out.get('probe_http_status_code'), 200);
  r = await runProber(prober(`url: ${base}/loop`));
  assert.equal(r.out.get('probe_success'), 0);
  assert.equal(r.out.get('probe_http_redirects'), 10);
  assert.match(r.outcome.error!, /^stopped after 10 redirects \(last: 302 to \/loop\)$/);
  r = await runProber(prober(`url: ${base}/redirect\nfollow_redirects: false`));
  assert.equal(r.out.get('probe_http_status_code'), 302);
  assert.equal(r.out.get('probe_success'), 0);
  r = await runProber(prober(`url: ${base}/see-other\nmethod: POST\nbody: payload`));
  assert.equal(r.out.get('probe_success'), 1);
  assert.equal(seen.at(-1)!.method, 'GET', 'a 303 turns a POST into a GET without body');
  assert.equal(seen.at(-1)!.body, '');
});

test('method, headers and body are sent as configured; basic auth', async () => {
  await runProber(prober(`url: ${base}/echo\nmethod: put\nheaders: {X-Trace: abc, Host: api.example}\nbody: '{"a":1}'`));
  const req = seen.at(-1)!;
  assert.equal(req.method, 'PUT');
  assert.equal(req.headers['x-trace'], 'abc');
  assert.equal(req.headers.host, 'api.example');
  assert.equal(req.body, '{"a":1}');
  let r = await runProber(prober(`url: ${base}/auth\nbasic_auth: {username: alice, password: s3cret}`));
  assert.equal(r.out.get('probe_success'), 1);
  r = await runProber(prober(`url: ${base}/auth\nbasic_auth: {username: alice, password: wrong}`));
  assert.equal(r.outcome.error, 'status code 401 is not 2xx');
  assert.ok(!r.outcome.error.includes('wrong'));
  // A redirect to another host does not carry the credentials along.
  const other = base.replace('127.0.0.1', 'localhost');
  r = await runProber(prober(`url: ${base}/to-other?where=${encodeURIComponent(other + '/auth')}\nbasic_auth: {username: alice, password: s3cret}`));
  assert.equal(r.out.get('probe_http_status_code'), 401);
  assert.equal(seen.at(-1)!.headers.authorization, undefined);
  assert.throws(() => prober('url: http://alice:pw@127.0.0.1/'), /credentials in the url would show in labels and logs: use basic_auth/);
});

test('body regular expressions set probe_failed_due_to_regex', async () => {
  let r = await runProber(prober(`url: ${base}/ok\nfail_if_body_not_matches_regexp: ["good$"]`));
  assert.equal(r.out.get('probe_success'), 1);
  r = await runProber(prober(`url: ${base}/ok\nfail_if_body_matches_regexp: ["(?i)GOOD"]`));
  assert.equal(r.out.get('probe_success'), 0);
  assert.equal(r.out.get('probe_failed_due_to_regex'), 1);
  assert.equal(r.outcome.error, 'body matched fail_if_body_matches_regexp "(?i)GOOD"');
  r = await runProber(prober(`url: ${base}/ok\nfail_if_body_not_matches_regexp: ["healthy"]`));
  assert.equal(r.out.get('probe_failed_due_to_regex'), 1);
  assert.equal(r.outcome.error, 'body did not match fail_if_body_not_matches_regexp "healthy"');
});

test('header checks', async () => {
  let r = await runProber(prober(`url: ${base}/ok\nfail_if_header_not_matches: [{header: X-Build, regexp: "^v1\\\\."}]`));
  assert.equal(r.out.get('probe_success'), 1, String(r.outcome.error));
  r = await runProber(prober(`url: ${base}/ok\nfail_if_header_matches: [{header: Content-Type, regexp: "text/"}]`));
  assert.equal(r.outcome.error, 'header content-type matched fail_if_header_matches "text\\\\/"');
  r = await runProber(prober(`url: ${base}/ok\nfail_if_header_not_matches: [{header: X-Missing, regexp: "."}]`));
  assert.equal(r.outcome.error, 'header x-missing is missing');
  r = await runProber(prober(`url: ${base}/ok\nfail_if_header_not_matches: [{header: X-Missing, regexp: ".", allow_missing: true}]`));
  assert.equal(r.out.get('probe_success'), 1);
});

test('JSON field checks: equals, matches, presence; a body that is not JSON fails clearly', async () => {
  let r = await runProber(prober(`url: ${base}/health\nfail_if_body_json_not_matches:\n  - {path: status, equals: healthy}\n  - {path: checks.database.status, matches: "^up$"}\n  - {path: checks.database.latency_ms, equals: 3}\n  - {path: "items[0].name"}`));
  assert.deepEqual(r.outcome, { success: true });
  r = await runProber(prober(`url: ${base}/health\nfail_if_body_json_not_matches: [{path: checks.database.status, equals: down}]`));
  assert.equal(r.outcome.error, 'JSON field checks.database.status is "up", expected "down"');
  r = await runProber(prober(`url: ${base}/health\nfail_if_body_json_not_matches: [{path: checks.cache.status}]`));
  assert.equal(r.outcome.error, 'JSON field checks.cache.status is missing');
  r = await runProber(prober(`url: ${base}/notjson\nfail_if_body_json_not_matches: [{path: status, equals: ok}]`));
  assert.match(r.outcome.error!, /^response body is not valid JSON: /);
  r = await runProber(prober(`url: ${base}/degraded\nvalid_status_codes: [503]\nfail_if_body_json_not_matches: [{path: status, equals: healthy}]`));
  assert.equal(r.outcome.error, 'JSON field status is "degraded", expected "healthy"');
});

test('bad targets: refused, unresolvable, truncated, garbage, too large; all down with a reason', async () => {
  const refused = await runProber(prober('url: http://127.0.0.1:1/'));
  assert.equal(refused.out.get('probe_success'), 0);
  assert.equal(refused.out.get('probe_http_status_code'), 0);
  assert.match(refused.outcome.error!, /connect ECONNREFUSED 127\.0\.0\.1:1/);
  const nxdomain = await runProber(prober('url: http://no-such-host.invalid/'));
  assert.equal(nxdomain.out.get('probe_success'), 0);
  assert.match(nxdomain.outcome.error!, /^cannot resolve no-such-host\.invalid/);
  const truncated = await runProber(prober(`url: ${base}/truncated`));
  assert.equal(truncated.out.get('probe_success'), 0);
  assert.ok(truncated.outcome.error, 'a truncated body is a failure');
  const garbage = await runProber(prober(`url: ${base}/garbage`));
  assert.equal(garbage.out.get('probe_success'), 0);
  assert.match(garbage.outcome.error!, /Parse Error|HPE_|parse/i);
  const big = await runProber(prober(`url: ${base}/big\nbody_size_limit: 100KB`));
  assert.equal(big.out.get('probe_success'), 0);
  assert.equal(big.outcome.error, 'response body is larger than the body_size_limit of 102400 bytes');
  const bigOk = await runProber(prober(`url: ${base}/big\nbody_size_limit: 1MB`));
  assert.equal(bigOk.out.get('probe_http_uncompressed_body_length'), 200_000);
});

test('a gzip body is measured and matched uncompressed; the limit applies to the uncompressed size', async () => {
  let r = await runProber(prober(`url: ${base}/gzip\nheaders: {Accept-Encoding: gzip}\nfail_if_body_not_matches_regexp: ["^x+$"]`));
  assert.deepEqual(r.outcome, { success: true });
  assert.equal(r.out.get('probe_http_uncompressed_body_length'), 10_000);
  assert.ok(r.out.get('probe_http_content_length')! < 10_000);
  r = await runProber(prober(`url: ${base}/gzip\nbody_size_limit: 5000`));
  assert.equal(r.outcome.error, 'uncompressed response body is larger than the body_size_limit of 5000 bytes');
});

describe('TLS', () => {
  test('a self-signed certificate: refused unless trusted or insecure_skip_verify; expiry and version reported', async (t) => {
    if (!cert) return t.skip('openssl is not installed: cannot generate a test certificate');
    const bad = await runProber(prober(`url: ${tlsBase}/ok`));
    assert.equal(bad.out.get('probe_success'), 0);
    assert.match(bad.outcome.error!, /TLS handshake with https:\/\/127\.0\.0\.1:\d+\/ok failed: self[- ]signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
    const insecure = await runProber(prober(`url: ${tlsBase}/ok\ntls_config: {insecure_skip_verify: true}`));
    assert.equal(insecure.out.get('probe_success'), 1, String(insecure.outcome.error));
    assert.equal(insecure.out.get('probe_http_ssl'), 1);
    assert.equal(insecure.out.get('probe_ssl_earliest_cert_expiry'), cert.notAfter);
    assert.equal(insecure.out.get('probe_tls_version_info', { version: 'TLS 1.3' }), 1);
    assert.ok(insecure.out.get('probe_http_duration_seconds', { phase: 'tls' })! > 0);
    assert.equal(insecure.out.get('probe_ssl_last_chain_info', { subject: 'CN=localhost', issuer: 'CN=localhost', subjectalternative: 'localhost' }), 1);
    const trusted = await runProber(prober(`url: ${tlsBase}/ok\ntls_config: {ca_file: ${cert.cert}}`));
    assert.equal(trusted.out.get('probe_success'), 1, String(trusted.outcome.error));
    assert.equal(trusted.out.get('probe_ssl_last_chain_expiry_timestamp_seconds'), cert.notAfter);
    const wrongName = await runProber(prober(`url: ${tlsBase}/ok\ntls_config: {ca_file: ${cert.cert}, server_name: api.example.com}`));
    assert.equal(wrongName.out.get('probe_success'), 0);
    assert.match(wrongName.outcome.error!, /TLS handshake .* failed: .*api\.example\.com/);
    const notSsl = await runProber(prober(`url: ${base}/ok\nfail_if_not_ssl: true`));
    assert.equal(notSsl.outcome.error, 'the final request was not made over SSL and fail_if_not_ssl is set');
  });

  test('tcp with TLS reports the same certificate metrics', async (t) => {
    if (!cert) return t.skip('openssl is not installed: cannot generate a test certificate');
    const addr = tlsBase.replace('https://', '');
    const ok = await runProber(new TcpProber(probesFromYaml(`  tcp: [{address: "${addr}", tls: true, tls_config: {ca_file: ${cert.cert}}}]\n`).tcp[0]!));
    assert.deepEqual(ok.outcome, { success: true });
    assert.equal(ok.out.get('probe_ssl_earliest_cert_expiry'), cert.notAfter);
    const bad = await runProber(new TcpProber(probesFromYaml(`  tcp: [{address: "${addr}", tls: true}]\n`).tcp[0]!));
    assert.equal(bad.out.get('probe_success'), 0);
    assert.match(bad.outcome.error!, /self[- ]signed certificate/);
  });
});

test('tcp: connect, query_response dialogue, refused and silent servers', async () => {
  const net = await import('node:net');
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.write('+OK ready\r\n');
    s.on('data', (d) => {
      if (d.toString() === 'PING\n') s.write('PONG\n');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    const tcp = (extra: string) => new TcpProber(probesFromYaml(`  tcp: [{address: "${addr}"${extra}}]\n`).tcp[0]!);
    let r = await runProber(tcp(''));
    assert.deepEqual(r.outcome, { success: true });
    assert.equal(r.out.get('probe_success'), 1);
    assert.equal(r.out.get('probe_ip_protocol'), 4);
    r = await runProber(tcp(', query_response: [{expect: "^\\\\+OK"}, {send: PING}, {expect: "^PONG$"}]'));
    assert.deepEqual(r.outcome, { success: true });
    r = await runProber(tcp(', query_response: [{expect: "^-ERR"}]'), 300);
    assert.equal(r.out.get('probe_success'), 0);
    assert.equal(r.out.get('probe_failed_due_to_regex'), 1);
    assert.equal(r.outcome.error, 'no line matched expect "^-ERR" before the timeout');
    r = await runProber(new TcpProber(probesFromYaml('  tcp: [{address: "127.0.0.1:1"}]\n').tcp[0]!));
    assert.equal(r.out.get('probe_success'), 0);
    assert.match(r.outcome.error!, /127\.0\.0\.1:1: connect ECONNREFUSED/);
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

test('the address hash is FNV-1a over the address bytes (IPv4 and IPv6)', () => {
  assert.equal(ipAddrHash('127.0.0.1'), 3668918509);
  assert.notEqual(ipAddrHash('::1'), ipAddrHash('127.0.0.1'));
  assert.equal(ipAddrHash('::ffff:127.0.0.1'), ipAddrHash('0:0:0:0:0:ffff:7f00:1'));
});

test('side by side with prometheus-blackbox-exporter on the same targets', async (t) => {
  const cfgFile = join(dir, 'blackbox.yml');
  writeFileSync(
    cfgFile,
    ['modules:', '  http_2xx:', '    prober: http', '    timeout: 5s', '    http:', '      preferred_ip_protocol: ip4', '  tls_insecure:', '    prober: http', '    http:', '      preferred_ip_protocol: ip4', '      tls_config: {insecure_skip_verify: true}', ''].join('\n'),
  );
  const bb = await startExporter('/usr/bin/prometheus-blackbox-exporter', (port) => [`--config.file=${cfgFile}`, `--web.listen-address=127.0.0.1:${port}`]);
  if (!bb) return t.skip('prometheus-blackbox-exporter is not installed (/usr/bin/prometheus-blackbox-exporter)');
  try {
    const probeUrl = (module: string, target: string) => bb.url.replace('/metrics', `/probe?module=${module}&target=${encodeURIComponent(target)}`);
    const cases: Array<[string, string, string]> = [
      ['http_2xx', `${base}/ok`, ''],
      ['http_2xx', `${base}/redirect`, ''],
      ['http_2xx', `${base}/degraded`, ''],
      ['http_2xx', `${base}/gzip`, ''],
      ['http_2xx', 'http://127.0.0.1:1/', ''],
    ];
    if (cert) cases.push(['tls_insecure', `${tlsBase}/ok`, '\ntls_config: {insecure_skip_verify: true}']);
    const { parseExposition } = await import('../exposition/index.ts');
    for (const [module, target, extra] of cases) {
      const theirs = parseExposition(await (await fetch(probeUrl(module, target))).text(), 'prometheus');
      const { out } = await runProber(prober(`url: ${target}${extra}`));
      const names = new Set(theirs.samples.map((s) => s.labels.get('__name__')));
      assert.ok(names.has('probe_success') && names.has('probe_http_status_code'), `blackbox answered for ${target}`);
      for (const name of names) {
        if (name === 'probe_ssl_last_chain_expiry_timestamp_seconds' || name === 'probe_dns_lookup_time_seconds') continue;
        assert.ok(out.names.includes(name), `${target}: blackbox writes ${name}, Vigil too`);
      }
      for (const name of ['probe_success', 'probe_http_status_code', 'probe_http_redirects', 'probe_http_ssl', 'probe_http_version', 'probe_ip_protocol', 'probe_ip_addr_hash', 'probe_failed_due_to_regex', 'probe_ssl_earliest_cert_expiry']) {
        assert.equal(out.get(name), valueIn(theirs, name), `${target}: ${name}`);
      }
      assert.equal(out.get('probe_http_content_length'), valueIn(theirs, 'probe_http_content_length'), `${target}: content length`);
      assert.equal(out.get('probe_tls_version_info', { version: 'TLS 1.3' }), valueIn(theirs, 'probe_tls_version_info', { version: 'TLS 1.3' }), `${target}: TLS version`);
    }
  } finally {
    await bb.stop();
  }
});
