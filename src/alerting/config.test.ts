import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ConfigError, CORE_SECTIONS, parseConfig, z } from '../config/index.ts';
import { tempDir } from '../state/testing.ts';
import { alertingSection, alertmanagerYaml, defineAlertingSection, parseAlertmanagerConfig } from './config.ts';
import { AMTOOL_BIN, haveAmtool } from './testing.ts';

const R = 'receivers: [{name: a}]';

/** Bad Alertmanager configurations and the message Alertmanager 0.25 gives for each. */
const BAD: Array<[string, string]> = [
  ['route: {receiver: a, continue: true}\n' + R, 'cannot have continue in root route'],
  ['route: {receiver: a, mute_time_intervals: [x]}\n' + R, 'root route must not have any mute time intervals'],
  ['route: {receiver: b}\n' + R, 'undefined receiver "b" used in route'],
  ['route: {receiver: a}\nreceivers: [{name: a}, {name: a}]', 'notification config name "a" is not unique'],
  ["route: {receiver: a, group_by: ['...', x]}\n" + R, 'cannot have wildcard group_by (`...`) and other other labels at the same time'],
  ['route: {receiver: a, group_by: [x, x]}\n' + R, 'duplicated label "x" in group_by'],
  ['route: {receiver: a, group_by: [x-y]}\n' + R, 'invalid label name "x-y" in group_by list'],
  ['route: {receiver: a, group_interval: 0s}\n' + R, 'group_interval cannot be zero'],
  ['route: {receiver: a, repeat_interval: 0s}\n' + R, 'repeat_interval cannot be zero'],
  ['route: {receiver: a, routes: [{mute_time_intervals: [nope]}]}\n' + R, 'undefined time interval "nope" used in route'],
  ['route: {receiver: a, routes: [{matchers: [\'a="b\'] }]}\n' + R, 'matcher value contains unescaped double quote: "b'],
  ["route: {receiver: a, routes: [{match_re: {a: '('} }]}\n" + R, 'error parsing regexp: missing closing ): `^(?:()$`'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{times: [{start_time: '10:00', end_time: '09:00'}]}]}]\n" + R, 'start time cannot be equal or greater than end time'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{weekdays: ['funday']}]}]\n" + R, 'funday is not a valid weekday'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{weekdays: ['friday:monday']}]}]\n" + R, 'start day cannot be before end day'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{days_of_month: ['0']}]}]\n" + R, '0 is not a valid day of the month: out of range'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{days_of_month: ['5:2']}]}]\n" + R, 'end day 2 is always before start day 5'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{days_of_month: ['-5:2']}]}]\n" + R, 'end day must be negative if start day is negative'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{months: ['jan']}]}]\n" + R, 'jan is not a valid month'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{years: ['2022:2020']}]}]\n" + R, 'end year 2020 is before start year 2022'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{location: 'Mars/Olympus'}]}]\n" + R, 'unknown time zone Mars/Olympus'],
  ['route: {receiver: a}\ntime_intervals: [{name: t}, {name: t}]\n' + R, 'time interval "t" is not unique'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{times: [{start_time: '9:00', end_time: '10:00'}]}]}]\n" + R, "couldn't parse timestamp 9:00, invalid format"],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{times: [{start_time: '09:00'}]}]}]\n" + R, 'both start and end times must be provided'],
  ["route: {receiver: a}\ntime_intervals: [{name: t, time_intervals: [{weekdays: ['monday:tuesday:friday']}]}]\n" + R, "couldn't parse range monday:tuesday:friday, invalid format"],
  ['route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y}]}]', 'no global SMTP smarthost set'],
  ['route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{channel: x}]}]', 'no global Slack API URL set either inline or in a file'],
  ['route: {receiver: a}\nreceivers: [{name: a, pagerduty_configs: [{}]}]', 'missing service or routing key in PagerDuty config'],
  ['route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{}]}]', 'missing URL in webhook config'],
  ["route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: 'ftp://x'}]}]", 'unsupported scheme "ftp" for URL'],
  ["route: {receiver: a}\ninhibit_rules: [{equal: ['a-b']}]\n" + R, '"a-b" is not a valid label name'],
  ["route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y, from: a@b, smarthost: 'localhost'}]}]", 'address localhost: missing port in address'],
  ["route: {receiver: a}\nreceivers: [{name: a, email_configs: [{to: x@y, from: a@b, smarthost: 'localhost:25', headers: {subject: a, Subject: b}}]}]", 'duplicate header "Subject" in email config'],
  ['receivers: [{name: a}]', 'no routes provided'],
  ["route: {receiver: a}\nreceivers: [{name: ''}]", 'missing name in receiver'],
  ["route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{api_url: 'http://x', api_url_file: /x}]}]", 'at most one of api_url & api_url_file must be configured'],
];

function vigilError(text: string, file: string): string {
  try {
    parseAlertmanagerConfig(text, file);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return '';
}

describe('alerting configuration', () => {
  test("every bad configuration is refused with Alertmanager's message, a line and the key", () => {
    const dir = tempDir('vigil-amcfg-');
    writeFileSync(join(dir, 'x'), 'secret');
    for (const [text, message] of BAD) {
      const file = join(dir, 'alertmanager.yml');
      const err = vigilError(text.replaceAll('/x', join(dir, 'x')), file);
      assert.ok(err.includes(message), `${JSON.stringify(text)}\n  expected: ${message}\n  got: ${err || '(accepted)'}`);
      assert.match(err, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `), err);
    }
  });

  test('amtool check-config refuses the same configurations with the same messages', (t) => {
    const skip = haveAmtool();
    if (skip) return t.skip(skip);
    const dir = tempDir('vigil-amtool-cfg-');
    writeFileSync(join(dir, 'x'), 'secret');
    for (const [text, message] of BAD) {
      const file = join(dir, 'c.yml');
      writeFileSync(file, text.replaceAll('/x', join(dir, 'x')));
      const r = spawnSync(AMTOOL_BIN, ['check-config', file], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 1, `amtool accepted ${JSON.stringify(text)}`);
      assert.ok(r.stdout.includes(message), `amtool's message for ${JSON.stringify(text)}: ${r.stdout}`);
    }
  });

  test('errors point at the line and key inside vigil.yml', () => {
    const text = 'alerting:\n  route:\n    receiver: web.hook\n    routes:\n      - receiver: nope\n  receivers:\n    - name: web.hook\n';
    assert.throws(() => parseConfig(text, '/etc/vigil/vigil.yml', [...CORE_SECTIONS, alertingSection]), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, '/etc/vigil/vigil.yml:5:19: alerting.route.routes[0].receiver: undefined receiver "nope" used in route');
      return true;
    });
    assert.throws(() => parseConfig('alerting:\n  route:\n    receiver: a\n    group_wiat: 1s\n  receivers: [{name: a}]\n', '/v.yml', [alertingSection]), /\/v\.yml:4:5: alerting\.route\.group_wiat: unknown key "group_wiat"/);
    assert.throws(() => parseConfig('alerting:\n  route: {receiver: a}\n  receivers: [{name: a, opsgenie_configs: [{api_key: x}]}]\n', '/v.yml', [alertingSection]), /alerting\.receivers\[0\]\.opsgenie_configs: opsgenie_configs are not supported by Vigil/);
  });

  test('config_file: the routing configuration in its own file, errors located in that file', () => {
    const dir = tempDir('vigil-amfile-');
    const am = join(dir, 'alertmanager.yml');
    writeFileSync(am, 'route:\n  receiver: web.hook\n  group_wait: 10s\nreceivers:\n  - name: web.hook\n    webhook_configs: [{url: "http://127.0.0.1:5001/"}]\n');
    const vigil = join(dir, 'vigil.yml');
    const cfg = parseConfig('alerting:\n  config_file: alertmanager.yml\n  history_retention: 7d\n', vigil, [alertingSection]).get(alertingSection);
    assert.equal(cfg.alertmanager?.route.groupWait, 10_000);
    assert.equal(cfg.alertmanager?.source, am);
    assert.equal(cfg.options.historyRetention, 7 * 86_400_000);
    writeFileSync(am, 'route:\n  receiver: web.hook\n  group_wait: soon\nreceivers:\n  - name: web.hook\n');
    assert.throws(() => parseConfig('alerting:\n  config_file: alertmanager.yml\n', vigil, [alertingSection]), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `${vigil}:2:16: alerting.config_file: ${am}:3:15: route.group_wait: "soon" is not a duration (use e.g. 15s, 1m30s, 2h, 1d)`);
      return true;
    });
    assert.throws(() => parseConfig('alerting:\n  config_file: alertmanager.yml\n  receivers: [{name: x}]\n', vigil, [alertingSection]), /alerting\.receivers: cannot be set together with config_file/);
    assert.throws(() => parseConfig('alerting:\n  config_file: missing.yml\n', vigil, [alertingSection]), /alerting\.config_file: cannot read .*missing\.yml/);
  });

  test('defaults, inheritance of global settings, secrets hidden when printed back', () => {
    const dir = tempDir('vigil-amdefaults-');
    mkdirSync(join(dir, 'templates'));
    writeFileSync(join(dir, 'templates', 'a.tmpl'), '{{ define "my.title" }}[{{ .Status }}] {{ .GroupLabels.alertname }}{{ end }}');
    writeFileSync(join(dir, 'pw'), 'hunter2\n');
    const c = parseAlertmanagerConfig(`global:
  smtp_smarthost: mail.example.com:587
  smtp_from: vigil@example.com
  smtp_auth_username: vigil
  smtp_auth_password_file: pw
  slack_api_url: https://hooks.slack.com/services/T0/B0/XXXX
  resolve_timeout: 2m
route:
  receiver: ops
templates: ['templates/*.tmpl']
receivers:
- name: ops
  email_configs: [{to: ops@example.com}]
  slack_configs: [{channel: '#ops', title: '{{ template "my.title" . }}'}]
  pagerduty_configs: [{routing_key: 'R0UTING'}]
  webhook_configs: [{url: 'http://user:pass@hooks.example.com/x?token=abc', http_config: {basic_auth: {username: u, password: p}}}]
`, join(dir, 'alertmanager.yml'));
    const r = c.receivers[0]!;
    assert.equal(c.global.resolveTimeout, 120_000);
    assert.deepEqual(r.emailConfigs[0]!.smarthost, { host: 'mail.example.com', port: 587 });
    assert.equal(r.emailConfigs[0]!.authPassword?.reveal(), 'hunter2');
    assert.equal(r.emailConfigs[0]!.headers.Subject, '{{ template "email.default.subject" . }}');
    assert.equal(r.emailConfigs[0]!.requireTls, true);
    assert.equal(r.slackConfigs[0]!.apiUrl.reveal(), 'https://hooks.slack.com/services/T0/B0/XXXX');
    assert.equal(r.slackConfigs[0]!.sendResolved, false);
    assert.equal(r.pagerdutyConfigs[0]!.url, 'https://events.pagerduty.com/v2/enqueue');
    assert.equal(r.pagerdutyConfigs[0]!.sendResolved, true);
    assert.equal(r.webhookConfigs[0]!.sendResolved, true);
    assert.equal(c.templateFiles.length, 1);
    assert.ok(c.notificationTemplates.names().includes('my.title'));
    const printed = alertmanagerYaml(c);
    for (const secret of ['hunter2', 'XXXX', 'R0UTING', 'token=abc', 'pass@', '\n          password: p']) assert.ok(!printed.includes(secret), `printed configuration leaks ${secret}`);
    assert.match(printed, /url: http:\/\/hooks\.example\.com\/<secret>/);
    assert.match(printed, /routing_key: <secret>/);
    // What is printed parses again.
    const again = parseAlertmanagerConfig(printed, join(dir, 'again.yml'));
    assert.equal(again.receivers[0]!.slackConfigs[0]!.title, '{{ template "my.title" . }}');
  });

  test('a receiver template that does not parse is refused at load with its key', () => {
    assert.throws(
      () => parseAlertmanagerConfig("route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{api_url: 'https://x.example/', title: '{{ .Status '}]}]\n", '/am.yml'),
      /\/am\.yml:2:\d+: receivers\[0\]\.slack_configs\[0\]\.title: template: :1: unclosed action/,
    );
  });

  test("the README's runbook routing block is a valid alerting section and routes as the runbook says", () => {
    const md = readFileSync(fileURLToPath(new URL('./README.md', import.meta.url)), 'utf8');
    const block = /```yaml\n(alerting:\n[\s\S]*?)```/.exec(md)?.[1];
    assert.ok(block, 'the README has the block');
    const am = parseConfig(block, '/etc/vigil/vigil.yml', [...CORE_SECTIONS, alertingSection]).get(alertingSection).alertmanager!;
    assert.deepEqual(am.route.groupBy, ['alertname', 'cluster', 'service']);
    assert.deepEqual([am.route.groupWait, am.route.groupInterval, am.route.repeatInterval], [30_000, 300_000, 4 * 3_600_000]);
    assert.deepEqual(am.route.routes.map((r) => [r.match, r.receiver, r.repeatInterval]), [[{ severity: 'critical' }, 'pager-duty', 3_600_000], [{ severity: 'warning' }, 'slack', undefined]]);
    assert.deepEqual(am.receivers.map((r) => r.name), ['web.hook', 'pager-duty', 'slack']);
  });

  test("the section takes Prometheus' alertmanagers keys from their owner, and is optional", () => {
    const section = defineAlertingSection({ alertmanagers: z.array(z.strictObject({ static_configs: z.array(z.unknown()) })).default(() => []) });
    const none = parseConfig('', '/v.yml', [section]).get(section);
    assert.equal(none.alertmanager, undefined);
    assert.deepEqual(none.alertmanagers, []);
    const c = parseConfig('alerting:\n  alertmanagers: [{static_configs: []}]\n  route: {receiver: a}\n  receivers: [{name: a}]\n', '/v.yml', [section]).get(section);
    assert.deepEqual(c.alertmanagers, [{ static_configs: [] }]);
    assert.equal(c.alertmanager?.route.receiver, 'a');
    assert.throws(() => parseConfig('alerting:\n  alertmanagers: [{bogus: 1}]\n', '/v.yml', [section]), /alerting\.alertmanagers\[0\]\.bogus: unknown key/);
  });
});
