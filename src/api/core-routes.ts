/** Liveness, readiness, health, self-metrics, reload and quit: the routes every Vigil serves. */
import type { Context, Hono } from 'hono';
import type { ApiDeps } from './deps.ts';
import { HEALTH_CONTENT_TYPE, healthHttpStatus } from './health.ts';
import { errorResponse } from './errors.ts';

export function registerCoreRoutes(app: Hono, deps: ApiDeps): void {
  app.get('/health', (c) => {
    c.header('Content-Type', HEALTH_CONTENT_TYPE);
    c.header('Cache-Control', 'no-store');
    return c.body(JSON.stringify(deps.health.liveness()), 200);
  });

  app.get('/health/detailed', async (c) => {
    const body = await deps.health.detailed();
    c.header('Content-Type', HEALTH_CONTENT_TYPE);
    c.header('Cache-Control', 'no-store');
    return c.body(JSON.stringify(body), healthHttpStatus(body.status));
  });

  app.get('/-/healthy', (c) => c.text('Vigil is Healthy.\n', 200));
  app.on('HEAD', '/-/healthy', (c) => c.body(null, 200));
  app.get('/-/ready', (c) => (deps.isReady() ? c.text('Vigil is Ready.\n', 200) : c.text('Service Unavailable', 503)));
  app.on('HEAD', '/-/ready', (c) => c.body(null, deps.isReady() ? 200 : 503));

  const reload = async (c: Context) => {
    const r = await deps.reload();
    if (!r.success) return c.text(`failed to reload config: ${r.error}\n`, 500);
    return c.text('', 200);
  };
  app.post('/-/reload', reload);
  app.put('/-/reload', reload);

  const quit = (c: Context) => {
    if (!deps.lifecycleEnabled || !deps.requestShutdown) return c.text('Lifecycle API is not enabled.', 403);
    setImmediate(() => deps.requestShutdown!());
    return c.text('Requesting termination... Goodbye!', 200);
  };
  app.post('/-/quit', quit);
  app.put('/-/quit', quit);

  app.get('/metrics', async (c) => {
    const text = await deps.registry.metrics();
    c.header('Content-Type', deps.registry.contentType);
    return c.body(text, 200);
  });

  app.get('/api/v1/status/buildinfo', (c) => c.json({ status: 'success', data: deps.buildInfo }));

  app.get('/api/v1/status/flags', (c) => c.json({ status: 'success', data: deps.flags }));

  app.get('/api/v1/status/config', (c) => c.json({ status: 'success', data: { yaml: deps.config.current.redactedYaml() } }));

  app.get('/api/v1/status/runtimeinfo', (c) => {
    const last = deps.config.lastReload;
    return c.json({
      status: 'success',
      data: {
        startTime: new Date(deps.startTime).toISOString(),
        CWD: process.cwd(),
        reloadConfigSuccess: last.success,
        lastConfigTime: new Date(last.time).toISOString(),
        corruptionCount: 0,
        goroutineCount: 0,
        GOMAXPROCS: 1,
        GOMEMLIMIT: 0,
        GOGC: '',
        GODEBUG: '',
        storageRetention: deps.flags['storage.tsdb.retention.time'] ?? '',
      },
    });
  });

  app.notFound((c) => {
    if (c.req.path.startsWith('/api/')) return errorResponse(c, 'not_found', `no route for ${c.req.method} ${c.req.path}`);
    return c.text('404 page not found\n', 404);
  });
}
