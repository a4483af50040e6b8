/**
 * xxHash64 (seed 0) over bytes, as Go's cespare/xxhash computes it; Prometheus hashes label
 * sets with it, and derives a rule group's evaluation offset from such a hash. Only used at
 * group construction, so BigInt arithmetic is fine here.
 */

const P1 = 11400714785074694791n;
const P2 = 14029467366897019727n;
const P3 = 1609587929392839161n;
const P4 = 9650029242287828579n;
const P5 = 2870177450012600261n;
const M = (1n << 64n) - 1n;

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M;

function round(acc: bigint, input: bigint): bigint {
  acc = (acc + input * P2) & M;
  acc = rotl(acc, 31n);
  return (acc * P1) & M;
}

function mergeRound(acc: bigint, val: bigint): bigint {
  acc ^= round(0n, val);
  return (acc * P1 + P4) & M;
}

function u64(b: Uint8Array, i: number): bigint {
  let v = 0n;
  for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(b[i + k]!);
  return v;
}

function u32(b: Uint8Array, i: number): bigint {
  return BigInt((b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0);
}

/** xxHash64 of `data` with seed 0, as an unsigned 64-bit BigInt. */
export function xxhash64(data: Uint8Array): bigint {
  const n = data.length;
  let i = 0;
  let h: bigint;
  if (n >= 32) {
    let v1 = (P1 + P2) & M;
    let v2 = P2;
    let v3 = 0n;
    let v4 = (M + 1n - P1) & M;
    for (; i + 32 <= n; i += 32) {
      v1 = round(v1, u64(data, i));
      v2 = round(v2, u64(data, i + 8));
      v3 = round(v3, u64(data, i + 16));
      v4 = round(v4, u64(data, i + 24));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M;
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = P5;
  }
  h = (h + BigInt(n)) & M;
  for (; i + 8 <= n; i += 8) {
    h ^= round(0n, u64(data, i));
    h = (rotl(h, 27n) * P1 + P4) & M;
  }
  if (i + 4 <= n) {
    h ^= (u32(data, i) * P1) & M;
    h = (rotl(h, 23n) * P2 + P3) & M;
    i += 4;
  }
  for (; i < n; i++) {
    h ^= (BigInt(data[i]!) * P5) & M;
    h = (rotl(h, 11n) * P1) & M;
  }
  h ^= h >> 33n;
  h = (h * P2) & M;
  h ^= h >> 29n;
  h = (h * P3) & M;
  h ^= h >> 32n;
  return h;
}

/**
 * Prometheus' `labels.Hash()` of a label set given as sorted name/value pairs: xxHash64 over
 * `name 0xff value 0xff ...` (names and values as UTF-8).
 */
export function prometheusLabelsHash(sortedPairs: readonly string[]): bigint {
  const parts: Buffer[] = [];
  const sep = Buffer.from([0xff]);
  for (const s of sortedPairs) parts.push(Buffer.from(s, 'utf8'), sep);
  return xxhash64(Buffer.concat(parts));
}
