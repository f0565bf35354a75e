/**
 * Lets the key-based coordinator (coordinator.ts) run its tasks on EC2 instances, which have no credentials: a
 * Backend decorator that turns each WorkerTask (tasks.ts) into the URL-based task of ec2-wire.ts — presigned with
 * the coordinator's own S3 client, as the EC2 backend presigns the worker bundle and the result — and the
 * instance's answer back into the ParseResult or StatsAnswer the coordinator expects, checked by their schemas.
 *
 * Reads stay conditional: the GETs are presigned with `If-Match` as a signed header, so an instance cannot drop
 * it, and a replaced upload fails the chunk as SOURCE_CHANGED (worker-errors.ts), as on Lambda.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { z } from 'zod';
import type { Ec2Config } from '../../config.ts';
import { defaultPresignSeconds } from '../../fanout/ec2/backend.ts';
import { ec2RunSettings, type Ec2RunHooks } from '../../fanout/ec2/run.ts';
import type { Backend } from '../../fanout/index.ts';
import type { ParallelSetup } from './run.ts';
import { ec2ParseAnswerSchema, type Ec2ParseTask, type Ec2StatsTask, type Ec2WorkerTask } from './ec2-wire.ts';
import { statsAnswerSchema } from './stats-wire.ts';
import { type ParseResult, type ParseTask, parseResultSchema, type StatsTask, type WorkerTask } from './tasks.ts';

/** What an instance answers: checked by the EC2 backend (its `parse` option) before the decorator reads it. */
export const ec2AnswerSchema = z.union([ec2ParseAnswerSchema, statsAnswerSchema]);

/** Lifetime of the URLs a task carries: as long as the instance's own (its worker bundle and result). */
export interface PresignSettings {
  s3: S3Client;
  expiresIn: number;
}

async function presignedParse(task: ParseTask, { s3, expiresIn }: PresignSettings): Promise<Ec2ParseTask> {
  // A part grant would need a presigned UploadPart URL per part number, more than user data holds: an instance
  // writes all of its chunk's rates.csv bytes to scratch, and the coordinator copies them server-side.
  if (task.parts !== null) throw new Error('internal: an EC2 worker cannot be granted rates.csv parts');
  const { parts: _none, ...rest } = task;
  const { bucket, key, eTag } = task.source;
  const [url, csv, values] = await Promise.all([
    getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: eTag }), { expiresIn }),
    getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: task.output.csv }), { expiresIn }),
    getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: task.output.values }), { expiresIn }),
  ]);
  return { ...rest, source: { ...task.source, url }, output: { csv, values } };
}

async function presignedStats(task: StatsTask, { s3, expiresIn }: PresignSettings): Promise<Ec2StatsTask> {
  const { bucket, key, eTag } = task.values;
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key, IfMatch: eTag }), {
    expiresIn,
  });
  return { ...task, values: { ...task.values, url } };
}

/** The instance's parse answer with the keys it wrote to: what a key-based worker answers. */
function parseResultOf(task: ParseTask, answer: unknown): ParseResult {
  const { reply, csv, values, ms } = ec2ParseAnswerSchema.parse(answer);
  return parseResultSchema.parse({
    reply,
    parts: [],
    csv: { key: task.output.csv, ...csv },
    values: { key: task.output.values, ...values },
    ms,
  });
}

/**
 * `backend` (the EC2 backend, running the `rates-chunk` worker) as a backend of key-based tasks. Its name, usage
 * (the cost estimate's instance-seconds) and close are the EC2 backend's.
 *
 * The coordinator runs several fan-outs on this one backend (parse, re-runs, statistics rounds), each numbering
 * its tasks from 0; the EC2 backend gives each launch of an index its own result key (lib/fanout/ec2/backend.ts).
 */
export function presigningBackend(
  backend: Backend<Ec2WorkerTask, unknown>,
  presign: PresignSettings,
): Backend<WorkerTask, unknown> {
  const decorated: Backend<WorkerTask, unknown> = {
    name: backend.name,
    async run(task, context) {
      if (task.kind === 'parse')
        return parseResultOf(task, await backend.run(await presignedParse(task, presign), context));
      return statsAnswerSchema.parse(await backend.run(await presignedStats(task, presign), context));
    },
  };
  if (backend.close !== undefined) decorated.close = () => backend.close!();
  if (backend.usage !== undefined) decorated.usage = () => backend.usage!();
  return decorated;
}

/**
 * Where a split run's chunks go to run on EC2: the EC2 backend with the `rates-chunk` worker, one instance per task
 * (a statistics round launches its own), at most `maxInstances` at once, and the decorator above. `split` says
 * when a file is split without being asked to (ParallelSetup).
 */
export function ec2ParallelSetup(
  clients: { ec2: EC2Client; s3: S3Client; ssm?: SSMClient },
  config: Ec2Config,
  split: Pick<ParallelSetup, 'aboveBytes' | 'chunkBytes' | 'onProgress'>,
  hooks: Ec2RunHooks = {},
): ParallelSetup {
  // The task's URLs live as long as the instance's own (worker bundle, result).
  const presignSeconds = defaultPresignSeconds(config.deadlineMs);
  return {
    ...split,
    concurrency: config.maxInstances,
    backend: {
      name: 'ec2',
      worker: 'rates-chunk',
      ...clients,
      ...ec2RunSettings(config, hooks),
      presignSeconds,
      parse: (value) => ec2AnswerSchema.parse(value),
    },
    decorate: (backend) => presigningBackend(backend, { s3: clients.s3, expiresIn: presignSeconds }),
  };
}
