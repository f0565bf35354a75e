import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { deleteObjects } from '../../aws/s3.ts';
import { ec2Cost, type Ec2Cost } from '../cost.ts';
import { ec2Backend, type Ec2Backend, type Ec2BackendOptions } from './backend.ts';
import { readWorkerBundle, type Ec2WorkerName } from './worker-bundle.ts';
import type { Ec2Config } from '../../config.ts';

/**
 * One run on the EC2 backend, from the caller's side: upload the worker bundle under `runs/<runId>/`, hand a
 * backend to `body` (which fans tasks out on it), then — whatever `body` did — terminate every instance still
 * alive and delete the run's scratch objects. Results `body` gathered are returned even when the clean-up fails:
 * that failure is reported next to them, never instead of them.
 */
export interface Ec2RunOptions<R> extends Omit<Ec2BackendOptions<R>, 'runId' | 'workerKey'> {
  worker: Ec2WorkerName;
  /** Default: a new id from the time and 6 random bytes. */
  runId?: string;
  /** The bundle's bytes; default: read the built bundle ({@link readWorkerBundle}). */
  bundle?: Buffer;
}

export interface Ec2RunContext {
  runId: string;
  bucket: string;
  /** `runs/<runId>/`: the run's scratch space, deleted when the run ends. */
  prefix: string;
  s3: S3Client;
}

export interface Ec2RunReport<V> {
  value: V;
  runId: string;
  instanceType: string;
  instances: number;
  cost: Ec2Cost;
  /** Set when terminating instances or deleting `runs/<runId>/` failed; the lifecycle rule expires the objects. */
  cleanupError?: string;
}

/** What a caller may add to one run: its id, another bundle (tests), progress, a stop signal. */
export interface Ec2RunHooks {
  runId?: string;
  bundle?: Buffer;
  onInstances?: (p: { pending: number; running: number; done: number; total: number }) => void;
  signal?: AbortSignal;
}

type Ec2RunSettings = Omit<Ec2RunOptions<unknown>, 'worker' | 'ec2' | 's3' | 'ssm' | 'parse'>;

/** The deployment's EC2 settings and a run's hooks as `withEc2Run` options: one mapping for every job. */
export function ec2RunSettings(config: Ec2Config, hooks: Ec2RunHooks = {}): Ec2RunSettings {
  const optional = <K extends keyof Ec2RunSettings>(key: K, value: Ec2RunSettings[K] | undefined) =>
    value === undefined ? {} : { [key]: value };
  return {
    bucket: config.bucket,
    tags: config.tags,
    deadlineMs: config.deadlineMs,
    pollMs: config.pollMs,
    nodeMajor: config.nodeMajor,
    ...optional('imageId', config.imageId),
    ...optional('instanceType', config.instanceType),
    ...optional('subnetId', config.subnetId),
    ...optional('securityGroupIds', config.securityGroupIds),
    ...optional('usdPerHour', config.usdPerHour),
    ...optional('runId', hooks.runId),
    ...optional('bundle', hooks.bundle),
    ...optional('onProgress', hooks.onInstances),
  };
}

export function newRunId(now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(6).toString('hex')}`;
}

export async function withEc2Run<T, R, V>(
  options: Ec2RunOptions<R>,
  body: (backend: Ec2Backend<T, R>, run: Ec2RunContext) => Promise<V>,
): Promise<Ec2RunReport<V>> {
  const { worker, bundle, ...backendOptions } = options;
  const runId = options.runId ?? newRunId();
  const prefix = `runs/${runId}/`;
  const workerKey = `${prefix}worker.mjs`;
  const code = bundle ?? readWorkerBundle(worker);
  await options.s3.send(
    new PutObjectCommand({ Bucket: options.bucket, Key: workerKey, Body: code, ContentType: 'text/javascript' }),
  );

  const backend = ec2Backend<T, R>({ ...backendOptions, runId, workerKey });
  let value: V;
  const problems: string[] = [];
  try {
    value = await body(backend, { runId, bucket: options.bucket, prefix, s3: options.s3 });
  } finally {
    try {
      await backend.close();
    } catch (error) {
      problems.push((error as Error).message);
    }
    try {
      await deletePrefix(options.s3, options.bucket, prefix);
    } catch (error) {
      problems.push(`could not delete s3://${options.bucket}/${prefix}: ${(error as Error)?.message ?? String(error)}`);
    }
    if (problems.length > 0) process.emitWarning(`EC2 run ${runId}: ${problems.join('; ')}`);
  }
  const cost = ec2Cost(backend.usage());
  return {
    value,
    runId,
    instanceType: cost.instanceType,
    instances: cost.instances,
    cost,
    ...(problems.length === 0 ? {} : { cleanupError: problems.join('; ') }),
  };
}

/** Deletes every object under `prefix` (ListObjectsV2, then DeleteObjects 1,000 keys a call). */
export async function deletePrefix(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let deleted = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
    const failed = await deleteObjects(s3, bucket, keys);
    if (failed.length > 0) throw new Error(failed.map((e) => `${e.Key}: ${e.Code} ${e.Message}`).join('; '));
    deleted += keys.length;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return deleted;
}
