/**
 * Runs the upstream PromQL conformance corpus (see main.ts) as part of `npm test`: every
 * non-skipped eval must pass, against the in-memory reference store and against the embedded
 * TSDB. Skips are limited to native histograms and experimental features; their reasons are
 * printed by the runner.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCorpus } from './main.ts';
import { memoryStore, tsdbStore } from './stores.ts';
import type { FileResult } from './runner.ts';

function failures(files: FileResult[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    if (f.error) out.push(`${f.file}: ${f.error}`);
    for (const c of f.cases) if (c.status === 'fail') out.push(`${f.file}:${c.line} ${c.expr}: ${c.reason}`);
  }
  return out;
}

const ALLOWED_SKIP = /^(native histograms|start timestamps \(experimental\)|anchored range selectors \(experimental\)|smoothed range selectors \(experimental\)|info\(\) \(experimental\)|start_timestamp\(\) \(experimental\)|histogram trim operators \(experimental\))/;

describe('PromQL conformance corpus', () => {
  for (const [name, getStore] of [['memory', async () => memoryStore], ['tsdb', tsdbStore]] as const) {
    it(`passes every stable evaluation (${name} store)`, async (t) => {
      const store = await getStore();
      if (!store) {
        t.skip('src/tsdb has no openTsdb yet');
        return;
      }
      const lines: string[] = [];
      const r = await runCorpus(store, { log: (l) => lines.push(l) });
      if (!r) {
        t.skip(lines.join('\n'));
        return;
      }
      t.diagnostic(lines.filter((l) => !l.startsWith('  skip')).join('\n'));
      assert.deepEqual(failures(r.files), []);
      assert.ok(r.totals.passed > 1000, `only ${r.totals.passed} evaluations passed`);
      for (const f of r.files) {
        for (const c of f.cases) if (c.status === 'skip') assert.match(c.reason!, ALLOWED_SKIP, `${f.file}:${c.line} skipped for a reason that is not allowed`);
      }
    });
  }
});
