import { isUtf8 } from 'node:buffer';
import { endianness } from 'node:os';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { RatesFileError } from './errors.ts';
import { RateStatsAccumulator, type RateStats } from './stats.ts';

export interface RateOptions {
  numerator: string;
  denominator: string;
  /** Histogram bin count, integer 1..1000. */
  bins: number;
}

export interface BadRow {
  /** 1-based physical line in the input where the record starts (the header is line 1). */
  line: number;
  reason: string;
}

export interface RatesResult {
  columns: string[];
  rateColumn: string;
  rows: number;
  badRows: number;
  badRowSamples: BadRow[];
  stats: RateStats;
  inputBytes: number;
}

const MAX_BAD_ROW_SAMPLES = 100;
/** NUL bytes / invalid UTF-8 are looked for in this many leading bytes. */
const PROBE_BYTES = 64 * 1024;
/**
 * A record still open after this many bytes is given up on: a stray quote would otherwise swallow the rest
 * of the file into one record (and into memory).
 */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Output is handed to the stream in buffers of this size (one write per row would dominate the cost). */
const OUT_CHUNK_BYTES = 256 * 1024;
/** Longest `String(number)` is 25 chars, e.g. "-0.0000012345678901234567". */
const MAX_NUMBER_CHARS = 25;

const NL = 10;
const CR = 13;
const QUOTE = 34;
const COMMA = 44;

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Streams a CSV from `input` to `output` with a rate column (numerator / denominator) appended to every
 * valid row, and returns statistics over the rates. Does not end `output`: the caller ends it, or on
 * rejection discards what was written.
 */
export async function computeRates(
  input: AsyncIterable<Uint8Array>,
  output: NodeJS.WritableStream,
  options: RateOptions,
  { spillDir }: { spillDir?: string } = {},
): Promise<RatesResult> {
  const opts = validateOptions(options);
  // The statistics spill to `spillDir` (default os.tmpdir()); see lib/rates/spill.ts for how much.
  const acc = new RateStatsAccumulator(spillDir === undefined ? {} : { tmpDir: spillDir });
  try {
    const engine = new RatesEngine(opts, acc, new OutputSink(output));
    for await (const chunk of input) {
      if (typeof chunk === 'string') {
        throw new TypeError('computeRates expects binary chunks (Buffer/Uint8Array); do not set an encoding on the input stream');
      }
      await engine.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
    await engine.end();
    const stats = await acc.finish(opts.bins);
    return {
      columns: engine.columns,
      rateColumn: engine.rateColumn,
      rows: engine.rows,
      badRows: engine.badRows,
      badRowSamples: engine.badRowSamples,
      stats,
      inputBytes: engine.inputBytes,
    };
  } finally {
    acc.dispose();
  }
}

function validateOptions(options: RateOptions): RateOptions {
  const problems: string[] = [];
  const o = (options ?? {}) as Partial<RateOptions>;
  for (const key of ['numerator', 'denominator'] as const) {
    const v: unknown = o[key];
    if (typeof v !== 'string' || v.trim() === '') problems.push(`${key} must be a non-empty column name, got ${JSON.stringify(v)}`);
  }
  const bins: unknown = o.bins;
  if (typeof bins !== 'number' || !Number.isInteger(bins) || bins < 1 || bins > 1000) {
    problems.push(`bins must be an integer from 1 to 1000, got ${JSON.stringify(bins)}`);
  }
  if (problems.length > 0) throw new RatesFileError('INVALID_OPTIONS', `Invalid options: ${problems.join('; ')}.`);
  // Header names are trimmed, so the options are too: " cancer" should still find "cancer".
  return { numerator: (o.numerator as string).trim(), denominator: (o.denominator as string).trim(), bins: bins as number };
}

/** Collects output bytes into large buffers and writes them to the stream. */
class OutputSink {
  buf: Buffer = Buffer.allocUnsafe(OUT_CHUNK_BYTES);
  /** A view of `buf` for word-sized copies; made here so the hot loop never constructs one. */
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  len = 0;
  needDrain = false;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  /** Hands the current buffer to the stream; the stream may keep it, so a fresh one is used afterwards. */
  flush(minNext = 0): void {
    if (this.len > 0) {
      if (!this.stream.write(this.buf.subarray(0, this.len))) this.needDrain = true;
    }
    this.buf = Buffer.allocUnsafe(Math.max(OUT_CHUNK_BYTES, minNext));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.len = 0;
  }

  async drain(): Promise<void> {
    if (!this.needDrain) return;
    this.needDrain = false;
    await waitForDrain(this.stream);
  }
}

function waitForDrain(stream: NodeJS.WritableStream): Promise<void> {
  const s = stream as NodeJS.WritableStream & { destroyed?: boolean; writableNeedDrain?: boolean };
  if (s.destroyed === true) return Promise.reject(new Error('output stream was destroyed before the CSV was fully written'));
  if (s.writableNeedDrain === false) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('output stream closed before the CSV was fully written'));
    };
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

type Phase = 'probe' | 'header' | 'rows';

/** Result of looking for the end of a record that contains a quote. */
interface QuotedScan {
  /** Index of the terminating \n, or -1 if the buffer ends inside the record. */
  end: number;
  /** Field (0-based) whose quote is still open when the buffer ends, or -1. */
  openQuoteColumn: number;
}

class RatesEngine {
  columns: string[] = [];
  rateColumn = 'rate';
  rows = 0;
  badRows = 0;
  badRowSamples: BadRow[] = [];
  inputBytes = 0;

  private phase: Phase = 'probe';
  /** Bytes not yet consumed (an incomplete record, or everything during the probe). */
  private store: Buffer = Buffer.allocUnsafe(0);
  private storeLen = 0;
  /** Line number of the next record's first line. */
  private line = 1;
  /** Discarding input up to the next \n after an over-long line. */
  private skipping = false;
  /** Set by the row/header scanners when the record at the returned position needs more input. */
  private incomplete = false;
  /** Position of the next quote byte in `quoteBuf` (its length if none), see processRows. */
  private quoteBuf: Buffer | null = null;
  private quoteAt = 0;

  private numIdx = -1;
  private denIdx = -1;

  constructor(
    private readonly opts: RateOptions,
    private readonly acc: RateStatsAccumulator,
    private readonly sink: OutputSink,
  ) {}

  async push(chunk: Buffer): Promise<void> {
    this.inputBytes += chunk.length;
    await this.feed(chunk);
  }

  private async feed(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (this.skipping) {
      const nl = chunk.indexOf(NL);
      if (nl === -1) return;
      this.skipping = false;
      this.line++;
      chunk = chunk.subarray(nl + 1);
      if (chunk.length === 0) return;
    }
    if (this.phase === 'probe') {
      this.append(chunk);
      // Strictly more than the window, so the window never ends in a character cut off by the chunking.
      if (this.storeLen <= PROBE_BYTES) return;
      this.probe(false);
      await this.consumeStore(false);
      return;
    }
    let from = 0;
    if (this.storeLen > 0) {
      // Complete the pending record with the chunk's first line only, so the bulk of the chunk is parsed
      // in place instead of being copied behind the leftover.
      const nl = chunk.indexOf(NL);
      if (nl === -1) {
        this.append(chunk);
        await this.consumeStore(false);
        return;
      }
      this.append(chunk.subarray(0, nl + 1));
      await this.consumeStore(false);
      const rest = chunk.subarray(nl + 1);
      if (this.skipping) {
        await this.feed(rest);
        return;
      }
      if (this.storeLen > 0) {
        // Still inside a quoted multi-line record: it needs the rest of the chunk behind it.
        this.append(rest);
        await this.consumeStore(false);
        return;
      }
      from = nl + 1;
    }
    const pos = await this.run(chunk, from, false);
    if (pos < chunk.length && !this.skipping) this.append(chunk.subarray(pos));
  }

  async end(): Promise<void> {
    if (this.phase === 'probe') {
      if (this.inputBytes === 0) throw new RatesFileError('EMPTY_FILE', 'The file is empty (0 bytes). Upload a CSV file with a header line and data rows.');
      this.probe(true);
    }
    if (this.storeLen > 0 && !this.skipping) await this.consumeStore(true);
    if (this.phase !== 'rows') {
      throw new RatesFileError('EMPTY_FILE', 'The file has no header line: it contains only blank lines. Upload a CSV file with a header line and data rows.');
    }
    if (this.sink.len > 0) this.sink.flush();
    await this.sink.drain();
    if (this.rows === 0) {
      const first = this.badRowSamples[0];
      if (this.badRows === 0 || first === undefined) {
        throw new RatesFileError('NO_VALID_ROWS', 'The file has a header line but no data rows.');
      }
      throw new RatesFileError(
        'NO_VALID_ROWS',
        `None of the data rows could be used: ${this.badRows} bad row${this.badRows === 1 ? '' : 's'}. ` +
          `First problem, line ${first.line}: ${first.reason}.`,
      );
    }
  }

  private append(chunk: Buffer): void {
    const need = this.storeLen + chunk.length;
    if (need > this.store.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.store.length * 2, 64 * 1024));
      this.store.copy(bigger, 0, 0, this.storeLen);
      this.store = bigger;
    }
    chunk.copy(this.store, this.storeLen);
    this.storeLen = need;
  }

  private async consumeStore(final: boolean): Promise<void> {
    const work = this.store.subarray(0, this.storeLen);
    const pos = await this.run(work, 0, final);
    if (this.skipping || final) {
      this.storeLen = 0;
    } else {
      this.store.copyWithin(0, pos, this.storeLen);
      this.storeLen -= pos;
    }
  }

  /** Rejects binary uploads before anything is parsed, and drops a UTF-8 BOM. */
  private probe(final: boolean): void {
    const data = this.store.subarray(0, this.storeLen);
    let cut = Math.min(data.length, PROBE_BYTES);
    // Don't let the window end in the middle of a multi-byte character: back up to the start of the
    // character that straddles the cut (at most 3 continuation bytes).
    for (let k = 0; k < 3 && cut > 0 && cut < data.length && ((data[cut] as number) & 0xc0) === 0x80; k++) cut--;
    const window = data.subarray(0, cut);
    const nul = window.indexOf(0);
    if (nul !== -1 || !isUtf8(window)) {
      const kind = sniffBinary(window);
      const what = kind
        ? `it looks like ${kind}`
        : nul !== -1
          ? `it contains binary data (a NUL byte at byte ${nul + 1})`
          : `it is not valid UTF-8 text (first invalid byte at byte ${firstInvalidUtf8(window) + 1}; if it was saved in a legacy encoding such as Windows-1252, re-save it as "CSV UTF-8")`;
      throw new RatesFileError('NOT_CSV', `The file is not CSV text: ${what}. Upload a comma-separated text file (UTF-8).`);
    }
    if (data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
      this.store.copyWithin(0, 3, this.storeLen);
      this.storeLen -= 3;
    }
    this.phase = 'header';
  }

  /** Processes the complete records of `buf` from `from`; returns where the unconsumed tail starts. */
  private async run(buf: Buffer, from: number, final: boolean): Promise<number> {
    let pos = from;
    this.quoteBuf = null;
    if (this.phase === 'header') {
      pos = this.readHeader(buf, pos, final);
      if (this.phase === 'header') return pos;
    }
    while (pos < buf.length) {
      this.incomplete = false;
      pos = this.processRows(buf, pos, final);
      // processRows stops early when the output wants to drain, so a huge input chunk cannot flood it.
      await this.sink.drain();
      if (this.incomplete) {
        // +1: a trailing CR that will be stripped does not count.
        if (buf.length - pos <= MAX_RECORD_BYTES + 1) break;
        pos = this.skipLongRecord(buf, pos);
        if (this.skipping) return buf.length;
      }
    }
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
      this.addBad(this.line, `line is longer than ${size}; skipped`);
    } else {
      const scan = scanQuotedRecord(buf, s, s + MAX_RECORD_BYTES + 1, true);
      this.addBad(this.line, unclosedQuoteReason(scan.openQuoteColumn, size));
    }
    if (nl === -1) {
      this.skipping = true;
      return buf.length;
    }
    this.line++;
    return nl + 1;
  }

  private readHeader(buf: Buffer, pos: number, final: boolean): number {
    const end = buf.length;
    // Blank lines before the header are tolerated.
    while (pos < end) {
      const nl = buf.indexOf(NL, pos);
      if (nl === -1) break;
      if (nl === pos || (nl === pos + 1 && buf[pos] === CR)) {
        this.line++;
        pos = nl + 1;
      } else break;
    }
    if (pos >= end) return pos;
    const scan = scanQuotedRecord(buf, pos, end, final);
    const tooLong = (): RatesFileError =>
      new RatesFileError(
        'NOT_CSV',
        `The file is not CSV text: its first line is longer than ${MAX_RECORD_BYTES / 1024 / 1024} MiB. Upload a comma-separated text file with one record per line.`,
      );
    if (scan.end === -1 && !final) {
      if (end - pos > MAX_RECORD_BYTES + 1) throw tooLong();
      return pos;
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
      throw new RatesFileError('NOT_CSV', 'The header line contains a carriage return (CR) on its own: the file seems to use classic Mac (CR-only) line endings. Re-save it with LF or CRLF line endings.');
    }
    let names: string[];
    try {
      const records = parseCsvSync(raw, { relax_quotes: true, relax_column_count: true, trim: true, record_delimiter: '\n' }) as string[][];
      names = (records[0] ?? []).map((n) => n.trim());
    } catch (err) {
      throw new RatesFileError('NOT_CSV', `The header line could not be read as CSV: ${(err as Error).message}.`);
    }
    this.columns = names;
    const { numerator, denominator } = this.opts;
    this.numIdx = names.indexOf(numerator);
    this.denIdx = names.indexOf(denominator);
    if (this.numIdx === -1 || this.denIdx === -1) throw missingColumnError(names, numerator, denominator, this.numIdx, this.denIdx);
    let rateColumn = 'rate';
    for (let i = 2; names.includes(rateColumn); i++) rateColumn = `rate_${i}`;
    this.rateColumn = rateColumn;

    const headerOut = Buffer.concat([raw, Buffer.from(`,${rateColumn}\n`)]);
    const sink = this.sink;
    if (sink.len + headerOut.length > sink.buf.length) sink.flush(headerOut.length);
    headerOut.copy(sink.buf, sink.len);
    sink.len += headerOut.length;

    this.line += 1 + countNewlines(buf, pos, recEnd);
    this.phase = 'rows';
    return recEnd >= end ? end : recEnd + 1;
  }

  /**
   * The hot loop. Rows without a quote byte are split by scanning for commas and their numbers are parsed
   * straight from the bytes; rows with a quote take the RFC 4180 path. Stops when the output asks to drain,
   * or at an incomplete record (setting `this.incomplete`).
   */
  private processRows(buf: Buffer, pos: number, final: boolean): number {
    const end = buf.length;
    const numIdx = this.numIdx;
    const denIdx = this.denIdx;
    const maxIdx = numIdx > denIdx ? numIdx : denIdx;
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
    while (s < end && !sink.needDrain) {
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
      // Copy the row while locating the two target fields, four bytes at a time: a word is only looked at
      // byte by byte when it contains a comma (SWAR zero-byte test on word ^ ",,,,"). A bad row rewinds `o`.
      const rowStart = o;
      let col = 0;
      let fs = s;
      let ns = -1;
      let ne = -1;
      let ds = -1;
      let de = -1;
      let i = s;
      while (i + 4 <= e) {
        const w = dv.getUint32(i, true);
        odv.setUint32(o, w, true);
        const x = w ^ 0x2c2c2c2c;
        if (((x - 0x01010101) & ~x & 0x80808080) !== 0) {
          for (let k = i; k < i + 4; k++) {
            if (buf[k] === COMMA) {
              if (col === numIdx) {
                ns = fs;
                ne = k;
              }
              if (col === denIdx) {
                ds = fs;
                de = k;
              }
              col++;
              fs = k + 1;
            }
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
        if (c === COMMA) {
          if (col === numIdx) {
            ns = fs;
            ne = i;
          }
          if (col === denIdx) {
            ds = fs;
            de = i;
          }
          col++;
          fs = i + 1;
        }
      }
      if (col <= maxIdx) {
        if (col === numIdx) {
          ns = fs;
          ne = e;
        }
        if (col === denIdx) {
          ds = fs;
          de = e;
        }
      }

      let rate = NaN;
      if (ns >= 0 && ds >= 0) {
        const den = fastNumber(buf, ds, de);
        if (den > 0) rate = fastNumber(buf, ns, ne) / den;
      }
      if (!(rate - rate === 0)) {
        // Not finite, or a field that needs the careful path (which also records the reason).
        const v = this.slowRow(ns >= 0 ? buf.toString('utf8', ns, ne) : null, ds >= 0 ? buf.toString('utf8', ds, de) : null, col + 1, line);
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
    return s >= end ? end : s;
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
      this.addBad(this.line, unclosedQuoteReason(scan.openQuoteColumn, null));
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

    const fields = splitQuotedRecord(buf, s, e);
    let rate = NaN;
    let numStr: string | null;
    let denStr: string | null;
    let fieldCount: number;
    if (fields !== null) {
      fieldCount = fields.length;
      const nf = fields[this.numIdx];
      const df = fields[this.denIdx];
      if (nf !== undefined && df !== undefined && !nf.escaped && !df.escaped) {
        const den = fastNumber(buf, df.start, df.end);
        if (den > 0) rate = fastNumber(buf, nf.start, nf.end) / den;
      }
      numStr = rate - rate === 0 ? null : fieldText(buf, nf);
      denStr = rate - rate === 0 ? null : fieldText(buf, df);
    } else {
      // Not strict RFC 4180 (text after a closing quote): csv-parse's relaxed reading decides the values.
      let records: string[][];
      try {
        records = parseCsvSync(buf.subarray(s, e), { relax_quotes: true, relax_column_count: true, record_delimiter: '\n' }) as string[][];
      } catch (err) {
        this.addBad(line, `malformed quoted field: ${(err as Error).message}`);
        return next;
      }
      const rec = records[0];
      if (records.length !== 1 || rec === undefined) {
        this.addBad(line, 'malformed quoted field (quotes do not pair up)');
        return next;
      }
      fieldCount = rec.length;
      numStr = rec[this.numIdx] ?? null;
      denStr = rec[this.denIdx] ?? null;
    }

    if (!(rate - rate === 0)) {
      const v = this.slowRow(numStr, denStr, fieldCount, line);
      if (v === null) return next;
      rate = v;
    }
    this.acc.add(rate);
    this.rows++;
    const sink = this.sink;
    const need = e - s + MAX_NUMBER_CHARS + 2;
    if (sink.len + need > sink.buf.length) sink.flush(need);
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
    if (numStr === null || denStr === null) {
      const missing: string[] = [];
      if (numStr === null) missing.push(`${numerator} is column ${this.numIdx + 1}`);
      if (denStr === null && (numerator !== denominator || numStr !== null)) missing.push(`${denominator} is column ${this.denIdx + 1}`);
      this.addBad(line, `row has ${fieldCount} field${fieldCount === 1 ? '' : 's'}, ${missing.join(' and ')}`);
      return null;
    }
    const problems: string[] = [];
    const num = parseField(numerator, numStr, problems);
    const den = numerator === denominator && numStr === denStr ? num : parseField(denominator, denStr, problems);
    if (num === null || den === null) {
      this.addBad(line, numerator === denominator ? (problems[0] ?? '') : problems.join('; '));
      return null;
    }
    if (!(den > 0)) {
      this.addBad(line, `${denominator} must be > 0, got ${String(den)}`);
      return null;
    }
    const rate = num / den;
    if (!Number.isFinite(rate)) {
      this.addBad(line, `${numerator} / ${denominator} = ${String(num)} / ${String(den)} is too large to represent`);
      return null;
    }
    return rate;
  }

  private addBad(line: number, reason: string): void {
    this.badRows++;
    if (this.badRowSamples.length < MAX_BAD_ROW_SAMPLES) this.badRowSamples.push({ line, reason });
  }
}

/**
 * Plain decimals with at most 15 significant digits, parsed straight from the bytes. m / 10^k with both
 * exact doubles is one correctly rounded division, hence identical to Number(text). Anything else
 * (whitespace, exponents, more digits, junk, empty) returns NaN for the caller's careful path.
 */
function fastNumber(buf: Buffer, a: number, b: number): number {
  if (a >= b) return NaN;
  let i = a;
  let neg = false;
  const c0 = buf[i];
  if (c0 === 45) {
    neg = true;
    i++;
  } else if (c0 === 43) {
    i++;
  }
  let m = 0;
  let digits = 0;
  let dot = -1;
  for (; i < b; i++) {
    const c = buf[i] as number;
    const d = c - 48;
    if (d >= 0 && d <= 9) {
      m = m * 10 + d;
      digits++;
    } else if (c === 46 && dot === -1) {
      dot = digits;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  const v = dot === -1 || dot === digits ? m : m / (POW10[digits - dot] as number);
  return neg ? -v : v;
}

// Shortest round-trip number formatting -------------------------------------------------------------------

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const HI = endianness() === 'LE' ? 1 : 0;
const LO = 1 - HI;
/** 2^27 + 1: Veltkamp splitting constant for Dekker's exact product. */
const SPLITTER = 134217729;
const P10_HI = POW10.map((t) => {
  const c = SPLITTER * t;
  return c - (c - t);
});
const P10_LO = POW10.map((t, i) => t - (P10_HI[i] as number));
/** HALF_ULP[E] = 2^(E - 1076): half the spacing of doubles with biased exponent E. */
const HALF_ULP = new Float64Array(2048);
for (let E = 1076, v = 1; E >= 1; E--, v /= 2) HALF_ULP[E] = v;
for (let E = 1076, v = 1; E < 2047; E++, v *= 2) HALF_ULP[E] = v;
/** Int32 powers so `%` stays an integer operation (a double `%` is a slow fmod call). */
const IPOW10 = Int32Array.from({ length: 10 }, (_, i) => 10 ** i);
const DIGIT_PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 48 + Math.floor(i / 10);
  DIGIT_PAIRS[2 * i + 1] = 48 + (i % 10);
}
const TWO53 = 9007199254740992;

/** Is candidate c (relative to phi) inside (plo - hl, plo + hu)? 1 yes, 0 no, -1 exactly on an end. */
function inInterval(c: number, plo: number, hl: number, hu: number): number {
  const a = c + hl;
  const b = c - hu;
  if (a > plo && b < plo) return 1;
  return a === plo || b === plo ? -1 : 0;
}

/**
 * Writes exactly the bytes of `String(x)` at `o` and returns the offset after them.
 *
 * String(x) is the shortest decimal that reads back as x (the closest one if several). Building it with
 * String() and copying it was over half the cost of the whole job, so for 1e-4 <= |x| < 1e16 it is found
 * here with exact double arithmetic instead: scale by T = 10^p so that P = x*T lies in [2^53, 1e17]; then
 * P = phi + plo exactly (Dekker's product; phi is an integer), and x's rounding interval, scaled, is
 * (P - hl, P + hu) with hu = ulp(x)/2 * T exact (hl = hu/2 at a power of two). The answer has the most
 * trailing zeros of any integer in that interval and, among those, is closest to P. With p <= 20 every
 * quantity compared (candidate offsets within ±32 of phi, plo, hl, hu) is an exactly representable double,
 * so the comparisons are exact. If a candidate sits exactly on an end of the interval, or two candidates
 * are equally close, the answer would depend on tie rules, so String(x) decides. Tests compare this with
 * String() on millions of values.
 */
export function writeShortestNumber(x: number, ob: Uint8Array, o: number): number {
  const end = writeShortestFast(x, ob, o);
  if (end >= 0) return end;
  const str = String(x);
  for (let i = 0; i < str.length; i++) ob[o++] = str.charCodeAt(i);
  return o;
}

/** The fast path of writeShortestNumber; -1 when String() has to decide. */
function writeShortestFast(x: number, ob: Uint8Array, o: number): number {
  if (x === 0) {
    ob[o] = 48;
    return o + 1;
  }
  let neg = false;
  if (x < 0) {
    neg = true;
    x = -x;
  }
  if (!(x >= 1e-4 && x < 1e16)) return -1;
  F64[0] = x;
  const hiWord = U32[HI] as number;
  const E = (hiWord >>> 20) & 0x7ff;
  // floor(log10 x) is floor(e2 * log10(2)) or one more; one correction step fixes p.
  let p = 16 - Math.floor((E - 1023) * 0.30102999566398114);
  let phi = x * (POW10[p] as number);
  if (phi >= 1e17) {
    p--;
    phi = x * (POW10[p] as number);
  }
  if (!(phi >= TWO53 && phi <= 1e17) || p > 20) return -1;
  const T = POW10[p] as number;
  const th = P10_HI[p] as number;
  const tl = P10_LO[p] as number;
  const cx = SPLITTER * x;
  const xh = cx - (cx - x);
  const xl = x - xh;
  const plo = xh * th - phi + xh * tl + xl * th + xl * tl;
  const hu = (HALF_ULP[E] as number) * T;
  const hl = (hiWord & 0xfffff) === 0 && U32[LO] === 0 ? hu / 2 : hu;

  // phi = q * 1e9 + r exactly: q * 1e9 is exact (< 2^53 significant bits) and one correction fixes the floor.
  let q = Math.floor(phi / 1e9);
  let r = phi - q * 1e9;
  if (r < 0) {
    r += 1e9;
    q -= 1;
  } else if (r >= 1e9) {
    r -= 1e9;
    q += 1;
  }
  const ri = r | 0;
  const qi = q | 0;

  let c: number;
  // Multiples of 10 just below and above P.
  const rem1 = ri % 10;
  // plo + rem1 is exact and within [-8, 18], so comparisons replace a division and a floor.
  const v = plo + rem1;
  const below = (v >= 10 ? 10 : v >= 0 ? 0 : -10) - rem1;
  const above = below + 10;
  const wb = below + hl === plo ? -1 : below + hl > plo ? 1 : 0;
  const wa = above - hu === plo ? -1 : above - hu < plo ? 1 : 0;
  if (wb < 0 || wa < 0) return -1;
  if (wb !== 0 || wa !== 0) {
    if (wb !== 0 && wa !== 0) {
      const mid = below + 5;
      if (plo < mid) c = below;
      else if (plo > mid) c = above;
      else return -1;
    } else {
      c = wb !== 0 ? below : above;
    }
    // The interval is narrower than 100, so from here on there is at most one candidate per power.
    // j = 2 is tried on almost every call, so it gets a constant divisor (an integer % by a variable is slow).
    let rem = ri % 100;
    for (let j = 2; j <= 16; ) {
      const t = POW10[j] as number;
      const cand = rem <= 20 ? -rem : t - rem <= 20 ? t - rem : NaN;
      if (cand !== cand) break;
      const w = inInterval(cand, plo, hl, hu);
      if (w < 0) return -1;
      if (w === 0) break;
      c = cand;
      j++;
      rem = j <= 9 ? ri % (IPOW10[j] as number) : (qi % (IPOW10[j - 9] as number)) * 1e9 + ri;
    }
  } else {
    // No multiple of 10 fits: 17 digits, the integer nearest P.
    const f = Math.floor(plo);
    const w1 = f + hl === plo ? -1 : f + hl > plo ? 1 : 0;
    const w2 = f + 1 - hu === plo ? -1 : f + 1 - hu < plo ? 1 : 0;
    if (w1 < 0 || w2 < 0) return -1;
    if (w1 !== 0 && w2 !== 0) {
      const mid = f + 0.5;
      if (plo < mid) c = f;
      else if (plo > mid) c = f + 1;
      else return -1;
    } else if (w1 !== 0) {
      c = f;
    } else if (w2 !== 0) {
      c = f + 1;
    } else {
      return -1;
    }
  }

  // The digits of M = phi + c = hi * 1e9 + lo (`| 0` keeps everything in int32 arithmetic).
  let lo = (ri + c) | 0;
  let hi = qi;
  if (lo < 0) {
    lo = (lo + 1000000000) | 0;
    hi = (hi - 1) | 0;
  } else if (lo >= 1000000000) {
    lo = (lo - 1000000000) | 0;
    hi = (hi + 1) | 0;
  }
  const nd = (hi >= 100000000 ? 9 : hi >= 10000000 ? 8 : 7) + 9;
  let tz = 0;
  if (lo === 0) {
    tz = 9;
    for (let h = hi; h % 10 === 0; h = (h / 10) | 0) tz++;
  } else {
    for (let l = lo; l % 10 === 0; l = (l / 10) | 0) tz++;
  }
  const k = nd - tz;
  // Number::toString layout for 1e-7 <= x < 1e21: the decimal point goes after n digits.
  const n = nd - p;

  if (neg) ob[o++] = 45;
  let at = o;
  if (n <= 0) {
    ob[at++] = 48;
    ob[at++] = 46;
    for (let i = n; i < 0; i++) ob[at++] = 48;
  }
  // k significant digits, written right to left into [at, at + k).
  let w = at + k;
  let h = hi;
  if (tz < 9) {
    let l = lo;
    for (let t = 0; t < tz; t++) l = (l / 10) | 0;
    let count = 9 - tz;
    for (; count >= 2; count -= 2) {
      const q2 = (l / 100) | 0;
      const pair = (l - q2 * 100) << 1;
      ob[--w] = DIGIT_PAIRS[pair + 1] as number;
      ob[--w] = DIGIT_PAIRS[pair] as number;
      l = q2;
    }
    if (count === 1) ob[--w] = 48 + l;
  } else {
    for (let t = 9; t < tz; t++) h = (h / 10) | 0;
  }
  for (; h >= 100; ) {
    const q2 = (h / 100) | 0;
    const pair = (h - q2 * 100) << 1;
    ob[--w] = DIGIT_PAIRS[pair + 1] as number;
    ob[--w] = DIGIT_PAIRS[pair] as number;
    h = q2;
  }
  if (h >= 10) {
    ob[--w] = DIGIT_PAIRS[(h << 1) + 1] as number;
    ob[--w] = DIGIT_PAIRS[h << 1] as number;
  } else {
    ob[--w] = 48 + h;
  }

  if (n <= 0) return at + k;
  if (n >= k) {
    for (let i = k; i < n; i++) ob[at + i] = 48;
    return at + n;
  }
  // 0 < n < k: open a gap for the point.
  for (let i = at + k; i > at + n; i--) ob[i] = ob[i - 1] as number;
  ob[at + n] = 46;
  return at + k + 1;
}

/**
 * Decimal numbers as data tools write them (`12`, ` -0.5 `, `1e3`, `.5`). Number() alone would also take
 * `0x1F`, `0b101` and `Infinity`, which in a CSV column are data errors, not numbers.
 */
const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** Parses one field; on failure pushes an actionable reason and returns null. */
function parseField(name: string, text: string, problems: string[]): number | null {
  if (text.trim() === '') {
    problems.push(`${name} is empty`);
    return null;
  }
  const v = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (Number.isNaN(v)) {
    problems.push(`${name} is not a number: ${showValue(text)}`);
    return null;
  }
  if (!Number.isFinite(v)) {
    problems.push(`${name} is not a finite number: ${showValue(text)}`);
    return null;
  }
  return v;
}

function showValue(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function unclosedQuoteReason(column: number, size: string | null): string {
  const where = column >= 0 ? `the quote opening field ${column + 1}` : 'a quote';
  return size === null
    ? `${where} is never closed (stray " character?); skipped this line`
    : `${where} is not closed within ${size} (stray " character?); skipped this line`;
}

/**
 * Finds the end of the record starting at `s` with RFC 4180 quoting, the same way csv-parse does with
 * relax_quotes: a quote opens a quoted field only at the start of a field, "" inside it is an escaped quote,
 * and any other quote closes it. At end of input (`final`) a record without \n ends at `end`.
 */
function scanQuotedRecord(buf: Buffer, s: number, end: number, final: boolean): QuotedScan {
  let atFieldStart = true;
  let column = 0;
  let i = s;
  while (i < end) {
    const c = buf[i] as number;
    if (c === NL) return { end: i, openQuoteColumn: -1 };
    if (c === COMMA) {
      atFieldStart = true;
      column++;
      i++;
      continue;
    }
    if (c === QUOTE && atFieldStart) {
      // Inside a quoted field: look for its closing quote.
      i++;
      for (;;) {
        const q = buf.indexOf(QUOTE, i);
        if (q === -1 || q >= end) {
          return { end: -1, openQuoteColumn: final ? column : -1 };
        }
        if (q + 1 < end && buf[q + 1] === QUOTE) {
          i = q + 2;
          continue;
        }
        // A quote that is the last byte so far may yet turn out to be half of "": harmless, because an
        // incomplete record is always rescanned from its start once more input arrives.
        i = q + 1;
        break;
      }
      atFieldStart = false;
      continue;
    }
    atFieldStart = false;
    i++;
  }
  return { end: -1, openQuoteColumn: -1 };
}

/** Field i spans [start, end) of the record; quoted fields exclude their quotes. */
interface FieldSpan {
  start: number;
  end: number;
  /** Quoted and containing "" pairs, which need unescaping. */
  escaped: boolean;
}

/** Splits a complete record [s, e) into fields; null if it is not strict RFC 4180 (text after a closing quote). */
function splitQuotedRecord(buf: Buffer, s: number, e: number): FieldSpan[] | null {
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

function fieldText(buf: Buffer, f: FieldSpan | undefined): string | null {
  if (f === undefined) return null;
  const text = buf.toString('utf8', f.start, f.end);
  return f.escaped ? text.replaceAll('""', '"') : text;
}

function countNewlines(buf: Buffer, s: number, e: number): number {
  let n = 0;
  for (let i = buf.indexOf(NL, s); i !== -1 && i < e; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

function missingColumnError(names: string[], numerator: string, denominator: string, numIdx: number, denIdx: number): RatesFileError {
  const missing: string[] = [];
  const hint = (want: string): string => {
    const similar = names.find((n) => n.toLowerCase() === want.toLowerCase());
    return similar === undefined ? '' : ` (did you mean "${similar}"? names are case-sensitive)`;
  };
  if (numIdx === -1) missing.push(`numerator column "${numerator}"${hint(numerator)}`);
  if (denIdx === -1 && !(denominator === numerator && numIdx === -1)) missing.push(`denominator column "${denominator}"${hint(denominator)}`);
  const shown = names.slice(0, 50).map((n) => JSON.stringify(n.length > 60 ? `${n.slice(0, 60)}…` : n));
  const available = names.length === 0 ? 'none' : shown.join(', ') + (names.length > 50 ? `, … (${names.length} in all)` : '');
  return new RatesFileError(
    'MISSING_COLUMN',
    `The header has no ${missing.join(' and no ')}. Columns in the file: ${available}. Choose the numerator/denominator options from these.`,
  );
}

const MAGIC: { bytes: number[]; name: string }[] = [
  { bytes: [0x89, 0x50, 0x4e, 0x47], name: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], name: 'a JPEG image' },
  { bytes: [0x47, 0x49, 0x46, 0x38], name: 'a GIF image' },
  { bytes: [0x1f, 0x8b], name: 'a gzip-compressed file (decompress it first)' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], name: 'a ZIP archive or an Excel .xlsx workbook (export the sheet as CSV)' },
  { bytes: [0xd0, 0xcf, 0x11, 0xe0], name: 'a legacy Excel .xls workbook (export the sheet as CSV)' },
  { bytes: [0x25, 0x50, 0x44, 0x46], name: 'a PDF document' },
  { bytes: [0x42, 0x5a, 0x68], name: 'a bzip2-compressed file (decompress it first)' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], name: 'a zstd-compressed file (decompress it first)' },
  { bytes: [0x50, 0x41, 0x52, 0x31], name: 'a Parquet file' },
  { bytes: [0xff, 0xfe], name: 'UTF-16 text (re-save it as UTF-8)' },
  { bytes: [0xfe, 0xff], name: 'UTF-16 text (re-save it as UTF-8)' },
];

function sniffBinary(head: Buffer): string | null {
  for (const m of MAGIC) {
    if (m.bytes.every((b, i) => head[i] === b)) return m.name;
  }
  return null;
}

/** Offset of the first byte that breaks UTF-8 (only used for the error message; isUtf8 is the judge). */
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n === -1) return i;
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length || ((b[i + k] as number) & 0xc0) !== 0x80) return i;
    }
    if (!isUtf8(b.subarray(i, i + n + 1))) return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}
