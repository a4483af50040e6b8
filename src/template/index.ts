/**
 * Go's text/template language as Prometheus (rule annotations and labels) and Alertmanager
 * (notifications) use it: a parser producing a reusable AST, a bounded executor (sync, and
 * async for `query`), Go's fmt and error messages, and the two function sets.
 */
export { TemplateSet } from './template.ts';
export type { TemplateSetOptions, ExecuteOptions } from './template.ts';
export { DEFAULT_LIMITS } from './exec.ts';
export type { ExecLimits, MissingKey } from './exec.ts';
export { TemplateParseError, TemplateExecError, TemplateLimitError, TemplateFuncError } from './errors.ts';
export { P, defineFunc, BUILTINS, htmlEscape, jsEscape, queryEscape } from './funcs.ts';
export type { FuncDef, FuncMap, TemplateFunc, ParamSpec, FuncContext } from './funcs.ts';
export { GO_TYPE, TypedString, goMap, goSlice, goStruct, typeName, isTrue } from './values.ts';
export type { GoTypeInfo } from './values.ts';
export { GoTime, GoDuration, UTC, loadLocation, formatTime, formatGoDuration } from './gotime.ts';
export type { GoLocation } from './gotime.ts';
export { sprintf, sprint, sprintln, formatValue, formatFloat } from './fmt.ts';

export {
  prometheusFuncs, AlertTemplate, checkAlertTemplate, alertTemplateData, newPrometheusTemplateSet, Sample,
  ALERT_TEMPLATE_DEFS, humanize, humanize1024, humanizeDuration, humanizePercentage, humanizeTimestamp, convertToFloat,
} from './prometheus.ts';
export type { PrometheusTemplateContext, TemplateQueryFn, QuerySample, AlertTemplateInput, ExpandResult } from './prometheus.ts';

export {
  alertmanagerFuncs, NotificationTemplates, NotificationData, Alert, Alerts, KV, Pair, Pairs,
  buildNotificationData, notificationDataFromJSON, quoteMeta,
} from './alertmanager.ts';
export type { NotificationInput, NotificationAlertInput, NotificationTemplateContext } from './alertmanager.ts';
export { DEFAULT_NOTIFICATION_TEMPLATES } from './defaults.ts';
