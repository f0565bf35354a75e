/**
 * EC2 runs end to end without mocks: the real local EC2 endpoint (instances are processes running the real user
 * data with bash), the local S3 server (real presigned URLs), and the real SDK clients. Covers what the issue asks
 * of failures: a worker that never reports, one that crashes, the AMI lookup failing, the run's time running out —
 * and in every case every instance terminated, the failed chunks named, and the run's scratch space deleted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ec2Config } from '../lib/config.ts';
import { buildWorkerBundles } from '../lib/fanout/ec2/worker-bundle.ts';
import { runPrimesOnEc2 } from '../lib/primes/ec2.ts';
import { parsePrimesRunInput } from '../lib/primes/fanout-job.ts';
import { readFileSync } from 'node:fs';
import { LOCAL_IMAGE_ID, startEc2Server, type RunningEc2Server } from '../local-stack/ec2-server.ts';
import { spawnS3ServerProcess, type S3ServerProcess } from '../local-stack/s3-child.ts';

const credentials = { accessKeyId: 'local-test', secretAccessKey: 'local-test' };
const BUCKET = 'ec2-run-bucket';
let dir: string;
let s3Server: S3ServerProcess;
let ec2Server: RunningEc2Server;
let s3: S3Client;
let ec2: EC2Client;
let primesBundle: Buffer;

const config = (overrides: Partial<Ec2Config> = {}): Ec2Config => ({
  bucket: BUCKET,
  tags: { service: 'cloud-parallel', stage: 'test' },
  imageId: LOCAL_IMAGE_ID,
  deadlineMs: 60_000,
  pollMs: 50, // real waiting: the instances are real processes; no assertion depends on timing
  maxInstances: 8,
  nodeMajor: Number(process.versions.node.split('.')[0]),
  ...overrides,
});

const bundleOf = (source: string) => Buffer.from(source, 'utf8');

async function scratchKeys(): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/' }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cp-ec2-run-'));
  s3Server = await spawnS3ServerProcess({ directory: join(dir, 's3'), buckets: [BUCKET] });
  ec2Server = await startEc2Server({ port: 0, directory: join(dir, 'ec2'), pendingMs: 50, silent: true });
  s3 = new S3Client({ region: 'us-east-1', credentials, endpoint: s3Server.endpoint, forcePathStyle: true });
  ec2 = new EC2Client({ region: 'us-east-1', credentials, endpoint: ec2Server.endpoint });
  const built = await buildWorkerBundles(join(dir, 'bundles'));
  primesBundle = readFileSync(built.primes);
}, 60_000);

afterAll(async () => {
  await ec2Server?.close();
  await s3Server?.close();
  await rm(dir, { recursive: true, force: true });
});

const states = () => ec2Server.instances().map((i) => i.state.name);

describe('primes on the EC2 backend, through the local EC2 endpoint', () => {
  it('counts [1e8, 1.01e8) on one instance per chunk: 54,208, with timings, cost, and nothing left behind', async () => {
    const before = ec2Server.instances().length;
    const result = await runPrimesOnEc2(parsePrimesRunInput({ start: 100_000_000, end: 101_000_000, chunks: 3, backend: 'ec2' }), { ec2, s3 }, config(), {
      runId: 'count-ok',
    });
    expect(result).toMatchObject({ count: 54_208, complete: true, backend: 'ec2', failedChunks: [] });
    expect(result.chunks.every((c) => c.count! > 0 && c.ms! >= 0 && c.attempts === 1)).toBe(true);
    expect(result.cost).toMatchObject({ backend: 'ec2', instances: 3, instanceType: 'c7i.large', billedSeconds: 180 });
    const launched = ec2Server.instances().slice(before);
    expect(launched).toHaveLength(3);
    // Tagged so IAM's conditions and a person's console filter both find them.
    expect(launched[0]!.tags).toMatchObject({ service: 'cloud-parallel', stage: 'test', 'cloud-parallel:run-id': 'count-ok' });
    expect(launched.every((i) => i.shutdownBehavior === 'terminate')).toBe(true);
    await expect.poll(() => states().slice(before), { timeout: 10_000 }).toEqual(['terminated', 'terminated', 'terminated']);
    expect(await scratchKeys()).toEqual([]);
  }, 60_000);

  it('a worker that never reports: the deadline terminates its instance and names the chunk; the others count', async () => {
    const before = ec2Server.instances().length;
    // Chunk [0, 1000) hangs forever; the rest answer.
    const bundle = bundleOf(
      `export async function run(task) { if (task.start === 0) await new Promise(() => setInterval(() => {}, 1000)); ` +
        `return { start: task.start, end: task.end, count: 7, ms: 1 }; }`,
    );
    const result = await runPrimesOnEc2(parsePrimesRunInput({ start: 0, end: 3000, chunks: 3, backend: 'ec2' }), { ec2, s3 }, config({ deadlineMs: 1500 }), {
      runId: 'never-reports',
      bundle,
    });
    expect(result.complete).toBe(false);
    expect(result.count).toBe(14);
    expect(result.failedChunks).toEqual([
      expect.objectContaining({ start: 0, end: 1000, attempts: 1, error: expect.objectContaining({ type: 'DeadlineExceeded', message: expect.stringContaining('chunk 0') }) }),
    ]);
    await expect.poll(() => states().slice(before), { timeout: 10_000 }).toEqual(['terminated', 'terminated', 'terminated']);
    expect(await scratchKeys()).toEqual([]);
  }, 60_000);

  it('a worker that crashes or throws fails its own chunk, named, with the reason; the others count', async () => {
    const before = ec2Server.instances().length;
    const bundle = bundleOf(
      `export async function run(task) {
         if (task.start === 1000) process.exit(3);
         if (task.start === 2000) throw new RangeError('chunk rejected on purpose');
         if (task.start === 3000) return { nonsense: true };
         return { start: task.start, end: task.end, count: 5, ms: 1 };
       }`,
    );
    const result = await runPrimesOnEc2(parsePrimesRunInput({ start: 0, end: 4000, chunks: 4, backend: 'ec2' }), { ec2, s3 }, config(), {
      runId: 'crashing',
      bundle,
    });
    expect(result.count).toBe(5);
    const failures = Object.fromEntries(result.failedChunks.map((c) => [c.start, c.error]));
    expect(Object.keys(failures).sort()).toEqual(['1000', '2000', '3000']);
    expect(failures[1000]).toMatchObject({ kind: 'function', message: expect.stringContaining('chunk 1') });
    expect(failures[2000]).toMatchObject({ kind: 'function', type: 'RangeError', message: expect.stringContaining('chunk rejected on purpose') });
    expect(failures[3000]).toMatchObject({ kind: 'function', type: 'InvalidResult' });
    // Function errors are the worker's own: not retried, so exactly one instance per chunk.
    expect(result.failedChunks.every((c) => c.attempts === 1)).toBe(true);
    await expect.poll(() => states().slice(before), { timeout: 10_000 }).toEqual(['terminated', 'terminated', 'terminated', 'terminated']);
    expect(await scratchKeys()).toEqual([]);
  }, 60_000);

  it('the AMI lookup failing is a clear error on every chunk, and launches nothing', async () => {
    const before = ec2Server.instances().length;
    // Nothing listens on port 9 (discard): SSM is unreachable, as it is without network access or permission.
    const ssm = new SSMClient({ region: 'us-east-1', credentials, endpoint: 'http://127.0.0.1:9', maxAttempts: 1 });
    const { imageId: _none, ...withoutImage } = config();
    const result = await runPrimesOnEc2(parsePrimesRunInput({ start: 0, end: 2000, chunks: 2, backend: 'ec2' }), { ec2, s3, ssm }, withoutImage, {
      runId: 'no-ami',
      retries: 0,
    });
    expect(result.complete).toBe(false);
    expect(result.failedChunks).toHaveLength(2);
    for (const chunk of result.failedChunks) {
      expect(chunk.error).toMatchObject({ type: 'AmiLookupFailed', message: expect.stringContaining('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64') });
      expect(chunk.error!.message).toContain('ssm:GetParameter');
    }
    expect(ec2Server.instances()).toHaveLength(before);
    expect(await scratchKeys()).toEqual([]);
  }, 30_000);

  it('when the run runs out of time (the Lambda deadline), every instance is terminated and every chunk named', async () => {
    const before = ec2Server.instances().length;
    const bundle = bundleOf('export async function run() { await new Promise(() => setInterval(() => {}, 1000)); }');
    const controller = new AbortController();
    const result = await runPrimesOnEc2(parsePrimesRunInput({ start: 0, end: 3000, chunks: 3, backend: 'ec2' }), { ec2, s3 }, config(), {
      runId: 'out-of-time',
      bundle,
      signal: controller.signal,
      // Abort once all three are running: a deadline that lands mid-run, not before launch.
      onInstances: ({ running }) => {
        if (running === 3) controller.abort();
      },
    });
    expect(result.count).toBe(0);
    expect(result.failedChunks.map((c) => [c.start, c.error?.kind])).toEqual([
      [0, 'aborted'],
      [1000, 'aborted'],
      [2000, 'aborted'],
    ]);
    await expect.poll(() => states().slice(before), { timeout: 10_000 }).toEqual(['terminated', 'terminated', 'terminated']);
    expect(await scratchKeys()).toEqual([]);
  }, 60_000);
});

