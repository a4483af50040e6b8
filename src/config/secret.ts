import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { VigilError } from '../model/index.ts';

/** What every API, log line and UI shows instead of a secret. */
export const SECRET_PLACEHOLDER = '<secret>';

/**
 * A password, token or URL that must never be shown. It serialises (JSON, string, inspect) as
 * `<secret>`; only `reveal()` gives the value. A secret read from a `*_file` field is read
 * again on every `reveal()`, so rotating the file takes effect without a reload.
 */
export class Secret {
  private constructor(
    private readonly inlineValue: string | undefined,
    /** Absolute path of the file holding the secret, when it came from a `*_file` field. */
    readonly file: string | undefined,
  ) {}

  static inline(value: string): Secret {
    return new Secret(value, undefined);
  }

  static fromFile(absolutePath: string): Secret {
    return new Secret(undefined, absolutePath);
  }

  /** The secret's value (a file's content without its trailing newline). Throws when the file is unreadable. */
  reveal(): string {
    if (this.file === undefined) return this.inlineValue!;
    try {
      return readFileSync(this.file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new VigilError('secret_unreadable', `cannot read secret file ${this.file}: ${(e as Error).message}`);
    }
  }

  toJSON(): string {
    return SECRET_PLACEHOLDER;
  }

  toString(): string {
    return SECRET_PLACEHOLDER;
  }

  [inspect.custom](): string {
    return SECRET_PLACEHOLDER;
  }
}
