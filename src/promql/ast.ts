/**
 * The PromQL abstract syntax tree, modelled on Prometheus' parser AST: one class per construct,
 * each with its position range (UTF-16 offsets into the query string, `end` exclusive), its
 * static value type and its children.
 *
 * Durations and timestamps are integer milliseconds. Nodes are plain data after parsing; the
 * engine never mutates them (it keeps its own per-query state).
 */
import type { Matcher } from '../model/index.ts';
import type { FunctionDef } from './functions.ts';

export interface PosRange {
  start: number;
  end: number;
}

export type ValueType = 'none' | 'vector' | 'scalar' | 'matrix' | 'string';

/** The type names Prometheus uses in messages (`range vector`, `instant vector`, ...). */
export function documentedType(t: ValueType): string {
  switch (t) {
    case 'vector':
      return 'instant vector';
    case 'matrix':
      return 'range vector';
    default:
      return t;
  }
}

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^' | 'atan2';
export type ComparisonOp = '==' | '!=' | '>' | '<' | '>=' | '<=';
export type SetOp = 'and' | 'or' | 'unless';
/** `</` and `>/` trim native-histogram buckets (Prometheus 3.x, experimental). */
export type TrimOp = '</' | '>/';
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp | TrimOp;

export const COMPARISON_OPS: ReadonlySet<string> = new Set(['==', '!=', '>', '<', '>=', '<=']);
export const SET_OPS: ReadonlySet<string> = new Set(['and', 'or', 'unless']);

export function isComparisonOp(op: string): op is ComparisonOp {
  return COMPARISON_OPS.has(op);
}

export function isSetOp(op: string): op is SetOp {
  return SET_OPS.has(op);
}

export type AggregateOp =
  | 'sum'
  | 'avg'
  | 'count'
  | 'min'
  | 'max'
  | 'group'
  | 'stddev'
  | 'stdvar'
  | 'topk'
  | 'bottomk'
  | 'count_values'
  | 'quantile'
  | 'limitk'
  | 'limit_ratio';

export const AGGREGATE_OPS: ReadonlySet<string> = new Set([
  'sum', 'avg', 'count', 'min', 'max', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'count_values', 'quantile', 'limitk', 'limit_ratio',
]);

export function aggregateTakesParam(op: AggregateOp): boolean {
  return op === 'topk' || op === 'bottomk' || op === 'count_values' || op === 'quantile' || op === 'limitk' || op === 'limit_ratio';
}

export type Cardinality = 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many';

export interface VectorMatching {
  card: Cardinality;
  /** Labels of `on(...)` / `ignoring(...)`. */
  matchingLabels: string[];
  /** True for `on`, false for `ignoring` (or no clause). */
  on: boolean;
  /** Extra labels of `group_left(...)` / `group_right(...)`. */
  include: string[];
  /** Experimental `fill(...)`, `fill_left(...)`, `fill_right(...)` values; null when absent. */
  fillLhs: number | null;
  fillRhs: number | null;
}

export type Expr =
  | AggregateExpr
  | BinaryExpr
  | Call
  | MatrixSelector
  | SubqueryExpr
  | NumberLiteral
  | ParenExpr
  | StringLiteral
  | UnaryExpr
  | VectorSelector
  | DurationExpr;

abstract class BaseNode {
  abstract readonly type: string;
  abstract positionRange(): PosRange;
  abstract valueType(): ValueType;
  abstract children(): Expr[];
}

export class AggregateExpr extends BaseNode {
  readonly type = 'AggregateExpr' as const;
  constructor(
    public op: AggregateOp,
    public expr: Expr,
    public param: Expr | null,
    public grouping: string[],
    public without: boolean,
    public pos: PosRange,
  ) {
    super();
  }
  positionRange(): PosRange {
    return this.pos;
  }
  valueType(): ValueType {
    return 'vector';
  }
  children(): Expr[] {
    return this.param ? [this.param, this.expr] : [this.expr];
  }
}

export class BinaryExpr extends BaseNode {
  readonly type = 'BinaryExpr' as const;
  constructor(
    public op: BinaryOp,
    public lhs: Expr,
    public rhs: Expr,
    /** Null when at least one side is a scalar (Prometheus drops matching then). */
    public matching: VectorMatching | null,
    public returnBool: boolean,
  ) {
    super();
  }
  positionRange(): PosRange {
    return { start: this.lhs.positionRange().start, end: this.rhs.positionRange().end };
  }
  valueType(): ValueType {
    return this.lhs.valueType() === 'scalar' && this.rhs.valueType() === 'scalar' ? 'scalar' : 'vector';
  }
  children(): Expr[] {
    return [this.lhs, this.rhs];
  }
}

export class Call extends BaseNode {
  readonly type = 'Call' as const;
  constructor(public func: FunctionDef, public args: Expr[], public pos: PosRange) {
    super();
  }
  positionRange(): PosRange {
    return this.pos;
  }
  valueType(): ValueType {
    return this.func.returnType;
  }
  children(): Expr[] {
    return this.args;
  }
}

/** `@` modifier value: a fixed timestamp (ms) or the query's `start()`/`end()`. */
export type AtModifier = { kind: 'time'; ms: number } | { kind: 'start' } | { kind: 'end' };

export class VectorSelector extends BaseNode {
  readonly type = 'VectorSelector' as const;
  /** Offset in ms as written (negative allowed). */
  offset = 0;
  /** Experimental duration-expression offset; resolved by the engine before evaluation. */
  offsetExpr: DurationExpr | null = null;
  at: AtModifier | null = null;
  anchored = false;
  smoothed = false;
  constructor(
    /** Metric name written outside the braces ('' when none). */
    public name: string,
    /** All matchers, including the one for a name written outside the braces (last). */
    public matchers: Matcher[],
    public pos: PosRange,
  ) {
    super();
  }
  positionRange(): PosRange {
    return this.pos;
  }
  valueType(): ValueType {
    return 'vector';
  }
  children(): Expr[] {
    return [];
  }
}

export class MatrixSelector extends BaseNode {
  readonly type = 'MatrixSelector' as const;
  constructor(
    /** A VectorSelector after successful parsing. */
    public vectorSelector: Expr,
    /** Range in ms (0 while `rangeExpr` is unresolved). */
    public range: number,
    public rangeExpr: DurationExpr | null,
    public endPos: number,
  ) {
    super();
  }
  get selector(): VectorSelector {
    return this.vectorSelector as VectorSelector;
  }
  positionRange(): PosRange {
    return { start: this.vectorSelector.positionRange().start, end: this.endPos };
  }
  valueType(): ValueType {
    return 'matrix';
  }
  children(): Expr[] {
    return [this.vectorSelector];
  }
}

export class SubqueryExpr extends BaseNode {
  readonly type = 'SubqueryExpr' as const;
  offset = 0;
  offsetExpr: DurationExpr | null = null;
  at: AtModifier | null = null;
  constructor(
    public expr: Expr,
    /** Range in ms. */
    public range: number,
    public rangeExpr: DurationExpr | null,
    /** Step in ms; 0 means the engine's default subquery step. */
    public step: number,
    public stepExpr: DurationExpr | null,
    public endPos: number,
  ) {
    super();
  }
  positionRange(): PosRange {
    return { start: this.expr.positionRange().start, end: this.endPos };
  }
  valueType(): ValueType {
    return 'matrix';
  }
  children(): Expr[] {
    return [this.expr];
  }
}

export class NumberLiteral extends BaseNode {
  readonly type = 'NumberLiteral' as const;
  constructor(
    public val: number,
    public pos: PosRange,
    /** Written as a duration (`5m`): printed back as one. */
    public duration = false,
  ) {
    super();
  }
  positionRange(): PosRange {
    return this.pos;
  }
  valueType(): ValueType {
    return 'scalar';
  }
  children(): Expr[] {
    return [];
  }
}

export class StringLiteral extends BaseNode {
  readonly type = 'StringLiteral' as const;
  constructor(public val: string, public pos: PosRange) {
    super();
  }
  positionRange(): PosRange {
    return this.pos;
  }
  valueType(): ValueType {
    return 'string';
  }
  children(): Expr[] {
    return [];
  }
}

export class ParenExpr extends BaseNode {
  readonly type = 'ParenExpr' as const;
  constructor(public expr: Expr, public pos: PosRange) {
    super();
  }
  positionRange(): PosRange {
    return this.pos;
  }
  valueType(): ValueType {
    return this.expr.valueType();
  }
  children(): Expr[] {
    return [this.expr];
  }
}

export class UnaryExpr extends BaseNode {
  readonly type = 'UnaryExpr' as const;
  constructor(public op: '+' | '-', public expr: Expr, public startPos: number) {
    super();
  }
  positionRange(): PosRange {
    return { start: this.startPos, end: this.expr.positionRange().end };
  }
  valueType(): ValueType {
    return this.expr.valueType();
  }
  children(): Expr[] {
    return [this.expr];
  }
}

export type DurationOp = '+' | '-' | '*' | '/' | '%' | '^' | 'step' | 'range' | 'min' | 'max';

/**
 * Experimental duration arithmetic (`[5m * 2]`, `offset -(1m + step())`). Operands are seconds;
 * `lhs` is null for unary ops and for `step()`/`range()`.
 */
export class DurationExpr extends BaseNode {
  readonly type = 'DurationExpr' as const;
  constructor(
    public op: DurationOp,
    public lhs: Expr | null,
    public rhs: Expr | null,
    public pos: PosRange,
    /** Written inside parentheses. */
    public wrapped = false,
  ) {
    super();
  }
  positionRange(): PosRange {
    return this.pos;
  }
  valueType(): ValueType {
    return 'scalar';
  }
  children(): Expr[] {
    const out: Expr[] = [];
    if (this.lhs) out.push(this.lhs);
    if (this.rhs) out.push(this.rhs);
    return out;
  }
}

/** Depth-first pre-order walk; `visit` gets the node and its ancestors (root first). */
export function walk(node: Expr, visit: (node: Expr, path: readonly Expr[]) => void | false): void {
  const path: Expr[] = [];
  const rec = (n: Expr): void => {
    if (visit(n, path) === false) return;
    path.push(n);
    for (const c of n.children()) rec(c);
    path.pop();
  };
  rec(node);
}

/** Removes any number of enclosing parentheses. */
export function unwrapParens(e: Expr): Expr {
  while (e.type === 'ParenExpr') e = e.expr;
  return e;
}
