/**
 * Starts and stops the local stack: the S3-compatible server (with S3 → Lambda notifications),
 * serverless-offline's Lambda invoke API, the EC2 endpoint, a MongoDB-wire server and the fixture of the
 * APIs the scraper calls — each as its own process group so `stop` ends exactly what `start` began. State
 * lives in `<project>/.local-stack/` (git-ignored): data, logs and state.json.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { UserError } from '../lib/errors.ts';
import { loadOrCreateStackCredentials, readStackCredentials } from './shared/credentials.ts';
import { LOCAL_IMAGE_ID } from './ec2/server.ts';
import { FRONT_TOKEN_ENV } from './lambda/front.ts';
import type { Credentials } from './shared/sigv4.ts';
import { freePort } from './shared/server-process.ts';
import { loadServiceConfig, PROJECT_ROOT, serverlessBin, type ServiceConfig } from './service-config.ts';

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

const HOST = '127.0.0.1';

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError('LOCAL_STACK', `${name}=${JSON.stringify(raw)} is not a TCP port (1-65535)`);
  }
  return port;
}

export function resolveStackOptions(options: StackOptions = {}) {
  return {
    s3Port: options.s3Port ?? envPort('CLOUD_PARALLEL_S3_PORT', 4569),
    lambdaPort: options.lambdaPort ?? envPort('CLOUD_PARALLEL_LAMBDA_PORT', 3002),
    ec2Port: options.ec2Port ?? envPort('CLOUD_PARALLEL_EC2_PORT', 4570),
    mongoPort: options.mongoPort ?? envPort('CLOUD_PARALLEL_MONGO_PORT', 27017),
    apiPort: options.apiPort ?? envPort('CLOUD_PARALLEL_API_PORT', 4575),
    // An empty variable means the default, as for every other setting (not the current directory).
    stateDir: path.resolve(options.stateDir ?? (process.env.CLOUD_PARALLEL_STATE_DIR || path.join(PROJECT_ROOT, '.local-stack'))),
    stage: options.stage,
    onProgress: options.onProgress ?? (() => undefined),
  };
}

const stateFile = (stateDir: string) => path.join(stateDir, 'state.json');

/**
 * The EC2 backend's settings (lib/config.ts loadEc2Config) against the local stack: the emulator's image, this
 * machine's Node (an instance runs on it, so it must not ask for a newer one), and quick polls.
 */
export function localEc2Environment(state: { service: Pick<StackState['service'], 'service' | 'stage'> }): Record<string, string> {
  return {
    SERVICE_NAME: state.service.service,
    STAGE: state.service.stage,
    EC2_IMAGE_ID: LOCAL_IMAGE_ID,
    EC2_NODE_MAJOR: process.versions.node.split('.')[0]!,
    EC2_POLL_SECONDS: '0.2',
  };
}

/** The key the API fixture accepts: a fixed local value, not a secret (the real key comes from SSM). */
export const LOCAL_YELP_API_KEY = 'local-yelp-key';

/**
 * Environment that points the AWS SDK (and the AWS CLI) at the local stack, with the stack's own credentials: its
 * endpoints accept requests signed with nothing else.
 */
export function stackEnvironment(
  state: Pick<StackState, 's3Endpoint' | 'lambdaEndpoint' | 'ec2Endpoint' | 'region' | 'credentials'> & Partial<Pick<StackState, 'mongoUri' | 'apiBaseUrl'>>,
): Record<string, string> {
  return {
    ...(state.mongoUri === undefined ? {} : { MONGODB_URI: state.mongoUri }),
    ...(state.apiBaseUrl === undefined
      ? {}
      : { YELP_API_BASE_URL: `${state.apiBaseUrl}/v3`, HN_API_BASE_URL: `${state.apiBaseUrl}/api/v1`, YELP_API_KEY: LOCAL_YELP_API_KEY }),
    AWS_ENDPOINT_URL_S3: state.s3Endpoint,
    AWS_ENDPOINT_URL_LAMBDA: state.lambdaEndpoint,
    AWS_ENDPOINT_URL_EC2: state.ec2Endpoint,
    AWS_REGION: state.region,
    AWS_DEFAULT_REGION: state.region, // the AWS CLI's name for it
    AWS_ACCESS_KEY_ID: state.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: state.credentials.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

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
function isOurs(proc: StackProcess, stateDir: string): boolean {
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
function readStateFile(stateDir: string): RecordedState | null {
  let text: string;
  try {
    text = readFileSync(stateFile(stateDir), 'utf8');
  } catch {
    return null;
  }
  try {
    const state = JSON.parse(text) as RecordedState;
    return Array.isArray(state?.processes) ? state : null;
  } catch {
    return null;
  }
}

/**
 * What state.json holds: the stack without its secret, which stays in credentials.json. Enough to stop it, whatever
 * became of the credentials file.
 */
type RecordedState = Omit<StackState, 'credentials'>;

/** Writes the state file whole or not at all: a temp file renamed over it. The secret stays in credentials.json. */
function writeStateFile(state: StackState): void {
  const { credentials: _secret, ...recorded } = state;
  const temporary = `${stateFile(state.stateDir)}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(recorded, null, 2)}\n`);
  renameSync(temporary, stateFile(state.stateDir));
}

export function readStackState(options: StackOptions = {}): StackState | null {
  const { stateDir } = resolveStackOptions(options);
  const state = readStateFile(stateDir);
  if (state === null) return null;
  // A stack started by an older version lacks servers this one needs: report it as not running, so
  // startStack stops it whole and starts a complete one.
  if (state.mongoUri === undefined || state.apiBaseUrl === undefined || !state.processes.some((proc) => proc.name === 'lambda-front')) return null;
  // A start under way, or one that died half-way (SIGKILL): nothing to use; startStack stops what it recorded.
  if (state.starting) return null;
  // A stack is usable only with the credentials its endpoints accept.
  const credentials = readStackCredentials(state.stateDir);
  if (credentials === undefined) return null;
  return state.processes.every((proc) => isOurs(proc, state.stateDir)) ? { ...state, credentials } : null;
}

type Starting = { exitCode: number | null; log: string; name: string };

/** Polls `isReady` until it answers true, failing with the process's log if it exits or the time runs out. */
async function waitUntilReady(proc: Starting, timeoutMs: number, isReady: () => Promise<boolean>, what: string, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    if (proc.exitCode !== null) {
      throw new UserError('LOCAL_STACK', `${proc.name} exited with code ${proc.exitCode} while starting:\n${tail(proc.log)}`);
    }
    if (await isReady()) return;
    if (Date.now() > deadline) {
      throw new UserError('LOCAL_STACK', `${proc.name} did not ${what} within ${timeoutMs / 1000}s. Last log lines:\n${tail(proc.log)}`);
    }
    await sleep(200, undefined, signal ? { signal } : {});
  }
}

/** For servers that do not speak HTTP (MongoDB): ready once a TCP connection is accepted. */
function waitForPort(port: number, proc: Starting, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: HOST, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  return waitUntilReady(proc, timeoutMs, accepts, `accept connections on port ${port}`, signal);
}

function waitForHttp(url: string, proc: Starting, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const answers = () =>
    fetch(url, { method: 'GET', signal: AbortSignal.timeout(1000) }).then(
      () => true,
      () => false, // not listening yet
    );
  return waitUntilReady(proc, timeoutMs, answers, `answer on ${url}`, signal);
}

/** Throws when a process of the running stack has exited: for long waits that would otherwise never end. */
export function assertStackAlive(state: StackState): void {
  const dead = state.processes.filter((proc) => !isOurs(proc, state.stateDir));
  if (dead.length > 0) {
    throw new UserError(
      'LOCAL_STACK',
      dead.map((proc) => `the local stack's ${proc.name} process has exited. Last lines of ${proc.log}:\n${tail(proc.log)}`).join('\n'),
    );
  }
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function assertPortFree(port: number, what: string): Promise<void> {
  try {
    await fetch(`http://${HOST}:${port}/`, { signal: AbortSignal.timeout(1000) });
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') return;
  }
  throw new UserError('LOCAL_STACK', 
    `Port ${port} (${what}) is already in use by another program. Stop it, or choose another port with ` +
      `CLOUD_PARALLEL_${what.toUpperCase()}_PORT.`,
  );
}

function spawnLogged(name: string, args: string[], env: NodeJS.ProcessEnv, logFile: string) {
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env,
    detached: true, // own process group: stop() kills the group, children of children included
    stdio: ['ignore', out, out],
  });
  child.unref();
  const handle = { name, pid: child.pid ?? -1, log: logFile, exitCode: null as number | null };
  child.on('exit', (code, signal) => {
    handle.exitCode = code ?? (signal ? 128 : 1);
  });
  return handle;
}

/**
 * Starts the stack unless it already runs (then returns it as is). `started` tells the caller whether
 * it owns the stack and should stop it when done.
 */
export async function startStack(options: StackOptions = {}): Promise<{ state: StackState; started: boolean }> {
  const resolved = resolveStackOptions(options);
  const { s3Port, lambdaPort, ec2Port, mongoPort, apiPort, stateDir, onProgress } = resolved;
  const { signal } = options;
  const existing = readStackState(options);
  if (existing) return { state: existing, started: false };
  // A stack that lost a process (a crash, a killed process) is stopped whole, then started fresh.
  await stopStack(options);

  await assertPortFree(s3Port, 'S3');
  await assertPortFree(lambdaPort, 'Lambda');
  await assertPortFree(ec2Port, 'EC2');
  await assertPortFree(mongoPort, 'Mongo');
  await assertPortFree(apiPort, 'API');
  onProgress('reading serverless.yml');
  const service = await loadServiceConfig({ ...(resolved.stage ? { stage: resolved.stage } : {}) });
  const logDir = path.join(stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(path.join(stateDir, 's3'), { recursive: true });

  const s3Endpoint = `http://${HOST}:${s3Port}`;
  const lambdaEndpoint = `http://${HOST}:${lambdaPort}`;
  const ec2Endpoint = `http://${HOST}:${ec2Port}`;
  const mongoUri = `mongodb://${HOST}:${mongoPort}`;
  const apiBaseUrl = `http://${HOST}:${apiPort}`;
  // serverless-offline listens on a private port behind the Lambda front, which alone holds the token it wants.
  const offlinePort = await freePort();
  const frontToken = randomBytes(32).toString('base64url');
  const credentials = loadOrCreateStackCredentials(stateDir);
  const endpoints = { s3Endpoint, lambdaEndpoint, ec2Endpoint, mongoUri, apiBaseUrl, region: service.region, credentials };
  const baseEnv = {
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...process.env,
    ...stackEnvironment(endpoints),
    CLOUD_PARALLEL_STACK_DIR: stateDir,
  };
  const tsxLoader = createRequire(import.meta.url).resolve('tsx');

  const started: ReturnType<typeof spawnLogged>[] = [];
  // Each process is in state.json from the tick it is spawned in (a signal handler cannot run in between), so a
  // Ctrl-C, a `local stop`, or the next start after this one was SIGKILLed finds everything it has to stop.
  const track = (proc: ReturnType<typeof spawnLogged>) => {
    started.push(proc);
    writeStateFile({
      startedAt: new Date().toISOString(),
      stateDir,
      ...endpoints,
      service,
      processes: started.map(({ name, pid, log }) => ({ name, pid, log })),
      starting: true,
    });
  };
  try {
    signal?.throwIfAborted();
    onProgress(`starting S3 on ${s3Endpoint} (data in ${path.join(stateDir, 's3')})`);
    const s3 = spawnLogged(
      's3',
      [
        '--import',
        tsxLoader,
        path.join(PROJECT_ROOT, 'local-stack', 's3', 'process.ts'),
        JSON.stringify({
          port: s3Port,
          host: HOST,
          directory: path.join(stateDir, 's3'),
          region: service.region,
          buckets: service.buckets,
          rules: service.notifications,
          lambdaEndpoint,
        }),
      ],
      baseEnv,
      path.join(logDir, 's3.log'),
    );
    track(s3);

    onProgress(`starting Lambda (serverless-offline behind a signature-checking front) on ${lambdaEndpoint}`);
    const offline = spawnLogged(
      'lambda',
      [
        '--import',
        path.join(PROJECT_ROOT, 'local-stack', 'lambda', 'offline-guard.js'),
        serverlessBin(),
        'offline',
        'start',
        ...(resolved.stage ? ['--stage', resolved.stage] : []),
        // The fan-out Lambda's EC2 backend uses the local EC2 endpoint the same way the CLI does.
        ...Object.entries({ ec2ImageId: 'EC2_IMAGE_ID', ec2NodeMajor: 'EC2_NODE_MAJOR', ec2PollSeconds: 'EC2_POLL_SECONDS' }).map(
          ([param, variable]) => `--param=${param}=${localEc2Environment({ service })[variable]}`,
        ),
      ],
      { ...baseEnv, CLOUD_PARALLEL_LAMBDA_PORT: String(offlinePort), SLS_TELEMETRY_DISABLED: '1', [FRONT_TOKEN_ENV]: frontToken },
      path.join(logDir, 'lambda.log'),
    );
    track(offline);
    const front = spawnLogged(
      'lambda-front',
      ['--import', tsxLoader, path.join(PROJECT_ROOT, 'local-stack', 'lambda', 'cli.ts'), '--port', String(lambdaPort), '--host', HOST, '--target', `http://${HOST}:${offlinePort}`, '--silent'],
      { ...baseEnv, [FRONT_TOKEN_ENV]: frontToken },
      path.join(logDir, 'lambda-front.log'),
    );
    track(front);

    onProgress(`starting EC2 on ${ec2Endpoint} (instances run as local processes in ${path.join(stateDir, 'ec2')})`);
    const ec2 = spawnLogged(
      'ec2',
      [
        '--import',
        tsxLoader,
        path.join(PROJECT_ROOT, 'local-stack', 'ec2', 'cli.ts'),
        '--port',
        String(ec2Port),
        '--host',
        HOST,
        '--dir',
        path.join(stateDir, 'ec2'),
        '--region',
        service.region,
      ],
      baseEnv,
      path.join(logDir, 'ec2.log'),
    );
    track(ec2);

    onProgress(`starting MongoDB (wire-compatible) on ${mongoUri} (data in ${path.join(stateDir, 'mongo')})`);
    mkdirSync(path.join(stateDir, 'mongo'), { recursive: true });
    const mongo = spawnLogged(
      'mongo',
      ['--import', tsxLoader, path.join(PROJECT_ROOT, 'local-stack', 'mongo', 'main.ts'), '--port', String(mongoPort), '--host', HOST, '--data', path.join(stateDir, 'mongo', 'data.json')],
      baseEnv,
      path.join(logDir, 'mongo.log'),
    );
    track(mongo);

    onProgress(`starting the Yelp/HN API fixture on ${apiBaseUrl}`);
    const api = spawnLogged(
      'api',
      // A little latency, so concurrency shows as it would against the real APIs.
      ['--import', tsxLoader, path.join(PROJECT_ROOT, 'local-stack', 'api-fixture', 'main.ts'), '--port', String(apiPort), '--host', HOST, '--latency-ms', '20', '--api-key', LOCAL_YELP_API_KEY, '--silent'],
      baseEnv,
      path.join(logDir, 'api.log'),
    );
    track(api);

    await waitForHttp(s3Endpoint, s3, 30_000, signal);
    await waitForPort(mongoPort, mongo, 30_000, signal);
    await waitForHttp(`${apiBaseUrl}/health`, api, 30_000, signal);
    await waitForHttp(ec2Endpoint, ec2, 30_000, signal);
    await waitForHttp(lambdaEndpoint, front, 30_000, signal);
    await waitForHttp(`http://${HOST}:${offlinePort}`, offline, 120_000, signal);
  } catch (error) {
    for (const proc of started) killGroup(proc.pid);
    // Waits until they have exited and removes state.json: the ports are free again and no half stack is left to stop.
    try {
      await stopStack(options);
    } catch (stopError) {
      throw new AggregateError([error, stopError], `${(error as Error).message}; stopping what had started failed too: ${(stopError as Error).message}`);
    }
    throw error;
  }

  const state: StackState = {
    startedAt: new Date().toISOString(),
    stateDir,
    region: service.region,
    s3Endpoint,
    lambdaEndpoint,
    ec2Endpoint,
    mongoUri,
    apiBaseUrl,
    service,
    processes: started.map(({ name, pid, log }) => ({ name, pid, log })),
    credentials,
  };
  writeStateFile(state);
  return { state, started: true };
}

function killGroup(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  // A spawn that failed has pid -1 (spawnLogged): -(-1) would signal process 1.
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Stops the processes recorded in state.json (and only those). Returns what it stopped. */
export async function stopStack(options: StackOptions = {}): Promise<StackProcess[]> {
  const { stateDir } = resolveStackOptions(options);
  const file = stateFile(stateDir);
  if (!existsSync(file)) return [];
  const state = readStateFile(stateDir);
  const ours = state === null ? [] : state.processes.filter((proc) => isOurs(proc, state.stateDir));
  for (const proc of ours) killGroup(proc.pid);
  const deadline = Date.now() + 10_000;
  while (ours.some((proc) => isAlive(proc.pid)) && Date.now() < deadline) await sleep(100);
  for (const proc of ours) if (isAlive(proc.pid)) killGroup(proc.pid, 'SIGKILL');
  rmSync(file, { force: true });
  return ours;
}
