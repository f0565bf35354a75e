/**
 * One chunk of a parallel rates run (design14.md, step 2): the records that START in a byte range [s, e) of the
 * file, run through the single path's own engine (RatesEngine, fed by the same ChunkFramer), so every row, bad
 * row and rate is what the single path makes of it. A record that starts before `e` is finished past `e`; the
 * reply's `next` is where the record after the chunk's last one starts, which the coordinator checks against the
 * next chunk's start (chunks.ts).
 *
 * Chunk 0 (and a re-run) knows where its first record starts. Any other chunk GUESSES: the first byte after a
 * \n at or after s - 1, i.e. it assumes s is not inside a quoted field. A wrong guess is caught by verification
 * and the chunk is run again from a known start.
 */
import { endianness } from 'node:os';
import { ChunkFramer } from '../csv-chunks.ts';
import type { HeaderInfo } from '../csv-header.ts';
import { NL } from '../csv-tokenizer.ts';
import { checkRateOptions, type RateOptions } from '../options.ts';
import { OutputSink, waitForDrain } from '../output-sink.ts';
import { type RateSink, RatesEngine } from '../rates-engine.ts';
import type { ChunkReply } from './reply.ts';

/** Where a chunk's first record starts: known (chunk 0, or a re-run after verification), or to be guessed. */
export type RangeStart = { kind: 'known'; at: number } | { kind: 'guess' };

export interface RangeTask {
  options: RateOptions;
  header: HeaderInfo;
  /** The byte range [s, e) of the file: the chunk owns the records that start in it. */
  s: number;
  e: number;
  start: RangeStart;
  /** rates.csv's first line, written before the rows (chunk 0 only: parallel/header.ts's `outputLine`). */
  headerLine: Buffer | null;
}

/** Where the input handed to parseRange must begin: the known start, or s - 1 to see the \n before a guess. */
export function readStart(task: Pick<RangeTask, 's' | 'start'>): number {
  return task.start.kind === 'known' ? task.start.at : Math.max(0, task.s - 1);
}

/** Rates are handed on in blocks of this many values (512 KiB of output). */
const BLOCK_VALUES = 64 * 1024;
const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * The chunk's rates: counted, min/max, and written in row order to `out` as little-endian Float64 (8 bytes per
 * row), the values object. Their exact sum (the mean) comes from the first statistics round (stats-rounds.ts),
 * which reads every value anyway.
 */
class ChunkValues implements RateSink {
  n = 0;
  min = Infinity;
  max = -Infinity;
  needDrain = false;
  private block = new Float64Array(BLOCK_VALUES);
  private len = 0;

  constructor(private readonly out: NodeJS.WritableStream) {}

  add(value: number): void {
    this.block[this.len++] = value;
    this.n++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.len === this.block.length) this.flush();
  }

  addMany(values: Float64Array, min: number, max: number): void {
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
    this.n += values.length;
    for (let from = 0; from < values.length; ) {
      const count = Math.min(values.length - from, this.block.length - this.len);
      this.block.set(values.subarray(from, from + count), this.len);
      this.len += count;
      from += count;
      if (this.len === this.block.length) this.flush();
    }
  }

  flush(): void {
    if (this.len === 0) return;
    const values = this.block.subarray(0, this.len);
    if (!this.out.write(float64Bytes(values))) this.needDrain = true;
    // The stream may keep the buffer it was given: the next block is a fresh one.
    this.block = new Float64Array(BLOCK_VALUES);
    this.len = 0;
  }
}

function float64Bytes(values: Float64Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const b = Buffer.allocUnsafe(values.length * 8);
  for (let i = 0; i < values.length; i++) b.writeDoubleLE(values[i] as number, i * 8);
  return b;
}

/**
 * Parses the chunk `task` describes. `input` yields the file's bytes from `readStart(task)` on, up to the end of
 * the file if need be (it is read only as far as the chunk's last record needs; a ranged GET stream will do);
 * `null` when there is nothing from there on (readStart is the end of the file, where S3 refuses a range). Rows go to `output` (rates.csv's bytes, not ended here), the rates to `rates` as little-endian Float64.
 */
export async function parseRange(
  input: AsyncIterable<Uint8Array> | null,
  task: RangeTask,
  output: NodeJS.WritableStream,
  rates: NodeJS.WritableStream,
): Promise<ChunkReply> {
  const opts = checkRateOptions(task.options);
  const { s, e } = task;
  if (!(Number.isSafeInteger(s) && Number.isSafeInteger(e) && 0 < s && s <= e)) {
    // s > 0: the header always comes first, and a guess looks at the byte before s.
    throw new RangeError(`a chunk's range must be 0 < s <= e, got [${s}, ${e})`);
  }
  if (task.start.kind === 'known' && !(Number.isSafeInteger(task.start.at) && task.start.at >= s)) {
    throw new RangeError(`a chunk's known start must be at or after its range's start ${s}, got ${task.start.at}`);
  }
  const values = new ChunkValues(rates);
  const sink = new OutputSink(output);
  if (task.headerLine !== null) sink.append(task.headerLine);
  let pos = readStart(task);
  // The first record's start: known, or found below (-1 until the guess's \n has been seen).
  let p = task.start.kind === 'known' ? task.start.at : -1;
  let run: { engine: RatesEngine; framer: ChunkFramer } | null = null;
  const begin = (at: number): { engine: RatesEngine; framer: ChunkFramer } => {
    const engine = new RatesEngine(opts, values, sink, { header: task.header, stopAt: e });
    return { engine, framer: new ChunkFramer(engine, { probe: false, start: at }) };
  };
  if (p !== -1 && p < e) run = begin(p);
  let owned = p !== -1 && p < e;

  for await (const raw of input ?? []) {
    let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const at = pos;
    pos += chunk.length;
    if (p === -1) {
      const nl = chunk.indexOf(NL);
      if (nl === -1) continue;
      p = at + nl + 1;
      owned = p < e;
      if (!owned) break;
      run = begin(p);
      chunk = chunk.subarray(nl + 1);
    }
    if (run === null) break;
    await run.framer.push(chunk);
    if (values.needDrain) {
      values.needDrain = false;
      await waitForDrain(rates);
    }
    if (run.engine.next !== -1) break;
  }
  // Input ended before a guess found its \n: the chunk starts (and ends) at the end of the file.
  if (p === -1) p = pos;
  let next = p;
  let lines = 0;
  if (run !== null && owned) {
    if (run.engine.next === -1) await run.framer.end();
    next = run.engine.next === -1 ? pos : run.engine.next;
    lines = run.engine.nextLine - 1;
  }
  values.flush();
  if (sink.len > 0) sink.flush();
  await sink.drain();
  if (values.needDrain) await waitForDrain(rates);
  const engine = run?.engine;
  return {
    start: p,
    next,
    lines,
    rows: engine?.rows ?? 0,
    badRows: engine?.bad.count ?? 0,
    badRowSamples: engine?.bad.samples ?? [],
    n: values.n,
    min: values.min,
    max: values.max,
    inputBytes: next - p,
    outputBytes: sink.written,
  };
}
