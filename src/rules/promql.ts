/**
 * What rules use from the PromQL module: the parser (validation, the canonical query text of
 * a rule) and its error types. Rules never import the engine: evaluation goes through a
 * `QueryFunc` given by the caller.
 */
export { parseExpr, exprToString, ParseError, QueryCanceledError, formatFloatE } from '../promql/index.ts';
export type { Expr } from '../promql/index.ts';
