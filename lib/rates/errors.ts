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

/**
 * The whole-file errors that the single path (ChunkFramer, RatesEngine) and the parallel path's coordinator
 * (parallel/header.ts, parallel/merge.ts) both raise, worded once.
 */
export function emptyFileError(kind: 'zero-bytes' | 'blank-lines'): RatesFileError {
  return new RatesFileError(
    'EMPTY_FILE',
    kind === 'zero-bytes'
      ? 'The file is empty (0 bytes). Upload a CSV file with a header line and data rows.'
      : 'The file has no header line: it contains only blank lines. Upload a CSV file with a header line and data rows.',
  );
}

/** No row could be used: `badRows` of them were bad, the first (in file order) at `first`. */
export function noValidRowsError(badRows: number, first: { line: number; reason: string } | undefined): RatesFileError {
  if (badRows === 0 || first === undefined) {
    return new RatesFileError('NO_VALID_ROWS', 'The file has a header line but no data rows.');
  }
  return new RatesFileError(
    'NO_VALID_ROWS',
    `None of the data rows could be used: ${badRows} bad row${badRows === 1 ? '' : 's'}. ` +
      `First problem, line ${first.line}: ${first.reason}.`,
  );
}
