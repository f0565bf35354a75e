/**
 * The EC2 backend end to end, split from backend.test.ts so that file stays in the unit lane: a real S3 server
 * in a child process, real presigned URLs, and the user data run by bash as the instance would run it.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { ec2Backend } from '../../../../lib/fanout/ec2/backend.ts';
import { bundleWorkerSource } from '../../../../lib/fanout/ec2/worker-bundle.ts';
import { fanout } from '../../../../lib/fanout/index.ts';
import { spawnS3ServerProcess } from '../../../../local-stack/s3/child.ts';
import { TEST_CREDENTIALS } from '../../../support/signing.ts';

const credentials = TEST_CREDENTIALS;

describe('ec2 backend end to end: real presigned URLs, user data run by bash', () => {
  it('runs chunks through the local S3 server and terminates every instance', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cp-ec2-e2e-'));
    const server = await spawnS3ServerProcess({ directory: join(dir, 's3'), buckets: ['e2e-bucket'], credentials });
    try {
      const realS3 = new S3Client({
        region: 'us-east-1',
        credentials,
        endpoint: server.endpoint,
        forcePathStyle: true,
      });
      await realS3.send(
        new PutObjectCommand({
          Bucket: 'e2e-bucket',
          Key: 'workers/square.mjs',
          Body: await bundleWorkerSource(
            "export async function run(t) { if (t.n < 0) throw new Error('negative: ' + t.n); return { square: t.n * t.n }; }",
          ),
        }),
      );
      // A stand-in for the local EC2 endpoint: RunInstances runs the user data as a process, with `shutdown` and
      // `poweroff` stubs first in its PATH (this machine has real ones), DescribeInstances reports it running until
      // it exits, then terminated.
      const stubs = join(dir, 'bin');
      await mkdir(stubs);
      for (const name of ['shutdown', 'poweroff']) {
        await writeFile(join(stubs, name), '#!/bin/sh\nexit 0\n');
        await chmod(join(stubs, name), 0o755);
      }
      const fakeEc2 = new EC2Client({ region: 'us-east-1', credentials });
      const fake = mockClient(fakeEc2);
      const exited = new Map<string, boolean>();
      let n = 0;
      fake.on(RunInstancesCommand).callsFake(async (input: RunInstancesCommandInput) => {
        const id = `i-e2e${++n}`;
        const script = Buffer.from(input.UserData ?? '', 'base64').toString('utf8');
        const child = spawn('bash', ['-c', script], {
          env: { ...process.env, PATH: `${stubs}:${process.env.PATH ?? ''}`, TMPDIR: dir },
          stdio: 'ignore',
        });
        exited.set(id, false);
        child.on('exit', () => exited.set(id, true));
        return { Instances: [{ InstanceId: id }] };
      });
      fake.on(DescribeInstancesCommand).callsFake(async (input: { InstanceIds: string[] }) => ({
        Reservations: [
          { Instances: [{ State: { Name: exited.get(input.InstanceIds[0] ?? '') ? 'terminated' : 'running' } }] },
        ],
      }));
      fake.on(TerminateInstancesCommand).resolves({});

      const backend = ec2Backend<{ n: number }, { square: number }>({
        ec2: fakeEc2,
        s3: realS3,
        bucket: 'e2e-bucket',
        runId: 'e2e-1',
        workerKey: 'workers/square.mjs',
        imageId: 'ami-local',
        tags: { service: 'cloud-parallel', stage: 'test' },
        deadlineMs: 60_000,
        pollMs: 50, // real waiting here: the scripts are real processes; no assertion depends on timing
        nodeMajor: 20,
      });
      try {
        const result = await fanout([{ n: 3 }, { n: -1 }, { n: 12 }], backend);
        expect(result.outcomes.map((o) => (o.ok ? o.value : o.error))).toEqual([
          { square: 9 },
          { kind: 'function', type: 'Error', message: 'chunk 1 (run e2e-1): negative: -1' },
          { square: 144 },
        ]);
        expect(
          fake
            .commandCalls(TerminateInstancesCommand)
            .flatMap((c) => c.args[0].input.InstanceIds ?? [])
            .sort(),
        ).toEqual(['i-e2e1', 'i-e2e2', 'i-e2e3']);
      } finally {
        await backend.close();
      }
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
