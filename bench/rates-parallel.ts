/**
 * `npm run bench -- rates-parallel [--mb 1024] [--runs 3] [--workers 1,2,4] [--rss-chunks 16,64,256] [--keep]`:
 * the rates job on a generated county CSV (~1 GB by default; RATES_PARALLEL_BENCH_MB or --mb for a quicker run),
 * uploaded to a local S3 server in a process of its own, run by runRatesJob on the single path (workers 1) and
 * split across 2 (and 4) workers of the local fan-out backend (2 worker threads), alternating, median of the runs.
 * Then one worker's peak RSS in a process of its own at several chunk sizes (bench/rates-parallel-task.ts), and a
 * model of 10 GB on 100 Lambda workers from the measured figures (bench/rates-parallel-report.ts).
 *
 * The generated file lives in the git-ignored .bench-data/rates-parallel/, deleted at the end (and on failure or
 * Ctrl-C) unless --keep.
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { onInterrupt, interruptSignal } from '../cli/interrupt.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { UserError } from '../lib/errors.ts';
import type { RatesDefaults } from '../lib/config.ts';
import { runRatesJob } from '../lib/rates/job.ts';
import type { RatesSummary } from '../lib/rates/outcome.ts';
import type { ParallelProgress } from '../lib/rates/parallel/coordinator.ts';
import type { ParallelSetup } from '../lib/rates/parallel/run.ts';
import { sampleCountyCsvChunks } from '../lib/rates/sample-data.ts';
import { spawnS3ServerProcess } from '../local-stack/s3/child.ts';
import { PROJECT_ROOT } from '../local-stack/service-config.ts';
import { printRatesParallelReport, type JobRun, type RssRun } from './rates-parallel-report.ts';
import { s3ServerEnv } from './s3-env.ts';

const BUCKET = 'bench-parallel';
const DATA_DIR = path.join(PROJECT_ROOT, '.bench-data', 'rates-parallel');
const DEFAULTS: RatesDefaults = { numerator: 'cancer', denominator: 'population', bins: 30 };
const THREADS = 2;

interface Args {
  mb: number;
  runs: number;
  workers: number[];
  rssChunksMiB: number[];
  keep: boolean;
}

function parseArgs(args: string[]): Args {
  const value = (name: string): string | undefined => {
    const at = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (at === -1) return undefined;
    const arg = args[at] as string;
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[at + 1];
  };
  const list = (text: string, name: string): number[] => {
    const values = text.split(',').map(Number);
    if (values.some((v) => !Number.isInteger(v) || v < 1))
      throw new UserError('INVALID_ARGUMENT', `--${name} takes whole numbers ≥ 1, comma-separated (got "${text}")`);
    return values;
  };
  const [mb] = list(value('mb') ?? process.env.RATES_PARALLEL_BENCH_MB ?? '1024', 'mb');
  const [runs] = list(value('runs') ?? '3', 'runs');
  return {
    mb: mb as number,
    runs: runs as number,
    workers: list(value('workers') ?? '1,2,4', 'workers'),
    rssChunksMiB: list(value('rss-chunks') ?? '16,64,256', 'rss-chunks'),
    keep: args.includes('--keep'),
  };
}

/** The sample generator's output cut at the first row boundary at or past `bytes` (chunks end on rows). */
async function* countyCsv(bytes: number): AsyncGenerator<Buffer> {
  let written = 0;
  for (const chunk of sampleCountyCsvChunks({ rows: Number.MAX_SAFE_INTEGER, seed: 14 })) {
    yield Buffer.from(chunk);
    written += chunk.length;
    if (written >= bytes) return;
  }
}

async function generate(file: string, bytes: number): Promise<void> {
  if (existsSync(file) && statSync(file).size >= bytes) return;
  const started = performance.now();
  await pipeline(Readable.from(countyCsv(bytes)), createWriteStream(file));
  log(`generated ${path.basename(file)} (${mb(statSync(file).size)}) in ${seconds(performance.now() - started)}`);
}

function log(line: string): void {
  process.stderr.write(`  ${line}\n`);
}
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function parallelSetup(onProgress: (p: ParallelProgress) => void): ParallelSetup {
  return {
    aboveBytes: Number.MAX_SAFE_INTEGER,
    chunkBytes: 64 * 1024 ** 2,
    backend: {
      name: 'local',
      module: new URL('../lib/rates/parallel/worker.ts', import.meta.url),
      exportName: 'runRatesWorkerTask',
      threads: THREADS,
    },
    onProgress,
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; clock ticks of 1/100 s). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** One run of the job; `workers` 1 is the single path. Phase marks come from the coordinator's progress events. */
async function runJob(s3: S3Client, key: string, workers: number, serverPid: number): Promise<JobRun> {
  // Without this the run is a redelivery of the one before and answers its summary without running.
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `results/${key.slice(8, -4)}/summary.json` }));
  const marks: JobRun['marks'] = [];
  const cpu = process.cpuUsage();
  const serverCpu = processCpuSeconds(serverPid);
  const started = performance.now();
  const outcome = await runRatesJob(s3, { bucket: BUCKET, key, split: { workers } }, DEFAULTS, undefined, {
    parallel: parallelSetup((p) => marks.push({ phase: p.phase, at: performance.now() - started })),
    signal: interruptSignal,
  });
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = { job: (used.user + used.system) / 1e6, s3: processCpuSeconds(serverPid) - serverCpu };
  if (outcome.status !== 'ok' || 'alreadyProcessed' in outcome)
    throw new Error(`bench run with ${workers} worker(s) did not run to success: ${JSON.stringify(outcome)}`);
  const csv = await s3.send(
    new HeadObjectCommand({ Bucket: BUCKET, Key: outcome.outputs.csv.replace(/^s3:\/\/[^/]+\//, '') }),
  );
  return { workers, wallMs, cpuSeconds, marks, summary: outcome as RatesSummary, csvBytes: csv.ContentLength ?? 0 };
}

/** The figures the single path must agree on with every split (the equality suite checks everything; this is a guard). */
function checkSame(single: RatesSummary, run: RatesSummary, workers: number): void {
  const pick = (s: RatesSummary) => JSON.stringify([s.rows, s.badRows.count, s.stats, s.histogram]);
  if (pick(single) !== pick(run))
    throw new Error(
      `the ${workers}-worker run's figures differ from the single path's: ${pick(run)} vs ${pick(single)}`,
    );
}

async function rssRun(env: NodeJS.ProcessEnv, source: object, chunkBytes: number): Promise<RssRun> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(PROJECT_ROOT, 'bench', 'rates-parallel-task.ts'),
      JSON.stringify({ ...source, chunkBytes, numerator: DEFAULTS.numerator, denominator: DEFAULTS.denominator }),
    ],
    { env, cwd: PROJECT_ROOT },
  );
  return JSON.parse(stdout.trim().split('\n').pop() as string) as RssRun;
}

export async function benchRatesParallel(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  mkdirSync(DATA_DIR, { recursive: true });
  const removeData = () => {
    if (!args.keep) rmSync(DATA_DIR, { recursive: true, force: true });
  };
  const dropDataCleanup = onInterrupt('deleting the generated benchmark data', removeData);
  let closeServer: (() => Promise<unknown>) | undefined;
  const dropServerCleanup = onInterrupt('stopping the benchmark S3 server', () => closeServer?.());
  try {
    const file = path.join(DATA_DIR, `counties-${args.mb}mb.csv`);
    await generate(file, args.mb * 1e6);
    const server = await spawnS3ServerProcess({ directory: path.join(DATA_DIR, 's3'), buckets: [BUCKET] });
    closeServer = () => server.close();
    const env = s3ServerEnv(server);
    // The worker threads build their S3 client from the environment, as a Lambda does.
    Object.assign(process.env, env);
    const s3 = createS3Client();
    const key = 'uploads/counties.csv';
    const up = performance.now();
    await new Upload({ client: s3, params: { Bucket: BUCKET, Key: key, Body: createReadStream(file) } }).done();
    log(`uploaded to the local S3 server (pid ${server.pid}) in ${seconds(performance.now() - up)}`);

    // A tiny split run: its phases are the fixed costs (thread start, dispatch, rounds, publish) without data.
    const tinyKey = 'uploads/tiny.csv';
    const pieces: Buffer[] = [];
    for await (const piece of countyCsv(12 * 1024 ** 2)) pieces.push(piece);
    const tiny = Buffer.concat(pieces);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: tinyKey, Body: tiny }));
    const tinyRun = await runJob(s3, tinyKey, 2, server.pid);
    log(`tiny run (${mb(tiny.length)}, 2 workers): ${seconds(tinyRun.wallMs)}`);

    const load = [loadavg()[0] as number];
    const runs: JobRun[] = [];
    for (let i = 0; i < args.runs; i++) {
      for (const workers of args.workers) {
        const run = await runJob(s3, key, workers, server.pid);
        const single = runs.find((r) => r.workers === 1) ?? (workers === 1 ? run : undefined);
        if (single) checkSame(single.summary, run.summary, workers);
        runs.push(run);
        log(`run ${i + 1}/${args.runs}, ${workers} worker(s): ${seconds(run.wallMs)}`);
      }
    }
    const source = { bucket: BUCKET, key, eTag: runs[0]?.summary.input.eTag, size: statSync(file).size };
    const rss: RssRun[] = [];
    for (const chunkMiB of args.rssChunksMiB) {
      if (chunkMiB * 1024 ** 2 >= source.size - 1024 ** 2) {
        log(`RSS at ${chunkMiB} MiB chunks skipped: the file is too small for such a chunk`);
        continue;
      }
      const run = await rssRun(env, source, chunkMiB * 1024 ** 2);
      rss.push(run);
      log(`one worker process, ${chunkMiB} MiB chunk: ${seconds(run.ms)}, peak RSS ${run.maxRssMb.toFixed(0)} MB`);
    }
    load.push(loadavg()[0] as number);
    await server.close();
    closeServer = undefined;
    printRatesParallelReport({ fileBytes: source.size, threads: THREADS, runs, tinyRun, rss, load });
    return 0;
  } finally {
    await closeServer?.();
    dropServerCleanup();
    removeData();
    dropDataCleanup();
  }
}
