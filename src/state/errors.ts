import { VigilError } from '../model/index.ts';

/**
 * A failure of the durable state store. Codes:
 * - `state_unavailable`: the store cannot be reached or opened (PostgreSQL down, data directory unusable);
 * - `state_migration`: the schema could not be brought up to date;
 * - `state_closed`: the store was used after `close()`;
 * - `state_query`: a statement failed.
 */
export class StateError extends VigilError {
  constructor(code: 'state_unavailable' | 'state_migration' | 'state_closed' | 'state_query', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
