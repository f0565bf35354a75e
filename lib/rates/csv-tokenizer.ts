/**
 * The CSV record tokenizer: finds where records end and where their fields lie, with RFC 4180 quoting read the
 * way csv-parse reads it with relax_quotes. Records end only at \n; a CR before it is the caller's to strip.
 */

import { parse as parseCsvSync } from 'csv-parse/sync';

export const NL = 10;
export const CR = 13;
export const QUOTE = 34;
export const COMMA = 44;

/**
 * A record still open after this many bytes is given up on: a stray quote would otherwise swallow the rest
 * of the file into one record (and into memory).
 */
export const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * Where a scan stopped inside a record, so that a later scan can carry on from there: at the start of a
 * field, inside an unquoted field, inside a quoted field, or inside a quoted field just after a quote (which
 * the next byte decides: another quote makes it an escaped "", anything else closes the field).
 * `column` is the 0-based field the scan is in.
 */
export type QuoteMode = 'field-start' | 'unquoted' | 'quoted' | 'quoted-quote';

export interface QuoteState {
  mode: QuoteMode;
  column: number;
}

/** The state at the first byte of a record. */
export const RECORD_START: QuoteState = Object.freeze({ mode: 'field-start', column: 0 });

/** Result of looking for the end of a record that contains a quote. */
export interface QuotedScan {
  /** Index of the terminating \n, or -1 if the buffer ends inside the record. */
  end: number;
  /** Field (0-based) whose quote is still open when the buffer ends, or -1. */
  openQuoteColumn: number;
  /** Where the scan stopped: RECORD_START after a \n, else the state to resume from at `end` of the range. */
  state: QuoteState;
}

/**
 * Finds the end of the record starting at `s` with RFC 4180 quoting, the same way csv-parse does with
 * relax_quotes: a quote opens a quoted field only at the start of a field, "" inside it is an escaped quote,
 * and any other quote closes it. At end of input (`final`) a record without \n ends at `end`.
 *
 * `from` is the state at `s` when the record started earlier (a byte range cut out of a file, or a record cut
 * by a chunk boundary): scanning [a, b) and then [b, c) from the state returned gives what scanning [a, c)
 * gives.
 */
export function scanQuotedRecord(
  buf: Buffer,
  s: number,
  end: number,
  final: boolean,
  from: QuoteState = RECORD_START,
): QuotedScan {
  let atFieldStart = from.mode === 'field-start';
  let column = from.column;
  let i = s;
  let inQuotes = from.mode === 'quoted';
  if (from.mode === 'quoted-quote') {
    if (i >= end) return { end: -1, openQuoteColumn: -1, state: from };
    // The quote before `s` was the first half of "" (still quoted) or it closed the field.
    if (buf[i] === QUOTE) {
      inQuotes = true;
      i++;
    }
  }
  for (;;) {
    if (inQuotes) {
      // Inside a quoted field: look for its closing quote.
      inQuotes = false;
      atFieldStart = false;
      const closed = skipQuoted(buf, i, end);
      if (closed === -1) return { end: -1, openQuoteColumn: final ? column : -1, state: { mode: 'quoted', column } };
      // A quote that is the last byte so far may yet turn out to be half of "".
      if (closed === end) return { end: -1, openQuoteColumn: -1, state: { mode: 'quoted-quote', column } };
      i = closed;
    }
    if (i >= end) break;
    const c = buf[i] as number;
    if (c === NL) return { end: i, openQuoteColumn: -1, state: RECORD_START };
    if (c === COMMA) {
      atFieldStart = true;
      column++;
    } else if (c === QUOTE && atFieldStart) {
      inQuotes = true;
    } else {
      atFieldStart = false;
    }
    i++;
  }
  return { end: -1, openQuoteColumn: -1, state: { mode: atFieldStart ? 'field-start' : 'unquoted', column } };
}

/** From inside a quoted field at `i`: the index just past its closing quote, or -1 if none before `end`. */
function skipQuoted(buf: Buffer, i: number, end: number): number {
  for (;;) {
    const q = buf.indexOf(QUOTE, i);
    if (q === -1 || q >= end) return -1;
    if (q + 1 < end && buf[q + 1] === QUOTE) {
      i = q + 2;
      continue;
    }
    return q + 1;
  }
}

/** Field i spans [start, end) of the record; quoted fields exclude their quotes. */
export interface FieldSpan {
  start: number;
  end: number;
  /** Quoted and containing "" pairs, which need unescaping. */
  escaped: boolean;
}

/** Splits a complete record [s, e) into fields; null if it is not strict RFC 4180 (text after a closing quote). */
export function splitQuotedRecord(buf: Buffer, s: number, e: number): FieldSpan[] | null {
  const fields: FieldSpan[] = [];
  let i = s;
  for (;;) {
    if (i < e && buf[i] === QUOTE) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const q = buf.indexOf(QUOTE, j);
        if (q === -1 || q >= e) return null;
        if (q + 1 < e && buf[q + 1] === QUOTE) {
          escaped = true;
          j = q + 2;
          continue;
        }
        fields.push({ start: i + 1, end: q, escaped });
        i = q + 1;
        break;
      }
      if (i === e) return fields;
      if (buf[i] !== COMMA) return null;
      i++;
    } else {
      let j = buf.indexOf(COMMA, i);
      if (j === -1 || j > e) j = e;
      fields.push({ start: i, end: j, escaped: false });
      if (j === e) return fields;
      i = j + 1;
    }
  }
}

export function fieldText(buf: Buffer, f: FieldSpan | undefined): string | null {
  if (f === undefined) return null;
  const text = buf.toString('utf8', f.start, f.end);
  return f.escaped ? text.replaceAll('""', '"') : text;
}

export function countNewlines(buf: Buffer, s: number, e: number): number {
  let n = 0;
  for (let i = buf.indexOf(NL, s); i !== -1 && i < e; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

/** Reads a record that is not strict RFC 4180 the way csv-parse's relaxed mode does; throws what csv-parse throws. */
export function parseRelaxedRecords(bytes: Buffer): string[][] {
  return parseCsvSync(bytes, { relax_quotes: true, relax_column_count: true, record_delimiter: '\n' }) as string[][];
}
