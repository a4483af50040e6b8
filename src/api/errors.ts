/**
 * The Prometheus HTTP API error envelope `{status:"error", errorType, error}` and its status
 * codes, used by every JSON route.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { VigilError } from '../model/index.ts';

export type ApiErrorType = 'bad_data' | 'execution' | 'timeout' | 'canceled' | 'internal' | 'not_found' | 'unavailable' | 'not_acceptable' | 'forbidden' | 'unauthorized';

const STATUS: Record<ApiErrorType, ContentfulStatusCode> = {
  bad_data: 400,
  execution: 422,
  timeout: 503,
  canceled: 499 as ContentfulStatusCode,
  internal: 500,
  not_found: 404,
  unavailable: 503,
  not_acceptable: 406,
  forbidden: 403,
  unauthorized: 401,
};

/** An error a route throws to answer with the envelope. */
export class ApiError extends VigilError {
  readonly errorType: ApiErrorType;

  constructor(errorType: ApiErrorType, message: string, options?: { cause?: unknown }) {
    super(`api_${errorType}`, message, options);
    this.errorType = errorType;
  }

  get status(): ContentfulStatusCode {
    return STATUS[this.errorType];
  }
}

export function statusFor(errorType: ApiErrorType): ContentfulStatusCode {
  return STATUS[errorType];
}

/** Answers with the envelope; `warnings`/`infos` are kept as Prometheus does on errors. */
export function errorResponse(c: Context, errorType: ApiErrorType, message: string, extra?: { warnings?: string[]; infos?: string[] }): Response {
  const body: Record<string, unknown> = { status: 'error', errorType, error: message };
  if (extra?.warnings?.length) body.warnings = extra.warnings;
  if (extra?.infos?.length) body.infos = extra.infos;
  return c.json(body, STATUS[errorType]);
}

/** The success envelope `{status:"success", data, warnings?, infos?}`. */
export function successResponse(c: Context, data: unknown, extra?: { warnings?: readonly string[]; infos?: readonly string[] }): Response {
  const body: Record<string, unknown> = { status: 'success', data };
  if (extra?.warnings?.length) body.warnings = extra.warnings;
  if (extra?.infos?.length) body.infos = extra.infos;
  return c.json(body, 200);
}
