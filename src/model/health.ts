/**
 * Health checks in the shape of draft-inadarei-api-health-check: a check reports one
 * measurement of one component. Modules expose checks; the API's registry runs them.
 */

export type HealthStatus = 'pass' | 'warn' | 'fail';

/** One result of a check (one element of the draft's `checks["component:measurement"]` array). */
export interface HealthResult {
  componentId?: string;
  componentType?: string;
  observedValue?: number | string | boolean | null;
  observedUnit?: string;
  status: HealthStatus;
  /** RFC 3339 time of the observation; filled in by the registry when absent. */
  time?: string;
  output?: string;
  /** Extra fields the draft allows (links, affectedEndpoints, ...). */
  [extra: string]: unknown;
}

/**
 * A named check. `name` is the draft's key, `component:measurement` (e.g. `tsdb:wal`,
 * `disk:freeSpace`). `run` may be async; it must not throw (a throw is reported as `fail`).
 * `timeoutMs` bounds it (default 2000 ms).
 */
export interface HealthCheck {
  name: string;
  run(): HealthResult | HealthResult[] | Promise<HealthResult | HealthResult[]>;
  timeoutMs?: number;
}

/** Where modules put their checks. */
export interface HealthCheckSink {
  register(check: HealthCheck): void;
  unregister(name: string): void;
}

/** The worse of two statuses. */
export function worstStatus(a: HealthStatus, b: HealthStatus): HealthStatus {
  const rank = { pass: 0, warn: 1, fail: 2 } as const;
  return rank[a] >= rank[b] ? a : b;
}
