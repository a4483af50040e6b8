/**
 * The storage contract suite: one set of behavioural tests run against every implementation
 * (the in-memory store, the TSDB head, a persisted block, the merged view of head and blocks,
 * remote sources). An implementation provides a harness:
 *
 *   - `appendable` receives the writes;
 *   - `seal()` is called after writing and before reading: an implementation that serves reads
 *     from somewhere else (a block cut from the head, a store reopened after a restart) moves
 *     the data there; others do nothing;
 *   - `queryable` serves the reads (after `seal()`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Labels, Matcher, STALE_NAN, compareLabels, isStaleNaN, floatBits } from '../model/index.ts';
import type { Appendable, Queryable } from './interfaces.ts';
import { ValueType } from './interfaces.ts';
import { StorageError } from './errors.ts';
import { collectSamples, readSeriesRange } from './series.ts';

/** A series as read back by `readSeries`: its labels as text and all its samples. */
export interface ReadSeries {
  labels: string;
  ts: number[];
  vs: Float64Array;
}

/** All series matching `__name__=name` (or the matchers given) in [mint, maxt], with their samples. */
export async function readSeries(q: Queryable, matchers: Matcher[] | string, mint = -1e15, maxt = 1e15): Promise<ReadSeries[]> {
  const ms = typeof matchers === 'string' ? [new Matcher('=', '__name__', matchers)] : matchers;
  const querier = q.querier(mint, maxt);
  try {
    const set = await querier.select(ms);
    return set.series.map((s) => ({ labels: s.labels.toString(), ...collectSamples(s.iterator()) }));
  } finally {
    querier.close();
  }
}

export interface ContractHarness {
  appendable: Appendable;
  queryable(): Queryable;
  seal(): Promise<void>;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** The implementation rejects out-of-order and duplicate samples itself (false for blocks built elsewhere). */
  validatesOrder?: boolean;
}

const L = (rec: Record<string, string>) => Labels.fromRecord(rec);

export function describeStorageContract(name: string, open: () => Promise<ContractHarness>, opts: ContractOptions = {}): void {
  const validates = opts.validatesOrder ?? true;

  describe(`storage contract: ${name}`, () => {
    async function withHarness(fn: (h: ContractHarness) => Promise<void>): Promise<void> {
      const h = await open();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    }

    it('reads back committed samples, series sorted by labels', () =>
      withHarness(async (h) => {
        const app = h.appendable.appender();
        for (let i = 0; i < 300; i++) {
          app.append(0, L({ __name__: 'm', job: 'b' }), 1000 + i * 15_000, i);
          app.append(0, L({ __name__: 'm', job: 'a' }), 1000 + i * 15_000, -i * 0.5);
        }
        await app.commit();
        await h.seal();
        const got = await readSeries(h.queryable(), [new Matcher('=', '__name__', 'm')]);
        assert.deepEqual(got.map((s) => s.labels), ['{__name__="m", job="a"}', '{__name__="m", job="b"}']);
        assert.equal(got[1]!.ts.length, 300);
        assert.equal(got[1]!.ts[299], 1000 + 299 * 15_000);
        assert.equal(got[1]!.vs[299], 299);
        assert.equal(got[0]!.vs[10], -5);
      }));

    it('a returned ref appends to the same series', () =>
      withHarness(async (h) => {
        const lbls = L({ __name__: 'r', x: '1' });
        const app = h.appendable.appender();
        let ref = app.append(0, lbls, 10, 1);
        ref = app.append(ref, lbls, 20, 2);
        await app.commit();
        const app2 = h.appendable.appender();
        app2.append(ref, lbls, 30, 3);
        await app2.commit();
        await h.seal();
        const got = await readSeries(h.queryable(), [new Matcher('=', '__name__', 'r')]);
        assert.equal(got.length, 1);
        assert.deepEqual(got[0]!.ts, [10, 20, 30]);
      }));

    it('keeps special float values bit for bit: stale marker, NaN, ±Inf, -0', () =>
      withHarness(async (h) => {
        // Filled element by element: a plain array of doubles (even an array literal passed to
        // the Float64Array constructor) quiets the stale marker, which is a signalling NaN.
        const values = new Float64Array(9);
        values[0] = STALE_NAN;
        [NaN, Infinity, -Infinity, -0, 0, Number.MIN_VALUE, Number.MAX_VALUE, 1e-300].forEach((v, i) => (values[i + 1] = v));
        const app = h.appendable.appender();
        values.forEach((v, i) => app.append(0, L({ __name__: 'special' }), i * 1000, v));
        await app.commit();
        await h.seal();
        const [s] = await readSeries(h.queryable(), [new Matcher('=', '__name__', 'special')]);
        assert.ok(s);
        assert.ok(isStaleNaN(s.vs[0]!), 'stale marker kept');
        assert.ok(Number.isNaN(s.vs[1]!) && !isStaleNaN(s.vs[1]!), 'plain NaN stays a plain NaN');
        for (let i = 2; i < values.length; i++) assert.deepEqual(floatBits(s.vs[i]!), floatBits(values[i]!), `value ${i}`);
      }));

    it('matchers: =, !=, =~, !~, empty value matches absent label, __name__=~".+"', () =>
      withHarness(async (h) => {
        const app = h.appendable.appender();
        app.append(0, L({ __name__: 'a', env: 'prod', code: '200' }), 1, 1);
        app.append(0, L({ __name__: 'a', env: 'dev', code: '500' }), 1, 1);
        app.append(0, L({ __name__: 'a', code: '404' }), 1, 1);
        app.append(0, L({ __name__: 'b', env: 'prod' }), 1, 1);
        await app.commit();
        await h.seal();
        const q = h.queryable();
        const names = async (...ms: Matcher[]) => (await readSeries(q, ms)).map((s) => s.labels);
        assert.equal((await names(new Matcher('=~', '__name__', '.+'))).length, 4);
        assert.deepEqual(await names(new Matcher('=', '__name__', 'a'), new Matcher('=', 'env', '')), ['{__name__="a", code="404"}']);
        assert.deepEqual(await names(new Matcher('=', '__name__', 'a'), new Matcher('!=', 'env', 'prod')), ['{__name__="a", code="404"}', '{__name__="a", code="500", env="dev"}']);
        assert.deepEqual(await names(new Matcher('=~', 'code', '5..|4..')), ['{__name__="a", code="404"}', '{__name__="a", code="500", env="dev"}']);
        assert.deepEqual(await names(new Matcher('=~', '__name__', 'a'), new Matcher('!~', 'code', '2.*')), ['{__name__="a", code="404"}', '{__name__="a", code="500", env="dev"}']);
        assert.deepEqual(await names(new Matcher('=~', 'env', 'pro')), []);
        assert.deepEqual(await names(new Matcher('=~', 'env', '(?i)PROD'), new Matcher('=', '__name__', 'b')), ['{__name__="b", env="prod"}']);
        assert.deepEqual(await names(new Matcher('=', 'nope', 'x')), []);
      }));

    it('respects the querier time range and seek()', () =>
      withHarness(async (h) => {
        const app = h.appendable.appender();
        for (let t = 0; t <= 100_000; t += 10_000) app.append(0, L({ __name__: 't' }), t, t / 1000);
        await app.commit();
        await h.seal();
        const [s] = await readSeries(h.queryable(), [new Matcher('=', '__name__', 't')], 25_000, 60_000);
        assert.deepEqual(s!.ts, [30_000, 40_000, 50_000, 60_000]);
        const querier = h.queryable().querier(-Infinity, Infinity);
        const set = await querier.select([new Matcher('=', '__name__', 't')]);
        const it = set.series[0]!.iterator();
        assert.equal(it.seek(35_000), ValueType.Float);
        assert.equal(it.atT(), 40_000);
        assert.equal(it.seek(20_000), ValueType.Float, 'seek never moves backwards');
        assert.equal(it.atT(), 40_000);
        assert.equal(it.next(), ValueType.Float);
        assert.equal(it.atT(), 50_000);
        assert.equal(it.seek(100_001), ValueType.None);
        querier.close();
      }));

    it('label names and values, filtered by matchers', () =>
      withHarness(async (h) => {
        const app = h.appendable.appender();
        app.append(0, L({ __name__: 'x', a: '1', b: '2' }), 5, 1);
        app.append(0, L({ __name__: 'y', a: '3', c: '4' }), 5, 1);
        await app.commit();
        await h.seal();
        const q = h.queryable().querier(-Infinity, Infinity);
        assert.deepEqual(await q.labelNames(), ['__name__', 'a', 'b', 'c']);
        assert.deepEqual(await q.labelNames([new Matcher('=', '__name__', 'y')]), ['__name__', 'a', 'c']);
        assert.deepEqual(await q.labelValues('a'), ['1', '3']);
        assert.deepEqual(await q.labelValues('a', [new Matcher('=', 'b', '2')]), ['1']);
        assert.deepEqual(await q.labelValues('zzz'), []);
        q.close();
      }));

    it('long series: irregular gaps, a range in the middle, seek across many samples', () =>
      withHarness(async (h) => {
        // ~2,000 samples with irregular gaps: implementations that store chunks cross many of them.
        const ts: number[] = [];
        const vs = new Float64Array(2000);
        let t = 1_000_000;
        for (let i = 0; i < 2000; i++) {
          t += 1000 + ((i * 7919) % 13) * 37 + (i % 97 === 0 ? 600_000 : 0);
          ts.push(t);
          vs[i] = i % 3 === 0 ? i : Math.round(Math.sin(i) * 1e6) / 1000;
        }
        const app = h.appendable.appender();
        const lbls = L({ __name__: 'long', k: 'v' });
        let ref = 0;
        for (let i = 0; i < ts.length; i++) ref = app.append(ref, lbls, ts[i]!, vs[i]!);
        await app.commit();
        await h.seal();
        const [all] = await readSeries(h.queryable(), [new Matcher('=', '__name__', 'long')]);
        assert.deepEqual(all!.ts, ts);
        for (let i = 0; i < vs.length; i++) assert.equal(all!.vs[i], vs[i], `value ${i}`);
        const lo = ts[500]!;
        const hi = ts[1500]!;
        const [mid] = await readSeries(h.queryable(), [new Matcher('=', '__name__', 'long')], lo, hi);
        assert.deepEqual(mid!.ts, ts.slice(500, 1501));
        const q = h.queryable().querier(-Infinity, Infinity);
        const set = await q.select([new Matcher('=', 'k', 'v')]);
        const it = set.series[0]!.iterator();
        for (const target of [ts[10]! - 1, ts[10]!, ts[700]! + 1, ts[1999]!]) {
          assert.equal(it.seek(target), ValueType.Float);
          const j = ts.findIndex((x) => x >= target);
          assert.equal(it.atT(), ts[j], `seek(${target})`);
          assert.equal(it.at(), vs[j]);
        }
        assert.equal(it.next(), ValueType.None, 'after the last sample');
        assert.equal(it.seek(ts[1999]! + 1), ValueType.None);
        q.close();
      }));

    it('bulk reads (readSeriesRange) give exactly the iterator\'s samples for any range', () =>
      withHarness(async (h) => {
        // Shapes that stores encode differently: regular counters, decimal gauges, arbitrary
        // floats, constants with stale markers, irregular timestamps.
        const shapes: Array<(i: number) => number> = [
          (i) => i * 7,
          (i) => Math.round(Math.sin(i / 9) * 1e5) / 1000,
          (i) => Math.sin(i) * 1e-3 + i,
          (i) => (i % 50 === 49 ? STALE_NAN : 42),
          (i) => (i % 7 === 0 ? NaN : -i / 8),
        ];
        const app = h.appendable.appender();
        const all: number[][] = [];
        for (let s = 0; s < shapes.length; s++) {
          const lbls = L({ __name__: 'bulk', shape: String(s) });
          const ts: number[] = [];
          let t = 5_000_000;
          let ref = 0;
          for (let i = 0; i < 700; i++) {
            t += s === 4 ? 1000 + ((i * 7919) % 29) * 13 + (i % 211 === 0 ? 900_000 : 0) : 15_000;
            ts.push(t);
            ref = app.append(ref, lbls, t, shapes[s]!(i));
          }
          all.push(ts);
        }
        await app.commit();
        await h.seal();
        const q = h.queryable().querier(-Infinity, Infinity);
        try {
          const set = await q.select([new Matcher('=', '__name__', 'bulk')]);
          assert.equal(set.series.length, shapes.length);
          for (const series of set.series) {
            const ts = all[Number(series.labels.get('shape'))]!;
            const ranges: Array<[number, number]> = [[-Infinity, Infinity], [0, ts[0]! - 1], [ts[699]! + 1, Infinity]];
            for (const [a, b] of [[0, 0], [0, 699], [1, 698], [119, 121], [120, 240], [300, 300], [479, 481], [650, 699], [10, 600]]) {
              ranges.push([ts[a!]!, ts[b!]!], [ts[a!]! - 1, ts[b!]! + 1], [ts[a!]! + 1, ts[b!]! - 1]);
            }
            for (const [mint, maxt] of ranges) {
              const want: { ts: number[]; bits: string[] } = { ts: [], bits: [] };
              const it = series.iterator();
              for (let typ = it.seek(mint); typ !== ValueType.None && it.atT() <= maxt; typ = it.next()) {
                want.ts.push(it.atT());
                want.bits.push(floatBits(it.at()).join(':'));
              }
              assert.equal(it.err(), null);
              const buf = { ts: new Float64Array(3), vs: new Float64Array(3), n: 1 };
              buf.ts[0] = -7;
              assert.equal(readSeriesRange(series, mint, maxt, buf), null);
              const what = `${series.labels.toString()} [${mint}, ${maxt}]`;
              assert.equal(buf.ts[0], -7, `${what}: existing entries kept`);
              assert.deepEqual(Array.from(buf.ts.subarray(1, buf.n)), want.ts, what);
              const bits: string[] = [];
              for (let i = 1; i < buf.n; i++) bits.push(floatBits(buf.vs[i]!).join(':'));
              assert.deepEqual(bits, want.bits, `${what}: value bits`);
              // Appending again continues after what is there.
              const before = buf.n;
              assert.equal(readSeriesRange(series, mint, maxt, buf), null);
              assert.equal(buf.n, before + want.ts.length);
            }
          }
        } finally {
          q.close();
        }
      }));

    it('many series: select sorted by labels, intersections, prefixes and alternations', () =>
      withHarness(async (h) => {
        const app = h.appendable.appender();
        const sets: Labels[] = [];
        for (let i = 0; i < 300; i++) {
          const l = L({ __name__: `metric_${i % 3}`, shard: String(i % 10), id: `x${i}` });
          sets.push(l);
          app.append(0, l, 1000, i);
        }
        await app.commit();
        await h.seal();
        const q = h.queryable();
        const got = await readSeries(q, [new Matcher('=~', '__name__', 'metric_.*')]);
        assert.deepEqual(got.map((s) => s.labels), sets.sort(compareLabels).map((l) => l.toString()));
        const inter = await readSeries(q, [new Matcher('=', '__name__', 'metric_1'), new Matcher('=', 'shard', '4')]);
        assert.equal(inter.length, 10);
        const prefix = await readSeries(q, [new Matcher('=~', 'id', 'x1[0-9]')]);
        assert.deepEqual(prefix.map((s) => /id="(x\d+)"/.exec(s.labels)![1]).sort(), ['x10', 'x11', 'x12', 'x13', 'x14', 'x15', 'x16', 'x17', 'x18', 'x19']);
        const alt = await readSeries(q, [new Matcher('=~', 'id', 'x1|x299|nope'), new Matcher('!=', 'shard', '9')]);
        assert.deepEqual(alt.map((s) => /id="(x\d+)"/.exec(s.labels)![1]), ['x1']);
        const querier = q.querier(-Infinity, Infinity);
        assert.deepEqual(await querier.labelValues('__name__'), ['metric_0', 'metric_1', 'metric_2']);
        assert.equal((await querier.labelValues('id', [new Matcher('=', 'shard', '0')])).length, 30);
        querier.close();
      }));

    if (validates) {
      it('rejects out-of-order samples and keeps the rest of the batch', () =>
        withHarness(async (h) => {
          const lbls = L({ __name__: 'ooo' });
          const app = h.appendable.appender();
          app.append(0, lbls, 100, 1);
          app.append(0, lbls, 200, 2);
          assert.throws(() => app.append(0, lbls, 150, 9), (e: unknown) => e instanceof StorageError && e.code === 'out_of_order_sample');
          app.append(0, lbls, 300, 3);
          await app.commit();
          const app2 = h.appendable.appender();
          assert.throws(() => app2.append(0, lbls, 250, 9), (e: unknown) => e instanceof StorageError && e.code === 'out_of_order_sample');
          await app2.commit();
          await h.seal();
          const [s] = await readSeries(h.queryable(), [new Matcher('=', '__name__', 'ooo')]);
          assert.deepEqual(s!.ts, [100, 200, 300]);
        }));

      it('same timestamp: same value is a no-op, another value is rejected', () =>
        withHarness(async (h) => {
          const lbls = L({ __name__: 'dup' });
          const app = h.appendable.appender();
          app.append(0, lbls, 100, 1);
          await app.commit();
          const app2 = h.appendable.appender();
          app2.append(0, lbls, 100, 1);
          assert.throws(() => app2.append(0, lbls, 100, 2), (e: unknown) => e instanceof StorageError && e.code === 'duplicate_sample_for_timestamp');
          await app2.commit();
          await h.seal();
          const [s] = await readSeries(h.queryable(), [new Matcher('=', '__name__', 'dup')]);
          assert.deepEqual(s!.ts, [100]);
          assert.equal(s!.vs[0], 1);
        }));

      it('rollback discards; an appender is used once', () =>
        withHarness(async (h) => {
          const app = h.appendable.appender();
          app.append(0, L({ __name__: 'rb' }), 1, 1);
          app.rollback();
          assert.throws(() => app.append(0, L({ __name__: 'rb' }), 2, 2), (e: unknown) => e instanceof StorageError && e.code === 'appender_closed');
          const app2 = h.appendable.appender();
          app2.append(0, L({ __name__: 'other' }), 1, 1);
          await app2.commit();
          await assert.rejects(app2.commit(), (e: unknown) => e instanceof StorageError && e.code === 'appender_closed');
          await h.seal();
          assert.deepEqual(await readSeries(h.queryable(), [new Matcher('=', '__name__', 'rb')]), []);
        }));
    }
  });
}
