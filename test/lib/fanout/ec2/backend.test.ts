/**
 * The EC2 backend against mocked EC2, SSM and S3 clients, with an injected clock: nothing waits for real.
 * The end-to-end run against a real S3 server and bash is in backend-e2e.test.ts.
 */
import { Readable } from 'node:stream';
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { estimateEc2Cost } from '../../../../lib/fanout/cost.ts';
import { ec2Backend, MAX_RESULT_BYTES, type Ec2BackendOptions } from '../../../../lib/fanout/ec2/backend.ts';
import { AL2023_AMI_PARAMETER } from '../../../../lib/fanout/ec2/launcher.ts';
import { fanout } from '../../../../lib/fanout/index.ts';
import { TEST_CREDENTIALS } from '../../../support/signing.ts';

const credentials = TEST_CREDENTIALS;
const ec2 = new EC2Client({ region: 'us-east-1', credentials });
const ssm = new SSMClient({ region: 'us-east-1', credentials });
const s3 = new S3Client({ region: 'us-east-1', credentials });
// Mocks on these instances only (backend-e2e.test.ts runs the backend against a real S3 server).
const ec2Mock = mockClient(ec2);
const ssmMock = mockClient(ssm);
const s3Mock = mockClient(s3);

/** A fake clock: `sleep` advances it, so deadlines pass without waiting. */
function clock() {
  let t = 1_000_000;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
  };
}

/** A Node stream with the SDK's `transformToString` helper on it, as a GetObject body is. */
function sdkBody(stream: Readable): Readable & { transformToString: (encoding?: BufferEncoding) => Promise<string> } {
  return Object.assign(stream, {
    transformToString: async (encoding: BufferEncoding = 'utf8') =>
      Buffer.concat(await stream.toArray()).toString(encoding),
  });
}

/** A GetObject reply as the SDK gives it in Node: the body a stream (fresh on every read), its length in ContentLength. */
function body(value: unknown) {
  const text = JSON.stringify(value);
  return {
    get Body() {
      return sdkBody(Readable.from([Buffer.from(text)]));
    },
    ContentLength: Buffer.byteLength(text),
  } as never; // the SDK's stream type, of which the backend reads the stream
}

let launched = 0;
/** Options shared by the tests; R is the worker's value type, used only by `parse`. */
function options<R = unknown>(extra: Partial<Ec2BackendOptions<R>> = {}): Ec2BackendOptions<R> {
  return {
    ec2,
    s3,
    ssm,
    bucket: 'data-bucket',
    runId: 'run-42',
    workerKey: 'workers/primes.mjs',
    tags: { service: 'cloud-parallel', stage: 'dev' },
    deadlineMs: 60_000,
    pollMs: 1000,
    ...clock(),
    ...extra,
  };
}

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
  s3Mock.reset();
  launched = 0;
  ssmMock.on(GetParameterCommand).resolves({ Parameter: { Name: AL2023_AMI_PARAMETER, Value: 'ami-0al2023' } });
  ec2Mock.on(RunInstancesCommand).callsFake(async () => ({ Instances: [{ InstanceId: `i-${++launched}` }] }));
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ State: { Name: 'running' } }] }] });
  ec2Mock.on(TerminateInstancesCommand).resolves({});
  s3Mock.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'not there', $metadata: { httpStatusCode: 404 } }));
});
afterAll(() => {
  ec2Mock.restore();
  ssmMock.restore();
  s3Mock.restore();
});

const terminated = () =>
  ec2Mock.commandCalls(TerminateInstancesCommand).flatMap((c) => c.args[0].input.InstanceIds ?? []);
const resultKey = (index: number) => ({ Bucket: 'data-bucket', Key: `runs/run-42/${index}.json` });

describe('ec2 backend', () => {
  it('launches a locked-down, tagged instance of the AL2023 AMI whose user data carries the presigned URLs', async () => {
    s3Mock.on(GetObjectCommand, resultKey(0)).resolves(body({ ok: true, value: { count: 4 }, ms: 3 }));
    const backend = ec2Backend<{ start: number }, { count: number }>(
      options({ subnetId: 'subnet-1', securityGroupIds: ['sg-1'] }),
    );
    await expect(backend.run({ start: 10 }, { index: 0, attempt: 1 })).resolves.toEqual({ count: 4 });

    expect(ssmMock.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({ Name: AL2023_AMI_PARAMETER });
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input as RunInstancesCommandInput;
    expect(input).toMatchObject({
      ImageId: 'ami-0al2023',
      InstanceType: 'c7i.large',
      MinCount: 1,
      MaxCount: 1,
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      SubnetId: 'subnet-1',
      SecurityGroupIds: ['sg-1'],
    });
    expect(input.ClientToken).toMatch(/^[0-9a-f]{64}$/);
    expect(input.TagSpecifications?.map((t) => t.ResourceType)).toEqual(['instance', 'volume']);
    for (const spec of input.TagSpecifications ?? []) {
      expect(spec.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'service', Value: 'cloud-parallel' },
          { Key: 'stage', Value: 'dev' },
          { Key: 'cloud-parallel:run-id', Value: 'run-42' },
          { Key: 'cloud-parallel:chunk', Value: '0' },
        ]),
      );
    }
    const script = Buffer.from(input.UserData ?? '', 'base64').toString('utf8');
    expect(script.startsWith('#!/bin/bash')).toBe(true);
    expect(script).toContain('{"start":10}');
    expect(script).toContain('shutdown -h now');
    const urls = [...script.matchAll(/'(https:\/\/[^']+)'/g)].map((m) => new URL(m[1] ?? ''));
    const worker = urls.find((u) => u.pathname.endsWith('/workers/primes.mjs'));
    const result = urls.find((u) => u.pathname.endsWith('/runs/run-42/0.json'));
    expect(worker?.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(result?.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(result?.searchParams.get('x-id')).toBe('PutObject');
    expect(Number(result?.searchParams.get('X-Amz-Expires'))).toBe(60 + 900);

    // Success: the instance powers itself off, and is terminated anyway.
    expect(terminated()).toEqual(['i-1']);
    expect(backend.liveInstances).toEqual([]);
  });

  it('polls until the result arrives, riding out a throttled poll, and reports progress', async () => {
    let polls = 0;
    s3Mock.on(GetObjectCommand).callsFake(async () => {
      if (++polls === 2)
        throw Object.assign(new Error('Please reduce your request rate.'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
        });
      if (polls < 4) throw new NoSuchKey({ message: 'not yet', $metadata: { httpStatusCode: 404 } });
      return body({ ok: true, value: 7 });
    });
    const events: unknown[] = [];
    const backend = ec2Backend<number, number>(options({ imageId: 'ami-given', onProgress: (p) => events.push(p) }));
    await expect(backend.run(1, { index: 3, attempt: 1 })).resolves.toBe(7);
    expect(ssmMock.commandCalls(GetParameterCommand)).toHaveLength(0);
    expect(ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input.ImageId).toBe('ami-given');
    expect(events).toEqual([
      { pending: 1, running: 0, done: 0, total: 1 },
      { pending: 0, running: 1, done: 0, total: 1 },
      { pending: 0, running: 0, done: 1, total: 1 },
    ]);
    expect(terminated()).toEqual(['i-1']);
  });

  it('explains a failed AMI lookup: which parameter, which permission', async () => {
    ssmMock
      .on(GetParameterCommand)
      .rejects(new ParameterNotFound({ message: 'not found', $metadata: { httpStatusCode: 400 } }));
    const result = await fanout([1], ec2Backend(options()), { sleep: async () => {} });
    expect(result.outcomes[0]).toMatchObject({ ok: false, error: { kind: 'transport', type: 'AmiLookupFailed' } });
    const message = (result.outcomes[0] as { error: { message: string } }).error.message;
    expect(message).toContain(AL2023_AMI_PARAMETER);
    expect(message).toContain('ssm:GetParameter');
    expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(0);
  });

  it('terminates a worker that never reports at the deadline and names its chunk', async () => {
    const c = clock();
    const backend = ec2Backend(options({ ...c, deadlineMs: 10_000, pollMs: 3000 }));
    const result = await fanout([{ a: 1 }, { a: 2 }], backend, { sleep: async () => {} });
    for (const [index, outcome] of result.outcomes.entries()) {
      expect(outcome).toMatchObject({ ok: false, attempts: 1, error: { kind: 'transport', type: 'DeadlineExceeded' } });
      expect(outcome.ok || outcome.error.message).toContain(`chunk ${index} (run run-42)`);
    }
    expect(terminated().sort()).toEqual(['i-1', 'i-2']);
    expect(backend.liveInstances).toEqual([]);
  });

  it('fails with a function error when the worker reports ok:false', async () => {
    s3Mock
      .on(GetObjectCommand)
      .resolves(body({ ok: false, error: { type: 'RangeError', message: 'bad range' }, ms: 1 }));
    const result = await fanout([1], ec2Backend(options()), { sleep: async () => {} });
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      error: { kind: 'function', type: 'RangeError', message: 'chunk 0 (run run-42): bad range' },
    });
    expect(terminated()).toEqual(['i-1']);
  });

  it('fails with WorkerExited when the instance ends without a result', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [{ State: { Name: 'terminated' }, StateReason: { Message: 'Client.InstanceInitiatedShutdown' } }],
        },
      ],
    });
    const result = await fanout([1], ec2Backend(options()), { sleep: async () => {} });
    expect(result.outcomes[0]).toMatchObject({ ok: false, error: { kind: 'function', type: 'WorkerExited' } });
    expect((result.outcomes[0] as { error: { message: string } }).error.message).toMatch(
      /chunk 0 .*i-1 is terminated \(Client\.InstanceInitiatedShutdown\)/,
    );
  });

  it('takes a result that landed just before the instance was seen gone', async () => {
    let polls = 0;
    s3Mock.on(GetObjectCommand).callsFake(async () => {
      if (++polls === 1) throw new NoSuchKey({ message: 'not yet', $metadata: { httpStatusCode: 404 } });
      return body({ ok: true, value: 'late' });
    });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ State: { Name: 'shutting-down' } }] }] });
    await expect(ec2Backend(options()).run(1, { index: 0, attempt: 1 })).resolves.toBe('late');
  });

  it('terminates on abort, and close() terminates what is still running', async () => {
    const controller = new AbortController();
    const c = clock();
    let sleeps = 0;
    const backend = ec2Backend(
      options({
        now: c.now,
        sleep: async (ms) => {
          await c.sleep(ms);
          if (++sleeps === 2) controller.abort();
        },
      }),
    );
    await expect(backend.run(1, { index: 0, attempt: 1, signal: controller.signal })).rejects.toMatchObject({
      kind: 'aborted',
    });
    expect(terminated()).toEqual(['i-1']);

    // close() while a task polls: its instance is terminated and the task ends as aborted.
    let terminations = 0;
    ec2Mock.on(TerminateInstancesCommand).callsFake(async () => {
      if (++terminations === 1) throw new Error('network down');
      return {};
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const blocked = ec2Backend(options({ now: c.now, sleep: () => gate }));
    const running = blocked.run(2, { index: 1, attempt: 1 });
    await expect.poll(() => blocked.liveInstances).toEqual(['i-2']);
    await expect(blocked.close()).rejects.toThrow(/could not terminate i-2/);
    expect(blocked.liveInstances).toEqual(['i-2']); // still tracked: close() can be called again
    await blocked.close();
    expect(blocked.liveInstances).toEqual([]);
    release();
    await expect(running).rejects.toMatchObject({ kind: 'aborted', type: 'BackendClosed' });
    await expect(blocked.run(3, { index: 2, attempt: 1 })).rejects.toMatchObject({
      kind: 'aborted',
      type: 'BackendClosed',
    });
    expect(ec2Mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds)).toEqual([
      ['i-1'],
      ['i-2'],
      ['i-2'],
    ]);
  });

  it('packs tasks started together onto one instance each tasksPerInstance, and terminates it when all settle', async () => {
    for (const i of [0, 1, 2])
      s3Mock.on(GetObjectCommand, resultKey(i)).resolves(body({ ok: true, value: { count: i }, ms: 1 }));
    s3Mock
      .on(GetObjectCommand, resultKey(3))
      .resolves(body({ ok: false, error: { type: 'RangeError', message: 'bad chunk' } }));
    const backend = ec2Backend<{ start: number }, { count: number }>(options({ tasksPerInstance: 2 }));
    const result = await fanout([{ start: 0 }, { start: 1 }, { start: 2 }, { start: 3 }], backend, { retries: 0 });
    expect(result.outcomes.map((o) => (o.ok ? o.value.count : o.error.type))).toEqual([0, 1, 2, 'RangeError']);
    const launches = ec2Mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input as RunInstancesCommandInput);
    expect(launches).toHaveLength(2);
    const scripts = launches.map((l) => Buffer.from(l.UserData!, 'base64').toString('utf8'));
    // Each instance's user data runs two tasks, each PUT to its own result key.
    expect(scripts.map((u) => (u.match(/^run_task \d+ /gm) ?? []).length)).toEqual([2, 2]);
    expect(scripts[0]).toContain('runs/run-42/0.json');
    expect(scripts[0]).toContain('runs/run-42/1.json');
    expect(scripts[1]).toContain('runs/run-42/3.json');
    expect(
      launches.map((l) => l.TagSpecifications![0]!.Tags!.find((t) => t.Key === 'cloud-parallel:chunk')!.Value),
    ).toEqual(['0,1', '2,3']);
    expect(new Set(launches.map((l) => l.ClientToken)).size).toBe(2);
    expect(terminated().sort()).toEqual(['i-1', 'i-2']);
    expect(backend.instanceSeconds()).toHaveLength(2);
  });

  it("reads a retry's result from its own key, never an earlier attempt's", async () => {
    s3Mock
      .on(GetObjectCommand, resultKey(5))
      .resolves(body({ ok: false, error: { type: 'Error', message: 'attempt 1 failed' } }));
    s3Mock
      .on(GetObjectCommand, { Bucket: 'data-bucket', Key: 'runs/run-42/5.attempt-2.json' })
      .resolves(body({ ok: true, value: 'second' }));
    await expect(ec2Backend(options()).run(1, { index: 5, attempt: 2 })).resolves.toBe('second');
    const script = Buffer.from(
      ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input.UserData ?? '',
      'base64',
    ).toString('utf8');
    expect(script).toContain('/runs/run-42/5.attempt-2.json?');
  });

  it('a second fan-out on the same backend (same index and attempt) reads its own result, from a new instance', async () => {
    s3Mock.on(GetObjectCommand, resultKey(0)).resolves(body({ ok: true, value: 'first fan-out' }));
    s3Mock
      .on(GetObjectCommand, { Bucket: 'data-bucket', Key: 'runs/run-42/0.launch-2.json' })
      .resolves(body({ ok: true, value: 'second fan-out' }));
    const backend = ec2Backend(options());
    await expect(backend.run(1, { index: 0, attempt: 1 })).resolves.toBe('first fan-out');
    await expect(backend.run(1, { index: 0, attempt: 1 })).resolves.toBe('second fan-out');
    const launches = ec2Mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input as RunInstancesCommandInput);
    // A ClientToken of its own: EC2 would otherwise hand back the first (terminated) instance.
    expect(new Set(launches.map((l) => l.ClientToken)).size).toBe(2);
    expect(Buffer.from(launches[1]!.UserData!, 'base64').toString('utf8')).toContain('/runs/run-42/0.launch-2.json?');
  });

  it('rejects a result object that is not a worker result', async () => {
    s3Mock.on(GetObjectCommand).resolves(body({ hello: 'world' }));
    await expect(ec2Backend(options()).run(1, { index: 0, attempt: 1 })).rejects.toMatchObject({
      kind: 'function',
      type: 'InvalidResult',
    });
    expect(terminated()).toEqual(['i-1']);
  });

  it('refuses a result over the size cap by its ContentLength, without reading it, and keeps the other chunks', async () => {
    expect(MAX_RESULT_BYTES).toBe(6 * 1024 * 1024); // Lambda's synchronous reply limit: a result fits either backend
    const sized = (length: number) => {
      const text = JSON.stringify({
        ok: true,
        value: 'x'.repeat(length - JSON.stringify({ ok: true, value: '' }).length),
      });
      expect(text).toHaveLength(length);
      return text;
    };
    let bigRead = false;
    const bigText = sized(101);
    const big = sdkBody(
      new Readable({
        read() {
          bigRead = true;
          this.push(bigText);
          this.push(null);
        },
      }),
    );
    s3Mock.on(GetObjectCommand, resultKey(0)).resolves(body({ ok: true, value: 'fits' }));
    s3Mock.on(GetObjectCommand, resultKey(1)).resolves({ Body: big, ContentLength: 101 } as never);
    s3Mock.on(GetObjectCommand, resultKey(2)).resolves(body(JSON.parse(sized(100))));
    const result = await fanout([0, 1, 2], ec2Backend(options({ maxResultBytes: 100 })), { sleep: async () => {} });
    expect(result.outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    expect(result.outcomes[1]).toMatchObject({
      ok: false,
      attempts: 1,
      error: {
        kind: 'function',
        type: 'ResultTooLarge',
        message: expect.stringContaining(
          "s3://data-bucket/runs/run-42/1.json: the worker's result is 101 bytes, over the 100-byte limit",
        ),
      },
    });
    expect(bigRead).toBe(false);
    expect(big.destroyed).toBe(true); // its socket is released, not left half-read
    expect(terminated().sort()).toEqual(['i-1', 'i-2', 'i-3']);
  });

  it('refuses a result over the size cap while reading when no ContentLength says so, and stops downloading', async () => {
    // A valid result of 100 chunks of 64 bytes (6.4 kB), with no ContentLength; the cap is 1000 bytes.
    let pulled = 0;
    async function* chunks() {
      yield Buffer.from('{"ok":true,"value":"');
      for (let i = 0; i < 100; i++) {
        pulled += 1;
        yield Buffer.alloc(64, 0x78);
      }
      yield Buffer.from('"}');
    }
    const stream = sdkBody(Readable.from(chunks()));
    s3Mock.on(GetObjectCommand).resolves({ Body: stream } as never);
    const error = await ec2Backend(options({ maxResultBytes: 1000 }))
      .run(1, { index: 0, attempt: 1 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      kind: 'function',
      type: 'ResultTooLarge',
      message: expect.stringContaining('is more than 1000 bytes'),
    });
    expect(stream.destroyed).toBe(true);
    expect(pulled).toBeLessThan(40); // 16 chunks reach the cap; the stream reads a few ahead at most
    expect(terminated()).toEqual(['i-1']);
  });

  it('rejects a maxResultBytes that is not a positive whole number', () => {
    for (const maxResultBytes of [0, -1, 1.5, Number.NaN])
      expect(() => ec2Backend(options({ maxResultBytes }))).toThrow(/maxResultBytes/);
  });
});

describe('estimateEc2Cost', () => {
  it('prices instance-seconds, with the 60 s minimum per instance when given a list', () => {
    expect(estimateEc2Cost({ instanceSeconds: 3600, usdPerHour: 0.1 }).usd).toBeCloseTo(0.1);
    expect(estimateEc2Cost({ instanceSeconds: [10, 120], usdPerHour: 3.6 })).toEqual({
      instanceSeconds: 130,
      billedSeconds: 180,
      usdPerHour: 3.6,
      usd: expect.closeTo(0.18),
    });
    expect(estimateEc2Cost({ instanceSeconds: 7200 }).usd).toBeCloseTo(2 * 0.08925);
    expect(() => estimateEc2Cost({ instanceSeconds: -1 })).toThrow(RangeError);
  });
});
