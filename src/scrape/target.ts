/**
 * Targets: from discovered label sets to scrape targets, with Prometheus 2.42's rules
 * (`PopulateLabels`): job/scheme/metrics path/interval/timeout/params as `__`-labels,
 * relabel_configs, a default port from the scheme, `instance` defaulting to the address,
 * `__meta_*` removed, labels starting with `__` kept out of the target's public labels.
 */
import { fnv1a32, formatDuration, isDuration, Labels, LabelsBuilder, parseDuration } from '../model/index.ts';
import type { ResolvedJob } from './config.ts';
import { relabel, type CompiledRelabel } from './relabel.ts';

export const ADDRESS_LABEL = '__address__';
export const SCHEME_LABEL = '__scheme__';
export const METRICS_PATH_LABEL = '__metrics_path__';
export const SCRAPE_INTERVAL_LABEL = '__scrape_interval__';
export const SCRAPE_TIMEOUT_LABEL = '__scrape_timeout__';
export const PARAM_LABEL_PREFIX = '__param_';
export const META_LABEL_PREFIX = '__meta_';

/** A group of targets as discovery yields it (Prometheus' targetgroup.Group). */
export interface TargetGroup {
  /** Identifies the group within its provider (file:index, static index). */
  source: string;
  /** One label set per target, each with at least `__address__`. */
  targets: Labels[];
  /** Labels common to the group's targets (a target's own labels win). */
  labels: Labels;
}

export interface PopulatedTarget {
  /** Labels after relabeling, `__`-labels included (null when relabeling dropped the target). */
  labels: Labels | null;
  /** Labels before relabeling (the API's `discoveredLabels`). */
  discovered: Labels;
  /** Why the target is invalid (it is then dropped). */
  error?: string;
}

/** Applies the job's defaults and relabel_configs to one discovered target. */
export function populateTargetLabels(discovered: Labels, job: ResolvedJob, rules: readonly CompiledRelabel[]): PopulatedTarget {
  const b = new LabelsBuilder(discovered);
  const defaults: Array<[string, string]> = [
    ['job', job.name],
    [SCRAPE_INTERVAL_LABEL, formatDuration(job.intervalMs)],
    [SCRAPE_TIMEOUT_LABEL, formatDuration(job.timeoutMs)],
    [METRICS_PATH_LABEL, job.config.metrics_path],
    [SCHEME_LABEL, job.config.scheme],
  ];
  for (const [n, v] of defaults) if (discovered.get(n) === '') b.set(n, v);
  for (const [k, vs] of Object.entries(job.config.params)) if (vs.length > 0) b.set(PARAM_LABEL_PREFIX + k, vs[0]!);
  const pre = b.build();
  const lset = relabel(pre, rules);
  if (lset === null) return { labels: null, discovered: pre };
  let addr = lset.get(ADDRESS_LABEL);
  if (addr === '') return { labels: null, discovered: pre, error: 'no address' };
  const out = new LabelsBuilder(lset);
  const scheme = lset.get(SCHEME_LABEL);
  if (!hasPort(addr)) {
    if (scheme === 'http' || scheme === '') addr += ':80';
    else if (scheme === 'https') addr += ':443';
    else return { labels: null, discovered: pre, error: `invalid scheme: ${JSON.stringify(scheme)}` };
    out.set(ADDRESS_LABEL, addr);
  }
  if (addr.includes('/')) return { labels: null, discovered: pre, error: `${JSON.stringify(addr)} is not a valid hostname` };
  const interval = lset.get(SCRAPE_INTERVAL_LABEL);
  const timeout = lset.get(SCRAPE_TIMEOUT_LABEL);
  if (!isDuration(interval)) return { labels: null, discovered: pre, error: `error parsing scrape interval: not a valid duration string: ${JSON.stringify(interval)}` };
  if (!isDuration(timeout)) return { labels: null, discovered: pre, error: `error parsing scrape timeout: not a valid duration string: ${JSON.stringify(timeout)}` };
  const iv = parseDuration(interval);
  const to = parseDuration(timeout);
  if (iv === 0) return { labels: null, discovered: pre, error: 'scrape interval cannot be 0' };
  if (to === 0) return { labels: null, discovered: pre, error: 'scrape timeout cannot be 0' };
  if (to > iv) return { labels: null, discovered: pre, error: `scrape timeout cannot be greater than scrape interval (${JSON.stringify(timeout)} > ${JSON.stringify(interval)})` };
  lset.forEach((n) => {
    if (n.startsWith(META_LABEL_PREFIX)) out.del(n);
  });
  if (lset.get('instance') === '') out.set('instance', addr);
  return { labels: out.build(), discovered: pre };
}

function hasPort(addr: string): boolean {
  if (addr.startsWith('[')) return /^\[[^\]]*\]:\d+$/.test(addr);
  const i = addr.lastIndexOf(':');
  return i >= 0 && /^\d+$/.test(addr.slice(i + 1)) && addr.indexOf(':') === i;
}

/** A scrape target: what a loop scrapes and how its samples are labelled. */
export class Target {
  /** All labels after relabeling, `__`-labels included. */
  readonly allLabels: Labels;
  /** The public labels: those not starting with `__` (attached to every sample). */
  readonly labels: Labels;
  readonly discoveredLabels: Labels;
  readonly url: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Identity (labels + URL), as Prometheus' target hash; also spreads scrape start times. */
  readonly hash: number;
  readonly key: string;

  constructor(allLabels: Labels, discovered: Labels, params: Readonly<Record<string, readonly string[]>> = {}) {
    this.allLabels = allLabels;
    this.discoveredLabels = discovered;
    const pub: string[] = [];
    allLabels.forEach((n, v) => {
      if (!n.startsWith('__')) pub.push(n, v);
    });
    this.labels = Labels.fromSortedPairs(pub);
    this.url = targetUrl(allLabels, params);
    this.intervalMs = parseDuration(allLabels.get(SCRAPE_INTERVAL_LABEL));
    this.timeoutMs = parseDuration(allLabels.get(SCRAPE_TIMEOUT_LABEL));
    this.key = this.labels.key() + '\xff' + this.url;
    this.hash = fnv1a32(this.key);
  }

  /**
   * Milliseconds from `now` to this target's first scrape: scrapes of a target happen at
   * instants congruent to (hash XOR seed) modulo the interval, so targets spread over the
   * interval and a target keeps its phase across restarts.
   */
  offsetMs(now: number, seed: number): number {
    const iv = this.intervalMs;
    const phase = ((this.hash ^ seed) >>> 0) % iv;
    const base = iv - (now % iv);
    let next = base + phase;
    if (next > iv) next -= iv;
    return next;
  }
}

/**
 * `scheme://address/path?params` from a target's labels: the job's `params`, with a
 * `__param_<name>` label replacing the first value of `<name>`; keys sorted (Go's Encode).
 */
export function targetUrl(l: Labels, cfgParams: Readonly<Record<string, readonly string[]>> = {}): string {
  const values = new Map<string, string[]>();
  for (const [k, vs] of Object.entries(cfgParams)) values.set(k, [...vs]);
  l.forEach((n, v) => {
    if (!n.startsWith(PARAM_LABEL_PREFIX)) return;
    const k = n.slice(PARAM_LABEL_PREFIX.length);
    const cur = values.get(k);
    if (cur && cur.length > 0) cur[0] = v;
    else values.set(k, [v]);
  });
  const params = new URLSearchParams();
  for (const k of [...values.keys()].sort()) for (const v of values.get(k)!) params.append(k, v);
  const q = params.toString();
  const scheme = l.get(SCHEME_LABEL) || 'http';
  const path = l.get(METRICS_PATH_LABEL) || '/metrics';
  return `${scheme}://${l.get(ADDRESS_LABEL)}${path}${q ? '?' + q : ''}`;
}
