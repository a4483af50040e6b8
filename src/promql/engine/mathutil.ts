/** Float helpers with Go's semantics where JavaScript differs. */

/**
 * Kahan-Neumaier compensated summation step (Prometheus' kahansum.Inc): returns the new sum
 * and compensation through `out` to avoid allocating.
 */
export function kahanInc(inc: number, sum: number, c: number, out: Float64Array): void {
  const t = sum + inc;
  if (t === Infinity || t === -Infinity) c = 0;
  else if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc;
  else c += inc - t + sum;
  out[0] = t;
  out[1] = c;
}

/** Go's math.Pow special cases (JavaScript's `**` differs for base 1, -1 with infinite exponent). */
export function goPow(x: number, y: number): number {
  if (y === 0) return 1;
  if (x === 1) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/** Go's math.Mod (same as JavaScript's `%` for all special cases). */
export function goMod(x: number, y: number): number {
  return x % y;
}

/**
 * Order used by Prometheus' vectorByValueHeap: NaN sorts before everything, then ascending.
 * Returns true when a < b in that order.
 */
export function lessNaNFirst(a: number, b: number): boolean {
  return a !== a || a < b;
}

/**
 * Prometheus' quantile over a set of values (sorted in place, NaN first): linear interpolation
 * between the two closest ranks. NaN for no values or q NaN; ±Inf for q outside [0, 1].
 */
export function quantileOf(q: number, values: Float64Array): number {
  const n = values.length;
  if (n === 0 || q !== q) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  sortNaNFirst(values);
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return values[lower]! * (1 - weight) + values[upper]! * weight;
}

/** Sorts ascending with NaN first. */
export function sortNaNFirst(values: Float64Array): void {
  let nan = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== values[i]) nan++;
  if (nan === 0) {
    values.sort();
    return;
  }
  const rest = new Float64Array(values.length - nan);
  let k = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === values[i]) rest[k++] = values[i]!;
  rest.sort();
  values.fill(NaN, 0, nan);
  values.set(rest, nan);
}

/**
 * Go's sort.Sort on a small slice: pdqsort falls back to insertion sort below 13 elements,
 * which is what Prometheus' result ordering (topk, sort) depends on for ties and NaN. For larger
 * inputs a stable merge sort with the same `less` is used.
 */
export function goSortIndices(idx: number[], less: (a: number, b: number) => boolean): void {
  if (idx.length <= 12) {
    for (let i = 1; i < idx.length; i++) {
      for (let j = i; j > 0 && less(idx[j]!, idx[j - 1]!); j--) {
        const t = idx[j]!;
        idx[j] = idx[j - 1]!;
        idx[j - 1] = t;
      }
    }
    return;
  }
  idx.sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
}

/** Seconds from a millisecond duration. */
export function msToSeconds(ms: number): number {
  return ms / 1000;
}
