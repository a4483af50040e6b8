import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Matcher } from './matcher.ts';
import { compileAnchoredRe2, RegexSyntaxError } from './re2.ts';

test('equality matchers and the empty-value rule', () => {
  assert.ok(new Matcher('=', 'a', 'x').matches('x'));
  assert.ok(!new Matcher('=', 'a', 'x').matches('y'));
  assert.ok(new Matcher('=', 'a', '').matchesEmpty);
  assert.ok(new Matcher('!=', 'a', 'x').matchesEmpty);
  assert.ok(!new Matcher('!=', 'a', '').matchesEmpty);
});

test('regex matchers are fully anchored', () => {
  const m = new Matcher('=~', 'a', 'foo|bar');
  assert.ok(m.matches('foo'));
  assert.ok(!m.matches('foobar'));
  assert.ok(!m.matches('xfoo'));
  assert.deepEqual(m.setMatches, ['foo', 'bar']);
  assert.ok(new Matcher('!~', 'a', 'fo+').matches('food'));
  assert.ok(!new Matcher('=~', 'a', '.+').matchesEmpty);
  assert.ok(new Matcher('=~', 'a', '.*').matchesEmpty);
  assert.ok(new Matcher('=~', 'a', 'x|').matchesEmpty);
});

test('Prometheus regexes let . match a newline; Alertmanager ones do not', () => {
  assert.ok(new Matcher('=~', 'a', 'a.b').matches('a\nb'));
  assert.ok(!new Matcher('=~', 'a', 'a.b', { dotAll: false }).matches('a\nb'));
  assert.ok(new Matcher('=~', 'a', '.*').matches('x\ny'));
});

test('fast paths agree with the regex engine', () => {
  const patterns = ['.*', '.+', 'abc', 'a|b|c', '(a|bc)', '(?:x|yy)', 'foo.*', '.*foo', '.*foo.*', 'fo\\.o.*', '(?i)abc|DEF', 'ab?c', 'a[bc]d'];
  const inputs = ['', 'a', 'abc', 'ABC', 'def', 'foo', 'foobar', 'xfoo', 'xfooy', 'fo.o!', 'ac', 'abd', 'a\nb', 'bc', 'yy'];
  for (const p of patterns) {
    const m = new Matcher('=~', 'l', p);
    const re = compileAnchoredRe2(p, { dotAll: true });
    for (const s of inputs) assert.equal(m.matches(s), re.test(s), `${p} on ${JSON.stringify(s)}`);
  }
});

test('literal prefixes are reported for index scans', () => {
  assert.equal(new Matcher('=~', 'a', 'api_.*').prefix, 'api_');
  assert.equal(new Matcher('=~', 'a', 'abc?d').prefix, 'ab');
  assert.equal(new Matcher('=~', 'a', 'x|y').prefix, '');
  assert.equal(new Matcher('=~', 'a', 'xa|xb').prefix, 'x');
});

test('RE2 constructs JavaScript lacks are translated', () => {
  const ok = (re: string, s: string) => assert.ok(compileAnchoredRe2(re).test(s), `${re} should match ${JSON.stringify(s)}`);
  const no = (re: string, s: string) => assert.ok(!compileAnchoredRe2(re).test(s), `${re} should not match ${JSON.stringify(s)}`);
  ok('(?i)hello', 'HeLLo');
  ok('a(?i:b)c', 'aBc');
  no('a(?i:b)c', 'aBC');
  ok('a(?i)bc', 'aBC');
  no('a(?i)bc', 'ABC');
  ok('(?s)a.b', 'a\nb');
  no('a.b', 'a\nb');
  ok('abc\\z', 'abc');
  ok('\\Aabc', 'abc');
  ok('\\Qa.b*\\E', 'a.b*');
  no('\\Qa.b\\E', 'axb');
  ok('(?P<x>a+)b', 'aab');
  ok('[[:alpha:]]+[[:digit:]]', 'abc1');
  no('[[:alpha:]]', '1');
  ok('[^[:space:]]+', 'abc');
  ok('\\pL+', 'héllo');
  ok('\\p{Greek}+', 'αβγ');
  ok('\\x41\\x{42}', 'AB');
  ok('a{2,3}', 'aaa');
  ok('x{', 'x{');
  ok('\\.\\-\\/', '.-/');
  ok('[a\\-z]', '-');
  ok('(?U)a+', 'aaa');
  ok('\\d\\w\\s', '1a ');
});

test('constructs RE2 rejects are rejected with an RE2-style message', () => {
  for (const re of ['(?=a)', '(?!a)', '(?<=a)b', 'a\\1', '(a', 'a)', '[a', 'a**', '*a', 'a{1001}', '\\q', '(?z)a']) {
    assert.throws(() => compileAnchoredRe2(re), (e: unknown) => e instanceof RegexSyntaxError && e.message.startsWith('error parsing regexp: '), re);
  }
});

test('any string either translates or fails cleanly', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 20, unit: fc.constantFrom(...'ab.*+?()[]{}|\\^$-:,0123iPpQEzxs<>='.split('')) }), (re) => {
      try {
        const r = compileAnchoredRe2(re);
        r.test('ab');
      } catch (e) {
        assert.ok(e instanceof RegexSyntaxError, `${re}: ${String(e)}`);
      }
    }),
    { numRuns: 2000 },
  );
});
