/**
 * Prometheus-compatible scraping: `scrape_configs` (static and file discovery, relabeling,
 * limits, auth, TLS), scrape loops writing through `storage.Appender` with Prometheus'
 * synthetic series and staleness, and what the API shows (targets, metadata, health).
 */
export { scrapeConfigsSection, resolveJob, jobFingerprint, RELABEL_ACTIONS, relabelConfig } from './config.ts';
export type { ScrapeConfig, RelabelConfig, ResolvedJob, RelabelAction, TlsConfig } from './config.ts';
export { ScrapeManager } from './manager.ts';
export type { ScrapeManagerOptions, ActiveTargetInfo, DroppedTargetInfo, TargetMetadataEntry } from './manager.ts';
export { ScrapeLoop, ScrapeStats, ScrapeAppendError } from './loop.ts';
export type { MetricMetadata, TargetHealth } from './loop.ts';
export { ScrapeHttpClient, ScrapeError } from './http.ts';
export { relabel, compileRelabelConfigs, hashMod, expandTemplate } from './relabel.ts';
export type { CompiledRelabel } from './relabel.ts';
export { Target, populateTargetLabels, targetUrl } from './target.ts';
export type { TargetGroup } from './target.ts';
export { StaticDiscovery, FileDiscovery, parseFileSd, expandFilePattern, FileSdError } from './discovery.ts';
export { SeriesCache } from './cache.ts';
export { scrapeJobsFromConfig, startScraping } from './wiring.ts';
export type { ScrapeServiceOptions } from './wiring.ts';
