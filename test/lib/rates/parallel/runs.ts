/**
 * The two ways to run a CSV in the parallel suites: the single path (computeRates, with the values it feeds its
 * statistics caught by a spy on RateStatsAccumulator.add) and the parallel path as the coordinator drives it
 * (header, guessed chunks, verification, re-runs, merge, statistics rounds), each chunk fed from a Buffer in pieces.
 */
import { vi } from 'vitest';
import { computeRates } from '../../../../lib/rates/csv-rates.ts';
import { RatesFileError } from '../../../../lib/rates/errors.ts';
import type { RateOptions } from '../../../../lib/rates/options.ts';
import { type ChunkRange, verifyChunks } from '../../../../lib/rates/parallel/chunks.ts';
import { type FileHeader, readFileHeader } from '../../../../lib/rates/parallel/header.ts';
import { type MergedChunks, mergeChunks } from '../../../../lib/rates/parallel/merge.ts';
import { parseRange, type RangeTask, readStart } from '../../../../lib/rates/parallel/range-parse.ts';
import { type ChunkReply, decodeChunkReply, encodeChunkReply } from '../../../../lib/rates/parallel/reply.ts';
import { PROBE_BYTES } from '../../../../lib/rates/sniff.ts';
import { type RateStats, RateStatsAccumulator } from '../../../../lib/rates/stats.ts';
import { answerStatsPlan, chunkValuesOf, StatsRounds } from '../../../../lib/rates/parallel/stats-rounds.ts';
import { Collector } from '../../../support/collector.ts';

/** The suites import it from here with the rest of their rig. */
export { Collector };

export const OPTS: RateOptions = { numerator: 'num', denominator: 'den', bins: 10 };

/** Input pieces: a fixed size, or sizes drawn from a function (random splits of CRLF, UTF-8, quotes). */
export type Pieces = number | (() => number);

export async function* pieces(data: Buffer, size: Pieces): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; ) {
    const n = Math.max(1, typeof size === 'number' ? size : size());
    yield new Uint8Array(data.buffer, data.byteOffset + o, Math.min(n, data.length - o));
    o += n;
  }
}

/** A run's outcome: the file error, or everything the two paths must agree on. */
export type Outcome =
  | { error: { code: string; message: string } }
  | {
      out: Buffer;
      values: Buffer;
      columns: string[];
      rateColumn: string;
      rows: number;
      badRows: number;
      badRowSamples: { line: number; reason: string }[];
      /** min, max, mean, median, p95 and the histogram: the parallel side's from the statistics rounds. */
      stats: RateStats;
      inputBytes: number;
    };

function fileError(err: unknown): Outcome {
  if (!(err instanceof RatesFileError)) throw err;
  return { error: { code: err.code, message: err.message } };
}

/** The single path, as the rates job runs it. */
export async function runSingle(csv: Buffer, opts: RateOptions = OPTS): Promise<Outcome> {
  const stop = recordStatisticsInput();
  try {
    const out = new Collector();
    const r = await computeRates(pieces(csv, 64 * 1024), out, opts);
    const values = Buffer.from(new Float64Array(stop()).buffer);
    const { rows, badRows, badRowSamples, columns, rateColumn, inputBytes, stats } = r;
    return { out: out.bytes(), values, columns, rateColumn, rows, badRows, badRowSamples, stats, inputBytes };
  } catch (err) {
    stop();
    return fileError(err);
  }
}

/**
 * Records, in order, every value RateStatsAccumulator is given (one at a time from the careful path, in blocks from
 * the row kernel, whose block is reused: copied here as it comes). The returned function stops and gives them.
 */
function recordStatisticsInput(): () => number[] {
  const proto = RateStatsAccumulator.prototype;
  const { add, addMany } = proto;
  const seen: number[] = [];
  const addSpy = vi.spyOn(proto, 'add').mockImplementation(function (this: RateStatsAccumulator, value: number) {
    seen.push(value);
    add.call(this, value);
  });
  const addManySpy = vi.spyOn(proto, 'addMany').mockImplementation(function (
    this: RateStatsAccumulator,
    values: Float64Array,
    min: number,
    max: number,
  ) {
    for (const value of values) seen.push(value);
    addMany.call(this, values, min, max);
  });
  return () => {
    addSpy.mockRestore();
    addManySpy.mockRestore();
    return seen;
  };
}

/** The header as the coordinator reads it: a longer head each time readFileHeader asks for more. */
export function headerOf(csv: Buffer, opts: RateOptions = OPTS): FileHeader {
  for (let len = PROBE_BYTES + 1; ; len *= 2) {
    const atEof = len >= csv.length;
    const h = readFileHeader(csv.subarray(0, Math.min(len, csv.length)), atEof, opts);
    if (h !== null) return h;
    if (atEof) throw new Error('readFileHeader asked for more than the whole file');
  }
}

/** Ranges [dataStart, size) cut at the given positions. */
export function rangesAt(dataStart: number, size: number, cuts: number[]): ChunkRange[] {
  const bounds = [dataStart, ...cuts, size];
  return cuts.concat(size).map((e, index) => ({ index, s: bounds[index] as number, e }));
}

export interface ParallelRun {
  outcome: Outcome;
  /** Chunks run again after verification, over all rounds. */
  reruns: number;
  rounds: number;
}

async function runChunk(
  csv: Buffer,
  header: FileHeader,
  range: ChunkRange,
  start: RangeTask['start'],
  piece: Pieces,
  opts: RateOptions,
): Promise<{ reply: ChunkReply; out: Buffer; values: Buffer }> {
  const task: RangeTask = {
    options: opts,
    header: header.info,
    s: range.s,
    e: range.e,
    start,
    headerLine: range.index === 0 ? header.outputLine : null,
  };
  const out = new Collector();
  const values = new Collector();
  // The reply crosses a JSON boundary in production (a Lambda's answer): so it does here.
  const sent = await parseRange(pieces(csv.subarray(readStart(task)), piece), task, out, values);
  const reply = decodeChunkReply(JSON.parse(JSON.stringify(encodeChunkReply(sent))));
  return { reply, out: out.bytes(), values: values.bytes() };
}

/** The parallel path: guess, verify, re-run wrong guesses until all are right, merge, concatenate. */
export async function runParallel(
  csv: Buffer,
  ranges: (dataStart: number, size: number) => ChunkRange[],
  piece: Pieces = 64 * 1024,
  opts: RateOptions = OPTS,
): Promise<ParallelRun> {
  let header: FileHeader;
  try {
    header = headerOf(csv, opts);
  } catch (err) {
    return { outcome: fileError(err), reruns: 0, rounds: 0 };
  }
  const plan = ranges(header.dataStart, csv.length);
  const results = await Promise.all(
    plan.map((r) =>
      runChunk(csv, header, r, r.index === 0 ? { kind: 'known', at: r.s } : { kind: 'guess' }, piece, opts),
    ),
  );
  let reruns = 0;
  let rounds = 1;
  for (;;) {
    const { rerun } = verifyChunks(
      plan,
      results.map((r) => r.reply),
    );
    if (rerun.length === 0) break;
    rounds++;
    reruns += rerun.length;
    for (const { index, start } of rerun) {
      results[index] = await runChunk(
        csv,
        header,
        plan[index] as ChunkRange,
        { kind: 'known', at: start },
        piece,
        opts,
      );
    }
  }
  let merged: MergedChunks;
  try {
    merged = mergeChunks(
      header,
      plan,
      results.map((r) => r.reply),
      csv.length,
    );
  } catch (err) {
    return { outcome: fileError(err), reruns, rounds };
  }
  const out = Buffer.concat(results.map((r) => r.out));
  if (out.length !== merged.outputBytes) throw new Error('the replies miscount the output bytes');
  const values = Buffer.concat(results.map((r) => r.values));
  const stats = await statsInRounds(
    merged,
    opts.bins,
    results.map((r) => r.values),
  );
  const { columns, rateColumn, rows, badRows, badRowSamples, inputBytes } = merged;
  return {
    outcome: { out, values, columns, rateColumn, rows, badRows, badRowSamples, stats, inputBytes },
    reruns,
    rounds,
  };
}

/** The statistics as the coordinator computes them: rounds of plans answered by every chunk from its own values. */
async function statsInRounds(merged: MergedChunks, bins: number, chunkValues: readonly Buffer[]): Promise<RateStats> {
  const rounds = new StatsRounds({ n: merged.n, min: merged.min, max: merged.max, bins });
  // Copied: a Buffer's bytes need not be 8-byte aligned for a Float64Array.
  const chunks = chunkValues.map((b) => chunkValuesOf(new Float64Array(Uint8Array.from(b).buffer)));
  for (let plan = rounds.plan; plan !== null; plan = rounds.plan) {
    const current = plan;
    rounds.merge(await Promise.all(chunks.map((c) => answerStatsPlan(current, c))));
  }
  return rounds.result();
}
