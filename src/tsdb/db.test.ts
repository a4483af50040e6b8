/**
 * Store behaviour beyond the storage contract: head persistence and block compaction, retention,
 * deletion and tombstones, series garbage collection and stale refs, checkpoints, statistics,
 * self-metrics, health checks and the directory lock.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import fs from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { Labels, Matcher } from '../model/index.ts';
import { TsdbError } from './errors.ts';
import { openTsdb, type Tsdb, type TsdbOptions } from './db.ts';
import { listCheckpoints, listSegments } from './wal.ts';
import { configureChunkCache } from './block.ts';
import { dirBytes } from './fsops.ts';
import { readSeries as read } from '../storage/testing.ts';
import { metricValues, removeDir, tempDir } from './testutil.ts';

const L = (rec: Record<string, string>) => Labels.fromRecord(rec);
const HOUR = 3600_000;

async function withDb(opts: Partial<TsdbOptions>, fn: (db: Tsdb, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, ...opts });
  try {
    await fn(db, dir);
  } finally {
    await db.close();
    removeDir(dir);
  }
}

/** Appends `n` series sampled every `step` ms over [from, to). */
async function fill(db: Tsdb, n: number, from: number, to: number, step: number, name = 'm'): Promise<void> {
  const refs = new Array<number>(n).fill(0);
  for (let t = from; t < to; t += step) {
    const app = db.appender();
    for (let i = 0; i < n; i++) refs[i] = app.append(refs[i]!, L({ __name__: name, i: String(i) }), t, t / 1000 + i);
    await app.commit();
  }
}

describe('head persistence and compaction', () => {
  it('cuts aligned blocks once the head spans 1.5 ranges and truncates the head and the WAL', async () => {
    await withDb({ blockRange: 2 * HOUR }, async (db, dir) => {
      await fill(db, 20, 0, 4 * HOUR, 60_000);
      const before = await read(db, 'm');
      await db.maintain();
      const metas = db.blockMetas();
      assert.deepEqual(metas.map((m) => [m.minTime, m.maxTime]), [[0, 2 * HOUR]]);
      assert.equal(metas[0]!.stats.numSeries, 20);
      assert.equal(metas[0]!.stats.numSamples, 20 * 120);
      assert.equal(db.head.minT, 2 * HOUR);
      assert.deepEqual(await read(db, 'm'), before, 'same data through blocks + head');
      // A sample older than the persisted range is out of bounds now.
      const app = db.appender();
      assert.throws(() => app.append(0, L({ __name__: 'm', i: '0' }), HOUR, 1), /out of bounds/);
      app.rollback();
      // The WAL was checkpointed: older segments are gone.
      assert.equal(listCheckpoints(path.join(dir, 'wal')).length, 1);
      assert.ok(listSegments(path.join(dir, 'wal')).every((s) => s > listCheckpoints(path.join(dir, 'wal'))[0]!));
    });
  });

  it('merges blocks into larger aligned ranges (levels) without changing query results', async () => {
    await withDb({ blockRange: 1000, retentionTime: 0, maxBlockRange: 27_000 }, async (db) => {
      await fill(db, 5, 0, 30_000, 100);
      const before = await read(db, 'm');
      await db.flushHead();
      const blocks1 = db.blockMetas().length;
      assert.equal(blocks1, 30);
      await db.maintain();
      const after = db.blockMetas();
      assert.ok(after.length < 10, `${after.length} blocks after compaction`);
      assert.ok(after.some((m) => m.maxTime - m.minTime === 27_000 && m.compaction.level === 4), JSON.stringify(after.map((m) => [m.minTime, m.maxTime, m.compaction.level])));
      for (const m of after) assert.ok(m.compaction.sources.length >= 1);
      assert.deepEqual(await read(db, 'm'), before);
      assert.equal(after.reduce((s, m) => s + m.stats.numSamples, 0), 5 * 300);
    });
  });

  it('merges overlapping blocks (vertical compaction), keeping one sample per timestamp', async () => {
    const dir = tempDir();
    try {
      const { writeBlock } = await import('./import.ts');
      // Two overlapping blocks written by the bulk writer.
      writeBlock(dir, [{ labels: L({ __name__: 'ov' }), ts: [1000, 2000, 3000], vs: [1, 2, 3] }]);
      writeBlock(dir, [{ labels: L({ __name__: 'ov' }), ts: [2000, 2500, 4000], vs: [2, 2.5, 4] }]);
      const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0 });
      try {
        assert.equal(db.blockMetas().length, 2);
        const before = await read(db, 'ov');
        assert.deepEqual(before[0]!.ts, [1000, 2000, 2500, 3000, 4000]);
        await db.maintain();
        assert.equal(db.blockMetas().length, 1);
        assert.deepEqual(await read(db, 'ov'), before);
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });

  it('does not block appends and queries while it persists a large head', async () => {
    await withDb({ blockRange: HOUR }, async (db) => {
      await fill(db, 3000, 0, 2 * HOUR, 120_000, 'big');
      const order: string[] = [];
      const maintenance = db.maintain().then(() => order.push('maintenance done'));
      // Issued after maintenance started: they complete while it is still running.
      const app = db.appender();
      app.append(0, L({ __name__: 'live' }), 2 * HOUR, 1);
      const commit = app.commit().then(() => order.push('commit'));
      const query = read(db, 'live').then(() => order.push('query'));
      await Promise.all([maintenance, commit, query]);
      assert.equal(order[order.length - 1], 'maintenance done', order.join(', '));
      assert.equal(db.blockMetas().length, 1);
    });
  });

  it('picks up blocks written into the directory by an import while running', async () => {
    await withDb({}, async (db, dir) => {
      const { writeBlock } = await import('./import.ts');
      writeBlock(dir, [{ labels: L({ __name__: 'imported', a: 'b' }), ts: [5000, 6000], vs: [1, 2] }]);
      assert.equal((await read(db, 'imported')).length, 0);
      await db.maintain();
      assert.deepEqual((await read(db, 'imported'))[0]!.ts, [5000, 6000]);
    });
  });
});

describe('retention', () => {
  it('deletes blocks older than the retention time relative to the newest block', async () => {
    await withDb({ blockRange: 1000, retentionTime: 5000, maxBlockRange: 1000 }, async (db) => {
      await fill(db, 2, 0, 10_000, 500);
      await db.flushHead();
      await db.maintain();
      const metas = db.blockMetas();
      const newest = Math.max(...metas.map((m) => m.maxTime));
      assert.ok(metas.every((m) => newest - m.maxTime <= 5000));
      assert.equal(metas[0]!.minTime, 4000);
      assert.equal((await read(db, 'm'))[0]!.ts[0], 4000);
    });
  });

  it('deletes the oldest blocks while blocks and WAL exceed the retention size', async () => {
    const dir = tempDir();
    try {
      let db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, blockRange: 1000, maxBlockRange: 1000 });
      await fill(db, 50, 0, 20_000, 100);
      await db.flushHead();
      const sizes = db.blocksSnapshot().map((b) => b.sizeBytes);
      await db.close();
      const limit = sizes.slice(-5).reduce((a, b) => a + b, 0) + dirBytes(path.join(dir, 'wal')) + 100;
      const registry = new Registry();
      db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, retentionSize: limit, blockRange: 1000, maxBlockRange: 1000, registry });
      await db.maintain();
      const left = db.blockMetas();
      assert.equal(left.length, 5, `${left.length} blocks left`);
      assert.equal(left[left.length - 1]!.maxTime, 19_901, 'the newest blocks are kept');
      assert.equal((await metricValues(registry)).get('vigil_tsdb_size_retentions_total'), sizes.length - 5);
      await db.close();
    } finally {
      removeDir(dir);
    }
  });
});

describe('deletion', () => {
  it('deletes head samples at once (also after a restart) and block samples via tombstones', async () => {
    const dir = tempDir();
    try {
      let db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, blockRange: 10_000, checkpointOnClose: false });
      await fill(db, 2, 0, 40_000, 1000);
      await db.maintain(); // blocks [0,10s), [10s,20s), [20s,30s); the head keeps the rest
      assert.equal(db.blockMetas().length, 3);
      const sel = [new Matcher('=', '__name__', 'm'), new Matcher('=', 'i', '1')];
      await db.deleteSeries(sel, 5000, 34_999);
      const check = async (d: Tsdb) => {
        const [s0, s1] = await read(d, 'm');
        assert.equal(s0!.ts.length, 40);
        assert.deepEqual(s1!.ts, [0, 1000, 2000, 3000, 4000, 35_000, 36_000, 37_000, 38_000, 39_000]);
      };
      await check(db);
      // Appends keep their order after the deleted samples.
      await db.close();
      db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, blockRange: 10_000 });
      await check(db); // head deletion replayed from the WAL, tombstones read from disk
      const tombstoned = db.blockMetas().map((m) => m.ulid);
      await db.cleanTombstones();
      const fresh = db.blockMetas().map((m) => m.ulid);
      assert.equal(fresh.filter((u) => tombstoned.includes(u)).length, 0, 'blocks were rewritten');
      assert.ok(!fs.existsSync(path.join(dir, fresh[0]!, 'tombstones')));
      await check(db);
      await db.close();
    } finally {
      removeDir(dir);
    }
  });

  it('keeps a series ordered after its deleted newest samples', async () => {
    await withDb({}, async (db) => {
      await fill(db, 1, 0, 10_000, 1000);
      await db.deleteSeries([new Matcher('=', '__name__', 'm')], 8000, 20_000);
      const app = db.appender();
      assert.throws(() => app.append(0, L({ __name__: 'm', i: '0' }), 8500, 1), /out of order/);
      app.append(0, L({ __name__: 'm', i: '0' }), 12_000, 1);
      await app.commit();
      assert.deepEqual((await read(db, 'm'))[0]!.ts, [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 12_000]);
    });
  });
});

describe('series lifecycle', () => {
  it('collects series without samples after truncation; stale refs fall back to the labels', async () => {
    await withDb({ blockRange: 10_000 }, async (db) => {
      const app = db.appender();
      const oldRef = app.append(0, L({ __name__: 'gone' }), 1000, 1);
      await app.commit();
      await fill(db, 1, 0, 40_000, 1000, 'stay');
      await db.maintain();
      assert.equal(db.head.numSeries, 1, 'only the series with recent samples stays in the head');
      // Reuse the slot with another series, then append with the stale ref of the old one.
      const a2 = db.appender();
      const newRef = a2.append(0, L({ __name__: 'other' }), 40_000, 5);
      const back = a2.append(oldRef, L({ __name__: 'gone' }), 40_000, 7);
      assert.notEqual(back, oldRef);
      assert.notEqual(back, newRef);
      await a2.commit();
      assert.deepEqual((await read(db, 'other'))[0]!.ts, [40_000]);
      const gone = await read(db, 'gone');
      assert.deepEqual(gone[0]!.ts, [1000, 40_000], 'old sample from the block, new one from the head');
    });
  });

  it('replays from a checkpoint plus the segments after it', async () => {
    const dir = tempDir();
    try {
      let db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, blockRange: 10_000, checkpointOnClose: false });
      await fill(db, 3, 0, 30_000, 500);
      await db.maintain(); // persists [0,10s), checkpoints
      await fill(db, 3, 30_000, 35_000, 500);
      const before = await read(db, 'm');
      await db.close();
      db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, blockRange: 10_000 });
      assert.ok(db.replayInfo.segments >= 1);
      assert.deepEqual(await read(db, 'm'), before);
      await db.close();
    } finally {
      removeDir(dir);
    }
  });
});

describe('introspection', () => {
  it('status() gives head stats and top cardinalities as /api/v1/status/tsdb does', async () => {
    await withDb({}, async (db) => {
      const app = db.appender();
      app.append(0, L({ __name__: 'up', job: 'a', instance: 'x' }), 1000, 1);
      app.append(0, L({ __name__: 'up', job: 'a', instance: 'y' }), 1000, 1);
      app.append(0, L({ __name__: 'up', job: 'b', instance: 'x' }), 2000, 1);
      app.append(0, L({ __name__: 'go_goroutines', job: 'a', instance: 'x' }), 1500, 7);
      await app.commit();
      const st = db.status();
      assert.deepEqual(st.headStats, { numSeries: 4, numLabelPairs: 6, chunkCount: 4, minTime: 1000, maxTime: 2000 });
      assert.deepEqual(st.seriesCountByMetricName, [{ name: 'up', value: 3 }, { name: 'go_goroutines', value: 1 }]);
      assert.deepEqual(st.labelValueCountByLabelName, [{ name: '__name__', value: 2 }, { name: 'instance', value: 2 }, { name: 'job', value: 2 }]);
      assert.deepEqual(st.memoryInBytesByLabelName, [
        { name: '__name__', value: 3 * 2 + 13 },
        { name: 'instance', value: 4 },
        { name: 'job', value: 4 },
      ]);
      assert.deepEqual(st.seriesCountByLabelValuePair.slice(0, 3), [
        { name: 'instance=x', value: 3 },
        { name: 'job=a', value: 3 },
        { name: '__name__=up', value: 3 },
      ].sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : 1)));
      assert.equal(db.status(1).seriesCountByMetricName.length, 1);
    });
  });

  it('registers self-metrics on the given registry', async () => {
    const registry = new Registry();
    await withDb({ registry }, async (db) => {
      await fill(db, 3, 0, 5000, 1000);
      const m = await metricValues(registry);
      assert.equal(m.get('vigil_tsdb_head_series'), 3);
      assert.equal(m.get('vigil_tsdb_head_samples_appended_total'), 15);
      assert.equal(m.get('vigil_tsdb_out_of_order_samples_total'), 0);
      assert.equal(m.get('vigil_tsdb_blocks_loaded'), 0);
      assert.ok(m.has('vigil_tsdb_wal_replay_duration_seconds'));
      assert.ok(m.has('vigil_tsdb_wal_fsync_duration_seconds_count'));
      assert.ok(m.has('vigil_tsdb_compaction_duration_seconds_count'));
      assert.ok(m.get('vigil_tsdb_wal_storage_size_bytes')! > 0);
    });
    assert.equal((await registry.metrics()).includes('vigil_tsdb_head_series'), false, 'unregistered on close');
  });

  it('health checks pass on a healthy store', async () => {
    await withDb({}, async (db) => {
      const results = await Promise.all(db.healthChecks().map(async (c) => [c.name, await c.run()] as const));
      assert.deepEqual(results.map(([n]) => n), ['tsdb:wal', 'tsdb:blocks', 'tsdb:compaction', 'tsdb:head']);
      for (const [, r] of results) assert.equal((r as { status: string }).status, 'pass');
    });
  });
});

describe('WAL replay', () => {
  it('rebuilds the head exactly: many batches of samples, series created between them, rejected samples and a deletion in the middle', async () => {
    const dir = tempDir();
    try {
      const opts = { dir, compactionIntervalMs: 0, retentionTime: 0, checkpointOnClose: false };
      let db = await openTsdb(opts);
      // 2,700 to 3,700 series × 200 rounds (more samples than one replay batch), new series every round,
      // duplicates and out-of-order samples rejected, a deletion half way.
      const refs: number[] = [];
      for (let round = 0; round < 200; round++) {
        const app = db.appender();
        const n = 2700 + round * 5;
        for (let i = 0; i < n; i++) {
          const l = L({ __name__: `r${i % 5}`, i: String(i) });
          const t = 1_000_000 + round * 15_000 + (i % 7);
          refs[i] = app.append(refs[i] ?? 0, l, t, i % 3 === 0 ? round * i : Math.sin(round + i));
        }
        await app.commit();
        const dup = db.appender();
        assert.throws(() => dup.append(refs[0]!, L({ __name__: 'r0', i: '0' }), 1_000_000 + round * 15_000 - 1, 1));
        dup.rollback();
        if (round === 100) await db.deleteSeries([new Matcher('=', '__name__', 'r3')], 1_000_000 + 40 * 15_000, 1_000_000 + 60 * 15_000);
      }
      const before = await read(db, [new Matcher('=~', '__name__', 'r.*')]);
      // Like kill -9: no checkpoint, the WAL is all there is.
      await db.close();
      const logs: string[] = [];
      db = await openTsdb({ ...opts, logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }) });
      try {
        assert.ok(db.replayInfo.samples > 524_288, `${db.replayInfo.samples} samples replayed`);
        // Read at once: full chunks replay sealed are still XOR-encoded.
        const after = await read(db, [new Matcher('=~', '__name__', 'r.*')]);
        assert.equal(after.length, before.length);
        assert.deepEqual(after, before);
        // Then re-encoded in the background; the samples are the same.
        for (let i = 0; i < 500 && !logs.some((l) => l.includes('chunks sealed during replay re-encoded')); i++) await new Promise((r) => setTimeout(r, 10));
        const done = logs.find((l) => l.includes('chunks sealed during replay re-encoded'));
        assert.ok(done, 'background re-encoding finished');
        assert.ok((JSON.parse(done) as { chunks: number }).chunks > 3000, done);
        assert.deepEqual(await read(db, [new Matcher('=~', '__name__', 'r.*')]), before);
      } finally {
        await db.close();
      }
    } finally {
      removeDir(dir);
    }
  });
});

describe('chunk cache', () => {
  it('serves repeated block queries from memory within its size limit, the same samples as uncached reads, and forgets closed blocks', async () => {
    const dir = tempDir();
    const before = configureChunkCache();
    try {
      const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, chunkCacheBytes: 0 });
      await fill(db, 400, 0, 4 * HOUR, 15_000);
      await db.flushHead();
      assert.ok(db.blockMetas().length >= 2);
      const uncached = await read(db, 'm');
      assert.equal(configureChunkCache().bytes, before.bytes, 'nothing cached with size 0');
      // Room for a few pages only: the store's chunk data is larger.
      configureChunkCache(300 * 1024);
      const first = await read(db, 'm');
      const afterFirst = configureChunkCache();
      const again = await read(db, 'm');
      const afterAgain = configureChunkCache();
      assert.deepEqual(first, uncached);
      assert.deepEqual(again, uncached);
      assert.ok(afterFirst.misses > before.misses, 'pages read into the cache');
      assert.ok(afterFirst.bytes <= 300 * 1024, `cache within its limit: ${afterFirst.bytes}`);
      const small = await read(db, [new Matcher('=', 'i', '7')]);
      const hits = configureChunkCache().hits;
      assert.deepEqual(await read(db, [new Matcher('=', 'i', '7')]), small);
      assert.ok(configureChunkCache().hits > hits, 'a repeated small query hits the cache');
      assert.ok(afterAgain.bytes <= 300 * 1024);
      await db.close();
      assert.equal(configureChunkCache().bytes, before.bytes, 'pages of closed blocks dropped');
    } finally {
      configureChunkCache(before.limit);
      removeDir(dir);
    }
  });
});

describe('WAL commits', () => {
  it('groups concurrent commits into one write, in commit order', async () => {
    await withDb({}, async (db) => {
      const wal = db.wal!;
      await fill(db, 1, 0, 1000, 1000); // first write creates the series record
      const before = wal.counters.writes;
      const commits: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) {
        const app = db.appender();
        app.append(0, L({ __name__: 'g', i: String(i) }), 1000, i);
        commits.push(app.commit());
      }
      await Promise.all(commits);
      assert.equal(wal.counters.writes - before, 1, 'one write for the ten commits');
      assert.equal((await read(db, 'g')).length, 10);
    });
  });

  it("with fsync 'always', commits resolve after an fdatasync and survive a reopen", async () => {
    const registry = new Registry();
    const dir = tempDir();
    try {
      const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, registry, wal: { fsync: 'always' }, checkpointOnClose: false });
      const commits: Promise<void>[] = [];
      for (let i = 0; i < 5; i++) {
        const app = db.appender();
        app.append(0, L({ __name__: 'fs', i: String(i) }), 1000, i);
        commits.push(app.commit());
      }
      await Promise.all(commits);
      const fsyncs = (await metricValues(registry)).get('vigil_tsdb_wal_fsync_duration_seconds_count')!;
      assert.ok(fsyncs >= 1 && fsyncs <= 5, `${fsyncs} fsyncs for 5 concurrent commits`);
      await db.close();
      const db2 = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0 });
      assert.equal((await read(db2, 'fs')).length, 5);
      await db2.close();
    } finally {
      removeDir(dir);
    }
  });
});

describe('directory lock', () => {
  it('refuses a second open of the same directory while the first is open', async () => {
    await withDb({}, async (_db, dir) => {
      // Simulate another live process holding the lock.
      fs.writeFileSync(path.join(dir, 'lock'), String(process.ppid));
      await assert.rejects(openTsdb({ dir, compactionIntervalMs: 0 }), (e: unknown) => e instanceof TsdbError && e.code === 'lock_held' && e.message.includes(String(process.ppid)));
      fs.writeFileSync(path.join(dir, 'lock'), String(process.pid));
    });
  });
});
