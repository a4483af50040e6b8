/** `vigil tsdb import openmetrics` and `vigil tsdb stats` end to end. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isStaleNaN } from '../model/index.ts';
import { openTsdb } from '../tsdb/index.ts';
import { main } from './main.ts';
import type { CommandIo } from './command.ts';
import os from 'node:os';
import { readSeries as read } from '../storage/testing.ts';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-tsdb-'));
const removeDir = (dir: string) => fs.rmSync(dir, { recursive: true, force: true });



function io(): CommandIo & { stdout: string; stderr: string } {
  const o = { stdout: '', stderr: '', isTty: false, out: (s: string) => void (o.stdout += s), err: (s: string) => void (o.stderr += s) };
  return o;
}

const OM = [
  '# HELP requests Requests.',
  '# TYPE requests counter',
  'requests_total{path="/a\\"b\\\\c",zone="ünï\\ncode"} 1 1700000000',
  'requests_total{path="/a\\"b\\\\c",zone="ünï\\ncode"} 2 1700000015',
  'requests_total{path="/a\\"b\\\\c",zone="ünï\\ncode"} 4 1700000030.5',
  '# TYPE temp gauge',
  'temp{room="x"} NaN 1700000000',
  'temp{room="x"} +Inf 1700000015',
  'temp{room="x"} -0.5 1700007300',
  '# EOF',
  '',
].join('\n');

describe('vigil tsdb import openmetrics', () => {
  it('writes blocks a store serves, label values byte for byte, no staleness markers', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'in.om');
      fs.writeFileSync(file, OM);
      const data = path.join(dir, 'data');
      const o = io();
      assert.equal(await main(['tsdb', 'import', 'openmetrics', file, `--storage.tsdb.path=${data}`], o), 0, o.stderr);
      assert.match(o.stdout, /^imported 6 samples of 2 series into 2 block\(s\) from 2023-11-14T22:13:20\.000Z to 2023-11-15T00:15:00\.000Z: \d+ bytes/);
      const db = await openTsdb({ dir: data, compactionIntervalMs: 0, retentionTime: 0 });
      try {
        const [req] = await read(db, 'requests_total');
        assert.equal(req!.labels, '{__name__="requests_total", path="/a\\"b\\\\c", zone="ünï\\ncode"}');
        assert.deepEqual(req!.ts, [1700000000000, 1700000015000, 1700000030500]);
        assert.deepEqual(Array.from(req!.vs), [1, 2, 4]);
        const [temp] = await read(db, 'temp');
        assert.deepEqual(temp!.ts, [1700000000000, 1700000015000, 1700007300000], 'no staleness marker added in the gap');
        assert.ok(Number.isNaN(temp!.vs[0]!) && !isStaleNaN(temp!.vs[0]!));
        assert.equal(temp!.vs[1], Infinity);
        assert.equal(temp!.vs[2], -0.5);
        const q = db.querier(-Infinity, Infinity);
        assert.deepEqual(await q.labelValues('zone'), ['ünï\ncode']);
        q.close();
      } finally {
        await db.close();
      }
      const s = io();
      assert.equal(await main(['tsdb', 'stats', `--storage.tsdb.path=${data}`], s), 0, s.stderr);
      assert.match(s.stdout, /Blocks: 2 \(.*, 6 samples, [\d.]+ bytes\/sample\)/);
      assert.match(s.stdout, /Total samples: 6/);
      assert.match(s.stdout, /\n\s+1\s+__name__=requests_total\n|\n\s+1\s+__name__=temp\n/);
    } finally {
      removeDir(dir);
    }
  });

  it('names the file and line of a sample without timestamp and of a syntax error', async () => {
    const dir = tempDir();
    try {
      const noTs = path.join(dir, 'nots.om');
      fs.writeFileSync(noTs, '# TYPE a gauge\na 1 1700000000\na{x="y"} 2\n# EOF\n');
      let o = io();
      assert.equal(await main(['tsdb', 'import', 'openmetrics', noTs, `--storage.tsdb.path=${dir}/d1`], o), 1);
      assert.equal(o.stderr, `vigil: error: ${noTs}:3: expected timestamp for series {__name__="a", x="y"}, got none\n`);
      const bad = path.join(dir, 'bad.om');
      fs.writeFileSync(bad, '# TYPE a gauge\na 1 1700000000\na{x=y} 2 1700000001\n# EOF\n');
      o = io();
      assert.equal(await main(['tsdb', 'import', 'openmetrics', bad, `--storage.tsdb.path=${dir}/d2`], o), 1);
      assert.match(o.stderr, new RegExp(`^vigil: error: ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:line 3, column \\d+: `));
      o = io();
      assert.equal(await main(['tsdb', 'import', 'openmetrics', path.join(dir, 'missing.om')], o), 1);
      assert.match(o.stderr, /cannot read .*missing\.om: no such file or directory/);
      o = io();
      assert.equal(await main(['tsdb', 'import', 'openmetrics'], o), 2);
    } finally {
      removeDir(dir);
    }
  });

  it('shows progress on a terminal', async () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'in.om');
      fs.writeFileSync(file, OM);
      const o = { ...io(), isTty: true };
      let err = '';
      o.err = (s: string) => void (err += s);
      assert.equal(await main(['tsdb', 'import', 'openmetrics', file, `--storage.tsdb.path=${dir}/data`], o), 0);
      assert.match(err, /\r\[#{30}\] 100\.0%\s+6 samples\s+[\d.]+[kM]? samples\/s\s+ETA 0s\x1b\[K\n$/);
    } finally {
      removeDir(dir);
    }
  });
});
