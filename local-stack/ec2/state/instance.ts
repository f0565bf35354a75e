/** One local instance as the server keeps it, and the snapshot tests see; EC2's state names and codes. */
import type { ChildProcess } from 'node:child_process';
import type { InstanceLayout } from './machine.ts';

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

export const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface InstanceRecord extends Omit<LocalInstance, 'state' | 'tags' | 'securityGroupIds'> {
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

/** EC2's timestamp style in reasons: `2024-05-01 12:00:00 GMT`. */
export function gmt(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} GMT`;
}

export function snapshot(record: InstanceRecord): LocalInstance {
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

export function isAlive(record: InstanceRecord): boolean {
  return record.stateName !== 'terminated';
}
