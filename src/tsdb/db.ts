/**
 * The embedded store: WAL + head + persisted blocks behind the `Storage` interface.
 *
 * Life cycle: `openTsdb()` takes the directory lock, loads blocks (moving corrupt ones to
 * `corrupted/`), loads the newest WAL checkpoint and replays the segments after it, then
 * serves appends and queries. A background loop (every `compactionIntervalMs`) persists the
 * oldest block range of the head once the head spans 1.5 block ranges, merges blocks into
 * larger ranges, applies retention and picks up blocks written by `vigil tsdb import`. Work is
 * done in slices that yield to the event loop, so appends and queries keep being served.
 * `close()` waits for running maintenance, flushes the WAL, writes a checkpoint so the next
 * start is short, and releases the lock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Labels, MAX_TIME_MS, MIN_TIME_MS, compareLabels, systemClock, type Clock, type HealthCheck, type HealthResult, type Matcher } from '../model/index.ts';
import {
  ChainSampleIterator,
  StorageError,
  ValueType,
  type Appender,
  type LabelHints,
  type Querier,
  type SampleBuffer,
  type SampleIterator,
  type SelectHints,
  type Series,
  type SeriesRef,
  type SeriesSet,
  type Storage,
} from '../storage/index.ts';
import { Block, BlockWriter, configureChunkCache, listBlockDirs, type BlockMeta } from './block.ts';
import { TsdbError, describeFsError } from './errors.ts';
import { FileOps, dirBytes, syncDir, type WriteHook } from './fsops.ts';
import { Head, SLOT_SPACE } from './head.ts';
import { ConcatIterator } from './iterators.ts';
import { SampleCollector, mergeBlocks, yieldLoop } from './compact.ts';
import { registerTsdbMetrics, type TsdbMetrics } from './metrics.ts';
import { checkpointDirName, writeSnapshot } from './snapshot.ts';
import { WalWriter, listCheckpoints, listSegments, segmentName } from './wal.ts';
import { replayWal } from './replay.ts';
import { sameBits } from './bits.ts';

export const DEFAULT_BLOCK_RANGE_MS = 2 * 3600 * 1000;
export const DEFAULT_RETENTION_MS = 15 * 24 * 3600 * 1000;

export interface TsdbOptions {
  /** Data directory (created when missing). */
  dir: string;
  /** Blocks whose end is older than the newest block's end by more than this are deleted (ms; 0 = keep). Default 15 d. */
  retentionTime?: number;
  /** Oldest blocks are deleted while blocks + WAL exceed this many bytes (0 = unlimited, the default). */
  retentionSize?: number;
  /** Time range of a block cut from the head (ms). Default 2 h. */
  blockRange?: number;
  /** Largest block compaction produces (ms). Default: 10% of the retention time, at most 31 d. */
  maxBlockRange?: number;
  logger?: Logger;
  registry?: Registry;
  clock?: Clock;
  wal?: {
    /** Segment size in bytes (default 128 MiB). */
    segmentSize?: number;
    /** 'interval' (default) or 'always' (see README: durability). */
    fsync?: 'interval' | 'always';
    /** Background fdatasync period in ms (default 1000). */
    fsyncIntervalMs?: number;
    /** Write a checkpoint once the segments after the last one exceed this many bytes (default 256 MiB). */
    checkpointAfterBytes?: number;
  };
  /** Period of the background maintenance loop (ms, default 60 000; 0 disables it). */
  compactionIntervalMs?: number;
  /** Samples per head chunk (default 120). */
  samplesPerChunk?: number;
  /** Fault injection for tests: called before every file write. */
  writeHook?: WriteHook;
  /** Write a checkpoint on close (default true). */
  checkpointOnClose?: boolean;
  /**
   * Bytes of block chunk data queries keep in memory across queries (default 64 MiB; 0 reads
   * from disk every time). The cache is shared by every store of the process: the value of the
   * last store opened with the option applies.
   */
  chunkCacheBytes?: number;
}

export interface TsdbStat {
  name: string;
  value: number;
}

/** The `data` of Prometheus' GET /api/v1/status/tsdb. */
export interface TsdbStatus {
  headStats: { numSeries: number; numLabelPairs: number; chunkCount: number; minTime: number; maxTime: number };
  seriesCountByMetricName: TsdbStat[];
  labelValueCountByLabelName: TsdbStat[];
  memoryInBytesByLabelName: TsdbStat[];
  seriesCountByLabelValuePair: TsdbStat[];
}

export interface CorruptedBlock {
  ulid: string;
  reason: string;
  /** Where the block was moved (undefined when found corrupt while reading; it stays in place). */
  movedTo?: string;
  time: number;
}

const ERR_OUT_OF_ORDER = new StorageError('out_of_order_sample');
const ERR_DUPLICATE = new StorageError('duplicate_sample_for_timestamp');
const ERR_OUT_OF_BOUNDS = new StorageError('out_of_bounds');
const ERR_APPENDER_CLOSED = new StorageError('appender_closed');
const ERR_CLOSED = new StorageError('closed');


function fillRefs(head: Head, slots: Int32Array, refs: Float64Array, n: number): void {
  const gen = head.gen;
  for (let i = 0; i < n; i++) {
    const s = slots[i]!;
    refs[i] = gen[s]! * SLOT_SPACE + s;
  }
}

function applySamples(head: Head, slots: Int32Array, ts: Float64Array, vs: Float64Array, n: number): void {
  const vs32 = new Uint32Array(vs.buffer, vs.byteOffset, n * 2);
  for (let i = 0; i < n; i++) head.appendSampleAt(slots[i]!, ts, vs32, i);
}

/** Buffers of finished appenders, reused by new ones (no allocation per scrape). */
const appenderBuffers: Array<{ slots: Int32Array; ts: Float64Array; vs: Float64Array }> = [];
const EMPTY_I32 = new Int32Array(0);
const EMPTY_F64 = new Float64Array(0);

/** Scratch for WAL encoding (records are encoded synchronously). */
let refScratch = new Float64Array(1024);

/** A small FIFO mutex for maintenance operations. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

class TsdbAppender implements Appender {
  private readonly id: number;
  private slots: Int32Array;
  private ts: Float64Array;
  private vs: Float64Array;
  private n = 0;
  private done = false;

  constructor(private readonly db: Tsdb) {
    this.id = db.head.newAppenderId();
    const b = appenderBuffers.pop();
    if (b) {
      this.slots = b.slots;
      this.ts = b.ts;
      this.vs = b.vs;
    } else {
      this.slots = new Int32Array(64);
      this.ts = new Float64Array(64);
      this.vs = new Float64Array(64);
    }
  }

  /** Hands the buffers to the next appender (once the samples are applied or dropped). */
  private recycle(): void {
    if (appenderBuffers.length < 16 && this.slots.length > 0) appenderBuffers.push({ slots: this.slots, ts: this.ts, vs: this.vs });
    this.slots = EMPTY_I32;
    this.ts = EMPTY_F64;
    this.vs = EMPTY_F64;
  }

  append(ref: SeriesRef, labels: Labels, t: number, v: number): SeriesRef {
    if (this.done) throw ERR_APPENDER_CLOSED;
    const head = this.db.head;
    let s = ref > 0 ? head.slotOfRef(ref) : -1;
    if (s < 0) s = head.getOrCreate(labels);
    if (Math.floor(t) !== t || t > MAX_TIME_MS || t < MIN_TIME_MS) {
      head.outOfBounds++;
      throw new StorageError('out_of_bounds', `invalid timestamp ${t}: must be an integer number of milliseconds within ±${MAX_TIME_MS}`);
    }
    const minValid = head.maxT - head.chunkRange / 2;
    if (t < head.minValidTime || t < minValid) {
      head.outOfBounds++;
      throw ERR_OUT_OF_BOUNDS;
    }
    const st = head.st;
    const uo = s * 16;
    const own = st.i[uo + 14 /* U_POWNER */] === this.id;
    const lastT = own ? this.ts[st.i[uo + 15 /* U_PIDX */]!]! : st.f[s * 8 + 0 /* F_T */]!;
    if (t <= lastT) {
      if (t === lastT) {
        const lastV = own ? this.vs[st.i[uo + 15 /* U_PIDX */]!]! : st.f[s * 8 + 2 /* F_V */]!;
        if (sameBits(v, lastV)) return head.refOf(s);
        head.duplicates++;
        throw ERR_DUPLICATE;
      }
      head.outOfOrder++;
      throw ERR_OUT_OF_ORDER;
    }
    const n = this.n;
    if (n === this.slots.length) this.grow();
    this.slots[n] = s;
    this.ts[n] = t;
    this.vs[n] = v;
    st.i[uo + 14 /* U_POWNER */] = this.id;
    st.i[uo + 15 /* U_PIDX */] = n;
    this.n = n + 1;
    return head.refOf(s);
  }

  private grow(): void {
    const size = this.slots.length * 2;
    const s = new Int32Array(size);
    s.set(this.slots);
    this.slots = s;
    const t = new Float64Array(size);
    t.set(this.ts);
    this.ts = t;
    const v = new Float64Array(size);
    v.set(this.vs);
    this.vs = v;
  }

  commit(): Promise<void> {
    if (this.done) return Promise.reject(ERR_APPENDER_CLOSED);
    this.done = true;
    const db = this.db;
    const head = db.head;
    if (this.n === 0) {
      head.activeAppenders.delete(this.id);
      this.recycle();
      return Promise.resolve();
    }
    if (db.isClosed()) {
      head.activeAppenders.delete(this.id);
      this.recycle();
      return Promise.reject(ERR_CLOSED);
    }
    const n = this.n;
    if (refScratch.length < n) refScratch = new Float64Array(Math.max(n, refScratch.length * 2));
    const refs = refScratch;
    fillRefs(head, this.slots, refs, n);
    return new Promise<void>((resolve, reject) => {
      db.wal!.logSamples(refs, this.ts, this.vs, n, {
        apply: () => this.apply(),
        resolve,
        reject: (e) => {
          head.activeAppenders.delete(this.id);
          this.recycle();
          reject(e);
        },
      });
    });
  }

  private apply(): void {
    const head = this.db.head;
    applySamples(head, this.slots, this.ts, this.vs, this.n);
    head.activeAppenders.delete(this.id);
    this.recycle();
  }

  rollback(): void {
    if (this.done) throw ERR_APPENDER_CLOSED;
    this.done = true;
    this.db.head.activeAppenders.delete(this.id);
    this.recycle();
  }
}

interface TimedSeries extends Series {
  minTime(): number;
  maxTime(): number;
  readRange(mint: number, maxt: number, buf: SampleBuffer): Error | null;
}

class ConcatSeries implements Series {
  constructor(readonly labels: Labels, private readonly parts: TimedSeries[]) {}
  iterator(): SampleIterator {
    return new ConcatIterator(this.parts.map((p) => p.iterator()));
  }
  readRange(mint: number, maxt: number, buf: SampleBuffer): Error | null {
    for (const p of this.parts) {
      const e = p.readRange(mint, maxt, buf);
      if (e) return e;
    }
    return null;
  }
}

class OverlapSeries implements Series {
  constructor(readonly labels: Labels, private readonly parts: TimedSeries[]) {}
  iterator(): SampleIterator {
    return new ChainSampleIterator(this.parts.map((p) => p.iterator()));
  }
}

/** Merges label-sorted lists of series from blocks (time order) and the head. */
function mergeParts(parts: TimedSeries[][], limit: number): Series[] {
  const nonEmpty = parts.filter((p) => p.length > 0);
  if (nonEmpty.length === 0) return [];
  if (nonEmpty.length === 1) {
    const only = nonEmpty[0]!;
    return limit > 0 && only.length > limit ? only.slice(0, limit) : only;
  }
  const idx = new Int32Array(nonEmpty.length);
  const out: Series[] = [];
  const group: TimedSeries[] = [];
  for (;;) {
    let min: Labels | undefined;
    for (let k = 0; k < nonEmpty.length; k++) {
      const s = nonEmpty[k]![idx[k]!];
      if (s && (min === undefined || compareLabels(s.labels, min) < 0)) min = s.labels;
    }
    if (min === undefined) break;
    group.length = 0;
    for (let k = 0; k < nonEmpty.length; k++) {
      const s = nonEmpty[k]![idx[k]!];
      if (s && (s.labels === min || compareLabels(s.labels, min) === 0)) {
        group.push(s);
        idx[k]!++;
      }
    }
    if (group.length === 1) out.push(group[0]!);
    else {
      const g = group.slice().sort((a, b) => a.minTime() - b.minTime());
      let disjoint = true;
      for (let i = 1; i < g.length; i++) if (g[i]!.minTime() <= g[i - 1]!.maxTime()) disjoint = false;
      out.push(disjoint ? new ConcatSeries(min, g) : new OverlapSeries(min, g));
    }
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

function unionSorted(lists: string[][]): string[] {
  const set = new Set<string>();
  for (const l of lists) for (const x of l) set.add(x);
  return [...set].sort();
}

class TsdbQuerier implements Querier {
  private readonly blocks: Block[];
  private readonly epoch: number;
  private closed = false;

  constructor(private readonly db: Tsdb, private readonly mint: number, private readonly maxt: number) {
    if (db.isClosed()) throw ERR_CLOSED;
    this.blocks = db.blocksSnapshot().filter((b) => b.maxTime > mint && b.minTime <= maxt && b.pin());
    this.epoch = db.head.beginRead();
  }

  private check(): void {
    if (this.closed) throw new StorageError('closed', 'querier already closed');
  }

  async select(matchers: readonly Matcher[], hints?: SelectHints): Promise<SeriesSet> {
    this.check();
    const mint = Math.max(this.mint, hints?.start ?? -Infinity);
    const maxt = Math.min(this.maxt, hints?.end ?? Infinity);
    const limit = hints?.limit ?? 0;
    const parts: TimedSeries[][] = [];
    const warnings: string[] = [];
    for (const b of this.blocks) {
      try {
        parts.push(b.select(matchers, mint, maxt));
      } catch (e) {
        warnings.push(`block ${b.ulid}: ${(e as Error).message}`);
        b.reportCorruption((e as Error).message);
      }
    }
    parts.push(this.db.head.select(matchers, mint, maxt));
    return { series: mergeParts(parts, limit), warnings };
  }

  async labelNames(matchers?: readonly Matcher[], hints?: LabelHints): Promise<string[]> {
    this.check();
    const lists = this.blocks.map((b) => b.labelNames(matchers, this.mint, this.maxt));
    lists.push(this.db.head.labelNames(matchers, this.mint, this.maxt));
    const out = unionSorted(lists);
    return hints?.limit ? out.slice(0, hints.limit) : out;
  }

  async labelValues(name: string, matchers?: readonly Matcher[], hints?: LabelHints): Promise<string[]> {
    this.check();
    const lists = this.blocks.map((b) => b.labelValues(name, matchers, this.mint, this.maxt));
    lists.push(this.db.head.labelValues(name, matchers, this.mint, this.maxt));
    const out = unionSorted(lists);
    return hints?.limit ? out.slice(0, hints.limit) : out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const b of this.blocks) b.unpin();
    this.db.head.endRead(this.epoch);
  }
}


export class Tsdb implements Storage {
  readonly dir: string;
  readonly walDir: string;
  readonly head: Head;
  wal: WalWriter | undefined;
  private blocks: Block[] = [];
  private readonly files: FileOps;
  readonly logger: Logger;
  private readonly clock: Clock;
  private readonly blockRange: number;
  private readonly ranges: number[];
  readonly retentionTime: number;
  readonly retentionSize: number;
  private readonly checkpointAfterBytes: number;
  private readonly checkpointOnClose: boolean;
  private readonly maintenance = new Mutex();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private metrics: TsdbMetrics | undefined;
  readonly corrupted: CorruptedBlock[] = [];
  private lastMaintenanceError: { message: string; time: number } | undefined;
  walCorruptions = 0;
  private lastCheckpointSegment = 0;
  /** Replay summary of the last open. */
  replayInfo = { durationMs: 0, checkpointMs: 0, segmentsMs: 0, series: 0, samples: 0, segments: 0 };
  private cachedWalBytes = 0;

  private constructor(opts: TsdbOptions) {
    this.dir = path.resolve(opts.dir);
    this.walDir = path.join(this.dir, 'wal');
    this.files = new FileOps(opts.writeHook);
    this.logger = opts.logger ?? pino({ enabled: false });
    this.clock = opts.clock ?? systemClock;
    this.blockRange = opts.blockRange ?? DEFAULT_BLOCK_RANGE_MS;
    if (!(this.blockRange > 0)) throw new TsdbError('invalid_option', `block range must be positive, got ${opts.blockRange}`);
    this.retentionTime = opts.retentionTime ?? DEFAULT_RETENTION_MS;
    this.retentionSize = opts.retentionSize ?? 0;
    if (this.retentionTime < 0 || this.retentionSize < 0) throw new TsdbError('invalid_option', 'retention time and size must not be negative');
    const maxRange = opts.maxBlockRange ?? Math.min(this.retentionTime > 0 ? this.retentionTime / 10 : Infinity, 31 * 24 * 3600 * 1000);
    this.ranges = [this.blockRange];
    for (let r = this.blockRange * 3; r <= maxRange; r *= 3) this.ranges.push(r);
    this.checkpointAfterBytes = opts.wal?.checkpointAfterBytes ?? 256 * 1024 * 1024;
    this.checkpointOnClose = opts.checkpointOnClose ?? true;
    this.head = new Head({ chunkRange: this.blockRange, samplesPerChunk: opts.samplesPerChunk });
  }

  /** Opens (creating when needed) the store in `opts.dir`. */
  static async open(opts: TsdbOptions): Promise<Tsdb> {
    const db = new Tsdb(opts);
    const t0 = performance.now();
    if (opts.chunkCacheBytes !== undefined) {
      if (!(opts.chunkCacheBytes >= 0)) throw new TsdbError('invalid_option', `chunk cache size must not be negative, got ${opts.chunkCacheBytes}`);
      configureChunkCache(opts.chunkCacheBytes);
    }
    fs.mkdirSync(db.dir, { recursive: true });
    db.lock();
    try {
      db.removeLeftovers();
      db.loadBlocks();
      const maxBlockT = db.blocks.reduce((m, b) => Math.max(m, b.maxTime), -Infinity);
      db.head.minValidTime = maxBlockT;
      const lastSegment = db.replay();
      db.wal = new WalWriter(
        {
          dir: db.walDir,
          segmentSize: opts.wal?.segmentSize ?? 128 * 1024 * 1024,
          fsync: opts.wal?.fsync ?? 'interval',
          fsyncIntervalMs: opts.wal?.fsyncIntervalMs ?? 1000,
          logger: db.logger,
          files: db.files,
        },
        lastSegment + 1,
      );
      const wal = db.wal;
      db.head.onSeriesCreated = (slot) => wal.logSeries(db.head.refOf(slot), db.head.pairsOf(slot));
      db.relogRemapped();
      if (opts.registry) db.registerMetrics(opts.registry);
      const interval = opts.compactionIntervalMs ?? 60_000;
      if (interval > 0) {
        db.timer = setInterval(() => void db.maintain(), interval);
        db.timer.unref();
      }
      db.cachedWalBytes = dirBytes(db.walDir);
      db.encodeDeferredInBackground();
      db.logger.info(
        { dir: db.dir, blocks: db.blocks.length, series: db.head.numSeries, durationMs: Math.round(performance.now() - t0) },
        'TSDB started',
      );
      return db;
    } catch (e) {
      db.unlock();
      throw e;
    }
  }

  isClosed(): boolean {
    return this.closed;
  }

  /**
   * Re-encodes the chunks replay sealed as XOR words with the block codec, in slices of about
   * 10 ms between which appends and queries go on. Until then they are read as XOR; a
   * checkpoint re-encodes whatever is left first.
   */
  private encodeDeferredInBackground(): void {
    const total = this.head.deferredSealCount;
    if (total === 0) return;
    const t0 = performance.now();
    const step = (): void => {
      if (this.closed) return;
      if (this.head.encodeDeferredChunks(10) > 0) {
        setTimeout(step, 1).unref();
        return;
      }
      this.logger.info({ chunks: total, durationMs: Math.round(performance.now() - t0) }, 'chunks sealed during replay re-encoded');
    };
    setTimeout(step, 1).unref();
  }

  blocksSnapshot(): readonly Block[] {
    return this.blocks;
  }

  /** Metadata of the loaded blocks, oldest first. */
  blockMetas(): BlockMeta[] {
    return this.blocks.map((b) => b.meta);
  }

  // ------------------------------------------------------------------ lock

  private lockPath(): string {
    return path.join(this.dir, 'lock');
  }

  private lock(): void {
    const p = this.lockPath();
    try {
      const pid = Number(fs.readFileSync(p, 'utf8').trim());
      if (pid && pid !== process.pid && processAlive(pid)) {
        throw new TsdbError('lock_held', `${this.dir} is in use by process ${pid} (lock file ${p}); stop it or use another --storage.tsdb.path`);
      }
    } catch (e) {
      if (e instanceof TsdbError) throw e;
    }
    fs.writeFileSync(p, String(process.pid));
  }

  private unlock(): void {
    try {
      const pid = Number(fs.readFileSync(this.lockPath(), 'utf8').trim());
      if (pid === process.pid) fs.rmSync(this.lockPath(), { force: true });
    } catch {
      // already gone
    }
  }

  private removeLeftovers(): void {
    for (const d of [this.dir, this.walDir]) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(d);
      } catch {
        continue;
      }
      for (const n of names) if (n.endsWith('.tmp')) fs.rmSync(path.join(d, n), { recursive: true, force: true });
    }
  }

  // ------------------------------------------------------------------ blocks

  private quarantine(ulid: string, reason: string): void {
    const from = path.join(this.dir, ulid);
    const toDir = path.join(this.dir, 'corrupted');
    let to = path.join(toDir, ulid);
    try {
      fs.mkdirSync(toDir, { recursive: true });
      if (fs.existsSync(to)) to = `${to}.${this.clock.now()}`;
      fs.renameSync(from, to);
      syncDir(this.dir);
    } catch (e) {
      this.logger.error({ block: ulid, err: describeFsError(e, 'move aside') }, 'could not move corrupt block aside');
      to = from;
    }
    this.corrupted.push({ ulid, reason, movedTo: to, time: this.clock.now() });
    this.metrics?.reloadsFailed.inc();
    this.logger.error({ block: ulid, reason, movedTo: to }, 'block failed to load and was moved aside');
  }

  private attach(b: Block): void {
    b.onCorruption = (blk, message) => {
      this.corrupted.push({ ulid: blk.ulid, reason: message, time: this.clock.now() });
      this.logger.error({ block: blk.ulid, reason: message }, 'corrupt chunk data in block');
    };
  }

  /** Opens block directories not loaded yet (start-up, imports); corrupt ones are moved aside. */
  private loadBlocks(): number {
    const loaded = new Set(this.blocks.map((b) => b.ulid));
    const fresh: Block[] = [];
    for (const name of listBlockDirs(this.dir)) {
      if (loaded.has(name)) continue;
      try {
        const b = Block.open(path.join(this.dir, name));
        this.attach(b);
        fresh.push(b);
      } catch (e) {
        this.quarantine(name, (e as Error).message);
      }
    }
    if (fresh.length === 0) return 0;
    const all = [...this.blocks, ...fresh];
    // Blocks that are parents of another block are leftovers of an interrupted compaction.
    const parents = new Set<string>();
    for (const b of all) for (const p of b.meta.compaction.parents ?? []) parents.add(p.ulid);
    const keep: Block[] = [];
    for (const b of all) {
      if (parents.has(b.ulid) && !loaded.has(b.ulid)) {
        b.close();
        fs.rmSync(b.dir, { recursive: true, force: true });
        this.logger.info({ block: b.ulid }, 'deleted block already merged into a newer one');
      } else keep.push(b);
    }
    keep.sort((a, b) => a.minTime - b.minTime || a.maxTime - b.maxTime);
    this.blocks = keep;
    return fresh.length;
  }

  // ------------------------------------------------------------------ replay

  /** Loads the checkpoint and replays the segments after it; returns the last segment index. */
  private replay(): number {
    // Full chunks stay XOR-encoded until after start-up (encodeDeferredInBackground).
    this.head.deferSealEncoding = true;
    let r: ReturnType<typeof replayWal>;
    try {
      r = replayWal(this.head, this.walDir, { logger: this.logger, repair: true });
    } finally {
      this.head.deferSealEncoding = false;
    }
    this.walCorruptions += r.corruptions;
    this.lastCheckpointSegment = r.checkpoint;
    this.remapAfterReplay = r.remap;
    this.replayInfo = r.info;
    return r.lastSegment;
  }

  private remapAfterReplay: Map<number, number> | undefined;

  /** Series whose WAL ref could not be kept get a fresh series record with their new ref. */
  private relogRemapped(): void {
    const remap = this.remapAfterReplay;
    this.remapAfterReplay = undefined;
    if (!remap || remap.size === 0) return;
    const done = new Set<number>();
    for (const slot of remap.values()) {
      if (done.has(slot) || !this.head.alive[slot]) continue;
      done.add(slot);
      this.wal!.logSeries(this.head.refOf(slot), this.head.pairsOf(slot));
    }
    this.wal!.flush();
  }

  // ------------------------------------------------------------------ Storage

  appender(): Appender {
    if (this.closed) throw ERR_CLOSED;
    return new TsdbAppender(this);
  }

  querier(mint: number, maxt: number): Querier {
    return new TsdbQuerier(this, mint, maxt);
  }

  startTime(): number {
    const b = this.blocks.length > 0 ? this.blocks[0]!.minTime : Infinity;
    return Math.min(b, this.head.minT);
  }

  // ------------------------------------------------------------------ maintenance

  /** Runs one maintenance pass now (persist head ranges, merge blocks, retention, reload). */
  maintain(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) return this.running;
    this.running = this.maintenance
      .run(async () => {
        try {
          this.loadBlocks();
          await this.persistHead();
          await this.compactBlocks();
          this.applyRetention();
          await this.checkpointIfLarge();
          this.lastMaintenanceError = undefined;
        } catch (e) {
          this.lastMaintenanceError = { message: (e as Error).message, time: this.clock.now() };
          this.metrics?.compactionsFailed.inc();
          this.logger.error({ err: (e as Error).message }, 'TSDB maintenance failed');
        } finally {
          this.cachedWalBytes = dirBytes(this.walDir);
        }
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Persists every complete block range of the head that is old enough (head spans > 1.5 ranges). */
  private async persistHead(): Promise<void> {
    const head = this.head;
    let persisted = false;
    while (head.numSeries > 0 && head.maxT - head.minT > (this.blockRange * 3) / 2 && !this.closed) {
      const mint = Math.floor(head.minT / this.blockRange) * this.blockRange;
      await this.persistRange(mint, mint + this.blockRange);
      persisted = true;
    }
    if (persisted) await this.checkpoint();
  }

  /**
   * Persists all head data into blocks (aligned ranges), empties the head and writes a checkpoint.
   * Samples older than the newest persisted time are rejected afterwards.
   */
  flushHead(): Promise<void> {
    return this.maintenance.run(async () => {
      const head = this.head;
      while (head.numSeries > 0 && head.minT !== Infinity && !this.closed) {
        const mint = Math.floor(head.minT / this.blockRange) * this.blockRange;
        const maxt = Math.min(mint + this.blockRange, head.maxT + 1);
        await this.persistRange(mint, Math.max(maxt, mint + 1));
        if (head.minT === Infinity) break;
      }
      await this.checkpoint();
      this.cachedWalBytes = dirBytes(this.walDir);
    });
  }

  /** Writes head samples in [mint, maxt) into a block, loads it and truncates the head. */
  private async persistRange(mint: number, maxt: number): Promise<void> {
    const head = this.head;
    if (maxt > head.minValidTime) head.minValidTime = maxt;
    const t0 = performance.now();
    const epoch = head.beginRead();
    let writer: BlockWriter | undefined;
    let meta: BlockMeta | undefined;
    try {
      // Series are captured one at a time: nothing in [mint, maxt) changes any more
      // (appends there are out of bounds, deletions wait for this to finish).
      const slots = head.slotsFor([], mint, maxt - 1);
      if (slots.length > 0) {
        writer = new BlockWriter(this.dir, mint, maxt, this.files);
        const col = new SampleCollector();
        for (let i = 0; i < slots.length; i++) {
          const s = head.seriesOf(slots[i]!, mint, maxt - 1);
          if (s) {
            col.reset();
            col.drain(s.iterator());
            writer.addSeries(s.labels.pairs as string[], col.ts, col.vs, col.n);
          }
          if ((i & 1023) === 1023) await yieldLoop();
        }
        meta = writer.seriesCount > 0 ? writer.finish({ level: 1, sources: [] }) : undefined;
        if (!meta) writer.abort();
      }
    } catch (e) {
      writer?.abort();
      throw e;
    } finally {
      head.endRead(epoch);
    }
    if (meta) {
      const b = Block.open(path.join(this.dir, meta.ulid));
      this.attach(b);
      this.blocks = [...this.blocks, b].sort((a, c) => a.minTime - c.minTime || a.maxTime - c.maxTime);
    }
    const { removedSeries, removedChunks } = head.truncate(maxt);
    this.metrics?.headTruncations.inc();
    const seconds = (performance.now() - t0) / 1000;
    this.metrics?.blockWriteDuration.observe(seconds);
    this.metrics?.compactionDuration.observe(seconds);
    this.metrics?.compactionsTotal.inc();
    this.logger.info(
      { mint, maxt, block: meta?.ulid, series: meta?.stats.numSeries ?? 0, samples: meta?.stats.numSamples ?? 0, removedSeries, removedChunks, durationMs: Math.round(seconds * 1000) },
      'head persisted to block',
    );
  }

  /** Cuts the WAL and writes a checkpoint covering everything before the cut. */
  private async checkpoint(): Promise<void> {
    const wal = this.wal;
    if (!wal) return;
    const t0 = performance.now();
    wal.flush();
    const seg = wal.segment;
    wal.cut();
    try {
      const r = await writeSnapshot(this.walDir, seg, this.head, this.files);
      for (const s of listSegments(this.walDir)) if (s <= seg) fs.rmSync(path.join(this.walDir, segmentName(s)), { force: true });
      for (const c of listCheckpoints(this.walDir)) if (c < seg) fs.rmSync(path.join(this.walDir, checkpointDirName(c)), { recursive: true, force: true });
      this.lastCheckpointSegment = seg;
      this.metrics?.checkpoints.inc();
      this.logger.info({ segment: seg, series: r.series, bytes: r.bytes, durationMs: Math.round(performance.now() - t0) }, 'WAL checkpoint written');
    } catch (e) {
      this.metrics?.checkpointsFailed.inc();
      throw new TsdbError('corrupt_wal', describeFsError(e, `WAL checkpoint ${seg}`), { cause: e });
    }
  }

  private async checkpointIfLarge(): Promise<void> {
    let bytes = 0;
    for (const s of listSegments(this.walDir)) {
      if (s <= this.lastCheckpointSegment) continue;
      try {
        bytes += fs.statSync(path.join(this.walDir, segmentName(s))).size;
      } catch {
        // removed meanwhile
      }
    }
    if (bytes >= this.checkpointAfterBytes) await this.checkpoint();
  }

  /** Block groups to merge next: overlapping blocks first, then aligned ranges (as Prometheus plans). */
  private planCompaction(): Block[] | undefined {
    const bs = this.blocks;
    if (bs.length < 2) return undefined;
    // Overlaps.
    let group: Block[] = [];
    let groupMax = -Infinity;
    for (const b of bs) {
      if (group.length > 0 && b.minTime < groupMax) {
        group.push(b);
        groupMax = Math.max(groupMax, b.maxTime);
      } else {
        if (group.length > 1) return group;
        group = [b];
        groupMax = b.maxTime;
      }
    }
    if (group.length > 1) return group;
    // Aligned ranges, excluding the newest block.
    const cands = bs.slice(0, -1);
    if (cands.length === 0) return undefined;
    const highTime = cands[cands.length - 1]!.minTime;
    for (const r of this.ranges.slice(1)) {
      const parts = new Map<number, Block[]>();
      for (const b of cands) {
        const t0 = Math.floor(b.minTime / r) * r;
        if (b.maxTime > t0 + r) continue;
        let p = parts.get(t0);
        if (!p) parts.set(t0, (p = []));
        p.push(b);
      }
      for (const p of [...parts.values()].sort((a, b) => a[0]!.minTime - b[0]!.minTime)) {
        const mint = p[0]!.minTime;
        const maxt = p[p.length - 1]!.maxTime;
        if (p.length > 1 && (maxt - mint === r || maxt <= highTime)) return p;
      }
    }
    return undefined;
  }

  private async compactBlocks(): Promise<void> {
    for (let guard = 0; guard < 100 && !this.closed; guard++) {
      const group = this.planCompaction();
      if (!group) return;
      await this.mergeBlocks(group);
    }
  }

  /** Merges blocks into one (also used to rewrite a block without its tombstones). */
  private async mergeBlocks(group: Block[]): Promise<BlockMeta | undefined> {
    const t0 = performance.now();
    const meta = await mergeBlocks(this.dir, group, this.files);
    let fresh: Block | undefined;
    if (meta) {
      fresh = Block.open(path.join(this.dir, meta.ulid));
      this.attach(fresh);
    }
    const gone = new Set(group.map((b) => b.ulid));
    this.blocks = [...this.blocks.filter((b) => !gone.has(b.ulid)), ...(fresh ? [fresh] : [])].sort((a, b) => a.minTime - b.minTime || a.maxTime - b.maxTime);
    for (const b of group) this.deleteBlock(b);
    const seconds = (performance.now() - t0) / 1000;
    this.metrics?.compactionDuration.observe(seconds);
    this.metrics?.compactionsTotal.inc();
    this.logger.info({ mint: meta?.minTime, maxt: meta?.maxTime, sources: group.map((b) => b.ulid), block: meta?.ulid, durationMs: Math.round(seconds * 1000) }, 'blocks compacted');
    return meta;
  }

  private deleteBlock(b: Block): void {
    b.close();
    // Open descriptors keep serving running readers after the unlink.
    fs.rmSync(b.dir, { recursive: true, force: true });
  }

  private applyRetention(): void {
    if (this.blocks.length === 0) return;
    const doomed = new Set<Block>();
    if (this.retentionTime > 0) {
      const newest = Math.max(...this.blocks.map((b) => b.maxTime));
      for (const b of this.blocks) {
        if (newest - b.maxTime > this.retentionTime) {
          doomed.add(b);
          this.metrics?.timeRetentions.inc();
        }
      }
    }
    if (this.retentionSize > 0) {
      let total = dirBytes(this.walDir);
      for (const b of this.blocks) if (!doomed.has(b)) total += b.sizeBytes;
      for (const b of this.blocks) {
        if (total <= this.retentionSize) break;
        if (doomed.has(b)) continue;
        doomed.add(b);
        total -= b.sizeBytes;
        this.metrics?.sizeRetentions.inc();
      }
    }
    if (doomed.size === 0) return;
    this.blocks = this.blocks.filter((b) => !doomed.has(b));
    for (const b of doomed) {
      this.deleteBlock(b);
      this.logger.info({ block: b.ulid, minTime: b.minTime, maxTime: b.maxTime, bytes: b.sizeBytes }, 'block deleted by retention');
    }
  }

  // ------------------------------------------------------------------ deletion

  /**
   * Deletes the samples of series matching all matchers in [start, end] (inclusive, ms): in
   * the head at once (logged in the WAL), in blocks as tombstones until cleanTombstones().
   */
  deleteSeries(matchers: readonly Matcher[], start: number, end: number): Promise<void> {
    if (this.closed) return Promise.reject(ERR_CLOSED);
    return this.maintenance.run(async () => {
      const head = this.head;
      const slots = head.postingsForMatchers(matchers);
      const refs: number[] = [];
      const hit: number[] = [];
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i]!;
        if (head.hasSamplesIn(s, start, end)) {
          refs.push(head.refOf(s));
          hit.push(s);
        }
      }
      if (hit.length > 0) {
        this.wal!.logDelete(refs, start, end);
        this.wal!.flush();
        if (this.wal!.lastError) throw this.wal!.lastError;
        for (const s of hit) head.deleteSlotRange(s, start, end);
      }
      for (const b of this.blocks) {
        if (b.maxTime <= start || b.minTime > end) continue;
        const ps = b.postingsForMatchers(matchers);
        if (ps.length > 0) b.addTombstones(this.files, ps, start, end);
      }
      this.logger.info({ matchers: matchers.map(String), start, end, headSeries: hit.length }, 'series deleted');
    });
  }

  /** Rewrites blocks that have tombstones without the deleted data. */
  cleanTombstones(): Promise<void> {
    if (this.closed) return Promise.reject(ERR_CLOSED);
    return this.maintenance.run(async () => {
      for (const b of this.blocks.filter((x) => x.hasTombstones)) await this.mergeBlocks([b]);
    });
  }

  // ------------------------------------------------------------------ close

  async close(): Promise<void> {
    if (this.closed) return;
    const t0 = performance.now();
    if (this.timer) clearInterval(this.timer);
    await this.maintenance.run(async () => {
      this.closed = true;
      const wal = this.wal;
      if (wal) {
        wal.flushSyncAll();
        if (this.checkpointOnClose && wal.currentSegmentBytes() > 0) {
          try {
            await this.checkpoint();
          } catch (e) {
            this.logger.error({ err: (e as Error).message }, 'checkpoint on close failed; the WAL will be replayed');
          }
        }
        wal.close();
        await wal.drain();
      }
    });
    for (const b of this.blocks) b.close();
    this.metrics?.unregister();
    this.unlock();
    this.logger.info({ durationMs: Math.round(performance.now() - t0) }, 'TSDB closed');
  }

  // ------------------------------------------------------------------ introspection

  private registerMetrics(registry: Registry): void {
    const head = this.head;
    this.metrics = registerTsdbMetrics(registry, {
      headSeries: () => head.numSeries,
      headChunks: () => head.stats().chunkCount,
      headMinTime: () => (head.minT === Infinity ? 0 : head.minT),
      headMaxTime: () => (head.maxT === -Infinity ? 0 : head.maxT),
      samplesAppended: () => head.samplesAppended,
      outOfOrder: () => head.outOfOrder,
      outOfBounds: () => head.outOfBounds,
      duplicates: () => head.duplicates,
      seriesCreated: () => head.seriesCreated,
      seriesRemoved: () => head.seriesRemoved,
      blocksLoaded: () => this.blocks.length,
      blocksBytes: () => this.blocks.reduce((s, b) => s + b.sizeBytes, 0),
      walBytes: () => dirBytes(this.walDir),
      walWriteFailures: () => this.wal?.counters.writeFailures ?? 0,
      walCorruptions: () => this.walCorruptions,
      walSegment: () => this.wal?.segment ?? 0,
      corruptedBlocks: () => this.corrupted.length,
      headMemoryBytes: () => head.memoryBytes(),
      symbolTableSize: () => head.symIds.size,
      retentionLimitBytes: () => this.retentionSize,
      lowestTimestamp: () => this.startTime(),
      chunkCache: () => configureChunkCache(),
    });
    this.metrics.walReplay.set(this.replayInfo.durationMs / 1000);
    this.wal!.onFsync = (s) => this.metrics?.walFsync.observe(s);
  }

  /** Head statistics and top cardinalities as Prometheus' /api/v1/status/tsdb returns them. */
  status(limit = 10): TsdbStatus {
    const head = this.head;
    const st = head.stats();
    const counts = head.postingCounts();
    const top = (xs: TsdbStat[]) => xs.sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : 1)).slice(0, limit);
    const byMetric: TsdbStat[] = [];
    const valueCount: TsdbStat[] = [];
    const memory: TsdbStat[] = [];
    const pairs: TsdbStat[] = [];
    for (const [name, values] of counts) {
      valueCount.push({ name, value: values.size });
      let bytes = 0;
      for (const [v, n] of values) {
        if (name === '__name__') byMetric.push({ name: v, value: n });
        pairs.push({ name: `${name}=${v}`, value: n });
        bytes += Buffer.byteLength(v) * n;
      }
      memory.push({ name, value: bytes });
    }
    return {
      headStats: { numSeries: st.numSeries, numLabelPairs: st.numLabelPairs, chunkCount: st.chunkCount, minTime: st.minTime, maxTime: st.maxTime },
      seriesCountByMetricName: top(byMetric),
      labelValueCountByLabelName: top(valueCount),
      memoryInBytesByLabelName: top(memory),
      seriesCountByLabelValuePair: top(pairs),
    };
  }

  /** Health checks for /health/detailed: tsdb:wal, tsdb:blocks, tsdb:compaction, tsdb:head. */
  healthChecks(): HealthCheck[] {
    const time = () => new Date(this.clock.now()).toISOString();
    return [
      {
        name: 'tsdb:wal',
        run: (): HealthResult => {
          const err = this.wal?.lastError;
          if (this.closed) return { componentType: 'datastore', status: 'fail', output: 'storage is closed', time: time() };
          return err
            ? { componentType: 'datastore', status: 'fail', output: `${err.message}; appends are failing until the write succeeds`, time: time() }
            : { componentType: 'datastore', status: 'pass', observedValue: this.wal?.segment ?? 0, observedUnit: 'segment', time: time() };
        },
      },
      {
        name: 'tsdb:blocks',
        run: (): HealthResult => {
          if (this.corrupted.length === 0) return { componentType: 'datastore', status: 'pass', observedValue: this.blocks.length, observedUnit: 'blocks', time: time() };
          const list = this.corrupted.map((c) => `${c.ulid}: ${c.reason}${c.movedTo ? ` (moved to ${c.movedTo})` : ''}`).join('; ');
          return { componentType: 'datastore', status: 'warn', observedValue: this.corrupted.length, observedUnit: 'corrupted blocks', output: `corrupted blocks: ${list}`, time: time() };
        },
      },
      {
        name: 'tsdb:compaction',
        run: (): HealthResult => {
          const e = this.lastMaintenanceError;
          return e
            ? { componentType: 'datastore', status: 'warn', output: `last compaction failed at ${new Date(e.time).toISOString()}: ${e.message}`, time: time() }
            : { componentType: 'datastore', status: 'pass', time: time() };
        },
      },
      {
        name: 'tsdb:head',
        run: (): HealthResult => ({ componentType: 'datastore', status: 'pass', observedValue: this.head.numSeries, observedUnit: 'series', time: time() }),
      },
    ];
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Opens the embedded store (see TsdbOptions). */
export function openTsdb(opts: TsdbOptions): Promise<Tsdb> {
  return Tsdb.open(opts);
}

