/**
 * The head's chunk encoding: Gorilla-style delta-of-delta timestamps and XOR values, written
 * sample by sample into `Uint32Array` words (see bits.ts for bit order).
 *
 * Layout of one chunk's bit stream (the chunk's first timestamp and its sample count live in the
 * chunk's metadata, not in the stream):
 *   sample 0: value, 64 raw bits (high word first);
 *   sample k ≥ 1: timestamp delta-of-delta (dod, previous delta of sample 0 is 0):
 *       '0'                  dod = 0
 *       '10'   + 7 bits      dod in [-64, 63]
 *       '110'  + 14 bits     dod in [-8192, 8191]
 *       '1110' + 20 bits     dod in [-524288, 524287]
 *       '1111' + 48 bits     any other dod (|dod| < 2^47; timestamps are within ±2^43 ms)
 *     then the value XOR the previous value:
 *       '0'                  same 64 bits
 *       '10'  + sig bits     inside the previous window of meaningful bits
 *       '11'  + 5 bits leading zeros (≤ 31) + 6 bits length (64 written as 0) + the bits
 *
 * Values are compared and stored as raw bits: NaN payloads, the stale marker and -0 survive.
 *
 * Encoder state is kept in struct-of-arrays form (`XorState`) so that a head with millions of
 * series has no per-series object; the batch encoder uses a one-slot state.
 */
import { putBits, getBits } from './bits.ts';

/** Zero words readers may look at past the last bit of a chunk. */
export const SPARE_WORDS = 2;

/** Upper bound of bits one sample after the first can take (52 timestamp + 77 value). */
export const MAX_SAMPLE_BITS = 129;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** Encoder state per slot. Arrays are replaced on growth: read them through the instance. */
export class XorState {
  capacity: number;
  /** Bits used in the slot's open chunk. */
  bits: Uint32Array;
  /** Samples in the open chunk (0 = none). */
  n: Uint16Array;
  /** Last timestamp appended (ms). */
  t: Float64Array;
  /** Last timestamp delta (ms). */
  delta: Float64Array;
  /** Last value; `vw[2s]` is its low word and `vw[2s+1]` its high word (same buffer). */
  v: Float64Array;
  vw: Uint32Array;
  lead: Uint8Array;
  trail: Uint8Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.bits = new Uint32Array(capacity);
    this.n = new Uint16Array(capacity);
    this.t = new Float64Array(capacity);
    this.delta = new Float64Array(capacity);
    this.v = new Float64Array(capacity);
    this.vw = new Uint32Array(this.v.buffer);
    this.lead = new Uint8Array(capacity);
    this.trail = new Uint8Array(capacity);
  }

  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const g32 = (a: Uint32Array) => { const b = new Uint32Array(capacity); b.set(a); return b; };
    const g16 = (a: Uint16Array) => { const b = new Uint16Array(capacity); b.set(a); return b; };
    const g8 = (a: Uint8Array) => { const b = new Uint8Array(capacity); b.set(a); return b; };
    const gf = (a: Float64Array) => { const b = new Float64Array(capacity); b.set(a); return b; };
    this.bits = g32(this.bits);
    this.n = g16(this.n);
    this.t = gf(this.t);
    this.delta = gf(this.delta);
    this.v = gf(this.v);
    this.vw = new Uint32Array(this.v.buffer);
    this.lead = g8(this.lead);
    this.trail = g8(this.trail);
    this.capacity = capacity;
  }

  /** Bytes held per slot (for memory accounting). */
  static readonly BYTES_PER_SLOT = 4 + 2 + 8 + 8 + 8 + 1 + 1;
}

/**
 * Starts a chunk in zeroed words at `base` with its first sample. The chunk's timestamp origin is
 * `t` (the caller records it as the chunk's minT).
 */
export function xorFirst(st: XorState, s: number, w: Uint32Array, base: number, t: number, v: number): void {
  f64[0] = v;
  const lo = u32[0]!;
  const hi = u32[1]!;
  w[base] = hi;
  w[base + 1] = lo;
  st.bits[s] = 64;
  st.n[s] = 1;
  st.t[s] = t;
  st.delta[s] = 0;
  st.vw[2 * s] = lo;
  st.vw[2 * s + 1] = hi;
  st.lead[s] = 0xff;
  st.trail[s] = 0;
}

/**
 * Appends a sample (t greater than the slot's last timestamp) to the open chunk. The caller
 * guarantees `MAX_SAMPLE_BITS` free, zeroed bits after `st.bits[s]` plus one spare word.
 */
export function xorNext(st: XorState, s: number, w: Uint32Array, base: number, t: number, v: number): void {
  let p = st.bits[s]!;
  const delta = t - st.t[s]!;
  const dod = delta - st.delta[s]!;
  if (dod === 0) {
    p += 1;
  } else if (dod >= -64 && dod <= 63) {
    putBits(w, base, p, (0b10 << 7) | (dod & 0x7f), 9);
    p += 9;
  } else if (dod >= -8192 && dod <= 8191) {
    putBits(w, base, p, (0b110 << 14) | (dod & 0x3fff), 17);
    p += 17;
  } else if (dod >= -524288 && dod <= 524287) {
    putBits(w, base, p, (0b1110 << 20) | (dod & 0xfffff), 24);
    p += 24;
  } else {
    putBits(w, base, p, (0b1111 << 16) | (Math.floor(dod / 4294967296) & 0xffff), 20);
    putBits(w, base, p + 20, dod >>> 0, 32);
    p += 52;
  }
  st.t[s] = t;
  st.delta[s] = delta;

  f64[0] = v;
  const lo = u32[0]!;
  const hi = u32[1]!;
  const xlo = lo ^ st.vw[2 * s]!;
  const xhi = hi ^ st.vw[2 * s + 1]!;
  if ((xlo | xhi) === 0) {
    p += 1;
  } else {
    let lead = xhi !== 0 ? Math.clz32(xhi) : 32 + Math.clz32(xlo);
    const trail = xlo !== 0 ? 31 - Math.clz32(xlo & -xlo) : 63 - Math.clz32(xhi & -xhi);
    if (lead > 31) lead = 31;
    const pl = st.lead[s]!;
    const pt = st.trail[s]!;
    if (pl !== 0xff && lead >= pl && trail >= pt) {
      putBits(w, base, p, 0b10, 2);
      p = putShifted(w, base, p + 2, xhi, xlo, pt, 64 - pl - pt);
    } else {
      const sig = 64 - lead - trail;
      putBits(w, base, p, (0b11 << 11) | (lead << 6) | (sig & 63), 13);
      p = putShifted(w, base, p + 13, xhi, xlo, trail, sig);
      st.lead[s] = lead;
      st.trail[s] = trail;
    }
  }
  st.vw[2 * s] = lo;
  st.vw[2 * s + 1] = hi;
  st.bits[s] = p;
  st.n[s] = st.n[s]! + 1;
}

/** Writes the low `sig` bits of (hi:lo) >>> shift. */
function putShifted(w: Uint32Array, base: number, p: number, hi: number, lo: number, shift: number, sig: number): number {
  let rhi: number;
  let rlo: number;
  if (shift === 0) {
    rhi = hi;
    rlo = lo;
  } else if (shift < 32) {
    rlo = (lo >>> shift) | (hi << (32 - shift));
    rhi = hi >>> shift;
  } else {
    rlo = hi >>> (shift - 32);
    rhi = 0;
  }
  if (sig > 32) {
    putBits(w, base, p, rhi, sig - 32);
    putBits(w, base, p + sig - 32, rlo, 32);
  } else {
    putBits(w, base, p, rlo, sig);
  }
  return p + sig;
}

/**
 * Resumable decoder of one XOR chunk. `fill` writes up to `max` samples: timestamps into `outT`,
 * values as raw words into `outV` (a Uint32Array view of a Float64Array: low word at 2i).
 */
export class XorDecoder {
  private w: Uint32Array = EMPTY_WORDS;
  private base = 0;
  private p = 0;
  private left = 0;
  private first = true;
  private t = 0;
  private delta = 0;
  private vlo = 0;
  private vhi = 0;
  private lead = 0;
  private trail = 0;

  /** Positions the decoder at the start of a chunk of `n` samples whose first timestamp is `minT`. */
  reset(w: Uint32Array, base: number, n: number, minT: number): void {
    this.w = w;
    this.base = base;
    this.p = 0;
    this.left = n;
    this.first = true;
    this.t = minT;
    this.delta = 0;
    this.lead = 0;
    this.trail = 0;
  }

  remaining(): number {
    return this.left;
  }

  fill(outT: Float64Array, outV: Uint32Array, max: number): number {
    const w = this.w;
    const base = this.base;
    let p = this.p;
    let t = this.t;
    let delta = this.delta;
    let vlo = this.vlo;
    let vhi = this.vhi;
    let lead = this.lead;
    let trail = this.trail;
    let k = 0;
    const n = max < this.left ? max : this.left;
    if (n > 0 && this.first) {
      vhi = w[base]!;
      vlo = w[base + 1]!;
      p = 64;
      outT[0] = t;
      outV[0] = vlo;
      outV[1] = vhi;
      k = 1;
      this.first = false;
    }
    for (; k < n; k++) {
      // Timestamp.
      const i = base + (p >>> 5);
      const o = p & 31;
      let win = w[i]! << o;
      if (o !== 0) win |= w[i + 1]! >>> (32 - o);
      // `win` holds the next 32 bits of the stream.
      if (win >= 0) {
        p += 1;
      } else if ((win & 0x40000000) === 0) {
        delta += (win << 2) >> 25;
        p += 9;
      } else if ((win & 0x20000000) === 0) {
        delta += (win << 3) >> 18;
        p += 17;
      } else if ((win & 0x10000000) === 0) {
        delta += (win << 4) >> 12;
        p += 24;
      } else {
        const hi16 = (win << 4) >> 16;
        const lo32 = getBits(w, base, p + 20, 32);
        delta += hi16 * 4294967296 + lo32;
        p += 52;
      }
      t += delta;
      outT[k] = t;
      // Value.
      const j = base + (p >>> 5);
      const oo = p & 31;
      const a = w[j]!;
      const b = w[j + 1]!;
      const h0 = oo === 0 ? a | 0 : (a << oo) | (b >>> (32 - oo));
      if (h0 >= 0) {
        p += 1;
      } else {
        let sig: number;
        let q: number;
        if ((h0 & 0x40000000) === 0) {
          q = p + 2;
          sig = 64 - lead - trail;
        } else {
          const hdr = (h0 >>> 19) & 0x7ff;
          q = p + 13;
          lead = hdr >>> 6;
          sig = hdr & 63;
          if (sig === 0) sig = 64;
          trail = 64 - lead - sig;
        }
        const jj = base + (q >>> 5);
        const o2 = q & 31;
        const a2 = w[jj]!;
        const b2 = w[jj + 1]!;
        let h: number;
        let l: number;
        if (o2 === 0) {
          h = a2;
          l = b2;
        } else {
          const c2 = w[jj + 2]!;
          h = (a2 << o2) | (b2 >>> (32 - o2));
          l = (b2 << o2) | (c2 >>> (32 - o2));
        }
        let rhi: number;
        let rlo: number;
        if (sig <= 32) {
          rhi = 0;
          rlo = h >>> (32 - sig);
        } else if (sig === 64) {
          rhi = h;
          rlo = l;
        } else {
          rhi = h >>> (64 - sig);
          rlo = (h << (sig - 32)) | (l >>> (64 - sig));
        }
        p = q + sig;
        const s = trail;
        if (s === 0) {
          vhi ^= rhi;
          vlo ^= rlo;
        } else if (s < 32) {
          vhi ^= (rhi << s) | (rlo >>> (32 - s));
          vlo ^= rlo << s;
        } else {
          vhi ^= rlo << (s - 32);
        }
      }
      outV[2 * k] = vlo;
      outV[2 * k + 1] = vhi;
    }
    this.p = p;
    this.t = t;
    this.delta = delta;
    this.vlo = vlo;
    this.vhi = vhi;
    this.lead = lead;
    this.trail = trail;
    this.left -= n;
    return n;
  }
}

const EMPTY_WORDS = new Uint32Array(4);

/**
 * Encodes samples `ts[from..to)` (strictly increasing times) as one XOR chunk. Returns the words
 * (with one spare zero word) and the bit length. Used by tests and by the block codec's fallback.
 */
export function encodeXorChunk(ts: ArrayLike<number>, vs: Float64Array, from = 0, to = ts.length): { words: Uint32Array; bits: number } {
  const st = new XorState(1);
  const n = to - from;
  let words = new Uint32Array(Math.max(8, ((n * MAX_SAMPLE_BITS) >>> 5) + 8));
  if (n === 0) return { words: new Uint32Array(1), bits: 0 };
  xorFirst(st, 0, words, 0, ts[from]!, vs[from]!);
  for (let i = from + 1; i < to; i++) xorNext(st, 0, words, 0, ts[i]!, vs[i]!);
  const bits = st.bits[0]!;
  words = words.slice(0, ((bits + 31) >>> 5) + SPARE_WORDS);
  return { words, bits };
}

/** Decodes a whole XOR chunk into fresh arrays (tests, compaction). */
export function decodeXorChunk(w: Uint32Array, base: number, n: number, minT: number): { ts: Float64Array; vs: Float64Array } {
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  const d = new XorDecoder();
  d.reset(w, base, n, minT);
  d.fill(ts, new Uint32Array(vs.buffer), n);
  return { ts, vs };
}
