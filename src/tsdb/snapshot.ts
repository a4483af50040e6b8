/**
 * WAL checkpoints as head snapshots: `wal/checkpoint.NNNNNNNN/snapshot` holds every live series
 * with its compressed chunks and encoder state, so that start-up loads chunks with a memory copy
 * and replays only the segments after NNNNNNNN.
 *
 * A snapshot is taken after cutting the WAL at segment N+1: it must contain at least the effect
 * of segments ≤ N. It is written in slices while appends continue, so a series written late may
 * also contain samples from segment N+1 or later; replaying those segments again is harmless
 * because re-appending a sample the series already has (same time, same value) is a no-op, and
 * older samples are skipped.
 *
 * File: 'VGS1' magic, version u32, then records framed like WAL records (type u8, length u32,
 * CRC-32 u32, payload): type 10 = header (min valid time f64, chunk range f64), 11 = series
 * batch, 12 = end (series count uvarint). Sealed chunks are in the block codec (codec.ts), the
 * open chunk in XOR (xor.ts). Series in a batch: ref f64, pair count, strings,
 * last time f64, last value bits (u32 lo, u32 hi), sealed chunk count, per chunk: min time f64,
 * max time f64, sample count, word count, words; then open-chunk sample count (0 = none) and if
 * any: min time f64, bit length, delta f64, lead u8, trail u8, the words.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ByteReader, ByteWriter, crc32 } from './bytes.ts';
import { TsdbError } from './errors.ts';
import { syncDir, type FileOps } from './fsops.ts';
import { PAGE_WORDS } from './chunkstore.ts';
import { SLOT_SPACE, type Head } from './head.ts';

const MAGIC = 0x31534756; // 'VGS1'
/** 2: sealed chunks in the block codec (codec.ts), the open chunk in XOR (xor.ts). */
const SNAPSHOT_VERSION = 2;
const REC_HEADER = 10;
const REC_SERIES = 11;
const REC_END = 12;
/** Series per record (and per write slice). */
const BATCH_SERIES = 4096;

function frame(w: ByteWriter, type: number, body: (w: ByteWriter) => void): void {
  const start = w.pos;
  w.u8(type);
  w.u32(0);
  w.u32(0);
  body(w);
  const len = w.pos - start - 9;
  w.u32At(start + 1, len);
  w.u32At(start + 5, crc32(w.buf.subarray(start + 9, w.pos)));
}

function writeSeries(w: ByteWriter, head: Head, s: number): void {
  w.f64(head.refOf(s));
  const pairs = head.pairsOf(s);
  w.uvarint(pairs.length >> 1);
  for (const p of pairs) w.string(p);
  w.f64(head.lastT(s));
  const [vlo, vhi] = head.lastValueBits(s);
  w.u32(vlo);
  w.u32(vhi);
  const metas = head.metas;
  let count = 0;
  for (let m = head.firstChunk(s); m >= 0; m = metas.next[m]!) count++;
  w.uvarint(count);
  for (let m = head.firstChunk(s); m >= 0; m = metas.next[m]!) {
    w.f64(metas.minT[m]!);
    w.f64(metas.maxT[m]!);
    w.uvarint(metas.n[m]!);
    const words = metas.words[m]!;
    w.uvarint(words);
    const loc = metas.loc[m]!;
    const page = head.arena.pages[Math.floor(loc / PAGE_WORDS)]!;
    const off = loc % PAGE_WORDS;
    w.bytes(new Uint8Array(page.buffer, page.byteOffset + off * 4, words * 4));
  }
  const open = head.openState(s);
  w.uvarint(open ? open.n : 0);
  if (open) {
    w.f64(open.minT);
    w.uvarint(open.bits);
    w.f64(open.delta);
    w.u8(open.lead);
    w.u8(open.trail);
    const words = (open.bits + 31) >>> 5;
    w.bytes(new Uint8Array(open.page.buffer, open.page.byteOffset + open.off * 4, words * 4));
  }
}

export function checkpointDirName(segment: number): string {
  return `checkpoint.${String(segment).padStart(8, '0')}`;
}

/**
 * Writes a snapshot of the head as checkpoint `segment` (covering segments ≤ segment).
 * Yields to the event loop between slices. Returns the file size.
 */
export async function writeSnapshot(walDir: string, segment: number, head: Head, files: FileOps, opts: { yieldEvery?: boolean } = {}): Promise<{ bytes: number; series: number }> {
  // The snapshot format holds block-codec chunks only.
  head.encodeDeferredChunks();
  const finalDir = path.join(walDir, checkpointDirName(segment));
  const tmpDir = finalDir + '.tmp';
  await fsp.rm(tmpDir, { recursive: true, force: true });
  await fsp.mkdir(tmpDir, { recursive: true });
  const file = path.join(tmpDir, 'snapshot');
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  let series = 0;
  try {
    const w = new ByteWriter(1 << 20);
    w.u32(MAGIC);
    w.u32(SNAPSHOT_VERSION);
    frame(w, REC_HEADER, (b) => {
      b.f64(head.minValidTime);
      b.f64(head.chunkRange);
    });
    const yieldEvery = opts.yieldEvery ?? true;
    let s = 1;
    while (s < head.top) {
      const batchStart = w.pos;
      let inBatch = 0;
      frame(w, REC_SERIES, (b) => {
        const countPos = b.pos;
        b.u32(0);
        for (; s < head.top && inBatch < BATCH_SERIES; s++) {
          if (!head.alive[s]) continue;
          writeSeries(b, head, s);
          inBatch++;
        }
        b.u32At(countPos, inBatch);
      });
      if (inBatch === 0) w.pos = batchStart;
      series += inBatch;
      if (w.pos >= 1 << 22 || s >= head.top) {
        files.writeAll(fd, file, [w.view()]);
        bytes += w.pos;
        w.reset();
        if (yieldEvery) await new Promise<void>((r) => setImmediate(r));
      }
    }
    frame(w, REC_END, (b) => b.uvarint(series));
    files.writeAll(fd, file, [w.view()]);
    bytes += w.pos;
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    await fsp.rm(tmpDir, { recursive: true, force: true });
    throw e;
  }
  fs.closeSync(fd);
  syncDir(tmpDir);
  await fsp.rm(finalDir, { recursive: true, force: true });
  await fsp.rename(tmpDir, finalDir);
  syncDir(walDir);
  return { bytes, series };
}

export interface SnapshotLoadResult {
  series: number;
  chunks: number;
  bytes: number;
  /** WAL ref → slot for series that could not keep their ref. */
  remapped: Map<number, number>;
}

/** Loads a snapshot into an empty head. Throws TsdbError('corrupt_snapshot'). */
export function loadSnapshot(dir: string, head: Head, onProgress?: (series: number) => void): SnapshotLoadResult {
  const file = path.join(dir, 'snapshot');
  let data: Uint8Array;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    throw new TsdbError('corrupt_snapshot', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  const fail = (why: string): never => {
    throw new TsdbError('corrupt_snapshot', `${file}: ${why}`);
  };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 8 || dv.getUint32(0, true) !== MAGIC) fail('bad magic number');
  if (dv.getUint32(4, true) !== SNAPSHOT_VERSION) fail(`unsupported snapshot version ${dv.getUint32(4, true)}`);
  let p = 8;
  let series = 0;
  let chunks = 0;
  let ended = false;
  const remapped = new Map<number, number>();
  let words = new Uint32Array(1024);
  while (p < data.length) {
    if (p + 9 > data.length) fail(`torn record at byte ${p}`);
    const type = data[p]!;
    const len = dv.getUint32(p + 1, true);
    const crc = dv.getUint32(p + 5, true);
    if (p + 9 + len > data.length) fail(`torn record at byte ${p}`);
    const payload = data.subarray(p + 9, p + 9 + len);
    if (crc32(payload) !== crc) fail(`checksum mismatch at byte ${p}`);
    const r = new ByteReader(payload);
    if (type === REC_HEADER) {
      const mv = r.f64();
      if (mv > head.minValidTime) head.minValidTime = mv;
    } else if (type === REC_SERIES) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const ref = r.f64();
        const np = r.uvarint() * 2;
        const pairs: string[] = new Array(np);
        for (let k = 0; k < np; k++) pairs[k] = r.string();
        const slot0 = ref % SLOT_SPACE;
        const gen = (ref - slot0) / SLOT_SPACE;
        let s = head.lookup(pairs);
        if (s < 0) {
          if (slot0 > 0 && (slot0 >= head.top || !head.alive[slot0])) s = head.createAt(pairs, slot0, gen);
          else {
            s = head.createAt(pairs, head.top, 0);
            remapped.set(ref, s);
          }
        } else if (head.refOf(s) !== ref) remapped.set(ref, s);
        const lastT = r.f64();
        const vlo = r.u32();
        const vhi = r.u32();
        const nsealed = r.uvarint();
        for (let c = 0; c < nsealed; c++) {
          const minT = r.f64();
          const maxT = r.f64();
          const n = r.uvarint();
          const nw = r.uvarint();
          const bytes = r.bytes(nw * 4);
          if (words.length < nw + 2) words = new Uint32Array(nw + 2);
          new Uint8Array(words.buffer, 0, nw * 4).set(bytes);
          head.addSealedChunk(s, words, 0, nw, n, minT, maxT);
          chunks++;
        }
        const on = r.uvarint();
        if (on > 0) {
          const minT = r.f64();
          const bits = r.uvarint();
          const delta = r.f64();
          const lead = r.u8();
          const trail = r.u8();
          const nw = (bits + 31) >>> 5;
          const bytes = r.bytes(nw * 4);
          if (words.length < nw + 2) words = new Uint32Array(nw + 2);
          words.fill(0, 0, nw + 2);
          new Uint8Array(words.buffer, 0, nw * 4).set(bytes);
          head.restoreOpenChunk(s, words, 0, bits, { n: on, t: lastT, delta, vlo, vhi, lead, trail, minT });
          chunks++;
        } else head.restoreLast(s, lastT, vlo, vhi);
        series++;
      }
      onProgress?.(series);
    } else if (type === REC_END) {
      const n = r.uvarint();
      if (n !== series) fail(`end record counts ${n} series, found ${series}`);
      ended = true;
    } else fail(`unknown record type ${type} at byte ${p}`);
    p += 9 + len;
  }
  if (!ended) fail('missing end record');
  return { series, chunks, bytes: data.length, remapped };
}
