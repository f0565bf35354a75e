/**
 * The rates-worker handler (functions/rates-worker.ts), in process: a task it refuses fails the invocation (a
 * worker's errors are thrown, not answered, so the coordinator's fan-out sees a FunctionError naming the chunk),
 * with a Lambda rendering that has the code, the message and no stack. Its S3 endpoint is a closed port: a refused
 * task must fail before any request, and the control case shows what a task that gets as far as S3 does.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StatsRounds } from '../../lib/rates/parallel/stats-rounds.ts';
import {
  closedPort,
  expectNoStackTrace,
  lambdaContext,
  lambdaErrorReply,
  quietObservability,
  STACK_FRAME,
} from '../support/bad-input.ts';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
let worker: Handler;
const context = lambdaContext('cloud-parallel-test-rates-worker');

beforeAll(async () => {
  quietObservability();
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  vi.stubEnv('AWS_MAX_ATTEMPTS', '1');
  vi.stubEnv('S3_FORCE_PATH_STYLE', 'true');
  vi.stubEnv('AWS_ENDPOINT_URL_S3', `http://127.0.0.1:${await closedPort()}`);
  // The handler builds its S3 client when the module loads.
  ({ handler: worker } = (await import('../../functions/rates-worker.ts')) as { handler: Handler });
});

afterAll(() => {
  vi.unstubAllEnvs();
});

const statsTask = (key: string) => ({
  kind: 'stats',
  values: { bucket: 'rates-worker-test', key, eTag: '"e"', count: 1 },
  plan: new StatsRounds({ n: 1, min: 0, max: 1, bins: 4 }).plan,
});

async function failure(task: unknown): Promise<unknown> {
  return worker(task, context).then(
    (value) => {
      throw new Error(`expected the worker to fail, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
}

describe('rates-worker: refused tasks fail the invocation with a UserError and no stack', () => {
  it.each<[string, unknown, RegExp]>([
    ['null', null, /^not a rates worker task: \(task\): .*expected object, received null/],
    ['an unknown kind', { kind: 'sort' }, /^not a rates worker task: kind: /],
    [
      'a values key outside runs/rates/',
      statsTask('results/x/rates.csv'),
      /values\.key: must be a key under runs\/rates\//,
    ],
    ['a key that climbs out', statsTask('runs/rates/../../x'), /without "\." or "\.\." segments/],
  ])('%s', async (_label, task, message) => {
    const error = await failure(task);
    expect(error).toMatchObject({ name: 'UserError', code: 'INVALID_INPUT', message: expect.stringMatching(message) });
    const reply = lambdaErrorReply(error);
    expect(reply.errorMessage).toMatch(message);
    expect(reply.trace.join('\n')).not.toMatch(STACK_FRAME);
    expectNoStackTrace(reply);
  });

  it('control: a valid task goes on to read S3 (here: nothing listens) and fails naming the object', async () => {
    const error = await failure(statsTask('runs/rates/r/0.values'));
    expect(error).toMatchObject({ name: 'RatesWorkerError' });
    expect((error as Error).message).toMatch(/^reading s3:\/\/rates-worker-test\/runs\/rates\/r\/0\.values failed: /);
  });
});
