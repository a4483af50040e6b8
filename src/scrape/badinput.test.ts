/**
 * The issue's bad-input cases, each against a real local HTTP(S) server: the target is marked
 * down with a precise lastError, nothing of that scrape is stored (only `up` 0 and the other
 * report series), a healthy target in the same job keeps being scraped, nothing crashes.
 */
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type http from 'node:http';
import { MemoryStorage } from '../storage/index.ts';
import { ScrapeManager } from './index.ts';
import { jobsFromYaml, silentLogger, startTestServer, storedSamples, waitFor, type TestServer } from './testing.ts';

const TESTDATA = join(import.meta.dirname, 'testdata');
const GOOD_BODY = 'good_metric{a="1"} 1\ngood_metric{a="2"} 2\n';
let good: TestServer;
const servers: TestServer[] = [];

before(async () => {
  good = await startTestServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(GOOD_BODY);
  });
  servers.push(good);
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

interface Case {
  name: string;
  handler: http.RequestListener;
  tls?: boolean;
  extra?: string;
  scheme?: 'https';
  error: RegExp;
  /** Series the bad target exposes that must not be stored. */
  exposed?: string;
}

const BIG = 'big_metric{i="' + 'x'.repeat(100) + '"} 1\n';

const cases: Case[] = [
  {
    name: 'garbage',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('bad_metric 1\n<html><body>Not metrics</body></html>\n');
    },
    error: /^line 2, column 1: expected a metric name, "\{" or "#" at the start of a line, got "<"/,
    exposed: 'bad_metric',
  },
  {
    name: 'truncated body (Content-Length larger than what is sent)',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '1000' });
      r.write('bad_metric 1\nbad_metric2{a="b');
      setTimeout(() => r.destroy(), 20);
    },
    error: /^unexpected EOF: the response body from http:\/\/127\.0\.0\.1:\d+\/metrics ended early \(after 29 bytes of 1000\)/,
    exposed: 'bad_metric',
  },
  {
    name: 'truncated exposition (cut inside a label value)',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('bad_metric 1\nbad_metric2{a="b');
    },
    error: /^line 2, column 15: unterminated quoted string in "bad_metric2\{a=\\"b"$/,
    exposed: 'bad_metric',
  },
  {
    name: 'OpenMetrics without # EOF',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'application/openmetrics-text; version=1.0.0' });
      r.end('bad_metric 1\n');
    },
    error: /^line 2, column 1: data does not end with # EOF/,
    exposed: 'bad_metric',
  },
  {
    name: 'body over body_size_limit',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end(BIG.repeat(30));
    },
    extra: '    body_size_limit: 1KB\n',
    error: /^body size limit exceeded: the response is larger than body_size_limit \(1024 bytes\)/,
    exposed: 'big_metric',
  },
  {
    name: 'gzip body over body_size_limit once decompressed',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' });
      r.end(gzipSync(BIG.repeat(100)));
    },
    extra: '    body_size_limit: 2KB\n',
    error: /^body size limit exceeded: the decompressed response is larger than body_size_limit \(2048 bytes\)/,
    exposed: 'big_metric',
  },
  {
    name: 'over sample_limit',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end(Array.from({ length: 11 }, (_, i) => `bad_metric{i="${i}"} ${i}\n`).join(''));
    },
    extra: '    sample_limit: 10\n',
    error: /^sample limit exceeded: 11 samples scraped, more than sample_limit 10 after metric relabeling$/,
    exposed: 'bad_metric',
  },
  {
    name: 'over label_limit',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('bad_metric{a="1",b="2",c="3"} 1\n');
    },
    extra: '    label_limit: 4\n',
    error: /^label_limit exceeded \(metric: bad_metric, number of labels: 6, limit: 4\)$/,
    exposed: 'bad_metric',
  },
  {
    name: 'over label_value_length_limit',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('bad_metric{a="1234567890123"} 1\n');
    },
    extra: '    label_value_length_limit: 12\n',
    error: /^label_value_length_limit exceeded \(metric: bad_metric, label name: a, value: "1234567890123", length: 13, limit: 12\)$/,
    exposed: 'bad_metric',
  },
  {
    name: 'slow response (over scrape_timeout)',
    handler: (_q, r) => {
      setTimeout(() => {
        if (r.destroyed) return;
        r.writeHead(200, { 'Content-Type': 'text/plain' });
        r.end('bad_metric 1\n');
      }, 1500);
    },
    error: /^Get "http:\/\/127\.0\.0\.1:\d+\/metrics": context deadline exceeded \(scrape_timeout 300ms\)$/,
    exposed: 'bad_metric',
  },
  {
    name: 'redirect loop',
    handler: (q, r) => {
      r.writeHead(302, { Location: q.url === '/metrics' ? '/loop' : '/metrics' });
      r.end();
    },
    error: /^Get "http:\/\/127\.0\.0\.1:\d+\/(loop|metrics)": stopped after 10 redirects$/,
  },
  {
    name: 'invalid TLS certificate (self-signed)',
    tls: true,
    scheme: 'https',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('bad_metric 1\n');
    },
    error: /^Get "https:\/\/127\.0\.0\.1:\d+\/metrics": tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    exposed: 'bad_metric',
  },
  {
    name: 'wrong credentials',
    handler: (q, r) => {
      if (q.headers.authorization !== 'Basic ' + Buffer.from('vigil:right').toString('base64')) {
        r.writeHead(401, { 'WWW-Authenticate': 'Basic realm="metrics"' });
        r.end('Unauthorized\n');
        return;
      }
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('bad_metric 1\n');
    },
    extra: '    basic_auth: {username: vigil, password: wrong}\n',
    error: /^server returned HTTP status 401 Unauthorized$/,
    exposed: 'bad_metric',
  },
  {
    name: 'connection refused',
    handler: () => {},
    error: /^Get "http:\/\/127\.0\.0\.1:\d+\/metrics": dial tcp 127\.0\.0\.1:\d+: connect: connection refused$/,
  },
  {
    name: 'unsupported Content-Type with an explicit fallback_scrape_protocol: parsed by the fallback (garbage still fails)',
    handler: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/html' });
      r.end('<html></html>\n');
    },
    extra: '    fallback_scrape_protocol: OpenMetricsText1.0.0\n',
    error: /^line 1, column 1: expected a metric name/,
  },
];

describe('bad input: target down, precise lastError, nothing stored, others unaffected', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const tls = c.tls ? { key: readFileSync(join(TESTDATA, 'selfsigned.key')), cert: readFileSync(join(TESTDATA, 'selfsigned.pem')) } : undefined;
      const bad = await startTestServer(c.handler, tls);
      servers.push(bad);
      if (c.name === 'connection refused') await bad.close();
      const store = new MemoryStorage();
      const m = new ScrapeManager({ appendable: store, logger: silentLogger });
      try {
        const yaml =
          `scrape_configs:\n  - job_name: bad\n    scrape_interval: 300ms\n    scrape_timeout: 300ms\n${c.scheme ? `    scheme: ${c.scheme}\n` : ''}${c.extra ?? ''}` +
          `    static_configs:\n      - targets: ['${bad.hostPort}']\n` +
          `  - job_name: good\n    scrape_interval: 300ms\n    scrape_timeout: 300ms\n    static_configs:\n      - targets: ['${good.hostPort}']\n`;
        await m.applyConfig(jobsFromYaml(yaml));
        const badLoop = m.loops().find((l) => l.job.name === 'bad')!;
        const goodLoop = m.loops().find((l) => l.job.name === 'good')!;
        await waitFor('the bad target to be scraped twice', async () => (await storedSamples(store, 'up', { job: 'bad' }))[0]?.t.length! >= 2);
        assert.equal(badLoop.health, 'down');
        assert.match(badLoop.lastError, c.error);
        const info = m.activeTargets('bad')[0]!;
        assert.equal(info.health, 'down');
        assert.equal(info.lastError, badLoop.lastError);
        const up = (await storedSamples(store, 'up', { job: 'bad' }))[0]!;
        assert.ok(Array.from(up.v).every((v) => v === 0), 'up is 0 for every scrape');
        if (c.exposed) assert.equal((await storedSamples(store, c.exposed)).length, 0, 'nothing of the failed scrape is stored');
        const series = await store.querier(-Infinity, Infinity).labelValues('__name__');
        for (const n of series) assert.ok(!n.startsWith('bad_') && !n.startsWith('big_'), `unexpected series ${n}`);
        await waitFor('the good target', () => goodLoop.health === 'up');
        assert.equal((await storedSamples(store, 'good_metric')).length, 2);
        assert.ok((await storedSamples(store, 'up', { job: 'good' }))[0]!.v.includes(1));
      } finally {
        await m.stop();
        await bad.close();
      }
    });
  }

  test('a failed scrape after good ones marks the previous series stale; recovery brings them back', async () => {
    let broken = false;
    const s = await startTestServer((_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end(broken ? 'flaky 1\n{{{\n' : 'flaky 1\nother 2\n');
    });
    servers.push(s);
    const store = new MemoryStorage();
    const m = new ScrapeManager({ appendable: store, logger: silentLogger });
    try {
      await m.applyConfig(jobsFromYaml(`scrape_configs:\n  - job_name: f\n    scrape_interval: 100ms\n    scrape_timeout: 100ms\n    static_configs:\n      - targets: ['${s.hostPort}']\n`));
      const loop = m.loops()[0]!;
      await waitFor('good scrapes', async () => (await storedSamples(store, 'flaky'))[0]?.t.length! >= 2);
      broken = true;
      await waitFor('failure', () => loop.health === 'down');
      const { isStaleNaN } = await import('../model/index.ts');
      await waitFor('stale markers', async () => {
        const f = (await storedSamples(store, 'flaky'))[0]!;
        const o = (await storedSamples(store, 'other'))[0]!;
        return isStaleNaN(f.v[f.v.length - 1]!) && isStaleNaN(o.v[o.v.length - 1]!);
      });
      assert.match(loop.lastError, /^line 2, column 2: expected label name or "\}", got "\{"/);
      broken = false;
      await waitFor('recovery', async () => {
        const f = (await storedSamples(store, 'flaky'))[0]!;
        return loop.health === 'up' && f.v[f.v.length - 1] === 1;
      });
    } finally {
      await m.stop();
    }
  });

  test('TLS with the right CA, and insecure_skip_verify, succeed', async () => {
    const s = await startTestServer(
      (_q, r) => {
        r.writeHead(200, { 'Content-Type': 'text/plain' });
        r.end('tls_metric 1\n');
      },
      { key: readFileSync(join(TESTDATA, 'server.key')), cert: readFileSync(join(TESTDATA, 'server.pem')) },
    );
    servers.push(s);
    for (const tls of [`{ca_file: ${join(TESTDATA, 'ca.pem')}}`, '{insecure_skip_verify: true}']) {
      const store = new MemoryStorage();
      const m = new ScrapeManager({ appendable: store, logger: silentLogger });
      try {
        await m.applyConfig(jobsFromYaml(`scrape_configs:\n  - job_name: t\n    scheme: https\n    scrape_interval: 1s\n    tls_config: ${tls}\n    static_configs:\n      - targets: ['${s.hostPort}']\n`));
        await waitFor('scrape', () => m.loops()[0]!.health !== 'unknown');
        assert.equal(m.loops()[0]!.lastError, '');
        assert.equal((await storedSamples(store, 'tls_metric'))[0]!.v[0], 1);
      } finally {
        await m.stop();
      }
    }
  });

  test('bearer token and basic auth are sent', async () => {
    const seen: string[] = [];
    const s = await startTestServer((q, r) => {
      seen.push(String(q.headers.authorization));
      r.writeHead(200, { 'Content-Type': 'text/plain' });
      r.end('x 1\n');
    });
    servers.push(s);
    const store = new MemoryStorage();
    const m = new ScrapeManager({ appendable: store, logger: silentLogger });
    try {
      await m.applyConfig(
        jobsFromYaml(
          `scrape_configs:\n  - job_name: a\n    scrape_interval: 1h\n    authorization: {credentials: tok3n}\n    static_configs: [{targets: ['${s.hostPort}']}]\n` +
            `  - job_name: b\n    scrape_interval: 1h\n    basic_auth: {username: u, password: p}\n    static_configs: [{targets: ['${s.hostPort}']}]\n`,
        ),
      );
      for (const l of m.loops()) await l.scrapeOnce();
      assert.deepEqual(seen.sort(), ['Basic ' + Buffer.from('u:p').toString('base64'), 'Bearer tok3n']);
    } finally {
      await m.stop();
    }
  });
});

describe('targets that do not speak HTTP', () => {
  test('garbage bytes, an immediate close, a silent peer: down with a clear error, no crash', async () => {
    const net = await import('node:net');
    const behaviours: Record<string, (s: import('node:net').Socket) => void> = {
      garbage: (s) => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'),
      close: (s) => s.destroy(),
      silent: () => {},
    };
    const expected: Record<string, RegExp> = {
      garbage: /^Get "http:\/\/127\.0\.0\.1:\d+\/metrics": malformed HTTP status line "SSH-2\.0-OpenSSH_9\.2"$/,
      close: /^unexpected EOF|connection reset by peer/,
      silent: /context deadline exceeded \(scrape_timeout 300ms\)$/,
    };
    for (const [name, behave] of Object.entries(behaviours)) {
      const sockets: import('node:net').Socket[] = [];
      const srv = net.createServer((s) => {
        sockets.push(s);
        s.on('error', () => {});
        behave(s);
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const port = (srv.address() as { port: number }).port;
      const store = new MemoryStorage();
      const m = new ScrapeManager({ appendable: store, logger: silentLogger });
      try {
        await m.applyConfig(jobsFromYaml(`scrape_configs:\n  - job_name: raw\n    scrape_interval: 300ms\n    scrape_timeout: 300ms\n    static_configs: [{targets: ['127.0.0.1:${port}']}]\n`));
        const loop = m.loops()[0]!;
        await waitFor(`${name}: scraped`, () => loop.health !== 'unknown');
        assert.equal(loop.health, 'down', name);
        assert.match(loop.lastError, expected[name]!, name);
      } finally {
        await m.stop();
        for (const s of sockets) s.destroy();
        await new Promise((r) => srv.close(r));
      }
    }
  });
});
