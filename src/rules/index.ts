/**
 * Recording and alerting rules with Prometheus' semantics: rule files, group evaluation with
 * Prometheus' scheduling, alert states, templating, delivery to in-process sinks and external
 * Alertmanagers, `check rules` and the promtool rule unit-test format.
 *
 * Rules depend on a `QueryFunc` (instant queries) and a storage `Appendable`, never on the
 * engine or the store: `engineQueryFunc(engine, storage)` adapts a PromQL engine.
 */
export type { QueryFunc, RuleSample, OutputSample, RuleHealth, AlertState, Alert, NotifyFunc } from './types.ts';
export { engineQueryFunc, NOT_A_VECTOR, NotAVectorError } from './query.ts';
export type { InstantQueryEngine } from './query.ts';
export {
  parseRuleFile, loadRuleFile, formatRuleFileProblem, findDuplicateRules, formatDuplicates, pairsToLabels, RuleFileError,
} from './rulefile.ts';
export type { RuleDef, RuleGroupDef, RuleFileProblem, ParsedRuleFile, DuplicateRule } from './rulefile.ts';
export {
  Rule, RecordingRule, AlertingRule, RuleEvalError, RESOLVED_RETENTION_MS, ALERT_METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME,
} from './rule.ts';
export { Group, groupKey, evalOffsetMs, realScheduler } from './group.ts';
export type { Scheduler, GroupOptions } from './group.ts';
export {
  RuleManager, DEFAULT_OUTAGE_TOLERANCE_MS, DEFAULT_FOR_GRACE_PERIOD_MS, DEFAULT_RESEND_DELAY_MS, tableLinkForExpression,
} from './manager.ts';
export type { RuleManagerOptions, RuleManagerConfig, RuleLoadReport } from './manager.ts';
export { AlertDispatcher, LogAlertSink, CollectingAlertSink, alertToV2Json, DEFAULT_QUEUE_CAPACITY, MAX_BATCH_SIZE } from './notifier.ts';
export type { AlertDispatcherOptions, AlertmanagerInfo } from './notifier.ts';
export { ruleFilesSection, rulesAlertingSection, ALERTING_RULES_KEYS, alertmanagerConfigSchema } from './config.ts';
export type { AlertmanagerConfig, RuleFilesConfig, RulesAlertingConfig } from './config.ts';
export { glob, GlobError } from './glob.ts';
export { runRuleTests } from './unittest/runner.ts';
export type { RuleTestEnv } from './unittest/runner.ts';
export { parseSeriesDesc, parseMetric, SeriesParseError } from './unittest/series.ts';
