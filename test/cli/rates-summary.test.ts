/**
 * What `cloud-parallel rates` prints around a run (cli/rates.ts): the summary, with the parallel section when the
 * run was split (issue 14), and the warning for chunks too small to be worth their tasks.
 */
import { describe, expect, it } from 'vitest';
import { formatSummary, gzipSplitWarning, smallChunkWarning } from '../../cli/rates.ts';
import { GZIP_SINGLE_WORKER_REASON } from '../../lib/rates/gzip-input.ts';
import type { RatesSummary } from '../../lib/rates/index.ts';

const SUMMARY: RatesSummary = {
  status: 'ok',
  runId: 'run-1',
  input: { bucket: 'data', key: 'uploads/counties.csv', bytes: 1234, eTag: 'abc' },
  options: { numerator: 'cancer', denominator: 'population', bins: 30 },
  rateColumn: 'rate',
  rows: 3142,
  badRows: { count: 0, samples: [] },
  stats: { min: 0.001, max: 0.02, mean: 0.005, median: 0.0045, p95: 0.012 },
  histogram: { edges: [0.001, 0.02], counts: [3142] },
  outputs: {
    csv: 's3://data/results/counties/rates.csv',
    png: 's3://data/results/counties/histogram.png',
    svg: 's3://data/results/counties/histogram.svg',
    summary: 's3://data/results/counties/summary.json',
  },
  timings: { computeMs: 120, uploadMs: 30, chartMs: 45, totalMs: 200 },
  finishedAt: '2026-12-03T12:00:00.000Z',
};

const ASSEMBLY = {
  workerParts: 24,
  workerBytes: 192 * 1024 ** 2,
  copiedParts: 2,
  copiedBytes: 12 * 1024 ** 2,
  stitchedParts: 1,
  stitchedBytes: 5 * 1024 ** 2,
  rerunsWithoutParts: 0,
};
const ASSEMBLY_LINE =
  '  rates.csv  24 parts uploaded by the workers (192.0 MiB), 2 parts copied (12.0 MiB), 1 part stitched (5.0 MiB)';

const SINGLE = [
  'rates for s3://data/uploads/counties.csv',
  '  rate = cancer / population',
  '  rows       3,142 valid, 0 bad',
  '  rate       min 0.0010000  median 0.0045000  mean 0.0050000  p95 0.012000  max 0.020000',
  '  outputs:',
  '    s3://data/results/counties/rates.csv',
  '    s3://data/results/counties/histogram.png',
  '    s3://data/results/counties/histogram.svg',
  '    s3://data/results/counties/summary.json',
  '  timings    compute 120 ms, upload 30 ms, chart 45 ms, total 200 ms',
];

describe('formatSummary', () => {
  it('a single-worker run: no parallel line', () => {
    expect(formatSummary(SUMMARY)).toBe(`${SINGLE.join('\n')}\n`);
  });

  it('a split run: the parallel line after the timings, the rest unchanged', () => {
    const parallel = {
      workers: 4,
      chunks: 12,
      reruns: 1,
      statsRounds: 3,
      wallMs: 1834.6,
      chunkTimings: [{ index: 0, bytes: 4096, rows: 100, ms: 12 }],
      assembly: ASSEMBLY,
      cost: null,
    };
    expect(formatSummary({ ...SUMMARY, parallel })).toBe(
      `${[...SINGLE, '  parallel   12 chunks on 4 workers, 1 re-run, wall 1835 ms', ASSEMBLY_LINE].join('\n')}\n`,
    );
  });

  it("adds the workers' cost when the backend has one", () => {
    const cost = {
      backend: 'lambda' as const,
      requests: 14,
      gbSeconds: 3.2,
      usd: 0.0000561,
      pricing: { usdPerGbSecond: 0.0000166667, usdPerMillionRequests: 0.2, workerMemoryMb: 1769 },
    };
    const parallel = {
      workers: 4,
      chunks: 4,
      reruns: 0,
      statsRounds: 2,
      wallMs: 900,
      chunkTimings: [],
      assembly: ASSEMBLY,
      cost,
    };
    expect(formatSummary({ ...SUMMARY, parallel })).toContain(
      '  parallel   4 chunks on 4 workers, 0 re-runs, wall 900 ms, workers ≈ $0.000056\n',
    );
  });

  it('counts in the singular and with separators', () => {
    const one = {
      workers: 1,
      chunks: 1,
      reruns: 0,
      statsRounds: 0,
      wallMs: 5,
      chunkTimings: [],
      assembly: ASSEMBLY,
      cost: null,
    };
    expect(formatSummary({ ...SUMMARY, parallel: one })).toContain(
      '  parallel   1 chunk on 1 worker, 0 re-runs, wall 5 ms\n',
    );
    const many = { ...one, workers: 10_000, chunks: 10_000, reruns: 1200 };
    expect(formatSummary({ ...SUMMARY, parallel: many })).toContain(
      '  parallel   10,000 chunks on 10,000 workers, 1,200 re-runs, wall 5 ms\n',
    );
  });
});

describe("formatSummary of a split run's timeline", () => {
  it('prints the PNG to open after the parallel lines, and only the four files under outputs', () => {
    const parallel = { workers: 2, chunks: 2, reruns: 0, statsRounds: 2, wallMs: 9, chunkTimings: [], cost: null };
    const timeline = {
      json: 's3://data/results/counties/timeline.json',
      svg: 's3://data/results/counties/timeline.svg',
      png: 's3://data/results/counties/timeline.png',
    };
    const text = formatSummary({
      ...SUMMARY,
      outputs: { ...SUMMARY.outputs, timeline },
      parallel: { ...parallel, assembly: ASSEMBLY },
    });
    expect(text).toBe(
      `${[
        ...SINGLE,
        '  parallel   2 chunks on 2 workers, 0 re-runs, wall 9 ms',
        ASSEMBLY_LINE,
        '  timeline   s3://data/results/counties/timeline.png  (timeline.json and timeline.svg beside it)',
      ].join('\n')}\n`,
    );
  });
});

describe('formatSummary of where rates.csv came from', () => {
  it('names copied and stitched parts only when there were some', () => {
    const parallel = { workers: 2, chunks: 2, reruns: 0, statsRounds: 2, wallMs: 9, chunkTimings: [], cost: null };
    const direct = { ...ASSEMBLY, copiedParts: 0, copiedBytes: 0, stitchedParts: 0, stitchedBytes: 0 };
    expect(formatSummary({ ...SUMMARY, parallel: { ...parallel, assembly: direct } })).toContain(
      '  rates.csv  24 parts uploaded by the workers (192.0 MiB)\n',
    );
    const one = { ...direct, workerParts: 1, copiedParts: 1, copiedBytes: 1024 };
    expect(formatSummary({ ...SUMMARY, parallel: { ...parallel, assembly: one } })).toContain(
      '  rates.csv  1 part uploaded by the workers (192.0 MiB), 1 part copied (0.0 MiB)\n',
    );
  });
});

describe('formatSummary of a .csv.gz upload', () => {
  it('says it was gzip and what its sizes were, and why it ran on one worker when a split was due', () => {
    const gz: RatesSummary = {
      ...SUMMARY,
      input: { ...SUMMARY.input, key: 'uploads/counties.csv.gz', compression: 'gzip', storedBytes: 400 },
      singleWorkerReason: GZIP_SINGLE_WORKER_REASON,
    };
    const lines = formatSummary(gz).split('\n');
    const timings = lines.indexOf(SINGLE.at(-1)!);
    expect(lines.slice(timings + 1, timings + 3)).toEqual([
      '  input      gzip, 400 bytes stored, 1,234 bytes (1.2 KiB) of CSV',
      `  one worker ${GZIP_SINGLE_WORKER_REASON}`,
    ]);
    // Without a reason (no split was due) only the input line is added.
    const { singleWorkerReason: _r, ...unsplit } = gz;
    expect(formatSummary(unsplit)).not.toContain('one worker');
  });
});

describe('gzipSplitWarning', () => {
  it('warns when a split is asked for a .gz file, which runs on one worker', () => {
    expect(gzipSplitWarning('/data/counties.csv.gz', { workers: 4 })).toBe(
      'counties.csv.gz is gzip-compressed, and gzip cannot be split: the run goes ahead on one worker (upload it uncompressed to split it)',
    );
    expect(gzipSplitWarning('x.GZ', { chunkBytes: 4096 })).toMatch(/gzip cannot be split/);
  });

  it('is silent for a plain file, no split, or --workers 1', () => {
    expect(gzipSplitWarning('counties.csv', { workers: 4 })).toBeUndefined();
    expect(gzipSplitWarning('counties.csv.gz', undefined)).toBeUndefined();
    expect(gzipSplitWarning('counties.csv.gz', { workers: 1 })).toBeUndefined();
  });
});

describe('smallChunkWarning', () => {
  it('warns under 1 MiB, naming the size', () => {
    expect(smallChunkWarning(4096)).toBe(
      '--chunk-size 4,096 bytes (4.0 KiB) is under 1 MiB: each chunk costs a worker task and several S3 requests, ' +
        'so a size this small is for watching chunk boundaries, not for speed (the run goes ahead)',
    );
    expect(smallChunkWarning(1024 * 1024 - 1)).toMatch(/^--chunk-size 1,048,575 bytes \(1024\.0 KiB\) is under 1 MiB/);
    // 1 MB (SI) is under 1 MiB.
    expect(smallChunkWarning(1_000_000)).toMatch(/is under 1 MiB/);
  });

  it('is silent from 1 MiB up', () => {
    expect(smallChunkWarning(1024 * 1024)).toBeUndefined();
    expect(smallChunkWarning(64 * 1024 * 1024)).toBeUndefined();
  });
});
