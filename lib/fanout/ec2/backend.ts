import { setTimeout as delay } from 'node:timers/promises';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { DEFAULT_USD_PER_HOUR, type InstanceUsage } from '../cost.ts';
import { openEnvelope, type ResultParser } from '../envelope.ts';
import { abortReason, FanoutError } from '../errors.ts';
import type { Backend } from '../index.ts';
import { createFleet, type FleetProgress } from './fleet.ts';
import { createLauncher, type LauncherSettings } from './launcher.ts';
import { createPoller } from './poller.ts';

/**
 * One EC2 instance per task attempt: the `Backend` adapter over the launcher (./launcher.ts: AMI, packing,
 * RunInstances), the poller (./poller.ts: results, instance states, deadline) and the fleet (./fleet.ts: what is
 * alive, termination, instance-seconds). The instance boots the target AMI, and its user data
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
  /** Waits between polls, default a timer the task's signal cancels; a replacement should end early on abort too. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called when an instance is launched, starts running or finishes. */
  onProgress?: (p: FleetProgress) => void;
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

/** 2 vCPUs (Sapphire Rapids), 4 GiB: the smallest current compute-optimized x86 size. */
export const DEFAULT_INSTANCE_TYPE = 'c7i.large';

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

/** The options checked, and the defaults of the optional ones applied: the launcher's settings and the poller's. */
function resolveOptions<R>(options: Ec2BackendOptions<R>) {
  const { ec2, s3, ssm, bucket, runId, workerKey, tags, deadlineMs } = options;
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(runId ?? ''))
    throw new TypeError('ec2Backend: runId must be 1-128 letters, digits, ".", "_" or "-"');
  if (typeof bucket !== 'string' || bucket === '') throw new TypeError('ec2Backend: bucket must be a bucket name');
  if (typeof workerKey !== 'string' || workerKey === '') throw new TypeError('ec2Backend: workerKey must be an S3 key');
  if (!Number.isFinite(deadlineMs) || deadlineMs <= 0)
    throw new TypeError('ec2Backend: deadlineMs must be a positive number');
  if (typeof tags?.service !== 'string' || typeof tags.stage !== 'string')
    throw new TypeError('ec2Backend: tags must have service and stage');
  if (options.imageId === undefined && ssm === undefined)
    throw new TypeError('ec2Backend: give imageId, or an ssm client to look up the Amazon Linux 2023 AMI');
  const tasksPerInstance = options.tasksPerInstance ?? 1;
  if (!Number.isInteger(tasksPerInstance) || tasksPerInstance < 1 || tasksPerInstance > 64)
    throw new TypeError('ec2Backend: tasksPerInstance must be a whole number from 1 to 64');
  const pollMs = options.pollMs ?? 5000;
  const now = options.now ?? Date.now;
  // node:timers/promises rejects the wait with an AbortError when the signal fires: the poller takes that as "stop now".
  const sleep =
    options.sleep ??
    ((ms: number, signal?: AbortSignal) => delay(ms, undefined, signal === undefined ? undefined : { signal }));
  const maxResultBytes = options.maxResultBytes ?? MAX_RESULT_BYTES;
  if (!Number.isSafeInteger(maxResultBytes) || maxResultBytes < 1)
    throw new TypeError('ec2Backend: maxResultBytes must be a whole number of bytes, at least 1');
  const presignSeconds = Math.min(MAX_PRESIGN_SECONDS, options.presignSeconds ?? defaultPresignSeconds(deadlineMs));
  const instanceType = options.instanceType ?? DEFAULT_INSTANCE_TYPE;
  const { imageId, subnetId, securityGroupIds, nodeMajor } = options;
  const launcher: LauncherSettings = {
    ec2,
    s3,
    ssm,
    bucket,
    runId,
    workerKey,
    tags,
    deadlineMs,
    imageId,
    instanceType,
    subnetId,
    securityGroupIds,
    nodeMajor,
    presignSeconds,
    tasksPerInstance,
    now,
  };
  return { launcher, pollMs, sleep, maxResultBytes };
}

export function ec2Backend<T, R>(options: Ec2BackendOptions<R>): Ec2Backend<T, R> {
  const { ec2, s3, bucket, runId, parse } = options;
  const { launcher: settings, pollMs, sleep, maxResultBytes } = resolveOptions(options);
  const { instanceType, tasksPerInstance, now } = settings;

  const fleet = createFleet(ec2, now, options.onProgress);
  const launcher = createLauncher(settings, fleet);
  const poller = createPoller({ ec2, s3, bucket, maxResultBytes, pollMs, now, sleep }, fleet);
  let closed = false;
  /** Launches so far per result key (see run()). */
  const launchesOf = new Map<string, number>();

  return {
    name: tasksPerInstance === 1 ? `ec2:${instanceType}` : `ec2:${instanceType}×${tasksPerInstance}`,
    get liveInstances() {
      return fleet.live();
    },

    instanceSeconds: () => fleet.instanceSeconds(),

    usage() {
      return {
        instanceType,
        usdPerHour: options.usdPerHour ?? DEFAULT_USD_PER_HOUR,
        instanceSeconds: fleet.instanceSeconds(),
      };
    },

    async run(task, { index, attempt, signal, recordWorker }) {
      const chunk = `chunk ${index} (run ${runId})`;
      if (closed) throw new FanoutError('aborted', 'BackendClosed', `${chunk}: the EC2 backend was closed`);
      if (signal?.aborted)
        throw new FanoutError('aborted', 'AbortError', `${chunk}: not launched: ${abortReason(signal)}`);
      // A later attempt writes elsewhere, so it never reads the result (or the late write) of an earlier one.
      let key = attempt <= 1 ? `runs/${runId}/${index}.json` : `runs/${runId}/${index}.attempt-${attempt}.json`;
      // One backend may serve several fan-outs (a split rates run: its parse, re-runs and statistics rounds), each
      // numbering its tasks from 0: a later launch of the same index and attempt gets a key (and so a ClientToken)
      // of its own, or it would read the first launch's result and get its terminated instance back.
      const launch = (launchesOf.get(key) ?? 0) + 1;
      launchesOf.set(key, launch);
      if (launch > 1) key = key.replace(/\.json$/, `.launch-${launch}.json`);
      const launched = await launcher.launch({ task, index, attempt, key });
      // The instance is the worker: its clock is the one the envelope's times are on, shared by the tasks packed on it.
      recordWorker?.({ instanceId: launched.id, workerId: launched.id });
      try {
        const envelope = await poller.awaitResult({ ...launched, key, chunk, signal, closed: () => closed });
        return openEnvelope(
          envelope,
          parse,
          { errorPrefix: `${chunk}: `, invalidPrefix: `${chunk}: unexpected result: ` },
          recordWorker,
        );
      } finally {
        const { entry } = launched;
        if (entry.runningAt !== undefined)
          recordWorker?.({ launchToRunningMs: Math.max(0, entry.runningAt - entry.launchedAt) });
        entry.unsettled -= 1;
        if (entry.unsettled === 0) {
          entry.state = 'done';
          await fleet.terminateQuietly(launched.id);
          fleet.progress();
        }
      }
    },

    async close() {
      closed = true;
      const ids = fleet.live();
      if (ids.length === 0) return;
      try {
        await fleet.terminate(ids);
      } catch (error) {
        throw new Error(
          `ec2Backend: could not terminate ${ids.join(', ')}: ${(error as Error)?.message ?? String(error)}`,
          { cause: error },
        );
      }
    },
  };
}
