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
/**
 * Slot sizes in words, about 1.5x apart so that a growing chunk's slot is at least about two
 * thirds used. The largest fits 120 XOR samples of the worst case (~484 words).
 */
export const SLOT_WORDS = [16, 24, 32, 48, 64, 96, 128, 256, 512, 1024] as const;

/** Empty slab pages kept for reuse (1 MiB). */
const SPARE_PAGES = 4;

export class Slab {
  /** Pages by id; null once released. */
  readonly pages: (Uint32Array | null)[] = [];
  private readonly pageClass: number[] = [];
  /** Slots in use per page. */
  private readonly pageUsed: number[] = [];
  /** Offset (words) of the first never-used slot per page. */
  private readonly pageBump: number[] = [];
  /** Per page: stack of freed slot numbers (allocated on first free). */
  private readonly pageFree: (Uint16Array | null)[] = [];
  private readonly pageFreeN: number[] = [];
  /** Per class: pages that may have room (may hold stale entries, checked on use). */
  private readonly partial: number[][] = SLOT_WORDS.map(() => []);
  private readonly inPartial: boolean[] = [];
  private readonly freePageIds: number[] = [];
  /** Freed slots waiting for readers: [loc, epoch] pairs in [0, deferredN) (no garbage per free). */
  private deferred = new Float64Array(64);
  private deferredN = 0;
  /** Emptied pages kept zeroed for reuse (chunks pass through the small classes all the time). */
  private readonly sparePages: Uint32Array[] = [];
  usedSlots = 0;

  /** A zeroed slot of class `cls`. */
  alloc(cls: number): number {
    this.usedSlots++;
    const size = SLOT_WORDS[cls]!;
    const list = this.partial[cls]!;
    while (list.length > 0) {
      const pid = list[list.length - 1]!;
      if (this.pages[pid] === null || this.pageClass[pid] !== cls) {
        list.pop();
        this.inPartial[pid] = false;
        continue;
      }
      let off: number;
      const fn = this.pageFreeN[pid]!;
      if (fn > 0) {
        off = this.pageFree[pid]![fn - 1]! * size;
        this.pageFreeN[pid] = fn - 1;
      } else if (this.pageBump[pid]! + size <= PAGE_WORDS) {
        off = this.pageBump[pid]!;
        this.pageBump[pid] = off + size;
      } else {
        list.pop();
        this.inPartial[pid] = false;
        continue;
      }
      this.pageUsed[pid]!++;
      if (this.pageFreeN[pid] === 0 && this.pageBump[pid]! + size > PAGE_WORDS) {
        list.pop();
        this.inPartial[pid] = false;
      }
      return pid * PAGE_WORDS + off;
    }
    const pid = this.freePageIds.length > 0 ? this.freePageIds.pop()! : this.pages.length;
    this.pages[pid] = this.sparePages.pop() ?? new Uint32Array(PAGE_WORDS + 4);
    this.pageClass[pid] = cls;
    this.pageUsed[pid] = 1;
    this.pageBump[pid] = size;
    this.pageFree[pid] = null;
    this.pageFreeN[pid] = 0;
    this.inPartial[pid] = false;
    if (size * 2 <= PAGE_WORDS) {
      list.push(pid);
      this.inPartial[pid] = true;
    }
    return pid * PAGE_WORDS;
  }

  /**
   * Releases a slot. The slot is reused only after `reclaim(minOpenEpoch)` is called with a value
   * above `epoch` (no reader that could have seen it is still open).
   */
  free(loc: number, epoch: number): void {
    this.usedSlots--;
    let d = this.deferred;
    if (this.deferredN + 2 > d.length) {
      d = new Float64Array(d.length * 2);
      d.set(this.deferred);
      this.deferred = d;
    }
    d[this.deferredN++] = loc;
    d[this.deferredN++] = epoch;
  }

  /** Makes deferred slots older than `minOpenEpoch` reusable; pages left empty are released. */
  reclaim(minOpenEpoch: number): void {
    const n = this.deferredN;
    if (n === 0) return;
    const d = this.deferred;
    let keep = 0;
    for (let i = 0; i < n; i += 2) {
      const loc = d[i]!;
      const ep = d[i + 1]!;
      if (ep < minOpenEpoch) this.release(loc);
      else {
        d[keep++] = loc;
        d[keep++] = ep;
      }
    }
    this.deferredN = keep;
    if (keep === 0 && d.length > 1 << 16) this.deferred = new Float64Array(64);
  }

  private release(loc: number): void {
    const pid = Math.floor(loc / PAGE_WORDS);
    const off = loc % PAGE_WORDS;
    const cls = this.pageClass[pid]!;
    const size = SLOT_WORDS[cls]!;
    const used = --this.pageUsed[pid]!;
    if (used === 0) {
      // The whole page is free: keep a few (zeroed) for the next pages, give the rest back.
      if (this.sparePages.length < SPARE_PAGES) {
        const page = this.pages[pid]!;
        page.fill(0, off, off + size);
        this.sparePages.push(page);
      }
      this.pages[pid] = null;
      this.pageFree[pid] = null;
      this.pageFreeN[pid] = 0;
      this.freePageIds.push(pid);
      return;
    }
    this.pages[pid]!.fill(0, off, off + size);
    let stack = this.pageFree[pid];
    if (!stack) this.pageFree[pid] = stack = new Uint16Array(PAGE_WORDS / size);
    stack[this.pageFreeN[pid]!++] = off / size;
    if (!this.inPartial[pid]) {
      this.partial[cls]!.push(pid);
      this.inPartial[pid] = true;
    }
  }

  pageCount(): number {
    let n = 0;
    for (const p of this.pages) if (p) n++;
    return n;
  }

  bytes(): number {
    return (this.pageCount() + this.sparePages.length) * (PAGE_WORDS + 4) * 4;
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
  /** Per chunk: 0 = block codec, 1 = XOR words still to be re-encoded (see Head.deferSealEncoding). */
  enc: Uint8Array;
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
    this.enc = new Uint8Array(capacity);
  }

  alloc(): number {
    this.count++;
    if (this.free.length > 0) return this.free.pop()!;
    if (this.top === this.capacity) this.grow(this.capacity < 1 << 16 ? this.capacity * 2 : Math.ceil(this.capacity * 1.25));
    return this.top++;
  }

  release(i: number): void {
    this.count--;
    this.enc[i] = 0;
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
    const enc = new Uint8Array(cap);
    enc.set(this.enc);
    this.enc = enc;
    this.capacity = cap;
  }

  bytes(): number {
    return this.capacity * (8 + 8 + 4 + 2 + 2 + 4 + 1) + this.free.length * 8;
  }
}
