/**
 * The rates engine proper: fed complete records by the chunk framer (csv-chunks.ts), it reads the header,
 * appends numerator / denominator to every usable row, records bad rows and feeds the rates to the statistics.
 * computeRates (csv-rates.ts) wires it to the input, the output and the statistics.
 */
import { BadRowLog, checkRow, unclosedQuoteReason } from './bad-rows.ts';
import type { RecordConsumer } from './csv-chunks.ts';
import { findHeaderRecord, type HeaderInfo, headerOutputLine, readHeaderInfo } from './csv-header.ts';
import {
  COMMA,
  countNewlines,
  CR,
  endField,
  FieldEnds,
  MAX_RECORD_BYTES,
  NL,
  QUOTE,
  scanQuotedRecord,
} from './csv-tokenizer.ts';
import { emptyFileError, noValidRowsError } from './errors.ts';
import { fastNumber } from './number-parse.ts';
import type { RateOptions } from './options.ts';
import type { OutputSink } from './output-sink.ts';
import { readQuotedRow } from './quoted-row.ts';
import { writeShortestNumber } from './shortest-number.ts';

/** Where the engine's rates go: the statistics (RateStatsAccumulator), or a chunk's value stream (parallel/). */
export interface RateSink {
  add(value: number): void;
}

/**
 * For a byte range of the file (lib/rates/parallel/range-parse.ts): the header the coordinator read, and the
 * stream position at or after which no record may start. The engine then begins in the row phase, at line 1.
 */
export interface RangeLimits {
  header: HeaderInfo;
  /** Stream position (as counted by the framer) where the range ends: records starting here belong to the next. */
  stopAt: number;
}

/** Longest `String(number)` is 25 chars, e.g. "-0.0000012345678901234567". */
const MAX_NUMBER_CHARS = 25;

type Phase = 'header' | 'rows';

export class RatesEngine implements RecordConsumer {
  columns: string[] = [];
  rateColumn = 'rate';
  rows = 0;
  readonly bad = new BadRowLog();

  private phase: Phase = 'header';
  /** Line number of the next record's first line. */
  private line = 1;
  /** Discarding input up to the next \n after an over-long line (the framer does the discarding). */
  skipping = false;
  /** Set by the row/header scanners when the record at the returned position needs more input. */
  private incomplete = false;
  /** Position of the next quote byte in `quoteBuf` (its length if none), see processRows. */
  private quoteBuf: Buffer | null = null;
  private quoteAt = 0;

  private numIdx = -1;
  private denIdx = -1;
  /** Splits quote-free rows; made for the two columns once the header is read. */
  private fields = new FieldEnds(0);

  /** No record starting at or after this stream position is processed (a range's end; none for a whole file). */
  private readonly stopAt: number = Infinity;
  /** Stream position of the first record not processed once the range's end was reached; -1 before that. */
  next = -1;

  constructor(
    private readonly opts: RateOptions,
    private readonly acc: RateSink,
    private readonly sink: OutputSink,
    range?: RangeLimits,
  ) {
    if (range !== undefined) {
      this.stopAt = range.stopAt;
      this.startRows(range.header);
    }
  }

  /** Line number of the next record's first line (a range's lines count from 1). */
  get nextLine(): number {
    return this.line;
  }

  /** The \n ending an over-long line that was being discarded has arrived. */
  endSkip(): void {
    this.skipping = false;
    this.line++;
  }

  /** After the framer's end: flushes the output and fails the file if no row was usable. */
  async end(): Promise<void> {
    if (this.phase !== 'rows') throw emptyFileError('blank-lines');
    if (this.sink.len > 0) this.sink.flush();
    await this.sink.drain();
    if (this.rows === 0) throw noValidRowsError(this.bad.count, this.bad.samples[0]);
  }

  /**
   * Processes the complete records of `buf` from `from`; returns where the unconsumed tail starts. `at` is the
   * stream position of `buf[0]`, needed only to stop at a range's end (`next` is set when it is reached).
   */
  async consume(buf: Buffer, from: number, final: boolean, at = 0): Promise<number> {
    let pos = from;
    if (this.next !== -1) return pos;
    this.quoteBuf = null;
    if (this.phase === 'header') {
      pos = this.readHeader(buf, pos, final);
      if (this.phase === 'header') return pos;
    }
    // Records starting before `limit` are processed whole, even when they run past it.
    const limit = Math.max(pos, Math.min(buf.length, this.stopAt - at));
    while (pos < limit) {
      this.incomplete = false;
      pos = this.processRows(buf, pos, final, limit);
      // processRows stops early when the output wants to drain, so a huge input chunk cannot flood it.
      await this.sink.drain();
      if (this.incomplete) {
        // +1: a trailing CR that will be stripped does not count.
        if (buf.length - pos <= MAX_RECORD_BYTES + 1) break;
        pos = this.skipLongRecord(buf, pos);
        if (this.skipping) return buf.length;
      }
    }
    // `pos` is a record start here (a skipped line's rest is not: the framer discards it first).
    if (at + pos >= this.stopAt) this.next = at + pos;
    return pos;
  }

  /**
   * The record at `s` is (or will be) longer than MAX_RECORD_BYTES: report it and carry on after its first
   * line. Decided from the first MAX_RECORD_BYTES + 1 bytes only, so the outcome does not depend on chunking.
   */
  private skipLongRecord(buf: Buffer, s: number): number {
    const size = `${MAX_RECORD_BYTES / 1024 / 1024} MiB`;
    const nl = buf.indexOf(NL, s);
    const firstLineEnd = nl === -1 ? buf.length : nl;
    if (firstLineEnd - s > MAX_RECORD_BYTES) {
      this.bad.add(this.line, `line is longer than ${size}; skipped`);
    } else {
      const scan = scanQuotedRecord(buf, s, s + MAX_RECORD_BYTES + 1, true);
      this.bad.add(this.line, unclosedQuoteReason(scan.openQuoteColumn, size));
    }
    if (nl === -1) {
      this.skipping = true;
      return buf.length;
    }
    this.line++;
    return nl + 1;
  }

  private readHeader(buf: Buffer, pos: number, final: boolean): number {
    const header = findHeaderRecord(buf, pos, final);
    this.line += header.blankLines;
    if (header.raw === null) return header.start;
    const info = readHeaderInfo(header.raw, this.opts);
    this.startRows(info);
    this.sink.append(headerOutputLine(header.raw, info.rateColumn));
    this.line += 1 + countNewlines(buf, header.start, header.recEnd);
    return header.recEnd >= buf.length ? buf.length : header.recEnd + 1;
  }

  private startRows({ columns, numIdx, denIdx, rateColumn }: HeaderInfo): void {
    this.columns = columns;
    this.numIdx = numIdx;
    this.denIdx = denIdx;
    this.fields = new FieldEnds(Math.max(numIdx, denIdx));
    this.rateColumn = rateColumn;
    this.phase = 'rows';
  }

  /**
   * The hot loop. Rows without a quote byte are split by scanning for commas and their numbers are parsed
   * straight from the bytes; rows with a quote take the RFC 4180 path. Stops when the output asks to drain,
   * at an incomplete record (setting `this.incomplete`), or at the first record starting at or after `limit`.
   *
   * size: hot — longer than the ~80 lines asked of functions, on purpose: the per-row state (output offset, line, row
   * count, next quote) lives in locals and is written back to fields only around the rare paths. Moving the
   * row copy into a method of the tokenizer cost ~5% of the 10M-row rates-core benchmark (2026-12-03), so
   * it stays here; time any change with `npm run bench -- rates-core` (README, "Benchmarks").
   */
  private processRows(buf: Buffer, pos: number, final: boolean, limit: number): number {
    const end = buf.length;
    const numIdx = this.numIdx;
    const denIdx = this.denIdx;
    const fields = this.fields;
    const ends = fields.ends;
    const maxIdx = fields.maxIdx;
    const acc = this.acc;
    const sink = this.sink;
    let ob = sink.buf;
    let odv = sink.view;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let o = sink.len;
    let line = this.line;
    let rows = this.rows;
    // Cached across calls for the same buffer (one per drain): searching to the end of a big quote-free
    // buffer on every call would make large chunks quadratic.
    let nextQuote = this.quoteBuf === buf && this.quoteAt >= pos ? this.quoteAt : buf.indexOf(QUOTE, pos);
    if (nextQuote === -1) nextQuote = end;

    let s = pos;
    while (s < limit && !sink.needDrain) {
      let nl = buf.indexOf(NL, s);
      if (nl === -1) {
        if (!final) {
          this.incomplete = true;
          break;
        }
        nl = end;
      }

      if (nextQuote < nl) {
        sink.len = o;
        this.line = line;
        this.rows = rows;
        const next = this.quotedRecord(buf, s, final);
        ob = sink.buf;
        odv = sink.view;
        o = sink.len;
        line = this.line;
        rows = this.rows;
        if (next === -1) {
          this.incomplete = true;
          break;
        }
        s = next;
        if (nextQuote < s) {
          nextQuote = buf.indexOf(QUOTE, s);
          if (nextQuote === -1) nextQuote = end;
        }
        continue;
      }

      let e = nl;
      if (e > s && buf[e - 1] === CR) e--;
      if (e === s) {
        line++;
        s = nl + 1;
        continue;
      }
      if (e - s > MAX_RECORD_BYTES) {
        this.line = line;
        s = this.skipLongRecord(buf, s);
        line = this.line;
        continue;
      }

      if (o + (e - s) + MAX_NUMBER_CHARS + 2 > ob.length) {
        sink.len = o;
        sink.flush(e - s + MAX_NUMBER_CHARS + 2);
        ob = sink.buf;
        odv = sink.view;
        o = 0;
      }
      const rowStart = o;
      // Copy the row while noting where its fields end, four bytes at a time: a word is only looked at byte by
      // byte when it contains a comma (SWAR zero-byte test on word ^ ",,,,"). A bad row rewinds `o`.
      let col = 0;
      let i = s;
      while (i + 4 <= e) {
        const w = dv.getUint32(i, true);
        odv.setUint32(o, w, true);
        const x = w ^ 0x2c2c2c2c;
        if (((x - 0x01010101) & ~x & 0x80808080) !== 0) {
          for (let k = i; k < i + 4; k++) {
            if (buf[k] === COMMA) col = endField(ends, col, maxIdx, k);
          }
          if (col > maxIdx && e - i > 64) {
            // Both fields found and a long rest of the row: a native copy is cheaper from here.
            i += 4;
            o += 4;
            o += buf.copy(ob, o, i, e);
            i = e;
            break;
          }
        }
        i += 4;
        o += 4;
      }
      for (; i < e; i++) {
        const c = buf[i] as number;
        ob[o++] = c;
        if (c === COMMA) col = endField(ends, col, maxIdx, i);
      }
      // The row's end closes its last field; `found` is the field count (exact whenever a wanted field is missing).
      const found = endField(ends, col, maxIdx, e);
      let rate = NaN;
      if (numIdx < found && denIdx < found) {
        const den = fastNumber(buf, fields.start(denIdx, s), ends[denIdx] as number);
        if (den > 0) rate = fastNumber(buf, fields.start(numIdx, s), ends[numIdx] as number) / den;
      }
      if (!(rate - rate === 0)) {
        // Not finite, or a field that needs the careful path (which also records the reason).
        const numStr = numIdx < found ? buf.toString('utf8', fields.start(numIdx, s), ends[numIdx]) : null;
        const denStr = denIdx < found ? buf.toString('utf8', fields.start(denIdx, s), ends[denIdx]) : null;
        const v = this.slowRow(numStr, denStr, found, line);
        if (v === null) {
          o = rowStart;
          line++;
          s = nl + 1;
          continue;
        }
        rate = v;
      }

      acc.add(rate);
      rows++;
      ob[o++] = COMMA;
      o = writeShortestNumber(rate, ob, o);
      ob[o++] = NL;
      line++;
      s = nl + 1;
    }

    sink.len = o;
    this.line = line;
    this.rows = rows;
    this.quoteBuf = buf;
    this.quoteAt = nextQuote;
    return Math.min(s, end);
  }

  /**
   * A record containing a quote byte, starting at `s`. Returns the index after it, or -1 if it is not
   * complete yet (only when !final).
   */
  private quotedRecord(buf: Buffer, s: number, final: boolean): number {
    const end = buf.length;
    const scan = scanQuotedRecord(buf, s, end, final);
    if (scan.end === -1 && !final) return -1;
    if (scan.openQuoteColumn !== -1) {
      // Only reached at end of input: the quote never closes. Report this line and carry on after it.
      this.bad.add(this.line, unclosedQuoteReason(scan.openQuoteColumn, null));
      this.line++;
      const nl = buf.indexOf(NL, s);
      return nl === -1 ? end : nl + 1;
    }
    const recEnd = scan.end === -1 ? end : scan.end;
    let e = recEnd;
    if (e > s && buf[e - 1] === CR) e--;
    if (e - s > MAX_RECORD_BYTES) return this.skipLongRecord(buf, s);
    const line = this.line;
    this.line += 1 + countNewlines(buf, s, recEnd);
    const next = recEnd >= end ? end : recEnd + 1;
    if (e === s) return next;

    const row = readQuotedRow(buf, s, e, this.numIdx, this.denIdx);
    if (typeof row === 'string') {
      this.bad.add(line, row);
      return next;
    }
    let rate = row.rate;
    if (!(rate - rate === 0)) {
      const v = this.slowRow(row.numStr, row.denStr, row.fieldCount, line);
      if (v === null) return next;
      rate = v;
    }
    this.acc.add(rate);
    this.rows++;
    const sink = this.sink;
    sink.reserve(e - s + MAX_NUMBER_CHARS + 2);
    const ob = sink.buf;
    let o = sink.len + buf.copy(ob, sink.len, s, e);
    ob[o++] = COMMA;
    o = writeShortestNumber(rate, ob, o);
    ob[o++] = NL;
    sink.len = o;
    return next;
  }

  /** Validates a row from its field texts; returns the rate, or null after recording the bad row. */
  private slowRow(numStr: string | null, denStr: string | null, fieldCount: number, line: number): number | null {
    const { numerator, denominator } = this.opts;
    const v = checkRow(
      { numerator, denominator, numIdx: this.numIdx, denIdx: this.denIdx },
      numStr,
      denStr,
      fieldCount,
    );
    if (typeof v === 'number') return v;
    this.bad.add(line, v);
    return null;
  }
}
