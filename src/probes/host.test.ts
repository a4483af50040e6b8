/** The host probe on a fixed procfs and on this machine, side by side with prometheus-node-exporter. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { hostname } from 'node:os';
import { HOST_METADATA, HostProber } from './host.ts';
import { probesFromYaml, runProber, startExporter, valueIn } from './testutil.ts';

const fixture = new URL('./testdata/procfs', import.meta.url).pathname;

function prober(entry = '{}'): HostProber {
  return new HostProber(probesFromYaml(`  host:\n    - ${entry}\n`).host[0]!);
}

test('a fixed procfs: CPU seconds at USER_HZ 100, meminfo names, load, network, boot time, forks', async () => {
  const { out, outcome } = await runProber(prober(`{procfs: ${fixture}}`), 5000, () => 1_800_000_000_000);
  assert.equal(outcome.success, true, outcome.error);
  assert.equal(out.get('node_cpu_seconds_total', { cpu: '0', mode: 'user' }), 331.44);
  assert.equal(out.get('node_cpu_seconds_total', { cpu: '0', mode: 'nice' }), 0.12);
  assert.equal(out.get('node_cpu_seconds_total', { cpu: '1', mode: 'irq' }), 0.07);
  assert.equal(out.get('node_cpu_seconds_total', { cpu: '1', mode: 'steal' }), 8.43);
  assert.equal(out.get('node_cpu_guest_seconds_total', { cpu: '0', mode: 'user' }), 0.05);
  assert.equal(out.get('node_cpu_guest_seconds_total', { cpu: '0', mode: 'nice' }), 0.01);
  assert.equal(out.names.filter((n) => n === 'node_cpu_seconds_total').length, 16, '2 CPUs × 8 modes; the aggregate line is not reported');
  assert.equal(out.get('node_memory_MemTotal_bytes'), 24684092 * 1024);
  assert.equal(out.get('node_memory_MemAvailable_bytes'), 23715796 * 1024);
  assert.equal(out.get('node_memory_Active_anon_bytes'), 25552 * 1024);
  assert.equal(out.get('node_memory_HugePages_Total'), 0, 'a field without a unit has no _bytes suffix');
  assert.equal(out.get('node_load1'), 1.21);
  assert.equal(out.get('node_load5'), 0.72);
  assert.equal(out.get('node_load15'), 0.38);
  assert.equal(out.get('node_network_receive_bytes_total', { device: 'eth0' }), 242146740);
  assert.equal(out.get('node_network_receive_errs_total', { device: 'eth0' }), 3);
  assert.equal(out.get('node_network_receive_multicast_total', { device: 'eth0' }), 12);
  assert.equal(out.get('node_network_transmit_bytes_total', { device: 'eth0' }), 9876543);
  assert.equal(out.get('node_network_transmit_bytes_total', { device: 'lo' }), 3867490);
  assert.equal(out.get('node_boot_time_seconds'), 1795967187);
  assert.equal(out.get('node_context_switches_total'), 2314248);
  assert.equal(out.get('node_forks_total'), 48018);
  assert.equal(out.get('node_intr_total'), 1046848);
  assert.equal(out.get('node_procs_running'), 6);
  assert.equal(out.get('node_procs_blocked'), 1);
  assert.equal(out.get('node_time_seconds'), 1_800_000_000);
  assert.equal(out.get('node_uname_info', { nodename: hostname(), domainname: '(none)' }), 1);
  for (const c of ['cpu', 'stat', 'meminfo', 'loadavg', 'netdev', 'filesystem', 'time', 'uname']) assert.equal(out.get('node_scrape_collector_success', { collector: c }), 1, c);
});

test('filesystems: excluded types and mount points left out, duplicates once, escapes decoded, statfs errors flagged', async () => {
  const { out } = await runProber(prober(`{procfs: ${fixture}}`));
  const mounts = new Set<string>();
  for (let i = 0; i < out.length; i++) {
    if (out.names[i] !== 'node_filesystem_device_error') continue;
    const l = out.labels[i]!;
    mounts.add(`${l[1]} ${l[5]} ${l[3]}`);
  }
  assert.deepEqual([...mounts].sort(), ['/dev/vda / ext4', '/dev/vdb /srv/with space xfs']);
  const s = statfsSync('/');
  assert.equal(out.get('node_filesystem_size_bytes', { mountpoint: '/' }), s.blocks * s.bsize);
  assert.equal(out.get('node_filesystem_files', { mountpoint: '/' }), s.files);
  assert.equal(out.get('node_filesystem_device_error', { mountpoint: '/' }), 0);
  assert.equal(out.get('node_filesystem_readonly', { mountpoint: '/' }), 0);
  assert.equal(out.get('node_filesystem_device_error', { mountpoint: '/srv/with space' }), 1, 'a mount point that cannot be statfs-ed');
  const { out: only } = await runProber(prober(`{procfs: ${fixture}, fs_types_exclude: "^(ext4|proc|sysfs|tmpfs)$", mount_points_exclude: "^/nothing$"}`));
  assert.equal(only.get('node_filesystem_device_error', { mountpoint: '/' }), undefined);
  assert.equal(only.get('node_filesystem_device_error', { mountpoint: '/srv/with space' }), 1);
});

test('a procfs that is not there: every collector fails with its reason, no crash', async () => {
  const { out, outcome } = await runProber(prober('{procfs: /nonexistent-procfs}'));
  assert.equal(outcome.success, false);
  assert.match(outcome.error!, /^host collectors failed: cpu: ENOENT: no such file or directory, open '\/nonexistent-procfs\/stat'/);
  assert.equal(out.get('node_scrape_collector_success', { collector: 'meminfo' }), 0);
  assert.equal(out.get('node_scrape_collector_success', { collector: 'time' }), 1);
});

test('side by side with prometheus-node-exporter on this machine', async (t) => {
  const exporter = await startExporter('/usr/bin/prometheus-node-exporter', (port) => [`--web.listen-address=127.0.0.1:${port}`]);
  if (!exporter) return t.skip('prometheus-node-exporter is not installed (/usr/bin/prometheus-node-exporter)');
  try {
    const theirs = await exporter.scrape();
    const { out, outcome } = await runProber(prober());
    assert.equal(outcome.success, true, outcome.error);
    for (const name of ['node_memory_MemTotal_bytes', 'node_boot_time_seconds', 'node_memory_SwapTotal_bytes', 'node_memory_HugePages_Total']) {
      assert.equal(out.get(name), valueIn(theirs, name), name);
    }
    const memAvail = valueIn(theirs, 'node_memory_MemAvailable_bytes')!;
    assert.ok(Math.abs(out.get('node_memory_MemAvailable_bytes')! - memAvail) / memAvail < 0.05, 'MemAvailable within 5%');
    // The same filesystems with the same labels; sizes equal.
    const fs = (labels: readonly string[] | undefined) => (labels ?? []).join(',');
    const theirFs = theirs.samples.filter((s) => s.labels.get('__name__') === 'node_filesystem_size_bytes');
    const ourFs = out.names.map((n, i) => (n === 'node_filesystem_size_bytes' ? i : -1)).filter((i) => i >= 0);
    assert.equal(ourFs.length, theirFs.length, 'same number of filesystems');
    for (const s of theirFs) {
      const match = { device: s.labels.get('device'), fstype: s.labels.get('fstype'), mountpoint: s.labels.get('mountpoint') };
      assert.equal(out.get('node_filesystem_size_bytes', match), s.value, `size of ${fs([match.mountpoint])}`);
    }
    // CPU seconds: same series, values within a few seconds (taken a moment apart), never below theirs.
    const cpu = theirs.samples.filter((s) => s.labels.get('__name__') === 'node_cpu_seconds_total');
    assert.ok(cpu.length >= 8);
    for (const s of cpu) {
      const ours = out.get('node_cpu_seconds_total', { cpu: s.labels.get('cpu'), mode: s.labels.get('mode') });
      assert.ok(ours !== undefined && ours >= s.value && ours - s.value < 10, `cpu ${s.labels.get('cpu')} ${s.labels.get('mode')}: ${ours} vs ${s.value}`);
    }
    const devices = new Set(theirs.samples.filter((s) => s.labels.get('__name__') === 'node_network_receive_bytes_total').map((s) => s.labels.get('device')));
    for (const d of devices) assert.ok(out.get('node_network_receive_bytes_total', { device: d })! >= valueIn(theirs, 'node_network_receive_bytes_total', { device: d })!, d);
    assert.equal(out.get('node_uname_info', { release: theirs.samples.find((s) => s.labels.get('__name__') === 'node_uname_info')!.labels.get('release') }), 1);
    // HELP and TYPE as node_exporter writes them.
    for (const [name, [type, help]] of Object.entries(HOST_METADATA)) {
      const m = theirs.metadata.get(name);
      if (!m) continue;
      assert.equal(type, m.type, `type of ${name}`);
      assert.equal(help, m.help, `help of ${name}`);
    }
  } finally {
    await exporter.stop();
  }
});
