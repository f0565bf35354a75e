/**
 * The coordinator's read of a file's first bytes before it splits the rest into ranges: the binary sniff, the BOM
 * and the header exactly as the single path reads them (sniff.ts, csv-header.ts, the RatesEngine's header
 * phase), and where the data rows start.
 */
import { findHeaderRecord, type HeaderInfo, headerOutputLine, readHeaderInfo } from '../csv-header.ts';
import { countNewlines } from '../csv-tokenizer.ts';
import { emptyFileError } from '../errors.ts';
import { checkRateOptions, type RateOptions } from '../options.ts';
import { checkCsvText, PROBE_BYTES } from '../sniff.ts';

export interface FileHeader {
  info: HeaderInfo;
  /** rates.csv's first line: the header as it was, with the rate column appended (chunk 0 writes it). */
  outputLine: Buffer;
  /** File offset of the first byte after the header record (BOM, blank lines and header before it). */
  dataStart: number;
  /** Physical lines before `dataStart`: a data row's line number is its line within the data plus this. */
  linesBefore: number;
}

/**
 * Reads the header from `head`, the file's first bytes (the whole file when `atEof`). Returns null when more
 * bytes are needed (fetch a longer head and call again); throws the single path's RatesFileError for an empty
 * or binary file, a header with only blank lines, or an unusable header.
 */
export function readFileHeader(head: Buffer, atEof: boolean, options: RateOptions): FileHeader | null {
  const opts = checkRateOptions(options);
  if (atEof && head.length === 0) throw emptyFileError('zero-bytes');
  // The single path sniffs once it holds more than PROBE_BYTES (or the whole file): the same window here.
  if (!atEof && head.length <= PROBE_BYTES) return null;
  const bom = checkCsvText(head);
  const header = findHeaderRecord(head, bom, atEof);
  if (header.raw === null) {
    if (!atEof) return null;
    throw emptyFileError('blank-lines');
  }
  const info = readHeaderInfo(header.raw, opts);
  return {
    info,
    outputLine: headerOutputLine(header.raw, info.rateColumn),
    dataStart: header.recEnd >= head.length ? head.length : header.recEnd + 1,
    linesBefore: header.blankLines + 1 + countNewlines(head, header.start, header.recEnd),
  };
}
