/**
 * Typed errors of the PromQL module. Codes are stable; messages are Prometheus' texts where
 * Prometheus has one (the API and the conformance corpus compare them verbatim).
 *
 * - `ParseError` (`promql_parse`): syntax and type errors, rendered `1:14: parse error: ...`
 *   (line and byte column of the offending position, as Prometheus prints them).
 * - `QueryError` (`promql_execution`): evaluation errors (`many-to-many matching not allowed`,
 *   `vector cannot contain metrics with the same labelset`, ...). The API maps it to 422.
 * - `QueryTimeoutError`, `QueryCanceledError`, `TooManySamplesError`: limits.
 * - `QueryStorageError`: the storage failed while reading (API: 500 `internal`).
 */
import { VigilError } from '../model/index.ts';
import type { PosRange } from './ast.ts';

export class ParseError extends VigilError {
  /** Position range in UTF-16 offsets into `query`. */
  readonly pos: PosRange;
  /** The bare message without position (`unexpected end of input`). */
  readonly detail: string;
  readonly query: string;

  constructor(query: string, pos: PosRange, detail: string) {
    super('promql_parse', `${positionString(query, pos.start)}: parse error: ${detail}`);
    this.pos = pos;
    this.detail = detail;
    this.query = query;
  }
}

export class QueryError extends VigilError {
  constructor(message: string, code = 'promql_execution') {
    super(code, message);
  }
}

export class QueryTimeoutError extends VigilError {
  constructor(where = 'expression evaluation') {
    super('promql_timeout', `query timed out in ${where}`);
  }
}

export class QueryCanceledError extends VigilError {
  constructor(where = 'expression evaluation') {
    super('promql_canceled', `query was canceled in ${where}`);
  }
}

export class TooManySamplesError extends VigilError {
  constructor(where = 'query execution') {
    super('promql_too_many_samples', `query processing would load too many samples into memory in ${where}`);
  }
}

export class QueryStorageError extends VigilError {
  constructor(message: string, cause?: unknown) {
    super('promql_storage', message, { cause });
  }
}

/** UTF-8 byte length of a JS string (no allocation for ASCII). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else if (c >= 0xdc80 && c <= 0xdcff) n += 1; // a raw byte kept as a surrogate escape
    else n += 3;
  }
  return n;
}

/**
 * `line:col` of a UTF-16 offset as Prometheus prints positions: 1-based line, column in UTF-8
 * bytes from the start of the line, 1-based.
 */
export function positionString(query: string, pos: number, lineOffset = 0): string {
  if (pos < 0 || pos > query.length) return 'invalid position:';
  let line = 1 + lineOffset;
  let lineStart = 0;
  for (let i = 0; i < pos; i++) {
    if (query.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return `${line}:${utf8Length(query.slice(lineStart, pos)) + 1}`;
}
