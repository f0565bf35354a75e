/**
 * Starts and stops the local stack: the S3-compatible server (with S3 → Lambda notifications),
 * serverless-offline's Lambda invoke API, the EC2 endpoint, a MongoDB-wire server and the fixture of the
 * APIs the scraper calls — each as its own process group so `stop` ends exactly what `start` began. State
 * lives in `<project>/.local-stack/` (git-ignored): data, logs and state.json.
 *
 * This file is the orchestrator and the stack's public API (the CLI, the tests and the benchmarks import from it);
 * the parts are in stack/: options.ts (ports, the environment that points clients at the stack), state.ts (types,
 * state.json, whether a pid is ours), processes.ts (spawning each service, killing a group), readiness.ts (waits).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { UserError } from '../lib/errors.ts';
import { loadOrCreateStackCredentials, readStackCredentials } from './shared/credentials.ts';
import { freePort } from './shared/server-process.ts';
import { loadCachedServiceConfig } from './service-config-cache.ts';
import type { ServiceConfig } from './service-config.ts';
import { dashboardToken } from './stack/dashboard.ts';
import { HOST, resolveStackOptions, stackEnvironment } from './stack/options.ts';
import { decideCompiled } from './stack/compiled-servers.ts';
import {
  killGroup,
  spawnEarlyProcesses,
  spawnServiceProcesses,
  type SpawnContext,
  type Spawned,
} from './stack/processes.ts';
import { assertPortFree, tail, waitForHttp, waitForPort } from './stack/readiness.ts';
import {
  isAlive,
  isOurs,
  readStateFile,
  stateFile,
  writeStateFile,
  type StackOptions,
  type StackProcess,
  type StackState,
} from './stack/state.ts';

export { LOCAL_YELP_API_KEY, localEc2Environment, resolveStackOptions, stackEnvironment } from './stack/options.ts';
export { dashboardLoginUrl } from './stack/dashboard.ts';
export { tail } from './stack/readiness.ts';
export { isAlive, type StackOptions, type StackProcess, type StackState } from './stack/state.ts';

export function readStackState(options: StackOptions = {}): StackState | null {
  const { stateDir } = resolveStackOptions(options);
  const state = readStateFile(stateDir);
  if (state === null) return null;
  // A stack started by an older version lacks servers this one needs: report it as not running, so
  // startStack stops it whole and starts a complete one.
  if (
    state.mongoUri === undefined ||
    state.apiBaseUrl === undefined ||
    state.dashboardUrl === undefined ||
    !state.processes.some((proc) => proc.name === 'lambda-front')
  )
    return null;
  // A start under way, or one that died half-way (SIGKILL): nothing to use; startStack stops what it recorded.
  if (state.starting) return null;
  // A stack is usable only with the credentials its endpoints accept.
  const credentials = readStackCredentials(state.stateDir);
  if (credentials === undefined) return null;
  return state.processes.every((proc) => isOurs(proc, state.stateDir)) ? { ...state, credentials } : null;
}

/** Throws when a process of the running stack has exited: for long waits that would otherwise never end. */
export function assertStackAlive(state: StackState): void {
  const dead = state.processes.filter((proc) => !isOurs(proc, state.stateDir));
  if (dead.length > 0) {
    throw new UserError(
      'LOCAL_STACK',
      dead
        .map(
          (proc) => `the local stack's ${proc.name} process has exited. Last lines of ${proc.log}:\n${tail(proc.log)}`,
        )
        .join('\n'),
    );
  }
}

/** Every port the stack listens on must be free before it starts (the names are the port variables' suffixes). */
async function assertPortsFree({
  s3Port,
  lambdaPort,
  ec2Port,
  mongoPort,
  apiPort,
  dashboardPort,
}: ReturnType<typeof resolveStackOptions>): Promise<void> {
  await assertPortFree(s3Port, 'S3');
  await assertPortFree(lambdaPort, 'Lambda');
  await assertPortFree(ec2Port, 'EC2');
  await assertPortFree(mongoPort, 'Mongo');
  await assertPortFree(apiPort, 'API');
  if (dashboardPort !== 0) await assertPortFree(dashboardPort, 'Dashboard');
}

type SpawnedStack = ReturnType<typeof spawnEarlyProcesses> & ReturnType<typeof spawnServiceProcesses>;

/**
 * Waits until every spawned server answers, all at once: each is polled from its spawn, so the start ends one poll
 * after the last one is ready. serverless-offline, the slowest to boot, gets the longest.
 */
async function waitForStack(spawned: SpawnedStack, context: SpawnContext, signal?: AbortSignal): Promise<void> {
  const { s3Endpoint, lambdaEndpoint, ec2Endpoint, apiBaseUrl } = context.endpoints;
  await Promise.all([
    waitForHttp(s3Endpoint, spawned.s3, 30_000, signal),
    waitForPort(context.resolved.mongoPort, spawned.mongo, 30_000, signal),
    waitForHttp(`${apiBaseUrl}/health`, spawned.api, 30_000, signal),
    // Any answer will do (a 401 without the cookie): it is listening.
    waitForHttp(context.dashboard.url, spawned.dashboard, 30_000, signal),
    waitForHttp(ec2Endpoint, spawned.ec2, 30_000, signal),
    waitForHttp(lambdaEndpoint, spawned.front, 30_000, signal),
    waitForHttp(`http://${HOST}:${context.offlinePort}`, spawned.offline, 120_000, signal),
  ]);
}

/** Kills what a failed or aborted start spawned, waits for it, removes state.json, and rethrows the start's error. */
async function abandonStart(error: unknown, started: Spawned[], options: StackOptions): Promise<never> {
  for (const proc of started) killGroup(proc.pid);
  // Waits until they have exited and removes state.json: the ports are free again and no half stack is left to stop.
  try {
    await stopStack(options);
  } catch (stopError) {
    throw new AggregateError(
      [error, stopError],
      `${(error as Error).message}; stopping what had started failed too: ${(stopError as Error).message}`,
    );
  }
  throw error;
}

/** Where each server listens, chosen before anything starts; the region is added once the service config is read. */
async function stackAddresses(resolved: ReturnType<typeof resolveStackOptions>) {
  const { s3Port, lambdaPort, ec2Port, mongoPort, apiPort, stateDir } = resolved;
  const credentials = loadOrCreateStackCredentials(stateDir);
  const dashboardPort = resolved.dashboardPort === 0 ? await freePort() : resolved.dashboardPort;
  const dashboard = { port: dashboardPort, url: `http://${HOST}:${dashboardPort}`, token: dashboardToken(credentials) };
  const endpoints = {
    s3Endpoint: `http://${HOST}:${s3Port}`,
    lambdaEndpoint: `http://${HOST}:${lambdaPort}`,
    ec2Endpoint: `http://${HOST}:${ec2Port}`,
    mongoUri: `mongodb://${HOST}:${mongoPort}`,
    apiBaseUrl: `http://${HOST}:${apiPort}`,
    dashboardUrl: dashboard.url,
    credentials,
  };
  // serverless-offline listens on a private port behind the Lambda front, which alone holds the token it wants.
  return { endpoints, dashboard, offlinePort: await freePort(), frontToken: randomBytes(32).toString('base64url') };
}

/**
 * The environment of the servers that start before the service config is read: the stack's, without a region —
 * not the user's either (AWS_REGION of their own account), since serverless-offline gives each handler the service's
 * region itself and the others use none.
 */
function earlyEnvironment(endpoints: Omit<Parameters<typeof stackEnvironment>[0], 'region'>, stateDir: string) {
  const env: NodeJS.ProcessEnv = {
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...process.env,
    ...stackEnvironment({ ...endpoints, region: '' }),
    CLOUD_PARALLEL_STACK_DIR: stateDir,
  };
  delete env.AWS_REGION;
  delete env.AWS_DEFAULT_REGION;
  return env;
}

/**
 * Starts the stack unless it already runs (then returns it as is). `started` tells the caller whether
 * it owns the stack and should stop it when done.
 *
 * The servers that need no service config start first, so they boot while `sls print` runs (on a first start, or
 * after serverless.yml changed); the others once it is read.
 */
export async function startStack(options: StackOptions = {}): Promise<{ state: StackState; started: boolean }> {
  const resolved = resolveStackOptions(options);
  const { stateDir, onProgress } = resolved;
  const { signal } = options;
  const existing = readStackState(options);
  if (existing) return { state: existing, started: false };
  // A stack that lost a process (a crash, a killed process) is stopped whole, then started fresh.
  await stopStack(options);

  await assertPortsFree(resolved);
  const logDir = path.join(stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(path.join(stateDir, 's3'), { recursive: true });
  const { endpoints, dashboard, offlinePort, frontToken } = await stackAddresses(resolved);

  const started: Spawned[] = [];
  let service: ServiceConfig | undefined;
  const startedAt = new Date().toISOString();
  const processes = () => started.map(({ name, pid, log }) => ({ name, pid, log }));
  // Each process is in state.json from the tick it is spawned in (a signal handler cannot run in between), so a
  // Ctrl-C, a `local stop`, or the next start after this one was SIGKILLed finds everything it has to stop.
  const track = (proc: Spawned) => {
    started.push(proc);
    writeStateFile({
      startedAt,
      stateDir,
      ...endpoints,
      ...serviceFields(service),
      processes: processes(),
      starting: true,
    });
  };
  const early = {
    resolved,
    endpoints,
    offlinePort,
    frontToken,
    dashboard,
    baseEnv: earlyEnvironment(endpoints, stateDir),
    logDir,
    track,
    compiled: decideCompiled(),
  };
  try {
    signal?.throwIfAborted();
    const first = spawnEarlyProcesses(early);
    onProgress('reading serverless.yml');
    service = await loadCachedServiceConfig({ stateDir, stage: resolved.stage });
    signal?.throwIfAborted();
    const region = { AWS_REGION: service.region, AWS_DEFAULT_REGION: service.region };
    const context: SpawnContext = { ...early, service, baseEnv: { ...early.baseEnv, ...region } };
    await waitForStack({ ...first, ...spawnServiceProcesses(context) }, context, signal);
  } catch (error) {
    return abandonStart(error, started, options);
  }

  const state: StackState = {
    startedAt,
    stateDir,
    ...endpoints,
    region: service.region,
    service,
    processes: processes(),
  };
  writeStateFile(state);
  return { state, started: true };
}

/** The service config's fields of state.json, once it is known. */
const serviceFields = (service: ServiceConfig | undefined) =>
  service === undefined ? {} : { region: service.region, service };

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
