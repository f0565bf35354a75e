/**
 * The row kernel (lib/rates/wasm/rows.ts through lib/rates/row-kernel.ts) against the careful path it stands in for:
 * the same engine run with the kernel and with every row read the careful way (the engine's `kernel: null`) must
 * give the same bytes, the same rates in the same order, the same bad rows and line numbers, whatever the rows and
 * however the input is cut. And its printed rates against String(), the oracle the careful path's printer has.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../support/collector.ts';
import { rng as random } from '../../support/random.ts';
import { withoutWasmBuild } from '../../support/without-wasm-build.ts';
import type { BadRow } from '../../../lib/rates/bad-rows.ts';
import { ChunkFramer } from '../../../lib/rates/csv-chunks.ts';
import { computeRates } from '../../../lib/rates/csv-rates.ts';
import { checkRateOptions, type RateOptions } from '../../../lib/rates/options.ts';
import { OutputSink } from '../../../lib/rates/output-sink.ts';
import { type RateSink, RatesEngine } from '../../../lib/rates/rates-engine.ts';
import { type RowKernel, rowKernel } from '../../../lib/rates/row-kernel.ts';

class Rates implements RateSink {
  readonly values: number[] = [];
  add(value: number): void {
    this.values.push(value);
  }
  addMany(values: Float64Array, min: number, max: number): void {
    let lowest = Infinity;
    let highest = -Infinity;
    for (const value of values) {
      this.values.push(value);
      if (value < lowest) lowest = value;
      if (value > highest) highest = value;
    }
    // The extremes the kernel reports with a block are the block's.
    if (!Object.is(min, lowest) || !Object.is(max, highest)) expect([min, max]).toEqual([lowest, highest]);
  }
}

interface Run {
  out: Buffer;
  rates: number[];
  rows: number;
  bad: BadRow[];
  badCount: number;
  error: string | null;
}

/** Splits `csv` into pieces of the sizes `sizes()` draws, as a stream would deliver it. */
async function run(csv: Buffer, opts: RateOptions, kernel: RowKernel | null, sizes: () => number): Promise<Run> {
  const bytes = new Collector();
  const rates = new Rates();
  const engine = new RatesEngine(checkRateOptions(opts), rates, new OutputSink(bytes), undefined, kernel);
  let error: string | null = null;
  try {
    const framer = new ChunkFramer(engine);
    for (let at = 0; at < csv.length; ) {
      const size = Math.max(1, sizes());
      await framer.push(csv.subarray(at, at + size));
      at += size;
    }
    await framer.end();
    await engine.end();
  } catch (err) {
    error = (err as Error).message;
  }
  const out = bytes.bytes();
  return { out, rates: rates.values, rows: engine.rows, bad: engine.bad.samples, badCount: engine.bad.count, error };
}

const NUMBERS = [
  '0',
  '-0',
  '1',
  '12',
  '3.5',
  '-7',
  '+4',
  '0.001',
  '123456789012345',
  '1234567890123456',
  '1e3',
  ' 7 ',
  '',
  'abc',
  '.5',
  '5.',
  '00012',
  '9007199254740993',
  '0.1',
  '1.5e-7',
  'Infinity',
  '0x1F',
  '1.2.3',
  '--1',
];
const TEXTS = [
  'Wood County',
  '"Grant County, AL"',
  '"say ""hi"""',
  '"two\nlines"',
  'a"b',
  '"x"y',
  '""',
  '"',
  'é😀',
  '"trailing"\r',
  ' ',
  'plain,extra',
];

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

/** A number as a data tool writes one: mostly plain integers and decimals, sometimes anything in NUMBERS. */
function numberText(next: () => number): string {
  const r = next();
  if (r < 0.5) return String(Math.floor(next() * 10 ** Math.floor(next() * 9)));
  if (r < 0.8) return (next() * 10 ** Math.floor(next() * 6)).toFixed(Math.floor(next() * 6));
  return pick(next, NUMBERS);
}

/** A CSV of `rows` rows over columns text,num,text,den (and sometimes more or fewer), with every oddity above. */
function tricky(seed: number, rows: number): Buffer {
  const next = random(seed);
  const lines = ['name,num,state,den'];
  for (let i = 0; i < rows; i++) {
    const r = next();
    if (r < 0.02) lines.push('');
    else if (r < 0.03) lines.push('\r');
    else if (r < 0.04) lines.push(`x,${numberText(next)}`);
    else if (r < 0.05)
      lines.push(`${'w'.repeat(70_000)},1,AL,2`); // longer than the kernel takes (64 KiB)
    else {
      const fields = [pick(next, TEXTS), numberText(next), pick(next, TEXTS), numberText(next)];
      if (next() < 0.1) fields.push(pick(next, TEXTS));
      if (next() < 0.1) fields[1] = `"${fields[1]}"`;
      lines.push(fields.join(','));
    }
  }
  const eol = next() < 0.5 ? '\n' : '\r\n';
  return Buffer.from(lines.join(eol) + (next() < 0.5 ? eol : ''));
}

const OPTS: RateOptions = { numerator: 'num', denominator: 'den', bins: 10 };

function expectSameRun(fast: Run, careful: Run, what: string): void {
  expect(fast.error, `${what}: error`).toBe(careful.error);
  expect(fast.out.equals(careful.out), `${what}: output bytes`).toBe(true);
  expect(fast.rates.length, `${what}: rates`).toBe(careful.rates.length);
  expect(
    Buffer.from(new Float64Array(fast.rates).buffer).equals(Buffer.from(new Float64Array(careful.rates).buffer)),
    what,
  ).toBe(true);
  expect({ rows: fast.rows, bad: fast.bad, badCount: fast.badCount }, what).toEqual({
    rows: careful.rows,
    bad: careful.bad,
    badCount: careful.badCount,
  });
}

describe('the row kernel', () => {
  const kernel = rowKernel();

  it('loads (built by `npm run build:wasm`, which `npm install` runs)', () => {
    expect(kernel, 'run `npm run build:wasm`').not.toBeNull();
  });

  it('takes the plain rows: a file of them goes through it without the careful path', async () => {
    const csv = Buffer.from(`a,b\n${Array.from({ length: 5000 }, (_, i) => `${i},${i + 1}`).join('\n')}\n`);
    const fast = await run(csv, { numerator: 'a', denominator: 'b', bins: 5 }, kernel, () => 1 << 20);
    expect(fast.rows).toBe(5000);
    expect(fast.out.toString().split('\n')[3]).toBe(`2,3,${2 / 3}`);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'gives what the careful path gives on tricky file %i, cut anywhere',
    async (seed) => {
      const csv = tricky(seed, 400);
      const sizes = random(seed * 7919);
      const careful = await run(csv, OPTS, null, () => 1 << 20);
      for (const cut of [() => 1 << 20, () => 1 + Math.floor(sizes() * 64), () => 1 + Math.floor(sizes() * 5000)]) {
        expectSameRun(await run(csv, OPTS, kernel, cut), careful, `seed ${seed}`);
      }
      expect(careful.rows).toBeGreaterThan(100);
    },
  );

  it('gives what the careful path gives across its 1 MiB input windows (rows cut at the window edge)', async () => {
    const csv = tricky(99, 6000); // ~5 MB: long rows and many windows
    expect(csv.length).toBeGreaterThan(3 << 20);
    const careful = await run(csv, OPTS, null, () => 1 << 20);
    for (const size of [3 << 20, (1 << 20) + 17, 65_521]) {
      expectSameRun(await run(csv, OPTS, kernel, () => size), careful, `pieces of ${size}`);
    }
  });

  it('reads the wanted columns wherever they are: first, last, the same one, numerator after denominator', async () => {
    const next = random(5);
    const rows = Array.from({ length: 300 }, () => [numberText(next), numberText(next), numberText(next)].join(','));
    const csv = Buffer.from(`p,q,r\n${rows.join('\n')}\n`);
    for (const [numerator, denominator] of [
      ['p', 'r'],
      ['r', 'p'],
      ['q', 'q'],
      ['p', 'q'],
      ['r', 'q'],
    ] as const) {
      const opts = { numerator, denominator, bins: 4 };
      expectSameRun(
        await run(csv, opts, kernel, () => 97),
        await run(csv, opts, null, () => 97),
        `${numerator}/${denominator}`,
      );
    }
  });

  it('reads numbers of more than 15 digits as Number() does (the kernel leaves them to the careful path)', async () => {
    const texts = [
      '0.12345678901234567',
      '9007199254740993.5',
      '0.99999999999999999',
      '123456789.12345679',
      '1234567890123456789',
    ];
    const csv = Buffer.from(`num,den\n${texts.map((t) => `${t},1`).join('\n')}\n`);
    const lines = (await run(csv, OPTS, kernel, () => 1 << 20)).out.toString().split('\n');
    expect(lines.slice(1, texts.length + 1)).toEqual(texts.map((t) => `${t},1,${String(Number(t))}`));
  });

  it('prints every double exactly like String(number): its printer alone, over millions of values', () => {
    const rand = random(99);
    const view = new DataView(new ArrayBuffer(8));
    const values: number[] = [];
    const check = (x: number): void => {
      values.push(x);
    };
    for (let i = 0; i < 200_000; i++) {
      check(Math.floor(rand() * 5000) / Math.floor(1 + rand() * 1e6));
      check(Math.floor(rand() * 100) / Math.floor(1 + rand() * 100));
      check((rand() - 0.5) * 10 ** Math.floor(rand() * 30 - 10));
      view.setUint32(0, ((1000 + Math.floor(rand() * 90)) << 20) | Math.floor(rand() * 2 ** 20));
      view.setUint32(4, Math.floor(rand() * 2 ** 32));
      check(view.getFloat64(0));
      const short = Number((rand() * 1000).toFixed(Math.floor(rand() * 7)));
      view.setFloat64(0, short);
      view.setUint32(4, (view.getUint32(4) + 1) >>> 0);
      check(view.getFloat64(0));
      check(short);
      check(2 ** (Math.floor(rand() * 80) - 30));
    }
    for (const x of [
      0,
      -0,
      1,
      -1,
      0.1,
      0.2 + 0.1,
      1e-4,
      9.999999999999999e-5,
      1e16,
      9999999999999998,
      1e21,
      1e-7,
      5e-324,
      Number.MAX_VALUE,
      // biome-ignore lint/correctness/noPrecisionLoss: 123456789012345.125 is exact in binary; its shortest decimal (…345.13) is the point
      123456789012345.125,
      2 ** 53,
      0.5,
      1 / 3,
    ]) {
      check(x);
    }
    const out = Buffer.alloc(values.length * 26);
    const printed = out.toString('latin1', 0, kernel!.printRates(Float64Array.from(values), out)).split('\n');
    expect(printed).toHaveLength(values.length + 1);
    values.forEach((x, i) => {
      if (printed[i] !== String(x)) expect(printed[i], `value ${i}`).toBe(String(x));
    });
  });

  it('prints every rate as String() does, over rates from 1e-20 to 1e20', async () => {
    const next = random(12345);
    const pairs: [number, number][] = [];
    for (let i = 0; i < 200_000; i++) {
      const num = Math.floor(next() * 10 ** (1 + Math.floor(next() * 15)));
      const den = 1 + Math.floor(next() * 10 ** (1 + Math.floor(next() * 14)));
      pairs.push([num, den]);
    }
    // Short quotients too: many rates have few digits, where the choice of the shortest decimal matters most.
    for (let i = 1; i <= 2000; i++) pairs.push([i, 8], [i * 3, 1000], [i, 3 * i], [2 ** 52 + i, 1]);
    const csv = Buffer.from(`num,den\n${pairs.map(([n, d]) => `${n},${d}`).join('\n')}\n`);
    const fast = await run(csv, OPTS, kernel, () => 1 << 20);
    const lines = fast.out.toString().split('\n');
    expect(lines.length).toBe(pairs.length + 2);
    pairs.forEach(([n, d], i) => {
      const got = lines[i + 1];
      if (got !== `${n},${d},${String(n / d)}`) expect(got, `row ${i + 1}`).toBe(`${n},${d},${String(n / d)}`);
    });
  });

  it('when its module is missing: one warning, and computeRates reads every row the careful way, to the same bytes', async () => {
    const csv = tricky(3, 300);
    const withKernel = new Collector();
    const expected = await computeRates(Readable.from([csv]), withKernel, OPTS);
    const warnings = await withoutWasmBuild(async () => {
      const fresh = await import('../../../lib/rates/csv-rates.ts');
      const kernelModule = await import('../../../lib/rates/row-kernel.ts');
      const without = new Collector();
      const got = await fresh.computeRates(Readable.from([csv]), without, OPTS);
      expect(kernelModule.rowKernel()).toBeNull();
      expect(without.bytes().equals(withKernel.bytes())).toBe(true);
      expect(got).toEqual(expected);
    });
    expect(warnings.filter((m) => m.includes('row kernel did not load'))).toHaveLength(1);
  });
});
