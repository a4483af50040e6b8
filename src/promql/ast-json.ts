/**
 * The AST as `/api/v1/parse_query` returns it (Prometheus' translateAST): a plain JSON tree
 * with node `type`s `aggregation`, `binaryExpr`, `call`, `matrixSelector`, `subquery`,
 * `numberLiteral`, `parenExpr`, `stringLiteral`, `unaryExpr`, `vectorSelector`.
 */
import { formatFloatF, type Matcher } from '../model/index.ts';
import type { AtModifier, Expr } from './ast.ts';

function matchers(ms: readonly Matcher[]): Array<{ type: string; name: string; value: string }> {
  return ms.map((m) => ({ type: m.type, name: m.name, value: m.value }));
}

function timestamp(at: AtModifier | null): number | null {
  return at && at.kind === 'time' ? at.ms : null;
}

function startOrEnd(at: AtModifier | null): string | null {
  return at && at.kind !== 'time' ? at.kind : null;
}

export function astToJson(e: Expr | null): unknown {
  if (!e) return null;
  switch (e.type) {
    case 'AggregateExpr':
      return { type: 'aggregation', op: e.op, expr: astToJson(e.expr), param: astToJson(e.param), grouping: e.grouping, without: e.without };
    case 'BinaryExpr':
      return {
        type: 'binaryExpr',
        op: e.op,
        lhs: astToJson(e.lhs),
        rhs: astToJson(e.rhs),
        matching: e.matching ? { card: e.matching.card, labels: e.matching.matchingLabels, on: e.matching.on, include: e.matching.include } : null,
        bool: e.returnBool,
      };
    case 'Call':
      return {
        type: 'call',
        func: { name: e.func.name, argTypes: e.func.argTypes, variadic: e.func.variadic, returnType: e.func.returnType },
        args: e.args.map(astToJson),
      };
    case 'MatrixSelector': {
      const vs = e.selector;
      return { type: 'matrixSelector', name: vs.name, range: e.range, offset: vs.offset, matchers: matchers(vs.matchers), timestamp: timestamp(vs.at), startOrEnd: startOrEnd(vs.at) };
    }
    case 'SubqueryExpr':
      return { type: 'subquery', expr: astToJson(e.expr), range: e.range, offset: e.offset, step: e.step, timestamp: timestamp(e.at), startOrEnd: startOrEnd(e.at) };
    case 'NumberLiteral':
      return { type: 'numberLiteral', val: formatFloatF(e.val) };
    case 'ParenExpr':
      return { type: 'parenExpr', expr: astToJson(e.expr) };
    case 'StringLiteral':
      return { type: 'stringLiteral', val: e.val };
    case 'UnaryExpr':
      return { type: 'unaryExpr', op: e.op, expr: astToJson(e.expr) };
    case 'VectorSelector':
      return { type: 'vectorSelector', name: e.name, offset: e.offset, matchers: matchers(e.matchers), timestamp: timestamp(e.at), startOrEnd: startOrEnd(e.at) };
    case 'DurationExpr':
      return { type: 'durationExpr', op: e.op, lhs: astToJson(e.lhs), rhs: astToJson(e.rhs) };
  }
}
