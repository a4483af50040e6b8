/**
 * The sections `config` itself owns: `global`, `server`, `storage`. Other modules define their
 * own sections (e.g. `scrape_configs` in scrape, `alerting` in alerting) with `defineSection`.
 */
import { z } from 'zod';
import { Labels } from '../model/index.ts';
import { defineSection } from './load.ts';
import { byteSize, duration, hostPort, httpUrl, labelSet, positiveDuration } from './schema.ts';

/** Prometheus' defaults: scrape every 1m with a 10s timeout, evaluate rules every 1m. */
export const GLOBAL_DEFAULTS = { scrape_interval: 60_000, scrape_timeout: 10_000, evaluation_interval: 60_000 } as const;

export const globalSection = defineSection(
  'global',
  z
    .strictObject({
      scrape_interval: positiveDuration().default(GLOBAL_DEFAULTS.scrape_interval),
      scrape_timeout: positiveDuration().default(GLOBAL_DEFAULTS.scrape_timeout),
      evaluation_interval: positiveDuration().default(GLOBAL_DEFAULTS.evaluation_interval),
      external_labels: labelSet().default(Labels.EMPTY),
      /** Stored with each query's text when set (Prometheus' query log). */
      query_log_file: z.string().optional(),
      /** Limits applied to every scrape unless a job overrides them (0 = none). */
      body_size_limit: byteSize().default(0),
      sample_limit: z.number().int().nonnegative().default(0),
      label_limit: z.number().int().nonnegative().default(0),
      label_name_length_limit: z.number().int().nonnegative().default(0),
      label_value_length_limit: z.number().int().nonnegative().default(0),
      target_limit: z.number().int().nonnegative().default(0),
    })
    .superRefine((g, ctx) => {
      if (g.scrape_timeout > g.scrape_interval) {
        ctx.addIssue({ code: 'custom', message: `global scrape timeout greater than scrape interval`, path: ['scrape_timeout'] });
      }
    })
    .default(() => ({
      scrape_interval: GLOBAL_DEFAULTS.scrape_interval,
      scrape_timeout: GLOBAL_DEFAULTS.scrape_timeout,
      evaluation_interval: GLOBAL_DEFAULTS.evaluation_interval,
      external_labels: Labels.EMPTY,
      body_size_limit: 0,
      sample_limit: 0,
      label_limit: 0,
      label_name_length_limit: 0,
      label_value_length_limit: 0,
      target_limit: 0,
    })),
);

export type GlobalConfig = z.output<typeof globalSection.schema>;

export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1:9090';

export const serverSection = defineSection(
  'server',
  z
    .strictObject({
      /** host:port the HTTP server listens on (`--web.listen-address` overrides it). */
      listen_address: hostPort().default(DEFAULT_LISTEN_ADDRESS),
      /** The URL under which Vigil is reached (links in alerts; `--web.external-url` overrides). */
      external_url: httpUrl().optional(),
      /** Upper bound on the graceful shutdown (in-flight requests, module flushes). */
      shutdown_timeout: positiveDuration().default(30_000),
    })
    .default(() => ({ listen_address: DEFAULT_LISTEN_ADDRESS, shutdown_timeout: 30_000 })),
);

export type ServerConfig = z.output<typeof serverSection.schema>;

export const storageSection = defineSection(
  'storage',
  z
    .strictObject({
      /** Data directory (`--storage.tsdb.path` overrides it). */
      path: z.string().min(1).default('./data'),
      retention: z
        .strictObject({
          /** Keep samples this long (`--storage.tsdb.retention.time`). */
          time: duration().default(15 * 86_400_000),
          /** Keep at most this many bytes of blocks; 0 = no size limit (`--storage.tsdb.retention.size`). */
          size: byteSize().default(0),
        })
        .default(() => ({ time: 15 * 86_400_000, size: 0 })),
    })
    .default(() => ({ path: './data', retention: { time: 15 * 86_400_000, size: 0 } })),
);

export type StorageConfig = z.output<typeof storageSection.schema>;

/** The sections every Vigil configuration has. */
export const CORE_SECTIONS = [globalSection, serverSection, storageSection] as const;
