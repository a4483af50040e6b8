/**
 * Vigil's own metrics registry: prom-client's process and Node.js metrics (with the three
 * whose names `promtool check metrics` rejects left out) and the HTTP
 * metrics of Vigil's own API, named so that the runbook's queries work on Vigil itself.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';

/**
 * prom-client adds gauges named `*_total` (totals of the per-type `nodejs_active_*` gauges it
 * also exports), which promtool's linter refuses for non-counters: they are dropped.
 */
const RENAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createSelfMetricsRegistry(version: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of RENAMED_DEFAULTS) registry.removeSingleMetric(name);
  new Gauge({ name: 'vigil_build_info', help: 'A metric with a constant 1 labelled by the version Vigil was built from.', labelNames: ['version', 'nodejs_version'], registers: [registry] })
    .set({ version, nodejs_version: process.version }, 1);
  return registry;
}

/** Counts and times every request by method, matched route pattern and status code. */
export function httpMetricsMiddleware(registry: Registry): MiddlewareHandler {
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests served by Vigil, by method, route and status code.', labelNames: ['method', 'route', 'code'], registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route and status code.',
    labelNames: ['method', 'route', 'code'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  return async (c, next) => {
    const start = process.hrtime.bigint();
    let code = 500;
    try {
      await next();
      code = c.res.status;
    } finally {
      let route = routePath(c, -1);
      if (!route || route === '/*' || route === '*') route = c.res.status === 404 ? 'unmatched' : route || 'unmatched';
      const labels = { method: c.req.method, route, code: String(code) };
      requests.inc(labels);
      duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    }
  };
}
