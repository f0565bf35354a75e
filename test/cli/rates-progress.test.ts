import { describe, expect, it } from 'vitest';
import type { S3Client } from '@aws-sdk/client-s3';
import { followProgress, formatProgress } from '../../cli/rates-progress.ts';

describe('formatProgress', () => {
  it('says chunks done, bytes processed and elapsed time while parsing', () => {
    expect(
      formatProgress({
        phase: 'parse',
        chunks: 40,
        done: 12,
        bytesDone: 210 * 1024 ** 2,
        bytesTotal: 1024 ** 3,
        elapsedMs: 3210,
      }),
    ).toBe('chunks 12/40 · 210.0 MiB of 1024.0 MiB · 3.2 s');
  });

  it('names the phases after the parse', () => {
    const base = { done: 0, bytesDone: 0, bytesTotal: 0, elapsedMs: 5000 };
    expect(formatProgress({ ...base, phase: 'rerun', chunks: 1 })).toBe(
      're-running 1 chunk whose guessed record start was wrong · 5.0 s',
    );
    expect(formatProgress({ ...base, phase: 'stats', chunks: 3 })).toBe(
      'exact statistics: a round over 3 chunks · 5.0 s',
    );
    expect(formatProgress({ ...base, phase: 'concat', chunks: 3 })).toBe('assembling rates.csv from 3 chunks · 5.0 s');
  });
});

describe('followProgress', () => {
  it('leaves no timer behind once stopped, so the CLI exits as soon as it has printed the result', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    // No read happens before the first pause ends; an hour-long pause would keep the process alive that long.
    const follower = followProgress({} as S3Client, 'bucket', 'run', () => undefined, 3_600_000);
    expect(timers()).toBe(before + 1);
    follower.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers()).toBe(before);
  });
});
