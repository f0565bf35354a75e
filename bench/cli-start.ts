/**
 * `npx cloud-parallel local start` until it reports the stack up, then `local stop`, timed from outside (bench/cli.ts
 * runs them): the phases come from the progress lines the CLI prints and the ready lines each server writes to its
 * log, each stamped when it appeared, so the stack reports nothing special for the benchmark.
 */
import path from 'node:path';
import { type TimedRun, timedRun, watchLogs } from './cli-process.ts';
import { firstSeen, type Phase, phasesBetween, type SeenLine } from './cli-timing.ts';

/** A server's progress line on `local start`'s stderr (local-stack/stack/processes.ts), and its log's ready line. */
const SERVERS: { name: string; starting: RegExp; log: string; ready: RegExp }[] = [
  { name: 'S3', starting: /starting S3/, log: 's3.log', ready: /"ready":true/ },
  { name: 'Lambda front', starting: /starting Lambda/, log: 'lambda-front.log', ready: /"ready":true/ },
  { name: 'EC2', starting: /starting EC2/, log: 'ec2.log', ready: /"ready":true/ },
  { name: 'MongoDB', starting: /starting MongoDB/, log: 'mongo.log', ready: /listening/ },
  { name: 'API fixture', starting: /starting the Yelp/, log: 'api.log', ready: /"ready":true/ },
  { name: 'dashboard', starting: /starting the dashboard/, log: 'dashboard.log', ready: /"ready":true/ },
];

/** serverless-offline's milestones in lambda.log: its plugins' set-up, then its invoke API. */
const OFFLINE_STEPS: Record<string, RegExp> = {
  'EC2 worker bundles built (esbuild, in the serverless-offline process)': /worker bundles built/,
  'serverless-offline starting (framework and plugins loaded)': /Starting Offline/,
  'serverless-offline invoke API listening': /listening on/,
};

export interface StartRun {
  start: TimedRun;
  stop: TimedRun;
  /** Sequential steps of `local start`, adding up to its wall time. */
  phases: Phase[];
  /** Each server's time from its spawn to its ready line (they start in parallel). */
  readiness: Phase[];
}

/** The sequential steps of one start, from its output and the servers' ready lines. */
export function startPhases(start: TimedRun, logs: Record<string, SeenLine[]>): Phase[] {
  const progress = firstSeen(start.stderr, { config: /reading serverless\.yml/, spawned: /starting S3/ });
  const readyTimes = SERVERS.map(({ log, ready }) => firstSeen(logs[log] ?? [], { ready }).ready);
  const offline = firstSeen(logs['lambda.log'] ?? [], { listening: /listening on/ }).listening;
  const allReady = [...readyTimes, offline].every((t) => t !== undefined)
    ? Math.max(...(readyTimes as number[]), offline as number)
    : undefined;
  const reported = firstSeen(start.stdout, { up: /Local stack (started|already running)/ }).up;
  return phasesBetween([
    ['spawn', start.startedAtMs],
    ['CLI start, stale-state and port checks', progress.config],
    ['service config (sls print)', progress.spawned],
    ['spawn → the last server ready (serverless-offline)', allReady],
    ["the stack's readiness polls notice (200 ms polls, one server after another)", reported],
    ['CLI exits', start.endedAtMs],
  ]);
}

/** Each server's time from its progress line (its spawn) to its ready line, and serverless-offline's milestones. */
export function serverReadiness(start: TimedRun, logs: Record<string, SeenLine[]>): Phase[] {
  const phases: Phase[] = [];
  for (const { name, starting, log, ready } of SERVERS) {
    const spawned = firstSeen(start.stderr, { starting }).starting;
    const up = firstSeen(logs[log] ?? [], { ready }).ready;
    if (spawned !== undefined && up !== undefined) phases.push({ label: name, ms: up - spawned });
  }
  const lambdaSpawned = firstSeen(start.stderr, { starting: /starting Lambda/ }).starting;
  const offline = firstSeen(logs['lambda.log'] ?? [], OFFLINE_STEPS);
  for (const label of Object.keys(OFFLINE_STEPS)) {
    const at = offline[label];
    if (lambdaSpawned !== undefined && at !== undefined) phases.push({ label, ms: at - lambdaSpawned });
  }
  return phases;
}

/** One `local start` and `local stop` through `launcher`, in `stateDir` (fresh: a first start, as a user's). */
export async function startAndStop(
  launcher: [command: string, args: string[]],
  options: { cwd: string; env: NodeJS.ProcessEnv; stateDir: string },
): Promise<StartRun> {
  const [command, prefix] = launcher;
  const watcher = watchLogs(path.join(options.stateDir, 'logs'));
  let logs: Record<string, SeenLine[]>;
  let start: TimedRun;
  try {
    start = await timedRun(command, [...prefix, 'local', 'start'], options);
  } finally {
    logs = watcher.stop();
  }
  const stop = await timedRun(command, [...prefix, 'local', 'stop'], options);
  return { start, stop, phases: startPhases(start, logs), readiness: serverReadiness(start, logs) };
}
