/**
 * Bit streams over `Uint32Array` words: bit 0 of a stream is the most significant bit of its
 * first word. Writers OR bits into words that must be zero beforehand; readers may look one word
 * past the last bit written, so buffers keep one spare zero word at the end.
 *
 * Widths are 0..32 bits per call; wider fields are split by the callers.
 */

/** Writes the low `n` bits (0..32) of `x` at bit `p` of the stream starting at word `base`. */
export function putBits(w: Uint32Array, base: number, p: number, x: number, n: number): void {
  if (n === 0) return;
  const i = base + (p >>> 5);
  const free = 32 - (p & 31);
  const v = n === 32 ? x >>> 0 : (x & ((1 << n) - 1)) >>> 0;
  if (n <= free) {
    w[i] = w[i]! | (v << (free - n));
  } else {
    const over = n - free;
    w[i] = w[i]! | (v >>> over);
    w[i + 1] = w[i + 1]! | (v << (32 - over));
  }
}

/** Reads `n` bits (1..32) at bit `p`, as an unsigned integer. */
export function getBits(w: Uint32Array, base: number, p: number, n: number): number {
  const i = base + (p >>> 5);
  const o = p & 31;
  let x = w[i]! << o;
  if (o + n > 32) x |= w[i + 1]! >>> (32 - o);
  return x >>> (32 - n);
}

/** Reads one bit at `p`. */
export function getBit(w: Uint32Array, base: number, p: number): number {
  return (w[base + (p >>> 5)]! >>> (31 - (p & 31))) & 1;
}

const sameBitsF64 = new Float64Array(2);
const sameBitsU32 = new Uint32Array(sameBitsF64.buffer);

/** Whether two doubles have the same bits (NaN payloads, the stale marker and -0 told apart). */
export function sameBits(a: number, b: number): boolean {
  sameBitsF64[0] = a;
  sameBitsF64[1] = b;
  return sameBitsU32[0] === sameBitsU32[2] && sameBitsU32[1] === sameBitsU32[3];
}

/** Number of bits needed to write the non-negative integer `x` (x ≤ 2^53). */
export function bitLength(x: number): number {
  if (x < 4294967296) return 32 - Math.clz32(x);
  return 64 - Math.clz32(Math.floor(x / 4294967296));
}

/** Zig-zag mapping of a signed safe integer to a non-negative one. */
export function zigzag(x: number): number {
  return x >= 0 ? x * 2 : -x * 2 - 1;
}

export function unzigzag(z: number): number {
  if (z < 2147483648) return (z >>> 1) ^ -(z & 1);
  // Wide values: z is even for non-negative values.
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/**
 * A growable bit writer (block chunk encoding, snapshots). Owns its words; `finish()` returns the
 * used prefix (plus the spare word readers need is not included: readers copy into padded buffers).
 */
export class BitWriter {
  words: Uint32Array;
  pos = 0;

  constructor(initialWords = 64) {
    this.words = new Uint32Array(initialWords);
  }

  reset(): void {
    this.words.fill(0, 0, (this.pos >>> 5) + 2);
    this.pos = 0;
  }

  /** Makes room for `bits` more bits (callers may then write into `words` directly). */
  reserve(bits: number): void {
    this.ensure(bits);
  }

  private ensure(bits: number): void {
    const need = ((this.pos + bits) >>> 5) + 2;
    if (need > this.words.length) {
      const g = new Uint32Array(Math.max(need, this.words.length * 2));
      g.set(this.words);
      this.words = g;
    }
  }

  write(x: number, n: number): void {
    this.ensure(n);
    putBits(this.words, 0, this.pos, x, n);
    this.pos += n;
  }

  /** Writes an unsigned integer up to 2^53 in `n` bits (n ≤ 53). */
  writeWide(x: number, n: number): void {
    if (n <= 32) {
      this.write(x, n);
      return;
    }
    this.write(Math.floor(x / 4294967296), n - 32);
    this.write(x >>> 0, 32);
  }

  /** A self-delimiting unsigned integer (≤ 2^53): 6 bits of length, then the bits. */
  writeVar(x: number): void {
    const n = bitLength(x);
    this.write(n, 6);
    this.writeWide(x, n);
  }

  writeSignedVar(x: number): void {
    this.writeVar(zigzag(x));
  }

  /** Number of 32-bit words holding the bits written so far. */
  get wordLength(): number {
    return (this.pos + 31) >>> 5;
  }
}

/** Sequential reader matching BitWriter. */
export class BitReader {
  constructor(public w: Uint32Array, public base: number, public pos = 0) {}

  read(n: number): number {
    if (n === 0) return 0;
    const x = getBits(this.w, this.base, this.pos, n);
    this.pos += n;
    return x;
  }

  readWide(n: number): number {
    if (n <= 32) return this.read(n);
    const hi = this.read(n - 32);
    return hi * 4294967296 + this.read(32);
  }

  readVar(): number {
    return this.readWide(this.read(6));
  }

  readSignedVar(): number {
    return unzigzag(this.readVar());
  }
}
