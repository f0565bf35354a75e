import { createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parsePrimesRunInput } from '../lib/primes/run-input.ts';
import { sampleCountyCsvChunks } from '../lib/rates/sample-data.ts';
import { PROJECT_ROOT } from '../local-stack/service-config.ts';
import { describeStack } from './local.ts';
import { formatPrimesResult, runPrimes } from './primes.ts';
import { formatSummary, runAndCollect } from './rates.ts';
import { formatScrape, runLocalScrape } from './scrape.ts';
import { MongoClient } from 'mongodb';
import { parseScrapeInput } from '../lib/scrape/index.ts';
import { dataBucket, progress, withStack } from './shared.ts';
import { dashboardLoginUrl, type StackState } from '../local-stack/stack.ts';
import type { DemoRequest } from './args/demo.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RatesSummary } from '../lib/rates/index.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { readPrimesRun } from '../lib/primes/run-history.ts';
import type { PrimesResult } from '../lib/primes/run.ts';

export async function demoCommand({ keep }: DemoRequest): Promise<number> {
  const outDir = path.join(PROJECT_ROOT, '.demo-output');
  mkdirSync(outDir, { recursive: true });
  const csvFile = await writeDemoCsv(outDir);
  return withStack(
    async (state, s3) => {
      try {
        return await demoSteps(state, s3, csvFile, outDir);
      } finally {
        process.stdout.write(dashboardNote(state, keep));
      }
    },
    false,
    { keep },
  );
}

/** Where to look at what the demo did, printed at its end, whatever became of it. */
function dashboardNote(state: StackState, keep: boolean): string {
  const url = dashboardLoginUrl(state);
  return keep
    ? `\n== Dashboard\ndashboard   ${url}\nThe local stack keeps running: open the URL to see the uploads (drop a CSV of your own in), ` +
        'then stop it with `npx cloud-parallel local stop`.\n'
    : `\n== Dashboard\ndashboard   ${url}\nIt is up while the stack is: \`npm run demo -- --keep\` leaves the stack running to open it.\n`;
}

async function demoSteps(state: StackState, s3: S3Client, csvFile: string, outDir: string): Promise<number> {
  process.stdout.write(
    `\n== Local stack\n${describeStack(state)}\n== rates: S3 upload → trigger → rate column, histogram, summary\n`,
  );
  if (!(await ratesStep(state, s3, csvFile, outDir))) return 1;
  process.stdout.write('\n== rates on a big file: one worker, then split by byte range across rate-worker Lambdas\n');
  if (!(await parallelRatesStep(state, s3, outDir))) return 1;
  const original = { start: 100_000_000, end: 101_000_000, chunks: 4 };
  const expected = { count: 54_208, what: '54,208 primes in [1e8, 1.01e8)' };
  if (
    !(await primesStep(
      state,
      'fan-out over parallel Lambda invocations (the original analysis range)',
      original,
      expected,
    ))
  ) {
    return 1;
  }
  process.stdout.write(
    '54,208 primes, as in the original analysis (which took 22.6 s by trial division, 10.1 s on 4 processes).\n' +
      'Chunks this small finish faster than an invocation starts, so the speedup shows on a bigger range (below).\n',
  );
  if (!(await ec2PrimesStep(state))) return 1;
  if (!(await scrapeStep(state))) return 1;
  const big = { start: 0, end: 10_000_000_000, chunks: 2 };
  const bigOk = await primesStep(state, 'a range big enough for the fan-out to pay off', big, {
    count: 455_052_511,
    what: 'π(10^10) = 455,052,511',
  });
  return bigOk ? 0 : 1;
}

/** 3,143 rows: one per US county, with a handful of bad rows to show how they are reported. */
async function writeDemoCsv(outDir: string): Promise<string> {
  const csvFile = path.join(outDir, 'us-counties.csv');
  await pipeline(
    Readable.from(sampleCountyCsvChunks({ rows: 3143, seed: 2024, badRowFraction: 0.002 })),
    createWriteStream(csvFile),
  );
  progress(`generated ${csvFile} (3,143 counties: fips, county, state, cancer, population)`);
  return csvFile;
}

async function ratesStep(state: StackState, s3: S3Client, csvFile: string, outDir: string): Promise<boolean> {
  const outcome = await runAndCollect(state, s3, csvFile, {}, { outDir, timeoutMs: 120_000, quiet: false });
  if (outcome.status === 'error') {
    process.stderr.write(`demo: the rates run failed: ${outcome.error.code}: ${outcome.error.message}\n`);
    return false;
  }
  process.stdout.write(formatSummary(outcome));
  process.stdout.write(`\nOpen the chart: ${path.join(outDir, 'histogram.png')}\n`);
  return true;
}

/** Rows of the big file: ~200 MB, big enough for the split to pay for its invocations and rounds. */
const BIG_ROWS = 4_500_000;

/**
 * The same ~200 MB file run on one worker and split across four, with the speedup: the rates.csv and summary of
 * both are the same, bit for bit (the parallel suites prove it); only the time differs. The file is deleted after.
 */
async function parallelRatesStep(state: StackState, s3: S3Client, outDir: string): Promise<boolean> {
  const file = path.join(outDir, 'big-counties.csv');
  try {
    await pipeline(
      Readable.from(sampleCountyCsvChunks({ rows: BIG_ROWS, seed: 7, badRowFraction: 0.001 })),
      createWriteStream(file),
    );
    const bytes = statSync(file).size;
    progress(`generated ${file} (${BIG_ROWS.toLocaleString('en-US')} rows, ${(bytes / 1e6).toFixed(0)} MB)`);
    const settings = { timeoutMs: 300_000, quiet: false };
    const one = await runAndCollect(state, s3, file, {}, settings, { workers: 1 });
    const four = await runAndCollect(state, s3, file, {}, settings, { workers: 4 });
    if (one.status === 'error' || four.status === 'error') {
      const failed = one.status === 'error' ? one : four;
      if (failed.status === 'error')
        process.stderr.write(`demo: the big rates run failed: ${failed.error.code}: ${failed.error.message}\n`);
      return false;
    }
    process.stdout.write(formatSummary(four));
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    process.stdout.write(
      `1 worker: ${seconds(one.timings.totalMs)}; 4 workers: ${seconds(four.timings.totalMs)} ` +
        `(speedup ${(one.timings.totalMs / four.timings.totalMs).toFixed(2)}×, on ${availableParallelism()} cores here); ` +
        `same rows, statistics and histogram: ${sameFigures(one, four) ? 'yes' : 'NO'}\n` +
        "On one laptop the local S3 server does, on the same cores, the work S3 does in AWS (the chunks' scratch\n" +
        'objects, the server-side copies that assemble rates.csv), so the split gains little here; on Lambda each\n' +
        'worker has a vCPU of its own (npm run bench -- rates-parallel measures both and models 10 GB).\n',
    );
    return sameFigures(one, four);
  } finally {
    rmSync(file, { force: true });
  }
}

function sameFigures(a: RatesSummary, b: RatesSummary): boolean {
  const figures = (s: RatesSummary) => JSON.stringify([s.rows, s.badRows, s.stats, s.histogram]);
  return figures(a) === figures(b);
}

async function ec2PrimesStep(state: StackState): Promise<boolean> {
  process.stdout.write(
    '\n== primes on the EC2 backend: one instance per chunk (local instances are processes running the user data)\n',
  );
  const onEc2 = await runPrimes(
    parsePrimesRunInput({ start: 100_000_000, end: 101_000_000, chunks: 4, backend: 'ec2' }),
    state,
    false,
  );
  process.stdout.write(formatPrimesResult(onEc2));
  if (onEc2.count !== 54_208) {
    process.stderr.write(`demo: expected 54,208 primes on the EC2 backend, got ${onEc2.count}\n`);
    return false;
  }
  if (!(await listedOnRunsPage(state, onEc2))) return false;
  process.stdout.write(
    'The same 54,208. On AWS each chunk boots an instance (tens of seconds), so EC2 pays off for long chunks.\n',
  );
  return true;
}

async function scrapeStep(state: StackState): Promise<boolean> {
  process.stdout.write(
    `\n== scrape: 4 cities × 20 businesses from the (local) Yelp Fusion API into MongoDB (${state.mongoUri})\n`,
  );
  const seedScrape = parseScrapeInput({
    source: 'yelp',
    cities: ['San Francisco, CA', 'New York, NY', 'Chicago, IL', 'Austin, TX'],
    limit: 20,
  });
  // Its own database, emptied first, so every demo tells the same story: 80 inserted, then 80 unchanged.
  const db = 'cloud_parallel_demo';
  await dropDatabase(state.mongoUri, db);
  const first = await runLocalScrape(state, seedScrape, false, { db });
  process.stdout.write(formatScrape(first));
  process.stdout.write('The same scrape again: upserts keyed on the business id, so nothing is duplicated.\n');
  const second = await runLocalScrape(state, seedScrape, false, { db });
  process.stdout.write(formatScrape(second));
  const asExpected =
    first.result.upserted === 80 && first.documents === 80 && second.documents === 80 && second.result.unchanged === 80;
  if (!asExpected) {
    process.stderr.write(
      `demo: expected 80 businesses, still the same documents after a second run; got ${JSON.stringify({ first: first.result, second: second.result })}\n`,
    );
  }
  return asExpected;
}

/** One primes run of the demo on Lambda, printed; false (saying why on stderr) when it misses the known count. */
async function primesStep(
  state: StackState,
  heading: string,
  range: { start: number; end: number; chunks: number },
  expected: { count: number; what: string },
): Promise<boolean> {
  process.stdout.write(`\n== primes: ${heading}\n`);
  const result = await runPrimes(parsePrimesRunInput({ ...range, backend: 'lambda' }), state, false);
  process.stdout.write(formatPrimesResult(result));
  if (result.count !== expected.count) {
    process.stderr.write(`demo: expected ${expected.what}, got ${result.count}\n`);
    return false;
  }
  return listedOnRunsPage(state, result);
}

/**
 * The run as the dashboard's Runs page reads it (its summary.json under results/primes/<runId>/, through the same
 * lib/ reader), so every prime run of the demo is there to open with its timeline; false, saying why, otherwise.
 */
async function listedOnRunsPage(state: StackState, result: PrimesResult): Promise<boolean> {
  const entry = await readPrimesRun(createS3Client(), dataBucket(state), result.runId);
  if (entry !== null && 'summary' in entry && entry.summary.count === result.count) {
    process.stdout.write(`on the dashboard: ${state.dashboardUrl}/runs?run=${result.runId}\n`);
    return true;
  }
  const why = entry === null ? 'it has no summary.json' : 'problem' in entry ? entry.problem : 'its count differs';
  process.stderr.write(`demo: run ${result.runId} is not on the Runs page: ${result.timelineError ?? why}\n`);
  return false;
}

async function dropDatabase(uri: string, name: string): Promise<void> {
  const client = await new MongoClient(uri).connect();
  try {
    await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}
