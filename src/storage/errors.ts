/** Errors of the storage contract, with Prometheus' wording. Codes are stable. */
import { VigilError } from '../model/index.ts';

export type StorageErrorCode =
  | 'out_of_order_sample'
  | 'out_of_bounds'
  | 'duplicate_sample_for_timestamp'
  | 'too_old_sample'
  | 'appender_closed'
  | 'write_failed'
  | 'closed';

const MESSAGES: Record<StorageErrorCode, string> = {
  out_of_order_sample: 'out of order sample',
  out_of_bounds: 'out of bounds',
  duplicate_sample_for_timestamp: 'duplicate sample for timestamp',
  too_old_sample: 'too old sample',
  appender_closed: 'appender already committed or rolled back',
  write_failed: 'write failed',
  closed: 'storage is closed',
};

export class StorageError extends VigilError {
  declare readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(code, detail ? `${MESSAGES[code]}: ${detail}` : MESSAGES[code], options);
  }
}

export function isSampleRejection(e: unknown): e is StorageError {
  return (
    e instanceof StorageError &&
    (e.code === 'out_of_order_sample' || e.code === 'out_of_bounds' || e.code === 'duplicate_sample_for_timestamp' || e.code === 'too_old_sample')
  );
}
