import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { inspect } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { z } from 'zod';
import {
  CORE_SECTIONS, ConfigError, ConfigManager, Secret, defineSection, duration, exclusiveSecret, loadConfigFile, parseConfig, secret, secretFile, globalSection, serverSection, storageSection,
} from './index.ts';

const testdata = new URL('./testdata/', import.meta.url).pathname;

// A module-owned section, as scrape or alerting define theirs.
const jobsSection = defineSection(
  'jobs',
  z
    .array(
      z
        .strictObject({ name: z.string(), interval: duration().default(60_000), password: secret().optional(), password_file: secretFile().optional() })
        .superRefine((o, ctx) => exclusiveSecret(o, 'password', ctx)),
    )
    .default([]),
);
const SECTIONS = [...CORE_SECTIONS, jobsSection];

test('a valid file gives typed sections with defaults applied', async () => {
  const cfg = await loadConfigFile(join(testdata, 'valid.yml'), SECTIONS);
  const g = cfg.get(globalSection);
  assert.equal(g.scrape_interval, 15_000);
  assert.equal(g.scrape_timeout, 10_000, 'default');
  assert.equal(g.evaluation_interval, 30_000);
  assert.equal(g.external_labels.get('cluster'), 'eu-1');
  assert.equal(cfg.get(serverSection).listen_address, '127.0.0.1:9999');
  assert.equal(cfg.get(storageSection).retention.size, 512 * 1024 * 1024);
  assert.equal(cfg.get(storageSection).retention.time, 30 * 86_400_000);
  const jobs = cfg.get(jobsSection);
  assert.equal(jobs[0]!.interval, 5_400_000);
  assert.equal(jobs[1]!.interval, 60_000);
  assert.ok(jobs[0]!.password instanceof Secret);
  assert.equal(jobs[0]!.password.reveal(), 'hunter2');
  assert.equal(jobs[1]!.password_file!.reveal(), 'from-a-file', '*_file secrets resolve relative to the config file');
});

test('secrets never show: JSON, inspect and the redacted YAML', async () => {
  const cfg = await loadConfigFile(join(testdata, 'valid.yml'), SECTIONS);
  const jobs = cfg.get(jobsSection);
  assert.equal(JSON.stringify(jobs[0]), '{"name":"api","interval":5400000,"password":"<secret>"}');
  assert.ok(!inspect(jobs).includes('hunter2'));
  const y = cfg.redactedYaml();
  assert.ok(!y.includes('hunter2'));
  assert.match(y, /password: <secret>/);
  assert.match(y, /cluster: eu-1/);
});

test('every problem is reported with file, line, column and key path', async () => {
  await assert.rejects(loadConfigFile(join(testdata, 'invalid.yml'), SECTIONS), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    const lines = e.message.split('\n').map((l) => l.replace(testdata, ''));
    assert.deepEqual(lines, [
      'invalid.yml:2:20: global.scrape_interval: "15x" is not a duration (use e.g. 15s, 1m30s, 2h, 1d)',
      'invalid.yml:3:3: global.scrape_intervall: unknown key "scrape_intervall" (did you mean "scrape_interval"?)',
      'invalid.yml:5:19: server.listen_address: expected a string, got 9090',
      'invalid.yml:9:5: jobs[1].name: is required',
      'invalid.yml:10:5: jobs[1].extra: unknown key "extra" (allowed: name, interval, password, password_file)',
      'invalid.yml:11:11: jobs[2].name: expected a string, got a list',
    ]);
    return true;
  });
});

test('YAML syntax errors and non-map documents are located', () => {
  assert.throws(() => parseConfig('global:\n  scrape_interval: [1\n', 'x.yml', SECTIONS), (e: unknown) => e instanceof ConfigError && /^x\.yml:\d+:\d+: /.test(e.message));
  assert.throws(() => parseConfig('global: 1\nglobal: 2\n', 'dup.yml', SECTIONS), (e: unknown) => e instanceof ConfigError && /^dup\.yml:2:1: .*unique/i.test(e.message));
  assert.throws(() => parseConfig('- a\n', 'list.yml', SECTIONS), /list\.yml:1:1: the configuration must be a map of sections/);
  assert.throws(() => parseConfig('nope: 1\n', 'u.yml', SECTIONS), /u\.yml:1:1: nope: unknown key "nope"/);
});

test('an empty file and empty sections mean defaults', () => {
  const cfg = parseConfig('global:\nserver:\n', 'e.yml', SECTIONS);
  assert.equal(cfg.get(globalSection).scrape_interval, 60_000);
  assert.equal(cfg.get(serverSection).listen_address, '127.0.0.1:9090');
  assert.equal(parseConfig('', 'e.yml', SECTIONS).get(storageSection).path, './data');
});

test('scrape timeout greater than the interval is rejected', () => {
  assert.throws(() => parseConfig('global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n', 'g.yml', SECTIONS), /g\.yml:3:19: global\.scrape_timeout: global scrape timeout greater than scrape interval/);
});

test('reload: an invalid file is rejected, the running config kept, and the gauges say so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
  try {
    const file = join(dir, 'vigil.yml');
    writeFileSync(file, 'global:\n  scrape_interval: 15s\n');
    const registry = new Registry();
    const mgr = new ConfigManager({ file, sections: SECTIONS, logger: pino({ level: 'silent' }), registry });
    await mgr.load();
    const applied: number[] = [];
    mgr.subscribe('test', (next) => {
      applied.push(next.get(globalSection).scrape_interval);
    });
    const gauge = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]!.value;
    assert.equal(await gauge('vigil_config_last_reload_successful'), 1);

    writeFileSync(file, 'global:\n  scrape_interval: nonsense\n');
    const bad = await mgr.reload();
    assert.equal(bad.success, false);
    assert.match(bad.error!, /vigil\.yml:2:20: global\.scrape_interval: "nonsense" is not a duration/);
    assert.equal(mgr.current.get(globalSection).scrape_interval, 15_000, 'the old configuration keeps running');
    assert.equal(await gauge('vigil_config_last_reload_successful'), 0);
    assert.deepEqual(applied, []);
    const health = await mgr.healthCheck().run();
    assert.equal((health as { status: string }).status, 'warn');

    writeFileSync(file, 'global:\n  scrape_interval: 30s\n');
    const good = await mgr.reload();
    assert.deepEqual(good, { success: true, changed: true });
    assert.deepEqual(applied, [30_000]);
    assert.equal(await gauge('vigil_config_last_reload_successful'), 1);
    assert.ok((await gauge('vigil_config_last_reload_success_timestamp_seconds')) > 1.7e9);

    mgr.subscribe('failing', () => {
      throw new Error('cannot open rule file');
    });
    const failed = await mgr.reload();
    assert.equal(failed.success, false);
    assert.match(failed.error!, /applying the configuration in failing failed: cannot open rule file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
