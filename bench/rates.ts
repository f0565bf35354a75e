/**
 * `npm run bench -- rates`: the rates job on generated 1M- and 10M-row files, end to end through the local
 * S3 server (download, parse, rate, statistics, streamed multipart upload, chart, summary), each run in a
 * fresh process like a Lambda container. Prints medians and, as the baseline measured in the same run,
 * pandas doing read + rate + write of the same file when the machine has it (Debian `python3-pandas`).
 */
import { execFile, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client } from '../lib/aws/s3.ts';
import { sampleCountyCsvChunks } from '../lib/rates/sample-data.ts';
import { PROJECT_ROOT } from '../local-stack/service-config.ts';
import { spawnS3ServerProcess } from '../local-stack/s3/child.ts';
import { formatTable } from '../cli/format.ts';
import { median } from './report.ts';
import { s3ServerEnv } from './s3-env.ts';

const BUCKET = 'bench-data';
const DATA_DIR = path.join(PROJECT_ROOT, '.bench-data');
export const PANDAS_PYTHON = '/usr/bin/python3';
/** pandas' read + rate + write of argv[1] to argv[2]; prints its own time in ms (python start and import excluded). */
export const PANDAS_SCRIPT = `
import sys, time, pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
df["rate"] = df["cancer"] / df["population"]
df.to_csv(sys.argv[2], index=False)
print((time.perf_counter() - t) * 1000)
`;

interface FunctionRun {
  wallMs: number;
  maxRssMb: number;
  reply: {
    results: {
      status: string;
      rows?: number;
      alreadyProcessed?: boolean;
      timings?: Record<string, number>;
      error?: unknown;
    }[];
  };
}

export function hasPandas(): boolean {
  return (
    existsSync(PANDAS_PYTHON) && spawnSync(PANDAS_PYTHON, ['-c', 'import pandas'], { stdio: 'ignore' }).status === 0
  );
}

async function ensureSample(rows: number, file: string): Promise<void> {
  if (existsSync(file)) return;
  const started = performance.now();
  await pipeline(Readable.from(sampleCountyCsvChunks({ rows, seed: 7 })), createWriteStream(file));
  process.stderr.write(
    `  generated ${path.basename(file)} (${(statSync(file).size / 1e6).toFixed(0)} MB) in ${Math.round(performance.now() - started)} ms\n`,
  );
}

/** pandas' read + rate + write of `file`, median of `runs` (each a fresh python process). */
async function pandasMedian(file: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = path.join(DATA_DIR, 'pandas-out.csv');
    const { stdout } = await promisify(execFile)(PANDAS_PYTHON, ['-c', PANDAS_SCRIPT, file, out]);
    times.push(Number(stdout.trim()));
    rmSync(out, { force: true });
  }
  return median(times);
}

/**
 * Runs the rates function `runs` times on `key`, each in a fresh process; fails on a run that did not succeed. Each
 * run first deletes the previous run's summary.json: otherwise the job sees the same upload already processed and
 * answers from it in a few milliseconds, which measured nothing (runs 2..n did so until this).
 */
async function functionRuns(
  s3: S3Client,
  label: string,
  key: string,
  runs: number,
  env: NodeJS.ProcessEnv,
): Promise<FunctionRun[]> {
  const results: FunctionRun[] = [];
  const summaryKey = `results/${key.slice('uploads/'.length, -'.csv'.length)}/summary.json`;
  for (let i = 0; i < runs; i++) {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: summaryKey }));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, 'bench', 'rates-function.ts'), BUCKET, key],
      { env, cwd: PROJECT_ROOT, maxBuffer: 64 * 1024 * 1024 },
    );
    const run = JSON.parse(stdout.trim().split('\n').pop()!) as FunctionRun;
    const outcome = run.reply.results[0];
    if (outcome?.status !== 'ok' || outcome.rows === undefined || outcome.alreadyProcessed === true)
      throw new Error(`bench run failed: ${JSON.stringify(outcome)}`);
    results.push(run);
    process.stderr.write(
      `  ${label} run ${i + 1}/${runs}: ${Math.round(run.wallMs)} ms, peak RSS ${Math.round(run.maxRssMb)} MB\n`,
    );
  }
  return results;
}

export async function benchRates(args: string[]): Promise<number> {
  const sizes = (args.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length) ?? '1000000,10000000')
    .split(',')
    .map(Number);
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice('--runs='.length) ?? 3);
  const keep = args.includes('--keep');
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await spawnS3ServerProcess({ directory: path.join(DATA_DIR, 's3'), buckets: [BUCKET] });
  const env = { ...s3ServerEnv(server), DATA_BUCKET: BUCKET };
  Object.assign(process.env, env);
  const s3 = createS3Client();
  const pandas = hasPandas();
  const rows: string[][] = [];
  const rss: number[] = [];
  try {
    for (const size of sizes) {
      const label = size >= 1e6 ? `${size / 1e6}m` : `${size / 1e3}k`;
      const file = path.join(DATA_DIR, `counties-${label}.csv`);
      await ensureSample(size, file);
      const key = `uploads/counties-${label}.csv`;
      await new Upload({ client: s3, params: { Bucket: BUCKET, Key: key, Body: createReadStream(file) } }).done();
      const sizeRuns = size >= 5e6 ? Math.min(runs, 2) : runs;
      const results = await functionRuns(s3, label, key, sizeRuns, env);
      const wall = median(results.map((r) => r.wallMs));
      const peak = Math.max(...results.map((r) => r.maxRssMb));
      rss.push(peak);
      let pandasMs: number | null = null;
      if (pandas) pandasMs = await pandasMedian(file, sizeRuns);
      // Each timing's median over the runs, like the wall's (the first run alone is the noisiest).
      const timing = (name: string): string => {
        const values = results.flatMap((r) => r.reply.results[0]?.timings?.[name] ?? []);
        return values.length === 0 ? '?' : String(Math.round(median(values)));
      };
      rows.push([
        size.toLocaleString('en-US'),
        `${Math.round(wall)} ms`,
        `${(((size / wall) * 1000) / 1e6).toFixed(2)} M/s`,
        `${Math.round(peak)} MB`,
        `${timing('computeMs')} / ${timing('uploadMs')} / ${timing('chartMs')}`,
        pandasMs === null ? 'n/a' : `${Math.round(pandasMs)} ms`,
        pandasMs === null ? 'n/a' : `${(wall / pandasMs).toFixed(2)}×`,
      ]);
    }
  } finally {
    await server.close();
    if (!keep) rmSync(DATA_DIR, { recursive: true, force: true });
  }
  process.stdout.write(
    `\nrates job, end to end through the local S3 server (median of runs; each run a fresh process)\n` +
      formatTable(
        [
          'rows',
          'wall',
          'rows/s',
          'peak RSS',
          'compute/upload-tail/chart ms',
          'pandas read+rate+write',
          'job ÷ pandas',
        ],
        rows,
      ),
  );
  if (rss.length >= 2) {
    process.stdout.write(
      `peak RSS growth ${sizes.at(0)!.toLocaleString('en-US')} → ${sizes.at(-1)!.toLocaleString('en-US')} rows: ` +
        `${((rss.at(-1)! / rss[0]! - 1) * 100).toFixed(0)}% (target ≤ 30%)\n`,
    );
  }
  if (!pandas)
    process.stdout.write('pandas baseline skipped: install Debian python3-pandas to measure it in the same run\n');
  return 0;
}
