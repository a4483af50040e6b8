/**
 * Memory for head chunks, without one object per chunk:
 *
 * - `Slab` holds open (growing) chunks in fixed-size slots of 16..512 words carved from 256 KiB
 *   pages. A chunk that outgrows its slot moves to the next size. Freed slots are zeroed and
 *   reused only once no reader that may still see them is open (epochs, see `Slab.free`).
 * - `Arena` holds sealed (immutable) chunks packed back to back in 256 KiB pages. A page is
 *   dropped when the last chunk in it is released; readers that captured the page object keep
 *   it alive, so dropping never invalidates a running query.
 * - `ChunkMetas` is a pool of sealed-chunk descriptors (time range, sample count, location,
 *   size, next chunk of the same series) in struct-of-arrays form.
 *
 * A location is `page * 65536 + wordOffset` (pages of 65536 words).
 */

export const PAGE_WORDS = 65536;
/** Slot sizes in words. The largest fits 120 XOR samples of the worst case (~484 words). */
export const SLOT_WORDS = [16, 32, 64, 128, 256, 512, 1024] as const;

export class Slab {
  readonly pages: Uint32Array[] = [];
  /** Size class of each page. */
  private readonly pageClass: number[] = [];
  private readonly freeLists: number[][] = SLOT_WORDS.map(() => []);
  /** Next unused slot offset in the newest page of each class (-1: none). */
  private readonly bump: number[] = SLOT_WORDS.map(() => -1);
  private readonly bumpPage: number[] = SLOT_WORDS.map(() => -1);
  /** Freed slots waiting for readers: [loc, cls, epoch] triples. */
  private deferred: number[] = [];
  usedSlots = 0;

  classOf(loc: number): number {
    return this.pageClass[Math.floor(loc / PAGE_WORDS)]!;
  }

  page(loc: number): Uint32Array {
    return this.pages[Math.floor(loc / PAGE_WORDS)]!;
  }

  /** A zeroed slot of class `cls`. */
  alloc(cls: number): number {
    this.usedSlots++;
    const fl = this.freeLists[cls]!;
    if (fl.length > 0) return fl.pop()!;
    const size = SLOT_WORDS[cls]!;
    let off = this.bump[cls]!;
    if (off < 0 || off + size > PAGE_WORDS) {
      this.pages.push(new Uint32Array(PAGE_WORDS + 4));
      this.pageClass.push(cls);
      this.bumpPage[cls] = this.pages.length - 1;
      off = 0;
    }
    this.bump[cls] = off + size;
    return this.bumpPage[cls]! * PAGE_WORDS + off;
  }

  /**
   * Releases a slot. With `epoch` ≥ 0 the slot is reused only after `reclaim(minOpenEpoch)` is
   * called with a value above `epoch` (no reader that could have seen it is still open).
   */
  free(loc: number, epoch: number): void {
    this.usedSlots--;
    this.deferred.push(loc, this.classOf(loc), epoch);
  }

  /** Makes deferred slots older than `minOpenEpoch` reusable. */
  reclaim(minOpenEpoch: number): void {
    const d = this.deferred;
    if (d.length === 0) return;
    let keep = 0;
    for (let i = 0; i < d.length; i += 3) {
      const loc = d[i]!;
      const cls = d[i + 1]!;
      const ep = d[i + 2]!;
      if (ep < minOpenEpoch) {
        const p = this.pages[Math.floor(loc / PAGE_WORDS)]!;
        const off = loc % PAGE_WORDS;
        p.fill(0, off, off + SLOT_WORDS[cls]!);
        this.freeLists[cls]!.push(loc);
      } else {
        d[keep++] = loc;
        d[keep++] = cls;
        d[keep++] = ep;
      }
    }
    d.length = keep;
  }

  bytes(): number {
    return this.pages.length * (PAGE_WORDS + 4) * 4;
  }
}

export class Arena {
  pages: (Uint32Array | null)[] = [];
  /** Live words per page. */
  live: number[] = [];
  private cur = -1;
  private off = PAGE_WORDS;
  private freePageIds: number[] = [];

  /** Copies `words` words from src[srcOff..] into the arena; returns the location. */
  store(src: Uint32Array, srcOff: number, words: number): number {
    if (this.off + words > PAGE_WORDS) this.newPage();
    const p = this.pages[this.cur]!;
    p.set(src.subarray(srcOff, srcOff + words), this.off);
    const loc = this.cur * PAGE_WORDS + this.off;
    this.off += words;
    this.live[this.cur]! += words;
    return loc;
  }

  private newPage(): void {
    // Two spare words at the end: readers look ahead past the last chunk.
    const page = new Uint32Array(PAGE_WORDS + 4);
    const id = this.freePageIds.length > 0 ? this.freePageIds.pop()! : this.pages.length;
    if (id === this.pages.length) {
      this.pages.push(page);
      this.live.push(0);
    } else {
      this.pages[id] = page;
      this.live[id] = 0;
    }
    this.cur = id;
    this.off = 0;
  }

  page(loc: number): Uint32Array {
    return this.pages[Math.floor(loc / PAGE_WORDS)]!;
  }

  release(loc: number, words: number): void {
    const id = Math.floor(loc / PAGE_WORDS);
    const left = (this.live[id]! -= words);
    if (left === 0 && id !== this.cur) {
      this.pages[id] = null;
      this.freePageIds.push(id);
    }
  }

  /** Pages other than the current one whose live fraction is below `ratio`. */
  sparsePages(ratio: number): Set<number> {
    const out = new Set<number>();
    for (let i = 0; i < this.pages.length; i++) {
      if (i === this.cur || this.pages[i] === null) continue;
      if (this.live[i]! < PAGE_WORDS * ratio) out.add(i);
    }
    return out;
  }

  pageCount(): number {
    let n = 0;
    for (const p of this.pages) if (p) n++;
    return n;
  }

  bytes(): number {
    return this.pageCount() * (PAGE_WORDS + 4) * 4;
  }
}

/** Pool of sealed-chunk descriptors; index -1 means "none". */
export class ChunkMetas {
  capacity: number;
  minT: Float64Array;
  maxT: Float64Array;
  loc: Int32Array;
  words: Uint16Array;
  n: Uint16Array;
  next: Int32Array;
  private free: number[] = [];
  private top = 0;
  count = 0;

  constructor(capacity = 1024) {
    this.capacity = capacity;
    this.minT = new Float64Array(capacity);
    this.maxT = new Float64Array(capacity);
    this.loc = new Int32Array(capacity);
    this.words = new Uint16Array(capacity);
    this.n = new Uint16Array(capacity);
    this.next = new Int32Array(capacity);
  }

  alloc(): number {
    this.count++;
    if (this.free.length > 0) return this.free.pop()!;
    if (this.top === this.capacity) this.grow(this.capacity * 2);
    return this.top++;
  }

  release(i: number): void {
    this.count--;
    this.free.push(i);
  }

  private grow(cap: number): void {
    const gf = (a: Float64Array) => { const b = new Float64Array(cap); b.set(a); return b; };
    const gi = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
    const g16 = (a: Uint16Array) => { const b = new Uint16Array(cap); b.set(a); return b; };
    this.minT = gf(this.minT);
    this.maxT = gf(this.maxT);
    this.loc = gi(this.loc);
    this.words = g16(this.words);
    this.n = g16(this.n);
    this.next = gi(this.next);
    this.capacity = cap;
  }

  bytes(): number {
    return this.capacity * (8 + 8 + 4 + 2 + 2 + 4) + this.free.length * 8;
  }
}
