/**
 * Only the user's own tools get into the local stack: every AWS-shaped endpoint (S3, EC2, the Lambda front) checks a
 * SigV4 signature made with the stack's credentials, and refuses what a browser sends for a web page before doing
 * anything. Requests are sent with node:http, byte for byte (nothing normalises the path or adds headers), and
 * signed with the SDK's own signer (test/support/signing.ts), so "accepted" means "verified as AWS clients sign".
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { EC2Client, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiFixture } from '../../local-stack/api-fixture/index.ts';
import { spawnMongoServerProcess } from '../../local-stack/shared/child-server.ts';
import { credentialsFile, loadOrCreateStackCredentials } from '../../local-stack/shared/credentials.ts';
import { startEc2Server, type RunningEc2Server } from '../../local-stack/ec2/server.ts';
import { FRONT_TOKEN_HEADER, startLambdaFront, type RunningLambdaFront } from '../../local-stack/lambda/front.ts';
import { startS3Server, type RunningS3Server } from '../../local-stack/s3/server.ts';
import { verifySigV4 } from '../../local-stack/shared/sigv4.ts';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import { readStackState, resolveStackOptions, stackEnvironment, stopStack } from '../../local-stack/stack.ts';
import { presignedUrl, signedHeaders, TEST_CREDENTIALS, type SigningService } from '../support/signing.ts';
import { testLambdaClient, testS3Client } from '../support/clients.ts';

const BUCKET = 'auth-test-bucket';
const WRONG_SECRET = {
  accessKeyId: TEST_CREDENTIALS.accessKeyId,
  secretAccessKey: 'not-the-secret-of-this-stack-at-all',
};
const UNKNOWN_KEY = { accessKeyId: 'LCPSSOMEONEELSESKEY0', secretAccessKey: TEST_CREDENTIALS.secretAccessKey };

interface Answer {
  status: number;
  body: string;
}

function send(
  endpoint: string,
  request: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<Answer> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        setHost: request.headers?.host === undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });
}

/** A request signed for `service`, then optionally changed (headers added, host, body) as an attacker would. */
async function signed(
  endpoint: string,
  service: SigningService,
  request: { method: string; path: string; headers?: Record<string, string>; body?: string },
  options: {
    credentials?: typeof TEST_CREDENTIALS;
    addHeaders?: Record<string, string>;
    host?: string;
    body?: string;
  } = {},
) {
  const headers = await signedHeaders(
    options.host ? `http://${options.host}` : endpoint,
    service,
    { ...request, ...(request.body === undefined ? {} : { body: request.body }) },
    options.credentials ?? TEST_CREDENTIALS,
  );
  return {
    method: request.method,
    path: request.path,
    headers: { ...headers, ...options.addHeaders },
    body: options.body ?? request.body,
  };
}

type SignedRequest = Parameters<typeof signed>[2];

/**
 * One signed request as others could send it: from a page (with an Origin, or Sec-Fetch-Site cross-site or
 * same-site), through a DNS-rebound name (`rebindName` in Host), or signed by a stranger (the wrong secret, another
 * key id). Every endpoint must refuse each of them.
 */
async function hostileSigned(endpoint: string, service: SigningService, request: SignedRequest, rebindName: string) {
  const rebound = `${rebindName}:${new URL(endpoint).port}`;
  return {
    withOrigin: await signed(endpoint, service, request, { addHeaders: { origin: 'http://evil.example' } }),
    crossSite: await signed(endpoint, service, request, { addHeaders: { 'sec-fetch-site': 'cross-site' } }),
    sameSite: await signed(endpoint, service, request, { addHeaders: { 'sec-fetch-site': 'same-site' } }),
    rebound: await signed(endpoint, service, request, { host: rebound, addHeaders: { host: rebound } }),
    wrongSecret: await signed(endpoint, service, request, { credentials: WRONG_SECRET }),
    otherKey: await signed(endpoint, service, request, { credentials: UNKNOWN_KEY }),
  };
}

/** Sends each case to `endpoint` and expects its refusal: [what, request, status, error code]. */
async function expectEveryRefused(
  service: string,
  endpoint: string,
  cases: [string, Parameters<typeof send>[1], number, RegExp][],
): Promise<void> {
  for (const [what, request, status, code] of cases) {
    const answer = await send(endpoint, request);
    expect(answer.status, `${what}: ${answer.body}`).toBe(status);
    expectRefused(service, answer, status, code);
  }
}

/** How many hostile requests each endpoint was sent, and how many it refused: the figures the closing note quotes. */
const tally: Record<string, { tried: number; refused: number }> = {};
function expectRefused(endpoint: string, answer: Answer, status: number, code: RegExp): void {
  tally[endpoint] ??= { tried: 0, refused: 0 };
  tally[endpoint].tried += 1;
  expect(answer.status, answer.body).toBe(status);
  expect(answer.body).toMatch(code);
  tally[endpoint].refused += 1;
}
afterAll(() => {
  process.stdout.write(`hostile requests refused: ${JSON.stringify(tally)}\n`);
});

describe('verifySigV4', () => {
  const endpoint = 'http://127.0.0.1:4569';
  const request = async (service: SigningService, credentials = TEST_CREDENTIALS, body = '') => {
    const headers = await signedHeaders(
      endpoint,
      service,
      { method: 'POST', path: '/b/some%20key?x-id=PutObject&acl', body },
      credentials,
    );
    return { method: 'POST', url: '/b/some%20key?x-id=PutObject&acl', headers };
  };
  const verify = (
    req: Awaited<ReturnType<typeof request>>,
    service: 's3' | 'other',
    extra: { bodySha256?: string; now?: Date } = {},
  ) => verifySigV4(req, { credentials: TEST_CREDENTIALS, service, ...extra });

  it('accepts what the SDK signs, for S3 (path as sent) and other services (path encoded twice, body hashed)', async () => {
    expect(verify(await request('s3'), 's3')).toBeUndefined();
    const ec2 = await request('ec2', TEST_CREDENTIALS, 'Action=DescribeInstances');
    const { createHash } = await import('node:crypto');
    expect(
      verify(ec2, 'other', { bodySha256: createHash('sha256').update('Action=DescribeInstances').digest('hex') }),
    ).toBeUndefined();
    expect(
      verify(ec2, 'other', { bodySha256: createHash('sha256').update('Action=RunInstances').digest('hex') })?.reason,
    ).toBe('bad-signature');
  });

  it('names why a request is refused', async () => {
    const good = await request('s3');
    expect(verify(await request('s3', WRONG_SECRET), 's3')?.reason).toBe('bad-signature');
    expect(verify(await request('s3', UNKNOWN_KEY), 's3')?.reason).toBe('unknown-key');
    expect(verify({ ...good, url: '/b/other%20key?x-id=PutObject&acl' }, 's3')?.reason).toBe('bad-signature');
    expect(verify({ ...good, url: '/b/some%20key?x-id=PutObject&acl&uploads' }, 's3')?.reason).toBe('bad-signature');
    expect(verify({ ...good, method: 'PUT' }, 's3')?.reason).toBe('bad-signature');
    expect(
      verify({ ...good, headers: { ...good.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, 's3')?.reason,
    ).toBe('bad-signature');
    expect(verify({ ...good, headers: { ...good.headers, host: 'evil.example:4569' } }, 's3')?.reason).toBe(
      'bad-signature',
    );
    expect(verify(good, 's3', { now: new Date(Date.now() + 16 * 60_000) })?.reason).toBe('expired');
    expect(verify({ ...good, headers: { host: '127.0.0.1:4569' } }, 's3')?.reason).toBe('missing');
    expect(
      verify({ ...good, headers: { ...good.headers, authorization: 'AWS LCPSTESTCREDENTIALS0:c2lnbmF0dXJl' } }, 's3')
        ?.reason,
    ).toBe('malformed');
    expect(
      verify({ ...good, headers: { ...good.headers, authorization: 'AWS4-HMAC-SHA256 Credential=x' } }, 's3')?.reason,
    ).toBe('malformed');
    expect(verify({ ...good, url: '/b/k?%ZZ' }, 's3')?.reason).toBe('malformed');
  });

  it('checks presigned URLs and their expiry', async () => {
    const url = new URL(
      await presignedUrl(endpoint, 's3', { method: 'GET', path: '/b/k%2Bplus' }, TEST_CREDENTIALS, 60),
    );
    const req = { method: 'GET', url: `${url.pathname}${url.search}`, headers: { host: url.host } };
    expect(verifySigV4(req, { credentials: TEST_CREDENTIALS, service: 's3' })).toBeUndefined();
    expect(
      verifySigV4(req, { credentials: TEST_CREDENTIALS, service: 's3', now: new Date(Date.now() + 61_000) })?.reason,
    ).toBe('expired');
    expect(verifySigV4({ ...req, method: 'PUT' }, { credentials: TEST_CREDENTIALS, service: 's3' })?.reason).toBe(
      'bad-signature',
    );
    expect(
      verifySigV4(
        { ...req, url: req.url.replace('/b/k%2Bplus', '/b/other') },
        { credentials: TEST_CREDENTIALS, service: 's3' },
      )?.reason,
    ).toBe('bad-signature');
    expect(
      verifySigV4(
        { ...req, url: req.url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604800') },
        { credentials: TEST_CREDENTIALS, service: 's3' },
      )?.reason,
    ).toBe('bad-signature');
  });
});

describe('the stack credentials', () => {
  it('are made once per state directory, readable by the user alone, and exported by `local env`', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-creds-'));
    try {
      const first = loadOrCreateStackCredentials(dir);
      expect(first.accessKeyId).toMatch(/^LCPS[A-Z2-7]{16}$/);
      expect(first.secretAccessKey.length).toBeGreaterThanOrEqual(40);
      expect(statSync(credentialsFile(dir)).mode & 0o777).toBe(0o600);
      expect(loadOrCreateStackCredentials(dir)).toEqual(first);
      expect(loadOrCreateStackCredentials(mkdtempSync(path.join(os.tmpdir(), 'cp-creds-other-')))).not.toEqual(first);
      const env = stackEnvironment({
        s3Endpoint: 'http://127.0.0.1:1',
        lambdaEndpoint: 'http://127.0.0.1:2',
        ec2Endpoint: 'http://127.0.0.1:3',
        region: 'us-east-1',
        credentials: first,
      });
      expect(env).toMatchObject({ AWS_ACCESS_KEY_ID: first.accessKeyId, AWS_SECRET_ACCESS_KEY: first.secretAccessKey });
      expect(JSON.parse(readFileSync(credentialsFile(dir), 'utf8'))).toEqual(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('local S3 refuses what it did not sign, and what a page sends', () => {
  let dir: string;
  let server: RunningS3Server;
  let s3: S3Client;
  const notified: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cp-auth-s3-'));
    server = await startS3Server({
      port: 0,
      directory: path.join(dir, 'data'),
      buckets: [BUCKET],
      silent: true,
      credentials: TEST_CREDENTIALS,
      rules: [{ bucket: BUCKET, prefix: 'uploads/', events: ['s3:ObjectCreated:*'], target: 'rates' }],
      onNotification: (target, event) => void notified.push(`${target} ${event.Records[0]!.s3.object.key}`),
    });
    s3 = testS3Client(server.endpoint);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'private/secret.txt', Body: 'private' }));
    notified.length = 0;
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the SDK with the stack credentials works, presigned URLs too', async () => {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'private/secret.txt' }));
    expect(await object.Body!.transformToString()).toBe('private');
    const answer = await send(server.endpoint, {
      method: 'GET',
      path:
        new URL(await presignedUrl(server.endpoint, 's3', { method: 'GET', path: `/${BUCKET}/private/secret.txt` }))
          .pathname +
        new URL(await presignedUrl(server.endpoint, 's3', { method: 'GET', path: `/${BUCKET}/private/secret.txt` }))
          .search,
    });
    expect(answer).toEqual({ status: 200, body: 'private' });
  });

  it('refuses every hostile request, and none of them writes, reads or triggers anything', async () => {
    const e = server.endpoint;
    const host = new URL(e).host;
    const put = {
      method: 'PUT',
      path: `/${BUCKET}/uploads/evil.csv`,
      headers: { 'content-type': 'text/plain' },
      body: 'a,b\n1,2\n',
    };
    const form =
      '--x\r\nContent-Disposition: form-data; name="key"\r\n\r\nuploads/evil.csv\r\n--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na,b\n1,2\n\r\n--x--\r\n';
    const hostile = await hostileSigned(e, 's3', put, 'evil.example');
    await expectEveryRefused('s3', e, [
      ['unsigned PUT (a page fetch with no-cors)', put, 403, /AccessDenied/],
      [
        'unsigned GET of a private object (an <img src>)',
        { method: 'GET', path: `/${BUCKET}/private/secret.txt` },
        403,
        /AccessDenied/,
      ],
      ['unsigned DELETE', { method: 'DELETE', path: `/${BUCKET}/private/secret.txt` }, 403, /AccessDenied/],
      [
        'PostObject form upload from a page',
        {
          method: 'POST',
          path: `/${BUCKET}`,
          headers: { 'content-type': 'multipart/form-data; boundary=x', origin: 'http://evil.example' },
          body: form,
        },
        403,
        /AccessDenied/,
      ],
      [
        'PostObject form upload without Origin',
        {
          method: 'POST',
          path: `/${BUCKET}`,
          headers: { 'content-type': 'multipart/form-data; boundary=x' },
          body: form,
        },
        403,
        /AccessDenied/,
      ],
      ['signed, but sent with an Origin', hostile.withOrigin, 403, /AccessDenied.*Origin/s],
      ['signed, but Sec-Fetch-Site: cross-site', hostile.crossSite, 403, /AccessDenied/],
      ['signed, but Sec-Fetch-Site: same-site', hostile.sameSite, 403, /AccessDenied/],
      ['a DNS-rebound name in Host', hostile.rebound, 403, /AccessDenied.*rebinding/s],
      ['signed with the wrong secret', hostile.wrongSecret, 403, /SignatureDoesNotMatch/],
      ['signed with another key id', hostile.otherKey, 403, /InvalidAccessKeyId/],
      [
        'Signature Version 2',
        {
          ...put,
          headers: {
            host,
            authorization: `AWS ${TEST_CREDENTIALS.accessKeyId}:c2lnbmF0dXJl`,
            date: new Date().toUTCString(),
          },
        },
        403,
        /AccessDenied/,
      ],
      [
        'signed for another key',
        await signed(e, 's3', { ...put, path: `/${BUCKET}/uploads/other.csv` }).then((r) => ({ ...r, path: put.path })),
        403,
        /SignatureDoesNotMatch/,
      ],
    ]);
    const url = new URL(
      await presignedUrl(e, 's3', { method: 'GET', path: `/${BUCKET}/private/secret.txt` }, TEST_CREDENTIALS, 1),
    );
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expectRefused(
      's3',
      await send(e, { method: 'GET', path: `${url.pathname}${url.search}` }),
      403,
      /Request has expired/,
    );

    await expect(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'uploads/evil.csv' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    const still = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'private/secret.txt' }));
    expect(await still.Body!.transformToString()).toBe('private');
    expect(notified).toEqual([]);
  });
});

describe('local EC2 refuses what it did not sign, and GETs that change state', () => {
  let dir: string;
  let server: RunningEc2Server;
  const canary = () => path.join(dir, 'ran');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cp-auth-ec2-'));
    server = await startEc2Server({
      port: 0,
      directory: path.join(dir, 'instances'),
      pendingMs: 10,
      silent: true,
      credentials: TEST_CREDENTIALS,
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every hostile RunInstances, so no script ever runs', async () => {
    const e = server.endpoint;
    const userData = Buffer.from(`#!/bin/bash\ntouch ${canary()}\n`).toString('base64');
    const form = `Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1&UserData=${encodeURIComponent(userData)}`;
    const post = {
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: form,
    };
    const hostile = await hostileSigned(e, 'ec2', post, 'rebind.example');
    await expectEveryRefused('ec2', e, [
      ['GET RunInstances (an <img src>)', { method: 'GET', path: `/?${form}` }, 401, /MissingAuthenticationToken/],
      [
        'text/plain POST (a CORS-simple request)',
        { method: 'POST', path: '/', headers: { 'content-type': 'text/plain' }, body: form },
        401,
        /MissingAuthenticationToken/,
      ],
      ['a page form POST with Origin', { ...post, headers: { ...post.headers, origin: 'null' } }, 401, /AuthFailure/],
      ['signed, but sent with an Origin', hostile.withOrigin, 401, /AuthFailure/],
      ['signed, but Sec-Fetch-Site: cross-site', hostile.crossSite, 401, /AuthFailure/],
      ['a DNS-rebound name in Host', hostile.rebound, 401, /AuthFailure/],
      ['signed with the wrong secret', hostile.wrongSecret, 403, /SignatureDoesNotMatch/],
      ['signed with another key id', hostile.otherKey, 401, /AuthFailure/],
      [
        'a signed DescribeInstances whose body became a RunInstances',
        await signed(e, 'ec2', { ...post, body: 'Action=DescribeInstances&Version=2016-11-15' }, { body: form }),
        403,
        /SignatureDoesNotMatch/,
      ],
      [
        'a presigned GET RunInstances',
        {
          method: 'GET',
          path:
            new URL(await presignedUrl(e, 'ec2', { method: 'GET', path: `/?${form}` })).pathname +
            new URL(await presignedUrl(e, 'ec2', { method: 'GET', path: `/?${form}` })).search,
        },
        400,
        /UnsupportedOperation.*POST/s,
      ],
    ]);
    expect(server.instances()).toEqual([]);
    expect(existsSync(canary())).toBe(false);
  });

  it('the SDK with the stack credentials works, and a presigned read-only GET too', async () => {
    const ec2 = new EC2Client({ endpoint: server.endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS });
    try {
      expect((await ec2.send(new DescribeInstancesCommand({}))).Reservations).toEqual([]);
    } finally {
      ec2.destroy();
    }
    const url = new URL(
      await presignedUrl(server.endpoint, 'ec2', {
        method: 'GET',
        path: '/?Action=DescribeInstances&Version=2016-11-15',
      }),
    );
    const answer = await send(server.endpoint, { method: 'GET', path: `${url.pathname}${url.search}` });
    expect(answer.status, answer.body).toBe(200);
  });
});

describe('the Lambda front lets only signed invocations through, with the token serverless-offline wants', () => {
  let target: http.Server;
  let front: RunningLambdaFront;
  const reached: { path: string; token: string | undefined; body: string }[] = [];
  const TOKEN = 'front-token-of-this-test-0123456789abcdef';

  beforeAll(async () => {
    target = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        reached.push({
          path: req.url ?? '',
          token: req.headers[FRONT_TOKEN_HEADER] as string | undefined,
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    front = await startLambdaFront({
      port: 0,
      target: `http://127.0.0.1:${(target.address() as AddressInfo).port}`,
      credentials: TEST_CREDENTIALS,
      token: TOKEN,
      silent: true,
    });
  });
  afterAll(async () => {
    await front?.close();
    await new Promise((resolve) => target?.close(resolve));
  });

  it('refuses every hostile invocation before it reaches serverless-offline', async () => {
    const e = front.endpoint;
    const invoke = {
      method: 'POST',
      path: '/2015-03-31/functions/cloud-parallel-dev-primes-worker/invocations',
      headers: { 'content-type': 'application/json' },
      body: '{"start":0,"end":10}',
    };
    const hostile = await hostileSigned(e, 'lambda', invoke, 'rebind.example');
    await expectEveryRefused('lambda', e, [
      [
        'unsigned text/plain POST (a CORS-simple request)',
        { ...invoke, headers: { 'content-type': 'text/plain' } },
        403,
        /MissingAuthenticationTokenException/,
      ],
      [
        'unsigned, with a guessed front token',
        { ...invoke, headers: { [FRONT_TOKEN_HEADER]: TOKEN } },
        403,
        /MissingAuthenticationTokenException/,
      ],
      ['signed, but sent with an Origin', hostile.withOrigin, 403, /AccessDeniedException/],
      ['signed, but Sec-Fetch-Site: same-site', hostile.sameSite, 403, /AccessDeniedException/],
      ['a DNS-rebound name in Host', hostile.rebound, 403, /AccessDeniedException/],
      ['signed with the wrong secret', hostile.wrongSecret, 403, /InvalidSignatureException/],
      ['signed with another key id', hostile.otherKey, 403, /UnrecognizedClientException/],
      [
        'a signed invocation whose payload was changed',
        await signed(e, 'lambda', invoke, { body: '{"start":0,"end":1e15}' }),
        403,
        /InvalidSignatureException/,
      ],
      ['a signed GET', await signed(e, 'lambda', { method: 'GET', path: invoke.path }), 403, /AccessDeniedException/],
    ]);
    expect(reached).toEqual([]);
  });

  it("forwards what the SDK signs with the stack credentials, adding the token (never the client's)", async () => {
    const lambda = testLambdaClient(front.endpoint);
    try {
      const reply = await lambda.send(
        new InvokeCommand({
          FunctionName: 'cloud-parallel-dev-primes-worker',
          Payload: Buffer.from('{"start":0,"end":10}'),
        }),
      );
      expect(Buffer.from(reply.Payload!).toString()).toBe('{"ok":true}');
    } finally {
      lambda.destroy();
    }
    expect(reached).toEqual([
      {
        path: '/2015-03-31/functions/cloud-parallel-dev-primes-worker/invocations',
        token: TOKEN,
        body: '{"start":0,"end":10}',
      },
    ]);
  });
});

describe("serverless-offline's guard (offline-guard.js, preloaded)", () => {
  it('answers 403 to any request or upgrade without the front token, in every server of the process', async () => {
    const token = 'guard-token-of-this-test-0123456789abcdef';
    const script = `import http from 'node:http';
      const server = http.createServer((req, res) => res.end('ran ' + (req.headers['x-cloud-parallel-front-token'] ?? 'no-token-left')));
      server.on('upgrade', (req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\\r\\n\\r\\n'));
      server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
    const child = spawn(
      process.execPath,
      ['--import', path.resolve('local-stack/lambda/offline-guard.js'), '--input-type=module', '-e', script],
      {
        env: { ...process.env, CLOUD_PARALLEL_FRONT_TOKEN: token },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const port = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      );
      const e = `http://127.0.0.1:${port}`;
      const invoke = { method: 'POST', path: '/2015-03-31/functions/f/invocations', body: '{}' };
      expectRefused('serverless-offline', await send(e, invoke), 403, /AccessDeniedException/);
      expectRefused(
        'serverless-offline',
        await send(e, { ...invoke, headers: { [FRONT_TOKEN_HEADER]: `${token.slice(0, -1)}x` } }),
        403,
        /AccessDeniedException/,
      );
      expectRefused(
        'serverless-offline',
        await send(e, await signed(e, 'lambda', invoke)),
        403,
        /AccessDeniedException/,
      );
      const upgrade = await send(e, {
        method: 'GET',
        path: '/',
        headers: { connection: 'upgrade', upgrade: 'websocket' },
      }).catch((error: Error) => ({ status: 0, body: error.message }));
      expect(upgrade.status).toBe(403);
      expect(await send(e, { ...invoke, headers: { [FRONT_TOKEN_HEADER]: token } })).toEqual({
        status: 200,
        body: 'ran no-token-left',
      });
    } finally {
      child.kill();
    }
  });
});

describe('the endpoints that are not AWS-shaped give a page nothing either', () => {
  it('the API fixture refuses page-sent and rebound requests, its control routes included', async () => {
    const fixture = await startApiFixture({ port: 0, silent: true });
    try {
      const e = fixture.baseUrl;
      const port = new URL(e).port;
      expectRefused(
        'api fixture',
        await send(e, { method: 'POST', path: '/__fixture/stats/reset', headers: { origin: 'http://evil.example' } }),
        403,
        /FORBIDDEN/,
      );
      expectRefused(
        'api fixture',
        await send(e, { method: 'GET', path: '/api/v1/items/1', headers: { 'sec-fetch-site': 'cross-site' } }),
        403,
        /FORBIDDEN/,
      );
      expectRefused(
        'api fixture',
        await send(e, { method: 'GET', path: '/api/v1/items/1', headers: { host: `rebind.example:${port}` } }),
        403,
        /FORBIDDEN/,
      );
      expect((await send(e, { method: 'GET', path: '/api/v1/items/1' })).status).toBe(200);
    } finally {
      await fixture.close();
    }
  });

  it('the MongoDB-wire server closes a connection that speaks HTTP (what a page can send it) and keeps serving', async () => {
    const mongo = await spawnMongoServerProcess();
    try {
      const { port } = new URL(mongo.ready.uri.replace('mongodb://', 'http://'));
      const answer = await send(`http://127.0.0.1:${port}`, {
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
        body: 'x'.repeat(100),
      }).then(
        (reply) => `answered ${reply.status}`,
        (error: NodeJS.ErrnoException) => error.code ?? error.message,
      );
      expect(answer).toMatch(/ECONNRESET|socket hang up|EPIPE/);
      tally.mongo = { tried: 1, refused: 1 };
      const client = new MongoClient(mongo.ready.uri, { serverSelectionTimeoutMS: 5000 });
      try {
        expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
      } finally {
        await client.close();
      }
    } finally {
      expect(await mongo.close()).toBe(0);
    }
  });
});

describe('where the stack keeps its state (and so its credentials)', () => {
  it('without credentials.json a stack is not one to use, but `stop` still finds and stops its processes', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-state-no-creds-'));
    // A stand-in for a stack process: `stop` recognises its own by CLOUD_PARALLEL_STACK_DIR in the environment.
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      env: { ...process.env, CLOUD_PARALLEL_STACK_DIR: dir },
      detached: true,
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const proc = { name: 's3', pid: child.pid!, log: path.join(dir, 's3.log') };
      const recorded = {
        startedAt: new Date().toISOString(),
        stateDir: dir,
        region: 'us-east-1',
        s3Endpoint: 'http://127.0.0.1:1',
        lambdaEndpoint: 'http://127.0.0.1:2',
        ec2Endpoint: 'http://127.0.0.1:3',
        mongoUri: 'mongodb://127.0.0.1:4',
        apiBaseUrl: 'http://127.0.0.1:5',
        service: {},
        processes: [proc, { ...proc, name: 'lambda-front' }],
      };
      writeFileSync(path.join(dir, 'state.json'), JSON.stringify(recorded));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(readStackState({ stateDir: dir })).toBeNull();
      expect((await stopStack({ stateDir: dir })).map((p) => p.name)).toEqual(['s3', 'lambda-front']);
      await exited;
      expect(existsSync(path.join(dir, 'state.json'))).toBe(false);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an empty CLOUD_PARALLEL_STATE_DIR means the default folder, not the current directory', () => {
    const saved = process.env.CLOUD_PARALLEL_STATE_DIR;
    try {
      process.env.CLOUD_PARALLEL_STATE_DIR = '';
      expect(resolveStackOptions().stateDir).toBe(path.join(PROJECT_ROOT, '.local-stack'));
      process.env.CLOUD_PARALLEL_STATE_DIR = '/tmp/elsewhere';
      expect(resolveStackOptions().stateDir).toBe('/tmp/elsewhere');
    } finally {
      if (saved === undefined) delete process.env.CLOUD_PARALLEL_STATE_DIR;
      else process.env.CLOUD_PARALLEL_STATE_DIR = saved;
    }
  });
});
