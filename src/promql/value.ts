/**
 * Query results as the engine returns them (the API's `resultType`s). Times are integer ms,
 * values float64. Matrix points are held in typed arrays; the caller owns the result.
 *
 * Native histograms are a later issue: a sample's or point's value will then be either a float
 * or a histogram, and these types grow optional histogram fields.
 */
import type { Labels } from '../model/index.ts';

export interface InstantSample {
  metric: Labels;
  /** Evaluation time (ms). */
  t: number;
  v: number;
}

export interface RangeSeries {
  metric: Labels;
  /** Point timestamps (ms), increasing. */
  ts: Float64Array;
  /** Point values, same length as `ts`. */
  vs: Float64Array;
}

export type QueryValue =
  | { type: 'vector'; samples: InstantSample[] }
  | { type: 'matrix'; series: RangeSeries[] }
  | { type: 'scalar'; t: number; v: number }
  | { type: 'string'; t: number; v: string };

export interface QueryResult {
  value: QueryValue;
  /** Rendered warnings (`PromQL warning: ... (1:5)`), storage warnings included. */
  warnings: string[];
  /** Rendered infos (`PromQL info: ... (1:1)`). */
  infos: string[];
  stats: QueryStats;
}

export interface QueryStats {
  /** Samples read from storage. */
  samplesRead: number;
  /** Peak number of samples held by the evaluation (what `--query.max-samples` limits). */
  peakSamples: number;
  /** Wall time in ms from admission to result. */
  evalMs: number;
  /** Time waiting for a concurrency slot, ms. */
  queueMs: number;
}
