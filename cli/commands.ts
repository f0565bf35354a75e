import { createWriteStream, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../lib/aws/s3.ts';
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

  local start [--s3-port N] [--lambda-port N]   start the local stack (S3 + Lambda) in the background
  local stop                                    stop what 'local start' started
  local status                                  show endpoints of the running stack
  local env                                     print 'export' lines pointing the AWS SDK/CLI at it
  rates <file.csv> [--bins N] [--numerator C] [--denominator C] [--out DIR] [--timeout S] [--json]
                                                upload a CSV, let the S3 trigger run the job, print the summary
  demo                                          the whole system on the local stack, end to end
  bench [rates]                                 benchmarks (see README)
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
  const { values, positionals } = parse(args, { 's3-port': { type: 'string' }, 'lambda-port': { type: 'string' } });
  const s3Port = portOption(values['s3-port'], '--s3-port');
  const lambdaPort = portOption(values['lambda-port'], '--lambda-port');
  const ports = { ...(s3Port ? { s3Port } : {}), ...(lambdaPort ? { lambdaPort } : {}) };
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
    return 0;
  });
}
