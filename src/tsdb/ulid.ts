/**
 * ULIDs (26 characters of Crockford base32: 48 bits of milliseconds, 80 random bits) name
 * blocks, as in Prometheus: they sort by creation time.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
let lastRandom: number[] = [];

export function ulid(now = Date.now()): string {
  let rnd: number[];
  if (now === lastTime) {
    // Monotonic within one millisecond: increment the random part.
    rnd = lastRandom.slice();
    for (let i = rnd.length - 1; i >= 0; i--) {
      if (rnd[i]! < 31) {
        rnd[i]!++;
        break;
      }
      rnd[i] = 0;
    }
  } else {
    const bytes = randomBytes(16);
    rnd = Array.from({ length: 16 }, (_, i) => bytes[i]! & 31);
  }
  lastTime = now;
  lastRandom = rnd;
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  return time + rnd.map((r) => ALPHABET[r]).join('');
}

export function isUlid(s: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{26}$/.test(s);
}
