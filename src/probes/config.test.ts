import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig, Secret } from '../config/index.ts';
import { parseJsonPath, postgresTarget, probeIdentity, probesSection } from './config.ts';
import { probesFromYaml } from './testutil.ts';

test('an empty or missing section means no probes, with the default interval and timeout', () => {
  for (const text of ['', 'probes:\n']) {
    const cfg = parseConfig(text, 'e.yml', [probesSection]).get(probesSection);
    assert.equal(cfg.interval, 15_000);
    assert.equal(cfg.timeout, 10_000);
    assert.deepEqual(cfg.http, []);
    assert.deepEqual(cfg.log, []);
  }
});

test("the runbook's stack: defaults for job and instance, secrets as Secret values", () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-probes-config-'));
  try {
    writeFileSync(join(dir, 'pg.pass'), 'pw-from-file\n');
    const yaml = [
      'probes:',
      '  interval: 30s',
      '  labels: {env: prod}',
      '  http:',
      '    - job: codexos-backend',
      '      url: http://localhost:8001/health',
      '      fail_if_body_json_not_matches: [{path: status, equals: healthy}]',
      '      critical: true',
      '    - job: codexos-frontend',
      '      url: http://localhost:3000/',
      '      interval: 10s',
      '  postgres:',
      '    - dsn: postgresql://codexos@localhost:5432/codexos_db?sslmode=disable',
      '      password_file: pg.pass',
      '  redis:',
      '    - address: localhost:6379',
      '      password: hunter2',
      '  host: [{}]',
      '  container: [{include: "codexos-.*"}]',
      '  log:',
      '    - files: [/var/log/codexos/*.log]',
      '      patterns: {error: "(?i)error"}',
      '',
    ].join('\n');
    const cfg = parseConfig(yaml, join(dir, 'vigil.yml'), [probesSection]).get(probesSection);
    assert.equal(cfg.interval, 30_000);
    assert.equal(cfg.http[0]!.method, 'GET');
    assert.equal(cfg.http[0]!.critical, true);
    assert.equal(cfg.http[1]!.interval, 10_000);
    assert.deepEqual(probeIdentity('http', cfg.http[0]!), { job: 'codexos-backend', instance: 'http://localhost:8001/health' });
    assert.deepEqual(probeIdentity('postgres', cfg.postgres[0]!), { job: 'postgres', instance: 'localhost:5432/codexos_db' });
    assert.deepEqual(probeIdentity('redis', cfg.redis[0]!), { job: 'redis', instance: 'localhost:6379' });
    assert.deepEqual(probeIdentity('host', cfg.host[0]!), { job: 'node', instance: hostname() });
    assert.equal(cfg.host[0]!.procfs, '/proc');
    assert.equal(cfg.container[0]!.socket, '/var/run/docker.sock');
    assert.ok(cfg.postgres[0]!.password_file instanceof Secret);
    assert.equal(cfg.postgres[0]!.password_file.reveal(), 'pw-from-file', 'password_file resolves relative to the config file');
    assert.equal(cfg.redis[0]!.password!.reveal(), 'hunter2');
    assert.ok(!JSON.stringify(cfg).includes('hunter2'), 'secrets serialise as <secret>');
    assert.deepEqual(postgresTarget(cfg.postgres[0]!), { host: 'localhost', port: 5432, user: 'codexos', database: 'codexos_db', sslmode: 'disable' });
    assert.equal(cfg.labels.get('env'), 'prod');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mistakes are reported with file, line, column and key path', () => {
  const yaml = [
    'probes:',
    '  interval: 10s',
    '  http:',
    '    - url: http://a:1/',
    '      fail_if_body_matches_regexp: ["(unclosed"]',
    '  postgres:',
    '    - dsn: postgresql://u:secret@db:5432/x',
    '    - user: a',
    '      password: x',
    '      password_file: /nonexistent/file',
    '  tcp:',
    '    - address: nohostport',
    '      labels: {job: x}',
    '  log:',
    '    - files: []',
    '      patterns: {}',
    '      colour: red',
    '',
  ].join('\n');
  assert.throws(
    () => parseConfig(yaml, 'bad.yml', [probesSection]),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const m = e.message;
      assert.match(m, /bad\.yml:5:\d+: probes\.http\[0\]\.fail_if_body_matches_regexp\[0\]: invalid regular expression "\(unclosed": error parsing regexp: missing closing \)/);
      assert.match(m, /bad\.yml:7:\d+: probes\.postgres\[0\]\.dsn: the dsn must not contain a password: use password or password_file/);
      assert.match(m, /probes\.postgres\[1\]\.password_file: secret file "\/nonexistent\/file" does not exist/);
      assert.match(m, /probes\.tcp\[0\]\.address: "nohostport" is not a host:port address/);
      assert.match(m, /probes\.tcp\[0\]\.labels\.job: label "job" is reserved: use the job key instead/);
      assert.match(m, /probes\.log\[0\]\.files: must have at least 1 item/);
      assert.match(m, /probes\.log\[0\]\.patterns: must have at least one pattern/);
      assert.match(m, /probes\.log\[0\]\.colour: unknown key "colour"/);
      assert.ok(!m.includes('secret@'), 'the dsn with its password is not echoed');
      return true;
    },
  );
  // Checks across probes run once every probe is valid on its own.
  const cross = ['probes:', '  interval: 10s', '  http:', '    - url: http://a:1/', '      timeout: 20s', '    - url: http://a:1/', ''].join('\n');
  assert.throws(
    () => parseConfig(cross, 'cross.yml', [probesSection]),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /cross\.yml:5:16: probes\.http\[0\]\.timeout: timeout \(20s\) is greater than the interval \(10s\)/);
      assert.match(e.message, /cross\.yml:6:7: probes\.http\[1\]: duplicate probe: job "blackbox" and instance "http:\/\/a:1\/" are already used by http\[0\]/);
      return true;
    },
  );
});

test('both password and password_file, dsn combined with host: rejected', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-probes-config-'));
  try {
    writeFileSync(join(dir, 'p'), 'x');
    assert.throws(
      () => parseConfig(`probes:\n  redis:\n    - password: a\n      password_file: ${join(dir, 'p')}\n`, 'r.yml', [probesSection]),
      /probes\.redis\[0\]\.password_file: at most one of password and password_file may be set/,
    );
    assert.throws(() => probesFromYaml('  postgres:\n    - dsn: postgresql://a@b/c\n      host: d\n'), /probes\.postgres\[0\]\.host: host cannot be combined with dsn/);
    assert.throws(() => probesFromYaml('  postgres:\n    - dsn: mysql://a@b/c\n'), /the dsn must start with postgresql:\/\//);
    assert.throws(() => probesFromYaml('  http:\n    - url: ftp://x/\n'), /is not an http\(s\) URL/);
    assert.throws(() => probesFromYaml('  interval: 5s\n  timeout: 10s\n  http: [{url: "http://x/", timeout: 6s}]\n'), /timeout \(6s\) is greater than the interval \(5s\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two probes may share a target when job or instance tells them apart', () => {
  const cfg = probesFromYaml('  http:\n    - url: http://a/\n    - url: http://a/\n      job: other\n    - url: http://a/\n      instance: a-again\n');
  assert.equal(cfg.http.length, 3);
});

test('JSON paths: keys, indexes, quoted keys; errors name the offset', () => {
  assert.deepEqual(parseJsonPath('status'), ['status']);
  assert.deepEqual(parseJsonPath('checks.database.status'), ['checks', 'database', 'status']);
  assert.deepEqual(parseJsonPath('items[0].name'), ['items', 0, 'name']);
  assert.deepEqual(parseJsonPath('["a.b"][2]'), ['a.b', 2]);
  assert.throws(() => parseJsonPath('a..b'), /invalid JSON path "a\.\.b": empty key at offset 2/);
  assert.throws(() => parseJsonPath('a[x]'), /expected an index or a quoted key/);
  assert.throws(() => parseJsonPath('a.'), /trailing \./);
  assert.throws(() => probesFromYaml('  http:\n    - url: http://a/\n      fail_if_body_json_not_matches: [{path: "a[", equals: 1}]\n'), /fail_if_body_json_not_matches\[0\]\.path: invalid JSON path/);
});

test("the README's example for the runbook's stack is a valid configuration", () => {
  const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
  const block = /## The runbook's stack[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'the README has the example');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-probes-readme-'));
  try {
    for (const f of ['codexos_db_password', 'redis_password']) writeFileSync(join(dir, f), 'x\n');
    const cfg = parseConfig(block[1]!.replaceAll('/run/secrets/', `${dir}/`), 'README.md', [probesSection]).get(probesSection);
    assert.equal(cfg.http.length, 3);
    assert.equal(cfg.postgres[0]!.statements.limit, 10);
    assert.equal(cfg.container[0]!.require_running, true);
    assert.deepEqual(Object.keys(cfg.log[0]!.patterns), ['error', 'traceback']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
