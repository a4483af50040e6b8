/**
 * PromQL: parser, AST, printer, engine and result encoding.
 *
 *   import { Engine, parseExpr, formatExpr } from '../promql/index.ts';
 *   const engine = new Engine({ lookbackDeltaMs, maxSamples, timeoutMs, maxConcurrency });
 *   const { value, warnings, infos } = await engine.instantQuery(queryable, 'up == 0', Date.now());
 *
 * Rules and templates call the engine through `queryFunction(engine, queryable)`.
 */
export { Engine, BadQueryError } from './engine.ts';
export type { EngineOptions, QueryOptions } from './engine.ts';
export { parseExpr, parseMetricSelector, ALL_FEATURES, secondsToMs } from './parser.ts';
export type { ParseOptions } from './parser.ts';
export { exprToString, prettify } from './printer.ts';
export {
  AggregateExpr, BinaryExpr, Call, DurationExpr, MatrixSelector, NumberLiteral, ParenExpr, StringLiteral, SubqueryExpr, UnaryExpr,
  VectorSelector, walk, unwrapParens, documentedType,
} from './ast.ts';
export type { Expr, PosRange, ValueType, BinaryOp, AggregateOp, VectorMatching, AtModifier } from './ast.ts';
export { FUNCTIONS } from './functions.ts';
export type { FunctionDef } from './functions.ts';
export { ParseError, QueryError, QueryTimeoutError, QueryCanceledError, TooManySamplesError, QueryStorageError, positionString } from './errors.ts';
export { Annotations } from './annotations.ts';
export type { Annotation, AnnotationKind } from './annotations.ts';
export type { QueryResult, QueryValue, InstantSample, RangeSeries, QueryStats } from './value.ts';
export { queryDataJson, formatSampleValue, formatTimestamp, formatFloatE, labelsJson, seriesCount } from './json.ts';
export { astToJson } from './ast-json.ts';

export { formatQuery } from './format.ts';

import { Labels } from '../model/index.ts';
import type { Queryable } from '../storage/index.ts';
import type { Engine } from './engine.ts';
import type { InstantSample } from './value.ts';

/**
 * The small query function rules and templates use: an instant query at `timeMs` returning
 * the vector's samples (a scalar becomes one sample without labels). Errors are thrown.
 */
export type QueryFunction = (query: string, timeMs: number) => Promise<InstantSample[]>;

export function queryFunction(engine: Engine, queryable: Queryable): QueryFunction {
  return async (query, timeMs) => {
    const r = await engine.instantQuery(queryable, query, timeMs);
    const v = r.value;
    if (v.type === 'vector') return v.samples;
    if (v.type === 'scalar') return [{ metric: Labels.EMPTY, t: v.t, v: v.v }];
    throw new Error(`query ${JSON.stringify(query)} returned a ${v.type}, not an instant vector or scalar`);
  };
}
