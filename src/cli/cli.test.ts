import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { main } from './main.ts';
import { jsonLineToLogfmt } from './logger.ts';
import { startVigil, runVigil } from '../../test/helpers/vigil-process.ts';

const configTestdata = new URL('../config/testdata/', import.meta.url).pathname;

function capture() {
  let out = '';
  let err = '';
  return { io: { out: (s: string) => (out += s), err: (s: string) => (err += s), isTty: false }, out: () => out, err: () => err };
}

test('check config: exit 0 for a valid file, 1 with one line per problem otherwise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
  try {
    const good = join(dir, 'good.yml');
    writeFileSync(good, 'global:\n  scrape_interval: 15s\nstorage:\n  retention:\n    time: 30d\n');
    let c = capture();
    assert.equal(await main(['check', 'config', good], c.io), 0);
    assert.match(c.out(), /SUCCESS/);

    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'global:\n  scrape_interval: 15x\n  evaluation_interval: 1m\nserver:\n  listen_addres: x\n');
    c = capture();
    assert.equal(await main(['check', 'config', good, bad], c.io), 1);
    assert.deepEqual(c.err().trim().split('\n'), [
      `${bad}:2:20: global.scrape_interval: "15x" is not a duration (use e.g. 15s, 1m30s, 2h, 1d)`,
      `${bad}:5:3: server.listen_addres: unknown key "listen_addres" (did you mean "listen_address"?)`,
    ]);
    assert.ok(!c.err().includes('    at '), 'no stack trace');

    c = capture();
    assert.equal(await main(['check', 'config', join(dir, 'missing.yml')], c.io), 1);
    assert.match(c.err(), /missing\.yml: cannot read configuration file/);

    c = capture();
    assert.equal(await main(['check', 'config'], c.io), 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('help, version, unknown commands and flags', async () => {
  let c = capture();
  assert.equal(await main(['--help'], c.io), 0);
  assert.match(c.out(), /check config FILE\.\.\./);
  c = capture();
  assert.equal(await main(['--version'], c.io), 0);
  assert.match(c.out(), /^vigil, version \d+\.\d+\.\d+/);
  c = capture();
  assert.equal(await main(['server', '--help'], c.io), 0);
  assert.match(c.out(), /--config\.file=FILE/);
  assert.match(c.out(), /--storage\.tsdb\.retention\.time=DURATION/);
  c = capture();
  assert.equal(await main(['check', '--help'], c.io), 0);
  assert.match(c.out(), /check config/);
  c = capture();
  assert.equal(await main(['frobnicate'], c.io), 2);
  assert.match(c.err(), /unknown command "frobnicate"/);
  c = capture();
  assert.equal(await main(['server', '--no-such-flag=1'], c.io), 2);
  assert.match(c.err(), /unknown flag --no-such-flag/);
  c = capture();
  assert.equal(await main(['server', '--log.level=loud'], c.io), 1);
  assert.match(c.err(), /--log\.level: unknown level "loud"/);
});

test('logfmt lines put ts, level, component and msg first and quote what needs it', () => {
  const line = jsonLineToLogfmt('{"level":"info","time":"2026-01-01T00:00:00.000Z","component":"tsdb","msg":"WAL replay done","durationMs":12,"file":"a b"}');
  assert.equal(line, 'ts=2026-01-01T00:00:00.000Z level=info component=tsdb msg="WAL replay done" durationMs=12 file="a b"\n');
});

test('server: starts, serves, reloads on SIGHUP keeping a valid config, stops on SIGTERM with exit 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
  const cfg = join(dir, 'vigil.yml');
  writeFileSync(cfg, 'global:\n  scrape_interval: 15s\n');
  const v = await startVigil([`--config.file=${cfg}`]);
  try {
    assert.match(v.logs(), /"msg":"Starting Vigil"/);
    assert.match(v.logs(), new RegExp(`"configFile":"${cfg}"`));
    const health = await fetch(`${v.url}/health/detailed`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'pass');

    writeFileSync(cfg, 'global:\n  scrape_interval: bogus\n');
    v.child.kill('SIGHUP');
    let metrics = '';
    for (let i = 0; i < 50 && !/vigil_config_last_reload_successful 0/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 100));
      metrics = await (await fetch(`${v.url}/metrics`)).text();
    }
    assert.match(metrics, /^vigil_config_last_reload_successful 0$/m, 'a failed reload is visible');
    assert.match(v.logs(), /Error reloading config/);
    const detailed = (await (await fetch(`${v.url}/health/detailed`)).json()) as { checks: Record<string, Array<{ status: string }>> };
    assert.equal(detailed.checks['config:reload']![0]!.status, 'warn');
    const cfgNow = (await (await fetch(`${v.url}/api/v1/status/config`)).json()) as { data: { yaml: string } };
    assert.match(cfgNow.data.yaml, /scrape_interval: 15s/, 'the running configuration is kept');

    writeFileSync(cfg, 'global:\n  scrape_interval: 30s\n');
    const r = await fetch(`${v.url}/-/reload`, { method: 'POST' });
    assert.equal(r.status, 200);
    metrics = await (await fetch(`${v.url}/metrics`)).text();
    assert.match(metrics, /^vigil_config_last_reload_successful 1$/m);

    assert.equal(await v.stop('SIGTERM'), 0);
    assert.match(v.logs(), /"msg":"Vigil stopped"/);
  } finally {
    await v.stop('SIGKILL');
    v.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('server: start-up failures exit 1 with one clear line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const taken = await runVigil(['server', `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(dir, 'd1')}`]);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, new RegExp(`^vigil: error: cannot listen on 127\\.0\\.0\\.1:${port}: address already in use$`, 'm'));
    assert.ok(!taken.stderr.includes('    at '));

    const badCfg = join(dir, 'bad.yml');
    writeFileSync(badCfg, 'global:\n  scrape_interval: 1 minute\n');
    const bad = await runVigil(['server', `--config.file=${badCfg}`, '--web.listen-address=127.0.0.1:0', `--storage.tsdb.path=${join(dir, 'd2')}`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid configuration/);
    assert.match(bad.stderr, /bad\.yml:2:20: global\.scrape_interval: "1 minute" is not a duration/);

    const fileAsDir = join(dir, 'plainfile');
    writeFileSync(fileAsDir, '');
    const notDir = await runVigil(['server', '--web.listen-address=127.0.0.1:0', `--storage.tsdb.path=${join(fileAsDir, 'sub')}`]);
    assert.equal(notDir.code, 1);
    assert.match(notDir.stderr, /^vigil: error: data directory .*sub is not writable/m);

    const missing = await runVigil(['server', `--config.file=${join(dir, 'nope.yml')}`, '--web.listen-address=127.0.0.1:0', `--storage.tsdb.path=${join(dir, 'd3')}`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.yml: cannot read configuration file/);
  } finally {
    blocker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
