/**
 * The error root (lib/errors.ts) and the handlers' error middleware (lib/middleware/job-errors.ts): which errors are
 * answered, which fail the invocation, and that the metrics middleware still flushes what a rejection recorded.
 * Outside Lambda, logs and EMF go to stderr, which is what is captured here.
 */
import middy from '@middy/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CloudParallelError, ConfigError, InfrastructureError, UserError } from '../../../lib/errors.ts';
import { EventDecodeError } from '../../../lib/aws/s3-event.ts';
import { FanoutError } from '../../../lib/fanout/errors.ts';
import { failsInvocation, jobErrors } from '../../../lib/middleware/job-errors.ts';
import { observability } from '../../../lib/observability.ts';
import { RatesBatchError } from '../../../lib/rates/index.ts';
import { RatesFileError } from '../../../lib/rates/errors.ts';
import { RatesPublishError } from '../../../lib/rates/job.ts';
import { lambdaContext } from '../../support/lambda-context.ts';
import { settle } from '../../support/settle.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs `fn` with stderr captured; returns its JSON lines and the outcome. */
async function capture(fn: () => Promise<unknown>) {
  let text = '';
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  }) as typeof process.stderr.write);
  const outcome = await settle(fn).finally(() => vi.restoreAllMocks());
  const lines = text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { ...outcome, lines };
}

describe('the error root', () => {
  it('sorts every error class of lib/ under one root, by kind', () => {
    const user = [new UserError('X', 'x'), new RatesFileError('EMPTY_FILE', 'empty'), new EventDecodeError('bad key')];
    for (const error of user) expect(error).toBeInstanceOf(UserError);
    expect(new ConfigError('bad')).not.toBeInstanceOf(UserError);
    const infrastructure = [
      new RatesBatchError('m', [], []),
      new RatesPublishError('results/x/', new Error('S3')),
      new FanoutError('transport', 'T', 'm'),
    ];
    for (const error of infrastructure) expect(error).toBeInstanceOf(InfrastructureError);
    for (const error of [...user, new ConfigError('bad'), ...infrastructure])
      expect(error).toBeInstanceOf(CloudParallelError);
  });

  it('keeps the codes, names and messages the front ends print', () => {
    const file = new RatesFileError('NOT_CSV', 'not CSV');
    expect([file.code, file.name, file.message, file.stack]).toEqual([
      'NOT_CSV',
      'RatesFileError',
      'not CSV',
      'RatesFileError: not CSV',
    ]);
    const decode = new EventDecodeError('bad key');
    expect([decode.code, decode.message]).toEqual(['INVALID_EVENT', 'bad key']);
    expect(new ConfigError('bad').code).toBe('INVALID_CONFIG');
  });

  it('gives infrastructure errors a code that adds no field to a log line or a JSON copy', () => {
    const error = new RatesPublishError('results/x/', new Error('S3 is down'));
    expect(error.code).toBe('PUBLISH_FAILED');
    expect(Object.keys(error)).not.toContain('code');
    expect(new FanoutError('throttled', 'T', 'm').code).toBe('FANOUT_THROTTLED');
  });
});

describe('jobErrors', () => {
  const context = lambdaContext('fn', 'req-1');

  it('answers a UserError, records the rejection, and the metrics are still flushed', async () => {
    const handler = middy(async () => {
      throw new UserError('INVALID_INPUT', 'cities must name at least one city');
    })
      .use(observability())
      .use(jobErrors({ job: 'scrape' }));
    const run = await capture(() => handler({}, context));
    expect(run.value).toEqual({ error: { code: 'INVALID_INPUT', message: 'cities must name at least one city' } });
    expect(run.lines.find((line) => line.message === 'input rejected')).toMatchObject({
      level: 'WARN',
      function_request_id: 'req-1',
      job: 'scrape',
      error: { code: 'INVALID_INPUT', message: 'cities must name at least one city' },
    });
    expect(run.lines.find((line) => '_aws' in line)).toMatchObject({ job: 'scrape', InvalidInput: 1 });
  });

  it('records any other error as the failure and rethrows it', async () => {
    const boom = new Error('MongoDB is down');
    const handler = middy(async () => {
      throw boom;
    })
      .use(observability())
      .use(jobErrors({ job: 'scrape' }));
    const run = await capture(() => handler({}, context));
    expect(run.error).toBe(boom);
    expect(run.lines.find((line) => line.message === 'scrape invocation failed')).toMatchObject({
      level: 'ERROR',
      error: { message: 'MongoDB is down' },
    });
  });

  it('fails the invocation on a UserError from a step passed through failsInvocation', async () => {
    const refused = new UserError('INVALID_INPUT', 'start must be a number');
    const recorded: unknown[] = [];
    const handler = middy(async () => failsInvocation(Promise.reject(refused)))
      .use(observability())
      .use(jobErrors({ job: 'primes-worker', recordFailure: (error) => recorded.push(error) }));
    const run = await capture(() => handler({}, context));
    expect(run.error).toBe(refused);
    expect(recorded).toEqual([refused]);
    expect(run.lines.some((line) => line.message === 'input rejected')).toBe(false);
  });
});
