/**
 * An asynchronous invocation through the Lambda front: answered 202 at once, as Lambda does, and run behind it as a
 * synchronous one — serverless-offline does not await an Event invocation, so a handler that throws would end it.
 * The upstream here stands in for serverless-offline (not our code): it records what reached it and fails slowly.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FRONT_TOKEN_HEADER, type RunningLambdaFront, startLambdaFront } from '../../../local-stack/lambda/front.ts';
import { testLambdaClient } from '../../support/clients.ts';
import { TEST_CREDENTIALS } from '../../support/signing.ts';

const TOKEN = 'front-token-of-the-async-test-0123456789';
let upstream: http.Server;
let front: RunningLambdaFront;
const reached: { type: string | undefined; token: string | undefined; body: string }[] = [];
/** Answers the held invocation: the test decides when the handler "finishes". */
let finish: (() => void) | undefined;
const logged: string[] = [];

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      reached.push({
        type: req.headers['x-amz-invocation-type'] as string | undefined,
        token: req.headers[FRONT_TOKEN_HEADER] as string | undefined,
        body: Buffer.concat(parts).toString(),
      });
      // The handler throws once the test lets it: serverless-offline's answer to a synchronous invocation that failed.
      finish = () =>
        res
          .writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' })
          .end('{"errorType":"RatesBatchError","errorMessage":"1 of 1 rates run(s) failed"}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  front = await startLambdaFront({
    port: 0,
    target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    credentials: TEST_CREDENTIALS,
    token: TOKEN,
    silent: true,
    log: (line) => logged.push(line),
  });
});

afterAll(async () => {
  await front?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

it('answers 202 at once, runs the invocation synchronously behind it and logs its failure', async () => {
  const lambda = testLambdaClient(front.endpoint);
  const answer = await lambda.send(
    new InvokeCommand({ FunctionName: 'cloud-parallel-dev-rates', InvocationType: 'Event', Payload: '{"key":"k"}' }),
  );
  // Answered while the invocation is still running behind the front.
  expect(answer.StatusCode).toBe(202);
  expect(answer.FunctionError).toBeUndefined();
  await expect.poll(() => reached.length, { timeout: 5000 }).toBe(1);
  expect(logged).toEqual([]);
  finish?.();
  await expect.poll(() => logged.length, { timeout: 5000 }).toBe(1);
  expect(reached).toEqual([{ type: 'RequestResponse', token: TOKEN, body: '{"key":"k"}' }]);
  expect(logged[0]).toMatch(/async invocation .*cloud-parallel-dev-rates.* failed \(200\): .*RatesBatchError/);
  lambda.destroy();
});
