/**
 * A split run's progress object: written at each change of phase and at most once per interval in between, read
 * back by the client as it was written, deleted at the end; a run id that is not a plain key segment gets none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressKey, progressWriter, readProgress } from '../../../../lib/rates/parallel/progress.ts';
import { type LocalS3, startLocalS3, stopLocalS3 } from '../../../support/local-s3.ts';

const BUCKET = 'parallel-progress';
let local: LocalS3;

beforeAll(async () => {
  local = await startLocalS3([BUCKET], 'cp-parallel-progress-');
});
afterAll(() => stopLocalS3(local));

describe('progressKey', () => {
  it('lives under runs/rates/<run id>/, only for plain run ids', () => {
    expect(progressKey('4f3af4ba-e386-4e8b-b27c-e52d981eb413')).toBe(
      'runs/rates/4f3af4ba-e386-4e8b-b27c-e52d981eb413/progress.json',
    );
    for (const bad of [null, '', '../x', 'a/b', 'r-0.5', 'x'.repeat(65)]) expect(progressKey(bad)).toBeNull();
  });
});

describe('progressWriter and readProgress', () => {
  it('writes phase changes at once, throttles the rest, and deletes it on close', async () => {
    const key = progressKey('run-1')!;
    const writer = progressWriter(local.s3, BUCKET, key, 60_000);
    const parse = { phase: 'parse' as const, chunks: 4, bytesTotal: 400 };
    writer.report({ ...parse, done: 0, bytesDone: 0 });
    writer.report({ ...parse, done: 1, bytesDone: 100 }); // within the interval, same phase: not written
    await writer.settled();
    expect(await readProgress(local.s3, BUCKET, 'run-1')).toMatchObject({ ...parse, done: 0, bytesDone: 0 });
    writer.report({ phase: 'stats', chunks: 4, done: 0, bytesDone: 0, bytesTotal: 0 });
    await writer.settled();
    expect(await readProgress(local.s3, BUCKET, 'run-1')).toMatchObject({ phase: 'stats', chunks: 4 });
    await writer.close();
    expect(await readProgress(local.s3, BUCKET, 'run-1')).toBeNull();
  });

  it('reads nothing for a run without progress or with an unsafe id', async () => {
    expect(await readProgress(local.s3, BUCKET, 'never-started')).toBeNull();
    expect(await readProgress(local.s3, BUCKET, '../escape')).toBeNull();
  });
});
