import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Entry, ExpositionParser, type ExpositionFormat } from './index.ts';

/** Parses `text` with next() only; entries as comparable strings (or the error message). */
function plain(text: string, format: ExpositionFormat): string[] {
  const p = new ExpositionParser(format, text);
  const out: string[] = [];
  try {
    for (let e = p.next(); e !== Entry.End; e = p.next()) {
      if (e === Entry.Series) out.push(`S ${p.seriesText()} ${p.value} ${p.hasTimestamp ? p.timestamp : '-'} ${p.labels().toString()}`);
      else out.push(`M ${e}`);
    }
  } catch (err) {
    out.push(`E ${(err as Error).message}`);
  }
  return out;
}

function seriesTexts(text: string, format: ExpositionFormat): string[] {
  const p = new ExpositionParser(format, text);
  const out: string[] = [];
  try {
    for (let e = p.next(); e !== Entry.End; e = p.next()) if (e === Entry.Series) out.push(p.seriesText());
  } catch {
    /* keep what parsed */
  }
  return out;
}

/** The same with nextExpecting(), guessing from `keys` in order (right or wrong). */
function predicted(text: string, format: ExpositionFormat, keys: string[]): { out: string[]; hits: number } {
  const p = new ExpositionParser(format, text);
  const out: string[] = [];
  let k = 0;
  let hits = 0;
  try {
    for (;;) {
      const key = Buffer.from(keys[k % Math.max(1, keys.length)] ?? '');
      const e = key.length > 0 && !key.includes(10) ? p.nextExpecting(key, 0, key.length) : p.next();
      if (e === Entry.End) break;
      if (e === Entry.Series) {
        if (p.matchedKey) hits++;
        out.push(`S ${p.seriesText()} ${p.value} ${p.hasTimestamp ? p.timestamp : '-'} ${p.labels().toString()}`);
        k++;
      } else out.push(`M ${e}`);
    }
  } catch (err) {
    out.push(`E ${(err as Error).message}`);
  }
  return { out, hits };
}

const names = fc.constantFrom('a', 'ab', 'a_b', 'x:y', 'abc');
const labelSets = fc.constantFrom('', '{l="1"}', '{l="1",m="2"}', '{ l = "1" }', '{l="x\\"y"}', '{"q.r"="1"}', ' {l="1"}', '{}');
const values = fc.constantFrom(' 1', ' 1.5', '\t2', ' NaN', ' +Inf', ' 1 123', ' 7 ', '1', ' x', ' 1e3');
const line = fc.tuple(names, labelSets, values).map(([n, l, v]) => n + l + v);
const meta = fc.constantFrom('# TYPE a histogram', '# HELP ab text', '# comment', '', '{"a",l="1"} 3');

describe('nextExpecting gives exactly what next() gives', () => {
  for (const format of ['prometheus', 'openmetrics'] as const) {
    test(`${format}: random expositions and random guesses`, () => {
      let totalHits = 0;
      fc.assert(
        fc.property(fc.array(fc.oneof({ weight: 4, arbitrary: line }, { weight: 1, arbitrary: meta }), { maxLength: 12 }), fc.array(fc.tuple(names, labelSets).map(([n, l]) => n + l), { maxLength: 12 }), fc.boolean(), (lines, guesses, useOwn) => {
          const text = lines.join('\n') + (format === 'openmetrics' ? '\n# EOF\n' : '\n');
          // Keys are what a cache holds: raw series texts from an earlier parse (of this text or another).
          const own = seriesTexts(text, format);
          const keys = useOwn ? own : guesses.filter((g) => seriesTexts(g + ' 1\n' + (format === 'openmetrics' ? '# EOF\n' : ''), format).length === 1);
          const a = plain(text, format);
          const b = predicted(text, format, keys);
          totalHits += b.hits;
          assert.deepEqual(b.out, a);
        }),
        { numRuns: 3000 },
      );
      assert.ok(totalHits > 100, `the fast path was exercised (${totalHits} hits)`);
    });
  }

  test('a key that is a prefix of a longer name, or followed by a label set, is not taken', () => {
    const p = new ExpositionParser('prometheus', 'abc 1\nab {x="1"} 2\n');
    const key = Buffer.from('ab');
    assert.equal(p.nextExpecting(key, 0, 2), Entry.Series);
    assert.equal(p.matchedKey, false);
    assert.equal(p.metricName(), 'abc');
    assert.equal(p.nextExpecting(key, 0, 2), Entry.Series);
    assert.equal(p.matchedKey, false);
    assert.equal(p.labels().get('x'), '1');
  });
});
