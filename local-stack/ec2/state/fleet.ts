/**
 * The local EC2 server's instances and their lifecycle: boot (the user data runs as a process in a session of its
 * own), power-off from inside (the shims' requests, now or scheduled), termination, and what the server does when
 * a script exits by itself. States follow EC2: pending → running → shutting-down → terminated, or stopping → stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import { gmt, type InstanceRecord, type InstanceStateName } from './instance.ts';
import { instanceBaseEnvironment, sessionMembers } from './machine.ts';

export const KILL_GRACE_MS = 2000;
/** How often a running instance's power-off request file is looked at. */
const POWER_POLL_MS = 50;
/** setTimeout's longest delay; longer scheduled power-offs wait in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface FleetSettings {
  /** How long an instance stays `pending` (and `shutting-down`/`stopping`) before the next state. */
  pendingMs: number;
  /** How many milliseconds one minute of `shutdown -h +N` lasts. */
  minuteMs: number;
  /** Extra environment for instance processes. */
  env: Record<string, string> | undefined;
  silent: boolean;
}

export class Fleet {
  readonly records = new Map<string, InstanceRecord>();
  /** Set by `close`: transitions finish at once and no new request is served. */
  closing = false;

  constructor(private readonly settings: FleetSettings) {}

  log(message: string): void {
    if (!this.settings.silent) process.stderr.write(`[ec2] ${message}\n`);
  }

  /** A new instance: it boots after the pending period. */
  add(record: InstanceRecord): void {
    this.records.set(record.instanceId, record);
    this.later(record, this.settings.pendingMs, () => this.boot(record));
  }

  private later(record: InstanceRecord, ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      record.timers.delete(timer);
      fn();
    }, ms);
    record.timers.add(timer);
    return timer;
  }

  private setState(record: InstanceRecord, state: InstanceStateName): void {
    if (record.stateName === state) return;
    this.log(`${record.instanceId}: ${record.stateName} → ${state}`);
    record.stateName = state;
  }

  /** Signals every process of the instance: its session (the script is the session leader) and process group. */
  private killInstance(record: InstanceRecord, signal: NodeJS.Signals): void {
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
  }

  /** SIGTERM now, SIGKILL after the grace period if the same process is still there. */
  private killGracefully(record: InstanceRecord, child: ChildProcess): void {
    this.killInstance(record, 'SIGTERM');
    const escalate = setTimeout(() => {
      if (record.child === child) this.killInstance(record, 'SIGKILL');
    }, KILL_GRACE_MS);
    void record.exited.then(() => clearTimeout(escalate));
  }

  private stopPowerWatch(record: InstanceRecord): void {
    if (record.powerWatch !== undefined) clearInterval(record.powerWatch);
    record.powerWatch = undefined;
  }

  private clearPowerOff(record: InstanceRecord): void {
    if (record.powerOffTimer !== undefined) clearTimeout(record.powerOffTimer);
    record.powerOffTimer = undefined;
    record.powerOffAt = undefined;
  }

  /** Instance-initiated shutdown: the reason EC2 gives and the transitional state of the shutdown behaviour. */
  private beginInstanceShutdown(record: InstanceRecord): void {
    record.stateReason = {
      code: 'Client.InstanceInitiatedShutdown',
      message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
    };
    record.stateTransitionReason = `Instance initiated shutdown (${gmt(new Date())})`;
    this.setState(record, record.shutdownBehavior === 'terminate' ? 'shutting-down' : 'stopping');
  }

  /** The script ended (by itself or killed): finish the shutdown after the transition period. */
  private onProcessExit(record: InstanceRecord, code: number | null, signal: NodeJS.Signals | null): void {
    record.exitCode = code;
    record.exitSignal = signal;
    record.child = undefined;
    this.stopPowerWatch(record);
    this.clearPowerOff(record);
    // Whatever the script left behind in its session goes down with the "machine".
    this.killInstance(record, 'SIGKILL');
    record.markExited();
    if (record.userTerminated) {
      this.later(record, this.closing ? 0 : this.settings.pendingMs, () => this.setState(record, 'terminated'));
      return;
    }
    if (!record.poweringOff) {
      if (record.stateName !== 'running' && record.stateName !== 'pending') return;
      this.beginInstanceShutdown(record);
    }
    this.later(record, this.settings.pendingMs, () =>
      this.setState(record, record.shutdownBehavior === 'terminate' ? 'terminated' : 'stopped'),
    );
  }

  /** `shutdown -h now` (or a scheduled one falling due) inside the instance: power it off as a machine would. */
  private powerOff(record: InstanceRecord): void {
    const child = record.child;
    if (record.stateName !== 'running' || child === undefined || record.poweringOff) return;
    this.log(`${record.instanceId}: powered off from inside`);
    record.poweringOff = true;
    record.powerOffAt = undefined;
    this.beginInstanceShutdown(record);
    this.killGracefully(record, child);
  }

  /** Powers off at `at` (epoch ms), in steps when that is further away than one timer can wait. */
  private schedulePowerOff(record: InstanceRecord, at: number): void {
    if (record.powerOffTimer !== undefined) clearTimeout(record.powerOffTimer);
    record.powerOffAt = new Date(at);
    const step = (): void => {
      const left = at - Date.now();
      if (left > 0) record.powerOffTimer = this.later(record, Math.min(left, MAX_TIMER_MS), step);
      else {
        record.powerOffTimer = undefined;
        this.powerOff(record);
      }
    };
    step();
  }

  /** Reads the shims' request file; a new request replaces the previous one, as a new `shutdown` does. */
  private checkPowerRequest(record: InstanceRecord): void {
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
      this.log(`${record.instanceId}: ${complaint.trim()}`);
      return;
    }
    if (match[3] === 'cancel') {
      this.clearPowerOff(record);
      this.log(`${record.instanceId}: scheduled power-off cancelled`);
      return;
    }
    const minutes = Number(match[2]);
    if (minutes === 0) {
      this.powerOff(record);
      return;
    }
    this.log(`${record.instanceId}: power-off scheduled in ${minutes} minute(s) of ${this.settings.minuteMs} ms`);
    this.schedulePowerOff(record, Date.now() + minutes * this.settings.minuteMs);
  }

  private watchPowerRequests(record: InstanceRecord): void {
    const watch = setInterval(() => {
      try {
        this.checkPowerRequest(record);
      } catch (error) {
        // An unreadable request file (permissions changed by the script): the instance cannot power itself off,
        // which the developer must hear about; the watch stops rather than repeat the same error 20 times a second.
        this.stopPowerWatch(record);
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
  }

  private boot(record: InstanceRecord): void {
    if (record.stateName !== 'pending') return;
    if (record.scriptPath === undefined) {
      this.setState(record, 'running');
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
        env: {
          ...instanceBaseEnvironment(record.layout),
          ...this.settings.env,
          CLOUD_PARALLEL_INSTANCE_ID: record.instanceId,
        },
      });
    } finally {
      closeSync(logFd);
    }
    record.child = child;
    child.once('spawn', () => {
      record.pid = child.pid;
      if (record.stateName === 'pending') this.setState(record, 'running');
      this.watchPowerRequests(record);
    });
    child.once('error', (error) => {
      this.log(`${record.instanceId}: could not start: ${error.message}`);
      if (child.pid !== undefined) return; // 'exit' follows
      record.stateReason = { code: 'Server.InternalError', message: `Server.InternalError: ${error.message}` };
      record.child = undefined;
      record.markExited();
      this.setState(record, 'terminated');
    });
    child.once('exit', (code, signal) => this.onProcessExit(record, code, signal));
  }

  /** User-initiated termination; returns the state change as TerminateInstances reports it. */
  terminate(record: InstanceRecord, reason: string): { previous: InstanceStateName; current: InstanceStateName } {
    const previous = record.stateName;
    if (previous === 'terminated' || (previous === 'shutting-down' && record.userTerminated)) {
      return { previous, current: record.stateName };
    }
    const now = new Date();
    record.userTerminated = true;
    record.stateReason = {
      code: 'Client.UserInitiatedShutdown',
      message: 'Client.UserInitiatedShutdown: User initiated shutdown',
    };
    record.stateTransitionReason = `${reason} (${gmt(now)})`;
    for (const timer of record.timers) clearTimeout(timer);
    record.timers.clear();
    record.powerOffTimer = undefined;
    record.powerOffAt = undefined;
    if (record.child) {
      this.setState(record, 'shutting-down');
      this.killGracefully(record, record.child);
    } else if (previous === 'stopped' || previous === 'stopping') {
      record.markExited();
      this.setState(record, 'terminated');
    } else {
      record.markExited();
      // pending (not booted) or an idle instance, or a shutdown already under way without a process.
      this.setState(record, 'shutting-down');
      this.later(record, this.closing ? 0 : this.settings.pendingMs, () => this.setState(record, 'terminated'));
    }
    return { previous, current: record.stateName };
  }

  /** Terminates every instance that is not terminated yet and waits for their processes. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.records.values()];
    for (const record of all) {
      if (record.stateName !== 'terminated') this.terminate(record, 'Server shutdown');
    }
    await Promise.all(all.map((record) => record.exited));
    for (const record of all) {
      this.stopPowerWatch(record);
      for (const timer of record.timers) clearTimeout(timer);
      record.timers.clear();
      if (record.stateName === 'shutting-down') record.stateName = 'terminated';
    }
  }
}
