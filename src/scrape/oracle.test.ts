/**
 * Prometheus 2.42 as the oracle for what a scrape stores: the same target (conflicting labels,
 * escapes, metric relabeling, a histogram, NaN) scraped by both; the stored label sets and the
 * report series must agree.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../storage/index.ts';
import { ScrapeManager } from './index.ts';
import { jobsFromYaml, silentLogger, startTestServer, storedSamples, waitFor } from './testing.ts';
import { freePort } from '../../test/helpers/free-port.ts';

const PROMETHEUS = '/usr/bin/prometheus';


const EXPOSITION = `# HELP conflict A series whose labels clash with the target's.
# TYPE conflict gauge
conflict{job="exposed",instance="inst",exported_job="x",env="exp"} 1
# TYPE esc gauge
esc{v="a\\"b\\\\c\\nd"} 2
# TYPE req_seconds histogram
req_seconds_bucket{le="0.5"} 1
req_seconds_bucket{le="+Inf"} 3
req_seconds_sum 1.25
req_seconds_count 3
# TYPE dropme counter
dropme_total 5
keepme_total{secret="s",path="/a"} 7
nan_value NaN
`;

describe('stored series against the real Prometheus 2.42', () => {
  test('same label sets and report values for the same target and config', async (t) => {
    if (!existsSync(PROMETHEUS)) {
      t.skip('prometheus not installed (Debian package prometheus); .ci/run installs it');
      return;
    }
    const target = await startTestServer((_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      r.end(EXPOSITION);
    });
    const yaml = `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:
  - job_name: oracle
    static_configs:
      - targets: ['${target.hostPort}']
        labels: {env: prod}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: dropme_total
        action: drop
      - regex: secret
        action: labeldrop
      - source_labels: [path]
        regex: '/(.*)'
        target_label: path_name
        replacement: 'p_$1'
`;
    const dir = mkdtempSync(join(tmpdir(), 'vigil-oracle-'));
    const port = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), yaml);
    const proc = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const store = new MemoryStorage();
    const m = new ScrapeManager({ appendable: store, logger: silentLogger });
    const api = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return ((await r.json()) as { data: unknown }).data;
    };
    try {
      await m.applyConfig(jobsFromYaml(yaml));
      await waitFor(
        'prometheus scraped twice',
        async () => {
          try {
            const d = ((await api('/api/v1/query?query=' + encodeURIComponent('count_over_time(up[1m])'))) as { result: Array<{ value: [number, string] }> }).result;
            return d.length === 1 && Number(d[0]!.value[1]) >= 2;
          } catch {
            return false;
          }
        },
        30000,
      );
      await waitFor('vigil scraped twice', async () => (await storedSamples(store, 'up'))[0]?.t.length! >= 2);
      const theirs = ((await api('/api/v1/series?' + new URLSearchParams({ 'match[]': '{job=~".+"}' }))) as Array<Record<string, string>>)
        .map((l) => JSON.stringify(Object.entries(l).sort()))
        .sort();
      const q = store.querier(-Infinity, Infinity);
      const { Matcher } = await import('../model/index.ts');
      const ours = (await q.select([new Matcher('=~', 'job', '.+')])).series.map((s) => JSON.stringify(Object.entries(s.labels.toRecord()).sort())).sort();
      q.close();
      assert.deepEqual(ours, theirs);
      for (const name of ['scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'up']) {
        const d = ((await api('/api/v1/query?query=' + name)) as { result: Array<{ value: [number, string] }> }).result;
        const mine = (await storedSamples(store, name))[0]!.v;
        assert.equal(mine[mine.length - 1], Number(d[0]!.value[1]), name);
      }
    } finally {
      await m.stop();
      await target.close();
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
