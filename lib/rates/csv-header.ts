/**
 * The header line: found after any blank lines, read as CSV, and matched against the numerator and denominator
 * options. Every way it can be unusable is a NOT_CSV or MISSING_COLUMN error for the whole file.
 */
import { parse as parseCsvSync } from 'csv-parse/sync';
import { CR, MAX_RECORD_BYTES, NL, scanQuotedRecord } from './csv-tokenizer.ts';
import { RatesFileError } from './errors.ts';
import type { RateOptions } from './options.ts';

export interface HeaderRecord {
  /** Blank lines before the header (they are tolerated). */
  blankLines: number;
  /** Where the header record starts (after the blank lines). */
  start: number;
  /** Its terminating \n, or the end of the buffer at end of input. */
  recEnd: number;
  /** The header bytes without the line ending; null when the record needs more input. */
  raw: Buffer | null;
}

export interface HeaderColumns {
  numIdx: number;
  denIdx: number;
  /** Name of the appended column: `rate`, or `rate_2`, `rate_3`, ... if the file has one already. */
  rateColumn: string;
}

/** What the header tells the row phase: the column names, the two columns' indexes and the rate column's name. */
export interface HeaderInfo extends HeaderColumns {
  columns: string[];
}

/**
 * Reads a header record's bytes (`HeaderRecord.raw`): names and columns. The single path (RatesEngine) and the
 * parallel path's coordinator both call this, so both read a header the same way.
 */
export function readHeaderInfo(raw: Buffer, opts: RateOptions): HeaderInfo {
  const columns = parseHeaderNames(raw);
  return { columns, ...resolveColumns(columns, opts) };
}

/** The output's first line: the header as it was, with the rate column appended. */
export function headerOutputLine(raw: Buffer, rateColumn: string): Buffer {
  return Buffer.concat([raw, Buffer.from(`,${rateColumn}\n`)]);
}

/** Finds the header record at `pos`. Throws NOT_CSV when it is too long or uses CR-only line endings. */
export function findHeaderRecord(buf: Buffer, pos: number, final: boolean): HeaderRecord {
  const end = buf.length;
  let blankLines = 0;
  while (pos < end) {
    const nl = buf.indexOf(NL, pos);
    if (nl === -1) break;
    if (nl === pos || (nl === pos + 1 && buf[pos] === CR)) {
      blankLines++;
      pos = nl + 1;
    } else break;
  }
  const incomplete = { blankLines, start: pos, recEnd: -1, raw: null };
  if (pos >= end) return incomplete;
  const scan = scanQuotedRecord(buf, pos, end, final);
  const tooLong = (): RatesFileError =>
    new RatesFileError(
      'NOT_CSV',
      `The file is not CSV text: its first line is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB. Upload a comma-separated text file with one record per line.`,
    );
  if (scan.end === -1 && !final) {
    if (end - pos > MAX_RECORD_BYTES + 1) throw tooLong();
    return incomplete;
  }
  let recEnd = scan.end === -1 ? end : scan.end;
  if (scan.openQuoteColumn !== -1) {
    // Unclosed quote in the header: it is one line, not the whole file.
    const nl = buf.indexOf(NL, pos);
    recEnd = nl === -1 ? end : nl;
  }
  let e = recEnd;
  if (e > pos && buf[e - 1] === CR) e--;
  if (e - pos > MAX_RECORD_BYTES) throw tooLong();
  const raw = buf.subarray(pos, e);
  if (raw.indexOf(CR) !== -1) {
    throw new RatesFileError(
      'NOT_CSV',
      'The header line contains a carriage return (CR) on its own: the file seems to use classic Mac (CR-only) line endings. Re-save it with LF or CRLF line endings.',
    );
  }
  return { blankLines, start: pos, recEnd, raw };
}

/** The column names of a header line, trimmed. */
export function parseHeaderNames(raw: Buffer): string[] {
  try {
    const records = parseCsvSync(raw, {
      relax_quotes: true,
      relax_column_count: true,
      trim: true,
      record_delimiter: '\n',
    }) as string[][];
    return (records[0] ?? []).map((n) => n.trim());
  } catch (err) {
    throw new RatesFileError('NOT_CSV', `The header line could not be read as CSV: ${(err as Error).message}.`);
  }
}

/** Where the numerator and denominator are, and what to call the rate column; MISSING_COLUMN if one is absent. */
export function resolveColumns(names: string[], { numerator, denominator }: RateOptions): HeaderColumns {
  const numIdx = names.indexOf(numerator);
  const denIdx = names.indexOf(denominator);
  if (numIdx === -1 || denIdx === -1) throw missingColumnError(names, numerator, denominator, numIdx, denIdx);
  let rateColumn = 'rate';
  for (let i = 2; names.includes(rateColumn); i++) rateColumn = `rate_${i}`;
  return { numIdx, denIdx, rateColumn };
}

function missingColumnError(
  names: string[],
  numerator: string,
  denominator: string,
  numIdx: number,
  denIdx: number,
): RatesFileError {
  const missing: string[] = [];
  const hint = (want: string): string => {
    const similar = names.find((n) => n.toLowerCase() === want.toLowerCase());
    return similar === undefined ? '' : ` (did you mean "${similar}"? names are case-sensitive)`;
  };
  if (numIdx === -1) missing.push(`numerator column "${numerator}"${hint(numerator)}`);
  if (denIdx === -1 && !(denominator === numerator && numIdx === -1))
    missing.push(`denominator column "${denominator}"${hint(denominator)}`);
  const shown = names.slice(0, 50).map((n) => JSON.stringify(n.length > 60 ? `${n.slice(0, 60)}…` : n));
  const available =
    names.length === 0 ? 'none' : shown.join(', ') + (names.length > 50 ? `, … (${names.length} in all)` : '');
  return new RatesFileError(
    'MISSING_COLUMN',
    `The header has no ${missing.join(' and no ')}. Columns in the file: ${available}. Choose the numerator/denominator options from these.`,
  );
}
