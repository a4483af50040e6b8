/** The contract between the probe manager and the individual probes. */
import type { Logger } from 'pino';
import type { SampleBuffer } from './samples.ts';

export interface ProbeContext {
  /** Aborted when the run's timeout elapses or the probe is stopped. */
  signal: AbortSignal;
  /** The run's timeout in ms. */
  timeoutMs: number;
  /** Wall-clock ms (the manager's clock): sample values that are timestamps use it. */
  now(): number;
  logger: Logger;
}

/** How a run went. A probe reports target failures here; it never throws for them. */
export interface ProbeOutcome {
  success: boolean;
  /** Why the run failed, in words a person can act on (never a secret). */
  error?: string;
  /** Notes that are not failures (e.g. "pg_stat_statements is not installed"). */
  info?: string[];
}

/**
 * One configured probe. `run` writes the run's samples into `out` and resolves with the
 * outcome; it must honour `ctx.signal`. `close` releases connections, file handles and
 * timers; it is called once, after the last run finished.
 */
export interface Prober {
  run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome>;
  close(): Promise<void> | void;
}

export type MetricType = 'gauge' | 'counter' | 'untyped' | 'info' | 'summary';

/** HELP/TYPE of a metric family, as the equivalent exporter exposes them. */
export interface MetricMetadata {
  type: MetricType;
  help: string;
  unit: string;
}

/** Name → [type, help]. */
export type MetadataTable = Readonly<Record<string, readonly [MetricType, string]>>;
