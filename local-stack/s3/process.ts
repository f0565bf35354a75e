/**
 * The local stack's S3 process: the S3-compatible server plus the part of S3 that AWS runs for us —
 * delivering event notifications to Lambda. Deliveries go through the Lambda Invoke API
 * (serverless-offline) with InvocationType "Event", as S3 invokes functions asynchronously on AWS.
 *
 * Started by local-stack/stack.ts as `node --import tsx local-stack/s3/process.ts <json options>`.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { credentialsFromEnvironment } from '../shared/request-guard.ts';
import { startS3Server, type NotificationRule } from './server.ts';
import { closeOnSignals } from '../shared/server-process.ts';

interface S3ProcessOptions {
  port: number;
  host: string;
  directory: string;
  region: string;
  buckets: string[];
  rules: NotificationRule[];
  lambdaEndpoint: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as S3ProcessOptions;

// The stack's credentials, from the environment the stack started this process with: S3 accepts requests signed
// with them, and deliveries are signed with them, as the Lambda front accepts nothing else.
const credentials = credentialsFromEnvironment();
const lambda = new LambdaClient({
  endpoint: options.lambdaEndpoint,
  region: options.region,
  credentials,
  maxAttempts: 5,
});

function log(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
}

const server = await startS3Server({
  port: options.port,
  host: options.host,
  directory: options.directory,
  buckets: options.buckets,
  region: options.region,
  rules: options.rules,
  silent: true,
  credentials,
  onNotification: async (target, event) => {
    const response = await lambda.send(
      new InvokeCommand({ FunctionName: target, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify(event)) }),
    );
    log({ msg: 'notification delivered', target, status: response.StatusCode, records: event.Records.length });
  },
});

log({ msg: 'ready', ready: true, endpoint: server.endpoint });

closeOnSignals({ name: 's3', what: 'shutting down', graceMs: 5000, close: () => server.close() });
