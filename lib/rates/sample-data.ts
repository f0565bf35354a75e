/**
 * Realistic, deterministic sample data for the county cancer-rate job:
 *
 *   fips,county,state,cancer,population
 *   01001,Lincoln County,AL,131,24562
 *   22017,"Cedar Ridge Parish, LA",LA,62,11170
 *
 * - FIPS = 2-digit state code + 3-digit odd county code, from a table of 3,143 counties (real per-state
 *   county counts). Rows walk that table in order, so the first 3,143 rows have unique FIPS codes; larger
 *   samples cycle through it again with fresh numbers.
 * - County names are built from common name parts ("Lincoln", "Cedar Ridge", "Lewis and Clark", "Doña Ana")
 *   plus County / Parish (LA) / Borough (AK). At `quotedFraction` the name is written in a form that needs
 *   CSV quoting: with a comma and the state (`"Lincoln County, NE"`), sometimes with embedded quotes too.
 * - population ~ log-normal, median ~25,000, kept within [1,000, 10,000,000].
 * - cancer ~ Poisson(population × rate), rate ~ Normal(0.0055, 0.0005) kept within [0.004, 0.007].
 * - At `badRowFraction` a row is malformed on purpose: empty population, `n/a` population or cancer, or
 *   population 0 (with cancer 0). Bad rows still have 5 fields.
 *
 * Everything derives from `seed` (mulberry32), so the same options always give the same bytes. Rows are
 * written straight into ~1 MiB Buffers (no per-row strings), which makes 10M rows take a couple of seconds.
 */

import { buildCounties, type County } from './sample-counties.ts';
import { Random } from './sample-random.ts';

export { SAMPLE_COUNTY_COUNT } from './sample-counties.ts';

export interface SampleOptions {
  rows: number;
  /** PRNG seed (integer). Default 1. */
  seed?: number;
  /** Fraction of rows whose county name is CSV-quoted (contains a comma and maybe quotes). Default 0.02. */
  quotedFraction?: number;
  /** Fraction of deliberately malformed rows. Default 0. */
  badRowFraction?: number;
}

export const SAMPLE_CSV_HEADER = 'fips,county,state,cancer,population';
/** Chunks are flushed once they reach this many bytes; each chunk ends on a row boundary. */
export const SAMPLE_CHUNK_BYTES = 1 << 20;
/** Above this, use sampleCountyCsvChunks (a single string of that size is slow and memory-hungry). */
export const SAMPLE_CSV_MAX_STRING_ROWS = 2_000_000;

export const SAMPLE_POPULATION_MIN = 1_000;
export const SAMPLE_POPULATION_MAX = 10_000_000;
export const SAMPLE_POPULATION_MEDIAN = 25_000;
export const SAMPLE_RATE_MEAN = 0.0055;
export const SAMPLE_RATE_MIN = 0.004;
export const SAMPLE_RATE_MAX = 0.007;

const POPULATION_LOG_SIGMA = 1.35;
const RATE_SD = 0.0005;

// ---------------------------------------------------------------------------------------------------------
// Byte writer
// ---------------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const N_A = utf8.encode('n/a');
/** Longest possible row is well under this; chunks get this much slack past SAMPLE_CHUNK_BYTES. */
const ROW_SLACK = 512;

class ChunkWriter {
  buf = Buffer.allocUnsafe(SAMPLE_CHUNK_BYTES + ROW_SLACK);
  pos = 0;

  bytes(src: Uint8Array): void {
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  /** Non-negative integer below 2^31, in decimal. */
  uint(n: number): void {
    const buf = this.buf;
    const digits =
      n < 10
        ? 1
        : n < 100
          ? 2
          : n < 1e3
            ? 3
            : n < 1e4
              ? 4
              : n < 1e5
                ? 5
                : n < 1e6
                  ? 6
                  : n < 1e7
                    ? 7
                    : n < 1e8
                      ? 8
                      : n < 1e9
                        ? 9
                        : 10;
    let at = this.pos + digits - 1;
    let m = n | 0;
    do {
      const q = (m / 10) | 0;
      buf[at--] = 0x30 + m - q * 10;
      m = q;
    } while (m > 0);
    this.pos += digits;
  }

  /** Hand out the filled part and start a fresh buffer (the consumer may keep the old one). */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(SAMPLE_CHUNK_BYTES + ROW_SLACK);
    this.pos = 0;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

const LOG_MEDIAN = Math.log(SAMPLE_POPULATION_MEDIAN);
const LOG_MIN = Math.log(SAMPLE_POPULATION_MIN);
const LOG_MAX = Math.log(SAMPLE_POPULATION_MAX);

/**
 * Writes rows [from, to) until the chunk is full; returns how many rows it wrote. A plain function rather
 * than the generator body so V8 optimizes the hot loop fully.
 */
function writeRows(
  w: ChunkWriter,
  rng: Random,
  counties: County[],
  from: number,
  to: number,
  quotedFraction: number,
  badRowFraction: number,
): number {
  let i = from;
  while (i < to && w.pos < SAMPLE_CHUNK_BYTES) {
    const county = counties[i % counties.length] as County;
    w.bytes(rng.uniform() < quotedFraction ? county.quoted : county.plain);

    let logPop = LOG_MEDIAN + POPULATION_LOG_SIGMA * rng.normal();
    while (logPop < LOG_MIN || logPop > LOG_MAX) logPop = LOG_MEDIAN + POPULATION_LOG_SIGMA * rng.normal();
    const population = Math.round(Math.exp(logPop));
    let rate = SAMPLE_RATE_MEAN + RATE_SD * rng.normal();
    while (rate < SAMPLE_RATE_MIN || rate > SAMPLE_RATE_MAX) rate = SAMPLE_RATE_MEAN + RATE_SD * rng.normal();
    const cancer = rng.poisson(population * rate);

    if (badRowFraction > 0 && rng.uniform() < badRowFraction) {
      switch (rng.int(4)) {
        case 0: // empty population
          w.uint(cancer);
          w.byte(COMMA);
          break;
        case 1: // population n/a
          w.uint(cancer);
          w.byte(COMMA);
          w.bytes(N_A);
          break;
        case 2: // cancer n/a
          w.bytes(N_A);
          w.byte(COMMA);
          w.uint(population);
          break;
        default: // population 0
          w.uint(0);
          w.byte(COMMA);
          w.uint(0);
      }
    } else {
      w.uint(cancer);
      w.byte(COMMA);
      w.uint(population);
    }
    w.byte(NEWLINE);
    i++;
  }
  return i - from;
}

function checkOptions(options: SampleOptions): Required<SampleOptions> {
  const { rows, seed = 1, quotedFraction = 0.02, badRowFraction = 0 } = options;
  if (!Number.isSafeInteger(rows) || rows < 0) {
    throw new Error(`sample data: rows must be a non-negative integer (got ${String(rows)})`);
  }
  if (!Number.isFinite(seed)) throw new Error(`sample data: seed must be a finite number (got ${String(seed)})`);
  for (const [name, value] of [
    ['quotedFraction', quotedFraction],
    ['badRowFraction', badRowFraction],
  ] as const) {
    if (!(value >= 0 && value <= 1))
      throw new Error(`sample data: ${name} must be between 0 and 1 (got ${String(value)})`);
  }
  return { rows, seed, quotedFraction, badRowFraction };
}

/**
 * The sample CSV as a stream of ~1 MiB Buffers (UTF-8). The first chunk starts with the header line; every
 * chunk ends on a row boundary and every row ends with '\n'. Each yielded Buffer is fresh (safe to keep).
 */
export function sampleCountyCsvChunks(options: SampleOptions): Generator<Buffer> {
  return generateChunks(checkOptions(options)); // validate eagerly, not on the first next()
}

function* generateChunks(options: Required<SampleOptions>): Generator<Buffer> {
  const { rows, seed, quotedFraction, badRowFraction } = options;
  const counties = buildCounties(new Random((seed ^ 0x9e3779b9) >>> 0));
  const rng = new Random(seed >>> 0 || 0x5eed);
  const w = new ChunkWriter();
  w.bytes(utf8.encode(`${SAMPLE_CSV_HEADER}\n`));

  let done = 0;
  while (done < rows) {
    done += writeRows(w, rng, counties, done, rows, quotedFraction, badRowFraction);
    if (w.pos >= SAMPLE_CHUNK_BYTES) yield w.take();
  }
  if (w.pos > 0) yield w.take();
}

/** The whole sample CSV as one string; for small samples (use sampleCountyCsvChunks for big ones). */
export function sampleCountyCsv(options: SampleOptions): string {
  if (options.rows > SAMPLE_CSV_MAX_STRING_ROWS) {
    throw new Error(
      `sampleCountyCsv: ${options.rows} rows is too many for one string (max ${SAMPLE_CSV_MAX_STRING_ROWS}); ` +
        'use sampleCountyCsvChunks and stream the Buffers instead',
    );
  }
  return Buffer.concat([...sampleCountyCsvChunks(options)]).toString('utf8');
}
