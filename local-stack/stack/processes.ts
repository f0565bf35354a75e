/**
 * Spawns the stack's processes — S3, serverless-offline behind the Lambda front, EC2, MongoDB, the API fixture, the
 * dashboard —
 * each detached in its own process group with its output in `<stateDir>/logs/<name>.log`, and kills such a group.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { DASHBOARD_TOKEN_ENV } from '../../dashboard/settings.ts';
import { FRONT_TOKEN_ENV } from '../lambda/front.ts';
import { PROJECT_ROOT, serverlessBin, type ServiceConfig } from '../service-config.ts';
import { serverArgs } from './compiled-servers.ts';
import { HOST, LOCAL_YELP_API_KEY, localEc2Settings, type resolveStackOptions } from './options.ts';

export type Spawned = ReturnType<typeof spawnLogged>;

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

export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  // A spawn that failed has pid -1 (spawnLogged): -(-1) would signal process 1.
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * What the servers that need no service config get (spawned while `sls print` may still run): the settings, where
 * the services listen, their shared environment (without a region: that comes from the service config), and where
 * to log.
 */
export interface EarlySpawnContext {
  resolved: ReturnType<typeof resolveStackOptions>;
  endpoints: { s3Endpoint: string; lambdaEndpoint: string; ec2Endpoint: string; mongoUri: string; apiBaseUrl: string };
  /** serverless-offline's private port behind the Lambda front, and the token only the front holds. */
  offlinePort: number;
  frontToken: string;
  /** The dashboard's port (chosen already when 0 was asked for) and its login token. */
  dashboard: { port: number; url: string; token: string };
  baseEnv: NodeJS.ProcessEnv;
  logDir: string;
  /** Called with each process the moment it is spawned (startStack records it in state.json). */
  track: (proc: Spawned) => void;
  /** Whether this start runs the compiled servers: decided once (decideCompiled), so one stack runs one version. */
  compiled: boolean;
}

/** What the other servers get: the service config too, and the environment with its region. */
export interface SpawnContext extends EarlySpawnContext {
  service: ServiceConfig;
}

/** rates-worker invocations in flight at once on the local stack: two per core, at most eight. */
const LOCAL_RATES_WORKER_CONCURRENCY = Math.min(8, 2 * availableParallelism());

const entry = (...parts: string[]) => path.join(PROJECT_ROOT, 'local-stack', ...parts);

function spawnS3({ resolved, service, endpoints, baseEnv, logDir, track, compiled }: SpawnContext): Spawned {
  const { s3Port, stateDir, onProgress } = resolved;
  onProgress(`starting S3 on ${endpoints.s3Endpoint} (data in ${path.join(stateDir, 's3')})`);
  const s3 = spawnLogged(
    's3',
    [
      ...serverArgs('s3', compiled),
      JSON.stringify({
        port: s3Port,
        host: HOST,
        directory: path.join(stateDir, 's3'),
        region: service.region,
        buckets: service.buckets,
        rules: service.notifications,
        lambdaEndpoint: endpoints.lambdaEndpoint,
      }),
    ],
    baseEnv,
    path.join(logDir, 's3.log'),
  );
  track(s3);
  return s3;
}

function spawnLambda({
  resolved,
  endpoints,
  offlinePort,
  frontToken,
  baseEnv,
  logDir,
  track,
  compiled,
}: EarlySpawnContext): {
  offline: Spawned;
  front: Spawned;
} {
  resolved.onProgress(
    `starting Lambda (serverless-offline behind a signature-checking front) on ${endpoints.lambdaEndpoint}`,
  );
  const offline = spawnLogged(
    'lambda',
    [
      '--import',
      entry('lambda', 'offline-guard.js'),
      serverlessBin(),
      'offline',
      'start',
      ...(resolved.stage ? ['--stage', resolved.stage] : []),
      // The fan-out Lambda's EC2 backend uses the local EC2 endpoint the same way the CLI does.
      ...Object.entries({
        ec2ImageId: 'EC2_IMAGE_ID',
        ec2NodeMajor: 'EC2_NODE_MAJOR',
        ec2PollSeconds: 'EC2_POLL_SECONDS',
      }).map(([param, variable]) => `--param=${param}=${localEc2Settings()[variable]}`),
      // Each rates-worker invocation in flight is a serverless-offline worker thread (tens of MB): a laptop runs
      // a few at a time, not the hundred a deployment does.
      `--param=ratesWorkerConcurrency=${LOCAL_RATES_WORKER_CONCURRENCY}`,
    ],
    {
      ...baseEnv,
      CLOUD_PARALLEL_LAMBDA_PORT: String(offlinePort),
      SLS_TELEMETRY_DISABLED: '1',
      [FRONT_TOKEN_ENV]: frontToken,
    },
    path.join(logDir, 'lambda.log'),
  );
  track(offline);
  const front = spawnLogged(
    'lambda-front',
    [
      ...serverArgs('lambda-front', compiled),
      '--port',
      String(resolved.lambdaPort),
      '--host',
      HOST,
      '--target',
      `http://${HOST}:${offlinePort}`,
      '--silent',
    ],
    { ...baseEnv, [FRONT_TOKEN_ENV]: frontToken },
    path.join(logDir, 'lambda-front.log'),
  );
  track(front);
  return { offline, front };
}

function spawnEc2({ resolved, service, endpoints, baseEnv, logDir, track, compiled }: SpawnContext): Spawned {
  const { ec2Port, stateDir, onProgress } = resolved;
  onProgress(
    `starting EC2 on ${endpoints.ec2Endpoint} (instances run as local processes in ${path.join(stateDir, 'ec2')})`,
  );
  const ec2 = spawnLogged(
    'ec2',
    [
      ...serverArgs('ec2', compiled),
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
  return ec2;
}

function spawnMongo({ resolved, endpoints, baseEnv, logDir, track, compiled }: EarlySpawnContext): Spawned {
  const { mongoPort, stateDir, onProgress } = resolved;
  onProgress(`starting MongoDB (wire-compatible) on ${endpoints.mongoUri} (data in ${path.join(stateDir, 'mongo')})`);
  mkdirSync(path.join(stateDir, 'mongo'), { recursive: true });
  const mongo = spawnLogged(
    'mongo',
    [
      ...serverArgs('mongo', compiled),
      '--port',
      String(mongoPort),
      '--host',
      HOST,
      '--data',
      path.join(stateDir, 'mongo', 'data.json'),
    ],
    baseEnv,
    path.join(logDir, 'mongo.log'),
  );
  track(mongo);
  return mongo;
}

function spawnApi({ resolved, endpoints, baseEnv, logDir, track, compiled }: EarlySpawnContext): Spawned {
  resolved.onProgress(`starting the Yelp/HN API fixture on ${endpoints.apiBaseUrl}`);
  const api = spawnLogged(
    'api',
    // A little latency, so concurrency shows as it would against the real APIs.
    [
      ...serverArgs('api', compiled),
      '--port',
      String(resolved.apiPort),
      '--host',
      HOST,
      '--latency-ms',
      '20',
      '--api-key',
      LOCAL_YELP_API_KEY,
      '--silent',
    ],
    baseEnv,
    path.join(logDir, 'api.log'),
  );
  track(api);
  return api;
}

function spawnDashboard({ resolved, service, dashboard, baseEnv, logDir, track, compiled }: SpawnContext): Spawned {
  resolved.onProgress(`starting the dashboard on ${dashboard.url}`);
  const bucket = service.environment.DATA_BUCKET ?? service.buckets[0] ?? '';
  const proc = spawnLogged(
    'dashboard',
    [
      ...serverArgs('dashboard', compiled),
      '--port',
      String(dashboard.port),
      '--host',
      HOST,
      '--bucket',
      bucket,
      // The Runs page starts prime counts through it (the Lambda front, with the stack's credentials).
      ...(service.functions['primes-fanout'] ? ['--primes-function', service.functions['primes-fanout']] : []),
      // The Scrapes page starts scrapes on this function; MONGODB_URI comes with baseEnv.
      ...(service.functions.scrape === undefined ? [] : ['--scrape-function', service.functions.scrape]),
    ],
    { ...baseEnv, [DASHBOARD_TOKEN_ENV]: dashboard.token },
    path.join(logDir, 'dashboard.log'),
  );
  track(proc);
  return proc;
}

/**
 * Spawns the processes that need no service config — serverless-offline (the slowest to be ready: it loads the
 * framework again) and its front, MongoDB, the API fixture — each tracked the moment it exists; waits for none.
 */
export function spawnEarlyProcesses(context: EarlySpawnContext) {
  const { offline, front } = spawnLambda(context);
  const mongo = spawnMongo(context);
  const api = spawnApi(context);
  return { offline, front, mongo, api };
}

/** Spawns the processes that need the service config (its region, buckets, triggers, function names). */
export function spawnServiceProcesses(context: SpawnContext) {
  const s3 = spawnS3(context);
  const ec2 = spawnEc2(context);
  const dashboard = spawnDashboard(context);
  return { s3, ec2, dashboard };
}
