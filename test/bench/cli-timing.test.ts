import { describe, expect, it } from 'vitest';
import {
  firstSeen,
  formatDuration,
  jobStartMs,
  lastNotificationMs,
  medianPhases,
  phasesBetween,
  versusTarget,
} from '../../bench/cli-timing.ts';

describe('phasesBetween', () => {
  it('names each step by the mark that ends it, and the steps add up to the whole', () => {
    const phases = phasesBetween([
      ['spawn', 1000],
      ['uploaded', 1600],
      ['printed', 2100],
      ['exited', 2150],
    ]);
    expect(phases).toEqual([
      { label: 'uploaded', ms: 600 },
      { label: 'printed', ms: 500 },
      { label: 'exited', ms: 50 },
    ]);
    expect(phases.reduce((sum, p) => sum + p.ms, 0)).toBe(1150);
  });

  it('folds a missing mark into the step after it', () => {
    expect(
      phasesBetween([
        ['spawn', 0],
        ['notified', undefined],
        ['job began', 300],
      ]),
    ).toEqual([{ label: 'job began', ms: 300 }]);
  });
});

describe('medianPhases', () => {
  it('takes the median of each step over runs, in first-seen order', () => {
    const run = (a: number, b: number) => [
      { label: 'a', ms: a },
      { label: 'b', ms: b },
    ];
    expect(medianPhases([run(1, 40), run(3, 10), run(2, 20)])).toEqual([
      { label: 'a', ms: 2 },
      { label: 'b', ms: 20 },
    ]);
  });
});

describe('formatDuration and versusTarget', () => {
  it('prints ms under a second, seconds with two decimals under ten, one above', () => {
    expect(formatDuration(42.4)).toBe('42 ms');
    expect(formatDuration(999.4)).toBe('999 ms');
    expect(formatDuration(1234)).toBe('1.23 s');
    expect(formatDuration(12_345)).toBe('12.3 s');
  });

  it('says whether a time meets its target, or how many times over it is', () => {
    expect(versusTarget(580, 600)).toBe('≤ 600 ms: met');
    expect(versusTarget(600, 600)).toBe('≤ 600 ms: met');
    expect(versusTarget(3750, 600)).toBe('≤ 600 ms: 6.3× over');
    expect(versusTarget(13_000, 5000)).toBe('≤ 5.00 s: 2.6× over');
    expect(versusTarget(100, undefined)).toBe('');
  });
});

describe('what the stack leaves behind', () => {
  const line = (time: string, msg: string) => JSON.stringify({ time, msg, target: 'fn', status: 202 });

  it("finds the last notification delivered at or after the run's upload", () => {
    const log = [
      line('2026-12-03T15:00:18.970Z', 'notification delivered'),
      line('2026-12-03T15:00:21.502Z', 'ready'),
      line('2026-12-03T15:00:21.600Z', 'notification delivered'),
      '',
    ].join('\n');
    expect(lastNotificationMs(log, Date.parse('2026-12-03T15:00:20Z'))).toBe(Date.parse('2026-12-03T15:00:21.600Z'));
    expect(lastNotificationMs(log, Date.parse('2026-12-03T15:00:22Z'))).toBeUndefined();
  });

  it('puts the job start at finishedAt less its total', () => {
    expect(jobStartMs({ finishedAt: '2026-12-03T15:00:34.466Z', timings: { totalMs: 113.5 } })).toBe(
      Date.parse('2026-12-03T15:00:34.466Z') - 113.5,
    );
    expect(jobStartMs({ finishedAt: '2026-12-03T15:00:34.466Z' })).toBeUndefined();
  });

  it('notes the first time each pattern shows, and leaves out one never seen', () => {
    const lines = [
      { atMs: 10, text: 'EC2 worker bundles built' },
      { atMs: 20, text: 'Starting Offline at stage dev' },
      { atMs: 30, text: 'Starting Offline again' },
    ];
    expect(firstSeen(lines, { bundles: /bundles built/, offline: /Starting Offline/, listening: /listening/ })).toEqual(
      {
        bundles: 10,
        offline: 20,
      },
    );
  });
});
