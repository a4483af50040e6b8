/**
 * PromQL function signatures (Prometheus 3.x), used by the parser for type checking.
 * `variadic`: 0 = exactly `argTypes.length` arguments; n > 0 = the last argument type may be
 * repeated so that up to `argTypes.length - 1 + n` arguments are accepted; -1 = unbounded.
 */
import type { ValueType } from './ast.ts';

export interface FunctionDef {
  name: string;
  argTypes: ValueType[];
  variadic: number;
  returnType: ValueType;
  /** Needs the experimental-functions parser option (Prometheus' feature flag). */
  experimental: boolean;
}

const V: ValueType = 'vector';
const M: ValueType = 'matrix';
const S: ValueType = 'scalar';
const STR: ValueType = 'string';

function fn(name: string, argTypes: ValueType[], returnType: ValueType = V, variadic = 0, experimental = false): FunctionDef {
  return { name, argTypes, variadic, returnType, experimental };
}

const defs: FunctionDef[] = [
  fn('abs', [V]),
  fn('absent', [V]),
  fn('absent_over_time', [M]),
  fn('acos', [V]),
  fn('acosh', [V]),
  fn('asin', [V]),
  fn('asinh', [V]),
  fn('atan', [V]),
  fn('atanh', [V]),
  fn('avg_over_time', [M]),
  fn('ceil', [V]),
  fn('changes', [M]),
  fn('clamp', [V, S, S]),
  fn('clamp_max', [V, S]),
  fn('clamp_min', [V, S]),
  fn('cos', [V]),
  fn('cosh', [V]),
  fn('count_over_time', [M]),
  fn('days_in_month', [V], V, 1),
  fn('day_of_month', [V], V, 1),
  fn('day_of_week', [V], V, 1),
  fn('day_of_year', [V], V, 1),
  fn('deg', [V]),
  fn('delta', [M]),
  fn('deriv', [M]),
  fn('double_exponential_smoothing', [M, S, S], V, 0, true),
  fn('end', [], S, 0, true),
  fn('exp', [V]),
  fn('first_over_time', [M], V, 0, true),
  fn('floor', [V]),
  fn('histogram_avg', [V]),
  fn('histogram_count', [V]),
  fn('histogram_fraction', [S, S, V]),
  fn('histogram_quantile', [S, V]),
  fn('histogram_quantiles', [V, STR, S, S], V, 9, true),
  fn('histogram_stddev', [V]),
  fn('histogram_stdvar', [V]),
  fn('histogram_sum', [V]),
  fn('hour', [V], V, 1),
  fn('idelta', [M]),
  fn('increase', [M]),
  fn('info', [V, V], V, 1, true),
  fn('irate', [M]),
  fn('label_join', [V, STR, STR, STR], V, -1),
  fn('label_replace', [V, STR, STR, STR, STR]),
  fn('last_over_time', [M]),
  fn('ln', [V]),
  fn('log10', [V]),
  fn('log2', [V]),
  fn('mad_over_time', [M], V, 0, true),
  fn('max_over_time', [M]),
  fn('min_over_time', [M]),
  fn('max_of', [S, S], S, 0, true),
  fn('min_of', [S, S], S, 0, true),
  fn('minute', [V], V, 1),
  fn('month', [V], V, 1),
  fn('pi', [], S),
  fn('predict_linear', [M, S]),
  fn('present_over_time', [M]),
  fn('quantile_over_time', [S, M]),
  fn('rad', [V]),
  fn('range', [], S, 0, true),
  fn('rate', [M]),
  fn('resets', [M]),
  fn('round', [V, S], V, 1),
  fn('scalar', [V], S),
  fn('sgn', [V]),
  fn('sin', [V]),
  fn('sinh', [V]),
  fn('sort', [V]),
  fn('sort_by_label', [V, STR], V, -1, true),
  fn('sort_by_label_desc', [V, STR], V, -1, true),
  fn('sort_desc', [V]),
  fn('sqrt', [V]),
  fn('start', [], S, 0, true),
  fn('start_timestamp', [V], V, 0, true),
  fn('stddev_over_time', [M]),
  fn('stdvar_over_time', [M]),
  fn('step', [], S, 0, true),
  fn('sum_over_time', [M]),
  fn('tan', [V]),
  fn('tanh', [V]),
  fn('time', [], S),
  fn('timestamp', [V]),
  fn('ts_of_first_over_time', [M], V, 0, true),
  fn('ts_of_last_over_time', [M], V, 0, true),
  fn('ts_of_max_over_time', [M], V, 0, true),
  fn('ts_of_min_over_time', [M], V, 0, true),
  fn('vector', [S]),
  fn('year', [V], V, 1),
];

/** Functions known to the parser, by name. */
export const FUNCTIONS: ReadonlyMap<string, FunctionDef> = new Map(defs.map((d) => [d.name, d]));

/**
 * Prometheus 2.x's name of `double_exponential_smoothing`, still accepted so that 2.x rule files
 * keep working (Prometheus 3 rejects it). Not experimental here.
 */
export const HOLT_WINTERS: FunctionDef = fn('holt_winters', [M, S, S]);

/** Functions whose result changes with the evaluation time even for step-invariant arguments. */
export const AT_MODIFIER_UNSAFE_FUNCTIONS: ReadonlySet<string> = new Set([
  'days_in_month', 'day_of_month', 'day_of_week', 'day_of_year', 'hour', 'minute', 'month', 'year', 'predict_linear', 'time', 'timestamp',
  // The query-range functions depend on the query, not on the arguments.
  'start', 'end', 'range', 'step',
]);

export function lookupFunction(name: string, opts: { experimental: boolean; holtWinters?: boolean }): FunctionDef | undefined {
  const f = FUNCTIONS.get(name);
  if (f) return f;
  if (name === 'holt_winters' && opts.holtWinters !== false) return HOLT_WINTERS;
  return undefined;
}
