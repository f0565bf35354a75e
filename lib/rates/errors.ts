import { UserError } from '../errors.ts';

export type RatesErrorCode = 'EMPTY_FILE' | 'NOT_CSV' | 'MISSING_COLUMN' | 'NO_VALID_ROWS' | 'INVALID_OPTIONS';

/**
 * A problem with the uploaded file (or the job options) as a whole, as opposed to a single bad row.
 * The message is shown to the user verbatim, so it says what is wrong and what to do about it.
 */
export class RatesFileError extends UserError {
  declare readonly code: RatesErrorCode;

  constructor(code: RatesErrorCode, message: string) {
    super(code, message);
    this.name = 'RatesFileError';
    this.stack = `${this.name}: ${message}`;
  }
}
