/**
 * A target's series cache: raw series text as exposed (`name{labels}` bytes) → the final label
 * set after honor_labels/target labels/metric relabeling, the storage ref, and when the series
 * was last seen. A steady-state scrape finds every series here by hashing and comparing bytes
 * in place, so it allocates nothing per sample.
 *
 * Struct of arrays: the raw keys live in one byte arena, per-entry fields in typed arrays, and
 * an open-addressing table maps hashes to entries. Entries unseen for `maxUnseen` scrapes are
 * dropped by a periodic compaction.
 */
import type { Labels } from '../model/index.ts';
import type { ExpositionParser } from '../exposition/index.ts';

/**
 * Writes `src[from, to)` into `arena` at `used`; returns the arena to keep using (the same one,
 * or a copy twice as large, or larger, when it did not fit).
 */
export function appendBytes(arena: Uint8Array<ArrayBuffer>, used: number, src: Uint8Array, from: number, to: number): Uint8Array<ArrayBuffer> {
  const need = used + (to - from);
  if (need > arena.length) {
    let size = arena.length * 2;
    while (need > size) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(arena.subarray(0, used));
    arena = grown;
  }
  arena.set(src.subarray(from, to), used);
  return arena;
}

export const FLAG_DROPPED = 1;
/** The sample had no explicit timestamp: a stale marker is due when the series disappears. */
export const FLAG_TRACK_STALE = 2;
/** The raw text holds a line break (text format): never used as a prediction. */
export const FLAG_MULTILINE = 4;

export class SeriesCache {
  /** Raw series texts, back to back (read by the parser's `nextExpecting`). */
  arena = new Uint8Array(4096);
  private arenaLen = 0;
  keyOff = new Int32Array(64);
  keyLen = new Int32Array(64);
  /** Position of each entry in the last committed scrape's order (-1: not in it). */
  private pos = new Int32Array(64);
  /** Entries in the order the last committed scrape exposed them. */
  private order = new Int32Array(64);
  private orderLen = 0;
  /** The order being observed by the scrape in progress. */
  private nextOrder = new Int32Array(64);
  private nextLen = 0;
  private hashes = new Uint32Array(64);
  /** Storage refs (0: unknown). */
  refs = new Float64Array(64);
  /** Last committed scrape iteration that saw the entry. */
  lastSeen = new Uint32Array(64);
  /** The scrape attempt that saw the entry (promoted to lastSeen when the attempt commits). */
  seenNow = new Uint32Array(64);
  flags = new Uint8Array(64);
  /** Final label sets (null for dropped entries). */
  labels: Array<Labels | null> = [];
  private n = 0;
  private table = new Int32Array(128).fill(-1);
  private mask = 127;

  constructor(private readonly maxUnseen = 10) {}

  get size(): number {
    return this.n;
  }

  /** Index of the entry for the parser's current series, or -1. `hash` is parser.seriesHash(). */
  find(p: ExpositionParser, hash: number): number {
    const table = this.table;
    const mask = this.mask;
    let slot = hash & mask;
    for (;;) {
      const e = table[slot]!;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && p.seriesEquals(this.arena, this.keyOff[e]!, this.keyLen[e]!)) return e;
      slot = (slot + 1) & mask;
    }
  }

  /** Adds an entry for the parser's current series (which `find` did not find). Returns its index. */
  add(p: ExpositionParser, hash: number, labels: Labels | null, flags: number): number {
    if (this.n === this.hashes.length) this.growEntries();
    if ((this.n + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const len = p.seriesEnd - p.seriesStart;
    this.arena = appendBytes(this.arena, this.arenaLen, p.input, p.seriesStart, p.seriesEnd);
    const e = this.n++;
    this.keyOff[e] = this.arenaLen;
    this.keyLen[e] = len;
    this.arenaLen += len;
    this.hashes[e] = hash;
    this.refs[e] = 0;
    this.lastSeen[e] = 0;
    this.seenNow[e] = 0;
    this.pos[e] = -1;
    const nl = p.input.indexOf(10, p.seriesStart);
    if (nl >= 0 && nl < p.seriesEnd) flags |= FLAG_MULTILINE;
    this.flags[e] = flags;
    this.labels[e] = labels;
    this.insert(e);
    return e;
  }

  private insert(e: number): void {
    let slot = this.hashes[e]! & this.mask;
    while (this.table[slot]! >= 0) slot = (slot + 1) & this.mask;
    this.table[slot] = e;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (let e = 0; e < this.n; e++) this.insert(e);
  }

  private growEntries(): void {
    const cap = this.hashes.length * 2;
    const grow = <T extends Int32Array | Uint32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const g = make(cap);
      g.set(a);
      return g;
    };
    this.keyOff = grow(this.keyOff, (n) => new Int32Array(n));
    this.keyLen = grow(this.keyLen, (n) => new Int32Array(n));
    this.hashes = grow(this.hashes, (n) => new Uint32Array(n));
    this.refs = grow(this.refs, (n) => new Float64Array(n));
    this.lastSeen = grow(this.lastSeen, (n) => new Uint32Array(n));
    this.seenNow = grow(this.seenNow, (n) => new Uint32Array(n));
    this.pos = grow(this.pos, (n) => new Int32Array(n));
    this.flags = grow(this.flags, (n) => new Uint8Array(n));
  }

  /**
   * Forgets the storage refs that scrape attempt `cur` obtained for series it added (never
   * committed): the attempt was rolled back, so the store may not keep those refs.
   */
  forgetNewRefs(cur: number): void {
    for (let e = 0; e < this.n; e++) if (this.seenNow[e] === cur && this.lastSeen[e] === 0) this.refs[e] = 0;
  }

  /** Starts observing the order of a scrape. */
  beginOrder(): void {
    this.nextLen = 0;
  }

  /** Records that entry `e` came next in the scrape in progress. */
  noteOrder(e: number): void {
    if (this.nextLen === this.nextOrder.length) {
      const g = new Int32Array(this.nextOrder.length * 2);
      g.set(this.nextOrder);
      this.nextOrder = g;
    }
    this.nextOrder[this.nextLen++] = e;
  }

  /**
   * The entry expected after `e` (or first, when `e` is -1 at the start of a scrape) if the
   * exposition repeats the last committed order; -1 when there is no usable guess.
   */
  predict(e: number, atStart: boolean): number {
    let i: number;
    if (atStart) i = 0;
    else {
      if (e < 0) return -1;
      const p = this.pos[e]!;
      if (p < 0) return -1;
      i = p + 1;
    }
    if (i >= this.orderLen) return -1;
    const next = this.order[i]!;
    return (this.flags[next]! & FLAG_MULTILINE) !== 0 ? -1 : next;
  }

  /** Makes the observed order the one predictions follow (after a successful scrape). */
  commitOrder(): void {
    for (let i = 0; i < this.orderLen; i++) this.pos[this.order[i]!] = -1;
    const tmp = this.order;
    this.order = this.nextOrder;
    this.nextOrder = tmp.length >= this.order.length ? tmp : new Int32Array(this.order.length);
    this.orderLen = this.nextLen;
    this.nextLen = 0;
    for (let i = 0; i < this.orderLen; i++) this.pos[this.order[i]!] = i;
  }

  /**
   * Ends scrape attempt `cur` (the previous committed one being `prev`): calls `onStale` for
   * every staleness-tracked entry seen in `prev` but not in `cur` (the series that disappeared),
   * then records the entries seen in `cur` as its own. An empty or failed scrape passes a `cur`
   * that saw nothing, so every series of `prev` goes stale.
   */
  finishIteration(prev: number, cur: number, onStale: (labels: Labels, index: number) => void): void {
    const lastSeen = this.lastSeen;
    const seenNow = this.seenNow;
    const flags = this.flags;
    for (let e = 0; e < this.n; e++) {
      if (seenNow[e] === cur) lastSeen[e] = cur;
      else if (lastSeen[e] === prev && prev !== 0 && (flags[e]! & (FLAG_TRACK_STALE | FLAG_DROPPED)) === FLAG_TRACK_STALE) onStale(this.labels[e]!, e);
    }
  }

  /**
   * Drops entries unseen for more than `maxUnseen` scrapes (kept that long so that a series
   * that flaps does not pay for its labels again). Cheap when there is nothing to drop.
   */
  compact(iter: number): void {
    let dead = 0;
    for (let e = 0; e < this.n; e++) if (iter - this.lastSeen[e]! > this.maxUnseen) dead++;
    if (dead === 0 || dead * 4 < this.n) return;
    let w = 0;
    let arenaW = 0;
    const arena = this.arena;
    for (let e = 0; e < this.n; e++) {
      if (iter - this.lastSeen[e]! > this.maxUnseen) continue;
      const off = this.keyOff[e]!;
      const len = this.keyLen[e]!;
      arena.copyWithin(arenaW, off, off + len);
      this.keyOff[w] = arenaW;
      this.keyLen[w] = len;
      arenaW += len;
      this.hashes[w] = this.hashes[e]!;
      this.refs[w] = this.refs[e]!;
      this.lastSeen[w] = this.lastSeen[e]!;
      this.seenNow[w] = this.seenNow[e]!;
      this.flags[w] = this.flags[e]!;
      this.labels[w] = this.labels[e]!;
      w++;
    }
    this.n = w;
    this.labels.length = w;
    this.arenaLen = arenaW;
    this.pos.fill(-1);
    this.orderLen = 0;
    this.nextLen = 0;
    let size = 128;
    while (size < w * 2) size *= 2;
    this.rehash(size);
  }

  /** Forgets everything (e.g. the job's relabel rules changed). */
  clear(): void {
    this.orderLen = 0;
    this.nextLen = 0;
    this.n = 0;
    this.labels.length = 0;
    this.arenaLen = 0;
    this.rehash(128);
  }

  /** Approximate bytes held (arena, typed arrays, table; label sets not counted). */
  bytes(): number {
    return this.arena.length + this.hashes.length * (4 + 4 + 4 + 8 + 4 + 4 + 4 + 4 + 4 + 1 + 8) + this.table.length * 4;
  }
}
