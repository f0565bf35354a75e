/**
 * Malformed input is an error, never a crash: the EC2 endpoint and the Lambda front are sent thousands of requests
 * mutated from well-formed ones (bytes flipped, bodies cut, parameters doubled, methods and headers swapped), most of
 * them signed so they get past authentication and reach the parsers. Every request must be answered — with a 4xx,
 * or a 2xx where the mutation happened to leave a valid request — never a 5xx, a reset or silence; the servers must
 * still serve a well-formed request afterwards. (The S3 front and the MongoDB server have fuzz suites of their own:
 * s3/keys.test.ts and mongo/fuzz.test.ts.) Replay a seed with STACK_FUZZ_SEED.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_IMAGE_ID, startEc2Server, type RunningEc2Server } from '../../local-stack/ec2/server.ts';
import { startLambdaFront, type RunningLambdaFront } from '../../local-stack/lambda/front.ts';
import { rng } from '../support/random.ts';
import { signedHeaders, TEST_CREDENTIALS, type SigningService } from '../support/signing.ts';
import { testEc2Client, testLambdaClient } from '../support/clients.ts';

const SEED = Number(process.env.STACK_FUZZ_SEED ?? 20261203);
const REQUESTS = 2000;

interface Seed {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

const EC2_SEEDS: Seed[] = [
  'Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Aservice&Filter.1.Value.1=cloud-parallel&Filter.2.Name=instance-state-name&Filter.2.Value.1=running',
  'Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0&InstanceId.2=i-0fedcba9876543210',
  `Action=RunInstances&Version=2016-11-15&ImageId=${LOCAL_IMAGE_ID}&MinCount=1&MaxCount=1&InstanceType=c7i.large&InstanceInitiatedShutdownBehavior=terminate&MetadataOptions.HttpTokens=required&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=service&TagSpecification.1.Tag.1.Value=cloud-parallel`,
  'Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0',
  `Action=DescribeImages&Version=2016-11-15&ImageId.1=${LOCAL_IMAGE_ID}`,
  'Action=DescribeInstanceStatus&Version=2016-11-15&IncludeAllInstances=true',
].map((body) => ({
  method: 'POST',
  path: '/',
  headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  body,
}));

const LAMBDA_SEEDS: Seed[] = [
  {
    method: 'POST',
    path: '/2015-03-31/functions/cloud-parallel-dev-primes-worker/invocations',
    headers: { 'content-type': 'application/json' },
    body: '{"start":0,"end":1000}',
  },
  {
    method: 'POST',
    path: '/2015-03-31/functions/cloud-parallel-dev-rates/invocations',
    headers: { 'x-amz-invocation-type': 'Event' },
    body: '{"Records":[{"s3":{"object":{"key":"uploads%2Fa.csv"}}}]}',
  },
  {
    method: 'POST',
    path: '/2015-03-31/functions/cloud-parallel-dev-scrape%3A%24LATEST/invocations?Qualifier=%24LATEST',
    headers: { 'x-amz-log-type': 'Tail' },
    body: '',
  },
];

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'];
const NASTY = [
  '',
  '%',
  '%zz',
  '..',
  '/',
  '&&&',
  '==',
  '\u0000',
  '\u00ff',
  'é',
  '🙂',
  '+',
  ' ',
  '%00',
  'a'.repeat(5000),
];

function mutate(seed: Seed, random: () => number): Seed {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const request = { ...seed, headers: { ...seed.headers } };
  const operations = 1 + Math.floor(random() * 3);
  for (let i = 0; i < operations; i++) {
    const bytes = Buffer.from(request.body, 'latin1');
    switch (Math.floor(random() * 10)) {
      case 0: // flip a byte
        if (bytes.length > 0) bytes[Math.floor(random() * bytes.length)]! ^= 1 << Math.floor(random() * 8);
        request.body = bytes.toString('latin1');
        break;
      case 1: // cut the body
        request.body = request.body.slice(0, Math.floor(random() * request.body.length));
        break;
      case 2: // double a parameter, or a piece of the body
        request.body += request.body.slice(Math.floor(random() * request.body.length));
        break;
      case 3: // a nasty value somewhere
        request.body = request.body.replace(/=[^&]*/, `=${pick(NASTY)}`);
        break;
      case 4:
        request.method = pick(METHODS);
        break;
      case 5: // the body moved into the query
        request.path = `${request.path.split('?')[0]}?${request.body}`;
        request.body = '';
        break;
      case 6:
        request.path = request.path.replace(
          /[^/]+(?=\/|$)/,
          // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this fuzz case replaces
          pick(NASTY).replace(/[\u0000-\u001f\u007f-\uffff ]/g, '%C3%A9'),
        );
        break;
      case 7:
        request.headers['content-type'] = pick([
          'text/plain',
          'application/json',
          'multipart/form-data; boundary=x',
          'application/x-www-form-urlencoded; charset=latin1',
          '',
        ]);
        break;
      case 8: // a huge body
        request.body += 'x'.repeat(Math.floor(random() * 200_000));
        break;
      default: // random bytes
        request.body = Buffer.from(
          Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)),
        ).toString('latin1');
    }
  }
  return request;
}

interface Outcome {
  status: number | string;
}

async function fire(endpoint: string, service: SigningService, request: Seed, sign: boolean): Promise<Outcome> {
  const url = new URL(endpoint);
  const body = Buffer.from(request.body, 'latin1');
  const bodyless = request.method === 'GET' || request.method === 'HEAD';
  let headers: Record<string, string> = {
    ...request.headers,
    ...(bodyless ? {} : { 'content-length': String(body.length) }),
  };
  if (sign) {
    headers = await signedHeaders(endpoint, service, {
      method: request.method,
      path: request.path,
      headers,
      body,
    }).catch(() => headers);
  }
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: request.method,
          path: request.path,
          headers,
          agent: false,
          timeout: 10_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
          res.on('error', (error) => resolve({ status: `response error: ${error.message}` }));
        },
      );
    } catch {
      // Node's client will not send it (a path with raw non-ASCII or control characters), so no server can get it.
      resolve({ status: 'not sendable' });
      return;
    }
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: `request error: ${error.code ?? error.message}` }),
    );
    req.end(bodyless ? undefined : body);
  });
}

async function fuzz(endpoint: string, service: SigningService, seeds: Seed[], seed: number) {
  const random = rng(seed);
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const request = mutate(seeds[Math.floor(random() * seeds.length)]!, random);
    const { status } = await fire(endpoint, service, request, random() < 0.85);
    statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
    // A client may see its connection end when it sent more than the server reads (a too-large body): that is
    // the server refusing, not failing. Anything else that is not an HTTP answer below 500 is a defect.
    const refusedBody =
      typeof status === 'string' && /EPIPE|ECONNRESET/.test(status) && request.body.length > 1_000_000;
    if (
      (typeof status === 'number' && status >= 500) ||
      (typeof status === 'string' && !refusedBody && status !== 'not sendable')
    ) {
      failures.push(`#${i} ${request.method} ${request.path.slice(0, 80)} → ${status}`);
    }
  }
  return { statuses, failures };
}

describe(`fuzzing the EC2 endpoint and the Lambda front (seed ${SEED})`, () => {
  let dir: string;
  let ec2: RunningEc2Server;
  let target: http.Server;
  let front: RunningLambdaFront;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cp-stack-fuzz-'));
    ec2 = await startEc2Server({
      port: 0,
      directory: dir,
      pendingMs: 0,
      maxInstances: 4,
      silent: true,
      credentials: TEST_CREDENTIALS,
    });
    target = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    front = await startLambdaFront({
      port: 0,
      target: `http://127.0.0.1:${(target.address() as AddressInfo).port}`,
      credentials: TEST_CREDENTIALS,
      token: 'x'.repeat(40),
      silent: true,
    });
  });
  afterAll(async () => {
    await front?.close();
    await new Promise((resolve) => target?.close(resolve));
    await ec2?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`the EC2 endpoint answers ${REQUESTS} mutated requests, none with a 5xx, and still serves the SDK`, async () => {
    const { statuses, failures } = await fuzz(ec2.endpoint, 'ec2', EC2_SEEDS, SEED);
    process.stdout.write(
      `ec2 fuzz: ${REQUESTS} requests, statuses ${JSON.stringify(statuses)}, ${failures.length} failures\n`,
    );
    expect(failures).toEqual([]);
    expect(ec2.instances().length).toBeLessThanOrEqual(4 * REQUESTS);
    const client = testEc2Client(ec2.endpoint);
    try {
      expect((await client.send(new DescribeInstancesCommand({}))).$metadata.httpStatusCode).toBe(200);
    } finally {
      client.destroy();
    }
  }, 120_000);

  it(`the Lambda front answers ${REQUESTS} mutated requests, none with a 5xx, and still forwards the SDK's`, async () => {
    const { statuses, failures } = await fuzz(front.endpoint, 'lambda', LAMBDA_SEEDS, SEED + 1);
    process.stdout.write(
      `lambda front fuzz: ${REQUESTS} requests, statuses ${JSON.stringify(statuses)}, ${failures.length} failures\n`,
    );
    expect(failures).toEqual([]);
    const lambda = testLambdaClient(front.endpoint);
    try {
      const reply = await lambda.send(new InvokeCommand({ FunctionName: 'f', Payload: Buffer.from('{}') }));
      expect(Buffer.from(reply.Payload!).toString()).toBe('{"ok":true}');
    } finally {
      lambda.destroy();
    }
  }, 120_000);
});
