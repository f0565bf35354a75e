import { Writable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../support/collector.ts';
import { rng } from '../../support/random.ts';
import { computeRates, type RatesResult } from '../../../lib/rates/csv-rates.ts';
import { MAX_RECORD_BYTES } from '../../../lib/rates/csv-tokenizer.ts';
import type { RateOptions } from '../../../lib/rates/options.ts';
import { RatesFileError, type RatesErrorCode } from '../../../lib/rates/errors.ts';

const DEFAULTS: RateOptions = { numerator: 'cancer', denominator: 'population', bins: 10 };

async function* chunked(data: Buffer, size: number | (() => number)): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; ) {
    const n = typeof size === 'number' ? size : size();
    // Plain Uint8Array views (not Buffers) on purpose: that is what the signature promises to accept.
    yield new Uint8Array(data.buffer, data.byteOffset + o, Math.min(n, data.length - o));
    o += n;
  }
}

interface Run {
  out: string;
  result: RatesResult;
}

async function run(
  input: string | Buffer,
  options: Partial<RateOptions> = {},
  chunk: number | (() => number) = 1 << 30,
): Promise<Run> {
  const data = typeof input === 'string' ? Buffer.from(input) : input;
  const sink = new Collector();
  const result = await computeRates(chunked(data, chunk), sink, { ...DEFAULTS, ...options });
  expect(sink.writableEnded).toBe(false);
  return { out: sink.bytes().toString('utf8'), result };
}

async function fileError(input: string | Buffer, options: Partial<RateOptions> = {}): Promise<RatesFileError> {
  try {
    await run(input, options);
  } catch (err) {
    expect(err).toBeInstanceOf(RatesFileError);
    return err as RatesFileError;
  }
  throw new Error('expected a RatesFileError');
}

async function expectFileError(
  input: string | Buffer,
  code: RatesErrorCode,
  message: RegExp,
  options: Partial<RateOptions> = {},
): Promise<void> {
  const err = await fileError(input, options);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
}

// ---------------------------------------------------------------------------------------------------------
// Reference implementation: csv-parse on the whole input decides field values, Number() decides numbers,
// sorting decides quantiles. Raw row text and line numbers come from the test's own generator.

interface GenRecord {
  /** Serialized text without the line terminator, or null for a blank line. */
  raw: string | null;
  line: number;
}

interface Expected {
  out: string;
  rows: number;
  bad: { line: number; kind: string }[];
  rates: number[];
}

function reference(file: string, records: GenRecord[], opts: RateOptions, eol: string): Expected {
  const parsed = parseCsv(file, {
    bom: true,
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
    record_delimiter: ['\r\n', '\n'],
  }) as string[][];
  const header = parsed[0] as string[];
  const names = header.map((h) => h.trim());
  const ni = names.indexOf(opts.numerator);
  const di = names.indexOf(opts.denominator);
  let rateColumn = 'rate';
  for (let i = 2; names.includes(rateColumn); i++) rateColumn = `rate_${i}`;
  const headerRaw = (records[0] as GenRecord).raw as string;
  let out = `${headerRaw.startsWith('\ufeff') ? headerRaw.slice(1) : headerRaw},${rateColumn}\n`;
  const nonBlank = records.slice(1).filter((r) => r.raw !== null);
  expect(parsed.length - 1).toBe(nonBlank.length);
  const bad: { line: number; kind: string }[] = [];
  const rates: number[] = [];
  nonBlank.forEach((rec, i) => {
    const fields = parsed[i + 1] as string[];
    const kind = classify(fields, ni, di);
    if (typeof kind === 'string') {
      bad.push({ line: rec.line, kind });
      return;
    }
    rates.push(kind);
    out += `${rec.raw},${String(kind)}\n`;
  });
  void eol;
  return { out, rows: rates.length, bad, rates };
}

/** A rate, or the kind of problem. */
function classify(fields: string[], ni: number, di: number): number | string {
  if (fields.length <= Math.max(ni, di)) return 'short';
  const num = toNumber(fields[ni] as string, 'num');
  if (typeof num === 'string') return num;
  const den = toNumber(fields[di] as string, 'den');
  if (typeof den === 'string') return den;
  if (!(den > 0)) return 'den<=0';
  const rate = num / den;
  return Number.isFinite(rate) ? rate : 'overflow';
}

function toNumber(text: string, which: string): number | string {
  if (text.trim() === '') return `${which}-empty`;
  // The spec: plain decimal notation only (no hex/binary/octal literals, no Infinity).
  const v = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isNaN(v)) return `${which}-nan`;
  if (!Number.isFinite(v)) return `${which}-infinite`;
  return v;
}

const REASON: Record<string, RegExp> = {
  short: /^row has \d+ fields?, /,
  'num-empty': /^cancer is empty/,
  'num-nan': /^cancer is not a number: "/,
  'num-infinite': /^cancer is not a finite number: "/,
  'den-empty': /^population is empty/,
  'den-nan': /^population is not a number: "/,
  'den-infinite': /^population is not a finite number: "/,
  'den<=0': /^population must be > 0, got /,
  overflow: /too large to represent/,
};

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  const t = pos - lo;
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

function checkResult(got: Run, exp: Expected, opts: RateOptions): void {
  expect(got.out).toBe(exp.out);
  expect(got.result.rows).toBe(exp.rows);
  expect(got.result.badRows).toBe(exp.bad.length);
  expect(got.result.badRowSamples.map((b) => b.line)).toEqual(exp.bad.slice(0, 100).map((b) => b.line));
  got.result.badRowSamples.forEach((b, i) => {
    const kind = (exp.bad[i] as { kind: string }).kind;
    expect(b.reason, `line ${b.line} (${kind})`).toMatch(REASON[kind] as RegExp);
  });
  const sorted = [...exp.rates].sort((a, b) => a - b);
  const s = got.result.stats;
  expect(s.min).toBe(sorted[0]);
  expect(s.max).toBe(sorted[sorted.length - 1]);
  expect(s.median).toBe(quantile(sorted, 0.5));
  expect(s.p95).toBe(quantile(sorted, 0.95));
  const naiveMean = exp.rates.reduce((a, b) => a + b, 0) / exp.rates.length;
  expect(Math.abs(s.mean - naiveMean)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(naiveMean)));
  expect(s.histogram.counts).toHaveLength(opts.bins);
  expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(exp.rows);
}

// Random CSV generator ---------------------------------------------------------------------------------

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)] as T;
}

const TEXTS = [
  'Autauga',
  'Lewis and Clark, MT',
  'say "hi"',
  'multi\nline',
  'crlf\r\ninside',
  '',
  ' padded ',
  'Doña Ana',
  '東京',
  '5" screen',
  'a,b,,c',
  '""',
  'x',
];
const GOOD_NUMBERS = ['12', '0', '  12 ', '1e3', '-0.5', '+3', '0.125', '123456789012345678', '.5', '5.', '1E-2', '7'];
const BAD_NUMBERS = [
  'abc',
  '',
  '1e',
  'NaN',
  'Infinity',
  '-Infinity',
  '1,5',
  '1e999',
  '--1',
  ' ',
  '0x1F',
  '0b101',
  '1_000',
];
const DENOMINATORS = ['1000', '55869', '3', '0.75', '1e6', ' 42 ', '7', '123456789'];
const BAD_DENOMINATORS = ['0', '-5', '-0', 'x', ''];

function serializeField(rand: () => number, value: string): string {
  const mustQuote =
    /[",\r\n]/.test(value) && !(value.includes('"') && !/[,\r\n]/.test(value) && !value.startsWith('"'));
  if (mustQuote || rand() < 0.1) return `"${value.replaceAll('"', '""')}"`;
  return value;
}

interface Generated {
  file: string;
  records: GenRecord[];
  eol: string;
}

function generateCsv(rand: () => number, rowCount: number, opts: RateOptions): Generated {
  const eol = rand() < 0.5 ? '\n' : '\r\n';
  const bom = rand() < 0.3 ? '\ufeff' : '';
  const extra = ['fips', 'county', 'state', 'rate', 'notes'].filter(() => rand() < 0.6);
  const names = [...extra];
  names.splice(Math.floor(rand() * (names.length + 1)), 0, opts.numerator);
  if (opts.denominator !== opts.numerator) names.splice(Math.floor(rand() * (names.length + 1)), 0, opts.denominator);
  const headerText = names.map((n) => (rand() < 0.2 ? `"${n}"` : rand() < 0.2 ? ` ${n} ` : n)).join(',');
  const records: GenRecord[] = [{ raw: bom + headerText, line: 1 }];
  let line = 1 + (headerText.match(/\n/g)?.length ?? 0) + 1;
  for (let r = 0; r < rowCount; r++) {
    if (rand() < 0.05) {
      records.push({ raw: null, line });
      line++;
      continue;
    }
    let cols = names.length;
    const roll = rand();
    if (roll < 0.05) cols = Math.max(1, Math.floor(rand() * names.length));
    else if (roll < 0.1) cols += 1 + Math.floor(rand() * 3);
    const values: string[] = [];
    for (let c = 0; c < cols; c++) {
      const name = names[c];
      let v: string;
      if (name === opts.denominator)
        v =
          rand() < 0.1
            ? pick(rand, BAD_DENOMINATORS)
            : rand() < 0.1
              ? pick(rand, BAD_NUMBERS)
              : pick(rand, DENOMINATORS);
      else if (name === opts.numerator)
        v =
          rand() < 0.1
            ? pick(rand, BAD_NUMBERS)
            : rand() < 0.3
              ? pick(rand, GOOD_NUMBERS)
              : String(Math.floor(rand() * 5000));
      else v = pick(rand, TEXTS);
      values.push(v);
    }
    let raw = values.map((v) => serializeField(rand, v)).join(',');
    // A lone empty unquoted field would be a blank line, which is a different case.
    if (raw === '') raw = '""';
    records.push({ raw, line });
    line += 1 + (raw.match(/\n/g)?.length ?? 0);
  }
  const finalNewline = rand() < 0.7;
  const file = records.map((r) => r.raw ?? '').join(eol) + (finalNewline ? eol : '');
  // Without a final newline a trailing blank record would simply not exist.
  if (!finalNewline && records[records.length - 1]?.raw === null) {
    return generateCsv(rand, rowCount, opts);
  }
  return { file, records, eol };
}

// ---------------------------------------------------------------------------------------------------------

describe('computeRates: output and rows', () => {
  it('adds a rate column with the default columns', async () => {
    const { out, result } = await run(
      'fips,county,state,cancer,population\n01001,Autauga,AL,241,55869\n01003,Baldwin,AL,1050,223234\n',
    );
    expect(out).toBe(
      'fips,county,state,cancer,population,rate\n' +
        `01001,Autauga,AL,241,55869,${String(241 / 55869)}\n` +
        `01003,Baldwin,AL,1050,223234,${String(1050 / 223234)}\n`,
    );
    expect(result).toMatchObject({
      columns: ['fips', 'county', 'state', 'cancer', 'population'],
      rateColumn: 'rate',
      rows: 2,
      badRows: 0,
      badRowSamples: [],
      inputBytes: Buffer.byteLength(
        'fips,county,state,cancer,population\n01001,Autauga,AL,241,55869\n01003,Baldwin,AL,1050,223234\n',
      ),
    });
    expect(result.stats.min).toBe(241 / 55869);
    expect(result.stats.max).toBe(1050 / 223234);
    expect(result.stats.histogram.edges).toHaveLength(11);
  });

  it('uses custom numerator/denominator columns, in any order, and allows numerator === denominator', async () => {
    const csv = 'pop,deaths,x\n200,10,a\n50,5,b\n';
    expect((await run(csv, { numerator: 'deaths', denominator: 'pop' })).out).toBe(
      `pop,deaths,x,rate\n200,10,a,0.05\n50,5,b,0.1\n`,
    );
    expect((await run(csv, { numerator: 'pop', denominator: 'pop' })).out).toBe(
      `pop,deaths,x,rate\n200,10,a,1\n50,5,b,1\n`,
    );
  });

  it('strips a UTF-8 BOM and normalizes CRLF, keeping rows byte-for-byte', async () => {
    const { out, result } = await run('\ufeffcounty,cancer,population\r\nDoña Ana,3,4\r\n東京,1,8\r\n');
    expect(out).toBe('county,cancer,population,rate\nDoña Ana,3,4,0.75\n東京,1,8,0.125\n');
    expect(result.columns).toEqual(['county', 'cancer', 'population']);
  });

  it('handles quoted commas, doubled quotes and newlines (RFC 4180), keeping the quotes in the output', async () => {
    const csv =
      'county,cancer,population\n"Lewis and Clark, MT",1,4\n"He said ""hi""",1,2\n"two\nlines",3,4\n"crlf\r\ninside",1,1\n';
    const { out, result } = await run(csv);
    expect(out).toBe(
      'county,cancer,population,rate\n"Lewis and Clark, MT",1,4,0.25\n"He said ""hi""",1,2,0.5\n"two\nlines",3,4,0.75\n"crlf\r\ninside",1,1,1\n',
    );
    expect(result.rows).toBe(4);
  });

  it('reads quoted numbers and trims header names, unquoting them', async () => {
    const { out, result } = await run(' "county" , cancer ,"population"\nA,"3","6"\n');
    expect(result.columns).toEqual(['county', 'cancer', 'population']);
    expect(out).toBe(' "county" , cancer ,"population",rate\nA,"3","6",0.5\n');
  });

  it.each([
    [
      'keeps extra columns beyond the header',
      'cancer,population\n1,2,extra,"more, stuff"\n3,4\n',
      'cancer,population,rate\n1,2,extra,"more, stuff",0.5\n3,4,0.75\n',
    ],
    [
      'treats a quote inside an unquoted field literally, like csv-parse relax_quotes',
      'item,cancer,population\n5" screen,1,2\n"ok"x,3,4\n',
      'item,cancer,population,rate\n5" screen,1,2,0.5\n"ok"x,3,4,0.75\n',
    ],
  ])('%s', async (_name, csv, expected) => {
    const { out, result } = await run(csv);
    expect(out).toBe(expected);
    expect(result.badRows).toBe(0);
  });

  it('accepts Number()-style values and rejects the rest with actionable reasons and line numbers', async () => {
    const csv = [
      'name,cancer,population', // 1
      'a,  12 ,100', // 2 ok
      'b,1e3,1e4', // 3 ok
      'c,-0.5,2', // 4 ok: negative numerators are fine
      'd,abc,100', // 5
      'e,1e,100', // 6
      'f,NaN,100', // 7
      'g,Infinity,100', // 8
      'h,,100', // 9
      'i,5,0', // 10
      'j,5,-3', // 11
      'k,5', // 12
      '"multi', // 13
      'line",1,x', // 14 (same record as 13)
      'l,1', // 15
      'm,4,8', // 16 ok
      'n,1e308,1e-300', // 17
      'o,   ,5', // 18
      'p,0x1F,100', // 19: hex is not data a CSV column means as a number
      'q,1e999,100', // 20
    ].join('\n');
    const { out, result } = await run(csv);
    expect(out).toBe('name,cancer,population,rate\na,  12 ,100,0.12\nb,1e3,1e4,0.1\nc,-0.5,2,-0.25\nm,4,8,0.5\n');
    expect(result.rows).toBe(4);
    expect(result.badRowSamples).toEqual([
      { line: 5, reason: 'cancer is not a number: "abc"' },
      { line: 6, reason: 'cancer is not a number: "1e"' },
      { line: 7, reason: 'cancer is not a number: "NaN"' },
      { line: 8, reason: 'cancer is not a number: "Infinity"' },
      { line: 9, reason: 'cancer is empty' },
      { line: 10, reason: 'population must be > 0, got 0' },
      { line: 11, reason: 'population must be > 0, got -3' },
      { line: 12, reason: 'row has 2 fields, population is column 3' },
      { line: 13, reason: 'population is not a number: "x"' },
      { line: 15, reason: 'row has 2 fields, population is column 3' },
      { line: 17, reason: 'cancer / population = 1e+308 / 1e-300 is too large to represent' },
      { line: 18, reason: 'cancer is empty' },
      { line: 19, reason: 'cancer is not a number: "0x1F"' },
      { line: 20, reason: 'cancer is not a finite number: "1e999"' },
    ]);
    expect(result.badRows).toBe(14);
  });

  it('names both problems when both fields are bad, and both columns when the row is too short', async () => {
    const { result } = await run('x,y,cancer,population\na,b,,zz\nq\n1,2,3,4\n');
    expect(result.badRowSamples).toEqual([
      { line: 2, reason: 'cancer is empty; population is not a number: "zz"' },
      { line: 3, reason: 'row has 1 field, cancer is column 3 and population is column 4' },
    ]);
  });

  it('skips blank lines silently but counts them for line numbers', async () => {
    const { out, result } = await run('\n\ncancer,population\n\n1,2\r\n\r\n\nbad,2\n\n');
    expect(out).toBe('cancer,population,rate\n1,2,0.5\n');
    expect(result.badRowSamples).toEqual([{ line: 8, reason: 'cancer is not a number: "bad"' }]);
  });

  it('works without a final newline and with a trailing CR', async () => {
    expect((await run('cancer,population\n1,2')).out).toBe('cancer,population,rate\n1,2,0.5\n');
    expect((await run('cancer,population\r\n1,4\r')).out).toBe('cancer,population,rate\n1,4,0.25\n');
    expect((await run('cancer,population\n1,"8"')).out).toBe('cancer,population,rate\n1,"8",0.125\n');
  });

  it('renames the rate column when the input already has one', async () => {
    expect((await run('rate,cancer,population\n9,1,2\n')).result.rateColumn).toBe('rate_2');
    const { out, result } = await run('rate,cancer,rate_2,population\n9,1,x,2\n');
    expect(result.rateColumn).toBe('rate_3');
    expect(out).toBe('rate,cancer,rate_2,population,rate_3\n9,1,x,2,0.5\n');
  });

  it('reports an unclosed quote as one bad line and carries on after it', async () => {
    const { out, result } = await run('name,cancer,population\n"oops,1,2\nfine,3,4\n');
    expect(out).toBe('name,cancer,population,rate\nfine,3,4,0.75\n');
    expect(result.badRowSamples).toEqual([
      { line: 2, reason: expect.stringMatching(/field 1 is never closed/) as unknown as string },
    ]);
  });

  it('gives up on a record longer than MAX_RECORD_BYTES (stray quote) without buffering the rest of the file', async () => {
    const filler = 'x,1,2\n'.repeat(Math.ceil((MAX_RECORD_BYTES * 1.5) / 6));
    const csv = `name,cancer,population\n"stray,1,2\n${filler}last,1,4\n`;
    const { out, result } = await run(csv, {}, 64 * 1024);
    expect(result.badRowSamples[0]).toEqual({
      line: 2,
      reason: expect.stringMatching(/not closed within 1 MiB/) as unknown as string,
    });
    expect(result.badRows).toBe(1);
    expect(result.rows).toBe(Math.ceil((MAX_RECORD_BYTES * 1.5) / 6) + 1);
    expect(out.endsWith('last,1,4,0.25\n')).toBe(true);

    // Just over the limit is rejected whatever the chunking; the next row is kept.
    const longLine = `name,cancer,population\n${'y'.repeat(MAX_RECORD_BYTES - 3)},1,2\nz,1,2\n`;
    for (const size of [1 << 30, 64 * 1024, 1000]) {
      const r = await run(longLine, {}, size);
      expect(r.result.badRowSamples).toEqual([{ line: 2, reason: 'line is longer than 1 MiB; skipped' }]);
      expect(r.out).toBe('name,cancer,population,rate\nz,1,2,0.5\n');
    }
    // Exactly at the limit (CR not counted) is still a row.
    const atLimit = `name,cancer,population\r\n${'y'.repeat(MAX_RECORD_BYTES - 4)},1,2\r\nz,1,2\r\n`;
    for (const size of [1 << 30, 64 * 1024]) expect((await run(atLimit, {}, size)).result.rows).toBe(2);
    await expectFileError(`${'h'.repeat(MAX_RECORD_BYTES + 1)}\n1\n`, 'NOT_CSV', /first line is longer than 1 MiB/);
  });

  it('keeps at most 100 bad row samples but counts them all', async () => {
    const csv = `cancer,population\n${'x,1\n'.repeat(250)}1,2\n`;
    const { result } = await run(csv);
    expect(result.badRows).toBe(250);
    expect(result.badRowSamples).toHaveLength(100);
    expect(result.badRowSamples[99]).toEqual({ line: 101, reason: 'cancer is not a number: "x"' });
  });
});

describe('computeRates: chunking', () => {
  const tricky =
    '\ufeffid,"na,me",cancer,population\r\n' +
    '1,"Lewis and Clark, MT",241,55869\r\n' +
    '2,"He said ""hi""\r\nand left",10,1000\r\n' +
    '\r\n' +
    '3,Doña Ana,東京,7\r\n' +
    '4,"""",1e3,  3 \r\n' +
    '5,plain,5,0\r\n' +
    '6,"ends with quote""",1,3';

  it('gives identical output and stats for chunk sizes 1, 2, 3, 7, 64 and random sizes', async () => {
    const whole = await run(tricky);
    expect(whole.result.rows).toBe(4);
    expect(whole.result.badRowSamples).toEqual([
      { line: 6, reason: 'cancer is not a number: "東京"' },
      { line: 8, reason: 'population must be > 0, got 0' },
    ]);
    for (const size of [1, 2, 3, 7, 64]) {
      expect(await run(tricky, {}, size)).toEqual(whole);
    }
    const rand = rng(5);
    for (let i = 0; i < 20; i++) expect(await run(tricky, {}, () => 1 + Math.floor(rand() * 12))).toEqual(whole);
  });

  it('is unaffected by chunk boundaries inside multi-byte characters around the 64 KB probe window', async () => {
    const row = 'Doña Ana 東京,1,4\n';
    const csv = Buffer.from(`county,cancer,population\n${row.repeat(Math.ceil(70_000 / Buffer.byteLength(row)))}`);
    const whole = await run(csv);
    expect(whole.result.badRows).toBe(0);
    for (const size of [1000, 4093, 65_535, 65_536, 65_537]) expect(await run(csv, {}, size)).toEqual(whole);
  });

  it('matches the csv-parse based reference on random files (property test)', async () => {
    const rand = rng(2024);
    for (let iter = 0; iter < 150; iter++) {
      const opts: RateOptions =
        iter % 10 === 9
          ? { numerator: 'cases', denominator: 'cases', bins: 1 + (iter % 7) }
          : { ...DEFAULTS, bins: 1 + (iter % 13) };
      const gen = generateCsv(rand, 5 + Math.floor(rand() * 60), opts);
      const exp = reference(gen.file, gen.records, opts, gen.eol);
      const sizes = [1 << 30, 1 + Math.floor(rand() * 9), 1 + Math.floor(rand() * 200)];
      let first: Run | null = null;
      for (const size of sizes) {
        if (exp.rows === 0) {
          const err = await fileError(gen.file, opts);
          expect(err.code).toBe('NO_VALID_ROWS');
          continue;
        }
        const got = await run(gen.file, opts, size);
        if (opts.numerator === opts.denominator) {
          expect(got.out).toBe(exp.out);
          expect(got.result.rows).toBe(exp.rows);
        } else {
          checkResult(got, exp, opts);
        }
        if (first === null) first = got;
        else expect(got).toEqual(first);
      }
    }
  });
});

describe('computeRates: file-level errors', () => {
  it('EMPTY_FILE for zero bytes and for a file of blank lines', async () => {
    await expectFileError('', 'EMPTY_FILE', /empty \(0 bytes\)/);
    await expectFileError('\n\r\n\n', 'EMPTY_FILE', /only blank lines/);
    await expectFileError('\ufeff', 'EMPTY_FILE', /only blank lines/);
  });

  it('NOT_CSV for binary uploads and invalid UTF-8 in the first 64 KB', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);
    await expectFileError(png, 'NOT_CSV', /PNG image/);
    await expectFileError(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]), 'NOT_CSV', /gzip/);
    await expectFileError(Buffer.from('PK\x03\x04\x14\x00\x06\x00', 'latin1'), 'NOT_CSV', /xlsx/);
    await expectFileError(Buffer.from('cancer,population\n1,2\n\0\0\0'), 'NOT_CSV', /NUL byte at byte 23/);
    await expectFileError(
      Buffer.from('county,cancer,population\nDo\xf1a Ana,1,2\n', 'latin1'),
      'NOT_CSV',
      /not valid UTF-8.*byte 28/,
    );
    await expectFileError(Buffer.from('\ufffe', 'utf16le'), 'NOT_CSV', /UTF-16/);
    // Anywhere in the first 64 KB counts, even after many good rows.
    const lateNul = Buffer.concat([
      Buffer.from('cancer,population\n'),
      Buffer.from('1,2\n'.repeat(16_000)),
      Buffer.from('\0'),
    ]);
    await expectFileError(lateNul, 'NOT_CSV', /NUL byte at byte 64019/);
  });

  it('does not look for binary data past the first 64 KB', async () => {
    const body = '1,2\n'.repeat(20_000);
    const csv = Buffer.concat([
      Buffer.from(`cancer,population\n${body}`),
      Buffer.from('caf\xe9,2\n', 'latin1'),
      Buffer.from('3,4\n'),
    ]);
    const { result } = await run(csv);
    expect(result.rows).toBe(20_001);
    expect(result.badRows).toBe(1);
  });

  it('NOT_CSV for a header with classic Mac line endings', async () => {
    await expectFileError('cancer,population\r1,2\r3,4\r', 'NOT_CSV', /CR-only/);
  });

  it('MISSING_COLUMN names the missing column and lists the available ones', async () => {
    const err = await fileError('fips,Cancer,pop\n1,2,3\n');
    expect(err.code).toBe('MISSING_COLUMN');
    expect(err.message).toContain('"cancer"');
    expect(err.message).toContain('did you mean "Cancer"');
    expect(err.message).toContain('"population"');
    expect(err.message).toContain('"fips", "Cancer", "pop"');
    await expectFileError('a,b\n1,2\n', 'MISSING_COLUMN', /no denominator column "b2"/, {
      numerator: 'a',
      denominator: 'b2',
    });
  });

  it('NO_VALID_ROWS when there are no rows or none is usable', async () => {
    await expectFileError('cancer,population\n', 'NO_VALID_ROWS', /header line but no data rows/);
    await expectFileError('cancer,population\n\n\n', 'NO_VALID_ROWS', /no data rows/);
    await expectFileError(
      'cancer,population\nx,1\n1,0\n',
      'NO_VALID_ROWS',
      /2 bad rows\. First problem, line 2: cancer is not a number: "x"/,
    );
  });

  it('INVALID_OPTIONS for bad bins or empty column names', async () => {
    for (const bins of [0, 1001, 2.5, Number.NaN, -1]) {
      await expectFileError('cancer,population\n1,2\n', 'INVALID_OPTIONS', /bins must be an integer from 1 to 1000/, {
        bins,
      });
    }
    await expectFileError('cancer,population\n1,2\n', 'INVALID_OPTIONS', /numerator must be a non-empty column name/, {
      numerator: '',
    });
    await expectFileError(
      'cancer,population\n1,2\n',
      'INVALID_OPTIONS',
      /denominator must be a non-empty column name/,
      { denominator: '  ' },
    );
    expect((await run('cancer,population\n1,2\n', { bins: 1 })).result.stats.histogram.counts).toEqual([1]);
    expect((await run('cancer,population\n1,2\n', { bins: 1000 })).result.stats.histogram.edges).toHaveLength(1001);
  });
});

describe('computeRates: streaming', () => {
  it('respects backpressure and never ends the output', async () => {
    let maxBuffered = 0;
    let bytes = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        maxBuffered = Math.max(maxBuffered, slow.writableLength);
        setImmediate(cb);
      },
    });
    const rows = 60_000;
    const csv = Buffer.from(`cancer,population\n${'1,3\n'.repeat(rows)}`);
    const result = await computeRates(chunked(csv, 1 << 30), slow, DEFAULTS);
    expect(result.rows).toBe(rows);
    expect(slow.writableEnded).toBe(false);
    // One output buffer (256 KB) may be pending beyond the high-water mark, never the whole 1.3 MB.
    expect(maxBuffered).toBeLessThanOrEqual(2 * 256 * 1024);
    await new Promise<void>((resolve) => slow.end(resolve));
    expect(bytes).toBe(Buffer.byteLength(`cancer,population,rate\n${`1,3,${String(1 / 3)}\n`.repeat(rows)}`));
  });

  it('rejects instead of hanging when the output is destroyed', async () => {
    const dead = new Writable({
      highWaterMark: 1024,
      write(_chunk, _enc, cb) {
        setImmediate(() => cb(new Error('upload aborted')));
      },
    });
    dead.on('error', () => {});
    const csv = Buffer.from(`cancer,population\n${'1,3\n'.repeat(300_000)}`);
    await expect(computeRates(chunked(csv, 64 * 1024), dead, DEFAULTS)).rejects.toThrow();
  });

  it('propagates input stream errors', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('cancer,population\n1,2\n');
      throw new Error('network reset');
    }
    await expect(computeRates(failing(), new Collector(), DEFAULTS)).rejects.toThrow('network reset');
  });
});
