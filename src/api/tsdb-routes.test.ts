/** The store's HTTP routes against a real store, compared with Prometheus 2.42's answers. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { Labels } from '../model/index.ts';
import { openTsdb, type Tsdb } from '../tsdb/index.ts';
import { registerTsdbRoutes } from './tsdb-routes.ts';
import type { ApiDeps } from './deps.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSeries as read } from '../storage/testing.ts';

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-tsdb-'));
const removeDir = (dir: string) => fs.rmSync(dir, { recursive: true, force: true });



async function withApp(admin: boolean, fn: (app: Hono, db: Tsdb) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0 });
  try {
    const app = new Hono();
    registerTsdbRoutes(app, { tsdb: db, adminApiEnabled: admin } as unknown as ApiDeps);
    await fn(app, db);
  } finally {
    await db.close();
    removeDir(dir);
  }
}

async function seed(db: Tsdb): Promise<void> {
  const app = db.appender();
  for (let i = 0; i < 12; i++) app.append(0, Labels.fromRecord({ __name__: `m${i % 3}`, job: 'j', i: String(i) }), 1000 + i, i);
  await app.commit();
}

describe('GET /api/v1/status/tsdb', () => {
  it('reports an empty head with int64 extremes, as Prometheus does', async () => {
    await withApp(false, async (app) => {
      const res = await app.request('/api/v1/status/tsdb');
      assert.equal(res.status, 200);
      assert.equal(
        await res.text(),
        '{"status":"success","data":{"headStats":{"numSeries":0,"numLabelPairs":0,"chunkCount":0,"minTime":9223372036854775807,"maxTime":-9223372036854775808},"seriesCountByMetricName":[],"labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]}}',
      );
    });
  });

  it('reports head stats and top-N cardinalities', async () => {
    await withApp(false, async (app, db) => {
      await seed(db);
      const body = (await (await app.request('/api/v1/status/tsdb?limit=2')).json()) as { status: string; data: Record<string, unknown> };
      assert.equal(body.status, 'success');
      assert.deepEqual(body.data.headStats, { numSeries: 12, numLabelPairs: 3 + 1 + 12, chunkCount: 12, minTime: 1000, maxTime: 1011 });
      assert.deepEqual(body.data.seriesCountByMetricName, [{ name: 'm0', value: 4 }, { name: 'm1', value: 4 }]);
      assert.deepEqual(body.data.labelValueCountByLabelName, [{ name: 'i', value: 12 }, { name: '__name__', value: 3 }]);
      assert.deepEqual(body.data.seriesCountByLabelValuePair, [{ name: 'job=j', value: 12 }, { name: '__name__=m0', value: 4 }]);
      const bad = await app.request('/api/v1/status/tsdb?limit=x');
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { errorType: string }).errorType, 'bad_data');
    });
  });
});

describe('admin routes', () => {
  it('are refused unless the admin API is enabled', async () => {
    await withApp(false, async (app) => {
      for (const path of ['/api/v1/admin/tsdb/delete_series?match[]=up', '/api/v1/admin/tsdb/clean_tombstones']) {
        const res = await app.request(path, { method: 'POST' });
        assert.equal(res.status, 500);
        assert.deepEqual(await res.json(), { status: 'error', errorType: 'unavailable', error: 'admin APIs disabled' });
      }
    });
  });

  it('delete_series deletes matching samples in [start, end] and answers 204', async () => {
    await withApp(true, async (app, db) => {
      await seed(db);
      const res = await app.request('/api/v1/admin/tsdb/delete_series', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'match[]=m0&match[]=' + encodeURIComponent('{__name__="m1",i="1"}') + '&start=0&end=2',
      });
      assert.equal(res.status, 204);
      assert.equal((await read(db, 'm0')).length, 0);
      assert.deepEqual((await read(db, 'm1')).map((s) => s.labels), ['{__name__="m1", i="10", job="j"}', '{__name__="m1", i="4", job="j"}', '{__name__="m1", i="7", job="j"}']);
      const tomb = await app.request('/api/v1/admin/tsdb/clean_tombstones', { method: 'PUT' });
      assert.equal(tomb.status, 204);
    });
  });

  it('delete_series rejects bad parameters with Prometheus\' messages', async () => {
    await withApp(true, async (app) => {
      const cases: Array<[string, RegExp]> = [
        ['', /^no match\[\] parameter provided$/],
        ['?match[]=up&start=abc', /^invalid parameter "start": Invalid time value for 'start': cannot parse "abc" to a valid timestamp$/],
        ['?match[]=' + encodeURIComponent('up{'), /^invalid parameter "match\[\]": /],
      ];
      for (const [q, msg] of cases) {
        const res = await app.request('/api/v1/admin/tsdb/delete_series' + q, { method: 'POST' });
        assert.equal(res.status, 400, q);
        const body = (await res.json()) as { errorType: string; error: string };
        assert.equal(body.errorType, 'bad_data');
        assert.match(body.error, msg);
      }
      assert.equal((await app.request('/api/v1/admin/tsdb/delete_series?match[]=up')).status, 404, 'GET is not routed');
    });
  });
});
