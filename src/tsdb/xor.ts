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
 * Encoder state lives in `SeriesState`, 64 bytes per series in one buffer (no per-series
 * object); the batch encoder uses a one-slot state.
 */
import { growSampleBuffer, type SampleBuffer } from '../storage/index.ts';
import { getBits } from './bits.ts';
import { words32 } from './codec.ts';

/** Zero words readers may look at past the last bit of a chunk. */
export const SPARE_WORDS = 2;

/** Upper bound of bits one sample after the first can take (52 timestamp + 77 value). */
export const MAX_SAMPLE_BITS = 129;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/**
 * Per-slot series and encoder state, interleaved: 64 bytes (one cache line) per slot in one
 * buffer, so that appending a sample touches one line of state. Read through the views:
 * `f[slot * 8 + F_*]` (float64 fields) and `u[slot * 16 + U_*]` / `i[slot * 16 + U_*]` (32-bit
 * fields). Views are replaced on growth: read them through the instance.
 */
export class SeriesState {
  capacity: number;
  f: Float64Array;
  u: Uint32Array;
  i: Int32Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    const buf = new ArrayBuffer(capacity * 64);
    this.f = new Float64Array(buf);
    this.u = new Uint32Array(buf);
    this.i = new Int32Array(buf);
  }

  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const buf = new ArrayBuffer(capacity * 64);
    new Uint8Array(buf).set(new Uint8Array(this.f.buffer));
    this.f = new Float64Array(buf);
    this.u = new Uint32Array(buf);
    this.i = new Int32Array(buf);
    this.capacity = capacity;
  }

  static readonly BYTES_PER_SLOT = 64;
}

// Float64 fields (index slot * 8 + F_*). Hot functions use the numbers with the name in a
// comment: module constants cost a context load per use there.
/** Last timestamp appended (ms; -Infinity before the first). */
export const F_T = 0;
/** Last timestamp delta (ms). */
export const F_DELTA = 1;
/** Last value (its low/high words are U_VLO/U_VHI). */
export const F_V = 2;
/** First timestamp of the open chunk. */
export const F_MINT = 3;
// 32-bit fields (index slot * 16 + U_*).
export const U_VLO = 4;
export const U_VHI = 5;
/** Bits used in the open chunk. */
export const U_BITS = 8;
/** Location of the open chunk (int32, -1 none). */
export const U_LOC = 9;
/** Samples in the open chunk (low 16 bits) and its capacity in words (high 16 bits). */
export const U_NCAP = 10;
/** Leading (low 8 bits, 0xff = none yet) and trailing (bits 8..15) zeros of the last XOR window. */
export const U_LT = 11;
/** First and last sealed chunk (int32 indexes into the chunk pool, -1 none). */
export const U_FIRST = 12;
export const U_LAST = 13;
/** Appender holding a pending sample for the series, and that sample's index in it. */
export const U_POWNER = 14;
export const U_PIDX = 15;

/**
 * Starts a chunk in zeroed words at `base` with its first sample (ts[k], vs[k]). The chunk's
 * timestamp origin is that sample's time (recorded in F_MINT). The caller sets the open chunk's location and capacity.
 */
export function xorFirst(st: SeriesState, s: number, w: Uint32Array, base: number, ts: Float64Array, vs32: Uint32Array, k: number): void {
  const t = ts[k]!;
  const lo = vs32[2 * k]!;
  const hi = vs32[2 * k + 1]!;
  const f = st.f;
  const u = st.u;
  const fo = s * 8;
  const uo = s * 16;
  f[fo + 0 /* F_T */] = t;
  f[fo + 1 /* F_DELTA */] = 0;
  u[uo + 4 /* U_VLO */] = lo;
  u[uo + 5 /* U_VHI */] = hi;
  f[fo + 3 /* F_MINT */] = t;
  w[base] = hi;
  w[base + 1] = lo;
  u[uo + 8 /* U_BITS */] = 64;
  u[uo + 10 /* U_NCAP */] = (u[uo + 10 /* U_NCAP */]! & 0xffff0000) | 1;
  u[uo + 11 /* U_LT */] = 0xff;
}

/**
 * Appends sample (ts[k], vs[k]) (time greater than the slot's last timestamp) to the open chunk. The caller
 * guarantees `MAX_SAMPLE_BITS` free, zeroed bits after the used ones plus two spare words.
 */
export function xorNext(st: SeriesState, s: number, w: Uint32Array, base: number, ts: Float64Array, vs32: Uint32Array, k: number): void {
  // Samples are passed as (array, index): doubles passed as arguments would be boxed per call;
  // values as their two 32-bit words (vs32[2k] low, vs32[2k+1] high).
  const t = ts[k]!;
  const f = st.f;
  const u = st.u;
  const fo = s * 8;
  const uo = s * 16;
  let p = u[uo + 8 /* U_BITS */]!;
  const lastT = f[fo + 0 /* F_T */]!;
  const delta = t - lastT;
  const dod = delta - f[fo + 1 /* F_DELTA */]!;
  if (dod === 0) {
    p += 1;
  } else if (dod >= -64 && dod <= 63) {
    put(w, base, p, (0b10 << 7) | (dod & 0x7f), 9);
    p += 9;
  } else if (dod >= -8192 && dod <= 8191) {
    put(w, base, p, (0b110 << 14) | (dod & 0x3fff), 17);
    p += 17;
  } else if (dod >= -524288 && dod <= 524287) {
    put(w, base, p, (0b1110 << 20) | (dod & 0xfffff), 24);
    p += 24;
  } else {
    put(w, base, p, (0b1111 << 16) | (Math.floor(dod / 4294967296) & 0xffff), 20);
    put(w, base, p + 20, dod >>> 0, 32);
    p += 52;
  }
  f[fo + 0 /* F_T */] = t;
  f[fo + 1 /* F_DELTA */] = delta;

  const lo = vs32[2 * k]!;
  const hi = vs32[2 * k + 1]!;
  const xlo = lo ^ u[uo + 4 /* U_VLO */]!;
  const xhi = hi ^ u[uo + 5 /* U_VHI */]!;
  u[uo + 4 /* U_VLO */] = lo;
  u[uo + 5 /* U_VHI */] = hi;
  if ((xlo | xhi) === 0) {
    p += 1;
  } else {
    let lead = xhi !== 0 ? Math.clz32(xhi) : 32 + Math.clz32(xlo);
    const trail = xlo !== 0 ? 31 - Math.clz32(xlo & -xlo) : 63 - Math.clz32(xhi & -xhi);
    if (lead > 31) lead = 31;
    const lt = u[uo + 11 /* U_LT */]!;
    const pl = lt & 0xff;
    const pt = lt >>> 8;
    let shift: number;
    let sig: number;
    let hdr: number;
    let hdrBits: number;
    if (pl !== 0xff && lead >= pl && trail >= pt) {
      shift = pt;
      sig = 64 - pl - pt;
      hdr = 0b10;
      hdrBits = 2;
    } else {
      shift = trail;
      sig = 64 - lead - trail;
      hdr = (0b11 << 11) | (lead << 6) | (sig & 63);
      hdrBits = 13;
      u[uo + 11 /* U_LT */] = lead | (trail << 8);
    }
    // The meaningful bits, right-aligned: rhi holds the bits above the low 32.
    let rhi: number;
    let rlo: number;
    if (shift === 0) {
      rhi = xhi;
      rlo = xlo;
    } else if (shift < 32) {
      rlo = (xlo >>> shift) | (xhi << (32 - shift));
      rhi = xhi >>> shift;
    } else {
      rlo = xhi >>> (shift - 32);
      rhi = 0;
    }
    if (sig <= 32) {
      if (hdrBits + sig <= 32) {
        put(w, base, p, sig === 32 ? rlo : (hdr << sig) | rlo, hdrBits + sig);
      } else {
        put(w, base, p, hdr, hdrBits);
        put(w, base, p + hdrBits, rlo, sig);
      }
    } else {
      const hiBits = sig - 32;
      if (hdrBits + hiBits <= 32) {
        put(w, base, p, (hdr << hiBits) | rhi, hdrBits + hiBits);
      } else {
        put(w, base, p, hdr, hdrBits);
        put(w, base, p + hdrBits, rhi, hiBits);
      }
      put(w, base, p + hdrBits + hiBits, rlo, 32);
    }
    p += hdrBits + sig;
  }
  u[uo + 8 /* U_BITS */] = p;
  u[uo + 10 /* U_NCAP */] = u[uo + 10 /* U_NCAP */]! + 1;
}

/** Writes the low n bits (1..32) of x at bit p; bits of x above n must be zero unless n = 32. */
function put(w: Uint32Array, base: number, p: number, x: number, n: number): void {
  const i = base + (p >>> 5);
  const free = 32 - (p & 31);
  if (n <= free) {
    w[i] = w[i]! | (x << (free - n));
  } else {
    const over = n - free;
    w[i] = w[i]! | (x >>> over);
    w[i + 1] = w[i + 1]! | (x << (32 - over));
  }
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

  /** Decodes up to `max` further samples into outT / outV (value words, low first) from index `off` on. */
  fill(outT: Float64Array, outV: Uint32Array, max: number, off = 0): number {
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
      outT[off] = t;
      outV[2 * off] = vlo;
      outV[2 * off + 1] = vhi;
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
      outT[off + k] = t;
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
      outV[2 * (off + k)] = vlo;
      outV[2 * (off + k) + 1] = vhi;
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

  /**
   * Bulk read of a freshly reset decoder: appends the chunk's samples with mint ≤ t ≤ maxt to
   * buf (the whole chunk is decoded: XOR streams are sequential).
   */
  readInto(buf: SampleBuffer, mint: number, maxt: number): void {
    const n = this.left;
    if (n === 0 || !this.first) return;
    const off = buf.n;
    growSampleBuffer(buf, off + n);
    const ts = buf.ts;
    const vs = buf.vs;
    this.fill(ts, words32(vs), n, off);
    let lo = 0;
    while (lo < n && ts[off + lo]! < mint) lo++;
    let hi = n;
    while (hi > lo && ts[off + hi - 1]! > maxt) hi--;
    if (lo > 0 && hi > lo) {
      ts.copyWithin(off, off + lo, off + hi);
      vs.copyWithin(off, off + lo, off + hi);
    }
    buf.n = off + (hi > lo ? hi - lo : 0);
  }
}

const EMPTY_WORDS = new Uint32Array(4);

/**
 * Encodes samples `ts[from..to)` (strictly increasing times) as one XOR chunk. Returns the words
 * (with one spare zero word) and the bit length. Used by tests and by the block codec's fallback.
 */
export function encodeXorChunk(ts: ArrayLike<number>, vs: Float64Array, from = 0, to = ts.length): { words: Uint32Array; bits: number } {
  const st = new SeriesState(1);
  const n = to - from;
  let words = new Uint32Array(Math.max(8, ((n * MAX_SAMPLE_BITS) >>> 5) + 8));
  if (n === 0) return { words: new Uint32Array(1), bits: 0 };
  const tsa = ts instanceof Float64Array ? ts : Float64Array.from(ts);
  const vs32 = new Uint32Array(vs.buffer, vs.byteOffset, vs.length * 2);
  xorFirst(st, 0, words, 0, tsa, vs32, from);
  for (let i = from + 1; i < to; i++) xorNext(st, 0, words, 0, tsa, vs32, i);
  const bits = st.u[U_BITS]!;
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
