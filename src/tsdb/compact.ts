/**
 * Block compaction: merging persisted blocks into one (level compaction of adjacent ranges,
 * vertical compaction of overlapping blocks, and rewriting a block without its tombstones).
 * Series that appear in one source only, or in time-disjoint sources, are copied chunk by chunk
 * without decoding; overlapping ones are decoded, merged (one sample per timestamp: the one of
 * the block listed first wins) and re-encoded.
 */
import { compareLabels, type Labels } from '../model/index.ts';
import { ValueType, type SampleIterator } from '../storage/index.ts';
import { BlockWriter, type Block, type BlockMeta, type BlockSeries, type EncodedChunk } from './block.ts';
import type { FileOps } from './fsops.ts';

export const yieldLoop = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

/** Reads all samples of a series iterator into growable arrays (compaction). */
export class SampleCollector {
  ts = new Float64Array(1024);
  vs = new Float64Array(1024);
  n = 0;

  reset(): void {
    this.n = 0;
  }

  push(t: number, v: number): void {
    if (this.n === this.ts.length) {
      const gt = new Float64Array(this.n * 2);
      gt.set(this.ts);
      this.ts = gt;
      const gv = new Float64Array(this.n * 2);
      gv.set(this.vs);
      this.vs = gv;
    }
    this.ts[this.n] = t;
    this.vs[this.n] = v;
    this.n++;
  }

  /** Appends the iterator's samples (those after the last collected time only). */
  drain(it: SampleIterator): void {
    while (it.next() !== ValueType.None) {
      const t = it.atT();
      if (this.n > 0 && t <= this.ts[this.n - 1]!) continue;
      this.push(t, it.at());
    }
    const e = it.err();
    if (e) throw e;
  }

  /** Merges the iterator's samples into the collected ones (keeping existing values on ties). */
  mergeFrom(it: SampleIterator): void {
    if (this.n === 0) {
      this.drain(it);
      return;
    }
    const oldT = this.ts.slice(0, this.n);
    const oldV = this.vs.slice(0, this.n);
    const oldN = this.n;
    this.n = 0;
    let i = 0;
    let has = it.next() !== ValueType.None;
    while (i < oldN || has) {
      if (has && (i >= oldN || it.atT() < oldT[i]!)) {
        this.push(it.atT(), it.at());
        has = it.next() !== ValueType.None;
      } else {
        if (has && it.atT() === oldT[i]) has = it.next() !== ValueType.None;
        this.push(oldT[i]!, oldV[i]!);
        i++;
      }
    }
    const e = it.err();
    if (e) throw e;
  }
}


/**
 * Writes the union of `group` (pinned by the caller or not shared) as a new block in `dir` and
 * returns its meta (undefined when the result is empty). Yields to the event loop every 1024
 * series. The sources are left in place: the caller swaps and deletes them.
 */
export async function mergeBlocks(dir: string, group: readonly Block[], files: FileOps): Promise<BlockMeta | undefined> {
  const mint = Math.min(...group.map((b) => b.minTime));
  const maxt = Math.max(...group.map((b) => b.maxTime));
  const pinned = group.filter((b) => b.pin());
  if (pinned.length !== group.length) {
    for (const b of pinned) b.unpin();
    return undefined;
  }
  let writer: BlockWriter | undefined;
  try {
    writer = new BlockWriter(dir, mint, maxt, files);
    // Walk every source in label order, one series at a time.
    const caps = group.map((b) => b.newCapture());
    const next = group.map(() => 0);
    const cur: Array<BlockSeries | undefined> = group.map(() => undefined);
    const advance = (k: number): void => {
      const b = group[k]!;
      cur[k] = undefined;
      while (next[k]! < b.numSeries && cur[k] === undefined) cur[k] = b.seriesAt(next[k]!++, -Infinity, Infinity, caps[k]);
    };
    for (let k = 0; k < group.length; k++) advance(k);
    const col = new SampleCollector();
    let count = 0;
    for (;;) {
      let min: Labels | undefined;
      for (let k = 0; k < group.length; k++) {
        const s = cur[k];
        if (s && (min === undefined || compareLabels(s.labels, min) < 0)) min = s.labels;
      }
      if (min === undefined) break;
      const parts: BlockSeries[] = [];
      for (let k = 0; k < group.length; k++) {
        const s = cur[k];
        if (s && compareLabels(s.labels, min) === 0) {
          parts.push(s);
          advance(k);
        }
      }
      const byTime = parts.slice().sort((a, b) => a.minTime() - b.minTime());
      let disjoint = true;
      for (let i = 1; i < byTime.length; i++) if (byTime[i]!.minTime() <= byTime[i - 1]!.maxTime()) disjoint = false;
      let raw: EncodedChunk[] | undefined;
      if (disjoint) {
        raw = [];
        for (const p of byTime) {
          const r = p.rawChunks();
          if (!r) {
            raw = undefined;
            break;
          }
          raw.push(...r);
        }
      }
      if (raw) writer.addSeriesChunks(min.pairs as string[], raw);
      else {
        col.reset();
        for (const p of parts) col.mergeFrom(p.iterator());
        writer.addSeries(min.pairs as string[], col.ts, col.vs, col.n);
      }
      if ((++count & 1023) === 0) await yieldLoop();
    }
    if (writer.seriesCount === 0) {
      writer.abort();
      return undefined;
    }
    const sources = [...new Set(group.flatMap((b) => b.meta.compaction.sources))].sort();
    const level = Math.max(...group.map((b) => b.meta.compaction.level)) + (group.length > 1 ? 1 : 0);
    return writer.finish({ level, sources, parents: group.map((b) => ({ ulid: b.ulid, minTime: b.minTime, maxTime: b.maxTime })) });
  } catch (e) {
    writer?.abort();
    throw e;
  } finally {
    for (const b of group) b.unpin();
  }
}
