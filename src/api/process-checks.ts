/**
 * Health checks of the process itself: uptime, event-loop lag, heap use, the data directory
 * (writable, free space). Thresholds follow the runbook: disk warns under 15% free (85% used)
 * and fails under 5% free.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { statfs, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, type HealthCheck, type HealthStatus } from '../model/index.ts';

export interface ProcessCheckOptions {
  dataDir: string;
  /** Free-space ratios below which the disk check warns / fails. */
  diskWarnFreeRatio?: number;
  diskFailFreeRatio?: number;
  /** Event-loop delay p99 (ms) above which the check warns / fails. */
  lagWarnMs?: number;
  lagFailMs?: number;
  /** Heap used / heap limit above which the check warns / fails. */
  heapWarnRatio?: number;
  heapFailRatio?: number;
}

/**
 * Creates the checks; `stop()` releases the event-loop monitor; `resetLag()` forgets the delays
 * seen so far (called once start-up is over: replay and database initialisation block the loop
 * by design and must not read as a live problem).
 */
export function processHealthChecks(opts: ProcessCheckOptions): { checks: HealthCheck[]; stop(): void; resetLag(): void } {
  const diskWarn = opts.diskWarnFreeRatio ?? 0.15;
  const diskFail = opts.diskFailFreeRatio ?? 0.05;
  const lagWarn = opts.lagWarnMs ?? 200;
  const lagFail = opts.lagFailMs ?? 2000;
  const heapWarn = opts.heapWarnRatio ?? 0.85;
  const heapFail = opts.heapFailRatio ?? 0.95;
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();

  const grade = (v: number, warn: number, fail: number, higherIsWorse = true): HealthStatus => {
    if (higherIsWorse) return v >= fail ? 'fail' : v >= warn ? 'warn' : 'pass';
    return v <= fail ? 'fail' : v <= warn ? 'warn' : 'pass';
  };

  const checks: HealthCheck[] = [
    {
      name: 'uptime',
      run: () => ({ componentType: 'system', observedValue: Math.round(process.uptime() * 1000) / 1000, observedUnit: 's', status: 'pass' }),
    },
    {
      name: 'eventloop:lag',
      run: () => {
        // p99 of the event-loop delay since the previous check, in ms.
        const p99 = loop.count > 0 ? loop.percentile(99) / 1e6 : 0;
        loop.reset();
        const status = grade(p99, lagWarn, lagFail);
        return {
          componentType: 'system',
          observedValue: Math.round(p99 * 100) / 100,
          observedUnit: 'ms',
          status,
          output: status === 'pass' ? undefined : `event loop delay p99 ${p99.toFixed(0)} ms (warn at ${lagWarn} ms, fail at ${lagFail} ms)`,
        };
      },
    },
    {
      name: 'memory:heapUsed',
      run: () => {
        const h = getHeapStatistics();
        const ratio = h.used_heap_size / h.heap_size_limit;
        const status = grade(ratio, heapWarn, heapFail);
        return {
          componentType: 'system',
          observedValue: Math.round(ratio * 10000) / 100,
          observedUnit: 'percent',
          status,
          heapUsedBytes: h.used_heap_size,
          heapLimitBytes: h.heap_size_limit,
          output: status === 'pass' ? undefined : `heap ${(ratio * 100).toFixed(1)}% of its limit`,
        };
      },
    },
    {
      name: 'datadir:writable',
      run: async () => {
        const probe = join(opts.dataDir, `.vigil-health-${process.pid}`);
        try {
          await writeFile(probe, 'ok');
          await unlink(probe);
          return { componentId: opts.dataDir, componentType: 'datastore', observedValue: true, status: 'pass' };
        } catch (e) {
          return { componentId: opts.dataDir, componentType: 'datastore', observedValue: false, status: 'fail', output: `data directory not writable: ${errorMessage(e)}` };
        }
      },
    },
    {
      name: 'disk:freeSpace',
      run: async () => {
        try {
          const s = await statfs(opts.dataDir);
          const total = s.blocks * s.bsize;
          const free = s.bavail * s.bsize;
          const ratio = total > 0 ? free / total : 0;
          const status = grade(ratio, diskWarn, diskFail, false);
          return {
            componentId: opts.dataDir,
            componentType: 'datastore',
            observedValue: Math.round(ratio * 10000) / 100,
            observedUnit: 'percent',
            status,
            freeBytes: free,
            totalBytes: total,
            output: status === 'pass' ? undefined : `${(ratio * 100).toFixed(1)}% free on the data directory's filesystem (warn under ${diskWarn * 100}%, fail under ${diskFail * 100}%)`,
          };
        } catch (e) {
          return { componentId: opts.dataDir, componentType: 'datastore', status: 'fail', output: `cannot stat the data directory: ${errorMessage(e)}` };
        }
      },
    },
  ];
  return { checks, stop: () => loop.disable(), resetLag: () => loop.reset() };
}
