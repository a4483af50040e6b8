/**
 * The host probe: node_exporter's names for CPU, memory, load, network devices, filesystems,
 * boot time, context switches, forks and uname, read from procfs and statfs(2).
 * Each collector reports `node_scrape_collector_success{collector}` and
 * `node_scrape_collector_duration_seconds{collector}` as node_exporter does.
 */
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { compileRe2, errorMessage } from '../model/index.ts';
import type { HostProbeConfig } from './config.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable, ProbeContext, ProbeOutcome, Prober } from './types.ts';

/** node_exporter divides /proc/stat ticks by USER_HZ, which is 100 on every Linux it supports. */
const USER_HZ = 100;
const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
const NETDEV_FIELDS = [
  'receive_bytes', 'receive_packets', 'receive_errs', 'receive_drop', 'receive_fifo', 'receive_frame', 'receive_compressed', 'receive_multicast',
  'transmit_bytes', 'transmit_packets', 'transmit_errs', 'transmit_drop', 'transmit_fifo', 'transmit_colls', 'transmit_carrier', 'transmit_compressed',
] as const;
/** statfs calls slower than this mark the mount as erroring (a hung NFS server must not stall the probe). */
const STATFS_TIMEOUT_MS = 5000;

export const HOST_METADATA: MetadataTable = {
  node_cpu_seconds_total: ['counter', 'Seconds the CPUs spent in each mode.'],
  node_cpu_guest_seconds_total: ['counter', 'Seconds the CPUs spent in guests (VMs) for each mode.'],
  node_boot_time_seconds: ['gauge', 'Node boot time, in unixtime.'],
  node_context_switches_total: ['counter', 'Total number of context switches.'],
  node_forks_total: ['counter', 'Total number of forks.'],
  node_intr_total: ['counter', 'Total number of interrupts serviced.'],
  node_procs_running: ['gauge', 'Number of processes in runnable state.'],
  node_procs_blocked: ['gauge', 'Number of processes blocked waiting for I/O to complete.'],
  node_load1: ['gauge', '1m load average.'],
  node_load5: ['gauge', '5m load average.'],
  node_load15: ['gauge', '15m load average.'],
  node_filesystem_size_bytes: ['gauge', 'Filesystem size in bytes.'],
  node_filesystem_free_bytes: ['gauge', 'Filesystem free space in bytes.'],
  node_filesystem_avail_bytes: ['gauge', 'Filesystem space available to non-root users in bytes.'],
  node_filesystem_files: ['gauge', 'Filesystem total file nodes.'],
  node_filesystem_files_free: ['gauge', 'Filesystem total free file nodes.'],
  node_filesystem_readonly: ['gauge', 'Filesystem read-only status.'],
  node_filesystem_device_error: ['gauge', 'Whether an error occurred while getting statistics for the given device.'],
  node_time_seconds: ['gauge', 'System time in seconds since epoch (1970).'],
  node_uname_info: ['gauge', 'Labeled system information as provided by the uname system call.'],
  node_scrape_collector_success: ['gauge', 'node_exporter: Whether a collector succeeded.'],
  node_scrape_collector_duration_seconds: ['gauge', 'node_exporter: Duration of a collector scrape.'],
  ...Object.fromEntries(NETDEV_FIELDS.map((f) => [`node_network_${f}_total`, ['counter', `Network device statistic ${f}.`] as const])),
  // node_memory_<field>[_bytes] families are named after /proc/meminfo's fields ("Memory information field <name>.").
};

type Collector = (out: SampleBuffer, ctx: ProbeContext) => Promise<void>;

export class HostProber implements Prober {
  private readonly mountExclude: RegExp;
  private readonly fsTypeExclude: RegExp;
  private readonly netdevExclude: RegExp | undefined;
  private readonly collectors: Array<[string, Collector]>;

  constructor(private readonly cfg: HostProbeConfig) {
    // Unanchored, as node_exporter matches them (its defaults carry their own ^ and $).
    this.mountExclude = compileRe2(cfg.mount_points_exclude);
    this.fsTypeExclude = compileRe2(cfg.fs_types_exclude);
    this.netdevExclude = cfg.network_devices_exclude !== undefined ? compileRe2(cfg.network_devices_exclude) : undefined;
    this.collectors = [
      ['cpu', (o) => this.cpuAndStat(o, 'cpu')],
      ['stat', (o) => this.cpuAndStat(o, 'stat')],
      ['meminfo', (o) => this.meminfo(o)],
      ['loadavg', (o) => this.loadavg(o)],
      ['netdev', (o) => this.netdev(o)],
      ['filesystem', (o) => this.filesystem(o)],
      ['time', async (o, ctx) => o.add('node_time_seconds', ctx.now() / 1000)],
      ['uname', (o) => this.uname(o)],
    ];
  }

  private proc(...parts: string[]): string {
    return join(this.cfg.procfs, ...parts);
  }

  async run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome> {
    const failures: string[] = [];
    await Promise.all(
      this.collectors.map(async ([name, fn]) => {
        const t0 = performance.now();
        let ok = 1;
        try {
          await fn(out, ctx);
        } catch (e) {
          ok = 0;
          failures.push(`${name}: ${errorMessage(e)}`);
        }
        out.add('node_scrape_collector_duration_seconds', (performance.now() - t0) / 1000, ['collector', name]);
        out.add('node_scrape_collector_success', ok, ['collector', name]);
      }),
    );
    failures.sort();
    return failures.length ? { success: false, error: `host collectors failed: ${failures.join('; ')}` } : { success: true };
  }

  /** /proc/stat: per-CPU times (collector "cpu") or the system-wide counters (collector "stat"). */
  private async cpuAndStat(out: SampleBuffer, which: 'cpu' | 'stat'): Promise<void> {
    const text = await readFile(this.proc('stat'), 'utf8');
    for (const line of text.split('\n')) {
      const f = line.split(/\s+/);
      const key = f[0]!;
      if (which === 'cpu') {
        if (!/^cpu\d+$/.test(key)) continue;
        const cpu = key.slice(3);
        for (let i = 0; i < CPU_MODES.length; i++) {
          const v = f[i + 1];
          if (v !== undefined) out.add('node_cpu_seconds_total', Number(v) / USER_HZ, ['cpu', cpu, 'mode', CPU_MODES[i]!]);
        }
        if (f[9] !== undefined) out.add('node_cpu_guest_seconds_total', Number(f[9]) / USER_HZ, ['cpu', cpu, 'mode', 'user']);
        if (f[10] !== undefined) out.add('node_cpu_guest_seconds_total', Number(f[10]) / USER_HZ, ['cpu', cpu, 'mode', 'nice']);
        continue;
      }
      switch (key) {
        case 'intr':
          out.add('node_intr_total', Number(f[1]));
          break;
        case 'ctxt':
          out.add('node_context_switches_total', Number(f[1]));
          break;
        case 'btime':
          out.add('node_boot_time_seconds', Number(f[1]));
          break;
        case 'processes':
          out.add('node_forks_total', Number(f[1]));
          break;
        case 'procs_running':
          out.add('node_procs_running', Number(f[1]));
          break;
        case 'procs_blocked':
          out.add('node_procs_blocked', Number(f[1]));
          break;
      }
    }
  }

  /** /proc/meminfo: `Name: value [kB]` → node_memory_<Name>[_bytes]; `(x)` becomes `_x`. */
  private async meminfo(out: SampleBuffer): Promise<void> {
    const text = await readFile(this.proc('meminfo'), 'utf8');
    for (const line of text.split('\n')) {
      const m = /^([^:]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
      if (!m) continue;
      const name = m[1]!.replace(/\((.*)\)/, '_$1');
      const value = Number(m[2]) * (m[3] ? 1024 : 1);
      out.add(`node_memory_${name}${m[3] ? '_bytes' : ''}`, value);
    }
  }

  private async loadavg(out: SampleBuffer): Promise<void> {
    const f = (await readFile(this.proc('loadavg'), 'utf8')).trim().split(/\s+/);
    if (f.length < 3) throw new Error(`unexpected content of ${this.proc('loadavg')}`);
    out.add('node_load1', Number(f[0]));
    out.add('node_load5', Number(f[1]));
    out.add('node_load15', Number(f[2]));
  }

  private async netdev(out: SampleBuffer): Promise<void> {
    const text = await readFile(this.proc('net', 'dev'), 'utf8');
    const lines = text.split('\n');
    for (let i = 2; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const device = line.slice(0, colon).trim();
      if (this.netdevExclude?.test(device)) continue;
      const values = line.slice(colon + 1).trim().split(/\s+/);
      for (let j = 0; j < NETDEV_FIELDS.length && j < values.length; j++) {
        out.add(`node_network_${NETDEV_FIELDS[j]}_total`, Number(values[j]), ['device', device]);
      }
    }
  }

  private async filesystem(out: SampleBuffer): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.proc('1', 'mounts'), 'utf8');
    } catch {
      text = await readFile(this.proc('self', 'mounts'), 'utf8');
    }
    const rootfs = this.cfg.rootfs.replace(/\/+$/, '');
    const seen = new Set<string>();
    const mounts: Array<{ device: string; mountpoint: string; fstype: string; ro: boolean; path: string }> = [];
    for (const line of text.split('\n')) {
      const f = line.split(' ');
      if (f.length < 4) continue;
      const device = unescapeMount(f[0]!);
      let path = unescapeMount(f[1]!);
      const fstype = f[2]!;
      let mountpoint = path;
      if (rootfs) {
        if (path !== rootfs && !path.startsWith(rootfs + '/')) continue;
        mountpoint = path.slice(rootfs.length) || '/';
      } else {
        path = mountpoint;
      }
      if (this.mountExclude.test(mountpoint) || this.fsTypeExclude.test(fstype)) continue;
      const key = `${device}\xff${mountpoint}\xff${fstype}`;
      if (seen.has(key)) continue;
      seen.add(key);
      mounts.push({ device, mountpoint, fstype, ro: f[3]!.split(',').includes('ro'), path });
    }
    await Promise.all(
      mounts.map(async (m) => {
        const labels = ['device', m.device, 'fstype', m.fstype, 'mountpoint', m.mountpoint];
        let timer: NodeJS.Timeout | undefined;
        try {
          const s = await Promise.race([
            statfs(m.path),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error('statfs timed out')), STATFS_TIMEOUT_MS);
            }),
          ]);
          out.add('node_filesystem_size_bytes', s.blocks * s.bsize, labels);
          out.add('node_filesystem_free_bytes', s.bfree * s.bsize, labels);
          out.add('node_filesystem_avail_bytes', s.bavail * s.bsize, labels);
          out.add('node_filesystem_files', s.files, labels);
          out.add('node_filesystem_files_free', s.ffree, labels);
          out.add('node_filesystem_readonly', m.ro ? 1 : 0, labels);
          out.add('node_filesystem_device_error', 0, labels);
        } catch {
          out.add('node_filesystem_device_error', 1, labels);
        } finally {
          if (timer) clearTimeout(timer);
        }
      }),
    );
  }

  private async uname(out: SampleBuffer): Promise<void> {
    let domain = '(none)';
    try {
      domain = (await readFile(this.proc('sys', 'kernel', 'domainname'), 'utf8')).trim() || '(none)';
    } catch {
      // not every procfs has it
    }
    out.add('node_uname_info', 1, [
      'domainname', domain,
      'machine', os.machine(),
      'nodename', os.hostname(),
      'release', os.release(),
      'sysname', os.type(),
      'version', os.version(),
    ]);
  }

  close(): void {}
}

/** /proc/mounts escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMount(s: string): string {
  return s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}
