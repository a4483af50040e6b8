/**
 * Stores the conformance runner can load data into: the in-memory reference store, and the
 * embedded TSDB when `src/tsdb` provides `openTsdb` (looked up at run time so that promql never
 * depends on tsdb at build time; each store lives in a temporary directory that is removed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../../storage/index.ts';
import type { Appendable, Queryable } from '../../storage/index.ts';
import type { ConformanceStore } from './runner.ts';

export const memoryStore: ConformanceStore = {
  name: 'memory',
  async open() {
    const s = new MemoryStorage();
    return { appendable: s, queryable: s, close: () => s.close() };
  },
};

interface TsdbLike extends Appendable, Queryable {
  close(): Promise<void>;
}

/** The TSDB store, or null when the TSDB module does not exist (yet). */
export async function tsdbStore(): Promise<ConformanceStore | null> {
  let mod: { openTsdb?: (opts: { dir: string; compactionIntervalMs?: number; blockRange?: number }) => Promise<TsdbLike> };
  try {
    const path = '../../tsdb/index.ts';
    mod = (await import(path)) as typeof mod;
  } catch {
    return null;
  }
  const openTsdb = mod.openTsdb;
  if (typeof openTsdb !== 'function') return null;
  return {
    name: 'tsdb',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-promql-conf-'));
      // As Prometheus' test storage: 24 h blocks, so that later loads may start at t = 0 again.
      const db = await openTsdb({ dir, compactionIntervalMs: 0, blockRange: 24 * 3600_000 });
      return {
        appendable: db,
        queryable: db,
        close: async () => {
          await db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}
