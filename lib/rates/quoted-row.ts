/**
 * The two wanted columns of one record, as the engine's careful path reads them (rates-engine.ts, carefulRecord):
 * strict RFC 4180 splitting first, csv-parse's relaxed reading when the record is not strict RFC 4180 (text after a
 * closing quote). The texts then go through bad-rows.ts checkRow, which turns them into numbers or a reason.
 */
import { fieldText, parseRelaxedRecords, splitQuotedRecord } from './csv-tokenizer.ts';

/** A record's two wanted fields as text (null when the record has no such field), and how many fields it has. */
export interface QuotedRow {
  numStr: string | null;
  denStr: string | null;
  fieldCount: number;
}

/** Reads the record `buf[s, e)` (no line end); a string is the reason it is a bad row. */
export function readQuotedRow(buf: Buffer, s: number, e: number, numIdx: number, denIdx: number): QuotedRow | string {
  const fields = splitQuotedRecord(buf, s, e);
  if (fields !== null) {
    return {
      numStr: fieldText(buf, fields[numIdx]),
      denStr: fieldText(buf, fields[denIdx]),
      fieldCount: fields.length,
    };
  }
  let records: string[][];
  try {
    records = parseRelaxedRecords(buf.subarray(s, e));
  } catch (err) {
    return `malformed quoted field: ${(err as Error).message}`;
  }
  const rec = records[0];
  if (records.length !== 1 || rec === undefined) return 'malformed quoted field (quotes do not pair up)';
  return { numStr: rec[numIdx] ?? null, denStr: rec[denIdx] ?? null, fieldCount: rec.length };
}
