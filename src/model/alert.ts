/**
 * The alert as it travels from whoever evaluates rules (Vigil's rules module, a remote
 * Prometheus) to alert handling: the shape of Alertmanager's `postableAlert`, with times in
 * milliseconds. `rules` produces these; `alerting` receives them; `app.ts` connects the two.
 */
import type { Labels } from './labels.ts';

export interface PostableAlert {
  labels: Labels;
  annotations: Labels;
  /** When the alert started firing (ms); 0 when unknown (the receiver uses its arrival time). */
  startsAt: number;
  /**
   * When the alert stops being valid (ms); 0 when unknown (the receiver applies its
   * `resolve_timeout`). A resolved alert has `endsAt` in the past.
   */
  endsAt: number;
  generatorURL: string;
}

/** Where alerts are delivered in-process. Must not throw for individual bad alerts. */
export interface AlertSink {
  send(alerts: readonly PostableAlert[]): Promise<void> | void;
}
