import { describe, expect, it } from 'vitest';
import { resultSection } from '../../dashboard/pages/data/view.ts';
import type { RatesSummary } from '../../lib/rates/outcome.ts';
import type { RatesUpload } from '../../lib/rates/history.ts';

const SUMMARY: RatesSummary = {
  status: 'ok',
  runId: 'run-1',
  input: { bucket: 'data', key: 'uploads/big.csv', bytes: 300e6, eTag: 'abc' },
  options: { numerator: 'cancer', denominator: 'population', bins: 30 },
  rateColumn: 'rate',
  rows: 8_000_000,
  badRows: { count: 0, samples: [] },
  stats: { min: 0.001, max: 0.02, mean: 0.005, median: 0.0045, p95: 0.012 },
  histogram: { edges: [0.001, 0.02], counts: [8_000_000] },
  outputs: {
    csv: 's3://data/results/big/rates.csv',
    png: 's3://data/results/big/histogram.png',
    svg: 's3://data/results/big/histogram.svg',
    summary: 's3://data/results/big/summary.json',
  },
  timings: { computeMs: 120, uploadMs: 30, chartMs: 45, totalMs: 200 },
  finishedAt: '2026-12-03T12:00:00.000Z',
};

const SPLIT: RatesSummary = {
  ...SUMMARY,
  outputs: {
    ...SUMMARY.outputs,
    timeline: {
      json: 's3://data/results/big/timeline.json',
      svg: 's3://data/results/big/timeline.svg',
      png: 's3://data/results/big/timeline.png',
    },
  },
  parallel: {
    workers: 4,
    chunks: 5,
    reruns: 1,
    statsRounds: 2,
    wallMs: 6400,
    chunkTimings: [],
    assembly: {
      workerParts: 20,
      workerBytes: 1,
      copiedParts: 5,
      copiedBytes: 1,
      stitchedParts: 0,
      stitchedBytes: 0,
      rerunsWithoutParts: 0,
    },
    cost: null,
  },
};

function upload(outcome: RatesSummary): RatesUpload {
  return {
    key: 'uploads/big.csv',
    bytes: 300e6,
    uploadedAt: '2026-12-03T11:59:00.000Z',
    resultPrefix: 'results/big/',
    state: 'ok',
    outcome,
  };
}

describe('the Data page result of a split run', () => {
  it('shows its timeline with words for what it shows, and links its files', () => {
    const page = String(resultSection(upload(SPLIT)));
    expect(page).toContain('<img id="timeline" src="/data/files?upload=uploads%2Fbig.csv&amp;file=timeline.png"');
    expect(page).toContain(
      'alt="Timeline of the split run of uploads/big.csv: 5 chunks on 4 workers, 1 re-run and 2 statistics rounds in 6.4 s"',
    );
    for (const file of ['timeline.png', 'timeline.svg', 'timeline.json'])
      expect(page).toContain(`file=${file}">${file}</a>`);
  });

  it('shows no timeline for a single-worker run', () => {
    const page = String(resultSection(upload(SUMMARY)));
    expect(page).not.toContain('timeline');
  });
});
