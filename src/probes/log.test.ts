import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogProber } from './log.ts';
import { probesFromYaml, runProber } from './testutil.ts';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-probes-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function prober(files: string[], extra = ''): LogProber {
  return new LogProber(probesFromYaml(`  log:\n    - {files: [${files.join(', ')}], patterns: {error: "(?i)error", timeout: "timed? ?out"}${extra}}\n`).log[0]!);
}

const count = (out: Awaited<ReturnType<typeof runProber>>['out'], file: string, pattern: string) => out.get('vigil_log_lines_total', { file, pattern });

test('counts matching lines per pattern; starts at the end of an existing file', async () => {
  const f = join(dir, 'backend.log');
  writeFileSync(f, 'ERROR old line before the probe started\n');
  const p = prober([f]);
  let r = await runProber(p);
  assert.deepEqual(r.outcome, { success: true });
  assert.equal(count(r.out, f, 'error'), 0, 'existing content is skipped (start_at: end)');
  appendFileSync(f, 'INFO started\nERROR db connection refused\nWARN request timed out\nerror: retry\n');
  r = await runProber(p);
  assert.equal(count(r.out, f, 'error'), 2);
  assert.equal(count(r.out, f, 'timeout'), 1);
  assert.equal(r.out.get('vigil_log_lines_read_total', { file: f }), 4);
  appendFileSync(f, 'another ERROR\n');
  r = await runProber(p);
  assert.equal(count(r.out, f, 'error'), 3, 'counters accumulate');
  await p.close();
});

test('start_at: beginning; a line is counted once its newline arrives; CRLF lines', async () => {
  const f = join(dir, 'a.log');
  writeFileSync(f, 'error one\r\nerror two\r\nhalf an err');
  const p = prober([f], ', start_at: beginning');
  let r = await runProber(p);
  assert.equal(count(r.out, f, 'error'), 2);
  appendFileSync(f, 'or line\n');
  r = await runProber(p);
  assert.equal(count(r.out, f, 'error'), 3, 'the completed line "half an error line" matches');
  assert.equal(r.out.get('vigil_log_lines_read_total', { file: f }), 3);
  await p.close();
});

test('rotation by rename: the rest of the old file is read, then the new one from its start', async () => {
  const f = join(dir, 'app.log');
  writeFileSync(f, '');
  const p = prober([f]);
  await runProber(p);
  appendFileSync(f, 'error 1\n');
  await runProber(p);
  appendFileSync(f, 'error 2 written just before rotation\n');
  renameSync(f, `${f}.1`);
  appendFileSync(`${f}.1`, 'error 3 still written to the old file\n');
  writeFileSync(f, 'error 4 in the new file\nok\n');
  const r = await runProber(p);
  assert.equal(count(r.out, f, 'error'), 4);
  assert.equal(r.out.get('vigil_log_rotations_total', { file: f }), 1);
  await p.close();
});

test('copytruncate, deletion and re-creation are handled; a missing file is reported and keeps its counters', async () => {
  const f = join(dir, 'app.log');
  writeFileSync(f, '');
  const p = prober([f]);
  await runProber(p);
  appendFileSync(f, 'error a\nerror b\n');
  await runProber(p);
  truncateSync(f, 0);
  appendFileSync(f, 'error c\n');
  let r = await runProber(p);
  assert.equal(count(r.out, f, 'error'), 3);
  assert.equal(r.out.get('vigil_log_rotations_total', { file: f }), 1);
  unlinkSync(f);
  r = await runProber(p);
  assert.equal(r.outcome.success, false);
  assert.equal(r.outcome.error, `${f} does not exist`);
  assert.equal(count(r.out, f, 'error'), 3, 'counters survive while the file is away');
  writeFileSync(f, 'error d\n');
  r = await runProber(p);
  assert.deepEqual(r.outcome, { success: true });
  assert.equal(count(r.out, f, 'error'), 4, 'a re-created file is read from its start');
  await p.close();
});

test('globs: files that appear later are read from their start; no match is reported', async () => {
  const p = prober([join(dir, '*.log')]);
  let r = await runProber(p);
  assert.equal(r.outcome.error, `no file matches ${join(dir, '*.log')}`);
  writeFileSync(join(dir, 'x.log'), 'error x\n');
  writeFileSync(join(dir, 'ignored.txt'), 'error\n');
  r = await runProber(p);
  assert.deepEqual(r.outcome, { success: true });
  assert.equal(count(r.out, join(dir, 'x.log'), 'error'), 1);
  assert.equal(count(r.out, join(dir, 'ignored.txt'), 'error'), undefined);
  await p.close();
  // Docker's json-file logs: /var/lib/docker/containers/<id>/<id>-json.log
  const { mkdirSync } = await import('node:fs');
  for (const id of ['aaa', 'bbb']) {
    mkdirSync(join(dir, 'containers', id), { recursive: true });
    writeFileSync(join(dir, 'containers', id, `${id}-json.log`), '{"log":"ERROR boom\\n"}\n');
  }
  const docker = prober([join(dir, 'containers', '*', '*-json.log')], ', start_at: beginning');
  r = await runProber(docker);
  assert.equal(count(r.out, join(dir, 'containers', 'aaa', 'aaa-json.log'), 'error'), 1);
  assert.equal(count(r.out, join(dir, 'containers', 'bbb', 'bbb-json.log'), 'error'), 1);
  await docker.close();
});

test('max_read_bytes bounds one run; the rest is read on the next runs; a Docker JSON log matches', async () => {
  const f = join(dir, 'container-json.log');
  writeFileSync(f, '');
  const p = prober([f], ', max_read_bytes: 100');
  await runProber(p);
  const line = JSON.stringify({ log: 'ERROR upstream timed out\n', stream: 'stderr', time: '2026-11-29T12:00:00Z' }) + '\n';
  for (let i = 0; i < 5; i++) appendFileSync(f, line);
  let r = await runProber(p);
  const first = count(r.out, f, 'error')!;
  assert.ok(first < 5, `one run read at most 100 bytes (${first} lines)`);
  for (let i = 0; i < 10 && count(r.out, f, 'error')! < 5; i++) r = await runProber(p);
  assert.equal(count(r.out, f, 'error'), 5);
  assert.equal(count(r.out, f, 'timeout'), 5);
  await p.close();
});

test('a directory instead of a file is a clear failure', async () => {
  const p = prober([dir]);
  const r = await runProber(p);
  assert.equal(r.outcome.error, `cannot read ${dir}: not a regular file`);
  await p.close();
});
