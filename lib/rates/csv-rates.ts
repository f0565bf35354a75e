/**
 * The rates core's entry: streams a CSV through the rates engine (rates-engine.ts), which appends
 * numerator / denominator to every usable row and feeds the rates to the statistics. The pieces the engine
 * drives each live in a file of their own: the chunk framer and binary sniff (csv-chunks.ts, sniff.ts), the
 * header (csv-header.ts), the row kernel for the plain rows (row-kernel.ts, compiled from wasm/rows.ts), the record
 * tokenizer (csv-tokenizer.ts) and number parsing (number-parse.ts) of the careful path, bad-row reasons
 * (bad-rows.ts) and the output buffers (output-sink.ts).
 */
import type { BadRow } from './bad-rows.ts';
import { ChunkFramer } from './csv-chunks.ts';
import { checkRateOptions, type RateOptions } from './options.ts';
import { OutputSink } from './output-sink.ts';
import { RatesEngine } from './rates-engine.ts';
import { RateStatsAccumulator, type RateStats } from './stats.ts';

export interface RatesResult {
  columns: string[];
  rateColumn: string;
  rows: number;
  badRows: number;
  badRowSamples: BadRow[];
  stats: RateStats;
  inputBytes: number;
}

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
  const opts = checkRateOptions(options);
  // The statistics spill to `spillDir` (default os.tmpdir()); see lib/rates/spill.ts for how much.
  const acc = new RateStatsAccumulator(spillDir === undefined ? {} : { tmpDir: spillDir });
  try {
    const engine = new RatesEngine(opts, acc, new OutputSink(output));
    const framer = new ChunkFramer(engine);
    for await (const chunk of input) {
      if (typeof chunk === 'string') {
        throw new TypeError(
          'computeRates expects binary chunks (Buffer/Uint8Array); do not set an encoding on the input stream',
        );
      }
      await framer.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
    await framer.end();
    await engine.end();
    const stats = await acc.finish(opts.bins);
    return {
      columns: engine.columns,
      rateColumn: engine.rateColumn,
      rows: engine.rows,
      badRows: engine.bad.count,
      badRowSamples: engine.bad.samples,
      stats,
      inputBytes: framer.inputBytes,
    };
  } finally {
    acc.dispose();
  }
}
