/**
 * `vigil check rules` and `vigil test rules` against Debian's `promtool` (Prometheus 2.42) on
 * the same files: the same exit codes and stdout, and the same stderr lines (sorted: promtool
 * prints a rule's label problems in Go's random map order). Test files named `fail_*` are
 * written to fail, `pass_*` to pass. The runbook pack's tests run through both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { main } from '../cli/index.ts';

const here = new URL('.', import.meta.url).pathname;
const root = resolve(here, '../..');
const checkDir = join(here, 'testdata/check');
const unitDir = join(here, 'testdata/unittest');
const hasPromtool = !spawnSync('promtool', ['--version']).error;
const skip = hasPromtool ? false : 'promtool not installed (Debian package prometheus): comparison skipped';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function vigil(args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s), isTty: false });
  return { code, out, err };
}

function promtool(args: string[]): Run {
  const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: root, timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const sortedLines = (s: string) => s.split('\n').sort();

/** Files whose messages differ on purpose: Vigil adds the position of a bad duration, and its YAML parser words syntax errors differently. */
const CHECK_MESSAGE_DIFFERS = new Set(['bad_duration.yml', 'yaml_syntax.yml']);

for (const f of readdirSync(checkDir).filter((x) => x.endsWith('.yml')).sort()) {
  test(`check rules ${f}: same verdict and output as promtool`, { skip }, async () => {
    const file = join(checkDir, f);
    const p = promtool(['check', 'rules', file]);
    const v = await vigil(['check', 'rules', file]);
    assert.equal(v.code, p.code, `exit code\npromtool:\n${p.err}\nvigil:\n${v.err}`);
    assert.equal(v.out, p.out);
    if (!CHECK_MESSAGE_DIFFERS.has(f)) assert.deepEqual(sortedLines(v.err), sortedLines(p.err));
    else assert.equal(v.err.split('\n')[0], p.err.split('\n')[0]);
  });
}

test('check rules with --lint-fatal and --lint=none, and several files at once', { skip }, async () => {
  for (const args of [['--lint-fatal', 'duplicates.yml'], ['--lint=none', 'duplicates.yml'], ['good.yml', 'duplicates.yml', 'semantic_errors.yml']]) {
    const files = args.map((a) => (a.startsWith('--') ? a : join(checkDir, a)));
    const p = promtool(['check', 'rules', ...files]);
    const v = await vigil(['check', 'rules', ...files]);
    assert.equal(v.code, p.code, args.join(' '));
    assert.equal(v.out, p.out);
    assert.deepEqual(sortedLines(v.err), sortedLines(p.err));
  }
});

for (const f of readdirSync(unitDir).filter((x) => x.endsWith('.test.yml')).sort()) {
  test(`test rules ${f}: verdict as designed${hasPromtool ? ', output as promtool' : ''}`, async () => {
    const file = join(unitDir, f);
    const v = await vigil(['test', 'rules', file]);
    assert.equal(v.code, f.startsWith('pass_') ? 0 : 1, v.err);
    if (!hasPromtool) return;
    const p = promtool(['test', 'rules', file]);
    assert.equal(v.code, p.code, `promtool:\n${p.err}\nvigil:\n${v.err}`);
    assert.equal(v.out, p.out);
    assert.deepEqual(sortedLines(v.err), sortedLines(p.err));
  });
}

test('several test files in one run: every file reported, exit 1 when one fails', { skip }, async () => {
  const files = ['pass_alerts.test.yml', 'fail_mixed.test.yml', 'pass_empty.test.yml'].map((f) => join(unitDir, f));
  const p = promtool(['test', 'rules', ...files]);
  const v = await vigil(['test', 'rules', ...files]);
  assert.equal(v.code, 1);
  assert.equal(v.code, p.code);
  assert.equal(v.out, p.out);
  assert.deepEqual(sortedLines(v.err), sortedLines(p.err));
});

test('a missing file is refused before anything runs, with exit code 1 as promtool', async () => {
  const v = await vigil(['test', 'rules', join(unitDir, 'pass_empty.test.yml'), join(unitDir, 'nope.yml')]);
  assert.equal(v.code, 1);
  assert.equal(v.out, '');
  assert.match(v.err, /path '.*nope\.yml' does not exist/);
  const c = await vigil(['check', 'rules']);
  assert.equal(c.code, 1);
  assert.match(c.err, /required argument 'rule-files' not provided/);
});

test('the runbook rule pack is valid and passes its unit tests (vigil and promtool)', async () => {
  const rules = join(root, 'rules/runbook.yml');
  const tests = join(root, 'rules/runbook.test.yml');
  const c = await vigil(['check', 'rules', rules]);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /SUCCESS: 12 rules found/);
  const v = await vigil(['test', 'rules', tests]);
  assert.equal(v.code, 0, v.err);
  assert.match(v.out, /SUCCESS/);
  if (!hasPromtool) {
    console.log('# promtool not installed (Debian package prometheus): runbook checked with vigil only');
    return;
  }
  const p = promtool(['test', 'rules', tests]);
  assert.equal(p.code, 0, p.err);
  assert.equal(promtool(['check', 'rules', rules]).code, 0);
});
