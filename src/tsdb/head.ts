/**
 * The head: the in-memory part of the store holding the most recent samples (up to about 1.5
 * block ranges) in compressed XOR chunks.
 *
 * Series live in "slots": parallel typed arrays indexed by slot number (struct of arrays), not
 * objects. A series' labels are symbol ids in one shared `Uint32Array` pool; symbols are
 * interned strings. A series ref given to appenders is `gen * 2^27 + slot`; the generation
 * changes when a slot is reused, so a stale ref is detected and falls back to a label lookup.
 *
 * Readers (queriers, block writers) capture the chunks they need when they select; sealed chunk
 * pages are never rewritten in place, and open-chunk slots freed while a reader is open are
 * reused only after it closes (epochs).
 */
import { Labels, compareLabels, type Matcher } from '../model/index.ts';
import type { SampleBuffer, Series } from '../storage/index.ts';
import { Arena, ChunkMetas, PAGE_WORDS, SLOT_WORDS, Slab } from './chunkstore.ts';
import { TsdbError } from './errors.ts';
import { ChunkedIterator, type ChunkCursor } from './iterators.ts';
import { BitWriter } from './bits.ts';
import { BlockChunkDecoder, encodeBlockChunk } from './codec.ts';
import { EMPTY_POSTINGS, PostingList, intersect, postingSize, postingView, subtract, unionMany, type Posting } from './postings.ts';
import { F_DELTA, F_MINT, F_T, MAX_SAMPLE_BITS, SeriesState, U_BITS, U_FIRST, U_LAST, U_LOC, U_LT, U_NCAP, U_POWNER, U_VHI, U_VLO, XorDecoder, xorFirst, xorNext } from './xor.ts';

/** Slots per generation in a series ref. */
export const SLOT_SPACE = 2 ** 27;

export const APPEND_OK = 0;
export const APPEND_OUT_OF_ORDER = 1;
export const APPEND_DUPLICATE_SAME = 2;
export const APPEND_DUPLICATE = 3;
export const APPEND_OUT_OF_BOUNDS = 4;

/**
 * An open (XOR) chunk is sealed once it holds this many bits, before 120 samples when values
 * compress badly in XOR (e.g. decimals with a few digits): sealed chunks use the much denser
 * block codec, so this bounds the memory of the open chunks to a 512-byte slot per series.
 */
const OPEN_CHUNK_MAX_BITS = 128 * 32 - MAX_SAMPLE_BITS - 64;

/** Scratch of sealOpen (chunks hold at most 120 samples). */
const sealDecoder = new XorDecoder();
const sealT = new Float64Array(128);
const sealV = new Float64Array(128);
const sealV32 = new Uint32Array(sealV.buffer);
const sealWriter = new BitWriter(512);
/**
 * Re-encodes the XOR chunk of n samples at `w[base..]` (first timestamp minT) with the block
 * codec into `sealWriter`; returns its length in words.
 */
function encodeXorAsBlock(w: Uint32Array, base: number, n: number, minT: number): number {
  sealDecoder.reset(w, base, n, minT);
  sealDecoder.fill(sealT, sealV32, n);
  sealWriter.reset();
  return encodeBlockChunk(sealWriter, sealT, sealV, 0, n);
}

/** One-sample input buffers of appendSample. */
const sampleT = new Float64Array(1);
const sampleV = new Float64Array(1);
const sampleV32 = new Uint32Array(sampleV.buffer);

/** FNV-1a over the pairs with separators (identity of a label set inside the head). */
export function hashPairs(pairs: readonly string[]): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < pairs.length; i++) {
    const s = pairs[i]!;
    for (let j = 0; j < s.length; j++) {
      h ^= s.charCodeAt(j);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface HeadOptions {
  /** Block range (ms): chunks never span a multiple of it. */
  chunkRange: number;
  /** Samples per chunk before it is sealed (default 120). */
  samplesPerChunk?: number;
  /** Called when a series is created (the WAL logs it). */
  onSeriesCreated?: (slot: number) => void;
}

export interface HeadStatsSnapshot {
  numSeries: number;
  numLabelPairs: number;
  chunkCount: number;
  minTime: number;
  maxTime: number;
}

/** The chunks captured for a set of series at select time (see HeadSelection.cursor). */
class ChunkCapture {
  pages: Uint32Array[] = [];
  offs = new Int32Array(16);
  ns = new Int32Array(16);
  minTs = new Float64Array(16);
  maxTs = new Float64Array(16);
  /** CHUNK_SEALED (block codec) or CHUNK_OPEN (XOR). */
  kinds = new Uint8Array(16);
  length = 0;

  constructor(expected = 16) {
    if (expected > 16) this.grow(expected);
  }

  add(kind: number, page: Uint32Array, off: number, n: number, minT: number, maxT: number): void {
    const i = this.length;
    if (i === this.offs.length) this.grow(i * 2);
    this.kinds[i] = kind;
    this.pages.push(page);
    this.offs[i] = off;
    this.ns[i] = n;
    this.minTs[i] = minT;
    this.maxTs[i] = maxT;
    this.length = i + 1;
  }

  private grow(size: number): void {
    const i32 = (a: Int32Array) => { const b = new Int32Array(size); b.set(a.subarray(0, this.length)); return b; };
    const f64 = (a: Float64Array) => { const b = new Float64Array(size); b.set(a.subarray(0, this.length)); return b; };
    this.offs = i32(this.offs);
    this.ns = i32(this.ns);
    this.minTs = f64(this.minTs);
    this.maxTs = f64(this.maxTs);
    const k = new Uint8Array(size);
    k.set(this.kinds.subarray(0, this.length));
    this.kinds = k;
  }
}

const CHUNK_SEALED = 0;
const CHUNK_OPEN = 1;

class HeadCursor implements ChunkCursor {
  private readonly xor = new XorDecoder();
  private block: BlockChunkDecoder | undefined;
  private kind = CHUNK_SEALED;
  readonly count: number;

  constructor(private readonly cap: ChunkCapture, private readonly from: number, to: number) {
    this.count = to - from;
  }

  minT(i: number): number {
    return this.cap.minTs[this.from + i]!;
  }

  maxT(i: number): number {
    return this.cap.maxTs[this.from + i]!;
  }

  open(i: number): void {
    const j = this.from + i;
    const cap = this.cap;
    this.kind = cap.kinds[j]!;
    if (this.kind === CHUNK_OPEN) this.xor.reset(cap.pages[j]!, cap.offs[j]!, cap.ns[j]!, cap.minTs[j]!);
    else (this.block ??= new BlockChunkDecoder()).reset(cap.pages[j]!, cap.offs[j]!, cap.minTs[j]!);
  }

  fill(bt: Float64Array, bv: Float64Array, bv32: Uint32Array, max: number): number {
    return this.kind === CHUNK_OPEN ? this.xor.fill(bt, bv32, max) : this.block!.fill(bt, bv, bv32, max);
  }
}

/** Decoders of bulk reads (synchronous: one of each is enough). */
const bulkXor = new XorDecoder();
const bulkBlock = new BlockChunkDecoder();

/** A series selected from the head: its labels and the chunks captured for it. */
export class HeadSeries implements Series {
  constructor(
    readonly labels: Labels,
    private readonly cap: ChunkCapture,
    private readonly from: number,
    private readonly to: number,
    private readonly mint: number,
    private readonly maxt: number,
  ) {}

  iterator(): ChunkedIterator {
    return new ChunkedIterator(new HeadCursor(this.cap, this.from, this.to), this.mint, this.maxt);
  }

  readRange(mint: number, maxt: number, buf: SampleBuffer): Error | null {
    const lo = mint > this.mint ? mint : this.mint;
    const hi = maxt < this.maxt ? maxt : this.maxt;
    const cap = this.cap;
    for (let j = this.from; j < this.to; j++) {
      if (cap.maxTs[j]! < lo) continue;
      if (cap.minTs[j]! > hi) break;
      if (cap.kinds[j] === CHUNK_OPEN) {
        bulkXor.reset(cap.pages[j]!, cap.offs[j]!, cap.ns[j]!, cap.minTs[j]!);
        bulkXor.readInto(buf, lo, hi);
      } else {
        bulkBlock.reset(cap.pages[j]!, cap.offs[j]!, cap.minTs[j]!);
        bulkBlock.readInto(buf, lo, hi);
      }
    }
    return null;
  }

  /** Time range covered by the captured chunks. */
  minTime(): number {
    return this.cap.minTs[this.from]!;
  }

  maxTime(): number {
    return this.cap.maxTs[this.to - 1]!;
  }

  /** Number of chunks captured (`vigil tsdb stats` counts their samples). */
  chunkCount(): number {
    return this.to - this.from;
  }

  /** Chunk i of the capture: its sample count and time range. */
  chunk(i: number): { n: number; minT: number; maxT: number } {
    const j = this.from + i;
    return { n: this.cap.ns[j]!, minT: this.cap.minTs[j]!, maxT: this.cap.maxTs[j]! };
  }
}

export class Head {
  readonly chunkRange: number;
  readonly samplesPerChunk: number;
  /**
   * While set, full chunks are sealed as their XOR words instead of being re-encoded with the
   * block codec (WAL replay: re-encoding is a fifth of its time once chunks fill); readers
   * decode them as XOR. `encodeDeferredChunks` re-encodes them later.
   */
  deferSealEncoding = false;
  private deferredChunks = new Int32Array(1024);
  private deferredN = 0;
  onSeriesCreated: ((slot: number) => void) | undefined;

  // ---- series slots (struct of arrays) ----
  capacity = 0;
  /** One past the highest slot ever used (slot 0 is never used). */
  top = 1;
  gen = new Uint32Array(0);
  alive = new Uint8Array(0);
  labelsOff = new Uint32Array(0);
  hashes = new Uint32Array(0);
  /** Series and encoder state, 64 bytes per slot (see SeriesState). */
  readonly st = new SeriesState(0);
  private freeSlots: number[] = [];
  numSeries = 0;

  // ---- labels ----
  readonly symIds = new Map<string, number>();
  syms: string[] = [''];
  symRefs = new Int32Array(16);
  private freeSyms: number[] = [];
  pool = new Uint32Array(1024);
  poolTop = 0;
  /** Pool words no longer referenced (compacted on truncation). */
  private poolGarbage = 0;

  // ---- index ----
  private table = new Int32Array(1024);
  private tableUsed = 0;
  readonly postings = new Map<string, Map<string, Posting>>();

  // ---- chunks ----
  readonly slab = new Slab();
  readonly arena = new Arena();
  readonly metas = new ChunkMetas();

  // ---- time ----
  minT = Infinity;
  maxT = -Infinity;
  /** Samples older than this are out of bounds (already persisted in a block). */
  minValidTime = -Infinity;

  // ---- readers ----
  epoch = 0;
  private readonly readerEpochs = new Map<number, number>();
  private readers = 0;
  /** Appenders that have not committed or rolled back (their series are not collected). */
  readonly activeAppenders = new Set<number>();
  private nextAppenderId = 1;

  // ---- counters (read by metrics) ----
  samplesAppended = 0;
  outOfOrder = 0;
  outOfBounds = 0;
  duplicates = 0;
  seriesCreated = 0;
  seriesRemoved = 0;
  chunksCreated = 0;
  chunksRemoved = 0;

  constructor(opts: HeadOptions) {
    if (!(opts.chunkRange > 0)) throw new TsdbError('invalid_option', `chunk range must be positive, got ${opts.chunkRange}`);
    this.chunkRange = opts.chunkRange;
    this.samplesPerChunk = opts.samplesPerChunk ?? 120;
    if (this.samplesPerChunk < 1 || this.samplesPerChunk > 120) throw new TsdbError('invalid_option', 'samples per chunk must be within 1..120');
    this.onSeriesCreated = opts.onSeriesCreated;
    this.growSlots(1024);
  }

  // ------------------------------------------------------------------ slots

  private growSlots(cap: number): void {
    const g32 = (a: Uint32Array) => { const b = new Uint32Array(cap); b.set(a); return b; };
    const g8 = (a: Uint8Array) => { const b = new Uint8Array(cap); b.set(a); return b; };
    this.gen = g32(this.gen);
    this.alive = g8(this.alive);
    this.labelsOff = g32(this.labelsOff);
    this.hashes = g32(this.hashes);
    this.st.grow(cap);
    this.capacity = cap;
  }

  /** The ref appenders use for a slot. */
  refOf(slot: number): number {
    return this.gen[slot]! * SLOT_SPACE + slot;
  }

  /** The live slot a ref designates, or -1 when the ref is stale or unknown. */
  slotOfRef(ref: number): number {
    if (!(ref > 0)) return -1;
    const slot = ref % SLOT_SPACE;
    // A removed series' generation is bumped at once, so a stale ref fails this check.
    if (slot >= this.top || this.gen[slot] !== (ref - slot) / SLOT_SPACE || this.alive[slot] === 0) return -1;
    return slot;
  }

  /** Finds the series with these labels, or -1. */
  lookup(pairs: readonly string[], hash = hashPairs(pairs)): number {
    const table = this.table;
    const mask = table.length - 1;
    let i = hash & mask;
    for (;;) {
      const e = table[i]!;
      if (e === 0) return -1;
      if (e > 0 && this.hashes[e]! === hash && this.pairsEqual(e, pairs)) return e;
      i = (i + 1) & mask;
    }
  }

  private pairsEqual(slot: number, pairs: readonly string[]): boolean {
    const pool = this.pool;
    const off = this.labelsOff[slot]!;
    const n = pool[off]!;
    if (n * 2 !== pairs.length) return false;
    const syms = this.syms;
    for (let k = 0; k < pairs.length; k++) if (syms[pool[off + 1 + k]!] !== pairs[k]) return false;
    return true;
  }

  /** Finds or creates the series. Throws TsdbError for an invalid label set. */
  getOrCreate(labels: Labels): number {
    const pairs = labels.pairs;
    const hash = hashPairs(pairs);
    const found = this.lookup(pairs, hash);
    if (found >= 0) return found;
    if (pairs.length === 0) throw new TsdbError('invalid_labels', 'empty labelset');
    for (let k = 0; k + 2 < pairs.length; k += 2) {
      if (pairs[k] === pairs[k + 2]) throw new TsdbError('invalid_labels', `label name "${pairs[k]}" is not unique`);
    }
    return this.create(pairs, hash);
  }

  /** Creates a series at a given slot and generation (WAL replay, snapshot load). */
  createAt(pairs: readonly string[], slot: number, gen: number, hash = hashPairs(pairs)): number {
    return this.create(pairs, hash, slot, gen);
  }

  private create(pairs: readonly string[], hash: number, atSlot = -1, atGen = -1): number {
    let slot: number;
    if (atSlot > 0) {
      slot = atSlot;
      if (slot >= SLOT_SPACE) throw new TsdbError('corrupt_wal', `series slot ${slot} out of range`);
      while (slot >= this.capacity) this.growSlots(this.capacity * 2);
      if (this.alive[slot] !== 0) throw new Error(`slot ${slot} in use`);
      if (slot >= this.top) {
        for (let s = this.top; s < slot; s++) this.freeSlots.push(s);
        this.top = slot + 1;
      } else {
        const i = this.freeSlots.lastIndexOf(slot);
        if (i >= 0) this.freeSlots.splice(i, 1);
      }
      this.gen[slot] = atGen;
    } else if (this.freeSlots.length > 0) {
      slot = this.freeSlots.pop()!;
    } else {
      if (this.top >= SLOT_SPACE) throw new TsdbError('invalid_labels', 'too many series in the head');
      if (this.top >= this.capacity) this.growSlots(this.capacity < 1 << 16 ? this.capacity * 2 : Math.ceil(this.capacity * 1.25));
      slot = this.top++;
    }
    this.alive[slot] = 1;
    this.hashes[slot] = hash;
    // Labels into the pool.
    const n = pairs.length;
    if (this.poolTop + n + 1 > this.pool.length) {
      const g = new Uint32Array(Math.max(this.pool.length * 2, this.poolTop + n + 1));
      g.set(this.pool.subarray(0, this.poolTop));
      this.pool = g;
    }
    const off = this.poolTop;
    this.pool[off] = n >> 1;
    for (let k = 0; k < n; k++) this.pool[off + 1 + k] = this.intern(pairs[k]!);
    this.poolTop += n + 1;
    this.labelsOff[slot] = off;
    // Postings.
    for (let k = 0; k < n; k += 2) this.addPosting(this.syms[this.pool[off + 1 + k]!]!, this.syms[this.pool[off + 2 + k]!]!, slot);
    // Hash table.
    if ((this.tableUsed + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    this.tableInsert(slot, hash);
    // Series state.
    const f = this.st.f;
    const u = this.st.u;
    const i32 = this.st.i;
    for (let k = 0; k < 8; k++) f[slot * 8 + k] = 0;
    f[slot * 8 + F_T] = -Infinity;
    i32[slot * 16 + U_LOC] = -1;
    i32[slot * 16 + U_FIRST] = -1;
    i32[slot * 16 + U_LAST] = -1;
    u[slot * 16 + U_LT] = 0xff;
    this.numSeries++;
    this.seriesCreated++;
    this.noteCreated(slot);
    this.onSeriesCreated?.(slot);
    return slot;
  }

  private intern(s: string): number {
    let id = this.symIds.get(s);
    if (id === undefined) {
      this.symVersion++;
      id = this.freeSyms.length > 0 ? this.freeSyms.pop()! : this.syms.length;
      if (id === this.syms.length) this.syms.push(s);
      else this.syms[id] = s;
      this.symIds.set(s, id);
      if (id >= this.symRefs.length) {
        const g = new Int32Array(Math.max(id + 1, this.symRefs.length * 2));
        g.set(this.symRefs);
        this.symRefs = g;
      }
    }
    this.symRefs[id]!++;
    return id;
  }

  private unref(id: number): void {
    if (--this.symRefs[id]! === 0) {
      this.symVersion++;
      this.symIds.delete(this.syms[id]!);
      this.syms[id] = '';
      this.freeSyms.push(id);
    }
  }

  private addPosting(name: string, value: string, slot: number): void {
    let byValue = this.postings.get(name);
    if (byValue === undefined) {
      byValue = new Map();
      this.postings.set(name, byValue);
    }
    const p = byValue.get(value);
    if (p === undefined) byValue.set(value, slot);
    else if (typeof p === 'number') byValue.set(value, new PostingList(p, slot));
    else p.add(slot);
  }

  private tableInsert(slot: number, hash: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = hash & mask;
    while (table[i]! > 0) i = (i + 1) & mask;
    if (table[i] === 0) this.tableUsed++;
    table[i] = slot;
  }

  private tableRemove(slot: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let i = this.hashes[slot]! & mask;
    for (;;) {
      const e = table[i]!;
      if (e === 0) return;
      if (e === slot) {
        table[i] = -1;
        return;
      }
      i = (i + 1) & mask;
    }
  }

  private rehash(size: number): void {
    while (this.numSeries * 2 >= size) size *= 2;
    this.table = new Int32Array(size);
    this.tableUsed = 0;
    for (let s = 1; s < this.top; s++) if (this.alive[s]) this.tableInsert(s, this.hashes[s]!);
  }

  /** The label pairs of a slot as strings (sorted by name). */
  pairsOf(slot: number): string[] {
    const off = this.labelsOff[slot]!;
    const n = this.pool[off]! * 2;
    const out: string[] = new Array(n);
    for (let k = 0; k < n; k++) out[k] = this.syms[this.pool[off + 1 + k]!]!;
    return out;
  }

  labelsOf(slot: number): Labels {
    return Labels.fromSortedPairs(this.pairsOf(slot));
  }

  labelValueOf(slot: number, name: string): string {
    const off = this.labelsOff[slot]!;
    const n = this.pool[off]!;
    for (let k = 0; k < n; k++) {
      if (this.syms[this.pool[off + 1 + 2 * k]!] === name) return this.syms[this.pool[off + 2 + 2 * k]!]!;
    }
    return '';
  }

  // ------------------------------------------------------------------ appending

  newAppenderId(): number {
    const id = this.nextAppenderId++;
    if (this.nextAppenderId > 0x7fffffff) this.nextAppenderId = 1;
    this.activeAppenders.add(id);
    return id;
  }

  /** Last timestamp of a slot (-Infinity when it never had a sample). */
  lastT(s: number): number {
    return this.st.f[s * 8 + F_T]!;
  }

  /** Samples in the open chunk of a slot. */
  openCount(s: number): number {
    return this.st.u[s * 16 + U_NCAP]! & 0xffff;
  }

  openMinT(s: number): number {
    return this.st.f[s * 8 + F_MINT]!;
  }

  firstChunk(s: number): number {
    return this.st.i[s * 16 + U_FIRST]!;
  }

  /**
   * Appends one sample to a live slot. Returns APPEND_* (only APPEND_OK changes the series).
   * Counters for rejections are updated here.
   */
  appendSample(s: number, t: number, v: number): number {
    sampleT[0] = t;
    sampleV[0] = v;
    return this.appendSampleAt(s, sampleT, sampleV32, 0);
  }

  /**
   * appendSample for sample (ts[k], value words vs32[2k] low / vs32[2k+1] high): no boxing of
   * doubles and no float-to-bits round trip on the hot path.
   */
  appendSampleAt(s: number, ts: Float64Array, vs32: Uint32Array, k: number): number {
    const st = this.st;
    const f = st.f;
    const fo = s * 8;
    const uo = s * 16;
    const lastT = f[fo + 0 /* F_T */]!;
    const t = ts[k]!;
    if (t <= lastT) {
      if (t === lastT) {
        if (vs32[2 * k] === st.u[uo + 4 /* U_VLO */] && vs32[2 * k + 1] === st.u[uo + 5 /* U_VHI */]) return APPEND_DUPLICATE_SAME;
        this.duplicates++;
        return APPEND_DUPLICATE;
      }
      this.outOfOrder++;
      return APPEND_OUT_OF_ORDER;
    }
    if (t < this.minValidTime) {
      this.outOfBounds++;
      return APPEND_OUT_OF_BOUNDS;
    }
    const ncap = st.u[uo + 10 /* U_NCAP */]!;
    const n = ncap & 0xffff;
    if (n === 0) {
      this.openChunk(s, ts, vs32, k);
    } else if (
      n >= this.samplesPerChunk ||
      t >= (Math.floor(f[fo + 3 /* F_MINT */]! / this.chunkRange) + 1) * this.chunkRange ||
      st.u[uo + 8 /* U_BITS */]! > OPEN_CHUNK_MAX_BITS
    ) {
      this.sealOpen(s);
      this.openChunk(s, ts, vs32, k);
    } else {
      let loc = st.i[uo + 9 /* U_LOC */]!;
      if (st.u[uo + 8 /* U_BITS */]! + (MAX_SAMPLE_BITS + 64) > (ncap >>> 16) * 32) loc = this.growOpen(s, loc);
      xorNext(st, s, this.slab.pages[loc >>> 16]!, loc & 0xffff, ts, vs32, k);
      // A full chunk is sealed now rather than at the next append: readers decode the block codec
      // faster, and the open-chunk slot is free at once.
      if (n + 1 >= this.samplesPerChunk || st.u[uo + 8 /* U_BITS */]! > OPEN_CHUNK_MAX_BITS) this.sealOpen(s);
    }
    if (t > this.maxT) this.maxT = t;
    if (t < this.minT) this.minT = t;
    this.samplesAppended++;
    return APPEND_OK;
  }

  private openChunk(s: number, ts: Float64Array, vs32: Uint32Array, k: number): void {
    const st = this.st;
    const uo = s * 16;
    // Start in a small slot and grow by about 1.5x (moves copy a few hundred bytes at most): a
    // slot is then at least about two thirds used. (The smallest class holds only a few samples.)
    const cls = 1;
    const loc = this.slab.alloc(cls);
    st.i[uo + U_LOC] = loc;
    st.u[uo + U_NCAP] = SLOT_WORDS[cls]! << 16;
    xorFirst(st, s, this.slab.pages[loc >>> 16]!, loc & 0xffff, ts, vs32, k);
    this.chunksCreated++;
  }

  private growOpen(s: number, loc: number): number {
    const st = this.st;
    const uo = s * 16;
    const ncap = st.u[uo + U_NCAP]!;
    const cap = ncap >>> 16;
    const cls = SLOT_WORDS.indexOf(cap as (typeof SLOT_WORDS)[number]);
    const nloc = this.slab.alloc(cls + 1);
    const words = ((st.u[uo + U_BITS]! + 31) >>> 5) + 1;
    const src = this.slab.pages[loc >>> 16]!;
    const off = loc & 0xffff;
    const dst = this.slab.pages[nloc >>> 16]!;
    const noff = nloc & 0xffff;
    // A plain loop: a subarray view per move would be garbage on the append path.
    for (let k = 0; k < words; k++) dst[noff + k] = src[off + k]!;
    this.freeSlot(loc);
    st.i[uo + U_LOC] = nloc;
    st.u[uo + U_NCAP] = (SLOT_WORDS[cls + 1]! << 16) | (ncap & 0xffff);
    return nloc;
  }

  private freeSlot(loc: number): void {
    this.slab.free(loc, this.epoch);
    if (this.readers === 0) this.slab.reclaim(Infinity);
  }

  /**
   * Seals the open chunk of slot s: re-encoded with the block codec (denser than XOR for most
   * data, and faster to decode) into the arena.
   */
  sealOpen(s: number): void {
    const st = this.st;
    const uo = s * 16;
    const fo = s * 8;
    const loc = st.i[uo + U_LOC]!;
    const n = st.u[uo + U_NCAP]! & 0xffff;
    if (loc < 0 || n === 0) return;
    let aloc: number;
    let words: number;
    let enc = 0;
    if (this.deferSealEncoding) {
      // The XOR words as they are, with the two zeroed spare words a slot always has after
      // its used bits (the decoder may look one word ahead).
      words = ((st.u[uo + U_BITS]! + 31) >>> 5) + 2;
      aloc = this.arena.store(this.slab.pages[loc >>> 16]!, loc & 0xffff, words);
      enc = 1;
    } else {
      words = encodeXorAsBlock(this.slab.pages[loc >>> 16]!, loc & 0xffff, n, st.f[fo + F_MINT]!);
      aloc = this.arena.store(sealWriter.words, 0, words);
    }
    const metas = this.metas;
    const m = metas.alloc();
    metas.enc[m] = enc;
    if (enc === 1) this.pushDeferred(m);
    metas.minT[m] = st.f[fo + F_MINT]!;
    metas.maxT[m] = st.f[fo + F_T]!;
    metas.loc[m] = aloc;
    metas.words[m] = words;
    metas.n[m] = n;
    metas.next[m] = -1;
    this.linkChunk(s, m);
    this.freeSlot(loc);
    st.i[uo + U_LOC] = -1;
    st.u[uo + U_NCAP] = 0;
  }

  private pushDeferred(m: number): void {
    if (this.deferredN === this.deferredChunks.length) {
      const d = new Int32Array(this.deferredChunks.length * 2);
      d.set(this.deferredChunks);
      this.deferredChunks = d;
    }
    this.deferredChunks[this.deferredN++] = m;
  }

  /** Chunks sealed as XOR words while `deferSealEncoding` was on, not yet re-encoded. */
  get deferredSealCount(): number {
    return this.deferredN;
  }

  /**
   * Re-encodes chunks sealed as XOR words (see `deferSealEncoding`) with the block codec, the
   * newest first, until none is left or `budgetMs` has passed; returns how many are left.
   * Readers that captured a chunk before keep decoding its old words (arena words are never
   * rewritten in place).
   */
  encodeDeferredChunks(budgetMs = Infinity): number {
    const metas = this.metas;
    const end = performance.now() + budgetMs;
    let i = 0;
    while (this.deferredN > 0) {
      const m = this.deferredChunks[--this.deferredN]!;
      // Released meanwhile (truncation, deletion): enc was reset with it.
      if (metas.enc[m] !== 1) continue;
      const loc = metas.loc[m]!;
      const words = encodeXorAsBlock(this.arena.page(loc), loc % PAGE_WORDS, metas.n[m]!, metas.minT[m]!);
      const nloc = this.arena.store(sealWriter.words, 0, words);
      this.arena.release(loc, metas.words[m]!);
      metas.loc[m] = nloc;
      metas.words[m] = words;
      metas.enc[m] = 0;
      if ((++i & 255) === 0 && performance.now() >= end) break;
    }
    if (this.deferredN === 0 && this.deferredChunks.length > 1024) this.deferredChunks = new Int32Array(1024);
    return this.deferredN;
  }

  private linkChunk(s: number, m: number): void {
    const i32 = this.st.i;
    const last = i32[s * 16 + U_LAST]!;
    if (last < 0) i32[s * 16 + U_FIRST] = m;
    else this.metas.next[last] = m;
    i32[s * 16 + U_LAST] = m;
  }

  /** Drops the open chunk of slot s without sealing it. */
  private dropOpen(s: number): void {
    const st = this.st;
    const loc = st.i[s * 16 + U_LOC]!;
    if (loc >= 0) this.freeSlot(loc);
    st.i[s * 16 + U_LOC] = -1;
    st.u[s * 16 + U_NCAP] = 0;
  }

  /** Appends a sealed chunk as read from a snapshot (words copied into the arena). */
  addSealedChunk(s: number, src: Uint32Array, srcOff: number, words: number, n: number, minT: number, maxT: number): void {
    const aloc = this.arena.store(src, srcOff, words);
    const m = this.metas.alloc();
    const metas = this.metas;
    metas.minT[m] = minT;
    metas.maxT[m] = maxT;
    metas.loc[m] = aloc;
    metas.words[m] = words;
    metas.n[m] = n;
    metas.next[m] = -1;
    this.linkChunk(s, m);
    if (minT < this.minT) this.minT = minT;
    if (maxT > this.maxT) this.maxT = maxT;
    this.chunksCreated++;
  }

  /** Restores an open chunk and its encoder state from a snapshot. */
  restoreOpenChunk(s: number, src: Uint32Array, srcOff: number, bits: number, state: { n: number; t: number; delta: number; vlo: number; vhi: number; lead: number; trail: number; minT: number }): void {
    const words = (bits + 31) >>> 5;
    let cls = 0;
    while (SLOT_WORDS[cls]! * 32 < bits + MAX_SAMPLE_BITS + 64) cls++;
    const loc = this.slab.alloc(cls);
    this.slab.pages[loc >>> 16]!.set(src.subarray(srcOff, srcOff + words), loc & 0xffff);
    const st = this.st;
    const fo = s * 8;
    const uo = s * 16;
    st.f[fo + F_T] = state.t;
    st.f[fo + F_DELTA] = state.delta;
    st.f[fo + F_MINT] = state.minT;
    st.u[uo + U_VLO] = state.vlo;
    st.u[uo + U_VHI] = state.vhi;
    st.u[uo + U_BITS] = bits;
    st.i[uo + U_LOC] = loc;
    st.u[uo + U_NCAP] = (SLOT_WORDS[cls]! << 16) | state.n;
    st.u[uo + U_LT] = state.lead | (state.trail << 8);
    if (state.minT < this.minT) this.minT = state.minT;
    if (state.t > this.maxT) this.maxT = state.t;
    this.chunksCreated++;
  }

  /** The open chunk's encoder state (snapshots). */
  openState(s: number): { n: number; bits: number; minT: number; delta: number; lead: number; trail: number; page: Uint32Array; off: number } | undefined {
    const st = this.st;
    const uo = s * 16;
    const n = st.u[uo + U_NCAP]! & 0xffff;
    const loc = st.i[uo + U_LOC]!;
    if (n === 0 || loc < 0) return undefined;
    const lt = st.u[uo + U_LT]!;
    return { n, bits: st.u[uo + U_BITS]!, minT: st.f[s * 8 + F_MINT]!, delta: st.f[s * 8 + F_DELTA]!, lead: lt & 0xff, trail: lt >>> 8, page: this.slab.pages[loc >>> 16]!, off: loc & 0xffff };
  }

  /** Raw bits of the last value: [lo, hi]. */
  lastValueBits(s: number): [number, number] {
    return [this.st.u[s * 16 + U_VLO]!, this.st.u[s * 16 + U_VHI]!];
  }

  /** Sets the last sample of a series without an open chunk (snapshot, deletion). */
  restoreLast(s: number, t: number, vlo: number, vhi: number): void {
    this.st.f[s * 8 + F_T] = t;
    this.st.u[s * 16 + U_VLO] = vlo;
    this.st.u[s * 16 + U_VHI] = vhi;
  }

  // ------------------------------------------------------------------ readers

  beginRead(): number {
    const e = ++this.epoch;
    this.readerEpochs.set(e, (this.readerEpochs.get(e) ?? 0) + 1);
    this.readers++;
    return e;
  }

  endRead(e: number): void {
    const c = this.readerEpochs.get(e);
    if (c === undefined) return;
    if (c <= 1) this.readerEpochs.delete(e);
    else this.readerEpochs.set(e, c - 1);
    this.readers--;
    let min = Infinity;
    for (const k of this.readerEpochs.keys()) if (k < min) min = k;
    this.slab.reclaim(min);
  }

  // ------------------------------------------------------------------ index queries

  private allPostings(): Int32Array {
    const out = new Int32Array(this.numSeries);
    let k = 0;
    const alive = this.alive;
    for (let s = 1; s < this.top; s++) if (alive[s]) out[k++] = s;
    return k === out.length ? out : out.slice(0, k);
  }

  private valuesPostings(name: string, pred: (v: string) => boolean): Int32Array {
    const byValue = this.postings.get(name);
    if (!byValue) return EMPTY_POSTINGS;
    const lists: Int32Array[] = [];
    let singles: number[] | undefined;
    for (const [v, p] of byValue) {
      if (!pred(v)) continue;
      if (typeof p === 'number') (singles ??= []).push(p);
      else lists.push(p.view());
    }
    if (singles) {
      const a = Int32Array.from(singles);
      a.sort();
      lists.push(a);
    }
    // Lists of one name never share a series: concatenation + sort is a union.
    return unionMany(lists);
  }

  private postingsFor(m: Matcher): Int32Array {
    const byValue = this.postings.get(m.name);
    if (!byValue) return EMPTY_POSTINGS;
    if (m.type === '=') {
      const p = byValue.get(m.value);
      return p === undefined ? EMPTY_POSTINGS : postingView(p);
    }
    if (m.type === '=~' && m.setMatches) {
      const lists: Int32Array[] = [];
      for (const v of m.setMatches) {
        const p = byValue.get(v);
        if (p !== undefined) lists.push(postingView(p));
      }
      return unionMany(lists);
    }
    return this.valuesPostings(m.name, (v) => m.matches(v));
  }

  /** Slots of the live series matching all matchers, sorted by slot. */
  postingsForMatchers(matchers: readonly Matcher[]): Int32Array {
    let result: Int32Array | undefined;
    const positives: Matcher[] = [];
    const negatives: Matcher[] = [];
    for (const m of matchers) (m.matchesEmpty ? negatives : positives).push(m);
    if (positives.length > 0) {
      // Cheapest first.
      const lists = positives.map((m) => this.postingsFor(m));
      lists.sort((a, b) => a.length - b.length);
      result = lists[0]!;
      for (let i = 1; i < lists.length && result.length > 0; i++) result = intersect(result, lists[i]!);
    } else {
      result = this.allPostings();
    }
    for (const m of negatives) {
      if (result.length === 0) break;
      // A matcher that accepts '' excludes exactly the series whose value it rejects.
      const excluded = this.valuesPostings(m.name, (v) => !m.matches(v));
      result = subtract(result, excluded);
    }
    return result;
  }

  /** Whether a slot has samples in [mint, maxt]. */
  private inRange(s: number, mint: number, maxt: number): boolean {
    const first = this.st.i[s * 16 + U_FIRST]!;
    let minT: number;
    if (first >= 0) minT = this.metas.minT[first]!;
    else if ((this.st.u[s * 16 + U_NCAP]! & 0xffff) > 0) minT = this.st.f[s * 8 + F_MINT]!;
    else return false;
    return minT <= maxt && this.st.f[s * 8 + F_T]! >= mint;
  }

  /**
   * Selects series (sorted by labels) with samples in [mint, maxt]. The caller must hold a read
   * epoch (beginRead) until it no longer iterates them.
   */
  select(matchers: readonly Matcher[], mint: number, maxt: number, limit = 0): HeadSeries[] {
    const chosen = this.slotsFor(matchers, mint, maxt);
    if (limit > 0 && chosen.length > limit) chosen.length = limit;
    const cap = new ChunkCapture(chosen.length * 2);
    const out: HeadSeries[] = [];
    for (const s of chosen) {
      const from = cap.length;
      this.capture(s, mint, maxt, cap);
      if (cap.length === from) continue;
      out.push(new HeadSeries(this.labelsOf(s), cap, from, cap.length, mint, maxt));
    }
    return out;
  }

  /** Slots of series matching the matchers with samples in [mint, maxt], sorted by labels. */
  slotsFor(matchers: readonly Matcher[], mint: number, maxt: number): number[] {
    const slots = this.postingsForMatchers(matchers);
    const chosen: number[] = [];
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (this.inRange(s, mint, maxt)) chosen.push(s);
    }
    if (this.orderIsCheaper(chosen.length)) {
      // Positions in the label order of all series, sorted as integers.
      this.ensureOrder();
      const pos = this.orderPos;
      const ranks = new Int32Array(chosen.length);
      for (let j = 0; j < ranks.length; j++) ranks[j] = pos[chosen[j]!]!;
      ranks.sort();
      const order = this.order;
      for (let j = 0; j < ranks.length; j++) chosen[j] = order[ranks[j]!]!;
    } else this.sortSlotsByLabels(chosen);
    return chosen;
  }

  // ---- label order of all series, kept for large selects ----
  /** Live slots in label order as of the last build ([0, orderLen)). */
  private order: Int32Array = new Int32Array(0);
  private orderLen = 0;
  /** Index of each slot in `order` (meaningful for the slots in it). */
  private orderPos = new Int32Array(0);
  private orderBuilt = false;
  /** Slots (re)created since the last build, and whether series were removed since. */
  private orderAdded: number[] = [];
  private orderRemoved = false;

  /**
   * Whether to sort `k` selected slots through the kept label order: when it is up to date or
   * cheaper to bring up to date than sorting them directly, or (to be reused by later selects)
   * when building it costs at most about twice a direct sort.
   */
  private orderIsCheaper(k: number): boolean {
    if (k < 64) return false;
    const direct = k * Math.log2(k);
    const n = this.numSeries;
    if (!this.orderBuilt) return k * 2 >= n;
    const m = this.orderAdded.length;
    const update = m > 0 ? n + m * Math.log2(m + 1) : this.orderRemoved ? n / 8 : 0;
    return update + k / 4 < direct;
  }

  /** Builds the label order of all live series, or brings it up to date (a merge). */
  private ensureOrder(): void {
    if (this.orderBuilt && this.orderAdded.length === 0 && !this.orderRemoved) return;
    const alive = this.alive;
    const top = this.top;
    let next: Int32Array;
    if (!this.orderBuilt) {
      const all: number[] = [];
      for (let s = 1; s < top; s++) if (alive[s]) all.push(s);
      this.sortSlotsByLabels(all);
      next = Int32Array.from(all);
    } else {
      // Slots created since may be reused ones: their old position is stale.
      const fresh = new Uint8Array(top);
      const added: number[] = [];
      for (const s of this.orderAdded) {
        if (s < top && alive[s] && fresh[s] === 0) {
          fresh[s] = 1;
          added.push(s);
        }
      }
      this.sortSlotsByLabels(added);
      const kept = new Int32Array(this.orderLen);
      let nk = 0;
      const old = this.order;
      for (let i = 0; i < this.orderLen; i++) {
        const s = old[i]!;
        if (s < top && alive[s] && fresh[s] === 0) kept[nk++] = s;
      }
      next = new Int32Array(nk + added.length);
      if (added.length === 0) next.set(kept.subarray(0, nk));
      else {
        const cmp = this.slotComparator();
        let i = 0;
        let j = 0;
        let o = 0;
        while (i < nk && j < added.length) next[o++] = cmp(kept[i]!, added[j]!) <= 0 ? kept[i++]! : added[j++]!;
        while (i < nk) next[o++] = kept[i++]!;
        while (j < added.length) next[o++] = added[j++]!;
      }
    }
    this.order = next;
    this.orderLen = next.length;
    if (this.orderPos.length < this.capacity) this.orderPos = new Int32Array(this.capacity);
    const pos = this.orderPos;
    for (let i = 0; i < next.length; i++) pos[next[i]!] = i;
    this.orderBuilt = true;
    this.orderAdded = [];
    this.orderRemoved = false;
  }

  /** Notes a created slot for the kept label order (dropped when nobody uses it). */
  private noteCreated(slot: number): void {
    if (!this.orderBuilt) return;
    this.orderAdded.push(slot);
    if (this.orderAdded.length > 1024 && this.orderAdded.length * 2 > this.numSeries) {
      // Rebuilding from scratch is as cheap as merging this many: forget the order.
      this.orderBuilt = false;
      this.order = new Int32Array(0);
      this.orderPos = new Int32Array(0);
      this.orderLen = 0;
      this.orderAdded = [];
      this.orderRemoved = false;
    }
  }

  /**
   * One series' chunks overlapping [mint, maxt], captured now (the caller holds a read epoch
   * while it iterates). Undefined when it has none.
   */
  seriesOf(s: number, mint: number, maxt: number): HeadSeries | undefined {
    const cap = new ChunkCapture();
    this.capture(s, mint, maxt, cap);
    return cap.length === 0 ? undefined : new HeadSeries(this.labelsOf(s), cap, 0, cap.length, mint, maxt);
  }

  /** Sorts slots by their label sets (compareLabels order) using symbol ranks. */
  sortSlotsByLabels(slots: number[]): void {
    if (slots.length < 2) return;
    if (slots.length < 64 && this.ranksVersion !== this.symVersion) {
      const labels = new Map<number, Labels>();
      for (const s of slots) labels.set(s, this.labelsOf(s));
      slots.sort((a, b) => compareLabels(labels.get(a)!, labels.get(b)!));
      return;
    }
    slots.sort(this.slotComparator());
  }

  /** Compares two live slots by their label sets (compareLabels order) using symbol ranks. */
  private slotComparator(): (a: number, b: number) => number {
    const rank = this.ensureRanks();
    const pool = this.pool;
    const offs = this.labelsOff;
    return (a, b) => {
      const oa = offs[a]!;
      const ob = offs[b]!;
      const na = pool[oa]! * 2;
      const nb = pool[ob]! * 2;
      const n = na < nb ? na : nb;
      for (let k = 1; k <= n; k++) {
        const d = rank[pool[oa + k]!]! - rank[pool[ob + k]!]!;
        if (d !== 0) return d;
      }
      return na - nb;
    };
  }

  private symRank = new Int32Array(0);
  private ranksVersion = -1;
  /** Changes whenever a symbol is added or removed. */
  private symVersion = 0;

  private ensureRanks(): Int32Array {
    if (this.ranksVersion === this.symVersion) return this.symRank;
    const ids: number[] = [];
    for (let i = 0; i < this.syms.length; i++) if (this.symIds.get(this.syms[i]!) === i) ids.push(i);
    const syms = this.syms;
    ids.sort((a, b) => (syms[a]! < syms[b]! ? -1 : syms[a]! > syms[b]! ? 1 : 0));
    const rank = new Int32Array(syms.length);
    for (let r = 0; r < ids.length; r++) rank[ids[r]!] = r;
    this.symRank = rank;
    this.ranksVersion = this.symVersion;
    return rank;
  }

  private capture(s: number, mint: number, maxt: number, cap: ChunkCapture): void {
    const metas = this.metas;
    const st = this.st;
    for (let m = st.i[s * 16 + U_FIRST]!; m >= 0; m = metas.next[m]!) {
      if (metas.maxT[m]! < mint) continue;
      if (metas.minT[m]! > maxt) return;
      const loc = metas.loc[m]!;
      cap.add(metas.enc[m] === 1 ? CHUNK_OPEN : CHUNK_SEALED, this.arena.pages[Math.floor(loc / PAGE_WORDS)]!, loc % PAGE_WORDS, metas.n[m]!, metas.minT[m]!, metas.maxT[m]!);
    }
    const n = st.u[s * 16 + U_NCAP]! & 0xffff;
    if (n > 0) {
      const minT = st.f[s * 8 + F_MINT]!;
      const maxT = st.f[s * 8 + F_T]!;
      if (maxT < mint || minT > maxt) return;
      const loc = st.i[s * 16 + U_LOC]!;
      cap.add(CHUNK_OPEN, this.slab.pages[loc >>> 16]!, loc & 0xffff, n, minT, maxT);
    }
  }

  /** Sorted label names of live series matching the matchers with samples in [mint, maxt]. */
  labelNames(matchers: readonly Matcher[] | undefined, mint: number, maxt: number): string[] {
    if (!matchers || matchers.length === 0) {
      if (this.maxT < mint || this.minT > maxt) return [];
      return [...this.postings.keys()].sort();
    }
    const names = new Set<string>();
    const slots = this.postingsForMatchers(matchers);
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (!this.inRange(s, mint, maxt)) continue;
      const off = this.labelsOff[s]!;
      const n = this.pool[off]!;
      for (let k = 0; k < n; k++) names.add(this.syms[this.pool[off + 1 + 2 * k]!]!);
    }
    return [...names].sort();
  }

  labelValues(name: string, matchers: readonly Matcher[] | undefined, mint: number, maxt: number): string[] {
    const byValue = this.postings.get(name);
    if (!byValue) return [];
    if (!matchers || matchers.length === 0) {
      if (this.maxT < mint || this.minT > maxt) return [];
      return [...byValue.keys()].sort();
    }
    const values = new Set<string>();
    const slots = this.postingsForMatchers(matchers);
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (!this.inRange(s, mint, maxt)) continue;
      const v = this.labelValueOf(s, name);
      if (v !== '') values.add(v);
    }
    return [...values].sort();
  }

  // ------------------------------------------------------------------ truncation and deletion

  /**
   * Drops chunks that end before `mint` and series left without samples (unless an open
   * appender holds them). Afterwards nothing older than `mint` is accepted.
   */
  truncate(mint: number): { removedSeries: number; removedChunks: number } {
    if (mint > this.minValidTime) this.minValidTime = mint;
    const metas = this.metas;
    let removedChunks = 0;
    const dead = new Uint8Array(this.top);
    let deadCount = 0;
    for (let s = 1; s < this.top; s++) {
      if (!this.alive[s]) continue;
      const i32 = this.st.i;
      let m = i32[s * 16 + U_FIRST]!;
      while (m >= 0 && metas.maxT[m]! < mint) {
        const next = metas.next[m]!;
        this.arena.release(metas.loc[m]!, metas.words[m]!);
        metas.release(m);
        removedChunks++;
        m = next;
      }
      i32[s * 16 + U_FIRST] = m;
      if (m < 0) i32[s * 16 + U_LAST] = -1;
      if (this.openCount(s) > 0 && this.lastT(s) < mint) {
        this.dropOpen(s);
        removedChunks++;
      }
      if (m < 0 && this.openCount(s) === 0 && !this.activeAppenders.has(i32[s * 16 + U_POWNER]!)) {
        dead[s] = 1;
        deadCount++;
      }
    }
    this.chunksRemoved += removedChunks;
    if (deadCount > 0) this.removeSeries(dead);
    this.compactArena();
    this.minT = Math.max(mint, this.firstSampleTime());
    if (this.numSeries === 0) {
      this.minT = Infinity;
      this.maxT = -Infinity;
    }
    return { removedSeries: deadCount, removedChunks };
  }

  private firstSampleTime(): number {
    let min = Infinity;
    for (let s = 1; s < this.top; s++) {
      if (!this.alive[s]) continue;
      const f = this.firstChunk(s);
      const t = f >= 0 ? this.metas.minT[f]! : this.openCount(s) > 0 ? this.openMinT(s) : Infinity;
      if (t < min) min = t;
    }
    return min;
  }

  /** Removes the marked series from every structure. */
  private removeSeries(dead: Uint8Array): void {
    const touched = new Map<string, Set<string>>();
    for (let s = 1; s < this.top; s++) {
      if (!dead[s]) continue;
      const off = this.labelsOff[s]!;
      const n = this.pool[off]!;
      for (let k = 0; k < n; k++) {
        const name = this.syms[this.pool[off + 1 + 2 * k]!]!;
        const value = this.syms[this.pool[off + 2 + 2 * k]!]!;
        let vs = touched.get(name);
        if (!vs) touched.set(name, (vs = new Set()));
        vs.add(value);
      }
    }
    for (const [name, values] of touched) {
      const byValue = this.postings.get(name)!;
      for (const v of values) {
        const p = byValue.get(v)!;
        if (typeof p === 'number') {
          if (dead[p]) byValue.delete(v);
        } else {
          const left = p.removeDead(dead);
          if (left === 0) byValue.delete(v);
          else if (left === 1) byValue.set(v, p.ids[0]!);
        }
      }
      if (byValue.size === 0) this.postings.delete(name);
    }
    for (let s = 1; s < this.top; s++) {
      if (!dead[s]) continue;
      this.tableRemove(s);
      const off = this.labelsOff[s]!;
      const n = this.pool[off]!;
      for (let k = 0; k < 2 * n; k++) this.unref(this.pool[off + 1 + k]!);
      this.poolGarbage += 2 * n + 1;
      this.alive[s] = 0;
      // Refs handed out for this series become stale at once.
      this.gen[s] = (this.gen[s]! + 1) % 67108864;
      this.numSeries--;
      this.seriesRemoved++;
      this.freeSlots.push(s);
    }
    if (this.orderBuilt) this.orderRemoved = true;
    // Keep reuse order stable: lowest slots first.
    this.freeSlots.sort((a, b) => b - a);
    this.rehash(this.table.length);
    if (this.poolGarbage > this.poolTop / 2) this.compactPool();
  }

  private compactPool(): void {
    const pool = new Uint32Array(Math.max(1024, this.poolTop - this.poolGarbage + 64));
    let top = 0;
    for (let s = 1; s < this.top; s++) {
      if (!this.alive[s]) continue;
      const off = this.labelsOff[s]!;
      const len = this.pool[off]! * 2 + 1;
      pool.set(this.pool.subarray(off, off + len), top);
      this.labelsOff[s] = top;
      top += len;
    }
    this.pool = pool;
    this.poolTop = top;
    this.poolGarbage = 0;
  }

  /** Moves the chunks of mostly empty arena pages to the current page. */
  private compactArena(): void {
    const sparse = this.arena.sparsePages(0.25);
    if (sparse.size === 0) return;
    const metas = this.metas;
    for (let s = 1; s < this.top; s++) {
      if (!this.alive[s]) continue;
      for (let m = this.firstChunk(s); m >= 0; m = metas.next[m]!) {
        const loc = metas.loc[m]!;
        const pid = Math.floor(loc / PAGE_WORDS);
        if (!sparse.has(pid)) continue;
        const words = metas.words[m]!;
        const page = this.arena.pages[pid]!;
        const nloc = this.arena.store(page, loc % PAGE_WORDS, words);
        this.arena.release(loc, words);
        metas.loc[m] = nloc;
      }
    }
  }

  /** Whether slot s has samples in [mint, maxt] (by chunk ranges). */
  hasSamplesIn(s: number, mint: number, maxt: number): boolean {
    return this.alive[s] === 1 && this.inRange(s, mint, maxt);
  }

  /** Deletes the samples of slot s in [start, end] by rewriting its chunks. */
  deleteSlotRange(s: number, start: number, end: number): void {
    if (!this.hasSamplesIn(s, start, end)) return;
    // Decode everything, drop the range, re-append.
    const cap = new ChunkCapture();
    this.capture(s, -Infinity, Infinity, cap);
    const it = new HeadSeries(Labels.EMPTY, cap, 0, cap.length, -Infinity, Infinity).iterator();
    let ts = new Float64Array(256);
    let vs = new Float64Array(256);
    let k = 0;
    while (it.next() !== 0) {
      const t = it.atT();
      if (t >= start && t <= end) continue;
      if (k === ts.length) {
        const gt = new Float64Array(k * 2);
        gt.set(ts);
        ts = gt;
        const gv = new Float64Array(k * 2);
        gv.set(vs);
        vs = gv;
      }
      ts[k] = t;
      vs[k] = it.at();
      k++;
    }
    const metas = this.metas;
    const i32 = this.st.i;
    for (let m = i32[s * 16 + U_FIRST]!; m >= 0; ) {
      const next = metas.next[m]!;
      this.arena.release(metas.loc[m]!, metas.words[m]!);
      metas.release(m);
      this.chunksRemoved++;
      m = next;
    }
    i32[s * 16 + U_FIRST] = -1;
    i32[s * 16 + U_LAST] = -1;
    if (this.openCount(s) > 0) {
      this.dropOpen(s);
      this.chunksRemoved++;
    }
    const lastT = this.lastT(s);
    const [lastLo, lastHi] = this.lastValueBits(s);
    this.st.f[s * 8 + F_T] = -Infinity;
    const minValid = this.minValidTime;
    const appended = this.samplesAppended;
    const minT = this.minT;
    const maxT = this.maxT;
    this.minValidTime = -Infinity;
    const vs32 = new Uint32Array(vs.buffer, 0, k * 2);
    for (let j = 0; j < k; j++) this.appendSampleAt(s, ts, vs32, j);
    this.samplesAppended = appended;
    this.minValidTime = minValid;
    this.minT = minT;
    this.maxT = maxT;
    // As with Prometheus' tombstones, later appends are still ordered after the deleted samples:
    // the series keeps its last timestamp and value (a new chunk starts with the next sample).
    if (this.lastT(s) < lastT) {
      this.sealOpen(s);
      this.restoreLast(s, lastT, lastLo, lastHi);
    }
  }

  // ------------------------------------------------------------------ stats

  stats(): HeadStatsSnapshot {
    let pairs = 0;
    for (const byValue of this.postings.values()) pairs += byValue.size;
    let open = 0;
    for (let s = 1; s < this.top; s++) if (this.alive[s] && this.openCount(s) > 0) open++;
    return {
      numSeries: this.numSeries,
      numLabelPairs: pairs,
      chunkCount: this.metas.count + open,
      minTime: this.numSeries === 0 || this.minT === Infinity ? Number.MAX_SAFE_INTEGER : this.minT,
      maxTime: this.numSeries === 0 || this.maxT === -Infinity ? Number.MIN_SAFE_INTEGER : this.maxT,
    };
  }

  /** Number of series per value of each label (for cardinality statistics). */
  postingCounts(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const [name, byValue] of this.postings) {
      const m = new Map<string, number>();
      for (const [v, p] of byValue) m.set(v, postingSize(p));
      out.set(name, m);
    }
    return out;
  }

  /** Approximate bytes held by the head's structures (typed arrays and pools). */
  memoryBytes(): number {
    const perSlot = 4 + 1 + 4 + 4 + SeriesState.BYTES_PER_SLOT;
    return this.capacity * perSlot + this.order.byteLength + this.orderPos.byteLength + this.pool.byteLength + this.table.byteLength + this.symRefs.byteLength + this.slab.bytes() + this.arena.bytes() + this.metas.bytes();
  }
}
