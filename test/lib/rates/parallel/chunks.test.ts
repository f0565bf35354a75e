import { describe, expect, it } from 'vitest';
import { UserError } from '../../../../lib/errors.ts';
import { type ChunkRange, MAX_CHUNKS, planChunks, verifyChunks } from '../../../../lib/rates/parallel/chunks.ts';

/** The ranges must tile [dataStart, size) in order. */
function expectTiling(ranges: ChunkRange[], dataStart: number, size: number): void {
  expect(ranges[0]?.s).toBe(dataStart);
  expect(ranges.at(-1)?.e).toBe(size);
  ranges.forEach((r, i) => {
    expect(r.index).toBe(i);
    expect(r.s).toBeLessThanOrEqual(r.e);
    if (i > 0) expect(r.s).toBe(ranges[i - 1]?.e);
  });
}

describe('planChunks', () => {
  it('cuts by chunk size, the last chunk shorter', () => {
    const ranges = planChunks({ dataStart: 10, size: 10 + 3 * 4096 + 5, chunkBytes: 4096 });
    expect(ranges.map((r) => r.e - r.s)).toEqual([4096, 4096, 4096, 5]);
    expectTiling(ranges, 10, 10 + 3 * 4096 + 5);
  });

  it('cuts into equal ranges for a worker count, never below 4 KiB each', () => {
    const ranges = planChunks({ dataStart: 7, size: 1_000_007, workers: 3 });
    expect(ranges.map((r) => r.e - r.s)).toEqual([333_333, 333_333, 333_334]);
    expectTiling(ranges, 7, 1_000_007);
    expect(planChunks({ dataStart: 1, size: 10_001, workers: 8 })).toHaveLength(2);
  });

  it('plans one (possibly empty) chunk when there is little or no data: chunk 0 writes the header line', () => {
    expect(planChunks({ dataStart: 20, size: 20, workers: 4 })).toEqual([{ index: 0, s: 20, e: 20 }]);
    expect(planChunks({ dataStart: 20, size: 20, chunkBytes: 4096 })).toEqual([{ index: 0, s: 20, e: 20 }]);
    expect(planChunks({ dataStart: 20, size: 100, workers: 4 })).toEqual([{ index: 0, s: 20, e: 100 }]);
  });

  it('refuses a chunk size that needs more than 10,000 chunks, naming the smallest that fits', () => {
    const size = 1 + MAX_CHUNKS * 4096 + 1;
    expect(planChunks({ dataStart: 1, size: size - 1, chunkBytes: 4096 })).toHaveLength(MAX_CHUNKS);
    expect(() => planChunks({ dataStart: 1, size, chunkBytes: 4096 })).toThrow(
      /10001 chunks; at most 10000 are allowed. Use a chunk size of at least 4097 bytes/,
    );
  });

  it('refuses what is not a plan', () => {
    for (const bad of [
      { dataStart: 1, size: 100, chunkBytes: 4095 },
      { dataStart: 1, size: 100, workers: 0 },
      { dataStart: 1, size: 100, workers: MAX_CHUNKS + 1 },
      { dataStart: 1, size: 100 },
      { dataStart: 1, size: 100, workers: 2, chunkBytes: 4096 },
      { dataStart: 200, size: 100, workers: 2 },
      { dataStart: 1.5, size: 100, workers: 2 },
    ]) {
      expect(() => planChunks(bad), JSON.stringify(bad)).toThrow(UserError);
    }
  });
});

describe('verifyChunks', () => {
  const ranges = [
    { index: 0, s: 10, e: 20 },
    { index: 1, s: 20, e: 30 },
    { index: 2, s: 30, e: 40 },
    { index: 3, s: 40, e: 50 },
  ];

  it('accepts a chain where each chunk starts at its predecessor’s next', () => {
    const replies = [
      { start: 10, next: 22 },
      { start: 22, next: 30 },
      { start: 30, next: 45 },
      { start: 45, next: 50 },
    ];
    expect(verifyChunks(ranges, replies)).toEqual({ verified: 4, rerun: [] });
  });

  it('re-runs every chunk whose start is not its predecessor’s next, from that next', () => {
    const replies = [
      { start: 10, next: 25 },
      { start: 21, next: 33 }, // guessed inside a quoted field: the record really starts at 25
      { start: 33, next: 41 }, // consistent with a wrong predecessor: kept for now
      { start: 42, next: 50 },
    ];
    expect(verifyChunks(ranges, replies)).toEqual({
      verified: 1,
      rerun: [
        { index: 1, start: 25 },
        { index: 3, start: 41 },
      ],
    });
  });

  it('settles the chunk after a re-run one in a later round when the re-run moved its next', () => {
    const round2 = [
      { start: 10, next: 25 },
      { start: 25, next: 36 }, // re-run from 25: its next moved
      { start: 33, next: 41 },
      { start: 41, next: 50 },
    ];
    expect(verifyChunks(ranges, round2)).toEqual({ verified: 2, rerun: [{ index: 2, start: 36 }] });
  });

  it('checks that chunk 0 starts at the data and that every chunk replied', () => {
    expect(() =>
      verifyChunks(ranges, [{ start: 11, next: 20 }, ...ranges.slice(1).map(() => ({ start: 0, next: 0 }))]),
    ).toThrow(/chunk 0/);
    expect(() => verifyChunks(ranges, [])).toThrow(/replies/);
  });
});
