/**
 * Start-up replay: loads the newest WAL checkpoint (head snapshot) into an empty head, then
 * replays the segments after it in order. Progress and durations are logged.
 *
 * With `repair`, a torn or corrupt record truncates its segment at the last valid record (the
 * rest of that segment cannot be framed; later segments are still replayed), older checkpoints
 * and segments already covered by the checkpoint are removed. Without it nothing is changed on
 * disk (read-only analysis of a directory another process may be using).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { SLOT_SPACE, hashPairs, type Head } from './head.ts';
import { checkpointDirName, loadSnapshot } from './snapshot.ts';
import { listCheckpoints, listSegments, readRecords, segmentName, type ReplayHandler } from './wal.ts';

export interface ReplayResult {
  /** Index of the last segment read (or of the checkpoint when none follows it; 0 when empty). */
  lastSegment: number;
  /** Segment index of the checkpoint loaded (0 = none). */
  checkpoint: number;
  /** WAL refs whose series got another slot. */
  remap: Map<number, number>;
  /** Torn or corrupt records and checkpoints found. */
  corruptions: number;
  info: { durationMs: number; checkpointMs: number; segmentsMs: number; series: number; samples: number; segments: number; walBytes: number };
}

export function replayWal(head: Head, walDir: string, opts: { logger: Logger; repair: boolean }): ReplayResult {
  const log = opts.logger;
  const t0 = performance.now();
  if (opts.repair) fs.mkdirSync(walDir, { recursive: true });
  const remap = new Map<number, number>();
  let corruptions = 0;
  const ckpts = listCheckpoints(walDir);
  let ckpt = 0;
  let ckptMs = 0;
  if (ckpts.length > 0) {
    ckpt = ckpts[ckpts.length - 1]!;
    const dir = path.join(walDir, checkpointDirName(ckpt));
    log.info({ checkpoint: dir }, 'Loading checkpoint');
    try {
      const r = loadSnapshot(dir, head);
      for (const [k, v] of r.remapped) remap.set(k, v);
      ckptMs = performance.now() - t0;
      log.info({ series: r.series, chunks: r.chunks, bytes: r.bytes, durationMs: Math.round(ckptMs) }, 'Checkpoint loaded');
    } catch (e) {
      corruptions++;
      log.error({ checkpoint: dir, err: (e as Error).message }, 'checkpoint is corrupt; replaying the segments after it only');
    }
    if (opts.repair) for (const old of ckpts.slice(0, -1)) fs.rmSync(path.join(walDir, checkpointDirName(old)), { recursive: true, force: true });
  }
  const segments = listSegments(walDir);
  if (opts.repair) for (const s of segments) if (s <= ckpt) fs.rmSync(path.join(walDir, segmentName(s)), { force: true });
  const todo = segments.filter((s) => s > ckpt);
  const saved = { ooo: head.outOfOrder, oob: head.outOfBounds, dup: head.duplicates };
  let unknownRefs = 0;
  const batch = new SampleBatch();
  const handler: ReplayHandler = {
    series: (ref, pairs) => {
      const hash = hashPairs(pairs);
      const existing = head.lookup(pairs, hash);
      if (existing >= 0) {
        if (head.refOf(existing) !== ref) remap.set(ref, existing);
        return;
      }
      const slot = ref % SLOT_SPACE;
      if (slot > 0 && (slot >= head.top || !head.alive[slot])) head.createAt(pairs, slot, (ref - slot) / SLOT_SPACE, hash);
      else remap.set(ref, head.createAt(pairs, head.top, 0, hash));
    },
    samples: (refs, ts, vs, n) => {
      // Refs are resolved now (the series records read so far apply); the samples are applied
      // in batches grouped by series (see SampleBatch).
      const vs32 = new Uint32Array(vs.buffer, vs.byteOffset, n * 2);
      for (let i = 0; i < n; i++) {
        const ref = refs[i]!;
        let s = ref % SLOT_SPACE;
        if (!(s < head.top && head.alive[s] === 1 && head.gen[s] === (ref - s) / SLOT_SPACE)) {
          s = remap.get(ref) ?? -1;
          if (s < 0) {
            unknownRefs++;
            continue;
          }
        }
        if (batch.add(s, ts[i]!, vs32[2 * i]!, vs32[2 * i + 1]!)) batch.apply(head);
      }
    },
    delete: (refs, start, end) => {
      batch.apply(head);
      for (const ref of refs) {
        const direct = head.slotOfRef(ref);
        const s = direct >= 0 ? direct : (remap.get(ref) ?? -1);
        if (s >= 0) head.deleteSlotRange(s, start, end);
      }
    },
  };
  let samples = 0;
  let walBytes = 0;
  let lastLog = performance.now();
  const t1 = performance.now();
  for (let k = 0; k < todo.length; k++) {
    const seg = todo[k]!;
    const p = path.join(walDir, segmentName(seg));
    let data: Buffer;
    try {
      data = fs.readFileSync(p);
    } catch (e) {
      corruptions++;
      log.error({ segment: p, err: (e as Error).message }, 'cannot read WAL segment; skipped');
      continue;
    }
    walBytes += data.length;
    const r = readRecords(data, handler);
    batch.apply(head);
    samples += r.samples;
    if (r.corruption) {
      corruptions++;
      log.warn(
        { segment: p, offset: r.corruption.offset, reason: r.corruption.reason, droppedBytes: data.length - r.validBytes },
        opts.repair ? 'WAL segment has a torn or corrupt tail; truncated at the last valid record' : 'WAL segment has a torn or corrupt tail',
      );
      if (opts.repair) fs.truncateSync(p, r.validBytes);
    }
    const now = performance.now();
    if (now - lastLog > 2000 || k === todo.length - 1) {
      lastLog = now;
      log.info({ segment: seg, maxSegment: todo[todo.length - 1], samples, series: head.numSeries, elapsedMs: Math.round(now - t0) }, 'WAL segment loaded');
    }
  }
  if (unknownRefs > 0) log.warn({ samples: unknownRefs }, 'WAL samples for unknown series were skipped');
  head.outOfOrder = saved.ooo;
  head.outOfBounds = saved.oob;
  head.duplicates = saved.dup;
  head.samplesAppended = 0;
  const segMs = performance.now() - t1;
  const total = performance.now() - t0;
  log.info(
    { checkpointReplayMs: Math.round(ckptMs), walReplayMs: Math.round(segMs), totalReplayMs: Math.round(total), segments: todo.length, samples, series: head.numSeries },
    'WAL replay completed',
  );
  const last = todo.length > 0 ? todo[todo.length - 1]! : Math.max(ckpt, segments.length > 0 ? segments[segments.length - 1]! : 0);
  return {
    lastSegment: last,
    checkpoint: ckpt,
    remap,
    corruptions,
    info: { durationMs: total, checkpointMs: ckptMs, segmentsMs: segMs, series: head.numSeries, samples, segments: todo.length, walBytes },
  };
}

const EMPTY_I32 = new Int32Array(0);
const EMPTY_F64 = new Float64Array(0);
const EMPTY_U32 = new Uint32Array(0);

/** Samples per batch (20 MB of buffers while replaying). */
const BATCH_SAMPLES = 1 << 19;

/**
 * Samples of the WAL collected in record order and applied to the head grouped by series (a
 * stable counting sort by slot): a scrape's record touches every series once, so applying it
 * as read would touch a different series' state and chunk (cache misses) at every sample.
 * Each series still gets its samples in WAL order, so the head ends up exactly as if they were
 * applied one by one.
 */
class SampleBatch {
  // Allocated by the first sample (~20 MB): a start with nothing to replay does not pay for them.
  private slots = EMPTY_I32;
  private ts = EMPTY_F64;
  private vs32 = EMPTY_U32;
  private sortedT = EMPTY_F64;
  private sortedV32 = EMPTY_U32;
  private sortedSlots = EMPTY_I32;
  private counts = new Int32Array(1024);
  private n = 0;

  /** Adds a sample; true when the batch is full (apply it). */
  add(slot: number, t: number, vlo: number, vhi: number): boolean {
    if (this.slots.length === 0) this.allocate();
    const n = this.n;
    this.slots[n] = slot;
    this.ts[n] = t;
    this.vs32[2 * n] = vlo;
    this.vs32[2 * n + 1] = vhi;
    this.n = n + 1;
    return this.n === BATCH_SAMPLES;
  }

  private allocate(): void {
    this.slots = new Int32Array(BATCH_SAMPLES);
    this.ts = new Float64Array(BATCH_SAMPLES);
    this.vs32 = new Uint32Array(BATCH_SAMPLES * 2);
    this.sortedT = new Float64Array(BATCH_SAMPLES);
    this.sortedV32 = new Uint32Array(BATCH_SAMPLES * 2);
    this.sortedSlots = new Int32Array(BATCH_SAMPLES);
  }

  apply(head: Head): void {
    const n = this.n;
    if (n === 0) return;
    this.n = 0;
    const slots = this.slots;
    let top = 0;
    for (let i = 0; i < n; i++) if (slots[i]! > top) top = slots[i]!;
    if (this.counts.length < top + 2) this.counts = new Int32Array(Math.max(top + 2, this.counts.length * 2));
    const counts = this.counts;
    counts.fill(0, 0, top + 2);
    for (let i = 0; i < n; i++) counts[slots[i]! + 1]!++;
    for (let s = 1; s <= top + 1; s++) counts[s]! += counts[s - 1]!;
    const st = this.sortedT;
    const sv = this.sortedV32;
    const ss = this.sortedSlots;
    const ts = this.ts;
    const vs32 = this.vs32;
    for (let i = 0; i < n; i++) {
      const s = slots[i]!;
      const j = counts[s]!++;
      st[j] = ts[i]!;
      sv[2 * j] = vs32[2 * i]!;
      sv[2 * j + 1] = vs32[2 * i + 1]!;
      ss[j] = s;
    }
    for (let j = 0; j < n; j++) head.appendSampleAt(ss[j]!, st, sv, j);
  }
}
