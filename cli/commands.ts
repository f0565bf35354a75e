import { createWriteStream, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { createS3Client } from '../lib/aws/s3.ts';
import { lambdaBackend, localBackend, type Backend } from '../lib/fanout/index.ts';
import { splitRange } from '../lib/primes/chunks.ts';
import { parsePrimesRunInput, runPrimesFanout, type PrimesRunInput, type PrimesRunResult } from '../lib/primes/fanout-job.ts';
import type { PrimesChunkResult, PrimesTask } from '../lib/primes/worker.ts';
import { formatTable } from './format.ts';
import { UserError } from '../lib/errors.ts';
import { binCount, columnName } from '../lib/config.ts';
import { submitRatesRun, waitForRatesOutcome } from '../lib/rates/client.ts';
import type { RatesJobOutcome, RatesSummary } from '../lib/rates/index.ts';
import { sampleCountyCsvChunks } from '../lib/rates/sample-data.ts';
import { PROJECT_ROOT } from '../local-stack/service-config.ts';
import { assertStackAlive, readStackState, stackEnvironment, startStack, stopStack, type StackState } from '../local-stack/stack.ts';

export class CliError extends UserError {
  constructor(message: string, code = 'USAGE') {
    super(code, message);
  }
}

const USAGE = `Usage: cloud-parallel <command>

  local start [--s3-port N] [--lambda-port N] [--ec2-port N]
                                                start the local stack (S3, Lambda, EC2) in the background
  local stop                                    stop what 'local start' started
  local status                                  show endpoints of the running stack
  local env                                     print 'export' lines pointing the AWS SDK/CLI at it
  rates <file.csv> [--bins N] [--numerator C] [--denominator C] [--out DIR] [--timeout S] [--json]
                                                upload a CSV, let the S3 trigger run the job, print the summary
  primes --start S --end E [--chunks N | --chunk-size N] [--backend lambda|local] [--concurrency N] [--json]
                                                count the primes in [S, E) in parallel chunks (numbers: 1e8, 100000000)
  demo                                          the whole system on the local stack, end to end
  bench [rates|rates-core|primes]               benchmarks (see README)
`;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n\n${USAGE}`, 'INVALID_ARGUMENT');
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'local':
      return localCommand(rest);
    case 'rates':
      return ratesCommand(rest);
    case 'primes':
      return primesCommand(rest);
    case 'demo':
      return demoCommand();
    case 'bench': {
      const { runBench } = await import('../bench/index.ts');
      return runBench(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      throw new CliError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

function portOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`${flag} must be a TCP port (1-65535), got "${value}"`);
  return port;
}

const progress = (message: string) => process.stderr.write(`• ${message}\n`);

async function localCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { 's3-port': { type: 'string' }, 'lambda-port': { type: 'string' }, 'ec2-port': { type: 'string' } });
  const s3Port = portOption(values['s3-port'], '--s3-port');
  const lambdaPort = portOption(values['lambda-port'], '--lambda-port');
  const ec2Port = portOption(values['ec2-port'], '--ec2-port');
  const ports = { ...(s3Port ? { s3Port } : {}), ...(lambdaPort ? { lambdaPort } : {}), ...(ec2Port ? { ec2Port } : {}) };
  switch (positionals[0]) {
    case 'start': {
      const { state, started } = await startStack({ ...ports, onProgress: progress });
      process.stdout.write(`${started ? 'Local stack started' : 'Local stack already running'}:\n${describeStack(state)}`);
      return 0;
    }
    case 'stop': {
      const stopped = await stopStack();
      process.stdout.write(
        stopped.length === 0 ? 'Local stack is not running.\n' : `Stopped ${stopped.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}.\n`,
      );
      return 0;
    }
    case 'status': {
      const state = readStackState();
      process.stdout.write(state ? `Local stack running since ${state.startedAt}:\n${describeStack(state)}` : 'Local stack is not running.\n');
      return state ? 0 : 1;
    }
    case 'env': {
      const state = readStackState();
      if (!state) throw new CliError('the local stack is not running; start it with `npx cloud-parallel local start`', 'NOT_RUNNING');
      const env = { ...stackEnvironment(state), ...state.service.environment };
      process.stdout.write(Object.entries(env).map(([k, v]) => `export ${k}=${JSON.stringify(v)}`).join('\n') + '\n');
      return 0;
    }
    default:
      throw new CliError(`usage: cloud-parallel local start|stop|status|env\n\n${USAGE}`);
  }
}

function describeStack(state: StackState): string {
  const buckets = state.service.buckets.join(', ');
  const triggers = state.service.notifications
    .map((n) => `s3://${n.bucket}/${n.prefix ?? ''}*${n.suffix ?? ''} → ${n.target}`)
    .join('\n              ');
  return [
    `  S3         ${state.s3Endpoint}  (buckets: ${buckets})`,
    `  Lambda     ${state.lambdaEndpoint}  (serverless-offline invoke API)`,
    `  EC2        ${state.ec2Endpoint}  (EC2 Query API; instances run their user data as local processes)`,
    `  triggers   ${triggers}`,
    `  data/logs  ${state.stateDir}`,
    `  use it     eval "$(npx cloud-parallel local env)"   # then aws/sls/SDK calls go to the local stack`,
    '',
  ].join('\n');
}

/** Runs `work` against the local stack, starting it first if needed and stopping it after if we started it. */
async function withStack<T>(work: (state: StackState, s3: S3Client) => Promise<T>, quiet = false): Promise<T> {
  const { state, started } = await startStack({ onProgress: quiet ? () => undefined : progress });
  Object.assign(process.env, stackEnvironment(state));
  try {
    return await work(state, createS3Client());
  } finally {
    if (started) {
      if (!quiet) progress('stopping the local stack this command started');
      await stopStack();
    }
  }
}

function dataBucket(state: StackState): string {
  const bucket = state.service.environment.DATA_BUCKET ?? state.service.buckets[0];
  if (!bucket) throw new CliError('serverless.yml declares no data bucket (provider.environment.DATA_BUCKET)', 'CONFIG');
  return bucket;
}

async function ratesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      bins: { type: 'string' },
      numerator: { type: 'string' },
      denominator: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
    },
  );
  const json = values.json === true;
  const fail = (message: string, code = 'INVALID_ARGUMENT') => new CliError(message, code);
  if (positionals.length !== 1) throw fail('rates needs exactly one CSV file: cloud-parallel rates <file.csv> [--bins N] ...');
  const file = positionals[0] as string;
  if (!existsSync(file) || !statSync(file).isFile()) throw fail(`no such file: ${file}`, 'FILE_NOT_FOUND');
  const options: { bins?: number; numerator?: string; denominator?: string } = {};
  if (values.bins !== undefined) {
    const bins = binCount.safeParse(values.bins);
    if (!bins.success) throw fail(`--bins ${bins.error.issues[0]?.message ?? 'is invalid'}, got "${values.bins}"`);
    options.bins = bins.data;
  }
  for (const flag of ['numerator', 'denominator'] as const) {
    const value = values[flag];
    if (value === undefined) continue;
    const parsed = columnName.safeParse(value);
    if (!parsed.success) throw fail(`--${flag} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
    options[flag] = parsed.data;
  }
  const timeoutSeconds = values.timeout === undefined ? 300 : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw fail(`--timeout must be a number of seconds, got "${values.timeout}"`);

  const outcome = await withStack(
    (state, s3) => runAndCollect(state, s3, file, options, { outDir: values.out, timeoutMs: timeoutSeconds * 1000, quiet: json }),
    json,
  );
  if (outcome.status === 'error') {
    if (json) process.stdout.write(`${JSON.stringify({ error: outcome.error })}\n`);
    else process.stderr.write(`cloud-parallel: ${outcome.input.key}: ${outcome.error.code}: ${outcome.error.message}\n`);
    return 1;
  }
  process.stdout.write(json ? `${JSON.stringify(outcome, null, 2)}\n` : formatSummary(outcome));
  return 0;
}

async function runAndCollect(
  state: StackState,
  s3: S3Client,
  file: string,
  options: { bins?: number; numerator?: string; denominator?: string },
  settings: { outDir?: string | undefined; timeoutMs: number; quiet: boolean },
): Promise<RatesJobOutcome> {
  const say = settings.quiet ? () => undefined : progress;
  const bucket = dataBucket(state);
  const run = await submitRatesRun(s3, { bucket, file, options });
  say(`uploaded ${file} to s3://${bucket}/${run.key}; waiting for the rates function`);
  let lastReport = 0;
  const outcome = await waitForRatesOutcome(s3, run, {
    timeoutMs: settings.timeoutMs,
    onWait: (elapsed) => {
      assertStackAlive(state);
      if (elapsed - lastReport >= 5000) {
        lastReport = elapsed;
        say(`still running (${Math.round(elapsed / 1000)}s)`);
      }
    },
  });
  if (outcome.status === 'ok' && settings.outDir) {
    mkdirSync(settings.outDir, { recursive: true });
    for (const name of ['histogram.png', 'histogram.svg', 'summary.json']) {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${run.resultPrefix}${name}` }));
      await pipeline(object.Body as Readable, createWriteStream(path.join(settings.outDir, name)));
    }
    say(`downloaded histogram.png, histogram.svg and summary.json to ${settings.outDir}`);
  }
  return outcome;
}

const fmt = (n: number) => (Math.abs(n) >= 1e4 || (Math.abs(n) < 1e-3 && n !== 0) ? n.toExponential(4) : n.toPrecision(5));

export function formatSummary(summary: RatesSummary): string {
  const { stats, badRows, timings } = summary;
  const lines = [
    `rates for s3://${summary.input.bucket}/${summary.input.key}`,
    `  ${summary.rateColumn} = ${summary.options.numerator} / ${summary.options.denominator}`,
    `  rows       ${summary.rows.toLocaleString('en-US')} valid, ${badRows.count.toLocaleString('en-US')} bad`,
    `  ${summary.rateColumn.padEnd(10)} min ${fmt(stats.min)}  median ${fmt(stats.median)}  mean ${fmt(stats.mean)}  p95 ${fmt(stats.p95)}  max ${fmt(stats.max)}`,
  ];
  if (badRows.count > 0) {
    lines.push(`  bad rows (${badRows.samples.length < badRows.count ? `first ${badRows.samples.length}` : 'all'}):`);
    for (const bad of badRows.samples.slice(0, 5)) lines.push(`    line ${bad.line}: ${bad.reason}`);
    if (badRows.samples.length > 5) lines.push(`    … ${badRows.count - 5} more in summary.json`);
  }
  lines.push('  outputs:');
  for (const uri of Object.values(summary.outputs)) lines.push(`    ${uri}`);
  lines.push(
    `  timings    compute ${timings.computeMs} ms, upload ${timings.uploadMs} ms, chart ${timings.chartMs} ms, total ${timings.totalMs} ms`,
    '',
  );
  return lines.join('\n');
}

/** Whole numbers as people type them for ranges: `100000000`, `1e8`, `1_000_000`. */
function integerOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replaceAll('_', ''));
  if (value.trim() === '' || !Number.isFinite(n) || !Number.isInteger(n)) {
    throw new CliError(`${flag} must be a whole number (e.g. 100000000 or 1e8), got "${value}"`, 'INVALID_ARGUMENT');
  }
  return n;
}

function reportingBackend(inner: Backend<PrimesTask, PrimesChunkResult>, total: number, say: (line: string) => void): Backend<PrimesTask, PrimesChunkResult> {
  let done = 0;
  return {
    name: inner.name,
    run: async (task, context) => {
      const result = await inner.run(task, context);
      done += 1;
      say(`chunk ${context.index + 1}/${total} [${task.start.toLocaleString('en-US')}, ${task.end.toLocaleString('en-US')}): ${result.count.toLocaleString('en-US')} primes in ${result.ms} ms  (${done}/${total} done)`);
      return result;
    },
    ...(inner.close ? { close: () => inner.close!() } : {}),
  };
}

async function runPrimes(input: PrimesRunInput, state: StackState | null, quiet: boolean): Promise<PrimesRunResult> {
  const say = quiet ? () => undefined : progress;
  const total = splitRange(input.start, input.end, input).length;
  let backend: Backend<PrimesTask, PrimesChunkResult>;
  if (input.backend === 'lambda') {
    const functionName = state?.service.functions['primes-worker'];
    if (!functionName) throw new CliError('serverless.yml has no primes-worker function', 'CONFIG');
    backend = lambdaBackend({ client: createLambdaClient(), functionName });
    say(`counting primes in [${input.start.toLocaleString('en-US')}, ${input.end.toLocaleString('en-US')}) in ${total} chunks on Lambda (${functionName})`);
  } else {
    backend = localBackend({ module: new URL('../lib/primes/worker.ts', import.meta.url), exportName: 'runPrimesTask' });
    say(`counting primes in [${input.start.toLocaleString('en-US')}, ${input.end.toLocaleString('en-US')}) in ${total} chunks on local worker threads`);
  }
  const reporting = reportingBackend(backend, total, say);
  try {
    return await runPrimesFanout(input, reporting, {
      onProgress: (event) => {
        if (event.kind === 'retrying') say(`chunk ${event.index + 1}/${total}: ${event.error?.type} — retrying in ${event.delayMs} ms`);
        if (event.kind === 'failed') say(`chunk ${event.index + 1}/${total} failed: ${event.error?.type}: ${event.error?.message}`);
      },
    });
  } finally {
    await reporting.close?.();
  }
}

export function formatPrimesResult(result: PrimesRunResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const rows = result.chunks.map((c) => [
    `[${n(c.start)}, ${n(c.end)})`,
    c.count === undefined ? 'FAILED' : n(c.count),
    c.ms === undefined ? `${c.error?.type}: ${c.error?.message}` : `${c.ms} ms`,
  ]);
  const lines = [
    formatTable(['chunk', 'primes', 'time'], rows).trimEnd(),
    '',
    `primes in [${n(result.start)}, ${n(result.end)}): ${n(result.count)}${result.complete ? '' : `  (INCOMPLETE: ${result.failedChunks.length} chunk(s) failed)`}`,
    `wall ${result.wallMs} ms, worker time ${result.workerMs} ms, speedup ${result.speedup}× (${result.backend} backend)`,
  ];
  if (result.cost) {
    lines.push(`Lambda cost estimate: ${result.cost.requests} requests, ${result.cost.gbSeconds} GB-s ≈ $${result.cost.usd.toFixed(6)}`);
  }
  return `${lines.join('\n')}\n`;
}

async function primesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    start: { type: 'string' },
    end: { type: 'string' },
    chunks: { type: 'string' },
    'chunk-size': { type: 'string' },
    backend: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"; use --start S --end E`, 'INVALID_ARGUMENT');
  if (values.start === undefined || values.end === undefined) throw new CliError('primes needs --start and --end, e.g. --start 1e8 --end 1.01e8', 'INVALID_ARGUMENT');
  const raw = {
    start: integerOption(values.start, '--start'),
    end: integerOption(values.end, '--end'),
    chunks: integerOption(values.chunks, '--chunks'),
    chunkSize: integerOption(values['chunk-size'], '--chunk-size'),
    backend: values.backend ?? 'lambda',
    concurrency: integerOption(values.concurrency, '--concurrency'),
  };
  const input = parsePrimesRunInput(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
  if (input.chunks === undefined && input.chunkSize === undefined) input.chunks = 2;
  const json = values.json === true;
  const result =
    input.backend === 'lambda'
      ? await withStack((state) => runPrimes(input, state, json), json)
      : await runPrimes(input, null, json);
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatPrimesResult(result));
  return result.complete ? 0 : 1;
}

async function demoCommand(): Promise<number> {
  const outDir = path.join(PROJECT_ROOT, '.demo-output');
  mkdirSync(outDir, { recursive: true });
  const csvFile = path.join(outDir, 'us-counties.csv');
  // 3,143 rows: one per US county, with a handful of bad rows to show how they are reported.
  await pipeline(Readable.from(sampleCountyCsvChunks({ rows: 3143, seed: 2024, badRowFraction: 0.002 })), createWriteStream(csvFile));
  progress(`generated ${csvFile} (3,143 counties: fips, county, state, cancer, population)`);
  return withStack(async (state, s3) => {
    process.stdout.write(`\n== Local stack\n${describeStack(state)}\n== rates: S3 upload → trigger → rate column, histogram, summary\n`);
    const outcome = await runAndCollect(state, s3, csvFile, {}, { outDir, timeoutMs: 120_000, quiet: false });
    if (outcome.status === 'error') {
      process.stderr.write(`demo: the rates run failed: ${outcome.error.code}: ${outcome.error.message}\n`);
      return 1;
    }
    process.stdout.write(formatSummary(outcome));
    process.stdout.write(`\nOpen the chart: ${path.join(outDir, 'histogram.png')}\n`);

    process.stdout.write('\n== primes: fan-out over parallel Lambda invocations (the original analysis range)\n');
    const primes = await runPrimes(parsePrimesRunInput({ start: 100_000_000, end: 101_000_000, chunks: 4, backend: 'lambda' }), state, false);
    process.stdout.write(formatPrimesResult(primes));
    if (primes.count !== 54_208) {
      process.stderr.write(`demo: expected 54,208 primes in [1e8, 1.01e8), got ${primes.count}\n`);
      return 1;
    }
    process.stdout.write(
      '54,208 primes, as in the original analysis (which took 22.6 s by trial division, 10.1 s on 4 processes).\n' +
        'Chunks this small finish faster than an invocation starts, so the speedup shows on a bigger range:\n',
    );
    const big = await runPrimes(parsePrimesRunInput({ start: 0, end: 10_000_000_000, chunks: 2, backend: 'lambda' }), state, false);
    process.stdout.write(formatPrimesResult(big));
    if (big.count !== 455_052_511) {
      process.stderr.write(`demo: expected π(10^10) = 455,052,511, got ${big.count}\n`);
      return 1;
    }
    return 0;
  });
}
