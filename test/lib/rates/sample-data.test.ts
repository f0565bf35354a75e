import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import {
  SAMPLE_CHUNK_BYTES,
  SAMPLE_COUNTY_COUNT,
  SAMPLE_CSV_HEADER,
  SAMPLE_POPULATION_MAX,
  SAMPLE_POPULATION_MIN,
  sampleCountyCsv,
  sampleCountyCsvChunks,
} from '../../../lib/rates/sample-data.ts';

function parseRows(csv: string): string[][] {
  // csv-parse throws on a row whose column count differs from the first one.
  return parse(csv, { skip_empty_lines: false }) as string[][];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

describe('sampleCountyCsv / sampleCountyCsvChunks', () => {
  it('starts with the header and has exactly `rows` newline-terminated rows', () => {
    const csv = sampleCountyCsv({ rows: 5000, seed: 1 });
    expect(csv.startsWith(`${SAMPLE_CSV_HEADER}\n`)).toBe(true);
    expect(csv.endsWith('\n')).toBe(true);
    const records = parseRows(csv);
    expect(records[0]).toEqual(['fips', 'county', 'state', 'cancer', 'population']);
    expect(records).toHaveLength(5001);

    expect(sampleCountyCsv({ rows: 0 })).toBe(`${SAMPLE_CSV_HEADER}\n`);
    expect(parseRows(sampleCountyCsv({ rows: 1 }))).toHaveLength(2);
  });

  it('is deterministic for a seed and different across seeds', () => {
    const opts = { rows: 3000, seed: 42, quotedFraction: 0.1, badRowFraction: 0.05 };
    const a = sampleCountyCsv(opts);
    expect(sampleCountyCsv(opts)).toBe(a);
    expect(Buffer.concat([...sampleCountyCsvChunks(opts)]).toString('utf8')).toBe(a);
    expect(sampleCountyCsv({ ...opts, seed: 43 })).not.toBe(a);
    // A longer sample with the same seed starts with the shorter one.
    expect(sampleCountyCsv({ ...opts, rows: 4000 }).startsWith(a)).toBe(true);
  });

  it('parses with csv-parse into 5 fields per row, including quoted county names', () => {
    const csv = sampleCountyCsv({ rows: 20_000, seed: 7, quotedFraction: 0.2 });
    const rows = parseRows(csv).slice(1);
    expect(rows).toHaveLength(20_000);
    for (const row of rows) expect(row).toHaveLength(5);

    const quotedLines = csv.split('\n').filter((line) => /^\d{5},"/.test(line));
    expect(quotedLines.length / rows.length).toBeGreaterThan(0.17);
    expect(quotedLines.length / rows.length).toBeLessThan(0.23);
    expect(quotedLines.some((line) => line.includes('""'))).toBe(true); // embedded, escaped quotes

    const withComma = rows.filter((r) => (r[1] ?? '').includes(','));
    expect(withComma.length).toBe(quotedLines.length);
    for (const [, county, state] of withComma) expect(county?.endsWith(`, ${state}`)).toBe(true);
    expect(rows.some((r) => (r[1] ?? '').includes('"'))).toBe(true);

    // Default: 2% quoted.
    const dflt = sampleCountyCsv({ rows: 20_000, seed: 7 })
      .split('\n')
      .filter((l) => /^\d{5},"/.test(l));
    expect(dflt.length / 20_000).toBeGreaterThan(0.01);
    expect(dflt.length / 20_000).toBeLessThan(0.03);
  });

  it('has realistic FIPS codes, county names and states', () => {
    expect(SAMPLE_COUNTY_COUNT).toBe(3143);
    const rows = parseRows(sampleCountyCsv({ rows: SAMPLE_COUNTY_COUNT, seed: 3, quotedFraction: 0 })).slice(1);
    const stateOfPrefix = new Map<string, string>();
    for (const [fips = '', county = '', state = ''] of rows) {
      expect(fips).toMatch(/^\d{5}$/);
      expect(Number(fips.slice(2)) % 2).toBe(1); // county codes are odd
      expect(state).toMatch(/^[A-Z]{2}$/);
      expect(county).toMatch(/^[\p{L} .'-]+$/u);
      expect(county).toMatch(/ (County|Parish|Borough)$|^District of Columbia$/);
      const prefix = fips.slice(0, 2);
      expect(stateOfPrefix.get(prefix) ?? state).toBe(state);
      stateOfPrefix.set(prefix, state);
    }
    expect(stateOfPrefix.size).toBe(51);
    expect(stateOfPrefix.get('06')).toBe('CA');
    expect(stateOfPrefix.get('48')).toBe('TX');
    expect(new Set(rows.map((r) => r[0])).size).toBe(rows.length); // the first 3,143 FIPS codes are unique
    expect(rows.some(([, county]) => county?.endsWith(' Parish'))).toBe(true);
  });

  it('draws population log-normally and cancer counts around 0.55% of population', () => {
    const rows = parseRows(sampleCountyCsv({ rows: 50_000, seed: 11 })).slice(1);
    const pops: number[] = [];
    let cancerSum = 0;
    let popSum = 0;
    const problems: string[] = [];
    for (const [fips, , , cancerText = '', popText = ''] of rows) {
      const cancer = Number(cancerText);
      const pop = Number(popText);
      if (!/^\d+$/.test(cancerText) || !/^\d+$/.test(popText)) problems.push(`${fips}: not integers`);
      if (pop < SAMPLE_POPULATION_MIN || pop > SAMPLE_POPULATION_MAX) problems.push(`${fips}: population ${pop}`);
      // rate in [0.004, 0.007] plus Poisson noise (< 3% relative at this size)
      if (pop >= 500_000 && !(cancer / pop > 0.0038 && cancer / pop < 0.0072)) {
        problems.push(`${fips}: rate ${cancer / pop}`);
      }
      pops.push(pop);
      cancerSum += cancer;
      popSum += pop;
    }
    expect(problems).toEqual([]);
    const med = median(pops);
    expect(med).toBeGreaterThan(20_000);
    expect(med).toBeLessThan(31_000);
    expect(Math.max(...pops)).toBeGreaterThan(2_000_000); // long right tail
    expect(Math.min(...pops)).toBeLessThan(2_000);
    expect(cancerSum / popSum).toBeGreaterThan(0.0053);
    expect(cancerSum / popSum).toBeLessThan(0.0057);
    const rates = rows.map(([, , , c, p]) => Number(c) / Number(p)).filter((_, i) => (pops[i] ?? 0) >= 100_000);
    const medRate = median(rates);
    expect(medRate).toBeGreaterThan(0.0052);
    expect(medRate).toBeLessThan(0.0058);
  });

  it('injects bad rows at badRowFraction (and none by default)', () => {
    const isBad = (r: string[]): boolean => r[3] === 'n/a' || r[4] === 'n/a' || r[4] === '' || r[4] === '0';
    const clean = parseRows(sampleCountyCsv({ rows: 10_000, seed: 5 })).slice(1);
    expect(clean.filter(isBad)).toHaveLength(0);

    const rows = parseRows(sampleCountyCsv({ rows: 10_000, seed: 5, badRowFraction: 0.1 })).slice(1);
    for (const row of rows) expect(row).toHaveLength(5);
    const bad = rows.filter(isBad);
    expect(bad.length / rows.length).toBeGreaterThan(0.08);
    expect(bad.length / rows.length).toBeLessThan(0.12);
    expect(bad.some((r) => r[4] === '')).toBe(true);
    expect(bad.some((r) => r[4] === 'n/a')).toBe(true);
    expect(bad.some((r) => r[3] === 'n/a')).toBe(true);
    expect(bad.some((r) => r[4] === '0' && r[3] === '0')).toBe(true);
  });

  it('streams ~1 MiB chunks that end on row boundaries', () => {
    const chunks = [...sampleCountyCsvChunks({ rows: 100_000, seed: 9, quotedFraction: 0.05 })];
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks[0]?.toString('utf8', 0, SAMPLE_CSV_HEADER.length + 1)).toBe(`${SAMPLE_CSV_HEADER}\n`);
    chunks.forEach((chunk, i) => {
      expect(chunk.at(-1)).toBe(0x0a);
      if (i < chunks.length - 1) {
        expect(chunk.length).toBeGreaterThanOrEqual(SAMPLE_CHUNK_BYTES);
        expect(chunk.length).toBeLessThan(SAMPLE_CHUNK_BYTES + 512);
      }
    });
    // Chunks are independent buffers: parsing each on its own gives all rows.
    const total = chunks.reduce((n, c) => n + parseRows(c.toString('utf8')).length, 0);
    expect(total).toBe(100_001);
  });

  it('rejects invalid options', () => {
    expect(() => sampleCountyCsv({ rows: -1 })).toThrow(/rows must be a non-negative integer/);
    expect(() => sampleCountyCsv({ rows: 1.5 })).toThrow(/rows must be a non-negative integer/);
    expect(() => sampleCountyCsv({ rows: 10, quotedFraction: 2 })).toThrow(/quotedFraction must be between 0 and 1/);
    expect(() => sampleCountyCsv({ rows: 10, badRowFraction: -0.1 })).toThrow(/badRowFraction/);
    expect(() => sampleCountyCsv({ rows: 10, seed: Number.NaN })).toThrow(/seed/);
    expect(() => sampleCountyCsv({ rows: 5_000_000 })).toThrow(/use sampleCountyCsvChunks/);
  });
});
