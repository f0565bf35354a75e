/**
 * The two wanted columns of one record that contains a quote byte (the engine's slow path, rates-engine.ts):
 * strict RFC 4180 splitting first, with the rate parsed straight from the bytes when both fields are plain;
 * csv-parse's relaxed reading when the record is not strict RFC 4180 (text after a closing quote).
 */
import { fastNumber } from './number-parse.ts';
import { fieldText, parseRelaxedRecords, splitQuotedRecord } from './csv-tokenizer.ts';

/** A quoted record's rate when the fast parse gave a finite one (NaN otherwise), else its fields' texts. */
export interface QuotedRow {
  rate: number;
  /** null when `rate` is finite (no text needed), or when the record has no such field. */
  numStr: string | null;
  denStr: string | null;
  fieldCount: number;
}

/** Reads the record `buf[s, e)` (no line end); a string is the reason it is a bad row. */
export function readQuotedRow(buf: Buffer, s: number, e: number, numIdx: number, denIdx: number): QuotedRow | string {
  const fields = splitQuotedRecord(buf, s, e);
  if (fields !== null) {
    let rate = NaN;
    const nf = fields[numIdx];
    const df = fields[denIdx];
    if (nf !== undefined && df !== undefined && !nf.escaped && !df.escaped) {
      const den = fastNumber(buf, df.start, df.end);
      if (den > 0) rate = fastNumber(buf, nf.start, nf.end) / den;
    }
    return {
      rate,
      numStr: rate - rate === 0 ? null : fieldText(buf, nf),
      denStr: rate - rate === 0 ? null : fieldText(buf, df),
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
  return { rate: NaN, numStr: rec[numIdx] ?? null, denStr: rec[denIdx] ?? null, fieldCount: rec.length };
}
