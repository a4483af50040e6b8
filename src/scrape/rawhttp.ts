/**
 * A lean HTTP/1.1 GET client for plain-HTTP scrapes: keep-alive connections pooled per
 * host:port, socket reads straight into a reusable buffer (`onread`), Content-Length and
 * chunked bodies decoded in place. It exists because Node's http client costs about twice the
 * CPU per scrape (stream and event machinery per chunk). Only the common case is handled
 * here; the caller falls back to the full client for redirects and anything unusual.
 *
 * The returned body is a view into the connection's buffer: valid until the connection's next
 * request, i.e. the caller must finish with it (parse it) before scraping again.
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  statusText: string;
  /** Lower-cased header names; the last value wins. */
  headers: Map<string, string>;
  /** Body bytes (dechunked, not decompressed). A view: see the module comment. */
  body: Buffer;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * Socket reads land here and are copied out at once in the (synchronous) read callback, so
 * every connection can share one buffer.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * Response buffers, lent to a connection for one response and given back when its body has
 * been consumed. Scrapes are spread over the interval, so a few buffers serve many targets.
 */
const FREE_BUFFERS: Buffer[] = [];
const MAX_FREE_BUFFERS = 8;

function takeBuffer(): Buffer {
  return FREE_BUFFERS.pop() ?? Buffer.allocUnsafe(64 * 1024);
}

function giveBuffer(b: Buffer): void {
  if (FREE_BUFFERS.length < MAX_FREE_BUFFERS) FREE_BUFFERS.push(b);
}

/** Thrown when a reused keep-alive connection was found closed before any response byte. */
class StaleConnectionError extends Error {}

class Connection {
  private sock: net.Socket;
  /** The response being received: a pooled buffer while a request is in flight or its body is in use. */
  private buf: Buffer = EMPTY;
  private len = 0;
  closed = false;
  used = false;
  private pending: { resolve: (r: RawResponse) => void; reject: (e: Error) => void; limit: number } | undefined;
  // Response parsing state.
  private headerEnd = -1;
  private status = 0;
  private statusText = '';
  private headers = new Map<string, string>();
  private mode: 'length' | 'chunked' | 'close' = 'length';
  private contentLength = 0;
  // chunked: raw parse position, decoded end, bytes left in the current chunk (-1: expect a size line).
  private rawPos = 0;
  private decEnd = 0;
  private chunkLeft = -1;
  private trailers = false;
  private keepAlive = true;
  onClose: (() => void) | undefined;

  constructor(readonly host: string, readonly port: number) {
    this.sock = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, b: Uint8Array) => {
          this.onData(b, n);
          return true;
        },
      },
    } as net.NetConnectOpts);
    this.sock.on('error', (e: NodeJS.ErrnoException) => this.fail(e));
    this.sock.on('close', () => {
      this.closed = true;
      if (this.pending) {
        if (this.mode === 'close' && this.headerEnd >= 0) this.finish(this.headerEnd, this.len);
        else if (this.used && this.len === 0) this.fail(new StaleConnectionError('connection closed by peer before the response'));
        else this.fail(Object.assign(new Error('unexpected EOF'), { code: 'UNEXPECTED_EOF', received: this.headerEnd < 0 ? 0 : this.len - this.headerEnd, expected: this.headerEnd >= 0 && this.mode === 'length' ? this.contentLength : undefined }));
      }
      this.onClose?.();
    });
  }

  request(head: string, limit: number): Promise<RawResponse> {
    if (this.buf === EMPTY) this.buf = takeBuffer();
    this.len = 0;
    this.headerEnd = -1;
    this.headers = new Map();
    this.chunkLeft = -1;
    this.trailers = false;
    this.keepAlive = true;
    return new Promise<RawResponse>((resolve, reject) => {
      this.pending = { resolve, reject, limit };
      this.sock.write(head, 'latin1');
    });
  }

  destroy(): void {
    this.closed = true;
    this.sock.destroy();
  }

  /** Gives the response buffer back to the pool (the body handed out must no longer be read). */
  releaseBuffer(): void {
    if (this.buf !== EMPTY) giveBuffer(this.buf);
    this.buf = EMPTY;
  }

  private fail(e: Error): void {
    const p = this.pending;
    this.pending = undefined;
    this.closed = true;
    this.sock.destroy();
    p?.reject(e);
  }

  private onData(b: Uint8Array, n: number): void {
    if (!this.pending) {
      // Bytes nobody asked for: the connection is not in a usable state.
      this.destroy();
      return;
    }
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (this.len + n > size) size *= 2;
      const g = Buffer.allocUnsafe(size);
      this.buf.copy(g, 0, 0, this.len);
      this.buf = g;
    }
    this.buf.set(b.subarray(0, n), this.len);
    this.len += n;
    if (this.headerEnd < 0) {
      const i = this.buf.indexOf(CRLFCRLF, 0);
      if (i < 0 || i >= this.len) {
        if (this.len > 64 * 1024) this.fail(new Error('response headers larger than 64 KiB'));
        return;
      }
      this.parseHead(i);
      if (!this.pending) return;
    }
    this.progress();
  }

  private parseHead(i: number): void {
    this.headerEnd = i + 4;
    const text = this.buf.toString('latin1', 0, i);
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
    if (!m) {
      this.fail(new Error(`malformed HTTP status line ${JSON.stringify(lines[0]!.slice(0, 100))}`));
      return;
    }
    this.status = Number(m[2]);
    this.statusText = m[3] ?? '';
    this.keepAlive = m[1] === '1';
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k]!;
      const c = line.indexOf(':');
      if (c <= 0) continue;
      this.headers.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
    }
    const conn = (this.headers.get('connection') ?? '').toLowerCase();
    if (conn === 'close') this.keepAlive = false;
    else if (conn === 'keep-alive') this.keepAlive = true;
    const te = (this.headers.get('transfer-encoding') ?? '').toLowerCase();
    const cl = this.headers.get('content-length');
    if (te !== '' && te !== 'identity') {
      if (te !== 'chunked') {
        this.fail(new Error(`unsupported Transfer-Encoding ${JSON.stringify(te)}`));
        return;
      }
      this.mode = 'chunked';
      this.rawPos = this.headerEnd;
      this.decEnd = this.headerEnd;
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) {
        this.fail(new Error(`invalid Content-Length ${JSON.stringify(cl)}`));
        return;
      }
      this.mode = 'length';
      this.contentLength = Number(cl);
    } else {
      this.mode = 'close';
      this.keepAlive = false;
    }
    if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
      this.mode = 'length';
      this.contentLength = 0;
    }
  }

  private progress(): void {
    const p = this.pending!;
    if (this.status !== 200) {
      // Only the status matters for non-200 answers; do not wait for (or keep) a body.
      this.keepAlive = false;
      this.finish(this.headerEnd, this.headerEnd);
      return;
    }
    if (this.mode === 'length') {
      if (p.limit > 0 && this.contentLength > p.limit) {
        this.fail(Object.assign(new Error('body size limit exceeded'), { code: 'BODY_LIMIT' }));
        return;
      }
      if (this.len - this.headerEnd >= this.contentLength) this.finish(this.headerEnd, this.headerEnd + this.contentLength);
      return;
    }
    if (this.mode === 'close') {
      if (p.limit > 0 && this.len - this.headerEnd > p.limit) this.fail(Object.assign(new Error('body size limit exceeded'), { code: 'BODY_LIMIT' }));
      return;
    }
    // Chunked: decode in place (the decoded end never passes the raw position).
    const b = this.buf;
    for (;;) {
      if (this.trailers) {
        const i = b.indexOf('\r\n', this.rawPos, 'latin1');
        if (i < 0 || i + 2 > this.len) return;
        if (i === this.rawPos) {
          this.finish(this.headerEnd, this.decEnd);
          return;
        }
        this.rawPos = i + 2;
        continue;
      }
      if (this.chunkLeft < 0) {
        const i = b.indexOf('\r\n', this.rawPos, 'latin1');
        if (i < 0 || i + 2 > this.len) return;
        let size = 0;
        let k = this.rawPos;
        for (; k < i; k++) {
          const c = b[k]!;
          const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (d < 0) break;
          size = size * 16 + d;
        }
        if (k === this.rawPos || (k < i && b[k] !== 59 /* ; extensions */ && b[k] !== 32)) {
          this.fail(new Error('malformed chunked encoding'));
          return;
        }
        this.rawPos = i + 2;
        if (size === 0) {
          this.trailers = true;
          continue;
        }
        if (p.limit > 0 && this.decEnd - this.headerEnd + size > p.limit) {
          this.fail(Object.assign(new Error('body size limit exceeded'), { code: 'BODY_LIMIT' }));
          return;
        }
        this.chunkLeft = size;
      }
      const avail = Math.min(this.chunkLeft, this.len - this.rawPos);
      if (avail > 0) {
        if (this.decEnd !== this.rawPos) b.copyWithin(this.decEnd, this.rawPos, this.rawPos + avail);
        this.decEnd += avail;
        this.rawPos += avail;
        this.chunkLeft -= avail;
      }
      if (this.chunkLeft > 0) return;
      if (this.rawPos + 2 > this.len) return;
      if (b[this.rawPos] !== 13 || b[this.rawPos + 1] !== 10) {
        this.fail(new Error('malformed chunked encoding'));
        return;
      }
      this.rawPos += 2;
      this.chunkLeft = -1;
    }
  }

  private finish(start: number, end: number): void {
    const p = this.pending!;
    this.pending = undefined;
    if (!this.keepAlive) this.destroy();
    p.resolve({ status: this.status, statusText: this.statusText, headers: this.headers, body: this.buf.subarray(start, end) });
  }
}

/** Connections per host:port, one request in flight per connection. */
export class RawHttpPool {
  private idle = new Map<string, Connection[]>();
  private all = new Set<Connection>();
  private closedPool = false;

  /**
   * GETs `path` from host:port with `headerLines` (each ending in CRLF). Rejects with a plain
   * Error carrying a `code` (ECONNREFUSED, UNEXPECTED_EOF, BODY_LIMIT, ...) or ETIMEDOUT when
   * `signal` aborts; the caller words the error. The response must be consumed before the next
   * request on the pool for the same target (see the module comment).
   */
  async get(host: string, port: number, path: string, headerLines: string, limit: number, signal: AbortSignal): Promise<RawResponse & { release(): void }> {
    const head = `GET ${path} HTTP/1.1\r\nHost: ${host.includes(':') ? `[${host}]` : host}:${port}\r\n${headerLines}\r\n`;
    for (let attempt = 0; ; attempt++) {
      const conn = this.take(host, port);
      const onAbort = () => conn.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        if (signal.aborted) throw Object.assign(new Error('aborted'), { code: 'ABORTED' });
        const r = await conn.request(head, limit);
        conn.used = true;
        return {
          ...r,
          release: () => {
            conn.releaseBuffer();
            this.give(conn);
          },
        };
      } catch (e) {
        conn.destroy();
        conn.releaseBuffer();
        if (signal.aborted) throw Object.assign(new Error('aborted'), { code: 'ABORTED' });
        if (e instanceof StaleConnectionError && attempt === 0) continue;
        throw e;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    }
  }

  private take(host: string, port: number): Connection {
    const key = `${host}:${port}`;
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const c = list.pop()!;
      if (!c.closed) return c;
    }
    const c = new Connection(host, port);
    this.all.add(c);
    c.onClose = () => this.all.delete(c);
    return c;
  }

  private give(c: Connection): void {
    if (c.closed || this.closedPool) {
      c.destroy();
      return;
    }
    const key = `${c.host}:${c.port}`;
    let list = this.idle.get(key);
    if (!list) this.idle.set(key, (list = []));
    list.push(c);
  }

  close(): void {
    this.closedPool = true;
    for (const c of this.all) c.destroy();
    this.all.clear();
    this.idle.clear();
  }
}

