/**
 * Self-metrics of the store, registered on a prom-client Registry passed in by the caller.
 * Hot counters are plain numbers in the head and WAL, read by `collect()` at scrape time.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the metrics read. */
export interface TsdbMetricSource {
  headSeries(): number;
  headChunks(): number;
  headMinTime(): number;
  headMaxTime(): number;
  samplesAppended(): number;
  outOfOrder(): number;
  outOfBounds(): number;
  duplicates(): number;
  seriesCreated(): number;
  seriesRemoved(): number;
  blocksLoaded(): number;
  blocksBytes(): number;
  walBytes(): number;
  walWriteFailures(): number;
  walCorruptions(): number;
  walSegment(): number;
  corruptedBlocks(): number;
  headMemoryBytes(): number;
  symbolTableSize(): number;
  retentionLimitBytes(): number;
  lowestTimestamp(): number;
  chunkCache(): { bytes: number; hits: number; misses: number };
}

export interface TsdbMetrics {
  walFsync: Histogram;
  walReplay: Gauge;
  compactionDuration: Histogram;
  compactionsTotal: Counter;
  compactionsFailed: Counter;
  headTruncations: Counter;
  checkpoints: Counter;
  checkpointsFailed: Counter;
  timeRetentions: Counter;
  sizeRetentions: Counter;
  reloadsFailed: Counter;
  blockWriteDuration: Histogram;
  unregister(): void;
}

/** A counter whose value is read from `get` at collection time. */
function readCounter(registry: Registry, name: string, help: string, get: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      const v = get();
      if (v > 0) this.inc(v);
    },
  });
}

function readGauge(registry: Registry, name: string, help: string, get: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(get());
    },
  });
}

export function registerTsdbMetrics(registry: Registry, src: TsdbMetricSource): TsdbMetrics {
  const names: string[] = [];
  const track = <T,>(m: T, name: string): T => {
    names.push(name);
    return m;
  };
  const g = (name: string, help: string, get: () => number) => track(readGauge(registry, name, help, get), name);
  const c = (name: string, help: string, get: () => number) => track(readCounter(registry, name, help, get), name);

  g('vigil_tsdb_head_series', 'Number of series in the head.', () => src.headSeries());
  g('vigil_tsdb_head_chunks', 'Number of chunks in the head.', () => src.headChunks());
  g('vigil_tsdb_head_min_time_seconds', 'Lowest timestamp in the head (seconds).', () => src.headMinTime() / 1000);
  g('vigil_tsdb_head_max_time_seconds', 'Highest timestamp in the head (seconds).', () => src.headMaxTime() / 1000);
  g('vigil_tsdb_head_memory_bytes', 'Bytes held by the head structures (series arrays, labels, index, chunks).', () => src.headMemoryBytes());
  g('vigil_tsdb_symbol_table_size', 'Number of interned label strings in the head.', () => src.symbolTableSize());
  c('vigil_tsdb_head_samples_appended_total', 'Samples appended to the head.', () => src.samplesAppended());
  c('vigil_tsdb_out_of_order_samples_total', 'Samples rejected because they were older than the last sample of their series.', () => src.outOfOrder());
  c('vigil_tsdb_out_of_bounds_samples_total', 'Samples rejected because they were older than the head accepts.', () => src.outOfBounds());
  c('vigil_tsdb_duplicate_samples_total', 'Samples rejected for a timestamp that already has another value.', () => src.duplicates());
  c('vigil_tsdb_head_series_created_total', 'Series created in the head.', () => src.seriesCreated());
  c('vigil_tsdb_head_series_removed_total', 'Series removed from the head.', () => src.seriesRemoved());
  g('vigil_tsdb_blocks_loaded', 'Number of persisted blocks loaded.', () => src.blocksLoaded());
  g('vigil_tsdb_storage_blocks_bytes', 'Bytes of the loaded blocks on disk.', () => src.blocksBytes());
  g('vigil_tsdb_wal_storage_size_bytes', 'Bytes of the WAL directory (segments and checkpoint).', () => src.walBytes());
  g('vigil_tsdb_wal_segment_current', 'Index of the WAL segment being written.', () => src.walSegment());
  c('vigil_tsdb_wal_writes_failed_total', 'WAL writes that failed (their commits were rejected).', () => src.walWriteFailures());
  c('vigil_tsdb_wal_corruptions_total', 'Torn or corrupt WAL records found (and truncated) at replay.', () => src.walCorruptions());
  g('vigil_tsdb_corrupted_blocks', 'Blocks that failed to load and were moved aside.', () => src.corruptedBlocks());
  g('vigil_tsdb_retention_limit_bytes', 'Maximum bytes of blocks and WAL (0 when unlimited).', () => src.retentionLimitBytes());
  g('vigil_tsdb_chunk_cache_bytes', 'Bytes of block chunk data cached in memory (process-wide).', () => src.chunkCache().bytes);
  c('vigil_tsdb_chunk_cache_hits_total', 'Block chunk pages found in the cache (process-wide).', () => src.chunkCache().hits);
  c('vigil_tsdb_chunk_cache_misses_total', 'Block chunk pages read from disk into the cache (process-wide).', () => src.chunkCache().misses);
  g('vigil_tsdb_lowest_timestamp_seconds', 'Lowest timestamp held by the store (seconds).', () => {
    const t = src.lowestTimestamp();
    return Number.isFinite(t) ? t / 1000 : 0;
  });

  const h = (name: string, help: string, buckets: number[]) => track(new Histogram({ name, help, buckets, registers: [registry] }), name);
  const cnt = (name: string, help: string) => track(new Counter({ name, help, registers: [registry] }), name);
  const walFsync = h('vigil_tsdb_wal_fsync_duration_seconds', 'Duration of WAL fdatasync calls.', [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]);
  const walReplay = track(new Gauge({ name: 'vigil_tsdb_wal_replay_duration_seconds', help: 'Duration of the last start-up replay (checkpoint and WAL).', registers: [registry] }), 'vigil_tsdb_wal_replay_duration_seconds');
  const compactionDuration = h('vigil_tsdb_compaction_duration_seconds', 'Duration of compactions (head to block and block merges).', [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900]);
  const blockWriteDuration = h('vigil_tsdb_block_write_duration_seconds', 'Duration of writing a block from the head.', [0.1, 0.5, 1, 5, 10, 30, 60, 300]);
  return {
    walFsync,
    walReplay,
    compactionDuration,
    blockWriteDuration,
    compactionsTotal: cnt('vigil_tsdb_compactions_total', 'Compactions run.'),
    compactionsFailed: cnt('vigil_tsdb_compactions_failed_total', 'Compactions that failed.'),
    headTruncations: cnt('vigil_tsdb_head_truncations_total', 'Head truncations after a block was persisted.'),
    checkpoints: cnt('vigil_tsdb_checkpoint_creations_total', 'WAL checkpoints written.'),
    checkpointsFailed: cnt('vigil_tsdb_checkpoint_creations_failed_total', 'WAL checkpoints that failed.'),
    timeRetentions: cnt('vigil_tsdb_time_retentions_total', 'Blocks deleted because they were older than the retention time.'),
    sizeRetentions: cnt('vigil_tsdb_size_retentions_total', 'Blocks deleted because the store exceeded the retention size.'),
    reloadsFailed: cnt('vigil_tsdb_reloads_failures_total', 'Block directory scans that found a block that failed to load.'),
    unregister() {
      for (const n of names) registry.removeSingleMetric(n);
    },
  };
}
