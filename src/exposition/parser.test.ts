import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { floatBits, NORMAL_NAN } from '../model/index.ts';
import { Entry, ExpositionParser, ExpositionParseError, parseExposition, type ExpositionFormat } from './index.ts';

import { sharedPath } from '../../test/helpers/shared-dir.ts';

const CORPUS = sharedPath('conformance/exposition');
const CORPUS_SKIP = existsSync(CORPUS) ? false : `the shared exposition corpus is not at ${CORPUS} (set VIGIL_SHARED_DIR)`;

function parse(text: string, format: ExpositionFormat = 'prometheus') {
  return parseExposition(text, format);
}

function series(text: string, format: ExpositionFormat = 'prometheus'): string[] {
  return parse(text, format).samples.map((s) => `${s.labels.toString()} ${s.value}${s.timestamp !== undefined ? ' @' + s.timestamp : ''}`);
}

function rejects(text: string, format: ExpositionFormat, pattern?: RegExp): ExpositionParseError {
  try {
    parse(text, format);
  } catch (e) {
    assert.ok(e instanceof ExpositionParseError, `expected ExpositionParseError, got ${String(e)}`);
    assert.equal(e.code, 'exposition_parse_error');
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected as ${format}`);
}

describe('corpus files', { skip: CORPUS_SKIP }, () => {
  const files: Array<[string, ExpositionFormat, number, number]> = [
    ['alltypes.237mfs.prom.txt', 'prometheus', 1857, 237],
    ['alltypes.237mfs.nometa.prom.txt', 'prometheus', 1857, 0],
    ['alltypes.5mfs.om.txt', 'openmetrics', 53, 5],
    ['1histogram.om.txt', 'openmetrics', 42, 1],
    ['metrics-test.prom', 'prometheus', 27, 4],
    ['dump-openmetrics-roundtrip-test.prom', 'openmetrics', 14, 0],
  ];
  for (const [file, format, samples, families] of files) {
    test(`${file} parses with every sample`, () => {
      const r = parseExposition(readFileSync(join(CORPUS, file)), format);
      assert.equal(r.samples.length, samples);
      assert.equal(r.metadata.size, families);
    });
  }

  test('237mfs: metadata types and a histogram bucket', () => {
    const r = parseExposition(readFileSync(join(CORPUS, 'alltypes.237mfs.prom.txt')), 'prometheus');
    const counts = { counter: 0, gauge: 0, histogram: 0, summary: 0 } as Record<string, number>;
    for (const m of r.metadata.values()) counts[m.type] = (counts[m.type] ?? 0) + 1;
    assert.deepEqual(counts, { counter: 112, gauge: 97, histogram: 15, summary: 13 });
  });

  test('OpenMetrics exemplars, float timestamps and _created', () => {
    const r = parseExposition(readFileSync(join(CORPUS, 'alltypes.5mfs.om.txt')), 'openmetrics');
    const withEx = r.samples.filter((s) => s.exemplar);
    assert.ok(withEx.length >= 6);
    const first = withEx[0]!;
    assert.equal(first.labels.get('le'), '-0.0002899999999999998');
    assert.equal(first.exemplar!.labels.get('dummyID'), '17783');
    assert.equal(first.exemplar!.value, -0.0003825067330956884);
    assert.equal(first.exemplar!.timestamp, 1726839814223);
    const created = r.samples.find((s) => s.labels.metricName() === 'promhttp_metric_handler_errors_created');
    assert.equal(created?.value, 1.726839813016397e9);
    const ts = parseExposition(readFileSync(join(CORPUS, 'dump-openmetrics-roundtrip-test.prom')), 'openmetrics').samples;
    assert.ok(ts.every((s) => s.timestamp !== undefined));
  });
});

describe('text format 0.0.4: accepted', () => {
  test('HELP before/after TYPE, empty help, tabs after #', () => {
    const r = parse('# TYPE a counter\n# HELP a  help text\n#  \tHELP b\n# HELP c \n# HELP d\ta\\\\b\\nc\\x\na 1\n');
    assert.equal(r.metadata.get('a')?.type, 'counter');
    assert.equal(r.metadata.get('a')?.help, ' help text');
    assert.equal(r.metadata.get('b')?.help, '');
    assert.equal(r.metadata.get('c')?.help, '');
    assert.equal(r.metadata.get('d')?.help, 'a\\b\nc\\x');
  });

  test('comments, blank lines and keyword look-alikes', () => {
    assert.deepEqual(series('#\n# Hrandom stuff\n#HELP x y\n\n\n# some \\comment\nm 1\n'), ['{__name__="m"} 1']);
  });

  test('whitespace inside label sets, trailing comma, missing comma quirk', () => {
    assert.deepEqual(series('name { a = "b" , c="d", } 1\nn2{ q = "2.0" a = "b" } 2\n'), [
      '{__name__="name", a="b", c="d"} 1',
      '{__name__="n2", a="b", q="2.0"} 2',
    ]);
  });

  test('tabs and repeated blanks as separators, timestamps', () => {
    assert.deepEqual(series('m\t1\nm2{a="b"} 2 \t 1234\t\nm3 3 5 \n'), ['{__name__="m"} 1', '{__name__="m2", a="b"} 2 @1234', '{__name__="m3"} 3 @5']);
  });

  test('names with colons and underscores', () => {
    assert.deepEqual(series('some:aggregate:rate5m{_a="x"} 1\n_m 2\n'), ['{__name__="some:aggregate:rate5m", _a="x"} 1', '{__name__="_m"} 2']);
  });

  test('label value escapes; other backslash sequences kept', () => {
    const r = parse('m{a="\\"bar\\"",b="x\\\\y",c="l1\\nl2",d="\\t"} 1\n');
    const l = r.samples[0]!.labels;
    assert.equal(l.get('a'), '"bar"');
    assert.equal(l.get('b'), 'x\\y');
    assert.equal(l.get('c'), 'l1\nl2');
    assert.equal(l.get('d'), '\\t');
  });

  test('special floats in any case, exact round trip', () => {
    const r = parse('a NaN\nb +Inf\nc -Inf\nd nan\ne +inf\nf -INF\ng 7.424100000000001e-05\nh Inf\ni 1e+06\nj -0\nk .5\nl 5.\n');
    const v = r.samples.map((s) => s.value);
    assert.ok(Number.isNaN(v[0]!));
    assert.deepEqual(floatBits(v[0]!), floatBits(NORMAL_NAN));
    assert.deepEqual(v.slice(1), [Infinity, -Infinity, NaN, Infinity, -Infinity, 7.424100000000001e-5, Infinity, 1e6, -0, 0.5, 5]);
  });

  test('NUL bytes inside label values and HELP', () => {
    const r = parse('# HELP m a\u0000b\nm{a="x\u0000y"} 1\n');
    assert.equal(r.metadata.get('m')?.help, 'a\u0000b');
    assert.equal(r.samples[0]!.labels.get('a'), 'x\u0000y');
  });

  test('le and quantile normalisation only under histogram/summary', () => {
    const out = series(
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="0"} 1\nh_bucket{le="+Inf"} 1\nh_bucket{le="1e3"} 1\nh_bucket{le="x"} 1\n' +
        '# TYPE s summary\ns{quantile="0"} 1\ns{quantile="0.5"} 1\n# TYPE u untyped\nu{le="10"} 1\n',
    );
    assert.deepEqual(out, [
      '{__name__="h_bucket", le="1.0"} 1',
      '{__name__="h_bucket", le="0.0"} 1',
      '{__name__="h_bucket", le="+Inf"} 1',
      '{__name__="h_bucket", le="1000.0"} 1',
      '{__name__="h_bucket", le="x"} 1',
      '{__name__="s", quantile="0.0"} 1',
      '{__name__="s", quantile="0.5"} 1',
      '{__name__="u", le="10"} 1',
    ]);
  });

  test('normalisation can be turned off (byte-exact importers)', () => {
    const p = new ExpositionParser('prometheus', '# TYPE h histogram\nh_bucket{le="1"} 1\n# TYPE s summary\ns{quantile="0"} 1\n');
    p.normalizeBucketLabels = false;
    const got: string[] = [];
    for (let e = p.next(); e !== Entry.End; e = p.next()) if (e === Entry.Series) got.push(p.labels().toString());
    assert.deepEqual(got, ['{__name__="h_bucket", le="1"}', '{__name__="s", quantile="0"}']);
  });

  test('quoted UTF-8 metric and label names', () => {
    const r = parse('# HELP "go.gc_duration_seconds" A summary.\n# TYPE "go.gc_duration_seconds" summary\n{"go.gc_duration_seconds",quantile="0"} 4.9e-05\n{"m"," a.b\\"c{}\\n"="v", "ü"="x"} 1\n');
    assert.equal(r.metadata.get('go.gc_duration_seconds')?.type, 'summary');
    assert.equal(r.samples[0]!.labels.metricName(), 'go.gc_duration_seconds');
    assert.equal(r.samples[0]!.labels.get('quantile'), '0.0');
    assert.equal(r.samples[1]!.labels.get(' a.b"c{}\n'), 'v');
    assert.equal(r.samples[1]!.labels.get('ü'), 'x');
  });

  test('input without trailing newline; "# EOF" is a comment', () => {
    assert.deepEqual(series('a 1\n# EOF\nb 2'), ['{__name__="a"} 1', '{__name__="b"} 2']);
  });

  test('untyped reads as unknown', () => {
    assert.equal(parse('# TYPE a untyped\na 1\n').metadata.get('a')?.type, 'unknown');
  });
});

describe('text format 0.0.4: rejected', () => {
  const cases: Array<[string, string, RegExp?]> = [
    ['metric without value', 'metric\n', /expected value/],
    ['metric without value at EOF', 'metric{a="b"}', /expected value/],
    ['single-quoted value', "m{a='b'} 1\n", /expected label value/],
    ['unterminated value', 'm{a="b} 1\n', /unterminated/],
    ['newline before value quote', 'm{a=\n"b"} 1\n', /expected label value/],
    ['label without =', '{A}0\n', /expected "="/],
    ['empty label name', 'm{=""} 1\n', /expected label name/],
    ['backslash in unquoted label name', 'm{a\\b="c"} 1\n', /expected "="/],
    ['two quoted metric names', '{"a","b"} 1\n', /metric name already set/],
    ['no metric name', '{a="ok"} 1\n', /metric name not set/],
    ['non-numeric value', 'm true\n', /cannot parse "true"/],
    ['digit separators', 'm 1_2\n', /cannot parse/],
    ['hex float', 'm 0x1p-3\n', /cannot parse/],
    ['hex float upper', 'm 0x1P-3\n', /cannot parse/],
    ['non-integer timestamp', 'm 0 1_2\n', /end of line after timestamp/],
    ['float timestamp', 'm 0 1.5\n', /end of line after timestamp/],
    ['negative timestamp', 'm 0 -1\n', /expected timestamp/],
    ['NUL after timestamp', 'm 0 1\u0000\n', /end of line after timestamp/],
    ['NUL in metric name', 'm\u0000x 1\n', /cannot parse/],
    ['NUL in label name', 'm{a\u0000="b"} 1\n', /expected "="/],
    ['NUL after =', 'm{a=\u0000"b"} 1\n', /expected label value/],
    ['TYPE without name', '# TYPE 1a counter\n', /expected metric name after TYPE/],
    ['HELP without name', '# HELP \n', /expected metric name after HELP/],
    ['unknown TYPE', '# TYPE m histogramm\n', /invalid metric type "histogramm"/],
    ['TYPE with trailing blank', '# TYPE m counter \n', /invalid metric type/],
    ['value out of range', 'm 1e400\n', /out of range/],
    ['third field', 'm 1 2 3\n', /end of line after timestamp/],
    ['duplicate label', 'm{a="1",a="2"} 1\n', /label name "a" is not unique/],
    ['line starting with a digit', '1m 1\n', /start of a line/],
  ];
  for (const [name, input, re] of cases) test(name, () => void rejects(input, 'prometheus', re));

  test('invalid UTF-8 in label values and HELP, but not in comments', () => {
    const bad = (s: string) => Buffer.concat([Buffer.from(s.split('@')[0]!), Buffer.from([0xff, 0xfe]), Buffer.from(s.split('@')[1]!)]);
    assert.throws(() => parseExposition(bad('m{a="@"} 1\n'), 'prometheus'), /line 1.*invalid UTF-8/);
    assert.throws(() => parseExposition(bad('a 1\n# HELP m @\n'), 'prometheus'), /line 2.*invalid UTF-8/);
    assert.equal(parseExposition(bad('# a comment @\nm 1\n'), 'prometheus').samples.length, 1);
    assert.throws(() => parseExposition(bad('# a comment @\nm 1\n# EOF\n'), 'openmetrics'), /invalid UTF-8/);
  });

  test('the error names line and column', () => {
    const e = rejects('a 1\nb 2\nc{x=} 3\n', 'prometheus');
    assert.equal(e.line, 3);
    assert.equal(e.column, 5);
    assert.match(e.message, /^line 3, column 5: expected label value/);
    assert.match(e.message, /c\{x=\} 3/);
  });
});

describe('OpenMetrics 1.0: accepted', () => {
  test('HELP/TYPE/UNIT with escapes and empty unit', () => {
    const r = parse('# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n# HELP foo_seconds a\\\\b\\nc\\"d\\x\\ e\n# UNIT bar \n# HELP bar \nfoo_seconds_total 1\n# EOF\n', 'openmetrics');
    const m = r.metadata.get('foo_seconds')!;
    assert.equal(m.type, 'counter');
    assert.equal(m.unit, 'seconds');
    assert.equal(m.help, 'a\\b\nc"d\\x\\ e');
    assert.equal(r.metadata.get('bar')?.unit, '');
  });

  test('all types', () => {
    const types = ['counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset', 'unknown'];
    const text = types.map((t, i) => `# TYPE m${i} ${t}\n`).join('') + '# EOF';
    assert.deepEqual([...parse(text, 'openmetrics').metadata.values()].map((m) => m.type), types);
  });

  test('float second timestamps', () => {
    assert.deepEqual(series('a 1 123.123\nb 2 1520879607.789\nc 3 -1.5\n# EOF\n', 'openmetrics'), [
      '{__name__="a"} 1 @123123',
      '{__name__="b"} 2 @1520879607789',
      '{__name__="c"} 3 @-1500',
    ]);
  });

  test('exemplars on buckets, counters, with and without timestamps, quoted names', () => {
    const text =
      '# TYPE h histogram\nh_bucket{le="1"} 2 # {trace_id="abc"} 0.5 123.456\nh_bucket{le="+Inf"} 3 # {"a.b"="c"} 1\nh_count 3 10 # {x="y"} 2\n' +
      '# TYPE c counter\nc_total 5 # {id="q"} 1.5\n# EOF';
    const r = parse(text, 'openmetrics');
    assert.equal(r.samples[0]!.labels.get('le'), '1.0');
    assert.deepEqual(r.samples[0]!.exemplar?.labels.toRecord(), { trace_id: 'abc' });
    assert.equal(r.samples[0]!.exemplar?.timestamp, 123456);
    assert.equal(r.samples[1]!.exemplar?.labels.get('a.b'), 'c');
    assert.equal(r.samples[1]!.exemplar?.timestamp, undefined);
    assert.equal(r.samples[2]!.timestamp, 10000);
    assert.equal(r.samples[2]!.exemplar?.value, 2);
    assert.equal(r.samples[3]!.exemplar?.value, 1.5);
  });

  test('_created: a sample, and the start timestamp of its family wherever it sits', () => {
    const text =
      '# TYPE c counter\nc_total{a="1"} 5\nc_created{a="1"} 1000.5\nc_total{a="2"} 6\n' +
      '# TYPE h histogram\nh_created 2000\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 1\n' +
      '# TYPE s summary\ns_count 1\ns_sum 2\ns_created 3000\ns{quantile="0.5"} 1\n' +
      '# TYPE g gauge\ng_created 1\n# EOF\n';
    const p = new ExpositionParser('openmetrics', text);
    const cts: Array<[string, number | undefined]> = [];
    for (let e = p.next(); e !== Entry.End; e = p.next()) if (e === Entry.Series) cts.push([p.labels().toString(), p.createdTimestamp()]);
    assert.deepEqual(cts, [
      ['{__name__="c_total", a="1"}', 1000500],
      ['{__name__="c_created", a="1"}', undefined],
      ['{__name__="c_total", a="2"}', undefined],
      ['{__name__="h_created"}', undefined],
      ['{__name__="h_bucket", le="1.0"}', 2000000],
      ['{__name__="h_bucket", le="+Inf"}', 2000000],
      ['{__name__="h_count"}', 2000000],
      ['{__name__="h_sum"}', 2000000],
      ['{__name__="s_count"}', 3000000],
      ['{__name__="s_sum"}', 3000000],
      ['{__name__="s_created"}', undefined],
      ['{__name__="s", quantile="0.5"}', 3000000],
      ['{__name__="g_created"}', undefined],
    ]);
  });

  test('le/quantile normalisation for histogram, gaugehistogram, summary; not counters', () => {
    const text = '# TYPE h gaugehistogram\nh_bucket{le="1"} 1\n# TYPE s summary\ns{quantile="0"} 1\n# TYPE c counter\nc_total{le="1"} 1\nc_total{le="c"} 1\n# EOF\n';
    assert.deepEqual(parse(text, 'openmetrics').samples.map((s) => s.labels.get('le') || s.labels.get('quantile')), ['1.0', '0.0', '1', 'c']);
  });

  test('nan is an ordinary NaN', () => {
    const v = parse('a nan\nb NaN\n# EOF\n', 'openmetrics').samples.map((s) => s.value);
    for (const x of v) assert.deepEqual(floatBits(x), floatBits(NORMAL_NAN));
  });

  test('# EOF without trailing newline; NUL in values and HELP; quoted name anywhere in braces; duplicate lines', () => {
    const r = parse('# HELP m a\u0000b\nm{a="\u0000"} 1\n{q="0.9","http.status",a="b"} 1\n{q="0.9","http.status",a="b"} 1\n# EOF', 'openmetrics');
    assert.equal(r.metadata.get('m')?.help, 'a\u0000b');
    assert.equal(r.samples[1]!.labels.metricName(), 'http.status');
    assert.equal(r.samples.length, 3);
  });
});

describe('OpenMetrics 1.0: rejected', () => {
  const cases: Array<[string, string, RegExp?]> = [
    ['empty input', '', /does not end with # EOF/],
    ['missing EOF', 'a 1\n', /does not end with # EOF/],
    ['ends after a sample', 'a 1', /does not end with # EOF/],
    ['ends after an exemplar', 'a_total 1 # {a="b"} 1', /does not end with # EOF/],
    ['data after EOF', '# EOF\na 1\n', /after # EOF/],
    ['blank line after EOF', '# EOF\n\n', /after # EOF/],
    ['EOFa', '# EOFa\n', /after # EOF/],
    ['blank line', 'a 1\n\nb 1\n# EOF\n', /blank lines/],
    ['leading space', ' a 1\n# EOF\n', /start of a line/],
    ['leading digit', '1a 1\n# EOF\n', /start of a line/],
    ['two spaces after #', '#  TYPE a counter\n# EOF\n'],
    ['tab after #', '#\tTYPE a counter\n# EOF\n'],
    ['two spaces before type', '# TYPE c  counter\n# EOF\n', /invalid metric type/],
    ['trailing space after type', '# TYPE c counter \n# EOF\n', /invalid metric type/],
    ['untyped', '# TYPE c untyped\n# EOF\n', /invalid metric type "untyped"/],
    ['TYPE without name', '# TYPE \n# EOF\n', /expected metric name/],
    ['TYPE without text', '# TYPE c\n# EOF\n', /space and text/],
    ['UNIT not a suffix', '# UNIT metric suffix\n# EOF\n', /not a suffix/],
    ['UNIT suffix without underscore', '# UNIT metricsuffix suffix\n# EOF\n', /not a suffix/],
    ['other comment', '# hello\n# EOF\n', /no other comments/],
    ['tab separator', 'a\t1\n# EOF\n'],
    ['tab before timestamp', 'a 1\t1\n# EOF\n', /cannot parse/],
    ['trailing space after timestamp', 'a 1 1 \n# EOF\n'],
    ['# without exemplar', 'a 1 1 # foo\n# EOF\n'],
    ['third field', 'a 1 1 1\n# EOF\n'],
    ['non-numeric', 'a true\n# EOF\n', /cannot parse/],
    ['1z', 'a 1z\n# EOF\n', /cannot parse/],
    ['1_2', 'a 1_2\n# EOF\n', /cannot parse/],
    ['hex', 'a 0x1p-3\n# EOF\n', /cannot parse/],
    ['NaN timestamp', 'a 1 NaN\n# EOF\n', /invalid timestamp/],
    ['Inf timestamp', 'a 1 Inf\n# EOF\n', /invalid timestamp/],
    ['-Inf timestamp', 'a 1 -Inf\n# EOF\n', /invalid timestamp/],
    ['NaN exemplar timestamp', 'a_total 1 # {a="b"} 1 NaN\n# EOF\n', /invalid exemplar timestamp/],
    ['-Inf exemplar timestamp', 'a_total 1 # {a="b"} 1 -Inf\n# EOF\n', /invalid exemplar timestamp/],
    ['single quotes', "a{b='c'} 1\n# EOF\n", /expected label value/],
    ['leading comma', 'a{,b="c"} 1\n# EOF\n', /expected label name/],
    ['missing comma', 'a{b="c" d="e"} 1\n# EOF\n', /expected "," or "}"/],
    ['double comma', 'a{b="c",,d="e"} 1\n# EOF\n', /expected label name/],
    ['newline in value', 'a{b="c\nd"} 1\n# EOF\n', /line break/],
    ['empty label name', 'a{=""} 1\n# EOF\n', /expected label name/],
    ['bare identifier', 'a{b} 1\n# EOF\n', /expected "="/],
    ['no metric name', '{b="c"} 1\n# EOF\n', /metric name not set/],
    ['exemplar unquoted value', 'a_total 1 # {a=b} 1\n# EOF\n', /expected label value/],
    ['exemplar without value', 'a_total 1 # {a="b"}\n# EOF\n', /exemplar value/],
    ['exemplar without value at EOF', 'a_total 1 # {a="b"}', /exemplar value/],
    ['exemplar label without =', 'a_total 1 # {a} 1\n# EOF\n', /expected "="/],
    ['exemplar double comma', 'a_total 1 # {a="b",,c="d"} 1\n# EOF\n', /expected label name/],
    ['exemplar empty value after =', 'a_total 1 # {a=} 1\n# EOF\n', /expected label value/],
    ['exemplar bad number', 'a_total 1 # {a="b"} 1_2\n# EOF\n', /cannot parse/],
    ['exemplar escaped quote outside string', 'a_total 1 # {a=\\"b\\"} 1\n# EOF\n', /expected label value/],
    ['exemplar NUL', 'a_total 1 # {a="\u0000"} 1\n# EOF\n', /NUL/],
    ['exemplar quoted name only', 'a_total 1 # {"x"} 1\n# EOF\n', /expected "="/],
  ];
  for (const [name, input, re] of cases) test(name, () => void rejects(input, 'openmetrics', re));
});

describe('chunked parsing', () => {
  test('a continuation keeps metadata and line numbers', () => {
    const p = new ExpositionParser('openmetrics', '# TYPE h histogram\nh_bucket{le="1"} 1\n', { final: false });
    const seen: string[] = [];
    for (let e = p.next(); e !== Entry.End; e = p.next()) if (e === Entry.Series) seen.push(p.labels().get('le'));
    p.reset('h_bucket{le="2"} 1\nbad{\n', { final: true, continuation: true });
    assert.equal(p.next(), Entry.Series);
    seen.push(p.labels().get('le'));
    assert.deepEqual(seen, ['1.0', '2.0']);
    assert.throws(() => p.next(), (e: unknown) => e instanceof ExpositionParseError && e.line === 4);
  });
});

describe('parseExpositionStream', () => {
  const make = (n: number) => {
    let s = '# TYPE m counter\n# HELP m Things.\n';
    for (let i = 0; i < n; i++) s += `m_total{i="${i}",pad="${'x'.repeat(i % 50)}"} ${i} ${1700000000 + i}.5\n`;
    return s + '# EOF\n';
  };

  test('chunks cut at line boundaries give the same samples as one parse, with bounded chunks', async () => {
    const { Readable } = await import('node:stream');
    const { parseExpositionStream } = await import('./index.ts');
    const text = make(20000);
    const whole = parseExposition(text, 'openmetrics').samples;
    const bytes = Buffer.from(text);
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7777) pieces.push(bytes.subarray(i, i + 7777));
    let n = 0;
    let sumTs = 0;
    let progressCalls = 0;
    const r = await parseExpositionStream(Readable.from(pieces), 'openmetrics', (p, e) => {
      if (e !== Entry.Series) return;
      n++;
      sumTs += p.timestamp;
      assert.equal(p.currentType(), 'counter');
    }, { chunkBytes: 64 * 1024, onProgress: () => void progressCalls++ });
    assert.equal(n, whole.length);
    assert.equal(sumTs, whole.reduce((a, s) => a + s.timestamp!, 0));
    assert.equal(r.bytes, bytes.length);
    assert.ok(progressCalls > 10);
  });

  test('an error deep in the stream names its absolute line; a missing # EOF is reported at the end', async () => {
    const { Readable } = await import('node:stream');
    const { parseExpositionStream } = await import('./index.ts');
    const lines = make(5000).split('\n');
    lines[4000] = 'm_total{i="oops} 1';
    await assert.rejects(
      parseExpositionStream(Readable.from([Buffer.from(lines.join('\n'))]), 'openmetrics', () => {}, { chunkBytes: 4096 }),
      (e: unknown) => e instanceof ExpositionParseError && e.line === 4001,
    );
    const noEof = make(100).replace('# EOF\n', '');
    await assert.rejects(parseExpositionStream(Readable.from([Buffer.from(noEof)]), 'openmetrics', () => {}, { chunkBytes: 1024 }), /data does not end with # EOF/);
  });
});
