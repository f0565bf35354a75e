/**
 * The stack's types and its state file (`<stateDir>/state.json`): what was started, where, and how to tell that a
 * recorded pid is still ours. The secret stays in credentials.json (../shared/credentials.ts).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readJsonFile } from '../shared/json-file.ts';
import type { Credentials } from '../shared/sigv4.ts';
import type { ServiceConfig } from '../service-config.ts';

export interface StackOptions {
  /** Defaults: CLOUD_PARALLEL_S3_PORT or 4569. */
  s3Port?: number;
  /** Defaults: CLOUD_PARALLEL_LAMBDA_PORT or 3002. */
  lambdaPort?: number;
  /** Defaults: CLOUD_PARALLEL_EC2_PORT or 4570. */
  ec2Port?: number;
  /** Defaults: CLOUD_PARALLEL_MONGO_PORT or 27017. */
  mongoPort?: number;
  /** Defaults: CLOUD_PARALLEL_API_PORT or 4575 (the Yelp/HN fixture). */
  apiPort?: number;
  /** Defaults: CLOUD_PARALLEL_DASHBOARD_PORT or 4580; 0 picks a free port (the tests). */
  dashboardPort?: number;
  /** Defaults: CLOUD_PARALLEL_STATE_DIR or <project>/.local-stack. Holds S3 data, logs and state. */
  stateDir?: string;
  stage?: string;
  /** Called with progress lines ("starting S3 on ...") for the CLI to print. */
  onProgress?: (message: string) => void;
  /** Aborting it (Ctrl-C) stops a start under way: what it spawned is stopped and the start rejects with the reason. */
  signal?: AbortSignal;
}

export interface StackProcess {
  name: string;
  pid: number;
  log: string;
}

export interface StackState {
  startedAt: string;
  stateDir: string;
  region: string;
  s3Endpoint: string;
  lambdaEndpoint: string;
  ec2Endpoint: string;
  mongoUri: string;
  /** The API fixture; Yelp's base is `${apiBaseUrl}/v3`, HN's `${apiBaseUrl}/api/v1`. */
  apiBaseUrl: string;
  /** The web dashboard (dashboard/), without its login token: stack/dashboard.ts dashboardLoginUrl adds it. */
  dashboardUrl: string;
  service: ServiceConfig;
  processes: StackProcess[];
  /**
   * The only credentials the stack's endpoints accept (credentials.ts). Kept in `credentials.json` (mode 0600) and
   * never written into state.json.
   */
  credentials: Credentials;
  /**
   * Set while `startStack` is still spawning and waiting: the processes so far, recorded as each is spawned so
   * that a `stop` at any moment (or the next start) finds them all — not yet a stack to use.
   */
  starting?: true;
}

export const stateFile = (stateDir: string) => path.join(stateDir, 'state.json');

/** True while a process with this pid exists (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when `pid` is still the process we started (pids are reused once a process exits): its environment
 * names this state directory — exactly, as one NUL-separated entry, so a stack in `<dir>-2` is not ours.
 */
export function isOurs(proc: StackProcess, stateDir: string): boolean {
  if (!isAlive(proc.pid)) return false;
  try {
    const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8');
    return environ.split('\0').includes(`CLOUD_PARALLEL_STACK_DIR=${stateDir}`);
  } catch {
    // No /proc (macOS): fall back to liveness alone.
    return true;
  }
}

/**
 * The state file's content, or null when there is none or it is not a whole state (cut short by a start killed
 * while writing it in place, as versions before writeStateFile did): there is then no stack to return or stop.
 */
export function readStateFile(stateDir: string): RecordedState | null {
  const state = readJsonFile(stateFile(stateDir)) as RecordedState | undefined;
  return Array.isArray(state?.processes) ? state : null;
}

/**
 * What state.json holds: the stack without its secret, which stays in credentials.json. Enough to stop it, whatever
 * became of the credentials file.
 */
export type RecordedState = Omit<StackState, 'credentials'>;

/**
 * A start under way (`starting`): the servers that need no service config are spawned while it is read, so its
 * region and service may not be known yet.
 */
export type StartingState = Omit<StackState, 'region' | 'service'> &
  Partial<Pick<StackState, 'region' | 'service'>> & { starting: true };

/** Writes the state file whole or not at all: a temp file renamed over it. The secret stays in credentials.json. */
export function writeStateFile(state: StackState | StartingState): void {
  const { credentials: _secret, ...recorded } = state;
  const temporary = `${stateFile(state.stateDir)}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(recorded, null, 2)}\n`);
  renameSync(temporary, stateFile(state.stateDir));
}
