/**
 * Debian's amtool against Vigil, with Alertmanager 0.25 given the same commands as the
 * reference: alert add/query (filters, -s, -i, -a, --receiver, -o extended/json), silence
 * add/query/import/expire, config show and routes over the API; and `vigil alerting routes
 * test|show` against `amtool config routes test|show` on the same files. Outputs are compared
 * after replacing ids and times.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVigil } from '../../test/helpers/vigil-process.ts';
import { main } from '../cli/main.ts';
import { tempDir } from '../state/testing.ts';
import { AMTOOL_BIN, haveAlertmanager, haveAmtool, startAlertingServer, startAlertmanager, startCapture } from './testing.ts';

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs amtool without blocking the event loop (Vigil runs in this process). */
function amtool(args: string[], stdin?: string): Promise<Out> {
  return new Promise((resolve) => {
    const child = execFile(AMTOOL_BIN, args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

/** Ids, times and amtool's version warning replaced, so two systems' outputs compare. */
function normalize(s: string): string {
  return s
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
    .replace(/\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?( UTC|Z)/g, '<time>')
    .replace(/^Warning: amtool version .* are different\.\n/m, '')
    .replace(/^http:\/\/127\.0\.0\.1:\d+/gm, '<url>');
}

const CONFIG = (hook: string) => `route:
  receiver: web.hook
  group_by: [alertname]
  routes:
  - match: {severity: critical}
    receiver: pager-duty
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [alertname]
receivers:
- name: web.hook
  webhook_configs: [{url: '${hook}/x'}]
- name: pager-duty
`;

describe('amtool', { concurrency: 1 }, () => {
  test('alert and silence commands give the same output against Vigil as against Alertmanager 0.25', async (t) => {
    const skip = haveAmtool() ?? haveAlertmanager();
    if (skip) return t.skip(skip);
    const cap = await startCapture();
    const am = await startAlertmanager(CONFIG(cap.url));
    const vigil = await startAlertingServer({ alerting: CONFIG(cap.url) });
    const both = async (args: string[], stdin?: string | ((which: 'am' | 'vigil') => string)) => {
      const s = (w: 'am' | 'vigil') => (typeof stdin === 'function' ? stdin(w) : stdin);
      const a = await amtool([`--alertmanager.url=${am.url}`, ...args], s('am'));
      const v = await amtool([`--alertmanager.url=${vigil.url}`, ...args], s('vigil'));
      assert.equal(v.code, a.code, `exit code of amtool ${args.join(' ')}: ${v.stderr}`);
      assert.equal(normalize(v.stdout), normalize(a.stdout), `stdout of amtool ${args.join(' ')}`);
      assert.equal(normalize(v.stderr).replace(/127\.0\.0\.1:\d+/g, 'HOST'), normalize(a.stderr).replace(/127\.0\.0\.1:\d+/g, 'HOST'), `stderr of amtool ${args.join(' ')}`);
      return { am: a, vigil: v };
    };
    try {
      await both(['alert', 'add', 'alertname=DiskFull', 'severity=warning', 'instance=db-1', '--annotation=summary=Disk is full', '--generator-url=http://prom.example/graph']);
      await both(['alert', 'add', 'alertname=DiskFull', 'severity=critical', 'instance=db-2']);
      await both(['alert', 'add', 'alertname=HighLatency', 'severity=warning', 'instance=api-1', '--annotation=summary=p99 over 2s']);
      for (const q of [[], ['-o', 'extended'], ['-i'], ['-a'], ['severity=warning'], ['alertname=~"High.*"'], ['--receiver=pager-duty'], ['-o', 'json'], ['instance!=db-1', '-o', 'extended']]) {
        await both(['alert', 'query', ...q]);
      }
      const added = await both(['silence', 'add', 'instance=api-1', '--comment=maintenance window', '--duration=1h', '-a', 'alice']);
      assert.match(added.vigil.stdout.trim(), /^[0-9a-f-]{36}$/);
      for (const q of [[], ['-o', 'extended'], ['-q'], ['instance=api-1'], ['instance=api-2'], ['-o', 'json']]) await both(['silence', 'query', ...q]);
      for (const q of [['-s'], ['-a'], ['-s', '-o', 'extended']]) await both(['alert', 'query', ...q]);
      // Export, expire, re-import (each system its own export).
      const exported = { am: (await amtool([`--alertmanager.url=${am.url}`, 'silence', 'query', '-o', 'json'])).stdout, vigil: (await amtool([`--alertmanager.url=${vigil.url}`, 'silence', 'query', '-o', 'json'])).stdout };
      const ids = { am: JSON.parse(exported.am)[0].id as string, vigil: JSON.parse(exported.vigil)[0].id as string };
      assert.equal((await amtool([`--alertmanager.url=${am.url}`, 'silence', 'expire', ids.am])).code, 0);
      assert.equal((await amtool([`--alertmanager.url=${vigil.url}`, 'silence', 'expire', ids.vigil])).code, 0);
      await both(['silence', 'query', '-o', 'extended']);
      await both(['silence', 'query', '--expired', '-o', 'extended']);
      await both(['silence', 'import'], (w) => exported[w]);
      await both(['silence', 'query']);
      await both(['alert', 'query', '-s']);
      // Errors.
      await both(['silence', 'add', 'foo']);
      await both(['silence', 'expire', '00000000-0000-4000-8000-000000000000']);
      await both(['alert', 'query', 'a="b']);
      // Configuration over the API.
      await both(['config', 'routes', 'test', 'severity=critical']);
      await both(['config', 'routes', 'test', 'severity=info']);
      await both(['config', 'routes']);
    } finally {
      await vigil.stop();
      await am.stop();
      await cap.close();
    }
  });

  test('vigil alerting routes test|show print what amtool config routes test|show prints', async (t) => {
    const skip = haveAmtool();
    if (skip) return t.skip(skip);
    const dir = tempDir('vigil-routes-');
    const amFile = join(dir, 'alertmanager.yml');
    writeFileSync(amFile, `route:
  group_by: ['alertname', 'cluster', 'service']
  receiver: 'web.hook'
  routes:
  - match:
      severity: critical
    receiver: 'pager-duty'
    repeat_interval: 1h
    continue: true
    routes:
    - matchers: ['team=~"db|infra"', 'env!="dev"']
      receiver: dbteam
  - match:
      severity: warning
    receiver: 'slack'
  - receiver: dbteam
    match_re: {service: 'pg.*'}
receivers: [{name: web.hook}, {name: pager-duty}, {name: slack}, {name: dbteam}]
`);
    const vigilFile = join(dir, 'vigil.yml');
    writeFileSync(vigilFile, 'alerting:\n  config_file: alertmanager.yml\n');
    const cases: string[][] = [['severity=critical'], ['severity=critical', 'team=db'], ['severity=critical', 'team=db', 'service=pg1'], ['severity=warning'], ['foo=bar'], ['--verify.receivers=slack', 'severity=warning'], ['--verify.receivers=x', 'severity=warning']];
    // In-process through the CLI's entry point (the same code path as the binary, without a node start per case).
    const vigil = async (args: string[]): Promise<Out> => {
      let stdout = '';
      let stderr = '';
      const code = await main(args, { out: (s) => (stdout += s), err: (s) => (stderr += s), isTty: false });
      return { code, stdout, stderr };
    };
    for (const c of cases) {
      const a = await amtool(['config', 'routes', 'test', `--config.file=${amFile}`, ...c]);
      for (const file of [amFile, vigilFile]) {
        const v = await vigil(['alerting', 'routes', 'test', `--config.file=${file}`, ...c]);
        assert.equal(v.stdout, a.stdout, `routes test ${c.join(' ')} (${file})`);
        assert.equal(v.code, a.code, `exit code of routes test ${c.join(' ')}`);
      }
    }
    const show = await amtool(['config', 'routes', 'show', `--config.file=${amFile}`]);
    assert.equal((await vigil(['alerting', 'routes', 'show', `--config.file=${vigilFile}`])).stdout, show.stdout);
    // The installed command, once.
    const bin = await runVigil(['alerting', 'routes', 'show', `--config.file=${amFile}`]);
    assert.equal(bin.stdout, show.stdout);
    assert.equal(bin.code, 0);
    const bad = await vigil(['alerting', 'routes', 'test', `--config.file=${join(dir, 'missing.yml')}`, 'a=b']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cannot read/);
  });
});
