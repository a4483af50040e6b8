/**
 * The Prometheus exposition formats: text 0.0.4 and OpenMetrics 1.0 — a zero-allocation pull
 * parser, whole-input and streaming helpers, writers, and scrape content negotiation.
 */
export { Entry, ExpositionParser, familyOf, unescapeLabelValue } from './parser.ts';
export type { EntryKind, ExpositionFormat, MetricType, ResetOptions } from './parser.ts';
export { ExpositionParseError, UnsupportedContentTypeError } from './errors.ts';
export { decodeExposition, validateExpositionUtf8 } from './decode.ts';
export { parseExposition, parseExpositionStream } from './collect.ts';
export type { ParsedExposition, ParsedSample, ParsedExemplar, ParsedMetadata, StreamParseOptions } from './collect.ts';
export { ExpositionWriter, escapeLabelValue, CONTENT_TYPE_TEXT, CONTENT_TYPE_OPENMETRICS } from './writer.ts';
export { parseGoFloat, parseGoFloatBytes, formatOpenMetricsFloat } from './floats.ts';
export {
  DEFAULT_ACCEPT_HEADER,
  SCRAPE_PROTOCOLS,
  SUPPORTED_SCRAPE_PROTOCOLS,
  acceptHeader,
  formatForContentType,
  parseMediaType,
  protocolFormat,
} from './contenttype.ts';
export type { ScrapeProtocol, FormatChoice, MediaType } from './contenttype.ts';
