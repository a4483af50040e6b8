/**
 * Content negotiation for scrapes: the `Accept` header Prometheus sends and the choice of a
 * parser from the response's `Content-Type` (Prometheus 3 semantics, with a configurable
 * fallback for missing or unknown types).
 */
import { UnsupportedContentTypeError } from './errors.ts';
import type { ExpositionFormat } from './parser.ts';

/** The protocol names of Prometheus' `scrape_protocols` / `fallback_scrape_protocol`. */
export const SCRAPE_PROTOCOLS = ['PrometheusProto', 'OpenMetricsText0.0.1', 'OpenMetricsText1.0.0', 'PrometheusText0.0.4', 'PrometheusText1.0.0'] as const;
export type ScrapeProtocol = (typeof SCRAPE_PROTOCOLS)[number];

const PROTOCOL_MEDIA_TYPES: Record<ScrapeProtocol, string> = {
  PrometheusProto: 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited',
  'OpenMetricsText0.0.1': 'application/openmetrics-text;version=0.0.1',
  'OpenMetricsText1.0.0': 'application/openmetrics-text;version=1.0.0',
  'PrometheusText0.0.4': 'text/plain;version=0.0.4',
  'PrometheusText1.0.0': 'text/plain;version=1.0.0',
};

/**
 * The Accept header of Prometheus 2.42's scrapes (OpenMetrics preferred, text format next).
 * Vigil sends it unless `scrape_protocols` is configured.
 */
export const DEFAULT_ACCEPT_HEADER =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** The formats Vigil parses (no protobuf). */
export const SUPPORTED_SCRAPE_PROTOCOLS: readonly ScrapeProtocol[] = ['OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', 'PrometheusText1.0.0', 'PrometheusText0.0.4'];

/**
 * The Accept header for an ordered list of protocols, weighted as Prometheus does for
 * `scrape_protocols` (first preferred; `*∕*` last).
 */
export function acceptHeader(protocols: readonly ScrapeProtocol[]): string {
  let weight = SCRAPE_PROTOCOLS.length + 1;
  const parts: string[] = [];
  for (const p of protocols) {
    parts.push(`${PROTOCOL_MEDIA_TYPES[p]};q=0.${weight}`);
    weight--;
  }
  parts.push(`*/*;q=0.${weight}`);
  return parts.join(',');
}

export interface MediaType {
  /** Lower-cased `type/subtype`. */
  type: string;
  /** Parameters with lower-cased names. */
  params: Record<string, string>;
}

/** Parses a media type as RFC 2045/Go's mime.ParseMediaType do; throws on malformed input or a repeated parameter. */
export function parseMediaType(value: string): MediaType {
  const semi = value.indexOf(';');
  const base = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  const slash = base.indexOf('/');
  if (slash <= 0 || slash === base.length - 1 || base.indexOf('/', slash + 1) >= 0 || !isToken(base.slice(0, slash)) || !isToken(base.slice(slash + 1))) {
    throw new UnsupportedContentTypeError(`malformed media type ${JSON.stringify(value)}`);
  }
  const params: Record<string, string> = {};
  let rest = semi < 0 ? '' : value.slice(semi + 1);
  while (rest.trim() !== '') {
    const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:;|$)/.exec(rest);
    if (!m) {
      if (/^\s*;?\s*$/.test(rest)) break;
      throw new UnsupportedContentTypeError(`malformed media type parameters in ${JSON.stringify(value)}`);
    }
    const name = m[1]!.toLowerCase();
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    if (Object.hasOwn(params, name)) throw new UnsupportedContentTypeError(`duplicate parameter ${JSON.stringify(name)} in media type ${JSON.stringify(value)}`);
    params[name] = v;
    rest = rest.slice(m[0].length);
  }
  return { type: base, params };
}

function isToken(s: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s);
}

export interface FormatChoice {
  format: ExpositionFormat;
  /** Set when the fallback was used: why (for the target's log and lastError-free warning). */
  warning?: string;
}

/**
 * Chooses the parser for a response Content-Type. Text formats map to `prometheus`,
 * OpenMetrics to `openmetrics`. A missing, malformed or unsupported type (including protobuf)
 * uses `fallback` when given (with a warning), else throws UnsupportedContentTypeError.
 */
export function formatForContentType(contentType: string | undefined | null, fallback?: ScrapeProtocol): FormatChoice {
  const fb = fallback ? protocolFormat(fallback) : undefined;
  const ct = (contentType ?? '').trim();
  if (ct === '') {
    const msg = 'non-compliant scrape target sending blank Content-Type';
    if (fb) return { format: fb, warning: `${msg}, using fallback_scrape_protocol ${JSON.stringify(fallback)}` };
    throw new UnsupportedContentTypeError(`${msg} and no fallback_scrape_protocol specified for target`);
  }
  let mt: MediaType;
  try {
    mt = parseMediaType(ct);
  } catch (e) {
    if (fb) return { format: fb, warning: `${(e as Error).message}, using fallback_scrape_protocol ${JSON.stringify(fallback)}` };
    throw new UnsupportedContentTypeError(`cannot parse Content-Type ${JSON.stringify(ct)} and no fallback_scrape_protocol set: ${(e as Error).message}`);
  }
  if (mt.type === 'application/openmetrics-text') return { format: 'openmetrics' };
  if (mt.type === 'text/plain') return { format: 'prometheus' };
  const why = mt.type === 'application/vnd.google.protobuf' ? 'the protobuf exposition format is not supported' : `unsupported Content-Type ${JSON.stringify(ct)}`;
  if (fb) return { format: fb, warning: `${why}, using fallback_scrape_protocol ${JSON.stringify(fallback)}` };
  throw new UnsupportedContentTypeError(`received ${why} and no fallback_scrape_protocol specified for target`);
}

/** The parser format of a text protocol; throws for PrometheusProto. */
export function protocolFormat(p: ScrapeProtocol): ExpositionFormat {
  if (p === 'PrometheusProto') throw new UnsupportedContentTypeError('the protobuf exposition format is not supported');
  return p.startsWith('OpenMetrics') ? 'openmetrics' : 'prometheus';
}
