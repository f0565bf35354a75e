/**
 * The EC2-compatible server of the local stack: a small HTTP endpoint speaking the EC2 Query API (version
 * 2016-11-15) for the actions the project uses, so the real `@aws-sdk/client-ec2` client and the AWS CLI
 * work against it unchanged (`endpoint` / `AWS_ENDPOINT_URL_EC2` / `--endpoint-url`).
 *
 * Actions: RunInstances, DescribeInstances, TerminateInstances, DescribeImages, DescribeInstanceStatus.
 * Requests are form-encoded POSTs (`Action=…&Version=…&InstanceId.1=…`); responses are XML in the
 * `http://ec2.amazonaws.com/doc/2016-11-15/` namespace with the element names the SDK's deserializer reads;
 * errors are `<Response><Errors><Error>…</Error></Errors><RequestID>…</RequestID></Response>` with HTTP 400.
 * Only requests signed (SigV4) with the stack's credentials are accepted, never a page's (request-guard.ts): a
 * RunInstances runs a script on the developer's machine. Mutating actions must be POSTs, as a GET is what an
 * `<img src>` sends.
 *
 * A local "instance" really runs: its user data (a shell script, base64 in the request) is written to
 * `<directory>/<instance-id>/user-data.sh` and run with `bash` in its own process group, with that directory
 * as cwd, stdout/stderr appended to `console.log` there, and the server's environment plus
 * `CLOUD_PARALLEL_INSTANCE_ID`. States follow EC2: pending (0) → running (16) once the process started;
 * when the script exits by itself, shutting-down (32) → terminated (48) for shutdown behaviour `terminate`,
 * stopping (64) → stopped (80) for `stop` (EC2's default). TerminateInstances kills the process group
 * (SIGTERM, SIGKILL after 2 s). An instance without a runnable script (no user data, or user data that is
 * not a `#!` script) idles in `running` until it is terminated. Terminated instances stay visible until the
 * server stops.
 *
 * Run directly, it is a CLI (see `main` at the bottom) that prints one JSON line when ready on stdout;
 * logs go to stderr. SIGTERM/SIGINT terminate every instance, then exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { announcedHosts, credentialsFromEnvironment, guardRequest, refuseBrowserRequest, type Credentials, type GuardRefusal } from './request-guard.ts';
import { integerOption, portOption, runServerMain } from './server-process.ts';
import { parseArgs } from 'node:util';

/**
 * What a local instance's process sees: like a fresh EC2 instance, no AWS credentials, endpoints or project
 * settings — a worker that works here cannot be quietly relying on the developer's environment. It never powers
 * the machine off (the user data honours CLOUD_PARALLEL_NO_POWEROFF).
 */
function instanceBaseEnvironment(): Record<string, string> {
  const keep = ['PATH', 'LANG', 'TZ', 'TMPDIR', 'HOME', 'USER'];
  const env: Record<string, string> = { CLOUD_PARALLEL_NO_POWEROFF: '1' };
  for (const name of keep) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

export interface Ec2ServerOptions {
  port: number;
  /** The only credentials requests may be signed with (SigV4, header or presigned); see request-guard.ts. */
  credentials: Credentials;
  /** Default 127.0.0.1. */
  host?: string;
  /** Instance work directories (one per instance, with `user-data.sh` and `console.log`). */
  directory: string;
  /** Default us-east-1; instances are placed in `<region>a`. */
  region?: string;
  /** How long an instance stays `pending` (and `shutting-down`/`stopping`) before the next state. Default 200. */
  pendingMs?: number;
  /** The most instances one RunInstances may ask for (MaxCount), and the most alive at once. Default 16. */
  maxInstances?: number;
  /** Extra environment for instance processes (on top of the server's own). */
  env?: Record<string, string>;
  /** No request log on stderr (errors are still logged). */
  silent?: boolean;
}

export interface RunningEc2Server {
  endpoint: string;
  port: number;
  /** Snapshots of every instance launched so far, in launch order (for tests). */
  instances(): LocalInstance[];
  /** Terminates every instance that is not terminated yet, waits for their processes, stops listening. */
  close(): Promise<void>;
}

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface LocalInstance {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  state: { code: number; name: InstanceStateName };
  launchTime: Date;
  shutdownBehavior: 'stop' | 'terminate';
  tags: Record<string, string>;
  /** The instance's work directory (cwd of its script). */
  directory: string;
  /** Where the script's stdout and stderr go. */
  consoleLogPath: string;
  /** The decoded user data, if any. */
  userData?: string;
  /** The pid of the script's process (also its process-group id), once started. */
  pid?: number;
  exitCode?: number | null;
  exitSignal?: NodeJS.Signals | null;
  stateTransitionReason: string;
  stateReason?: { code: string; message: string };
  subnetId?: string;
  securityGroupIds: string[];
  httpTokens?: string;
}

const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

const NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const OWNER_ID = '000000000000';
const KILL_GRACE_MS = 2000;
const MAX_BODY_BYTES = 1024 * 1024;

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const AMI_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/** Any well-formed AMI id works here; this is the one the local stack's configuration names. */
export const LOCAL_IMAGE_ID = 'ami-0c1a0ca1000000000';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** An error answered as EC2 does: `<Errors><Error><Code>` with an HTTP status (400 unless said). */
/** EC2's own answers to a request it does not authenticate. */
const EC2_AUTH_ERRORS: Record<GuardRefusal['reason'], { code: string; status: number }> = {
  browser: { code: 'AuthFailure', status: 401 },
  host: { code: 'AuthFailure', status: 401 },
  missing: { code: 'MissingAuthenticationToken', status: 401 },
  malformed: { code: 'IncompleteSignature', status: 400 },
  expired: { code: 'RequestExpired', status: 400 },
  'unknown-key': { code: 'AuthFailure', status: 401 },
  'bad-signature': { code: 'SignatureDoesNotMatch', status: 403 },
};

/** Actions that change nothing, the only ones a GET may carry. */
const READ_ONLY_ACTION = /^Describe[A-Z]/;

export class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'Ec2Error';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Query parameters
// ---------------------------------------------------------------------------------------------------------

/** The flat `Name.1.Sub.2=value` parameters of one request, with helpers for EC2's list conventions. */
export class QueryParams {
  constructor(private readonly map: Map<string, string>) {}

  static parse(body: string): QueryParams {
    const map = new Map<string, string>();
    for (const [key, value] of new URLSearchParams(body)) map.set(key, value);
    return new QueryParams(map);
  }

  get(name: string): string | undefined {
    return this.map.get(name);
  }

  /** Values of `prefix.1`, `prefix.2`, … in index order (gaps allowed). */
  list(prefix: string): string[] {
    return this.indexes(prefix).map((index) => this.map.get(`${prefix}.${index}`) ?? '');
  }

  /** Sub-parameter views of `prefix.N.*`, in index order. */
  structs(prefix: string): QueryParams[] {
    return this.indexes(prefix).map((index) => {
      const start = `${prefix}.${index}.`;
      const sub = new Map<string, string>();
      for (const [key, value] of this.map) if (key.startsWith(start)) sub.set(key.slice(start.length), value);
      return new QueryParams(sub);
    });
  }

  private indexes(prefix: string): number[] {
    const found = new Set<number>();
    const start = `${prefix}.`;
    for (const key of this.map.keys()) {
      if (!key.startsWith(start)) continue;
      const match = /^(\d+)(?:\.|$)/.exec(key.slice(start.length));
      if (match?.[1] !== undefined) found.add(Number(match[1]));
    }
    return [...found].sort((a, b) => a - b);
  }
}

// ---------------------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------------------

export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** `<name>escaped value</name>`, or nothing for an undefined value. */
function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<name>` around already-built XML. */
function wrap(name: string, inner: string): string {
  return `<${name}>${inner}</${name}>`;
}

function items(name: string, parts: string[]): string {
  return parts.length === 0 ? `<${name}/>` : wrap(name, parts.map((part) => wrap('item', part)).join(''));
}

function response(action: string, requestId: string, inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NAMESPACE}">${el('requestId', requestId)}${inner}</${action}Response>`;
}

function errorResponse(requestId: string, code: string, message: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${el('Code', code)}${el('Message', message)}</Error></Errors>` +
    `${el('RequestID', requestId)}</Response>`
  );
}

// ---------------------------------------------------------------------------------------------------------
// Instances
// ---------------------------------------------------------------------------------------------------------

interface InstanceRecord extends Omit<LocalInstance, 'state' | 'tags' | 'securityGroupIds'> {
  stateName: InstanceStateName;
  tags: Map<string, string>;
  securityGroupIds: string[];
  availabilityZone: string;
  amiLaunchIndex: number;
  scriptPath?: string;
  child?: ChildProcess;
  /** Resolves once the process has exited (or immediately if there never was one). */
  exited: Promise<void>;
  markExited: () => void;
  timers: Set<NodeJS.Timeout>;
  userTerminated: boolean;
}

function hexId(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** EC2's timestamp style in reasons: `2024-05-01 12:00:00 GMT`. */
function gmt(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} GMT`;
}

function snapshot(record: InstanceRecord): LocalInstance {
  const {
    stateName,
    tags,
    securityGroupIds,
    availabilityZone: _az,
    amiLaunchIndex: _index,
    scriptPath: _script,
    child: _child,
    exited: _exited,
    markExited: _mark,
    timers: _timers,
    userTerminated: _user,
    ...rest
  } = record;
  return {
    ...rest,
    launchTime: new Date(record.launchTime),
    state: { code: STATE_CODES[stateName], name: stateName },
    tags: Object.fromEntries(tags),
    securityGroupIds: [...securityGroupIds],
    ...(record.stateReason ? { stateReason: { ...record.stateReason } } : {}),
  };
}

function isAlive(record: InstanceRecord): boolean {
  return record.stateName !== 'terminated';
}

/** Matches EC2 filter values: `*` any run of characters, `?` one character, `\` escapes. */
function wildcardMatch(pattern: string, value: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '\\' && i + 1 < pattern.length) source += (pattern[++i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`).test(value);
}

// ---------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------

export async function startEc2Server(options: Ec2ServerOptions): Promise<RunningEc2Server> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const pendingMs = options.pendingMs ?? 200;
  const maxInstances = options.maxInstances ?? 16;
  const directory = path.resolve(options.directory);
  mkdirSync(directory, { recursive: true });

  const records = new Map<string, InstanceRecord>();
  let closing = false;

  const log = (message: string): void => {
    if (!options.silent) process.stderr.write(`[ec2] ${message}\n`);
  };

  const later = (record: InstanceRecord, ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      record.timers.delete(timer);
      fn();
    }, ms);
    record.timers.add(timer);
  };

  const setState = (record: InstanceRecord, state: InstanceStateName): void => {
    if (record.stateName === state) return;
    log(`${record.instanceId}: ${record.stateName} → ${state}`);
    record.stateName = state;
  };

  const killGroup = (record: InstanceRecord, signal: NodeJS.Signals): void => {
    if (record.pid === undefined) return;
    try {
      process.kill(-record.pid, signal);
    } catch {
      // ESRCH: nothing left in the group.
    }
  };

  /** The script ended (by itself or killed): finish the shutdown after the transition period. */
  const onProcessExit = (record: InstanceRecord, code: number | null, signal: NodeJS.Signals | null): void => {
    record.exitCode = code;
    record.exitSignal = signal;
    record.child = undefined;
    // Whatever the script left behind in its group goes down with the "machine".
    killGroup(record, 'SIGKILL');
    record.markExited();
    if (record.userTerminated) {
      later(record, closing ? 0 : pendingMs, () => setState(record, 'terminated'));
      return;
    }
    if (record.stateName !== 'running' && record.stateName !== 'pending') return;
    const now = new Date();
    record.stateReason = { code: 'Client.InstanceInitiatedShutdown', message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown' };
    record.stateTransitionReason = `Instance initiated shutdown (${gmt(now)})`;
    const [transitional, final]: [InstanceStateName, InstanceStateName] =
      record.shutdownBehavior === 'terminate' ? ['shutting-down', 'terminated'] : ['stopping', 'stopped'];
    setState(record, transitional);
    later(record, pendingMs, () => setState(record, final));
  };

  const boot = (record: InstanceRecord): void => {
    if (record.stateName !== 'pending') return;
    if (record.scriptPath === undefined) {
      setState(record, 'running');
      record.markExited();
      return;
    }
    const logFd = openSync(record.consoleLogPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn('bash', [record.scriptPath], {
        cwd: record.directory,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { ...instanceBaseEnvironment(), ...options.env, CLOUD_PARALLEL_INSTANCE_ID: record.instanceId },
      });
    } finally {
      closeSync(logFd);
    }
    record.child = child;
    child.once('spawn', () => {
      record.pid = child.pid;
      if (record.stateName === 'pending') setState(record, 'running');
    });
    child.once('error', (error) => {
      log(`${record.instanceId}: could not start: ${error.message}`);
      if (child.pid !== undefined) return; // 'exit' follows
      record.stateReason = { code: 'Server.InternalError', message: `Server.InternalError: ${error.message}` };
      record.child = undefined;
      record.markExited();
      setState(record, 'terminated');
    });
    child.once('exit', (code, signal) => onProcessExit(record, code, signal));
  };

  /** User-initiated termination; returns the state change as TerminateInstances reports it. */
  const terminate = (record: InstanceRecord, reason: string): { previous: InstanceStateName; current: InstanceStateName } => {
    const previous = record.stateName;
    if (previous === 'terminated' || (previous === 'shutting-down' && record.userTerminated)) {
      return { previous, current: record.stateName };
    }
    const now = new Date();
    record.userTerminated = true;
    record.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
    record.stateTransitionReason = `${reason} (${gmt(now)})`;
    for (const timer of record.timers) clearTimeout(timer);
    record.timers.clear();
    if (record.child) {
      setState(record, 'shutting-down');
      killGroup(record, 'SIGTERM');
      const child = record.child;
      const escalate = setTimeout(() => {
        if (record.child === child) killGroup(record, 'SIGKILL');
      }, KILL_GRACE_MS);
      void record.exited.then(() => clearTimeout(escalate));
    } else if (previous === 'stopped' || previous === 'stopping') {
      record.markExited();
      setState(record, 'terminated');
    } else {
      record.markExited();
      // pending (not booted) or an idle instance, or a shutdown already under way without a process.
      setState(record, 'shutting-down');
      later(record, closing ? 0 : pendingMs, () => setState(record, 'terminated'));
    }
    return { previous, current: record.stateName };
  };

  // ---- actions ------------------------------------------------------------------------------------------

  const instanceIds = (params: QueryParams): string[] => {
    const ids = params.list('InstanceId');
    for (const id of ids) {
      if (!INSTANCE_ID.test(id)) throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
    }
    const unknown = ids.filter((id) => !records.has(id));
    if (unknown.length > 0) {
      throw new Ec2Error(
        'InvalidInstanceID.NotFound',
        `The instance ID${unknown.length > 1 ? 's' : ''} '${unknown.join(', ')}' do${unknown.length > 1 ? '' : 'es'} not exist`,
      );
    }
    return ids;
  };

  const instanceXml = (record: InstanceRecord): string => {
    const tags = [...record.tags].map(([key, value]) => el('key', key) + el('value', value));
    const groups = record.securityGroupIds.map((id) => el('groupId', id) + el('groupName', id));
    return (
      el('instanceId', record.instanceId) +
      el('imageId', record.imageId) +
      wrap('instanceState', el('code', STATE_CODES[record.stateName]) + el('name', record.stateName)) +
      el('privateDnsName', '') +
      el('dnsName', '') +
      el('reason', record.stateTransitionReason) +
      el('amiLaunchIndex', record.amiLaunchIndex) +
      '<productCodes/>' +
      el('instanceType', record.instanceType) +
      el('launchTime', record.launchTime.toISOString()) +
      wrap('placement', el('availabilityZone', record.availabilityZone) + el('groupName', '') + el('tenancy', 'default')) +
      wrap('monitoring', el('state', 'disabled')) +
      el('subnetId', record.subnetId) +
      items('groupSet', groups) +
      (record.stateReason ? wrap('stateReason', el('code', record.stateReason.code) + el('message', record.stateReason.message)) : '') +
      el('architecture', 'x86_64') +
      el('rootDeviceType', 'ebs') +
      el('rootDeviceName', '/dev/xvda') +
      el('virtualizationType', 'hvm') +
      el('hypervisor', 'xen') +
      el('platformDetails', 'Linux/UNIX') +
      items('tagSet', tags) +
      (record.httpTokens !== undefined
        ? wrap('metadataOptions', el('state', 'applied') + el('httpTokens', record.httpTokens) + el('httpEndpoint', 'enabled'))
        : '') +
      wrap('instanceInitiatedShutdownBehavior', record.shutdownBehavior)
    );
  };

  const runInstances = (params: QueryParams): string => {
    const imageId = params.get('ImageId');
    if (imageId === undefined || imageId === '') throw new Ec2Error('MissingParameter', 'The request must contain the parameter ImageId');
    if (!AMI_ID.test(imageId)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
    const count = (name: string): number => {
      const raw = params.get(name);
      if (raw === undefined) throw new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 1) throw new Ec2Error('InvalidParameterValue', `Value (${raw}) for parameter ${name} is invalid. Expected a positive integer.`);
      return value;
    };
    const minCount = count('MinCount');
    const maxCount = count('MaxCount');
    if (minCount > maxCount) throw new Ec2Error('InvalidParameterValue', `MinCount (${minCount}) must not be greater than MaxCount (${maxCount})`);
    const alive = [...records.values()].filter(isAlive).length;
    if (maxCount > maxInstances || alive + minCount > maxInstances) {
      throw new Ec2Error(
        'InstanceLimitExceeded',
        `You have requested more instances (${maxCount}) than your current instance limit of ${maxInstances} allows (${alive} running).`,
      );
    }
    const launch = Math.min(maxCount, maxInstances - alive);

    const behaviour = params.get('InstanceInitiatedShutdownBehavior') ?? 'stop';
    if (behaviour !== 'stop' && behaviour !== 'terminate') {
      throw new Ec2Error('InvalidParameterValue', `Value (${behaviour}) for parameter instanceInitiatedShutdownBehavior is invalid. Expected: 'stop', 'terminate'.`);
    }
    const httpTokens = params.get('MetadataOptions.HttpTokens');
    if (httpTokens !== undefined && httpTokens !== 'optional' && httpTokens !== 'required') {
      throw new Ec2Error('InvalidParameterValue', `Value (${httpTokens}) for parameter HttpTokens is invalid. Expected: 'optional', 'required'.`);
    }
    let userData: string | undefined;
    const rawUserData = params.get('UserData');
    if (rawUserData !== undefined && rawUserData !== '') {
      const compact = rawUserData.replace(/\s+/g, '');
      if (!BASE64.test(compact)) throw new Ec2Error('InvalidParameterValue', 'Invalid BASE64 encoding of user data.');
      userData = Buffer.from(compact, 'base64').toString('utf8');
      if (Buffer.byteLength(compact) > 16 * 1024 * 4 / 3 + 4) throw new Ec2Error('InvalidParameterValue', 'User data is limited to 16384 bytes');
    }
    const tags = new Map<string, string>();
    for (const spec of params.structs('TagSpecification')) {
      const resourceType = spec.get('ResourceType');
      if (resourceType !== undefined && resourceType !== 'instance') continue; // volumes etc. are not modelled
      for (const tag of spec.structs('Tag')) {
        const key = tag.get('Key');
        if (key === undefined || key === '') throw new Ec2Error('InvalidParameterValue', 'Tag keys must not be empty');
        if (key.startsWith('aws:')) throw new Ec2Error('InvalidParameterValue', `Tag keys starting with 'aws:' are reserved for internal use`);
        tags.set(key, tag.get('Value') ?? '');
      }
    }
    if (params.get('DryRun') === 'true') {
      throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    }
    const instanceType = params.get('InstanceType') ?? 'm1.small';
    const subnetId = params.get('SubnetId');
    const securityGroupIds = params.list('SecurityGroupId');
    const reservationId = hexId('r');
    const launchTime = new Date(Math.floor(Date.now() / 1000) * 1000); // EC2 reports whole seconds
    const launched: InstanceRecord[] = [];
    for (let index = 0; index < launch; index++) {
      let instanceId = hexId('i');
      while (records.has(instanceId)) instanceId = hexId('i');
      const instanceDir = path.join(directory, instanceId);
      mkdirSync(instanceDir, { recursive: true });
      const consoleLogPath = path.join(instanceDir, 'console.log');
      writeFileSync(consoleLogPath, '');
      let scriptPath: string | undefined;
      if (userData !== undefined) {
        const file = path.join(instanceDir, 'user-data.sh');
        writeFileSync(file, userData, { mode: 0o755 });
        if (userData.startsWith('#!')) scriptPath = file;
      }
      let markExited!: () => void;
      const exited = new Promise<void>((resolve) => (markExited = resolve));
      const record: InstanceRecord = {
        instanceId,
        reservationId,
        imageId,
        instanceType,
        stateName: 'pending',
        launchTime,
        shutdownBehavior: behaviour,
        tags: new Map(tags),
        directory: instanceDir,
        consoleLogPath,
        ...(userData !== undefined ? { userData } : {}),
        ...(scriptPath !== undefined ? { scriptPath } : {}),
        stateTransitionReason: '',
        ...(subnetId !== undefined ? { subnetId } : {}),
        securityGroupIds,
        ...(httpTokens !== undefined ? { httpTokens } : {}),
        availabilityZone: `${region}a`,
        amiLaunchIndex: index,
        exited,
        markExited,
        timers: new Set(),
        userTerminated: false,
      };
      records.set(instanceId, record);
      launched.push(record);
      log(`${instanceId}: launched (${imageId}, ${instanceType}, shutdown behaviour ${behaviour})`);
      later(record, pendingMs, () => boot(record));
    }
    return (
      el('reservationId', reservationId) +
      el('ownerId', OWNER_ID) +
      '<groupSet/>' +
      items('instancesSet', launched.map(instanceXml))
    );
  };

  const describeInstances = (params: QueryParams): string => {
    const ids = instanceIds(params);
    const filters = params.structs('Filter').map((filter) => {
      const name = filter.get('Name') ?? '';
      const values = filter.list('Value');
      let get: (record: InstanceRecord) => string[];
      if (name === 'instance-state-name') get = (r) => [r.stateName];
      else if (name === 'instance-state-code') get = (r) => [String(STATE_CODES[r.stateName])];
      else if (name === 'instance-id') get = (r) => [r.instanceId];
      else if (name === 'image-id') get = (r) => [r.imageId];
      else if (name === 'instance-type') get = (r) => [r.instanceType];
      else if (name === 'reservation-id') get = (r) => [r.reservationId];
      else if (name === 'tag-key') get = (r) => [...r.tags.keys()];
      else if (name === 'tag-value') get = (r) => [...r.tags.values()];
      else if (name.startsWith('tag:')) {
        const key = name.slice(4);
        get = (r) => (r.tags.has(key) ? [r.tags.get(key) ?? ''] : []);
      } else throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
      return (record: InstanceRecord): boolean => get(record).some((actual) => values.some((pattern) => wildcardMatch(pattern, actual)));
    });
    const selected = [...records.values()].filter(
      (record) => (ids.length === 0 || ids.includes(record.instanceId)) && filters.every((matches) => matches(record)),
    );
    const reservations = new Map<string, InstanceRecord[]>();
    for (const record of selected) {
      const group = reservations.get(record.reservationId) ?? [];
      group.push(record);
      reservations.set(record.reservationId, group);
    }
    return items(
      'reservationSet',
      [...reservations].map(
        ([reservationId, group]) => el('reservationId', reservationId) + el('ownerId', OWNER_ID) + '<groupSet/>' + items('instancesSet', group.map(instanceXml)),
      ),
    );
  };

  const terminateInstances = (params: QueryParams): string => {
    const ids = instanceIds(params);
    if (ids.length === 0) throw new Ec2Error('MissingParameter', 'The request must contain the parameter InstanceId');
    if (params.get('DryRun') === 'true') throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    const changes = ids.map((id) => {
      const record = records.get(id);
      if (!record) throw new Error('unreachable: ids are validated');
      const { previous, current } = terminate(record, 'User initiated');
      return (
        el('instanceId', id) +
        wrap('currentState', el('code', STATE_CODES[current]) + el('name', current)) +
        wrap('previousState', el('code', STATE_CODES[previous]) + el('name', previous))
      );
    });
    return items('instancesSet', changes);
  };

  const describeImages = (params: QueryParams): string => {
    const ids = params.list('ImageId');
    for (const id of ids) if (!AMI_ID.test(id)) throw new Ec2Error('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`);
    return items(
      'imagesSet',
      ids.map(
        (id) =>
          el('imageId', id) +
          el('imageLocation', `local/${id}`) +
          el('imageState', 'available') +
          el('imageOwnerId', OWNER_ID) +
          el('creationDate', '2024-01-01T00:00:00.000Z') +
          el('isPublic', true) +
          el('architecture', 'x86_64') +
          el('imageType', 'machine') +
          el('name', `local-linux-${id}`) +
          el('description', 'Local stack image: instances run their user data with bash on this machine') +
          el('rootDeviceType', 'ebs') +
          el('rootDeviceName', '/dev/xvda') +
          el('virtualizationType', 'hvm') +
          el('hypervisor', 'xen') +
          el('platformDetails', 'Linux/UNIX') +
          el('usageOperation', 'RunInstances') +
          el('enaSupport', true) +
          '<blockDeviceMapping/>' +
          '<tagSet/>',
      ),
    );
  };

  const describeInstanceStatus = (params: QueryParams): string => {
    const ids = instanceIds(params);
    const all = params.get('IncludeAllInstances') === 'true';
    const selected = [...records.values()].filter(
      (record) => (ids.length === 0 || ids.includes(record.instanceId)) && (all || record.stateName === 'running'),
    );
    const summary = (ok: boolean): string =>
      el('status', ok ? 'ok' : 'not-applicable') + items('details', ok ? [el('name', 'reachability') + el('status', 'passed')] : []);
    return items(
      'instanceStatusSet',
      selected.map((record) => {
        const running = record.stateName === 'running';
        return (
          el('instanceId', record.instanceId) +
          el('availabilityZone', record.availabilityZone) +
          wrap('instanceState', el('code', STATE_CODES[record.stateName]) + el('name', record.stateName)) +
          wrap('systemStatus', summary(running)) +
          wrap('instanceStatus', summary(running))
        );
      }),
    );
  };

  const actions: Record<string, (params: QueryParams) => string> = {
    RunInstances: runInstances,
    DescribeInstances: describeInstances,
    TerminateInstances: terminateInstances,
    DescribeImages: describeImages,
    DescribeInstanceStatus: describeInstanceStatus,
  };

  // ---- HTTP ---------------------------------------------------------------------------------------------

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const send = (status: number, body: string): void => {
      res.writeHead(status, {
        'content-type': 'text/xml;charset=UTF-8',
        'content-length': Buffer.byteLength(body),
        'x-amzn-requestid': requestId,
      });
      res.end(body);
    };
    const refuse = (refusal: GuardRefusal): never => {
      const { code, status } = EC2_AUTH_ERRORS[refusal.reason];
      throw new Ec2Error(code, refusal.message, status);
    };
    try {
      // Before reading a byte of the body: a page's request is refused whatever it carries.
      const browser = refuseBrowserRequest(req, allowedHosts);
      if (browser) refuse(browser);
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) throw new Ec2Error('RequestEntityTooLarge', 'Request body is too large', 413);
        chunks.push(chunk as Buffer);
      }
      const rawBody = Buffer.concat(chunks);
      const unsigned = guardRequest(req, { credentials: options.credentials, allowedHosts, service: 'other' }, rawBody);
      if (unsigned) refuse(unsigned);
      const query = new URL(req.url ?? '/', 'http://localhost').search.slice(1);
      const body = rawBody.toString('utf8');
      const params = QueryParams.parse(req.method === 'POST' && body !== '' ? body : query);
      const action = params.get('Action');
      if (action === undefined) throw new Ec2Error('MissingAction', 'The request must contain the parameter Action');
      if (req.method !== 'POST' && !READ_ONLY_ACTION.test(action)) {
        throw new Ec2Error('UnsupportedOperation', `${action} changes state and must be sent as a POST, not a ${req.method}`, 400);
      }
      const handler = actions[action];
      if (!handler) throw new Ec2Error('InvalidAction', `The action ${action} is not valid for this web service.`);
      if (closing) throw new Ec2Error('Unavailable', 'The server is shutting down', 503);
      const inner = handler(params);
      log(`${action} 200`);
      send(200, response(action, requestId, inner));
    } catch (error) {
      if (error instanceof Ec2Error) {
        log(`error ${error.status} ${error.code}: ${error.message}`);
        send(error.status, errorResponse(requestId, error.code, error.message));
      } else {
        process.stderr.write(`[ec2] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
        send(500, errorResponse(requestId, 'InternalError', 'An internal error has occurred'));
      }
    }
  };

  // Filled once the port is known (port 0 picks one); no request is handled before listen() returns.
  const allowedHosts = new Set<string>();
  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  for (const name of announcedHosts(host, port)) allowedHosts.add(name);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;

  return {
    endpoint: `http://${urlHost}:${port}`,
    port,
    instances: () => [...records.values()].map(snapshot),
    close: () => {
      closed ??= (async () => {
        closing = true;
        const all = [...records.values()];
        for (const record of all) {
          if (record.stateName !== 'terminated') terminate(record, 'Server shutdown');
        }
        await Promise.all(all.map((record) => record.exited));
        for (const record of all) {
          for (const timer of record.timers) clearTimeout(timer);
          record.timers.clear();
          if (record.stateName === 'shutting-down') record.stateName = 'terminated';
        }
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------

export interface Ec2CliOptions extends Ec2ServerOptions {
  silent: boolean;
}

export function parseCliArgs(argv: string[]): Ec2CliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '4570' },
      host: { type: 'string' },
      dir: { type: 'string', default: '.local-stack/ec2' },
      region: { type: 'string' },
      'pending-ms': { type: 'string' },
      'max-instances': { type: 'string' },
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = portOption(values.port);
  const pendingMs = integerOption('pending-ms', values['pending-ms'], 0);
  const maxInstances = integerOption('max-instances', values['max-instances'], 1);
  return {
    port,
    directory: values.dir,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(pendingMs === undefined ? {} : { pendingMs }),
    ...(maxInstances === undefined ? {} : { maxInstances }),
    silent: values.silent,
    credentials: credentialsFromEnvironment(),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'ec2',
  usage: 'ec2-server.ts [--port 4570] [--host 127.0.0.1] [--dir .local-stack/ec2] [--region us-east-1] [--pending-ms 200] [--max-instances 16] [--silent]  (accepts only requests signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of its environment)',
  parse: parseCliArgs,
  start: async (options) => {
    const server = await startEc2Server(options);
    return {
      ready: { ready: true, endpoint: server.endpoint, port: server.port, region: options.region ?? 'us-east-1' },
      close: () => server.close(),
    };
  },
  what: 'terminating instances and shutting down',
  graceMs: KILL_GRACE_MS + 3000,
});
