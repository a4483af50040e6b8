/**
 * Head selects of many series: results sorted by labels while series are created, removed and
 * their slots reused between selects (the kept label order is merged and filtered).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Labels, Matcher, compareLabels } from '../model/index.ts';
import { readSeriesRange } from '../storage/index.ts';
import { Head } from './head.ts';

const HOUR = 3600_000;

describe('head select order', () => {
  it('returns series sorted by labels across creations, truncations and slot reuse', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 150, maxLength: 600 }),
        fc.array(fc.record({ add: fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 30 }), truncate: fc.boolean(), job: fc.constantFrom('a', 'b') }), { minLength: 1, maxLength: 8 }),
        (first, later) => {
          // A large first round, then small ones: later selects merge new series into the kept order.
          const rounds = [{ add: first, truncate: false, job: 'a' }, ...later];
          const head = new Head({ chunkRange: 2 * HOUR });
          let t = 0;
          const live = new Map<string, Labels>();
          for (let round = 0; round < rounds.length; round++) {
            const r = rounds[round]!;
            t += HOUR;
            // Most existing series get a sample too; a third (by id) do not and go at a truncation.
            for (const [key, l] of live) {
              if (Number(l.get('id')) % 3 === round % 3) live.delete(key);
              else head.appendSample(head.getOrCreate(l), t, 1);
            }
            for (const x of r.add) {
              const l = Labels.fromRecord({ __name__: `m${x % 7}`, job: r.job, id: String(x) });
              head.appendSample(head.getOrCreate(l), t, x);
              live.set(l.toString(), l);
            }
            // Series without a sample in this round go (their slots are reused by later rounds).
            if (r.truncate) head.truncate(t);
            for (const ms of [[], [new Matcher('=', 'job', r.job)], [new Matcher('=~', '__name__', 'm[0-5]')]]) {
              const e = head.beginRead();
              const got = head.select(ms, -Infinity, Infinity).map((s) => s.labels);
              head.endRead(e);
              const want = got.slice().sort(compareLabels);
              assert.deepEqual(got.map(String), want.map(String));
              assert.equal(new Set(got.map(String)).size, got.length, 'no duplicates');
              if (ms.length === 0) assert.equal(got.length, head.numSeries);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('chunks sealed as XOR during replay (deferSealEncoding)', () => {
  /** Every sample of every series, read by iterator and by readRange. */
  const readAll = (head: Head): string => {
    const e = head.beginRead();
    const out: string[] = [];
    for (const s of head.select([], -Infinity, Infinity)) {
      const it = s.iterator();
      const viaIt: string[] = [];
      while (it.next() !== 0) viaIt.push(`${it.atT()}=${Object.is(it.at(), -0) ? '-0' : it.at()}`);
      const buf = { ts: new Float64Array(4), vs: new Float64Array(4), n: 0 };
      const err = readSeriesRange(s, -Infinity, Infinity, buf);
      assert.equal(err, null);
      const viaRange: string[] = [];
      for (let i = 0; i < buf.n; i++) viaRange.push(`${buf.ts[i]}=${Object.is(buf.vs[i], -0) ? '-0' : buf.vs[i]}`);
      assert.deepEqual(viaRange, viaIt, `${s.labels}: readRange and the iterator agree`);
      out.push(`${s.labels} ${viaIt.join(' ')}`);
    }
    head.endRead(e);
    return out.join('\n');
  };

  it('reads the same samples as chunks sealed with the block codec, before and after re-encoding, across deletions and truncation', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.oneof(fc.double({ noNaN: true }), fc.integer({ min: -5, max: 5 }).map((x) => x * 1000.5), fc.constant(0)), { minLength: 1, maxLength: 400, size: 'max' }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.option(fc.record({ series: fc.nat(), from: fc.nat({ max: 400 }), len: fc.nat({ max: 150 }) }), { nil: undefined }),
        (series, step, del) => {
          const plain = new Head({ chunkRange: 2 * HOUR });
          const deferred = new Head({ chunkRange: 2 * HOUR });
          deferred.deferSealEncoding = true;
          for (const h of [plain, deferred]) {
            series.forEach((vals, i) => {
              const slot = h.getOrCreate(Labels.fromRecord({ __name__: 'm', i: String(i) }));
              vals.forEach((v, k) => h.appendSample(slot, 1_000_000 + k * step + (k % 3), v));
            });
          }
          deferred.deferSealEncoding = false;
          const full = series.reduce((a, vals) => a + Math.floor(vals.length / 120), 0);
          assert.ok(deferred.deferredSealCount >= full, `${deferred.deferredSealCount} XOR-sealed chunks, at least ${full} full ones`);
          const want = readAll(plain);
          assert.equal(readAll(deferred), want, 'XOR-sealed chunks read back the same');
          if (del) {
            const i = del.series % series.length;
            for (const h of [plain, deferred]) {
              const slot = h.getOrCreate(Labels.fromRecord({ __name__: 'm', i: String(i) }));
              h.deleteSlotRange(slot, 1_000_000 + del.from * step, 1_000_000 + (del.from + del.len) * step);
            }
          }
          const afterDelete = readAll(plain);
          assert.equal(readAll(deferred), afterDelete, 'after a deletion');
          // A reader open during re-encoding keeps what it captured.
          const e = deferred.beginRead();
          const captured = deferred.select([], -Infinity, Infinity);
          assert.equal(deferred.encodeDeferredChunks(), 0);
          assert.equal(deferred.deferredSealCount, 0);
          const fromCaptured = captured.map((s) => {
            const it = s.iterator();
            const xs: string[] = [];
            while (it.next() !== 0) xs.push(`${it.atT()}=${Object.is(it.at(), -0) ? '-0' : it.at()}`);
            return `${s.labels} ${xs.join(' ')}`;
          });
          deferred.endRead(e);
          assert.equal(fromCaptured.join('\n'), afterDelete, 'a reader that captured XOR chunks before re-encoding');
          assert.equal(readAll(deferred), afterDelete, 'after re-encoding');
          for (const h of [plain, deferred]) h.truncate(1_000_000 + 150 * step);
          assert.equal(readAll(deferred), readAll(plain), 'after truncation');
        },
      ),
      { numRuns: 80 },
    );
  });

  it('re-encodes in slices: a zero budget still makes progress, chunks released meanwhile are skipped', () => {
    const head = new Head({ chunkRange: 2 * HOUR });
    head.deferSealEncoding = true;
    for (let i = 0; i < 300; i++) {
      const slot = head.getOrCreate(Labels.fromRecord({ __name__: 'm', i: String(i) }));
      for (let k = 0; k < 250; k++) head.appendSample(slot, k * 15_000, k * 1.5);
    }
    head.deferSealEncoding = false;
    const total = head.deferredSealCount;
    assert.equal(total, 600, 'two full chunks per series');
    const left = head.encodeDeferredChunks(0);
    assert.ok(left < total && left > 0, `one slice re-encodes some, not all (${left} left)`);
    head.truncate(130 * 15_000);
    assert.equal(head.encodeDeferredChunks(), 0);
    const e = head.beginRead();
    const s = head.select([new Matcher('=', 'i', '7')], -Infinity, Infinity)[0]!;
    const it = s.iterator();
    let n = 0;
    while (it.next() !== 0) {
      assert.equal(it.at(), (it.atT() / 15_000) * 1.5);
      n++;
    }
    head.endRead(e);
    assert.equal(n, 130, 'the second chunk (120 samples) and the open one (10)');
  });
});
