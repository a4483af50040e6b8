/** Helpers shared by the store's tests. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Matcher } from '../model/index.ts';
import { collectSamples, type Queryable } from '../storage/index.ts';

export function tempDir(prefix = 'vigil-tsdb-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface ReadSeries {
  labels: string;
  ts: number[];
  vs: Float64Array;
}

/** All series matching `__name__=name` (or all matchers given) with their samples. */
export async function read(q: Queryable, matchers: Matcher[] | string, mint = -1e15, maxt = 1e15): Promise<ReadSeries[]> {
  const ms = typeof matchers === 'string' ? [new Matcher('=', '__name__', matchers)] : matchers;
  const querier = q.querier(mint, maxt);
  try {
    const set = await querier.select(ms);
    return set.series.map((s) => ({ labels: s.labels.toString(), ...collectSamples(s.iterator()) }));
  } finally {
    querier.close();
  }
}

/** Text of a registry's exposition, as a map from sample name (with labels) to value. */
export async function metricValues(registry: { metrics(): Promise<string> }): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
