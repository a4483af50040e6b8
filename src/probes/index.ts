/**
 * Built-in probes: collectors that write samples named as the established exporters name
 * them (blackbox_exporter, postgres_exporter, redis_exporter, node_exporter, cAdvisor), plus
 * log-line counters, through `storage.Appender` only, with Prometheus staleness.
 *
 * Wiring: register `probesSection` in app.ts's configSections(); build one `ProbeManager`,
 * `applyConfig(cfg.get(probesSection))` on load and reload, `start()`, and `stop()` on
 * shutdown (it writes stale markers).
 */
export { ProbeManager, VIGIL_METADATA } from './manager.ts';
export type { ProbeManagerOptions, ProbeStatus } from './manager.ts';
export { probesSection, PROBE_TYPES, DEFAULT_JOBS, DEFAULT_INTERVAL_MS, DEFAULT_TIMEOUT_MS } from './config.ts';
export type {
  ProbesConfig, ProbeType, HttpProbeConfig, TcpProbeConfig, PostgresProbeConfig, RedisProbeConfig, HostProbeConfig, ContainerProbeConfig, LogProbeConfig, TlsConfig,
} from './config.ts';
export type { MetricMetadata, ProbeOutcome } from './types.ts';
