/**
 * The health-check registry and the response format of draft-inadarei-api-health-check
 * (`application/health+json`). Modules register checks named `component:measurement`; the
 * registry runs them concurrently, each bounded by its timeout, and reports the worst status.
 */
import { errorMessage, worstStatus, systemClock, type Clock, type HealthCheck, type HealthCheckSink, type HealthResult, type HealthStatus } from '../model/index.ts';

export const HEALTH_CONTENT_TYPE = 'application/health+json';

export interface ServiceIdentity {
  version: string;
  releaseId: string;
  serviceId: string;
  description: string;
}

export interface HealthResponse extends ServiceIdentity {
  status: HealthStatus;
  output?: string;
  checks?: Record<string, HealthResult[]>;
}

export class HealthRegistry implements HealthCheckSink {
  private readonly checks = new Map<string, HealthCheck>();

  constructor(private readonly identity: ServiceIdentity, private readonly clock: Clock = systemClock) {}

  register(check: HealthCheck): void {
    this.checks.set(check.name, check);
  }

  unregister(name: string): void {
    this.checks.delete(name);
  }

  names(): string[] {
    return [...this.checks.keys()];
  }

  /** Liveness: the process answers. */
  liveness(): HealthResponse {
    return { status: 'pass', ...this.identity };
  }

  /** Runs every check. Never throws: a throwing or hanging check reports `fail`. */
  async detailed(): Promise<HealthResponse> {
    const entries = [...this.checks.values()];
    const results = await Promise.all(entries.map((c) => this.runOne(c)));
    let status: HealthStatus = 'pass';
    const checks: Record<string, HealthResult[]> = {};
    const failing: string[] = [];
    entries.forEach((c, i) => {
      const rs = results[i]!;
      checks[c.name] = rs;
      for (const r of rs) {
        status = worstStatus(status, r.status);
        if (r.status !== 'pass') failing.push(`${c.name}: ${r.output ?? r.status}`);
      }
    });
    const out: HealthResponse = { status, ...this.identity, checks };
    if (failing.length) out.output = failing.join('; ');
    return out;
  }

  private async runOne(check: HealthCheck): Promise<HealthResult[]> {
    const time = new Date(this.clock.now()).toISOString();
    const timeoutMs = check.timeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const raced = await Promise.race([
        Promise.resolve().then(() => check.run()),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`check timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      const list = Array.isArray(raced) ? raced : [raced];
      return list.map((r) => stripUndefined({ ...r, time: r.time ?? time }));
    } catch (e) {
      return [{ status: 'fail', time, output: errorMessage(e) }];
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}

function stripUndefined(r: HealthResult): HealthResult {
  for (const k of Object.keys(r)) if (r[k] === undefined) delete r[k];
  return r;
}

/** 200 for pass and warn, 503 for fail (the draft's recommendation). */
export function healthHttpStatus(status: HealthStatus): 200 | 503 {
  return status === 'fail' ? 503 : 200;
}
