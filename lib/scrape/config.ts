/**
 * The scraper's deployment configuration, from the environment, and its two secrets (the MongoDB URI and the
 * Yelp API key), which come either straight from the environment (local runs) or from SSM Parameter Store
 * SecureStrings named in it (AWS), read once per container.
 */
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { z } from 'zod';
import { ConfigError, envNumber, optional, parseEnv } from '../config.ts';
import { DEFAULT_HN_API_BASE_URL } from './hn.ts';
import { DEFAULT_WRITE_RETRY_MS } from './store.ts';
import { DEFAULT_YELP_API_BASE_URL } from './yelp.ts';

export type ScrapeSource = 'yelp' | 'hn';

/** Where each source's documents go unless SCRAPE_COLLECTION names one collection for both. */
export const DEFAULT_COLLECTIONS: Readonly<Record<ScrapeSource, string>> = { yelp: 'businesses', hn: 'hn_items' };

const parameterName = z
  .string()
  .regex(/^[a-zA-Z0-9_.\-/]{1,2048}$/, 'must be an SSM parameter name such as /cloud-parallel/dev/yelp-api-key');
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

const scrapeEnvSchema = z
  .object({
    MONGODB_URI: optional(
      z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// connection string'),
    ),
    MONGODB_URI_PARAMETER: optional(parameterName),
    MONGODB_DB: z
      .string()
      .regex(/^[^/\\. "$*<>:|?]{1,63}$/, 'must be a MongoDB database name (no spaces or /\\."$*<>:|?)')
      .default('cloud_parallel'),
    SCRAPE_COLLECTION: optional(
      z
        .string()
        .regex(/^[^$\0]{1,120}$/, 'must be a MongoDB collection name')
        .refine((name) => !name.startsWith('system.'), 'must not start with "system."'),
    ),
    YELP_API_KEY: optional(
      z.string().trim().min(1, 'must be the Yelp Fusion API key, or unset (then YELP_API_KEY_PARAMETER names it)'),
    ),
    YELP_API_KEY_PARAMETER: optional(parameterName),
    YELP_API_BASE_URL: optional(httpUrl).transform((url) => url ?? DEFAULT_YELP_API_BASE_URL),
    HN_API_BASE_URL: optional(httpUrl).transform((url) => url ?? DEFAULT_HN_API_BASE_URL),
    SCRAPE_CONCURRENCY: envNumber(1, 64, 16),
    SCRAPE_TIMEOUT_MS: envNumber(100, 120_000, 10_000, { unit: ' of milliseconds' }),
    SCRAPE_RETRIES: envNumber(0, 10, 4),
    // How long a batch MongoDB failed as a whole is written again (lib/scrape/store.ts); 0: no retries.
    SCRAPE_WRITE_RETRY_MS: envNumber(0, 600_000, DEFAULT_WRITE_RETRY_MS, { unit: ' of milliseconds' }),
  })
  .refine((env) => env.MONGODB_URI !== undefined || env.MONGODB_URI_PARAMETER !== undefined, {
    path: ['MONGODB_URI'],
    message: 'set MONGODB_URI (a connection string) or MONGODB_URI_PARAMETER (the SSM SecureString holding it)',
  });

/** A secret's value, or where to read it. */
export type SecretSource = { value: string; from: string } | { parameter: string; from: string };

export interface ScrapeConfig {
  mongo: { uri: SecretSource; db: string };
  collections: Record<ScrapeSource, string>;
  /** Undefined when neither YELP_API_KEY nor YELP_API_KEY_PARAMETER is set: Yelp runs then fail with MISSING_API_KEY. */
  yelpApiKey: SecretSource | undefined;
  yelpBaseUrl: string;
  hnBaseUrl: string;
  pool: { concurrency: number; timeoutMs: number; retries: number };
  /** How long a batch MongoDB failed as a whole is retried (an outage, a failover). */
  write: { retryForMs: number };
}

export function loadScrapeConfig(env: NodeJS.ProcessEnv = process.env): ScrapeConfig {
  const parsed = parseEnv(scrapeEnvSchema, env);
  // The plain value wins when both are set, so a developer can override a deployed parameter locally.
  const secret = (
    value: string | undefined,
    parameter: string | undefined,
    valueName: string,
    parameterVariable: string,
  ): SecretSource | undefined => {
    if (value !== undefined) return { value, from: `the environment variable ${valueName}` };
    if (parameter !== undefined) return { parameter, from: `the SSM parameter ${parameter} (${parameterVariable})` };
    return undefined;
  };
  const mongoUri = secret(parsed.MONGODB_URI, parsed.MONGODB_URI_PARAMETER, 'MONGODB_URI', 'MONGODB_URI_PARAMETER');
  // The schema's refine guarantees one of the two; this keeps the type honest.
  if (mongoUri === undefined) throw new ConfigError('Invalid configuration: set MONGODB_URI or MONGODB_URI_PARAMETER');
  return {
    mongo: { uri: mongoUri, db: parsed.MONGODB_DB },
    collections: {
      yelp: parsed.SCRAPE_COLLECTION ?? DEFAULT_COLLECTIONS.yelp,
      hn: parsed.SCRAPE_COLLECTION ?? DEFAULT_COLLECTIONS.hn,
    },
    yelpApiKey: secret(parsed.YELP_API_KEY, parsed.YELP_API_KEY_PARAMETER, 'YELP_API_KEY', 'YELP_API_KEY_PARAMETER'),
    yelpBaseUrl: parsed.YELP_API_BASE_URL,
    hnBaseUrl: parsed.HN_API_BASE_URL,
    pool: {
      concurrency: parsed.SCRAPE_CONCURRENCY,
      timeoutMs: parsed.SCRAPE_TIMEOUT_MS,
      retries: parsed.SCRAPE_RETRIES,
    },
    write: { retryForMs: parsed.SCRAPE_WRITE_RETRY_MS },
  };
}

/**
 * How long a secret read from SSM is kept: longer than any Lambda container lives, so each one is read once per
 * container, as README's "Rotating secrets" expects (recycling the containers picks up a rotated value).
 */
const SECRET_MAX_AGE_S = 365 * 24 * 60 * 60;

/**
 * Reads SecureStrings with decryption through Powertools Parameters (keep one resolver per container: the
 * provider's cache is the resolver's), each name once; a failed read is not cached, so the next invocation
 * tries again. The caller's client is used as given, so AWS_ENDPOINT_URL_SSM and the region still apply.
 */
export function createSecretResolver(ssm: SSMClient): (source: SecretSource) => Promise<string> {
  const provider = new SSMProvider({ awsSdkV3Client: ssm });
  // Powertools caches an empty value like any other; a parameter found empty is fetched again until it is filled.
  const foundEmpty = new Set<string>();
  const read = async (name: string): Promise<string> => {
    let value: string | undefined;
    try {
      value = await provider.get(name, { decrypt: true, maxAge: SECRET_MAX_AGE_S, forceFetch: foundEmpty.has(name) });
    } catch (error) {
      // Powertools wraps the SDK's error in a GetParameterError; its cause says what went wrong (throttling, access).
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
      throw new ConfigError(
        `could not read the SSM parameter ${name} (needs ssm:GetParameter on it, and kms:Decrypt on its key if that is a customer managed key): ${reason}`,
      );
    }
    if (value === undefined || value.trim() === '') {
      foundEmpty.add(name);
      throw new ConfigError(`the SSM parameter ${name} is empty`);
    }
    foundEmpty.delete(name);
    return value.trim();
  };
  return (source) => ('value' in source ? Promise.resolve(source.value) : read(source.parameter));
}
