/**
 * The storage contract suite against every read path of the store: the head, a single
 * persisted block, blocks merged with the head, a store reopened from its WAL, and a store
 * reopened from a checkpoint.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeStorageContract, type ContractHarness } from '../storage/testing.ts';
import type { Querier, Queryable, SelectHints } from '../storage/index.ts';
import type { Matcher } from '../model/index.ts';
import { openTsdb, type Tsdb } from './db.ts';
import { Block } from './block.ts';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-tsdb-contract-'));
}

async function harness(kind: 'head' | 'block' | 'merged' | 'reopen-wal' | 'reopen-checkpoint'): Promise<ContractHarness> {
  const dir = tmpDir();
  // 'merged': a small block range so that the suite's data spans several blocks and the head;
  // 'block': a day, so that everything fits in the one block queried.
  const opts = { dir, blockRange: kind === 'merged' ? 600_000 : kind === 'block' ? 86_400_000 : 7_200_000, compactionIntervalMs: 0, retentionTime: 0, checkpointOnClose: kind !== 'reopen-wal' };
  let db: Tsdb = await openTsdb(opts);
  let blockQ: Queryable | undefined;
  const opened: Block[] = [];
  const h: ContractHarness = {
    get appendable() {
      return db;
    },
    queryable: () => blockQ ?? db,
    seal: async () => {
      if (kind === 'block') {
        await db.flushHead();
        const metas = db.blockMetas();
        if (metas.length === 0) return;
        // Query the persisted block alone, opened from disk.
        if (metas.length !== 1) throw new Error(`expected one block, got ${metas.length}`);
        const b = Block.open(path.join(dir, metas[0]!.ulid));
        opened.push(b);
        blockQ = { querier: (mint, maxt) => new SingleBlockQuerier(b, mint, maxt) };
      } else if (kind === 'merged') {
        // Persist the older part into blocks (and merge some), keep the rest in the head.
        await db.maintain();
      } else if (kind === 'reopen-wal') {
        await db.close();
        if (fs.readdirSync(path.join(dir, 'wal')).some((n) => n.startsWith('checkpoint'))) throw new Error('unexpected checkpoint');
        db = await openTsdb(opts);
      } else if (kind === 'reopen-checkpoint') {
        await db.close();
        db = await openTsdb(opts);
      }
    },
    close: async () => {
      for (const b of opened) b.close();
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** A querier over one block (the block alone as a Queryable). */
class SingleBlockQuerier implements Querier {
  constructor(private readonly b: Block, private readonly mint: number, private readonly maxt: number) {}
  async select(matchers: readonly Matcher[], hints?: SelectHints) {
    return { series: this.b.select(matchers, Math.max(this.mint, hints?.start ?? -Infinity), Math.min(this.maxt, hints?.end ?? Infinity)), warnings: [] };
  }
  async labelNames(matchers?: readonly Matcher[]) {
    return this.b.labelNames(matchers, this.mint, this.maxt);
  }
  async labelValues(name: string, matchers?: readonly Matcher[]) {
    return this.b.labelValues(name, matchers, this.mint, this.maxt);
  }
  close() {}
}

describeStorageContract('tsdb head', () => harness('head'));
describeStorageContract('tsdb block', () => harness('block'));
describeStorageContract('tsdb blocks merged with head', () => harness('merged'));
describeStorageContract('tsdb reopened (WAL replay)', () => harness('reopen-wal'));
describeStorageContract('tsdb reopened (checkpoint)', () => harness('reopen-checkpoint'));
