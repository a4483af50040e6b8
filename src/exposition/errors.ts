/** Typed errors of the exposition formats. Codes are stable. */
import { VigilError } from '../model/index.ts';

/**
 * The input is not valid in the format it was parsed as. `line` and `column` are 1-based and
 * point at the offending character; the whole parse is void (callers must not keep any sample
 * of it).
 */
export class ExpositionParseError extends VigilError {
  readonly line: number;
  readonly column: number;

  constructor(message: string, line: number, column: number) {
    super('exposition_parse_error', `line ${line}, column ${column}: ${message}`);
    this.line = line;
    this.column = column;
  }
}

/** A Content-Type that names no format Vigil can parse (and no fallback was configured). */
export class UnsupportedContentTypeError extends VigilError {
  constructor(message: string) {
    super('unsupported_content_type', message);
  }
}
