import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDuration, formatDuration, parseByteSize, DurationError } from './duration.ts';
import { parseApiTime, parseApiDuration } from './time.ts';

test('Prometheus durations', () => {
  assert.equal(parseDuration('1h30m'), 5400_000);
  assert.equal(parseDuration('15s'), 15_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('1w'), 7 * 86_400_000);
  assert.equal(parseDuration('1y'), 365 * 86_400_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('10s53ms'), 10_053);
  for (const bad of ['', '15x', '1.5h', '-1s', '1m1h', 's', '1h 30m']) {
    assert.throws(() => parseDuration(bad), DurationError, bad);
  }
});

test('formatDuration is the inverse of parseDuration on canonical forms', () => {
  assert.equal(formatDuration(5400_000), '1h30m');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(90 * 86_400_000), '90d');
  assert.equal(formatDuration(14 * 86_400_000), '2w');
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 45 }), (ms) => assert.equal(parseDuration(formatDuration(ms)), ms)));
});

test('byte sizes are powers of 1024', () => {
  assert.equal(parseByteSize('512MB'), 512 * 1024 ** 2);
  assert.equal(parseByteSize('1GiB'), 1024 ** 3);
  assert.equal(parseByteSize('100'), 100);
  assert.throws(() => parseByteSize('12XB'), /not a valid byte size/);
});

test('API times: Unix seconds or RFC 3339', () => {
  assert.equal(parseApiTime('1435781451.781'), 1435781451781);
  assert.equal(parseApiTime('2015-07-01T20:10:51.781Z'), 1435781451781);
  assert.equal(parseApiTime('2015-07-01T22:10:51.781+02:00'), 1435781451781);
  assert.equal(parseApiTime('-1.5'), -1500);
  assert.throws(() => parseApiTime('yesterday'), /cannot parse "yesterday" to a valid timestamp/);
  assert.equal(parseApiDuration('15'), 15_000);
  assert.equal(parseApiDuration('0.5'), 500);
  assert.equal(parseApiDuration('1m'), 60_000);
  assert.throws(() => parseApiDuration('abc'), /cannot parse "abc" to a valid duration/);
});
