/** The HTTP layer: Prometheus-compatible API routes, health, self-metrics, serving. */
export { buildHttpApp } from './http.ts';
export { listen, splitHostPort } from './listen.ts';
export type { RunningHttpServer } from './listen.ts';
export { HealthRegistry, HEALTH_CONTENT_TYPE, healthHttpStatus } from './health.ts';
export type { HealthResponse, ServiceIdentity } from './health.ts';
export { processHealthChecks } from './process-checks.ts';
export type { ProcessCheckOptions } from './process-checks.ts';
export { createSelfMetricsRegistry } from './self-metrics.ts';
export { ApiError, errorResponse, successResponse, statusFor } from './errors.ts';
export type { ApiErrorType } from './errors.ts';
export type { ApiDeps, BuildInfo } from './deps.ts';
export { ROUTE_REGISTRARS } from './routes.ts';
export type { RouteRegistrar } from './routes.ts';
