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
