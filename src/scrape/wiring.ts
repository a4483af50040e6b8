/** From a loaded configuration to the jobs the scrape manager runs. */
import { globalSection, type VigilConfig } from '../config/index.ts';
import { resolveJob, scrapeConfigsSection, type ResolvedJob } from './config.ts';

/** The resolved jobs of a configuration (global defaults applied). */
export function scrapeJobsFromConfig(cfg: VigilConfig): ResolvedJob[] {
  const g = cfg.get(globalSection);
  return cfg.get(scrapeConfigsSection).map((c) => resolveJob(c, g));
}
