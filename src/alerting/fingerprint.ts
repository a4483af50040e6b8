/**
 * Alertmanager's alert fingerprint: 64-bit FNV-1a over the label set, names sorted, each name
 * and value followed by the byte 0xff, over UTF-8 bytes (Prometheus' `model.LabelSet.Fingerprint`),
 * printed as 16 lower-case hex digits. Computed with two 32-bit halves, no BigInt.
 */

const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
// prime 0x100000001b3 = 2^40 + 0x1b3
const PRIME_LO = 0x1b3;
const TWO32 = 4294967296;

let hi = 0;
let lo = 0;

function addByte(b: number): void {
  lo = (lo ^ b) >>> 0;
  // (hi, lo) * (2^40 + 0x1b3) mod 2^64
  const p = lo * PRIME_LO;
  const carry = Math.floor(p / TWO32);
  const newLo = p >>> 0;
  hi = (Math.imul(hi, PRIME_LO) + carry + (lo << 8)) >>> 0;
  lo = newLo;
}

function addString(s: string): void {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      addByte(c);
    } else if (c < 0x800) {
      addByte(0xc0 | (c >> 6));
      addByte(0x80 | (c & 63));
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      addByte(0xf0 | (c >> 18));
      addByte(0x80 | ((c >> 12) & 63));
      addByte(0x80 | ((c >> 6) & 63));
      addByte(0x80 | (c & 63));
    } else {
      // Lone surrogates are encoded as U+FFFD, as Go's []byte(string) would have them.
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      addByte(0xe0 | (c >> 12));
      addByte(0x80 | ((c >> 6) & 63));
      addByte(0x80 | (c & 63));
    }
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex32(x: number): string {
  return HEX[x >>> 24]! + HEX[(x >>> 16) & 255]! + HEX[(x >>> 8) & 255]! + HEX[x & 255]!;
}

/** The fingerprint of a label set given as sorted `[name0, value0, ...]` pairs. */
export function fingerprintPairs(pairs: readonly string[]): string {
  hi = OFFSET_HI;
  lo = OFFSET_LO;
  for (let i = 0; i < pairs.length; i += 2) {
    addString(pairs[i]!);
    addByte(0xff);
    addString(pairs[i + 1]!);
    addByte(0xff);
  }
  return hex32(hi) + hex32(lo);
}
