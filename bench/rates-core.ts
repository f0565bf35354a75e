import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { computeRates } from '../lib/rates/csv-rates.ts';

export interface RatesCoreBench {
  rows: number;
  ms: number;
  rowsPerSec: number;
  peakRssMb: number;
}

/** Rows generated once and replayed; keeps the input's own memory constant so RSS reflects the core. */
const MAX_BASE_ROWS = 1_000_000;
/** Roughly what the S3 SDK's body stream hands over per chunk. */
const CHUNK_BYTES = 64 * 1024;

const COUNTIES = [
  'Autauga County', 'Baldwin County', 'Barbour County', 'Jefferson County', 'Washington County', 'Franklin County',
  'Los Angeles County', 'Cook County', 'Harris County', 'Maricopa County', 'San Diego County', 'Orange County',
  'Miami-Dade County', 'Kings County', 'Dallas County', 'Queens County', 'Riverside County', 'Clark County',
  'King County', 'Tarrant County', 'Bexar County', 'Wayne County', 'Santa Clara County', 'Broward County',
  'St. Louis city', 'Anchorage Municipality', 'Doña Ana County', 'Prince George\'s County', 'Lake County', 'Polk County',
];
const QUOTED = ['"Lewis and Clark, MT"', '"Juneau City and Borough, AK"', '"Carson City, NV"', '"Bristol Bay Borough, ""BB"""', '"Fairfax city, VA"'];
const STATES = ['AL', 'AK', 'AZ', 'CA', 'CO', 'FL', 'GA', 'IL', 'MT', 'NV', 'NY', 'TX', 'VA', 'WA'];

/** Deterministic PRNG (mulberry32) so every run benchmarks the same bytes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateCountyRows(rows: number, seed = 42): Buffer {
  const rand = rng(seed);
  const parts: Buffer[] = [];
  let lines: string[] = [];
  for (let i = 0; i < rows; i++) {
    const fips = String(1001 + (i % 98_000)).padStart(5, '0');
    const county = rand() < 0.03 ? QUOTED[Math.floor(rand() * QUOTED.length)] : COUNTIES[Math.floor(rand() * COUNTIES.length)];
    const state = STATES[Math.floor(rand() * STATES.length)];
    const population = 500 + Math.floor(rand() ** 3 * 2_000_000);
    const cancer = Math.floor(population * (0.002 + rand() * 0.006));
    lines.push(`${fips},${county},${state},${cancer},${population}\n`);
    if (lines.length === 10_000) {
      parts.push(Buffer.from(lines.join('')));
      lines = [];
    }
  }
  parts.push(Buffer.from(lines.join('')));
  return Buffer.concat(parts);
}

async function* replay(header: Buffer, base: Buffer, baseRows: number, rows: number): AsyncGenerator<Buffer> {
  yield header;
  for (let done = 0; done < rows; done += baseRows) {
    for (let off = 0; off < base.length; off += CHUNK_BYTES) yield base.subarray(off, off + CHUNK_BYTES);
  }
}

export async function benchRatesCore(rows: number): Promise<RatesCoreBench> {
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rows must be a positive integer, got ${rows}`);
  // Whole repetitions of the base keep the row count exact.
  let baseRows = Math.min(rows, MAX_BASE_ROWS);
  while (rows % baseRows !== 0) baseRows--;
  const base = generateCountyRows(baseRows);
  const header = Buffer.from('fips,county,state,cancer,population\n');
  let outBytes = 0;
  const sink = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      outBytes += chunk.length;
      cb();
    },
  });

  const t0 = performance.now();
  const result = await computeRates(replay(header, base, baseRows, rows), sink, { numerator: 'cancer', denominator: 'population', bins: 20 });
  const ms = performance.now() - t0;
  sink.end();
  if (result.rows !== rows || outBytes === 0) throw new Error(`benchmark sanity check failed: ${result.rows} rows, ${outBytes} bytes out`);
  return {
    rows,
    ms: Math.round(ms * 10) / 10,
    rowsPerSec: Math.round(rows / (ms / 1000)),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const r = await benchRatesCore(rows);
  console.log(
    `rates core: ${r.rows.toLocaleString('en-US')} rows in ${r.ms} ms ` +
      `(${r.rowsPerSec.toLocaleString('en-US')} rows/s), peak RSS ${r.peakRssMb} MB`,
  );
}
