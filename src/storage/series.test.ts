import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Labels } from '../model/index.ts';
import { ArraySeries, mergeSeriesSets, collectSamples } from './series.ts';

const L = (r: Record<string, string>) => Labels.fromRecord(r);

test('mergeSeriesSets unions overlapping series and keeps order', () => {
  const a = { series: [new ArraySeries(L({ a: '1' }), [1, 3, 5], new Float64Array([10, 30, 50])), new ArraySeries(L({ a: '3' }), [1], new Float64Array([1]))], warnings: [] };
  const b = { series: [new ArraySeries(L({ a: '1' }), [2, 3, 6], new Float64Array([20, 99, 60])), new ArraySeries(L({ a: '2' }), [1], new Float64Array([2]))], warnings: ['remote down'] };
  const m = mergeSeriesSets([a, b]);
  assert.deepEqual(m.series.map((s) => s.labels.toString()), ['{a="1"}', '{a="2"}', '{a="3"}']);
  const { ts, vs } = collectSamples(m.series[0]!.iterator());
  assert.deepEqual(ts, [1, 2, 3, 5, 6]);
  assert.deepEqual([...vs], [10, 20, 30, 50, 60], 'the first set wins on a shared timestamp');
  assert.deepEqual(m.warnings, ['remote down']);
  const it = m.series[0]!.iterator();
  it.seek(4);
  assert.equal(it.atT(), 5);
});
