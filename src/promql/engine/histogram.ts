/**
 * Classic (bucket-series) histogram math: `histogram_quantile` and `histogram_fraction` over
 * `le`-labelled buckets, with Prometheus' bucket coalescing, precision fix-up and monotonicity
 * enforcement. Buckets are given as parallel arrays of upper bounds and cumulative counts.
 */

const SMALL_DELTA_TOLERANCE = 1e-12;
const MIN_NORMAL = 2.2250738585072014e-308;

/** Prometheus' util/almost.Equal. */
export function almostEqual(a: number, b: number, epsilon: number): boolean {
  if (a !== a && b !== b) return true;
  if (a === b) return true;
  const absSum = Math.abs(a) + Math.abs(b);
  const diff = Math.abs(a - b);
  if (a === 0 || b === 0 || absSum < MIN_NORMAL) return diff < epsilon * MIN_NORMAL;
  return diff / Math.min(absSum, Number.MAX_VALUE) < epsilon;
}

export interface BucketQuantileResult {
  value: number;
  forcedMonotonic: boolean;
  minBucket: number;
  maxBucket: number;
  maxDiff: number;
}

/** Sorts buckets by upper bound (stable) and merges equal bounds; returns the new length. */
function sortAndCoalesce(ub: number[], cnt: number[]): number {
  const idx = ub.map((_, i) => i);
  idx.sort((a, b) => (ub[a]! < ub[b]! ? -1 : ub[a]! > ub[b]! ? 1 : 0));
  const u = idx.map((i) => ub[i]!);
  const c = idx.map((i) => cnt[i]!);
  let k = 0;
  let lastU = u[0]!;
  let lastC = c[0]!;
  for (let j = 1; j < u.length; j++) {
    if (u[j] === lastU) lastC += c[j]!;
    else {
      ub[k] = lastU;
      cnt[k] = lastC;
      k++;
      lastU = u[j]!;
      lastC = c[j]!;
    }
  }
  ub[k] = lastU;
  cnt[k] = lastC;
  return k + 1;
}

/**
 * φ-quantile over classic buckets. `ub`/`cnt` are modified (sorted, coalesced, fixed up).
 * Returns NaN when the highest bucket is not +Inf, fewer than two buckets, or no observations.
 */
export function bucketQuantile(q: number, ub: number[], cnt: number[]): BucketQuantileResult {
  const res: BucketQuantileResult = { value: NaN, forcedMonotonic: false, minBucket: 0, maxBucket: 0, maxDiff: 0 };
  if (q !== q) return res;
  if (q < 0) {
    res.value = -Infinity;
    return res;
  }
  if (q > 1) {
    res.value = Infinity;
    return res;
  }
  let n = ub.length;
  const order = ub.map((_, i) => i).sort((a, b) => (ub[a]! < ub[b]! ? -1 : ub[a]! > ub[b]! ? 1 : 0));
  if (ub[order[n - 1]!] !== Infinity) return res;
  n = sortAndCoalesce(ub, cnt);
  let minB = Infinity;
  let maxB = -Infinity;
  let maxD = 0;
  let forced = false;
  let prev = cnt[0]!;
  for (let i = 1; i < n; i++) {
    const curr = cnt[i]!;
    if (curr === prev) continue;
    if (almostEqual(prev, curr, SMALL_DELTA_TOLERANCE)) {
      cnt[i] = prev;
      continue;
    }
    if (curr < prev) {
      cnt[i] = prev;
      forced = true;
      if (ub[i]! < minB) minB = ub[i]!;
      if (ub[i]! > maxB) maxB = ub[i]!;
      if (prev - curr > maxD) maxD = prev - curr;
      continue;
    }
    prev = curr;
  }
  if (n < 2) return res;
  const observations = cnt[n - 1]!;
  if (observations === 0) return res;
  let rank = q * observations;
  // First bucket (among all but the last) whose count >= rank.
  let b = 0;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cnt[mid]! >= rank) hi = mid;
    else lo = mid + 1;
  }
  b = lo;
  let value: number;
  if (b === n - 1) value = ub[n - 2]!;
  else if (b === 0 && ub[0]! <= 0) value = ub[0]!;
  else {
    let bucketStart = 0;
    const bucketEnd = ub[b]!;
    let count = cnt[b]!;
    if (b > 0) {
      bucketStart = ub[b - 1]!;
      count -= cnt[b - 1]!;
      rank -= cnt[b - 1]!;
    }
    value = bucketStart + (bucketEnd - bucketStart) * (rank / count);
  }
  res.value = value;
  res.forcedMonotonic = forced;
  res.minBucket = minB;
  res.maxBucket = maxB;
  res.maxDiff = maxD;
  return res;
}

/**
 * Fraction of observations in [lower, upper] estimated from classic buckets by linear
 * interpolation (the lowest bucket is assumed to start at 0 when its upper bound is positive,
 * as histogram_quantile assumes).
 */
export function bucketFraction(lower: number, upper: number, ub: number[], cnt: number[]): number {
  const order = ub.map((_, i) => i).sort((a, b) => (ub[a]! < ub[b]! ? -1 : ub[a]! > ub[b]! ? 1 : 0));
  if (order.length === 0 || ub[order[order.length - 1]!] !== Infinity) return NaN;
  const n = sortAndCoalesce(ub, cnt);
  const count = cnt[n - 1]!;
  if (count === 0 || lower !== lower || upper !== upper) return NaN;
  if (lower >= upper) return 0;
  let rank = 0;
  let lowerRank = 0;
  let upperRank = 0;
  let lowerSet = false;
  let upperSet = false;
  for (let i = 0; i < n; i++) {
    const bUpper = ub[i]!;
    let bLower = i > 0 ? ub[i - 1]! : bUpper > 0 ? 0 : -Infinity;
    if (i === 0 && bUpper <= 0) bLower = -Infinity;
    const bCount = cnt[i]! - (i > 0 ? cnt[i - 1]! : 0);
    if (!lowerSet && bLower >= lower) {
      lowerRank = rank;
      lowerSet = true;
    }
    if (!upperSet && bLower >= upper) {
      upperRank = rank;
      upperSet = true;
    }
    if (lowerSet && upperSet) break;
    // Inside a bucket of infinite width nothing is interpolated: its observations count as
    // sitting at the infinite end.
    const within = (x: number): number =>
      bLower === -Infinity ? rank + bCount : bUpper === Infinity ? rank : rank + (bCount * (x - bLower)) / (bUpper - bLower);
    if (!lowerSet && bLower < lower && bUpper > lower) {
      lowerRank = within(lower);
      lowerSet = true;
    }
    if (!upperSet && bLower < upper && bUpper > upper) {
      upperRank = within(upper);
      upperSet = true;
    }
    if (lowerSet && upperSet) break;
    rank += bCount;
  }
  if (!lowerSet || lowerRank > count) lowerRank = count;
  if (!upperSet || upperRank > count) upperRank = count;
  return (upperRank - lowerRank) / count;
}
