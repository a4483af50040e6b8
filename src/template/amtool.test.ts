/**
 * Compares Vigil's template engine with Alertmanager 0.25's (Debian's amtool `template
 * render`): the same template text and data must render the same output or the same error.
 * Vigil's default notification templates are compared with Alertmanager's default.tmpl.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NotificationTemplates, notificationDataFromJSON } from './index.ts';

const amtool = spawnSync('amtool', ['--version'], { encoding: 'utf8' });
const skip = amtool.error ? 'amtool not installed (Debian package prometheus-alertmanager)' : false;
const DATA = fileURLToPath(new URL('./testdata/am-data.json', import.meta.url));
const AM_DEFAULTS = '/usr/share/prometheus/alertmanager/default.tmpl';

function render(text: string, glob = '/nonexistent/none.tmpl'): { ok: boolean; out: string } {
  const r = spawnSync('amtool', ['template', 'render', `--template.glob=${glob}`, `--template.data=${DATA}`, `--template.text=${text}`], { encoding: 'utf8' });
  if (r.status === 0) return { ok: true, out: r.stdout };
  return { ok: false, out: r.stderr.replace(/^amtool: error: /, '').replace(/\n+$/, '') };
}

function vigil(text: string, defaults = false): { ok: boolean; out: string } {
  const t = new NotificationTemplates({ includeDefaults: defaults });
  const data = notificationDataFromJSON(JSON.parse(readFileSync(DATA, 'utf8')));
  try {
    return { ok: true, out: t.executeText(text, data) };
  } catch (e) {
    return { ok: false, out: (e as Error).message };
  }
}

test('templates render as amtool template render does (output and errors)', { skip }, () => {
  const cases: string[] = JSON.parse(readFileSync(new URL('./testdata/am-templates.json', import.meta.url), 'utf8'));
  let errors = 0;
  for (const text of cases) {
    const want = render(text);
    const got = vigil(text);
    if (!want.ok) errors++;
    assert.deepEqual(got, want, text);
  }
  assert.ok(errors >= 4, 'the fixture keeps its error cases');
});

test('default notification templates match Alertmanager default.tmpl output', { skip: skip || (!existsSync(AM_DEFAULTS) && `${AM_DEFAULTS} missing`) }, () => {
  const names = [
    '__subject', '__alertmanagerURL', '__text_alert_list', 'slack.default.title', 'slack.default.fallback', 'slack.default.titlelink',
    'slack.default.username', 'slack.default.text', 'pagerduty.default.description', 'pagerduty.default.client',
    'pagerduty.default.clientURL', 'pagerduty.default.instances', 'email.default.subject',
  ];
  for (const name of names) {
    const arg = name === '__text_alert_list' || name === 'pagerduty.default.instances' ? '.Alerts' : '.';
    const text = `{{ template "${name}" ${arg} }}`;
    const want = render(text, '/usr/share/prometheus/alertmanager/*.tmpl');
    assert.ok(want.ok, want.out);
    assert.equal(vigil(text, true).out, want.out, name);
  }
});
