/**
 * Head selects of many series: results sorted by labels while series are created, removed and
 * their slots reused between selects (the kept label order is merged and filtered).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Labels, Matcher, compareLabels } from '../model/index.ts';
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
