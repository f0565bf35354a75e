import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../lib/aws/s3.ts';
import { UserError } from '../lib/errors.ts';
import { stackEnvironment, startStack, stopStack, type StackState } from '../local-stack/stack.ts';

/** What every command shares: usage, flag parsing, progress lines and the local stack. */

export class CliError extends UserError {
  constructor(message: string, code = 'USAGE') {
    super(code, message);
  }
}

export const USAGE = `Usage: cloud-parallel <command>

  local start [--s3-port N] [--lambda-port N] [--ec2-port N] [--mongo-port N] [--api-port N]
                                                start the local stack (S3, Lambda, EC2, MongoDB, API fixture)
  local stop                                    stop what 'local start' started
  local status                                  show endpoints of the running stack
  local env                                     print 'export' lines pointing the AWS SDK/CLI at it
  rates <file.csv> [--bins N] [--numerator C] [--denominator C] [--backend lambda|ec2] [--out DIR] [--timeout S] [--json]
                                                upload a CSV, let the S3 trigger run the job (or one EC2 instance), print the summary
  primes --start S --end E [--chunks N | --chunk-size N] [--backend lambda|ec2|local] [--chunks-per-instance N] [--concurrency N] [--json]
                                                count the primes in [S, E) in parallel chunks (numbers: 1e8, 100000000)
  scrape --source yelp --cities "San Francisco, CA; Austin, TX" [--limit 20] [--concurrency N] [--json]
  scrape --source hn --ids 1-20 [--concurrency N] [--json]
                                                fetch concurrently from the (local) APIs, upsert into MongoDB
  demo                                          the whole system on the local stack, end to end
  bench [rates|rates-core|primes|scrape]        benchmarks (see README)
`;

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n\n${USAGE}`, 'INVALID_ARGUMENT');
  }
}

export function portOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`${flag} must be a TCP port (1-65535), got "${value}"`);
  return port;
}

export const progress = (message: string) => process.stderr.write(`• ${message}\n`);

/** Runs `work` against the local stack, starting it first if needed and stopping it after if we started it. */
export async function withStack<T>(work: (state: StackState, s3: S3Client) => Promise<T>, quiet = false): Promise<T> {
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

export function dataBucket(state: StackState): string {
  const bucket = state.service.environment.DATA_BUCKET ?? state.service.buckets[0];
  if (!bucket) throw new CliError('serverless.yml declares no data bucket (provider.environment.DATA_BUCKET)', 'CONFIG');
  return bucket;
}

/** Whole numbers as people type them for ranges: `100000000`, `1e8`, `1_000_000`. */
export function integerOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replaceAll('_', ''));
  if (value.trim() === '' || !Number.isFinite(n) || !Number.isInteger(n)) {
    throw new CliError(`${flag} must be a whole number (e.g. 100000000 or 1e8), got "${value}"`, 'INVALID_ARGUMENT');
  }
  return n;
}
