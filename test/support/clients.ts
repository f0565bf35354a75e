/** SDK clients for the tests that talk to a local server: signed with the test credentials, one attempt, no retries. */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { TEST_CREDENTIALS } from './signing.ts';

/** A Lambda client for `endpoint` (a local Lambda front), failing at once so a test sees the first answer. */
export function testLambdaClient(endpoint: string): LambdaClient {
  return new LambdaClient({ endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS, maxAttempts: 1 });
}
