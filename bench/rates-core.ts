import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { computeRates } from '../lib/rates/csv-rates.ts';
import { sampleCountyCsvChunks } from '../lib/rates/sample-data.ts';

export interface RatesCoreBench {
  rows: number;
  ms: number;
  rowsPerSec: number;
  /** Peak RSS while the job ran (input buffer included). */
  peakRssMb: number;
  /** RSS just before the job started, after generating the input. */
  baselineRssMb: number;
}

/** Rows generated once and replayed; keeps the input's own memory constant so RSS reflects the core. */
const MAX_BASE_ROWS = 1_000_000;
/** Input chunk size; an S3 body stream delivers chunks of roughly 16-64 KB. */
const CHUNK_BYTES = Number(process.env.RATES_BENCH_CHUNK ?? 64 * 1024);

async function* replay(
  header: Buffer,
  base: Buffer,
  baseRows: number,
  rows: number,
  onChunk: () => void,
): AsyncGenerator<Buffer> {
  yield header;
  for (let done = 0; done < rows; done += baseRows) {
    for (let off = 0; off < base.length; off += CHUNK_BYTES) {
      onChunk();
      yield base.subarray(off, off + CHUNK_BYTES);
    }
  }
}

/** A full GC, so garbage from generating the input does not count as the job's memory. */
function collectGarbage(): void {
  try {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  } catch {
    // Not essential: without it the baseline just includes some garbage.
  }
}

export async function benchRatesCore(rows: number): Promise<RatesCoreBench> {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rows must be a positive integer, got ${rows}`);
  // Whole repetitions of the base keep the row count exact.
  let baseRows = Math.min(rows, MAX_BASE_ROWS);
  while (rows % baseRows !== 0) baseRows--;
  const generated = Buffer.concat([...sampleCountyCsvChunks({ rows: baseRows, seed: 42 })]);
  const headerEnd = generated.indexOf(10) + 1;
  const header = generated.subarray(0, headerEnd);
  const base = generated.subarray(headerEnd);
  let outBytes = 0;
  const sink = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      outBytes += chunk.length;
      cb();
    },
  });

  // Peak RSS while the job runs, so that the one-off cost of generating the input does not mask how
  // memory grows with the row count. It includes the input itself (~40 MB, the same for every size from
  // 1M rows up). Sampled every 2 MB of input and at the end: reading RSS costs ~10 µs, too much per chunk.
  collectGarbage();
  const baselineRss = process.memoryUsage.rss();
  let peakRss = baselineRss;
  let chunksSinceSample = 0;
  const sample = (): void => {
    if (++chunksSinceSample * CHUNK_BYTES < 2 * 1024 * 1024) return;
    chunksSinceSample = 0;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  };
  const t0 = performance.now();
  const result = await computeRates(replay(header, base, baseRows, rows, sample), sink, {
    numerator: 'cancer',
    denominator: 'population',
    bins: 30,
  });
  const ms = performance.now() - t0;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  sink.end();
  if (result.rows !== rows || outBytes === 0)
    throw new Error(`benchmark sanity check failed: ${result.rows} rows, ${outBytes} bytes out`);
  return {
    rows,
    ms: Math.round(ms * 10) / 10,
    rowsPerSec: Math.round(rows / (ms / 1000)),
    peakRssMb: Math.round(peakRss / 1024 / 1024),
    baselineRssMb: Math.round(baselineRss / 1024 / 1024),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const r = await benchRatesCore(rows);
  console.log(
    `rates core: ${r.rows.toLocaleString('en-US')} rows in ${r.ms} ms ` +
      `(${r.rowsPerSec.toLocaleString('en-US')} rows/s), peak RSS ${r.peakRssMb} MB (${r.baselineRssMb} MB before the job)`,
  );
}
