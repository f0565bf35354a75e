/**
 * Bad input for the prime count (issue 7): the fan-out and the worker handlers, in process.
 *
 * The fan-out answers every invalid input with `{"error": {"code": "INVALID_INPUT", "message": …}}` and launches
 * nothing: its Lambda, EC2, S3 and SSM endpoints all point at a closed port, so any attempt to run a chunk would
 * come back as a failed chunk in the reply — the control case shows that it does — and a rejected input's reply
 * has no chunks at all.
 *
 * The worker throws instead, by design (functions/primes-worker.ts): the fan-out sees the invocation's FunctionError
 * and names the chunk. What the caller then sees is the Lambda runtime's rendering of that error (errorType,
 * errorMessage, trace): it must carry the code and message, and no stack frames.
 *
 * An EventBridge envelope (`{"version": "0", "detail-type": "Scheduled Event", "detail": …}`) is not what the
 * schedule sends — it passes the rule's input as the event itself — but the fan-out reads its `detail` as the
 * input, as the scrape function does, and says where the input came from when the detail is not valid.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  closedPort,
  expectNoStackTrace,
  lambdaContext,
  lambdaErrorReply,
  quietObservability,
  STACK_FRAME,
} from '../support/bad-input.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
let fanout: Handler;
let worker: Handler;
const context = lambdaContext('cloud-parallel-test-primes-fanout');

beforeAll(async () => {
  const nowhere = `http://127.0.0.1:${await closedPort()}`;
  quietObservability();
  vi.stubEnv('PRIMES_WORKER_FUNCTION', 'cloud-parallel-test-primes-worker');
  vi.stubEnv('DATA_BUCKET', 'bad-input-primes');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  for (const service of ['LAMBDA', 'EC2', 'S3', 'SSM']) vi.stubEnv(`AWS_ENDPOINT_URL_${service}`, nowhere);
  // Both handlers read their configuration and build their clients when the module loads.
  ({ handler: fanout } = (await import('../../functions/primes-fanout.ts')) as { handler: Handler });
  ({ handler: worker } = (await import('../../functions/primes-worker.ts')) as { handler: Handler });
});

afterAll(() => {
  vi.unstubAllEnvs();
});

const envelope = (detail: unknown) => ({
  version: '0',
  id: '89d1a02d-5ec7-412e-82f5-13505f849b41',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  time: '2026-11-25T03:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail,
});

describe('primes-fanout: invalid input is answered with INVALID_INPUT and nothing is launched', () => {
  it('control: a valid input does try to launch, and the closed endpoint shows up as failed chunks', async () => {
    const reply = (await fanout({ start: 0, end: 100, chunks: 2, concurrency: 2 }, context)) as {
      chunks: unknown[];
      failedChunks: unknown[];
      complete: boolean;
    };
    expect(reply.complete).toBe(false);
    expect(reply.chunks).toHaveLength(2);
    expect(reply.failedChunks).toEqual([
      expect.objectContaining({ start: 0, end: 50, error: expect.objectContaining({ kind: 'transport' }) }),
      expect.objectContaining({ start: 50, end: 100, error: expect.objectContaining({ kind: 'transport' }) }),
    ]);
    expectNoStackTrace(reply);
  });

  it('an EventBridge envelope with a valid detail runs that detail (so it too reaches the closed endpoint)', async () => {
    const reply = (await fanout(envelope({ start: 0, end: 100, chunks: 2 }), context)) as {
      start: number;
      end: number;
      chunks: unknown[];
    };
    expect(reply).toMatchObject({ start: 0, end: 100, backend: 'lambda' });
    expect(reply.chunks).toHaveLength(2);
  });

  it.each<[string, unknown, RegExp]>([
    // Wrong shapes
    ['no input at all', undefined, /^start must be a number; end must be a number$/],
    ['an empty object', {}, /^start must be a number; end must be a number$/],
    ['a missing end', { start: 0, chunks: 2 }, /^end must be a number$/],
    ['numbers as strings', { start: '0', end: '100' }, /^start must be a number; end must be a number$/],
    ['"1e400" (Infinity once parsed)', { start: 0, end: '1e400' }, /^end must be a number$/],
    ['NaN (in process; JSON cannot carry it)', { start: Number.NaN, end: 100 }, /^start must be a number$/],
    ['Infinity (in process)', { start: 0, end: Number.POSITIVE_INFINITY }, /^end must be a number$/],
    ['a negative start', { start: -5, end: 10 }, /^start must be ≥ 0$/],
    ['start > end', { start: 10, end: 5 }, /^start must be ≤ end \(the range is \[start, end\)\)$/],
    ['end > 2^53', { start: 0, end: 2 ** 53 + 2 }, /^end must be ≤ 2\^53 \(9007199254740992\)$/],
    ['end 1e300', { start: 0, end: 1e300 }, /^end must be ≤ 2\^53/],
    ['a float start', { start: 0.5, end: 10 }, /^start must be a whole number$/],
    ['a float end', { start: 0, end: 10.25 }, /^end must be a whole number$/],
    ['null', null, /^\(input\): .*expected object, received null$/],
    ['an array', [0, 100], /^\(input\): .*expected object, received array$/],
    ['a number', 100, /^\(input\): .*expected object, received number$/],
    ['a string that is not JSON', 'start=0&end=100', /^\(input\): .*expected object, received string$/],
    ['a JSON string with start > end', '{"start": 5, "end": 1}', /^start must be ≤ end/],
    // Huge values
    ['chunks 10^6', { start: 0, end: 1e9, chunks: 1e6 }, /^chunks must be at most 10000$/],
    ['chunks 0', { start: 0, end: 1e9, chunks: 0 }, /^chunks must be at least 1$/],
    ['chunks "4"', { start: 0, end: 1e9, chunks: '4' }, /^chunks must be a number$/],
    ['chunkSize 0', { start: 0, end: 1e9, chunkSize: 0 }, /^chunkSize must be at least 1$/],
    [
      'chunkSize 1 over 10^9 numbers (10^9 chunks)',
      { start: 0, end: 1e9, chunkSize: 1 },
      /^chunkSize 1 splits the range into 1000000000 chunks; at most 10000 are allowed — use a chunkSize of at least 100000$/,
    ],
    [
      'chunkSize 1 over 10^9 numbers on EC2',
      { start: 0, end: 1e9, chunkSize: 1, backend: 'ec2' },
      /^chunkSize 1 splits the range into 1000000000 chunks/,
    ],
    [
      'chunks and chunkSize',
      { start: 0, end: 100, chunks: 2, chunkSize: 50 },
      /^chunks: give chunks or chunkSize, not both$/,
    ],
    // Work too big for a worker's timeout: refused at once instead of failing 15 minutes later
    [
      'one chunk of 2·10^11 numbers',
      { start: 0, end: 2e11 },
      /^chunks: 200000000000 numbers in 1 chunk make chunks of up to 200000000000 numbers, over the 100000000000 \(10\^11\) one worker counts well inside its timeout — use at least 2 chunks$/,
    ],
    [
      '10 chunks over [0, 2·10^12)',
      { start: 0, end: 2e12, chunks: 10 },
      /^chunks: 2000000000000 numbers in 10 chunks make chunks of up to 200000000000 numbers, .* use at least 20 chunks$/,
    ],
    [
      'chunkSize 2·10^11',
      { start: 0, end: 1e12, chunkSize: 2e11 },
      /^chunkSize must be at most 100000000000 \(10\^11: what one worker counts well inside its timeout\)$/,
    ],
    [
      'the whole range [0, 2^53) in one run',
      { start: 0, end: 2 ** 53, chunks: 10000 },
      /^end: a run covers at most 1000000000000000 numbers \(10000 chunks of at most 100000000000\), got 9007199254740992: split it into several runs$/,
    ],
    ['concurrency 10^6', { start: 0, end: 100, concurrency: 1e6 }, /^concurrency must be at most 1000$/],
    ['concurrency 0', { start: 0, end: 100, concurrency: 0 }, /^concurrency must be at least 1$/],
    [
      'chunksPerInstance 65 on EC2',
      { start: 0, end: 100, backend: 'ec2', chunksPerInstance: 65 },
      /^chunksPerInstance must be at most 64$/,
    ],
    [
      'chunksPerInstance on Lambda',
      { start: 0, end: 100, chunksPerInstance: 2 },
      /^chunksPerInstance applies to backend "ec2" only$/,
    ],
    // Unknown backend, unknown fields
    ['an unknown backend', { start: 0, end: 100, backend: 'gpu' }, /^backend must be one of: lambda, ec2, local$/],
    [
      'the local backend (CLI only)',
      { start: 0, end: 100, backend: 'local' },
      /^backend "local" runs only from the CLI; the fan-out Lambda uses "lambda" or "ec2"$/,
    ],
    [
      'includePrimes (a worker option)',
      { start: 0, end: 1e9, includePrimes: true },
      /^\(input\): Unrecognized key: "includePrimes"$/,
    ],
    ['a misspelt option', { start: 0, end: 100, chunk: 4 }, /^\(input\): Unrecognized key: "chunk"$/],
    ['a unicode key', { start: 0, end: 100, débutÉ漢: 1 }, /^\(input\): Unrecognized key: "débutÉ漢"$/],
    // EventBridge envelopes
    [
      'a Scheduled Event envelope with an empty detail',
      envelope({}),
      /^EventBridge "Scheduled Event" event: its detail is not a valid input \(a schedule with a constant input passes that input as the event itself\): start must be a number; end must be a number$/,
    ],
    [
      'a Scheduled Event envelope with a bad detail',
      envelope({ start: 0, end: 100, backend: 'gpu' }),
      /^EventBridge "Scheduled Event" event: .*: backend must be one of/,
    ],
    [
      'an envelope whose detail is null',
      envelope(null),
      /^EventBridge "Scheduled Event" event: .*expected object, received null$/,
    ],
  ])('%s', async (_label, event, message) => {
    const reply = await fanout(event, context);
    expect(reply).toEqual({ error: { code: 'INVALID_INPUT', message: expect.stringMatching(message) } });
    expect(reply).not.toHaveProperty('chunks');
    expectNoStackTrace(reply);
  });
});

describe('primes-worker: invalid tasks throw a UserError whose Lambda rendering has a code, a message and no stack', () => {
  it('control: a valid task is counted, with the facts the fan-out takes out for its timeline', async () => {
    expect(await worker({ start: 0, end: 1000 }, context)).toEqual({
      start: 0,
      end: 1000,
      count: 168,
      ms: expect.any(Number),
      fanoutWorker: {
        startedAt: expect.any(Number),
        endedAt: expect.any(Number),
        workerId: expect.stringMatching(/^lambda-/),
        coldStart: expect.any(Boolean),
      },
    });
  });

  it.each<[string, unknown, string, RegExp]>([
    ['an empty object', {}, 'INVALID_INPUT', /^start must be a number; end must be a number$/],
    [
      'numbers as strings',
      { start: '0', end: '100' },
      'INVALID_INPUT',
      /^start must be a number; end must be a number$/,
    ],
    ['"1e400"', { start: 0, end: '1e400' }, 'INVALID_INPUT', /^end must be a number$/],
    ['a negative start', { start: -1, end: 10 }, 'INVALID_INPUT', /^start must be ≥ 0$/],
    ['start > end', { start: 10, end: 5 }, 'INVALID_INPUT', /^start must be ≤ end/],
    ['end > 2^53', { start: 0, end: 2 ** 53 + 2 }, 'INVALID_INPUT', /^end must be ≤ 2\^53/],
    [
      'floats',
      { start: 0.5, end: 10.5 },
      'INVALID_INPUT',
      /^start must be a whole number; end must be a whole number$/,
    ],
    ['null', null, 'INVALID_INPUT', /^\(task\): .*expected object, received null$/],
    ['a string', '{"start":0,"end":10}', 'INVALID_INPUT', /^\(task\): .*expected object, received string$/],
    ['an array', [], 'INVALID_INPUT', /^\(task\): .*expected object, received array$/],
    [
      'includePrimes over the limit (10^7 + 1 numbers)',
      { start: 0, end: 10_000_001, includePrimes: true },
      'RANGE_TOO_LARGE',
      /^includePrimes is limited to ranges of 10,000,000 numbers per chunk; split the range into more chunks$/,
    ],
    [
      'includePrimes over 2^53 wide',
      { start: 0, end: 2 ** 53, includePrimes: true },
      'INVALID_INPUT',
      /^end: a chunk spans at most 100000000000 numbers \(10\^11\), got 9007199254740992/,
    ],
    [
      'a chunk over 10^11 numbers',
      { start: 1e15, end: 1e15 + 1e11 + 1 },
      'INVALID_INPUT',
      /^end: a chunk spans at most 100000000000 numbers \(10\^11\), got 100000000001: split the range into more chunks$/,
    ],
    [
      'includePrimes "yes"',
      { start: 0, end: 10, includePrimes: 'yes' },
      'INVALID_INPUT',
      /^includePrimes must be true or false$/,
    ],
    ['a fan-out option', { start: 0, end: 10, chunks: 4 }, 'INVALID_INPUT', /^\(task\): Unrecognized key: "chunks"$/],
    [
      'an EventBridge envelope (the worker is only invoked by the fan-out)',
      envelope({ start: 0, end: 10 }),
      'INVALID_INPUT',
      /start must be a number; end must be a number; \(task\): Unrecognized keys: "version", "id", "detail-type"/,
    ],
  ])('%s', async (_label, task, code, message) => {
    const error = await worker(task, context).then(
      (value) => {
        throw new Error(`expected the worker to refuse the task, got ${JSON.stringify(value)}`);
      },
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: 'UserError', code, message: expect.stringMatching(message) });
    // What `sls invoke -f primes-worker` prints, and what the fan-out reads (errorType, errorMessage).
    const reply = lambdaErrorReply(error);
    expect(reply.errorMessage).toMatch(message);
    expect(reply.trace.join('\n')).not.toMatch(STACK_FRAME);
    expectNoStackTrace(reply);
  });
});
