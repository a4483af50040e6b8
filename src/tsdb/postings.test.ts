/** Postings set operations against a plain-set reference (fast-check). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { intersect, subtract, unionMany } from './postings.ts';

const listArb = fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { maxLength: 400 }).map((xs) => Int32Array.from(xs.sort((a, b) => a - b)));

describe('postings', () => {
  it('unionMany, intersect and subtract agree with sets, leave inputs unchanged and return sorted lists', () => {
    fc.assert(
      fc.property(fc.array(listArb, { maxLength: 9 }), (lists) => {
        const copies = lists.map((l) => l.slice());
        const want = [...new Set(lists.flatMap((l) => [...l]))].sort((a, b) => a - b);
        assert.deepEqual([...unionMany(lists)], want);
        if (lists.length >= 2) {
          const [a, b] = [lists[0]!, lists[1]!];
          const sb = new Set(b);
          assert.deepEqual([...intersect(a, b)], [...a].filter((x) => sb.has(x)));
          assert.deepEqual([...subtract(a, b)], [...a].filter((x) => !sb.has(x)));
        }
        lists.forEach((l, i) => assert.deepEqual(l, copies[i]));
      }),
      { numRuns: 300 },
    );
  });
});
