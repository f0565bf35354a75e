import { tmpdir } from 'node:os';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { MIN_CHUNK_BYTES } from './rates/parallel/chunks.ts';

/**
 * Deployment configuration, read from the environment once per container.
 * Every variable is documented in the README's configuration table; a bad value fails with the
 * variable's name and what is allowed, so whoever deployed it can fix it without reading code.
 */

// ConfigError lives with the other errors (lib/errors.ts); exported here too, where its callers look for it.
export { ConfigError } from './errors.ts';

/** Variables whose values an error message never repeats: a connection string or a key may hold a secret. */
const SECRET_VARIABLE = /(^|_)(URI|KEY|PASSWORD|SECRET|TOKEN)$/;

/** Parses `env` with `schema`, turning zod's issues into one message that names each variable. */
export function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  const parsed = schema.safeParse(env, { reportInput: true });
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const [variable, ...inside] = issue.path.map(String);
    if (variable === undefined) return issue.message;
    const value = env[variable];
    const secret = SECRET_VARIABLE.test(variable);
    const shown = value === undefined ? '' : secret ? ' (value not shown)' : `=${JSON.stringify(value)}`;
    // An issue inside a list variable (EC2_SECURITY_GROUP_IDS) names the item that is wrong.
    const item =
      inside.length === 0 || secret
        ? ''
        : ` (item ${Number(inside[0]) + 1}${typeof issue.input === 'string' ? `, ${JSON.stringify(issue.input)}` : ''})`;
    return `${variable}${shown}${item}: ${issue.message}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}

export const columnName = z
  .string()
  .trim()
  .min(1, 'must be a non-empty CSV column name')
  .max(256, 'must be at most 256 characters');

/** Strings are read as numbers (environment variables, S3 metadata, CLI flags); other types are not coerced. */
const numberFromString = (value: unknown): unknown =>
  typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

export const binCount = z.preprocess(
  numberFromString,
  z
    .number({ error: 'must be a whole number from 1 to 1000' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000'),
);

/**
 * A number from an environment variable, from `min` to `max`. An empty value counts as unset (serverless.yml passes
 * an unset parameter as ''), so `fallback` applies; anything else that is not a number in range is refused with
 * what is allowed.
 */
export function envNumber<F extends number | undefined>(
  min: number,
  max: number,
  fallback: F,
  { integer = true, unit = '', hint = '' }: { integer?: boolean; unit?: string; hint?: string } = {},
) {
  const allowed = `must be ${integer ? 'a whole number' : 'a number'}${unit} from ${min} to ${max}${hint}`;
  const base = z.number({ error: allowed });
  const number = (integer ? base.int(allowed) : base)
    .min(min, `must be at least ${min}${hint}`)
    .max(max, `must be at most ${max}${hint}`);
  return z
    .preprocess(
      (value) => (typeof value === 'string' && value.trim() === '' ? undefined : numberFromString(value)),
      number.optional(),
    )
    .transform((value): number | F => value ?? fallback);
}

/** serverless.yml passes an unset optional parameter as ''; treat it as absent. */
export const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const BUCKET_NAME_RULE = 'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)';
export const bucketName = z
  .string({ error: BUCKET_NAME_RULE })
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, BUCKET_NAME_RULE);

/**
 * The largest upload the rates Lambda reads by default: 4 GiB streams through in under 2 minutes at the ~40 MB/s
 * measured for the whole job (README, "Limits"), well inside the function's 300 s timeout. The EC2 backend takes
 * up to 5 GiB (its rates.csv goes up in one PUT). A deployment with a longer timeout may raise this up to 10 GiB,
 * what the 900 s Lambda maximum allows at that speed with room to spare.
 */
export const DEFAULT_RATES_MAX_INPUT_BYTES = 4 * 1024 ** 3;
/**
 * S3's limit for one PUT, and so for the EC2 backend's rates.csv (a bigger output would need a multipart upload
 * with a presigned URL per part). Here, not in the EC2 worker, so the CLI can check a file without loading it.
 */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;
const MAX_RATES_INPUT_BYTES_CEILING = 10 * 1024 ** 3;

/**
 * Uploads up to this size run on the rates function alone; bigger ones are split across rates-worker invocations.
 * 256 MiB takes one function ~3–7 s (estimated from ~40–90 MB/s of CSV on one vCPU): below that the split's fixed costs
 * (invokes, scratch objects, statistics rounds, assembly) are a large share of the run. serverless.yml explains both.
 */
export const DEFAULT_RATES_PARALLEL_ABOVE_BYTES = 256 * 1024 ** 2;
/**
 * Bytes of the upload per parallel chunk: ~1 s of parsing against ~50–100 ms of invoke latency (estimated, to be
 * re-measured by the bench), and 10 GB in 160 chunks, far under the 10,000 parts rates.csv's multipart upload allows.
 */
export const DEFAULT_RATES_CHUNK_BYTES = 64 * 1024 ** 2;
/**
 * 100 workers at once: a 10 GB upload (160 chunks of 64 MiB) in two waves, a tenth of Lambda's default account
 * concurrency (1,000) so the rest of the account keeps room. The local stack passes fewer (one serverless-offline
 * worker thread each).
 */
export const DEFAULT_RATES_WORKER_CONCURRENCY = 100;
/** One S3 part's maximum: a bigger chunk could not become one part of rates.csv. */
const MAX_RATES_CHUNK_BYTES = 5 * 1024 ** 3;
/** S3's largest object: no upload is bigger, so a threshold above it would mean "never split". */
const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;

const ratesEnvSchema = z.object({
  DATA_BUCKET: bucketName,
  RATES_NUMERATOR: columnName.default('cancer'),
  RATES_DENOMINATOR: columnName.default('population'),
  RATES_BINS: envNumber(1, 1000, 30),
  RATES_MAX_INPUT_BYTES: envNumber(1, MAX_RATES_INPUT_BYTES_CEILING, DEFAULT_RATES_MAX_INPUT_BYTES, {
    unit: ' of bytes',
    hint: ' (the largest CSV the rates Lambda takes; bigger files go to the EC2 backend)',
  }),
  // Where the exact statistics spill (up to 8 bytes per row, lib/rates/spill.ts): /tmp on Lambda, sized by the
  // function's ephemeralStorageSize. Empty counts as unset. Absolute, so it does not depend on the working directory.
  RATES_SPILL_DIR: z
    .preprocess(
      (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
      z.string().optional(),
    )
    .pipe(
      z
        .string()
        .refine(
          isAbsolute,
          'must be an absolute directory path (where the statistics spill; default the OS temp dir, /tmp on Lambda)',
        )
        .optional(),
    ),
  // The parallel path. Without a worker function (a library caller, the CLI's local run) it is unavailable.
  RATES_WORKER_FUNCTION: optional(z.string().trim().min(1, 'must name the rates worker Lambda function, or be empty')),
  // The worker's own timeout (serverless.yml passes functions.rates-worker.timeout); 900 is Lambda's maximum.
  RATES_WORKER_TIMEOUT_SECONDS: envNumber(1, 900, 120, { unit: ' of seconds' }),
  RATES_PARALLEL_ABOVE_BYTES: envNumber(1, S3_MAX_OBJECT_BYTES, DEFAULT_RATES_PARALLEL_ABOVE_BYTES, {
    unit: ' of bytes',
    hint: ' (uploads up to this size run on one function; bigger ones are split across workers)',
  }),
  RATES_CHUNK_BYTES: envNumber(MIN_CHUNK_BYTES, MAX_RATES_CHUNK_BYTES, DEFAULT_RATES_CHUNK_BYTES, {
    unit: ' of bytes',
    hint: ' (the bytes of the upload each parallel worker parses)',
  }),
  RATES_WORKER_CONCURRENCY: envNumber(1, 1000, DEFAULT_RATES_WORKER_CONCURRENCY, {
    hint: ' (rates-worker invocations in flight at once)',
  }),
});

export interface RatesDefaults {
  numerator: string;
  denominator: string;
  bins: number;
}

export interface RatesLimits {
  /** Uploads bigger than this are refused with FILE_TOO_LARGE (see DEFAULT_RATES_MAX_INPUT_BYTES). */
  maxInputBytes: number;
  /**
   * Where the statistics spill (RATES_SPILL_DIR, default os.tmpdir()). An upload whose worst-case spill does not fit
   * the free space there is refused with FILE_TOO_LARGE before it is read.
   */
  spillDir?: string;
}

/** How the rates function splits a big upload across rates-worker invocations (it coordinates them). */
export interface RatesParallelConfig {
  /** The worker Lambda (RATES_WORKER_FUNCTION); null: the parallel path is unavailable, every upload runs alone. */
  workerFunction: string | null;
  /** The worker's timeout: sizes the coordinator's Lambda client request timeout (lib/aws/lambda.ts). */
  workerTimeoutSeconds: number;
  /** Uploads bigger than this are split (see DEFAULT_RATES_PARALLEL_ABOVE_BYTES). */
  aboveBytes: number;
  /** Bytes of the upload per chunk (see DEFAULT_RATES_CHUNK_BYTES). */
  chunkBytes: number;
  /** Worker invocations in flight at once (see DEFAULT_RATES_WORKER_CONCURRENCY). */
  concurrency: number;
}

export interface RatesConfig {
  dataBucket: string;
  defaults: RatesDefaults;
  limits: RatesLimits;
  parallel: RatesParallelConfig;
}

export function loadRatesConfig(env: NodeJS.ProcessEnv = process.env): RatesConfig {
  const parsed = parseEnv(ratesEnvSchema, env);
  return {
    dataBucket: parsed.DATA_BUCKET,
    defaults: { numerator: parsed.RATES_NUMERATOR, denominator: parsed.RATES_DENOMINATOR, bins: parsed.RATES_BINS },
    limits: { maxInputBytes: parsed.RATES_MAX_INPUT_BYTES, spillDir: parsed.RATES_SPILL_DIR ?? tmpdir() },
    parallel: {
      workerFunction: parsed.RATES_WORKER_FUNCTION ?? null,
      workerTimeoutSeconds: parsed.RATES_WORKER_TIMEOUT_SECONDS,
      aboveBytes: parsed.RATES_PARALLEL_ABOVE_BYTES,
      chunkBytes: parsed.RATES_CHUNK_BYTES,
      concurrency: parsed.RATES_WORKER_CONCURRENCY,
    },
  };
}

const positivePrice = (fallback: number) =>
  z
    .preprocess(
      (value) => (typeof value === 'string' && value.trim() === '' ? undefined : numberFromString(value)),
      z
        .number({ error: 'must be a positive number (US dollars)' })
        .positive('must be a positive number (US dollars)')
        .optional(),
    )
    .transform((value) => value ?? fallback);

const primesEnvSchema = z.object({
  PRIMES_WORKER_FUNCTION: z
    .string({ error: 'must name the worker Lambda function' })
    .min(1, 'must name the worker Lambda function'),
  PRIMES_WORKER_MEMORY_MB: envNumber(128, 10240, 1769, { unit: ' of MB' }),
  // The worker's own timeout (serverless.yml passes functions.primes-worker.timeout); 900 is Lambda's maximum.
  PRIMES_WORKER_TIMEOUT_SECONDS: envNumber(1, 900, 900, { unit: ' of seconds' }),
  LAMBDA_USD_PER_GB_SECOND: positivePrice(0.0000166667),
  LAMBDA_USD_PER_MILLION_REQUESTS: positivePrice(0.2),
});

export interface PrimesConfig {
  workerFunction: string;
  /** Sizes the Lambda client's request timeout (lib/aws/lambda.ts): a worker cannot answer later than this. */
  workerTimeoutSeconds: number;
  pricing: { usdPerGbSecond: number; usdPerMillionRequests: number; workerMemoryMb: number };
}

export function loadPrimesConfig(env: NodeJS.ProcessEnv = process.env): PrimesConfig {
  const parsed = parseEnv(primesEnvSchema, env);
  return {
    workerFunction: parsed.PRIMES_WORKER_FUNCTION,
    workerTimeoutSeconds: parsed.PRIMES_WORKER_TIMEOUT_SECONDS,
    pricing: {
      usdPerGbSecond: parsed.LAMBDA_USD_PER_GB_SECOND,
      usdPerMillionRequests: parsed.LAMBDA_USD_PER_MILLION_REQUESTS,
      workerMemoryMb: parsed.PRIMES_WORKER_MEMORY_MB,
    },
  };
}

const ec2EnvSchema = z.object({
  DATA_BUCKET: bucketName,
  SERVICE_NAME: z.string().min(1, 'must be a non-empty service name (it tags the instances)').default('cloud-parallel'),
  STAGE: z.string().min(1, 'must be a non-empty stage name (it tags the instances)').default('dev'),
  EC2_IMAGE_ID: optional(
    z.string().regex(/^ami-[0-9a-f]{8,17}$/, 'must be an AMI id (ami-…), or empty for the current Amazon Linux 2023'),
  ),
  EC2_INSTANCE_TYPE: optional(
    z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an instance type such as c7i.large'),
  ),
  EC2_SUBNET_ID: optional(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet id (subnet-…)')),
  EC2_SECURITY_GROUP_IDS: optional(
    z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((id) => id.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be comma-separated security group ids (sg-…)'))),
  ),
  EC2_DEADLINE_SECONDS: envNumber(1, 86_400, 600, { unit: ' of seconds' }),
  EC2_POLL_SECONDS: envNumber(0.05, 60, 5, { integer: false, unit: ' of seconds' }),
  EC2_USD_PER_HOUR: envNumber(0, 10_000, undefined, { integer: false, unit: ' (US dollars)' }),
  EC2_MAX_INSTANCES: envNumber(1, 1000, 16),
  EC2_NODE_MAJOR: envNumber(20, 99, 22, { hint: ' (a Node.js major version; the bundles target Node 20)' }),
});

/** Where and how the EC2 backend launches instances; see the README's configuration table. */
export interface Ec2Config {
  bucket: string;
  tags: { service: string; stage: string };
  imageId?: string;
  instanceType?: string;
  subnetId?: string;
  securityGroupIds?: string[];
  deadlineMs: number;
  pollMs: number;
  usdPerHour?: number;
  /** Instances alive at once (one per chunk in flight); mind the account's vCPU quota. */
  maxInstances: number;
  nodeMajor: number;
}

export function loadEc2Config(env: NodeJS.ProcessEnv = process.env): Ec2Config {
  const parsed = parseEnv(ec2EnvSchema, env);
  return {
    bucket: parsed.DATA_BUCKET,
    tags: { service: parsed.SERVICE_NAME, stage: parsed.STAGE },
    ...(parsed.EC2_IMAGE_ID === undefined ? {} : { imageId: parsed.EC2_IMAGE_ID }),
    ...(parsed.EC2_INSTANCE_TYPE === undefined ? {} : { instanceType: parsed.EC2_INSTANCE_TYPE }),
    ...(parsed.EC2_SUBNET_ID === undefined ? {} : { subnetId: parsed.EC2_SUBNET_ID }),
    ...(parsed.EC2_SECURITY_GROUP_IDS === undefined || parsed.EC2_SECURITY_GROUP_IDS.length === 0
      ? {}
      : { securityGroupIds: parsed.EC2_SECURITY_GROUP_IDS }),
    deadlineMs: parsed.EC2_DEADLINE_SECONDS * 1000,
    pollMs: Math.round(parsed.EC2_POLL_SECONDS * 1000),
    ...(parsed.EC2_USD_PER_HOUR === undefined ? {} : { usdPerHour: parsed.EC2_USD_PER_HOUR }),
    maxInstances: parsed.EC2_MAX_INSTANCES,
    nodeMajor: parsed.EC2_NODE_MAJOR,
  };
}
