/** RunInstances: checks the request as EC2 does, then launches each instance in a folder of its own. */
import path from 'node:path';
import { Ec2Error } from '../protocol/errors.ts';
import { AMI_ID, BASE64, hexId, OWNER_ID } from '../protocol/ids.ts';
import { instanceXml } from '../protocol/instance-xml.ts';
import type { QueryParams } from '../protocol/query.ts';
import { el, items } from '../protocol/xml.ts';
import { isAlive, type InstanceRecord } from '../state/instance.ts';
import { prepareInstanceFiles } from '../state/machine.ts';
import type { Ec2Context } from './context.ts';

/** What a RunInstances asks for, checked. */
interface RunRequest {
  imageId: string;
  /** How many instances to launch: MaxCount, or as many as the limit leaves (at least MinCount). */
  launch: number;
  behaviour: 'stop' | 'terminate';
  httpTokens: string | undefined;
  userData: string | undefined;
  tags: Map<string, string>;
  instanceType: string;
  subnetId: string | undefined;
  securityGroupIds: string[];
}

export function runInstances(context: Ec2Context, params: QueryParams): string {
  const request = parseRunRequest(context, params);
  const reservationId = hexId('r');
  const launchTime = new Date(Math.floor(Date.now() / 1000) * 1000); // EC2 reports whole seconds
  const launched: InstanceRecord[] = [];
  for (let index = 0; index < request.launch; index++) {
    const record = newInstance(context, request, reservationId, launchTime, index);
    launched.push(record);
    context.fleet.add(record);
    context.fleet.log(
      `${record.instanceId}: launched (${request.imageId}, ${request.instanceType}, shutdown behaviour ${request.behaviour})`,
    );
  }
  return `${el('reservationId', reservationId) + el('ownerId', OWNER_ID)}<groupSet/>${items('instancesSet', launched.map(instanceXml))}`;
}

function parseRunRequest(context: Ec2Context, params: QueryParams): RunRequest {
  const imageId = params.get('ImageId');
  if (imageId === undefined || imageId === '')
    throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageId');
  if (!AMI_ID.test(imageId))
    throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
  const launch = launchCount(context, params);
  const behaviour = params.get('InstanceInitiatedShutdownBehavior') ?? 'stop';
  if (behaviour !== 'stop' && behaviour !== 'terminate') {
    throw new Ec2Error(
      'InvalidParameterValue',
      `Value (${behaviour}) for parameter instanceInitiatedShutdownBehavior is invalid. Expected: 'stop', 'terminate'.`,
    );
  }
  const httpTokens = params.get('MetadataOptions.HttpTokens');
  if (httpTokens !== undefined && httpTokens !== 'optional' && httpTokens !== 'required') {
    throw new Ec2Error(
      'InvalidParameterValue',
      `Value (${httpTokens}) for parameter HttpTokens is invalid. Expected: 'optional', 'required'.`,
    );
  }
  const userData = decodeUserData(params.get('UserData'));
  const tags = instanceTags(params);
  if (params.get('DryRun') === 'true') {
    throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
  }
  return {
    imageId,
    launch,
    behaviour,
    httpTokens,
    userData,
    tags,
    instanceType: params.get('InstanceType') ?? 'm1.small',
    subnetId: params.get('SubnetId'),
    securityGroupIds: params.list('SecurityGroupId'),
  };
}

function launchCount(context: Ec2Context, params: QueryParams): number {
  const { maxInstances } = context;
  const count = (name: string): number => {
    const raw = params.get(name);
    if (raw === undefined) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1)
      throw new Ec2Error(
        'InvalidParameterValue',
        `Value (${raw}) for parameter ${name} is invalid. Expected a positive integer.`,
      );
    return value;
  };
  const minCount = count('MinCount');
  const maxCount = count('MaxCount');
  if (minCount > maxCount)
    throw new Ec2Error(
      'InvalidParameterValue',
      `MinCount (${minCount}) must not be greater than MaxCount (${maxCount})`,
    );
  const alive = [...context.fleet.records.values()].filter(isAlive).length;
  if (maxCount > maxInstances || alive + minCount > maxInstances) {
    throw new Ec2Error(
      'InstanceLimitExceeded',
      `You have requested more instances (${maxCount}) than your current instance limit of ${maxInstances} allows (${alive} running).`,
    );
  }
  return Math.min(maxCount, maxInstances - alive);
}

function decodeUserData(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const compact = raw.replace(/\s+/g, '');
  if (!BASE64.test(compact)) throw new Ec2Error('InvalidParameterValue', 'Invalid BASE64 encoding of user data.');
  const userData = Buffer.from(compact, 'base64').toString('utf8');
  if (Buffer.byteLength(compact) > (16 * 1024 * 4) / 3 + 4)
    throw new Ec2Error('InvalidParameterValue', 'User data is limited to 16384 bytes');
  return userData;
}

/** The tags of `TagSpecification.N` for instances (volumes etc. are not modelled). */
function instanceTags(params: QueryParams): Map<string, string> {
  const tags = new Map<string, string>();
  for (const spec of params.structs('TagSpecification')) {
    const resourceType = spec.get('ResourceType');
    if (resourceType !== undefined && resourceType !== 'instance') continue;
    for (const tag of spec.structs('Tag')) {
      const key = tag.get('Key');
      if (key === undefined || key === '') throw new Ec2Error('InvalidParameterValue', 'Tag keys must not be empty');
      if (key.startsWith('aws:'))
        throw new Ec2Error('InvalidParameterValue', `Tag keys starting with 'aws:' are reserved for internal use`);
      tags.set(key, tag.get('Value') ?? '');
    }
  }
  return tags;
}

function newInstance(
  context: Ec2Context,
  request: RunRequest,
  reservationId: string,
  launchTime: Date,
  index: number,
): InstanceRecord {
  let instanceId = hexId('i');
  while (context.fleet.records.has(instanceId)) instanceId = hexId('i');
  const instanceDir = path.join(context.directory, instanceId);
  const { consoleLogPath, layout, scriptPath } = prepareInstanceFiles(instanceDir, request.userData);
  const { userData, subnetId, httpTokens } = request;
  let markExited!: () => void;
  const exited = new Promise<void>((resolve) => (markExited = resolve));
  return {
    instanceId,
    reservationId,
    imageId: request.imageId,
    instanceType: request.instanceType,
    stateName: 'pending',
    launchTime,
    shutdownBehavior: request.behaviour,
    tags: new Map(request.tags),
    directory: instanceDir,
    consoleLogPath,
    ...(userData !== undefined ? { userData } : {}),
    ...(scriptPath !== undefined ? { scriptPath } : {}),
    stateTransitionReason: '',
    ...(subnetId !== undefined ? { subnetId } : {}),
    securityGroupIds: request.securityGroupIds,
    ...(httpTokens !== undefined ? { httpTokens } : {}),
    availabilityZone: `${context.region}a`,
    amiLaunchIndex: index,
    exited,
    markExited,
    timers: new Set(),
    userTerminated: false,
    layout,
    poweringOff: false,
  };
}
