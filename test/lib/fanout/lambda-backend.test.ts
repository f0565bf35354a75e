/** The Lambda backend against a mocked LambdaClient: the request it sends and how each reply or error maps. */
import {
  InvokeCommand,
  LambdaClient,
  ResourceNotFoundException,
  ServiceException,
  TooManyRequestsException,
  type InvokeCommandOutput,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { fanout, FanoutError, lambdaBackend, type FanoutOptions } from '../../../lib/fanout/index.ts';

const lambda = mockClient(LambdaClient);
const client = new LambdaClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
});
const noWait = { sleep: async () => {} } satisfies FanoutOptions;

/** A reply as the SDK hands it over. The SDK's Payload type adds string helpers the backend does not use. */
function reply(payload: unknown, extra: Partial<InvokeCommandOutput> = {}): InvokeCommandOutput {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return {
    StatusCode: 200,
    Payload: new TextEncoder().encode(body) as InvokeCommandOutput['Payload'],
    $metadata: { httpStatusCode: 200 },
    ...extra,
  };
}

const throttled = () => new TooManyRequestsException({ message: 'Rate Exceeded.', $metadata: { httpStatusCode: 429 } });

beforeEach(() => lambda.reset());
afterAll(() => lambda.restore());

describe('lambda backend', () => {
  it('invokes synchronously with the task as a JSON payload and returns the JSON reply, in task order', async () => {
    lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array }) => {
      const task = JSON.parse(new TextDecoder().decode(input.Payload)) as { n: number };
      return reply({ square: task.n * task.n });
    });
    const backend = lambdaBackend<{ n: number }, { square: number }>({
      client,
      functionName: 'cloud-parallel-dev-worker',
    });
    const result = await fanout([{ n: 2 }, { n: 3 }, { n: 4 }], backend);
    expect(result.outcomes.map((o) => o.ok && o.value)).toEqual([{ square: 4 }, { square: 9 }, { square: 16 }]);

    const calls = lambda.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(3);
    for (const call of calls) {
      const input = call.args[0].input;
      expect(input).toMatchObject({ FunctionName: 'cloud-parallel-dev-worker', InvocationType: 'RequestResponse' });
      expect(input.Payload).toBeInstanceOf(Uint8Array);
    }
    const payloads = calls.map(
      (c) => JSON.parse(new TextDecoder().decode(c.args[0].input.Payload as Uint8Array)) as unknown,
    );
    expect(payloads.sort((a, b) => (a as { n: number }).n - (b as { n: number }).n)).toEqual([
      { n: 2 },
      { n: 3 },
      { n: 4 },
    ]);
    expect(backend.name).toBe('lambda:cloud-parallel-dev-worker');
  });

  it('sends an undefined task as null and reads an empty reply as null', async () => {
    lambda.on(InvokeCommand).resolves(reply(''));
    const result = await fanout([undefined], lambdaBackend({ client, functionName: 'f' }));
    expect(result.outcomes[0]).toMatchObject({ ok: true, value: null });
    expect(new TextDecoder().decode(lambda.commandCalls(InvokeCommand)[0]?.args[0].input.Payload as Uint8Array)).toBe(
      'null',
    );
  });

  it('checks the reply with parse', async () => {
    lambda.on(InvokeCommand).resolves(reply({ count: '12' }));
    const parse = (payload: unknown): number => {
      const count = (payload as { count?: unknown }).count;
      if (typeof count !== 'number') throw new Error(`count must be a number, got ${JSON.stringify(count)}`);
      return count;
    };
    const result = await fanout([1], lambdaBackend<number, number>({ client, functionName: 'f', parse }), noWait);
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      error: {
        kind: 'function',
        type: 'InvalidResult',
        message: expect.stringContaining('count must be a number, got "12"'),
      },
    });
  });

  it("maps FunctionError to a function failure with the worker's errorType and errorMessage, not retried", async () => {
    lambda.on(InvokeCommand).resolves(
      reply(
        {
          errorType: 'RangeError',
          errorMessage: 'start must be below end',
          trace: ['RangeError: start must be below end', '    at ...'],
        },
        { FunctionError: 'Unhandled' },
      ),
    );
    const result = await fanout([{ start: 10, end: 1 }], lambdaBackend({ client, functionName: 'f' }), noWait);
    expect(result.outcomes[0]).toEqual({
      index: 0,
      ok: false,
      attempts: 1,
      ms: expect.any(Number),
      error: { kind: 'function', type: 'RangeError', message: 'start must be below end' },
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);
  });

  it.each([
    [
      'a worker process that died (out of memory, killed)',
      {
        errorType: 'Runtime.ExitError',
        errorMessage: 'RequestId: 1f2e Error: Runtime exited with error: signal: killed',
      },
    ],
    [
      'a worker that ran out of time',
      { errorType: 'Sandbox.Timedout', errorMessage: 'RequestId: 1f2e Error: Task timed out after 900.00 seconds' },
    ],
    [
      'a worker that hit its memory limit',
      {
        errorType: 'Runtime.OutOfMemory',
        errorMessage: 'RequestId: 1f2e Error: Runtime exited with error: signal: killed',
      },
    ],
  ])('names the chunk of %s, keeps every other chunk, and does not relaunch it', async (_label, crash) => {
    // What Lambda answers for a worker whose runtime crashed: FunctionError "Unhandled" and the runtime's own error.
    lambda
      .on(InvokeCommand)
      .resolves(reply(1))
      .on(InvokeCommand, { Payload: new TextEncoder().encode(JSON.stringify(2)) })
      .resolves(reply(crash, { FunctionError: 'Unhandled' }));
    const result = await fanout([1, 2, 3], lambdaBackend({ client, functionName: 'f' }), noWait);
    expect(result.outcomes.map((outcome) => outcome.ok)).toEqual([true, false, true]);
    expect(result.outcomes[1]).toMatchObject({
      index: 1,
      attempts: 1,
      error: { kind: 'function', type: crash.errorType, message: crash.errorMessage },
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(3);
  });

  it('retries a FunctionError only with retryFunctionErrors', async () => {
    lambda
      .on(InvokeCommand)
      .resolvesOnce(reply({ errorMessage: 'Task timed out after 3.00 seconds' }, { FunctionError: 'Unhandled' }))
      .resolves(reply(7));
    const result = await fanout([1], lambdaBackend({ client, functionName: 'f' }), {
      ...noWait,
      retryFunctionErrors: true,
    });
    // A timeout reply has no errorType: the FunctionError value stands in for it.
    expect(result.outcomes[0]).toMatchObject({ ok: true, value: 7, attempts: 2 });
  });

  it('succeeds after 3 attempts when throttled twice', async () => {
    lambda
      .on(InvokeCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolves(reply({ ok: true }));
    const retrying: unknown[] = [];
    const result = await fanout([1], lambdaBackend({ client, functionName: 'f' }), {
      ...noWait,
      onProgress: (e) => e.kind === 'retrying' && retrying.push(e.error),
    });
    expect(result.outcomes[0]).toMatchObject({ ok: true, value: { ok: true }, attempts: 3 });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(3);
    expect(retrying).toEqual([
      { kind: 'throttled', type: 'TooManyRequestsException', message: 'Rate Exceeded.' },
      { kind: 'throttled', type: 'TooManyRequestsException', message: 'Rate Exceeded.' },
    ]);
  });

  it('retries a Lambda ServiceException', async () => {
    lambda
      .on(InvokeCommand)
      .rejectsOnce(new ServiceException({ message: 'internal', $metadata: { httpStatusCode: 500 } }))
      .resolves(reply(1));
    const result = await fanout([1], lambdaBackend({ client, functionName: 'f' }), noWait);
    expect(result.outcomes[0]).toMatchObject({ ok: true, attempts: 2 });
  });

  it('does not retry ResourceNotFoundException', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(new ResourceNotFoundException({ message: 'Function not found: f', $metadata: { httpStatusCode: 404 } }));
    const result = await fanout([1, 2], lambdaBackend({ client, functionName: 'f' }), noWait);
    expect(result.outcomes.map((o) => o.ok || o.error)).toEqual([
      { kind: 'transport', type: 'ResourceNotFoundException', message: 'Function not found: f' },
      { kind: 'transport', type: 'ResourceNotFoundException', message: 'Function not found: f' },
    ]);
    expect(result.outcomes.map((o) => o.attempts)).toEqual([1, 1]);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(2);
  });

  it('fails a reply that is not JSON without retrying', async () => {
    lambda.on(InvokeCommand).resolves(reply('<html>Bad Gateway</html>'));
    const result = await fanout([1], lambdaBackend({ client, functionName: 'f' }), noWait);
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      error: { kind: 'transport', type: 'InvalidResponsePayload' },
    });
  });

  it('fails a task that cannot be sent as JSON before calling Lambda', async () => {
    const backend = lambdaBackend<{ n: bigint }, unknown>({ client, functionName: 'f' });
    await expect(backend.run({ n: 1n }, { index: 0, attempt: 1 })).rejects.toMatchObject({
      kind: 'transport',
      type: 'InvalidTaskPayload',
      retryable: false,
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it('throws FanoutErrors from run itself, for callers that use a backend without fanout', async () => {
    lambda.on(InvokeCommand).rejects(throttled());
    const error = await lambdaBackend({ client, functionName: 'f' })
      .run(1, { index: 0, attempt: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FanoutError);
    expect(error).toMatchObject({ kind: 'throttled', retryable: true });
  });

  it('rejects an empty function name', () => {
    expect(() => lambdaBackend({ client, functionName: ' ' })).toThrow(/functionName/);
  });
});

describe('lambda backend: the worker facts of the timeline', () => {
  it('takes the fanoutWorker key out of the reply before the parser sees it, and records it on the attempt', async () => {
    const facts = { startedAt: 1000, endedAt: 1500, workerId: 'lambda-abc', coldStart: true };
    lambda.on(InvokeCommand).resolves(reply({ count: 7, fanoutWorker: facts }));
    const seen: unknown[] = [];
    const backend = lambdaBackend<number, unknown>({
      client,
      functionName: 'w',
      parse: (value) => {
        seen.push(value);
        return value;
      },
    });
    const result = await fanout([1], backend);
    expect(seen).toEqual([{ count: 7 }]);
    expect(result.outcomes[0]).toMatchObject({ ok: true, value: { count: 7 } });
    expect(result.trace.tasks[0]!.attempts[0]!.worker).toEqual(facts);
  });

  it('passes a reply without the key (or with facts it cannot read) on as it is, recording nothing', async () => {
    lambda
      .on(InvokeCommand)
      .resolvesOnce(reply([1, 2]))
      .resolvesOnce(reply({ count: 1, fanoutWorker: { startedAt: 'soon' } }));
    const result = await fanout([1, 2], lambdaBackend<number, unknown>({ client, functionName: 'w' }), {
      concurrency: 1,
    });
    expect(result.outcomes.map((o) => o.ok && o.value)).toEqual([[1, 2], { count: 1 }]);
    expect(result.trace.tasks.map((t) => t.attempts[0]!.worker)).toEqual([undefined, undefined]);
  });
});
