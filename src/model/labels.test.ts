import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Labels, LabelsBuilder, compareLabels, quoteGo } from './labels.ts';

test('labels are sorted, deduplicated and drop empty values', () => {
  const l = Labels.fromPairs(['job', 'api', '__name__', 'up', 'empty', '', 'job', 'web']);
  assert.deepEqual([...l.pairs], ['__name__', 'up', 'job', 'web']);
  assert.equal(l.get('job'), 'web');
  assert.equal(l.get('missing'), '');
  assert.equal(l.metricName(), 'up');
  assert.equal(l.size, 2);
});

test('toString uses Prometheus text form and Go quoting', () => {
  const l = Labels.fromRecord({ __name__: 'up', path: 'a"b\\c\n', 'weird.name': 'x' });
  assert.equal(l.toString(), '{__name__="up", path="a\\"b\\\\c\\n", "weird.name"="x"}');
  assert.equal(Labels.fromRecord({ __name__: 'up', job: 'x' }).toSelectorString(), 'up{job="x"}');
  assert.equal(Labels.EMPTY.toString(), '{}');
});

test('quoteGo escapes control characters like strconv.Quote', () => {
  assert.equal(quoteGo('\x01é\t'), '"\\x01é\\t"');
});

test('key() identifies a label set; equal sets have equal keys', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string({ minLength: 1 }), fc.string({ minLength: 1 })), (rec) => {
      const a = Labels.fromRecord(rec);
      const b = Labels.fromPairs(Object.entries(rec).reverse().flat());
      assert.equal(a.key(), b.key());
      assert.ok(a.equals(b));
      assert.equal(compareLabels(a, b), 0);
    }),
  );
});

test('builder keeps, deletes and overrides', () => {
  const base = Labels.fromRecord({ a: '1', b: '2', c: '3' });
  assert.equal(new LabelsBuilder(base).del('b').set('d', '4').build().toString(), '{a="1", c="3", d="4"}');
  assert.equal(base.keep(['a', 'c']).toString(), '{a="1", c="3"}');
  assert.equal(base.without(['a']).toString(), '{b="2", c="3"}');
  assert.equal(base.with('a', '').toString(), '{b="2", c="3"}');
});

test('compareLabels orders by name, then value, then length', () => {
  const recs: Array<Record<string, string>> = [{ a: '2' }, { a: '1', b: '1' }, { a: '1' }, { b: '0' }];
  const xs = recs.map((r) => Labels.fromRecord(r));
  xs.sort(compareLabels);
  assert.deepEqual(xs.map((x) => x.toString()), ['{a="1"}', '{a="1", b="1"}', '{a="2"}', '{b="0"}']);
});
