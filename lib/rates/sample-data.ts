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
// PRNG
// ---------------------------------------------------------------------------------------------------------

// Ziggurat tables (Marsaglia & Tsang 2000, 128 layers) for fast standard normals: ~98% of draws cost one
// 32-bit random number, a table lookup and a multiply. Box-Muller was the single biggest cost at 10M rows.
const ZIG_R = 3.442619855899;
const ZIG_K = new Uint32Array(128);
const ZIG_W = new Float64Array(128);
const ZIG_F = new Float64Array(128);
{
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = ZIG_R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  ZIG_K[0] = (dn / q) * m1;
  ZIG_K[1] = 0;
  ZIG_W[0] = q / m1;
  ZIG_W[127] = dn / m1;
  ZIG_F[0] = 1;
  ZIG_F[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    ZIG_K[i + 1] = (dn / tn) * m1;
    tn = dn;
    ZIG_F[i] = Math.exp(-0.5 * dn * dn);
    ZIG_W[i] = dn / m1;
  }
}

/** mulberry32 stream with helpers for the distributions the sample needs. */
class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next mulberry32 output as a signed 32-bit integer. */
  private int32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return (this.int32() >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** Standard normal (ziggurat). */
  normal(): number {
    for (;;) {
      const hz = this.int32();
      const iz = hz & 127;
      const x = hz * (ZIG_W[iz] as number);
      if (Math.abs(hz) < (ZIG_K[iz] as number)) return x;
      if (iz === 0) {
        // Tail beyond ZIG_R.
        let tx: number;
        let ty: number;
        do {
          tx = -Math.log(1 - this.uniform()) / ZIG_R;
          ty = -Math.log(1 - this.uniform());
        } while (ty + ty < tx * tx);
        return hz > 0 ? ZIG_R + tx : -ZIG_R - tx;
      }
      const f0 = ZIG_F[iz] as number;
      const f1 = ZIG_F[iz - 1] as number;
      if (f0 + this.uniform() * (f1 - f0) < Math.exp(-0.5 * x * x)) return x;
    }
  }

  /** Poisson(lambda): exact (Knuth) for small lambda, normal approximation for large. */
  poisson(lambda: number): number {
    if (lambda < 30) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = this.uniform();
      while (p > limit) {
        k++;
        p *= this.uniform();
      }
      return k;
    }
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Counties
// ---------------------------------------------------------------------------------------------------------

/** [postal code, FIPS state code, number of counties or county equivalents] for the 50 states + DC (3,143). */
const STATES: ReadonlyArray<readonly [string, number, number]> = [
  ['AL', 1, 67],
  ['AK', 2, 30],
  ['AZ', 4, 15],
  ['AR', 5, 75],
  ['CA', 6, 58],
  ['CO', 8, 64],
  ['CT', 9, 8],
  ['DE', 10, 3],
  ['DC', 11, 1],
  ['FL', 12, 67],
  ['GA', 13, 159],
  ['HI', 15, 5],
  ['ID', 16, 44],
  ['IL', 17, 102],
  ['IN', 18, 92],
  ['IA', 19, 99],
  ['KS', 20, 105],
  ['KY', 21, 120],
  ['LA', 22, 64],
  ['ME', 23, 16],
  ['MD', 24, 24],
  ['MA', 25, 14],
  ['MI', 26, 83],
  ['MN', 27, 87],
  ['MS', 28, 82],
  ['MO', 29, 115],
  ['MT', 30, 56],
  ['NE', 31, 93],
  ['NV', 32, 17],
  ['NH', 33, 10],
  ['NJ', 34, 21],
  ['NM', 35, 33],
  ['NY', 36, 62],
  ['NC', 37, 100],
  ['ND', 38, 53],
  ['OH', 39, 88],
  ['OK', 40, 77],
  ['OR', 41, 36],
  ['PA', 42, 67],
  ['RI', 44, 5],
  ['SC', 45, 46],
  ['SD', 46, 66],
  ['TN', 47, 95],
  ['TX', 48, 254],
  ['UT', 49, 29],
  ['VT', 50, 14],
  ['VA', 51, 133],
  ['WA', 53, 39],
  ['WV', 54, 55],
  ['WI', 55, 72],
  ['WY', 56, 23],
];

/** Rows cycle through this many distinct FIPS codes. */
export const SAMPLE_COUNTY_COUNT = STATES.reduce((n, [, , count]) => n + count, 0);

const NAMES = [
  'Adams',
  'Allen',
  'Anderson',
  'Baker',
  'Benton',
  'Boone',
  'Brown',
  'Buchanan',
  'Butler',
  'Caldwell',
  'Calhoun',
  'Campbell',
  'Carroll',
  'Carter',
  'Cass',
  'Cherokee',
  'Clark',
  'Clay',
  'Clinton',
  'Columbia',
  'Crawford',
  'Cumberland',
  'Custer',
  'Dallas',
  'Decatur',
  'Delaware',
  'Douglas',
  'Fayette',
  'Franklin',
  'Fulton',
  'Garfield',
  'Grant',
  'Greene',
  'Hamilton',
  'Hancock',
  'Hardin',
  'Harrison',
  'Henry',
  'Houston',
  'Howard',
  'Jackson',
  'Jasper',
  'Jefferson',
  'Johnson',
  'Knox',
  'Lafayette',
  'Lake',
  'Lawrence',
  'Lee',
  'Lewis',
  'Lincoln',
  'Livingston',
  'Logan',
  'Madison',
  'Marion',
  'Marshall',
  'Mercer',
  'Monroe',
  'Montgomery',
  'Morgan',
  'Ohio',
  'Orange',
  'Perry',
  'Pike',
  'Polk',
  'Pulaski',
  'Putnam',
  'Randolph',
  'Richland',
  'Scott',
  'Shelby',
  'Sherman',
  'Stark',
  'Sullivan',
  'Taylor',
  'Union',
  'Van Buren',
  'Warren',
  'Washington',
  'Wayne',
  'Webster',
  'Wilson',
  'Wood',
  'Wright',
];
const NATURE = ['Cedar', 'Pine', 'Oak', 'Elk', 'Bear', 'Eagle', 'Willow', 'Red', 'Clear', 'Stone', 'Maple', 'Buffalo'];
const LANDFORM = ['Ridge', 'River', 'Creek', 'Valley', 'Lake', 'Hill', 'Springs', 'Falls', 'Rock', 'Prairie'];
const SPECIAL = [
  'Lewis and Clark',
  "O'Brien",
  "Prince George's",
  'St. Clair',
  'St. Lucie',
  'De Kalb',
  'Miami-Dade',
  'Doña Ana',
  'Los Alamos',
  'Sainte Genevieve',
  'Bon Homme',
  'La Salle',
  "Queen Anne's",
  'Fond du Lac',
  'Yukon-Koyukuk',
];
const EMBEDDED_QUOTE_NOTES = ['"North"', '"Old Town"', '"The Valley"', '"Unincorporated"'];

interface County {
  /** `fips,name,ST,` */
  plain: Uint8Array;
  /** `fips,"name, ST",ST,` or with an embedded quoted nickname. */
  quoted: Uint8Array;
}

const utf8 = new TextEncoder();

function csvQuote(field: string): string {
  return `"${field.replace(/"/g, '""')}"`;
}

function buildCounties(rng: Random): County[] {
  const counties: County[] = [];
  for (const [state, stateFips, count] of STATES) {
    const used = new Set<string>();
    const suffix = state === 'LA' ? 'Parish' : state === 'AK' ? 'Borough' : state === 'DC' ? '' : 'County';
    for (let k = 0; k < count; k++) {
      const fips = String(stateFips * 1000 + 2 * k + 1).padStart(5, '0');
      let base = 'District of Columbia';
      if (state !== 'DC') {
        do {
          const roll = rng.uniform();
          base =
            roll < 0.72
              ? rng.pick(NAMES)
              : roll < 0.92
                ? `${rng.pick(NATURE)} ${rng.pick(LANDFORM)}`
                : rng.pick(SPECIAL);
        } while (used.has(base) && used.size < NAMES.length);
        used.add(base);
      }
      const name = suffix ? `${base} ${suffix}` : base;
      const quotedName =
        rng.uniform() < 0.25 ? `${name} ${rng.pick(EMBEDDED_QUOTE_NOTES)}, ${state}` : `${name}, ${state}`;
      counties.push({
        plain: utf8.encode(`${fips},${name},${state},`),
        quoted: utf8.encode(`${fips},${csvQuote(quotedName)},${state},`),
      });
    }
  }
  return counties;
}

// ---------------------------------------------------------------------------------------------------------
// Byte writer
// ---------------------------------------------------------------------------------------------------------

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
