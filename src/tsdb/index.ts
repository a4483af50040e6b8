/**
 * The embedded time-series store (WAL, compressed head, postings index, persisted blocks,
 * compaction, retention) behind the `storage` interfaces, plus the bulk block writer used by
 * `vigil tsdb import`. See README.md.
 */
export { openTsdb, Tsdb, DEFAULT_BLOCK_RANGE_MS, DEFAULT_RETENTION_MS } from './db.ts';
export type { TsdbOptions, TsdbStatus, TsdbStat, CorruptedBlock } from './db.ts';
export type { BlockMeta } from './block.ts';
export { TsdbError } from './errors.ts';
export type { TsdbErrorCode } from './errors.ts';
export type { WriteHook } from './fsops.ts';
export { BlockImporter, formatImportProgress, formatImportSummary, writeBlock } from './import.ts';
export type { ImportOptions, ImportProgress, ImportSummary } from './import.ts';
export { analyzeTsdb, formatTsdbAnalysis } from './analyze.ts';
export type { TsdbAnalysis, BlockReport, CardinalityReport } from './analyze.ts';
