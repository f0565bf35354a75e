/**
 * EC2 runs end to end without mocks: the real local EC2 endpoint (instances are processes running the real user
 * data with bash), the local S3 server (real presigned URLs), and the real SDK clients. Covers what the issue asks
 * of failures: a worker that never reports, one that crashes, the AMI lookup failing, the run's time running out —
 * and in every case every instance terminated, the failed chunks named, and the run's scratch space deleted.
 */
import { SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import { bundleWorkerSource } from '../../../lib/fanout/ec2/worker-bundle.ts';
import { runPrimesOnEc2 } from '../../../lib/primes/ec2.ts';
import { parsePrimesRunInput } from '../../../lib/primes/run-input.ts';
import { useLocalEc2 } from '../../support/ec2.ts';

const local = useLocalEc2('ec2-run-bucket');
const { config, scratchKeys } = local;
const credentials = { accessKeyId: 'local-test', secretAccessKey: 'local-test' };
/** A worker bundle (the worker and its runner) from the worker's source. */
const bundleOf = (source: string) => bundleWorkerSource(source);
const clients = () => ({ ec2: local.ec2, s3: local.s3 });
const launchedSoFar = () => local.ec2Server.instances().length;
/** Runs `input` on the EC2 backend through the local endpoints, with `ec2Config` where a test changes it. */
const runOnLocalEc2 = (
  input: Record<string, unknown>,
  options: Parameters<typeof runPrimesOnEc2>[3],
  ec2Config = config(),
) => runPrimesOnEc2(parsePrimesRunInput({ ...input, backend: 'ec2' }), clients(), ec2Config, options);

/** What every run must leave: the `launched` instances it started since `before` all terminated, no scratch objects. */
async function expectNothingLeft(before: number, launched: number): Promise<void> {
  await expect
    .poll(() => local.states(before), { timeout: 10_000 })
    .toEqual(Array.from({ length: launched }, () => 'terminated'));
  expect(await scratchKeys()).toEqual([]);
}

describe('primes on the EC2 backend, through the local EC2 endpoint', () => {
  it('counts [1e8, 1.01e8) on one instance per chunk: 54,208, with timings, cost, and nothing left behind', async () => {
    const before = launchedSoFar();
    const result = await runOnLocalEc2({ start: 100_000_000, end: 101_000_000, chunks: 3 }, { runId: 'count-ok' });
    expect(result).toMatchObject({ count: 54_208, complete: true, backend: 'ec2', failedChunks: [] });
    expect(result.chunks.every((c) => c.count! > 0 && c.ms! >= 0 && c.attempts === 1)).toBe(true);
    expect(result.cost).toMatchObject({ backend: 'ec2', instances: 3, instanceType: 'c7i.large', billedSeconds: 180 });
    const launched = local.ec2Server.instances().slice(before);
    expect(launched).toHaveLength(3);
    // Tagged so IAM's conditions and a person's console filter both find them.
    expect(launched[0]!.tags).toMatchObject({
      service: 'cloud-parallel',
      stage: 'test',
      'cloud-parallel:run-id': 'count-ok',
    });
    expect(launched.every((i) => i.shutdownBehavior === 'terminate')).toBe(true);
    await expectNothingLeft(before, 3);
  }, 60_000);

  it('a worker that never reports: the deadline terminates its instance and names the chunk; the others count', async () => {
    const before = launchedSoFar();
    // Chunk [0, 1000) hangs forever; the rest answer.
    const bundle = await bundleOf(
      `export async function run(task) { if (task.start === 0) await new Promise(() => setInterval(() => {}, 1000)); ` +
        `return { start: task.start, end: task.end, count: 7, ms: 1 }; }`,
    );
    const result = await runOnLocalEc2(
      { start: 0, end: 3000, chunks: 3 },
      { runId: 'never-reports', bundle },
      config({ deadlineMs: 1500 }),
    );
    expect(result.complete).toBe(false);
    expect(result.count).toBe(14);
    expect(result.failedChunks).toEqual([
      expect.objectContaining({
        start: 0,
        end: 1000,
        attempts: 1,
        error: expect.objectContaining({ type: 'DeadlineExceeded', message: expect.stringContaining('chunk 0') }),
      }),
    ]);
    await expectNothingLeft(before, 3);
  }, 60_000);

  it('a worker that crashes or throws fails its own chunk, named, with the reason; the others count', async () => {
    const before = launchedSoFar();
    const bundle = await bundleOf(
      `export async function run(task) {
         if (task.start === 1000) process.exit(3);
         if (task.start === 2000) throw new RangeError('chunk rejected on purpose');
         if (task.start === 3000) return { nonsense: true };
         return { start: task.start, end: task.end, count: 5, ms: 1 };
       }`,
    );
    const result = await runOnLocalEc2({ start: 0, end: 4000, chunks: 4 }, { runId: 'crashing', bundle });
    expect(result.count).toBe(5);
    const failures = Object.fromEntries(result.failedChunks.map((c) => [c.start, c.error]));
    expect(Object.keys(failures).sort()).toEqual(['1000', '2000', '3000']);
    expect(failures[1000]).toMatchObject({
      kind: 'function',
      type: 'WorkerCrashed',
      message: expect.stringContaining('chunk 1'),
    });
    expect(failures[2000]).toMatchObject({
      kind: 'function',
      type: 'RangeError',
      message: expect.stringContaining('chunk rejected on purpose'),
    });
    expect(failures[3000]).toMatchObject({ kind: 'function', type: 'InvalidResult' });
    // Function errors are the worker's own: not retried, so exactly one instance per chunk.
    expect(result.failedChunks.every((c) => c.attempts === 1)).toBe(true);
    await expectNothingLeft(before, 4);
  }, 60_000);

  it('the AMI lookup failing is a clear error on every chunk, and launches nothing', async () => {
    const before = launchedSoFar();
    // Nothing listens on port 9 (discard): SSM is unreachable, as it is without network access or permission.
    const ssm = new SSMClient({ region: 'us-east-1', credentials, endpoint: 'http://127.0.0.1:9', maxAttempts: 1 });
    const { imageId: _none, ...withoutImage } = config();
    const result = await runPrimesOnEc2(
      parsePrimesRunInput({ start: 0, end: 2000, chunks: 2, backend: 'ec2' }),
      { ...clients(), ssm },
      withoutImage,
      { runId: 'no-ami', retries: 0 },
    );
    expect(result.complete).toBe(false);
    expect(result.failedChunks).toHaveLength(2);
    for (const chunk of result.failedChunks) {
      expect(chunk.error).toMatchObject({
        type: 'AmiLookupFailed',
        message: expect.stringContaining('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64'),
      });
      expect(chunk.error!.message).toContain('ssm:GetParameter');
    }
    expect(launchedSoFar()).toBe(before);
    expect(await scratchKeys()).toEqual([]);
  }, 30_000);

  it('when the run runs out of time (the Lambda deadline), every instance is terminated and every chunk named', async () => {
    const before = launchedSoFar();
    const bundle = await bundleOf(
      'export async function run() { await new Promise(() => setInterval(() => {}, 1000)); }',
    );
    const controller = new AbortController();
    const result = await runOnLocalEc2(
      { start: 0, end: 3000, chunks: 3 },
      {
        runId: 'out-of-time',
        bundle,
        signal: controller.signal,
        // Abort once all three are running: a deadline that lands mid-run, not before launch.
        onInstances: ({ running }) => {
          if (running === 3) controller.abort();
        },
      },
    );
    expect(result.count).toBe(0);
    expect(result.failedChunks.map((c) => [c.start, c.error?.kind])).toEqual([
      [0, 'aborted'],
      [1000, 'aborted'],
      [2000, 'aborted'],
    ]);
    await expectNothingLeft(before, 3);
  }, 60_000);

  it('packs several chunks per instance: same count, fewer instances; a crashed chunk does not stop the next one', async () => {
    const before = launchedSoFar();
    const packed = await runOnLocalEc2(
      { start: 100_000_000, end: 101_000_000, chunks: 4, chunksPerInstance: 2 },
      { runId: 'packed' },
    );
    expect(packed).toMatchObject({ count: 54_208, complete: true, cost: { instances: 2, billedSeconds: 120 } });
    expect(launchedSoFar() - before).toBe(2);

    const crashFirst = await bundleOf(
      `export async function run(task) { if (task.start === 0) process.exit(7); return { start: task.start, end: task.end, count: 3, ms: 1 }; }`,
    );
    const result = await runOnLocalEc2(
      { start: 0, end: 2000, chunks: 2, chunksPerInstance: 2 },
      { runId: 'packed-crash', bundle: crashFirst },
    );
    expect(result.count).toBe(3);
    expect(result.failedChunks).toEqual([
      expect.objectContaining({
        start: 0,
        error: expect.objectContaining({ type: 'WorkerCrashed', message: expect.stringContaining('status 7') }),
      }),
    ]);
    await expectNothingLeft(before, 3);
  }, 60_000);
});
