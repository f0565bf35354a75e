/**
 * mergeChunks on hand-made replies: what the equality suite (range-parse.test.ts) cannot reach with real
 * files — the checks that refuse unverified or incomplete replies, and -0 against 0 across chunks.
 */
import { describe, expect, it } from 'vitest';
import { RatesFileError } from '../../../../lib/rates/errors.ts';
import type { FileHeader } from '../../../../lib/rates/parallel/header.ts';
import { mergeChunks } from '../../../../lib/rates/parallel/merge.ts';
import type { ChunkReply } from '../../../../lib/rates/parallel/reply.ts';

const header: FileHeader = {
  info: { columns: ['num', 'den'], numIdx: 0, denIdx: 1, rateColumn: 'rate' },
  outputLine: Buffer.from('num,den,rate\n'),
  dataStart: 8,
  linesBefore: 1,
};
const ranges = [
  { index: 0, s: 8, e: 20 },
  { index: 1, s: 20, e: 30 },
];

function reply(start: number, next: number, values: number[], bad: number[] = [], lines = 3): ChunkReply {
  return {
    start,
    next,
    lines,
    rows: values.length,
    badRows: bad.length,
    badRowSamples: bad.map((line) => ({ line, reason: `bad ${line}` })),
    n: values.length,
    // `<` as the statistics compare (the first of 0 and -0 wins), not Math.min (which prefers -0).
    // biome-ignore lint/complexity/useMathMinMax: Math.min would order -0 before 0
    min: values.reduce((m, v) => (v < m ? v : m), Infinity),
    // biome-ignore lint/complexity/useMathMinMax: Math.max would order 0 after -0
    max: values.reduce((m, v) => (v > m ? v : m), -Infinity),
    inputBytes: next - start,
    outputBytes: 10,
  };
}

describe('mergeChunks', () => {
  it('makes bad-row lines global and keeps the first of equal extremes, as the statistics do', () => {
    const merged = mergeChunks(header, ranges, [reply(8, 22, [0, 1], [2]), reply(22, 30, [-0, 1, 3], [1, 3])], 30);
    expect(merged.badRowSamples.map((b) => b.line)).toEqual([3, 5, 7]);
    expect(Object.is(merged.min, 0)).toBe(true);
    expect(merged).toMatchObject({ rows: 5, badRows: 3, n: 5, max: 3, inputBytes: 30, outputBytes: 20 });
    const reversed = mergeChunks(header, ranges, [reply(8, 22, [-0]), reply(22, 30, [0])], 30);
    expect(Object.is(reversed.min, -0)).toBe(true);
  });

  it('keeps the first 100 bad rows in file order', () => {
    const many = (from: number) => Array.from({ length: 80 }, (_, i) => from + i);
    const merged = mergeChunks(header, ranges, [reply(8, 22, [1], many(1), 90), reply(22, 30, [1], many(1))], 30);
    expect(merged.badRows).toBe(160);
    expect(merged.badRowSamples).toHaveLength(100);
    expect(merged.badRowSamples.at(-1)?.line).toBe(1 + 90 + 20);
  });

  it('says NO_VALID_ROWS as the single path does, with the first bad row’s global line', () => {
    const run = () => mergeChunks(header, ranges, [reply(8, 22, [], [], 2), reply(22, 30, [], [2])], 30);
    expect(run).toThrow(RatesFileError);
    expect(run).toThrow('None of the data rows could be used: 1 bad row. First problem, line 5: bad 2.');
    expect(() => mergeChunks(header, ranges, [reply(8, 22, []), reply(22, 30, [])], 30)).toThrow(
      'The file has a header line but no data rows.',
    );
  });

  it('refuses unverified replies and replies that stop short of the end of the file', () => {
    expect(() => mergeChunks(header, ranges, [reply(8, 22, [1]), reply(21, 30, [1])], 30)).toThrow(/unverified/);
    expect(() => mergeChunks(header, ranges, [reply(8, 22, [1]), reply(22, 29, [1])], 30)).toThrow(/ends at 29/);
  });
});
