/**
 * The chunk encoding of persisted blocks. Blocks are written in bulk, so the encoder can look at
 * a whole run of samples and pick the cheapest representation:
 *
 *   timestamps: a single sample; a constant interval (0 bits per sample); or delta-of-deltas
 *     packed at a fixed bit width with exceptions for outliers (missed scrapes, restarts);
 *   values: one repeated value (0 bits per sample); decimals — every value is m / 10^e for
 *     integers m below 2^51 — whose integers (raw, deltas or delta-of-deltas, whichever is
 *     smallest) are packed at a fixed width with exceptions; or, when no decimal form exists
 *     (NaN, ±Inf, the stale marker, -0, arbitrary floats), Gorilla XOR.
 *
 * A decimal value is reproduced by the division `m / 10^e`, which the encoder checks gives
 * back the exact bits of every value before choosing that form.
 *
 * Chunk layout (a bit stream over 32-bit words, bits.ts order):
 *   2 bits tKind, 2 bits vKind, 16 bits sample count n (1..65535);
 *   tKind 0 (n = 1): nothing; 1: var(delta); 2: var(first delta), packed(n-2 dods);
 *   vKind 0: 64 raw bits; 1: 4 bits e, 2 bits order, svar(m0), [order 2 and n > 1: svar(d1)],
 *     packed(n-1-max(order-1,0) residuals); 2: XOR stream (value part of xor.ts' layout).
 *   packed(c): 1 bit mode, [mode 0: svar(base)], 6 bits width w (0..32), var(exception count),
 *     exceptions as (var(index delta), svar(value - base)), then c × w bits per value: mode 0
 *     x - base, mode 1 zig-zag(x) (base 0); 0 for exceptions.
 * The first timestamp is the chunk's minT, kept in the block index.
 */
import { growSampleBuffer, type SampleBuffer } from '../storage/index.ts';
import { BitWriter, bitLength, getBits, putBits, sameBits, zigzag, unzigzag } from './bits.ts';

export const T_SINGLE = 0;
export const T_CONST = 1;
export const T_PACKED = 2;
export const V_CONST = 0;
export const V_DECIMAL = 1;
export const V_XOR = 2;

/** Largest number of samples in one block chunk. */
export const MAX_BLOCK_CHUNK_SAMPLES = 480;

const POW10: number[] = [];
for (let e = 0; e <= 15; e++) POW10.push(10 ** e);
const MAX_MANTISSA = 2 ** 51;

/** Scratch for reading a double's two 32-bit words. */
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** Smallest e with round(v·10^e)/10^e === v (same bits), or -1. */
function decimalExponent(v: number): number {
  if (!Number.isFinite(v)) return -1;
  if (v === 0) return Object.is(v, -0) ? -1 : 0;
  for (let e = 0; e < POW10.length; e++) {
    const p = POW10[e]!;
    const m = Math.round(v * p);
    if (m > MAX_MANTISSA || m < -MAX_MANTISSA) return -1;
    if (m / p === v) return e;
  }
  return -1;
}

/** Scratch arrays reused by the encoder (single-threaded use). */
class Scratch {
  a = new Float64Array(MAX_BLOCK_CHUNK_SAMPLES);
  b = new Float64Array(MAX_BLOCK_CHUNK_SAMPLES);
  ensure(n: number): void {
    if (this.a.length < n) {
      this.a = new Float64Array(n);
      this.b = new Float64Array(n);
    }
  }
}
const scratch = new Scratch();

interface PackPlan {
  /** 0: values stored as x - base; 1: values stored zig-zag encoded (base 0). */
  mode: number;
  base: number;
  width: number;
  /** Estimated bits. */
  cost: number;
}

const histFor = new Int32Array(64);
const histZig = new Int32Array(64);
const excIdx = new Int32Array(MAX_BLOCK_CHUNK_SAMPLES * 2);

function zz(x: number): number {
  return x >= -1073741824 && x < 1073741824 ? ((x << 1) ^ (x >> 31)) >>> 0 : zigzag(x);
}

/** Chooses mode, base and width for packing xs[0..c) in O(c): histograms of bit lengths. */
function planPack(xs: Float64Array, c: number): PackPlan {
  if (c === 0) return { mode: 0, base: 0, width: 0, cost: 0 };
  let min = xs[0]!;
  for (let i = 1; i < c; i++) if (xs[i]! < min) min = xs[i]!;
  histFor.fill(0);
  histZig.fill(0);
  for (let i = 0; i < c; i++) {
    const x = xs[i]!;
    histFor[bitLength(x - min)]!++;
    histZig[bitLength(zz(x))]!++;
  }
  const best: PackPlan = { mode: 0, base: min, width: 0, cost: Infinity };
  for (let mode = 0; mode < 2; mode++) {
    const h = mode === 0 ? histFor : histZig;
    const overhead = 1 + (mode === 0 ? 6 + bitLength(zigzag(min)) : 0) + 6 + 12;
    // Walking widths down from 53: exceptions are the values longer than the width.
    let excBits = 0;
    let top = 53;
    while (top > 0 && h[top] === 0) top--;
    for (let w = top; w >= 0; w--) {
      if (w <= 32) {
        const cost = overhead + c * w + excBits;
        if (cost <= best.cost) {
          best.mode = mode;
          best.base = mode === 0 ? min : 0;
          best.width = w;
          best.cost = cost;
        }
      }
      const k = h[w]!;
      if (k > 0) excBits += k * (w + 20);
    }
  }
  return best;
}

function writePacked(bw: BitWriter, xs: Float64Array, c: number, plan: PackPlan): void {
  const { mode, base, width } = plan;
  const limit = 2 ** width;
  bw.write(mode, 1);
  if (mode === 0) bw.writeSignedVar(base);
  bw.write(width, 6);
  // One pass: residuals into place (xs is scratch owned by the encoder), exceptions noted.
  let exc = 0;
  for (let i = 0; i < c; i++) {
    const x = xs[i]!;
    const r = mode === 0 ? x - base : zz(x);
    if (r >= limit) excIdx[exc++] = i;
  }
  bw.writeVar(exc);
  let prev = 0;
  for (let k = 0; k < exc; k++) {
    const i = excIdx[k]!;
    bw.writeVar(i - prev);
    bw.writeSignedVar(xs[i]! - base);
    prev = i;
  }
  if (width === 0) return;
  bw.reserve(c * width);
  const w = bw.words;
  let p = bw.pos;
  let e = 0;
  for (let i = 0; i < c; i++) {
    let r: number;
    if (e < exc && excIdx[e] === i) {
      r = 0;
      e++;
    } else r = mode === 0 ? xs[i]! - base : zz(xs[i]!);
    putBits(w, 0, p, r, width);
    p += width;
  }
  bw.pos = p;
}

/** Cost in bits of the XOR value stream of vs[from..to) (exact). */
function xorValueBits(vs: Float64Array, from: number, to: number): number {
  let bits = 64;
  f64[0] = vs[from]!;
  let plo = u32[0]!;
  let phi = u32[1]!;
  let pl = 0xff;
  let pt = 0;
  for (let i = from + 1; i < to; i++) {
    f64[0] = vs[i]!;
    const lo = u32[0]!;
    const hi = u32[1]!;
    const xlo = lo ^ plo;
    const xhi = hi ^ phi;
    plo = lo;
    phi = hi;
    if ((xlo | xhi) === 0) {
      bits += 1;
      continue;
    }
    let lead = xhi !== 0 ? Math.clz32(xhi) : 32 + Math.clz32(xlo);
    const trail = xlo !== 0 ? 31 - Math.clz32(xlo & -xlo) : 63 - Math.clz32(xhi & -xhi);
    if (lead > 31) lead = 31;
    if (pl !== 0xff && lead >= pl && trail >= pt) bits += 2 + 64 - pl - pt;
    else {
      bits += 13 + 64 - lead - trail;
      pl = lead;
      pt = trail;
    }
  }
  return bits;
}

function writeXorValues(bw: BitWriter, vs: Float64Array, from: number, to: number): void {
  f64[0] = vs[from]!;
  let plo = u32[0]!;
  let phi = u32[1]!;
  bw.write(phi, 32);
  bw.write(plo, 32);
  let pl = 0xff;
  let pt = 0;
  for (let i = from + 1; i < to; i++) {
    f64[0] = vs[i]!;
    const lo = u32[0]!;
    const hi = u32[1]!;
    const xlo = lo ^ plo;
    const xhi = hi ^ phi;
    plo = lo;
    phi = hi;
    if ((xlo | xhi) === 0) {
      bw.write(0, 1);
      continue;
    }
    let lead = xhi !== 0 ? Math.clz32(xhi) : 32 + Math.clz32(xlo);
    const trail = xlo !== 0 ? 31 - Math.clz32(xlo & -xlo) : 63 - Math.clz32(xhi & -xhi);
    if (lead > 31) lead = 31;
    let shift: number;
    let sig: number;
    if (pl !== 0xff && lead >= pl && trail >= pt) {
      bw.write(0b10, 2);
      shift = pt;
      sig = 64 - pl - pt;
    } else {
      sig = 64 - lead - trail;
      bw.write((0b11 << 11) | (lead << 6) | (sig & 63), 13);
      shift = trail;
      pl = lead;
      pt = trail;
    }
    let rhi: number;
    let rlo: number;
    if (shift === 0) {
      rhi = xhi >>> 0;
      rlo = xlo >>> 0;
    } else if (shift < 32) {
      rlo = ((xlo >>> shift) | (xhi << (32 - shift))) >>> 0;
      rhi = xhi >>> shift;
    } else {
      rlo = xhi >>> (shift - 32);
      rhi = 0;
    }
    if (sig > 32) {
      bw.write(rhi, sig - 32);
      bw.write(rlo, 32);
    } else bw.write(rlo, sig);
  }
}

/**
 * Encodes samples [from, to) (strictly increasing times, to - from ≤ 65535) into `bw` (appended
 * at its current position, which must be word-aligned). Returns the number of words written.
 */
export function encodeBlockChunk(bw: BitWriter, ts: ArrayLike<number>, vs: Float64Array, from: number, to: number): number {
  const n = to - from;
  if (n <= 0 || n > 65535) throw new RangeError(`chunk of ${n} samples`);
  if ((bw.pos & 31) !== 0) throw new Error('encodeBlockChunk: writer not word-aligned');
  const start = bw.pos;
  scratch.ensure(n);
  const a = scratch.a;

  // Timestamps.
  let tKind = T_SINGLE;
  let tPlan: PackPlan | undefined;
  let firstDelta = 0;
  if (n > 1) {
    firstDelta = ts[from + 1]! - ts[from]!;
    let constant = true;
    for (let i = from + 2; i < to; i++) {
      if (ts[i]! - ts[i - 1]! !== firstDelta) {
        constant = false;
        break;
      }
    }
    if (constant) tKind = T_CONST;
    else {
      tKind = T_PACKED;
      for (let i = from + 2; i < to; i++) a[i - from - 2] = ts[i]! - ts[i - 1]! - (ts[i - 1]! - ts[i - 2]!);
      tPlan = planPack(a, n - 2);
    }
  }

  // Values.
  let vKind = V_CONST;
  for (let i = from + 1; i < to; i++) {
    if (!sameBits(vs[i]!, vs[from]!)) {
      vKind = V_XOR;
      break;
    }
  }
  let exp = 0;
  let order = 0;
  let vPlan: PackPlan | undefined;
  const m = scratch.b;
  if (vKind !== V_CONST) {
    exp = 0;
    for (let i = from; i < to; i++) {
      const v = vs[i]!;
      // Most values share the exponent found so far: check it before searching.
      const p = POW10[exp]!;
      const m = Math.round(v * p);
      if (m / p === v && m <= MAX_MANTISSA && m >= -MAX_MANTISSA && !(v === 0 && 1 / v < 0)) continue;
      const e = decimalExponent(v);
      if (e < 0) {
        exp = -1;
        break;
      }
      if (e > exp) exp = e;
    }
    if (exp >= 0) {
      const p = POW10[exp]!;
      let ok = true;
      for (let i = 0; i < n; i++) {
        const mi = Math.round(vs[from + i]! * p);
        if (mi / p !== vs[from + i] || mi > MAX_MANTISSA || mi < -MAX_MANTISSA) {
          ok = false;
          break;
        }
        m[i] = mi;
      }
      if (ok) {
        // Try the orders (deltas first: counters); residuals go to `a` (timestamps are planned).
        let bestCost = Infinity;
        for (const o of ORDERS) {
          const c = residuals(m, n, o, a);
          const plan = planPack(a, c);
          const cost = plan.cost + (o === 2 ? 60 : 0);
          if (cost < bestCost) {
            bestCost = cost;
            order = o;
            vPlan = plan;
          }
          // Nothing packs below zero bits per value.
          if (plan.width === 0 && cost < 200) break;
        }
        // XOR takes at least one bit per value: only worth costing when decimals take more.
        if (bestCost + 60 < n || bestCost + 60 < xorValueBits(vs, from, to)) vKind = V_DECIMAL;
      }
    }
  }

  bw.write(tKind, 2);
  bw.write(vKind, 2);
  bw.write(n, 16);
  if (tKind === T_CONST) bw.writeVar(firstDelta);
  else if (tKind === T_PACKED) {
    bw.writeVar(firstDelta);
    for (let i = from + 2; i < to; i++) a[i - from - 2] = ts[i]! - ts[i - 1]! - (ts[i - 1]! - ts[i - 2]!);
    writePacked(bw, a, n - 2, tPlan!);
  }
  if (vKind === V_CONST) {
    f64[0] = vs[from]!;
    bw.write(u32[1]!, 32);
    bw.write(u32[0]!, 32);
  } else if (vKind === V_DECIMAL) {
    bw.write(exp, 4);
    bw.write(order, 2);
    bw.writeSignedVar(m[0]!);
    if (order === 2 && n > 1) bw.writeSignedVar(m[1]! - m[0]!);
    const c = residuals(m, n, order, a);
    writePacked(bw, a, c, vPlan!);
  } else {
    writeXorValues(bw, vs, from, to);
  }
  // Pad to a word boundary.
  const used = bw.pos - start;
  const pad = (32 - (used & 31)) & 31;
  if (pad) bw.write(0, pad);
  return (bw.pos - start) >>> 5;
}

const ORDERS = [1, 2, 0] as const;

/** Residuals of mantissas for an order: 0 raw m[1..], 1 deltas, 2 delta-of-deltas. */
function residuals(m: Float64Array, n: number, order: number, out: Float64Array): number {
  if (order === 0) {
    for (let i = 1; i < n; i++) out[i - 1] = m[i]!;
    return n - 1;
  }
  if (order === 1) {
    for (let i = 1; i < n; i++) out[i - 1] = m[i]! - m[i - 1]!;
    return n - 1;
  }
  for (let i = 2; i < n; i++) out[i - 2] = m[i]! - m[i - 1]! - (m[i - 1]! - m[i - 2]!);
  return n < 2 ? 0 : n - 2;
}

/** A packed stream being read: random access by index, exceptions patched in order. */
class PackedReader {
  start = 0;
  mode = 0;
  base = 0;
  width = 0;
  excIdx: Int32Array = EMPTY_I32;
  excVal: Float64Array = EMPTY_F64;
  excCount = 0;
  nextExc = 0;
  /** Largest |exception value| (bounds the exactness of sumPacked). */
  excMaxAbs = 0;

  /** Reads the stream header at bit `pos`; returns the bit position after the packed values. */
  open(w: Uint32Array, base: number, pos: number, count: number): number {
    cursor = pos;
    this.mode = getBits(w, base, cursor, 1);
    cursor += 1;
    this.base = this.mode === 0 ? unzigzag(readVar(w, base)) : 0;
    this.width = getBits(w, base, cursor, 6);
    cursor += 6;
    const exc = readVar(w, base);
    this.excCount = exc;
    this.nextExc = 0;
    this.excMaxAbs = 0;
    if (exc > 0) {
      if (this.excIdx.length < exc) {
        this.excIdx = new Int32Array(exc);
        this.excVal = new Float64Array(exc);
      }
      let idx = 0;
      for (let i = 0; i < exc; i++) {
        idx += readVar(w, base);
        this.excIdx[i] = idx;
        const v = this.base + unzigzag(readVar(w, base));
        this.excVal[i] = v;
        if (Math.abs(v) > this.excMaxAbs) this.excMaxAbs = Math.abs(v);
      }
    }
    this.start = cursor;
    return cursor + count * this.width;
  }

  /** Writes the values at indexes [i0, i0 + k) into out[o0..]; indexes are read in increasing order. */
  unpack(w: Uint32Array, wbase: number, i0: number, k: number, out: Float64Array, o0: number): void {
    const b = this.base;
    const wd = this.width;
    if (wd === 0) {
      for (let j = 0; j < k; j++) out[o0 + j] = b;
    } else {
      let pos = this.start + i0 * wd;
      const sh = 32 - wd;
      if (this.mode === 0) {
        for (let j = 0; j < k; j++) {
          const i = wbase + (pos >>> 5);
          const o = pos & 31;
          let x = w[i]! << o;
          if (o > sh) x |= w[i + 1]! >>> (32 - o);
          out[o0 + j] = b + (x >>> sh);
          pos += wd;
        }
      } else {
        for (let j = 0; j < k; j++) {
          const i = wbase + (pos >>> 5);
          const o = pos & 31;
          let x = w[i]! << o;
          if (o > sh) x |= w[i + 1]! >>> (32 - o);
          const z = x >>> sh;
          // Width ≤ 32: z < 2^32, so the zig-zag is undone exactly in 32-bit integers.
          out[o0 + j] = (z >>> 1) ^ -(z & 1);
          pos += wd;
        }
      }
    }
    const end = i0 + k;
    while (this.nextExc < this.excCount) {
      const idx = this.excIdx[this.nextExc]!;
      if (idx >= end) break;
      if (idx >= i0) out[o0 + idx - i0] = this.excVal[this.nextExc]!;
      this.nextExc++;
    }
  }
}

const EMPTY_I32 = new Int32Array(0);
const EMPTY_F64 = new Float64Array(0);

/** Below this magnitude, sums of integers held in doubles are exact whatever the order. */
const EXACT_SUM = 2 ** 51;

/** Whether `sumPacked` over k values of `pr` is exact: every partial sum stays below 2^51. */
function sumIsExact(pr: PackedReader, k: number): boolean {
  return Math.abs(pr.base) * k < EXACT_SUM && pr.excMaxAbs * pr.excCount < EXACT_SUM;
}

/**
 * Sum of the packed values at indexes [i0, i0 + k) (exceptions patched; indexes are read in
 * increasing order, as with unpack): O(1) plus the exceptions for width 0. Summed in another
 * order than one by one, so used only where every partial sum stays exact (`sumIsExact`).
 * The bit extraction repeats `PackedReader.unpack`'s: both are inner loops of bulk reads and
 * are kept as plain loops.
 */
function sumPacked(pr: PackedReader, w: Uint32Array, wbase: number, i0: number, k: number): number {
  const b = pr.base;
  const wd = pr.width;
  let sum = 0;
  if (wd === 0) {
    sum = b * k;
  } else {
    let pos = pr.start + i0 * wd;
    const sh = 32 - wd;
    if (pr.mode === 0) {
      let acc = 0;
      for (let j = 0; j < k; j++) {
        const i = wbase + (pos >>> 5);
        const o = pos & 31;
        let x = w[i]! << o;
        if (o > sh) x |= w[i + 1]! >>> (32 - o);
        acc += x >>> sh;
        pos += wd;
      }
      sum = b * k + acc;
    } else {
      for (let j = 0; j < k; j++) {
        const i = wbase + (pos >>> 5);
        const o = pos & 31;
        let x = w[i]! << o;
        if (o > sh) x |= w[i + 1]! >>> (32 - o);
        const z = x >>> sh;
        sum += (z >>> 1) ^ -(z & 1);
        pos += wd;
      }
    }
  }
  // Exceptions are stored as 0 in the packed bits (base in mode 0): replace that contribution.
  const end = i0 + k;
  const zero = pr.mode === 0 ? b : 0;
  while (pr.nextExc < pr.excCount) {
    const idx = pr.excIdx[pr.nextExc]!;
    if (idx >= end) break;
    if (idx >= i0) sum += pr.excVal[pr.nextExc]! - zero;
    pr.nextExc++;
  }
  return sum;
}

/** Bit cursor of readVar (decoding is single-threaded and never re-entrant). */
let cursor = 0;

function readVar(w: Uint32Array, base: number): number {
  const n = getBits(w, base, cursor, 6);
  cursor += 6;
  if (n === 0) return 0;
  let x: number;
  if (n <= 32) {
    x = getBits(w, base, cursor, n);
  } else {
    x = getBits(w, base, cursor, n - 32) * 4294967296 + getBits(w, base, cursor + n - 32, 32);
  }
  cursor += n;
  return x;
}

/** Unpacked residuals of the batch being decoded (decoding is synchronous: one shared buffer). */
let tmpResiduals = new Float64Array(128);
/** Values decoded only to be skipped. */
let skipV32 = new Uint32Array(256);

let lastVs: Float64Array | undefined;
let lastVs32: Uint32Array = new Uint32Array(0);
/** The 32-bit word view of a value array (cached for the last array seen: bulk reads reuse one). */
export function words32(vs: Float64Array): Uint32Array {
  if (vs !== lastVs) {
    lastVs = vs;
    lastVs32 = new Uint32Array(vs.buffer, vs.byteOffset, vs.length * 2);
  }
  return lastVs32;
}

/**
 * Resumable decoder of one block chunk. The words must extend at least two zero words past the
 * chunk (readers look ahead).
 */
export class BlockChunkDecoder {
  private w: Uint32Array = new Uint32Array(4);
  private base = 0;
  n = 0;
  private i = 0;
  private tKind = 0;
  private vKind = 0;
  private t = 0;
  private delta = 0;
  private readonly tPacked = new PackedReader();
  private readonly vPacked = new PackedReader();
  // Decimal state.
  private p = 1;
  private order = 0;
  private m = 0;
  private d = 0;
  // Constant / XOR state.
  private vlo = 0;
  private vhi = 0;
  private xp = 0;
  private lead = 0;
  private trail = 0;

  reset(w: Uint32Array, base: number, minT: number): void {
    this.w = w;
    this.base = base;
    const hdr = getBits(w, base, 0, 20);
    this.tKind = hdr >>> 18;
    this.vKind = (hdr >>> 16) & 3;
    this.n = hdr & 0xffff;
    this.i = 0;
    this.t = minT;
    cursor = 20;
    if (this.tKind === T_CONST) this.delta = readVar(w, base);
    else if (this.tKind === T_PACKED) {
      this.delta = readVar(w, base);
      cursor = this.tPacked.open(w, base, cursor, this.n - 2);
    }
    if (this.vKind === V_CONST || this.vKind === V_XOR) {
      this.vhi = getBits(w, base, cursor, 32);
      this.vlo = getBits(w, base, cursor + 32, 32);
      this.xp = cursor + 64;
      this.lead = 0;
      this.trail = 0;
    } else {
      const e = getBits(w, base, cursor, 4);
      this.order = getBits(w, base, cursor + 4, 2);
      cursor += 6;
      this.p = POW10[e]!;
      this.m = unzigzag(readVar(w, base));
      this.d = this.order === 2 && this.n > 1 ? unzigzag(readVar(w, base)) : 0;
      const c = this.order === 2 ? Math.max(0, this.n - 2) : this.n - 1;
      this.vPacked.open(w, base, cursor, c);
    }
  }

  remaining(): number {
    return this.n - this.i;
  }

  /**
   * Writes up to `max` samples at index `off` of the outputs; values as raw words into outV32 or
   * as numbers into outV (views of the same buffer).
   */
  fill(outT: Float64Array, outV: Float64Array, outV32: Uint32Array, max: number, off = 0): number {
    const start = this.i;
    const k = Math.min(max, this.n - start);
    if (k <= 0) return 0;
    if (tmpResiduals.length < k) tmpResiduals = new Float64Array(k);
    this.fillT(outT, start, k, off);
    this.fillV(outV, outV32, start, k, off);
    this.i = start + k;
    return k;
  }

  private fillV(outV: Float64Array, outV32: Uint32Array, start: number, k: number, off: number): void {
    if (this.vKind === V_DECIMAL) this.fillDecimal(outV, start, k, off);
    else if (this.vKind === V_CONST) {
      const lo = this.vlo;
      const hi = this.vhi;
      const e = 2 * (off + k);
      for (let j = 2 * off; j < e; j += 2) {
        outV32[j] = lo;
        outV32[j + 1] = hi;
      }
    } else this.fillXor(outV32, start, k, off);
  }

  /**
   * Bulk read of a freshly reset decoder: appends the chunk's samples with mint ≤ t ≤ maxt to
   * buf. Timestamps are decoded first; the values of samples before mint are skipped without
   * being produced (decimal residuals are only summed). The decoder must be reset before it is
   * used again.
   */
  readInto(buf: SampleBuffer, mint: number, maxt: number): void {
    const n = this.n;
    if (n === 0 || this.i !== 0) return;
    const off = buf.n;
    let lo: number;
    let hi: number;
    if (this.tKind === T_PACKED) {
      growSampleBuffer(buf, off + n);
      if (tmpResiduals.length < n) tmpResiduals = new Float64Array(n);
      const ts = buf.ts;
      this.fillT(ts, 0, n, off);
      lo = 0;
      if (ts[off]! < mint) {
        let a = 0;
        let b = n;
        while (a < b) {
          const mid = (a + b) >>> 1;
          if (ts[off + mid]! < mint) a = mid + 1;
          else b = mid;
        }
        lo = a;
      }
      hi = n;
      if (ts[off + n - 1]! > maxt) {
        let a = lo;
        let b = n;
        while (a < b) {
          const mid = (a + b) >>> 1;
          if (ts[off + mid]! <= maxt) a = mid + 1;
          else b = mid;
        }
        hi = a;
      }
      if (hi <= lo) return;
      if (lo > 0) ts.copyWithin(off, off + lo, off + hi);
    } else {
      // Single sample or a constant interval: sample i is at t0 + i·delta.
      const t0 = this.t;
      const d = this.tKind === T_CONST ? this.delta : 0;
      if (d > 0) {
        lo = mint <= t0 ? 0 : Math.min(n, Math.ceil((mint - t0) / d));
        while (lo > 0 && t0 + (lo - 1) * d >= mint) lo--;
        while (lo < n && t0 + lo * d < mint) lo++;
        hi = maxt < t0 ? 0 : Math.min(n, Math.floor((maxt - t0) / d) + 1);
        while (hi < n && t0 + hi * d <= maxt) hi++;
        while (hi > 0 && t0 + (hi - 1) * d > maxt) hi--;
      } else {
        lo = mint <= t0 ? 0 : n;
        hi = maxt >= t0 ? Math.min(n, 1) : 0;
      }
      if (hi <= lo) return;
      growSampleBuffer(buf, off + hi - lo);
      const ts = buf.ts;
      for (let i = lo; i < hi; i++) ts[off + i - lo] = t0 + i * d;
    }
    const k = hi - lo;
    if (tmpResiduals.length < n) tmpResiduals = new Float64Array(n);
    if (lo > 0) this.skipValues(lo);
    const vs = buf.vs;
    this.fillV(vs, words32(vs), lo, k, off);
    this.i = hi;
    buf.n = off + k;
  }

  /** Advances the value state of a fresh decoder past samples [0, k) without producing them. */
  private skipValues(k: number): void {
    if (this.vKind === V_CONST) return;
    if (this.vKind === V_XOR) {
      if (skipV32.length < 2 * k) skipV32 = new Uint32Array(2 * k);
      this.fillXor(skipV32, 0, k, 0);
      return;
    }
    const tmp = tmpResiduals;
    if (this.order === 1) {
      // Sample i ≥ 1 adds residual i - 1.
      if (k > 1) {
        const pr = this.vPacked;
        if (sumIsExact(pr, k - 1)) this.m += sumPacked(pr, this.w, this.base, 0, k - 1);
        else {
          pr.unpack(this.w, this.base, 0, k - 1, tmp, 0);
          let m = this.m;
          for (let j = 0; j < k - 1; j++) m += tmp[j]!;
          this.m = m;
        }
      }
    } else if (this.order === 2) {
      // Sample 1 adds the first delta; sample i ≥ 2 adds residual i - 2 to it first.
      if (k > 1) {
        let m = this.m + this.d;
        let d = this.d;
        const pr = this.vPacked;
        const c = k - 2;
        if (
          c > 0 &&
          pr.width === 0 &&
          (pr.nextExc >= pr.excCount || pr.excIdx[pr.nextExc]! >= c) &&
          Math.abs(d) * c < EXACT_SUM &&
          Math.abs(pr.base) * c * (c + 1) < EXACT_SUM
        ) {
          // Constant residual r: d grows by r per sample, m by the running d.
          const r = pr.base;
          m += c * d + (r * c * (c + 1)) / 2;
          d += r * c;
        } else if (c > 0) {
          pr.unpack(this.w, this.base, 0, c, tmp, 0);
          for (let j = 0; j < c; j++) {
            d += tmp[j]!;
            m += d;
          }
        }
        this.m = m;
        this.d = d;
      }
    }
    // Order 0: values are independent; the packed reader is random access.
  }

  private fillT(outT: Float64Array, start: number, k: number, off: number): void {
    let t = this.t;
    let delta = this.delta;
    let j = 0;
    if (start === 0) {
      outT[off] = t;
      j = 1;
    }
    if (this.tKind === T_CONST) {
      for (; j < k; j++) {
        t += delta;
        outT[off + j] = t;
      }
    } else if (this.tKind === T_PACKED) {
      if (start <= 1 && j < k) {
        // Sample 1 uses the first delta itself.
        t += delta;
        outT[off + j] = t;
        j++;
      }
      if (j < k) {
        const tmp = tmpResiduals;
        this.tPacked.unpack(this.w, this.base, start + j - 2, k - j, tmp, j);
        for (; j < k; j++) {
          delta += tmp[j]!;
          t += delta;
          outT[off + j] = t;
        }
      }
    }
    this.t = t;
    this.delta = delta;
  }

  private fillDecimal(outV: Float64Array, start: number, k: number, off: number): void {
    const p = this.p;
    const pr = this.vPacked;
    const w = this.w;
    const base = this.base;
    let m = this.m;
    let d = this.d;
    let j = 0;
    if (start === 0) {
      outV[off] = m / p;
      j = 1;
    }
    if (j < k) {
      const tmp = tmpResiduals;
      if (this.order === 0) {
        pr.unpack(w, base, start + j - 1, k - j, tmp, j);
        for (; j < k; j++) {
          m = tmp[j]!;
          outV[off + j] = m / p;
        }
      } else if (this.order === 1) {
        pr.unpack(w, base, start + j - 1, k - j, tmp, j);
        if (p === 1) {
          // Integers (counters): no division.
          for (; j < k; j++) {
            m += tmp[j]!;
            outV[off + j] = m;
          }
        } else {
          for (; j < k; j++) {
            m += tmp[j]!;
            outV[off + j] = m / p;
          }
        }
      } else {
        if (start <= 1) {
          m += d;
          outV[off + j] = m / p;
          j++;
        }
        if (j < k) {
          pr.unpack(w, base, start + j - 2, k - j, tmp, j);
          for (; j < k; j++) {
            d += tmp[j]!;
            m += d;
            outV[off + j] = m / p;
          }
        }
      }
    }
    this.m = m;
    this.d = d;
  }

  private fillXor(outV32: Uint32Array, start: number, k: number, off: number): void {
    const w = this.w;
    const base = this.base;
    let p = this.xp;
    let vlo = this.vlo;
    let vhi = this.vhi;
    let lead = this.lead;
    let trail = this.trail;
    let j = 0;
    if (start === 0) {
      outV32[2 * off] = vlo;
      outV32[2 * off + 1] = vhi;
      j = 1;
    }
    for (; j < k; j++) {
      const jj0 = base + (p >>> 5);
      const oo = p & 31;
      const a = w[jj0]!;
      const h0 = oo === 0 ? a | 0 : (a << oo) | (w[jj0 + 1]! >>> (32 - oo));
      if (h0 < 0) {
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
      } else p += 1;
      outV32[2 * (off + j)] = vlo;
      outV32[2 * (off + j) + 1] = vhi;
    }
    this.xp = p;
    this.vlo = vlo;
    this.vhi = vhi;
    this.lead = lead;
    this.trail = trail;
  }
}

/** Decodes a whole block chunk into fresh arrays (tests, compaction). */
export function decodeBlockChunk(w: Uint32Array, base: number, minT: number): { ts: Float64Array; vs: Float64Array } {
  const d = new BlockChunkDecoder();
  d.reset(w, base, minT);
  const ts = new Float64Array(d.n);
  const vs = new Float64Array(d.n);
  d.fill(ts, vs, new Uint32Array(vs.buffer), d.n);
  return { ts, vs };
}
