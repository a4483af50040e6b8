/** From a loaded configuration to the jobs the scrape manager runs. */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { globalSection, type ConfigManager, type VigilConfig } from '../config/index.ts';
import { fnv1a32, type HealthCheckSink } from '../model/index.ts';
import type { Appendable } from '../storage/index.ts';
import { resolveJob, scrapeConfigsSection, type ResolvedJob } from './config.ts';
import { ScrapeManager } from './manager.ts';

/** The resolved jobs of a configuration (global defaults applied). */
export function scrapeJobsFromConfig(cfg: VigilConfig): ResolvedJob[] {
  const g = cfg.get(globalSection);
  return cfg.get(scrapeConfigsSection).map((c) => resolveJob(c, g));
}

/** What `startScraping` needs from the application. */
export interface ScrapeServiceOptions {
  config: ConfigManager;
  appendable: Appendable;
  logger: Logger;
  registry?: Registry;
  health?: HealthCheckSink;
  /** e.g. `Vigil/0.1.0` */
  userAgent?: string;
}

/**
 * Starts scraping the running configuration's `scrape_configs` and re-applies them on every
 * reload (unchanged jobs keep running). Stop with `manager.stop()`.
 */
export async function startScraping(opts: ScrapeServiceOptions): Promise<ScrapeManager> {
  const cfg = opts.config.current;
  const external = cfg.get(globalSection).external_labels;
  const manager = new ScrapeManager({
    appendable: opts.appendable,
    logger: opts.logger,
    registry: opts.registry,
    health: opts.health,
    userAgent: opts.userAgent,
    offsetSeed: fnv1a32(hostname() + '\xff' + external.key()),
  });
  await manager.applyConfig(scrapeJobsFromConfig(cfg));
  opts.config.subscribe('scrape', (next) => manager.applyConfig(scrapeJobsFromConfig(next)));
  return manager;
}
