/**
 * What the HTTP layer is given. Core members are always present; module services are optional
 * and their routes are registered only when they are (so tests can build an app with just the
 * parts they exercise).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ConfigManager, ReloadResult } from '../config/index.ts';
import type { HealthRegistry } from './health.ts';
import type { AlertingService } from '../alerting/index.ts';
import type { AlertDispatcher, RuleManager } from '../rules/index.ts';
import type { PromqlApiDeps } from './promql-routes.ts';
import type { ScrapeApi } from './scrape-routes.ts';
import type { TsdbApi } from './tsdb-routes.ts';

/** The fields of Prometheus' `/api/v1/status/buildinfo`. */
export interface BuildInfo {
  version: string;
  revision: string;
  branch: string;
  buildUser: string;
  buildDate: string;
  /** Prometheus reports its Go version here; Vigil reports the Node.js version. */
  goVersion: string;
}

export interface ApiDeps {
  logger: Logger;
  registry: Registry;
  health: HealthRegistry;
  buildInfo: BuildInfo;
  /** Start time of the process (ms). */
  startTime: number;
  /** True once start-up has finished (`/-/ready`). */
  isReady(): boolean;
  /** Reloads the configuration (`POST /-/reload`, SIGHUP). */
  reload(): Promise<ReloadResult>;
  config: ConfigManager;
  /** Command-line flags as given, with defaults (`/api/v1/status/flags`). */
  flags: Record<string, string>;
  /** Data directory (absolute). */
  dataDir: string;
  /** Ask the process to shut down (`POST /-/quit`, when the lifecycle API is enabled). */
  requestShutdown?(): void;
  /** Whether `/-/quit` is enabled (`--web.enable-lifecycle`). */
  lifecycleEnabled?: boolean;
  /** The PromQL engine and the store it reads (`/api/v1/query` and friends). */
  promql?: PromqlApiDeps;
  /** Scrape targets and their metadata (`/api/v1/targets`, `/api/v1/targets/metadata`). */
  scrape?: ScrapeApi;
  /** Rule groups and their alerts (`/api/v1/rules`, `/api/v1/alerts`); routes registered when set. */
  rules?: RuleManager;
  /** Where rule alerts are delivered (`/api/v1/alertmanagers`). */
  alertDispatcher?: AlertDispatcher;
  /** Alert handling: Alertmanager API v2 and `/api/v1/alerts/history` are served when set. */
  alerting?: AlertingService;
  /** The embedded store: `/api/v1/status/tsdb` and the admin TSDB routes are served when set. */
  tsdb?: TsdbApi;
  /** Whether the admin API is enabled (`--web.enable-admin-api`). */
  adminApiEnabled?: boolean;
}
