/**
 * Postings: sorted lists of series ids as `Int32Array`s, and the set operations matchers need.
 * Every function returns a fresh array (or one of its inputs when unchanged); inputs are never
 * modified.
 */

export const EMPTY_POSTINGS = new Int32Array(0);

/** Intersection of two sorted lists (galloping when sizes differ a lot). */
export function intersect(a: Int32Array, b: Int32Array): Int32Array {
  if (a.length === 0 || b.length === 0) return EMPTY_POSTINGS;
  if (a.length > b.length) [a, b] = [b, a];
  const out = new Int32Array(a.length);
  let k = 0;
  if (b.length > a.length * 16) {
    let lo = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      // Gallop in b from lo.
      let step = 1;
      let hi = lo;
      while (hi < b.length && b[hi]! < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
      }
      if (hi > b.length) hi = b.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (b[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      if (lo < b.length && b[lo] === x) out[k++] = x;
    }
  } else {
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const x = a[i]!;
      const y = b[j]!;
      if (x === y) {
        out[k++] = x;
        i++;
        j++;
      } else if (x < y) i++;
      else j++;
    }
  }
  return k === out.length ? out : out.slice(0, k);
}

/** Elements of a not in b. */
export function subtract(a: Int32Array, b: Int32Array): Int32Array {
  if (a.length === 0 || b.length === 0) return a;
  const out = new Int32Array(a.length);
  let k = 0;
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    while (j < b.length && b[j]! < x) j++;
    if (j < b.length && b[j] === x) continue;
    out[k++] = x;
  }
  return k === out.length ? out : out.slice(0, k);
}

/** Union of two sorted lists that may overlap. */
function union2(a: Int32Array, b: Int32Array): Int32Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Int32Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x < y) {
      out[k++] = x;
      i++;
    } else if (y < x) {
      out[k++] = y;
      j++;
    } else {
      out[k++] = x;
      i++;
      j++;
    }
  }
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return k === out.length ? out : out.slice(0, k);
}

/** Union of sorted lists that may overlap. */
export function unionMany(lists: readonly Int32Array[]): Int32Array {
  if (lists.length === 0) return EMPTY_POSTINGS;
  if (lists.length === 1) return lists[0]!;
  if (lists.length <= 4) {
    // Few lists: linear merges beat a sort of the concatenation.
    let acc = union2(lists[0]!, lists[1]!);
    for (let i = 2; i < lists.length; i++) acc = union2(acc, lists[i]!);
    return acc;
  }
  let total = 0;
  for (const l of lists) total += l.length;
  const out = new Int32Array(total);
  let off = 0;
  for (const l of lists) {
    out.set(l, off);
    off += l.length;
  }
  out.sort();
  let k = 0;
  for (let i = 0; i < out.length; i++) {
    if (k === 0 || out[k - 1] !== out[i]) out[k++] = out[i]!;
  }
  return k === out.length ? out : out.slice(0, k);
}

/** A growable sorted list of ids (head postings for one label pair). */
export class PostingList {
  ids: Int32Array;
  n: number;

  constructor(first: number, second: number) {
    this.ids = new Int32Array(4);
    if (first < second) {
      this.ids[0] = first;
      this.ids[1] = second;
    } else {
      this.ids[0] = second;
      this.ids[1] = first;
    }
    this.n = 2;
  }

  add(id: number): void {
    if (this.n === this.ids.length) {
      const g = new Int32Array(this.n < 1024 ? this.n * 2 : Math.ceil(this.n * 1.25));
      g.set(this.ids);
      this.ids = g;
    }
    let i = this.n;
    if (i > 0 && this.ids[i - 1]! > id) {
      // Out-of-order id (a reused slot): insert in place.
      let lo = 0;
      let hi = this.n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.ids[mid]! < id) lo = mid + 1;
        else hi = mid;
      }
      this.ids.copyWithin(lo + 1, lo, this.n);
      i = lo;
    }
    this.ids[i] = id;
    this.n++;
  }

  /** Removes every id for which dead[id] is non-zero; returns the remaining count. */
  removeDead(dead: Uint8Array): number {
    let k = 0;
    for (let i = 0; i < this.n; i++) {
      const id = this.ids[i]!;
      if (dead[id] === 0) this.ids[k++] = id;
    }
    this.n = k;
    if (k < this.ids.length / 4 && this.ids.length > 8) this.ids = this.ids.slice(0, Math.max(4, k * 2));
    return k;
  }

  view(): Int32Array {
    return this.ids.subarray(0, this.n);
  }
}

/** Postings of one label value: a single id kept inline, or a list. */
export type Posting = number | PostingList;

export function postingView(p: Posting): Int32Array {
  if (typeof p === 'number') {
    const a = new Int32Array(1);
    a[0] = p;
    return a;
  }
  return p.view();
}

export function postingSize(p: Posting): number {
  return typeof p === 'number' ? 1 : p.n;
}
