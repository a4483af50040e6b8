/**
 * Builds the HTTP application (hono): metrics and logging middleware, the error envelope for
 * uncaught errors, and every registered route group. Usable in-process through
 * `app.request()` in tests, and served by `listen()`.
 */
import { Hono } from 'hono';
import type { ApiDeps } from './deps.ts';
import { ApiError, errorResponse } from './errors.ts';
import { httpMetricsMiddleware } from './self-metrics.ts';
import { ROUTE_REGISTRARS } from './routes.ts';
import { errorMessage } from '../model/index.ts';

export function buildHttpApp(deps: ApiDeps): Hono {
  const app = new Hono();
  app.use('*', httpMetricsMiddleware(deps.registry));
  app.use('*', async (c, next) => {
    const start = performance.now();
    await next();
    if (deps.logger.isLevelEnabled('debug')) {
      deps.logger.debug({ method: c.req.method, path: c.req.path, status: c.res.status, durationMs: Math.round((performance.now() - start) * 100) / 100 }, 'http request');
    }
  });
  app.onError((err, c) => {
    if (err instanceof ApiError) return errorResponse(c, err.errorType, err.message);
    deps.logger.error({ err: errorMessage(err), path: c.req.path }, 'unhandled error in HTTP handler');
    if (c.req.path.startsWith('/api/')) return errorResponse(c, 'internal', errorMessage(err));
    return c.text(`internal error: ${errorMessage(err)}\n`, 500);
  });
  for (const register of ROUTE_REGISTRARS) register(app, deps);
  return app;
}
