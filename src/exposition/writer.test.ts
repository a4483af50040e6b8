import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { floatBits, Labels } from '../model/index.ts';
import {
  acceptHeader,
  DEFAULT_ACCEPT_HEADER,
  ExpositionParseError,
  ExpositionWriter,
  formatForContentType,
  parseExposition,
  parseMediaType,
  UnsupportedContentTypeError,
  type ExpositionFormat,
} from './index.ts';

const PROMTOOL = '/usr/bin/promtool';

function sampleExposition(format: ExpositionFormat): string {
  const w = new ExpositionWriter(format);
  w.help('http_requests_total', 'Requests by code.\nSecond line with a \\ backslash.').type('http_requests_total', 'counter');
  w.sample(Labels.fromRecord({ __name__: 'http_requests_total', code: '200', path: '/a "quoted"\npath\\' }), 1027);
  w.sample(Labels.fromRecord({ __name__: 'http_requests_total', code: '500', path: '/b' }), 3, 1395066363000);
  w.help('temperature_celsius', 'Temperature.').type('temperature_celsius', 'gauge');
  w.unit('temperature_celsius', 'celsius');
  w.sample(Labels.fromRecord({ __name__: 'temperature_celsius' }), -1.5e-7);
  w.help('latency_seconds', 'Latency.').type('latency_seconds', 'histogram');
  for (const [le, v] of [['0.1', 1], ['1', 4], ['+Inf', 5]] as const) w.sample(Labels.fromRecord({ __name__: 'latency_seconds_bucket', le }), v);
  w.sample(Labels.fromRecord({ __name__: 'latency_seconds_sum' }), 2.5);
  w.sample(Labels.fromRecord({ __name__: 'latency_seconds_count' }), 5);
  w.help('special_values', 'Special values.').type('special_values', 'gauge');
  w.sample(Labels.fromRecord({ __name__: 'special_values', v: 'nan' }), NaN);
  w.sample(Labels.fromRecord({ __name__: 'special_values', v: 'inf' }), Infinity);
  w.sample(Labels.fromRecord({ __name__: 'special_values', v: 'big' }), 1e21);
  return w.finish();
}

describe('writer', () => {
  test('text format: exact lines', () => {
    const text = sampleExposition('prometheus');
    assert.match(text, /^# HELP http_requests_total Requests by code\.\\nSecond line with a \\\\ backslash\.\n# TYPE http_requests_total counter\n/);
    assert.ok(text.includes('http_requests_total{code="200",path="/a \\"quoted\\"\\npath\\\\"} 1027\n'));
    assert.ok(text.includes('http_requests_total{code="500",path="/b"} 3 1395066363000\n'));
    assert.ok(text.includes('temperature_celsius -1.5e-07\n'));
    assert.ok(!text.includes('# UNIT'));
    assert.ok(text.includes('special_values{v="inf"} +Inf\n'));
    assert.ok(text.includes('special_values{v="big"} 1e+21\n'));
  });

  test('OpenMetrics: .0 on integral values, seconds timestamps, UNIT, # EOF', () => {
    const text = sampleExposition('openmetrics');
    assert.ok(text.includes('http_requests_total{code="500",path="/b"} 3.0 1395066363\n'));
    assert.ok(text.includes('# UNIT temperature_celsius celsius\n'));
    assert.ok(text.includes('latency_seconds_bucket{le="1"} 4.0\n'));
    assert.ok(text.endsWith('# EOF\n'));
  });

  for (const format of ['prometheus', 'openmetrics'] as const) {
    test(`${format}: written text parses back to the same samples`, () => {
      const r = parseExposition(sampleExposition(format), format);
      assert.equal(r.samples.length, 11);
      assert.equal(r.samples[0]!.labels.get('path'), '/a "quoted"\npath\\');
      assert.equal(r.samples[1]!.timestamp, 1395066363000);
      assert.equal(r.metadata.get('http_requests_total')?.help, 'Requests by code.\nSecond line with a \\ backslash.');
    });
  }

  test('UTF-8 names are quoted and parse back', () => {
    const w = new ExpositionWriter('prometheus');
    w.type('my.metric', 'gauge');
    w.sample(Labels.fromRecord({ __name__: 'my.metric', 'label.name': 'v' }), 1);
    const text = w.finish();
    assert.equal(text, '# TYPE "my.metric" gauge\n{"my.metric","label.name"="v"} 1\n');
    const r = parseExposition(text, 'prometheus');
    assert.deepEqual(r.samples[0]!.labels.toRecord(), { __name__: 'my.metric', 'label.name': 'v' });
  });

  test('promtool check metrics accepts the text output', (t) => {
    if (!existsSync(PROMTOOL)) {
      t.skip('promtool not installed (Debian package prometheus); .ci/run installs it');
      return;
    }
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: sampleExposition('prometheus'), encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  });

  test('promtool rejects what the parser rejects (sanity of the oracle)', (t) => {
    if (!existsSync(PROMTOOL)) {
      t.skip('promtool not installed');
      return;
    }
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: 'm{a="b} 1\n', encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.throws(() => parseExposition('m{a="b} 1\n', 'prometheus'), ExpositionParseError);
    void execFileSync;
  });

  test('property: any label set and float round-trips through both formats', () => {
    const name = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,10}$/);
    const lname = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/).filter((n) => n !== '__name__');
    const value = fc.double();
    const ts = fc.option(fc.integer({ min: 0, max: 4102444800000 }), { nil: undefined });
    fc.assert(
      fc.property(name, fc.dictionary(lname, fc.string({ unit: 'grapheme', minLength: 1 }), { maxKeys: 5 }), value, ts, (n, labels, v, t) => {
        const lset = Labels.fromRecord({ ...labels, __name__: n });
        for (const format of ['prometheus', 'openmetrics'] as const) {
          const text = new ExpositionWriter(format).sample(lset, v, t).finish();
          const r = parseExposition(text, format);
          assert.equal(r.samples.length, 1);
          const s = r.samples[0]!;
          assert.ok(s.labels.equals(lset), `${format}: ${s.labels.toString()} != ${lset.toString()}`);
          if (Number.isNaN(v)) assert.ok(Number.isNaN(s.value));
          else if (v === 0 && format === 'openmetrics') assert.equal(s.value, 0); // -0 is written 0.0, as client_golang does
          else assert.deepEqual(floatBits(s.value), floatBits(v));
          if (t !== undefined && format === 'prometheus') assert.equal(s.timestamp, t);
          if (t !== undefined && format === 'openmetrics') assert.ok(Math.abs(s.timestamp! - t) <= 1);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('fuzz: any input gives a result or a clean error', () => {
  const alphabet = fc.constantFrom('a', 'b', '_', ':', '{', '}', '=', '"', ',', ' ', '\t', '\n', '#', '\\', '1', '.', 'e', '+', '-', 'N', 'I', 'n', 'f', '\u0000', 'é', 'HELP ', 'TYPE ', 'UNIT ', 'EOF', ' # {', 'le="1"', 'counter', 'histogram');
  const structured = fc.array(alphabet, { maxLength: 60 }).map((a) => a.join(''));
  for (const format of ['prometheus', 'openmetrics'] as const) {
    test(`${format}: structured garbage`, () => {
      fc.assert(
        fc.property(structured, (s) => {
          try {
            parseExposition(s, format);
          } catch (e) {
            if (!(e instanceof ExpositionParseError)) throw e;
            assert.ok(e.line >= 1 && e.column >= 1);
          }
        }),
        { numRuns: 3000 },
      );
    });
    test(`${format}: arbitrary bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
          try {
            parseExposition(b, format);
          } catch (e) {
            if (!(e instanceof ExpositionParseError)) throw e;
          }
        }),
        { numRuns: 2000 },
      );
    });
  }
});

describe('content negotiation', () => {
  test('the Accept header of Prometheus 2.42 by default, weighted for scrape_protocols', () => {
    assert.equal(DEFAULT_ACCEPT_HEADER, 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1');
    assert.equal(
      acceptHeader(['OpenMetricsText1.0.0', 'PrometheusText0.0.4']),
      'application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4',
    );
  });

  test('Content-Type → parser', () => {
    assert.equal(formatForContentType('text/plain').format, 'prometheus');
    assert.equal(formatForContentType('text/plain; version=0.0.4; charset=utf-8').format, 'prometheus');
    assert.equal(formatForContentType('application/openmetrics-text').format, 'openmetrics');
    assert.equal(formatForContentType('application/openmetrics-text; version=1.0.0; charset=utf-8').format, 'openmetrics');
    assert.equal(formatForContentType('Application/OpenMetrics-Text;Version=1.0.0').format, 'openmetrics');
  });

  test('blank, malformed, unsupported, repeated parameter: error, or the fallback with a warning', () => {
    for (const ct of ['', 'invalid/', 'invalid/invalid/invalid', '/', 'text/html', 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily', 'text/plain; charset=utf-8; charset=utf-8']) {
      assert.throws(() => formatForContentType(ct), UnsupportedContentTypeError, ct);
      const fb = formatForContentType(ct, 'PrometheusText0.0.4');
      assert.equal(fb.format, 'prometheus');
      assert.ok(fb.warning && fb.warning.length > 0);
    }
    assert.match(formatForContentType('', 'OpenMetricsText1.0.0').warning!, /non-compliant scrape target sending blank Content-Type/);
    assert.deepEqual(parseMediaType('text/plain; version="0.0.4"').params, { version: '0.0.4' });
  });
});
