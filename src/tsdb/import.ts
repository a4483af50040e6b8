/**
 * Bulk writing of samples into blocks, for imports (`vigil tsdb import openmetrics`) and
 * backfills: samples in any order are buffered per aligned block range and series, then written
 * as blocks in the data directory, where a running or later `vigil server` picks them up.
 *
 * Label values are stored exactly as given; nothing is added (no staleness markers). Within a
 * series, samples are sorted by time; a second sample with the same timestamp is dropped and
 * counted. When the buffered samples exceed `maxBufferedSamples`, the buffered ranges are written
 * out and buffering starts again; ranges written more than once are merged at `finish()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Labels, compareLabels } from '../model/index.ts';
import { Block, BlockWriter, type BlockMeta } from './block.ts';
import { mergeBlocks, yieldLoop } from './compact.ts';
import { TsdbError, describeFsError } from './errors.ts';
import { FileOps, type WriteHook } from './fsops.ts';
import { DEFAULT_BLOCK_RANGE_MS } from './db.ts';
import { MIN_TIME_MS, MAX_TIME_MS } from '../model/index.ts';

export interface ImportOptions {
  /** Data directory (the store's `--storage.tsdb.path`). */
  dir: string;
  /** Block range (ms); default 2 h, as promtool's default --max-block-duration. */
  blockRange?: number;
  /** Samples buffered in memory before blocks are written (default 20 M, about 500 MB). */
  maxBufferedSamples?: number;
  /** Called after every block written and at least every `progressEverySamples` samples. */
  onProgress?: (p: ImportProgress) => void;
  progressEverySamples?: number;
  writeHook?: WriteHook;
}

export interface ImportProgress {
  samples: number;
  series: number;
  blocksWritten: number;
  elapsedMs: number;
  /** Samples per second since the start. */
  rate: number;
}

export interface ImportSummary {
  samples: number;
  series: number;
  /** Samples dropped because their series already had a sample at that time. */
  duplicatesDropped: number;
  blocks: BlockMeta[];
  bytes: number;
  minTime: number;
  maxTime: number;
  elapsedMs: number;
}

class SeriesBuffer {
  ts = new Float64Array(8);
  vs = new Float64Array(8);
  n = 0;
  sorted = true;

  constructor(readonly labels: Labels) {}

  add(t: number, v: number): void {
    if (this.n === this.ts.length) {
      const size = this.n * 2;
      const gt = new Float64Array(size);
      gt.set(this.ts);
      this.ts = gt;
      const gv = new Float64Array(size);
      gv.set(this.vs);
      this.vs = gv;
    }
    if (this.n > 0 && t <= this.ts[this.n - 1]!) this.sorted = false;
    this.ts[this.n] = t;
    this.vs[this.n] = v;
    this.n++;
  }

  /** Sorts by time (stable) and drops later samples at an equal time; returns how many were dropped. */
  normalize(): number {
    if (this.sorted) return 0;
    const idx = Array.from({ length: this.n }, (_, i) => i);
    const ts = this.ts;
    idx.sort((a, b) => ts[a]! - ts[b]! || a - b);
    const nt = new Float64Array(this.n);
    const nv = new Float64Array(this.n);
    let k = 0;
    for (const i of idx) {
      if (k > 0 && nt[k - 1] === ts[i]) continue;
      nt[k] = ts[i]!;
      nv[k] = this.vs[i]!;
      k++;
    }
    const dropped = this.n - k;
    this.ts = nt;
    this.vs = nv;
    this.n = k;
    this.sorted = true;
    return dropped;
  }
}

/** Buffers samples and writes them as blocks; see the module comment. */
export class BlockImporter {
  private readonly dir: string;
  private readonly range: number;
  private readonly maxBuffered: number;
  private readonly files: FileOps;
  /** Buffered series per block range start. */
  private readonly ranges = new Map<number, Map<string, SeriesBuffer>>();
  private buffered = 0;
  private samples = 0;
  private duplicates = 0;
  private readonly seriesSeen = new Set<string>();
  private readonly written: BlockMeta[] = [];
  private readonly started = performance.now();
  private lastProgress = 0;
  private minT = Infinity;
  private maxT = -Infinity;
  private finished = false;

  constructor(private readonly opts: ImportOptions) {
    this.dir = path.resolve(opts.dir);
    this.range = opts.blockRange ?? DEFAULT_BLOCK_RANGE_MS;
    if (!(this.range > 0)) throw new TsdbError('invalid_option', `block range must be positive, got ${opts.blockRange}`);
    this.maxBuffered = opts.maxBufferedSamples ?? 20_000_000;
    this.files = new FileOps(opts.writeHook);
    try {
      fs.mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw new TsdbError('import_failed', describeFsError(e, `cannot create ${this.dir}`), { cause: e });
    }
  }

  /**
   * Adds one sample. `t` is in ms and must be an integer within the range Prometheus accepts.
   * Throws TsdbError('import_failed') for an invalid sample.
   */
  add(labels: Labels, t: number, v: number): void {
    if (this.finished) throw new TsdbError('import_failed', 'importer already finished');
    if (!Number.isInteger(t) || t < MIN_TIME_MS || t > MAX_TIME_MS) throw new TsdbError('import_failed', `invalid timestamp ${t} for ${labels.toString()}`);
    if (labels.isEmpty()) throw new TsdbError('import_failed', 'sample without labels');
    const start = Math.floor(t / this.range) * this.range;
    let byKey = this.ranges.get(start);
    if (!byKey) this.ranges.set(start, (byKey = new Map()));
    const key = labels.key();
    let buf = byKey.get(key);
    if (!buf) {
      byKey.set(key, (buf = new SeriesBuffer(labels)));
      this.seriesSeen.add(key);
    }
    buf.add(t, v);
    this.buffered++;
    this.samples++;
    if (t < this.minT) this.minT = t;
    if (t > this.maxT) this.maxT = t;
    if (this.opts.onProgress && this.samples - this.lastProgress >= (this.opts.progressEverySamples ?? 100_000)) {
      this.lastProgress = this.samples;
      this.opts.onProgress(this.progress());
    }
  }

  /** Whether buffered samples exceed the memory budget (call flush() then). */
  get needsFlush(): boolean {
    return this.buffered >= this.maxBuffered;
  }

  progress(): ImportProgress {
    const elapsedMs = performance.now() - this.started;
    return { samples: this.samples, series: this.seriesSeen.size, blocksWritten: this.written.length, elapsedMs, rate: elapsedMs > 0 ? (this.samples * 1000) / elapsedMs : 0 };
  }

  /** Writes every buffered range as a block. */
  async flush(): Promise<void> {
    const starts = [...this.ranges.keys()].sort((a, b) => a - b);
    for (const start of starts) {
      const byKey = this.ranges.get(start)!;
      this.ranges.delete(start);
      const series = [...byKey.values()];
      series.sort((a, b) => compareLabels(a.labels, b.labels));
      let mint = Infinity;
      let maxt = -Infinity;
      for (const s of series) {
        this.duplicates += s.normalize();
        if (s.ts[0]! < mint) mint = s.ts[0]!;
        if (s.ts[s.n - 1]! > maxt) maxt = s.ts[s.n - 1]!;
      }
      const w = new BlockWriter(this.dir, mint, maxt + 1, this.files);
      try {
        for (let i = 0; i < series.length; i++) {
          const s = series[i]!;
          w.addSeries(s.labels.pairs as string[], s.ts, s.vs, s.n);
          if ((i & 4095) === 4095) await yieldLoop();
        }
        this.written.push(w.finish({ level: 1, sources: [] }));
      } catch (e) {
        w.abort();
        throw new TsdbError('import_failed', describeFsError(e, `writing block ${w.ulid} in ${this.dir}`), { cause: e });
      }
      this.buffered -= series.reduce((n, s) => n + s.n, 0);
      this.opts.onProgress?.(this.progress());
    }
    this.buffered = 0;
  }

  /** Writes what is buffered, merges blocks of the same range written more than once, and summarises. */
  async finish(): Promise<ImportSummary> {
    await this.flush();
    this.finished = true;
    // Ranges written by several flushes: merge into one block each.
    const byRange = new Map<number, BlockMeta[]>();
    for (const m of this.written) {
      const start = Math.floor(m.minTime / this.range) * this.range;
      let l = byRange.get(start);
      if (!l) byRange.set(start, (l = []));
      l.push(m);
    }
    const final: BlockMeta[] = [];
    for (const metas of byRange.values()) {
      if (metas.length === 1) {
        final.push(metas[0]!);
        continue;
      }
      const blocks = metas.map((m) => Block.open(path.join(this.dir, m.ulid)));
      try {
        const merged = await mergeBlocks(this.dir, blocks, this.files);
        if (merged) final.push(merged);
      } finally {
        for (const b of blocks) {
          b.close();
          fs.rmSync(b.dir, { recursive: true, force: true });
        }
      }
    }
    final.sort((a, b) => a.minTime - b.minTime);
    let bytes = 0;
    for (const m of final) bytes += m.vigil.indexBytes + m.vigil.chunkFiles.reduce((s, f) => s + f.bytes, 0);
    return {
      samples: this.samples - this.duplicates,
      series: this.seriesSeen.size,
      duplicatesDropped: this.duplicates,
      blocks: final,
      bytes,
      minTime: this.minT,
      maxTime: this.maxT,
      elapsedMs: performance.now() - this.started,
    };
  }
}

/**
 * Writes one block holding exactly the given series (tests, small backfills). Samples must be
 * sorted by time within each series. Returns the block's meta.
 */
export function writeBlock(dir: string, series: ReadonlyArray<{ labels: Labels; ts: readonly number[]; vs: readonly number[] }>): BlockMeta {
  const sorted = series.slice().sort((a, b) => compareLabels(a.labels, b.labels));
  let mint = Infinity;
  let maxt = -Infinity;
  for (const s of sorted) {
    mint = Math.min(mint, s.ts[0]!);
    maxt = Math.max(maxt, s.ts[s.ts.length - 1]!);
  }
  fs.mkdirSync(dir, { recursive: true });
  const w = new BlockWriter(dir, mint, maxt + 1, new FileOps());
  for (const s of sorted) {
    const vs = new Float64Array(s.vs.length);
    for (let i = 0; i < vs.length; i++) vs[i] = s.vs[i]!;
    w.addSeries(s.labels.pairs as string[], Float64Array.from(s.ts), vs, s.ts.length);
  }
  return w.finish({ level: 1, sources: [] });
}

/** "12.3k", "4.56M" */
function si(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * One progress line for an import: a bar when the input size is known, samples, rate and ETA.
 * `done`/`total` are bytes of input read and the input size (0 when unknown).
 */
export function formatImportProgress(p: ImportProgress, done: number, total: number, width = 30): string {
  const rate = `${si(p.rate)} samples/s`;
  if (total > 0) {
    const frac = Math.min(1, done / total);
    const filled = Math.round(frac * width);
    const eta = frac > 0 ? (p.elapsedMs * (1 - frac)) / frac : NaN;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1).padStart(5)}%  ${si(p.samples)} samples  ${rate}  ETA ${Number.isFinite(eta) ? duration(eta) : '?'}`;
  }
  return `${si(p.samples)} samples  ${si(p.series)} series  ${rate}  ${duration(p.elapsedMs)}`;
}

/** The summary line printed when an import is done. */
export function formatImportSummary(s: ImportSummary): string {
  const bps = s.samples > 0 ? (s.bytes / s.samples).toFixed(2) : '0';
  const range = s.samples > 0 ? ` from ${new Date(s.minTime).toISOString()} to ${new Date(s.maxTime).toISOString()}` : '';
  const dup = s.duplicatesDropped > 0 ? `, ${s.duplicatesDropped} duplicate samples dropped` : '';
  return `imported ${s.samples} samples of ${s.series} series into ${s.blocks.length} block(s)${range}: ${s.bytes} bytes (${bps} bytes/sample) in ${duration(s.elapsedMs)}${dup}`;
}
