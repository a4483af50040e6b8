/**
 * Faults: kill -9 of a writing process, torn and corrupt WAL, corrupt blocks, disk full,
 * out-of-order and duplicate samples.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { Labels, Matcher } from '../model/index.ts';
import { StorageError, readSeriesRange } from '../storage/index.ts';
import { openTsdb, type TsdbOptions } from './db.ts';
import { listSegments, segmentName } from './wal.ts';
import { readSeries as read } from '../storage/testing.ts';
import { metricValues, removeDir, tempDir } from './testutil.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const L = (rec: Record<string, string>) => Labels.fromRecord(rec);
const base = (dir: string, extra: Partial<TsdbOptions> = {}): TsdbOptions => ({ dir, compactionIntervalMs: 0, retentionTime: 0, ...extra });

async function writeRounds(dir: string, rounds: number, opts: Partial<TsdbOptions> = {}): Promise<void> {
  const db = await openTsdb(base(dir, { checkpointOnClose: false, ...opts }));
  for (let r = 0; r < rounds; r++) {
    const app = db.appender();
    for (let i = 0; i < 10; i++) app.append(0, L({ __name__: 'w', i: String(i) }), r * 1000, r);
    await app.commit();
  }
  await db.close();
}

describe('kill -9 while appending', () => {
  it('keeps every sample whose commit() resolved', async () => {
    const dir = tempDir();
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'testdata', 'crash-writer.ts'), dir, '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let lastCommitted = -1;
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += String(d)));
      const killed = new Promise<void>((resolve, reject) => {
        let buf = '';
        const guard = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`writer made no progress (last ${lastCommitted}); stderr: ${stderr}`));
        }, 60_000);
        child.stdout.on('data', (d) => {
          buf += String(d);
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const m = /^committed (\d+)$/.exec(line);
            if (m) lastCommitted = Number(m[1]);
            // Enough rounds for several segment cuts, block writes and checkpoints.
            if (lastCommitted >= 1500 && !child.killed) {
              clearTimeout(guard);
              child.kill('SIGKILL');
            }
          }
        });
        child.on('exit', (code, signal) => {
          clearTimeout(guard);
          if (signal === 'SIGKILL') resolve();
          else reject(new Error(`writer exited with ${code}: ${stderr}`));
        });
      });
      await killed;
      assert.ok(lastCommitted >= 1500);
      const registry = new Registry();
      const db = await openTsdb(base(dir, { blockRange: 60_000, registry }));
      try {
        const series = await read(db, 'crash_test');
        assert.equal(series.length, 40);
        for (const s of series) {
          const i = Number(/series="(\d+)"/.exec(s.labels)![1]);
          // Every committed round is there, in order, with its value; later rounds may be too.
          assert.ok(s.ts.length >= lastCommitted + 1, `${s.labels}: ${s.ts.length} samples, ${lastCommitted + 1} committed`);
          for (let r = 0; r <= lastCommitted; r++) {
            assert.equal(s.ts[r], r * 1000, `${s.labels} round ${r}`);
            assert.equal(s.vs[r], r * 10 + i);
          }
        }
        assert.ok(db.blockMetas().length > 0, 'blocks were written before the kill');
        // The store keeps working after the crash.
        const app = db.appender();
        app.append(0, L({ __name__: 'crash_test', series: '0' }), 1e9, 1);
        await app.commit();
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });
});

describe('WAL damage', () => {
  it('truncates a torn tail at the last valid record, counts and logs it, and starts', async () => {
    const dir = tempDir();
    try {
      await writeRounds(dir, 20);
      const walDir = path.join(dir, 'wal');
      const segs = listSegments(walDir);
      const last = path.join(walDir, segmentName(segs[segs.length - 1]!));
      const size = fs.statSync(last).size;
      // Cut the last record in half (a crash during write).
      fs.truncateSync(last, size - 50);
      const logs: string[] = [];
      const { pino } = await import('pino');
      const logger = pino({ level: 'info' }, { write: (s: string) => logs.push(s) });
      const registry = new Registry();
      const db = await openTsdb(base(dir, { logger, registry }));
      try {
        const series = await read(db, 'w');
        assert.equal(series.length, 10);
        for (const s of series) assert.deepEqual(s.ts, Array.from({ length: 19 }, (_, r) => r * 1000), 'the torn round is dropped, the rest kept');
        assert.equal((await metricValues(registry)).get('vigil_tsdb_wal_corruptions_total'), 1);
        assert.ok(logs.some((l) => l.includes('torn or corrupt tail')), 'logged');
        assert.ok(fs.statSync(last).size < size - 50, 'segment truncated at the record boundary');
        const app = db.appender();
        app.append(0, L({ __name__: 'w', i: '0' }), 19_000, 19);
        await app.commit();
        assert.equal((await read(db, [new Matcher('=', 'i', '0')]))[0]!.ts.length, 20);
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });

  it('drops a record with a bad checksum in an older segment and replays the segments after it', async () => {
    const dir = tempDir();
    try {
      // Tiny segments: one round per segment or so.
      await writeRounds(dir, 30, { wal: { segmentSize: 400 } });
      const walDir = path.join(dir, 'wal');
      const segs = listSegments(walDir);
      assert.ok(segs.length > 5, `${segs.length} segments`);
      const victim = path.join(walDir, segmentName(segs[3]!));
      const bytes = fs.readFileSync(victim);
      bytes[bytes.length - 3]! ^= 0xff;
      fs.writeFileSync(victim, bytes);
      const registry = new Registry();
      const db = await openTsdb(base(dir, { registry }));
      try {
        const series = await read(db, 'w');
        assert.equal(series.length, 10);
        // Rounds after the damaged segment are all there.
        for (const s of series) assert.equal(s.ts[s.ts.length - 1], 29_000);
        assert.ok(series[0]!.ts.length >= 28 && series[0]!.ts.length < 30, `${series[0]!.ts.length} samples`);
        assert.equal((await metricValues(registry)).get('vigil_tsdb_wal_corruptions_total'), 1);
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });
});

describe('corrupt blocks', () => {
  async function twoBlocks(dir: string): Promise<string[]> {
    const db = await openTsdb(base(dir, { blockRange: 10_000 }));
    const app = db.appender();
    for (let t = 0; t < 20_000; t += 1000) app.append(0, L({ __name__: 'b' }), t, t);
    await app.commit();
    await db.flushHead();
    const ulids = db.blockMetas().map((m) => m.ulid);
    await db.close();
    assert.equal(ulids.length, 2);
    return ulids;
  }

  it('moves a block that fails to load aside, reports it in health checks, and serves the rest', async () => {
    const dir = tempDir();
    try {
      const [bad, good] = await twoBlocks(dir);
      const index = path.join(dir, bad!, 'index');
      const bytes = fs.readFileSync(index);
      bytes[20]! ^= 0x55;
      fs.writeFileSync(index, bytes);
      const registry = new Registry();
      const db = await openTsdb(base(dir, { blockRange: 10_000, registry }));
      try {
        assert.deepEqual(db.blockMetas().map((m) => m.ulid), [good]);
        assert.ok(fs.existsSync(path.join(dir, 'corrupted', bad!, 'index')), 'moved aside, not deleted');
        assert.ok(!fs.existsSync(path.join(dir, bad!)));
        const [s] = await read(db, 'b');
        assert.deepEqual(s!.ts, Array.from({ length: 10 }, (_, i) => 10_000 + i * 1000));
        const health = await Promise.all(db.healthChecks().map(async (c) => ({ name: c.name, r: await c.run() })));
        const blocks = health.find((h) => h.name === 'tsdb:blocks')!.r as { status: string; output: string };
        assert.equal(blocks.status, 'warn');
        assert.match(blocks.output, new RegExp(`${bad}: block ${bad}: index section \\d checksum mismatch`));
        assert.equal((await metricValues(registry)).get('vigil_tsdb_corrupted_blocks'), 1);
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });

  /** Two blocks in `dir`, one bit of the first one's chunk data flipped, then the store opened. */
  async function openWithCorruptChunk(dir: string) {
    const [bad] = await twoBlocks(dir);
    const chunks = path.join(dir, bad!, 'chunks', '000001');
    const bytes = fs.readFileSync(chunks);
    bytes[12]! ^= 0x01;
    fs.writeFileSync(chunks, bytes);
    return openTsdb(base(dir, { blockRange: 10_000 }));
  }

  it('reports corrupt chunk data found while reading instead of returning wrong samples', async () => {
    const dir = tempDir();
    try {
      const db = await openWithCorruptChunk(dir);
      try {
        const q = db.querier(-Infinity, Infinity);
        const set = await q.select([new Matcher('=', '__name__', 'b')]);
        const it = set.series[0]!.iterator();
        while (it.next()) {
          // drain
        }
        assert.match(String(it.err()), /chunk checksum mismatch/);
        q.close();
        const health = await db.healthChecks().find((c) => c.name === 'tsdb:blocks')!.run();
        assert.equal((health as { status: string }).status, 'warn');
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });

  it('bulk reads report a corrupt chunk, again on every read while its page is cached', async () => {
    const dir = tempDir();
    try {
      const db = await openWithCorruptChunk(dir);
      try {
        for (let round = 0; round < 2; round++) {
          const q = db.querier(-Infinity, Infinity);
          const set = await q.select([new Matcher('=', '__name__', 'b')]);
          const buf = { ts: new Float64Array(0), vs: new Float64Array(0), n: 0 };
          const err = readSeriesRange(set.series[0]!, -Infinity, Infinity, buf);
          assert.match(String(err), /chunk checksum mismatch/, `round ${round}`);
          q.close();
        }
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });
});

describe('disk full', () => {
  it('fails commits with a clear error and a counter, stays up, and recovers when space returns', async () => {
    const dir = tempDir();
    let full = false;
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    try {
      const registry = new Registry();
      const db = await openTsdb(base(dir, { registry, writeHook: () => { if (full) throw enospc(); } }));
      const a1 = db.appender();
      a1.append(0, L({ __name__: 'df' }), 1000, 1);
      await a1.commit();
      full = true;
      const a2 = db.appender();
      a2.append(0, L({ __name__: 'df' }), 2000, 2);
      a2.append(0, L({ __name__: 'df_new_series' }), 2000, 2);
      await assert.rejects(a2.commit(), (e: unknown) => e instanceof StorageError && e.code === 'write_failed' && /no space left on device/.test(e.message));
      assert.equal((await metricValues(registry)).get('vigil_tsdb_wal_writes_failed_total'), 1);
      const wal = await db.healthChecks().find((c) => c.name === 'tsdb:wal')!.run();
      assert.equal((wal as { status: string }).status, 'fail');
      // Nothing of the failed commit is visible.
      assert.deepEqual((await read(db, 'df'))[0]!.ts, [1000]);
      full = false;
      const a3 = db.appender();
      a3.append(0, L({ __name__: 'df' }), 3000, 3);
      a3.append(0, L({ __name__: 'df_new_series' }), 3000, 3);
      await a3.commit();
      assert.deepEqual((await read(db, 'df'))[0]!.ts, [1000, 3000]);
      assert.equal(((await db.healthChecks().find((c) => c.name === 'tsdb:wal')!.run()) as { status: string }).status, 'pass');
      await db.close();
      // The WAL is consistent after the failure: replay gives the same data.
      const db2 = await openTsdb(base(dir));
      assert.deepEqual((await read(db2, 'df'))[0]!.ts, [1000, 3000]);
      assert.deepEqual((await read(db2, 'df_new_series'))[0]!.ts, [3000]);
      await db2.close();
    } finally {
      removeDir(dir);
    }
  });

  it('on a real full file system (small tmpfs)', async (t) => {
    const mnt = tempDir('vigil-tsdb-tmpfs-');
    try {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
      } catch (e) {
        t.skip(`cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): ${String((e as Error).message).split('\n')[0]}`);
        return;
      }
      try {
        const dir = path.join(mnt, 'data');
        const db = await openTsdb(base(dir, { wal: { segmentSize: 256 * 1024 }, checkpointOnClose: false }));
        let committed = 0;
        let failure: unknown;
        for (let r = 0; r < 10_000 && !failure; r++) {
          const app = db.appender();
          for (let i = 0; i < 100; i++) app.append(0, L({ __name__: 'fill', i: String(i) }), r * 1000, Math.random());
          try {
            await app.commit();
            committed = r + 1;
          } catch (e) {
            failure = e;
          }
        }
        assert.ok(failure instanceof StorageError && failure.code === 'write_failed', String(failure));
        assert.match((failure as Error).message, /no space left on device/);
        assert.ok(committed > 0);
        // Space returns.
        execFileSync('mount', ['-o', 'remount,size=64m', mnt]);
        const app = db.appender();
        for (let i = 0; i < 100; i++) app.append(0, L({ __name__: 'fill', i: String(i) }), committed * 1000, 1);
        await app.commit();
        const series = await read(db, 'fill');
        assert.equal(series.length, 100);
        for (const s of series) assert.equal(s.ts.length, committed + 1);
        await db.close();
        const db2 = await openTsdb(base(dir));
        for (const s of await read(db2, 'fill')) assert.equal(s.ts.length, committed + 1);
        await db2.close();
      } finally {
        try {
          execFileSync('umount', [mnt], { stdio: 'pipe' });
        } catch {
          execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
        }
      }
    } finally {
      removeDir(mnt);
    }
  });
});

describe('out-of-order and duplicate samples', () => {
  it('are counted and rejected; the rest of the data is untouched', async () => {
    const dir = tempDir();
    try {
      const registry = new Registry();
      const db = await openTsdb(base(dir, { registry }));
      try {
        const a = db.appender();
        for (let t = 0; t < 10; t++) a.append(0, L({ __name__: 'o', k: 'a' }), t * 1000, t);
        a.append(0, L({ __name__: 'o', k: 'b' }), 5000, 5);
        await a.commit();
        const b = db.appender();
        let rejected = 0;
        for (const [t, v] of [[3000, 3], [9000, 99], [9000, 9], [4000, 1]] as const) {
          try {
            b.append(0, L({ __name__: 'o', k: 'a' }), t, v);
          } catch (e) {
            assert.ok(e instanceof StorageError);
            rejected++;
          }
        }
        assert.equal(rejected, 3, 'OOO 3000, dup 9000 with another value, OOO 4000; same value at 9000 is a no-op');
        b.append(0, L({ __name__: 'o', k: 'a' }), 10_000, 10);
        await b.commit();
        // Not a valid timestamp.
        const d = db.appender();
        for (const bad of [NaN, 1.5, Infinity, 1e16]) {
          assert.throws(() => d.append(0, L({ __name__: 'o', k: 'a' }), bad, 1), (e: unknown) => e instanceof StorageError && e.code === 'out_of_bounds' && /invalid timestamp/.test(e.message));
        }
        d.rollback();
        // Far too old for the head.
        const c = db.appender();
        assert.throws(() => c.append(0, L({ __name__: 'o', k: 'c' }), 10_000 - 7_200_000, 1), (e: unknown) => e instanceof StorageError && e.code === 'out_of_bounds');
        c.rollback();
        const m = await metricValues(registry);
        assert.equal(m.get('vigil_tsdb_out_of_order_samples_total'), 2);
        assert.equal(m.get('vigil_tsdb_duplicate_samples_total'), 1);
        assert.equal(m.get('vigil_tsdb_out_of_bounds_samples_total'), 5);
        assert.equal(m.get('vigil_tsdb_head_samples_appended_total'), 12);
        const [sa, sb] = await read(db, 'o');
        assert.deepEqual(sa!.ts, [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000]);
        assert.equal(sa!.vs[9], 9);
        assert.deepEqual(sb!.ts, [5000]);
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });
});
