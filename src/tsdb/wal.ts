/**
 * Write-ahead log: numbered segment files (`wal/00000001`, ...) of checksummed records.
 *
 * Record: type (u8), payload length (u32 LE), CRC-32 of the payload (u32 LE), payload. A
 * record never spans two segments; a segment is cut when the next write would exceed the
 * segment size. Record types:
 *   1 series:  repeated { ref f64, pair count uvarint, strings }
 *   2 samples: count uvarint, flags u8, first ref f64, base time f64, ref deltas (varint,
 *              from the previous ref; absent with flag 1: refs are consecutive), time deltas
 *              (varint, from the base time; absent with flag 2: every sample has the base time),
 *              then count × 8 bytes of values
 *   3 delete:  start f64, end f64, ref count uvarint, refs f64 (samples of those series in
 *              [start, end] were deleted at this point of the log)
 *
 * Durability (see README): `commit()` resolves after the records were handed to the kernel
 * with write(2), so a crash of the process (kill -9) loses nothing committed. The segment is
 * fdatasync'ed every `fsyncIntervalMs` (default 1 s) in the background and when it is cut or
 * closed: a power loss or kernel crash can lose the samples committed in the last interval.
 * With `fsync: 'always'` commits resolve only after fdatasync (group commit amortises it).
 *
 * Concurrent commits are grouped: all records queued before the next turn of the event loop
 * are written with one writev(2), then applied to the head in commit order.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ByteReader, ByteWriter, crc32 } from './bytes.ts';
import { describeFsError } from './errors.ts';
import { FileOps, syncDir } from './fsops.ts';
import { StorageError } from '../storage/index.ts';

export const REC_SERIES = 1;
export const REC_SAMPLES = 2;
export const REC_DELETE = 3;
const HEADER = 9;

export function segmentName(i: number): string {
  return String(i).padStart(8, '0');
}

/** Segment indexes present in a WAL directory, ascending. */
export function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /^\d{8}$/.test(n)).map(Number).sort((a, b) => a - b);
}

/** Checkpoint directories (`checkpoint.NNNNNNNN`) as their segment index, ascending. */
export function listCheckpoints(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^checkpoint\.(\d{8})$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export interface WalOptions {
  dir: string;
  segmentSize: number;
  /** 'interval' (default): background fdatasync every fsyncIntervalMs; 'always': before commits resolve. */
  fsync: 'interval' | 'always';
  fsyncIntervalMs: number;
  logger: Logger;
  files: FileOps;
}

export interface WalCounters {
  fsyncs: number;
  fsyncSeconds: number[];
  writeFailures: number;
  /** write(2) calls (one per group of commits). */
  writes: number;
  bytesWritten: number;
  recordsWritten: number;
  segmentsCreated: number;
}

/** A commit waiting for its records to be written. */
interface PendingCommit {
  apply: () => void;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class WalWriter {
  private fd = -1;
  segment: number;
  private segmentBytes = 0;
  /** Series and delete records awaiting write (kept across a failed write). */
  private control = new ByteWriter(1 << 16);
  /** Sample records awaiting write (dropped with their commits on failure). */
  private samples = new ByteWriter(1 << 20);
  private commits: PendingCommit[] = [];
  private scheduled = false;
  private syncing = false;
  private closed = false;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  /** Closes of finished segments still in flight. */
  private readonly closing = new Set<Promise<void>>();
  /** Last write error (cleared by the next successful write). */
  lastError: Error | null = null;
  readonly counters: WalCounters = { fsyncs: 0, fsyncSeconds: [], writeFailures: 0, writes: 0, bytesWritten: 0, recordsWritten: 0, segmentsCreated: 0 };
  /** Observer of fsync durations (seconds). */
  onFsync: ((seconds: number) => void) | undefined;

  constructor(private readonly opts: WalOptions, firstSegment: number) {
    this.segment = firstSegment;
    fs.mkdirSync(opts.dir, { recursive: true });
    this.openSegment();
    if (opts.fsync === 'interval' && opts.fsyncIntervalMs > 0) {
      this.timer = setInterval(() => this.backgroundSync(), opts.fsyncIntervalMs);
      this.timer.unref();
    }
  }

  private segPath(i = this.segment): string {
    return path.join(this.opts.dir, segmentName(i));
  }

  private openSegment(): void {
    this.fd = fs.openSync(this.segPath(), 'w');
    this.segmentBytes = 0;
    this.counters.segmentsCreated++;
    syncDir(this.opts.dir);
  }

  /** Bytes in the current segment. */
  currentSegmentBytes(): number {
    return this.segmentBytes;
  }

  // ---- record encoding ----

  private begin(w: ByteWriter, type: number): number {
    const start = w.pos;
    w.ensure(HEADER);
    w.pos += HEADER;
    w.buf[start] = type;
    return start;
  }

  private end(w: ByteWriter, start: number): void {
    const len = w.pos - start - HEADER;
    w.u32At(start + 1, len);
    w.u32At(start + 5, crc32(w.buf.subarray(start + HEADER, w.pos)));
  }

  /** Start of the series record being filled in `control` (-1: none); closed before any other record. */
  private openSeries = -1;

  /** Queues a series (consecutive series share one record). */
  logSeries(ref: number, pairs: readonly string[]): void {
    const w = this.control;
    if (this.openSeries < 0) this.openSeries = this.begin(w, REC_SERIES);
    w.f64(ref);
    w.uvarint(pairs.length >> 1);
    for (const s of pairs) w.string(s);
    // Keep records small enough to be read and checked in one piece.
    if (w.pos - this.openSeries > 1 << 20) this.closeSeries();
    this.schedule();
  }

  private closeSeries(): void {
    if (this.openSeries < 0) return;
    this.end(this.control, this.openSeries);
    this.openSeries = -1;
  }

  /** Queues a delete record. */
  logDelete(refs: readonly number[], startT: number, endT: number): void {
    this.closeSeries();
    const w = this.control;
    const start = this.begin(w, REC_DELETE);
    w.f64(startT);
    w.f64(endT);
    w.uvarint(refs.length);
    for (const r of refs) w.f64(r);
    this.end(w, start);
    this.schedule();
  }

  /**
   * Queues a samples record for a commit; `apply` runs after the write succeeded (before
   * `resolve`). `refs[i]` is the series ref of sample i.
   */
  logSamples(refs: Float64Array, ts: Float64Array, vs: Float64Array, n: number, commit: PendingCommit): void {
    if (this.closed) {
      commit.reject(new StorageError('closed'));
      return;
    }
    if (n > 0) {
      const w = this.samples;
      const start = this.begin(w, REC_SAMPLES);
      w.ensure(32 + n * 20);
      w.uvarint(n);
      const firstRef = refs[0]!;
      const baseT = ts[0]!;
      const flags = sampleFlags(refs, ts, n);
      w.u8(flags);
      w.f64(firstRef);
      w.f64(baseT);
      w.pos = encodeDeltas(w.buf, w.pos, refs, ts, n, firstRef, baseT, flags);
      w.bytes(new Uint8Array(vs.buffer, vs.byteOffset, n * 8));
      this.end(w, start);
    }
    this.commits.push(commit);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.syncing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Writes everything queued now (synchronously), then applies and resolves the commits. */
  flush(): void {
    if (this.syncing) return;
    this.closeSeries();
    const commits = this.commits;
    const hasData = this.control.pos > 0 || this.samples.pos > 0;
    if (!hasData && commits.length === 0) return;
    this.commits = [];
    if (hasData) {
      try {
        this.write([this.control.view(), this.samples.view()]);
        this.control.reset();
        this.samples.reset();
        this.lastError = null;
      } catch (e) {
        // Series records are retried with the next write; the samples fail with their commits.
        this.samples.reset();
        this.counters.writeFailures++;
        const err = new StorageError('write_failed', describeFsError(e, `WAL segment ${this.segPath()}`), { cause: e });
        this.lastError = err;
        this.opts.logger.error({ err: describeFsError(e, 'write'), segment: this.segPath() }, 'WAL write failed');
        for (const c of commits) c.reject(err);
        return;
      }
    }
    if (this.opts.fsync === 'always' && hasData) {
      this.syncing = true;
      const t0 = process.hrtime.bigint();
      fs.fdatasync(this.fd, (e) => {
        this.syncing = false;
        this.recordFsync(t0);
        if (e) {
          const err = new StorageError('write_failed', describeFsError(e, `WAL fsync ${this.segPath()}`), { cause: e });
          this.lastError = err;
          this.counters.writeFailures++;
          for (const c of commits) c.reject(err);
        } else this.complete(commits);
        if (this.commits.length > 0 || this.control.pos > 0 || this.samples.pos > 0) this.schedule();
      });
      return;
    }
    this.complete(commits);
  }

  private complete(commits: PendingCommit[]): void {
    for (const c of commits) {
      try {
        c.apply();
      } catch (e) {
        c.reject(e instanceof Error ? e : new Error(String(e)));
        continue;
      }
      c.resolve();
    }
  }

  private write(bufs: Uint8Array[]): void {
    let total = 0;
    for (const b of bufs) total += b.length;
    if (this.segmentBytes > 0 && this.segmentBytes + total > this.opts.segmentSize) this.cut();
    const before = this.segmentBytes;
    try {
      this.opts.files.writeAll(this.fd, this.segPath(), bufs, before);
    } catch (e) {
      // Remove a partial write so the segment ends at a record boundary.
      try {
        fs.ftruncateSync(this.fd, before);
      } catch {
        // The replay's torn-tail repair handles what remains.
      }
      throw e;
    }
    this.segmentBytes += total;
    this.counters.writes++;
    this.counters.bytesWritten += total;
    this.dirty = true;
  }

  /** Closes the current segment (fsynced in the background) and starts the next one. */
  cut(): number {
    // Open the next segment first: when that fails, writing continues in the current one.
    const nextFd = fs.openSync(this.segPath(this.segment + 1), 'w');
    const fd = this.fd;
    const dirty = this.dirty;
    const t0 = process.hrtime.bigint();
    const done = new Promise<void>((resolve) => {
      const close = () => fs.close(fd, () => resolve());
      if (dirty) {
        fs.fdatasync(fd, () => {
          this.recordFsync(t0);
          close();
        });
      } else close();
    });
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
    this.dirty = false;
    this.segment++;
    this.fd = nextFd;
    this.segmentBytes = 0;
    this.counters.segmentsCreated++;
    syncDir(this.opts.dir);
    return this.segment;
  }

  private backgroundSync(): void {
    if (!this.dirty || this.closed || this.syncing) return;
    this.dirty = false;
    const t0 = process.hrtime.bigint();
    fs.fdatasync(this.fd, (e) => {
      this.recordFsync(t0);
      if (e) {
        this.dirty = true;
        this.lastError = new StorageError('write_failed', describeFsError(e, `WAL fsync ${this.segPath()}`));
      }
    });
  }

  private recordFsync(t0: bigint): void {
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    this.counters.fsyncs++;
    this.onFsync?.(s);
  }

  /** Writes what is queued, fsyncs and closes. Pending commits are completed first. */
  close(): void {
    if (this.closed) return;
    this.flushSyncAll();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      fs.fdatasyncSync(this.fd);
    } catch {
      // Reported by the write that failed.
    }
    fs.closeSync(this.fd);
  }

  /** Resolves when finished segments have been synced and closed. */
  async drain(): Promise<void> {
    await Promise.all([...this.closing]);
  }

  /** Flushes synchronously even while an 'always' fsync is in flight (shutdown). */
  flushSyncAll(): void {
    if (this.syncing) {
      // Let the in-flight fsync's callback resolve its commits later; write the rest now.
      this.syncing = false;
    }
    this.flush();
    if (this.syncing) {
      try {
        fs.fdatasyncSync(this.fd);
      } catch {
        // ignore
      }
    }
  }
}

/**
 * Writes the ref deltas then the time deltas of a samples record (hot loop kept in its own
 * function so that it stays optimized across calls).
 */
function encodeDeltas(buf: Uint8Array, p: number, refs: Float64Array, ts: Float64Array, n: number, firstRef: number, baseT: number, flags: number): number {
  if ((flags & FLAG_CONSECUTIVE_REFS) === 0) {
    let prev = firstRef;
    for (let i = 0; i < n; i++) {
      const r = refs[i]!;
      p = putVarint(buf, p, r - prev);
      prev = r;
    }
  }
  if ((flags & FLAG_SAME_TIME) === 0) for (let i = 0; i < n; i++) p = putVarint(buf, p, ts[i]! - baseT);
  return p;
}

const FLAG_CONSECUTIVE_REFS = 1;
const FLAG_SAME_TIME = 2;

/** Which shortcuts apply to a samples record (a scrape's samples usually take both). */
function sampleFlags(refs: Float64Array, ts: Float64Array, n: number): number {
  let consecutive = true;
  let same = true;
  const r0 = refs[0]!;
  const t0 = ts[0]!;
  for (let i = 1; i < n && (consecutive || same); i++) {
    if (refs[i] !== r0 + i) consecutive = false;
    if (ts[i] !== t0) same = false;
  }
  return (consecutive ? FLAG_CONSECUTIVE_REFS : 0) | (same ? FLAG_SAME_TIME : 0);
}

/** Writes a zig-zag varint into buf at p (room for 10 bytes must exist); returns the new position. */
function putVarint(buf: Uint8Array, p: number, x: number): number {
  if (x >= -1073741824 && x < 1073741824) {
    let z = ((x << 1) ^ (x >> 31)) >>> 0;
    while (z >= 0x80) {
      buf[p++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    buf[p++] = z;
    return p;
  }
  let z = x >= 0 ? x * 2 : -x * 2 - 1;
  while (z >= 0x80) {
    buf[p++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[p++] = z;
  return p;
}

// ---------------------------------------------------------------- reading

export interface ReplayHandler {
  series(ref: number, pairs: string[]): void;
  /** Samples i < n: refs[i], ts[i], vs[i] (arrays reused between calls). */
  samples(refs: Float64Array, ts: Float64Array, vs: Float64Array, n: number): void;
  delete(refs: number[], start: number, end: number): void;
}

export interface SegmentReadResult {
  records: number;
  samples: number;
  bytes: number;
  /** Set when the segment ended with a torn or corrupt record (then truncated at `validBytes`). */
  corruption?: { offset: number; reason: string };
  validBytes: number;
}

/** Reusable decode buffers. */
class SampleBuffers {
  refs = new Float64Array(1024);
  ts = new Float64Array(1024);
  vs = new Float64Array(1024);
  ensure(n: number): void {
    if (this.refs.length >= n) return;
    const size = Math.max(n, this.refs.length * 2);
    this.refs = new Float64Array(size);
    this.ts = new Float64Array(size);
    this.vs = new Float64Array(size);
  }
}
const buffers = new SampleBuffers();

/** Decodes the records of a segment (or snapshot-free record stream) in `data`. */
export function readRecords(data: Uint8Array, h: ReplayHandler): SegmentReadResult {
  let p = 0;
  let records = 0;
  let samples = 0;
  const len = data.length;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  while (p < len) {
    if (p + HEADER > len) return { records, samples, bytes: len, validBytes: p, corruption: { offset: p, reason: 'torn record header' } };
    const type = data[p]!;
    const plen = dv.getUint32(p + 1, true);
    const crc = dv.getUint32(p + 5, true);
    if (type < REC_SERIES || type > REC_DELETE) return { records, samples, bytes: len, validBytes: p, corruption: { offset: p, reason: `unknown record type ${type}` } };
    if (p + HEADER + plen > len) return { records, samples, bytes: len, validBytes: p, corruption: { offset: p, reason: 'torn record' } };
    const payload = data.subarray(p + HEADER, p + HEADER + plen);
    if (crc32(payload) !== crc) return { records, samples, bytes: len, validBytes: p, corruption: { offset: p, reason: 'checksum mismatch' } };
    try {
      if (type === REC_SAMPLES) samples += decodeSamples(payload, h);
      else if (type === REC_SERIES) decodeSeries(payload, h);
      else decodeDelete(payload, h);
    } catch (e) {
      return { records, samples, bytes: len, validBytes: p, corruption: { offset: p, reason: `undecodable record: ${(e as Error).message}` } };
    }
    records++;
    p += HEADER + plen;
  }
  return { records, samples, bytes: len, validBytes: p };
}

function decodeSeries(payload: Uint8Array, h: ReplayHandler): void {
  const r = new ByteReader(payload);
  while (r.remaining() > 0) {
    const ref = r.f64();
    const n = r.uvarint();
    const pairs: string[] = new Array(n * 2);
    for (let i = 0; i < n * 2; i++) pairs[i] = r.string();
    h.series(ref, pairs);
  }
}

function decodeDelete(payload: Uint8Array, h: ReplayHandler): void {
  const r = new ByteReader(payload);
  const start = r.f64();
  const end = r.f64();
  const n = r.uvarint();
  const refs: number[] = [];
  for (let i = 0; i < n; i++) refs.push(r.f64());
  h.delete(refs, start, end);
}

const scratchF64 = new Float64Array(2);
const scratchU8 = new Uint8Array(scratchF64.buffer);

function decodeSamples(payload: Uint8Array, h: ReplayHandler): number {
  let p = 0;
  const b = payload;
  // count
  let n = 0;
  let mul = 1;
  for (;;) {
    const c = b[p++]!;
    n += (c & 0x7f) * mul;
    if (c < 0x80) break;
    mul *= 128;
    if (p > 8) throw new Error('bad count');
  }
  if (n === 0) return 0;
  if (p + 17 > b.length) throw new Error('short samples record');
  const flags = b[p++]!;
  scratchU8.set(b.subarray(p, p + 16));
  const firstRef = scratchF64[0]!;
  const baseT = scratchF64[1]!;
  p += 16;
  buffers.ensure(n);
  const refs = buffers.refs;
  const ts = buffers.ts;
  const vs = buffers.vs;
  const end = b.length - n * 8;
  if (flags & FLAG_CONSECUTIVE_REFS) {
    for (let i = 0; i < n; i++) refs[i] = firstRef + i;
  } else {
    let prev = firstRef;
    for (let i = 0; i < n; i++) {
      const r = readVarint(b, p, end);
      p = varintEnd;
      prev += r;
      refs[i] = prev;
    }
  }
  if (flags & FLAG_SAME_TIME) ts.fill(baseT, 0, n);
  else {
    for (let i = 0; i < n; i++) {
      const d = readVarint(b, p, end);
      p = varintEnd;
      ts[i] = baseT + d;
    }
  }
  if (p !== end) throw new Error('samples record length mismatch');
  new Uint8Array(vs.buffer, 0, n * 8).set(b.subarray(p, p + n * 8));
  h.samples(refs, ts, vs, n);
  return n;
}

let varintEnd = 0;

/** Reads a zig-zag varint at p (not past `end`); the position after it goes to `varintEnd`. */
function readVarint(b: Uint8Array, p: number, end: number): number {
  let c = b[p]!;
  if (c < 0x80 && p < end) {
    varintEnd = p + 1;
    return (c >>> 1) ^ -(c & 1);
  }
  let z = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (p >= end) throw new Error('truncated varint');
    c = b[p++]!;
    z += (c & 0x7f) * mul;
    if (c < 0x80) {
      varintEnd = p;
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    mul *= 128;
  }
  throw new Error('varint too long');
}
