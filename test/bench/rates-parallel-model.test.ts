/**
 * The rates-parallel benchmark's model is arithmetic on named inputs: these figures are worked out by hand here
 * (phases, waves, requests, prices), so a slip in the model — a cap not applied, a wave forgotten — fails.
 */
import { describe, expect, it } from 'vitest';
import { predictSingle, predictSplit, uploadRequests } from '../../bench/rates-parallel-model.ts';

const GB_PER_MB = 1769 / 1024;
const USD_PER_GB_S = 0.0000166667;

const input = {
  fileBytes: 1000e6,
  chunks: 10,
  concurrency: 5,
  workerBytesPerSec: 50e6,
  s3ReadBytesPerSec: 40e6,
  singleBytesPerSec: 30e6,
  setupMs: 10,
  waveOverheadMs: 100,
  statsRounds: 2,
  statsRoundOverheadMs: 50,
  valuesScanBytesPerSec: 100e6,
  bytesPerRow: 40,
  outputRatio: 1.5,
  copyBytesPerSec: 10e6,
  copyConcurrency: 5,
  heldBackBytes: 10e6,
  partBytes: 10e6,
  publishMs: 300,
  coordinatorMemoryMb: 1769,
};

describe('rates-parallel model', () => {
  it('counts a streamed upload as one PutObject, or create + 5 MiB parts + complete', () => {
    expect(uploadRequests(0)).toBe(1);
    expect(uploadRequests(5 * 1024 * 1024)).toBe(1);
    expect(uploadRequests(5 * 1024 * 1024 + 1)).toBe(4);
  });

  it('predicts a split run phase by phase, capped by the S3 read rate, in waves of the concurrency', () => {
    const p = predictSplit(input);
    expect(p.waves).toBe(2);
    expect(p.perWorkerBytesPerSec).toBe(40e6); // the S3 cap, not the 50 MB/s CSV rate
    // parse: 2 waves × (100 ms + 100 MB at 40 MB/s); stats: 2 rounds × 2 waves × (50 ms + 20 MB of values at
    // 40 MB/s); concat: 2 rounds of 5 copies of the 10 MB each chunk held back, at 10 MB/s.
    expect(p.phasesMs).toEqual({ setup: 10, parse: 5200, stats: 2200, concat: 2000, publish: 300 });
    expect(p.wallMs).toBe(9710);
    // 10 parse tasks of 2.5 s and 20 stats tasks of 0.5 s, plus the coordinator for the whole wall.
    const gbSeconds = (35 + 9.71) * GB_PER_MB;
    expect(p.cost.gbSeconds).toBeCloseTo(gbSeconds, 2);
    expect(p.cost.lambdaUsd).toBeCloseTo(gbSeconds * USD_PER_GB_S + (31 / 1e6) * 0.2, 9);
    expect(p.cost.getRequests).toBe(31); // header + 10 chunks + 10 × 2 values reads
    // per chunk: rates.csv's 140 MB in 14 parts of 10 MB + the 10 MB held back, values 20 MB (4 parts + 2);
    // the coordinator's create + 10 copies + complete; 3 outputs
    expect(p.cost.putRequests).toBe(10 * (14 + 1 + 6) + 12 + 3);
    expect(p.cost.s3Usd).toBeCloseTo((31 / 1000) * 0.0004 + (225 / 1000) * 0.005, 12);
    expect(p.cost.totalUsd).toBeCloseTo(p.cost.lambdaUsd + p.cost.s3Usd, 12);
  });

  it('copies a whole output when it is under what a chunk holds back', () => {
    const p = predictSplit({ ...input, outputRatio: 0.05 }); // 5 MB of output per chunk, all held back
    expect(p.phasesMs.concat).toBe(1000);
    expect(p.cost.putRequests).toBe(10 * (0 + 1 + 6) + 12 + 3);
  });

  it('refuses a run without chunks', () => {
    expect(() => predictSplit({ ...input, chunks: 0 })).toThrow(RangeError);
  });

  it('predicts one Lambda at its single rate, and names what stops it', () => {
    const p = predictSingle({ ...input, fileBytes: 10e9, memoryMb: 1769 });
    expect(p.bytesPerSec).toBe(30e6);
    expect(p.wallMs).toBeCloseTo(333_333.33, 1);
    expect(p.blockers).toEqual([expect.stringContaining('RATES_MAX_INPUT_BYTES')]);
    expect(predictSingle({ ...input, fileBytes: 3e9, singleBytesPerSec: 3e6, memoryMb: 1769 }).blockers).toEqual([
      expect.stringContaining('900 s'),
    ]);
    expect(p.cost.getRequests).toBe(1);
    expect(p.cost.lambdaUsd).toBeCloseTo(333.33333 * GB_PER_MB * USD_PER_GB_S + 0.2 / 1e6, 7);
  });
});
