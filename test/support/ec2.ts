import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import type { Ec2Config } from '../../lib/config.ts';
import { buildWorkerBundles, type Ec2WorkerName } from '../../lib/fanout/ec2/worker-bundle.ts';
import { LOCAL_IMAGE_ID, startEc2Server, type RunningEc2Server } from '../../local-stack/ec2/server.ts';
import { spawnS3ServerProcess, type S3ServerProcess } from '../../local-stack/s3/child.ts';
import { TEST_CREDENTIALS } from './signing.ts';

export interface LocalEc2 {
  bucket: string;
  s3: S3Client;
  ec2: EC2Client;
  ec2Server: RunningEc2Server;
  /** The built worker bundles, by name. */
  bundles: Record<Ec2WorkerName, Buffer>;
  config(overrides?: Partial<Ec2Config>): Ec2Config;
  /** State names of the instances launched after the first `skip`. */
  states(skip: number): string[];
  /** Keys under runs/ (what runs leave behind). */
  scratchKeys(): Promise<string[]>;
}

/**
 * A local S3 server (its own process) and the local EC2 endpoint (in process) for one test file, with the real SDK
 * clients pointed at them and freshly built worker bundles: EC2 runs with nothing mocked.
 */
export function useLocalEc2(bucket: string): LocalEc2 {
  const credentials = TEST_CREDENTIALS;
  const handle = { bucket } as LocalEc2;
  let dir: string;
  let s3Server: S3ServerProcess | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cp-ec2-run-'));
    s3Server = await spawnS3ServerProcess({ directory: join(dir, 's3'), buckets: [bucket], credentials });
    handle.ec2Server = await startEc2Server({
      port: 0,
      directory: join(dir, 'ec2'),
      pendingMs: 50,
      silent: true,
      credentials,
    });
    handle.s3 = new S3Client({ region: 'us-east-1', credentials, endpoint: s3Server.endpoint, forcePathStyle: true });
    handle.ec2 = new EC2Client({ region: 'us-east-1', credentials, endpoint: handle.ec2Server.endpoint });
    const built = await buildWorkerBundles(join(dir, 'bundles'));
    handle.bundles = Object.fromEntries(
      Object.entries(built).map(([name, file]) => [name, readFileSync(file)]),
    ) as Record<Ec2WorkerName, Buffer>;
  }, 60_000);
  afterAll(async () => {
    await handle.ec2Server?.close();
    await s3Server?.close();
    await rm(dir, { recursive: true, force: true });
  });
  handle.config = (overrides = {}) => ({
    bucket,
    tags: { service: 'cloud-parallel', stage: 'test' },
    imageId: LOCAL_IMAGE_ID,
    deadlineMs: 60_000,
    pollMs: 50, // real waiting: the instances are real processes; no assertion depends on timing
    maxInstances: 8,
    nodeMajor: Number(process.versions.node.split('.')[0]),
    ...overrides,
  });
  handle.states = (skip) =>
    handle.ec2Server
      .instances()
      .slice(skip)
      .map((i) => i.state.name);
  handle.scratchKeys = async () => {
    const listed = await handle.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'runs/' }));
    return (listed.Contents ?? []).map((o) => o.Key!);
  };
  return handle;
}
