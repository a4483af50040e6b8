import { VigilError } from '../model/index.ts';

/**
 * Errors of alert handling. Codes:
 * - `alert_invalid`: a posted alert breaks Alertmanager's rules (no labels, bad label name, no start time, ends before it starts);
 * - `matcher_invalid`: a matcher (filter, silence, route) does not parse;
 * - `silence_invalid`: a silence breaks Alertmanager's rules;
 * - `silence_not_found`: no silence has the given id;
 * - `alerting_config`: the alerting configuration cannot be used (e.g. a template file does not parse).
 */
export class AlertingError extends VigilError {
  constructor(code: 'alert_invalid' | 'matcher_invalid' | 'silence_invalid' | 'silence_not_found' | 'alerting_config', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A failed delivery: `retry` says whether trying again may help (5xx, network errors). */
export class NotifyError extends VigilError {
  constructor(message: string, readonly retry: boolean, options?: { cause?: unknown }) {
    super('notify_failed', message, options);
  }
}
