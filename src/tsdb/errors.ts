/** Errors of the embedded store. Codes are stable. */
import { VigilError } from '../model/index.ts';

export type TsdbErrorCode =
  | 'invalid_labels'
  | 'invalid_option'
  | 'corrupt_block'
  | 'corrupt_wal'
  | 'corrupt_chunk'
  | 'corrupt_snapshot'
  | 'lock_held'
  | 'closed'
  | 'import_failed';

export class TsdbError extends VigilError {
  declare readonly code: TsdbErrorCode;

  constructor(code: TsdbErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Errors from the file system with a short, actionable description. */
export function describeFsError(e: unknown, what: string): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOSPC':
      return `${what}: no space left on device`;
    case 'EDQUOT':
      return `${what}: disk quota exceeded`;
    case 'EACCES':
    case 'EPERM':
      return `${what}: permission denied`;
    case 'EROFS':
      return `${what}: read-only file system`;
    case 'EIO':
      return `${what}: input/output error`;
    default:
      return `${what}: ${err?.message ?? String(e)}`;
  }
}
