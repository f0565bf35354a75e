import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { DescribeInstancesCommand, RunInstancesCommand, TerminateInstancesCommand, type EC2Client, type _InstanceType } from '@aws-sdk/client-ec2';
import { GetObjectCommand, PutObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { openEnvelope, workerEnvelopeSchema, type ResultParser, type WorkerEnvelope } from '../envelope.ts';
import { abortReason, classifyError, FanoutError } from '../errors.ts';
import { DEFAULT_USD_PER_HOUR, type InstanceUsage } from '../cost.ts';
import type { Backend } from '../index.ts';
import { buildUserData, MAX_USER_DATA_BYTES } from './user-data.ts';

/**
 * One EC2 instance per task attempt. The instance boots the target AMI, and its user data
 * (./user-data.ts) downloads the worker bundle with a presigned GET, runs the task with Node, PUTs the JSON
 * result to a presigned URL, `runs/<runId>/<index>.json` (`<index>.attempt-<n>.json` for a retry), and powers off. The instance gets no IAM role,
 * no SSH key and no open port; IMDSv2 is required. The backend polls S3 for the result and EC2 for the
 * instance's state, and terminates every instance it launched in every outcome.
 *
 * Needs: `ec2:RunInstances`, `ec2:CreateTags`, `ec2:DescribeInstances`, `ec2:TerminateInstances`;
 * `s3:GetObject` on the worker key and the results, `s3:PutObject` on `runs/*` (the presigned URLs carry the
 * caller's permissions) and `s3:ListBucket` (without it S3 answers 403, not 404, for a result not there yet);
 * `ssm:GetParameter` when the AMI is looked up. The instance's subnet must reach S3 (public IP, NAT or an S3
 * gateway endpoint). Presigned URLs made with temporary credentials (a Lambda role) stop working when the
 * session does, whatever `presignSeconds` says.
 *
 * Use a fresh `runId` per run: a result object left by an earlier run with the same id would be read as this
 * run's.
 *
 * `tasksPerInstance` > 1 packs tasks that arrive together (the fan-out starts up to `concurrency` at once) onto one
 * instance, which runs them one after the other: fewer boots and fewer 60-second billing minimums for short
 * tasks. The instance's deadline is then `deadlineMs` × its task count, and it is terminated once all of its
 * tasks have settled.
 */
export interface Ec2BackendOptions<R = unknown> {
  ec2: EC2Client;
  s3: S3Client;
  /** Needed only when `imageId` is not given. */
  ssm?: SSMClient;
  bucket: string;
  /** Results go under `runs/<runId>/` in the bucket. Letters, digits, `.`, `_`, `-`. */
  runId: string;
  /** S3 key of the worker bundle: an ESM `.mjs` exporting `run(task)`. */
  workerKey: string;
  /** Default: the current Amazon Linux 2023 AMI, from the SSM public parameter {@link AL2023_AMI_PARAMETER}. */
  imageId?: string;
  /** Default {@link DEFAULT_INSTANCE_TYPE}. */
  instanceType?: string;
  /** The instance type's on-demand price, for the cost estimate; default {@link DEFAULT_USD_PER_HOUR} (the default type's). */
  usdPerHour?: number;
  subnetId?: string;
  securityGroupIds?: string[];
  /** Tags every instance and volume with `service`, `stage`, `cloud-parallel:run-id`, `cloud-parallel:chunk`. */
  tags: { service: string; stage: string };
  /** Per attempt, from its launch: give up waiting for the result after this, terminate, fail `DeadlineExceeded`. */
  deadlineMs: number;
  /** Tasks run on one instance, one after the other (default 1). */
  tasksPerInstance?: number;
  /** Between two polls of S3 and EC2, default 5000. */
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called when an instance is launched, starts running or finishes. */
  onProgress?: (p: { pending: number; running: number; done: number; total: number }) => void;
  /** Lifetime of the presigned URLs, default deadline + 15 minutes, at most 7 days (SigV4's limit). */
  presignSeconds?: number;
  /** Node.js major version the user data requires (installing it if missing), default 22. A local emulator on Node 20 sets 20. */
  nodeMajor?: number;
  /** Checks and shapes the worker's value; whatever it throws fails the task as a function error `InvalidResult`. */
  parse?: ResultParser<R>;
  /** A result object larger than this fails its task as `ResultTooLarge`; default {@link MAX_RESULT_BYTES}. */
  maxResultBytes?: number;
}

/**
 * The largest worker result the backend reads back from S3: 6 MiB, what a synchronous Lambda reply may carry, so
 * a worker's result fits either backend. It also bounds memory: the fan-out Lambda has 256 MB and may be reading
 * the results of many chunks at once. A bigger output belongs in an S3 object of its own, named in the result (the
 * rates worker PUTs its CSV that way). Checked against ContentLength before reading, and while reading, since the
 * object's size is the worker's to choose.
 */
export const MAX_RESULT_BYTES = 6 * 1024 * 1024;

/** SigV4's limit on a presigned URL's lifetime: 7 days. */
const MAX_PRESIGN_SECONDS = 604_800;

/** How long an instance's presigned URLs live by default: its deadline plus 15 minutes to boot and upload. */
export function defaultPresignSeconds(deadlineMs: number): number {
  return Math.min(MAX_PRESIGN_SECONDS, Math.ceil(deadlineMs / 1000) + 900);
}

export { DEFAULT_USD_PER_HOUR, estimateEc2Cost, type Ec2CostEstimate } from '../cost.ts';

export const AL2023_AMI_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
/** 2 vCPUs (Sapphire Rapids), 4 GiB: the smallest current compute-optimized x86 size. */
export const DEFAULT_INSTANCE_TYPE = 'c7i.large';
const EXITED_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

function isMissingObject(error: unknown): boolean {
  const { name, $metadata } = (typeof error === 'object' && error !== null ? error : {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  // NoSuchBucket is a setup error, not "not yet".
  return name === 'NoSuchKey' || name === 'NotFound' || (name !== 'NoSuchBucket' && $metadata?.httpStatusCode === 404);
}

interface Tracked {
  /** The tasks (by index) this instance runs. */
  indexes: number[];
  /** Tasks on it not settled yet; at 0 the instance is terminated. */
  unsettled: number;
  state: 'pending' | 'running' | 'done';
  launchedAt: number;
  /** When we asked EC2 to terminate it (or saw it exit), for the cost estimate. */
  endedAt?: number;
}

interface Slot {
  task: unknown;
  index: number;
  attempt: number;
  /** Where this attempt's result is PUT. */
  key: string;
  /** Hands the slot the launch of the instance it was packed onto. */
  launched: (launch: Promise<Launched>) => void;
}

interface Launched {
  id: string;
  entry: Tracked;
  deadline: number;
}

export interface Ec2Backend<T, R> extends Backend<T, R> {
  /** Terminates every instance still tracked (launched and not yet terminated); later `run` calls fail. */
  close(): Promise<void>;
  /** Ids of the instances launched and not yet terminated. */
  readonly liveInstances: readonly string[];
  /**
   * Seconds each instance launched so far lived, from the RunInstances reply to the termination request (or now,
   * for one still alive): an upper bound of what EC2 bills, which starts when the instance is running.
   */
  instanceSeconds(): number[];
  /** The instances' type, price and {@link instanceSeconds}: what the cost estimate (../cost.ts) needs. */
  usage(): InstanceUsage;
}

export function ec2Backend<T, R>(options: Ec2BackendOptions<R>): Ec2Backend<T, R> {
  const { ec2, s3, ssm, bucket, runId, workerKey, tags, deadlineMs, parse } = options;
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(runId ?? '')) throw new TypeError('ec2Backend: runId must be 1-128 letters, digits, ".", "_" or "-"');
  if (typeof bucket !== 'string' || bucket === '') throw new TypeError('ec2Backend: bucket must be a bucket name');
  if (typeof workerKey !== 'string' || workerKey === '') throw new TypeError('ec2Backend: workerKey must be an S3 key');
  if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) throw new TypeError('ec2Backend: deadlineMs must be a positive number');
  if (typeof tags?.service !== 'string' || typeof tags.stage !== 'string') throw new TypeError('ec2Backend: tags must have service and stage');
  if (options.imageId === undefined && ssm === undefined) throw new TypeError('ec2Backend: give imageId, or an ssm client to look up the Amazon Linux 2023 AMI');
  const tasksPerInstance = options.tasksPerInstance ?? 1;
  if (!Number.isInteger(tasksPerInstance) || tasksPerInstance < 1 || tasksPerInstance > 64) throw new TypeError('ec2Backend: tasksPerInstance must be a whole number from 1 to 64');
  const pollMs = options.pollMs ?? 5000;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  /** Waits for the next poll; an abort ends the wait at once so the instance is terminated without delay. */
  const pause = async (ms: number, signal: AbortSignal | undefined): Promise<void> => {
    if (signal === undefined) return sleep(ms);
    let onAbort = (): void => undefined;
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([sleep(ms), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  };
  const maxResultBytes = options.maxResultBytes ?? MAX_RESULT_BYTES;
  if (!Number.isSafeInteger(maxResultBytes) || maxResultBytes < 1) throw new TypeError('ec2Backend: maxResultBytes must be a whole number of bytes, at least 1');
  const presignSeconds = Math.min(MAX_PRESIGN_SECONDS, options.presignSeconds ?? defaultPresignSeconds(deadlineMs));
  const instanceType = options.instanceType ?? DEFAULT_INSTANCE_TYPE;

  const tracked = new Map<string, Tracked>(); // every instance launched, by id
  const live = new Set<string>(); // launched and not yet terminated by us
  let closed = false;

  const instanceSeconds = (): number[] => {
    const at = now();
    return [...tracked.values()].map((t) => Math.max(0, ((t.endedAt ?? at) - t.launchedAt) / 1000));
  };

  const progress = (): void => {
    if (!options.onProgress) return;
    const states = [...tracked.values()].map((t) => t.state);
    try {
      options.onProgress({
        pending: states.filter((s) => s === 'pending').length,
        running: states.filter((s) => s === 'running').length,
        done: states.filter((s) => s === 'done').length,
        total: states.length,
      });
    } catch (error) {
      process.emitWarning(`ec2Backend: onProgress threw and was ignored: ${(error as Error)?.message ?? String(error)}`);
    }
  };

  let image: Promise<string> | undefined;
  const resolveImage = (): Promise<string> => {
    if (options.imageId !== undefined) return Promise.resolve(options.imageId);
    image ??= (async () => {
      try {
        const reply = await ssm!.send(new GetParameterCommand({ Name: AL2023_AMI_PARAMETER })); // ssm checked above
        const id = reply.Parameter?.Value;
        if (!id?.startsWith('ami-')) throw new Error(`the parameter holds ${JSON.stringify(id)}, not an AMI id`);
        return id;
      } catch (error) {
        image = undefined; // let a later task try again
        const reason = (error as Error)?.message ?? String(error);
        throw new FanoutError(
          'transport',
          'AmiLookupFailed',
          `could not resolve the Amazon Linux 2023 AMI from the SSM public parameter ${AL2023_AMI_PARAMETER} (needs ssm:GetParameter on it, in the client's region), or pass imageId: ${reason}`,
          { retryable: classifyError(error).retryable, cause: error },
        );
      }
    })();
    return image;
  };

  const terminate = async (ids: string[]): Promise<void> => {
    const targets = ids.filter((id) => live.has(id));
    if (targets.length === 0) return;
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: targets }));
    const at = now();
    for (const id of targets) {
      live.delete(id);
      const entry = tracked.get(id);
      if (entry && entry.endedAt === undefined) entry.endedAt = at;
    }
  };

  /** Terminate after a task ended; a failure leaves the id in `live` for close() and must not hide the task's outcome. */
  const terminateQuietly = async (id: string): Promise<void> => {
    try {
      await terminate([id]);
    } catch (error) {
      process.emitWarning(`ec2Backend: could not terminate ${id} (close() will try again): ${(error as Error)?.message ?? String(error)}`);
    }
  };

  const tooLarge = (key: string, size: string): FanoutError =>
    new FanoutError(
      'function',
      'ResultTooLarge',
      `s3://${bucket}/${key}: the worker's result is ${size}, over the ${maxResultBytes}-byte limit on a result: have the worker write large outputs to S3 objects of their own and return their keys`,
    );

  /** The result object's text, refused (and its body's socket released) once it is known to exceed maxResultBytes. */
  const readCapped = async (reply: GetObjectCommandOutput, key: string): Promise<string> => {
    const body = reply.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    if (body === undefined) return '';
    if (reply.ContentLength !== undefined && reply.ContentLength > maxResultBytes) {
      body.destroy?.();
      throw tooLarge(key, `${reply.ContentLength} bytes`);
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    // Leaving a for-await over a Node stream early destroys the stream: nothing more is downloaded.
    for await (const part of body) {
      size += part.byteLength;
      if (size > maxResultBytes) throw tooLarge(key, `more than ${maxResultBytes} bytes`);
      parts.push(part);
    }
    return Buffer.concat(parts).toString('utf8');
  };

  const readResult = async (key: string): Promise<WorkerEnvelope | undefined> => {
    let reply: GetObjectCommandOutput;
    try {
      reply = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
    const text = await readCapped(reply, key);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new FanoutError('function', 'InvalidResult', `s3://${bucket}/${key} is not JSON: ${text.slice(0, 200)}`);
    }
    const parsed = workerEnvelopeSchema.safeParse(json);
    if (!parsed.success) throw new FanoutError('function', 'InvalidResult', `s3://${bucket}/${key} is not a worker result: ${text.slice(0, 200)}`);
    return parsed.data;
  };

  const describe = async (id: string): Promise<{ state?: string; reason?: string }> => {
    try {
      const reply = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      const instance = reply.Reservations?.[0]?.Instances?.[0];
      return { state: instance?.State?.Name, reason: instance?.StateReason?.Message ?? instance?.StateTransitionReason };
    } catch (error) {
      // EC2 is eventually consistent: an instance just launched may not be describable yet.
      if ((error as { name?: string })?.name === 'InvalidInstanceID.NotFound') return {};
      throw error;
    }
  };

  /**
   * A throttled or transient S3/EC2 error while polling costs one round, not the task: failing would relaunch
   * a new instance while this one may be about to report. Anything else (access denied, no bucket) fails it.
   */
  const pollSafely = async <V>(poll: () => Promise<V>, fallback: V): Promise<V> => {
    try {
      return await poll();
    } catch (error) {
      if (!(error instanceof FanoutError) && classifyError(error).retryable) return fallback;
      throw error;
    }
  };

  const clientToken = (slots: Slot[]): string =>
    createHash('sha256')
      .update(`${runId}/${slots.map((t) => `${t.index}.${t.attempt}`).join(',')}`)
      .digest('hex')
      .slice(0, 64);

  /** Launches one instance for `slots` (their tasks run on it in order); returns its id and deadline. */
  const launch = async (slots: Slot[]): Promise<Launched> => {
    const first = slots[0]!;
    const what = slots.length === 1 ? `chunk ${first.index} (run ${runId})` : `chunks ${slots.map((t) => t.index).join(', ')} (run ${runId})`;
    const imageId = await resolveImage();
    const [workerUrl, ...resultUrls] = await Promise.all([
      getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: workerKey }), { expiresIn: presignSeconds }),
      ...slots.map((t) => getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: t.key }), { expiresIn: presignSeconds })),
    ]);
    const script = buildUserData({
      workerUrl: workerUrl!,
      tasks: slots.map((t, i) => ({ resultUrl: resultUrls[i]!, task: t.task })),
      // The instance holds itself to the same per-task deadline, and powers off on its own if nobody is left to
      // terminate it (the controller died).
      deadlineMs,
      ...(options.nodeMajor === undefined ? {} : { nodeMajor: options.nodeMajor }),
    });
    const size = Buffer.byteLength(script);
    if (size > MAX_USER_DATA_BYTES) {
      throw new FanoutError('transport', 'UserDataTooLarge', `${what}: the user data is ${size} bytes, over EC2's ${MAX_USER_DATA_BYTES}: put large task inputs in S3 and pass their keys, or pack fewer tasks per instance`);
    }
    const chunkTag = slots.map((t) => t.index).join(',');
    const tagList = [
      { Key: 'Name', Value: `${tags.service}-${tags.stage}-${runId}-${chunkTag}`.slice(0, 255) },
      { Key: 'service', Value: tags.service },
      { Key: 'stage', Value: tags.stage },
      { Key: 'cloud-parallel:run-id', Value: runId },
      { Key: 'cloud-parallel:chunk', Value: chunkTag.slice(0, 255) },
    ];
    const launched = await ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        // The SDK's type is a union of known sizes; any string EC2 accepts is passed on.
        InstanceType: instanceType as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        UserData: Buffer.from(script).toString('base64'),
        InstanceInitiatedShutdownBehavior: 'terminate',
        MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
        ...(options.subnetId === undefined ? {} : { SubnetId: options.subnetId }),
        ...(options.securityGroupIds === undefined ? {} : { SecurityGroupIds: options.securityGroupIds }),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tagList },
          { ResourceType: 'volume', Tags: tagList },
        ],
        // A retried request (lost reply) gets the same instance back instead of a second one.
        ClientToken: clientToken(slots),
      }),
    );
    const id = launched.Instances?.[0]?.InstanceId;
    if (id === undefined) throw new FanoutError('transport', 'NoInstance', `${what}: RunInstances answered without an instance id`);
    const entry: Tracked = { indexes: slots.map((t) => t.index), unsettled: slots.length, state: 'pending', launchedAt: now() };
    tracked.set(id, entry);
    live.add(id);
    progress();
    // Tasks on one instance run one after the other, so its last one may need the whole sum.
    return { id, entry, deadline: now() + deadlineMs * slots.length };
  };

  /** Tasks waiting to be packed onto the next instance (with tasksPerInstance 1, each launches at once). */
  let batch: Slot[] = [];
  const flush = (): void => {
    const slots = batch;
    batch = [];
    if (slots.length === 0) return;
    const launching = launch(slots);
    for (const slot of slots) slot.launched(launching);
  };
  const enqueue = (slot: Omit<Slot, 'launched'>): Promise<Launched> =>
    new Promise<Launched>((resolve, reject) => {
      batch.push({ ...slot, launched: (p) => p.then(resolve, reject) });
      if (batch.length >= tasksPerInstance) flush();
      // Tasks the fan-out starts together arrive in the same turn of the event loop: pack them, then launch.
      else if (batch.length === 1) setImmediate(flush);
    });

  return {
    name: tasksPerInstance === 1 ? `ec2:${instanceType}` : `ec2:${instanceType}×${tasksPerInstance}`,
    get liveInstances() {
      return [...live];
    },

    instanceSeconds,

    usage() {
      return { instanceType, usdPerHour: options.usdPerHour ?? DEFAULT_USD_PER_HOUR, instanceSeconds: instanceSeconds() };
    },

    async run(task, { index, attempt, signal }) {
      const chunk = `chunk ${index} (run ${runId})`;
      if (closed) throw new FanoutError('aborted', 'BackendClosed', `${chunk}: the EC2 backend was closed`);
      if (signal?.aborted) throw new FanoutError('aborted', 'AbortError', `${chunk}: not launched: ${abortReason(signal)}`);
      // A later attempt writes elsewhere, so it never reads the result (or the late write) of an earlier one.
      const key = attempt <= 1 ? `runs/${runId}/${index}.json` : `runs/${runId}/${index}.attempt-${attempt}.json`;
      const { id, entry, deadline } = await enqueue({ task, index, attempt, key });
      try {
        for (;;) {
          if (closed) throw new FanoutError('aborted', 'BackendClosed', `${chunk}: the EC2 backend was closed while ${id} ran`);
          if (signal?.aborted) throw new FanoutError('aborted', 'AbortError', `${chunk}: stopped while ${id} ran, terminating it: ${abortReason(signal)}`);
          let result = await pollSafely(() => readResult(key), undefined);
          if (result === undefined) {
            const { state, reason } = await pollSafely(() => describe(id), {});
            if (state === 'running' && entry.state === 'pending') {
              entry.state = 'running';
              progress();
            }
            if (state !== undefined && EXITED_STATES.has(state)) {
              // The worker PUTs before it powers off: look once more, the result may have landed since.
              result = await readResult(key);
              if (result === undefined) {
                throw new FanoutError('function', 'WorkerExited', `${chunk}: instance ${id} is ${state}${reason ? ` (${reason})` : ''} without a result at s3://${bucket}/${key}`);
              }
            }
          }
          if (result !== undefined) return openEnvelope(result, parse, { errorPrefix: `${chunk}: `, invalidPrefix: `${chunk}: unexpected result: ` });
          const left = deadline - now();
          if (left <= 0) {
            throw new FanoutError('transport', 'DeadlineExceeded', `${chunk}: no result from instance ${id} within ${Math.round(deadline - entry.launchedAt)} ms; terminating it`, { retryable: false });
          }
          await pause(Math.min(pollMs, left), signal);
        }
      } finally {
        entry.unsettled -= 1;
        if (entry.unsettled === 0) {
          entry.state = 'done';
          await terminateQuietly(id);
          progress();
        }
      }
    },

    async close() {
      closed = true;
      const ids = [...live];
      if (ids.length === 0) return;
      try {
        await terminate(ids);
      } catch (error) {
        throw new Error(`ec2Backend: could not terminate ${ids.join(', ')}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      }
    },
  };
}
