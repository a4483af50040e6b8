import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { STALE_NAN, isStaleNaN, floatBits, formatFloatF, formatFloatG } from './value.ts';

test('the stale marker keeps its bits through a Float64Array and function calls', () => {
  assert.deepEqual(floatBits(STALE_NAN), [0x7ff00000, 2]);
  const arr = new Float64Array(4);
  arr[1] = STALE_NAN;
  const back = arr[1]!;
  assert.ok(isStaleNaN(back));
  assert.ok(!isStaleNaN(NaN));
  assert.ok(!isStaleNaN(0));
  const pass = (x: number) => x;
  assert.ok(isStaleNaN(pass(back)));
});

test("formatFloatF matches Go's 'f' with shortest precision", () => {
  const cases: Array<[number, string]> = [
    [1, '1'], [0.1, '0.1'], [-2.5, '-2.5'], [1e21, '1000000000000000000000'], [1e-7, '0.0000001'],
    [1.5e-10, '0.00000000015'], [123456789012, '123456789012'], [NaN, 'NaN'], [Infinity, '+Inf'], [-Infinity, '-Inf'],
    [0, '0'], [-0, '-0'], [5e-324, '0.' + '0'.repeat(323) + '5'], [1.7976931348623157e308, '17976931348623157' + '0'.repeat(292)],
  ];
  for (const [v, s] of cases) assert.equal(formatFloatF(v), s, String(v));
});

test("formatFloatG matches Go's 'g' with shortest precision", () => {
  const cases: Array<[number, string]> = [
    [1, '1'], [100000, '100000'], [1000000, '1e+06'], [1234567, '1.234567e+06'], [0.0001, '0.0001'],
    [0.00001, '1e-05'], [1.5e-7, '1.5e-07'], [123.456, '123.456'], [1e100, '1e+100'], [-3e-5, '-3e-05'],
  ];
  for (const [v, s] of cases) assert.equal(formatFloatG(v), s, String(v));
});

test('formatted floats round-trip', () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
      assert.ok(Object.is(Number(formatFloatF(v)), v));
      assert.ok(Object.is(Number(formatFloatG(v)), v));
    }),
  );
});
