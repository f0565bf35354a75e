import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { workerEnvelopeSchema, type WorkerEnvelope } from '../envelope.ts';
import { abortReason, classifyError, FanoutError } from '../errors.ts';
import type { Fleet } from './fleet.ts';
import type { Launched } from './launcher.ts';

/**
 * The EC2 backend's waiting half: after the launch, polls S3 for the task's result object and EC2 for its
 * instance's state until the result is there, the instance has exited without one, the deadline has passed, or
 * the run is stopped. Hands back the worker's envelope (../envelope.ts), checked; ./backend.ts opens it.
 */

export interface PollerSettings {
  ec2: EC2Client;
  s3: S3Client;
  bucket: string;
  maxResultBytes: number;
  pollMs: number;
  now: () => number;
  /** Waits between polls; should end early (resolve or reject) when `signal` aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface PollTarget extends Launched {
  /** Where the result object lands. */
  key: string;
  /** `chunk 3 (run r)`: how errors name the task. */
  chunk: string;
  signal: AbortSignal | undefined;
  /** True once the backend is closed. */
  closed: () => boolean;
}

const EXITED_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

function isMissingObject(error: unknown): boolean {
  const { name, $metadata } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: string;
    $metadata?: { httpStatusCode?: number };
  };
  // NoSuchBucket is a setup error, not "not yet".
  return name === 'NoSuchKey' || name === 'NotFound' || (name !== 'NoSuchBucket' && $metadata?.httpStatusCode === 404);
}

/**
 * A throttled or transient S3/EC2 error while polling costs one round, not the task: failing would relaunch
 * a new instance while this one may be about to report. Anything else (access denied, no bucket) fails it.
 */
async function pollSafely<V>(poll: () => Promise<V>, fallback: V): Promise<V> {
  try {
    return await poll();
  } catch (error) {
    if (!(error instanceof FanoutError) && classifyError(error).retryable) return fallback;
    throw error;
  }
}

type ResultStore = Pick<PollerSettings, 's3' | 'bucket' | 'maxResultBytes'>;

function tooLarge({ bucket, maxResultBytes }: ResultStore, key: string, size: string): FanoutError {
  return new FanoutError(
    'function',
    'ResultTooLarge',
    `s3://${bucket}/${key}: the worker's result is ${size}, over the ${maxResultBytes}-byte limit on a result: have the worker write large outputs to S3 objects of their own and return their keys`,
  );
}

/** The result object's text, refused (and its body's socket released) once it is known to exceed maxResultBytes. */
async function readCapped(store: ResultStore, reply: GetObjectCommandOutput, key: string): Promise<string> {
  const { maxResultBytes } = store;
  const body = reply.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
  if (body === undefined) return '';
  if (reply.ContentLength !== undefined && reply.ContentLength > maxResultBytes) {
    body.destroy?.();
    throw tooLarge(store, key, `${reply.ContentLength} bytes`);
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  // Leaving a for-await over a Node stream early destroys the stream: nothing more is downloaded.
  for await (const part of body) {
    size += part.byteLength;
    if (size > maxResultBytes) throw tooLarge(store, key, `more than ${maxResultBytes} bytes`);
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The task's checked envelope, or undefined while its result object is not there yet. */
async function readResult(store: ResultStore, key: string): Promise<WorkerEnvelope | undefined> {
  const { s3, bucket } = store;
  let reply: GetObjectCommandOutput;
  try {
    reply = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isMissingObject(error)) return undefined;
    throw error;
  }
  const text = await readCapped(store, reply, key);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FanoutError('function', 'InvalidResult', `s3://${bucket}/${key} is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = workerEnvelopeSchema.safeParse(json);
  if (!parsed.success)
    throw new FanoutError(
      'function',
      'InvalidResult',
      `s3://${bucket}/${key} is not a worker result: ${text.slice(0, 200)}`,
    );
  return parsed.data;
}

/** The instance's state and why it is in it; nothing while EC2 does not know the instance yet. */
async function describe(ec2: EC2Client, id: string): Promise<{ state?: string; reason?: string }> {
  try {
    const reply = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const instance = reply.Reservations?.[0]?.Instances?.[0];
    return { state: instance?.State?.Name, reason: instance?.StateReason?.Message ?? instance?.StateTransitionReason };
  } catch (error) {
    // EC2 is eventually consistent: an instance just launched may not be describable yet.
    if ((error as { name?: string })?.name === 'InvalidInstanceID.NotFound') return {};
    throw error;
  }
}

export function createPoller(
  settings: PollerSettings,
  fleet: Fleet,
): { awaitResult(target: PollTarget): Promise<WorkerEnvelope> } {
  const { ec2, bucket, pollMs, now, sleep } = settings;

  /** One round: the result if it is there; throws when the instance has exited without one. */
  const pollOnce = async ({ id, entry, key, chunk }: PollTarget): Promise<WorkerEnvelope | undefined> => {
    const result = await pollSafely(() => readResult(settings, key), undefined);
    if (result !== undefined) return result;
    const { state, reason } = await pollSafely(() => describe(ec2, id), {});
    if (state === 'running' && entry.state === 'pending') {
      entry.state = 'running';
      entry.runningAt = now();
      fleet.progress();
    }
    if (state === undefined || !EXITED_STATES.has(state)) return undefined;
    // The worker PUTs before it powers off: look once more, the result may have landed since.
    const late = await readResult(settings, key);
    if (late === undefined) {
      throw new FanoutError(
        'function',
        'WorkerExited',
        `${chunk}: instance ${id} is ${state}${reason ? ` (${reason})` : ''} without a result at s3://${bucket}/${key}`,
      );
    }
    return late;
  };

  /** Waits for the next poll; an abort ends the wait at once so the instance is terminated without delay. */
  const pause = async (ms: number, signal: AbortSignal | undefined): Promise<void> => {
    try {
      await sleep(ms, signal);
    } catch (error) {
      if (!signal?.aborted) throw error; // the abort is reported by the next round's check
    }
  };

  return {
    async awaitResult(target) {
      const { id, entry, deadline, chunk, signal } = target;
      for (;;) {
        if (target.closed())
          throw new FanoutError('aborted', 'BackendClosed', `${chunk}: the EC2 backend was closed while ${id} ran`);
        if (signal?.aborted)
          throw new FanoutError(
            'aborted',
            'AbortError',
            `${chunk}: stopped while ${id} ran, terminating it: ${abortReason(signal)}`,
          );
        const result = await pollOnce(target);
        if (result !== undefined) return result;
        const left = deadline - now();
        if (left <= 0) {
          throw new FanoutError(
            'transport',
            'DeadlineExceeded',
            `${chunk}: no result from instance ${id} within ${Math.round(deadline - entry.launchedAt)} ms; terminating it`,
            { retryable: false },
          );
        }
        await pause(Math.min(pollMs, left), signal);
      }
    },
  };
}
