/**
 * The local EC2 server (local-stack/ec2/) against the real `@aws-sdk/client-ec2` client at its
 * default settings, and the AWS CLI if it is installed. Instances really run their user data with bash.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DescribeImagesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  type EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryParams, escapeXml, startEc2Server, type RunningEc2Server } from '../../../local-stack/ec2/server.ts';
import { testEc2Client } from '../../support/clients.ts';
import { useTempDir } from '../../support/temp-dir.ts';
import { signedHeaders, TEST_CREDENTIALS } from '../../support/signing.ts';

const IMAGE = 'ami-0123456789abcdef0';
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

const dir = useTempDir('cp-ec2-');
let server: RunningEc2Server;
let client: EC2Client;

beforeAll(async () => {
  server = await startEc2Server({
    port: 0,
    directory: dir(),
    pendingMs: 150,
    maxInstances: 8,
    silent: true,
    env: { CP_TEST_EXTRA: 'extra-value' },
    credentials: TEST_CREDENTIALS,
  });
  client = testEc2Client(server.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await server?.close();
});

async function run(input: Partial<RunInstancesCommandInput>): Promise<Instance[]> {
  const out = await client.send(new RunInstancesCommand({ ImageId: IMAGE, MinCount: 1, MaxCount: 1, ...input }));
  return out.Instances ?? [];
}

async function describe1(id: string): Promise<Instance> {
  const out = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const instance = out.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`${id} not described`);
  return instance;
}

/** Polls until `predicate` holds, failing after `ms`; returns every state name seen on the way. */
async function waitFor(
  id: string,
  predicate: (instance: Instance) => boolean,
  ms = 10_000,
): Promise<{ instance: Instance; seen: string[] }> {
  const deadline = Date.now() + ms;
  const seen: string[] = [];
  for (;;) {
    const instance = await describe1(id);
    const name = instance.State?.Name ?? '?';
    if (seen.at(-1) !== name) seen.push(name);
    if (predicate(instance)) return { instance, seen };
    if (Date.now() > deadline) throw new Error(`${id}: condition not met; states seen: ${seen.join(' → ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function local(id: string) {
  const found = server.instances().find((instance) => instance.instanceId === id);
  if (!found) throw new Error(`${id} not in instances()`);
  return found;
}

/**
 * True if a process of the group is still alive. Zombies do not count: orphans of a killed script are
 * reparented to PID 1, which in some containers reaps them late or never.
 */
function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return entries.some((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pgid && state !== 'Z';
    } catch {
      return false; // exited while reading
    }
  });
}

async function errorOf(promise: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    const e = error as Error & { $metadata?: { httpStatusCode?: number } };
    return {
      name: e.name,
      message: e.message,
      ...(e.$metadata?.httpStatusCode ? { status: e.$metadata.httpStatusCode } : {}),
    };
  }
  throw new Error('expected the request to fail');
}

describe('query parameters and XML', () => {
  it('reads EC2 list conventions in index order', () => {
    const params = QueryParams.parse(
      'InstanceId.2=i-b&InstanceId.1=i-a&Filter.1.Name=tag%3ARole&Filter.1.Value.1=a&Filter.1.Value.2=b%2Bc&Filter.10.Name=x',
    );
    expect(params.list('InstanceId')).toEqual(['i-a', 'i-b']);
    const filters = params.structs('Filter');
    expect(filters.map((f) => f.get('Name'))).toEqual(['tag:Role', 'x']);
    expect(filters[0]?.list('Value')).toEqual(['a', 'b+c']);
  });
  it('escapes XML', () => {
    expect(escapeXml(`<a & 'b' "c">`)).toBe('&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;');
  });
});

describe('RunInstances / DescribeInstances / TerminateInstances with the SDK', () => {
  it('runs the user data; terminate behaviour ends in terminated', async () => {
    const script =
      '#!/bin/bash\necho hello > "$PWD/out.txt"\necho "$CLOUD_PARALLEL_INSTANCE_ID $CP_TEST_EXTRA"\nsleep 0.3\n';
    const [launched] = await run({
      UserData: b64(script),
      InstanceType: 't3.micro',
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required' },
      SubnetId: 'subnet-12345678',
      SecurityGroupIds: ['sg-12345678'],
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'Name', Value: 'hello & <world>' },
            { Key: 'job', Value: 'j1' },
          ],
        },
      ],
    });
    const id = launched?.InstanceId ?? '';
    expect(id).toMatch(/^i-[0-9a-f]{17}$/);
    expect(launched?.State).toEqual({ Code: 0, Name: 'pending' });
    expect(launched?.ImageId).toBe(IMAGE);
    expect(launched?.InstanceType).toBe('t3.micro');
    expect(launched?.Placement?.AvailabilityZone).toBe('us-east-1a');
    expect(launched?.LaunchTime).toBeInstanceOf(Date);
    expect(Math.abs((launched?.LaunchTime?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
    expect(launched?.SubnetId).toBe('subnet-12345678');
    expect(launched?.SecurityGroups?.map((g) => g.GroupId)).toEqual(['sg-12345678']);
    expect(launched?.MetadataOptions?.HttpTokens).toBe('required');
    expect(launched?.Tags).toEqual([
      { Key: 'Name', Value: 'hello & <world>' },
      { Key: 'job', Value: 'j1' },
    ]);

    const { instance, seen } = await waitFor(id, (i) => i.State?.Name === 'terminated');
    expect(seen[0]).toMatch(/pending|running/);
    expect(seen).toContain('running');
    expect(seen.indexOf('terminated')).toBeGreaterThan(seen.indexOf('running'));
    expect(instance.State?.Code).toBe(48);
    expect(instance.StateReason?.Code).toBe('Client.InstanceInitiatedShutdown');
    expect(instance.StateTransitionReason).toMatch(
      /^Instance initiated shutdown \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)$/,
    );

    const record = local(id);
    expect(readFileSync(path.join(record.directory, 'out.txt'), 'utf8')).toBe('hello\n');
    expect(readFileSync(record.consoleLogPath, 'utf8')).toBe(`${id} extra-value\n`);
    expect(record.exitCode).toBe(0);
    expect(record.state).toEqual({ code: 48, name: 'terminated' });
    expect(path.dirname(record.directory)).toBe(path.resolve(dir()));
  });

  it('stop behaviour (the default) ends in stopped, observing pending first', async () => {
    const [launched] = await run({ UserData: b64('#!/bin/sh\nexit 3\n') });
    const id = launched?.InstanceId ?? '';
    const { instance, seen } = await waitFor(id, (i) => i.State?.Name === 'stopped');
    expect(seen[0]).toBe('pending');
    expect(instance.State?.Code).toBe(80);
    expect(local(id).exitCode).toBe(3);
  });

  it('round-trips tags and filters by tag, state and id', async () => {
    const marker = `m${Date.now()}`;
    const out = await client.send(
      new RunInstancesCommand({
        ImageId: IMAGE,
        MinCount: 2,
        MaxCount: 2,
        UserData: b64('#!/bin/bash\nsleep 30\n'),
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: 'marker', Value: marker },
              { Key: 'role', Value: 'worker' },
            ],
          },
        ],
      }),
    );
    const ids = (out.Instances ?? []).map((i) => i.InstanceId ?? '');
    expect(ids).toHaveLength(2);
    expect(out.ReservationId).toMatch(/^r-[0-9a-f]{17}$/);
    expect((out.Instances ?? []).map((i) => i.AmiLaunchIndex)).toEqual([0, 1]);

    const byTag = await client.send(
      new DescribeInstancesCommand({ Filters: [{ Name: `tag:marker`, Values: [marker] }] }),
    );
    expect(byTag.Reservations).toHaveLength(1);
    expect(byTag.Reservations?.[0]?.ReservationId).toBe(out.ReservationId);
    expect(byTag.Reservations?.[0]?.Instances?.map((i) => i.InstanceId).sort()).toEqual([...ids].sort());
    expect(byTag.Reservations?.[0]?.Instances?.[0]?.Tags).toEqual([
      { Key: 'marker', Value: marker },
      { Key: 'role', Value: 'worker' },
    ]);

    const wildcard = await client.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:marker', Values: [`${marker.slice(0, -2)}*`] }] }),
    );
    expect(wildcard.Reservations?.flatMap((r) => r.Instances ?? [])).toHaveLength(2);
    const none = await client.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:marker', Values: ['nope'] }] }),
    );
    expect(none.Reservations).toEqual([]);
    // EC2's wildcards: `?` one character, `*` any run (also in the middle), `\` escapes; a pattern of any length.
    const count = async (pattern: string) =>
      (
        await client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:marker', Values: [pattern] }] }))
      ).Reservations?.flatMap((r) => r.Instances ?? []).length;
    expect(await count(`?${marker.slice(1, -1)}?`)).toBe(2);
    expect(await count(`*${marker.slice(3, 6)}*`)).toBe(2);
    expect(await count(`${marker}?`)).toBe(0);
    expect(await count(`${marker.slice(0, 2)}\\*`)).toBe(0);
    expect(await count(`${'*'.repeat(10_000)}${marker}${'?'.repeat(5_000)}`)).toBe(0);

    await waitFor(ids[0] ?? '', (i) => i.State?.Name === 'running');
    await waitFor(ids[1] ?? '', (i) => i.State?.Name === 'running');
    const running = await client.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'instance-state-name', Values: ['running'] },
          { Name: 'tag:marker', Values: [marker] },
          { Name: 'instance-id', Values: [ids[1] ?? ''] },
        ],
      }),
    );
    expect(running.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual([ids[1]]);

    const status = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: ids }));
    expect(status.InstanceStatuses?.map((s) => s.InstanceState?.Name)).toEqual(['running', 'running']);
    expect(status.InstanceStatuses?.[0]?.InstanceStatus?.Status).toBe('ok');

    await client.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    const terminated = await client.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:marker', Values: [marker] },
          { Name: 'instance-state-name', Values: ['pending', 'running'] },
        ],
      }),
    );
    expect(terminated.Reservations).toEqual([]);
  });

  it('TerminateInstances kills the process group and reports the state change', async () => {
    const [launched] = await run({ UserData: b64('#!/bin/bash\nsleep 60 &\nsleep 60\n') });
    const id = launched?.InstanceId ?? '';
    await waitFor(id, (i) => i.State?.Name === 'running');
    const pid = local(id).pid;
    expect(pid).toBeGreaterThan(0);
    expect(groupAlive(pid ?? 0)).toBe(true);

    const out = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(out.TerminatingInstances).toEqual([
      {
        InstanceId: id,
        PreviousState: { Code: 16, Name: 'running' },
        CurrentState: { Code: 32, Name: 'shutting-down' },
      },
    ]);
    const { instance } = await waitFor(id, (i) => i.State?.Name === 'terminated');
    expect(instance.StateReason?.Code).toBe('Client.UserInitiatedShutdown');
    expect(instance.StateTransitionReason).toMatch(/^User initiated \(/);
    expect(groupAlive(pid ?? 0)).toBe(false);
    expect(local(id).exitSignal).toBe('SIGTERM');

    // Terminating again is not an error; the instance stays visible.
    const again = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(again.TerminatingInstances?.[0]?.CurrentState?.Name).toBe('terminated');
    expect((await describe1(id)).State?.Name).toBe('terminated');
  });

  it('terminates an instance that is still pending', async () => {
    const [launched] = await run({ UserData: b64('#!/bin/bash\nsleep 60\n') });
    const id = launched?.InstanceId ?? '';
    const out = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(out.TerminatingInstances?.[0]?.PreviousState?.Name).toBe('pending');
    await waitFor(id, (i) => i.State?.Name === 'terminated');
    expect(local(id).pid).toBeUndefined();
  });

  it('decodes base64 user data with non-ASCII content', async () => {
    const script = '#!/bin/bash\nprintf "%s\\n" "Grüße, 世界 — ✓" > greeting.txt\n';
    const [launched] = await run({ UserData: b64(script), InstanceInitiatedShutdownBehavior: 'terminate' });
    const id = launched?.InstanceId ?? '';
    await waitFor(id, (i) => i.State?.Name === 'terminated');
    const record = local(id);
    expect(record.userData).toBe(script);
    expect(readFileSync(path.join(record.directory, 'greeting.txt'), 'utf8')).toBe('Grüße, 世界 — ✓\n');
  });

  it('answers DescribeImages for any well-formed AMI id', async () => {
    const out = await client.send(new DescribeImagesCommand({ ImageIds: ['ami-12345678', IMAGE] }));
    expect(out.Images?.map((i) => [i.ImageId, i.State, i.Architecture, i.PlatformDetails, i.Public])).toEqual([
      ['ami-12345678', 'available', 'x86_64', 'Linux/UNIX', true],
      [IMAGE, 'available', 'x86_64', 'Linux/UNIX', true],
    ]);
    expect((await errorOf(client.send(new DescribeImagesCommand({ ImageIds: ['img-1'] })))).name).toBe(
      'InvalidAMIID.Malformed',
    );
  });
});

describe('errors arrive as the SDK typed errors', () => {
  it('missing ImageId', async () => {
    const error = await errorOf(client.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1 })));
    expect(error).toMatchObject({ name: 'MissingParameter', status: 400 });
    expect(error.message).toMatch(/ImageId/);
  });
  it('malformed AMI id', async () => {
    expect((await errorOf(run({ ImageId: 'ubuntu' }))).name).toBe('InvalidAMIID.Malformed');
  });
  it('malformed and unknown instance ids', async () => {
    expect((await errorOf(client.send(new DescribeInstancesCommand({ InstanceIds: ['i-xyz'] })))).name).toBe(
      'InvalidInstanceID.Malformed',
    );
    expect((await errorOf(client.send(new TerminateInstancesCommand({ InstanceIds: ['bogus'] })))).name).toBe(
      'InvalidInstanceID.Malformed',
    );
    const unknown = await errorOf(client.send(new TerminateInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })));
    expect(unknown).toMatchObject({ name: 'InvalidInstanceID.NotFound', status: 400 });
    expect(unknown.message).toContain('i-0123456789abcdef0');
    expect(
      (await errorOf(client.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })))).name,
    ).toBe('InvalidInstanceID.NotFound');
  });
  it('MaxCount over the limit', async () => {
    const before = server.instances().length;
    expect((await errorOf(run({ MinCount: 1, MaxCount: 9 }))).name).toBe('InstanceLimitExceeded');
    expect(server.instances()).toHaveLength(before);
  });
  it('bad parameter values and unknown filters', async () => {
    expect((await errorOf(run({ MinCount: 2, MaxCount: 1 }))).name).toBe('InvalidParameterValue');
    expect((await errorOf(run({ InstanceInitiatedShutdownBehavior: 'hibernate' as 'stop' }))).name).toBe(
      'InvalidParameterValue',
    );
    expect((await errorOf(run({ UserData: 'not base64!' }))).name).toBe('InvalidParameterValue');
    expect(
      (await errorOf(client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'flavour', Values: ['x'] }] }))))
        .name,
    ).toBe('InvalidParameterValue');
  });
  it('unknown action', async () => {
    const form = 'Action=RebootEverything&Version=2016-11-15';
    const headers = await signedHeaders(server.endpoint, 'ec2', {
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    const res = await fetch(server.endpoint, { method: 'POST', headers, body: form });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toMatch(
      /<Response><Errors><Error><Code>InvalidAction<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>/,
    );
  });
});

describe('close()', () => {
  it('kills running instances and reports them terminated', async () => {
    const other = mkdtempSync(path.join(os.tmpdir(), 'cp-ec2-close-'));
    const second = await startEc2Server({
      port: 0,
      directory: other,
      pendingMs: 10,
      silent: true,
      credentials: TEST_CREDENTIALS,
    });
    const c = testEc2Client(second.endpoint);
    try {
      const out = await c.send(
        new RunInstancesCommand({
          ImageId: IMAGE,
          MinCount: 2,
          MaxCount: 2,
          UserData: b64('#!/bin/bash\ntrap "" TERM\nsleep 60\n'),
        }),
      );
      const ids = (out.Instances ?? []).map((i) => i.InstanceId ?? '');
      const deadline = Date.now() + 10_000;
      while (!second.instances().every((i) => i.state.name === 'running' && i.pid !== undefined)) {
        if (Date.now() > deadline) throw new Error('instances did not start');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const pids = second.instances().map((i) => i.pid ?? 0);
      await second.close();
      for (const pid of pids) expect(groupAlive(pid)).toBe(false);
      expect(second.instances().map((i) => [i.instanceId, i.state.name])).toEqual(ids.map((id) => [id, 'terminated']));
    } finally {
      c.destroy();
      await second.close();
      rmSync(other, { recursive: true, force: true });
    }
  });
});

const awsCli = spawnSync('aws', ['--version'], { encoding: 'utf8' }).status === 0;

// Without the `aws` CLI this suite is reported as skipped (never as a passing placeholder).
describe.skipIf(!awsCli)('the AWS CLI', () => {
  // Asynchronous: the server runs in this process, so a synchronous spawn would block it.
  const aws = (...args: string[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const env = {
        ...process.env,
        AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      };
      const argv = ['ec2', ...args, '--endpoint-url', server.endpoint, '--output', 'json'];
      execFile('aws', argv, { encoding: 'utf8', env }, (error, stdout, stderr) => {
        if (error) reject(new Error(`aws ec2 ${args.join(' ')} failed: ${stderr}`));
        else resolve(JSON.parse(stdout) as unknown);
      });
    });

  it('runs, describes and terminates instances', async () => {
    const ran = (await aws(
      'run-instances',
      '--image-id',
      'ami-12345678',
      '--count',
      '1',
      '--user-data',
      '#!/bin/bash\nsleep 60\n',
      '--tag-specifications',
      'ResourceType=instance,Tags=[{Key=via,Value=cli}]',
    )) as { Instances: { InstanceId: string; State: { Name: string } }[] };
    const id = ran.Instances[0]?.InstanceId ?? '';
    expect(id).toMatch(/^i-[0-9a-f]{17}$/);
    // The CLI base64-encodes --user-data itself.
    expect(local(id).userData).toBe('#!/bin/bash\nsleep 60\n');

    const described = (await aws('describe-instances', '--filters', 'Name=tag:via,Values=cli')) as {
      Reservations: { Instances: { InstanceId: string; Tags: { Key: string; Value: string }[] }[] }[];
    };
    expect(described.Reservations.flatMap((r) => r.Instances.map((i) => i.InstanceId))).toContain(id);

    const terminated = (await aws('terminate-instances', '--instance-ids', id)) as {
      TerminatingInstances: { InstanceId: string; CurrentState: { Name: string } }[];
    };
    expect(terminated.TerminatingInstances[0]?.InstanceId).toBe(id);
    expect(terminated.TerminatingInstances[0]?.CurrentState.Name).toMatch(/shutting-down|terminated/);

    let error = '';
    try {
      await aws('terminate-instances', '--instance-ids', 'i-0123456789abcdef0');
    } catch (e) {
      error = (e as Error).message;
    }
    expect(error).toContain('InvalidInstanceID.NotFound');
  });
});
