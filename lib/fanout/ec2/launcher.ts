import { createHash } from 'node:crypto';
import { RunInstancesCommand, type EC2Client, type _InstanceType } from '@aws-sdk/client-ec2';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { classifyError, FanoutError } from '../errors.ts';
import type { Fleet, Tracked } from './fleet.ts';
import { buildUserData, MAX_USER_DATA_BYTES } from './user-data.ts';

/**
 * The EC2 backend's launching half: finds the AMI, packs the tasks that arrive together onto one instance
 * (`tasksPerInstance`), writes their user data with presigned URLs and calls RunInstances. What happens after the
 * launch — polling, the deadline, termination — is ./poller.ts's and ./backend.ts's.
 */

export const AL2023_AMI_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

/** What the launcher needs, every default already applied by ./backend.ts. */
export interface LauncherSettings {
  ec2: EC2Client;
  s3: S3Client;
  ssm: SSMClient | undefined;
  bucket: string;
  runId: string;
  workerKey: string;
  tags: { service: string; stage: string };
  deadlineMs: number;
  imageId: string | undefined;
  instanceType: string;
  subnetId: string | undefined;
  securityGroupIds: string[] | undefined;
  nodeMajor: number | undefined;
  presignSeconds: number;
  tasksPerInstance: number;
  now: () => number;
}

/** One attempt of one task, waiting for an instance. */
export interface Slot {
  task: unknown;
  index: number;
  attempt: number;
  /** Where this attempt's result is PUT. */
  key: string;
}

export interface Launched {
  id: string;
  entry: Tracked;
  deadline: number;
}

/** The AMI: the one given, or Amazon Linux 2023's from its SSM public parameter, looked up once (again after a failure). */
function amiResolver(imageId: string | undefined, ssm: SSMClient | undefined): () => Promise<string> {
  let image: Promise<string> | undefined;
  return () => {
    if (imageId !== undefined) return Promise.resolve(imageId);
    image ??= (async () => {
      try {
        const reply = await ssm!.send(new GetParameterCommand({ Name: AL2023_AMI_PARAMETER })); // ./backend.ts checks ssm is there
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
}

/** The user data for `slots`, with a presigned GET of the worker and a presigned PUT per result. */
async function userDataFor(settings: LauncherSettings, slots: Slot[], what: string): Promise<string> {
  const { s3, bucket, workerKey, presignSeconds } = settings;
  const [workerUrl, ...resultUrls] = await Promise.all([
    getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: workerKey }), { expiresIn: presignSeconds }),
    ...slots.map((t) =>
      getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: t.key }), { expiresIn: presignSeconds }),
    ),
  ]);
  const script = buildUserData({
    workerUrl: workerUrl!,
    tasks: slots.map((t, i) => ({ resultUrl: resultUrls[i]!, task: t.task })),
    // The instance holds itself to the same per-task deadline, and powers off on its own if nobody is left to
    // terminate it (the controller died).
    deadlineMs: settings.deadlineMs,
    ...(settings.nodeMajor === undefined ? {} : { nodeMajor: settings.nodeMajor }),
  });
  const size = Buffer.byteLength(script);
  if (size > MAX_USER_DATA_BYTES) {
    throw new FanoutError(
      'transport',
      'UserDataTooLarge',
      `${what}: the user data is ${size} bytes, over EC2's ${MAX_USER_DATA_BYTES}: put large task inputs in S3 and pass their keys, or pack fewer tasks per instance`,
    );
  }
  return script;
}

function runInstancesCommand(
  settings: LauncherSettings,
  slots: Slot[],
  imageId: string,
  script: string,
): RunInstancesCommand {
  const { runId, tags } = settings;
  const chunkTag = slots.map((t) => t.index).join(',');
  const tagList = [
    { Key: 'Name', Value: `${tags.service}-${tags.stage}-${runId}-${chunkTag}`.slice(0, 255) },
    { Key: 'service', Value: tags.service },
    { Key: 'stage', Value: tags.stage },
    { Key: 'cloud-parallel:run-id', Value: runId },
    { Key: 'cloud-parallel:chunk', Value: chunkTag.slice(0, 255) },
  ];
  return new RunInstancesCommand({
    ImageId: imageId,
    // The SDK's type is a union of known sizes; any string EC2 accepts is passed on.
    InstanceType: settings.instanceType as _InstanceType,
    MinCount: 1,
    MaxCount: 1,
    UserData: Buffer.from(script).toString('base64'),
    InstanceInitiatedShutdownBehavior: 'terminate',
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    ...(settings.subnetId === undefined ? {} : { SubnetId: settings.subnetId }),
    ...(settings.securityGroupIds === undefined ? {} : { SecurityGroupIds: settings.securityGroupIds }),
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tagList },
      { ResourceType: 'volume', Tags: tagList },
    ],
    // A retried request (lost reply) gets the same instance back instead of a second one.
    ClientToken: createHash('sha256')
      .update(`${runId}/${slots.map((t) => t.key).join(',')}`)
      .digest('hex')
      .slice(0, 64),
  });
}

/** `launch(slot)`: the instance the slot's task runs on, once it is launched with the others packed with it. */
export function createLauncher(settings: LauncherSettings, fleet: Fleet): { launch(slot: Slot): Promise<Launched> } {
  const { runId, deadlineMs, now } = settings;
  const resolveImage = amiResolver(settings.imageId, settings.ssm);

  /** Launches one instance for `slots` (their tasks run on it in order); returns its id and deadline. */
  const launchBatch = async (slots: Slot[]): Promise<Launched> => {
    const first = slots[0]!;
    const what =
      slots.length === 1
        ? `chunk ${first.index} (run ${runId})`
        : `chunks ${slots.map((t) => t.index).join(', ')} (run ${runId})`;
    const imageId = await resolveImage();
    const script = await userDataFor(settings, slots, what);
    const launched = await settings.ec2.send(runInstancesCommand(settings, slots, imageId, script));
    const id = launched.Instances?.[0]?.InstanceId;
    if (id === undefined)
      throw new FanoutError('transport', 'NoInstance', `${what}: RunInstances answered without an instance id`);
    const entry = fleet.add(
      id,
      slots.map((t) => t.index),
    );
    fleet.progress();
    // Tasks on one instance run one after the other, so its last one may need the whole sum.
    return { id, entry, deadline: now() + deadlineMs * slots.length };
  };

  /** Tasks waiting to be packed onto the next instance (with tasksPerInstance 1, each launches at once). */
  let batch: { slot: Slot; launched: (launch: Promise<Launched>) => void }[] = [];
  const flush = (): void => {
    const packed = batch;
    batch = [];
    if (packed.length === 0) return;
    const launching = launchBatch(packed.map((p) => p.slot));
    for (const p of packed) p.launched(launching);
  };

  return {
    launch: (slot) =>
      new Promise<Launched>((resolve, reject) => {
        batch.push({ slot, launched: (p) => p.then(resolve, reject) });
        if (batch.length >= settings.tasksPerInstance) flush();
        // Tasks the fan-out starts together arrive in the same turn of the event loop: pack them, then launch.
        else if (batch.length === 1) setImmediate(flush);
      }),
  };
}
