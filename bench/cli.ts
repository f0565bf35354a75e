/**
 * `npm run bench -- cli [--runs N] [--rows help,rates,start]`: the CLI as a user waits for it, whole processes timed
 * from outside, median of N (default 5) after one warm-up, the launchers in turns so that load from elsewhere hits
 * them alike — `npx cloud-parallel` in this project's folder and in a project that depends on it (there npx finds
 * the bin link at once; here it loads the whole node_modules tree first), `node_modules/.bin/cloud-parallel` (a link
 * to cli/bin.js, as npm makes in a project that depends on this one) and `node cli/bin.js`:
 *
 * - `--help`;
 * - `rates small.csv` (12 KB) on a running stack, with where its time goes (bench/cli-rates.ts, bench/cli-probe.ts);
 * - `local start` until it reports the stack up, with its phases (bench/cli-start.ts), and `local stop`.
 *
 * Every stack it starts is its own: ports below (clear of the default ones and of the test files') and a temporary
 * state folder, stopped and deleted when it ends, also on failure or Ctrl-C.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { onInterrupt } from '../cli/interrupt.ts';
import { formatTable } from '../cli/format.ts';
import { UserError } from '../lib/errors.ts';
import { sampleCountyCsv } from '../lib/rates/sample-data.ts';
import { PROJECT_ROOT } from '../local-stack/service-config.ts';
import { readStackState, stopStack } from '../local-stack/stack.ts';
import { timedRun } from './cli-process.ts';
import { prepareProbe } from './cli-probe-build.ts';
import { probeRun, ratesPhases } from './cli-rates.ts';
import { startAndStop } from './cli-start.ts';
import { formatDuration, medianPhases, type Phase, versusTarget } from './cli-timing.ts';
import { median } from './report.ts';

/** The benchmark stack's ports: below 32768 (Linux's client ports) and used by no test file (test/support/stack.ts). */
const PORTS = { S3: 19569, LAMBDA: 19302, EC2: 19570, MONGO: 19017, API: 19575, HTTP: 19300, DASHBOARD: 19580 };
/** Issue 16's targets, as a user feels them. */
const TARGET_MS = { npx: 1000, bin: 600, start: 5000 };
/** `rates small.csv`: ~12 KB of the demo's county CSV. */
const SMALL_ROWS = 350;

type Launcher = 'npx' | 'npxDep' | 'bin' | 'node';
/** Where a launcher runs: npxDep in the benchmark's folder, which stands for a project depending on this one. */
const cwdOf = (launcher: Launcher, root: string) => (launcher === 'npxDep' ? root : PROJECT_ROOT);
type Row = { label: string; runs: number[]; targetMs?: number | undefined };

const log = (line: string) => process.stderr.write(`  ${line}\n`);

/** A user's environment: the bench's own npm variables dropped, the benchmark stack's ports and folder set. */
function userEnv(stateDir: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
  for (const [name, port] of Object.entries(PORTS)) env[`CLOUD_PARALLEL_${name}_PORT`] = String(port);
  return { ...env, CLOUD_PARALLEL_STATE_DIR: stateDir };
}

function launchers(root: string): Record<Launcher, [string, string[]]> {
  const bin = path.join(root, 'node_modules', '.bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(path.join(PROJECT_ROOT, 'cli', 'bin.js'), path.join(bin, 'cloud-parallel'));
  writeFileSync(path.join(root, 'package.json'), '{ "name": "depends-on-cloud-parallel", "private": true }\n');
  return {
    npx: ['npx', ['cloud-parallel']],
    npxDep: ['npx', ['cloud-parallel']],
    bin: [path.join(bin, 'cloud-parallel'), []],
    node: [process.execPath, [path.join(PROJECT_ROOT, 'cli', 'bin.js')]],
  };
}

/** Runs each variant once to warm caches, then `runs` rounds of all of them in turns; returns the wall times. */
async function inTurns<T extends string>(
  variants: Record<T, () => Promise<number>>,
  runs: number,
): Promise<Record<T, number[]>> {
  const names = Object.keys(variants) as T[];
  for (const name of names) await variants[name]();
  const times = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<T, number[]>;
  for (let i = 0; i < runs; i++) {
    for (const name of names) times[name].push(await variants[name]());
    log(`round ${i + 1}/${runs}: ${names.map((name) => `${name} ${formatDuration(times[name].at(-1)!)}`).join(', ')}`);
  }
  return times;
}

function rowsTable(title: string, rows: Row[]): string {
  const cells = rows.map(({ label, runs, targetMs }) => {
    const ms = median(runs);
    const range = `${formatDuration(Math.min(...runs))}–${formatDuration(Math.max(...runs))}`;
    return [label, formatDuration(ms), range, versusTarget(ms, targetMs)];
  });
  return `\n${title}\n${formatTable(['command', 'median', 'range', 'target (issue 16)'], cells)}`;
}

function phasesTable(title: string, phases: Phase[], total?: string): string {
  const rows = phases.map(({ label, ms }) => [label, formatDuration(ms)]);
  if (total !== undefined) rows.push(['total', total]);
  return `\n${title}\n${formatTable(['step', 'median'], rows)}`;
}

async function helpRows(l: Record<Launcher, [string, string[]]>, root: string, env: NodeJS.ProcessEnv, runs: number) {
  const help = (launcher: Launcher) => async () =>
    (await timedRun(l[launcher][0], [...l[launcher][1], '--help'], { cwd: cwdOf(launcher, root), env })).wallMs;
  const bare = async () => (await timedRun(process.execPath, ['-e', '0'], { cwd: PROJECT_ROOT, env })).wallMs;
  log('--help, and node alone (node -e 0)');
  const t = await inTurns(
    { npx: help('npx'), npxDep: help('npxDep'), bin: help('bin'), node: help('node'), bare },
    runs,
  );
  return rowsTable('cloud-parallel --help', [
    { label: 'npx cloud-parallel --help', runs: t.npx, targetMs: TARGET_MS.npx },
    { label: 'npx cloud-parallel --help, in a project depending on it', runs: t.npxDep, targetMs: TARGET_MS.npx },
    { label: 'node_modules/.bin/cloud-parallel --help', runs: t.bin, targetMs: TARGET_MS.bin },
    { label: 'node cli/bin.js --help', runs: t.node, targetMs: TARGET_MS.bin },
    { label: 'node -e 0 (Node alone, for scale)', runs: t.bare },
  ]);
}

async function ratesRows(l: Record<Launcher, [string, string[]]>, root: string, runs: number): Promise<string> {
  const stateDir = path.join(root, 'rates-stack');
  const env = userEnv(stateDir);
  const file = path.join(root, 'small.csv');
  writeFileSync(file, sampleCountyCsv({ rows: SMALL_ROWS, seed: 1 }));
  log(`rates ${path.basename(file)} (${SMALL_ROWS} rows, 12 KB): starting the benchmark stack in ${stateDir}`);
  await timedRun(l.node[0], [...l.node[1], 'local', 'start'], { cwd: PROJECT_ROOT, env });
  const state = readStackState({ stateDir });
  if (state === null) throw new Error(`the benchmark stack in ${stateDir} did not start`);
  const bucket = state.service.environment.DATA_BUCKET ?? state.service.buckets[0] ?? '';
  const breakdowns: Phase[][] = [];
  const rates =
    (launcher: Launcher, extra: string[] = []) =>
    async () => {
      const run = await timedRun(l[launcher][0], [...l[launcher][1], 'rates', file, ...extra], {
        cwd: cwdOf(launcher, root),
        env,
      });
      if (launcher === 'bin' && extra.length === 0) breakdowns.push(ratesPhases(run, state, bucket));
      return run.wallMs;
    };
  const t = await inTurns(
    {
      npx: rates('npx'),
      npxDep: rates('npxDep'),
      bin: rates('bin'),
      node: rates('node'),
      json: rates('bin', ['--json']),
    },
    runs,
  );
  breakdowns.shift(); // the warm-up's
  const probes: Phase[][] = [];
  const probe = await prepareProbe();
  try {
    for (let i = 0; i < runs; i++) probes.push(await probeRun(probe, file, { cwd: PROJECT_ROOT, env }));
  } finally {
    probe.dispose();
  }
  const steps = medianPhases(breakdowns);
  return [
    rowsTable('cloud-parallel rates small.csv (12 KB) on a running stack', [
      { label: 'npx cloud-parallel rates small.csv', runs: t.npx, targetMs: TARGET_MS.npx },
      {
        label: 'npx cloud-parallel rates small.csv, in a project depending on it',
        runs: t.npxDep,
        targetMs: TARGET_MS.npx,
      },
      { label: 'node_modules/.bin/cloud-parallel rates small.csv', runs: t.bin, targetMs: TARGET_MS.bin },
      { label: 'node cli/bin.js rates small.csv', runs: t.node, targetMs: TARGET_MS.bin },
      {
        label: '.bin/cloud-parallel rates small.csv --json (no progress follower)',
        runs: t.json,
        targetMs: TARGET_MS.bin,
      },
    ]),
    phasesTable(
      'where `.bin/cloud-parallel rates small.csv` spends its time (median of each step)',
      steps,
      `${formatDuration(steps.reduce((sum, s) => sum + s.ms, 0))} (sum of the medians)`,
    ),
    `npx's own cost (npx − .bin, medians): ${formatDuration(median(t.npx) - median(t.bin))}\n`,
    phasesTable(
      `before the upload, step by step (bench/cli-probe.ts: the same modules and upload code in a fresh process; ${probe.runs})`,
      medianPhases(probes),
    ),
  ].join('');
}

async function startRows(l: Record<Launcher, [string, string[]]>, root: string, runs: number): Promise<string> {
  const starts: number[] = [];
  const stops: number[] = [];
  const phases: Phase[][] = [];
  const readiness: Phase[][] = [];
  log('local start / local stop through npx, each in a fresh state folder');
  for (let i = 0; i <= runs; i++) {
    const stateDir = path.join(root, `start-${i}`);
    const env = userEnv(stateDir);
    try {
      const run = await startAndStop(l.npx, { cwd: PROJECT_ROOT, env, stateDir });
      log(
        `${i === 0 ? 'warm-up' : `run ${i}/${runs}`}: start ${formatDuration(run.start.wallMs)}, stop ${formatDuration(run.stop.wallMs)}`,
      );
      if (i === 0) continue;
      starts.push(run.start.wallMs);
      stops.push(run.stop.wallMs);
      phases.push(run.phases);
      readiness.push(run.readiness);
    } finally {
      await stopStack({ stateDir });
    }
  }
  // A user's usual start is not the first in its state folder: what the stack keeps there (the resolved service
  // configuration) is reused, as it is between a `local stop` and the next `local start`.
  const restarts: number[] = [];
  const restartPhases: Phase[][] = [];
  const again = path.join(root, 'start-0');
  for (let i = 0; i < runs; i++) {
    // The servers append to their logs: the previous start's ready lines would read as this one's.
    rmSync(path.join(again, 'logs'), { recursive: true, force: true });
    const run = await startAndStop(l.npx, { cwd: PROJECT_ROOT, env: userEnv(again), stateDir: again });
    log(`restart ${i + 1}/${runs} in the same state folder: start ${formatDuration(run.start.wallMs)}`);
    restarts.push(run.start.wallMs);
    restartPhases.push(run.phases);
  }
  return [
    rowsTable('cloud-parallel local start / stop', [
      {
        label: 'npx cloud-parallel local start (until it reports the stack up)',
        runs: starts,
        targetMs: TARGET_MS.start,
      },
      {
        label: 'npx cloud-parallel local start, again in the same state folder',
        runs: restarts,
        targetMs: TARGET_MS.start,
      },
      { label: 'npx cloud-parallel local stop', runs: stops },
    ]),
    phasesTable('`local start`, step by step (median of each step)', medianPhases(phases)),
    phasesTable('`local start` again in the same state folder, step by step', medianPhases(restartPhases)),
    phasesTable('each server, from its spawn to its ready line (in parallel)', medianPhases(readiness)),
  ].join('');
}

const ROWS = ['help', 'rates', 'start'] as const;

function parseOptions(args: string[]): { runs: number; rows: Set<string> } {
  const { values } = parseArgs({
    args,
    options: { runs: { type: 'string' }, rows: { type: 'string' } },
    strict: false,
    allowPositionals: true,
  });
  const runs = Number(values.runs ?? 5);
  if (!Number.isInteger(runs) || runs < 1) throw new UserError('INVALID_ARGUMENT', '--runs must be a whole number ≥ 1');
  const rows = new Set(String(values.rows ?? ROWS.join(',')).split(','));
  const unknown = [...rows].filter((row) => !(ROWS as readonly string[]).includes(row));
  if (unknown.length > 0)
    throw new UserError('INVALID_ARGUMENT', `--rows takes ${ROWS.join(', ')}; got ${unknown.join(', ')}`);
  return { runs, rows };
}

export async function benchCli(args: string[]): Promise<number> {
  const { runs, rows } = parseOptions(args);
  const root = mkdtempSync(path.join(tmpdir(), 'cp-bench-cli-'));
  // Every stack this bench starts keeps its state under root: stopping each is the whole clean-up.
  const cleanUp = async () => {
    for (const dir of ['rates-stack', ...Array.from({ length: runs + 1 }, (_, i) => `start-${i}`)])
      await stopStack({ stateDir: path.join(root, dir) });
    rmSync(root, { recursive: true, force: true });
  };
  const dropCleanUp = onInterrupt('stopping the benchmark stacks and deleting their folder', cleanUp);
  const load = [loadavg()[0]!];
  const out: string[] = [];
  try {
    const l = launchers(root);
    if (rows.has('help')) out.push(await helpRows(l, root, userEnv(path.join(root, 'none')), runs));
    if (rows.has('start')) out.push(await startRows(l, root, runs));
    if (rows.has('rates')) out.push(await ratesRows(l, root, runs));
  } finally {
    await cleanUp();
    dropCleanUp();
  }
  load.push(loadavg()[0]!);
  process.stdout.write(
    `\ncloud-parallel CLI, whole processes (median of ${runs} after one warm-up; ` +
      `load average ${load.map((x) => x.toFixed(2)).join(' → ')} on ${availableParallelism()} cores)\n${out.join('')}`,
  );
  return 0;
}
