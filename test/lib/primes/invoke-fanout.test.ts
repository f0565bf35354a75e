/**
 * A primes run handed to the fan-out function (lib/primes/invoke-fanout.ts): the input is checked with the fan-out's
 * schema before anything is sent; the reply is a run, a refusal (UserError) or a failure, each in words. The Lambda
 * client is real; a middleware at its first step answers instead of the network and records what was sent.
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../lib/errors.ts';
import { FanoutInvocationError, invokePrimesFanout, readReply } from '../../../lib/primes/invoke-fanout.ts';

function fakeLambda(reply: { FunctionError?: string; payload: unknown }) {
  const sent: { FunctionName?: string; InvocationType?: string; event: unknown }[] = [];
  const client = new LambdaClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    endpoint: 'http://127.0.0.1:1',
  });
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      expect(context.commandName).toBe('InvokeCommand');
      const input = args.input as { FunctionName?: string; InvocationType?: string; Payload: Uint8Array };
      sent.push({ ...input, event: JSON.parse(new TextDecoder().decode(input.Payload)) });
      const Payload = new TextEncoder().encode(JSON.stringify(reply.payload));
      return { output: { StatusCode: 200, FunctionError: reply.FunctionError, Payload, $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'answerInvoke' },
  );
  return { client, sent };
}

const run = {
  runId: 'r1',
  start: 100_000_000,
  end: 101_000_000,
  backend: 'lambda',
  count: 54_208,
  complete: true,
  wallMs: 900,
  workerMs: 1800,
  speedup: 2,
  chunks: [],
  failedChunks: [],
  cost: null,
};

describe('invokePrimesFanout', () => {
  it('sends the checked input synchronously to the function and returns its run', async () => {
    const lambda = fakeLambda({ payload: run });
    const result = await invokePrimesFanout(lambda.client, 'svc-dev-primes-fanout', {
      start: 100_000_000,
      end: 101_000_000,
      chunks: 4,
    });
    expect(result).toEqual(run);
    expect(lambda.sent).toEqual([
      {
        FunctionName: 'svc-dev-primes-fanout',
        InvocationType: 'RequestResponse',
        Payload: expect.anything(),
        event: { start: 100_000_000, end: 101_000_000, chunks: 4, backend: 'lambda' },
      },
    ]);
  });

  it('refuses a bad range in words and invokes nothing', async () => {
    const lambda = fakeLambda({ payload: run });
    await expect(invokePrimesFanout(lambda.client, 'f', { start: 10, end: 5, chunks: 2 })).rejects.toThrow(
      new UserError('INVALID_INPUT', 'start must be ≤ end (the range is [start, end))'),
    );
    await expect(
      invokePrimesFanout(lambda.client, 'f', { start: 1, end: 5, chunks: 2, backend: 'local' }),
    ).rejects.toThrow(/runs only from the CLI/);
    expect(lambda.sent).toEqual([]);
  });
});

describe('readReply', () => {
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  it('a refusal by the function is a UserError with its code and message', () => {
    const reply = bytes({ error: { code: 'INVALID_INPUT', message: 'chunks must be at most 10000' } });
    expect(() => readReply('f', undefined, reply)).toThrow(
      new UserError('INVALID_INPUT', 'chunks must be at most 10000'),
    );
  });

  it('a function that threw, or answered something else, is a FanoutInvocationError naming it', () => {
    const threw = bytes({ errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 900.00 seconds' });
    expect(() => readReply('f', 'Unhandled', threw)).toThrow(
      new FanoutInvocationError('f failed (Sandbox.Timedout): Task timed out after 900.00 seconds'),
    );
    expect(() => readReply('f', undefined, new TextEncoder().encode('<html>'))).toThrow(
      'f answered with a payload that is not JSON: <html>',
    );
    expect(() => readReply('f', undefined, bytes({ count: 3 }))).toThrow(
      /^f replied with something other than a primes run: runId: /,
    );
  });
});
