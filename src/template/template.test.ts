import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlertTemplate, GoDuration, GoTime, NotificationTemplates, TemplateExecError, TemplateLimitError, TemplateParseError,
  TemplateSet, buildNotificationData, defineFunc, formatFloat, goMap, loadLocation, newPrometheusTemplateSet, P, sprintf,
  type PrometheusTemplateContext,
} from './index.ts';

function run(text: string, data: unknown = {}, opts: ConstructorParameters<typeof TemplateSet>[1] = {}): string {
  return new TemplateSet({}, opts).parse('t', text).execute('t', data);
}

test('printing follows Go fmt %v: floats use %g with exponent at 1e21 and below 1e-4', () => {
  assert.equal(run('{{ .a }} {{ .b }} {{ .c }} {{ .d }} {{ .e }}', { a: 1e8, b: 123456.7, c: 0.0001, d: 0.00001, e: NaN }), '1e+08 123456.7 0.0001 1e-05 NaN');
  assert.equal(run('{{ 3 }} {{ 3.0 }} {{ true }} {{ "s" }} {{ .m }}', { m: { b: 2n, a: [1n, 'x'] } }), '3 3 true s map[a:[1 x] b:2]');
});

test('sprintf: widths, precision, flags, indexes and Go error forms', () => {
  assert.equal(sprintf('%5.1f|%-6s|%06.2f|%+d|%x|%X|%o|%#x|%q|%%', [3.14159, 'ab', -1.5, 3n, 255n, 255n, 8n, 255n, 'a"b']), '  3.1|ab    |-01.50|+3|ff|FF|10|0xff|"a\\"b"|%');
  assert.equal(sprintf('%[2]s %[1]s', ['a', 'b']), 'b a');
  assert.equal(sprintf('%d %s', [1.5]), '%!d(float64=1.5) %!s(MISSING)');
  assert.equal(sprintf('%d', [1n, 2n]), '1%!(EXTRA int=2)');
  assert.equal(sprintf('%', []), '%!(NOVERB)');
  assert.equal(sprintf('%*d', [4n, 7n]), '   7');
  assert.equal(sprintf('%.3g %.4g %g %e %.0f %.0f', [1234567, 100, 1e-7, 0, 0.5, 1.5]), '1.23e+06 100 1e-07 0.000000e+00 0 2');
  assert.equal(sprintf('%v %s', [[1n, 'a'], ['x', 'y']]), '[1 a] [x y]');
});

test('sprintf: a bad verb prints the value with %v under the directive\'s flags, width and precision (Go\'s badVerb)', () => {
  // The rules engineer's report: Go prints %!f(string=9), the precision applying to the value shown.
  assert.equal(sprintf('%.1f', ['950m']), '%!f(string=9)');
  assert.equal(sprintf('%6.2d|%-6.2d|%.0d|%05d', ['abc', 'abc', 'abc', 'ab']), '%!d(string=    ab)|%!d(string=ab    )|%!d(string=)|%!d(string=000ab)');
  assert.equal(sprintf('%+.3s|%08s|% s|%-5s|', [5n, 42n, 42n, 42n]), '%!s(int=+005)|%!s(int=00000042)|%!s(int= 42)|%!s(int=42   )|');
  assert.equal(sprintf('%.1d|%8.2d|%#s', [3.5, 3.14159, 3.5]), '%!d(float64=4)|%!d(float64=     3.1)|%!s(float64=3.50000)');
  assert.equal(sprintf('%05x|%6x|%-6x|', [true, true, false]), '%!x(bool=0true)|%!x(bool=  true)|%!x(bool=false )|');
  // The sign flag does not apply to strings; a nil operand is not padded.
  assert.equal(sprintf('%+d|%5d', ['x', null]), '%!d(string=x)|%!d(<nil>)');
  // Without width or precision the value is unchanged.
  assert.equal(sprintf('%d %s', [1.5, 2.5]), '%!d(float64=1.5) %!s(float64=2.5)');
  // In the bad-verb form String() is not called: a time.Duration shows its nanoseconds.
  assert.equal(sprintf('%v|%f|%8.2f|%d', [new GoDuration(1_500_000_000n), new GoDuration(1_500_000_000n), new GoDuration(0n), new GoDuration(2n)]), '1.5s|%!f(time.Duration=1500000000)|%!f(time.Duration=      00)|2');
});

test('sprintf: %v with width or precision formats each element; # keeps a float\'s trailing zeros', () => {
  assert.equal(sprintf('%4v|%.1v|%-3v|', [['a', 'b'], ['ab', 'cd'], ['a']]), '[   a    b]|[a c]|[a  ]|');
  assert.equal(sprintf('%5.1v|%v', [{ alertname: 'HighCPU' }, { alertname: 'HighCPU' }]), 'map[    a:    H]|map[alertname:HighCPU]');
  assert.equal(sprintf('%#g|%#.3g|%#v|%#.0f|%#g|%#G|%#x|%#.0e|%#g', [3.5, 3.5, 3.5, 3, 1e21, 0.000012, 1, 3.5, 0]), '3.50000|3.50|3.5|3.|1.00000e+21|1.20000E-05|0x1.0000p+00|4.e+00|0.00000');
});

test('time.Time under a verb without String() prints its fields; Sub saturates as Go\'s does', () => {
  const t = GoTime.parseRfc3339('2024-03-01T10:00:00.123456789Z')!;
  const zero = GoTime.parseRfc3339('0001-01-01T00:00:00Z')!;
  assert.equal(sprintf('%d|%.2d|%.1f|%s', [t, zero, t, t]), '{123456789 63844884000 0}|{00 00 00}|{%!f(uint64=123456789) %!f(int64=63844884000) %!f(*time.Location=<nil>)}|2024-03-01 10:00:00.123456789 +0000 UTC');
  assert.equal(t.Sub(zero).ns, (1n << 63n) - 1n);
  assert.equal(zero.Sub(t).ns, -(1n << 63n));
  assert.equal(t.Sub(t).ns, 0n);
});

test('formatFloat rounds the exact binary value half to even', () => {
  assert.equal(formatFloat(2.5, 'f', 0), '2');
  assert.equal(formatFloat(1.005, 'f', 2), '1.00'); // 1.005 is 1.00499999...
  assert.equal(formatFloat(0.125, 'f', 2), '0.12');
  assert.equal(formatFloat(1e21, 'f', 0), '1000000000000000000000');
  assert.equal(formatFloat(5e-324, 'e', 3), '4.941e-324');
});

test('variables, scopes, range forms, break/continue, else-if, with-else', () => {
  const data = { xs: ['a', 'b', 'c'], m: { z: 1n, a: 2n }, empty: [] };
  assert.equal(run('{{ range $i, $v := .xs }}{{ $i }}{{ $v }}{{ end }}', data), '0a1b2c');
  assert.equal(run('{{ range $k, $v := .m }}{{ $k }}{{ $v }}{{ end }}', data), 'a2z1');
  assert.equal(run('{{ range .empty }}x{{ else }}none{{ end }}|{{ range .nope }}x{{ else }}nil{{ end }}', data), 'none|nil');
  assert.equal(run('{{ range .xs }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}', data), 'ac');
  assert.equal(run('{{ range .xs }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', data), 'a');
  assert.equal(run('{{ if eq 1 2 }}a{{ else if eq 2 2 }}b{{ else }}c{{ end }}'), 'b');
  assert.equal(run('{{ with .nope }}a{{ else with .xs }}{{ len . }}{{ end }}', data), '3');
  assert.equal(run('{{ $x := 1 }}{{ range .xs }}{{ $x = . }}{{ end }}{{ $x }}', data), 'c');
  assert.equal(run('{{ range 3 }}{{ . }}{{ end }}'), '012');
  assert.equal(run('{{ range $v := .xs }}{{ $v }}{{ $.xs | len }}{{ end }}', data), 'a3b3c3');
  assert.throws(() => run('{{ break }}'), /\{\{break\}\} outside \{\{range\}\}/);
});

test('missingkey: default prints <no value>, zero uses the element zero value, error fails', () => {
  const labels = goMap({ a: 'x' }, 'map[string]string', '');
  assert.equal(run('[{{ .l.b }}][{{ .i.b }}]', { l: labels, i: { a: 1n } }), '[<no value>][<no value>]');
  assert.equal(run('[{{ .l.b }}][{{ .i.b }}]', { l: labels, i: { a: 1n } }, { missingKey: 'zero' }), '[][<no value>]');
  assert.throws(() => run('{{ .l.b }}', { l: labels }, { missingKey: 'error' }), /map has no entry for key "b"/);
});

test('errors name template, line, byte column and node like Go', () => {
  const set = new TemplateSet().parse('t', 'line1\n  é {{ .a.b }}\n{{ define "sub" }}{{ .x }}{{ end }}{{ template "sub" 3 }}');
  assert.throws(() => set.execute('t', { a: 'str' }), (e: unknown) => e instanceof TemplateExecError && e.message === 'template: t:2:10: executing "t" at <.a.b>: can\'t evaluate field b in type string');
  // Go places a field chain at its second field: `.b` here, byte column 10 after the two-byte é.
  const set2 = new TemplateSet().parse('t', '{{ define "sub" }}{{ .x }}{{ end }}{{ template "sub" 3 }}');
  assert.throws(() => set2.execute('t', {}), /template: t:1:21: executing "sub" at <.x>: can't evaluate field x in type int/);
  assert.throws(() => new TemplateSet().parse('f.tmpl', 'a\n{{ if }}'), (e: unknown) => e instanceof TemplateParseError && e.message === 'template: f.tmpl:2: missing value for if');
  assert.throws(() => new TemplateSet().parse('t', '{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}'), /multiple definition of template "a"/);
});

test('later parses replace definitions; empty ones do not', () => {
  const set = new TemplateSet().parse('a', '{{ define "x" }}one{{ end }}').parse('b', '{{ define "x" }}two{{ end }}').parse('c', '{{ define "x" }} {{ end }}');
  assert.equal(set.parse('main', '{{ template "x" }}').execute('main', null), 'two');
});

test('execution is bounded: steps, output size and template depth', () => {
  const loop = new TemplateSet({}, { limits: { maxSteps: 1000 } }).parse('t', '{{ range 100000 }}x{{ end }}');
  assert.throws(() => loop.execute('t', null), (e: unknown) => e instanceof TemplateLimitError && /1000 steps/.test(e.message));
  const big = new TemplateSet({}, { limits: { maxOutputBytes: 100 } }).parse('t', '{{ range 1000 }}xx{{ end }}');
  assert.throws(() => big.execute('t', null), TemplateLimitError);
  const rec = new TemplateSet().parse('t', '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}');
  assert.throws(() => rec.execute('t', null), /exceeded maximum template depth \(1000\)/);
});

test('function signatures: arity, types, constants converted to parameter types, error wrapping', () => {
  const set = new TemplateSet({
    twice: defineFunc([P.int], (n: bigint) => n * 2n),
    half: defineFunc([P.float64], (f: number) => f / 2),
    boom: defineFunc([], () => {
      throw new Error('bad thing');
    }),
  });
  assert.equal(set.parse('a', '{{ twice 21 }} {{ half 3 }} {{ twice 3.0 }}').execute('a', null), '42 1.5 6');
  // A float constant evaluated on its own is a float64, which an int parameter refuses (as in Go).
  assert.throws(() => set.parse('a2', '{{ 3.0 | twice }}').execute('a2', null), /wrong type for value; expected int; got float64/);
  assert.throws(() => set.parse('b', '{{ twice 1 2 }}').execute('b', null), /wrong number of args for twice: want 1 got 2/);
  assert.throws(() => set.parse('c', '{{ twice 1.5 }}').execute('c', null), /expected integer; found 1.5/);
  assert.throws(() => set.parse('d', '{{ twice .f }}').execute('d', { f: 1.5 }), /wrong type for value; expected int; got float64/);
  assert.throws(() => set.parse('e', '{{ boom }}').execute('e', null), /at <boom>: error calling boom: bad thing/);
  assert.throws(() => set.parse('f', '{{ nope }}'), /function "nope" not defined/);
  assert.equal(run('{{ and 1 0 }} {{ or 0 "" }} {{ and 1 "x" }} {{ or .n "d" }}', {}), '0  x d');
});

test('and/or short-circuit: later arguments are not evaluated', () => {
  let calls = 0;
  const set = new TemplateSet({ count: defineFunc([], () => ++calls) });
  assert.equal(set.parse('t', '{{ or 1 count }} {{ and 0 count }}').execute('t', null), '1 0');
  assert.equal(calls, 0);
});

const ctx = (extra: Partial<PrometheusTemplateContext> = {}): PrometheusTemplateContext => ({ timestampMs: 1_700_000_000_000, externalURL: 'https://vigil.example.com:9090/prom/', ...extra });

test('Prometheus alert templates: $labels/$value/$externalLabels/$externalURL and error rendering', () => {
  const data = { labels: { instance: 'db1:5432', job: 'pg' }, externalLabels: { cluster: 'eu' }, externalURL: 'https://vigil.example.com', value: 0.953 };
  const t = new AlertTemplate('DatabaseDown', '{{ $labels.instance }} in {{ $externalLabels.cluster }} is {{ humanizePercentage $value }} ({{ .Value }}) {{ $externalURL }} [{{ $labels.missing }}]');
  assert.equal(t.expand(data, ctx()).text, 'db1:5432 in eu is 95.3% (0.953) https://vigil.example.com []');
  const bad = new AlertTemplate('X', '{{ .Nope }}').expand(data, ctx());
  assert.equal(bad.text, '<error expanding template: error executing template __alert_X: template: __alert_X:1:115: executing "__alert_X" at <.Nope>: can\'t evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }>');
  assert.ok(bad.error);
  const perr = new AlertTemplate('X', '{{ if }}');
  assert.equal(perr.expand(data, ctx()).text, '<error expanding template: error parsing template __alert_X: template: __alert_X:1: missing value for if>');
  assert.equal(new AlertTemplate('X', 'plain text').expand(data, ctx()).text, 'plain text');
});

test('Prometheus functions needing the context: externalURL, pathPrefix, now, toDuration', () => {
  const set = newPrometheusTemplateSet().parse('t', '{{ externalURL }} {{ pathPrefix }} {{ now }} {{ toDuration 90.5 }} {{ toTime 1.5 }} {{ humanizeDuration (toDuration 61) }}');
  assert.equal(set.execute('t', null, { context: ctx() }), 'https://vigil.example.com:9090/prom/ /prom/ 1.7e+09 1m30.5s 1970-01-01 00:00:01.5 +0000 UTC 1m 1s');
});

test('query works with a synchronous function in execute and an asynchronous one in executeAsync', async () => {
  const samples = [{ labels: { instance: 'b' }, value: 2 }, { labels: { instance: 'a' }, value: 1 }];
  const text = '{{ range query "up" | sortByLabel "instance" }}{{ .Labels.instance }}={{ .Value }} {{ end }}{{ query "up" | first | value }} {{ with query "none" }}x{{ else }}empty{{ end }}';
  const set = newPrometheusTemplateSet().parse('t', text);
  const sync = (q: string) => (q === 'up' ? samples : []);
  assert.equal(set.execute('t', null, { context: ctx({ query: sync }) }), 'a=1 b=2 2 empty');
  const asked: string[] = [];
  const asyncQuery = async (q: string) => {
    asked.push(q);
    await new Promise((r) => setImmediate(r));
    return q === 'up' ? samples : [];
  };
  assert.equal(await set.executeAsync('t', null, { context: ctx({ query: asyncQuery }) }), 'a=1 b=2 2 empty');
  assert.deepEqual(asked, ['up', 'none'], 'each distinct query is awaited once');
  assert.throws(() => set.execute('t', null, { context: ctx({ query: asyncQuery }) }), /asynchronous; use executeAsync/);
  const failing = newPrometheusTemplateSet().parse('f', '{{ query "bad(" }}');
  await assert.rejects(failing.executeAsync('f', null, { context: ctx({ query: async () => { throw new Error('parse error at char 5'); } }) }), /error calling query: parse error at char 5/);
  const first = await new AlertTemplate('Q', '{{ query "none" | first }}').expandAsync({ labels: {}, externalLabels: {}, externalURL: '', value: 1 }, ctx({ query: asyncQuery }));
  assert.match(first.text, /error calling first: first\(\) called on vector with no elements>$/);
});

test('Go time formatting, zones and durations', () => {
  const t = GoTime.fromUnixMs(Date.UTC(2024, 0, 2, 15, 4, 5, 120));
  assert.equal(t.Format('2006-01-02T15:04:05.000Z07:00 Mon Jan _2 3:04PM MST .999'), '2024-01-02T15:04:05.120Z Tue Jan  2 3:04PM UTC .12');
  const ny = t.In(loadLocation('America/New_York'));
  assert.equal(ny.Format('2006-01-02 15:04 -0700 MST'), '2024-01-02 10:04 -0500 EST');
  assert.throws(() => loadLocation('Nowhere/City'), /unknown time zone Nowhere\/City/);
  assert.equal(new GoDuration(90_500_000_000n).String(), '1m30.5s');
  assert.equal(new GoDuration(1_500_000n).String(), '1.5ms');
  assert.equal(new GoDuration(0n).String(), '0s');
  assert.equal(new GoDuration(-3_600_000_000_000n).String(), '-1h0m0s');
});

test('notification data: status, common labels, Firing/Resolved, quoted receiver', () => {
  const data = buildNotificationData({
    receiver: 'team.a', groupLabels: { alertname: 'HighCPU' }, externalURL: 'http://vigil:9093', nowMs: 2_000_000,
    alerts: [
      { labels: { alertname: 'HighCPU', instance: 'a', sev: 'p1' }, annotations: { summary: 's' }, startsAt: 1_000_000, fingerprint: '1' },
      { labels: { alertname: 'HighCPU', instance: 'b', sev: 'p1' }, annotations: { summary: 's', x: 'y' }, startsAt: 1_000_000, endsAt: 1_500_000, fingerprint: '2' },
    ],
  });
  const t = new NotificationTemplates();
  assert.equal(t.executeText('{{ .Status }} {{ .Receiver }} {{ len .Alerts.Firing }}/{{ len .Alerts.Resolved }} {{ .CommonLabels.SortedPairs }} {{ .CommonAnnotations.Names }}', data), 'firing team\\.a 1/1 [{alertname HighCPU} {sev p1}] [summary]');
  assert.equal(t.executeTemplate('__subject', data), '[FIRING:1] HighCPU (p1)');
  assert.equal(t.executeText('{{ template "slack.default.titlelink" . }}', data), 'http://vigil:9093/#/alerts?receiver=team%5C.a');
  const html = t.executeTemplate('email.default.html', data);
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /1 firing, 1 resolved for alertname=HighCPU/);
  assert.equal(JSON.parse(JSON.stringify(data)).alerts[1].endsAt, '1970-01-01T00:25:00Z');
});

test('user templates override defaults; Alertmanager-only functions', () => {
  const t = new NotificationTemplates().addFile('custom.tmpl', '{{ define "slack.default.title" }}custom {{ .Status | title }}{{ end }}');
  const data = buildNotificationData({ receiver: 'r', groupLabels: {}, externalURL: '', alerts: [{ labels: { a: 'b' }, annotations: {}, startsAt: Date.UTC(2024, 5, 1, 12), fingerprint: 'f' }] });
  assert.equal(t.executeText('{{ template "slack.default.title" . }}', data), 'custom Firing');
  const start = '(index .Alerts 0).StartsAt';
  assert.equal(t.executeText(`{{ ${start} | tz "Europe/Berlin" | date "15:04 MST" }} {{ since ${start} }} {{ trimSpace "  x " }} {{ urlUnescape "a%20b+c" }} {{ humanizeDuration 3661 }} {{ safeUrl "http://x" }}`, data, { context: { nowMs: Date.UTC(2024, 5, 1, 13, 30) } }), '14:00 CEST 1h30m0s x a b c 1h 1m 1s http://x');
  assert.equal(t.check('{{ template "x" . '), 'template: :1: unclosed action');
  assert.throws(() => t.addFile('bad.tmpl', '{{ define "y" }}{{ end'), /template: bad.tmpl:1: unclosed action/);
});
