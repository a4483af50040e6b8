/**
 * Test helpers for the rules module (used by its tests only): a group built from YAML over an
 * in-memory store with the real PromQL engine, a virtual-time scheduler, series readers.
 */
import pino, { type Logger } from 'pino';
import { Labels, isStaleNaN, type PostableAlert } from '../model/index.ts';
import { MemoryStorage, type Queryable } from '../storage/index.ts';
import { Engine } from '../promql/index.ts';
import { Group, type Scheduler } from './group.ts';
import { engineQueryFunc } from './query.ts';
import { parseRuleFile } from './rulefile.ts';
import type { Alert, QueryFunc } from './types.ts';

export const silentLogger: Logger = pino({ level: 'silent' });

/** A logger that keeps its records (level ≥ warn by default) for assertions. */
export function capturingLogger(level = 'warn'): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (s: string) => records.push(JSON.parse(s)) });
  return { logger, records };
}

export function queryFor(storage: Queryable): QueryFunc {
  return engineQueryFunc(new Engine(), storage);
}

/** Appends `values[i]` of `labels` at `start + i·step` (undefined: no sample). */
export async function load(storage: MemoryStorage, series: Record<string, string>, values: ReadonlyArray<number | undefined>, step = 60_000, start = 0): Promise<void> {
  const app = storage.appender();
  const l = Labels.fromRecord(series);
  const vs = new Float64Array(1);
  values.forEach((v, i) => {
    if (v === undefined) return;
    vs[0] = v;
    app.append(0, l, start + i * step, vs[0]!);
  });
  await app.commit();
}

/** Every series of the store with its (t, v) points; stale markers as the string 'stale'. */
export async function dump(storage: Queryable, name?: string): Promise<Map<string, Array<[number, number | 'stale']>>> {
  const q = storage.querier(-Infinity, Infinity);
  const set = await q.select([]);
  const out = new Map<string, Array<[number, number | 'stale']>>();
  for (const s of set.series) {
    if (name && s.labels.metricName() !== name) continue;
    const it = s.iterator();
    const pts: Array<[number, number | 'stale']> = [];
    while (it.next()) pts.push([it.atT(), isStaleNaN(it.at()) ? 'stale' : it.at()]);
    out.set(s.labels.toString(), pts);
  }
  q.close();
  return out;
}

export interface Harness {
  storage: MemoryStorage;
  group: Group;
  /** Every notification: the rule's query and the alerts sent. */
  sent: Array<{ expr: string; alerts: Alert[] }>;
  logger: Logger;
}

/** A group from a one-group rule file text, evaluated by hand with `group.eval(ts)`. */
export function groupFromYaml(yaml: string, opts: {
  storage?: MemoryStorage; query?: QueryFunc; logger?: Logger; restored?: boolean; externalURL?: string; externalLabels?: Labels;
  resendDelayMs?: number; scheduler?: Scheduler; forGracePeriodMs?: number; outageToleranceMs?: number; intervalMs?: number; file?: string;
} = {}): Harness {
  const parsed = parseRuleFile(yaml, opts.file ?? 'test.yml');
  if (parsed.problems.length) throw new Error(parsed.problems.map((p) => p.text).join('\n'));
  const storage = opts.storage ?? new MemoryStorage();
  const sent: Harness['sent'] = [];
  const logger = opts.logger ?? silentLogger;
  const group = new Group(parsed.groups[0]!, opts.intervalMs ?? 60_000, {
    query: opts.query ?? queryFor(storage),
    appendable: storage,
    queryable: storage,
    notify: (expr, alerts) => sent.push({ expr, alerts: [...alerts] }),
    logger,
    scheduler: opts.scheduler ?? { now: () => 0, sleep: async () => {} },
    externalURL: opts.externalURL ?? 'http://vigil.test:9090',
    externalLabels: opts.externalLabels ?? Labels.EMPTY,
    outageToleranceMs: opts.outageToleranceMs ?? 3_600_000,
    forGracePeriodMs: opts.forGracePeriodMs ?? 600_000,
    resendDelayMs: opts.resendDelayMs ?? 60_000,
  }, { restored: opts.restored ?? true });
  return { storage, group, sent, logger };
}

/**
 * Virtual time: `sleep` resolves when `advance` moves the clock past its deadline. Evaluation
 * work can move the clock too (`clock.t += ...` inside a query function).
 */
export class VirtualScheduler implements Scheduler {
  t: number;
  private sleepers: Array<{ at: number; resolve: () => void }> = [];

  constructor(start: number) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((x) => x !== s);
        resolve();
      };
      const s = { at: this.t + Math.max(0, ms), resolve: () => { signal.removeEventListener('abort', onAbort); resolve(); } };
      this.sleepers.push(s);
      signal.addEventListener('abort', onAbort);
    });
  }

  /** Moves time forward by `ms`, waking sleepers in deadline order and letting them run. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      this.sleepers.sort((a, b) => a.at - b.at);
      const next = this.sleepers[0];
      if (!next || next.at > end) break;
      this.sleepers.shift();
      if (next.at > this.t) this.t = next.at;
      next.resolve();
    }
    this.t = end;
    await flush();
  }
}

/** Lets pending promise callbacks and I/O-free async work run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/** Alert names and states, for compact assertions. */
export function states(alerts: readonly Alert[]): string[] {
  return alerts.map((a) => `${a.labels.toString()}=${a.state}`).sort();
}

export function postable(alerts: readonly PostableAlert[]): string[] {
  return alerts.map((a) => `${a.labels.get('alertname')} ${a.labels.toString()} ${a.startsAt}..${a.endsAt}`);
}
