/**
 * Read-only analysis of a data directory (`vigil tsdb stats`): its blocks, the head as the
 * WAL would rebuild it, bytes per sample, and the top label cardinalities. Nothing on disk is
 * changed, so it can run beside a server using the directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Block, listBlockDirs } from './block.ts';
import { dirBytes } from './fsops.ts';
import { Head } from './head.ts';
import { replayWal } from './replay.ts';
import { DEFAULT_BLOCK_RANGE_MS } from './db.ts';

export interface BlockReport {
  ulid: string;
  minTime: number;
  maxTime: number;
  series: number;
  samples: number;
  chunks: number;
  bytes: number;
  level: number;
  tombstones: boolean;
}

export interface CardinalityReport {
  /** Which data the cardinalities describe: 'head' or a block ULID. */
  source: string;
  seriesByMetricName: Array<{ name: string; value: number }>;
  valuesByLabelName: Array<{ name: string; value: number }>;
  seriesByLabelPair: Array<{ name: string; value: number }>;
}

export interface TsdbAnalysis {
  dir: string;
  blocks: BlockReport[];
  unreadableBlocks: Array<{ ulid: string; error: string }>;
  head: { series: number; samples: number; minTime: number; maxTime: number; walBytes: number; walSegments: number; checkpoint: number; corruptions: number };
  totals: { samples: number; blockBytes: number; bytesPerSample: number };
  cardinality: CardinalityReport | undefined;
}

function top(m: Map<string, number>, limit: number): Array<{ name: string; value: number }> {
  return [...m].map(([name, value]) => ({ name, value })).sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : 1)).slice(0, limit);
}

function cardinalities(source: string, counts: Map<string, Map<string, number>>, limit: number): CardinalityReport {
  const byMetric = new Map<string, number>();
  const byName = new Map<string, number>();
  const byPair = new Map<string, number>();
  for (const [name, values] of counts) {
    byName.set(name, values.size);
    for (const [v, n] of values) {
      if (name === '__name__') byMetric.set(v, n);
      byPair.set(`${name}=${v}`, n);
    }
  }
  return { source, seriesByMetricName: top(byMetric, limit), valuesByLabelName: top(byName, limit), seriesByLabelPair: top(byPair, limit) };
}

export function analyzeTsdb(dir: string, opts: { limit?: number; blockRange?: number } = {}): TsdbAnalysis {
  const limit = opts.limit ?? 10;
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs)) throw new Error(`${abs}: no such directory`);
  const blocks: BlockReport[] = [];
  const unreadable: Array<{ ulid: string; error: string }> = [];
  let newest: Block | undefined;
  const opened: Block[] = [];
  for (const ulid of listBlockDirs(abs)) {
    try {
      const b = Block.open(path.join(abs, ulid));
      opened.push(b);
      const m = b.meta;
      blocks.push({ ulid, minTime: m.minTime, maxTime: m.maxTime, series: m.stats.numSeries, samples: m.stats.numSamples, chunks: m.stats.numChunks, bytes: b.sizeBytes, level: m.compaction.level, tombstones: b.hasTombstones });
      if (!newest || m.maxTime > newest.maxTime) newest = b;
    } catch (e) {
      unreadable.push({ ulid, error: (e as Error).message });
    }
  }
  blocks.sort((a, b) => a.minTime - b.minTime);
  const head = new Head({ chunkRange: opts.blockRange ?? DEFAULT_BLOCK_RANGE_MS });
  const walDir = path.join(abs, 'wal');
  const r = replayWal(head, walDir, { logger: pino({ enabled: false }), repair: false });
  let headSamples = 0;
  {
    const e = head.beginRead();
    for (const s of head.select([], -Infinity, Infinity)) {
      for (let i = 0; i < s.chunkCount(); i++) headSamples += s.chunk(i).n;
    }
    head.endRead(e);
  }
  const st = head.stats();
  let cardinality: CardinalityReport | undefined;
  if (head.numSeries > 0) cardinality = cardinalities('head', head.postingCounts(), limit);
  else if (newest) cardinality = cardinalities(newest.ulid, newest.postingCounts(), limit);
  for (const b of opened) b.close();
  const blockSamples = blocks.reduce((s, b) => s + b.samples, 0);
  const blockBytes = blocks.reduce((s, b) => s + b.bytes, 0);
  return {
    dir: abs,
    blocks,
    unreadableBlocks: unreadable,
    head: { series: st.numSeries, samples: headSamples, minTime: st.minTime, maxTime: st.maxTime, walBytes: dirBytes(walDir), walSegments: r.info.segments, checkpoint: r.checkpoint, corruptions: r.corruptions },
    totals: { samples: blockSamples + headSamples, blockBytes, bytesPerSample: blockSamples > 0 ? blockBytes / blockSamples : 0 },
    cardinality,
  };
}

function iso(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : '-';
}

function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
}

/** Human-readable report. */
export function formatTsdbAnalysis(a: TsdbAnalysis): string {
  const out: string[] = [`Data directory: ${a.dir}`];
  const bs = a.blocks;
  out.push(`Blocks: ${bs.length} (${bytes(a.totals.blockBytes)}, ${bs.reduce((s, b) => s + b.samples, 0)} samples, ${a.totals.bytesPerSample.toFixed(3)} bytes/sample)`);
  if (bs.length > 0) {
    out.push(
      ...table([
        ['BLOCK ULID', 'MIN TIME', 'MAX TIME', 'SERIES', 'SAMPLES', 'CHUNKS', 'BYTES', 'BYTES/SAMPLE', 'LEVEL'],
        ...bs.map((b) => [b.ulid + (b.tombstones ? ' (tombstones)' : ''), iso(b.minTime), iso(b.maxTime), String(b.series), String(b.samples), String(b.chunks), String(b.bytes), b.samples ? (b.bytes / b.samples).toFixed(3) : '-', String(b.level)]),
      ]),
    );
  }
  for (const u of a.unreadableBlocks) out.push(`  unreadable block ${u.ulid}: ${u.error}`);
  const h = a.head;
  out.push(
    `Head (from the WAL): ${h.series} series, ${h.samples} samples` +
      (h.series > 0 ? `, ${iso(h.minTime)} to ${iso(h.maxTime)}` : '') +
      `; WAL ${bytes(h.walBytes)}, ${h.walSegments} segment(s) after ${h.checkpoint > 0 ? `checkpoint ${h.checkpoint}` : 'no checkpoint'}` +
      (h.corruptions > 0 ? `; ${h.corruptions} torn or corrupt record(s) (repaired when the server starts)` : ''),
  );
  out.push(`Total samples: ${a.totals.samples}`);
  const c = a.cardinality;
  if (c) {
    const src = c.source === 'head' ? 'the head' : `block ${c.source}`;
    out.push(`Top metric names by series (${src}):`, ...c.seriesByMetricName.map((x) => `  ${String(x.value).padStart(8)}  ${x.name}`));
    out.push(`Top label names by value count (${src}):`, ...c.valuesByLabelName.map((x) => `  ${String(x.value).padStart(8)}  ${x.name}`));
    out.push(`Top label pairs by series (${src}):`, ...c.seriesByLabelPair.map((x) => `  ${String(x.value).padStart(8)}  ${x.name}`));
  }
  return out.join('\n') + '\n';
}
