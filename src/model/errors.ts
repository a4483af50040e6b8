/**
 * The base of Vigil's typed errors. `code` is stable (tests, API clients and logs may depend
 * on it); `message` is for people and says what to do where it can.
 */
export class VigilError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `e` is a VigilError with the given code. */
export function hasCode(e: unknown, code: string): boolean {
  return e instanceof VigilError && e.code === code;
}

/** The message of any thrown value, for logs and API errors. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
