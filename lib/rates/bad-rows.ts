/**
 * Rows that cannot be used: why (in words the user can act on), counted, and the first few kept as samples.
 * The careful check of a row's two values lives here too; the engine's fast path only handles plain numbers.
 */
import { parseField } from './number-parse.ts';

export interface BadRow {
  /** 1-based physical line in the input where the record starts (the header is line 1). */
  line: number;
  reason: string;
}

const MAX_BAD_ROW_SAMPLES = 100;

export class BadRowLog {
  count = 0;
  samples: BadRow[] = [];

  add(line: number, reason: string): void {
    this.count++;
    if (this.samples.length < MAX_BAD_ROW_SAMPLES) this.samples.push({ line, reason });
  }
}

/** The rate's two columns: their names (the options) and their indexes in the header. */
export interface RateColumns {
  numerator: string;
  denominator: string;
  numIdx: number;
  denIdx: number;
}

/**
 * Validates a row from its field texts (null: the row has no such field). Returns the rate, or the reason the
 * row is bad.
 */
export function checkRow(
  cols: RateColumns,
  numStr: string | null,
  denStr: string | null,
  fieldCount: number,
): number | string {
  const { numerator, denominator } = cols;
  if (numStr === null || denStr === null) {
    const missing: string[] = [];
    if (numStr === null) missing.push(`${numerator} is column ${cols.numIdx + 1}`);
    if (denStr === null && (numerator !== denominator || numStr !== null))
      missing.push(`${denominator} is column ${cols.denIdx + 1}`);
    return `row has ${fieldCount} field${fieldCount === 1 ? '' : 's'}, ${missing.join(' and ')}`;
  }
  const problems: string[] = [];
  const num = parseField(numerator, numStr, problems);
  const den = numerator === denominator && numStr === denStr ? num : parseField(denominator, denStr, problems);
  if (num === null || den === null) {
    return numerator === denominator ? (problems[0] ?? '') : problems.join('; ');
  }
  if (!(den > 0)) return `${denominator} must be > 0, got ${String(den)}`;
  const rate = num / den;
  if (!Number.isFinite(rate))
    return `${numerator} / ${denominator} = ${String(num)} / ${String(den)} is too large to represent`;
  return rate;
}

export function unclosedQuoteReason(column: number, size: string | null): string {
  const where = column >= 0 ? `the quote opening field ${column + 1}` : 'a quote';
  return size === null
    ? `${where} is never closed (stray " character?); skipped this line`
    : `${where} is not closed within ${size} (stray " character?); skipped this line`;
}
