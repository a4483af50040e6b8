/**
 * `npm run conformance`: runs the upstream PromQL test scripts found in
 * `$VIGIL_CONFORMANCE_DIR/testdata` (default `../shared/conformance/promql`, relative to the
 * repository root) and prints, per file and in total, `N passed, M failed, K skipped`.
 *
 * Options: `--file <substring>` (only matching files), `--verbose` (every failure and skip
 * reason), `--store memory|tsdb` (default memory). Exit code 1 when an eval failed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConformanceRunner, type ConformanceStore, type FileResult } from './runner.ts';
import { memoryStore, tsdbStore } from './stores.ts';
import { sharedPath } from '../../../test/helpers/shared-dir.ts';

export function corpusDir(): string {
  const root = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
  if (process.env.VIGIL_CONFORMANCE_DIR) return resolve(root, process.env.VIGIL_CONFORMANCE_DIR);
  const beside = resolve(root, '../shared/conformance/promql');
  // The shared folder beside the checkout, or wherever the workplace keeps it.
  return existsSync(beside) ? beside : sharedPath('conformance/promql');
}

export interface Totals {
  passed: number;
  failed: number;
  skipped: number;
  fileErrors: number;
}

export async function runCorpus(store: ConformanceStore, opts: { filter?: string; log?: (line: string) => void; verbose?: boolean } = {}): Promise<{ totals: Totals; files: FileResult[] } | null> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const dir = join(corpusDir(), 'testdata');
  if (!existsSync(dir)) {
    log(`conformance: skipped, corpus not found at ${dir} (set VIGIL_CONFORMANCE_DIR)`);
    return null;
  }
  const runner = new ConformanceRunner(store);
  const files = readdirSync(dir).filter((f) => f.endsWith('.test') && (!opts.filter || f.includes(opts.filter))).sort();
  const totals: Totals = { passed: 0, failed: 0, skipped: 0, fileErrors: 0 };
  const results: FileResult[] = [];
  for (const f of files) {
    const r = await runner.runFile(f, readFileSync(join(dir, f), 'utf8'));
    results.push(r);
    const p = r.cases.filter((c) => c.status === 'pass').length;
    const m = r.cases.filter((c) => c.status === 'fail').length;
    const k = r.cases.filter((c) => c.status === 'skip').length;
    totals.passed += p;
    totals.failed += m;
    totals.skipped += k;
    log(`${f}: ${p} passed, ${m} failed, ${k} skipped${r.error ? ` (file error: ${r.error})` : ''}`);
    if (r.error) totals.fileErrors++;
    const reasons = new Map<string, number>();
    for (const c of r.cases) {
      if (c.status === 'fail' && (opts.verbose || m <= 20)) log(`  FAIL line ${c.line}: ${c.expr}\n    ${c.reason}`);
      if (c.status === 'skip') reasons.set(c.reason!, (reasons.get(c.reason!) ?? 0) + 1);
    }
    for (const [reason, count] of reasons) {
      if (opts.verbose || reasons.size <= 6) log(`  skip ${count}x: ${reason}`);
    }
    if (!opts.verbose && reasons.size > 6) {
      const kinds = new Map<string, number>();
      for (const [reason, count] of reasons) {
        const kind = reason.replace(/ \(.*$/, '');
        kinds.set(kind, (kinds.get(kind) ?? 0) + count);
      }
      for (const [kind, count] of kinds) log(`  skip ${count}x: ${kind}`);
    }
  }
  log(`total (${store.name}): ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped${totals.fileErrors ? `, ${totals.fileErrors} file errors` : ''}`);
  return { totals, files: results };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const get = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const storeName = get('--store') ?? 'memory';
  let store: ConformanceStore;
  if (storeName === 'tsdb') {
    const s = await tsdbStore();
    if (!s) {
      console.log('conformance: the tsdb store is not available yet (src/tsdb has no openTsdb)');
      return;
    }
    store = s;
  } else store = memoryStore;
  const r = await runCorpus(store, { filter: get('--file'), verbose: args.includes('--verbose') });
  if (r && (r.totals.failed > 0 || r.totals.fileErrors > 0)) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
