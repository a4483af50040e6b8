/** The shared vocabulary: labels, matchers, durations, time, values, errors, health types. */
export { Labels, LabelsBuilder, METRIC_NAME, compareLabels, compareStrings, isLegacyLabelName, isLegacyMetricName, isValidLabelName, isWellFormedUtf16, quoteGo, fnv1a32 } from './labels.ts';
export { Matcher, MATCH_TYPES, matchesAll, analyzeRegex } from './matcher.ts';
export type { MatchType, MatcherOptions, RegexAnalysis } from './matcher.ts';
export { RegexSyntaxError, translateRe2, compileAnchoredRe2, compileRe2 } from './re2.ts';
export type { TranslatedRegex, Re2Options } from './re2.ts';
export { DurationError, parseDuration, isDuration, formatDuration, parseByteSize, formatByteSize } from './duration.ts';
export { TimeParseError, parseApiTime, parseApiDuration, formatApiTimestamp, formatRfc3339, formatGoTime, systemClock, MIN_TIME_MS, MAX_TIME_MS } from './time.ts';
export type { Clock } from './time.ts';
export { STALE_NAN, NORMAL_NAN, isStaleNaN, floatBits, formatFloatF, formatFloatG } from './value.ts';
export { VigilError, hasCode, errorMessage } from './errors.ts';
export { worstStatus } from './health.ts';
export type { PostableAlert, AlertSink } from './alert.ts';
export type { HealthStatus, HealthResult, HealthCheck, HealthCheckSink } from './health.ts';
