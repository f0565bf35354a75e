/**
 * A primes run's record (lib/primes/run-record.ts) through runPrimes on the local backend (worker threads): the
 * timeline, its chart and the summary written to a folder, each checked against the run's own reply.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Timeline } from '../../../lib/fanout/timeline.ts';
import { parsePrimesRunInput } from '../../../lib/primes/run-input.ts';
import {
  directoryRunRecorder,
  primesTimelineTitle,
  type PrimesRunSummary,
  type RunRecorder,
} from '../../../lib/primes/run-record.ts';
import { runPrimes } from '../../../lib/primes/run.ts';
import { decodePng, darkPixels } from '../../support/png.ts';
import { useTempDir } from '../../support/temp-dir.ts';

const dir = useTempDir('cp-run-record-');

describe('primes run record', () => {
  it('writes timeline.json/.svg/.png and summary.json that agree with the reply (π(2e6) = 148,933)', async () => {
    const out = path.join(dir(), 'run');
    const input = parsePrimesRunInput({ start: 0, end: 2_000_000, chunks: 4, backend: 'local' });
    const result = await runPrimes(input, { local: { threads: 2 } }, { record: directoryRunRecorder(out) });
    expect(result.count).toBe(148_933);
    expect(result.runId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{12}$/);
    expect(result.timelineError).toBeUndefined();
    expect(result.timeline?.location).toBe(out);
    expect(Object.keys(result.timeline!.files).sort()).toEqual(
      ['summary.json', 'timeline.json', 'timeline.png', 'timeline.svg'].sort(),
    );

    const timeline = JSON.parse(readFileSync(path.join(out, 'timeline.json'), 'utf8')) as Timeline;
    expect(timeline.tasks).toHaveLength(result.chunks.length);
    expect(timeline.tasks.map((t) => t.attempts.length)).toEqual(result.chunks.map((c) => c.attempts));
    expect(timeline.backend).toMatch(/^local:/);
    for (const a of timeline.tasks.flatMap((t) => t.attempts)) {
      // Threads report their own clock; on one machine the corrected span still lies in the coordinator's window.
      expect(a.workerId).toMatch(/^thread-\d+$/);
      expect(a.submittedMs).toBeLessThanOrEqual(a.startedMs!);
      expect(a.startedMs!).toBeLessThanOrEqual(a.endedMs!);
      expect(a.endedMs!).toBeLessThanOrEqual(a.returnedMs);
    }
    // Two threads, four chunks: each thread's first task loaded the module.
    expect(timeline.coldStarts).toBe(2);
    expect(timeline.maxBusy).toBeGreaterThanOrEqual(1);
    expect(timeline.maxBusy).toBeLessThanOrEqual(2);

    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as PrimesRunSummary;
    expect(summary).toMatchObject({
      runId: result.runId,
      start: 0,
      end: 2_000_000,
      backend: 'local',
      count: 148_933,
      complete: true,
      chunks: 4,
      attempts: 4,
      wallMs: result.wallMs,
      speedup: result.speedup,
      cost: null,
    });

    const png = decodePng(readFileSync(path.join(out, 'timeline.png')));
    expect(png.width).toBeGreaterThan(0);
    expect(darkPixels(png, 0, 0, png.width, Math.round(png.height * 0.08))).toBeGreaterThan(500);
    expect(readFileSync(path.join(out, 'timeline.svg'), 'utf8')).toContain(
      'Primes in [0, 2,000,000): 4 chunks on local',
    );
  });

  it('keeps the count when the record cannot be saved, and says why', async () => {
    const failing: RunRecorder = async () => {
      throw new Error('disk full');
    };
    const input = parsePrimesRunInput({ start: 0, end: 100_000, chunks: 2, backend: 'local' });
    const result = await runPrimes(input, { local: { threads: 1 } }, { record: failing });
    expect(result.count).toBe(9592);
    expect(result.timeline).toBeUndefined();
    expect(result.timelineError).toMatch(new RegExp(`run ${result.runId} was not saved: disk full`));
  });

  it('titles the chart with range, chunks, backend, wall time, speedup and cost', () => {
    const summary = {
      runId: 'r1',
      startedAt: '2026-12-03T00:00:00.000Z',
      start: 100_000_000,
      end: 101_000_000,
      backend: 'lambda',
      count: 54_208,
      complete: true,
      chunks: 4,
      failedChunks: 0,
      attempts: 5,
      coldStarts: 1,
      maxBusy: 4,
      wallMs: 2345,
      workerMs: 8000,
      speedup: 3.41,
      cost: { backend: 'lambda', requests: 5, gbSeconds: 14.2, usd: 0.000237 },
    } as PrimesRunSummary;
    const { title, subtitle } = primesTimelineTitle(summary);
    expect(title).toBe(
      'Primes in [100,000,000, 101,000,000): 4 chunks on lambda — wall 2.35 s, speedup 3.41×, cost ≈ $0.000237',
    );
    expect(subtitle).toContain('run r1');
    expect(subtitle).toContain('54,208 primes');
    expect(subtitle).toContain('1 cold start ');
  });
});
