/**
 * The primes runs of a bucket (lib/primes/run-history.ts): every results/primes/<runId>/summary.json, newest run
 * first, an unreadable one listed with its problem. The S3 client is real; a middleware at its first step answers
 * each command from a table instead of the network.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { listPrimesRuns, readPrimesRun } from '../../../lib/primes/run-history.ts';

function fakeS3(objects: Record<string, { at: string; body: string }>): S3Client {
  const s3 = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://127.0.0.1:1',
  });
  s3.middlewareStack.add(
    (_next, context) => async (args) => {
      const input = args.input as { Key?: string; Prefix?: string; ContinuationToken?: string };
      if (context.commandName === 'ListObjectsV2Command') {
        expect(input.Prefix).toBe('results/primes/');
        // Two pages, to check the listing follows the continuation token.
        const all = Object.entries(objects).map(([Key, { at }]) => ({ Key, LastModified: new Date(at) }));
        const half = Math.ceil(all.length / 2);
        const output =
          input.ContinuationToken === undefined
            ? { Contents: all.slice(0, half), IsTruncated: true, NextContinuationToken: 'page2' }
            : { Contents: all.slice(half), IsTruncated: false };
        return { output: { ...output, $metadata: {} }, response: {} };
      }
      if (context.commandName !== 'GetObjectCommand') throw new Error(`unexpected ${context.commandName}`);
      const object = objects[input.Key!];
      if (object === undefined) throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' });
      return { output: { Body: { transformToString: async () => object.body }, $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'answerFromTable' },
  );
  return s3;
}

function summary(runId: string, startedAt: string, count = 54_208): string {
  return JSON.stringify({
    runId,
    startedAt,
    start: 100_000_000,
    end: 101_000_000,
    backend: 'lambda',
    count,
    complete: true,
    chunks: 4,
    failedChunks: 0,
    attempts: 4,
    coldStarts: 0,
    maxBusy: 4,
    wallMs: 500,
    workerMs: 1200,
    speedup: 2.4,
    cost: { backend: 'lambda', requests: 4, gbSeconds: 2, usd: 0.00003, pricing: { workerMemoryMb: 1769 } },
  });
}

describe('listPrimesRuns', () => {
  it('lists each run with a summary.json, newest run first; an unreadable summary is listed with its problem', async () => {
    const s3 = fakeS3({
      'results/primes/old/summary.json': { at: '2026-12-03T10:00:05Z', body: summary('old', '2026-12-03T10:00:00Z') },
      'results/primes/old/timeline.png': { at: '2026-12-03T10:00:04Z', body: 'png' },
      'results/primes/new/summary.json': { at: '2026-12-03T12:00:05Z', body: summary('new', '2026-12-03T12:00:00Z') },
      'results/primes/mid/summary.json': { at: '2026-12-03T11:00:05Z', body: summary('mid', '2026-12-03T11:00:00Z') },
      'results/primes/broken/summary.json': { at: '2026-12-03T11:30:00Z', body: '{"runId": "broken", "count": "many"' },
      'results/primes/nosummary/timeline.json': { at: '2026-12-03T13:00:00Z', body: '{}' },
      'results/primes/summary.json': { at: '2026-12-03T13:00:00Z', body: '{}' },
    });
    const runs = await listPrimesRuns(s3, 'bucket');
    expect(runs.map((run) => run.runId)).toEqual(['new', 'broken', 'mid', 'old']);
    expect(runs[0]).toMatchObject({ summary: { runId: 'new', count: 54_208, cost: { usd: 0.00003 } } });
    expect(runs[1]).toEqual({
      runId: 'broken',
      problem: expect.stringMatching(/^results\/primes\/broken\/summary\.json is not JSON: /),
    });
  });

  it('keeps the latest `limit` runs', async () => {
    const s3 = fakeS3({
      'results/primes/a/summary.json': { at: '2026-12-03T10:00:00Z', body: summary('a', '2026-12-03T10:00:00Z') },
      'results/primes/b/summary.json': { at: '2026-12-03T11:00:00Z', body: summary('b', '2026-12-03T11:00:00Z') },
      'results/primes/c/summary.json': { at: '2026-12-03T12:00:00Z', body: summary('c', '2026-12-03T12:00:00Z') },
    });
    expect((await listPrimesRuns(s3, 'bucket', 2)).map((run) => run.runId)).toEqual(['c', 'b']);
  });
});

describe('readPrimesRun', () => {
  it('reads one run; none when it has no summary; a summary of the wrong shape is a problem in words', async () => {
    const s3 = fakeS3({
      'results/primes/r1/summary.json': { at: '2026-12-03T10:00:00Z', body: summary('r1', '2026-12-03T10:00:00Z', 7) },
      'results/primes/r2/summary.json': { at: '2026-12-03T10:00:00Z', body: '{"runId": "r2", "count": "many"}' },
    });
    expect(await readPrimesRun(s3, 'bucket', 'r1')).toMatchObject({ runId: 'r1', summary: { count: 7 } });
    expect(await readPrimesRun(s3, 'bucket', 'gone')).toBeNull();
    const wrong = await readPrimesRun(s3, 'bucket', 'r2');
    expect(wrong).toMatchObject({ runId: 'r2', problem: expect.stringContaining('is not a run summary: ') });
    expect(wrong && 'problem' in wrong ? wrong.problem : '').toContain('count');
  });

  it('refuses a run id that is not one path segment', async () => {
    await expect(readPrimesRun(fakeS3({}), 'bucket', '../secrets')).rejects.toThrow(/a run id is letters/);
  });
});
