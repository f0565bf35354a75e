import { LambdaClient } from '@aws-sdk/client-lambda';

/**
 * The one way this project builds a Lambda client; the endpoint comes from AWS_ENDPOINT_URL_LAMBDA when
 * set (the local stack), like every other SDK setting. One attempt per call: the fan-out retries with
 * its own backoff and jitter, and two stacked retry layers would multiply the attempts.
 */
export function createLambdaClient(): LambdaClient {
  return new LambdaClient({
    maxAttempts: 1,
    // The SDK's default of 50 sockets would quietly cap a fan-out's concurrency; a worker can run for
    // minutes, so each in-flight invocation holds its socket that long.
    requestHandler: { httpAgent: { maxSockets: 1000, keepAlive: true }, httpsAgent: { maxSockets: 1000, keepAlive: true } },
  });
}
