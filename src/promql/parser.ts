/**
 * PromQL parser: a Pratt parser over the lexer's tokens producing the typed AST, followed by
 * Prometheus' type checks. Operator precedence and associativity are Prometheus' (`or` <
 * `and`/`unless` < comparisons < `+ -` < `* / % atan2` < `^` (right-associative); unary minus
 * binds like `*`, so `-2^2` is -4). Errors are `ParseError`s with Prometheus' texts and
 * positions.
 *
 * Error order follows Prometheus: semantic errors found while building nodes are collected in
 * source order (the first one is reported); a syntax error stops parsing; type checking runs
 * only when everything parsed cleanly.
 */
import { Matcher, METRIC_NAME, isValidLabelName, parseDuration, DurationError } from '../model/index.ts';
import {
  AggregateExpr, BinaryExpr, Call, DurationExpr, MatrixSelector, NumberLiteral, ParenExpr, StringLiteral, SubqueryExpr,
  UnaryExpr, VectorSelector, aggregateTakesParam, documentedType, isComparisonOp, isSetOp,
  type AggregateOp, type BinaryOp, type DurationOp, type Expr, type PosRange, type ValueType, type VectorMatching,
} from './ast.ts';
import { ParseError } from './errors.ts';
import { lookupFunction } from './functions.ts';
import { goQuote, lex, tokenDesc, unquoteString, type Token, type TokenType } from './lexer.ts';

export interface ParseOptions {
  /** Experimental functions and the `limitk`/`limit_ratio` aggregators. Default false. */
  experimentalFunctions?: boolean;
  /** Duration arithmetic in ranges, steps and offsets. Default false. */
  durationExpressions?: boolean;
  /** `anchored` / `smoothed` range modifiers. Default false. */
  extendedRangeSelectors?: boolean;
  /** `fill(...)`, `fill_left(...)`, `fill_right(...)` on binary operators. Default false. */
  binopFillModifiers?: boolean;
  /** Accept Prometheus 2's `holt_winters` as `double_exponential_smoothing`. Default true. */
  holtWinters?: boolean;
}

/** Every experimental syntax enabled (what the conformance corpus is parsed with). */
export const ALL_FEATURES: Required<ParseOptions> = {
  experimentalFunctions: true,
  durationExpressions: true,
  extendedRangeSelectors: true,
  binopFillModifiers: true,
  holtWinters: true,
};

const BINARY_PREC: Partial<Record<TokenType, number>> = {
  LOR: 1,
  LAND: 2, LUNLESS: 2,
  EQLC: 3, NEQ: 3, LTE: 3, LSS: 3, GTE: 3, GTR: 3, TRIM_UPPER: 3, TRIM_LOWER: 3,
  ADD: 4, SUB: 4,
  MUL: 5, DIV: 5, MOD: 5, ATAN2: 5,
  POW: 6,
};
const UNARY_OPERAND_PREC = 6;

const TOKEN_OP: Partial<Record<TokenType, BinaryOp>> = {
  LOR: 'or', LAND: 'and', LUNLESS: 'unless', EQLC: '==', NEQ: '!=', LTE: '<=', LSS: '<', GTE: '>=', GTR: '>',
  ADD: '+', SUB: '-', MUL: '*', DIV: '/', MOD: '%', ATAN2: 'atan2', POW: '^', TRIM_UPPER: '</', TRIM_LOWER: '>/',
};

/** Tokens that may name a metric (Prometheus' metric_identifier). */
const METRIC_IDENTIFIER_TOKENS = new Set<TokenType>([
  'AVG', 'BOTTOMK', 'BY', 'COUNT', 'COUNT_VALUES', 'GROUP', 'IDENTIFIER', 'LAND', 'LOR', 'LUNLESS', 'MAX', 'METRIC_IDENTIFIER', 'MIN', 'OFFSET',
  'QUANTILE', 'STDDEV', 'STDVAR', 'SUM', 'TOPK', 'WITHOUT', 'START', 'END', 'LIMITK', 'LIMIT_RATIO', 'STEP', 'RANGE', 'ANCHORED', 'SMOOTHED',
]);

/** Tokens that may name a label in grouping clauses (Prometheus' maybe_label). */
const MAYBE_LABEL_TOKENS = new Set<TokenType>([
  'AVG', 'BOOL', 'BOTTOMK', 'BY', 'COUNT', 'COUNT_VALUES', 'GROUP', 'GROUP_LEFT', 'GROUP_RIGHT', 'IDENTIFIER', 'IGNORING', 'LAND', 'LOR', 'LUNLESS',
  'MAX', 'METRIC_IDENTIFIER', 'MIN', 'OFFSET', 'ON', 'QUANTILE', 'STDDEV', 'STDVAR', 'SUM', 'TOPK', 'START', 'END', 'ATAN2', 'LIMITK', 'LIMIT_RATIO',
  'STEP', 'RANGE', 'ANCHORED', 'SMOOTHED', 'FILL', 'FILL_LEFT', 'FILL_RIGHT',
]);

const AGGREGATOR_OPS: Partial<Record<TokenType, AggregateOp>> = {
  SUM: 'sum', AVG: 'avg', COUNT: 'count', MIN: 'min', MAX: 'max', GROUP: 'group', STDDEV: 'stddev', STDVAR: 'stdvar',
  TOPK: 'topk', BOTTOMK: 'bottomk', COUNT_VALUES: 'count_values', QUANTILE: 'quantile', LIMITK: 'limitk', LIMIT_RATIO: 'limit_ratio',
};

const MAX_DURATION_SECONDS = 2 ** 63 / 1e9;

class SyntaxAbort extends Error {}

/** Parses and type-checks a PromQL expression. Throws ParseError. */
export function parseExpr(input: string, opts: ParseOptions = {}): Expr {
  const p = new Parser(input, opts);
  return p.parseExpression();
}

/**
 * Parses a series selector as the API's `match[]` parameters take it (`up{job="x"}`,
 * `{__name__=~"a|b"}`): matchers only, no offset or range. Throws ParseError.
 */
export function parseMetricSelector(input: string): Matcher[] {
  const p = new Parser(input, {});
  return p.parseSelectorOnly();
}

/** Converts seconds (a duration literal or number) to whole milliseconds as Prometheus does. */
export function secondsToMs(sec: number): number {
  return Math.trunc(Math.round(sec * 1e9) / 1e6);
}

class Parser {
  private readonly toks: Token[];
  private i = 0;
  private readonly errors: ParseError[] = [];
  /** End (exclusive) of the last closing token consumed: `)`, `}`, `]`, a number or a duration. */
  private lastClosing = 0;

  constructor(private readonly input: string, private readonly opts: ParseOptions) {
    this.toks = lex(input);
  }

  // ---- token helpers ----

  private peek(k = 0): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.type === 'ERROR') this.lexError(t);
    if (this.i < this.toks.length - 1) this.i++;
    if (t.type === 'RIGHT_BRACE' || t.type === 'RIGHT_PAREN' || t.type === 'RIGHT_BRACKET' || t.type === 'DURATION' || t.type === 'NUMBER') {
      this.lastClosing = t.pos + t.val.length;
    }
    return t;
  }

  private lexError(t: Token): never {
    this.errors.push(new ParseError(this.input, { start: t.pos, end: this.input.length }, t.val));
    throw new SyntaxAbort();
  }

  private addError(pos: PosRange, msg: string): void {
    this.errors.push(new ParseError(this.input, pos, msg));
  }

  /** Reports "unexpected <token>[ in <context>][, expected <expected>]" at the next token and stops. */
  private unexpected(context = '', expected = ''): never {
    const t = this.peek();
    if (t.type === 'ERROR') this.lexError(t);
    let msg = `unexpected ${tokenDesc(t)}`;
    if (context) msg += ` in ${context}`;
    if (expected) msg += `, expected ${expected}`;
    this.addError({ start: t.pos, end: t.pos + t.val.length }, msg);
    throw new SyntaxAbort();
  }

  private tokRange(t: Token): PosRange {
    return { start: t.pos, end: t.pos + t.val.length };
  }

  private finish<T>(fn: () => T): T {
    let result: T | undefined;
    try {
      result = fn();
    } catch (e) {
      if (!(e instanceof SyntaxAbort)) throw e;
    }
    if (this.errors.length > 0) throw this.errors[0]!;
    return result as T;
  }

  // ---- entry points ----

  parseExpression(): Expr {
    return this.finish(() => {
      if (this.peek().type === 'EOF') {
        this.addError({ start: 0, end: 0 }, 'no expression found in input');
        throw new SyntaxAbort();
      }
      const e = this.parseBinary(0);
      if (this.peek().type !== 'EOF') this.unexpected();
      if (this.errors.length === 0) {
        new TypeChecker(this.input, this.errors).check(e);
      }
      return e;
    });
  }

  parseSelectorOnly(): Matcher[] {
    return this.finish(() => {
      const t = this.peek();
      let vs: VectorSelector;
      if (METRIC_IDENTIFIER_TOKENS.has(t.type) || t.type === 'LEFT_BRACE') vs = this.parseVectorSelector();
      else this.unexpected();
      if (this.peek().type !== 'EOF') this.unexpected();
      return vs.matchers;
    });
  }

  // ---- expressions ----

  private parseBinary(minPrec: number): Expr {
    let lhs = this.parseUnary();
    for (;;) {
      const t = this.peek();
      const prec = BINARY_PREC[t.type];
      if (prec === undefined || prec < minPrec) return lhs;
      this.next();
      const op = TOKEN_OP[t.type]!;
      const mods = this.parseBinModifiers();
      // `^` is right-associative; all others are left-associative.
      const rhs = this.parseBinary(t.type === 'POW' ? prec : prec + 1);
      lhs = this.newBinary(op, lhs, rhs, mods);
    }
  }

  private newBinary(op: BinaryOp, lhs: Expr, rhs: Expr, mods: { returnBool: boolean; matching: VectorMatching }): BinaryExpr {
    const b = new BinaryExpr(op, lhs, rhs, mods.matching, mods.returnBool);
    if (!this.opts.binopFillModifiers && (mods.matching.fillLhs !== null || mods.matching.fillRhs !== null)) {
      this.addError(b.positionRange(), 'binop fill modifiers are experimental and not enabled');
    }
    return b;
  }

  private parseBinModifiers(): { returnBool: boolean; matching: VectorMatching } {
    const matching: VectorMatching = { card: 'one-to-one', matchingLabels: [], on: false, include: [], fillLhs: null, fillRhs: null };
    let returnBool = false;
    if (this.peek().type === 'BOOL') {
      this.next();
      returnBool = true;
    }
    const t = this.peek().type;
    if (t === 'ON' || t === 'IGNORING') {
      this.next();
      matching.on = t === 'ON';
      matching.matchingLabels = this.parseGroupingLabels();
      const g = this.peek().type;
      if (g === 'GROUP_LEFT' || g === 'GROUP_RIGHT') {
        this.next();
        matching.card = g === 'GROUP_LEFT' ? 'many-to-one' : 'one-to-many';
        if (this.peek().type === 'LEFT_PAREN') matching.include = this.parseGroupingLabels();
      }
    }
    // Experimental fill modifiers: fill(v) | fill_left(v) [fill_right(v)] | fill_right(v) [fill_left(v)].
    for (let k = 0; k < 2; k++) {
      const f = this.peek().type;
      if (f !== 'FILL' && f !== 'FILL_LEFT' && f !== 'FILL_RIGHT') break;
      this.next();
      if (this.peek().type !== 'LEFT_PAREN') this.unexpected('fill modifier', '"("');
      this.next();
      const v = this.parseSignedNumber('fill modifier');
      if (this.peek().type !== 'RIGHT_PAREN') this.unexpected('fill modifier', '")"');
      this.next();
      if (f === 'FILL') {
        matching.fillLhs = v;
        matching.fillRhs = v;
        break;
      }
      if (f === 'FILL_LEFT') matching.fillLhs = v;
      else matching.fillRhs = v;
    }
    return { returnBool, matching };
  }

  private parseSignedNumber(context: string): number {
    let sign = 1;
    const t = this.peek();
    if (t.type === 'ADD' || t.type === 'SUB') {
      this.next();
      if (t.type === 'SUB') sign = -1;
    }
    const n = this.peek();
    if (n.type === 'NUMBER') {
      this.next();
      return sign * this.number(n);
    }
    if (n.type === 'DURATION') {
      this.next();
      return sign * this.durationSeconds(n);
    }
    return this.unexpected(context, 'number');
  }

  private parseGroupingLabels(): string[] {
    if (this.peek().type !== 'LEFT_PAREN') this.unexpected('grouping opts', '"("');
    this.next();
    const out: string[] = [];
    for (;;) {
      const t = this.peek();
      if (t.type === 'RIGHT_PAREN') {
        this.next();
        return out;
      }
      if (MAYBE_LABEL_TOKENS.has(t.type)) {
        this.next();
        if (!isValidLabelName(t.val)) this.addError(this.tokRange(t), `invalid label name for grouping: ${goQuote(t.val)}`);
        out.push(t.val);
      } else if (t.type === 'STRING') {
        this.next();
        const v = this.unquote(t);
        if (!isValidLabelName(v)) this.addError(this.tokRange(t), `invalid label name for grouping: ${goQuote(v)}`);
        out.push(v);
      } else {
        this.unexpected('grouping opts', out.length === 0 ? 'label' : 'label');
      }
      const sep = this.peek();
      if (sep.type === 'COMMA') {
        this.next();
        continue;
      }
      if (sep.type !== 'RIGHT_PAREN') this.unexpected('grouping opts', '"," or ")"');
    }
  }

  private parseUnary(): Expr {
    const t = this.peek();
    if (t.type === 'ADD' || t.type === 'SUB') {
      this.next();
      const operand = this.parseBinary(UNARY_OPERAND_PREC);
      if (operand.type === 'NumberLiteral') {
        if (t.type === 'SUB') operand.val = -operand.val;
        operand.pos = { start: t.pos, end: operand.pos.end };
        return operand;
      }
      return new UnaryExpr(t.type === 'SUB' ? '-' : '+', operand, t.pos);
    }
    return this.parsePostfix(this.parsePrimary());
  }

  private parsePrimary(): Expr {
    const t = this.peek();
    switch (t.type) {
      case 'NUMBER': {
        this.next();
        return new NumberLiteral(this.number(t), this.tokRange(t));
      }
      case 'DURATION': {
        this.next();
        return new NumberLiteral(this.durationSeconds(t), this.tokRange(t), true);
      }
      case 'STRING': {
        this.next();
        return new StringLiteral(this.unquote(t), this.tokRange(t));
      }
      case 'LEFT_PAREN': {
        this.next();
        if (this.peek().type === 'RIGHT_PAREN') this.unexpected();
        const inner = this.parseBinary(0);
        if (this.peek().type !== 'RIGHT_PAREN') this.unexpected();
        const close = this.next();
        return new ParenExpr(inner, { start: t.pos, end: close.pos + 1 });
      }
      case 'LEFT_BRACE':
        return this.parseVectorSelector();
    }
    const agg = AGGREGATOR_OPS[t.type];
    if (agg !== undefined) {
      const n = this.peek(1).type;
      if (n === 'LEFT_PAREN' || n === 'BY' || n === 'WITHOUT') return this.parseAggregate(agg);
    }
    if (t.type === 'IDENTIFIER' && this.peek(1).type === 'LEFT_PAREN') return this.parseCall();
    if ((t.type === 'START' || t.type === 'END' || t.type === 'STEP' || t.type === 'RANGE') && this.peek(1).type === 'LEFT_PAREN') return this.parseCall();
    if (METRIC_IDENTIFIER_TOKENS.has(t.type)) return this.parseVectorSelector();
    if (agg !== undefined) this.unexpected('aggregation');
    return this.unexpected();
  }

  private parseAggregate(op: AggregateOp): Expr {
    const opTok = this.next();
    let grouping: string[] = [];
    let without = false;
    let modifierFirst = false;
    const mt = this.peek().type;
    if (mt === 'BY' || mt === 'WITHOUT') {
      this.next();
      without = mt === 'WITHOUT';
      grouping = this.parseGroupingLabels();
      modifierFirst = true;
    }
    if (this.peek().type !== 'LEFT_PAREN') this.unexpected('aggregation');
    const args = this.parseCallArgs();
    if (!modifierFirst) {
      const m2 = this.peek().type;
      if (m2 === 'BY' || m2 === 'WITHOUT') {
        this.next();
        without = m2 === 'WITHOUT';
        grouping = this.parseGroupingLabels();
      }
    }
    const pos = { start: opTok.pos, end: this.lastClosing };
    if (args.length === 0) {
      this.addError(pos, 'no arguments for aggregate expression provided');
      throw new SyntaxAbort();
    }
    let desired = 1;
    let param: Expr | null = null;
    if (aggregateTakesParam(op)) {
      if (!this.opts.experimentalFunctions && (op === 'limitk' || op === 'limit_ratio')) {
        this.addError(pos, `${op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions`);
        throw new SyntaxAbort();
      }
      desired = 2;
      param = args[0]!;
    }
    if (args.length !== desired) {
      this.addError(pos, `wrong number of arguments for aggregate expression provided, expected ${desired}, got ${args.length}`);
      throw new SyntaxAbort();
    }
    return new AggregateExpr(op, args[desired - 1]!, param, grouping, without, pos);
  }

  /** `(` args `)` with Prometheus' errors; returns the argument expressions. */
  private parseCallArgs(): Expr[] {
    this.next(); // (
    const args: Expr[] = [];
    if (this.peek().type === 'RIGHT_PAREN') {
      this.next();
      return args;
    }
    for (;;) {
      args.push(this.parseBinary(0));
      const t = this.peek();
      if (t.type === 'COMMA') {
        this.next();
        if (this.peek().type === 'RIGHT_PAREN') {
          this.addError(this.tokRange(t), 'trailing commas not allowed in function call args');
          this.next();
          return args;
        }
        continue;
      }
      if (t.type === 'RIGHT_PAREN') {
        this.next();
        return args;
      }
      this.unexpected();
    }
  }

  private parseCall(): Expr {
    const nameTok = this.next();
    // Function names are case-sensitive; start/end/step/range are keywords (case-insensitive).
    const name = nameTok.type === 'IDENTIFIER' ? nameTok.val : nameTok.val.toLowerCase();
    const args = this.parseCallArgs();
    const pos = { start: nameTok.pos, end: this.lastClosing };
    const fn = lookupFunction(name, { experimental: this.opts.experimentalFunctions ?? false, holtWinters: this.opts.holtWinters });
    if (!fn) {
      this.addError(this.tokRange(nameTok), `unknown function with name ${goQuote(nameTok.val)}`);
      throw new SyntaxAbort();
    }
    if (fn.experimental && !this.opts.experimentalFunctions) {
      this.addError(this.tokRange(nameTok), `function ${goQuote(nameTok.val)} is not enabled`);
    }
    return new Call(fn, args, pos);
  }

  private parseVectorSelector(): VectorSelector {
    const t = this.peek();
    let name = '';
    let start = t.pos;
    let end: number;
    let matchers: Matcher[] = [];
    if (t.type !== 'LEFT_BRACE') {
      this.next();
      name = t.val;
      end = t.pos + t.val.length;
      if (this.peek().type === 'LEFT_BRACE') {
        const r = this.parseLabelMatchers();
        matchers = r.matchers;
        end = r.end;
      }
    } else {
      const r = this.parseLabelMatchers();
      matchers = r.matchers;
      end = r.end;
      start = t.pos;
    }
    if (name !== '') matchers.push(new Matcher('=', METRIC_NAME, name));
    return new VectorSelector(name, matchers, { start, end });
  }

  private parseLabelMatchers(): { matchers: Matcher[]; end: number } {
    this.next(); // {
    const matchers: Matcher[] = [];
    let first = true;
    for (;;) {
      const t = this.peek();
      if (t.type === 'RIGHT_BRACE') {
        this.next();
        return { matchers, end: t.pos + 1 };
      }
      if (!first) {
        if (t.type !== 'COMMA') this.unexpected('label matching', '"," or "}"');
        this.next();
        if (this.peek().type === 'RIGHT_BRACE') continue;
      }
      first = false;
      const l = this.peek();
      if (l.type === 'IDENTIFIER' || l.type === 'STRING') {
        this.next();
        const op = this.peek();
        const opType = op.type;
        if (opType !== 'EQL' && opType !== 'NEQ' && opType !== 'EQL_REGEX' && opType !== 'NEQ_REGEX') {
          if (l.type === 'STRING') {
            // A lone string is the metric name: {"my.metric"}.
            const m = this.newMatcher('=', METRIC_NAME, this.unquote(l), this.tokRange(l));
            if (m) matchers.push(m);
            continue;
          }
          this.unexpected('label matching', 'label matching operator');
        }
        this.next();
        const v = this.peek();
        if (v.type !== 'STRING') this.unexpected('label matching', 'string');
        this.next();
        const labelName = l.type === 'STRING' ? this.unquote(l) : l.val;
        const type = opType === 'EQL' ? '=' : opType === 'NEQ' ? '!=' : opType === 'EQL_REGEX' ? '=~' : '!~';
        const m = this.newMatcher(type, labelName, this.unquote(v), { start: l.pos, end: v.pos + v.val.length });
        if (m) matchers.push(m);
        continue;
      }
      this.unexpected('label matching', 'identifier or "}"');
    }
  }

  private newMatcher(type: '=' | '!=' | '=~' | '!~', name: string, value: string, pos: PosRange): Matcher | undefined {
    try {
      return new Matcher(type, name, value);
    } catch (e) {
      this.addError(pos, (e as Error).message);
      return undefined;
    }
  }

  /** Postfix modifiers: `[range]`, `[range:step]`, `offset`, `@`, `anchored`, `smoothed`. */
  private parsePostfix(e: Expr): Expr {
    for (;;) {
      const t = this.peek();
      switch (t.type) {
        case 'LEFT_BRACKET':
          e = this.parseRangeOrSubquery(e);
          continue;
        case 'OFFSET':
          this.next();
          this.parseOffset(e);
          continue;
        case 'AT':
          this.next();
          this.parseAt(e);
          continue;
        case 'ANCHORED':
        case 'SMOOTHED':
          this.next();
          this.setExtended(e, t.type === 'ANCHORED' ? 'anchored' : 'smoothed');
          continue;
        default:
          return e;
      }
    }
  }

  private parseRangeOrSubquery(e: Expr): Expr {
    const open = this.next();
    const ctxt = 'subquery or range selector';
    const rangeTok = this.peek();
    if (rangeTok.type === 'RIGHT_BRACKET' || rangeTok.type === 'COLON') this.unexpected(ctxt, 'number, duration, step(), or range()');
    const range = this.parseDurationExprTop(ctxt, 'number, duration, step(), or range()');
    const after = this.peek();
    if (after.type === 'RIGHT_BRACKET') {
      const close = this.next();
      let errMsg = '';
      if (e.type !== 'VectorSelector') errMsg = 'ranges only allowed for vector selectors';
      else if (e.offset !== 0 || e.offsetExpr) errMsg = 'no offset modifiers allowed before range';
      else if (e.at && e.at.kind === 'time') errMsg = 'no @ modifiers allowed before range';
      if (errMsg) this.addError({ start: open.pos, end: close.pos + 1 }, errMsg);
      return new MatrixSelector(e, range.ms, range.expr, this.lastClosing);
    }
    if (after.type !== 'COLON') this.unexpected('subquery or range', '":" or "]"');
    this.next();
    let step: { ms: number; expr: DurationExpr | null } = { ms: 0, expr: null };
    if (this.peek().type !== 'RIGHT_BRACKET') {
      step = this.parseDurationExprTop('subquery selector', 'number, duration, step(), range(), or "]"');
      if (this.peek().type !== 'RIGHT_BRACKET') this.unexpected('subquery selector', '"]"');
    }
    const close = this.next();
    return new SubqueryExpr(e, range.ms, range.expr, step.ms, step.expr, close.pos + 1);
  }

  /** A positive duration inside brackets: a literal or (experimental) duration arithmetic. */
  private parseDurationExprTop(context: string, expected: string): { ms: number; expr: DurationExpr | null } {
    const t = this.peek();
    if (!this.startsDurationExpr(t)) this.unexpected(context, expected);
    const d = this.parseDurationExpr(0);
    if (d.type === 'NumberLiteral') {
      if (d.val <= 0) {
        this.addError(d.pos, 'duration must be greater than 0');
        return { ms: 0, expr: null };
      }
      return { ms: secondsToMs(d.val), expr: null };
    }
    return { ms: 0, expr: d as DurationExpr };
  }

  private startsDurationExpr(t: Token): boolean {
    return (
      t.type === 'NUMBER' || t.type === 'DURATION' || t.type === 'ADD' || t.type === 'SUB' || t.type === 'LEFT_PAREN' ||
      t.type === 'STEP' || t.type === 'RANGE' || (t.type === 'IDENTIFIER' && (t.val === 'min_of' || t.val === 'max_of'))
    );
  }

  /** Duration arithmetic (`1m + 5s * 2`, `step()`, `min_of(a, b)`); literals fold to NumberLiteral. */
  private parseDurationExpr(minPrec: number): Expr {
    let lhs = this.parseDurationUnary();
    for (;;) {
      const t = this.peek();
      const prec = durationPrec(t.type);
      if (prec === undefined || prec < minPrec) return lhs;
      this.next();
      const rhs = this.parseDurationExpr(t.type === 'POW' ? prec : prec + 1);
      this.experimentalDuration(lhs);
      const ops: Record<string, DurationOp> = { ADD: '+', SUB: '-', MUL: '*', DIV: '/', MOD: '%', POW: '^' };
      const op = ops[t.type]!;
      if ((op === '/' || op === '%') && rhs.type === 'NumberLiteral' && rhs.val === 0) {
        this.addError(rhs.positionRange(), op === '/' ? 'division by zero' : 'modulo by zero');
      }
      lhs = new DurationExpr(op, lhs, rhs, { start: lhs.positionRange().start, end: rhs.positionRange().end });
    }
  }

  private experimentalDuration(e: Expr): void {
    if (!this.opts.durationExpressions) this.addError(e.positionRange(), 'experimental duration expression is not enabled');
  }

  private parseDurationUnary(): Expr {
    const t = this.peek();
    if (t.type === 'ADD' || t.type === 'SUB') {
      this.next();
      const operand = this.parseDurationExpr(UNARY_OPERAND_PREC);
      if (operand.type === 'NumberLiteral') {
        if (t.type === 'SUB') operand.val = -operand.val;
        if (Math.abs(operand.val) > MAX_DURATION_SECONDS) {
          this.addError(this.tokRange(t), 'duration out of range');
          return new NumberLiteral(0, operand.pos);
        }
        operand.pos = { start: t.pos, end: operand.pos.end };
        return operand;
      }
      if (t.type === 'SUB') return new DurationExpr('-', null, operand, { start: t.pos, end: operand.positionRange().end });
      return operand;
    }
    return this.parseDurationPrimary();
  }

  private parseDurationPrimary(): Expr {
    const t = this.peek();
    switch (t.type) {
      case 'NUMBER': {
        this.next();
        const v = this.number(t);
        if (Math.abs(v) > MAX_DURATION_SECONDS) {
          this.addError(this.tokRange(t), 'duration out of range');
          return new NumberLiteral(0, this.tokRange(t));
        }
        return new NumberLiteral(v, this.tokRange(t));
      }
      case 'DURATION':
        this.next();
        return new NumberLiteral(this.durationSeconds(t), this.tokRange(t), true);
      case 'LEFT_PAREN': {
        this.next();
        const inner = this.parseDurationExpr(0);
        if (this.peek().type !== 'RIGHT_PAREN') this.unexpected('duration expression', '")"');
        const close = this.next();
        this.experimentalDuration(inner);
        if (inner.type === 'DurationExpr') {
          inner.wrapped = true;
          return inner;
        }
        return new DurationExpr('+', null, inner, { start: t.pos, end: close.pos + 1 }, true);
      }
      case 'STEP':
      case 'RANGE': {
        this.next();
        if (this.peek().type !== 'LEFT_PAREN') this.unexpected('duration expression', '"("');
        this.next();
        if (this.peek().type !== 'RIGHT_PAREN') this.unexpected('duration expression', '")"');
        const close = this.next();
        const d = new DurationExpr(t.type === 'STEP' ? 'step' : 'range', null, null, { start: t.pos, end: close.pos + 1 });
        this.experimentalDuration(d);
        return d;
      }
      case 'IDENTIFIER':
        if (t.val === 'min_of' || t.val === 'max_of') {
          this.next();
          if (this.peek().type !== 'LEFT_PAREN') this.unexpected('duration expression', '"("');
          this.next();
          const a = this.parseDurationExpr(0);
          if (this.peek().type !== 'COMMA') this.unexpected('duration expression', '","');
          this.next();
          const b = this.parseDurationExpr(0);
          if (this.peek().type !== 'RIGHT_PAREN') this.unexpected('duration expression', '")"');
          const close = this.next();
          const d = new DurationExpr(t.val === 'min_of' ? 'min' : 'max', a, b, { start: t.pos, end: close.pos + 1 });
          this.experimentalDuration(d);
          return d;
        }
    }
    return this.unexpected('duration expression', 'number, duration, step(), or range()');
  }

  /** `offset` modifier: a (signed) literal, or step()/range()/min_of/max_of/parenthesised arithmetic. */
  private parseOffset(e: Expr): void {
    const t = this.peek();
    let sign = 1;
    let signTok: Token | undefined;
    if (t.type === 'ADD' || t.type === 'SUB') {
      signTok = this.next();
      if (t.type === 'SUB') sign = -1;
    }
    const n = this.peek();
    let ms = 0;
    let expr: DurationExpr | null = null;
    if (n.type === 'NUMBER' || n.type === 'DURATION') {
      this.next();
      const v = sign * (n.type === 'NUMBER' ? this.number(n) : this.durationSeconds(n));
      if (Math.abs(v) > MAX_DURATION_SECONDS) this.addError(this.tokRange(signTok ?? n), 'duration out of range');
      else ms = secondsToMs(v);
    } else if (n.type === 'STEP' || n.type === 'RANGE' || n.type === 'LEFT_PAREN' || (n.type === 'IDENTIFIER' && (n.val === 'min_of' || n.val === 'max_of'))) {
      const inner = this.parseDurationPrimary();
      if (inner.type === 'NumberLiteral') ms = secondsToMs(sign * inner.val);
      else {
        const d = inner as DurationExpr;
        expr = sign < 0 ? new DurationExpr('-', null, d, { start: signTok!.pos, end: d.pos.end }) : d;
      }
    } else {
      this.unexpected('offset', 'number, duration, step(), or range()');
    }
    this.addOffset(e, ms, expr);
  }

  private addOffset(e: Expr, ms: number, expr: DurationExpr | null): void {
    let target: VectorSelector | SubqueryExpr;
    if (e.type === 'VectorSelector') target = e;
    else if (e.type === 'MatrixSelector') {
      if (e.vectorSelector.type !== 'VectorSelector') {
        this.addError(e.positionRange(), 'ranges only allowed for vector selectors');
        return;
      }
      target = e.vectorSelector;
    } else if (e.type === 'SubqueryExpr') target = e;
    else {
      this.addError(e.positionRange(), 'offset modifier must be preceded by an instant vector selector or range vector selector or a subquery');
      return;
    }
    if (target.offset !== 0 || target.offsetExpr) {
      this.addError(e.positionRange(), 'offset may not be set multiple times');
    } else {
      target.offset = ms;
      target.offsetExpr = expr;
    }
    this.setEnd(e);
  }

  private setEnd(e: Expr): void {
    if (e.type === 'VectorSelector') e.pos = { start: e.pos.start, end: this.lastClosing };
    else if (e.type === 'MatrixSelector' || e.type === 'SubqueryExpr') e.endPos = this.lastClosing;
  }

  private parseAt(e: Expr): void {
    const t = this.peek();
    if (t.type === 'START' || t.type === 'END') {
      this.next();
      if (this.peek().type !== 'LEFT_PAREN') this.unexpected('@', 'timestamp');
      this.next();
      if (this.peek().type !== 'RIGHT_PAREN') this.unexpected('@', 'timestamp');
      this.next();
      this.setAt(e, { kind: t.type === 'START' ? 'start' : 'end' });
      return;
    }
    let sign = 1;
    if (t.type === 'ADD' || t.type === 'SUB') {
      const n = this.peek(1);
      if (n.type !== 'NUMBER' && n.type !== 'DURATION') {
        this.next();
        this.unexpected('@', 'timestamp');
      }
      this.next();
      if (t.type === 'SUB') sign = -1;
    }
    const n = this.peek();
    if (n.type !== 'NUMBER' && n.type !== 'DURATION') this.unexpected('@', 'timestamp');
    this.next();
    const secs = sign * (n.type === 'NUMBER' ? this.number(n) : this.durationSeconds(n));
    if (!Number.isFinite(secs) || secs >= 9223372036854775807 || secs <= -9223372036854775808) {
      this.addError(e.positionRange(), `timestamp out of bounds for @ modifier: ${formatGoF(secs)}`);
    }
    this.setAt(e, { kind: 'time', ms: Math.round(secs * 1000) });
  }

  private setAt(e: Expr, at: NonNullable<VectorSelector['at']>): void {
    let target: VectorSelector | SubqueryExpr;
    if (e.type === 'VectorSelector') target = e;
    else if (e.type === 'MatrixSelector') {
      if (e.vectorSelector.type !== 'VectorSelector') {
        this.addError(e.positionRange(), 'ranges only allowed for vector selectors');
        return;
      }
      target = e.vectorSelector;
    } else if (e.type === 'SubqueryExpr') target = e;
    else {
      this.addError(e.positionRange(), '@ modifier must be preceded by an instant vector selector or range vector selector or a subquery');
      return;
    }
    if (target.at) {
      this.addError(e.positionRange(), '@ <timestamp> may not be set multiple times');
      return;
    }
    target.at = at;
    this.setEnd(e);
  }

  private setExtended(e: Expr, which: 'anchored' | 'smoothed'): void {
    if (!this.opts.extendedRangeSelectors) {
      this.addError(e.positionRange(), `${which} modifier is experimental and not enabled`);
      return;
    }
    let vs: VectorSelector | undefined;
    if (e.type === 'VectorSelector') vs = e;
    else if (e.type === 'MatrixSelector' && e.vectorSelector.type === 'VectorSelector') vs = e.vectorSelector;
    else if (e.type === 'SubqueryExpr') {
      this.addError(e.positionRange(), `${which} modifier is not supported for subqueries`);
      return;
    } else if (e.type !== 'MatrixSelector') {
      this.addError(e.positionRange(), `${which} modifier not implemented`);
      return;
    }
    if (!vs) return;
    if (which === 'anchored') vs.anchored = true;
    else vs.smoothed = true;
    if (vs.anchored && vs.smoothed) this.addError(e.positionRange(), 'anchored and smoothed modifiers cannot be used together');
  }

  // ---- literals ----

  private number(t: Token): number {
    const v = parseGoNumber(t.val);
    if (v === undefined) {
      this.addError(this.tokRange(t), `error parsing number: strconv.ParseFloat: parsing ${goQuote(t.val)}: invalid syntax`);
      return 0;
    }
    return v;
  }

  private durationSeconds(t: Token): number {
    try {
      return parseDuration(t.val) / 1000;
    } catch (e) {
      this.addError(this.tokRange(t), e instanceof DurationError ? e.message : String(e));
      return 0;
    }
  }

  private unquote(t: Token): string {
    return unquoteString(t.val);
  }
}

function durationPrec(t: TokenType): number | undefined {
  switch (t) {
    case 'ADD': case 'SUB': return 4;
    case 'MUL': case 'DIV': case 'MOD': return 5;
    case 'POW': return 6;
    default: return undefined;
  }
}

/** Go's %f. */
function formatGoF(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return v.toFixed(6);
}

/**
 * A number token as Prometheus reads it: strconv.ParseInt(s, 0, 64) first (hex, octal with a
 * leading 0, `0o`, `0b`, underscores), else strconv.ParseFloat (decimal, hex floats, Inf, NaN).
 */
export function parseGoNumber(s: string): number | undefined {
  const low = s.toLowerCase();
  if (low === 'inf' || low === '+inf') return Infinity;
  if (low === '-inf') return -Infinity;
  if (low === 'nan') return NaN;
  let body = s;
  let neg = false;
  if (body.startsWith('+') || body.startsWith('-')) {
    neg = body[0] === '-';
    body = body.slice(1);
  }
  const underscoresOk = (x: string): boolean => !x.includes('__') && !x.startsWith('_') && !x.endsWith('_');
  // Integers with base prefixes.
  let m = /^0[xX](_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)$/.exec(body);
  if (m) return sign(Number.parseInt(m[1]!.replace(/_/g, ''), 16));
  m = /^0[oO](_?[0-7]+(?:_[0-7]+)*)$/.exec(body);
  if (m) return sign(Number.parseInt(m[1]!.replace(/_/g, ''), 8));
  m = /^0[bB](_?[01]+(?:_[01]+)*)$/.exec(body);
  if (m) return sign(Number.parseInt(m[1]!.replace(/_/g, ''), 2));
  if (/^0_?[0-7]+(?:_[0-7]+)*$/.test(body)) return sign(Number.parseInt(body.replace(/_/g, ''), 8));
  if (/^[0-9]+(?:_[0-9]+)*$/.test(body)) return sign(Number(body.replace(/_/g, '')));
  // Decimal floats (underscores only between digits).
  if (/^(?:[0-9](?:_?[0-9])*)?(?:\.(?:[0-9](?:_?[0-9])*)?)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?$/.test(body) && /[0-9]/.test(body) && underscoresOk(body)) {
    const v = Number(body.replace(/_/g, ''));
    if (!Number.isNaN(v)) return sign(v);
  }
  // Hex floats: 0x1.8p3.
  m = /^0[xX]([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?[pP]([+-]?[0-9_]+)$/.exec(body);
  if (m) {
    const intPart = (m[1] ?? '').replace(/_/g, '');
    const frac = (m[2] ?? '').replace(/_/g, '');
    if (intPart === '' && frac === '') return undefined;
    let v = intPart ? Number.parseInt(intPart, 16) : 0;
    for (let i = 0; i < frac.length; i++) v += Number.parseInt(frac[i]!, 16) / 16 ** (i + 1);
    return sign(v * 2 ** Number(m[3]!.replace(/_/g, '')));
  }
  return undefined;

  function sign(v: number): number {
    return neg ? -v : v;
  }
}

/** Prometheus' checkAST: type checks in Prometheus' order, appending errors. */
class TypeChecker {
  constructor(private readonly input: string, private readonly errors: ParseError[]) {}

  private err(pos: PosRange, msg: string): void {
    this.errors.push(new ParseError(this.input, pos, msg));
  }

  private expectType(node: Expr, want: ValueType, context: string): void {
    const t = this.check(node);
    if (t !== want) this.err(node.positionRange(), `expected type ${documentedType(want)} in ${context}, got ${documentedType(t)}`);
  }

  check(node: Expr): ValueType {
    const typ = node.valueType();
    switch (node.type) {
      case 'AggregateExpr':
        this.expectType(node.expr, 'vector', 'aggregation expression');
        if (node.op === 'topk' || node.op === 'bottomk' || node.op === 'quantile' || node.op === 'limitk' || node.op === 'limit_ratio') {
          this.expectType(node.param!, 'scalar', 'aggregation parameter');
        }
        if (node.op === 'count_values') this.expectType(node.param!, 'string', 'aggregation parameter');
        break;
      case 'BinaryExpr': {
        const lt = this.check(node.lhs);
        const rt = this.check(node.rhs);
        const opRange = (): PosRange => {
          let start = node.lhs.positionRange().end;
          while (start < this.input.length && /\s/.test(this.input[start]!)) start++;
          let end = node.rhs.positionRange().start - 1;
          while (end > 0 && /\s/.test(this.input[end]!)) end--;
          return { start, end };
        };
        if (node.returnBool && !isComparisonOp(node.op)) this.err(opRange(), 'bool modifier can only be used on comparison operators');
        if (isComparisonOp(node.op) && !node.returnBool && rt === 'scalar' && lt === 'scalar') {
          this.err(opRange(), 'comparisons between scalars must use BOOL modifier');
        }
        const m = node.matching;
        if (m && isSetOp(node.op) && m.card === 'one-to-one') m.card = 'many-to-many';
        if (m && m.on) {
          for (const l1 of m.matchingLabels) {
            if (m.include.includes(l1)) this.err(opRange(), `label ${goQuote(l1)} must not occur in ON and GROUP clause at once`);
          }
        }
        if (lt !== 'scalar' && lt !== 'vector') this.err(node.lhs.positionRange(), 'binary expression must contain only scalar and instant vector types');
        if (rt !== 'scalar' && rt !== 'vector') this.err(node.rhs.positionRange(), 'binary expression must contain only scalar and instant vector types');
        if ((lt !== 'vector' || rt !== 'vector') && m) {
          if (m.matchingLabels.length > 0) this.err(node.positionRange(), 'vector matching only allowed between instant vectors');
          if (m.fillLhs !== null || m.fillRhs !== null) this.err(node.positionRange(), 'filling in missing series only allowed between instant vectors');
          node.matching = null;
        } else if (m && isSetOp(node.op)) {
          if (m.card === 'one-to-many' || m.card === 'many-to-one') this.err(node.positionRange(), `no grouping allowed for ${goQuote(node.op)} operation`);
          if (m.card !== 'many-to-many') this.err(node.positionRange(), 'set operations must always be many-to-many');
          if (m.fillLhs !== null || m.fillRhs !== null) this.err(node.positionRange(), 'filling in missing series not allowed for set operators');
        }
        if ((lt === 'scalar' || rt === 'scalar') && isSetOp(node.op)) {
          this.err(node.positionRange(), `set operator ${goQuote(node.op)} not allowed in binary scalar expression`);
        }
        break;
      }
      case 'Call': {
        const f = node.func;
        const nargs = f.argTypes.length;
        if (f.variadic === 0) {
          if (nargs !== node.args.length) this.err(node.positionRange(), `expected ${nargs} argument(s) in call to ${goQuote(f.name)}, got ${node.args.length}`);
        } else {
          const na = nargs - 1;
          if (na > node.args.length) this.err(node.positionRange(), `expected at least ${na} argument(s) in call to ${goQuote(f.name)}, got ${node.args.length}`);
          else if (f.variadic > 0 && na + f.variadic < node.args.length) {
            this.err(node.positionRange(), `expected at most ${na + f.variadic} argument(s) in call to ${goQuote(f.name)}, got ${node.args.length}`);
          }
        }
        if (f.name === 'info' && node.args.length > 1) {
          const a1 = node.args[1]!;
          if (a1.valueType() !== 'vector') {
            this.err(node.positionRange(), `expected type instant vector in call to function ${goQuote(f.name)}, got ${documentedType(a1.valueType())}`);
          }
          if (a1.type === 'VectorSelector' && a1.name !== '') this.err(a1.positionRange(), 'expected label selectors only, got vector selector instead');
          else if (a1.type !== 'VectorSelector') this.err(a1.positionRange(), 'expected label selectors only');
        }
        for (let i = 0; i < node.args.length; i++) {
          let ti = i;
          if (i >= nargs) {
            if (f.variadic === 0) break;
            ti = nargs - 1;
          }
          const arg = node.args[i]!;
          // The info() selector may match on labels only (checked above).
          const t = f.name === 'info' && i === 1 && arg.type === 'VectorSelector' ? 'vector' : this.check(arg);
          if (t !== f.argTypes[ti]) {
            this.err(arg.positionRange(), `expected type ${documentedType(f.argTypes[ti]!)} in call to function ${goQuote(f.name)}, got ${documentedType(t)}`);
          }
        }
        break;
      }
      case 'ParenExpr':
        this.check(node.expr);
        break;
      case 'UnaryExpr': {
        const t = this.check(node.expr);
        if (t !== 'scalar' && t !== 'vector') {
          this.err(node.positionRange(), `unary expression only allowed on expressions of type scalar or instant vector, got ${goQuote(documentedType(t))}`);
        }
        break;
      }
      case 'SubqueryExpr': {
        const t = this.check(node.expr);
        if (t !== 'vector') this.err(node.positionRange(), `subquery is only allowed on instant vector, got ${t} instead`);
        break;
      }
      case 'MatrixSelector':
        this.check(node.vectorSelector);
        break;
      case 'VectorSelector':
        this.checkSelector(node);
        break;
      default:
        break;
    }
    return typ;
  }

  private checkSelector(n: VectorSelector): void {
    if (n.name !== '') {
      for (const m of n.matchers.slice(0, -1)) {
        if (m.name === METRIC_NAME) this.err(n.positionRange(), `metric name must not be set twice: ${goQuote(n.name)} or ${goQuote(m.value)}`);
      }
      return;
    }
    if (!n.matchers.some((m) => !m.matchesEmpty)) {
      this.err(n.positionRange(), 'vector selector must contain at least one non-empty matcher');
    }
  }
}

/** Node types returned by `parseExpr`, re-exported for convenience. */
export type { Expr, DurationOp };
