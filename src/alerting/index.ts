/**
 * Alert handling with Alertmanager's semantics: configuration in Alertmanager's format, the
 * routing tree, aggregation groups and their timers, inhibition, silences, time intervals,
 * the notification pipeline and receivers (webhook, Slack, PagerDuty, email), the notification
 * log and history, persisted in the state store.
 */
export { AlertingService } from './service.ts';
export type { AlertingServiceOptions, AlertView, AlertQuery, ServiceIntervals } from './service.ts';
export {
  alertingSection, defineAlertingSection, parseAlertmanagerConfig, alertmanagerYaml, alertmanagerDocumentSchema,
  DEFAULT_RESOLVE_TIMEOUT_MS, DEFAULT_GROUP_WAIT_MS, DEFAULT_GROUP_INTERVAL_MS, DEFAULT_REPEAT_INTERVAL_MS,
} from './config.ts';
export type { AlertingSectionConfig, AlertmanagerConfig, AlertingOptions, RouteConfig, ReceiverConfig } from './config.ts';
export type { Alert } from './alert.ts';
export { validateAlert, resolvedAt } from './alert.ts';
export { fingerprintPairs } from './fingerprint.ts';
export { parseMatcher, parseMatchers, matcherString, matchersString, matchesFilter, amMatcher } from './matchers.ts';
export { Route } from './route.ts';
export type { RouteOpts } from './route.ts';
export { silenceState, validateSilence } from './silences.ts';
export type { SilenceInput, SilenceState } from './silences.ts';
export type { AlertStatus, AlertState } from './marker.ts';
export type { GroupView } from './dispatch.ts';
export type { HistoryQuery, HistoryEntry } from './history.ts';
export { AlertingError, NotifyError } from './errors.ts';
export { routingTree, routesTest } from './routes-cli.ts';
export { parseAlertTime, ZERO_TIME_MS } from './decode.ts';
