import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { RawHttpPool } from './rawhttp.ts';

/** A TCP server answering every request on a connection with the next scripted response, written in the given pieces. */
async function scripted(next: () => { pieces: Buffer[]; end?: boolean }): Promise<{ port: number; close(): Promise<void>; requests: string[] }> {
  const sockets = new Set<net.Socket>();
  const requests: string[] = [];
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let acc = '';
    s.on('data', async (d) => {
      acc += d.toString('latin1');
      while (acc.includes('\r\n\r\n')) {
        const i = acc.indexOf('\r\n\r\n');
        requests.push(acc.slice(0, i));
        acc = acc.slice(i + 4);
        const r = next();
        for (const p of r.pieces) {
          s.write(p);
          await new Promise((res) => setImmediate(res));
        }
        if (r.end) s.end();
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

function split(b: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) out.push(b.subarray(last, p));
    last = Math.max(last, p);
  }
  if (last < b.length) out.push(b.subarray(last));
  return out;
}

function chunked(body: Buffer, sizes: number[]): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  let k = 0;
  while (i < body.length) {
    const n = Math.max(1, Math.min(body.length - i, sizes[k++ % Math.max(1, sizes.length)] ?? 7));
    parts.push(Buffer.from(n.toString(16) + (k % 3 === 0 ? ';ext=1' : '') + '\r\n'), body.subarray(i, i + n), Buffer.from('\r\n'));
    i += n;
  }
  parts.push(Buffer.from('0\r\nX-Trailer: t\r\n\r\n'));
  return Buffer.concat(parts);
}

const pools: RawHttpPool[] = [];
after(() => pools.forEach((p) => p.close()));

describe('lean HTTP client', () => {
  test('property: any body, chunked or not, split anywhere on the wire, arrives intact over one keep-alive connection', async () => {
    let script: { pieces: Buffer[] } = { pieces: [] };
    const srv = await scripted(() => script);
    const pool = new RawHttpPool();
    pools.push(pool);
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.boolean(), fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), async (bytes, isChunked, sizes, cuts) => {
          const body = Buffer.from(bytes);
          const head = isChunked ? 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n' : `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`;
          const wire = Buffer.concat([Buffer.from(head), isChunked ? chunked(body, sizes) : body]);
          script = { pieces: split(wire, cuts) };
          const r = await pool.get('127.0.0.1', srv.port, '/metrics', 'Accept: */*\r\n', 0, new AbortController().signal);
          try {
            assert.equal(r.status, 200);
            assert.equal(r.headers.get('content-type'), 'text/plain');
            assert.ok(Buffer.compare(r.body, body) === 0, 'body intact');
          } finally {
            r.release();
          }
        }),
        { numRuns: 80 },
      );
      assert.ok(srv.requests.every((q) => q.startsWith('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:')));
    } finally {
      await srv.close();
    }
  });

  test('limits, malformed chunking, Connection: close and a stale keep-alive connection', async () => {
    const responses: Buffer[] = [];
    const srv = await scripted(() => {
      const b = responses.shift() ?? Buffer.alloc(0);
      return { pieces: [b], end: b.toString('latin1').startsWith('HTTP/1.0') };
    });
    const pool = new RawHttpPool();
    pools.push(pool);
    const get = (limit = 0) => pool.get('127.0.0.1', srv.port, '/m', '', limit, new AbortController().signal);
    try {
      responses.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(100)));
      await assert.rejects(get(50), (e: NodeJS.ErrnoException) => e.code === 'BODY_LIMIT');
      responses.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n' + 'y'.repeat(64) + '\r\n40\r\n' + 'y'.repeat(64) + '\r\n0\r\n\r\n'));
      await assert.rejects(get(100), (e: NodeJS.ErrnoException) => e.code === 'BODY_LIMIT');
      responses.push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'));
      await assert.rejects(get(), /malformed chunked encoding/);
      responses.push(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found'));
      const r404 = await get();
      assert.equal(r404.status, 404);
      r404.release();
      responses.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'));
      const rc = await get();
      assert.equal(rc.body.toString(), 'ok');
      rc.release();
      responses.push(Buffer.from('HTTP/1.0 200 OK\r\n\r\nuntil close'));
      const r10 = await get();
      assert.equal(r10.body.toString(), 'until close');
      r10.release();
      assert.equal(srv.requests.length, 6);
    } finally {
      await srv.close();
    }
  });

  test('a keep-alive connection the server closed while idle is retried on a new one', async () => {
    let n = 0;
    const sockets: net.Socket[] = [];
    const srv = net.createServer((s) => {
      sockets.push(s);
      s.on('error', () => {});
      s.on('data', () => {
        n++;
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n' + n);
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const pool = new RawHttpPool();
    pools.push(pool);
    try {
      const a = await pool.get('127.0.0.1', port, '/', '', 0, new AbortController().signal);
      assert.equal(a.body.toString(), '1');
      a.release();
      for (const s of sockets) s.end();
      await new Promise((r) => setTimeout(r, 50));
      const b = await pool.get('127.0.0.1', port, '/', '', 0, new AbortController().signal);
      assert.equal(b.body.toString(), '2');
      b.release();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    }
  });
});
