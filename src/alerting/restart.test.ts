/**
 * `vigil server` killed with SIGKILL and restarted on the same data directory: silences, the
 * notification log and the history survive; a group notified before the kill is not notified
 * again (repeat_interval has not passed) when Prometheus re-sends its alerts; new alerts are
 * notified as usual.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startVigil } from '../../test/helpers/vigil-process.ts';
import { tempDir } from '../state/testing.ts';
import { postAlerts, sleep, startCapture, waitFor } from './testing.ts';

const alert = (labels: Record<string, string>) => ({ labels, annotations: { summary: `${labels.alertname}` }, startsAt: new Date(Date.now() - 120_000).toISOString(), endsAt: new Date(Date.now() + 300_000).toISOString() });

interface HistoryEntry {
  labels: Record<string, string>;
  state: string;
  notifications: Array<{ receiver: string; success: boolean }>;
}

test('kill -9 and restart: silences, notification log and history intact, no notification repeated', { timeout: 120_000 }, async () => {
  const cap = await startCapture();
  const dir = tempDir('vigil-restart-');
  const configFile = join(dir, 'vigil.yml');
  writeFileSync(configFile, `alerting:
  route:
    receiver: ops
    group_by: [alertname]
    group_wait: 300ms
    group_interval: 600ms
    repeat_interval: 1h
  receivers:
  - name: ops
    webhook_configs: [{url: '${cap.url}/ops'}]
`);
  const dataDir = join(dir, 'data');
  let vigil = await startVigil([`--config.file=${configFile}`], { dataDir, timeoutMs: 60_000 });
  try {
    assert.equal((await postAlerts(vigil.url, [alert({ alertname: 'DbDown', instance: 'pg-1' })])).status, 200);
    const sil = await fetch(`${vigil.url}/api/v2/silences`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: [{ name: 'alertname', value: 'Maintenance', isRegex: false }], startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(), createdBy: 'ops', comment: 'planned' }),
    });
    const { silenceID } = (await sil.json()) as { silenceID: string };
    await postAlerts(vigil.url, [alert({ alertname: 'Maintenance', instance: 'web-1' })]);
    assert.ok(await waitFor(() => cap.received.length === 1, 15_000), 'notified once before the kill');
    // Acknowledged: the notification is in the history (written after the notification log).
    assert.ok(await waitFor(async () => {
      const h = (await (await fetch(`${vigil.url}/api/v1/alerts/history?filter=alertname%3DDbDown`)).json()) as { data: HistoryEntry[] };
      return h.data[0]?.notifications.length === 1;
    }, 15_000));

    assert.equal(await vigil.stop('SIGKILL'), null);
    vigil = await startVigil([`--config.file=${configFile}`], { dataDir, timeoutMs: 60_000 });

    // Prometheus re-sends what is still firing.
    await postAlerts(vigil.url, [alert({ alertname: 'DbDown', instance: 'pg-1' }), alert({ alertname: 'Maintenance', instance: 'web-1' })]);
    // group_wait plus several group_intervals: long enough for a repeat to show.
    await sleep(2500);
    assert.equal(cap.received.length, 1, 'nothing repeated after the restart');
    const silences = (await (await fetch(`${vigil.url}/api/v2/silences`)).json()) as Array<{ id: string; status: { state: string }; comment: string }>;
    assert.deepEqual(silences.map((s) => [s.id, s.status.state, s.comment]), [[silenceID, 'active', 'planned']]);
    const alerts = (await (await fetch(`${vigil.url}/api/v2/alerts?filter=alertname%3DMaintenance`)).json()) as Array<{ status: { silencedBy: string[] } }>;
    assert.deepEqual(alerts[0]?.status.silencedBy, [silenceID]);
    const hist = (await (await fetch(`${vigil.url}/api/v1/alerts/history`)).json()) as { data: HistoryEntry[] };
    const db = hist.data.find((e) => e.labels.alertname === 'DbDown');
    assert.equal(db?.state, 'firing');
    assert.deepEqual(db?.notifications.map((n) => [n.receiver, n.success]), [['ops', true]]);
    // The restarted instance notifies new groups.
    await postAlerts(vigil.url, [alert({ alertname: 'CacheDown', instance: 'redis-1' })]);
    assert.ok(await waitFor(() => cap.received.length === 2, 15_000));
    assert.equal(cap.received[1]!.json.groupLabels.alertname, 'CacheDown');
  } finally {
    await vigil.stop();
    vigil.cleanup();
    await cap.close();
  }
});
