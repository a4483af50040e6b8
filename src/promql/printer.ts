/**
 * Printing the AST back to PromQL: `exprToString` is Prometheus' canonical `String()` form (what
 * the `@`-pinned re-runs of the conformance harness and rule files print), `prettify` is
 * Prometheus' `Prettify` (what `/api/v1/format_query` returns): nodes whose one-line form is
 * longer than 100 bytes are split over lines with two-space indentation.
 */
import { formatDuration, formatFloatG, isLegacyLabelName, isLegacyMetricName, METRIC_NAME, type Matcher } from '../model/index.ts';
import type { AtModifier, DurationExpr, Expr, MatrixSelector, SubqueryExpr, VectorMatching, VectorSelector } from './ast.ts';
import { utf8Length } from './errors.ts';
import { goQuote } from './lexer.ts';

function quoteLabel(name: string): string {
  return isLegacyLabelName(name) ? name : goQuote(name);
}

function joinLabels(ls: readonly string[]): string {
  return ls.map(quoteLabel).join(', ');
}

function matcherString(m: Matcher): string {
  return `${quoteLabel(m.name)}${m.type}${goQuote(m.value)}`;
}

function durationString(ms: number): string {
  return ms < 0 ? '-' + formatDuration(-ms) : formatDuration(ms);
}

function atString(at: AtModifier | null): string {
  if (!at) return '';
  if (at.kind === 'start') return ' @ start()';
  if (at.kind === 'end') return ' @ end()';
  return ` @ ${(at.ms / 1000).toFixed(3)}`;
}

function offsetString(offset: number, offsetExpr: DurationExpr | null): string {
  if (offsetExpr) return ` offset ${exprToString(offsetExpr)}`;
  if (offset > 0) return ` offset ${formatDuration(offset)}`;
  if (offset < 0) return ` offset -${formatDuration(-offset)}`;
  return '';
}

function selectorCore(vs: VectorSelector): string {
  const parts: string[] = [];
  let name = vs.name;
  for (const m of vs.matchers) {
    if (m.name === METRIC_NAME && m.type === '=' && m.value === vs.name && m.value !== '') continue;
    parts.push(matcherString(m));
  }
  if (name !== '' && !isLegacyMetricName(name)) {
    parts.unshift(goQuote(name));
    name = '';
  }
  if (parts.length === 0) return name;
  parts.sort();
  return `${name}{${parts.join(',')}}`;
}

function extendedString(vs: VectorSelector): string {
  return vs.anchored ? ' anchored' : vs.smoothed ? ' smoothed' : '';
}

function matchingString(m: VectorMatching | null): string {
  if (!m) return '';
  let s = '';
  if (m.matchingLabels.length > 0 || m.on) {
    s = ` ${m.on ? 'on' : 'ignoring'} (${joinLabels(m.matchingLabels)})`;
    if (m.card === 'many-to-one' || m.card === 'one-to-many') {
      s += ` group_${m.card === 'many-to-one' ? 'left' : 'right'} (${joinLabels(m.include)})`;
    }
  }
  if (m.fillLhs !== null && m.fillRhs !== null && Object.is(m.fillLhs, m.fillRhs)) s += ` fill (${formatFloatG(m.fillLhs)})`;
  else {
    if (m.fillLhs !== null) s += ` fill_left (${formatFloatG(m.fillLhs)})`;
    if (m.fillRhs !== null) s += ` fill_right (${formatFloatG(m.fillRhs)})`;
  }
  return s;
}

function aggOpString(e: Extract<Expr, { type: 'AggregateExpr' }>): string {
  let s: string = e.op;
  if (e.without) s += ` without (${joinLabels(e.grouping)}) `;
  else if (e.grouping.length > 0) s += ` by (${joinLabels(e.grouping)}) `;
  return s;
}

function subqueryTimeSuffix(e: SubqueryExpr): string {
  const range = e.rangeExpr ? exprToString(e.rangeExpr) : formatDuration(e.range);
  const step = e.stepExpr ? exprToString(e.stepExpr) : e.step !== 0 ? formatDuration(e.step) : '';
  return `[${range}:${step}]${atString(e.at)}${offsetString(e.offset, e.offsetExpr)}`;
}

function matrixString(e: MatrixSelector): string {
  const vs = e.vectorSelector as VectorSelector;
  const range = e.rangeExpr ? exprToString(e.rangeExpr) : formatDuration(e.range);
  return `${selectorCore(vs)}[${range}]${atString(vs.at)}${offsetString(vs.offset, vs.offsetExpr)}${extendedString(vs)}`;
}

function durationExprString(e: DurationExpr): string {
  let s: string;
  switch (e.op) {
    case 'step':
      s = 'step()';
      break;
    case 'range':
      s = 'range()';
      break;
    case 'min':
    case 'max':
      s = `${e.op}_of(${exprToString(e.lhs!)}, ${exprToString(e.rhs!)})`;
      break;
    default:
      if (e.lhs === null) s = e.op === '+' && e.wrapped ? exprToString(e.rhs!) : `${e.op}${exprToString(e.rhs!)}`;
      else s = `${exprToString(e.lhs)} ${e.op} ${exprToString(e.rhs!)}`;
  }
  return e.wrapped ? `(${s})` : s;
}

/** Prometheus' canonical one-line form of an expression. */
export function exprToString(e: Expr): string {
  switch (e.type) {
    case 'AggregateExpr':
      return `${aggOpString(e)}(${e.param ? exprToString(e.param) + ', ' : ''}${exprToString(e.expr)})`;
    case 'BinaryExpr':
      return `${exprToString(e.lhs)} ${e.op}${e.returnBool ? ' bool' : ''}${matchingString(e.matching)} ${exprToString(e.rhs)}`;
    case 'Call':
      return `${e.func.name}(${e.args.map(exprToString).join(', ')})`;
    case 'MatrixSelector':
      return matrixString(e);
    case 'SubqueryExpr':
      return `${exprToString(e.expr)}${subqueryTimeSuffix(e)}`;
    case 'NumberLiteral':
      if (e.duration) return e.val < 0 ? '-' + formatDuration(Math.round(-e.val * 1000)) : formatDuration(Math.round(e.val * 1000));
      return formatFloatG(e.val);
    case 'StringLiteral':
      return goQuote(e.val);
    case 'ParenExpr':
      return `(${exprToString(e.expr)})`;
    case 'UnaryExpr':
      return `${e.op}${exprToString(e.expr)}`;
    case 'VectorSelector':
      return `${selectorCore(e)}${atString(e.at)}${offsetString(e.offset, e.offsetExpr)}${extendedString(e)}`;
    case 'DurationExpr':
      return durationExprString(e);
  }
}

const MAX_LINE = 100;

function indent(level: number): string {
  return '  '.repeat(level);
}

function needsSplit(e: Expr): boolean {
  return utf8Length(exprToString(e)) > MAX_LINE;
}

/** Prometheus' `Prettify`: the multi-line form used by `/api/v1/format_query`. */
export function prettify(e: Expr): string {
  return pretty(e, 0);
}

function pretty(e: Expr, level: number): string {
  const ind = indent(level);
  switch (e.type) {
    case 'AggregateExpr': {
      if (!needsSplit(e)) return ind + exprToString(e);
      let s = ind + aggOpString(e) + '(\n';
      if (e.param) s += `${pretty(e.param, level + 1)},\n`;
      return s + `${pretty(e.expr, level + 1)}\n${ind})`;
    }
    case 'BinaryExpr': {
      if (!needsSplit(e)) return ind + exprToString(e);
      return `${pretty(e.lhs, level + 1)}\n${ind}${e.op}${e.returnBool ? ' bool' : ''}${matchingString(e.matching)}\n${pretty(e.rhs, level + 1)}`;
    }
    case 'Call': {
      if (!needsSplit(e)) return ind + exprToString(e);
      return `${ind}${e.func.name}(\n${e.args.map((a) => pretty(a, level + 1)).join(',\n')}\n${ind})`;
    }
    case 'ParenExpr': {
      if (!needsSplit(e)) return ind + exprToString(e);
      return `${ind}(\n${pretty(e.expr, level + 1)}\n${ind})`;
    }
    case 'SubqueryExpr': {
      if (!needsSplit(e)) return exprToString(e);
      return pretty(e.expr, level) + subqueryTimeSuffix(e);
    }
    case 'UnaryExpr':
      return `${ind}${e.op}${pretty(e.expr, level).trim()}`;
    default:
      return ind + exprToString(e);
  }
}
