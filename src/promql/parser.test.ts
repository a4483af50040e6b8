import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseExpr, parseMetricSelector, ALL_FEATURES } from './parser.ts';
import { exprToString, prettify } from './printer.ts';
import { ParseError } from './errors.ts';
import type { BinaryExpr, Expr, NumberLiteral, VectorSelector, SubqueryExpr, AggregateExpr, MatrixSelector, StringLiteral } from './ast.ts';

function err(q: string, opts = {}): string {
  try {
    parseExpr(q, opts);
  } catch (e) {
    assert.ok(e instanceof ParseError, `expected ParseError, got ${e}`);
    return e.message;
  }
  assert.fail(`expected ${JSON.stringify(q)} to fail`);
}

function str(q: string): string {
  return exprToString(parseExpr(q, ALL_FEATURES));
}

/** Fully parenthesised structure of a binary-operator tree, to check precedence. */
function shape(e: Expr): string {
  switch (e.type) {
    case 'BinaryExpr':
      return `(${shape(e.lhs)} ${e.op}${e.returnBool ? ' bool' : ''} ${shape(e.rhs)})`;
    case 'UnaryExpr':
      return `(${e.op}${shape(e.expr)})`;
    case 'ParenExpr':
      return shape(e.expr);
    default:
      return exprToString(e);
  }
}

describe('parser: precedence and associativity', () => {
  const cases: Array<[string, string]> = [
    ['1 + 2 * 3', '(1 + (2 * 3))'],
    ['1 - 2 - 3', '((1 - 2) - 3)'],
    ['2 ^ 3 ^ 2', '(2 ^ (3 ^ 2))'],
    ['-a ^ 2', '(-(a ^ 2))'],
    ['-a * b', '((-a) * b)'],
    ['a or b and c unless d', '(a or ((b and c) unless d))'],
    ['a == b + c', '(a == (b + c))'],
    ['a + b % c atan2 d', '(a + ((b % c) atan2 d))'],
    ['a > bool b or c', '((a > bool b) or c)'],
    ['2 ^ -1 ^ 2', '(2 ^ (-(1 ^ 2)))'],
  ];
  for (const [q, want] of cases) it(q, () => assert.equal(shape(parseExpr(q)), want));

  it('folds the sign into number literals and keeps unary minus on other operands', () => {
    const n = parseExpr('-5') as NumberLiteral;
    assert.equal(n.type, 'NumberLiteral');
    assert.equal(n.val, -5);
    assert.deepEqual(n.pos, { start: 0, end: 2 });
    assert.equal(parseExpr('-2^2').type, 'UnaryExpr');
  });
});

describe('parser: literals', () => {
  const nums: Array<[string, number]> = [
    ['0x1F', 31], ['0X_ff', 255], ['1e3', 1000], ['1.5e-3', 0.0015], ['.5', 0.5], ['2.', 2], ['1_000', 1000], ['Inf', Infinity], ['-inF', -Infinity],
    ['+0.2', 0.2], ['5m', 300], ['1h30m', 5400], ['010', 8],
  ];
  for (const [q, v] of nums) it(`number ${q}`, () => assert.equal((parseExpr(q) as NumberLiteral).val, v));

  it('NaN', () => assert.ok(Number.isNaN((parseExpr('nan') as NumberLiteral).val)));

  it('strings with escapes, single quotes and back quotes', () => {
    assert.equal((parseExpr('"a\\x41\\u00e9\\101\\n\\t\\"b"') as StringLiteral).val, 'aAéA\n\t"b');
    assert.equal((parseExpr("'it\\'s'") as StringLiteral).val, "it's");
    assert.equal((parseExpr('`raw\\n`') as StringLiteral).val, 'raw\\n');
    assert.equal(err('"\\q"'), '1:1: parse error: unknown escape sequence U+0071 \'q\'');
    assert.equal(err("'\\\"'"), "1:1: parse error: unknown escape sequence U+0022 '\"'");
    assert.equal(err('"abc'), '1:1: parse error: unterminated quoted string');
  });

  it('comments are ignored', () => {
    assert.equal(str('foo # a comment\n+ bar # another'), 'foo + bar');
  });
});

describe('parser: selectors', () => {
  it('quoted metric and label names', () => {
    const vs = parseExpr('{"my.metric", "label.x"="v", job!~"a|b"}') as VectorSelector;
    assert.deepEqual(vs.matchers.map((m) => m.toString()), ['__name__="my.metric"', '"label.x"="v"', 'job!~"a|b"']);
  });

  it('offset (negative too), @ with numbers and start()/end()', () => {
    let vs = parseExpr('foo offset -5m') as VectorSelector;
    assert.equal(vs.offset, -300_000);
    vs = parseExpr('foo @ 1609746000.5') as VectorSelector;
    assert.deepEqual(vs.at, { kind: 'time', ms: 1609746000500 });
    vs = parseExpr('foo @ end()') as VectorSelector;
    assert.deepEqual(vs.at, { kind: 'end' });
    const ms = parseExpr('foo[5m] @ start() offset 1m') as MatrixSelector;
    assert.equal(ms.range, 300_000);
    assert.equal(ms.selector.offset, 60_000);
    assert.deepEqual(ms.selector.at, { kind: 'start' });
    assert.equal(str('foo[1800]'), 'foo[30m]');
  });

  it('subqueries with and without step', () => {
    let sq = parseExpr('rate(foo[5m])[1h:]') as SubqueryExpr;
    assert.equal(sq.range, 3_600_000);
    assert.equal(sq.step, 0);
    sq = parseExpr('max_over_time(rate(foo[5m])[1h:1m] offset 10m)').children()[0] as SubqueryExpr;
    assert.equal(sq.step, 60_000);
    assert.equal(sq.offset, 600_000);
  });

  it('RE2 matchers: inline flags and \\z work, JavaScript-only syntax is rejected', () => {
    const [m] = parseMetricSelector('{job=~"(?i)API.*"}');
    assert.ok(m!.matches('api-server'));
    const [z] = parseMetricSelector('{job=~"a\\\\z"}');
    assert.ok(z!.matches('a'));
    const [s] = parseMetricSelector('{job=~"a.b"}');
    assert.ok(s!.matches('a\nb'));
    assert.match(err('{job=~"(a)\\\\1"}'), /^1:2: parse error: error parsing regexp: invalid escape sequence/);
    assert.match(err('{job=~"(?=x)"}'), /^1:2: parse error: error parsing regexp/);
  });
});

describe('parser: aggregations and vector matching', () => {
  it('by/without before or after, parameters', () => {
    const a = parseExpr('topk(5, foo) by (job, "x.y")') as AggregateExpr;
    assert.deepEqual([a.op, a.grouping, a.without, (a.param as NumberLiteral).val], ['topk', ['job', 'x.y'], false, 5]);
    assert.equal(str('sum without (a) (foo)'), 'sum without (a) (foo)');
    assert.equal(str('count_values("v", foo)'), 'count_values("v", foo)');
    assert.equal(str('quantile by (le) (0.9, foo)'), 'quantile by (le) (0.9, foo)');
    assert.equal(str('limitk(2, foo)'), 'limitk(2, foo)');
  });

  it('bool, on/ignoring, group_left/group_right with extra labels', () => {
    const b = parseExpr('a == bool on(job) group_left(instance, "x.y") b') as BinaryExpr;
    assert.equal(b.returnBool, true);
    assert.deepEqual(b.matching, { card: 'many-to-one', matchingLabels: ['job'], on: true, include: ['instance', 'x.y'], fillLhs: null, fillRhs: null });
    assert.equal(str('a / ignoring(code) group_right b'), 'a / ignoring (code) group_right () b');
    assert.equal((parseExpr('a and b') as BinaryExpr).matching!.card, 'many-to-many');
  });
});

describe('parser: errors as Prometheus reports them', () => {
  const cases: Array<[string, string]> = [
    ['foo)', '1:5: parse error: unexpected right parenthesis \')\''],
    ['sum(foo', '1:8: parse error: unclosed left parenthesis'],
    ['foo{a="b"', '1:10: parse error: unexpected end of input inside braces'],
    ['foo bar', '1:5: parse error: unexpected identifier "bar"'],
    ['1 +', '1:4: parse error: unexpected end of input'],
    ['foo{a!b}', "1:6: parse error: unexpected character after '!' inside braces: 'b'"],
    ['foo @ bar', '1:7: parse error: unexpected identifier "bar" in @, expected timestamp'],
    ['{}', '1:1: parse error: vector selector must contain at least one non-empty matcher'],
    ['foo{__name__="bar"}', '1:1: parse error: metric name must not be set twice: "foo" or "bar"'],
    ['sum(1,2)', '1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2'],
    ['foo and 1', '1:1: parse error: set operator "and" not allowed in binary scalar expression'],
    ['1 > 1', '1:3: parse error: comparisons between scalars must use BOOL modifier'],
    ['foo offset 5m offset 1m', '1:1: parse error: offset may not be set multiple times'],
    ['foo @ 1 @ 2', '1:1: parse error: @ <timestamp> may not be set multiple times'],
    ['foo[5m][5m]', '1:8: parse error: ranges only allowed for vector selectors'],
    ['foo offset 1m [5m]', '1:15: parse error: no offset modifiers allowed before range'],
    ['abs()', '1:1: parse error: expected 1 argument(s) in call to "abs", got 0'],
    ['label_join(foo)', '1:1: parse error: expected at least 3 argument(s) in call to "label_join", got 1'],
    ['foo{a=1}', "1:7: parse error: unexpected character inside braces: '1'"],
    ['-foo[5m]', '1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector"'],
    ['sum(foo) by', '1:12: parse error: unexpected end of input in grouping opts, expected "("'],
    ['1 + bool 2', '1:3: parse error: bool modifier can only be used on comparison operators'],
    ['rate(foo)', '1:6: parse error: expected type range vector in call to function "rate", got instant vector'],
    ['nosuchfn(foo)', '1:1: parse error: unknown function with name "nosuchfn"'],
    ['', '1:1: parse error: no expression found in input'],
    ['foo\n  + $', "2:5: parse error: unexpected character: '$'"],
    ['"é" + é', "1:8: parse error: unexpected character: 'é'"],
    ['foo[]', '1:5: parse error: unexpected "]" in subquery or range selector, expected number, duration, step(), or range()'],
    ['foo[0s]', '1:5: parse error: duration must be greater than 0'],
    ['sum(x,)', '1:6: parse error: trailing commas not allowed in function call args'],
    ['x and on(a) group_left b', '1:1: parse error: no grouping allowed for "and" operation'],
    ['limitk(1, x)', '1:1: parse error: limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions'],
    ['sort_by_label(x, "a")', '1:1: parse error: function "sort_by_label" is not enabled'],
    ['x[1m+1m]', '1:3: parse error: experimental duration expression is not enabled'],
  ];
  for (const [q, want] of cases) it(JSON.stringify(q), () => assert.equal(err(q), want));
});

describe('printer', () => {
  const roundTrips = [
    'sum by (job) (rate(http_requests_total{code=~"5..",job="api"}[5m] offset 1m))',
    'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))',
    'a + on (x) group_left (y) b',
    'foo @ 100.000 offset -1m',
    'foo[5m:1m] @ end()',
    '-foo',
    '"a\\nb"',
    '1e+06',
    'count_values("value", foo)',
    'topk(5, foo)',
  ];
  for (const q of roundTrips) it(`round-trips ${q}`, () => assert.equal(str(q), q));

  it('prettifies long expressions over lines like Prometheus', () => {
    const q = 'sum by (job) (rate(http_requests_total{job="api-server", handler="/api/v1/query"}[5m])) / sum by (job) (rate(http_requests_total[5m]))';
    assert.equal(
      prettify(parseExpr(q)),
      [
        '  sum by (job) (rate(http_requests_total{handler="/api/v1/query",job="api-server"}[5m]))',
        '/',
        '  sum by (job) (rate(http_requests_total[5m]))',
      ].join('\n'),
    );
    assert.equal(prettify(parseExpr('up == 0')), 'up == 0');
  });
});
