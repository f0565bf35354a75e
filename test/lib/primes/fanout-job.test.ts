/** The primes fan-out with real worker threads (the local backend) and the worker task itself. */
import { afterAll, describe, expect, it } from 'vitest';
import { FanoutError, localBackend, type Backend } from '../../../lib/fanout/index.ts';
import { runPrimesFanout } from '../../../lib/primes/fanout-job.ts';
import { parsePrimesRunInput } from '../../../lib/primes/run-input.ts';
import {
  MAX_INLINE_PRIMES_BYTES,
  runPrimesTask,
  type PrimesChunkResult,
  type PrimesTask,
} from '../../../lib/primes/worker.ts';
import { rng } from '../../support/random.ts';

const threads = localBackend<PrimesTask, PrimesChunkResult>({
  module: new URL('../../../lib/primes/worker.ts', import.meta.url),
  exportName: 'runPrimesTask',
});
afterAll(() => threads.close?.());

/** Independent reference: trial division, fine for the small ranges it is used on. */
function referenceCount(start: number, end: number): number {
  let count = 0;
  for (let n = Math.max(2, start); n < end; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

describe('primes fan-out on local worker threads', () => {
  it('counts the original analysis range exactly: 54,208 primes in [1e8, 1.01e8)', async () => {
    const result = await runPrimesFanout(
      parsePrimesRunInput({ start: 1e8, end: 1.01e8, chunks: 4, backend: 'local' }),
      threads,
    );
    expect(result).toMatchObject({ count: 54208, complete: true, failedChunks: [], cost: null, backend: 'local' });
    expect(result.chunks).toHaveLength(4);
    expect(result.chunks.reduce((sum, c) => sum + c.count!, 0)).toBe(54208);
    expect(result.workerMs).toBeCloseTo(
      result.chunks.reduce((sum, c) => sum + c.ms!, 0),
      0,
    );
  });

  it('gives the same count chunked as unchunked, for random ranges, against trial division', async () => {
    const rand = rng(17);
    for (let i = 0; i < 6; i++) {
      const start = Math.floor(rand() * 200_000);
      const end = start + Math.floor(rand() * 50_000);
      const chunks = 1 + Math.floor(rand() * 9);
      const result = await runPrimesFanout(parsePrimesRunInput({ start, end, chunks, backend: 'local' }), threads);
      expect(result.count, `[${start}, ${end}) in ${chunks} chunks`).toBe(referenceCount(start, end));
    }
  });

  it('returns partial results naming the chunk that failed, and keeps every other chunk', async () => {
    const failing: Backend<PrimesTask, PrimesChunkResult> = {
      name: 'flaky',
      run: async (task, context) => {
        if (context.index === 1) throw new FanoutError('function', 'RangeError', 'worker crashed');
        return threads.run(task, context);
      },
    };
    const result = await runPrimesFanout(
      parsePrimesRunInput({ start: 0, end: 3000, chunks: 3, backend: 'local' }),
      failing,
    );
    expect(result.complete).toBe(false);
    expect(result.failedChunks).toEqual([
      {
        start: 1000,
        end: 2000,
        attempts: 1,
        error: { kind: 'function', type: 'RangeError', message: 'worker crashed' },
      },
    ]);
    expect(result.count).toBe(referenceCount(0, 1000) + referenceCount(2000, 3000));
  });

  it('estimates Lambda cost from worker time, memory and requests', async () => {
    const result = await runPrimesFanout(parsePrimesRunInput({ start: 0, end: 100_000, chunks: 2 }), threads, {
      pricing: { usdPerGbSecond: 1, usdPerMillionRequests: 1e6, workerMemoryMb: 2048 },
    });
    const cost = result.cost;
    if (cost?.backend !== 'lambda') throw new Error(`expected a Lambda cost, got ${JSON.stringify(cost)}`);
    expect(cost.requests).toBe(2);
    expect(cost.gbSeconds).toBeCloseTo((result.workerMs / 1000) * 2, 2);
    expect(cost.usd).toBeCloseTo(cost.gbSeconds + 2, 2);
  });
});

describe('runPrimesTask (the worker)', () => {
  it('lists primes for small ranges', async () => {
    expect(await runPrimesTask({ start: 10, end: 30, includePrimes: true })).toMatchObject({
      count: 6,
      primes: [11, 13, 17, 19, 23, 29],
    });
  });

  it('hands a list too big for a Lambda reply to the store', async () => {
    const stored: string[] = [];
    const store = async (task: PrimesTask, body: string) => {
      stored.push(body);
      return `s3://bucket/results/primes/${task.start}-${task.end}.json`;
    };
    // Lambda's limit is MAX_INLINE_PRIMES_BYTES (5 MB); a 256-byte limit exercises the same path quickly.
    expect(MAX_INLINE_PRIMES_BYTES).toBe(5 * 1024 * 1024);
    expect(await runPrimesTask({ start: 0, end: 1000, includePrimes: true }, store, { maxInlineBytes: 256 })).toEqual({
      start: 0,
      end: 1000,
      count: 168,
      ms: expect.any(Number),
      primesObject: 's3://bucket/results/primes/0-1000.json',
    });
    expect(JSON.parse(stored[0]!)).toHaveLength(168);
    expect(
      (await runPrimesTask({ start: 0, end: 100, includePrimes: true }, store, { maxInlineBytes: 256 })).primes,
    ).toHaveLength(25);
  });

  it.each([
    [{ start: 5, end: 1 }, /start must be ≤ end/],
    [{ start: 0 }, /end must be a number/],
    [{ start: 0, end: 20_000_001, includePrimes: true }, /includePrimes is limited to ranges of 10,000,000 numbers/],
    [{ start: 0, end: 1000, includePrimes: true }, /no store is configured/],
  ])('rejects %j', async (task, message) => {
    await expect(runPrimesTask(task, undefined, { maxInlineBytes: 256 })).rejects.toThrow(message);
  });
});
