/**
 * JSON encoding of query results exactly as the Prometheus HTTP API writes them: sample values
 * as strings (`"NaN"`, `"+Inf"`, shortest round-trip digits; exponent form below 1e-6 and from
 * 1e21 in vectors and matrices, plain decimal for scalars), timestamps as seconds with up to
 * three decimals, label sets with names in sorted order. Built as strings: large matrices are
 * serialised without intermediate objects.
 */
import { formatFloatF, type Labels } from '../model/index.ts';
import type { QueryValue } from './value.ts';

/** Go's strconv.FormatFloat(v, 'e', -1, 64): `1e-07`, `1.5e+21`. */
export function formatFloatE(v: number): string {
  if (v !== v) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0e+00' : '0e+00';
  const s = v.toExponential();
  const [mant, exp] = s.split('e') as [string, string];
  const sign = exp[0] === '-' ? '-' : '+';
  const digits = exp.replace(/^[+-]/, '');
  return `${mant}e${sign}${digits.length < 2 ? '0' + digits : digits}`;
}

/** Prometheus' jsonutil.MarshalFloat body (without quotes), used for vector and matrix values. */
export function formatSampleValue(v: number): string {
  const abs = Math.abs(v);
  if (abs !== 0 && abs === abs && abs !== Infinity && (abs < 1e-6 || abs >= 1e21)) return formatFloatE(v);
  return formatFloatF(v);
}

/** Prometheus' jsonutil.MarshalTimestamp: ms as seconds, trailing zeros of the fraction dropped. */
export function formatTimestamp(ms: number): string {
  let neg = '';
  if (ms < 0) {
    neg = '-';
    ms = -ms;
  }
  const sec = Math.trunc(ms / 1000);
  const frac = ms - sec * 1000;
  if (frac === 0) return neg + String(sec);
  return neg + String(sec) + '.' + String(frac).padStart(3, '0').replace(/0+$/, '');
}

/** A label set as a JSON object (names in order, values escaped). */
export function labelsJson(l: Labels): string {
  const p = l.pairs;
  let out = '{';
  for (let i = 0; i < p.length; i += 2) {
    if (i > 0) out += ',';
    out += JSON.stringify(p[i]) + ':' + JSON.stringify(p[i + 1]);
  }
  return out + '}';
}

/**
 * The `data` object of a query response: `{"resultType":...,"result":...}`. `limit` > 0 keeps
 * only the first `limit` series of vectors and matrices.
 */
export function queryDataJson(v: QueryValue, limit = 0): string {
  switch (v.type) {
    case 'scalar':
      return `{"resultType":"scalar","result":[${formatTimestamp(v.t)},"${formatFloatF(v.v)}"]}`;
    case 'string':
      return `{"resultType":"string","result":[${formatTimestamp(v.t)},${JSON.stringify(v.v)}]}`;
    case 'vector': {
      const n = limit > 0 ? Math.min(limit, v.samples.length) : v.samples.length;
      const parts: string[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const s = v.samples[i]!;
        parts[i] = `{"metric":${labelsJson(s.metric)},"value":[${formatTimestamp(s.t)},"${formatSampleValue(s.v)}"]}`;
      }
      return `{"resultType":"vector","result":[${parts.join(',')}]}`;
    }
    case 'matrix': {
      const n = limit > 0 ? Math.min(limit, v.series.length) : v.series.length;
      const parts: string[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const s = v.series[i]!;
        const pts: string[] = new Array(s.ts.length);
        for (let k = 0; k < s.ts.length; k++) pts[k] = `[${formatTimestamp(s.ts[k]!)},"${formatSampleValue(s.vs[k]!)}"]`;
        parts[i] = `{"metric":${labelsJson(s.metric)},"values":[${pts.join(',')}]}`;
      }
      return `{"resultType":"matrix","result":[${parts.join(',')}]}`;
    }
  }
}

/** Number of series in a vector or matrix result (0 otherwise). */
export function seriesCount(v: QueryValue): number {
  return v.type === 'vector' ? v.samples.length : v.type === 'matrix' ? v.series.length : 0;
}
