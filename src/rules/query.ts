/**
 * Adapting a PromQL engine to the rules' `QueryFunc` without importing it: anything with
 * `parse` and `instantQuery` of the promql module's shapes fits. Parsed expressions are cached
 * per query text (rules ask the same queries every interval).
 */
import { Labels, VigilError } from '../model/index.ts';
import type { Queryable } from '../storage/index.ts';
import type { QueryFunc, RuleSample } from './types.ts';

/** The part of promql's Engine the rules use. */
export interface InstantQueryEngine<E> {
  parse(query: string): E;
  instantQuery(queryable: Queryable, query: E, timeMs: number): Promise<{ value: { type: string; samples?: readonly RuleSample[]; v?: unknown } }>;
}

/** Prometheus' error for an expression that yields neither a vector nor a scalar. */
export const NOT_A_VECTOR = 'rule result is not a vector or scalar';

/** A rule (or unit-test) expression whose result is a string or a range vector. */
export class NotAVectorError extends VigilError {
  constructor() {
    super('rules_not_a_vector', NOT_A_VECTOR);
  }
}

/**
 * A QueryFunc over `engine` reading `queryable` (Prometheus' EngineQueryFunc): vectors as they
 * are, a scalar as one sample with empty labels, anything else an error.
 */
export function engineQueryFunc<E>(engine: InstantQueryEngine<E>, queryable: Queryable, maxCached = 10_000): QueryFunc {
  const cache = new Map<string, E>();
  return async (query, timeMs) => {
    let expr = cache.get(query);
    if (expr === undefined) {
      expr = engine.parse(query);
      if (cache.size >= maxCached) cache.clear();
      cache.set(query, expr);
    }
    const r = await engine.instantQuery(queryable, expr, timeMs);
    const v = r.value;
    if (v.type === 'vector') return v.samples ?? [];
    if (v.type === 'scalar') return [{ metric: Labels.EMPTY, v: v.v as number }];
    throw new NotAVectorError();
  };
}
