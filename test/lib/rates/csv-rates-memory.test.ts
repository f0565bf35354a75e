/**
 * A huge object stream must not exhaust memory (issue 7). The rates job streams an object through `computeRates`
 * (lib/rates/csv-rates.ts); here it gets a CSV generated on the fly — nothing is written to disk but the
 * statistics' own spill file — and a discarding output, and the process's RSS is sampled while it runs.
 *
 * 100 MB always runs; 1 GB (the issue's size) with CLOUD_PARALLEL_SLOW_TESTS=1 (~10 s). Each run prints its time
 * and RSS. Also at 100 MB: the adversarial shapes that would make a naive parser buffer everything (a quote that
 * never closes, one line without a newline).
 */
import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { computeRates } from '../../../lib/rates/csv-rates.ts';
import { SLOW_TESTS as SLOW } from '../../support/slow.ts';

const MB = 1024 * 1024;
const OPTIONS = { numerator: 'cancer', denominator: 'population', bins: 30 };
const HEADER = 'fips,county,cancer,population\n';

/** ~1 MB of county rows; the last row of each has population 0, a bad row the job must count and skip. */
function countyChunk(seed: number): { bytes: Buffer; rows: number } {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < MB - 64; i++) {
    const line = `${10_000 + ((seed * 7919 + i) % 90_000)},County ${seed}-${i},${(seed * 31 + i * 17) % 5000},${1000 + ((seed * 104_729 + i * 7) % 900_000)}\n`;
    lines.push(line);
    size += line.length;
  }
  lines.push(`99999,Empty county ${seed},3,0\n`);
  return { bytes: Buffer.from(lines.join('')), rows: lines.length };
}

interface Measured {
  ms: number;
  baselineMb: number;
  peakMb: number;
  growthMb: number;
}

/** Runs computeRates over `chunks` (an iterator of Buffers) into a discarding sink, sampling RSS as chunks are pulled. */
async function measure(header: Buffer, body: () => Iterator<Buffer>) {
  let peak = process.memoryUsage.rss();
  const baseline = peak;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  async function* source() {
    yield header;
    const it = body();
    for (let next = it.next(); !next.done; next = it.next()) {
      sample();
      yield next.value;
    }
  }
  let outputBytes = 0;
  const sink = new Writable({
    highWaterMark: MB,
    write(chunk: Buffer, _encoding, done) {
      outputBytes += chunk.length;
      done();
    },
  });
  const started = performance.now();
  const result = await computeRates(Readable.from(source(), { objectMode: false }), sink, OPTIONS);
  sample();
  const measured: Measured = {
    ms: Math.round(performance.now() - started),
    baselineMb: Math.round(baseline / MB),
    peakMb: Math.round(peak / MB),
    growthMb: Math.round((peak - baseline) / MB),
  };
  return { result, outputBytes, measured };
}

/** `sizeMb` of county rows through computeRates: everything accounted for, and RSS growth bounded. */
async function streamCounties(sizeMb: number): Promise<void> {
  const templates = Array.from({ length: 8 }, (_, seed) => countyChunk(seed + 1));
  let chunks = 0;
  let bytes = 0;
  let expectedRows = 0;
  const { result, outputBytes, measured } = await measure(Buffer.from(HEADER), function* () {
    while (bytes < sizeMb * MB) {
      const template = templates[chunks % templates.length]!;
      chunks++;
      bytes += template.bytes.length;
      expectedRows += template.rows;
      yield template.bytes;
    }
  });
  console.info(
    `bad-input stream, ${sizeMb} MB (${(bytes / MB).toFixed(0)} MB in, ${(outputBytes / MB).toFixed(0)} MB out, ${result.rows} rows): ` +
      `${measured.ms} ms, RSS ${measured.baselineMb} → ${measured.peakMb} MB (+${measured.growthMb} MB)`,
  );
  // Everything was read and accounted for: one bad row (population 0) per chunk, every other row rated.
  expect(result.inputBytes).toBe(bytes + HEADER.length);
  expect(result.badRows).toBe(chunks);
  expect(result.rows).toBe(expectedRows - chunks);
  expect(result.badRowSamples).toHaveLength(100);
  expect(outputBytes).toBeGreaterThan(bytes);
  // Holding the input (or the output) would take at least sizeMb more; the streaming job's working set is far smaller.
  expect(measured.growthMb).toBeLessThan(Math.min(300, sizeMb));
}

describe('a huge object stream does not exhaust memory', () => {
  it('100 MB of CSV streams through in bounded memory', () => streamCounties(100), 60_000);

  it.skipIf(!SLOW)(
    '1 GB of CSV streams through in bounded memory (CLOUD_PARALLEL_SLOW_TESTS=1)',
    () => streamCounties(1024),
    180_000,
  );

  it.each([
    {
      shape: 'a quote that never closes, then 100 MB of rows',
      header: `${HEADER}1,"Open quote county,5,100\n`,
      chunk: Buffer.from('1,2,3,4\n'.repeat(MB / 8)),
      badRow: /the quote opening field 2 is not closed within 1 MiB/,
    },
    {
      shape: 'one 100 MB line without a newline',
      header: `${HEADER}1,`,
      chunk: Buffer.alloc(MB, 'a'),
      badRow: /line is longer than 1 MiB; skipped/,
    },
  ])(
    '$shape: bounded memory, a bad row, no throw',
    async ({ header, chunk, badRow }) => {
      const { result, measured } = await measure(Buffer.from(header), function* () {
        for (let sent = 0; sent < 100 * MB; sent += chunk.length) yield chunk;
        yield Buffer.from('\n2,Last county,5,100\n');
      });
      console.info(
        `bad-input stream, ${header.includes('"') ? 'open quote' : 'one long line'} over 100 MB: ${measured.ms} ms, RSS +${measured.growthMb} MB`,
      );
      expect(result.badRowSamples[0]?.reason).toMatch(badRow);
      expect(result.rows).toBeGreaterThanOrEqual(1);
      // Less than the 100 MB that holding the record (or the line) would take.
      expect(measured.growthMb).toBeLessThan(100);
    },
    60_000,
  );
});
