/**
 * Byte buffers for the WAL, snapshots and block index: little-endian fixed-width fields,
 * LEB128 varints (unsigned and zig-zag signed, up to 2^53), length-prefixed UTF-8 strings, and
 * CRC-32 (IEEE, zlib's) for checksums.
 */
import zlib from 'node:zlib';
import { TsdbError } from './errors.ts';

const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder('utf-8', { fatal: false });

export class ByteWriter {
  buf: Uint8Array;
  private dv: DataView;
  pos = 0;

  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
    this.dv = new DataView(this.buf.buffer);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const g = new Uint8Array(size);
    g.set(this.buf.subarray(0, this.pos));
    this.buf = g;
    this.dv = new DataView(g.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  u8(x: number): void {
    this.ensure(1);
    this.buf[this.pos++] = x;
  }

  u32(x: number): void {
    this.ensure(4);
    this.dv.setUint32(this.pos, x, true);
    this.pos += 4;
  }

  /** Overwrites a u32 written earlier. */
  u32At(pos: number, x: number): void {
    this.dv.setUint32(pos, x, true);
  }

  f64(x: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.pos, x, true);
    this.pos += 8;
  }

  /** Unsigned varint (x a safe non-negative integer). */
  uvarint(x: number): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (x >= 0x80) {
      b[p++] = (x & 0x7f) | 0x80;
      x = x < 2147483648 ? x >>> 7 : Math.floor(x / 128);
    }
    b[p++] = x;
    this.pos = p;
  }

  /** Zig-zag signed varint (x a safe integer). */
  varint(x: number): void {
    this.uvarint(x >= 0 ? x * 2 : -x * 2 - 1);
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Length-prefixed UTF-8. */
  string(s: string): void {
    // Worst case 3 bytes per UTF-16 unit.
    this.ensure(s.length * 3 + 10);
    const start = this.pos;
    // Reserve the prefix for the common short case, fix up if the length needs more bytes.
    const maxLen = s.length * 3;
    const prefix = maxLen < 0x80 ? 1 : maxLen < 0x4000 ? 2 : maxLen < 0x200000 ? 3 : 5;
    const { written } = TEXT_ENCODER.encodeInto(s, this.buf.subarray(start + prefix));
    const need = varintLength(written!);
    if (need !== prefix) this.buf.copyWithin(start + need, start + prefix, start + prefix + written!);
    this.pos = start;
    this.uvarint(written!);
    this.pos = start + need + written!;
  }

  /** The bytes written so far (a view, valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

export function varintLength(x: number): number {
  let n = 1;
  while (x >= 0x80) {
    x = Math.floor(x / 128);
    n++;
  }
  return n;
}

export class ByteReader {
  pos: number;
  private dvCache: DataView | undefined;

  constructor(readonly buf: Uint8Array, pos = 0, readonly end = buf.length) {
    this.pos = pos;
  }

  private get dv(): DataView {
    return (this.dvCache ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new TsdbError('corrupt_chunk', `unexpected end of data at byte ${this.pos}`);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const x = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return x;
  }

  f64(): number {
    this.need(8);
    const x = this.dv.getFloat64(this.pos, true);
    this.pos += 8;
    return x;
  }

  uvarint(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    let x = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (p >= end) throw new TsdbError('corrupt_chunk', `truncated varint at byte ${this.pos}`);
      const c = b[p++]!;
      x += (c & 0x7f) * mul;
      if (c < 0x80) {
        this.pos = p;
        return x;
      }
      mul *= 128;
    }
    throw new TsdbError('corrupt_chunk', `varint too long at byte ${this.pos}`);
  }

  varint(): number {
    const z = this.uvarint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    const n = this.uvarint();
    this.need(n);
    const s = decodeUtf8(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

/** UTF-8 bytes [start, end) as a string; short ASCII strings avoid the decoder's call overhead. */
export function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= 24) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      switch (n) {
        case 0:
          return '';
        case 1:
          return String.fromCharCode(buf[start]!);
        case 2:
          return String.fromCharCode(buf[start]!, buf[start + 1]!);
        case 3:
          return String.fromCharCode(buf[start]!, buf[start + 1]!, buf[start + 2]!);
        default: {
          let s = '';
          for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
          return s;
        }
      }
    }
  }
  if (Buffer.isBuffer(buf)) return buf.toString('utf8', start, end);
  return TEXT_DECODER.decode(buf.subarray(start, end));
}

// ---- CRC-32 ----

let crcTable: Int32Array | undefined;

function crc32Js(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c;
    }
  }
  let c = -1;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const nativeCrc = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;

/** CRC-32 (IEEE) of the bytes. */
export function crc32(data: Uint8Array): number {
  return nativeCrc ? nativeCrc(data) : crc32Js(data);
}
