import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../storage/index.ts';
import { parseFileSd, ScrapeManager, FileSdError } from './index.ts';
import { jobsFromYaml, silentLogger, waitFor } from './testing.ts';

function writeAtomic(path: string, text: string): void {
  writeFileSync(path + '.tmp', text);
  renameSync(path + '.tmp', path);
}

describe('file_sd_configs', () => {
  test('JSON and YAML files, watched: added, changed, broken (kept), removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-filesd-'));
    const m = new ScrapeManager({ appendable: new MemoryStorage(), logger: silentLogger });
    try {
      writeAtomic(join(dir, 'a.json'), JSON.stringify([{ targets: ['a1:9100', 'a2:9100'], labels: { team: 'x' } }]));
      writeAtomic(join(dir, 'b.yml'), '- targets: [b1:9100]\n');
      const yaml = `scrape_configs:\n  - job_name: fsd\n    scrape_interval: 1h\n    file_sd_configs:\n      - files: ['${dir}/*.json', '${dir}/*.yml']\n        refresh_interval: 1h\n`;
      await m.applyConfig(jobsFromYaml(yaml));
      const instances = () => m.activeTargets().map((t) => t.labels.get('instance')).sort();
      assert.deepEqual(instances(), ['a1:9100', 'a2:9100', 'b1:9100']);
      const a1 = m.activeTargets().find((t) => t.labels.get('instance') === 'a1:9100')!;
      assert.equal(a1.labels.get('team'), 'x');
      assert.equal(a1.discoveredLabels.get('__meta_filepath'), join(dir, 'a.json'));
      const loopA1 = m.loops().find((l) => l.target.labels.get('instance') === 'a1:9100');

      writeAtomic(join(dir, 'a.json'), JSON.stringify([{ targets: ['a1:9100', 'a3:9100'], labels: { team: 'x' } }]));
      await waitFor('the changed file', () => instances().join() === 'a1:9100,a3:9100,b1:9100');
      assert.equal(m.loops().find((l) => l.target.labels.get('instance') === 'a1:9100'), loopA1, 'an unchanged target keeps its loop');

      writeAtomic(join(dir, 'a.json'), '[{"targets": ["broken"');
      writeAtomic(join(dir, 'c.json'), JSON.stringify([{ targets: ['c1:1'] }]));
      await waitFor('the new file', () => instances().includes('c1:1'));
      assert.ok(instances().includes('a3:9100'), 'a file that fails to parse keeps its previous targets');

      unlinkSync(join(dir, 'b.yml'));
      await waitFor('the removed file', () => !instances().includes('b1:9100'));
    } finally {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('file content errors name the file and the place', () => {
    assert.throws(() => parseFileSd('/x/t.json', '{"targets": []}'), (e: unknown) => e instanceof FileSdError && /\/x\/t\.json: expected a list of target groups/.test(e.message));
    assert.throws(() => parseFileSd('/x/t.yml', '- targets: [a]\n  labels: {a: 1}\n'), /\/x\/t\.yml: \[0\]\.labels\.a: expected a string, got 1/);
    assert.throws(() => parseFileSd('/x/t.yml', '- targets: [a]\n  lables: {}\n'), /unknown key "lables"/);
    assert.throws(() => parseFileSd('/x/t.json', '[{"targets": ['), /cannot parse JSON/);
    assert.deepEqual(parseFileSd('/x/t.yml', ''), []);
  });
});
