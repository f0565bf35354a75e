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
 * `<directory>/<instance-id>/user-data.sh` and run with `bash` in a session of its own (its "machine"), with that
 * directory as cwd and stdout/stderr appended to `console.log` there. Its environment is clean, as on a fresh
 * EC2 instance — nothing of the developer's: `HOME` is `<instance>/home` and `TMPDIR` `<instance>/tmp`, no AWS_*
 * or project variables; only `PATH`, `LANG` and `TZ` are kept (so node, curl and timeout are found), plus
 * `CLOUD_PARALLEL_INSTANCE_ID` and the server's `env` option.
 *
 * Power-off is emulated, never performed: `<instance>/.ec2/bin` comes first in the instance's PATH and holds
 * `shutdown`, `poweroff` and `halt` scripts that only write a request into `<instance>/.ec2/power-request`,
 * which the server reads. `shutdown -h now` / `poweroff` power the instance off at once, `shutdown -h +N`
 * schedules it N minutes later (`minuteMs`, test-only, shortens the minute), `shutdown -c` cancels.
 * (A script that calls the real binary by its absolute path, e.g. `/sbin/shutdown`, is not caught.)
 *
 * States follow EC2: pending (0) → running (16) once the process started; on power-off, or when the script
 * exits by itself (a simplification: a real instance keeps running after its user data), shutting-down (32) →
 * terminated (48) for shutdown behaviour `terminate`, stopping (64) → stopped (80) for `stop` (EC2's default).
 * Powering off or TerminateInstances kills every process of the instance's session (SIGTERM, SIGKILL after
 * 2 s), including process groups of its own such as `timeout` creates; on Linux, found through /proc, elsewhere
 * only the script's process group. An instance without a runnable script (no user data, or user data that is
 * not a `#!` script) idles in `running` until it is terminated. Terminated instances stay visible until the
 * server stops.
 *
 * Run directly, it is a CLI (see `main` at the bottom) that prints one JSON line when ready on stdout;
 * logs go to stderr. SIGTERM/SIGINT terminate every instance, then exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { credentialsFromEnvironment, refuseBrowserRequest, refuseUnsigned, type Credentials, type GuardRefusal } from './shared/request-guard.ts';
import { integerOption, listenOnLoopback, portOption, runServerMain } from './shared/server-process.ts';
import { parseArgs } from 'node:util';

/**
 * What a local instance's process sees: like a fresh EC2 instance, no AWS credentials, endpoints, project
 * settings or the developer's HOME (where ~/.aws lives) — a worker that works here cannot be quietly relying on
 * the developer's environment, and user data cannot read their files through it. PATH is kept so that node,
 * curl and timeout are found, behind the instance's own `bin` with the power-off shims.
 */
function instanceBaseEnvironment(layout: InstanceLayout): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${layout.bin}${path.delimiter}${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
    HOME: layout.home,
    TMPDIR: layout.tmp,
  };
  for (const name of ['LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Where an instance's own files live, all inside its directory (removed with it). */
interface InstanceLayout {
  /** The power-off shims, first in PATH. */
  bin: string;
  home: string;
  tmp: string;
  /** What the shims write and the server reads: `poweroff <minutes> <nonce>` or `cancel - <nonce>`. */
  powerRequest: string;
}

function instanceLayout(instanceDir: string): InstanceLayout {
  const control = path.join(instanceDir, '.ec2');
  return { bin: path.join(control, 'bin'), home: path.join(instanceDir, 'home'), tmp: path.join(instanceDir, 'tmp'), powerRequest: path.join(control, 'power-request') };
}

function quoteSh(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `shutdown`/`poweroff`/`halt` an instance finds first in its PATH. It never touches the machine it runs on:
 * it writes a request for the EC2 server (atomically: temp file + rename; a nonce makes each request new) and
 * returns, as the real command returns before the machine goes down. Options it does not know are refused, so
 * user data cannot believe something was scheduled that was not.
 */
function powerShim(requestFile: string): string {
  return `#!/bin/bash
# Local EC2 emulator (local-stack/ec2-server.ts): this instance's shutdown/poweroff/halt. It does not power off
# this machine; it asks the local EC2 server to power off THIS instance (or schedule/cancel that).
set -u
request=${quoteSh(requestFile)}
name=\${0##*/}
action=poweroff
minutes=
if [ "$name" = shutdown ]; then
  for arg in "$@"; do
    case "$arg" in
      -h|-H|-P|--halt|--poweroff|--no-wall) ;;
      -c) action=cancel ;;
      -r|--reboot) echo "shutdown: reboot is not emulated by the local EC2 server" >&2; exit 1 ;;
      -*) echo "shutdown: option $arg is not emulated by the local EC2 server" >&2; exit 1 ;;
      *)
        if [ -n "$minutes" ] || [ "$action" = cancel ]; then continue; fi # the wall message
        case "$arg" in
          now) minutes=0 ;;
          +[0-9]*) minutes=\${arg#+}
            if ! [[ "$minutes" =~ ^[0-9]{1,9}$ ]]; then echo "shutdown: bad time $arg" >&2; exit 1; fi ;;
          *) echo "shutdown: time $arg is not emulated by the local EC2 server (use now or +MINUTES)" >&2; exit 1 ;;
        esac ;;
    esac
  done
  [ -n "$minutes" ] || minutes=1 # systemd's shutdown without a time: in one minute
else
  minutes=0 # poweroff, halt: now; their options (-f, --force, -p) change nothing here
fi
[ "$action" = cancel ] && minutes=-
tmp="$request.$$.tmp"
printf '%s %s %s\n' "$action" "$minutes" "$$.$RANDOM$RANDOM" > "$tmp" && mv -f "$tmp" "$request" || exit 1
if [ "$action" = cancel ]; then echo "$name (local EC2): scheduled power-off cancelled" >&2
else echo "$name (local EC2): power-off of \${CLOUD_PARALLEL_INSTANCE_ID:-this instance} in $minutes minute(s)" >&2; fi
`;
}

/**
 * Every process of the session `sid` (Linux, through /proc): an instance's processes, including any that moved to
 * a process group of their own (`timeout` does). Empty where /proc does not exist.
 */
function sessionMembers(sid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp session …; comm may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid && fields[0] !== 'Z') members.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return members;
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
  /** Extra environment for instance processes (on top of the clean one they get). */
  env?: Record<string, string>;
  /**
   * Test-only: how many milliseconds one minute of an instance's `shutdown -h +N` lasts, so that a test can see a
   * scheduled power-off happen. Default 60000 (a real minute).
   */
  minuteMs?: number;
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
  /** When a `shutdown -h +N` run inside the instance will power it off (cleared by `shutdown -c`). */
  powerOffAt?: Date;
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
/** How often a running instance's power-off request file is looked at. */
const POWER_POLL_MS = 50;
/** setTimeout's longest delay; longer scheduled power-offs wait in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
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
  layout: InstanceLayout;
  /** Polls `layout.powerRequest` while the script runs. */
  powerWatch?: NodeJS.Timeout;
  lastPowerRequest?: string;
  /** The pending `shutdown -h +N`. */
  powerOffTimer?: NodeJS.Timeout;
  /** Powered off from inside (the shim): the process is being killed, the final state follows its exit. */
  poweringOff: boolean;
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
    layout: _layout,
    powerWatch: _watch,
    lastPowerRequest: _last,
    powerOffTimer: _powerTimer,
    poweringOff: _poweringOff,
    powerOffAt,
    ...rest
  } = record;
  return {
    ...rest,
    launchTime: new Date(record.launchTime),
    state: { code: STATE_CODES[stateName], name: stateName },
    tags: Object.fromEntries(tags),
    securityGroupIds: [...securityGroupIds],
    ...(powerOffAt ? { powerOffAt: new Date(powerOffAt) } : {}),
    ...(record.stateReason ? { stateReason: { ...record.stateReason } } : {}),
  };
}

function isAlive(record: InstanceRecord): boolean {
  return record.stateName !== 'terminated';
}

/** Matches EC2 filter values: `*` any run of characters, `?` one character, `\` escapes. */
function wildcardMatch(pattern: string, value: string): boolean {
  // EC2 filter wildcards: `*` any run, `?` one character, `\` escapes the next. Matched by the classic greedy
  // scan with one backtrack point rather than a RegExp built from the pattern: a request's pattern is input,
  // and a long one must neither exceed the RegExp engine's limits (a crash as a 500) nor backtrack exponentially.
  const tokens: { char: string; wildcard?: '*' | '?' }[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) tokens.push({ char: pattern[++i]! });
    else if (c === '*' || c === '?') tokens.push({ char: c, wildcard: c });
    else tokens.push({ char: c });
  }
  let t = 0;
  let v = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    const token = tokens[t];
    if (token !== undefined && (token.wildcard === '?' || (token.wildcard === undefined && token.char === value[v]))) {
      t++;
      v++;
    } else if (token?.wildcard === '*') {
      star = t++;
      resume = v;
    } else if (star !== -1) {
      t = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (tokens[t]?.wildcard === '*') t++;
  return t === tokens.length;
}

// ---------------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------------

export async function startEc2Server(options: Ec2ServerOptions): Promise<RunningEc2Server> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const pendingMs = options.pendingMs ?? 200;
  const maxInstances = options.maxInstances ?? 16;
  const minuteMs = options.minuteMs ?? 60_000;
  if (!Number.isInteger(minuteMs) || minuteMs < 1) throw new TypeError(`startEc2Server: minuteMs must be a whole number of milliseconds from 1 (got ${minuteMs})`);
  const directory = path.resolve(options.directory);
  mkdirSync(directory, { recursive: true });

  const records = new Map<string, InstanceRecord>();
  let closing = false;

  const log = (message: string): void => {
    if (!options.silent) process.stderr.write(`[ec2] ${message}\n`);
  };

  const later = (record: InstanceRecord, ms: number, fn: () => void): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      record.timers.delete(timer);
      fn();
    }, ms);
    record.timers.add(timer);
    return timer;
  };

  const setState = (record: InstanceRecord, state: InstanceStateName): void => {
    if (record.stateName === state) return;
    log(`${record.instanceId}: ${record.stateName} → ${state}`);
    record.stateName = state;
  };

  /** Signals every process of the instance: its session (the script is the session leader) and process group. */
  const killInstance = (record: InstanceRecord, signal: NodeJS.Signals): void => {
    if (record.pid === undefined) return;
    try {
      process.kill(-record.pid, signal);
    } catch {
      // ESRCH: nothing left in the group.
    }
    for (const pid of sessionMembers(record.pid)) {
      try {
        process.kill(pid, signal);
      } catch {
        // ESRCH: exited meanwhile.
      }
    }
  };

  const stopPowerWatch = (record: InstanceRecord): void => {
    if (record.powerWatch !== undefined) clearInterval(record.powerWatch);
    record.powerWatch = undefined;
  };

  /** Instance-initiated shutdown: the reason EC2 gives and the transitional state of the shutdown behaviour. */
  const beginInstanceShutdown = (record: InstanceRecord): void => {
    record.stateReason = { code: 'Client.InstanceInitiatedShutdown', message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown' };
    record.stateTransitionReason = `Instance initiated shutdown (${gmt(new Date())})`;
    setState(record, record.shutdownBehavior === 'terminate' ? 'shutting-down' : 'stopping');
  };

  /** The script ended (by itself or killed): finish the shutdown after the transition period. */
  const onProcessExit = (record: InstanceRecord, code: number | null, signal: NodeJS.Signals | null): void => {
    record.exitCode = code;
    record.exitSignal = signal;
    record.child = undefined;
    stopPowerWatch(record);
    if (record.powerOffTimer !== undefined) clearTimeout(record.powerOffTimer);
    record.powerOffTimer = undefined;
    record.powerOffAt = undefined;
    // Whatever the script left behind in its session goes down with the "machine".
    killInstance(record, 'SIGKILL');
    record.markExited();
    if (record.userTerminated) {
      later(record, closing ? 0 : pendingMs, () => setState(record, 'terminated'));
      return;
    }
    if (!record.poweringOff) {
      if (record.stateName !== 'running' && record.stateName !== 'pending') return;
      beginInstanceShutdown(record);
    }
    later(record, pendingMs, () => setState(record, record.shutdownBehavior === 'terminate' ? 'terminated' : 'stopped'));
  };

  /** `shutdown -h now` (or a scheduled one falling due) inside the instance: power it off as a machine would. */
  const powerOff = (record: InstanceRecord): void => {
    const child = record.child;
    if (record.stateName !== 'running' || child === undefined || record.poweringOff) return;
    log(`${record.instanceId}: powered off from inside`);
    record.poweringOff = true;
    record.powerOffAt = undefined;
    beginInstanceShutdown(record);
    killInstance(record, 'SIGTERM');
    const escalate = setTimeout(() => {
      if (record.child === child) killInstance(record, 'SIGKILL');
    }, KILL_GRACE_MS);
    void record.exited.then(() => clearTimeout(escalate));
  };

  /** Runs `fn` at `at` (epoch ms), in steps when that is further away than one timer can wait. */
  const schedulePowerOff = (record: InstanceRecord, at: number): void => {
    if (record.powerOffTimer !== undefined) clearTimeout(record.powerOffTimer);
    record.powerOffAt = new Date(at);
    const step = (): void => {
      const left = at - Date.now();
      if (left > 0) record.powerOffTimer = later(record, Math.min(left, MAX_TIMER_MS), step);
      else {
        record.powerOffTimer = undefined;
        powerOff(record);
      }
    };
    step();
  };

  /** Reads the shims' request file; a new request replaces the previous one, as a new `shutdown` does. */
  const checkPowerRequest = (record: InstanceRecord): void => {
    let text: string;
    try {
      text = readFileSync(record.layout.powerRequest, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (text === record.lastPowerRequest) return;
    record.lastPowerRequest = text;
    const match = /^(poweroff) (\d{1,9}) \S+\n$|^(cancel) - \S+\n$/.exec(text);
    if (match === null) {
      // The instance wrote something the shims never write: say so where its owner looks, and change nothing.
      const complaint = `[local ec2] ignored a power-off request that is not one the shutdown shim writes: ${JSON.stringify(text.slice(0, 200))}\n`;
      appendFileSync(record.consoleLogPath, complaint);
      log(`${record.instanceId}: ${complaint.trim()}`);
      return;
    }
    if (match[3] === 'cancel') {
      if (record.powerOffTimer !== undefined) clearTimeout(record.powerOffTimer);
      record.powerOffTimer = undefined;
      record.powerOffAt = undefined;
      log(`${record.instanceId}: scheduled power-off cancelled`);
      return;
    }
    const minutes = Number(match[2]);
    if (minutes === 0) {
      powerOff(record);
      return;
    }
    log(`${record.instanceId}: power-off scheduled in ${minutes} minute(s) of ${minuteMs} ms`);
    schedulePowerOff(record, Date.now() + minutes * minuteMs);
  };

  const watchPowerRequests = (record: InstanceRecord): void => {
    const watch = setInterval(() => {
      try {
        checkPowerRequest(record);
      } catch (error) {
        // An unreadable request file (permissions changed by the script): the instance cannot power itself off,
        // which the developer must hear about; the watch stops rather than repeat the same error 20 times a second.
        stopPowerWatch(record);
        const message = `[local ec2] cannot read power-off requests any more, shutdown inside this instance no longer works: ${(error as Error).message}\n`;
        process.stderr.write(`[ec2] ${record.instanceId}: ${message}`);
        try {
          appendFileSync(record.consoleLogPath, message);
        } catch {
          // the console log is gone too; stderr above has it
        }
      }
    }, POWER_POLL_MS);
    watch.unref();
    record.powerWatch = watch;
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
        env: { ...instanceBaseEnvironment(record.layout), ...options.env, CLOUD_PARALLEL_INSTANCE_ID: record.instanceId },
      });
    } finally {
      closeSync(logFd);
    }
    record.child = child;
    child.once('spawn', () => {
      record.pid = child.pid;
      if (record.stateName === 'pending') setState(record, 'running');
      watchPowerRequests(record);
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
    record.powerOffTimer = undefined;
    record.powerOffAt = undefined;
    if (record.child) {
      setState(record, 'shutting-down');
      killInstance(record, 'SIGTERM');
      const child = record.child;
      const escalate = setTimeout(() => {
        if (record.child === child) killInstance(record, 'SIGKILL');
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
      const layout = instanceLayout(instanceDir);
      for (const dir of [layout.bin, layout.home, layout.tmp]) mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const name of ['shutdown', 'poweroff', 'halt']) writeFileSync(path.join(layout.bin, name), powerShim(layout.powerRequest), { mode: 0o755 });
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
        layout,
        poweringOff: false,
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
      const unsigned = refuseUnsigned(req, { credentials: options.credentials, service: 'other' }, rawBody);
      if (unsigned) refuse(unsigned);
      // Not new URL(): a target such as `//x` would be read as a host, or throw.
      const target = req.url ?? '/';
      const query = target.includes('?') ? target.slice(target.indexOf('?') + 1) : '';
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

  const allowedHosts = new Set<string>();
  const server = http.createServer((req, res) => void handle(req, res));
  const { port, endpoint } = await listenOnLoopback(server, options.port, host, allowedHosts);
  let closed: Promise<void> | undefined;

  return {
    endpoint,
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
          stopPowerWatch(record);
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
      'minute-ms': { type: 'string' },
      silent: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = portOption(values.port);
  const pendingMs = integerOption('pending-ms', values['pending-ms'], 0);
  const maxInstances = integerOption('max-instances', values['max-instances'], 1);
  const minuteMs = integerOption('minute-ms', values['minute-ms'], 1);
  return {
    port,
    directory: values.dir,
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.region === undefined ? {} : { region: values.region }),
    ...(pendingMs === undefined ? {} : { pendingMs }),
    ...(maxInstances === undefined ? {} : { maxInstances }),
    ...(minuteMs === undefined ? {} : { minuteMs }),
    silent: values.silent,
    credentials: credentialsFromEnvironment(),
  };
}

runServerMain({
  moduleUrl: import.meta.url,
  name: 'ec2',
  usage:
    'ec2-server.ts [--port 4570] [--host 127.0.0.1] [--dir .local-stack/ec2] [--region us-east-1] [--pending-ms 200] [--max-instances 16] [--minute-ms 60000 (tests only)] [--silent]  ' +
    '(accepts only requests signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of its environment)',
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
