/**
 * Sample iteration over a series' chunks: chunks are decoded in batches into small typed-array
 * buffers owned by the iterator, so `next()` is an index increment and no object is created per
 * sample. Samples outside [mint, maxt] and inside deleted intervals are skipped.
 */
import { ValueType, type SampleBuffer, type SampleIterator } from '../storage/index.ts';
import { words32 } from './codec.ts';

/** Decoded samples per batch. */
export const BATCH = 128;

/** The chunks of one series as an iterator sees them. */
export interface ChunkCursor {
  /** Number of chunks. */
  readonly count: number;
  minT(i: number): number;
  maxT(i: number): number;
  /** Positions the decoder at the start of chunk i. Throws on a corrupt chunk. */
  open(i: number): void;
  /** Decodes up to `max` further samples of the open chunk; 0 when it is exhausted. */
  fill(bt: Float64Array, bv: Float64Array, bv32: Uint32Array, max: number): number;
  /** The iterator is done: decoders may be recycled. */
  release?(): void;
}

export class ChunkedIterator implements SampleIterator {
  private bt: Float64Array = EMPTY;
  private bv: Float64Array = EMPTY;
  private bv32: Uint32Array = EMPTY32;
  private bi = 0;
  private bn = 0;
  /** Index of the chunk being decoded (-1 before the first). */
  private ci = -1;
  private done = false;
  /** The rest of the current chunk is not wanted (a seek went past its end). */
  private chunkDone = false;
  /** Samples before this time are skipped: mint, raised by seek(). */
  private skipBefore: number;
  private error: Error | null = null;

  constructor(
    private readonly cursor: ChunkCursor,
    private readonly mint: number,
    private readonly maxt: number,
    /** Deleted intervals as [start, end] pairs (inclusive), sorted; null when none. */
    private readonly deleted: Float64Array | null = null,
  ) {
    this.skipBefore = mint;
  }

  next(): ValueType {
    if (this.bi + 1 < this.bn) {
      this.bi++;
      return ValueType.Float;
    }
    return this.refill();
  }

  private ensureBuffers(): void {
    if (this.bt.length === 0) {
      const b = pool.length > 0 ? pool.pop()! : new Buffers();
      this.bt = b.bt;
      this.bv = b.bv;
      this.bv32 = b.bv32;
      this.buffers = b;
    }
  }

  private buffers: Buffers | undefined;

  /** Loads the next non-empty batch; positions at its first sample. */
  private refill(): ValueType {
    if (this.done) return ValueType.None;
    this.ensureBuffers();
    const cur = this.cursor;
    while (!this.done) {
      let k = 0;
      if (this.ci >= 0 && !this.chunkDone) {
        try {
          k = cur.fill(this.bt, this.bv, this.bv32, BATCH);
        } catch (e) {
          return this.fail(e);
        }
      }
      if (k === 0) {
        this.chunkDone = false;
        // Next chunk that can hold a wanted sample.
        let i = this.ci + 1;
        while (i < cur.count && cur.maxT(i) < this.skipBefore) i++;
        if (i >= cur.count || cur.minT(i) > this.maxt) {
          this.finish();
          return ValueType.None;
        }
        this.ci = i;
        try {
          cur.open(i);
        } catch (e) {
          return this.fail(e);
        }
        continue;
      }
      if (this.window(k)) return ValueType.Float;
    }
    return ValueType.None;
  }

  /** Restricts the freshly decoded batch [0, k) to the time window; true when non-empty. */
  private window(k: number): boolean {
    const bt = this.bt;
    const lowest = this.skipBefore;
    let lo = 0;
    if (bt[0]! < lowest) {
      while (lo < k && bt[lo]! < lowest) lo++;
    }
    let hi = k;
    if (bt[k - 1]! > this.maxt) {
      hi = lo;
      while (hi < k && bt[hi]! <= this.maxt) hi++;
      this.done = true;
    }
    if (this.deleted !== null && lo < hi) {
      const kept = this.dropDeleted(lo, hi);
      lo = 0;
      hi = kept;
    }
    this.bi = lo;
    this.bn = hi;
    return lo < hi;
  }

  /** Compacts [lo, hi) to the samples outside deleted intervals; returns the new length. */
  private dropDeleted(lo: number, hi: number): number {
    const d = this.deleted!;
    const bt = this.bt;
    const bv32 = this.bv32;
    let k = 0;
    for (let i = lo; i < hi; i++) {
      const t = bt[i]!;
      if (inIntervals(t, d)) continue;
      bt[k] = t;
      bv32[2 * k] = bv32[2 * i]!;
      bv32[2 * k + 1] = bv32[2 * i + 1]!;
      k++;
    }
    return k;
  }

  seek(t: number): ValueType {
    if (this.bi < this.bn) {
      const bt = this.bt;
      if (bt[this.bi]! >= t) return ValueType.Float;
      if (bt[this.bn - 1]! >= t) {
        this.bi = lowerBound(bt, this.bi, this.bn - 1, t);
        return ValueType.Float;
      }
    }
    this.bi = this.bn = 0;
    if (this.done) return ValueType.None;
    // From now on nothing before t is wanted (seek never moves backwards).
    if (t > this.skipBefore) this.skipBefore = t;
    if (this.ci >= 0 && this.cursor.maxT(this.ci) < t) this.chunkDone = true;
    for (;;) {
      if (this.refill() === ValueType.None) return ValueType.None;
      // refill() already dropped samples before skipBefore.
      return ValueType.Float;
    }
  }

  private finish(): void {
    this.done = true;
    this.bi = this.bn = 0;
    this.cursor.release?.();
    // Exhausted: hand the buffers to the next iterator.
    const b = this.buffers;
    if (b) {
      this.buffers = undefined;
      this.bt = EMPTY;
      this.bv = EMPTY;
      this.bv32 = EMPTY32;
      if (pool.length < 64) pool.push(b);
    }
  }

  private fail(e: unknown): ValueType {
    this.error = e instanceof Error ? e : new Error(String(e));
    this.finish();
    return ValueType.None;
  }

  atT(): number {
    return this.bt[this.bi]!;
  }

  at(): number {
    return this.bv[this.bi]!;
  }

  err(): Error | null {
    return this.error;
  }
}

/** Whether t lies in one of the closed intervals [d[0], d[1]], [d[2], d[3]], ... */
function inIntervals(t: number, d: Float64Array): boolean {
  for (let j = 0; j < d.length; j += 2) if (t >= d[j]! && t <= d[j + 1]!) return true;
  return false;
}

/**
 * Removes the samples of buf[start, buf.n) inside deleted intervals ([start, end] pairs,
 * inclusive), keeping order; returns how many remain after `start`.
 */
export function dropDeleted(buf: SampleBuffer, start: number, deleted: Float64Array): number {
  const bt = buf.ts;
  // Values move as their two 32-bit words: NaN payloads (the stale marker) stay exact.
  const bv32 = words32(buf.vs);
  let k = start;
  for (let i = start; i < buf.n; i++) {
    const t = bt[i]!;
    if (inIntervals(t, deleted)) continue;
    if (k !== i) {
      bt[k] = t;
      bv32[2 * k] = bv32[2 * i]!;
      bv32[2 * k + 1] = bv32[2 * i + 1]!;
    }
    k++;
  }
  return k - start;
}

function lowerBound(a: Float64Array, lo: number, hi: number, t: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Decode buffers of one iterator; recycled when an iterator is exhausted. */
class Buffers {
  readonly bt = new Float64Array(BATCH);
  readonly bv = new Float64Array(BATCH);
  readonly bv32 = new Uint32Array(this.bv.buffer);
}
const pool: Buffers[] = [];

const EMPTY = new Float64Array(0);
const EMPTY32 = new Uint32Array(0);

/**
 * Concatenates iterators whose samples are in disjoint, increasing time ranges (a series split
 * over consecutive blocks and the head).
 */
export class ConcatIterator implements SampleIterator {
  private k = 0;

  constructor(private readonly its: SampleIterator[]) {}

  next(): ValueType {
    while (this.k < this.its.length) {
      const r = this.its[this.k]!.next();
      if (r !== ValueType.None) return r;
      if (this.its[this.k]!.err()) return ValueType.None;
      this.k++;
    }
    return ValueType.None;
  }

  seek(t: number): ValueType {
    while (this.k < this.its.length) {
      const r = this.its[this.k]!.seek(t);
      if (r !== ValueType.None) return r;
      if (this.its[this.k]!.err()) return ValueType.None;
      this.k++;
    }
    return ValueType.None;
  }

  atT(): number {
    return this.its[this.k]!.atT();
  }

  at(): number {
    return this.its[this.k]!.at();
  }

  err(): Error | null {
    for (const it of this.its) {
      const e = it.err();
      if (e) return e;
    }
    return null;
  }
}
