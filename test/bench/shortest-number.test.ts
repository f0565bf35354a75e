/**
 * The rates-core benchmark times the rate's printing on the rates of its own file; those rates must be the ones
 * the core computes (cancer / population of every row), quoted county names with commas included, or the
 * figure would be about other numbers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ratesOfCountyFile } from '../../bench/shortest-number.ts';
import { sampleCountyCsv } from '../../lib/rates/sample-data.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function writeTemp(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'shortest-bench-'));
  dirs.push(dir);
  const file = path.join(dir, 'in.csv');
  writeFileSync(file, text);
  return file;
}

describe('ratesOfCountyFile', () => {
  it('divides the last two columns of every row, with or without a final newline', () => {
    const file = writeTemp('fips,county,state,cancer,population\n01001,"Lee County, AL",AL,3,7\n01003,Lee,AL,5,11');
    expect(Array.from(ratesOfCountyFile(file))).toEqual([3 / 7, 5 / 11]);
  });

  it('reads a generated sample, quoted names included, row for row', () => {
    const csv = sampleCountyCsv({ rows: 2000, seed: 3, quotedFraction: 0.3 });
    const expected = csv
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => {
        const f = line.split(',');
        return Number(f.at(-2)) / Number(f.at(-1));
      });
    expect(Array.from(ratesOfCountyFile(writeTemp(csv)))).toEqual(expected);
  });
});
