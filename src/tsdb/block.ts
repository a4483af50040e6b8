/**
 * Persisted blocks: an immutable directory per time range, named by a ULID:
 *
 *   <ulid>/meta.json        time range [minTime, maxTime), statistics, compaction lineage
 *   <ulid>/index            symbols, series (labels + chunk references), postings, TOC
 *   <ulid>/chunks/000001    chunk data (codec.ts), each chunk followed by its CRC-32
 *   <ulid>/tombstones       optional: deleted intervals per series
 *
 * Index layout (little-endian): 'VGX1' magic, version u32; sections symbols (count, sorted
 * strings), series (per series: label count, name/value symbol ids, chunk count, chunk metas),
 * series lengths (uvarint per series), postings (per label pair: count, series number deltas),
 * postings table (per name: name symbol, value count, per value: value symbol, postings offset);
 * then a TOC of (offset, length, CRC-32) per section, the series count, the TOC's CRC and the
 * magic again. Series are numbered in label order, so postings yield label-sorted series.
 *
 * A block is written to `<ulid>.tmp` and renamed when complete; a block directory is therefore
 * either complete or absent. Loading verifies every index section's checksum; chunk checksums
 * are verified when chunks are read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Labels, compareStrings, type Matcher } from '../model/index.ts';
import type { SampleBuffer, Series } from '../storage/index.ts';
import { BitWriter } from './bits.ts';
import { ByteReader, ByteWriter, crc32 } from './bytes.ts';
import { BlockChunkDecoder, MAX_BLOCK_CHUNK_SAMPLES, encodeBlockChunk } from './codec.ts';
import { TsdbError } from './errors.ts';
import { FileOps, syncDir } from './fsops.ts';
import { ChunkedIterator, dropDeleted, type ChunkCursor } from './iterators.ts';
import { EMPTY_POSTINGS, intersect, subtract, unionMany } from './postings.ts';
import { ulid as newUlid } from './ulid.ts';

const INDEX_MAGIC = 0x31584756; // 'VGX1'
const CHUNKS_MAGIC = 0x31434756; // 'VGC1'
const TOMB_MAGIC = 0x31544756; // 'VGT1'
const CHUNK_FILE_HEADER_WORDS = 2;
/** A chunk file is closed past this many words (512 MiB). */
const MAX_CHUNK_FILE_WORDS = 2 ** 27;
export const BLOCK_FORMAT = 'vigil-block-1';

export interface BlockMeta {
  ulid: string;
  minTime: number;
  /** Exclusive. */
  maxTime: number;
  stats: { numSamples: number; numSeries: number; numChunks: number };
  compaction: { level: number; sources: string[]; parents?: Array<{ ulid: string; minTime: number; maxTime: number }> };
  version: 1;
  vigil: { format: string; chunkFiles: Array<{ name: string; bytes: number }>; indexBytes: number };
}

export interface EncodedChunk {
  /** Chunk words (codec.ts layout) without the CRC word. */
  words: Uint32Array;
  minT: number;
  maxT: number;
  n: number;
}

// ---------------------------------------------------------------- writing

/**
 * Streams series (in label order) into a new block. `finish()` writes the index and meta.json
 * and makes the block visible; `abort()` removes the partial directory.
 */
export class BlockWriter {
  readonly ulid: string;
  readonly tmpDir: string;
  private readonly finalDir: string;
  private readonly bw = new BitWriter(1024);
  private chunkFile = 0;
  private chunkFd = -1;
  private fileWords = 0;
  private out = new Uint32Array(1 << 20);
  private outLen = 0;
  private readonly chunkFiles: Array<{ name: string; bytes: number }> = [];
  // Series collected for the index.
  private readonly seriesPairs: string[][] = [];
  private readonly seriesChunkStart: number[] = [];
  private readonly cMinT: number[] = [];
  private readonly cMaxT: number[] = [];
  private readonly cFile: number[] = [];
  private readonly cOff: number[] = [];
  private readonly cWords: number[] = [];
  private numSamples = 0;
  private lastPairs: string[] | undefined;
  private done = false;

  constructor(
    parent: string,
    readonly minTime: number,
    readonly maxTime: number,
    private readonly files: FileOps,
    id = newUlid(),
  ) {
    this.ulid = id;
    this.finalDir = path.join(parent, id);
    this.tmpDir = this.finalDir + '.tmp';
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
    fs.mkdirSync(path.join(this.tmpDir, 'chunks'), { recursive: true });
    this.openChunkFile();
  }

  private chunkPath(i: number): string {
    return path.join(this.tmpDir, 'chunks', String(i).padStart(6, '0'));
  }

  private openChunkFile(): void {
    this.chunkFile++;
    this.chunkFd = fs.openSync(this.chunkPath(this.chunkFile), 'w');
    this.fileWords = CHUNK_FILE_HEADER_WORDS;
    this.out[0] = CHUNKS_MAGIC;
    this.out[1] = 1;
    this.outLen = 2;
  }

  private flushOut(): void {
    if (this.outLen === 0) return;
    this.files.writeAll(this.chunkFd, this.chunkPath(this.chunkFile), [new Uint8Array(this.out.buffer, 0, this.outLen * 4)]);
    this.outLen = 0;
  }

  private closeChunkFile(): void {
    this.flushOut();
    fs.fsyncSync(this.chunkFd);
    fs.closeSync(this.chunkFd);
    this.chunkFiles.push({ name: String(this.chunkFile).padStart(6, '0'), bytes: this.fileWords * 4 });
    this.chunkFd = -1;
  }

  private putWords(src: Uint32Array, n: number): void {
    if (this.outLen + n + 1 > this.out.length) {
      this.flushOut();
      if (n + 1 > this.out.length) this.out = new Uint32Array(n + 1);
    }
    this.out.set(src.subarray(0, n), this.outLen);
    this.out[this.outLen + n] = crc32(new Uint8Array(src.buffer, src.byteOffset, n * 4));
    this.outLen += n + 1;
    this.fileWords += n + 1;
  }

  private beginSeries(pairs: string[]): void {
    if (this.done) throw new Error('block writer finished');
    if (this.lastPairs && comparePairs(this.lastPairs, pairs) >= 0) {
      throw new Error(`series out of order in block: ${Labels.fromSortedPairs(pairs).toString()} after ${Labels.fromSortedPairs(this.lastPairs).toString()}`);
    }
    if (this.fileWords > MAX_CHUNK_FILE_WORDS) {
      this.closeChunkFile();
      this.openChunkFile();
    }
    this.lastPairs = pairs;
    this.seriesPairs.push(pairs);
    this.seriesChunkStart.push(this.cMinT.length);
  }

  private addChunkMeta(minT: number, maxT: number, words: number): void {
    this.cMinT.push(minT);
    this.cMaxT.push(maxT);
    this.cFile.push(this.chunkFile);
    this.cOff.push(this.fileWords);
    this.cWords.push(words);
  }

  /**
   * Adds a series (labels sorted by name; series in increasing label order) with samples
   * ts[0..n) (strictly increasing, within the block's range). Series without samples are skipped.
   */
  addSeries(pairs: string[], ts: ArrayLike<number>, vs: Float64Array, n: number): void {
    if (n === 0) return;
    this.beginSeries(pairs);
    const chunks = Math.ceil(n / MAX_BLOCK_CHUNK_SAMPLES);
    const per = Math.ceil(n / chunks);
    for (let from = 0; from < n; from += per) {
      const to = Math.min(n, from + per);
      this.bw.reset();
      const words = encodeBlockChunk(this.bw, ts, vs, from, to);
      this.addChunkMeta(ts[from]!, ts[to - 1]!, words);
      this.putWords(this.bw.words, words);
    }
    this.numSamples += n;
  }

  /** Adds a series from chunks already in block encoding (copied as they are). */
  addSeriesChunks(pairs: string[], chunks: readonly EncodedChunk[]): void {
    if (chunks.length === 0) return;
    this.beginSeries(pairs);
    for (const c of chunks) {
      this.addChunkMeta(c.minT, c.maxT, c.words.length);
      this.putWords(c.words, c.words.length);
      this.numSamples += c.n;
    }
  }

  get seriesCount(): number {
    return this.seriesPairs.length;
  }

  /** Writes the index and meta.json, then renames the directory into place. */
  finish(compaction: BlockMeta['compaction']): BlockMeta {
    if (this.done) throw new Error('block writer finished');
    this.done = true;
    this.closeChunkFile();
    const index = this.buildIndex();
    this.files.writeFile(path.join(this.tmpDir, 'index'), index);
    const meta: BlockMeta = {
      ulid: this.ulid,
      minTime: this.minTime,
      maxTime: this.maxTime,
      stats: { numSamples: this.numSamples, numSeries: this.seriesPairs.length, numChunks: this.cMinT.length },
      compaction: { ...compaction, sources: compaction.sources.length ? compaction.sources : [this.ulid] },
      version: 1,
      vigil: { format: BLOCK_FORMAT, chunkFiles: this.chunkFiles, indexBytes: index.length },
    };
    this.files.writeFile(path.join(this.tmpDir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    syncDir(path.join(this.tmpDir, 'chunks'));
    syncDir(this.tmpDir);
    fs.renameSync(this.tmpDir, this.finalDir);
    syncDir(path.dirname(this.finalDir));
    return meta;
  }

  abort(): void {
    this.done = true;
    if (this.chunkFd >= 0) {
      try {
        fs.closeSync(this.chunkFd);
      } catch {
        // already closed
      }
      this.chunkFd = -1;
    }
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }

  private buildIndex(): Uint8Array {
    const symSet = new Set<string>();
    for (const pairs of this.seriesPairs) for (const s of pairs) symSet.add(s);
    const symbols = [...symSet].sort(compareStrings);
    const symId = new Map<string, number>();
    symbols.forEach((s, i) => symId.set(s, i));

    const w = new ByteWriter(1 << 16);
    w.u32(INDEX_MAGIC);
    w.u32(1);
    const toc: Array<[number, number]> = [];
    const section = (fn: () => void) => {
      const start = w.pos;
      fn();
      toc.push([start, w.pos - start]);
    };
    // Symbols.
    section(() => {
      w.uvarint(symbols.length);
      for (const s of symbols) w.string(s);
    });
    // Series.
    const lengths: number[] = [];
    section(() => {
      const n = this.seriesPairs.length;
      for (let i = 0; i < n; i++) {
        const start = w.pos;
        const pairs = this.seriesPairs[i]!;
        w.uvarint(pairs.length >> 1);
        for (const s of pairs) w.uvarint(symId.get(s)!);
        const c0 = this.seriesChunkStart[i]!;
        const c1 = i + 1 < n ? this.seriesChunkStart[i + 1]! : this.cMinT.length;
        w.uvarint(c1 - c0);
        let prevMax = this.minTime;
        for (let c = c0; c < c1; c++) {
          w.varint(this.cMinT[c]! - prevMax);
          w.uvarint(this.cMaxT[c]! - this.cMinT[c]!);
          w.uvarint(this.cWords[c]!);
          if (c === c0) {
            w.uvarint(this.cFile[c]!);
            w.uvarint(this.cOff[c]!);
          }
          prevMax = this.cMaxT[c]!;
        }
        lengths.push(w.pos - start);
      }
    });
    section(() => {
      for (const l of lengths) w.uvarint(l);
    });
    // Postings.
    const byName = new Map<string, Map<string, number[]>>();
    this.seriesPairs.forEach((pairs, i) => {
      for (let k = 0; k < pairs.length; k += 2) {
        let m = byName.get(pairs[k]!);
        if (!m) byName.set(pairs[k]!, (m = new Map()));
        let l = m.get(pairs[k + 1]!);
        if (!l) m.set(pairs[k + 1]!, (l = []));
        l.push(i);
      }
    });
    const names = [...byName.keys()].sort(compareStrings);
    const offsets = new Map<string, Array<[string, number]>>();
    let postingsStart = 0;
    section(() => {
      postingsStart = w.pos;
      for (const name of names) {
        const m = byName.get(name)!;
        const values = [...m.keys()].sort(compareStrings);
        const offs: Array<[string, number]> = [];
        for (const v of values) {
          offs.push([v, w.pos - postingsStart]);
          const l = m.get(v)!;
          w.uvarint(l.length);
          let prev = 0;
          for (const x of l) {
            w.uvarint(x - prev);
            prev = x;
          }
        }
        offsets.set(name, offs);
      }
    });
    section(() => {
      w.uvarint(names.length);
      for (const name of names) {
        const offs = offsets.get(name)!;
        w.uvarint(symId.get(name)!);
        w.uvarint(offs.length);
        for (const [v, o] of offs) {
          w.uvarint(symId.get(v)!);
          w.uvarint(o);
        }
      }
    });
    if (w.pos > 0xffffffff - 1024) throw new TsdbError('corrupt_block', 'index larger than 4 GiB');
    const tocStart = w.pos;
    for (const [off, len] of toc) {
      w.u32(off);
      w.u32(len);
      w.u32(crc32(w.buf.subarray(off, off + len)));
    }
    w.u32(this.seriesPairs.length);
    w.u32(crc32(w.buf.subarray(tocStart, w.pos)));
    w.u32(INDEX_MAGIC);
    return w.view().slice();
  }
}

function comparePairs(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------- reading

const TOC_SECTIONS = 5;
const TOC_BYTES = TOC_SECTIONS * 12 + 12;

interface NameEntry {
  values: string[];
  offs: Uint32Array;
}

/** Chunk references captured for selected series, and the chunk data read for them. */
export class BlockCapture {
  file: number[] = [];
  off: number[] = [];
  words: number[] = [];
  minT: number[] = [];
  maxT: number[] = [];
  /** Read-ahead windows of chunk files (most recent first): one read serves many series. */
  private windows: Array<{ file: number; start: number; data: Uint32Array }> = [];
  /** The cache page load() used last (chunks of neighbouring series share pages). */
  private page: CachedPage | undefined;

  /**
   * With `cached`, chunk data comes from the process-wide page cache (queries); without, from
   * read-ahead windows owned by this capture (compaction reads everything once and would only
   * evict what queries use).
   */
  constructor(private readonly block: Block, private readonly cached = false) {}

  /** Where load() put the words asked for: data[base...]. */
  data: Uint32Array = new Uint32Array(0);
  base = 0;

  /**
   * Makes words [start, start + count) of a chunk file (plus two spare words) available as
   * data[base...]. Returns true when the chunk starting there was already checked (its CRC).
   */
  load(file: number, start: number, count: number): boolean {
    if (this.cached && chunkCache.limit > 0) {
      const index = Math.floor(start / PAGE_WORDS);
      const rel = start - index * PAGE_WORDS;
      if (rel + count + 2 <= PAGE_WORDS + OVERLAP_WORDS) {
        let pg = this.page;
        if (pg === undefined || pg.file !== file || pg.index !== index) {
          pg = chunkCache.get(this.block, file, index);
          this.page = pg;
        }
        if (rel + count <= pg.valid) {
          this.data = pg.data;
          this.base = rel;
          return (pg.verified[rel >>> 3]! & (1 << (rel & 7))) !== 0;
        }
        // The file ends before the chunk: readWords reports it.
      }
      this.page = undefined;
      this.data = this.block.readWords(file, start, count);
      this.base = 0;
      return false;
    }
    const ws = this.windows;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      if (w.file === file && start >= w.start && start + count + 2 <= w.start + w.data.length) {
        this.data = w.data;
        this.base = start - w.start;
        return false;
      }
    }
    const size = Math.max(WINDOW_WORDS, count);
    const data = this.block.readWords(file, start, size, true);
    ws.unshift({ file, start, data });
    if (ws.length > MAX_WINDOWS) ws.pop();
    this.data = data;
    this.base = 0;
    return false;
  }

  /** Records that the chunk load() just made available passed its CRC check. */
  markVerified(): void {
    const pg = this.page;
    if (pg !== undefined && this.data === pg.data) pg.verified[this.base >>> 3] = pg.verified[this.base >>> 3]! | (1 << (this.base & 7));
  }
}

/** Words read ahead per chunk-file read (1 MiB). */
const WINDOW_WORDS = 1 << 18;
const MAX_WINDOWS = 8;

/** Words per cached page of a chunk file (64 KiB). */
const PAGE_WORDS = 1 << 14;
/**
 * Words a page holds past its end (8 KiB), so that every chunk starting in it is whole (block
 * chunks are at most 480 samples: under 2,000 words); larger chunks are read directly.
 */
const OVERLAP_WORDS = 1 << 11;

/** A cached part of a chunk file: words [index·PAGE_WORDS, + valid) in data. */
interface CachedPage {
  key: number;
  block: number;
  file: number;
  index: number;
  data: Uint32Array;
  valid: number;
  /** One bit per word offset in the page: a chunk starting there passed its CRC check. */
  verified: Uint8Array;
}

/**
 * Chunk file pages shared by the queries of all blocks of the process, least recently used
 * evicted first once they exceed `limit` bytes. Pages are immutable (blocks are), so a reader
 * holding an evicted page keeps valid data. Blocks drop their pages when they are closed.
 */
class ChunkPageCache {
  limit = 64 * 1024 * 1024;
  bytes = 0;
  hits = 0;
  misses = 0;
  private readonly pages = new Map<number, CachedPage>();

  get(block: Block, file: number, index: number): CachedPage {
    const key = block.cacheId * 2 ** 33 + file * 2 ** 21 + index;
    const pages = this.pages;
    let pg = pages.get(key);
    if (pg !== undefined) {
      this.hits++;
      // Most recently used last.
      pages.delete(key);
      pages.set(key, pg);
      return pg;
    }
    this.misses++;
    const data = new Uint32Array(PAGE_WORDS + OVERLAP_WORDS + 2);
    const valid = block.readPage(file, index * PAGE_WORDS, data, PAGE_WORDS + OVERLAP_WORDS);
    pg = { key, block: block.cacheId, file, index, data, valid, verified: new Uint8Array(PAGE_WORDS >>> 3) };
    pages.set(key, pg);
    this.bytes += data.byteLength + pg.verified.byteLength;
    this.evict();
    return pg;
  }

  private evict(): void {
    if (this.bytes <= this.limit) return;
    for (const pg of this.pages.values()) {
      if (this.bytes <= this.limit) break;
      this.remove(pg);
    }
  }

  private remove(pg: CachedPage): void {
    this.pages.delete(pg.key);
    this.bytes -= pg.data.byteLength + pg.verified.byteLength;
  }

  dropBlock(id: number): void {
    for (const pg of [...this.pages.values()]) if (pg.block === id) this.remove(pg);
  }

  setLimit(bytes: number): void {
    this.limit = Math.max(0, bytes);
    this.evict();
  }
}

const chunkCache = new ChunkPageCache();
let nextCacheId = 0;

/**
 * Sets the size of the process-wide chunk page cache of persisted blocks (bytes; 0 disables
 * it). Returns the cache's counters.
 */
export function configureChunkCache(bytes?: number): { limit: number; bytes: number; hits: number; misses: number } {
  if (bytes !== undefined) chunkCache.setLimit(bytes);
  return { limit: chunkCache.limit, bytes: chunkCache.bytes, hits: chunkCache.hits, misses: chunkCache.misses };
}

/** Decoders of finished iterators, reused. */
const decoderPool: BlockChunkDecoder[] = [];
/** The decoder of bulk reads (synchronous: one is enough). */
let bulkDecoder: BlockChunkDecoder | undefined;

class BlockCursor implements ChunkCursor {
  private dec: BlockChunkDecoder | undefined;
  readonly count: number;

  constructor(private readonly block: Block, private readonly cap: BlockCapture, private readonly from: number, to: number) {
    this.count = to - from;
  }

  minT(i: number): number {
    return this.cap.minT[this.from + i]!;
  }

  maxT(i: number): number {
    return this.cap.maxT[this.from + i]!;
  }

  open(i: number): void {
    const j = this.from + i;
    const cap = this.cap;
    this.block.loadChunk(cap, j);
    (this.dec ??= decoderPool.pop() ?? new BlockChunkDecoder()).reset(cap.data, cap.base, cap.minT[j]!);
  }

  fill(bt: Float64Array, bv: Float64Array, bv32: Uint32Array, max: number): number {
    return this.dec!.fill(bt, bv, bv32, max);
  }

  release(): void {
    if (this.dec && decoderPool.length < 64) decoderPool.push(this.dec);
    this.dec = undefined;
  }
}

export class BlockSeries implements Series {
  constructor(
    readonly labels: Labels,
    private readonly block: Block,
    private readonly cap: BlockCapture,
    private readonly from: number,
    private readonly to: number,
    private readonly mint: number,
    private readonly maxt: number,
    private readonly deleted: Float64Array | null,
  ) {}

  iterator(): ChunkedIterator {
    return new ChunkedIterator(new BlockCursor(this.block, this.cap, this.from, this.to), this.mint, this.maxt, this.deleted);
  }

  readRange(mint: number, maxt: number, buf: SampleBuffer): Error | null {
    const lo = mint > this.mint ? mint : this.mint;
    const hi = maxt < this.maxt ? maxt : this.maxt;
    const cap = this.cap;
    const start = buf.n;
    const dec = (bulkDecoder ??= new BlockChunkDecoder());
    for (let j = this.from; j < this.to; j++) {
      if (cap.maxT[j]! < lo) continue;
      if (cap.minT[j]! > hi) break;
      try {
        this.block.loadChunk(cap, j);
      } catch (e) {
        if (this.deleted) buf.n = start + dropDeleted(buf, start, this.deleted);
        return e instanceof Error ? e : new Error(String(e));
      }
      dec.reset(cap.data, cap.base, cap.minT[j]!);
      dec.readInto(buf, lo, hi);
    }
    if (this.deleted) buf.n = start + dropDeleted(buf, start, this.deleted);
    return null;
  }

  minTime(): number {
    return this.cap.minT[this.from]!;
  }

  maxTime(): number {
    return this.cap.maxT[this.to - 1]!;
  }

  /** The chunks in block encoding (for compaction copies); undefined when tombstones apply. */
  rawChunks(): EncodedChunk[] | undefined {
    if (this.deleted) return undefined;
    const out: EncodedChunk[] = [];
    for (let j = this.from; j < this.to; j++) {
      // Checked (once per cached page) and reported as every read of the block is.
      this.block.loadChunk(this.cap, j);
      const data = this.cap.data;
      const base = this.cap.base;
      rawCountDecoder.reset(data, base, this.cap.minT[j]!);
      out.push({ words: data.slice(base, base + this.cap.words[j]!), minT: this.cap.minT[j]!, maxT: this.cap.maxT[j]!, n: rawCountDecoder.n });
    }
    return out;
  }
}

/** Reads the sample count of chunks copied by `rawChunks`. */
const rawCountDecoder = new BlockChunkDecoder();

export class Block {
  readonly dir: string;
  readonly meta: BlockMeta;
  private readonly index: Uint8Array;
  private symbols: string[] = [];
  /** Scratch of seriesEntry: a series' label symbol ids. */
  private labelIds = new Int32Array(64);
  private seriesStart = 0;
  private seriesOffsets = new Uint32Array(0);
  private postingsStart = 0;
  private readonly names = new Map<string, NameEntry>();
  private readonly chunkFds = new Map<number, number>();
  /** Deleted intervals per series number, [start, end] pairs. */
  tombstones = new Map<number, Float64Array>();
  private pins = 0;
  private closing = false;
  private closed = false;
  /** Corruption found while reading (reported by health checks). */
  corruption: string | undefined;
  onCorruption: ((block: Block, message: string) => void) | undefined;
  readonly sizeBytes: number;
  /** Identifies the block's pages in the chunk page cache (below 2^20: part of a page key). */
  readonly cacheId = (nextCacheId = (nextCacheId % 1048575) + 1);

  get ulid(): string {
    return this.meta.ulid;
  }

  get minTime(): number {
    return this.meta.minTime;
  }

  get maxTime(): number {
    return this.meta.maxTime;
  }

  get numSeries(): number {
    return this.seriesOffsets.length;
  }

  private constructor(dir: string, meta: BlockMeta, index: Uint8Array) {
    this.dir = dir;
    this.meta = meta;
    this.index = index;
    let size = index.length;
    for (const f of meta.vigil.chunkFiles) size += f.bytes;
    this.sizeBytes = size;
  }

  /** Opens and verifies a block directory. Throws TsdbError('corrupt_block') naming the problem. */
  static open(dir: string): Block {
    const fail = (what: string, cause?: unknown): never => {
      throw new TsdbError('corrupt_block', `block ${path.basename(dir)}: ${what}`, { cause });
    };
    let meta: BlockMeta;
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as BlockMeta;
    } catch (e) {
      return fail(`cannot read meta.json: ${(e as Error).message}`, e);
    }
    if (meta.version !== 1 || meta.vigil?.format !== BLOCK_FORMAT) fail(`unsupported block format ${JSON.stringify(meta.vigil?.format ?? meta.version)}`);
    if (!(typeof meta.minTime === 'number' && typeof meta.maxTime === 'number' && meta.minTime < meta.maxTime)) fail('invalid time range in meta.json');
    let index: Uint8Array;
    try {
      index = fs.readFileSync(path.join(dir, 'index'));
    } catch (e) {
      return fail(`cannot read index: ${(e as Error).message}`, e);
    }
    const b = new Block(dir, meta, index);
    try {
      b.loadIndex();
    } catch (e) {
      if (e instanceof TsdbError && e.code === 'corrupt_block') throw e;
      fail(`index: ${(e as Error).message}`, e);
    }
    for (const f of meta.vigil.chunkFiles) {
      const p = path.join(dir, 'chunks', f.name);
      let st: fs.Stats;
      try {
        st = fs.statSync(p);
      } catch (e) {
        return fail(`missing chunk file ${f.name}`, e);
      }
      if (st.size !== f.bytes) fail(`chunk file ${f.name} has ${st.size} bytes, meta.json says ${f.bytes}`);
    }
    try {
      b.loadTombstones();
    } catch (e) {
      fail(`tombstones: ${(e as Error).message}`, e);
    }
    return b;
  }

  private loadIndex(): void {
    const ix = this.index;
    if (ix.length < 8 + TOC_BYTES) throw new TsdbError('corrupt_block', `block ${this.ulid}: index too short (${ix.length} bytes)`);
    const dv = new DataView(ix.buffer, ix.byteOffset, ix.byteLength);
    if (dv.getUint32(0, true) !== INDEX_MAGIC || dv.getUint32(ix.length - 4, true) !== INDEX_MAGIC) {
      throw new TsdbError('corrupt_block', `block ${this.ulid}: index has a bad magic number`);
    }
    const tocStart = ix.length - TOC_BYTES;
    const tocCrc = dv.getUint32(ix.length - 8, true);
    if (crc32(ix.subarray(tocStart, ix.length - 8)) !== tocCrc) throw new TsdbError('corrupt_block', `block ${this.ulid}: index TOC checksum mismatch`);
    const sections: Array<[number, number]> = [];
    for (let i = 0; i < TOC_SECTIONS; i++) {
      const off = dv.getUint32(tocStart + i * 12, true);
      const len = dv.getUint32(tocStart + i * 12 + 4, true);
      const crc = dv.getUint32(tocStart + i * 12 + 8, true);
      if (off + len > tocStart) throw new TsdbError('corrupt_block', `block ${this.ulid}: index section ${i} out of range`);
      if (crc32(ix.subarray(off, off + len)) !== crc) throw new TsdbError('corrupt_block', `block ${this.ulid}: index section ${i} checksum mismatch`);
      sections.push([off, len]);
    }
    const numSeries = dv.getUint32(tocStart + TOC_SECTIONS * 12, true);
    // Symbols.
    const [symOff, symLen] = sections[0]!;
    const sr = new ByteReader(ix, symOff, symOff + symLen);
    const nsym = sr.uvarint();
    const symbols: string[] = new Array(nsym);
    for (let i = 0; i < nsym; i++) symbols[i] = sr.string();
    this.symbols = symbols;
    // Series offsets.
    this.seriesStart = sections[1]![0];
    const [lenOff, lenLen] = sections[2]!;
    const lr = new ByteReader(ix, lenOff, lenOff + lenLen);
    const offs = new Uint32Array(numSeries);
    let o = this.seriesStart;
    for (let i = 0; i < numSeries; i++) {
      offs[i] = o;
      o += lr.uvarint();
    }
    if (o !== this.seriesStart + sections[1]![1]) throw new TsdbError('corrupt_block', `block ${this.ulid}: series lengths do not add up`);
    this.seriesOffsets = offs;
    this.postingsStart = sections[3]![0];
    // Postings table.
    const [ptOff, ptLen] = sections[4]!;
    const pr = new ByteReader(ix, ptOff, ptOff + ptLen);
    const nnames = pr.uvarint();
    for (let i = 0; i < nnames; i++) {
      const name = symbols[pr.uvarint()];
      const nv = pr.uvarint();
      const values: string[] = new Array(nv);
      const voffs = new Uint32Array(nv);
      for (let k = 0; k < nv; k++) {
        const v = symbols[pr.uvarint()];
        if (v === undefined || name === undefined) throw new TsdbError('corrupt_block', `block ${this.ulid}: postings table references a missing symbol`);
        values[k] = v;
        voffs[k] = pr.uvarint();
      }
      this.names.set(name!, { values, offs: voffs });
    }
  }

  private loadTombstones(): void {
    const p = path.join(this.dir, 'tombstones');
    let data: Uint8Array;
    try {
      data = fs.readFileSync(p);
    } catch {
      return;
    }
    if (data.length < 12) throw new Error('file too short');
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (dv.getUint32(0, true) !== TOMB_MAGIC) throw new Error('bad magic number');
    const n = dv.getUint32(4, true);
    if (data.length !== 8 + n * 20 + 4) throw new Error('size does not match the entry count');
    if (crc32(data.subarray(0, data.length - 4)) !== dv.getUint32(data.length - 4, true)) throw new Error('checksum mismatch');
    const byRef = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const o = 8 + i * 20;
      const ref = dv.getUint32(o, true);
      let l = byRef.get(ref);
      if (!l) byRef.set(ref, (l = []));
      l.push(dv.getFloat64(o + 4, true), dv.getFloat64(o + 12, true));
    }
    this.tombstones = new Map([...byRef].map(([k, v]) => [k, mergeIntervals(v)]));
  }

  /** Adds deleted intervals and persists the tombstones file (atomically). */
  addTombstones(files: FileOps, refs: Int32Array, start: number, end: number): void {
    const next = new Map(this.tombstones);
    for (let i = 0; i < refs.length; i++) {
      const r = refs[i]!;
      const prev = next.get(r);
      next.set(r, mergeIntervals([...(prev ?? []), start, end]));
    }
    let count = 0;
    for (const v of next.values()) count += v.length / 2;
    const buf = new Uint8Array(8 + count * 20 + 4);
    const dv = new DataView(buf.buffer);
    dv.setUint32(0, TOMB_MAGIC, true);
    dv.setUint32(4, count, true);
    let o = 8;
    for (const [ref, iv] of next) {
      for (let k = 0; k < iv.length; k += 2) {
        dv.setUint32(o, ref, true);
        dv.setFloat64(o + 4, iv[k]!, true);
        dv.setFloat64(o + 12, iv[k + 1]!, true);
        o += 20;
      }
    }
    dv.setUint32(o, crc32(buf.subarray(0, o)), true);
    files.writeFileAtomic(path.join(this.dir, 'tombstones'), buf);
    this.tombstones = next;
  }

  get hasTombstones(): boolean {
    return this.tombstones.size > 0;
  }

  // ---- pinning ----

  pin(): boolean {
    if (this.closing) return false;
    this.pins++;
    return true;
  }

  unpin(): void {
    this.pins--;
    if (this.closing && this.pins === 0) this.release();
  }

  /** Closes the block once no reader pins it. */
  close(): void {
    this.closing = true;
    if (this.pins === 0) this.release();
  }

  private release(): void {
    if (this.closed) return;
    this.closed = true;
    chunkCache.dropBlock(this.cacheId);
    for (const fd of this.chunkFds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        // already gone
      }
    }
    this.chunkFds.clear();
  }

  reportCorruption(message: string): void {
    if (!this.corruption) {
      this.corruption = message;
      this.onCorruption?.(this, message);
    }
  }

  // ---- reading ----

  /**
   * Reads `count` words at word offset `off` of chunk file `file`, plus two spare zero words.
   * With `upTo`, a read that ends at the end of the file returns what is there (read-ahead).
   */
  readWords(file: number, off: number, count: number, upTo = false): Uint32Array {
    const fd = this.chunkFd(file);
    const out = new Uint32Array(count + 2);
    const bytes = new Uint8Array(out.buffer, 0, count * 4);
    let got = 0;
    while (got < bytes.length) {
      const n = fs.readSync(fd, bytes, got, bytes.length - got, off * 4 + got);
      if (n === 0 && upTo && got > 0) return new Uint32Array(out.buffer, 0, Math.ceil(got / 4) + 2).slice();
      if (n === 0) {
        this.reportCorruption(`chunk file ${file} is shorter than the index says`);
        throw new TsdbError('corrupt_chunk', `block ${this.ulid}: chunk file ${String(file).padStart(6, '0')} ends before offset ${(off + count) * 4}`);
      }
      got += n;
    }
    return out;
  }

  /**
   * Makes captured chunk j available as cap.data[cap.base...] (plus two spare words) after
   * checking its CRC. Throws TsdbError('corrupt_chunk') and reports the corruption.
   */
  loadChunk(cap: BlockCapture, j: number): void {
    const words = cap.words[j]!;
    if (cap.load(cap.file[j]!, cap.off[j]!, words + 1)) return;
    const data = cap.data;
    const base = cap.base;
    const stored = data[base + words]!;
    const actual = crc32(new Uint8Array(data.buffer, data.byteOffset + base * 4, words * 4));
    if (stored !== actual) {
      this.reportCorruption(`chunk checksum mismatch in file ${cap.file[j]} at word ${cap.off[j]}`);
      throw new TsdbError('corrupt_chunk', `block ${this.ulid}: chunk checksum mismatch (file ${String(cap.file[j]).padStart(6, '0')}, offset ${cap.off[j]! * 4})`);
    }
    cap.markVerified();
  }

  /**
   * Reads up to `max` words of chunk file `file` from word `off` into `out` (whose words past
   * what is read stay zero); returns the number of words read (fewer at the end of the file).
   */
  readPage(file: number, off: number, out: Uint32Array, max: number): number {
    const fd = this.chunkFd(file);
    const bytes = new Uint8Array(out.buffer, out.byteOffset, max * 4);
    let got = 0;
    while (got < bytes.length) {
      const n = fs.readSync(fd, bytes, got, bytes.length - got, off * 4 + got);
      if (n === 0) break;
      got += n;
    }
    return got >>> 2;
  }

  private chunkFd(file: number): number {
    let fd = this.chunkFds.get(file);
    if (fd === undefined) {
      fd = fs.openSync(path.join(this.dir, 'chunks', String(file).padStart(6, '0')), 'r');
      this.chunkFds.set(file, fd);
    }
    return fd;
  }

  /** One reader over the index, repositioned per use (reads are synchronous). */
  private reader: ByteReader | undefined;

  private indexAt(pos: number): ByteReader {
    const r = (this.reader ??= new ByteReader(this.index));
    r.pos = pos;
    return r;
  }

  seriesPairs(i: number): string[] {
    const r = this.indexAt(this.seriesOffsets[i]!);
    const n = r.uvarint() * 2;
    const out: string[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const s = this.symbols[r.uvarint()];
      if (s === undefined) throw new TsdbError('corrupt_block', `block ${this.ulid}: series ${i} references a missing symbol`);
      out[k] = s;
    }
    return out;
  }

  /** Appends the chunks overlapping [mint, maxt] to cap; `r` is positioned after the series' labels. */
  private captureChunksAt(r: ByteReader, mint: number, maxt: number, cap: BlockCapture, deleted: Float64Array | null): void {
    const nc = r.uvarint();
    let prevMax = this.meta.minTime;
    let file = 0;
    let off = 0;
    for (let c = 0; c < nc; c++) {
      const minT = prevMax + r.varint();
      const maxT = minT + r.uvarint();
      const words = r.uvarint();
      if (c === 0) {
        file = r.uvarint();
        off = r.uvarint();
      }
      prevMax = maxT;
      if (maxT >= mint && minT <= maxt && !(deleted && covered(deleted, minT, maxT))) {
        cap.file.push(file);
        cap.off.push(off);
        cap.words.push(words);
        cap.minT.push(minT);
        cap.maxT.push(maxT);
      }
      off += words + 1;
    }
  }

  private postingsAt(offset: number): Int32Array {
    const r = this.indexAt(this.postingsStart + offset);
    const n = r.uvarint();
    const out = new Int32Array(n);
    // Deltas of series numbers: mostly one byte; decoded inline (ByteReader for the rest).
    const b = this.index;
    let p = r.pos;
    const end = b.length - 1;
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const c = b[p]!;
      if (c < 0x80 && p < end) {
        prev += c;
        p++;
      } else {
        r.pos = p;
        prev += r.uvarint();
        p = r.pos;
      }
      out[i] = prev;
    }
    return out;
  }

  private allPostings(): Int32Array {
    const out = new Int32Array(this.seriesOffsets.length);
    for (let i = 0; i < out.length; i++) out[i] = i;
    return out;
  }

  private valuesPostings(name: string, pred: (v: string) => boolean, prefix = ''): Int32Array {
    const e = this.names.get(name);
    if (!e) return EMPTY_POSTINGS;
    let lo = 0;
    let hi = e.values.length;
    if (prefix !== '') {
      lo = lowerBoundStr(e.values, prefix);
      hi = lo;
      while (hi < e.values.length && e.values[hi]!.startsWith(prefix)) hi++;
    }
    const lists: Int32Array[] = [];
    for (let k = lo; k < hi; k++) if (pred(e.values[k]!)) lists.push(this.postingsAt(e.offs[k]!));
    return unionMany(lists);
  }

  private postingsFor(m: Matcher): Int32Array {
    const e = this.names.get(m.name);
    if (!e) return EMPTY_POSTINGS;
    if (m.type === '=') {
      const k = lowerBoundStr(e.values, m.value);
      return k < e.values.length && e.values[k] === m.value ? this.postingsAt(e.offs[k]!) : EMPTY_POSTINGS;
    }
    if (m.type === '=~' && m.setMatches) {
      const lists: Int32Array[] = [];
      for (const v of m.setMatches) {
        const k = lowerBoundStr(e.values, v);
        if (k < e.values.length && e.values[k] === v) lists.push(this.postingsAt(e.offs[k]!));
      }
      return unionMany(lists);
    }
    return this.valuesPostings(m.name, (v) => m.matches(v), m.type === '=~' ? m.prefix : '');
  }

  /** Series numbers matching all matchers, ascending (= label order). */
  postingsForMatchers(matchers: readonly Matcher[]): Int32Array {
    const positives: Matcher[] = [];
    const negatives: Matcher[] = [];
    for (const m of matchers) (m.matchesEmpty ? negatives : positives).push(m);
    let result: Int32Array;
    if (positives.length > 0) {
      const lists = positives.map((m) => this.postingsFor(m)).sort((a, b) => a.length - b.length);
      result = lists[0]!;
      for (let i = 1; i < lists.length && result.length > 0; i++) result = intersect(result, lists[i]!);
    } else result = this.allPostings();
    for (const m of negatives) {
      if (result.length === 0) break;
      result = subtract(result, this.valuesPostings(m.name, (v) => !m.matches(v)));
    }
    return result;
  }

  /**
   * Series number i with its chunks overlapping [mint, maxt] (undefined when none), for walking
   * a block in label order without materialising every series. The caller pins the block.
   */
  seriesAt(i: number, mint: number, maxt: number, cap?: BlockCapture): BlockSeries | undefined {
    return this.seriesEntry(i, mint, maxt, cap ?? new BlockCapture(this), this.tombstones.get(i) ?? null);
  }

  /**
   * Series i with its chunks overlapping [mint, maxt] captured into cap, from one pass over its
   * index entry (label symbol ids, then chunk metas); undefined when no chunk overlaps.
   */
  private seriesEntry(i: number, mint: number, maxt: number, cap: BlockCapture, del: Float64Array | null): BlockSeries | undefined {
    const r = this.indexAt(this.seriesOffsets[i]!);
    const nl = r.uvarint() * 2;
    if (nl > this.labelIds.length) this.labelIds = new Int32Array(nl);
    const ids = this.labelIds;
    for (let q = 0; q < nl; q++) ids[q] = r.uvarint();
    const from = cap.minT.length;
    this.captureChunksAt(r, mint, maxt, cap, del);
    if (cap.minT.length === from) return undefined;
    const syms = this.symbols;
    const pairs: string[] = new Array(nl);
    for (let q = 0; q < nl; q++) {
      const sym = syms[ids[q]!];
      if (sym === undefined) throw new TsdbError('corrupt_block', `block ${this.ulid}: series ${i} references a missing symbol`);
      pairs[q] = sym;
    }
    return new BlockSeries(Labels.fromSortedPairs(pairs), this, cap, from, cap.minT.length, mint, maxt, del);
  }

  /** A capture to share among seriesAt() calls (shared read-ahead). */
  newCapture(): BlockCapture {
    return new BlockCapture(this);
  }

  /** Series (label order) with chunks overlapping [mint, maxt]. The caller pins the block. */
  select(matchers: readonly Matcher[], mint: number, maxt: number, limit = 0): BlockSeries[] {
    if (maxt < this.meta.minTime || mint >= this.meta.maxTime) return [];
    const ps = this.postingsForMatchers(matchers);
    const cap = new BlockCapture(this, true);
    const out: BlockSeries[] = [];
    const tombs = this.tombstones.size > 0 ? this.tombstones : null;
    for (let k = 0; k < ps.length; k++) {
      const i = ps[k]!;
      const s = this.seriesEntry(i, mint, maxt, cap, tombs === null ? null : (tombs.get(i) ?? null));
      if (s === undefined) continue;
      out.push(s);
      if (limit > 0 && out.length >= limit) break;
    }
    return out;
  }

  labelNames(matchers: readonly Matcher[] | undefined, mint: number, maxt: number): string[] {
    if (maxt < this.meta.minTime || mint >= this.meta.maxTime) return [];
    if (!matchers || matchers.length === 0) return [...this.names.keys()].sort(compareStrings);
    const names = new Set<string>();
    const ps = this.postingsForMatchers(matchers);
    for (let k = 0; k < ps.length; k++) {
      const pairs = this.seriesPairs(ps[k]!);
      for (let j = 0; j < pairs.length; j += 2) names.add(pairs[j]!);
    }
    return [...names].sort(compareStrings);
  }

  labelValues(name: string, matchers: readonly Matcher[] | undefined, mint: number, maxt: number): string[] {
    if (maxt < this.meta.minTime || mint >= this.meta.maxTime) return [];
    const e = this.names.get(name);
    if (!e) return [];
    if (!matchers || matchers.length === 0) return e.values.slice();
    const values = new Set<string>();
    const ps = this.postingsForMatchers(matchers);
    for (let k = 0; k < ps.length; k++) {
      const pairs = this.seriesPairs(ps[k]!);
      for (let j = 0; j < pairs.length; j += 2) if (pairs[j] === name) values.add(pairs[j + 1]!);
    }
    return [...values].sort(compareStrings);
  }

  /** Series count per value of each label name (cardinality statistics). */
  postingCounts(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const [name, e] of this.names) {
      const m = new Map<string, number>();
      for (let k = 0; k < e.values.length; k++) {
        const r = new ByteReader(this.index, this.postingsStart + e.offs[k]!);
        m.set(e.values[k]!, r.uvarint());
      }
      out.set(name, m);
    }
    return out;
  }
}

function lowerBoundStr(a: readonly string[], x: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sorted, merged [start, end] pairs. */
export function mergeIntervals(flat: readonly number[]): Float64Array {
  const iv: Array<[number, number]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) iv.push([flat[i]!, flat[i + 1]!]);
  iv.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [s, e] of iv) {
    const n = out.length;
    if (n > 0 && s <= out[n - 1]! + 1) out[n - 1] = Math.max(out[n - 1]!, e);
    else out.push(s, e);
  }
  return Float64Array.from(out);
}

/** Whether [minT, maxT] lies entirely within one deleted interval. */
function covered(deleted: Float64Array, minT: number, maxT: number): boolean {
  for (let j = 0; j < deleted.length; j += 2) if (minT >= deleted[j]! && maxT <= deleted[j + 1]!) return true;
  return false;
}

/** Block directory names (ULIDs) under a data directory. */
export function listBlockDirs(dataDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dataDir);
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(n)).sort();
}
