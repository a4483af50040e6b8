import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Labels } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { compileRelabelConfigs, expandTemplate, hashMod, relabel, ScrapeManager } from './index.ts';
import { jobsFromYaml, silentLogger, waitFor } from './testing.ts';
import { freePort } from '../../test/helpers/free-port.ts';

function rules(yaml: string) {
  const jobs = jobsFromYaml(`scrape_configs:\n  - job_name: x\n    relabel_configs:\n${yaml}`);
  return compileRelabelConfigs(jobs[0]!.config.relabel_configs);
}

const L = (r: Record<string, string>) => Labels.fromRecord(r);

describe('relabel actions', () => {
  test('replace: capture groups, named groups, separator, defaults', () => {
    const r = rules(`      - source_labels: [a, b]\n        separator: '-'\n        regex: '(?P<first>[a-z]+)-(\\d+)'\n        target_label: 'x_\${first}'\n        replacement: '$2:$first:$$'\n`);
    assert.deepEqual(relabel(L({ a: 'foo', b: '42' }), r)?.toRecord(), { a: 'foo', b: '42', x_foo: '42:foo:$' });
    assert.deepEqual(relabel(L({ a: 'FOO', b: '42' }), r)?.toRecord(), { a: 'FOO', b: '42' }, 'no match: unchanged');
    const def = rules(`      - source_labels: [a]\n        target_label: copy\n`);
    assert.deepEqual(relabel(L({ a: 'v' }), def)?.toRecord(), { a: 'v', copy: 'v' });
    assert.deepEqual(relabel(L({ b: 'v', copy: 'old' }), def)?.toRecord(), { b: 'v' }, 'empty replacement deletes the target');
  });

  test('regexes are anchored; $1x is group "1x"', () => {
    const r = rules(`      - source_labels: [a]\n        regex: 'o+'\n        target_label: t\n        replacement: 'hit'\n`);
    assert.equal(relabel(L({ a: 'foo' }), r)?.get('t'), '');
    assert.equal(relabel(L({ a: 'oo' }), r)?.get('t'), 'hit');
    const m = /^(a)(b)$/.exec('ab')!;
    assert.equal(expandTemplate('$1x-${1}x-$2', m), '-ax-b');
    assert.equal(expandTemplate('$ {x} $', m), '$ {x} $');
  });

  test('keep, drop, keepequal, dropequal', () => {
    assert.equal(relabel(L({ a: 'x' }), rules(`      - source_labels: [a]\n        regex: 'x|y'\n        action: keep\n`))?.get('a'), 'x');
    assert.equal(relabel(L({ a: 'z' }), rules(`      - source_labels: [a]\n        regex: 'x|y'\n        action: keep\n`)), null);
    assert.equal(relabel(L({ a: 'x' }), rules(`      - source_labels: [a]\n        regex: x\n        action: drop\n`)), null);
    assert.equal(relabel(L({ a: '1', b: '1' }), rules(`      - source_labels: [a]\n        target_label: b\n        action: keepequal\n`))?.get('a'), '1');
    assert.equal(relabel(L({ a: '1', b: '2' }), rules(`      - source_labels: [a]\n        target_label: b\n        action: keepequal\n`)), null);
    assert.equal(relabel(L({ a: '1', b: '1' }), rules(`      - source_labels: [a]\n        target_label: b\n        action: DropEqual\n`)), null);
  });

  test('hashmod uses the last 8 bytes of the MD5, big-endian (Prometheus test vector)', () => {
    // Prometheus' relabel tests: "baz" modulo 1000 is 976.
    assert.equal(hashMod('baz', 1000), 976);
    const r = rules(`      - source_labels: [c]\n        modulus: 1000\n        target_label: d\n        action: hashmod\n`);
    assert.equal(relabel(L({ c: 'baz' }), r)?.get('d'), '976');
  });

  test('labelmap, labeldrop, labelkeep, lowercase, uppercase', () => {
    const base = L({ __meta_x_foo: 'a', __meta_x_bar: 'b', keep_me: 'k', drop_me: 'd' });
    assert.deepEqual(relabel(base, rules(`      - regex: '__meta_x_(.+)'\n        action: labelmap\n`))?.toRecord(), { ...base.toRecord(), foo: 'a', bar: 'b' });
    assert.deepEqual(relabel(base, rules(`      - regex: 'drop_.*|__meta_.*'\n        action: labeldrop\n`))?.toRecord(), { keep_me: 'k' });
    assert.deepEqual(relabel(base, rules(`      - regex: 'keep_.*'\n        action: labelkeep\n`))?.toRecord(), { keep_me: 'k' });
    assert.equal(relabel(L({ a: 'MiXéD' }), rules(`      - source_labels: [a]\n        target_label: lo\n        action: lowercase\n`))?.get('lo'), 'mixéd');
    assert.equal(relabel(L({ a: 'MiXéD' }), rules(`      - source_labels: [a]\n        target_label: up\n        action: uppercase\n`))?.get('up'), 'MIXÉD');
  });

  test('configuration errors with Prometheus wording and key paths', () => {
    const bad: Array<[string, RegExp]> = [
      [`      - action: hashmod\n        target_label: x\n`, /relabel_configs\[0\]\.modulus: relabel configuration for hashmod requires non-zero modulus/],
      [`      - action: replace\n        source_labels: [a]\n`, /relabel_configs\[0\]\.target_label: relabel configuration for replace action requires 'target_label' value/],
      [`      - action: lowercase\n        target_label: x\n        replacement: y\n`, /'replacement' can not be set for lowercase action/],
      [`      - action: labeldrop\n        source_labels: [a]\n`, /labeldrop action requires only 'regex', and no other fields/],
      [`      - action: keepequal\n        target_label: x\n        regex: y\n`, /keepequal action requires only 'source_labels' and 'target_label'/],
      [`      - action: explode\n`, /unknown relabel action "explode"/],
      [`      - action: keep\n        regex: '(unclosed'\n`, /relabel_configs\[0\]\.regex: invalid regular expression/],
      [`      - action: replace\n        target_label: '1bad'\n`, /"1bad" is invalid 'target_label' for replace action/],
    ];
    for (const [y, re] of bad) assert.throws(() => rules(y), re, y);
  });
});

describe('scrape_configs validation', () => {
  const bad: Array<[string, RegExp]> = [
    ['scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n', /:4:21: scrape_configs\[0\]\.scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name "a"/],
    ['scrape_configs:\n  - job_name: a\n  - job_name: a\n', /scrape_configs\[1\]\.job_name: found multiple scrape configs with job name "a"/],
    ['scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n', /scrape_configs\[0\]\.scrape_intervall: unknown key "scrape_intervall" \(did you mean "scrape_interval"\?\)/],
    ['scrape_configs:\n  - job_name: a\n    scheme: ftp\n', /scrape_configs\[0\]\.scheme/],
    ['scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: ["targets/*.txt"]}]\n', /is not valid for file discovery/],
    ['scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p}\n    bearer_token: t\n', /at most one of basic_auth, authorization, bearer_token & bearer_token_file must be configured/],
    ['scrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n', /"5x" is not a duration/],
  ];
  for (const [y, re] of bad) test(re.source.slice(0, 60), () => assert.throws(() => jobsFromYaml(y, 'vigil.yml'), re));

  test('global defaults: interval, timeout clamped to the interval, limits', () => {
    const [a, b] = jobsFromYaml('global:\n  scrape_interval: 30s\n  scrape_timeout: 20s\n  sample_limit: 5\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 10s\n    sample_limit: 7\n');
    assert.deepEqual([a!.intervalMs, a!.timeoutMs, a!.sampleLimit], [30000, 20000, 5]);
    assert.deepEqual([b!.intervalMs, b!.timeoutMs, b!.sampleLimit], [10000, 10000, 7]);
  });
});


describe('target labels against the real Prometheus 2.42', () => {
  const PROMETHEUS = '/usr/bin/prometheus';
  test('same active labels, discovered labels, URLs and dropped targets for every relabel action', async (t) => {
    if (!existsSync(PROMETHEUS)) {
      t.skip('prometheus not installed (Debian package prometheus); .ci/run installs it');
      return;
    }
    const yaml = `global:\n  scrape_interval: 1h\n  scrape_timeout: 10s\nscrape_configs:
  - job_name: actions
    params: {module: [http_2xx, other]}
    static_configs:
      - targets: ['a.example:9100', 'b.example:9100', 'c.example', 'D.Example:81', '[::1]:9090']
        labels: {__meta_team: Core, env: prod, region: eu-1}
    relabel_configs:
      - source_labels: [__address__]
        regex: 'b\\..*'
        action: drop
      - source_labels: [__address__, env]
        separator: '@'
        regex: '([^.:]+)[^@]*@(.*)'
        target_label: 'node_$2'
        replacement: '\${1}-$2'
      - source_labels: [__address__]
        modulus: 7
        target_label: shard
        action: hashmod
      - regex: '__meta_(.+)'
        action: labelmap
      - source_labels: [team]
        target_label: team_lower
        action: lowercase
      - source_labels: [__address__]
        target_label: addr_upper
        action: uppercase
      - source_labels: [region]
        regex: '(.*)-1'
        target_label: __param_region
      - source_labels: [env]
        target_label: env
        action: keepequal
      - regex: 'region'
        action: labeldrop
      - source_labels: [__address__]
        regex: 'c\\.example'
        target_label: __metrics_path__
        replacement: /probe
  - job_name: keepers
    scheme: https
    metrics_path: /m
    static_configs:
      - targets: ['x:1', 'y:2']
        labels: {tier: web, __scrape_timeout__: 5s}
      - targets: ['z:3']
        labels: {tier: db}
    relabel_configs:
      - source_labels: [tier]
        regex: web
        action: keep
      - regex: 'tier|job|__.*|instance'
        action: labelkeep
      - source_labels: [tier]
        target_label: tier
        action: dropequal
`;
    const dir = mkdtempSync(join(tmpdir(), 'vigil-relabel-'));
    const port = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), yaml);
    const proc = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const m = new ScrapeManager({ appendable: new MemoryStorage(), logger: silentLogger });
    try {
      let api: { data: { activeTargets: Array<Record<string, unknown>>; droppedTargets: Array<Record<string, unknown>> } } | undefined;
      await waitFor(
        'prometheus targets',
        async () => {
          try {
            const r = await fetch(`http://127.0.0.1:${port}/api/v1/targets?state=any`);
            if (!r.ok) return false;
            api = (await r.json()) as typeof api;
            return api!.data.activeTargets.length === 4;
          } catch {
            return false;
          }
        },
        30000,
      );
      await m.applyConfig(jobsFromYaml(yaml));
      const norm = (x: unknown) => JSON.stringify(Object.entries(x as Record<string, string>).sort());
      const theirs = api!.data.activeTargets.map((a) => `${a.scrapePool} ${a.scrapeUrl} ${norm(a.labels)} ${norm(a.discoveredLabels)}`).sort();
      const ours = m.activeTargets().map((a) => `${a.scrapePool} ${a.scrapeUrl} ${norm(a.labels.toRecord())} ${norm(a.discoveredLabels.toRecord())}`).sort();
      assert.deepEqual(ours, theirs);
      const theirDropped = api!.data.droppedTargets.map((d) => norm(d.discoveredLabels)).sort();
      const ourDropped = m.droppedTargets().map((d) => norm(d.discoveredLabels.toRecord())).sort();
      assert.deepEqual(ourDropped, theirDropped);
    } finally {
      await m.stop();
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
