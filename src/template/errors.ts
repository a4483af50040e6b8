import { VigilError } from '../model/index.ts';

/**
 * A template that does not parse. `message` is Go's text: `template: NAME:LINE: what`.
 * Code `template_parse`.
 */
export class TemplateParseError extends VigilError {
  /** Name of the template (file) being parsed. */
  readonly templateName: string;
  /** 1-based line of the error. */
  readonly line: number;

  constructor(templateName: string, line: number, detail: string) {
    super('template_parse', `template: ${templateName}:${line}: ${detail}`);
    this.templateName = templateName;
    this.line = line;
  }
}

/**
 * An error while executing a template. `message` is Go's text:
 * `template: NAME:LINE:COL: executing "NAME" at <node>: what` (COL is Go's: a 0-based byte
 * offset on the line). Code `template_exec`.
 */
export class TemplateExecError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('template_exec', message, options);
  }
}

/**
 * Execution stopped because a bound was reached (steps, output size, template depth, async
 * calls). Code `template_limit`. Its message has the same `template: ...` prefix.
 */
export class TemplateLimitError extends VigilError {
  constructor(message: string) {
    super('template_limit', message);
  }
}

/** Thrown by template functions to report an error the way a Go function returns one. */
export class TemplateFuncError extends Error {}
