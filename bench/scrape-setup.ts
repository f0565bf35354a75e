/**
 * The scrape benchmark's setup (see scrape.ts): what it scrapes, its options, and the API fixture and MongoDB
 * server it runs against, in processes of their own or inline.
 */
import { parseArgs } from 'node:util';
import type { ScrapeDeps, ScrapeResult } from '../lib/scrape/index.ts';
import { DEFAULT_COLLECTIONS, MAX_CONCURRENCY } from '../lib/scrape/index.ts';
import { UserError } from '../lib/errors.ts';
import {
  DEFAULT_SEED,
  STATS_PATH,
  STATS_RESET_PATH,
  startApiFixture,
  type ApiFixtureStats,
} from '../local-stack/api-fixture/index.ts';
import { spawnApiFixtureProcess, spawnMongoServerProcess } from '../local-stack/shared/child-server.ts';
import { startMongoServer } from '../local-stack/mongo/server.ts';

/** The seed's cities, the first four of the fixture's. */
export const CITIES = ['San Francisco, CA', 'New York, NY', 'Chicago, IL', 'Austin, TX'] as const;
export const LIMIT = 20;
export const BUSINESSES = CITIES.length * LIMIT;
export const TARGET_RATIO = 1.15;
export const TARGET_CONCURRENCY = 16;
export const COLLECTION = DEFAULT_COLLECTIONS.yelp;

export interface Options {
  /** `process`: the fixture and the MongoDB server each run in a process of their own, as the real API and Atlas
   *  are elsewhere (the default); `inline`: both share the scraper's process and event loop. */
  services: 'process' | 'inline';
  latencyMs: number;
  concurrencies: number[];
  runs: number;
  write: NonNullable<ScrapeDeps['write']>;
}

/** Lenient about options it does not know: `npm run bench` with no name hands every bench the same arguments. */
export function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      'latency-ms': { type: 'string' },
      concurrency: { type: 'string' },
      runs: { type: 'string' },
      'max-docs': { type: 'string' },
      'max-wait-ms': { type: 'string' },
      services: { type: 'string' },
    },
    strict: false,
    allowPositionals: true,
  });
  const text = (name: string): string | undefined => {
    const value = values[name];
    if (typeof value === 'boolean') throw new UserError('INVALID_ARGUMENT', `--${name} needs a value`);
    return value;
  };
  const number = (
    name: string,
    fallback: number | undefined,
    valid: (n: number) => boolean,
    rule: string,
  ): number | undefined => {
    const value = text(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (value.trim() === '' || !valid(n))
      throw new UserError('INVALID_ARGUMENT', `--${name} must be ${rule}, got "${value}"`);
    return n;
  };
  const concurrencyText = text('concurrency') ?? '1,4,8,16';
  const concurrencies = concurrencyText.split(',').map((part) => {
    const n = Number(part);
    if (part.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY) {
      throw new UserError(
        'INVALID_ARGUMENT',
        `--concurrency must be a comma-separated list of whole numbers 1..${MAX_CONCURRENCY}, got "${concurrencyText}"`,
      );
    }
    return n;
  });
  const maxDocs = number('max-docs', undefined, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1');
  const maxWaitMs = number('max-wait-ms', undefined, (n) => Number.isFinite(n) && n >= 0, 'a number of ms ≥ 0');
  const services = text('services') ?? 'process';
  if (services !== 'process' && services !== 'inline')
    throw new UserError('INVALID_ARGUMENT', `--services must be "process" or "inline", got "${services}"`);
  return {
    services,
    latencyMs: number('latency-ms', 50, (n) => Number.isFinite(n) && n >= 0, 'a number of ms ≥ 0')!,
    concurrencies: [...new Set(concurrencies)],
    runs: number('runs', 5, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1')!,
    write: { ...(maxDocs === undefined ? {} : { maxDocs }), ...(maxWaitMs === undefined ? {} : { maxWaitMs }) },
  };
}

/** The fixture as the benchmark uses it, wherever it runs. */
export interface Fixture {
  yelpBaseUrl: string;
  apiKey: string;
  stats(): Promise<ApiFixtureStats>;
  resetStats(): Promise<void>;
  close(): Promise<unknown>;
}

export interface Services {
  fixture: Fixture;
  mongoUri: string;
  close(): Promise<void>;
}

export async function startServices(options: Options): Promise<Services> {
  if (options.services === 'inline') {
    const fixture = await startApiFixture({ port: 0, latencyMs: options.latencyMs, seed: DEFAULT_SEED, silent: true });
    const mongo = await startMongoServer({ port: 0, silent: true }).catch(async (error: unknown) => {
      await fixture.close();
      throw error;
    });
    return {
      fixture: { ...fixture, stats: async () => fixture.stats(), resetStats: async () => fixture.resetStats() },
      mongoUri: mongo.uri,
      close: async () => {
        await mongo.close();
        await fixture.close();
      },
    };
  }
  const fixture = await spawnApiFixtureProcess({ latencyMs: options.latencyMs, seed: DEFAULT_SEED });
  const mongo = await spawnMongoServerProcess().catch(async (error: unknown) => {
    await fixture.close();
    throw error;
  });
  const control = async (route: string, method: 'GET' | 'POST'): Promise<ApiFixtureStats> => {
    const response = await fetch(`${fixture.ready.baseUrl}${route}`, { method });
    if (!response.ok) throw new Error(`${method} ${route} on the fixture answered ${response.status}`);
    return (await response.json()) as ApiFixtureStats;
  };
  return {
    fixture: {
      yelpBaseUrl: fixture.ready.yelpBaseUrl,
      apiKey: fixture.ready.apiKey,
      stats: () => control(STATS_PATH, 'GET'),
      resetStats: async () => void (await control(STATS_RESET_PATH, 'POST')),
      close: () => fixture.close(),
    },
    mongoUri: mongo.ready.uri,
    close: async () => {
      await mongo.close();
      await fixture.close();
    },
  };
}

/** One measured run: the result, what the fixture saw, and when each phase ended (ms since the call). */
export interface Sample {
  result: ScrapeResult;
  stored: number;
  maxConcurrent: number;
  fixtureRequests: number;
  /** ensureIndexes (the run awaits it before its first request). */
  indexesMs: number;
  /** The last city's search answered. */
  searchDoneAt: number;
  /** The last details request answered. */
  detailsDoneAt: number;
  /** The last batch written. */
  writtenAt: number;
  returnedAt: number;
}
