/**
 * The rates engine proper: fed complete records by the chunk framer (csv-chunks.ts), it reads the header,
 * appends numerator / denominator to every usable row, records bad rows and feeds the rates to the statistics.
 * computeRates (csv-rates.ts) wires it to the input, the output and the statistics.
 */
import { BadRowLog, checkRow, unclosedQuoteReason } from './bad-rows.ts';
import type { RecordConsumer } from './csv-chunks.ts';
import { findHeaderRecord, type HeaderInfo, headerOutputLine, readHeaderInfo } from './csv-header.ts';
import { CR, countNewlines, MAX_RECORD_BYTES, NL, scanQuotedRecord } from './csv-tokenizer.ts';
import { emptyFileError, noValidRowsError } from './errors.ts';
import type { RateOptions } from './options.ts';
import type { OutputSink } from './output-sink.ts';
import { readQuotedRow } from './quoted-row.ts';
import { type RateBlockSink, type RowKernel, rowKernel } from './row-kernel.ts';

/**
 * Where the engine's rates go, in row order: the statistics (RateStatsAccumulator), or a chunk's value stream
 * (parallel/). One at a time from the careful path, in blocks from the row kernel.
 */
export interface RateSink extends RateBlockSink {
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

  private numIdx = -1;
  private denIdx = -1;

  /** No record starting at or after this stream position is processed (a range's end; none for a whole file). */
  private readonly stopAt: number = Infinity;
  /** Stream position of the first record not processed once the range's end was reached; -1 before that. */
  next = -1;

  constructor(
    private readonly opts: RateOptions,
    private readonly acc: RateSink,
    private readonly sink: OutputSink,
    range?: RangeLimits,
    /** The plain rows' fast path; null sends every row the careful way (what tests compare it with). */
    private readonly kernel: RowKernel | null = rowKernel(),
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
    this.kernel?.release(this);
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
    this.rateColumn = rateColumn;
    this.phase = 'rows';
  }

  /**
   * The rows of `buf` from `pos` that start before `limit`: the plain ones through the row kernel, each other record
   * (a quote, a field that is no plain number, a bad or blank-only row, an over-long or unfinished one) the careful
   * way. Stops when the output asks to drain, at an incomplete record (setting `this.incomplete`), or at the first
   * record starting at or after `limit`.
   */
  private processRows(buf: Buffer, pos: number, final: boolean, limit: number): number {
    const kernel = this.kernel;
    let s = pos;
    while (s < limit && !this.sink.needDrain) {
      if (kernel !== null) {
        const stop = kernel.run(this, buf, s, limit, this.numIdx, this.denIdx, this.sink, this.acc);
        s = kernel.next;
        this.line += kernel.lines;
        this.rows += kernel.rows;
        if (stop !== 'careful') continue;
      }
      const next = this.carefulRecord(buf, s, final);
      if (next === -1) {
        this.incomplete = true;
        break;
      }
      s = next;
    }
    return Math.min(s, buf.length);
  }

  /**
   * The record starting at `s`, read with RFC 4180 quoting and every check a bad row gets a reason from. Returns the
   * index after it, or -1 if it is not complete yet (only when !final).
   */
  private carefulRecord(buf: Buffer, s: number, final: boolean): number {
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
    const { numerator, denominator } = this.opts;
    const rate = checkRow(
      { numerator, denominator, numIdx: this.numIdx, denIdx: this.denIdx },
      row.numStr,
      row.denStr,
      row.fieldCount,
    );
    if (typeof rate === 'string') {
      this.bad.add(line, rate);
      return next;
    }
    this.acc.add(rate);
    this.rows++;
    // The row's bytes as they came, then the rate as String() prints it (the row kernel prints the same bytes).
    const text = `,${rate}\n`;
    const sink = this.sink;
    sink.reserve(e - s + text.length);
    sink.len += buf.copy(sink.buf, sink.len, s, e);
    sink.len += sink.buf.write(text, sink.len, 'latin1');
    return next;
  }
}
