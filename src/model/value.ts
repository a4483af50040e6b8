/**
 * Sample values: float64 formatting exactly as Go's strconv does (the Prometheus API and the
 * exposition formats depend on it) and the staleness marker.
 *
 * The stale marker is the NaN with bits 0x7ff0000000000002: a *signalling* NaN. V8 keeps its
 * bits in typed arrays and in number variables, but storing it in an ordinary JavaScript array
 * of doubles (including an array literal) quiets it to 0x7ff8000000000002, which is no longer
 * the marker. Code that must keep the marker holds values in Float64Array (filled element by
 * element) and tests for it with `isStaleNaN`, never with `Number.isNaN` alone.
 */

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
// Little-endian hosts only (x86-64, arm64): word 0 is the low half.
const LO = 0;
const HI = 1;

/** The Prometheus staleness marker. Only its bit pattern distinguishes it from NaN. */
export const STALE_NAN: number = (() => {
  u32[HI] = 0x7ff00000;
  u32[LO] = 0x00000002;
  return f64[0]!;
})();

/** The NaN Prometheus writes for an ordinary NaN (0x7ff8000000000001). */
export const NORMAL_NAN: number = (() => {
  u32[HI] = 0x7ff80000;
  u32[LO] = 0x00000001;
  return f64[0]!;
})();

export function isStaleNaN(v: number): boolean {
  if (v === v) return false;
  f64[0] = v;
  return u32[HI] === 0x7ff00000 && u32[LO] === 0x00000002;
}

/** The 64 bits of a float as two 32-bit halves [hi, lo] (tests, WAL checks). */
export function floatBits(v: number): [number, number] {
  f64[0] = v;
  return [u32[HI]!, u32[LO]!];
}

interface Decimal {
  digits: string;
  /** Position of the decimal point relative to the digits: value = 0.digits × 10^point. */
  point: number;
}

function shortestDecimal(abs: number): Decimal {
  // toExponential() without an argument yields the shortest digits that round-trip.
  const e = abs.toExponential();
  const [mant, exp] = e.split('e') as [string, string];
  const digits = mant.replace('.', '');
  return { digits, point: Number(exp) + 1 };
}

function fixedFromDecimal(d: Decimal): string {
  const { digits, point } = d;
  if (point <= 0) return '0.' + '0'.repeat(-point) + digits;
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return digits.slice(0, point) + '.' + digits.slice(point);
}

/** Go's strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent. */
export function formatFloatF(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const neg = v < 0;
  const abs = neg ? -v : v;
  if (abs >= 1e-6 && abs < 1e21) return (neg ? '-' : '') + String(abs);
  return (neg ? '-' : '') + fixedFromDecimal(shortestDecimal(abs));
}

/** Go's strconv.FormatFloat(v, 'g', -1, 64): `1e+06`, `1.5e-07`, `123.4`. */
export function formatFloatG(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const neg = v < 0;
  const d = shortestDecimal(neg ? -v : v);
  const exp = d.point - 1;
  // strconv with the shortest precision decides with eprec = 6.
  if (exp < -4 || exp >= 6) {
    const m = d.digits.length > 1 ? d.digits[0] + '.' + d.digits.slice(1) : d.digits;
    const ae = Math.abs(exp);
    return (neg ? '-' : '') + m + 'e' + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' + ae : String(ae));
  }
  return (neg ? '-' : '') + fixedFromDecimal(d);
}
