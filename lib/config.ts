import { z } from 'zod';

/**
 * Deployment configuration, read from the environment once per container.
 * Every variable is documented in the README's configuration table; a bad value fails with the
 * variable's name and what is allowed, so whoever deployed it can fix it without reading code.
 */

export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses `env` with `schema`, turning zod's issues into one message that names each variable. */
export function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const variable = issue.path.join('.');
    const value = env[variable];
    return `${variable}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${issue.message}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}

export const columnName = z
  .string()
  .trim()
  .min(1, 'must be a non-empty CSV column name')
  .max(256, 'must be at most 256 characters');

export const binCount = z.coerce
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(1000, 'must be at most 1000');

const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)');

const ratesEnvSchema = z.object({
  DATA_BUCKET: bucketName,
  RATES_NUMERATOR: columnName.default('cancer'),
  RATES_DENOMINATOR: columnName.default('population'),
  RATES_BINS: binCount.default(30),
});

export interface RatesDefaults {
  numerator: string;
  denominator: string;
  bins: number;
}

export interface RatesConfig {
  dataBucket: string;
  defaults: RatesDefaults;
}

export function loadRatesConfig(env: NodeJS.ProcessEnv = process.env): RatesConfig {
  const parsed = parseEnv(ratesEnvSchema, env);
  return {
    dataBucket: parsed.DATA_BUCKET,
    defaults: { numerator: parsed.RATES_NUMERATOR, denominator: parsed.RATES_DENOMINATOR, bins: parsed.RATES_BINS },
  };
}

const positiveNumber = z.coerce.number().positive('must be a positive number');

const primesEnvSchema = z.object({
  PRIMES_WORKER_FUNCTION: z.string().min(1, 'must name the worker Lambda function'),
  PRIMES_WORKER_MEMORY_MB: z.coerce.number().int('must be a whole number of MB').min(128).max(10240).default(1769),
  LAMBDA_USD_PER_GB_SECOND: positiveNumber.default(0.0000166667),
  LAMBDA_USD_PER_MILLION_REQUESTS: positiveNumber.default(0.2),
});

export interface PrimesConfig {
  workerFunction: string;
  pricing: { usdPerGbSecond: number; usdPerMillionRequests: number; workerMemoryMb: number };
}

export function loadPrimesConfig(env: NodeJS.ProcessEnv = process.env): PrimesConfig {
  const parsed = parseEnv(primesEnvSchema, env);
  return {
    workerFunction: parsed.PRIMES_WORKER_FUNCTION,
    pricing: {
      usdPerGbSecond: parsed.LAMBDA_USD_PER_GB_SECOND,
      usdPerMillionRequests: parsed.LAMBDA_USD_PER_MILLION_REQUESTS,
      workerMemoryMb: parsed.PRIMES_WORKER_MEMORY_MB,
    },
  };
}

/** serverless.yml passes an unset optional parameter as ''; treat it as absent. */
export const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const ec2EnvSchema = z.object({
  DATA_BUCKET: bucketName,
  SERVICE_NAME: z.string().min(1).default('cloud-parallel'),
  STAGE: z.string().min(1).default('dev'),
  EC2_IMAGE_ID: optional(z.string().regex(/^ami-[0-9a-f]{8,17}$/, 'must be an AMI id (ami-…), or empty for the current Amazon Linux 2023')),
  EC2_INSTANCE_TYPE: optional(z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an instance type such as c7i.large')),
  EC2_SUBNET_ID: optional(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet id (subnet-…)')),
  EC2_SECURITY_GROUP_IDS: optional(
    z
      .string()
      .transform((s) => s.split(',').map((id) => id.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be comma-separated security group ids (sg-…)'))),
  ),
  EC2_DEADLINE_SECONDS: z.coerce.number().int('must be a whole number of seconds').min(1).max(86_400).default(600),
  EC2_POLL_SECONDS: z.coerce.number().min(0.05).max(60).default(5),
  EC2_USD_PER_HOUR: optional(z.coerce.number().min(0, 'must be at least 0')),
  EC2_MAX_INSTANCES: z.coerce.number().int('must be a whole number').min(1).max(1000).default(16),
  EC2_NODE_MAJOR: z.coerce.number().int().min(20, 'must be at least 20 (the bundles target Node 20)').max(99).default(22),
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
    ...(parsed.EC2_SECURITY_GROUP_IDS === undefined || parsed.EC2_SECURITY_GROUP_IDS.length === 0 ? {} : { securityGroupIds: parsed.EC2_SECURITY_GROUP_IDS }),
    deadlineMs: parsed.EC2_DEADLINE_SECONDS * 1000,
    pollMs: Math.round(parsed.EC2_POLL_SECONDS * 1000),
    ...(parsed.EC2_USD_PER_HOUR === undefined ? {} : { usdPerHour: parsed.EC2_USD_PER_HOUR }),
    maxInstances: parsed.EC2_MAX_INSTANCES,
    nodeMajor: parsed.EC2_NODE_MAJOR,
  };
}
